"""The two containers behind a graph's structure: its node order and each value's users.

Both support the edits a rewriter makes in O(1), so whole-graph rewrites stay linear:

* :class:`NodeList` holds a graph's nodes in program order as a doubly linked list. Each node
  also carries an integer *order key* that grows along the list, so "does ``a`` come before
  ``b``?" is one comparison. Inserting between two nodes takes a key between theirs; when two
  neighbours' keys leave no room, the whole list is renumbered (O(n), and rare: keys start
  ``2**32`` apart, and bulk insertions spread their keys over the gap).
* :class:`UseList` holds the nodes that read a value, once per operand slot, as a multiset
  keyed by node identity: adding or removing a use is O(1) however many users the value has.

Both read like the Python lists they replace::

    >>> import ir
    >>> g = ir.parse('''func @f(%x: f32[2]) -> (f32[2]) {
    ...   %0: f32[2] = mul %x, %x
    ...   %1: f32[2] = exp %0
    ...   return %1
    ... }''')
    >>> [n.op for n in g.nodes], [n.op for n in reversed(g.nodes)], g.nodes[1].op
    (['mul', 'exp'], ['exp', 'mul'], 'exp')
    >>> g.inputs[0].users == [g.nodes[0], g.nodes[0]]  # one entry per operand slot
    True
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:
    from ir.graph import Graph, Node

# Distance between consecutive order keys after a renumbering: 32 halvings of room before
# one-at-a-time insertions at the same spot force the next renumbering.
KEY_GAP = 1 << 32


class NodeList:
    """A graph's nodes in program order: iterate, index, insert and remove like a list.

    Removing and inserting next to a known node are O(1); indexing (``nodes[i]``) builds a
    snapshot once and reuses it until the list changes. A node belongs to at most one list
    (``node.graph`` names its graph), so the same node can never appear twice. ``work`` counts
    the nodes linked, unlinked or renumbered so far: tests use it to check that rewrites are
    linear rather than timing them.

    Removing a node from the list does not touch use lists: :meth:`ir.Graph.erase_node` and
    :mod:`ir.rewriter` do both. Erasing the node a ``for`` loop is visiting is safe.
    """

    __slots__ = ("_head", "_len", "_snapshot", "_tail", "graph", "work")

    def __init__(self, graph: Graph):
        self.graph = graph
        self._head: Node | None = None
        self._tail: Node | None = None
        self._len = 0
        self._snapshot: list[Node] | None = None
        self.work = 0

    # -- reading -----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Node]:
        node = self._head
        while node is not None:
            following = node._next
            yield node
            node = following

    def __reversed__(self) -> Iterator[Node]:
        node = self._tail
        while node is not None:
            preceding = node._prev
            yield node
            node = preceding

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, index: int) -> Node: ...

    @overload
    def __getitem__(self, index: slice) -> list[Node]: ...

    def __getitem__(self, index: int | slice) -> Node | list[Node]:
        if self._snapshot is None:
            self._snapshot = list(self)
        return self._snapshot[index]

    def __contains__(self, node: Any) -> bool:
        return getattr(node, "_list", None) is self

    def index(self, node: Node) -> int:
        """The position of ``node`` (O(n): prefer :meth:`comes_before` to compare positions)."""
        if node not in self:
            raise ValueError(f"{node!r} is not in this graph")
        return next(i for i, n in enumerate(self) if n is node)

    @staticmethod
    def comes_before(a: Node, b: Node) -> bool:
        """Whether ``a`` precedes ``b`` in their (common) list, in O(1)."""
        return a._key < b._key

    @property
    def first(self) -> Node | None:
        return self._head

    @property
    def last(self) -> Node | None:
        return self._tail

    def __repr__(self) -> str:
        return f"NodeList({[n.op for n in self]})"

    # -- editing -------------------------------------------------------------------------------
    def append(self, node: Node) -> None:
        self._link(node, self._tail)

    def extend(self, nodes: Iterable[Node]) -> None:
        for node in nodes:
            self.append(node)

    def insert_before(self, anchor: Node, node: Node) -> None:
        self._check_member(anchor)
        self._link(node, anchor._prev)

    def insert_after(self, anchor: Node, node: Node) -> None:
        self._check_member(anchor)
        self._link(node, anchor)

    def insert_all_after(self, anchor: Node | None, nodes: list[Node]) -> None:
        """Inserts ``nodes`` in order right after ``anchor`` (``None``: at the front), spreading
        their keys evenly over the gap so that a long run costs at most one renumbering."""
        if anchor is not None:
            self._check_member(anchor)
        following = anchor._next if anchor is not None else self._head
        if not self._room(anchor, following, len(nodes)):
            self._renumber()
        low, high = self._bounds(anchor, following, len(nodes))
        step = (high - low) // (len(nodes) + 1)
        previous = anchor
        for i, node in enumerate(nodes):
            self._splice(node, previous, low + step * (i + 1))
            previous = node

    def remove(self, node: Node) -> None:
        """Unlinks ``node`` in O(1) (its use lists are left alone)."""
        self._check_member(node)
        if node._prev is None:
            self._head = node._next
        else:
            node._prev._next = node._next
        if node._next is None:
            self._tail = node._prev
        else:
            node._next._prev = node._prev
        node._prev = node._next = node._list = None
        self._len -= 1
        self._snapshot = None
        self.work += 1

    def clear(self) -> None:
        for node in list(self):
            node._prev = node._next = node._list = None
        self._head = self._tail = None
        self._len = 0
        self._snapshot = None

    # -- internals -----------------------------------------------------------------------------
    def _check_member(self, node: Node) -> None:
        if node not in self:
            raise ValueError(f"{node!r} is not a node of this graph")

    def _link(self, node: Node, previous: Node | None) -> None:
        following = previous._next if previous is not None else self._head
        if not self._room(previous, following, 1):
            self._renumber()
        low, high = self._bounds(previous, following, 1)
        self._splice(node, previous, (low + high) // 2)

    def _bounds(self, previous: Node | None, following: Node | None,
                count: int) -> tuple[int, int]:
        """Keys strictly between which ``count`` new nodes go."""
        if previous is None and following is None:
            return 0, KEY_GAP * (count + 1)
        if previous is None:
            assert following is not None
            return following._key - KEY_GAP * (count + 1), following._key
        if following is None:
            return previous._key, previous._key + KEY_GAP * (count + 1)
        return previous._key, following._key

    def _room(self, previous: Node | None, following: Node | None, count: int) -> bool:
        low, high = self._bounds(previous, following, count)
        return high - low > count

    def _splice(self, node: Node, previous: Node | None, key: int) -> None:
        if node._list is not None:
            where = "this graph" if node._list is self else "another graph"
            raise ValueError(f"{node!r} is already a node of {where}; remove it first")
        following = previous._next if previous is not None else self._head
        node._prev, node._next, node._list, node._key = previous, following, self, key
        if previous is None:
            self._head = node
        else:
            previous._next = node
        if following is None:
            self._tail = node
        else:
            following._prev = node
        self._len += 1
        self._snapshot = None
        self.work += 1

    def _renumber(self) -> None:
        for i, node in enumerate(self):
            node._key = i * KEY_GAP
        self.work += self._len


class UseList:
    """The users of one value: each node once per operand slot that reads the value.

    A multiset keyed by node identity (O(1) ``append``/``remove``), iterated in the order nodes
    first became users; it compares equal to a list of the same nodes in that order.
    """

    __slots__ = ("_counts", "_len")

    def __init__(self, nodes: Iterable[Node] = ()):
        self._counts: dict[Node, int] = {}
        self._len = 0
        for node in nodes:
            self.append(node)

    def append(self, node: Node) -> None:
        self._counts[node] = self._counts.get(node, 0) + 1
        self._len += 1

    def remove(self, node: Node) -> None:
        """Removes one use by ``node``; ValueError if it has none."""
        count = self._counts.get(node)
        if not count:
            raise ValueError(f"{node!r} is not a user")
        if count == 1:
            del self._counts[node]
        else:
            self._counts[node] = count - 1
        self._len -= 1

    def pop(self) -> Node:
        """Removes and returns one use by the node that became a user last."""
        node = next(reversed(self._counts))
        self.remove(node)
        return node

    def clear(self) -> None:
        self._counts.clear()
        self._len = 0

    def count(self, node: Node) -> int:
        return self._counts.get(node, 0)

    def nodes(self) -> list[Node]:
        """The distinct users, each once."""
        return list(self._counts)

    def __iter__(self) -> Iterator[Node]:
        for node, count in list(self._counts.items()):
            for _ in range(count):
                yield node

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def __contains__(self, node: Any) -> bool:
        return node in self._counts

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (UseList, list, tuple)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"UseList({list(self)!r})"
