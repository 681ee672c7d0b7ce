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
    """Drops nodes whose results nothing uses (rewrites the graph in place)."""

    name = "dce"

    def apply(self, graph: Graph) -> PassResult:
        live = {id(v) for v in graph.outputs}
        for node in reversed(graph.nodes):
            if id(node.output) in live:
                live.update(id(v) for v in node.inputs)
        dead = {id(n) for n in graph.nodes if id(n.output) not in live}
        if not dead:
            return PassResult(graph, False)
        # one pass over nodes and use lists (removing nodes one by one is quadratic)
        touched = {id(v): v for n in graph.nodes if id(n) in dead for v in n.inputs}
        for value in touched.values():
            value.users = [u for u in value.users if id(u) not in dead]
        graph.nodes = [n for n in graph.nodes if id(n) not in dead]
        return PassResult(graph, True)


def dce(graph: Graph) -> Graph:
    """Function form of the ``dce`` pass: the graph without its dead nodes."""
    return DeadCodeElimination().apply(graph).graph
