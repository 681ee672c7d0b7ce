"""Typed scalar expressions over a closed set of primitives, their builders and their printer.

A :class:`ScalarExpr` is one node: a primitive name, operand expressions, a dtype, and for
constants their value (for variables their name). Builders check types as they build, so an
expression that exists is well typed: operands of arithmetic share one dtype (mixing f32 and f64
needs an explicit :func:`cast`), float math takes floats, logic takes bools. A plain Python number
given to a builder becomes a constant of the *other* operand's dtype, so an f32 body computes in
f32 with no stray f64 literal::

    >>> from ir.dtypes import f32, f64
    >>> x = var("x", f32)
    >>> print(select(gt(x, 0.0), x, mul(x, 0.01)))
    select(gt(x, 0.0:f32), x, mul(x, 0.01:f32))
    >>> add(x, var("y", f64))
    Traceback (most recent call last):
    ...
    ir.errors.ScalarTypeError: add: operands have different dtypes (f32 and f64); cast one first

The primitives (see ``PRIMITIVES`` for each one's operand rule) and their exact meaning, which
``ir.scalar.evaluate`` implements on NumPy arrays:

- ``const`` ``var``; ``cast(x, dtype)`` converts as NumPy's ``astype`` (float -> int truncates;
  NaN, inf and out-of-range floats give an unspecified integer; anything -> bool is ``x != 0``);
- ``add sub mul`` (int wraps around), ``div`` (floats only: true division), ``pow``;
- ``neg abs`` (int: INT_MIN stays INT_MIN), ``sign`` (-1, 0 or 1 of the dtype; NaN -> NaN,
  -0.0 -> +0.0);
- ``maximum minimum``: NaN if either operand is NaN (``np.maximum``), never drop it;
- ``eq ne lt le gt ge`` -> bool (IEEE: NaN is unequal to everything); ``select(c, a, b)``;
- ``logical_and logical_or logical_not`` on bools; ``bitwise_and bitwise_or bitwise_xor
  bitwise_not`` on ints and bools;
- float math: ``exp log log1p expm1 tanh sqrt rsqrt sin cos erf floor ceil`` (``rsqrt`` is
  ``1 / sqrt(x)`` with both roundings), ``trunc`` (toward zero), ``round`` (to nearest, ties to
  even, as ``np.rint``), ``tan asin acos atan sinh cosh asinh acosh atanh log2 log10 exp2``, and
  binary ``atan2 hypot copysign`` (C99's functions);
- ``fmod(x, y)``: C's remainder, with the sign of ``x`` (floats: exact, ``fmod(x, 0.0)`` is NaN;
  ints: ``y`` must not be 0, ``INT_MIN fmod -1`` is 0); ``trunc_div(x, y)`` on ints: C's
  division, rounding toward zero (``y`` must not be 0; ``INT_MIN / -1`` wraps to INT_MIN).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np

from ir.dtypes import DType, bool_, finfo
from ir.errors import ScalarTypeError


@dataclass(frozen=True, eq=False)
class ScalarExpr:
    """One typed node of a scalar expression. Build it with the functions of this module.

    ``value`` is the constant (a NumPy scalar of ``dtype``) for ``const``, the name for ``var``
    and None otherwise. Expressions compare by identity; ``str()`` prints them.
    """

    op: str
    args: tuple[ScalarExpr, ...]
    dtype: DType
    value: Any = None

    def __str__(self) -> str:
        return to_text(self)

    def __repr__(self) -> str:
        return f"<ScalarExpr {to_text(self)}: {self.dtype}>"


Operand = ScalarExpr | float  # a Python number (int, bool) becomes a constant


@dataclass(frozen=True)
class Primitive:
    """A scalar primitive: its arity, which dtypes its operands take, and what it means."""

    name: str
    arity: int
    takes: str  # "float", "number" (int or float), "bool", "integer" (int or bool), "any"
    doc: str


def _table(names: str, arity: int, takes: str, doc: str) -> dict[str, Primitive]:
    return {n: Primitive(n, arity, takes, doc) for n in names.split()}


PRIMITIVES: dict[str, Primitive] = {
    **_table("exp log log1p expm1 tanh sqrt rsqrt sin cos erf floor ceil trunc round tan asin "
             "acos atan sinh cosh asinh acosh atanh log2 log10 exp2", 1, "float",
             "float math, same dtype"),
    **_table("atan2 hypot copysign", 2, "float", "float math of two operands, same dtype"),
    "fmod": Primitive("fmod", 2, "number", "remainder with the sign of the dividend (C)"),
    "trunc_div": Primitive("trunc_div", 2, "integer",
                           "integer division rounding toward zero (C); divisor not 0"),
    **_table("neg abs sign", 1, "number", "same dtype; ints wrap around"),
    **_table("logical_not", 1, "bool", "bool"),
    **_table("bitwise_not", 1, "integer", "bitwise complement (logical not on bools)"),
    **_table("add sub mul pow maximum minimum", 2, "number", "same dtype in, same dtype out"),
    **_table("div", 2, "float", "true division"),
    **_table("eq ne lt le gt ge", 2, "any", "comparison of one dtype -> bool"),
    **_table("logical_and logical_or", 2, "bool", "bool"),
    **_table("bitwise_and bitwise_or bitwise_xor", 2, "integer", "bitwise, same dtype"),
    "select": Primitive("select", 3, "any", "select(cond: bool, a, b): a where cond else b"),
    "cast": Primitive("cast", 1, "any", "conversion to another dtype (NumPy astype)"),
    "const": Primitive("const", 0, "any", "a typed constant"),
    "var": Primitive("var", 0, "any", "an input: one element of an operand"),
}

_COMPARISONS = frozenset(("eq", "ne", "lt", "le", "gt", "ge"))


def _takes(takes: str, dtype: DType) -> bool:
    return {"float": dtype.is_float, "number": dtype.is_float or dtype.is_int,
            "bool": dtype.is_bool, "integer": dtype.is_int or dtype.is_bool,
            "any": True}[takes]


# -- leaves ------------------------------------------------------------------------------------
def const(value: float | np.generic, dtype: DType) -> ScalarExpr:
    """A constant of ``dtype``; the value must fit it (floats are rounded to it, not clamped).

        >>> from ir.dtypes import bool_, f32, f64, i32
        >>> print(const(0.1, f32), const(-1, i32), const(True, bool_), const(-math.inf, f64))
        0.1:f32 -1:i32 true:bool -inf:f64
    """
    return ScalarExpr("const", (), dtype, _typed_number(value, dtype))


def _typed_number(value, dtype: DType) -> np.generic:
    if not isinstance(value, (Real, np.bool_)):
        raise ScalarTypeError(f"const: {value!r} is not a number")
    if dtype.is_bool:
        if value not in (0, 1):
            raise ScalarTypeError(f"const: bool takes true, false, 0 or 1, not {value!r}")
        return np.bool_(bool(value))
    if dtype.is_int:
        if isinstance(value, (Integral, np.bool_)):
            whole = int(value)
        elif float(value).is_integer():
            whole = int(float(value))
        else:
            raise ScalarTypeError(f"const: {value!r} is not an integer, so it is no {dtype}")
        info = np.iinfo(dtype.numpy)
        if not info.min <= whole <= info.max:
            raise ScalarTypeError(f"const: {value!r} is out of range for {dtype} "
                                  f"({info.min}..{info.max})")
        return dtype.numpy.type(whole)
    number = float(value)
    if math.isfinite(number) and abs(number) > float(finfo(dtype).max):
        raise ScalarTypeError(f"const: {value!r} overflows {dtype}")
    return dtype.numpy.type(number)


def var(name: str, dtype: DType) -> ScalarExpr:
    """An input of the expression: one element of the operand called ``name``."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ScalarTypeError(f"var: name must be an identifier, got {name!r}")
    return ScalarExpr("var", (), dtype, name)


# -- operations --------------------------------------------------------------------------------
def _operands(op: str, args: tuple[Operand, ...]) -> tuple[ScalarExpr, ...]:
    """Expressions for ``args``: Python numbers become constants of the expressions' dtype."""
    typed = [a for a in args if isinstance(a, ScalarExpr)]
    if not typed:
        raise ScalarTypeError(f"{op}: needs at least one expression operand to type its "
                              f"constants, got only numbers {args!r}")
    dtype = typed[0].dtype
    out = tuple(a if isinstance(a, ScalarExpr) else const(a, dtype) for a in args)
    dtypes_seen = sorted({a.dtype for a in out}, key=lambda d: d.rank)
    if len(dtypes_seen) > 1:
        shown = " and ".join(d.name for d in dtypes_seen)
        raise ScalarTypeError(f"{op}: operands have different dtypes ({shown}); cast one first")
    return out


def _apply(op: str, *args: Operand) -> ScalarExpr:
    prim = PRIMITIVES[op]
    operands = _operands(op, args)
    dtype = operands[0].dtype
    if not _takes(prim.takes, dtype):
        raise ScalarTypeError(f"{op}: takes {prim.takes} operands, got {dtype}")
    return ScalarExpr(op, operands, bool_ if op in _COMPARISONS else dtype)


def _unary(op: str):
    def build(x: ScalarExpr) -> ScalarExpr:
        return _apply(op, x)
    build.__name__ = build.__qualname__ = op
    build.__doc__ = f"``{op}(x)``: {PRIMITIVES[op].doc}."
    return build


def _binary(op: str):
    def build(x: Operand, y: Operand) -> ScalarExpr:
        return _apply(op, x, y)
    build.__name__ = build.__qualname__ = op
    build.__doc__ = f"``{op}(x, y)``: {PRIMITIVES[op].doc}."
    return build


exp, log, log1p, expm1 = _unary("exp"), _unary("log"), _unary("log1p"), _unary("expm1")
tanh, sqrt, rsqrt, erf = _unary("tanh"), _unary("sqrt"), _unary("rsqrt"), _unary("erf")
sin, cos, floor, ceil = _unary("sin"), _unary("cos"), _unary("floor"), _unary("ceil")
trunc, round_, tan = _unary("trunc"), _unary("round"), _unary("tan")
asin, acos, atan = _unary("asin"), _unary("acos"), _unary("atan")
sinh, cosh, asinh, acosh, atanh = (_unary(n) for n in ("sinh", "cosh", "asinh", "acosh", "atanh"))
log2, log10, exp2 = _unary("log2"), _unary("log10"), _unary("exp2")
neg, abs_, sign = _unary("neg"), _unary("abs"), _unary("sign")
logical_not, bitwise_not = _unary("logical_not"), _unary("bitwise_not")
add, sub, mul, div = _binary("add"), _binary("sub"), _binary("mul"), _binary("div")
pow_, maximum, minimum = _binary("pow"), _binary("maximum"), _binary("minimum")
eq, ne, lt, le, gt, ge = (_binary(n) for n in ("eq", "ne", "lt", "le", "gt", "ge"))
logical_and, logical_or = _binary("logical_and"), _binary("logical_or")
bitwise_and, bitwise_or = _binary("bitwise_and"), _binary("bitwise_or")
bitwise_xor = _binary("bitwise_xor")
atan2, hypot, copysign = _binary("atan2"), _binary("hypot"), _binary("copysign")
fmod, trunc_div = _binary("fmod"), _binary("trunc_div")


def select(cond: ScalarExpr, a: Operand, b: Operand) -> ScalarExpr:
    """``a`` where ``cond`` (a bool expression) holds, else ``b``; ``a`` and ``b`` share a dtype.

        >>> from ir.dtypes import i64
        >>> print(select(var("c", bool_), var("x", i64), 0))
        select(c, x, 0:i64)
    """
    if not isinstance(cond, ScalarExpr) or not cond.dtype.is_bool:
        shown = cond.dtype if isinstance(cond, ScalarExpr) else repr(cond)
        raise ScalarTypeError(f"select: the condition must be a bool expression, got {shown}")
    a, b = _operands("select", (a, b))
    return ScalarExpr("select", (cond, a, b), a.dtype)


def cast(x: ScalarExpr, dtype: DType) -> ScalarExpr:
    """``x`` converted to ``dtype`` as NumPy's ``astype`` does; no node if it already is.

        >>> from ir.dtypes import f32, i64
        >>> print(cast(var("x", i64), f32), cast(var("x", f32), f32))
        cast(x, f32) x
    """
    if not isinstance(x, ScalarExpr):
        raise ScalarTypeError(f"cast: operand must be an expression, got {x!r}")
    if not isinstance(dtype, DType):
        raise ScalarTypeError(f"cast: target must be a dtype, got {dtype!r}")
    return x if x.dtype == dtype else ScalarExpr("cast", (x,), dtype)


def lowest(dtype: DType) -> ScalarExpr:
    """The smallest value of ``dtype`` (-inf for floats, INT_MIN, false): max's identity."""
    if dtype.is_float:
        return const(-math.inf, dtype)
    return const(False if dtype.is_bool else int(np.iinfo(dtype.numpy).min), dtype)


def highest(dtype: DType) -> ScalarExpr:
    """The largest value of ``dtype`` (+inf for floats, INT_MAX, true): min's identity."""
    if dtype.is_float:
        return const(math.inf, dtype)
    return const(True if dtype.is_bool else int(np.iinfo(dtype.numpy).max), dtype)


# -- queries for code generators -----------------------------------------------------------------
# pow(x, c) with these constant exponents is what code generators render as multiplications or
# a reciprocal instead of a libm pow call (scalar, so it keeps a loop from vectorizing): 0 -> 1
# (NaN included, as pow gives), 1 -> x, 2 -> x*x and -1 -> 1/x round once, as a correctly
# rounded pow does; 3 -> (x*x)*x and 4 -> (x*x)*(x*x) round twice (within an ulp of pow, the
# same infinities, NaN, signed zeros and overflow).
POW_BY_MULTIPLICATION = (-1, 0, 1, 2, 3, 4)


def small_integer_exponent(expr: ScalarExpr) -> int | None:
    """``c`` as an int if ``expr`` is ``pow(x, c)`` of floats with a constant ``c`` in
    :data:`POW_BY_MULTIPLICATION`, else None.

        >>> from ir.dtypes import f32
        >>> x = var("x", f32)
        >>> small_integer_exponent(pow_(x, 3.0)), small_integer_exponent(pow_(x, 0.5))
        (3, None)
    """
    if expr.op != "pow" or not expr.dtype.is_float or expr.args[1].op != "const":
        return None
    c = float(expr.args[1].value)
    return int(c) if c in POW_BY_MULTIPLICATION else None


# pow by these exponents is a root, as PyTorch computes ``x ** 0.5`` and ``x ** -0.5``
ROOT_EXPONENTS = {0.5: "sqrt", -0.5: "rsqrt"}


def root_of(expr: ScalarExpr) -> str | None:
    """``sqrt`` or ``rsqrt`` when ``expr`` is ``pow(x, 0.5)`` or ``pow(x, -0.5)`` of floats with
    a constant exponent, else None. The reference (``ir.scalar.evaluate.power``) computes them
    so, as PyTorch does: ``pow(-0.0, 0.5)`` is -0.0 and ``pow(-inf, 0.5)`` NaN, where C's pow
    gives +0.0 and +inf; ``pow(-0.0, -0.5)`` is -inf and ``pow(-inf, -0.5)`` NaN, where C's
    gives +inf and +0.0. Code generators render the primitive itself (the same bits).

        >>> from ir.dtypes import f32
        >>> x = var("x", f32)
        >>> root_of(pow_(x, 0.5)), root_of(pow_(x, -0.5)), root_of(pow_(x, 1.5))
        ('sqrt', 'rsqrt', None)
    """
    if expr.op != "pow" or not expr.dtype.is_float or expr.args[1].op != "const":
        return None
    return ROOT_EXPONENTS.get(float(expr.args[1].value))


# -- printing ----------------------------------------------------------------------------------
def format_const(value: np.generic, dtype: DType) -> str:
    """``0.1:f32``, ``-0.0:f64``, ``nan:f32``, ``-2147483648:i32``, ``true:bool``."""
    if dtype.is_bool:
        text = "true" if value else "false"
    elif dtype.is_int:
        text = str(int(value))
    else:
        text = str(value)  # NumPy prints the shortest repr that reads back as the same float
    return f"{text}:{dtype}"


def to_text(expr: ScalarExpr) -> str:
    """The expression as a human reads it (docs, error messages); shared parts repeat.

        >>> from ir.dtypes import f64, i32
        >>> x = var("x", f64)
        >>> to_text(maximum(exp(x), cast(var("n", i32), f64)))
        'maximum(exp(x), cast(n, f64))'
    """
    if expr.op == "var":
        return str(expr.value)
    if expr.op == "const":
        return format_const(expr.value, expr.dtype)
    args = [to_text(a) for a in expr.args]
    if expr.op == "cast":
        args.append(str(expr.dtype))
    return f"{expr.op}({', '.join(args)})"


__all__ = [
    "POW_BY_MULTIPLICATION",
    "PRIMITIVES",
    "Primitive",
    "ScalarExpr",
    "abs_",
    "acos",
    "acosh",
    "add",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "bitwise_and",
    "bitwise_not",
    "bitwise_or",
    "bitwise_xor",
    "cast",
    "ceil",
    "const",
    "copysign",
    "cos",
    "cosh",
    "div",
    "eq",
    "erf",
    "exp",
    "exp2",
    "expm1",
    "floor",
    "fmod",
    "format_const",
    "ge",
    "gt",
    "highest",
    "hypot",
    "le",
    "log",
    "log10",
    "log1p",
    "log2",
    "logical_and",
    "logical_not",
    "logical_or",
    "lowest",
    "lt",
    "maximum",
    "minimum",
    "mul",
    "ne",
    "neg",
    "pow_",
    "round_",
    "rsqrt",
    "select",
    "sign",
    "sin",
    "sinh",
    "ROOT_EXPONENTS",
    "root_of",
    "small_integer_exponent",
    "sqrt",
    "sub",
    "tan",
    "tanh",
    "to_text",
    "trunc",
    "trunc_div",
    "var",
]
