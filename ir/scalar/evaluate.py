"""The scalar evaluator: the oracle that says what a scalar expression computes.

It runs an expression elementwise on NumPy arrays with exact dtype semantics: every primitive
runs in its node's dtype (an f32 ``add`` adds in float32, constants are 0-d arrays of their
dtype, so nothing is silently widened), and each result is checked to have that dtype. Code
generators are tested against it; the registry walk tests it against the ops' references.

    >>> import numpy as np
    >>> from ir.dtypes import f32
    >>> from ir.scalar import expr as S
    >>> x = S.var("x", f32)
    >>> evaluate(S.add(x, 1.0), {"x": np.array(2.0**24, np.float32)}).item()  # 2**24 + 1 in f32
    16777216.0
    >>> evaluate(S.maximum(x, 0.0), {"x": np.array([np.nan, -1.0], np.float32)})
    array([nan,  0.], dtype=float32)
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import ml_dtypes
import numpy as np

from ir.dtypes import convert
from ir.errors import ScalarTypeError
from ir.scalar.expr import PRIMITIVES, ROOT_EXPONENTS, ScalarExpr


def _erf(x: np.ndarray) -> np.ndarray:
    # NumPy has no erf. math.erf in float64 rounded once to the node's dtype is within one ulp
    # of the exact value (the reference of the `erf` op computes it the same way).
    return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype)


def _rsqrt(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):  # rsqrt(+-0) is +-inf, as defined, not an error
        return np.divide(np.ones((), x.dtype), np.sqrt(x))


_ROOT_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"sqrt": np.sqrt,
                                                                   "rsqrt": _rsqrt}
# the root each of ROOT_EXPONENTS names, by exponent
_ROOTS = {exponent: _ROOT_FUNCTIONS[name] for exponent, name in ROOT_EXPONENTS.items()}


_BFLOAT16 = np.dtype(ml_dtypes.bfloat16)


def power(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``np.power``, but ``sqrt(x)`` wherever a float exponent is 0.5 and ``1 / sqrt(x)`` where
    it is -0.5, as PyTorch computes ``x ** 0.5`` and ``x ** -0.5``: ``pow(-0.0, 0.5)`` is -0.0,
    ``pow(-0.0, -0.5)`` -inf and ``pow(-inf, +-0.5)`` NaN (C's pow: +0.0, +inf, +inf and +0.0).
    NumPy itself takes sqrt only for an f32/f64 scalar (or stride-0) exponent of 0.5, so without
    this the result would depend on the exponent's layout and dtype. (Code generators render
    them the same way: ``ir.scalar.root_of``.)

        >>> float(power(np.float32([-0.0]), np.full(1, 0.5, np.float32))[0])
        -0.0
        >>> float(power(np.float32([-0.0]), np.float32(-0.5))[0])
        -inf
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind != "f" and x.dtype != _BFLOAT16:
        return np.power(x, y)
    if y.ndim == 0:
        root = _ROOTS.get(float(y))
        return np.power(x, y) if root is None else root(x)
    result = np.power(x, y)
    for exponent, root in _ROOTS.items():
        where = y == exponent
        if where.any():
            result = np.where(where, root(x), result)
    return result


def truncating_division(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Integer division rounding toward zero, as C's ``/`` (``trunc_div``)."""
    # NumPy has no truncating integer division: floor division, one back toward zero where
    # the division was inexact and the signs differ. INT_MIN // -1 wraps to INT_MIN (C traps).
    q = np.floor_divide(x, y)
    inexact = (np.fmod(x, y) != 0) & ((x < 0) != (y < 0))
    return q + inexact.astype(q.dtype)


IMPLEMENTATIONS: dict[str, Callable[..., np.ndarray]] = {
    "exp": np.exp, "log": np.log, "log1p": np.log1p, "expm1": np.expm1, "tanh": np.tanh,
    "sqrt": np.sqrt, "rsqrt": _rsqrt, "sin": np.sin, "cos": np.cos, "erf": _erf,
    "floor": np.floor, "ceil": np.ceil, "trunc": np.trunc, "round": np.rint,
    "tan": np.tan, "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh,
    "cosh": np.cosh, "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh,
    "log2": np.log2, "log10": np.log10, "exp2": np.exp2,
    "atan2": np.arctan2, "hypot": np.hypot, "copysign": np.copysign,
    "fmod": np.fmod, "trunc_div": truncating_division,
    "neg": np.negative, "abs": np.absolute, "sign": np.sign,
    "logical_not": np.logical_not, "bitwise_not": np.invert,
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide,
    "pow": power, "maximum": np.maximum, "minimum": np.minimum,
    "eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
    "gt": np.greater, "ge": np.greater_equal,
    "logical_and": np.logical_and, "logical_or": np.logical_or,
    "bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or, "bitwise_xor": np.bitwise_xor,
    "select": np.where,
}
# every primitive but the leaves and cast (handled in _node) has an implementation
assert set(PRIMITIVES) - set(IMPLEMENTATIONS) == {"const", "var", "cast"}


def evaluate(expr: ScalarExpr, env: Mapping[str, np.ndarray]) -> np.ndarray:
    """The value of ``expr`` for each element of the arrays in ``env`` (broadcast together).

    ``env`` maps each variable's name to an array of exactly that variable's dtype. Floating
    point exceptions are IEEE results (inf, nan), not warnings.
    """
    values: dict[int, np.ndarray] = {}  # by node identity: a shared subexpression runs once
    with np.errstate(all="ignore"):
        return _eval(expr, env, values)


def _eval(expr: ScalarExpr, env, values: dict[int, np.ndarray]) -> np.ndarray:
    known = values.get(id(expr))
    if known is not None:
        return known
    args = [_eval(a, env, values) for a in expr.args]
    result = np.asarray(_node(expr, args, env))
    if result.dtype != expr.dtype.numpy:
        raise AssertionError(f"internal error: scalar {expr.op} gave {result.dtype}, "
                             f"its node is typed {expr.dtype}")
    values[id(expr)] = result
    return result


def _node(expr: ScalarExpr, args: list[np.ndarray], env) -> np.ndarray:
    if expr.op == "const":
        return np.asarray(expr.value)
    if expr.op == "var":
        if expr.value not in env:
            raise ScalarTypeError(f"evaluate: no value for variable {expr.value!r}; "
                                  f"got {', '.join(sorted(env)) or 'none'}")
        array = np.asarray(env[expr.value])
        if array.dtype != expr.dtype.numpy:
            raise ScalarTypeError(f"evaluate: variable {expr.value!r} is {expr.dtype}, "
                                  f"its array is {array.dtype}")
        return array
    if expr.op == "cast":
        return convert(args[0], expr.dtype)
    return IMPLEMENTATIONS[expr.op](*args)
