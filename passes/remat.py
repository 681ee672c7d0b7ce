"""``remat``: recompute cheap forward values in the backward instead of keeping them alive.

A training step traced by ``graphc.compile`` (or built by ``autodiff``) is one *joint* graph:
the forward computes the loss, the backward the gradients (and the optimizer update). Here the
**forward** is every node the loss needs (the outputs named by ``forward-outputs``, the first
by default) and the **backward** every other node. Forward values that backward nodes read stay
alive from the forward to the backward: the activations a step keeps. Many are cheap to
recompute from other kept values (``relu(h)`` from ``h``, a broadcast from its small input).

What to keep is the minimum cut of a flow network, as in AOTAutograd's min-cut partitioner
(functorch's ``min_cut_rematerialization_partition``): each forward node is split into an
``in`` vertex and one ``out`` vertex per result, joined by an edge whose capacity is the
result's bytes (the cost of keeping it); results feed their forward users' ``in`` vertex with
infinite capacity, and the sink when a backward node or a graph output reads them. Nodes that
are not cheap to recompute (matmul, convolution, reductions, random numbers, indexing) hang
from the source with infinite capacity, so the backward can only get their results by keeping
them; graph inputs are not in the network: the caller keeps them anyway, so reading them costs
nothing. The cut edges are the values to keep; the forward nodes on the sink side that the
backward needs are *cloned* just before their first backward use, so their results live only
there, and the backward reads the clones.

The pass then compares the liveness peak (:func:`ir.plan.liveness_peak`) before and after and
undoes its rewrite if the peak did not drop, so it never makes memory worse. Results stay
bitwise equal: a clone runs the same op on the same values. Its report (``last_report``, and
the ``graphc.passes`` logger) says how many bytes of activations it stopped keeping.

    >>> import ir
    >>> g = ir.parse('''func @step(%x: f32[64], %y: f32[64]) -> (f32[], f32[64]) {
    ...   %0: f32[] = sum %x {axes=[0]}
    ...   %1: f32[64] = broadcast_to %0 {shape=[64]}
    ...   %2: f32[64] = mul %1, %x
    ...   %3: f32[] = sum %2 {axes=[0]}
    ...   %4: f32[64] = exp %y
    ...   %5: f32[64] = exp %4
    ...   %6: f32[64] = add %4, %5
    ...   %7: f32[64] = mul %6, %1
    ...   return %3, %7
    ... }''')
    >>> remat = Rematerialize()
    >>> g = remat.apply(g).graph
    >>> print(remat.last_report)  # doctest: +NORMALIZE_WHITESPACE
    remat: kept 256 -> 4 bytes of activations across forward->backward by recomputing
    1 op(s); liveness peak 1028 -> 776 bytes
    >>> print(g)  # the broadcast runs again just before the backward reads it
    func @step(%x: f32[64], %y: f32[64]) -> (f32[], f32[64]) {
      %0: f32[] = sum %x {axes=[0]}
      %1: f32[64] = broadcast_to %0 {shape=[64]}
      %2: f32[64] = mul %1, %x
      %3: f32[] = sum %2 {axes=[0]}
      %4: f32[64] = exp %y
      %5: f32[64] = exp %4
      %6: f32[64] = add %4, %5
      %7: f32[64] = broadcast_to %0 {shape=[64]}
      %8: f32[64] = mul %6, %7
      return %3, %8
    }
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from ir.graph import Graph, Node, Value
from ir.parser import parse
from ir.plan import liveness_peak, nbytes
from ir.printer import to_text
from passes.registry import Pass, PassError, PassResult, option, register

log = logging.getLogger("graphc.passes")

# Op kinds cheap enough to recompute: a pass over the elements, no reduction or contraction.
RECOMPUTABLE_KINDS = frozenset({"elementwise", "movement"})


@dataclass(frozen=True)
class RematReport:
    """What one run of ``remat`` did."""

    kept_before: int  # bytes of forward values (not inputs) that backward nodes read
    kept_after: int
    recomputed: int  # nodes cloned into the backward
    peak_before: int  # liveness peak of the node results, in bytes
    peak_after: int
    undone: bool = False  # the rewrite did not lower the peak and was taken back

    @property
    def saved(self) -> int:
        return self.kept_before - self.kept_after

    def __str__(self) -> str:
        if self.undone:
            return (f"remat: recomputing {self.recomputed} op(s) would not lower the liveness "
                    f"peak ({self.peak_before} bytes); graph left unchanged")
        return (f"remat: kept {self.kept_before} -> {self.kept_after} bytes of activations "
                f"across forward->backward by recomputing {self.recomputed} op(s); liveness "
                f"peak {self.peak_before} -> {self.peak_after} bytes")


@register
class Rematerialize(Pass):
    """Recomputes cheap forward values in the backward instead of keeping them (min-cut)."""

    name = "remat"
    forward_outputs: tuple[int, ...] = option((0,), "outputs the forward computes (the loss)")

    def apply(self, graph: Graph) -> PassResult:
        for index in self.forward_outputs:
            if not 0 <= index < len(graph.outputs):
                raise PassError(f"pass 'remat': forward output {index} does not exist; "
                                f"@{graph.name} has {len(graph.outputs)} output(s)")
        report = rematerialize(graph, self.forward_outputs)
        object.__setattr__(self, "last_report", report)  # frozen dataclass: not an option
        log.info("%s", report)
        changed = report.recomputed > 0 and not report.undone
        if changed:
            graph.plan = None  # a memory plan of the old node list no longer holds
        return PassResult(graph, changed)


def is_recomputable(node: Node) -> bool:
    """Whether ``node`` is cheap and deterministic enough to run again in the backward."""
    if node.op == "fused":
        body = node.body
        return body is not None and all(is_recomputable(n) for n in body.nodes)
    return node.op == "const" or node.opdef.kind in RECOMPUTABLE_KINDS


def forward_nodes(graph: Graph, forward_outputs) -> set[int]:
    """Ids of the nodes that the outputs ``forward_outputs`` need."""
    needed: set[int] = set()
    stack = [graph.outputs[i].producer for i in forward_outputs]
    while stack:
        node = stack.pop()
        if node is None or id(node) in needed:
            continue
        needed.add(id(node))
        stack.extend(v.producer for v in node.inputs)
    return needed


def kept_bytes(graph: Graph, forward: set[int]) -> int:
    """Bytes of forward node results that a backward node reads (each value once)."""
    kept = {id(v): v for n in graph.nodes if id(n) not in forward for v in n.inputs
            if v.producer is not None and id(v.producer) in forward}
    return sum(nbytes(v.type) for v in kept.values())


def rematerialize(graph: Graph, forward_outputs=(0,)) -> RematReport:
    """Runs the pass on ``graph`` in place and reports (see the module docstring)."""
    forward = forward_nodes(graph, forward_outputs)
    kept_before = kept_bytes(graph, forward)
    peak_before = liveness_peak(graph)
    recompute = _nodes_to_recompute(graph, forward)
    if not recompute:
        return RematReport(kept_before, kept_before, 0, peak_before, peak_before)
    clones = _clone_into_backward(graph, forward, recompute)
    peak_after = liveness_peak(graph)
    if peak_after >= peak_before:
        _undo(graph, clones)
        return RematReport(kept_before, kept_before, len(clones), peak_before, peak_before,
                           undone=True)
    return RematReport(kept_before, kept_bytes(graph, forward), len(clones), peak_before,
                       peak_after)


def _nodes_to_recompute(graph: Graph, forward: set[int]) -> list[Node]:
    """Forward nodes on the sink side of the min cut that the backward reads, in node order."""
    import networkx as nx  # type: ignore[import-untyped]  # here: `import graphc` stays light
    network = nx.DiGraph()
    network.add_nodes_from(["source", "sink"])
    backward_reads: list[Value] = []
    outputs = {id(v) for v in graph.outputs}
    for node in graph.nodes:
        if id(node) not in forward:
            backward_reads += [v for v in node.inputs
                               if v.producer is not None and id(v.producer) in forward]
            continue
        inside = ("in", id(node))
        # Outputs other than the loss read forward values too, but are not rewritten: keep them.
        must_keep = any(id(v) in outputs for v in node.outputs)
        if must_keep or not is_recomputable(node):
            network.add_edge("source", inside)  # no capacity attribute: infinite
        for value in node.outputs:
            out = ("out", id(value))
            network.add_edge(inside, out, capacity=nbytes(value.type))
            for user in value.users.nodes():
                if id(user) in forward:
                    network.add_edge(out, ("in", id(user)))
                else:
                    network.add_edge(out, "sink")
            if id(value) in outputs:
                network.add_edge(out, "sink")
    if not backward_reads:
        return []
    _, (source_side, _) = nx.minimum_cut(network, "source", "sink")
    # Walk back from the backward's reads through forward nodes on the sink side.
    chosen: dict[int, Node] = {}
    stack: list[Node | None] = [v.producer for v in backward_reads]
    while stack:
        candidate = stack.pop()
        if (candidate is None or id(candidate) in chosen
                or ("in", id(candidate)) in source_side):
            continue
        chosen[id(candidate)] = candidate
        stack.extend(v.producer for v in candidate.inputs)
    return [n for n in graph.nodes if id(n) in chosen]


def _clone_into_backward(graph: Graph, forward: set[int],
                         recompute: list[Node]) -> list[tuple[Node, Node]]:
    """Clones ``recompute`` just before the first backward node that needs each, points the
    backward at the clones, and returns (original, clone) pairs."""
    nodes = list(graph.nodes)
    position = {id(n): i for i, n in enumerate(nodes)}
    members = {id(n) for n in recompute}
    first_need: dict[int, int] = {}
    for node in reversed(recompute):  # users before producers
        needs = [first_need[id(u)] if id(u) in members else position[id(u)]
                 for v in node.outputs for u in v.users.nodes()
                 if id(u) in members or id(u) not in forward]
        first_need[id(node)] = min(needs)
    clone_of: dict[int, Node] = {}
    pairs = []
    for node in sorted(recompute, key=lambda n: (first_need[id(n)], position[id(n)])):
        inputs = [clone_of[id(v.producer)].outputs[v.index]
                  if v.producer is not None and id(v.producer) in clone_of else v
                  for v in node.inputs]
        attrs = dict(node.attrs)
        if node.body is not None:
            attrs["body"] = parse(to_text(node.body, debug_info=True))  # bodies are not shared
        clone = graph.add_node(node.op, inputs, attrs, node.loc,
                               before=nodes[first_need[id(node)]])
        clone_of[id(node)] = clone
        pairs.append((node, clone))
    for node in nodes:
        if id(node) in forward:
            continue
        for value in list(node.inputs):
            producer = value.producer
            if producer is not None and id(producer) in clone_of:
                node.replace_input(value, clone_of[id(producer)].outputs[value.index])
    return pairs


def _undo(graph: Graph, pairs: list[tuple[Node, Node]]) -> None:
    """Points every user of the clones back at the originals and removes the clones."""
    for original, clone in reversed(pairs):
        for old, new in zip(clone.outputs, original.outputs):
            graph.replace_all_uses(old, new)
        graph.erase_node(clone)


def remat(graph: Graph, forward_outputs=(0,)) -> Graph:
    """Function form of the ``remat`` pass."""
    remat_pass = Rematerialize(forward_outputs=tuple(forward_outputs))  # type: ignore[call-arg]
    return remat_pass.apply(graph).graph

