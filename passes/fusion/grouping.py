"""What to fuse: an explicit grouping of a graph's nodes, one group per future ``fused`` node.

Every node has a *role*:

- **pointwise**: elementwise ops (those with a scalar body: arithmetic, comparisons, ``where``,
  ``cast``, ``stop_gradient``...), ``broadcast_to`` (free in an elementwise body: it only
  re-indexes its operand) and reshapes that only add or drop size-1 dims (``[4] -> [4,1]``,
  the keepdim form of a reduced value);
- **reduction**: ``sum``, ``max``, ``min``, ``argmax``, ``argmin``;
- **anchor**: ``matmul``, ``conv2d`` and its two gradient convolutions;
- **constant**: ``const`` nodes, which never connect groups (a shared constant would glue
  unrelated work together) but move into the one group that uses them; a fill (one number,
  any shape) used by several groups is copied into each, where it is a literal: shared, it
  was an array every group read (attention's ``1/N`` of a mean's gradient: 1 MB per read);
- **boundary**: everything else (other movement ops such as ``transpose``, ``slice``, ``pad``,
  ``concat``, general ``reshape``; ``gather``, ``scatter_add``, random sources, ``fused``).

Groups form in one sweep over the nodes in order. A pointwise node or a reduction joins the
groups of its operands' producers (a reduction thereby joins "its elementwise producers", and
the consumers that read the reduced value, broadcast back or not, join it later); an anchor
starts a group, so its elementwise consumers become its *epilogue*. When a node could join
several groups it tries them in order of preference: groups with an anchor first (an epilogue
sits with its matmul), then the group whose values it reads are largest in bytes (a relu mask
``where(bool_mask, 0, grad)`` sits with the matmul producing ``grad``, not with the group
that made the 1-byte mask), then the group of its latest operand. A second sweep merges
independent groups that read the same value elementwise (both read it at its own shape):
the step counter increment of an optimizer joins the update of its parameter. A merge is
refused when it would break one of these rules:

1. a group has at most ``max_ops`` ops other than constants;
2. at most one anchor per group (a matmul never fuses with another matmul), and every other
   op in an anchor's group depends on the anchor (the body is the matmul, then its epilogue);
3. at most one reduction per group; in an anchor's group nothing depends on the reduction
   (a GEMM epilogue can reduce its output, e.g. the bias gradient, but not use the result);
4. the group stays *convex*: no path leaves it and comes back, so the fused node does not
   depend on itself. Checked with reachability bitsets (Python ints with one bit per fusible
   node, as XLA's reachability map) in time proportional to the groups' operands.

Convex groups can still depend on each other both ways (a path from group X to group Y and
one from Y to X through other nodes of each), so the grouping ends by checking that the
groups, taken as single nodes, form a DAG (:func:`quotient_order`); in the rare case they do
not, a group on a cycle is dissolved and the check repeats. Groups with fewer than two ops
besides constants, and groups none of whose values is used, are not fused.

The cost is linear in the graph for the sweeps (each merge is bounded by ``max_ops``) plus
``n * f / 64`` machine words for the bitsets (``f`` fusible nodes).

    >>> import ir
    >>> g = ir.parse('''func @f(%x: f32[4,3], %w: f32[3,5], %b: f32[5]) -> (f32[4,5]) {
    ...   %0: f32[4,5] = matmul %x, %w
    ...   %1: f32[4,5] = add %0, %b
    ...   %2: f32[4,5] = relu %1
    ...   return %2
    ... }''')
    >>> [[n.op for n in group] for group in find_groups(g)]
    [['matmul', 'add', 'relu']]
"""
from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ir import rewriter
from ir.graph import Graph, Node, Value
from ir.ops.movement import is_unit_reshape

ANCHOR_OPS = frozenset({"matmul", "conv2d", "conv2d_input_grad", "conv2d_weight_grad"})


@dataclass(frozen=True)
class FusionOptions:
    """The knobs of the ``fuse`` pass (see :class:`passes.fusion.Fuse`)."""

    max_ops: int = 32
    epilogues: bool = True
    reductions: bool = True
    siblings: bool = True


def role(node: Node) -> str:
    """``pointwise``, ``reduction``, ``anchor``, ``constant`` or ``boundary`` (module docstring)."""
    opdef = node.opdef
    if node.op == "const":
        return "constant"
    if opdef.kind == "elementwise" and opdef.scalar is not None:
        return "pointwise"
    if node.op == "broadcast_to" or is_unit_reshape(node):
        return "pointwise"
    if opdef.kind == "reduce" and opdef.reduction is not None:
        return "reduction"
    if node.op in ANCHOR_OPS:
        return "anchor"
    return "boundary"


class _Group:
    """A set of nodes that will become one fused node, with what the merge rules look at."""

    __slots__ = ("anchor", "mask", "members", "ops", "reduction")

    def __init__(self, node: Node, bit: int, node_role: str):
        self.members = [node]
        self.mask = bit
        self.ops = 1
        self.anchor = node if node_role == "anchor" else None
        self.reduction = node if node_role == "reduction" else None


class _Grouping:
    """The state of one grouping: roles, reachability bitsets and the current groups."""

    def __init__(self, graph: Graph, options: FusionOptions):
        self.graph = graph
        self.options = options
        self.position: dict[int, float] = {id(n): i for i, n in enumerate(graph.nodes)}
        self.roles = {id(n): self._role(n) for n in graph.nodes}
        self.bit: dict[int, int] = {}
        self.reach: dict[int, int] = {}  # id(node) -> bits of the fusible nodes it depends on
        self.group: dict[int, _Group] = {}
        for node in graph.nodes:
            r = 0
            for producer in {id(v.producer): v.producer for v in node.inputs
                             if v.producer is not None}.values():
                r |= self.reach[id(producer)] | self.bit.get(id(producer), 0)
            self.reach[id(node)] = r
            if self.roles[id(node)] in ("pointwise", "reduction", "anchor"):
                self.bit[id(node)] = 1 << len(self.bit)
                self.group[id(node)] = _Group(node, self.bit[id(node)], self.roles[id(node)])

    def _role(self, node: Node) -> str:
        kind = role(node)
        if (kind == "reduction" and not self.options.reductions) or (
                kind == "anchor" and not self.options.epilogues):
            return "boundary"
        return kind

    # -- the two sweeps --------------------------------------------------------------------
    def join_producers(self) -> None:
        """Each pointwise node and reduction joins its producers' groups, in preference order."""
        for node in self.graph.nodes:
            if self.roles[id(node)] not in ("pointwise", "reduction"):
                continue
            for candidate in self._candidates(node):
                own = self.group[id(node)]
                if candidate is not own and self._can_merge(own, candidate):
                    self._merge(own, candidate)

    def _candidates(self, node: Node) -> list[_Group]:
        score: dict[int, tuple[bool, int, float]] = {}
        groups: dict[int, _Group] = {}
        for value in node.inputs:
            group = self.group.get(id(value.producer)) if value.producer is not None else None
            if group is None:
                continue
            has_anchor, size, latest = score.get(id(group), (group.anchor is not None, 0, -1))
            score[id(group)] = (has_anchor, size + _bytes(value),
                                max(latest, self.position[id(value.producer)]))
            groups[id(group)] = group
        return [groups[k] for k in sorted(score, key=score.__getitem__, reverse=True)]

    def merge_siblings(self) -> None:
        """Merges anchor-free groups that read one value elementwise at its own shape."""
        values: Iterable[Value] = self.graph.values()
        for value in values:
            readers = [u for u in value.users.nodes()
                       if self.roles[id(u)] == "pointwise" and len(u.outputs) == 1
                       and u.outputs[0].shape == value.shape]
            groups = {id(g): g for g in (self.group[id(u)] for u in readers)
                      if g.anchor is None}
            target = None
            for group in groups.values():
                if target is None:
                    target = group
                elif self._can_merge(target, group):
                    target = self._merge(target, group)

    # -- merging -------------------------------------------------------------------------------
    def _can_merge(self, a: _Group, b: _Group) -> bool:
        if a.ops + b.ops > self.options.max_ops:
            return False
        if (a.anchor and b.anchor) or (a.reduction and b.reduction):
            return False
        anchor = a.anchor or b.anchor
        if anchor is not None:
            other = b if a.anchor else a
            anchor_bit = self.bit[id(anchor)]
            if any(not self.reach[id(m)] & anchor_bit for m in other.members):
                return False  # not part of the anchor's epilogue
            reduction = a.reduction or b.reduction
            if reduction is not None:
                reduction_bit = self.bit[id(reduction)]
                if any(self.reach[id(m)] & reduction_bit for m in a.members + b.members):
                    return False  # an epilogue may reduce, but not use the reduced value
        return not self._path_between(a, b) and not self._path_between(b, a)

    def _path_between(self, source: _Group, target: _Group) -> bool:
        """Whether a path leaves ``source`` and reaches ``target`` through other nodes."""
        for member in target.members:
            for value in member.inputs:
                producer = value.producer
                if producer is None:
                    continue
                group = self.group.get(id(producer))
                if group is source or group is target:
                    continue
                if self.reach[id(producer)] & source.mask:
                    return True
        return False

    def _merge(self, a: _Group, b: _Group) -> _Group:
        """Merges the smaller group into the larger; returns the merged group."""
        if len(a.members) < len(b.members):
            a, b = b, a
        for member in b.members:
            self.group[id(member)] = a
        a.members.extend(b.members)
        a.mask |= b.mask
        a.ops += b.ops
        a.anchor = a.anchor or b.anchor
        a.reduction = a.reduction or b.reduction
        return a

    # -- the result ----------------------------------------------------------------------------
    def groups(self) -> list[list[Node]]:
        """The groups worth fusing, members in graph order, with their constants."""
        unique = {id(g): g for g in self.group.values()}
        kept = {key: g for key, g in unique.items() if g.ops >= 2 and self._is_used(g)}
        members = {key: list(g.members) for key, g in kept.items()}
        outputs = {id(v) for v in self.graph.outputs}
        for node in list(self.graph.nodes):
            if self.roles[id(node)] != "constant" or id(node.output) in outputs:
                continue
            homes = {id(self.group.get(id(u))) for u in node.output.users.nodes()}
            home = homes.pop() if len(homes) == 1 else None
            if home in members:
                members[home].append(node)
            elif not isinstance(node.attrs["value"], (list, tuple)):
                self._copy_into_groups(node, members)
        return [sorted(m, key=lambda n: self.position[id(n)]) for m in members.values()]

    def _copy_into_groups(self, node: Node, members: dict[int, list[Node]]) -> None:
        """Gives each kept group that reads the fill ``node`` a copy of its own, ordered just
        before its first reader there (after a matmul whose epilogue reads it: a GEMM's body
        starts with the GEMM, so a group whose matmul itself reads the fill gets none);
        ``node`` goes when no other user is left."""
        readers: dict[int, list[Node]] = {}
        anchors_reading = {id(self.group.get(id(u))) for u in node.output.users.nodes()
                           if self.roles[id(u)] == "anchor"}
        for user in node.output.users.nodes():
            home = id(self.group.get(id(user)))
            if home in members and home not in anchors_reading:
                readers.setdefault(home, []).append(user)
        for home, users in readers.items():
            copy = self.graph.add_node("const", [], dict(node.attrs), node.loc, before=node)
            self.position[id(copy)] = min(self.position[id(u)] for u in users) - 0.5
            self.roles[id(copy)] = "constant"
            for user in users:
                user.replace_input(node.output, copy.output)
            members[home].append(copy)
        if readers and not node.output.users.nodes():
            rewriter.erase_nodes(self.graph, [node])

    def _is_used(self, group: _Group) -> bool:
        outputs = {id(v) for v in self.graph.outputs}
        return any(id(v) in outputs or any(self.group.get(id(u)) is not group
                                           for u in v.users.nodes())
                   for m in group.members for v in m.outputs)


def _bytes(value: Value) -> int:
    return value.type.size * value.dtype.numpy.itemsize


def find_groups(graph: Graph, options: FusionOptions | None = None) -> list[list[Node]]:
    """The groups of ``graph``'s nodes to fuse (members in graph order), following the rules
    of the module docstring; the groups are convex and, taken as nodes, acyclic."""
    grouping = _Grouping(graph, options or FusionOptions())
    grouping.join_producers()
    if grouping.options.siblings:
        grouping.merge_siblings()
    groups = grouping.groups()
    while True:
        cycle = quotient_cycle(graph, groups)
        if cycle is None:
            return sorted(groups, key=lambda g: grouping.position[id(g[0])])
        groups = [g for g in groups if g is not cycle]  # dissolved into single nodes


def quotient_order(graph: Graph, groups: Sequence[Sequence[Node]]
                   ) -> tuple[list[Sequence[Node]], list[Sequence[Node]]]:
    """Orders the *units* of ``graph`` (each group, and every node in no group) so that each
    comes after the units it reads from, staying as close to the graph's order as it can
    (Kahn's algorithm, the unit whose first node comes first goes first).

    Returns ``(ordered units, units left over)``, each group as the very sequence given; units
    are left over only when the groups taken as nodes form a cycle.
    """
    position = {id(n): i for i, n in enumerate(graph.nodes)}
    unit_of: dict[int, int] = {}
    units: list[Sequence[Node]] = []
    for group in groups:
        for node in group:
            unit_of[id(node)] = len(units)
        units.append(group)
    for node in graph.nodes:
        if id(node) not in unit_of:
            unit_of[id(node)] = len(units)
            units.append([node])
    first = [min(position[id(n)] for n in unit) for unit in units]
    successors: list[set[int]] = [set() for _ in units]
    waiting = [0] * len(units)
    for index, unit in enumerate(units):
        for node in unit:
            for value in node.inputs:
                if value.producer is None:
                    continue
                source = unit_of[id(value.producer)]
                if source != index and index not in successors[source]:
                    successors[source].add(index)
                    waiting[index] += 1
    ready = [(first[i], i) for i in range(len(units)) if waiting[i] == 0]
    heapq.heapify(ready)
    ordered: list[Sequence[Node]] = []
    while ready:
        _, index = heapq.heappop(ready)
        ordered.append(units[index])
        for successor in successors[index]:
            waiting[successor] -= 1
            if waiting[successor] == 0:
                heapq.heappush(ready, (first[successor], successor))
    left = [unit for i, unit in enumerate(units) if waiting[i] > 0]
    return ordered, left


def quotient_cycle(graph: Graph, groups: Sequence[Sequence[Node]]) -> Sequence[Node] | None:
    """A group on a cycle of the groups taken as nodes, or None when they form a DAG."""
    _, left = quotient_order(graph, groups)
    if not left:
        return None
    import networkx as nx  # type: ignore[import-untyped]  # rare path: keeps imports light

    unit_of = {id(n): i for i, unit in enumerate(left) for n in unit}
    quotient = nx.DiGraph()
    for index, unit in enumerate(left):
        for node in unit:
            for value in node.inputs:
                source = unit_of.get(id(value.producer))
                if source is not None and source != index:
                    quotient.add_edge(source, index)
    cycle_units = {u for edge in nx.find_cycle(quotient) for u in edge}
    in_cycle = [left[i] for i in cycle_units if len(left[i]) > 1]
    identity = {id(g): g for g in groups}
    return identity[id(max(in_cycle, key=len))]
