"""``graphc.special.zeta``: the Hurwitz zeta function ``zeta(x, q) = sum_{k >= 0} (q + k)**-x``
(``torch.special.zeta``), a composite of graphc's primitive ops: it runs eagerly,
differentiates with respect to ``q`` and compiles (no op of its own) on every backend.

For ``q > 0``: ten terms summed, the rest by Euler-Maclaurin at ``a = q + 10`` (twelve
Bernoulli terms), as Cephes' ``zeta`` that PyTorch runs. For ``q < 0`` (allowed, as there,
only for an integer ``x``) the terms with negative ``q + k`` are summed in closed form: with
``q = r - m`` (``0 < r < 1``, ``m`` an integer), ``zeta(x, q) = zeta(x, r) + (-1)**x
(zeta(x, 1 - r) - zeta(x, 1 - q))``, three series at positive arguments, so no loop depends
on the data. Edge values are PyTorch's: +inf at ``x = 1`` and at ``q`` a non-positive
integer, NaN for ``x < 1`` or for ``q < 0`` with a non-integer ``x``, NaN for NaN; except
where PyTorch's Cephes loop answers NaN for a limit that exists: ``zeta(x, +inf) = 0`` and
``zeta(+inf, q) = 0`` for ``q > 1`` (1 at ``q = 1``, +inf below).

Float32 (and narrower, and integer) inputs compute in float64 and round once. Measured against
mpmath in float64 (``tests/test_surface_session28.py``): 2e-15 relative for ``q > 0`` (where
the result is not subnormal); for ``q < 0`` the terms may cancel (odd ``x``): 2e-15 of the
largest term.

The gradient with respect to ``q`` is ``-x * zeta(x + 1, q)`` (the series' own derivative,
so it differentiates again), PyTorch's; PyTorch has none with respect to ``x``, and neither
has graphc: a backward pass that reaches ``x`` raises (and a compiled function refuses an
``x`` that requires grad).

    >>> import graphc
    >>> x = graphc.tensor([2.0, 4.0], dtype=graphc.float64)
    >>> [round(v, 12) for v in graphc.special.zeta(x, 1.0).tolist()]   # pi**2 / 6, pi**4 / 90
    [1.644934066848, 1.082323233711]
"""
from __future__ import annotations

import math

from graphc import functions as F
from graphc import math_functions as M
from graphc import tracing
from graphc.autograd import is_grad_enabled
from graphc.autograd_function import Function
from graphc.errors import AutogradError
from graphc.factories import zeros_like
from graphc.special_functions import _BERNOULLI_OVER_FACTORIAL, _const, _safe
from graphc.tensor import Tensor
from ir import dtypes
from ir.types import broadcast_shapes

__all__ = ["zeta"]

_TERMS = 10
# Beyond this x, a**-x (a >= 10) is 0 in float64 and the tail with it; the rising factorial
# would overflow to inf there (inf * 0 = NaN), so it is taken at this x instead
_TAIL_X = 1.0e4


def _series(x: Tensor, q: Tensor) -> Tensor:
    """``zeta(x, q)`` for x > 1 and q > 0."""
    total = F.pow(q, F.neg(x))
    for k in range(1, _TERMS):
        total = F.add(total, F.pow(F.add(q, float(k)), F.neg(x)))
    a = F.add(q, float(_TERMS))
    # sum_{k >= 10} f(q + k) = int_a^inf f + f(a) / 2 - sum_j B_2j / (2j)! f^(2j-1)(a)
    tail = F.add(F.div(F.pow(a, F.sub(1.0, x)), F.sub(x, 1.0)),
                 F.mul(F.pow(a, F.neg(x)), 0.5))
    capped = F.minimum(x, _const(_TAIL_X, x))
    rising = capped  # x (x + 1) ... (x + 2j - 2)
    power = F.pow(a, F.sub(F.neg(x), 1.0))
    inverse_square = F.reciprocal(F.mul(a, a))
    for j, coefficient in enumerate(_BERNOULLI_OVER_FACTORIAL, start=1):
        tail = F.add(tail, F.mul(F.mul(power, rising), coefficient))
        rising = F.mul(rising, F.mul(F.add(capped, 2.0 * j - 1), F.add(capped, 2.0 * j)))
        power = F.mul(power, inverse_square)
    return F.add(total, tail)


def _zeta(x: Tensor, q: Tensor) -> Tensor:
    """On float64 tensors of one shape."""
    x_integer = F.eq(x, M.floor(x))
    q_pole = F.logical_and(F.le(q, 0.0), F.eq(q, M.floor(q)))
    defined = F.gt(x, 1.0)
    upper = F.logical_and(defined, F.gt(q, 0.0))
    value = _series(_safe(upper, x, 2.0), _safe(upper, q, 1.0))
    # q < 0, x an integer: zeta(x, r) + (-1)**x (zeta(x, 1 - r) - zeta(x, 1 - q)), q = r - m
    lower = F.logical_and(F.logical_and(defined, x_integer),
                          F.logical_and(F.lt(q, 0.0), F.logical_not(q_pole)))
    xl, ql = _safe(lower, x, 2.0), _safe(lower, q, -0.5)
    r = F.sub(ql, M.floor(ql))
    sign = F.where(F.eq(M.remainder(xl, 2.0), 0.0), _const(1.0, xl), _const(-1.0, xl))
    negative_terms = F.sub(_series(xl, F.sub(1.0, r)), _series(xl, F.sub(1.0, ql)))
    value = F.where(lower, F.add(_series(xl, r), F.mul(sign, negative_terms)), value)
    nan, inf = _const(math.nan, x), _const(math.inf, x)
    # x = +inf: each term is 0, 1 or inf as q + k is above, at or below 1
    at_infinity = F.where(F.gt(q, 1.0), _const(0.0, x), F.where(F.eq(q, 1.0), _const(1.0, x),
                                                                 inf))
    value = F.where(F.eq(x, math.inf), at_infinity, value)
    value = F.where(F.logical_and(F.le(q, 0.0), F.logical_not(x_integer)), nan, value)
    value = F.where(q_pole, inf, value)
    value = F.where(F.lt(x, 1.0), nan, F.where(F.eq(x, 1.0), inf, value))
    return F.where(F.logical_or(F.isnan(x), F.isnan(q)), nan, value)


class _NoGradientInX(Function):
    """Zeros shaped like ``x``, added to the result so that a backward pass reaching ``x``
    raises (PyTorch: "the derivative for 'zeta' is not implemented")."""

    @staticmethod
    def forward(ctx, x):
        return zeros_like(x)

    @staticmethod
    def backward(ctx, grad):
        raise AutogradError("special.zeta: the derivative with respect to x (input) is not "
                            "implemented (nor is PyTorch's); only q (other) has one")


def zeta(input, other) -> Tensor:
    """The Hurwitz zeta function ``sum_{k >= 0} (other + k) ** -input``
    (``torch.special.zeta``), broadcast, in the promoted float dtype; see the module's notes
    for the domain, edge values and gradients.

        >>> import graphc
        >>> graphc.special.zeta(graphc.tensor([3.0, 2.0]), graphc.tensor([-1.5, 0.0])).tolist()
        [0.11810202896595001, inf]
    """
    x, q = F.operands(input, other)
    dtype = dtypes.to_float(dtypes.promote(x.dtype, q.dtype))  # (two int tensors: float32)
    shape = broadcast_shapes(tuple(x.shape), tuple(q.shape))
    x64 = F.broadcast_to(F.cast(x, dtypes.f64), shape)
    q64 = F.broadcast_to(F.cast(q, dtypes.f64), shape)
    value = _zeta(x64.detach(), q64)
    if is_grad_enabled() and x.requires_grad:
        if tracing.current() is not None or x.is_traced:
            raise tracing.TraceError(
                "special.zeta: x (input) requires grad inside a compiled function, but zeta "
                "has no derivative with respect to x (nor has PyTorch's): pass x.detach()")
        value = F.add(value, _NoGradientInX.apply(x64))
    return F.cast(value, dtype)
