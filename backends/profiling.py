"""What a profiled run of an executable reports: one timed record per step, with its cost.

Executables run as usual when nothing profiles them. ``Executable.run_profiled(arrays,
record)`` runs the same computation step by step instead (the llvm backend: each kernel on its
own rather than a segment's one native call; the interpreter: each node) and calls
``record(info, start_ns, end_ns)`` after each step, where ``info`` is that step's
:class:`StepInfo`: a name, what kind of step it is, and its cost from :mod:`ir.cost`
(``graphc.profiler`` turns them into tables and Chrome traces). Backends import nothing of
``graphc``, so the recorder is a plain callable.

Step names are ``<graph>::<step>``: ``step::k7`` for kernel ``k7`` of the program of
``@step``, ``step::gemm0`` for its first GEMM, ``step::gather0`` for its first ``gather``
library call, ``step::matmul`` for an interpreted node (all of one op share the name, as
PyTorch's ``aten::mm`` rows do).

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
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from backends.kernel.program import Buffer, Gemm, Kernel, KernelProgram, Step
from ir.cost import node_bytes, node_flops, op_flops, tensor_bytes, values_bytes
from ir.graph import Graph, Node
from ir.scalar import Reduction, ScalarExpr


@dataclass(frozen=True)
class StepInfo:
    """One step of a compiled program as a profiler shows it: ``name`` (``graph::step``),
    ``kind`` (``kernel``, ``gemm``, ``library call``, ``node``, ``segment`` or ``call``),
    floating-point operations and bytes moved per run, the operands' shapes, and ``detail``
    (which graph nodes it came from)."""

    name: str
    kind: str
    flops: int
    bytes: int
    shapes: tuple[tuple[int, ...], ...] = ()
    detail: str = ""


StepRecorder = Callable[[StepInfo, int, int], None]  # (step, start_ns, end_ns)


def timed_steps(steps: Iterable[tuple[StepInfo, Callable[[], object]]],
                record: StepRecorder) -> None:
    """Runs each ``(info, run)`` in order and records its wall time."""
    clock = time.perf_counter_ns
    for info, run in steps:
        start = clock()
        run()
        record(info, start, clock())


# -- kernel programs ---------------------------------------------------------------------------

_NOT_ARITHMETIC = frozenset(("var", "const", "cast", "select"))


def _float_ops(exprs: Iterable[ScalarExpr], seen: set[int]) -> int:
    """Floating-point operations in the expressions' DAG, each shared subexpression once,
    skipping those already in ``seen``: arithmetic and comparisons on floats (no loads,
    constants, casts or selects)."""
    count = 0
    stack = list(exprs)
    while stack:
        expr = stack.pop()
        if id(expr) in seen:
            continue
        seen.add(id(expr))
        stack.extend(expr.args)
        if expr.op not in _NOT_ARITHMETIC and (
                expr.dtype.is_float or any(a.dtype.is_float for a in expr.args)):
            count += 1
    return count


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
    if isinstance(step, Gemm):
        flops = 2 * math.prod(step.output.type.shape) * step.inner
        return StepInfo(f"{graph_name}::gemm{number}", "gemm", flops,
                        _buffers_bytes([step.a, step.b]) + _buffers_bytes([step.output]),
                        (step.a.type.shape, step.b.type.shape), step.origin)
    flops = op_flops(step.op, [b.type for b in step.inputs], [b.type for b in step.outputs])
    return StepInfo(f"{graph_name}::{step.op}{number}", "library call", flops,
                    _buffers_bytes(step.inputs) + _buffers_bytes(step.outputs),
                    tuple(b.type.shape for b in step.inputs), step.origin)


def program_steps(program: KernelProgram) -> list[StepInfo]:
    """The :class:`StepInfo` of each of ``program``'s steps, in order."""
    counts: dict[str, int] = {}
    infos = []
    for step in program.steps:
        kind = "k" if isinstance(step, Kernel) else "gemm" if isinstance(step, Gemm) else step.op
        number = counts.get(kind, 0)
        counts[kind] = number + 1
        infos.append(step_info(step, program.name, number))
    return infos


# -- graphs ------------------------------------------------------------------------------------

def node_info(node: Node, graph_name: str) -> StepInfo:
    """The :class:`StepInfo` of one node run by the interpreter (a fused node: its body)."""
    detail = ""
    if node.body is not None:
        detail = f"fused ({', '.join(inner.op for inner in node.body.nodes)})"
    return StepInfo(f"{graph_name}::{node.op}", "node", node_flops(node), node_bytes(node),
                    tuple(v.type.shape for v in node.inputs), detail)


def call_info(graph: Graph) -> StepInfo:
    """The whole run of ``graph`` as one step (backends that do not time their steps): all
    of its nodes' FLOPs; its inputs and outputs as the bytes moved."""
    flops = sum(node_flops(n) for n in graph.nodes)
    return StepInfo(f"{graph.name}::run", "call", flops,
                    values_bytes([*graph.inputs, *graph.outputs]),
                    tuple(v.type.shape for v in graph.inputs))


__all__ = ["StepInfo", "StepRecorder", "call_info", "kernel_flops", "node_info",
           "program_steps", "step_info", "timed_steps"]
