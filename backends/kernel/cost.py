"""What each step of a kernel program costs, as the profiler reports it (``backends.profiling``).

A kernel's FLOPs are the float arithmetic of its scalar body at every loop point (with the
combine of a reduction) and of its stores at every output point; a GEMM's are ``2*M*N*K``; a
library call's are its op's (:func:`ir.cost.op_flops`). Bytes moved are each distinct buffer a
step reads plus each it writes.

    >>> import ir
    >>> from backends.kernel import build_program
    >>> g = ir.parse('''func @f(%a: f32[8,4], %b: f32[4,3]) -> (f32[8,3]) {
    ...   %0: f32[8,3] = matmul %a, %b
    ...   %1: f32[8,3] = exp %0
    ...   return %1
    ... }''')
    >>> [(s.name, s.kind, s.flops) for s in program_steps(build_program(g))]
    [('f::gemm0', 'gemm', 192), ('f::k0', 'kernel', 24)]
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from backends.kernel.program import Buffer, Gemm, Kernel, KernelProgram, RowGroup, Step
from backends.profiling import StepInfo
from ir.cost import op_flops, tensor_bytes
from ir.scalar import Reduction, ScalarExpr

_NOT_ARITHMETIC = frozenset(("var", "const", "cast", "select"))


def count_ops(exprs: Iterable[ScalarExpr], wanted: Callable[[ScalarExpr], bool],
              seen: set[int] | None = None) -> int:
    """The nodes of the expressions' DAG for which ``wanted`` holds, each shared subexpression
    once, skipping (and adding to) those in ``seen``."""
    seen = set() if seen is None else seen
    count = 0
    stack = list(exprs)
    while stack:
        expr = stack.pop()
        if id(expr) in seen:
            continue
        seen.add(id(expr))
        stack.extend(expr.args)
        count += wanted(expr)
    return count


def _is_float_op(expr: ScalarExpr) -> bool:
    return expr.op not in _NOT_ARITHMETIC and (
        expr.dtype.is_float or any(a.dtype.is_float for a in expr.args))


def _float_ops(exprs: Iterable[ScalarExpr], seen: set[int]) -> int:
    """Floating-point operations in the expressions' DAG, each shared subexpression once,
    skipping those already in ``seen``: arithmetic and comparisons on floats (no loads,
    constants, casts or selects)."""
    return count_ops(exprs, _is_float_op, seen)


def kernel_flops(kernel: Kernel) -> int:
    """Floating-point operations of one run of ``kernel``: its body at every loop point (with
    the reduction's combine, for a reduction), the stores' own arithmetic at every output
    point. A kernel that only copies or compares integers does none."""
    points = math.prod(kernel.shape)
    iterations = points * math.prod(kernel.reduce_shape)
    seen: set[int] = set()
    per_iteration = _float_ops([kernel.body], seen)
    if isinstance(kernel.reduction, Reduction):
        per_iteration += _float_ops([kernel.reduction.combine], set())
    per_point = _float_ops([s.value for s in kernel.stores], seen)
    return iterations * per_iteration + points * per_point


def _buffers_bytes(buffers: Iterable[Buffer]) -> int:
    distinct = {id(b): b for b in buffers}
    return sum(tensor_bytes(b.type) for b in distinct.values())


def step_info(step: Step, graph_name: str, number: int) -> StepInfo:
    """The :class:`StepInfo` of one step of a kernel program; ``number`` counts the earlier
    steps of the same kind (GEMMs, or library calls of the same op)."""
    if isinstance(step, Kernel):
        loaded = _buffers_bytes(ld.buffer for ld in step.loads)
        return StepInfo(f"{graph_name}::{step.name}", "kernel", kernel_flops(step),
                        loaded + _buffers_bytes(step.outputs),
                        tuple(ld.buffer.type.shape for ld in step.loads), step.origin)
    if isinstance(step, RowGroup):
        # memory traffic: what the group reads from before it and writes for after it (what
        # its kernels pass one another is read back from cache, or row-local)
        written = {id(b) for b in step.outputs}
        read = {id(ld.buffer): ld.buffer for k in step.kernels for ld in k.loads
                if ld.buffer.role != "row" and id(ld.buffer) not in written}
        return StepInfo(f"{graph_name}::{step.name}", "row group",
                        sum(kernel_flops(k) for k in step.kernels),
                        _buffers_bytes(read.values()) + _buffers_bytes(step.outputs),
                        tuple(b.type.shape for b in read.values()), step.origin)
    if isinstance(step, Gemm):
        flops = 2 * math.prod(step.output.type.shape) * step.inner
        return StepInfo(f"{graph_name}::gemm{number}", "gemm", flops,
                        _buffers_bytes([step.a, step.b]) + _buffers_bytes([step.output]),
                        (step.a_shape, step.b_shape), step.origin)
    flops = op_flops(step.op, [b.type for b in step.inputs], [b.type for b in step.outputs])
    return StepInfo(f"{graph_name}::{step.op}{number}", "library call", flops,
                    _buffers_bytes(step.inputs) + _buffers_bytes(step.outputs),
                    tuple(b.type.shape for b in step.inputs), step.origin)


def program_steps(program: KernelProgram) -> list[StepInfo]:
    """The :class:`StepInfo` of each of ``program``'s steps, in order."""
    counts: dict[str, int] = {}
    infos = []
    for step in program.steps:
        kind = ("k" if isinstance(step, Kernel) else "r" if isinstance(step, RowGroup)
                else "gemm" if isinstance(step, Gemm) else step.op)
        number = counts.get(kind, 0)
        counts[kind] = number + 1
        infos.append(step_info(step, program.name, number))
    return infos


__all__ = ["count_ops", "kernel_flops", "program_steps", "step_info"]
