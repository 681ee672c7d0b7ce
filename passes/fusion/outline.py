"""How to fuse: turn each group of nodes into one ``fused`` node.

The groups (from :mod:`passes.fusion.grouping`) are first made contiguous: the graph's nodes
are reordered so that each group's members follow each other, in the order of
:func:`~passes.fusion.grouping.quotient_order` (a topological order of the groups taken as
single nodes, as close to the original order as it can be). Then
:func:`ir.rewriter.outline` moves each group into the body of a ``fused`` node; because the
members are contiguous, no node in between has to move and each outline costs time
proportional to its group, so the whole step is linear in the graph.

    >>> import ir
    >>> g = ir.parse('''func @f(%x: f32[3]) -> (f32[3]) {
    ...   %0: f32[3] = exp %x
    ...   %1: f32[3] = neg %0
    ...   return %1
    ... }''')
    >>> [n.op for n in outline_groups(g, [list(g.nodes)])]
    ['fused']
    >>> [n.op for n in g.nodes[0].body.nodes]
    ['exp', 'neg']
"""
from __future__ import annotations

from collections.abc import Sequence

from ir import rewriter
from ir.errors import RewriteError
from ir.graph import Graph, Node
from passes.fusion.grouping import quotient_order


def outline_groups(graph: Graph, groups: Sequence[Sequence[Node]]) -> list[Node]:
    """Replaces each group (convex, and acyclic taken as nodes) by one ``fused`` node, in
    place; returns the fused nodes in graph order."""
    ordered, left = quotient_order(graph, groups)
    if left:
        raise RewriteError("the groups depend on each other in a cycle, so they cannot all "
                           "become fused nodes")
    graph.nodes = [node for unit in ordered for node in unit]
    is_group = {id(g) for g in groups}
    return [rewriter.outline(graph, unit) for unit in ordered if id(unit) in is_group]
