"""Pointing uses of values at other values, and erasing what that leaves dead, in linear time.

The node-by-node passes (``cse``, ``fold``, ``simplify``) walk a graph once, in order, and at
some nodes decide that a result equals another value. :class:`ValueReplacer` makes that edit:
every user of the old value reads the new one, and the nodes left without users go. Graph
outputs are renamed once, in :meth:`ValueReplacer.finish`, so that a pass replacing many values
costs time proportional to the uses it moves, not to the number of outputs times the edits.

    >>> import ir
    >>> g = ir.parse('''func @f(%x: f32[2]) -> (f32[2]) {
    ...   %0: f32[2] = neg %x
    ...   %1: f32[2] = neg %0
    ...   return %1
    ... }''')
    >>> edits = ValueReplacer(g)
    >>> edits.replace(g.nodes[1].output, g.inputs[0])
    >>> edits.erase_if_dead(g.nodes[1])
    True
    >>> edits.finish()
    >>> print(g)
    func @f(%x: f32[2]) -> (f32[2]) {
      return %x
    }
"""
from __future__ import annotations

from ir.errors import RewriteError
from ir.graph import Graph, Node, Value


class ValueReplacer:
    """Replaces values of one graph and erases the nodes that become dead; call :meth:`finish`
    when done (it renames the graph's outputs). ``changed`` says whether anything was edited."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.changed = False
        self._outputs = {id(v) for v in graph.outputs}  # ids of values that are outputs now
        self._renamed: dict[int, tuple[Value, Value]] = {}  # id(old) -> (old, new); old kept alive

    def replace(self, old: Value, new: Value) -> None:
        """Points every use of ``old`` (users and graph outputs) at ``new``, of the same type."""
        if old is new:
            return
        if old.type != new.type:
            raise RewriteError(f"internal error: a rewrite replaces a {old.type} value by a "
                               f"{new.type} value; rewrites must keep types exactly")
        for user in old.users.nodes():
            user.replace_input(old, new)
        if id(old) in self._outputs:
            self._renamed[id(old)] = (old, new)
            self._outputs.discard(id(old))
            self._outputs.add(id(new))
        self.changed = True

    def is_used(self, value: Value) -> bool:
        """Whether a node reads ``value`` or it is (after the renamings so far) a graph output."""
        return bool(value.users) or id(value) in self._outputs

    def erase_if_dead(self, node: Node) -> bool:
        """Erases ``node`` if none of its results is used, then the producers of its operands
        that this leaves unused, and so on; whether ``node`` went."""
        if node.graph is not self.graph or any(self.is_used(v) for v in node.outputs):
            return False
        stack = [node]
        while stack:
            dead = stack.pop()
            if dead.graph is not self.graph or any(self.is_used(v) for v in dead.outputs):
                continue  # already erased, or another of its results is still read
            for value in dead.inputs:
                value.users.remove(dead)
            self.graph.nodes.remove(dead)
            stack.extend(v.producer for v in dead.inputs if v.producer is not None)
        self.changed = True
        return True

    def finish(self) -> None:
        """Renames the graph's outputs after the replacements (following chains a -> b -> c)."""
        if self._renamed:
            self.graph.outputs = [self._resolve(v) for v in self.graph.outputs]

    def _resolve(self, value: Value) -> Value:
        while id(value) in self._renamed:
            value = self._renamed[id(value)][1]
        return value
