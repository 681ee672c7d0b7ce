"""Elementwise math beyond arithmetic: rounding, division with a rounding mode, trigonometric
and hyperbolic functions, and composites of them (``logaddexp``, ``lerp``, ``clamp_min``).

Each primitive here is one registry op (``ir/ops/rounding.py``, ``ir/ops/transcendental.py``),
with PyTorch's promotion, integer semantics and gradients:

    >>> import graphc
    >>> x = graphc.tensor([-7, 7])
    >>> (x // 2).tolist(), (x % 3).tolist(), graphc.fmod(x, 3).tolist()
    ([-4, 3], [2, 1], [-1, 1])
    >>> graphc.round(graphc.tensor([0.5, 1.5, 2.675]), decimals=0).tolist()
    [0.0, 2.0, 3.0]
    >>> graphc.tensor([1]) // 0
    Traceback (most recent call last):
    ...
    ir.errors.IntegerDivisionByZero: floor_divide: integer division by zero (ZeroDivisionError)
"""
from __future__ import annotations

from graphc.dispatch import apply
from graphc.errors import ArgumentError
from graphc.functions import (
    _binary,
    _unary,
    add,
    cast,
    clamp,
    eq,
    exp,
    ge,
    isinf,
    log1p,
    lt,
    mul,
    operands,
    scalar_like,
    sub,
    to_tensor,
    where,
)
from graphc.tensor import Tensor
from ir import dtypes
from ir.errors import DTypeError

# -- rounding ------------------------------------------------------------------------------------
floor, ceil, trunc, frac = (_unary(op) for op in ("floor", "ceil", "trunc", "frac"))
fix = trunc


def round(input, decimals: int = 0) -> Tensor:  # noqa: A001  (torch.round)
    """Rounds half to even (``torch.round``); ``decimals=n`` rounds to n decimal places as
    PyTorch does (``rint(x * 10**n) / 10**n``, in the tensor's dtype). Integers are unchanged.

        >>> import graphc
        >>> graphc.round(graphc.tensor([2.5, -0.5, 1.2345]), decimals=0).tolist()
        [2.0, -0.0, 1.0]
    """
    if isinstance(decimals, bool) or not isinstance(decimals, int):
        raise ArgumentError(f"round: decimals must be an int, got {decimals!r}")
    return apply("round", [to_tensor(input)], decimals=decimals)


# -- division ------------------------------------------------------------------------------------
def _integer_division_operands(input, other) -> list:
    """The operands of a rounding division: a bool tensor with a number or a tensor of
    another dtype counts as int64, as in PyTorch (``bool_tensor // 2`` is int64); two bool
    tensors are refused by the op, as there."""
    def is_bool(x):
        return isinstance(x, bool) or (isinstance(x, Tensor) and x.dtype == dtypes.bool_)

    if is_bool(input) != is_bool(other):
        partner = other if is_bool(input) else input
        # the other integer tensor's dtype (bool // int8 is int8), else int64 (bool // 2)
        wide = partner.dtype if isinstance(partner, Tensor) and not partner.dtype.is_float \
            else dtypes.i64
        input, other = (cast(x, wide) if isinstance(x, Tensor) and is_bool(x) else x
                        for x in (input, other))
    return list(operands(input, other))


def _rounding_division(op: str, doc: str):
    def fn(input, other) -> Tensor:
        return apply(op, _integer_division_operands(input, other))
    fn.__name__, fn.__qualname__, fn.__doc__ = op, op, doc
    return fn


floor_divide = _rounding_division("floor_divide",
                                  "``a // b``: the quotient rounded down (Python's ``//``).")
remainder = _rounding_division("remainder",
                               "``a % b``: the remainder with the sign of ``b`` (Python's ``%``).")
fmod = _rounding_division("fmod", "C's ``fmod``: the remainder with the sign of ``a``; "
                                  "``fmod(x, 0.0)`` is NaN.")

_ROUNDING_OPS = {None: "div", "trunc": "trunc_divide", "floor": "floor_divide"}


def div(input, other, *, rounding_mode: str | None = None) -> Tensor:
    """``input / other``: true division (``rounding_mode=None``, integers give floats), or
    rounded toward zero (``'trunc'``) or down (``'floor'``), in the promoted dtype.

        >>> import graphc
        >>> a, b = graphc.tensor([-7, 7]), graphc.tensor([2, 2])
        >>> graphc.div(a, b).tolist(), graphc.div(a, b, rounding_mode="trunc").tolist()
        ([-3.5, 3.5], [-3, 3])
        >>> graphc.div(a, b, rounding_mode="floor").tolist()
        [-4, 3]
    """
    op = _ROUNDING_OPS.get(rounding_mode) if isinstance(rounding_mode, (str, type(None))) else None
    if op is None:
        raise ArgumentError("div: rounding_mode must be None, 'trunc' or 'floor', got "
                            f"{rounding_mode!r}")
    if op == "div":
        return apply(op, list(operands(input, other)))
    return apply(op, _integer_division_operands(input, other))


divide = true_divide = div


# -- trigonometric, hyperbolic, logarithms -------------------------------------------------------
(tan, asin, acos, atan, sinh, cosh, asinh, acosh, atanh, log2, log10, exp2) = (
    _unary(op) for op in ("tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh",
                          "atanh", "log2", "log10", "exp2"))
atan2, xlogy = _binary("atan2"), _binary("xlogy")


def _float_pair(op: str, input, other) -> tuple:
    """The operands of a float-only op: an integer or bool one joins the float one's dtype,
    as PyTorch promotes them (two integer tensors are refused, as there)."""
    a, b = operands(input, other)
    if not (a.dtype.is_float or b.dtype.is_float):
        raise DTypeError(f"{op}: takes float tensors, got {a.dtype} and {b.dtype}")
    if not a.dtype.is_float:
        a = cast(a, b.dtype)
    if not b.dtype.is_float:
        b = cast(b, a.dtype)
    return a, b


def hypot(input, other) -> Tensor:
    """``sqrt(a**2 + b**2)`` without overflow (``torch.hypot``)."""
    return apply("hypot", list(_float_pair("hypot", input, other)))
arcsin, arccos, arctan, arctan2 = asin, acos, atan, atan2
arcsinh, arccosh, arctanh = asinh, acosh, atanh


def logaddexp(input, other) -> Tensor:
    """``log(exp(a) + exp(b))`` without overflow; ``logaddexp(-inf, -inf)`` is -inf, as in
    PyTorch.

        >>> import graphc
        >>> graphc.logaddexp(graphc.tensor([0.0, 1000.0]), graphc.tensor([0.0, 1000.0])).tolist()
        [0.6931471824645996, 1000.6931762695312]
    """
    a, b = _float_pair("logaddexp", input, other)
    # the larger plus log1p(exp(smaller - larger)), the difference fed to each branch only
    # where that branch is taken (finite in the other): exact derivatives at a tie too, where
    # max(a, b) + log1p(exp(-|a - b|)) had no curvature
    first = ge(a, b)
    zero = scalar_like(0.0, a)
    from_a = add(a, log1p(exp(where(first, sub(b, a), zero))))
    from_b = add(b, log1p(exp(where(first, zero, sub(a, b)))))
    # equal infinities: a - b is NaN, the answer is that infinity
    return where(eq(a, b) & isinf(a), a, where(first, from_a, from_b))


def lerp(input, end, weight) -> Tensor:
    """``input + weight * (end - input)``, computed as PyTorch does (from ``end`` for
    ``weight >= 0.5``, so ``lerp(a, b, 1.0)`` is exactly ``b``).

        >>> import graphc
        >>> graphc.lerp(graphc.tensor([1.0]), graphc.tensor([3.0]), 0.25).tolist()
        [1.5]
    """
    start = to_tensor(input)
    end, weight = to_tensor(end, start), to_tensor(weight, start)
    for name, t in (("end", end), ("weight", weight)):
        if t.dtype != start.dtype and not (name == "weight" and t.ndim == 0):
                raise DTypeError(f"lerp: expected dtype {start.dtype} for `{name}` but got "
                             f"dtype {t.dtype}")
    step = sub(end, start)
    from_start = add(start, mul(weight, step))
    from_end = sub(end, mul(step, sub(1.0, weight)))
    return where(lt(weight, 0.5), from_start, from_end)


def clamp_min(input, min) -> Tensor:  # noqa: A002  (PyTorch's argument name)
    """``clamp(input, min=min)``."""
    return clamp(input, min=min)


def clamp_max(input, max) -> Tensor:  # noqa: A002
    """``clamp(input, max=max)``."""
    return clamp(input, max=max)


__all__ = [
    "acos", "acosh", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh",
    "asin", "asinh", "atan", "atan2", "atanh", "ceil", "clamp_min", "clamp_max", "cosh", "div",
    "divide", "exp2", "fix", "floor", "floor_divide", "fmod", "frac", "hypot", "lerp", "log10",
    "log2", "logaddexp", "remainder", "round", "sinh", "tan", "true_divide", "trunc", "xlogy",
]
