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
PyTorch's ``aten::mm`` rows do). The steps of kernel programs are described by
:mod:`backends.kernel.cost` (this module imports no kernel IR: ``backends.base`` needs it).

    >>> import ir
    >>> g = ir.parse('''func @f(%a: f32[8,4], %b: f32[4,3]) -> (f32[8,3]) {
    ...   %0: f32[8,3] = matmul %a, %b
    ...   return %0
    ... }''')
    >>> node_info(g.nodes[0], g.name)
    StepInfo(name='f::matmul', kind='node', flops=192, bytes=272, shapes=((8, 4), (4, 3)), detail='')
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ir.cost import node_bytes, node_flops, values_bytes
from ir.graph import Graph, Node


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


__all__ = ["StepInfo", "StepRecorder", "call_info", "node_info", "timed_steps"]
