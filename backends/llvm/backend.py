"""``backends.get("llvm")``: graphs run as native loop nests generated with llvmlite.

A graph becomes a kernel program (``backends.kernel``), its kernels one LLVM module, compiled
in this process. Calling the executable allocates each step's output (its own array: the
buffer plan's arena comes with the ``plan`` pass), calls each kernel through ctypes with its
buffers' addresses, runs GEMMs with the BLAS NumPy ships (``backends.llvm.blas``; NumPy's
matmul when it is missing or ``GRAPHC_BLAS=numpy``), and runs library calls (conv, gather, ...)
with their NumPy references.

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
from backends.kernel import Gemm, Kernel, KernelProgram, LibraryCall, build_program
from backends.llvm import blas as blas_library
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
                 compile_info: CompileInfo | None = None,
                 blas: blas_library.Blas | None = None):
        self.graph, self.program, self.llvm_ir, self.jit = graph, program, llvm_ir, jit
        self.compile_info = compile_info
        self.blas = blas
        self._runners = [self._runner(step) for step in program.steps]

    def _runner(self, step) -> Callable[[Env], None]:
        if isinstance(step, Kernel):
            return self._kernel_runner(step)
        if isinstance(step, Gemm):
            return self._gemm_runner(step)
        return self._library_runner(step)

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
        rewritten = {id(b) for b in kernel.in_place}
        outputs = [(id(b), b.type.shape, b.dtype.numpy) for b in kernel.outputs
                   if id(b) not in rewritten]
        keys = [id(b) for b in buffers]

        def run(env: Env) -> None:
            for key, shape, dtype in outputs:
                env[key] = np.empty(shape, dtype)
            native(*[env[key].ctypes.data for key in keys])
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
        """The kernel program, which GEMM runs, then the LLVM IR generated for its kernels."""
        gemm = blas_library.describe(self.blas) if any(
            isinstance(s, Gemm) for s in self.program.steps) else "GEMM: none"
        return f"{self.program}\n\n# {gemm}\n\n; LLVM IR of the kernels\n{self.llvm_ir}"


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
                 fast_math: bool | None = None, use_blas: bool = True):
        self.compiler = CachingCompiler(disk)
        self.fast_math = fast_math
        self.use_blas = use_blas  # False: GEMMs run NumPy's matmul (as without a BLAS)

    def compile(self, graph: Graph) -> LLVMExecutable:
        start = time.perf_counter()
        program = build_program(graph)
        built = time.perf_counter()
        fast_math = fast_math_default() if self.fast_math is None else self.fast_math
        module = render_module(program, fast_math)  # the IR differs, so does the cache key
        seconds = {"kernel program": built - start, "render": time.perf_counter() - built}
        compiled = self.compiler.compile(module, [k.name for k in program.kernels], seconds)
        blas = blas_library.find_blas() if self.use_blas else None
        return LLVMExecutable(graph, program, compiled.llvm_ir, compiled.jit, compiled.info,
                              blas)


__all__ = ["LLVMBackend", "LLVMExecutable"]
