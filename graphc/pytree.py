"""Flattening nested arguments and results (tuples, lists, dicts, namedtuples) into leaves.

    >>> from graphc.pytree import flatten, unflatten
    >>> leaves, tree = flatten({"a": 1, "b": (2, 3)})
    >>> leaves, unflatten(tree, [x * 10 for x in leaves])
    ([1, 2, 3], {'a': 10, 'b': (20, 30)})
"""
from __future__ import annotations

from typing import Any


class TreeDef:
    """The structure of a nested container with its leaves taken out (hashable, comparable)."""

    __slots__ = ("kind", "meta", "children")

    def __init__(self, kind: str, meta: Any = None, children: tuple = ()):
        self.kind = kind
        self.meta = meta
        self.children = children

    def _key(self):
        return (self.kind, self.meta, tuple(c._key() for c in self.children))

    def __eq__(self, other):
        return isinstance(other, TreeDef) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        if self.kind == "leaf":
            return "*"
        return f"{self.kind}({', '.join(map(repr, self.children))})"


LEAF = TreeDef("leaf")


def flatten(obj, path: str = "", paths: list | None = None):
    """Returns (leaves, treedef); with ``paths`` given, appends each leaf's dotted path to it."""
    leaves: list = []
    tree = _flatten(obj, leaves, path, paths)
    return leaves, tree


def _flatten(obj, leaves, path, paths):
    def child(o, name):
        return _flatten(o, leaves, f"{path}.{name}" if path else str(name), paths)

    if hasattr(type(obj), "_tree_flatten"):  # a sparse tensor, a PackedSequence: their own
        children, meta = obj._tree_flatten()
        return TreeDef("custom", (type(obj), meta),
                       tuple(child(o, i) for i, o in enumerate(children)))
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return TreeDef("namedtuple", type(obj),
                       tuple(child(o, f) for o, f in zip(obj, obj._fields)))
    if type(obj) in (tuple, list):
        return TreeDef(type(obj).__name__, None, tuple(child(o, i) for i, o in enumerate(obj)))
    if isinstance(obj, (tuple, list)):  # a subclass (graphc.Size): rebuilt as its own type
        return TreeDef("sequence", type(obj), tuple(child(o, i) for i, o in enumerate(obj)))
    if isinstance(obj, dict):
        keys = tuple(obj.keys())
        return TreeDef("dict", keys, tuple(child(obj[k], k) for k in keys))
    leaves.append(obj)
    if paths is not None:
        paths.append(path)
    return LEAF


def unflatten(tree: TreeDef, leaves):
    it = iter(leaves)
    return _unflatten(tree, it)


def _unflatten(tree, it):
    if tree.kind == "leaf":
        return next(it)
    children = [_unflatten(c, it) for c in tree.children]
    if tree.kind == "namedtuple":
        return tree.meta(*children)
    if tree.kind == "tuple":
        return tuple(children)
    if tree.kind == "list":
        return children
    if tree.kind == "sequence":
        return tree.meta(children)
    if tree.kind == "custom":
        cls, meta = tree.meta
        return cls._tree_unflatten(meta, children)
    return dict(zip(tree.meta, children))
