"""``simplify``: algebraic identities that are exact under IEEE 754 and PyTorch's dtype rules.

Each rule replaces a node's result by a value with *exactly* the same type and bits (NaN sign
and payload aside, which IEEE arithmetic does not specify). Each rule's docstring says why it is
exact. One walk in node order, so chains (``neg(neg(neg(neg x)))``) collapse at once; nodes a
rewrite leaves unused are erased.

    >>> import ir
    >>> g = ir.parse('''func @f(%x: f32[2,3]) -> (f32[2,3]) {
    ...   %0: f32[] = const {value=1, dtype=f32, shape=[]}
    ...   %1: f32[2,3] = mul %x, %0
    ...   %2: f32[3,2] = transpose %1 {perm=[1,0]}
    ...   %3: f32[2,3] = transpose %2 {perm=[1,0]}
    ...   return %3
    ... }''')
    >>> print(AlgebraicSimplification().apply(g).graph)
    func @f(%x: f32[2,3]) -> (f32[2,3]) {
      return %x
    }

Deliberately absent, because they are not exact: ``x + 0.0 -> x`` (``-0.0 + 0.0`` is
``+0.0``; ``x + (-0.0) -> x`` is exact and applied), ``x * 0 -> 0`` (NaN and inf times 0 are
NaN), ``exp(log x) -> x`` (rounding; and NaN for negative x), reassociation
(``(a + b) + c`` rounds differently from ``a + (b + c)``), ``i32 -> f32 -> i32`` casts (f32 has
24 bits of mantissa).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ir import dtypes
from ir.graph import Graph, Node, Value
from passes.constants import Constants, is_constant, is_uniform, same_bits
from passes.registry import Pass, PassResult, option, register
from passes.replace import ValueReplacer


@register
class AlgebraicSimplification(Pass):
    """Applies algebraic identities exact under IEEE 754 (x*1, x-0, neg(neg x), cast chains...)."""

    name = "simplify"
    max_elements: int = option(4096, "largest broadcast of a non-uniform constant to materialize")

    def apply(self, graph: Graph) -> PassResult:
        return PassResult(graph, _simplify(graph, _Context(self.max_elements)))


class _Context:
    """What the rules share: the option, and constants' arrays computed once."""

    def __init__(self, max_elements: int):
        self.max_elements = max_elements
        self.constants = Constants()


# A rule looks at one node and returns the value that replaces its (single) result, or None.
Rule = Callable[[Node, Graph, _Context], "Value | None"]


def _simplify(graph: Graph, context: _Context) -> bool:
    changed = False
    edits = ValueReplacer(graph)
    for node in graph.nodes:
        if node.body is not None:
            changed |= _simplify(node.body, context)
        rule = RULES.get(node.op)
        if rule is None or not edits.is_used(node.output):
            continue  # (a dead node is dce's to drop: rewriting it could add dead nodes)
        replacement = rule(node, graph, context)
        if replacement is not None:
            edits.replace(node.output, replacement)
            edits.erase_if_dead(node)
    edits.finish()
    return changed or edits.changed


# -- arithmetic with an identity element ---------------------------------------------------------
def _identity_operand(node: Node, context: _Context, identity: float, slots: tuple[int, ...],
                      float_identity: float | None = None) -> Value | None:
    """The operand ``x`` of binary ``node`` whose other operand (at one of ``slots``) is a
    constant equal to ``identity`` in every element, *in the dtype the op computes in*
    (``float_identity`` for float results, when it differs), provided the result has exactly
    ``x``'s type: no promotion and no broadcasting changes it."""
    out = node.output.type
    for slot in slots:
        c, x = node.inputs[slot], node.inputs[1 - slot]
        if x.type != out or not is_constant(c):
            continue
        # The references convert operands to the computing dtype (`out` here) with astype;
        # compare what the op will actually combine with x, bit for bit.
        converted = context.constants.array(c).astype(out.dtype.numpy)
        wanted = float_identity if out.dtype.is_float and float_identity is not None else identity
        if same_bits(converted, np.full(converted.shape, wanted, out.dtype.numpy)):
            return x
    return None


def multiply_by_one(node: Node, graph: Graph, context: _Context) -> Value | None:
    """``x * 1 -> x`` (either order). Exact: IEEE multiplication by 1 returns x for every x,
    -0.0, infinities, subnormals and NaN included; on integers trivially; ``mul`` of bools is
    logical and, and ``x and True`` is x."""
    return _identity_operand(node, context, 1, (0, 1))


def divide_by_one(node: Node, graph: Graph, context: _Context) -> Value | None:
    """``x / 1 -> x``. Exact: IEEE division by 1 returns x for every x. (``div`` of integers
    gives floats, so the type condition excludes it.)"""
    return _identity_operand(node, context, 1, (1,))


def add_negative_zero(node: Node, graph: Graph, context: _Context) -> Value | None:
    """``x + (-0.0) -> x`` (either order); ``x + 0 -> x`` on integers and bools (where
    ``add`` is logical or). Exact: ``x + (-0.0)`` is x for every x, including ``-0.0 + -0.0
    = -0.0`` and ``+0.0 + -0.0 = +0.0`` (round to nearest). Not ``x + (+0.0)``: it turns
    -0.0 into +0.0."""
    return _identity_operand(node, context, 0, (0, 1), float_identity=-0.0)


def subtract_zero(node: Node, graph: Graph, context: _Context) -> Value | None:
    """``x - (+0.0) -> x``; ``x - 0 -> x`` on integers. Exact: ``x - (+0.0)`` is
    ``x + (-0.0)``, which is x for every x (see :func:`add_negative_zero`). Not
    ``x - (-0.0)`` (that is ``x + 0.0``), nor ``0 - x``."""
    return _identity_operand(node, context, 0, (1,), float_identity=0.0)


# -- involutions and idempotent ops ---------------------------------------------------------------
def _producer(value: Value, op: str) -> Node | None:
    node = value.producer
    return node if node is not None and node.op == op else None


def double_negation(node: Node, graph: Graph, context: _Context) -> Value | None:
    """``neg(neg(x)) -> x``. Exact: negation flips the sign bit only (floats, NaN and -0.0
    included); on integers it wraps, and ``-(-INT_MIN)`` is INT_MIN again."""
    inner = _producer(node.inputs[0], "neg")
    if inner is None or inner.inputs[0].type != node.output.type:
        return None
    return inner.inputs[0]


def double_stop_gradient(node: Node, graph: Graph, context: _Context) -> Value | None:
    """``stop_gradient(stop_gradient(x)) -> stop_gradient(x)``: both are the identity on
    values, and one already blocks gradients."""
    inner = _producer(node.inputs[0], "stop_gradient")
    return inner.output if inner is not None else None


# -- movement ---------------------------------------------------------------------------------------
def compose_transposes(node: Node, graph: Graph, context: _Context) -> Value | None:
    """``transpose`` by the identity permutation -> x; ``transpose(transpose(x, p), q)`` ->
    ``transpose(x, r)`` with ``r[i] = p[q[i]]``, or x when r is the identity. Exact: movement
    copies elements, and result axis i of the pair is axis ``q[i]`` of the middle value, which
    is axis ``p[q[i]]`` of x."""
    perm = list(node.attrs["perm"])
    if perm == list(range(len(perm))):
        return node.inputs[0]
    inner = _producer(node.inputs[0], "transpose")
    if inner is None:
        return None
    x = inner.inputs[0]
    composed = [inner.attrs["perm"][q] for q in perm]
    if composed == list(range(len(composed))):
        return x
    return graph.add_node("transpose", [x], {"perm": composed}, node.loc, before=node).output


def compose_reshapes(node: Node, graph: Graph, context: _Context) -> Value | None:
    """``reshape`` to x's own shape -> x; ``reshape(reshape(x, s), t)`` -> ``reshape(x, t)``
    (or x when t is x's shape). Exact: a reshape keeps the elements in row-major order, so a
    chain of reshapes is one reshape to the last shape."""
    shape = tuple(node.attrs["shape"])
    x = node.inputs[0]
    if shape == x.shape:
        return x
    inner = _producer(x, "reshape")
    if inner is None:
        return None
    source = inner.inputs[0]
    if shape == source.shape:
        return source
    return graph.add_node("reshape", [source], {"shape": list(shape)}, node.loc,
                          before=node).output


def broadcast_constant(node: Node, graph: Graph, context: _Context) -> Value | None:
    """``broadcast_to`` x's own shape -> x; ``broadcast_to`` of a constant -> a constant of the
    broadcast shape: written as one number when the constant is uniform (any size: the text
    stays one number), else element by element if it has at most ``max-elements`` elements.
    Exact: broadcasting copies elements, and the new const holds the same bits."""
    x = node.inputs[0]
    shape = tuple(node.attrs["shape"])
    if shape == x.shape:
        return x
    if not is_constant(x):
        return None
    array = context.constants.array(x)
    if not is_uniform(array) and node.output.type.size > context.max_elements:
        return None
    written = x.producer.attrs["value"] if x.producer is not None else None
    fill = written if not isinstance(written, (list, tuple)) else None
    broadcast = np.broadcast_to(array, shape)
    return context.constants.add(graph, broadcast, before=node, loc=node.loc, fill=fill).output


# -- casts ------------------------------------------------------------------------------------------
# (from, to) conversions that keep every value, so that converting back restores the bits:
# bools are 0 or 1 in every dtype; f64 holds every i32 and every f32; i64 holds every i32.
# Not i32 -> f32 (24-bit mantissa), i64 -> f64 (53 bits), or anything narrowing.
LOSSLESS_CASTS = frozenset({
    (dtypes.bool_, dtypes.i32), (dtypes.bool_, dtypes.i64), (dtypes.bool_, dtypes.f32),
    (dtypes.bool_, dtypes.f64), (dtypes.i32, dtypes.i64), (dtypes.i32, dtypes.f64),
    (dtypes.f32, dtypes.f64),
})


def redundant_cast(node: Node, graph: Graph, context: _Context) -> Value | None:
    """``cast`` to x's own dtype -> x; ``cast(cast(x, wide), x.dtype)`` -> x when converting
    x's dtype to ``wide`` is lossless (:data:`LOSSLESS_CASTS`). Exact: the first cast keeps
    the value, and converting a value back to a dtype that holds it exactly restores it. Only
    round trips: ``f32 -> f64 -> i32`` is not replaced by ``f32 -> i32``, since out-of-range
    and NaN conversions to integers are unspecified and need not agree."""
    x = node.inputs[0]
    target = node.attrs["dtype"]
    if target == x.dtype:
        return x
    inner = _producer(x, "cast")
    if inner is None:
        return None
    source = inner.inputs[0]
    if source.dtype == target and (target, x.dtype) in LOSSLESS_CASTS:
        return source
    return None


RULES: dict[str, Rule] = {
    "mul": multiply_by_one,
    "div": divide_by_one,
    "add": add_negative_zero,
    "sub": subtract_zero,
    "neg": double_negation,
    "stop_gradient": double_stop_gradient,
    "transpose": compose_transposes,
    "reshape": compose_reshapes,
    "broadcast_to": broadcast_constant,
    "cast": redundant_cast,
}
