"""``backends.get("llvm")``: graphs run as native loop nests generated with llvmlite.

A graph becomes a kernel program (``backends.kernel``), its kernels one LLVM module, compiled
in this process. Calling the executable allocates the outputs, makes one native call per run of
consecutive kernels (an entry function that reads the arrays' data pointers itself, temporaries
in a per-call arena), splits big kernels across threads, runs GEMMs with the BLAS NumPy ships
(``backends.llvm.blas``; NumPy's matmul when it is missing or ``GRAPHC_BLAS=numpy``), and runs
library calls (conv, gather, ...) with their NumPy references (``backends.llvm.call``).

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
import functools
import os
import time
from collections.abc import Callable

import numpy as np

from backends import threads
from backends.base import (
    Backend,
    BackendError,
    CompileInfo,
    Executable,
    ExecutionError,
    check_inputs,
)
from backends.kernel import Gemm, Kernel, KernelProgram, LibraryCall, build_program
from backends.llvm import blas as blas_library
from backends.llvm.cache import ObjectCache
from backends.llvm.call import (
    CallStep,
    ParallelKernel,
    Segment,
    array_data_offset_checked,
    plan_calls,
    render_segment,
)
from backends.llvm.compiler import CachingCompiler
from backends.llvm.jit import JitModule
from backends.llvm.render import (
    range_function_name,
    render_module,
    render_range_kernel,
)
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
    """A graph compiled to native kernels; ``source()`` shows the kernel program and LLVM IR.

    A call checks its inputs, allocates the outputs, and makes one native call per segment of
    consecutive kernels (``backends.llvm.call``); kernels over many elements are split across
    threads, library calls run their NumPy references, constants were evaluated once."""

    def __init__(self, graph: Graph, program: KernelProgram, llvm_ir: str, jit: JitModule,
                 compile_info: CompileInfo | None = None,
                 plan: list[CallStep] | None = None, blas: blas_library.Blas | None = None):
        self.graph, self.program, self.llvm_ir, self.jit = graph, program, llvm_ir, jit
        self.compile_info = compile_info
        self.blas = blas
        self.plan = plan_calls(program) if plan is None else plan
        self._signature = [(tuple(b.type.shape), np.dtype(b.dtype.numpy)) for b in program.inputs]
        self._input_keys = [id(b) for b in program.inputs]
        self._constants: Env = {}
        self._runners: list[Callable[[Env], None]] = []
        for step in self.plan:
            if isinstance(step, LibraryCall) and step.op == "const":
                self._constants.update(self._evaluate_once(step))
            elif isinstance(step, LibraryCall):
                self._runners.append(self._library_runner(step))
            elif isinstance(step, Gemm):
                self._runners.append(self._gemm_runner(step))
            elif isinstance(step, Segment):
                self._runners.append(self._segment_runner(step))
            else:
                self._runners.append(self._parallel_runner(step.kernel))
        # a constant returned as an output is copied: callers own what they get back
        self._outputs = [(id(b), id(b) in self._constants) for b in program.outputs]

    def __call__(self, *arrays) -> tuple:
        env: Env = dict(self._constants)
        if len(arrays) == len(self._signature):
            for key, array, (shape, dtype) in zip(self._input_keys, arrays, self._signature):
                if (type(array) is not np.ndarray or array.dtype != dtype
                        or array.shape != shape or not array.flags.c_contiguous):
                    break
                env[key] = array
            else:
                return self._run(env)
        checked = check_inputs(self.graph, arrays)
        for key, array in zip(self._input_keys, checked):
            env[key] = _contiguous(array)
        return self._run(env)

    def _run(self, env: Env) -> tuple:
        for run in self._runners:
            run(env)
        return tuple(env[key].copy() if constant else env[key] for key, constant in self._outputs)

    def _segment_runner(self, segment: Segment) -> Callable[[Env], None]:
        arguments = [ctypes.py_object] * (len(segment.arrays) + 1)
        native = ctypes.CFUNCTYPE(None, *arguments)(self.jit.address(segment.name))
        keys = [id(b) for b in segment.arrays]
        # an epilogue rewriting a GEMM's product in place (Kernel.in_place) allocates nothing
        produced = {id(b) for k in segment.kernels for b in _allocated_outputs(k)}
        outputs = [(id(b), tuple(b.type.shape), np.dtype(b.dtype.numpy)) for b in segment.arrays
                   if id(b) in produced]
        arena_bytes = segment.arena_bytes
        no_arena = np.empty(0, np.uint8)

        def run(env: Env) -> None:
            for key, shape, dtype in outputs:
                env[key] = np.empty(shape, dtype)
            arena = np.empty(arena_bytes, np.uint8) if arena_bytes else no_arena
            native(*[env[key] for key in keys], arena)
        return run

    def _parallel_runner(self, kernel: Kernel) -> Callable[[Env], None]:
        buffers = kernel.buffers
        pointers = [ctypes.c_void_p] * len(buffers)
        whole = ctypes.CFUNCTYPE(None, *pointers)(self.jit.address(kernel.name))
        part = ctypes.CFUNCTYPE(None, *pointers, ctypes.c_int64, ctypes.c_int64)(
            self.jit.address(range_function_name(kernel)))
        outputs = [(id(b), b.type.shape, b.dtype.numpy) for b in _allocated_outputs(kernel)]
        keys = [id(b) for b in buffers]
        rows = kernel.shape[0]

        def run(env: Env) -> None:
            for key, shape, dtype in outputs:
                env[key] = np.empty(shape, dtype)
            addresses = [env[key].ctypes.data for key in keys]
            ranges = threads.split(rows, threads.get_num_threads())
            if len(ranges) == 1:
                whole(*addresses)
                return
            threads.run_parts([functools.partial(part, *addresses, lo, hi) for lo, hi in ranges])
        return run

    def _gemm_runner(self, step: Gemm) -> Callable[[Env], None]:
        key_a, key_b, key_out = id(step.a), id(step.b), id(step.output)
        shape, dtype = step.output.type.shape, step.output.dtype.numpy
        function = self.blas.gemm_for(dtype) if self.blas is not None else None
        if function is None or 0 in shape or step.inner == 0:
            def op(array: np.ndarray, transpose: bool) -> np.ndarray:
                return array.swapaxes(-1, -2) if transpose else array

            def run_numpy(env: Env) -> None:
                out = env[key_out] = np.empty(shape, dtype)
                np.matmul(op(env[key_a], step.transpose_a), op(env[key_b], step.transpose_b),
                          out=out)
            return run_numpy
        plan = blas_library.plan_batched(step.a.type.shape, step.b.type.shape, shape,
                                         step.transpose_a, step.transpose_b)
        itemsize = np.dtype(dtype).itemsize
        offsets = [(a * itemsize, b * itemsize, c * itemsize) for a, b, c in plan.offsets]
        flags = (blas_library.ROW_MAJOR,
                 blas_library.TRANS if step.transpose_a else blas_library.NO_TRANS,
                 blas_library.TRANS if step.transpose_b else blas_library.NO_TRANS,
                 plan.m, plan.n, plan.k, 1.0)

        def run(env: Env) -> None:
            out = env[key_out] = np.empty(shape, dtype)
            a, b, c = env[key_a].ctypes.data, env[key_b].ctypes.data, out.ctypes.data
            for off_a, off_b, off_c in offsets:
                function(*flags, a + off_a, plan.lda, b + off_b, plan.ldb, 0.0, c + off_c,
                         plan.n)
        return run

    def _evaluate_once(self, call: LibraryCall) -> Env:
        """A constant's value, made read-only: it is shared by every call."""
        env: Env = {}
        self._library_runner(call)(env)
        for array in env.values():
            array.flags.writeable = False
        return env

    def _library_runner(self, call: LibraryCall) -> Callable[[Env], None]:
        opdef = get_op(call.op)
        types = tuple(b.type for b in call.outputs)
        keys_in = [id(b) for b in call.inputs]
        keys_out = [id(b) for b in call.outputs]

        def run(env: Env) -> None:
            try:
                with quiet_float_errors():
                    results = evaluate_results(opdef, [env[k] for k in keys_in], call.attrs,
                                               types)
            except (IndexError, ValueError, FloatingPointError) as exc:
                where = f" (from {call.loc})" if call.loc else ""  # as the interpreter says
                raise ExecutionError(f"{call.op} failed{where}: {exc}") from exc
            for key, result in zip(keys_out, results):
                env[key] = _contiguous(result)
        return run

    def source(self) -> str:
        """The kernel program, which GEMM runs, the native calls, then the LLVM IR."""
        gemm = blas_library.describe(self.blas) if any(
            isinstance(s, Gemm) for s in self.program.steps) else "GEMM: none"
        calls = "\n".join(f"; {step.to_text() if isinstance(step, (LibraryCall, Gemm)) else step}"
                          for step in self.plan)
        return (f"{self.program}\n\n# {gemm}\n\n; native calls\n{calls}\n\n"
                f"; LLVM IR of the kernels\n{self.llvm_ir}")


def _allocated_outputs(kernel: Kernel) -> list:
    """The outputs a kernel's runner allocates: not those it rewrites in place."""
    rewritten = {id(b) for b in kernel.in_place}
    return [b for b in kernel.outputs if id(b) not in rewritten]


def fast_math_default() -> bool:
    """Whether f32 transcendentals are inlined approximations: yes unless the environment
    variable ``GRAPHC_FAST_MATH`` is ``0`` (or ``false``/``no``/``off``)."""
    return os.environ.get("GRAPHC_FAST_MATH", "1").strip().lower() not in ("0", "false", "no",
                                                                           "off")


class LLVMBackend(Backend):
    """Native CPU code through llvmlite: graphc.compile's default where llvmlite works here.

    Compiled code is reused: from this backend's memory, else from the on-disk cache
    (``disk``; default the ``llvm`` folder of :func:`backends.llvm.cache.cache_dir`, ``None``
    turns it off). ``executable.compile_info`` says which, and how long each stage took.
    ``fast_math``: f32 ``exp``/``expm1``/``log``/``log1p``/``tanh``/``sigmoid``/``erf`` as
    inlined, vectorizable approximations within a few ulp (``backends.llvm.fastmath``) instead
    of libm calls; None (the default) reads ``GRAPHC_FAST_MATH`` at each compile. f64 always
    calls libm.
    """

    name = "llvm"
    lowering = "fuse"  # elementwise chains, reductions and matmul epilogues as one kernel each

    def __init__(self, disk: ObjectCache | None = DEFAULT_DISK_CACHE,
                 fast_math: bool | None = None, use_blas: bool = True):
        self.compiler = CachingCompiler(disk)
        self.fast_math = fast_math
        self.use_blas = use_blas  # False: GEMMs run NumPy's matmul (as without a BLAS)

    def compile(self, graph: Graph) -> LLVMExecutable:
        if not array_data_offset_checked():
            raise BackendError("llvm backend: this NumPy does not keep an array's data pointer "
                               "where the generated call wrapper reads it")
        start = time.perf_counter()
        program = build_program(graph)
        built = time.perf_counter()
        fast_math = fast_math_default() if self.fast_math is None else self.fast_math
        module = render_module(program, fast_math)  # the IR differs, so does the cache key
        plan = plan_calls(program)
        for step in plan:
            if isinstance(step, Segment):
                render_segment(module, step)
            elif isinstance(step, ParallelKernel):
                render_range_kernel(module, step.kernel, fast_math)
        seconds = {"kernel program": built - start, "render": time.perf_counter() - built}
        exports = [f.name for f in module.functions if not f.is_declaration]
        compiled = self.compiler.compile(module, exports, seconds)
        blas = blas_library.find_blas() if self.use_blas else None
        return LLVMExecutable(graph, program, compiled.llvm_ir, compiled.jit, compiled.info, plan,
                              blas)


__all__ = ["LLVMBackend", "LLVMExecutable"]
