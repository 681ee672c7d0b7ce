"""The regularized incomplete gamma functions ``P(a, x)`` and ``Q(a, x) = 1 - P(a, x)``
(``torch.special.gammainc``/``gammaincc``, ``torch.igamma``/``igammac``), and the NumPy core
behind them that Gamma's CDF and the implicit reparameterization of Gamma samples also use.

``P`` is the series ``x**a e**-x / Gamma(a + 1) * sum_n x**n / ((a+1)...(a+n))`` below
``x = a + 1`` and ``1 - Q`` above, with ``Q`` from Lentz's continued fraction; ``dP/da`` comes
from the series' own derivative below and from a complex step through the continued fraction
above (exact to rounding), ``dP/dx = x**(a-1) e**-x / Gamma(a)``. Edge values are PyTorch's:
NaN for ``a < 0``, ``x < 0`` or NaN; ``P(0, x) = 1`` for ``x > 0``; ``P(a, 0) = 0``;
``P(a, inf) = 1``; ``P(inf, x) = 0``.

They are evaluated in NumPy, eagerly (a ``TraceError`` inside a compiled function), in float64
and rounded once to the result dtype. Their gradients: w.r.t. ``x`` a composite of graphc ops
(so it differentiates again); w.r.t. ``a`` (PyTorch has none) the first derivative only:
differentiating it again raises rather than answer 0.

    >>> import graphc
    >>> a, x = graphc.tensor([1.0, 2.0]), graphc.tensor([1.0, 3.0])
    >>> [round(v, 6) for v in graphc.special.gammainc(a, x).tolist()]  # 1 - e**-1, ...
    [0.632121, 0.800852]
"""
from __future__ import annotations

import math

import numpy as np

from graphc import autograd, tracing
from graphc.autograd_function import Function
from graphc.errors import AutogradError, TraceError
from graphc.tensor import Tensor

_MAX_TERMS = 200000


def digamma_array(x: np.ndarray) -> np.ndarray:
    import graphc
    return graphc.digamma(graphc.tensor(x, dtype=graphc.float64)).numpy()


def lgamma_array(x: np.ndarray) -> np.ndarray:
    import graphc
    return graphc.lgamma(graphc.tensor(x, dtype=graphc.float64)).numpy()


def lower_gamma_series(a: np.ndarray, x: np.ndarray):
    """``S = sum_n x**n / ((a+1)...(a+n))`` and ``dS/da``, to 1e-17 relative (vectorized)."""
    term = np.ones_like(x)
    harmonic = np.zeros_like(x)
    total, d_total = np.ones_like(x), np.zeros_like(x)
    active = np.ones(x.shape, dtype=bool)
    n = 0
    while active.any() and n < _MAX_TERMS:
        n += 1
        term = np.where(active, term * x / (a + n), 0.0)
        harmonic = harmonic + 1.0 / (a + n)
        total = total + term
        d_total = d_total - term * harmonic
        # stop once the terms fall (n > x - a) and are negligible
        active = active & ~((n > x - a) & (term < 1e-17 * total))
    return total, d_total


def _continued_fraction(a, x):
    """Lentz's evaluation of ``Q(a, x) e**x x**-a Gamma(a)``'s continued fraction (works on
    complex ``a`` too: its derivative comes from a complex step)."""
    tiny = 1e-300
    b = x + 1.0 - a
    c = np.full_like(b, 1.0 / tiny)
    d = 1.0 / b
    h = d
    for i in range(1, 2000):
        an = -i * (i - a)
        b = b + 2.0
        d = an * d + b
        d = np.where(np.abs(d) < tiny, tiny, d)
        c = b + an / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        d = 1.0 / d
        delta = d * c
        h = h * delta
        if np.all(np.abs(delta - 1.0) < 1e-16):
            break
    return h


def regularized_lower_gamma(a: np.ndarray, x: np.ndarray):
    """``P(a, x)`` with ``dP/da`` and ``dP/dx`` (float64 arrays, ``a > 0``, ``x >= 0``):
    the series below ``x = a + 1``, the continued fraction for ``Q = 1 - P`` above (its
    ``a``-derivative by a complex step, exact to rounding)."""
    a, x = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(x, np.float64))
    p, dp_da, dp_dx = np.zeros(a.shape), np.zeros(a.shape), np.zeros(a.shape)
    positive = x > 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        log_x = np.log(np.where(positive, x, 1.0))
        dp_dx = np.where(positive, np.exp((a - 1.0) * log_x - x - lgamma_array(a)), 0.0)
        dp_dx = np.where((x == 0) & (a < 1), np.inf, np.where((x == 0) & (a == 1), 1.0, dp_dx))
        low = positive & (x < a + 1.0)
        if low.any():
            aa, xx, lx = a[low], x[low], log_x[low]
            total, d_total = lower_gamma_series(aa, xx)
            prefactor = np.exp(aa * lx - xx - lgamma_array(aa + 1.0))
            p[low] = prefactor * total
            dp_da[low] = prefactor * (total * (lx - digamma_array(aa + 1.0)) + d_total)
        high = positive & ~low
        if high.any():
            aa, xx, lx = a[high], x[high], log_x[high]
            step = 1e-30
            fraction = _continued_fraction(aa + 1j * step, xx.astype(complex))
            prefactor = np.exp(aa * lx - xx - lgamma_array(aa))
            q = prefactor * fraction.real
            p[high] = 1.0 - q
            dq_da = q * (lx - digamma_array(aa)) + prefactor * fraction.imag / step
            dp_da[high] = -dq_da
    return p, dp_da, dp_dx


def _p_and_derivatives(a: np.ndarray, x: np.ndarray):
    """``P(a, x)`` with ``dP/da`` and ``dP/dx`` anywhere, with PyTorch's edge values (the
    derivatives NaN where ``P`` is)."""
    a, x = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(x, np.float64))
    nan = np.isnan(a) | np.isnan(x) | (a < 0) | (x < 0)
    regular = ~nan & (a > 0) & np.isfinite(a) & np.isfinite(x)
    p = np.where(nan, np.nan, 0.0)
    dp_da, dp_dx = p.copy(), p.copy()
    p = np.where(~nan & (((a == 0) & (x > 0)) | (np.isinf(x) & np.isfinite(a))), 1.0, p)
    if regular.any():
        values, d_a, d_x = regularized_lower_gamma(a[regular], x[regular])
        p[regular], dp_da[regular], dp_dx[regular] = values, d_a, d_x
    return p, dp_da, dp_dx


class _LowerGamma(Function):
    @staticmethod
    def forward(ctx, a, x, upper):
        from graphc.linalg_solvers import _wrap
        arrays = [np.asarray(t.detach().numpy(), np.float64) for t in (a, x)]
        p, dp_da, _ = _p_and_derivatives(*arrays)
        ctx.save_for_backward(a, x)
        ctx.dp_da, ctx.upper = dp_da, upper
        return _wrap(1.0 - p if upper else p, x)

    @staticmethod
    def backward(ctx, grad):
        import graphc
        a, x = ctx.saved_tensors
        sign = -1.0 if ctx.upper else 1.0
        grad_a = grad_x = None
        if ctx.needs_input_grad[0]:
            if autograd.is_grad_enabled():  # (create_graph: a constant would be silently wrong)
                raise AutogradError("gammainc/gammaincc: second derivatives w.r.t. the first "
                                    "argument (a) are not supported")
            grad_a = grad * graphc.tensor(sign * ctx.dp_da, dtype=grad.dtype)
        if ctx.needs_input_grad[1]:
            # x**(a-1) e**-x / Gamma(a), written with graphc ops: it differentiates again; at
            # x = 0 its limit (inf for a < 1, 1 for a = 1, else 0), each branch fed only the
            # values where it is finite
            inside = x > 0
            safe_x = graphc.where(inside, x, 1.0)
            density = graphc.exp((a - 1.0) * graphc.log(safe_x) - safe_x - graphc.lgamma(a))
            at_zero = graphc.where(a < 1, math.inf, graphc.where(a == 1, 1.0, 0.0))
            grad_x = grad * graphc.where(inside, density, at_zero.to(x.dtype)) * sign
        return grad_a, grad_x, None


def _incomplete(name: str, a, x, upper: bool) -> Tensor:
    import graphc
    a, x = graphc.broadcast_tensors(graphc.as_tensor(a), graphc.as_tensor(x))
    if tracing.current() is not None or a.is_traced or x.is_traced:
        raise TraceError(f"{name} (a regularized incomplete gamma function) is not supported "
                         f"inside a compiled function yet: it is evaluated in NumPy, eagerly. "
                         f"Call it outside the compiled function")
    if not (a.dtype.is_float and x.dtype.is_float):
        common = graphc.promote_types(a.dtype, x.dtype)
        if not common.is_float:
            common = graphc.get_default_dtype()
        a, x = a.to(common), x.to(common)
    elif a.dtype != x.dtype:
        common = graphc.promote_types(a.dtype, x.dtype)
        a, x = a.to(common), x.to(common)
    return _LowerGamma.apply(a, x, upper)


def gammainc(input, other) -> Tensor:
    """The regularized lower incomplete gamma function ``P(input, other)``
    (``torch.special.gammainc``, ``torch.igamma``)."""
    return _incomplete("gammainc", input, other, upper=False)


def gammaincc(input, other) -> Tensor:
    """The regularized upper incomplete gamma function ``Q(input, other) = 1 - P``
    (``torch.special.gammaincc``, ``torch.igammac``)."""
    return _incomplete("gammaincc", input, other, upper=True)



def _install() -> None:
    """``x.igamma(other)``, ``x.igammac(other)`` and their in-place forms, as PyTorch's."""
    Tensor.igamma = gammainc
    Tensor.igammac = gammaincc
    Tensor.igamma_ = lambda self, other: self._assign(lambda old: gammainc(old, other))
    Tensor.igammac_ = lambda self, other: self._assign(lambda old: gammaincc(old, other))


_install()

__all__ = ["gammainc", "gammaincc", "regularized_lower_gamma"]
