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

from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

from ir import registry
from ir.types import TensorType


@dataclass(frozen=True)
class SourceLoc:
    """Where in the user's Python code a node came from."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class Value:
    """One SSA value: a graph input (``producer is None``) or the result of one node."""

    __slots__ = ("type", "name", "producer", "users")

    def __init__(self, type: TensorType, name: Optional[str] = None,
                 producer: "Optional[Node]" = None):
        self.type = type
        self.name = name
        self.producer = producer
        self.users: list[Node] = []

    @property
    def shape(self):
        return self.type.shape

    @property
    def dtype(self):
        return self.type.dtype

    def __repr__(self) -> str:
        return f"Value({self.name or '?'}: {self.type})"


class Node:
    """One op application. Its operands are Values; it produces exactly one Value."""

    __slots__ = ("op", "inputs", "attrs", "output", "loc")

    def __init__(self, op: str, inputs: Sequence[Value], attrs: dict, out_type: TensorType,
                 loc: Optional[SourceLoc] = None):
        self.op = op
        self.inputs = list(inputs)
        self.attrs = dict(attrs)
        self.output = Value(out_type, producer=self)
        self.loc = loc
        for v in self.inputs:
            v.users.append(self)

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
    """A function in the IR: typed inputs, nodes in topological order, and outputs."""

    def __init__(self, name: str = "main"):
        self.name = name
        self.inputs: list[Value] = []
        self.nodes: list[Node] = []
        self.outputs: list[Value] = []

    def add_input(self, name: str, type: TensorType) -> Value:
        value = Value(type, name=name)
        self.inputs.append(value)
        return value

    def add_node(self, op: str, inputs: Sequence[Value], attrs: Optional[dict] = None,
                 loc: Optional[SourceLoc] = None) -> Node:
        """Appends a node after checking its operands and attributes with the op's type rule."""
        opdef = registry.get(op)
        full_attrs = opdef.check_attrs(attrs or {})
        out_type = opdef.infer([v.type for v in inputs], full_attrs)
        node = Node(op, inputs, full_attrs, out_type, loc)
        self.nodes.append(node)
        return node

    def set_outputs(self, outputs: Iterable[Value]) -> None:
        self.outputs = list(outputs)

    def remove_node(self, node: Node) -> None:
        """Removes a node whose result is unused."""
        assert not node.output.users, f"cannot remove {node.op}: its result is still used"
        for v in node.inputs:
            v.users.remove(node)
        self.nodes.remove(node)

    def replace_all_uses(self, old: Value, new: Value) -> None:
        for user in list(old.users):
            user.replace_input(old, new)
        self.outputs = [new if v is old else v for v in self.outputs]

    def values(self) -> list[Value]:
        return self.inputs + [n.output for n in self.nodes]

    def __str__(self) -> str:
        from ir.printer import to_text
        return to_text(self)

    def __repr__(self) -> str:
        return f"<Graph @{self.name}: {len(self.inputs)} inputs, {len(self.nodes)} nodes>"
