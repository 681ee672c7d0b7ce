"""``backends.get("llvm")``: graphs run as native loop nests generated with llvmlite.

A graph becomes a kernel program (``backends.kernel``), its kernels one LLVM module, compiled
in this process. Calling the executable allocates each step's output (its own array: the
buffer plan's arena comes with the ``plan`` pass), calls each kernel through ctypes with its
buffers' addresses, and runs library calls (matmul, conv, ...) with their NumPy references.

    >>> import ir, numpy as np, backends
    >>> g = ir.parse('''func @f(%x: f32[3], %b: f32[]) -> (f32[3]) {
    ...   %0: f32[3] = add %x, %b
    ...   %1: f32[3] = relu %0
    ...   return %1
    ... }''')
    >>> run = backends.get("llvm").compile(g)
    >>> run(np.array([1, -2, 3], np.float32), np.float32(0.5))
    (array([1.5, 0. , 3.5], dtype=float32),)
    >>> print(run.source().splitlines()[0])
    kernel program @f(%x: f32[3], %b: f32[]) -> (%t1)

Outputs that alias inputs are returned as new arrays, as the interpreter does (in-place updates
come with the generated call wrapper).
"""
from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Callable

import numpy as np

from backends.base import Backend, CompileInfo, Executable, ExecutionError, check_inputs
from backends.kernel import Kernel, KernelProgram, LibraryCall, build_program
from backends.llvm.cache import ObjectCache
from backends.llvm.compiler import CachingCompiler
from backends.llvm.jit import JitModule
from backends.llvm.render import render_module
from ir.evaluate import evaluate_results, quiet_float_errors
from ir.graph import Graph
from ir.registry import get as get_op

Env = dict[int, np.ndarray]
DEFAULT_DISK_CACHE = ObjectCache()  # follows GRAPHC_CACHE_DIR at every compile


def _contiguous(array: np.ndarray) -> np.ndarray:
    """``array`` in C order (kernels index buffers as C-contiguous); 0-d stays 0-d, unlike
    ``np.ascontiguousarray``."""
    return array if array.flags.c_contiguous else np.array(array, order="C")


class LLVMExecutable(Executable):
    """A graph compiled to native kernels; ``source()`` shows the kernel program and LLVM IR."""

    def __init__(self, graph: Graph, program: KernelProgram, llvm_ir: str, jit: JitModule,
                 compile_info: CompileInfo | None = None):
        self.graph, self.program, self.llvm_ir, self.jit = graph, program, llvm_ir, jit
        self.compile_info = compile_info
        self._runners = [self._kernel_runner(s) if isinstance(s, Kernel)
                         else self._library_runner(s) for s in program.steps]

    def __call__(self, *arrays) -> tuple:
        checked = check_inputs(self.graph, arrays)
        env: Env = {}
        for buffer, array in zip(self.program.inputs, checked):
            env[id(buffer)] = _contiguous(array)
        with quiet_float_errors():
            for run in self._runners:
                run(env)
        return tuple(env[id(b)] for b in self.program.outputs)

    def _kernel_runner(self, kernel: Kernel) -> Callable[[Env], None]:
        buffers = kernel.buffers
        native = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * len(buffers))(
            self.jit.address(kernel.name))
        outputs = [(id(b), b.type.shape, b.dtype.numpy) for b in kernel.outputs]
        keys = [id(b) for b in buffers]

        def run(env: Env) -> None:
            for key, shape, dtype in outputs:
                env[key] = np.empty(shape, dtype)
            native(*[env[key].ctypes.data for key in keys])
        return run

    def _library_runner(self, call: LibraryCall) -> Callable[[Env], None]:
        opdef = get_op(call.op)
        types = tuple(b.type for b in call.outputs)
        keys_in = [id(b) for b in call.inputs]
        keys_out = [id(b) for b in call.outputs]

        def run(env: Env) -> None:
            try:
                results = evaluate_results(opdef, [env[k] for k in keys_in], call.attrs, types)
            except (IndexError, ValueError, FloatingPointError) as exc:
                where = f" (from {call.loc})" if call.loc else ""  # as the interpreter says
                raise ExecutionError(f"{call.op} failed{where}: {exc}") from exc
            for key, result in zip(keys_out, results):
                env[key] = _contiguous(result)
        return run

    def source(self) -> str:
        """The kernel program, then the LLVM IR generated for its kernels."""
        return f"{self.program}\n\n; LLVM IR of the kernels\n{self.llvm_ir}"


def fast_math_default() -> bool:
    """Whether f32 transcendentals are inlined approximations: yes unless the environment
    variable ``GRAPHC_FAST_MATH`` is ``0`` (or ``false``/``no``/``off``)."""
    return os.environ.get("GRAPHC_FAST_MATH", "1").strip().lower() not in ("0", "false", "no",
                                                                           "off")


class LLVMBackend(Backend):
    """Native CPU code through llvmlite (not the default backend yet).

    Compiled code is reused: from this backend's memory, else from the on-disk cache
    (``disk``; default the ``llvm`` folder of :func:`backends.llvm.cache.cache_dir`, ``None``
    turns it off). ``executable.compile_info`` says which, and how long each stage took.
    ``fast_math``: f32 ``exp``/``expm1``/``log``/``log1p``/``tanh``/``sigmoid``/``erf`` as
    inlined, vectorizable approximations within a few ulp (``backends.llvm.fastmath``) instead
    of libm calls; None (the default) reads ``GRAPHC_FAST_MATH`` at each compile. f64 always
    calls libm.
    """

    name = "llvm"
    lowering = ""  # "fuse,plan" once those passes exist

    def __init__(self, disk: ObjectCache | None = DEFAULT_DISK_CACHE,
                 fast_math: bool | None = None):
        self.compiler = CachingCompiler(disk)
        self.fast_math = fast_math

    def compile(self, graph: Graph) -> LLVMExecutable:
        start = time.perf_counter()
        program = build_program(graph)
        built = time.perf_counter()
        fast_math = fast_math_default() if self.fast_math is None else self.fast_math
        module = render_module(program, fast_math)  # the IR differs, so does the cache key
        seconds = {"kernel program": built - start, "render": time.perf_counter() - built}
        compiled = self.compiler.compile(module, [k.name for k in program.kernels], seconds)
        return LLVMExecutable(graph, program, compiled.llvm_ir, compiled.jit, compiled.info)


__all__ = ["LLVMBackend", "LLVMExecutable"]
