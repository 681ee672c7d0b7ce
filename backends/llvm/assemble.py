"""A graph's LLVM module: what it contains, which functions callers look up in it, and the text
that names it in the caches.

The module holds one function per kernel (``render.py``), an entry function per segment and
the ``_range`` variant of each parallel kernel (``call.py``). Rendering it and printing its text
take time a warm start should not spend, so the caches know it by :func:`module_source`
instead: the graph's IR text, the call plan and the options, which decide the module entirely
with the code that renders it (its fingerprint is part of the text).

    >>> import ir
    >>> from backends.kernel import build_program
    >>> from backends.llvm.call import plan_calls
    >>> g = ir.parse('''func @f(%x: f32[8]) -> (f32[8]) {
    ...   %0: f32[8] = exp %x
    ...   return %0
    ... }''')
    >>> plan = plan_calls(build_program(g))
    >>> exported_functions(build_program(g), plan)[-1]
    'seg0'
    >>> print(module_source(g, plan, fast_math=True).splitlines()[-1])
    segment seg0: k0 (arrays x, t0)
"""
from __future__ import annotations

from llvmlite import ir  # type: ignore[import-untyped]

from backends.kernel import KernelProgram, RowGroup
from backends.llvm.cache import code_fingerprint
from backends.llvm.call import CallStep, ParallelKernel, Segment, render_segment
from backends.llvm.fastcall import FASTCALL_NAME, abi_checked, fastcall_segment, render_fastcall
from backends.llvm.jit import set_host_target
from backends.llvm.render import range_function_name, render_module, render_range_kernel
from ir.graph import Graph


def render_program(program: KernelProgram, plan: list[CallStep], fast_math: bool) -> ir.Module:
    """The LLVM module that runs ``program`` as ``plan`` groups it."""
    module = render_module(program, fast_math)
    for step in plan:
        if isinstance(step, Segment):
            render_segment(module, step)
        elif isinstance(step, ParallelKernel):
            render_range_kernel(module, step.kernel, fast_math)
    if has_fastcall(program, plan):
        render_fastcall(module, program, plan)
    return module


def has_fastcall(program: KernelProgram, plan: list[CallStep]) -> bool:
    """Whether the module gets the generated Python wrapper (``fastcall.py``): a program of one
    segment, on a NumPy whose ABI the wrapper was checked against in this process."""
    return fastcall_segment(program, plan) is not None and abi_checked()


def llvm_ir_text(program: KernelProgram, plan: list[CallStep], fast_math: bool) -> str:
    """The text of :func:`render_program`'s module for this host, as the compiler prints it
    (what ``source()`` shows of code that came from a cache)."""
    module = render_program(program, plan, fast_math)
    set_host_target(module)
    return str(module)


def exported_functions(program: KernelProgram, plan: list[CallStep]) -> list[str]:
    """The functions the executable calls: each segment's entry, each parallel kernel and its
    ``_range`` variant, and the generated wrapper if there is one."""
    names: list[str] = [FASTCALL_NAME] if has_fastcall(program, plan) else []
    for step in plan:
        if isinstance(step, Segment):
            names.append(step.name)
        elif isinstance(step, ParallelKernel):
            names += [step.kernel.name, range_function_name(step.kernel)]
    return names


def module_source(graph: Graph, plan: list[CallStep], fast_math: bool) -> str:
    """A text that decides :func:`render_program`'s module: two graphs, plans or options
    that render different modules have different texts. The graph's text decides the kernel
    program; the plan is there too because it depends on settings that may change at run
    time (``backends.threads.PARALLEL_MIN_ELEMENTS``, and ``backends.kernel.rows``' limits,
    which decide the row groups: their kernels and their row-local buffers, each group's
    function's parameters); the fingerprint covers the renderers, and whether the wrapper is
    generated depends on this process's NumPy."""
    steps = [str(step) for step in plan if isinstance(step, (Segment, ParallelKernel))]
    run = [k for step in plan for k in (step.kernels if isinstance(step, Segment) else
                                        [step.kernel] if isinstance(step, ParallelKernel) else [])]
    groups = [group.summary() for group in run if isinstance(group, RowGroup)]
    return "\n".join([f"code {code_fingerprint()}", f"fast_math {fast_math}",
                      f"fastcall {abi_checked()}", str(graph), *steps, *groups, ""])


__all__ = ["exported_functions", "llvm_ir_text", "module_source", "render_program"]
