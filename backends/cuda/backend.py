"""``backends.get("cuda")``: graphs run as numba-cuda kernels on a GPU (or numba's simulator).

A graph becomes a kernel program (``backends.kernel``), rendered to one Python module of
``@cuda.jit`` kernels (:mod:`backends.cuda.render`); the module is written to
``<cache dir>/cuda/<hash>.py`` and imported, so numba-cuda can keep compiled kernels next to it
(``cache=True``), and modules already imported are reused from memory.

Calling the executable: arguments that are device arrays are used where they are; host arrays
are copied to the device first. When any argument was a device array the results are device
arrays (tensors on the device stay there); when all were host arrays the results are copied
back. Outputs the graph declares as aliasing an input (state a compiled training step rebinds)
are written into that input's device buffer where :mod:`backends.cuda.inplace` proves it safe:
the caller's device array holds the new value. Library calls (conv, gather, ...) run their
NumPy reference on the host, copying their operands out and results back; ``const`` steps are
evaluated and copied to the device once.

    >>> import ir, numpy as np, backends
    >>> g = ir.parse('''func @f(%x: f32[3], %b: f32[]) -> (f32[3]) {
    ...   %0: f32[3] = add %x, %b
    ...   %1: f32[3] = relu %0
    ...   return %1
    ... }''')
    >>> run = backends.get("cuda").compile(g)
    >>> run(np.array([1, -2, 3], np.float32), np.float32(0.5))
    (array([1.5, 0. , 3.5], dtype=float32),)
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np

from backends.base import (
    Backend,
    CompileInfo,
    Executable,
    ExecutionError,
    check_inputs,
    refuse_dtypes,
)
from backends.cuda import memory
from backends.cuda.inplace import write_aliases_in_place
from backends.cuda.render import render_module
from backends.kernel import KernelProgram, LibraryCall, build_program
from backends.llvm.cache import cache_dir
from backends.numba.backend import load_generated
from backends.numba.render import library_name
from backends.profiling import StepRecorder, call_info
from ir import dtypes
from ir.evaluate import evaluate_results, quiet_float_errors
from ir.graph import Graph
from ir.registry import get as get_op


class CudaExecutable(Executable):
    """A graph compiled to CUDA kernels; ``source()`` is the generated Python module."""

    def __init__(self, graph: Graph, program: KernelProgram, module_source: str,
                 module: ModuleType, compile_info: CompileInfo | None = None,
                 in_place: list[int] | None = None):
        self.graph, self.program, self.module_source = graph, program, module_source
        self.in_place = set(in_place or ())  # outputs written into their (donated) input
        self._donated = sorted({graph.output_aliases[o] for o in self.in_place})
        self.donated_inputs = tuple(self._donated)
        self.donated_before_failure = program.inputs_written_before_failure(self.donated_inputs)
        self.module, self.compile_info = module, compile_info
        self.library = SimpleNamespace(**{
            library_name(i, step): _library_runner(step)
            for i, step in enumerate(program.steps) if isinstance(step, LibraryCall)})
        self._shapes = [b.type.shape for b in program.outputs]

    def __call__(self, *arrays) -> tuple:
        on_device = any(memory.is_device_array(a) for a in arrays)
        if self._donated:
            arrays = self._private_donations(arrays)
        flat = [_flat_device(a) for a in self._checked(arrays)]
        with quiet_float_errors():
            results = self.module.run(*flat, self.library)
        inputs = {id(a): k for k, a in enumerate(flat)}
        shaped = []
        for index, (result, shape) in enumerate(zip(results, self._shapes)):
            given = arrays[inputs[id(result)]] if id(result) in inputs else None
            if index in self.in_place:
                if memory.is_device_array(given):  # the donated device array, updated
                    result = given
                # else: the input was copied in from the host; the copy holds the result
            elif given is not None:  # an input returned as it is: still the caller's array
                result = _device_copy(result)
                result = _device_copy(result)
            shaped.append(result if tuple(result.shape) == shape else result.reshape(shape))
        if on_device:
            return tuple(shaped)
        return tuple(memory.to_host(r) for r in shaped)

    def run_profiled(self, arrays, record: StepRecorder) -> tuple:
        """Runs as a call does, timed as one step between two device synchronizations (a
        profiler's only: an ordinary call returns once its kernels are launched). The
        kernels are not timed one by one yet."""
        synchronize = memory.cuda_module().synchronize
        synchronize()
        start = time.perf_counter_ns()
        results = self(*arrays)
        synchronize()
        record(call_info(self.graph), start, time.perf_counter_ns())
        return results

    def _private_donations(self, arrays: tuple) -> tuple:
        """A donated device array that is also passed as another argument (two tensors sharing
        one array) is copied first: writing it in place would change the other argument."""
        private = list(arrays)
        for k in self._donated:
            if memory.is_device_array(private[k]) and \
                    any(a is private[k] for j, a in enumerate(private) if j != k):
                private[k] = _device_copy(private[k])
        return tuple(private)

    def _checked(self, arrays) -> list:
        """Host arrays checked as every backend checks them; device arrays by type alone."""
        if len(arrays) != len(self.graph.inputs):
            check_inputs(self.graph, arrays)  # raises the usual count error
        result = []
        for value, array in zip(self.graph.inputs, arrays):
            if not memory.is_device_array(array):
                sub = Graph(self.graph.name)
                sub.add_input(value.name or "x", value.type)
                result.extend(check_inputs(sub, [array]))
            elif tuple(array.shape) != value.type.shape \
                    or np.dtype(array.dtype) != value.type.dtype.numpy:
                raise ExecutionError(f"input %{value.name} expects {value.type}, got a device "
                                     f"array of {np.dtype(array.dtype)}{list(array.shape)}")
            else:
                result.append(array)
        return result

    def source(self) -> str:
        """The generated Python module: helpers, the ``@cuda.jit`` kernels and ``run``."""
        return self.module_source


def _flat_device(array):
    """``array`` as a flat device array: host arrays are copied in."""
    if not memory.is_device_array(array):
        array = memory.to_device(np.ascontiguousarray(array).reshape(-1))
        return array
    return array.reshape(-1) if array.ndim != 1 else array


def _device_copy(array):
    copy = memory.device_array(array.shape, array.dtype)
    copy.copy_to_device(array)
    return copy


def _library_runner(call: LibraryCall) -> Callable[..., tuple]:
    """Runs ``call``'s NumPy reference on the host: device operands are copied out and the
    results copied back. ``const`` (no operands) is evaluated and copied once; each call gets
    a device copy of it, since callers may keep or donate outputs."""
    opdef = get_op(call.op)
    types = tuple(b.type for b in call.outputs)
    shapes = [b.type.shape for b in call.inputs]

    def on_host(*flat) -> tuple:
        inputs = [memory.to_host(a).reshape(shape) for a, shape in zip(flat, shapes)]
        try:
            results = evaluate_results(opdef, inputs, call.attrs, types)
        except (IndexError, ValueError, FloatingPointError) as exc:
            where = f" (from {call.loc})" if call.loc else ""  # as the interpreter says
            raise ExecutionError(f"{call.op} failed{where}: {exc}") from exc
        return tuple(memory.to_device(np.ascontiguousarray(r).reshape(-1)) for r in results)

    if call.inputs:
        return on_host
    constants: list[tuple] = []

    def constant() -> tuple:
        if not constants:
            constants.append(on_host())
        return tuple(_device_copy(c) for c in constants[0])
    return constant


# the kernels' scalar types; float16, bfloat16 and the 8/16-bit integers are refused
SUPPORTED_DTYPES = frozenset((dtypes.bool_, dtypes.i32, dtypes.i64, dtypes.f32, dtypes.f64))


class CudaBackend(Backend):
    """GPU code: the kernel IR as numba-cuda kernels (see the module doc).

    Generated modules live in ``folder`` (default: the ``cuda`` folder of graphc's cache
    directory); modules already imported by this backend are reused.
    """

    name = "cuda"
    lowering = "fuse"

    def __init__(self, folder: Path | None = None):
        memory.cuda_module()  # a clear error now if CUDA cannot run here
        self.folder = folder
        self._modules: dict[str, ModuleType] = {}

    def compile(self, graph: Graph) -> CudaExecutable:
        refuse_dtypes(graph, "cuda", SUPPORTED_DTYPES)
        start = time.perf_counter()
        program = build_program(graph)
        in_place = write_aliases_in_place(program, graph.output_aliases)
        built = time.perf_counter()
        source = render_module(program)
        rendered = time.perf_counter()
        module, digest, imported = load_generated(self._modules, source,
                                                  self.folder or cache_dir() / "cuda", "cuda")
        origin = "fresh" if imported else "memory"
        seconds = {"kernel program": built - start, "render": rendered - built,
                   "import and compile": time.perf_counter() - rendered}
        return CudaExecutable(graph, program, source, module,
                              CompileInfo(origin, seconds, key=digest), in_place)


__all__ = ["CudaBackend", "CudaExecutable"]
