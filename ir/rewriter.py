"""Rewriting graphs: erase nodes, replace nodes by subgraphs, outline nodes into ``fused``.

Every function keeps use lists and node order right and costs time proportional to what it
touches (the nodes rewritten, their operands and users, and the nodes between the first and
the last of a group), never to the size of the graph, so a pass that rewrites a whole graph
this way runs in linear time. Each checks its arguments before changing anything: a
:class:`ir.errors.RewriteError` leaves the graph as it was.

    >>> import ir
    >>> from ir import rewriter
    >>> g = ir.parse('''func @f(%x: f32[3], %b: f32[3]) -> (f32[3]) {
    ...   %0: f32[3] = add %x, %b
    ...   %1: f32[3] = relu %0
    ...   %2: f32[3] = neg %1
    ...   return %2
    ... }''')
    >>> fused = rewriter.outline(g, g.nodes[:2])
    >>> print(g)
    func @f(%x: f32[3], %b: f32[3]) -> (f32[3]) {
      %0: f32[3] = fused %x, %b {
        (%arg0: f32[3], %arg1: f32[3]):
        %0: f32[3] = add %arg0, %arg1
        %1: f32[3] = relu %0
        yield %1
      }
      %1: f32[3] = neg %0
      return %1
    }
    >>> _ = rewriter.inline(g, fused)
    >>> [n.op for n in g.nodes]
    ['add', 'relu', 'neg']
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from ir.errors import RewriteError
from ir.graph import Graph, Node, Value
from ir.printer import value_names


def erase_nodes(graph: Graph, nodes: Iterable[Node]) -> None:
    """Erases ``nodes``, whose results may be used only among themselves (not by other nodes
    and not as graph outputs)."""
    members = _members(graph, nodes)
    outputs = {id(v) for v in graph.outputs}
    for node in members.values():
        for value in node.outputs:
            outside = [u for u in value.users.nodes() if id(u) not in members]
            if outside or id(value) in outputs:
                user = f"a {outside[0].op} node" if outside else "a graph output"
                raise RewriteError(f"cannot erase the {node.op} node: its result {value.index} "
                                   f"is still used by {user} that is not erased")
    for node in members.values():
        _detach(graph, node)


def replace_nodes(graph: Graph, nodes: Iterable[Node], subgraph: Graph,
                  operands: Sequence[Value], replaces: Sequence[Value]) -> list[Node]:
    """Replaces a group of nodes by the nodes of ``subgraph``; returns the nodes inserted.

    ``subgraph``'s inputs are bound to ``operands`` (values of ``graph`` defined before the
    group), and its outputs replace ``replaces`` (results of the group) wherever they are used
    outside the group. Every result of the group used outside it must be replaced. The new
    nodes go where the group's last node was; ``subgraph`` is consumed (its nodes move).
    """
    members = _members(graph, nodes)
    last = max(members.values(), key=lambda n: n._key)
    _check_binding(subgraph, operands, replaces, members)
    downstream = _downstream(graph, members, last)
    _check_operands(graph, operands, members, downstream, last)
    outputs = {id(v) for v in graph.outputs}
    replaced = {id(v) for v in replaces}
    for node in members.values():
        for value in node.outputs:
            used = any(id(u) not in members for u in value.users.nodes()) or id(value) in outputs
            if used and id(value) not in replaced:
                raise RewriteError(f"the result {value.index} of the {node.op} node is used "
                                   "outside the group, but the subgraph replaces it by nothing")

    inserted = list(subgraph.nodes)
    subgraph.nodes.clear()
    graph.nodes.insert_all_after(last, inserted)
    bound = {id(arg): operand for arg, operand in zip(subgraph.inputs, operands)}
    for arg, operand in zip(subgraph.inputs, operands):
        for user in arg.users.nodes():
            user.replace_input(arg, operand)
    news = [bound.get(id(v), v) for v in subgraph.outputs]
    subgraph.set_outputs([])
    _replace_uses(graph, list(replaces), news, members)
    # Nodes between the group's first and last node that read its results now read the new
    # values (defined at the group's end at the latest): they move after them.
    _move_after(graph, inserted[-1] if inserted else last, downstream)
    for node in members.values():
        _detach(graph, node)
    return inserted


def replace_node(graph: Graph, node: Node, subgraph: Graph) -> list[Node]:
    """Replaces one node by ``subgraph``, whose inputs are bound to the node's operands and
    whose outputs replace its results; returns the nodes inserted."""
    return replace_nodes(graph, [node], subgraph, list(node.inputs), list(node.outputs))


def inline(graph: Graph, node: Node) -> list[Node]:
    """Replaces a ``fused`` node by the nodes of its body; returns them (undoes
    :func:`outline`)."""
    body = node.body
    if body is None:
        raise RewriteError(f"cannot inline a {node.op} node: it has no body")
    return replace_node(graph, node, body)


def outline(graph: Graph, nodes: Iterable[Node]) -> Node:
    """Moves ``nodes`` into the body of one new ``fused`` node and returns it.

    The body's arguments are the values the nodes read from outside (in order of first use),
    its yields the nodes' results used outside (in node order). The set must be *convex*: no
    path may leave it and come back (the fused node would then depend on itself). Nodes in
    between that depend on the set move after the fused node, which takes the place of the
    set's last node.
    """
    members = _members(graph, nodes)
    ordered = sorted(members.values(), key=lambda n: n._key)
    last = ordered[-1]
    downstream = _downstream(graph, members, last)

    operands: dict[int, Value] = {}
    for node in ordered:
        for value in node.inputs:
            if value.producer is None or id(value.producer) not in members:
                operands.setdefault(id(value), value)
    outputs = {id(v) for v in graph.outputs}
    results = [value for node in ordered for value in node.outputs
               if id(value) in outputs or any(id(u) not in members for u in value.users.nodes())]
    if not results:
        raise RewriteError("nothing outside the set uses its results, so a fused node would "
                           "have none; erase the nodes instead (dce)")

    body = Graph("body")
    arguments = {key: body.add_input(f"arg{i}", value.type)
                 for i, (key, value) in enumerate(operands.items())}
    for node in ordered:  # by operand slot: a value's other users are never visited
        for slot, value in enumerate(node.inputs):
            if id(value) in arguments:
                node.inputs[slot] = arguments[id(value)]
                value.users.remove(node)
                arguments[id(value)].users.append(node)
    body.set_outputs(results)
    fused = graph.add_node("fused", list(operands.values()), {"body": body}, after=last)
    for node in ordered:
        graph.nodes.remove(node)
        body.nodes.append(node)
    _replace_uses(graph, results, fused.outputs, members)
    _move_after(graph, fused, downstream)
    return fused


# -- helpers ------------------------------------------------------------------------------------
def _members(graph: Graph, nodes: Iterable[Node]) -> dict[int, Node]:
    members: dict[int, Node] = {}
    for node in nodes:
        if node.graph is not graph:
            raise RewriteError(f"the {node.op} node is not a node of @{graph.name}")
        members[id(node)] = node
    if not members:
        raise RewriteError("no nodes given")
    return members


def _downstream(graph: Graph, members: dict[int, Node], last: Node) -> list[Node]:
    """The nodes before ``last`` that depend on the group, in order; RewriteError if one of
    them feeds the group again (the group is not convex)."""
    seen: dict[int, Node] = {}
    stack = [node for node in members.values()]
    while stack:
        node = stack.pop()
        for value in node.outputs:
            for user in value.users.nodes():
                if id(user) in members:
                    if id(node) in members:
                        continue
                    names = value_names(graph)
                    raise RewriteError(
                        f"the nodes are not convex: {names.get(id(node.outputs[0]), '?')} "
                        f"({node.op}) depends on the set and feeds its {user.op} node, so "
                        "replacing the set by one node would create a cycle")
                if id(user) not in seen and user._key < last._key:
                    seen[id(user)] = user
                    stack.append(user)
    return sorted(seen.values(), key=lambda n: n._key)


def _check_binding(subgraph: Graph, operands: Sequence[Value], replaces: Sequence[Value],
                   members: dict[int, Node]) -> None:
    if len(operands) != len(subgraph.inputs):
        raise RewriteError(f"the subgraph takes {len(subgraph.inputs)} input(s), but "
                           f"{len(operands)} operand(s) are given")
    for i, (argument, operand) in enumerate(zip(subgraph.inputs, operands)):
        if argument.type != operand.type:
            raise RewriteError(f"operand {i} has type {operand.type}, but subgraph input "
                               f"%{argument.name} has type {argument.type}")
    if len(replaces) != len(subgraph.outputs):
        raise RewriteError(f"the subgraph has {len(subgraph.outputs)} output(s), but "
                           f"{len(replaces)} value(s) are to be replaced")
    for i, (new, old) in enumerate(zip(subgraph.outputs, replaces)):
        if old.producer is None or id(old.producer) not in members:
            raise RewriteError(f"replaced value {i} is not a result of the nodes replaced")
        if new.type != old.type:
            raise RewriteError(f"subgraph output {i} has type {new.type}, but the value it "
                               f"replaces has type {old.type}")


def _check_operands(graph: Graph, operands: Sequence[Value], members: dict[int, Node],
                    downstream: list[Node], last: Node) -> None:
    after = {id(n) for n in downstream}
    inputs = {id(v) for v in graph.inputs}
    for i, operand in enumerate(operands):
        producer = operand.producer
        if producer is None:
            if id(operand) not in inputs:
                raise RewriteError(f"operand {i} is not a value of @{graph.name}")
        elif producer.graph is not graph:
            raise RewriteError(f"operand {i} is not a value of @{graph.name}")
        elif id(producer) in members:
            raise RewriteError(f"operand {i} is a result of the nodes being replaced")
        elif id(producer) in after or not producer._key < last._key:
            raise RewriteError(f"operand {i} is computed after (or from) the nodes being "
                               "replaced, so the replacement cannot read it")


def _replace_uses(graph: Graph, olds: Sequence[Value], news: Sequence[Value],
                  members: dict[int, Node]) -> None:
    """Points uses of each old value outside ``members`` (and graph outputs) at the new one."""
    renamed = {id(old): new for old, new in zip(olds, news)}
    for old, new in zip(olds, news):
        for user in old.users.nodes():
            if id(user) not in members:
                user.replace_input(old, new)
    graph.outputs = [renamed.get(id(v), v) for v in graph.outputs]


def _detach(graph: Graph, node: Node) -> None:
    """Drops a node's uses of its operands and unlinks it (its results must be unused)."""
    for value in node.inputs:
        value.users.remove(node)
    graph.nodes.remove(node)


def _move_after(graph: Graph, anchor: Node, nodes: list[Node]) -> None:
    for node in nodes:
        graph.nodes.remove(node)
    graph.nodes.insert_all_after(anchor, nodes)
