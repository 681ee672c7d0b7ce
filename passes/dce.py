"""``dce``: dead code elimination.

    >>> import ir
    >>> g = ir.parse('''func @f(%x: f32[2]) -> (f32[2]) {
    ...   %0: f32[2] = exp %x
    ...   %1: f32[2] = neg %x
    ...   return %1
    ... }''')
    >>> result = DeadCodeElimination().apply(g)
    >>> [n.op for n in result.graph.nodes], result.changed
    (['neg'], True)
"""
from __future__ import annotations

from ir.graph import Graph
from passes.registry import Pass, PassResult, register


@register
class DeadCodeElimination(Pass):
    """Drops nodes none of whose results is used, in fused bodies too (in place)."""

    name = "dce"

    def apply(self, graph: Graph) -> PassResult:
        return PassResult(graph, _eliminate(graph))


def dead_nodes(graph: Graph) -> set[int]:
    """The ids of ``graph``'s nodes no output depends on (not looking into bodies)."""
    live = {id(v) for v in graph.outputs}
    for node in reversed(graph.nodes):
        if any(id(v) in live for v in node.outputs):
            live.update(id(v) for v in node.inputs)
    return {id(n) for n in graph.nodes if not any(id(v) in live for v in n.outputs)}


def _eliminate(graph: Graph) -> bool:
    """Removes dead nodes of ``graph`` and of the bodies of its live nodes; whether any went."""
    dead = dead_nodes(graph)
    changed = False
    for node in graph.nodes:
        if node.body is not None and id(node) not in dead:
            changed |= _eliminate(node.body)
    if not dead:
        return changed
    # one pass over nodes and use lists (removing nodes one by one is quadratic)
    touched = {id(v): v for n in graph.nodes if id(n) in dead for v in n.inputs}
    for value in touched.values():
        value.users = [u for u in value.users if id(u) not in dead]
    graph.nodes = [n for n in graph.nodes if id(n) not in dead]
    return True


def dce(graph: Graph) -> Graph:
    """Function form of the ``dce`` pass: the graph without its dead nodes."""
    return DeadCodeElimination().apply(graph).graph
