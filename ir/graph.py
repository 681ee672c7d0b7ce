"""The IR graph: typed SSA values produced by nodes, kept in topological order.

    >>> from ir import Graph, TensorType, f32
    >>> g = Graph("double")
    >>> x = g.add_input("x", TensorType(f32, (3,)))
    >>> y = g.add_node("add", [x, x]).output
    >>> g.set_outputs([y])
    >>> print(g)
    func @double(%x: f32[3]) -> (f32[3]) {
      %0: f32[3] = add %x, %x
      return %0
    }
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ir import registry
from ir.errors import IRError
from ir.nodelist import NodeList, UseList
from ir.types import TensorType

if TYPE_CHECKING:
    from ir.plan import MemoryPlan


@dataclass(frozen=True)
class SourceLoc:
    """Where in the user's Python code a node came from."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class Value:
    """One SSA value: a graph input (``producer is None``) or result ``index`` of one node.

    ``users`` lists the nodes that read it, once per operand slot (a :class:`UseList`).
    """

    __slots__ = ("_users", "index", "name", "producer", "type")

    def __init__(self, type: TensorType, name: str | None = None,
                 producer: Node | None = None, index: int = 0):
        self.type = type
        self.name = name
        self.producer = producer
        self.index = index
        self._users = UseList()

    @property
    def users(self) -> UseList:
        return self._users

    @users.setter
    def users(self, nodes: Iterable[Node]) -> None:
        self._users = nodes if isinstance(nodes, UseList) else UseList(nodes)

    @property
    def shape(self):
        return self.type.shape

    @property
    def dtype(self):
        return self.type.dtype

    def __repr__(self) -> str:
        return f"Value({self.name or '?'}: {self.type})"


class Node:
    """One op application: operand Values in, one or more result Values out.

    ``outputs`` holds the results (``outputs[i].index == i``); ``output`` is the result of a
    single-result node. A node belongs to at most one graph (``node.graph``); ops with a body
    (``fused``) keep it as the attribute ``body``, a nested :class:`Graph`.
    """

    __slots__ = ("_key", "_list", "_next", "_prev", "attrs", "inputs", "loc", "op", "outputs")

    def __init__(self, op: str, inputs: Sequence[Value], attrs: dict,
                 out_types: TensorType | Sequence[TensorType],
                 loc: SourceLoc | None = None):
        self.op = op
        self.inputs = list(inputs)
        self.attrs = dict(attrs)
        types = (out_types,) if isinstance(out_types, TensorType) else tuple(out_types)
        self.outputs = [Value(t, producer=self, index=i) for i, t in enumerate(types)]
        self.loc = loc
        self._prev: Node | None = None
        self._next: Node | None = None
        self._key = 0
        self._list: NodeList | None = None
        for v in self.inputs:
            v.users.append(self)

    @property
    def output(self) -> Value:
        """The result of a single-result node; an error for a node with several results."""
        if len(self.outputs) != 1:
            raise IRError(f"a {self.op} node has {len(self.outputs)} results: use "
                          f"node.outputs[i] (node.output is for single-result nodes)")
        return self.outputs[0]

    @property
    def result_types(self) -> tuple[TensorType, ...]:
        return tuple(v.type for v in self.outputs)

    @property
    def body(self) -> Graph | None:
        """The nested graph of a ``fused`` node, or None."""
        body = self.attrs.get("body")
        return body if isinstance(body, Graph) else None

    @property
    def graph(self) -> Graph | None:
        """The graph whose node list holds this node, or None once it is removed."""
        return self._list.graph if self._list is not None else None

    @property
    def opdef(self) -> registry.OpDef:
        return registry.get(self.op)

    def replace_input(self, old: Value, new: Value) -> None:
        """Points every use of ``old`` in this node at ``new``, keeping use lists in sync."""
        for i, v in enumerate(self.inputs):
            if v is old:
                self.inputs[i] = new
                old.users.remove(self)
                new.users.append(self)

    def __repr__(self) -> str:
        return f"Node({self.op}, {[v.name for v in self.inputs]})"


class Graph:
    """A function in the IR: typed inputs, nodes in topological order, and outputs.

    ``nodes`` is a :class:`NodeList` (iterate, index, insert and remove like a list; assigning
    a list of nodes to ``graph.nodes`` replaces the order). ``output_aliases`` maps an output
    index to the index of the input it overwrites: state (parameters, optimizer state) that a
    backend may update in place, see docs/IR.md. ``plan`` is the memory plan the ``plan`` pass
    records for backends (:mod:`ir.plan`), or None.
    """

    def __init__(self, name: str = "main"):
        self.name = name
        self.inputs: list[Value] = []
        self._nodes = NodeList(self)
        self.outputs: list[Value] = []
        self.output_aliases: dict[int, int] = {}
        self.plan: MemoryPlan | None = None

    @property
    def nodes(self) -> NodeList:
        return self._nodes

    @nodes.setter
    def nodes(self, nodes: Iterable[Node]) -> None:
        order = list(nodes)  # may be a view of the list being replaced
        seen: set[int] = set()
        for node in order:  # check first, so that a refused order leaves the graph alone
            if id(node) in seen:
                raise ValueError(f"{node!r} is given twice; a node can be in a graph once")
            if node._list is not None and node._list is not self._nodes:
                raise ValueError(f"{node!r} is already a node of another graph")
            seen.add(id(node))
        self._nodes.clear()
        self._nodes.extend(order)

    def add_input(self, name: str, type: TensorType) -> Value:
        value = Value(type, name=name)
        self.inputs.append(value)
        return value

    def add_node(self, op: str, inputs: Sequence[Value], attrs: dict | None = None,
                 loc: SourceLoc | None = None, *, before: Node | None = None,
                 after: Node | None = None) -> Node:
        """Creates a node after checking its operands and attributes with the op's type rule;
        appends it, or inserts it ``before`` or ``after`` a node of this graph."""
        opdef = registry.get(op)
        full_attrs = opdef.check_attrs(attrs or {})
        out_types = opdef.infer_results([v.type for v in inputs], full_attrs)
        node = Node(op, inputs, full_attrs, out_types, loc)
        if before is not None:
            self._nodes.insert_before(before, node)
        elif after is not None:
            self._nodes.insert_after(after, node)
        else:
            self._nodes.append(node)
        return node

    def set_outputs(self, outputs: Iterable[Value],
                    aliases: dict[int, int] | None = None) -> None:
        """Sets the outputs; ``aliases`` (output index -> input index), when given, replaces
        ``output_aliases`` (otherwise the declared aliases are kept)."""
        self.outputs = list(outputs)
        if aliases is not None:
            self.output_aliases = dict(aliases)

    def erase_node(self, node: Node) -> None:
        """Removes a node whose results are unused (O(its operands + the graph's outputs))."""
        for value in node.outputs:
            if value.users:
                users = ", ".join(sorted({u.op for u in value.users}))
                raise IRError(f"cannot erase a {node.op} node: its result {value.index} is "
                              f"still used by {len(value.users)} node(s) ({users})")
            if any(v is value for v in self.outputs):
                raise IRError(f"cannot erase a {node.op} node: its result {value.index} is "
                              f"an output of @{self.name}")
        for v in node.inputs:
            v.users.remove(node)
        self._nodes.remove(node)

    remove_node = erase_node

    def replace_all_uses(self, old: Value, new: Value) -> None:
        """Points every user of ``old`` (and every output that is ``old``) at ``new``."""
        for user in old.users.nodes():
            user.replace_input(old, new)
        self.outputs = [new if v is old else v for v in self.outputs]

    def values(self) -> list[Value]:
        return self.inputs + [v for n in self._nodes for v in n.outputs]

    def __str__(self) -> str:
        from ir.printer import to_text
        return to_text(self)

    def __repr__(self) -> str:
        return f"<Graph @{self.name}: {len(self.inputs)} inputs, {len(self._nodes)} nodes>"
