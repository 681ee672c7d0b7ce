"""``fuse``: group elementwise ops, reductions and matmul/conv epilogues into ``fused`` nodes.

*What* to fuse is :mod:`passes.fusion.grouping` (the rules are in its docstring); *how* is
:mod:`passes.fusion.outline` (groups made contiguous, then :func:`ir.rewriter.outline`). The
interpreter runs a fused node by running its body, so ``--validate`` checks fusion bit for bit.

    >>> import ir
    >>> g = ir.parse('''func @f(%x: f32[4,3], %w: f32[3,5], %b: f32[5]) -> (f32[4,5]) {
    ...   %0: f32[4,5] = matmul %x, %w
    ...   %1: f32[4,5] = add %0, %b
    ...   %2: f32[4,5] = relu %1
    ...   return %2
    ... }''')
    >>> print(Fuse().apply(g).graph)
    func @f(%x: f32[4,3], %w: f32[3,5], %b: f32[5]) -> (f32[4,5]) {
      %0: f32[4,5] = fused %x, %w, %b {
        (%arg0: f32[4,3], %arg1: f32[3,5], %arg2: f32[5]):
        %0: f32[4,5] = matmul %arg0, %arg1
        %1: f32[4,5] = add %0, %arg2
        %2: f32[4,5] = relu %1
        yield %2
      }
      return %0
    }
"""
from __future__ import annotations

from ir.graph import Graph
from passes.dce import dead_nodes
from passes.fusion.grouping import FusionOptions, find_groups
from passes.fusion.outline import outline_groups
from passes.registry import Pass, PassError, PassResult, option, register


@register
class Fuse(Pass):
    """Groups elementwise chains, reductions and matmul/conv epilogues into fused nodes."""

    name = "fuse"
    max_ops: int = option(32, "largest group, counting ops other than constants")
    epilogues: bool = option(True, "fuse elementwise consumers (and one reduction) into "
                                   "matmul/conv2d nodes")
    reductions: bool = option(True, "fuse reductions with their elementwise producers and "
                                    "consumers")
    siblings: bool = option(True, "merge independent groups that read one value elementwise")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_ops < 1:
            raise PassError(f"pass 'fuse': option 'max-ops' must be at least 1, got "
                            f"{self.max_ops}")

    def apply(self, graph: Graph) -> PassResult:
        options = FusionOptions(self.max_ops, self.epilogues, self.reductions, self.siblings)
        # dead nodes stay out of fused bodies: one of another shape made code generators
        # fail on the group (a graph from an IR file may have them; compile runs dce first)
        dead = dead_nodes(graph)
        groups = [kept for kept in ([n for n in group if id(n) not in dead]
                                    for group in find_groups(graph, options)) if len(kept) > 1]
        if not groups:
            return PassResult(graph, False)
        outline_groups(graph, groups)
        return PassResult(graph, True)


def fuse(graph: Graph, **options) -> Graph:
    """Function form of the ``fuse`` pass (options as in :class:`Fuse`, with ``_``)."""
    return Fuse(**options).apply(graph).graph


__all__ = ["Fuse", "FusionOptions", "find_groups", "fuse", "outline_groups"]
