"""``plan``: static memory planning, recorded in the IR (``graph.plan``, see :mod:`ir.plan`).

Three decisions, in this order:

1. **Into inputs.** An output that aliases an input (``graph.output_aliases``: a parameter or
   optimizer state updated in place) is written straight into the caller's input buffer when
   no node after its producer reads that input (and the producer reads it, if at all, as an
   elementwise operand of the result's shape). Otherwise it gets an arena slot and the backend
   copies it back.
2. **In place.** An elementwise node (or a fused node made of elementwise ops) writes a result
   into the buffer of an operand that dies at that node, has the result's shape and byte size,
   and lives in the arena. Chains of such reuses form one *buffer*.
3. **Offsets.** Buffers get offsets in one arena with the *greedy by size* heuristic of
   Pisarchyk and Lee, "Efficient Memory Management for Deep Neural Net Inference" (2020), as in
   TensorFlow Lite: largest buffer first, each into the smallest gap (best fit) between the
   already placed buffers whose live ranges overlap its own, or after the last of them. Sizes
   and offsets are rounded up to ``alignment`` bytes.

The result prints as ``plan(arena=..., align=...)`` in the function header and ``mem(...)``
after each node (docs/IR.md); :func:`ir.plan.check_plan`, run by the verifier, proves it safe.

    >>> import ir
    >>> g = ir.parse('''func @f(%x: f32[16]) -> (f32[16]) {
    ...   %0: f32[16] = exp %x
    ...   %1: f32[16] = neg %0
    ...   %2: f32[16] = mul %1, %x
    ...   return %2
    ... }''')
    >>> g = PlanMemory().apply(g).graph
    >>> print(g)
    func @f(%x: f32[16]) -> (f32[16]) plan(arena=64, align=64) {
      %0: f32[16] = exp %x mem(0)
      %1: f32[16] = neg %0 mem(0 reuses %0)
      %2: f32[16] = mul %1, %x mem(0 reuses %1)
      return %2
    }
    >>> g.plan.summary()
    'arena 64 B for 3 values (naive 192 B, 33.3%), 2 in place, 0 written into inputs'
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from ir.graph import Graph, Value
from ir.plan import (
    MemoryPlan,
    Placement,
    aligned,
    can_write_in_place,
    live_ranges,
    nbytes,
)
from passes.registry import Pass, PassError, PassResult, option, register

log = logging.getLogger("graphc.passes")


@register
class PlanMemory(Pass):
    """Plans one static arena by liveness, with in-place updates and donated inputs."""

    name = "plan"
    alignment: int = option(64, "byte alignment of every arena slot")
    in_place: bool = option(True, "let elementwise nodes overwrite an operand that dies there")

    def apply(self, graph: Graph) -> PassResult:
        if self.alignment <= 0:
            raise PassError(f"pass 'plan': option 'alignment' must be positive, got "
                            f"{self.alignment}")
        before = graph.plan
        graph.plan = plan_memory(graph, self.alignment, self.in_place)
        log.info("plan: %s", graph.plan.summary())
        return PassResult(graph, before is None or before != graph.plan)


@dataclass
class _Buffer:
    """Values sharing one arena slot (an in-place chain) and their joint live range."""

    values: list[Value]
    size: int
    first: int
    last: int
    offset: int = 0


def plan_memory(graph: Graph, alignment: int = 64, in_place: bool = True) -> MemoryPlan:
    """A safe memory plan for ``graph`` (see the module docstring); does not modify it."""
    ranges = live_ranges(graph)
    into_inputs = _outputs_into_inputs(graph)
    reuses = _in_place_reuses(graph, ranges, into_inputs) if in_place else {}
    buffers = _buffers(graph, ranges, into_inputs, reuses, alignment)
    arena = _assign_offsets(buffers)
    placements: dict[Value, Placement] = {}
    for value, k in into_inputs.items():
        placements[value] = Placement(input=k)
    for buffer in buffers:
        for value in buffer.values:
            placements[value] = Placement(offset=buffer.offset, reuses=reuses.get(value))
    ordered = {v: placements[v] for node in graph.nodes for v in node.outputs}
    return MemoryPlan(arena, alignment, ordered)


def _outputs_into_inputs(graph: Graph) -> dict[Value, int]:
    """Aliased outputs that can be written into their input's buffer: value -> input index."""
    position = {id(n): i for i, n in enumerate(graph.nodes)}
    chosen: dict[Value, int] = {}
    for out_index, k in sorted(graph.output_aliases.items()):
        value, overwritten = graph.outputs[out_index], graph.inputs[k]
        node = value.producer
        if node is None or value in chosen:
            continue  # an input returned as it is, or one value aliasing two inputs: copy
        here = position[id(node)]
        readers_done = all(
            position[id(user)] < here
            or (user is node and can_write_in_place(node, overwritten, value))
            for user in overwritten.users)
        if readers_done:
            chosen[value] = k
    return chosen


def _in_place_reuses(graph: Graph, ranges: dict, into_inputs: dict) -> dict[Value, Value]:
    """result -> the operand whose buffer it overwrites, for each legal in-place update."""
    outputs = {id(v) for v in graph.outputs}
    claimed: set[int] = set()
    reuses: dict[Value, Value] = {}
    for i, node in enumerate(graph.nodes):
        for result in node.outputs:
            if result in into_inputs:
                continue
            for operand in node.inputs:
                if (id(operand) not in claimed and operand.producer is not None
                        and operand not in into_inputs and id(operand) not in outputs
                        and ranges[operand][1] == i
                        and can_write_in_place(node, operand, result)):
                    reuses[result] = operand
                    claimed.add(id(operand))
                    break
    return reuses


def _buffers(graph: Graph, ranges: dict, into_inputs: dict, reuses: dict,
             alignment: int) -> list[_Buffer]:
    """One buffer per arena value, values that reuse an operand joining the operand's."""
    buffer_of: dict[Value, _Buffer] = {}
    buffers: list[_Buffer] = []
    for node in graph.nodes:
        for value in node.outputs:
            if value in into_inputs:
                continue
            first, last = ranges[value]
            operand = reuses.get(value)
            if operand is not None:
                buffer = buffer_of[operand]
                buffer.values.append(value)
                buffer.last = max(buffer.last, last)
            else:
                buffer = _Buffer([value], aligned(nbytes(value.type), alignment), first, last)
                buffers.append(buffer)
            buffer_of[value] = buffer
    return buffers


def _assign_offsets(buffers: list[_Buffer]) -> int:
    """Greedy by size with best fit; sets each buffer's offset and returns the arena size."""
    placed: list[_Buffer] = []
    arena = 0
    for buffer in sorted(buffers, key=lambda b: (-b.size, b.first)):
        if buffer.size == 0:
            continue  # nothing to store: offset 0, overlapping nothing
        busy = sorted((b.offset, b.offset + b.size) for b in placed
                      if b.first <= buffer.last and buffer.first <= b.last)
        best_offset, best_gap = None, None
        end = 0
        for start, stop in busy:
            gap = start - end
            if gap >= buffer.size and (best_gap is None or gap < best_gap):
                best_offset, best_gap = end, gap
            end = max(end, stop)
        buffer.offset = end if best_offset is None else best_offset
        placed.append(buffer)
        arena = max(arena, buffer.offset + buffer.size)
    return arena


def place_in_arena(live: list[tuple[int, int, int]], alignment: int = 64) -> tuple[list[int], int]:
    """Byte offsets in one arena for buffers given as ``(bytes, first, last)`` (the positions
    of their first write and last read, inclusive), with the same greedy-by-size best fit as
    the ``plan`` pass; returns the offsets, in order, and the arena's size. Backends that plan
    their own buffers (a kernel program's) use it.

        >>> place_in_arena([(256, 0, 1), (256, 1, 2), (256, 2, 3)])
        ([0, 256, 0], 512)
    """
    buffers = [_Buffer([], aligned(size, alignment), first, last) for size, first, last in live]
    arena = _assign_offsets(buffers)
    return [b.offset for b in buffers], arena


def plan(graph: Graph, alignment: int = 64) -> Graph:
    """Function form of the ``plan`` pass: ``graph`` with ``graph.plan`` set."""
    return PlanMemory(alignment=alignment).apply(graph).graph  # type: ignore[call-arg]
