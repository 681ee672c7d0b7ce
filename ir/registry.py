"""The op registry: every primitive op is declared here once, with everything about it.

An :class:`OpDef` bundles, side by side, the facts that the verifier, the interpreter, eager
mode, autodiff and code generators need about one op::

    register(OpDef(
        name="exp", kind="elementwise", arity=1,
        type_rule=float_unary_type,             # input types + attrs -> output type
        reference=lambda x: np.exp(x),          # NumPy semantics
        vjp=lambda em, xs, out, g, attrs: [em.mul(g, out)],  # gradient rule
        scalar=lambda xs, attrs, out, common: S.exp(S.cast(xs[0], out)),  # body per element
    ))

Gradient rules are written against an :class:`ir.emitter.Emitter`, so the same rule builds IR
nodes (symbolic autodiff) or runs eagerly on tensors (eager autograd). Elementwise ops declare
their body as a typed scalar expression (``ir.scalar``), reductions their combiner, identity and
accumulator dtype; code generators render those, and the registry walk checks them against the
reference.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from ir import dtypes
from ir.errors import ShapeError
from ir.scalar import ArgReduction, Reduction, ScalarExpr
from ir.scalar import cast as scalar_cast
from ir.scalar import var as scalar_var
from ir.types import TensorType

# (operand expressions, attributes, result dtype, common dtype) -> the result's expression.
# The common dtype is what PyTorch promotes all operands to (`dtypes.result_type`, which looks
# at their ranks); comparisons compute in it, other ops in the result dtype.
ScalarBody = Callable[[Sequence[ScalarExpr], dict, dtypes.DType, dtypes.DType], ScalarExpr]
# input dtype -> how a reduction folds it
ReductionRule = Callable[[dtypes.DType], Reduction | ArgReduction]

KINDS = ("elementwise", "reduce", "matmul", "movement", "source", "index", "conv", "special",
         "fused", "scan", "sort", "collective")


@dataclass(frozen=True)
class Attr:
    """One attribute of an op: its name, the Python type it holds, and a default (``REQUIRED``)."""

    name: str
    # "int", "float", "bool", "ints", "intss", "dtype", "str", "value", "shape", "ints?", and
    # "graph": a nested graph (the body of a ``fused`` node), printed as a region, not inline
    kind: str
    default: Any = None
    required: bool = True


@dataclass
class OpDef:
    """Everything graphc knows about one primitive op.

    ``arity`` is the number of tensor operands, or ``None`` for variadic ops (concat).
    ``type_rule`` returns one ``TensorType``, or a tuple of them for an op with several
    results; :meth:`infer_results` always gives the tuple.
    ``vjp(em, inputs, output, grad, attrs)`` returns one gradient (or ``None``) per input.
    ``needs_values`` says whether the gradient rule reads operand *values* (not only their types)
    and ``needs_output`` whether it reads the result's value; eager autograd uses them to reject
    in-place changes to tensors a rule still needs, as PyTorch does for saved tensors.
    ``scalar`` (elementwise ops) builds the body from one expression per operand, see
    :meth:`scalar_body`; ``reduction`` (reduce ops) gives the fold for an input dtype (scan
    ops: the fold they carry along their axis, storing it at every step).
    """

    name: str
    kind: str
    arity: Optional[int]
    type_rule: Callable[[Sequence[TensorType], dict], TensorType | tuple[TensorType, ...]]
    reference: Callable[..., Any]
    attrs: tuple[Attr, ...] = ()
    vjp: Optional[Callable] = None
    scalar: ScalarBody | None = None
    reduction: ReductionRule | None = None
    needs_values: bool = True
    needs_output: bool = False
    # the reference raises on some integer operands (a zero divisor, a negative exponent),
    # which a kernel cannot do: code generators run the op's integer forms as library calls
    checked_on_integers: bool = False
    doc: str = ""
    extra: dict = field(default_factory=dict)
    # infer_arrays' answers: (type rule, default float, operand dtypes and shapes, attributes)
    # -> result type; per op, so that the op's arity check and name need not be in the key
    _array_types: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def differentiable(self) -> bool:
        return self.vjp is not None

    def check_attrs(self, attrs: dict) -> dict:
        """Fills defaults and rejects unknown or missing attributes; returns the complete dict."""
        full = {}
        for a in self.attrs:
            if a.name in attrs:
                full[a.name] = attrs[a.name]
            elif a.required:
                self._reject_unknown(attrs)  # (an unknown name is the error to report first)
                raise ShapeError(f"{self.name}: missing attribute '{a.name}'")
            else:
                full[a.name] = a.default
        if not attrs.keys() <= full.keys():
            self._reject_unknown(attrs)
        return full

    def _reject_unknown(self, attrs: dict) -> None:
        known = [a.name for a in self.attrs]
        unknown = sorted(set(attrs) - set(known))
        if unknown:
            raise ShapeError(f"{self.name}: unknown attribute(s) {', '.join(unknown)}; "
                             f"expected {', '.join(known) or 'none'}")

    def infer_results(self, input_types: Sequence[TensorType],
                      attrs: dict) -> tuple[TensorType, ...]:
        """Checks arity and attributes and applies the type rule: the type of each result.

        Results are remembered (:func:`_rule_key` says when): eager mode and tracing ask the
        same questions over and over, and a type rule is a pure function of its key.
        """
        if self.arity is not None and len(input_types) != self.arity:
            raise ShapeError(f"{self.name} takes {self.arity} operand(s), got {len(input_types)}")
        key = _rule_key(self.type_rule, input_types, attrs)
        if key is not None:
            cached = _RULE_CACHE.get(key)
            if cached is not None:
                return cached
        result = self.type_rule(list(input_types), attrs)
        types = (result,) if isinstance(result, TensorType) else tuple(result)
        if key is not None:  # (errors are never remembered: they raise before this)
            if len(_RULE_CACHE) >= _RULE_CACHE_SIZE:
                _RULE_CACHE.clear()  # simpler than LRU, and a working set refills it at once
            _RULE_CACHE[key] = types
        return types

    def infer_arrays(self, arrays: Sequence[np.ndarray], attrs: dict) -> TensorType:
        """:meth:`infer` for operands given as NumPy arrays (eager mode): the same answer,
        remembered by the arrays' dtypes and shapes, so that a repeated question builds no
        ``TensorType`` (building and hashing one per operand was most of the type rule's cost).
        ``attrs`` must be complete (:meth:`check_attrs`); arrays must be ``np.ndarray``.
        """
        # (the default dtype by name: one-to-one with the dtype, and a str hashes without a
        # Python call)
        key: list = [self.type_rule, dtypes.DEFAULT_FLOAT.name]
        for a in arrays:
            key.append(a.dtype)
            key.append(a.shape)
        if attrs:
            try:
                key.append(tuple([(name, _value_key(value)) for name, value in attrs.items()]))
            except _Uncacheable:
                return self.infer([_array_type(a) for a in arrays], attrs)
        # (the list's length tells the number of operands, so arity is part of the key too)
        cache = self._array_types
        found = cache.get(tuple(key))
        if found is None:
            found = self.infer([_array_type(a) for a in arrays], attrs)
            if len(cache) >= _RULE_CACHE_SIZE:
                cache.clear()
            cache[tuple(key)] = found
        return found

    def infer(self, input_types: Sequence[TensorType], attrs: dict) -> TensorType:
        """The result type of a single-result application; ShapeError if it has several."""
        types = self.infer_results(input_types, attrs)
        if len(types) != 1:
            raise ShapeError(f"{self.name} has {len(types)} results here "
                             f"({', '.join(map(str, types))}); use infer_results")
        return types[0]

    def scalar_body(self, input_types: Sequence[TensorType], attrs: dict,
                    names: Sequence[str] | None = None
                    ) -> tuple[list[ScalarExpr], ScalarExpr]:
        """The variables (one per operand, named ``x0, x1, ...`` unless ``names`` says) and the
        expression one element of this elementwise op computes, for these operand types.

            >>> import ir
            >>> _, body = ir.get_op("relu").scalar_body([ir.TensorType(ir.f32, (3,))], {})
            >>> print(body)
            maximum(x0, 0.0:f32)
        """
        if self.scalar is None:
            raise ValueError(f"op {self.name!r} declares no scalar body")
        attrs = self.check_attrs(attrs)
        out = self.infer(input_types, attrs).dtype
        common = dtypes.result_type(*((t.dtype, t.ndim) for t in input_types))
        names = names or [f"x{i}" for i in range(len(input_types))]
        xs = [scalar_var(n, t.dtype) for n, t in zip(names, input_types)]
        if self.name == "cast" or not any(d.is_low_precision_float
                                          for d in (out, common, *(x.dtype for x in xs))):
            return xs, self.scalar(xs, attrs, out, common)
        # float16/bfloat16: operands converted to their common dtype (bools stay: where's
        # condition), computed in float32, rounded once to the result, as PyTorch's CPU does
        # (and ir.evaluate for the reference)
        if common.is_low_precision_float:
            xs_common = [x if x.dtype.is_bool else scalar_cast(x, common) for x in xs]
        else:
            xs_common = list(xs)
        wide = [scalar_cast(x, _wide(x.dtype)) for x in xs_common]
        return xs, scalar_cast(self.scalar(wide, attrs, _wide(out), _wide(common)), out)


# -- the type-rule cache ------------------------------------------------------------------------
# type rule, input types, attributes, globals the rules read -> result types. Type rules are pure
# functions of their operands' types, their attributes and ``dtypes.DEFAULT_FLOAT`` (read by
# ``dtypes.to_float``; ``graphc.set_default_dtype`` changes it), which the key therefore holds.
# A rule that starts reading another global must add it to the key (``_rule_key``).
_RULE_CACHE: dict[tuple, tuple[TensorType, ...]] = {}
_RULE_CACHE_SIZE = 4096
_MAX_ITEMS = 16  # a longer list attribute (a const's values) is checked afresh every time
# attribute values that are remembered by value; the type is part of the key, as 1 == 1.0 == True
_KEY_SCALARS = frozenset((int, float, bool, str, type(None), dtypes.DType))


def _rule_key(type_rule, input_types: Sequence[TensorType], attrs: dict) -> Optional[tuple]:
    """The cache key of one type-rule question, or None when an attribute is not a number,
    string, dtype or short (nested) list of those (a graph-valued ``body``, a long const)."""
    try:
        attr_key = tuple([(name, _value_key(value)) for name, value in attrs.items()])
    except _Uncacheable:
        return None
    types = tuple(input_types)
    for t in types:
        if type(t) is not TensorType:  # (a caller's mistake: the rule itself reports it)
            return None
    return (type_rule, types, attr_key, dtypes.DEFAULT_FLOAT)


class _Uncacheable(Exception):
    pass


def _value_key(value):
    """A hashable stand-in for an attribute's value: equal only for values the rule cannot
    tell apart (lists become tuples, and every value is tagged with its type)."""
    kind = type(value)
    if kind in _KEY_SCALARS:
        return kind, value
    if (kind is list or kind is tuple) and len(value) <= _MAX_ITEMS:
        for v in value:
            if type(v) is not int:
                return kind, tuple([_value_key(v) for v in value])
        return kind, int, tuple(value)  # (axes, shapes, perms: ints only, tagged once)
    raise _Uncacheable


def _array_type(array) -> TensorType:
    return TensorType.of_array(dtypes.from_numpy(array.dtype), array.shape)


def _wide(dtype: dtypes.DType) -> dtypes.DType:
    return dtypes.f32 if dtype.is_low_precision_float else dtype


_REGISTRY: dict[str, OpDef] = {}


def register(op: OpDef) -> OpDef:
    """Adds an op to the registry (once)."""
    if op.name in _REGISTRY:
        raise ValueError(f"op {op.name!r} is registered twice")
    if op.kind not in KINDS:
        raise ValueError(f"op {op.name!r} has unknown kind {op.kind!r}")
    if op.scalar is not None and not callable(op.scalar):
        raise ValueError(f"op {op.name!r}: scalar must build a typed scalar expression "
                         f"(see ir/scalar), not {type(op.scalar).__name__} {op.scalar!r}")
    _REGISTRY[op.name] = op
    return op


def get(name: str) -> OpDef:
    """The OpDef called ``name``; raises KeyError listing nothing if unknown (callers word the error)."""
    return _REGISTRY[name]


def exists(name: str) -> bool:
    return name in _REGISTRY


def all_ops() -> list[OpDef]:
    """Every registered op, in registration order."""
    return list(_REGISTRY.values())
