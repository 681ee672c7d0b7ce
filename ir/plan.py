"""Memory plans: where each value of a graph lives, recorded in the IR for backends.

A :class:`MemoryPlan` (``graph.plan``, made by the ``plan`` pass) places every result of a
top-level node either at a byte offset in one static *arena*, or in the buffer of the graph
input it overwrites (an output alias, see docs/IR.md). A result may *reuse* the buffer of an
operand that dies at its node: an elementwise node then updates that buffer in place. Graph
inputs are the caller's buffers and are never in the arena; the values inside a ``fused``
node's body are a kernel's temporaries, not buffers (only the node's results are).

Time is counted in node positions: a node reads its operands and writes its results at its
position, so a value is live from its node to its last user (inclusive; graph outputs to the
end), and an operand and a result of one node are live together, which is why they may share
memory only through a checked in-place reuse. :func:`check_plan` proves a plan safe; the
verifier calls it on every graph that has one.

    >>> import ir
    >>> g = ir.parse('''func @f(%x: f32[4]) -> (f32[4]) plan(arena=64, align=64) {
    ...   %0: f32[4] = exp %x mem(0)
    ...   %1: f32[4] = neg %0 mem(0 reuses %0)
    ...   return %1
    ... }''')
    >>> check_plan(g)
    >>> g.plan.placements[g.outputs[0]]
    Placement(offset=0, input=None, reuses=Value(?: f32[4]))
    >>> live_ranges(g)[g.outputs[0]], liveness_peak(g)
    ((1, 2), 32)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ir.errors import VerifyError
from ir.graph import Graph, Node, Value
from ir.types import TensorType


@dataclass(frozen=True)
class Placement:
    """Where one value lives: at ``offset`` in the arena (and, if ``reuses`` is set, in the
    buffer of that operand of its node, which dies there), or in graph input ``input``'s
    buffer (an output that aliases it). ``source`` is the (line, column) of its ``mem(...)``
    place in the IR text it was parsed from, which the verifier's messages point at; it is not
    part of the placement's value."""

    offset: int | None = None
    input: int | None = None
    reuses: Value | None = None
    source: tuple[int, int] | None = field(default=None, compare=False, repr=False)


@dataclass
class MemoryPlan:
    """A graph's memory plan: arena size and alignment, and a placement per node result."""

    arena_bytes: int
    alignment: int = 64
    placements: dict[Value, Placement] = field(default_factory=dict)

    def naive_bytes(self) -> int:
        """What giving every arena value its own aligned buffer would take."""
        return sum(aligned(nbytes(v.type), self.alignment)
                   for v, p in self.placements.items() if p.input is None)

    def summary(self) -> str:
        """``arena 1024 B for 12 buffers (naive 4096 B, 25.0%), 3 in place, 1 into inputs``."""
        arena = [p for p in self.placements.values() if p.input is None]
        naive = self.naive_bytes()
        share = f"{100.0 * self.arena_bytes / naive:.1f}%" if naive else "-"
        in_place = sum(p.reuses is not None for p in arena)
        into_inputs = len(self.placements) - len(arena)
        return (f"arena {self.arena_bytes} B for {len(arena)} values (naive {naive} B, "
                f"{share}), {in_place} in place, {into_inputs} written into inputs")


def nbytes(type: TensorType) -> int:
    """Bytes of a dense tensor of ``type``."""
    return type.dtype.numpy.itemsize * math.prod(type.shape)


def aligned(n: int, alignment: int) -> int:
    """``n`` rounded up to a multiple of ``alignment``."""
    return -(-n // alignment) * alignment


def live_ranges(graph: Graph) -> dict[Value, tuple[int, int]]:
    """(first, last) node position of each top-level node result: from its node to its last
    user, or to ``len(graph.nodes)`` for graph outputs (they outlive every node)."""
    nodes = list(graph.nodes)
    position = {id(n): i for i, n in enumerate(nodes)}
    outputs = {id(v) for v in graph.outputs}
    ranges = {}
    for i, node in enumerate(nodes):
        for value in node.outputs:
            last = max((position[id(u)] for u in value.users), default=i)
            ranges[value] = (i, len(nodes) if id(value) in outputs else last)
    return ranges


def liveness_peak(graph: Graph) -> int:
    """The most bytes of node results live at once (inputs excluded): the least memory any
    allocator without in-place reuse needs for this node order."""
    delta = [0] * (len(graph.nodes) + 2)
    for value, (first, last) in live_ranges(graph).items():
        delta[first] += nbytes(value.type)
        delta[last + 1] -= nbytes(value.type)
    peak = live = 0
    for change in delta:
        live += change
        peak = max(peak, live)
    return peak


def is_elementwise(node: Node) -> bool:
    """Whether each result element depends only on the operand elements at its own index (for
    same-shaped operands): elementwise ops, and fused nodes made only of them."""
    if node.op == "fused":
        body = node.body
        return body is not None and all(is_elementwise(n) for n in body.nodes)
    return node.opdef.kind == "elementwise"


def can_write_in_place(node: Node, operand: Value, result: Value) -> bool:
    """Whether ``node`` may write ``result`` into ``operand``'s buffer as it computes it: an
    elementwise node whose operand has the result's shape and byte size (so element ``i`` is
    read before element ``i`` is written, and nothing else reads it)."""
    return (is_elementwise(node) and operand.type.shape == result.type.shape
            and nbytes(operand.type) == nbytes(result.type)
            and all(out.type.shape == result.type.shape for out in node.outputs))


def check_plan(graph: Graph) -> None:
    """Raises :class:`VerifyError` unless ``graph.plan`` is a safe plan for ``graph``: every
    node result is placed (and nothing else), arena slots are aligned and inside the arena,
    values live at the same time never share bytes except through a legal in-place reuse, and
    values written into an input's buffer are outputs aliasing it that no later node needs."""
    plan = graph.plan
    if plan is None:
        return
    from ir.printer import value_names
    names = value_names(graph)

    def name(v: Value) -> str:
        return names.get(id(v), "<a value not in the graph>")

    ranges = live_ranges(graph)
    _check_coverage(plan, ranges, name)
    if not (isinstance(plan.alignment, int) and plan.alignment > 0):
        raise VerifyError(f"memory plan: alignment {plan.alignment!r} is not a positive int")
    position = {id(n): i for i, n in enumerate(graph.nodes)}
    for value, place in plan.placements.items():
        where = f"memory plan: {name(value)}{_source(place)}"
        if place.input is not None:
            _check_into_input(graph, plan, value, place.input, place, position, where)
        else:
            _check_arena_slot(plan, value, place, where)
            if place.reuses is not None:
                _check_reuse(graph, plan, value, place.reuses, ranges, where, name)
    _check_no_overlap(graph, plan, ranges, name)


def _check_coverage(plan: MemoryPlan, ranges: dict, name) -> None:
    for value in ranges:
        if value not in plan.placements:
            raise VerifyError(f"memory plan: {name(value)} has no placement (the plan is "
                              "stale: run the plan pass after the passes that rewrite)")
    for value in plan.placements:
        if value not in ranges:
            raise VerifyError(f"memory plan: places {value!r}, which no node of the graph "
                              "produces (the plan is stale: run the plan pass last)")


def _check_arena_slot(plan: MemoryPlan, value: Value, place: Placement, where: str) -> None:
    offset = place.offset
    if not isinstance(offset, int) or offset < 0 or offset % plan.alignment:
        raise VerifyError(f"{where}: offset {offset!r} is not a non-negative multiple of the "
                          f"alignment {plan.alignment}")
    if offset + nbytes(value.type) > plan.arena_bytes:
        raise VerifyError(f"{where}: bytes {offset}..{offset + nbytes(value.type)} lie outside "
                          f"the {plan.arena_bytes}-byte arena")


def _check_reuse(graph: Graph, plan: MemoryPlan, value: Value, operand: Value, ranges: dict,
                 where: str, name) -> None:
    node = value.producer
    assert node is not None
    if not any(v is operand for v in node.inputs):
        raise VerifyError(f"{where}: reuses {name(operand)}, which is not an operand of its node")
    if operand not in ranges or plan.placements[operand].input is not None:
        raise VerifyError(f"{where}: reuses {name(operand)}, which is not in the arena")
    if ranges[operand][1] != ranges[value][0]:
        raise VerifyError(f"{where}: reuses {name(operand)} in place, but {name(operand)} is "
                          "still needed after this node")
    if not can_write_in_place(node, operand, value):
        raise VerifyError(f"{where}: reuses {name(operand)}, but a {node.op} node cannot write "
                          f"its {value.type} result over a {operand.type} operand in place")
    if plan.placements[operand].offset != plan.placements[value].offset:
        raise VerifyError(f"{where}: reuses {name(operand)} but has another offset "
                          f"({plan.placements[value].offset}, not "
                          f"{plan.placements[operand].offset})")


def _check_into_input(graph: Graph, plan: MemoryPlan, value: Value, k: int,
                      place: Placement, position: dict, where: str) -> None:
    if place.offset is not None or place.reuses is not None:
        raise VerifyError(f"{where}: is placed both in input {k}'s buffer and in the arena")
    aliased = [i for i, out in enumerate(graph.outputs)
               if out is value and graph.output_aliases.get(i) == k]
    if not aliased:
        raise VerifyError(f"{where}: is written into input {k}'s buffer, but is no output "
                          f"that aliases that input")
    others = [v for v, p in plan.placements.items() if p.input == k and v is not value]
    if others:
        raise VerifyError(f"{where}: shares input {k}'s buffer with another value")
    node = value.producer
    assert node is not None
    here = position[id(node)]
    overwritten = graph.inputs[k]
    for user in overwritten.users:
        if position[id(user)] > here:
            raise VerifyError(f"{where}: overwrites input %{overwritten.name}, which a later "
                              f"{user.op} node still reads")
        if user is node and not can_write_in_place(node, overwritten, value):
            raise VerifyError(f"{where}: its {node.op} node reads input %{overwritten.name} "
                              f"while overwriting it, which only elementwise nodes can do")


def _check_no_overlap(graph: Graph, plan: MemoryPlan, ranges: dict, name) -> None:
    """Sweeps node positions keeping the arena values live there; any two share no byte."""
    placements = plan.placements
    live: list[Value] = []
    for i, node in enumerate(graph.nodes):
        for value in node.outputs:
            place = placements[value]
            if place.input is not None or nbytes(value.type) == 0:
                continue
            start = _offset(place)
            end = start + nbytes(value.type)
            for other in live:
                other_start = _offset(placements[other])
                other_end = other_start + nbytes(other.type)
                if start < other_end and other_start < end and place.reuses is not other:
                    raise VerifyError(
                        f"memory plan: {name(value)}{_source(place)} (bytes {start}..{end}) "
                        f"overlaps {name(other)} (bytes {other_start}..{other_end}) while both are "
                        f"live (node {i}, {node.op})")
            live.append(value)
        live = [v for v in live if ranges[v][1] > i]


def _source(place: Placement) -> str:
    """`` at line 3, column 28`` for a placement parsed from IR text (else nothing): where
    its ``mem(...)`` place is, so a message about a hand-written plan points at it."""
    return "" if place.source is None else f" at line {place.source[0]}, column {place.source[1]}"


def _offset(place: Placement) -> int:
    assert place.offset is not None  # checked by _check_arena_slot before the sweep
    return place.offset
