"""The call path of the llvm backend: which steps run as one native call, and the entry functions.

A compiled call should cost one native call, not one per kernel. So the steps of a kernel program
are grouped (:func:`plan_calls`) into

- **segments**: runs of consecutive kernels, each run by one generated entry function
  ``void @segN(ptr array0, ..., ptr arena)``. Its arguments are the NumPy arrays themselves
  (``PyObject*``, passed by ctypes as ``py_object``); the entry reads each array's data pointer
  from the array object (the ``data`` field of NumPy's ``PyArrayObject``, at a fixed offset that
  NumPy's ABI keeps and :func:`array_data_offset_checked` verifies once), so Python never asks
  NumPy for an address. Temporaries live at fixed offsets in the program's one ``arena``
  array (:func:`backends.kernel.arena_buffers`: by liveness, so buffers that are never live
  together share bytes), which the executable keeps from call to call;
- **parallel kernels**: a kernel over at least ``backends.threads.PARALLEL_MIN_ELEMENTS``
  iterations runs alone, split over its outermost kept loop across threads
  (``kN_range(ptr..., lo, hi)``, see ``render.py``);
- **library calls** (matmul, conv, gather, ...): their NumPy references, between segments.
  ``const`` nodes are evaluated once, when the executable is made.

    >>> import ir
    >>> from backends.kernel import build_program
    >>> g = ir.parse('''func @f(%x: f32[8]) -> (f32[8]) {
    ...   %0: f32[8] = exp %x
    ...   %1: f32[8] = neg %0
    ...   return %1
    ... }''')
    >>> [str(step) for step in plan_calls(build_program(g))]
    ['segment seg0: k0, k1 (arrays x, t1; arena t0)']
"""
from __future__ import annotations

import ctypes
import functools
import math
from dataclasses import dataclass, field

import numpy as np
from llvmlite import ir  # type: ignore[import-untyped]

from backends.kernel import (
    Buffer,
    BufferPlan,
    Gemm,
    Kernel,
    KernelProgram,
    LibraryCall,
    RowGroup,
    arena_buffers,
)
from backends.threads import PARALLEL_MIN_ELEMENTS

ARRAY_DATA_OFFSET = 16  # PyArrayObject_fields: PyObject_HEAD (ob_refcnt, ob_type), then data
ARENA_ALIGNMENT = 64  # bytes: a cache line, and enough for any vector load


@functools.cache
def array_data_offset_checked() -> bool:
    """Whether an ndarray's data pointer is where the entry functions read it (checked against
    ``ndarray.ctypes.data`` on a few arrays, once per process)."""
    samples = [np.arange(4.0), np.zeros((2, 3), np.int32)[1:], np.array(7, np.int64)]
    return all(ctypes.c_void_p.from_address(id(a) + ARRAY_DATA_OFFSET).value == a.ctypes.data
               for a in samples)


def kernel_work(step: Kernel | RowGroup) -> int:
    """Iterations of ``step``'s loop nest (kept times reduced elements; a row group's: its
    kernels')."""
    if isinstance(step, RowGroup):
        return sum(kernel_work(k) for k in step.kernels)
    return math.prod(step.shape) * math.prod(step.reduce_shape)


def runs_in_parallel(step: Kernel | RowGroup) -> bool:
    """Whether ``step`` is big enough to share across threads, and has a kept axis to split."""
    return (len(step.shape) >= 1 and step.shape[0] >= 2
            and kernel_work(step) >= PARALLEL_MIN_ELEMENTS)


@dataclass(eq=False)
class Segment:
    """Consecutive kernels run by one entry function: ``arrays`` are passed as NumPy arrays,
    ``arena`` buffers are placed at ``offsets`` in the program's arena (``arena_bytes``)."""

    name: str
    kernels: list[Kernel | RowGroup]
    arrays: list[Buffer] = field(default_factory=list)
    arena: list[Buffer] = field(default_factory=list)
    offsets: dict[int, int] = field(default_factory=dict)  # id(buffer) -> byte offset
    arena_bytes: int = 0

    def __str__(self) -> str:
        text = (f"segment {self.name}: {', '.join(k.name for k in self.kernels)} "
                f"(arrays {', '.join(b.name for b in self.arrays)}")
        arena = f"; arena {', '.join(b.name for b in self.arena)}" if self.arena else ""
        return text + arena + ")"


@dataclass(eq=False)
class ParallelKernel:
    """A kernel (or a row group) split across threads over its outermost loop."""

    kernel: Kernel | RowGroup

    def __str__(self) -> str:
        return f"parallel {self.kernel.name} over {self.kernel.shape[0]} rows"


CallStep = Segment | ParallelKernel | LibraryCall | Gemm


def plan_calls(program: KernelProgram, buffer_plan: BufferPlan | None = None) -> list[CallStep]:
    """``program``'s steps grouped into segments, parallel kernels and library calls.
    Constants (``const`` library calls, which read nothing) come first, so that they do not
    split the kernels around them into separate native calls. Segments find the temporaries
    in the arena of ``buffer_plan`` (default :func:`~backends.kernel.arena_buffers`)."""
    if buffer_plan is None:
        buffer_plan = arena_buffers(program)
    constants: list[CallStep] = [s for s in program.steps
                                 if isinstance(s, LibraryCall) and s.op == "const"]
    plan: list[CallStep] = []
    for step in program.steps:
        if isinstance(step, LibraryCall) and step.op == "const":
            continue
        if isinstance(step, (Kernel, RowGroup)) and not runs_in_parallel(step):
            segment = plan[-1] if plan else None
            if not isinstance(segment, Segment):
                segment = Segment(f"seg{sum(isinstance(s, Segment) for s in plan)}", [])
                plan.append(segment)
            segment.kernels.append(step)
        elif isinstance(step, (Kernel, RowGroup)):
            plan.append(ParallelKernel(step))
        else:
            plan.append(step)
    _place_buffers([s for s in plan if isinstance(s, Segment)], buffer_plan)
    return constants + plan


def _place_buffers(segments: list[Segment], buffer_plan: BufferPlan) -> None:
    """Decides, per segment, which buffers it receives as arrays and which it finds in the
    program's arena (those ``buffer_plan`` places there, at its offsets)."""
    for segment in segments:
        segment.arena_bytes = buffer_plan.arena_bytes
        seen: set[int] = set()
        for kernel in segment.kernels:
            for buffer in kernel.buffers:
                if id(buffer) in seen:
                    continue
                seen.add(id(buffer))
                offset = buffer_plan.offset(buffer)
                if offset is not None:
                    segment.offsets[id(buffer)] = offset
                    segment.arena.append(buffer)
                else:
                    segment.arrays.append(buffer)


def render_segment(module: ir.Module, segment: Segment) -> None:
    """Adds ``void @<segment.name>(ptr array..., ptr arena)`` to ``module``: it reads each
    array's data pointer, places the arena's buffers, and calls the kernels in order."""
    pointer, byte = ir.PointerType(), ir.IntType(8)
    signature = ir.FunctionType(ir.VoidType(), [pointer] * (len(segment.arrays) + 1))
    function = ir.Function(module, signature, segment.name)
    builder = ir.IRBuilder(function.append_basic_block("entry"))
    data: dict[int, ir.Value] = {}
    offset = ir.Constant(ir.IntType(64), ARRAY_DATA_OFFSET)
    for argument, buffer in zip(function.args, segment.arrays):
        argument.name = buffer.name
        field_address = builder.gep(argument, [offset], source_etype=byte)
        data[id(buffer)] = builder.load(field_address, typ=pointer, name=f"{buffer.name}.data")
    arena_object = function.args[-1]
    arena_object.name = "arena"
    if segment.arena:
        arena = builder.load(builder.gep(arena_object, [offset], source_etype=byte), typ=pointer,
                             name="arena.data")
        place_arena(builder, segment, arena, data)
    call_kernels(builder, module, segment, data)
    builder.ret_void()


def place_arena(builder: ir.IRBuilder, segment: Segment, arena: ir.Value,
                data: dict[int, ir.Value]) -> None:
    """Points each of ``segment``'s arena buffers at its offset in the memory at ``arena``."""
    for buffer in segment.arena:
        data[id(buffer)] = builder.gep(
            arena, [ir.Constant(ir.IntType(64), segment.offsets[id(buffer)])],
            source_etype=ir.IntType(8), name=buffer.name)


def call_kernels(builder: ir.IRBuilder, module: ir.Module, segment: Segment,
                 data: dict[int, ir.Value], inline: bool = True) -> None:
    """Calls ``segment``'s kernels in order; ``data`` maps id(buffer) to its data pointer.
    ``inline=False`` keeps LLVM from compiling the kernels' loops into this caller again."""
    functions = {f.name: f for f in module.functions}
    attrs = () if inline else ("noinline",)
    for kernel in segment.kernels:
        builder.call(functions[kernel.name], [data[id(b)] for b in kernel.buffers], attrs=attrs)


__all__ = ["ARRAY_DATA_OFFSET", "CallStep", "ParallelKernel", "Segment",
           "array_data_offset_checked", "call_kernels", "kernel_work", "place_arena",
           "plan_calls", "render_segment", "runs_in_parallel"]
