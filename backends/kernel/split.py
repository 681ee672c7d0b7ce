"""Cutting a fused body that is not one loop nest into as few loop nests as possible.

A kernel is elementwise work ending in at most one reduction. The ``fuse`` pass groups more than
that: a reduction with the consumers that read its result broadcast back (softmax's ``max, sub,
exp, sum, div``; LayerNorm's mean, variance and normalization, forward and backward). Such a body
is cut into consecutive *runs* of its nodes, each the longest run from where the previous one
ended that is still one loop nest:

- every node but the last is pointwise (elementwise with a scalar body, ``broadcast_to``, a
  reshape that only adds or drops size-1 dims and reads a value from before the run, or a
  constant filled with one number), the last is pointwise or a reduction;
- its *results* (values it makes that later runs or the body's yield read) all have the loop
  domain's shape, or are the reduction's result alone;
- every value it computes broadcasts to that domain.

Filled constants are not results: each run that reads one recomputes it as an immediate. A node
that fits no run (a matmul in the middle of a body, an op without a scalar body) is a run of its
own that the builder lowers as a top-level node.

    >>> import ir
    >>> body = ir.parse('''func @softmax(%x: f32[4,8]) -> (f32[4,8]) {
    ...   %0: f32[4,1] = max %x {axes=[1], keepdim=true}
    ...   %1: f32[4,8] = sub %x, %0
    ...   %2: f32[4,8] = exp %1
    ...   %3: f32[4,1] = sum %2 {axes=[1], keepdim=true}
    ...   %4: f32[4,8] = div %2, %3
    ...   return %4
    ... }''')
    >>> [[n.op for n in run.nodes] for run in split_body(body.nodes, body.outputs)]
    [['max'], ['sub', 'exp'], ['sum'], ['div']]
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ir.graph import Node, Value
from ir.ops.movement import is_unit_reshape
from ir.types import broadcast_shapes

REDUCTION_OPS = frozenset(("sum", "prod", "max", "min", "argmax", "argmin"))


@dataclass
class Run:
    """Consecutive nodes of a body lowered together; ``loop_nest`` is False for a node that is
    no loop nest and is lowered on its own."""

    nodes: list[Node]
    arguments: list[Value]  # read from before the run: body inputs, earlier runs' results
    results: list[Value]  # read after the run: by later runs or the body's yield
    loop_nest: bool = True


def is_filled_constant(node: Node) -> bool:
    return node.op == "const" and not isinstance(node.attrs["value"], (list, tuple))


def is_pointwise(node: Node) -> bool:
    """An elementwise node with a scalar body a kernel can compute, or a filled constant.
    The integer forms of ops whose reference raises on some operands (``checked_on_integers``:
    ``pow``'s negative exponents, integer division by zero) are not: a kernel cannot raise, so
    they stay library calls of the reference, whose error reaches the caller."""
    if node.op != "const" and node.opdef.checked_on_integers and \
            not node.output.type.dtype.is_float:
        return False
    if node.op == "const":
        return is_filled_constant(node)
    return node.opdef.kind == "elementwise" and node.opdef.scalar is not None


def is_reindexing(node: Node) -> bool:
    """``broadcast_to`` and unit reshapes: free in a loop nest (they only re-index a value)."""
    return node.op == "broadcast_to" or is_unit_reshape(node)


def is_reduction(node: Node) -> bool:
    return node.op in REDUCTION_OPS and node.opdef.reduction is not None


def loop_nest_results(nodes: Sequence[Node], needed: set[int]) -> list[Value] | None:
    """The values of ``nodes`` (constants aside) whose ids are in ``needed``, if ``nodes`` are
    one loop nest computing them (module docstring); None if they are not."""
    core = [n for n in nodes if not is_filled_constant(n)]
    if not core:
        return None
    *body, last = core
    made: set[int] = set()
    for node in body:
        if not (is_pointwise(node) or is_reindexing(node)):
            return None
        if is_unit_reshape(node) and id(node.inputs[0]) in made:
            return None  # a computed value cannot be re-read at another alignment
        made.update(id(v) for v in node.outputs)
    results = [v for n in core for v in n.outputs if id(v) in needed]
    if is_reduction(last):
        if [id(v) for v in results] != [id(last.output)]:
            return None
        domain = last.inputs[0].type.shape
    elif is_pointwise(last) or is_reindexing(last):
        if not results or (is_unit_reshape(last) and id(last.inputs[0]) in made):
            return None
        domain = results[0].type.shape
        if any(v.type.shape != domain for v in results):
            return None
        body = core
    else:
        return None
    if any(broadcast_shapes(v.type.shape, domain) != domain for n in body for v in n.outputs):
        return None
    return results


def split_body(nodes: Sequence[Node], yielded: Sequence[Value]) -> list[Run]:
    """``nodes`` (a body, in order) cut into runs, each the longest loop nest from where the
    last one ended (quadratic in the body's length, which the fuse pass bounds)."""
    nodes = list(nodes)
    end_of_body = len(nodes)
    last_read: dict[int, int] = {}
    for i, node in enumerate(nodes):
        for value in node.inputs:
            last_read[id(value)] = i
    for value in yielded:
        last_read[id(value)] = end_of_body
    constants = [n for n in nodes if is_filled_constant(n)]
    work = [i for i, n in enumerate(nodes) if not is_filled_constant(n)]
    runs: list[Run] = []
    start = 0
    while start < len(work):
        best: tuple[int, list[Value]] | None = None
        for stop in range(start + 1, len(work) + 1):
            chosen = [nodes[i] for i in work[start:stop]]
            after = work[stop] if stop < len(work) else end_of_body
            needed = {id(v) for n in chosen for v in n.outputs if last_read.get(id(v), -1) >= after}
            results = loop_nest_results(chosen, needed)
            if results is not None:
                best = (stop, results)
        if best is None:  # no loop nest: the node is lowered on its own
            node = nodes[work[start]]
            runs.append(Run([node], list(node.inputs), list(node.outputs), loop_nest=False))
            start += 1
            continue
        stop, results = best
        chosen = [nodes[i] for i in work[start:stop]]
        made = {id(v) for n in chosen for v in n.outputs}
        read = [v for n in chosen for v in n.inputs]
        used_constants = [c for c in constants if any(v is c.output for v in read)]
        arguments = list({id(v): v for v in read
                          if id(v) not in made and not any(v is c.output for c in constants)}
                         .values())
        runs.append(Run(used_constants + chosen, arguments, results))
        start = stop
    return runs
