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

An output that aliases an input (``graph.output_aliases``: a parameter or optimizer state) is
stored straight into that input's array when no later step reads its old value: the caller
donates it, and gets the same array back as that output (``donated_inputs``).
"""
from __future__ import annotations

import ctypes
import dataclasses
import functools
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from backends import threads
from backends.base import (
    Backend,
    BackendError,
    CompileInfo,
    Executable,
    ExecutionError,
    check_inputs,
    refuse_dtypes,
)
from backends.kernel import (
    BufferPlan,
    Gemm,
    Kernel,
    KernelProgram,
    LibraryCall,
    RowGroup,
    Strided,
    arena_buffers,
    build_program,
    contiguous_strides,
)
from backends.kernel.cost import program_steps
from backends.kernel.rows import group_rows
from backends.llvm import blas as blas_library
from backends.llvm import gemm_batch, index_loops, tiled_gemm
from backends.llvm.assemble import (
    exported_functions,
    llvm_ir_text,
    module_source,
    render_program,
)
from backends.llvm.cache import ObjectCache
from backends.llvm.call import (
    ARENA_ALIGNMENT,
    CallStep,
    ParallelKernel,
    Segment,
    array_data_offset_checked,
    plan_calls,
)
from backends.llvm.compiler import CachingCompiler
from backends.llvm.fastcall import (
    FASTCALL_NAME,
    abi_checked,
    constant_buffers,
    fastcall_segment,
    make_fastcall,
)
from backends.llvm.jit import JitModule
from backends.llvm.render import range_function_name
from backends.profiling import StepInfo, StepRecorder, timed_steps
from ir import dtypes
from ir.evaluate import evaluate_results, quiet_float_errors
from ir.graph import Graph
from ir.registry import get as get_op
from ir.types import normalize_axis

Env = dict[int, np.ndarray]
ARENA = -1  # the env key of the arena array (buffer keys are ids, never negative)
DEFAULT_DISK_CACHE = ObjectCache()  # follows GRAPHC_CACHE_DIR at every compile


def _contiguous(array: np.ndarray) -> np.ndarray:
    """``array`` in C order (kernels index buffers as C-contiguous) and aligned (their loads
    assume the element type's alignment; a view at an odd byte offset is copied); 0-d stays
    0-d, unlike ``np.ascontiguousarray``."""
    flags = array.flags
    return array if flags.c_contiguous and flags.aligned else np.array(array, order="C")


class LLVMExecutable(Executable):
    """A graph compiled to native kernels; ``source()`` shows the kernel program and LLVM IR.

    A call checks its inputs, allocates the outputs, and makes one native call per segment of
    consecutive kernels (``backends.llvm.call``); kernels over many elements are split across
    threads, library calls run their NumPy references, constants were evaluated once."""

    def __init__(self, graph: Graph, program: KernelProgram, llvm_ir: str | Callable[[], str],
                 jit: JitModule, compile_info: CompileInfo | None = None,
                 plan: list[CallStep] | None = None, blas: blas_library.Blas | None = None,
                 buffers: BufferPlan | None = None,
                 batch_loop: Callable[[str, Any], Any] | None = None,
                 tiled_loop: Callable[[], Any] | None = None,
                 index_loop: Callable[[str, np.dtype, np.dtype], Any] | None = None):
        # llvm_ir: the text, or a function that renders it (code loaded from a cache)
        self.graph, self.program, self._llvm_ir, self.jit = graph, program, llvm_ir, jit
        self.compile_info = compile_info
        self.blas = blas
        # (dtype name, BLAS integer ctype) -> a native loop over a batch's GEMMs
        # (backends.llvm.gemm_batch); None: one ctypes call per matrix
        self._batch_loop = batch_loop
        # () -> the native loop of float32 GEMMs (backends.llvm.tiled_gemm); None: BLAS only
        self._tiled_loop = tiled_loop
        self._tiled_gemms: set[int] = set()  # ids of the Gemm steps that run it
        # (op, dtype, index dtype) -> a native gather/scatter_add (backends.llvm.index_loops);
        # None: their library calls
        self._index_loop = index_loop
        self._native_calls: set[int] = set()  # ids of the library calls run as index loops
        # plan and buffers must agree: the segments were rendered with the arena's offsets
        self.buffers = arena_buffers(program, ARENA_ALIGNMENT) if buffers is None else buffers
        self.plan = plan_calls(program, self.buffers) if plan is None else plan
        temps = {id(b): b for b in program.temps}
        self._placed = [(key, offset, tuple(temps[key].type.shape),
                         np.dtype(temps[key].dtype.numpy))
                        for key, offset in self.buffers.offsets.items()]
        self._arena_lock = threading.Lock()
        self._arena_views = self._views_into(np.empty(self.buffers.arena_bytes, np.uint8))
        self._signature = [(tuple(b.type.shape), np.dtype(b.dtype.numpy)) for b in program.inputs]
        self._input_keys = [id(b) for b in program.inputs]
        self._constants: Env = {}
        self._runners: list[Callable[[Env], None]] = []
        self._loop_seconds = 0.0  # making (or loading) the native loops, for compile_info
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
        if self._loop_seconds > 1e-4 and compile_info is not None:  # not all made already
            self.compile_info = dataclasses.replace(
                compile_info, seconds={**compile_info.seconds, "native loops": self._loop_seconds})
        # a constant returned as an output is copied: callers own what they get back
        self._outputs = [(id(b), id(b) in self._constants) for b in program.outputs]
        written = {id(b) for step in program.steps for b in step.outputs}
        self.donated_inputs = tuple(i for i, b in enumerate(program.inputs) if id(b) in written)
        self.donated_before_failure = program.inputs_written_before_failure(self.donated_inputs)
        self.fast_call = self._generated_wrapper()
        # (step, runner) of a profiled run, kernels one by one: made when first profiled
        self._profiled_steps: list[tuple[StepInfo, Callable[[Env], None]]] | None = None

    def _generated_wrapper(self) -> Callable[..., tuple | None] | None:
        """The module's ``@fastcall`` as a Python callable, when the module has one
        (``backends.llvm.fastcall``)."""
        if fastcall_segment(self.program, self.plan) is None or not abi_checked():
            return None
        address = self.jit.address(FASTCALL_NAME)
        if not address:
            return None
        constants = [self._constants[id(b)] for b in constant_buffers(self.plan)]
        return make_fastcall(address, constants, self.jit)

    @property
    def llvm_ir(self) -> str:
        """The LLVM IR text of the kernels, as handed to LLVM's optimizer."""
        if callable(self._llvm_ir):
            self._llvm_ir = self._llvm_ir()
        return self._llvm_ir

    def __call__(self, *arrays) -> tuple:
        """Runs the graph on one array per input. The inputs in ``donated_inputs`` (those an
        aliasing output updates in place: parameters, optimizer state) are written in place
        and returned as that output, unless they are read-only or share memory with another
        input, which gets a copy instead."""
        if self.fast_call is not None:  # one native call; None: not exactly typed C arrays
            result = self.fast_call(*arrays)
            if result is not None:
                return result
        env: Env = dict(self._constants)
        if len(arrays) == len(self._signature):
            for key, array, (shape, dtype) in zip(self._input_keys, arrays, self._signature):
                if (type(array) is not np.ndarray or array.dtype != dtype
                        or array.shape != shape or not array.flags.c_contiguous
                        or not array.flags.aligned):
                    break
                env[key] = array
            else:
                if self.donated_inputs:
                    self._protect_shared_inputs(env, arrays)
                return self._run(env)
        checked = check_inputs(self.graph, arrays)
        for key, array in zip(self._input_keys, checked):
            env[key] = _contiguous(array)
        if self.donated_inputs:
            self._protect_shared_inputs(env, [env[key] for key in self._input_keys])
        return self._run(env)

    def run_profiled(self, arrays, record: StepRecorder) -> tuple:
        """Runs as a call does, but step by step, recording each: every kernel of a segment
        is called on its own (not the segment's one native call, nor the generated
        wrapper), and each GEMM, library call and parallel kernel."""
        if self._profiled_steps is None:
            self._profiled_steps = self._timed_runners()
        env: Env = dict(self._constants)
        checked = check_inputs(self.graph, arrays)
        for key, array in zip(self._input_keys, checked):
            env[key] = _contiguous(array)
        if self.donated_inputs:
            self._protect_shared_inputs(env, [env[key] for key in self._input_keys])
        steps = self._profiled_steps

        def run_steps(env: Env) -> tuple:
            timed_steps([(info, functools.partial(run, env)) for info, run in steps], record)
            return self._results(env)
        return self._run(env, run_steps)

    def _timed_runners(self) -> list[tuple[StepInfo, Callable[[Env], None]]]:
        """Each step of the plan with its runner, segments split into their kernels (a
        segment whose kernels cannot be looked up one by one runs whole)."""
        infos = dict(zip(map(id, self.program.steps), program_steps(self.program)))
        steps: list[tuple[StepInfo, Callable[[Env], None]]] = []
        runners = iter(self._runners)
        for step in self.plan:
            if isinstance(step, LibraryCall) and step.op == "const":
                continue  # evaluated when the executable was made
            run = next(runners)
            if not isinstance(step, Segment):
                kernel = step.kernel if isinstance(step, ParallelKernel) else step
                steps.append((infos[id(kernel)], run))
            elif all(self.jit.address(k.name) for k in step.kernels):
                steps += [(infos[id(k)], self._kernel_runner(k)) for k in step.kernels]
            else:
                flops = sum(infos[id(k)].flops for k in step.kernels)
                moved = sum(infos[id(k)].bytes for k in step.kernels)
                steps.append((StepInfo(f"{self.program.name}::{step.name}", "segment", flops,
                                       moved, detail=str(step)), run))
        return steps

    def _protect_shared_inputs(self, env: Env, arrays) -> None:
        """Gives a donated input a copy of its own when writing it in place could change what
        another input reads (the same array twice, or overlapping memory) or is not allowed
        (a read-only array). Arrays that own their memory (NumPy allocated it) never overlap
        one another, so the common case (every input its own array) costs one pass."""
        borrowed = [a for a in arrays if not a.flags.owndata]  # views, wrapped buffers
        distinct = len({id(a) for a in arrays}) == len(arrays)
        for index in self.donated_inputs:
            array = arrays[index]
            shared = not array.flags.writeable
            if not shared and not distinct:
                shared = any(i != index and other is array for i, other in enumerate(arrays))
            if not shared and borrowed:
                others = [a for i, a in enumerate(arrays) if i != index]
                candidates = [v for v in borrowed if v is not array] if array.flags.owndata \
                    else others
                shared = any(_may_overlap(v, array) for v in candidates)
            if shared:
                env[self._input_keys[index]] = np.array(array, order="C")

    def _views_into(self, arena: np.ndarray) -> Env:
        """The arena and each placed temporary's array inside it, by buffer key."""
        views: Env = {ARENA: arena}
        for key, offset, shape, dtype in self._placed:
            size = math.prod(shape) * dtype.itemsize
            views[key] = arena[offset:offset + size].view(dtype).reshape(shape)
        return views

    def _run(self, env: Env, run_steps: Callable[[Env], tuple] | None = None) -> tuple:
        # temporaries live in the arena this executable keeps; a call made while another
        # thread's call uses it gets an arena of its own
        if run_steps is None:
            run_steps = self._run_steps
        if self._arena_lock.acquire(blocking=False):
            try:
                env.update(self._arena_views)
                return run_steps(env)
            finally:
                self._arena_lock.release()
        env.update(self._views_into(np.empty(self.buffers.arena_bytes, np.uint8)))
        return run_steps(env)

    def _run_steps(self, env: Env) -> tuple:
        for run in self._runners:
            run(env)
        return self._results(env)

    def _results(self, env: Env) -> tuple:
        return tuple(env[key].copy() if constant else env[key] for key, constant in self._outputs)

    def _segment_runner(self, segment: Segment) -> Callable[[Env], None]:
        arguments = [ctypes.py_object] * (len(segment.arrays) + 1)
        native = ctypes.CFUNCTYPE(None, *arguments)(self.jit.address(segment.name))
        keys = [id(b) for b in segment.arrays]
        # an epilogue rewriting a GEMM's product in place (Kernel.in_place) allocates nothing,
        # nor do temporaries in the arena (not among segment.arrays)
        produced = {id(b) for k in segment.kernels for b in _allocated_outputs(k)}
        outputs = [(id(b), tuple(b.type.shape), np.dtype(b.dtype.numpy)) for b in segment.arrays
                   if id(b) in produced]

        def run(env: Env) -> None:
            for key, shape, dtype in outputs:
                env[key] = np.empty(shape, dtype)
            native(*[env[key] for key in keys], env[ARENA])
        return run

    def _kernel_runner(self, kernel: Kernel | RowGroup) -> Callable[[Env], None]:
        """Runs one kernel by itself (a profiled run calls a segment's kernels one by one)."""
        pointers = [ctypes.c_void_p] * len(kernel.buffers)
        native = ctypes.CFUNCTYPE(None, *pointers)(self.jit.address(kernel.name))
        outputs = self._kernel_allocations(kernel)
        keys = [id(b) for b in kernel.buffers]

        def run(env: Env) -> None:
            for key, shape, dtype in outputs:
                env[key] = np.empty(shape, dtype)
            native(*[env[key].ctypes.data for key in keys])
        return run

    def _kernel_allocations(self, kernel: Kernel | RowGroup) -> list[tuple[int, tuple, np.dtype]]:
        """(key, shape, dtype) of the outputs a kernel run alone allocates: not those in the
        arena, rewritten in place or donated by the caller."""
        return [(id(b), b.type.shape, b.dtype.numpy) for b in _allocated_outputs(kernel)
                if self.buffers.offset(b) is None]

    def _parallel_runner(self, kernel: Kernel | RowGroup) -> Callable[[Env], None]:
        buffers = kernel.buffers
        pointers = [ctypes.c_void_p] * len(buffers)
        whole = ctypes.CFUNCTYPE(None, *pointers)(self.jit.address(kernel.name))
        part = ctypes.CFUNCTYPE(None, *pointers, ctypes.c_int64, ctypes.c_int64)(
            self.jit.address(range_function_name(kernel)))
        outputs = self._kernel_allocations(kernel)
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

    def _made(self, make: Callable[[], Any]) -> Any:
        """``make()`` (a GEMM or index loop: compiled, loaded or reused), its time counted."""
        start = time.perf_counter()
        try:
            return make()
        finally:
            self._loop_seconds += time.perf_counter() - start

    def _gemm_runner(self, step: Gemm) -> Callable[[Env], None]:
        key_a, key_b, key_out = id(step.a), id(step.b), id(step.output)
        shape, dtype = step.output.type.shape, step.output.dtype.numpy
        placed = self.buffers.offset(step.output) is not None

        def output(env: Env) -> np.ndarray:
            if placed:
                return env[key_out]
            out = env[key_out] = np.empty(shape, dtype)
            return out

        function = self.blas.gemm_for(dtype) if self.blas is not None else None
        if function is None or 0 in shape or step.inner == 0:
            def op(array: np.ndarray, strided: Strided | None, transpose: bool) -> np.ndarray:
                if strided is not None:
                    array = blas_library.strided_array(array, strided)
                return array.swapaxes(-1, -2) if transpose else array

            def run_numpy(env: Env) -> None:
                out = output(env)
                np.matmul(op(env[key_a], step.a_strided, step.transpose_a),
                          op(env[key_b], step.b_strided, step.transpose_b), out=out)
            return run_numpy
        plan = blas_library.plan_strided(_operand_layout(step.a, step.a_strided),
                                         _operand_layout(step.b, step.b_strided), shape,
                                         step.transpose_a, step.transpose_b)
        itemsize = np.dtype(dtype).itemsize
        offsets = [(a * itemsize, b * itemsize, c * itemsize) for a, b, c in plan.offsets]
        flags = (blas_library.ROW_MAJOR,
                 blas_library.TRANS if plan.transpose_a else blas_library.NO_TRANS,
                 blas_library.TRANS if plan.transpose_b else blas_library.NO_TRANS,
                 plan.m, plan.n, plan.k, 1.0)

        blas_bits = self.blas.kernel_vector_bits if self.blas is not None else None
        if self._tiled_loop is not None and tiled_gemm.suits(
                np.dtype(dtype).name, plan.m, plan.n, plan.k, blas_bits):
            self._tiled_gemms.add(id(step))
            return _tiled_runner(self._made(self._tiled_loop), plan, len(offsets),
                                 np.array(offsets, np.int64), key_a, key_b, output)

        if len(offsets) > 1 and self._batch_loop is not None and self.blas is not None:
            loop = self._made(functools.partial(self._batch_loop, np.dtype(dtype).name,
                                                self.blas.integer))
            table = np.array(offsets, np.int64)
            address = self.blas.gemm_address(dtype)
            count, table_address = len(offsets), table.ctypes.data

            def run_batch(env: Env, table: np.ndarray = table) -> None:
                # ``table`` is a default so that it lives as long as this runner: the native
                # loop reads it at table_address
                out = output(env)
                loop(address, *flags, env[key_a].ctypes.data, plan.lda, env[key_b].ctypes.data,
                     plan.ldb, 0.0, out.ctypes.data, plan.n, count, table_address)
            return run_batch

        def run(env: Env) -> None:
            out = output(env)
            a, b, c = env[key_a].ctypes.data, env[key_b].ctypes.data, out.ctypes.data
            for off_a, off_b, off_c in offsets:
                function(*flags, a + off_a, plan.lda, b + off_b, plan.ldb, 0.0, c + off_c,
                         plan.n)
        return run

    def _index_runner(self, call: LibraryCall) -> Callable[[Env], None] | None:
        """``gather``/``scatter_add`` as a native loop that checks its indices
        (:mod:`backends.llvm.index_loops`), where it applies; else None."""
        if call.op not in index_loops.OPS or self._index_loop is None:
            return None
        shapes = [tuple(b.type.shape) for b in call.inputs]
        kinds = [np.dtype(b.dtype.numpy) for b in call.inputs]
        axis = normalize_axis(call.attrs["axis"], len(shapes[0]))
        if not index_loops.suits(call.op, shapes, kinds, axis):
            return None
        loop = self._made(functools.partial(self._index_loop, call.op, kinds[0], kinds[1]))
        self._native_calls.add(id(call))
        sizes = index_loops.collapsed(shapes[0], shapes[1], axis)
        keys_in = [id(b) for b in call.inputs]
        key_out, out_shape = id(call.outputs[0]), tuple(call.outputs[0].type.shape)
        out_dtype = np.dtype(call.outputs[0].dtype.numpy)

        def run(env: Env) -> None:
            operands = [np.ascontiguousarray(env[key]) for key in keys_in]
            out = np.empty(out_shape, out_dtype)
            bad = loop(*[a.ctypes.data for a in operands], out.ctypes.data, *sizes)
            if bad >= 0:
                raise _call_failed(call, f"index {operands[1].flat[bad]} is out of range for "
                                         f"axis {axis} of size {shapes[0][axis]}")
            env[key_out] = out
        return run

    def _evaluate_once(self, call: LibraryCall) -> Env:
        """A constant's value, made read-only: it is shared by every call."""
        env: Env = {}
        self._library_runner(call)(env)
        for array in env.values():
            array.flags.writeable = False
        return env

    def _library_runner(self, call: LibraryCall) -> Callable[[Env], None]:
        native = self._index_runner(call)
        if native is not None:
            return native
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
                raise _call_failed(call, str(exc)) from exc
            for key, result in zip(keys_out, results):
                if result.base is not None and any(np.may_share_memory(result, env[k])
                                                   for k in keys_in):
                    # a view of an operand (an arena temporary, an input updated in place
                    # later): it must not change when they do
                    result = np.array(result, order="C")
                env[key] = _contiguous(result)
        return run

    def source(self) -> str:
        """The kernel program, which GEMM runs, the native calls, then the LLVM IR."""
        gemm = blas_library.describe(self.blas) if any(
            isinstance(s, Gemm) for s in self.program.steps) else "GEMM: none"
        def call(step: CallStep) -> str:
            if not isinstance(step, (LibraryCall, Gemm)):
                return str(step)
            text = step.to_text()
            if id(step) in self._tiled_gemms:
                text = text.replace("# BLAS", "# tiled loop (tiled_gemm)")
            if id(step) in self._native_calls:
                text = text.replace("# NumPy reference", "# native loop (index_loops)")
            return text
        calls = "\n".join(f"; {call(step)}" for step in self.plan)
        return (f"{self.program}\n\n# {gemm}\n\n; native calls\n{calls}\n\n"
                f"; LLVM IR of the kernels\n{self.llvm_ir}")


def _operand_layout(buffer, strided: Strided | None) -> Strided:
    """How a GEMM reads an operand: through its strides, or its whole buffer in C order."""
    shape = tuple(buffer.type.shape)
    return strided or Strided(shape, 0, contiguous_strides(shape))


def _call_failed(call: LibraryCall, why: str) -> ExecutionError:
    """The error of a library call that failed, worded as the interpreter's."""
    where = f" (from {call.loc})" if call.loc else ""
    return ExecutionError(f"{call.op} failed{where}: {why}")


def _tiled_runner(loop: Any, plan: blas_library.StridedGemm, count: int, table: np.ndarray,
                  key_a: int, key_b: int,
                  output: Callable[[Env], np.ndarray]) -> Callable[[Env], None]:
    """A Gemm step as the tiled loop (:mod:`backends.llvm.tiled_gemm`). With several threads
    allowed and at least :data:`~backends.llvm.tiled_gemm.SMALL_MACS` multiply-adds a thread,
    C's rows are split over them (each thread packs its own blocks of B, and of A into its
    rows' part of the scratch): every element is still the same sum, so the result does not
    depend on the thread count. The scratch where a transposed A is packed is kept per
    calling thread (two threads may run one executable at once)."""
    itemsize = 4  # float32 only
    a_strides = (1, plan.lda) if plan.transpose_a else (plan.lda, 1)
    b_strides = (1, plan.ldb) if plan.transpose_b else (plan.ldb, 1)
    depth, width = tiled_gemm.blocks(plan.n, plan.k)
    sizes = (plan.n, plan.k, depth, width)
    macs = count * plan.m * plan.n * plan.k
    rows_of_tiles = -(-plan.m // tiled_gemm.ROWS)
    table_address = table.ctypes.data
    scratch_floats = tiled_gemm.scratch_floats(plan.m, depth) if a_strides[1] != 1 else 0
    kept = threading.local()

    def scratch() -> int | None:
        if not scratch_floats:
            return None
        if getattr(kept, "array", None) is None:
            kept.array = np.empty(scratch_floats, np.float32)
        return kept.array.ctypes.data

    def run(env: Env, table: np.ndarray = table) -> None:
        # ``table`` is a default so that it lives as long as this runner: the loop reads it
        # at table_address
        out = output(env)
        a, b, c = env[key_a].ctypes.data, env[key_b].ctypes.data, out.ctypes.data
        room = scratch()
        parts = min(threads.get_num_threads(), macs // tiled_gemm.SMALL_MACS, rows_of_tiles)
        if parts <= 1:
            loop(plan.m, *sizes, a, *a_strides, b, *b_strides, c, plan.n, count, table_address,
                 room)
            return
        spans = [(lo * tiled_gemm.ROWS, min(hi * tiled_gemm.ROWS, plan.m))
                 for lo, hi in threads.split(rows_of_tiles, parts)]
        threads.run_parts([functools.partial(
            loop, hi - lo, *sizes, a + lo * a_strides[0] * itemsize, *a_strides, b, *b_strides,
            c + lo * plan.n * itemsize, plan.n, count, table_address,
            None if room is None else room + lo * depth * itemsize) for lo, hi in spans])
    return run


def _may_overlap(view: np.ndarray, array: np.ndarray) -> bool:
    """Whether ``view`` may share memory with ``array``; a view of another array that owns its
    memory (a batch sliced from a data set) lies inside that array's allocation, so it cannot
    overlap an ``array`` that owns its own: no bounds check needed."""
    owner = view.base
    if (isinstance(owner, np.ndarray) and owner.flags.owndata and owner is not array
            and array.flags.owndata):
        return False
    return bool(np.may_share_memory(view, array))


def _allocated_outputs(kernel: Kernel | RowGroup) -> list:
    """The outputs a kernel's runner allocates: not those it rewrites in place, nor the inputs
    it updates (donated by the caller)."""
    rewritten = {id(b) for b in kernel.in_place}
    return [b for b in kernel.outputs if id(b) not in rewritten and b.role != "input"]


def fast_math_default() -> bool:
    """Whether f32 transcendentals are inlined approximations: yes unless the environment
    variable ``GRAPHC_FAST_MATH`` is ``0`` (or ``false``/``no``/``off``)."""
    return os.environ.get("GRAPHC_FAST_MATH", "1").strip().lower() not in ("0", "false", "no",
                                                                           "off")


# the dtypes the kernel renderer knows: all of them (u8 i8 i16 natively; f16 and bf16 stored
# as 16 bits and computed in f32, see backends.llvm.half)
SUPPORTED_DTYPES = frozenset(dtypes.ALL)


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
        refuse_dtypes(graph, "llvm", SUPPORTED_DTYPES)
        start = time.perf_counter()
        program = build_program(graph, update_inputs=True, strided_gemms=True)
        group_rows(program)
        buffers = arena_buffers(program, ARENA_ALIGNMENT)
        plan = plan_calls(program, buffers)
        built = time.perf_counter()
        fast_math = fast_math_default() if self.fast_math is None else self.fast_math
        source = module_source(graph, plan, fast_math)  # the IR differs, so does the key
        seconds = {"kernel program": built - start, "graph text": time.perf_counter() - built}
        render = functools.partial(render_program, program, plan, fast_math)
        # the module is rendered only if no cache has its code, and then for source() only
        compiled = self.compiler.compile_source(source, render,
                                                exported_functions(program, plan), seconds)
        llvm_ir = compiled.llvm_ir or functools.partial(llvm_ir_text, program, plan, fast_math)
        blas = blas_library.find_blas() if self.use_blas else None
        return LLVMExecutable(graph, program, llvm_ir, compiled.jit, compiled.info, plan, blas,
                              buffers, functools.partial(gemm_batch.batch_loop, self.compiler),
                              functools.partial(tiled_gemm.tiled_loop, self.compiler),
                              functools.partial(index_loops.index_loop, self.compiler))


__all__ = ["LLVMBackend", "LLVMExecutable"]
