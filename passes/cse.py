"""``cse``: common subexpression elimination.

Two nodes with the same op, the same operands and equal attributes compute the same results,
so the later one goes and its users read the earlier one's results. One walk in node order with
a hash table keyed by (op, operands, attributes, result types): linear time.

    >>> import ir
    >>> g = ir.parse('''func @f(%x: f32[2], %y: f32[2]) -> (f32[2]) {
    ...   %0: f32[2] = add %x, %y
    ...   %1: f32[2] = add %y, %x
    ...   %2: f32[2] = mul %0, %1
    ...   return %2
    ... }''')
    >>> print(CommonSubexpressionElimination().apply(g).graph)
    func @f(%x: f32[2], %y: f32[2]) -> (f32[2]) {
      %0: f32[2] = add %x, %y
      %1: f32[2] = mul %0, %0
      return %1
    }

What counts as "the same":

* **Operands** are the same values. For commutative ops the order does not matter: ``add``,
  ``mul``, ``eq``, ``ne`` and the bitwise ops give identical bits either way. ``maximum`` and
  ``minimum`` are commutative only on integers and bools: on floats they return their *second*
  operand when the two compare equal, so ``maximum(-0.0, 0.0)`` is ``0.0`` but
  ``maximum(0.0, -0.0)`` is ``-0.0``.
* **Attributes** are equal exactly, by type and bits: ``-0.0`` differs from ``0.0``, ``1`` from
  ``1.0`` and ``true``, NaN equals NaN (the text form cannot tell NaNs apart anyway), lists equal
  tuples, and bodies of ``fused`` nodes are equal when they print the same (after ``cse`` ran
  inside them). Defaults are filled in when a node is made, so an omitted ``keepdim`` equals
  ``keepdim=false``.

Effects and randomness: the IR has no op with side effects (state updates are graph outputs
that alias inputs), so any two equal nodes may merge. That includes random ops: element ``i``
of ``random_uniform(%seed) {stream=s, ...}`` is a pure function of (seed, s, i), so two such
nodes with the same seed operand and *all* attributes equal (stream included) draw the same
numbers, and merging them is exact. The tracer gives every random call its own stream, so
user programs never contain two; a graph that does (a rematerialized dropout mask) needs them
equal. Two random nodes that differ in any attribute, stream or shape, are never merged.

NaN results may come out of a merged commutative node with the other operand's sign or
payload (IEEE 754 leaves both unspecified); every other bit is kept.
"""
from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy as np

from ir.dtypes import DType
from ir.graph import Graph, Node
from ir.printer import format_body
from passes.registry import Pass, PassResult, register
from passes.replace import ValueReplacer

# Ops whose two operands may be swapped without changing a bit of the result.
COMMUTATIVE = frozenset({"add", "mul", "eq", "ne", "bitwise_and", "bitwise_or", "bitwise_xor"})
# Commutative on integers and bools only (see the module docstring for floats' signed zeros).
COMMUTATIVE_ON_INTEGERS = frozenset({"maximum", "minimum"})


@register
class CommonSubexpressionElimination(Pass):
    """Merges nodes with the same op, operands (either order if commutative) and attributes."""

    name = "cse"

    def apply(self, graph: Graph) -> PassResult:
        return PassResult(graph, _eliminate(graph))


def _eliminate(graph: Graph) -> bool:
    """Merges equal nodes of ``graph`` and inside its bodies; whether any merged."""
    changed = False
    first: dict[tuple, Node] = {}
    edits = ValueReplacer(graph)
    for node in graph.nodes:
        if node.body is not None:
            changed |= _eliminate(node.body)  # first, so that equal bodies print the same
        kept = first.setdefault(node_key(node), node)
        if kept is node:
            continue
        for old, new in zip(node.outputs, kept.outputs):
            edits.replace(old, new)
        edits.erase_if_dead(node)
    edits.finish()
    return changed or edits.changed


def node_key(node: Node) -> tuple:
    """What a node computes, as a hashable key: equal keys mean equal results.

    Operands appear as the Value objects themselves (hashed by identity), sorted by identity
    for commutative ops.
    """
    operands: tuple = tuple(node.inputs)
    if _commutes(node):
        operands = tuple(sorted(operands, key=id))
    attrs = tuple(sorted((name, freeze(value)) for name, value in node.attrs.items()))
    return (node.op, operands, attrs, node.result_types)


def _commutes(node: Node) -> bool:
    if len(node.inputs) != 2:
        return False
    if node.op in COMMUTATIVE:
        return True
    return node.op in COMMUTATIVE_ON_INTEGERS and not any(v.dtype.is_float for v in node.inputs)


def freeze(value: Any) -> tuple:
    """An attribute value as a hashable key that is equal exactly when the values are: the
    kind of value is part of the key (``1``, ``1.0`` and ``True`` differ), floats compare by
    bits (``-0.0`` differs from ``0.0``) except that every NaN is the same NaN.

        >>> freeze(-0.0) == freeze(0.0), freeze(float("nan")) == freeze(float("nan"))
        (False, True)
        >>> freeze(1) == freeze(1.0), freeze([1, 2]) == freeze((1, 2))
        (False, True)
    """
    if isinstance(value, (bool, np.bool_)):
        return ("bool", bool(value))
    if isinstance(value, Integral):
        return ("int", int(value))
    if isinstance(value, Real):
        x = float(value)
        return ("float", "nan" if math.isnan(x) else x.hex())
    if isinstance(value, DType):
        return ("dtype", value.name)
    if isinstance(value, str):
        return ("str", value)
    if value is None:
        return ("none",)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return ("list", tuple(freeze(v) for v in value))
    if isinstance(value, Graph):
        return ("graph", format_body(value))
    raise TypeError(f"cse: cannot compare attribute value {value!r} "
                    f"of type {type(value).__name__}")
