"""The NumPy samplers behind the Gamma family, Poisson and Binomial, and the implicit
reparameterization gradient of Gamma samples (from the incomplete gamma function's series,
``graphc/incomplete_gamma.py``, which Gamma's CDF is).

Draws come from a NumPy generator seeded with the next seed of graphc's generator, so
``graphc.manual_seed`` makes them reproducible. They run eagerly: inside a compiled function
they raise ``TraceError`` (the values of a traced tensor are not known while tracing).

- ``standard_gamma(alpha)``: Marsaglia and Tsang's squeeze-rejection method (2000),
  vectorized (every element redraws until it is accepted); ``alpha < 1`` draws
  ``Gamma(alpha + 1) * U ** (1 / alpha)``.
- ``poisson(rate)``, ``binomial(n, p)``: NumPy's (PTRS for rates >= 10, multiplication of
  uniforms below; BTPE for ``n * min(p, 1 - p)`` >= 30, inversion below).
- ``von_mises(loc, concentration)``: Best and Fisher's wrapped-Cauchy rejection method (1979),
  as PyTorch's, vectorized the same way; in float64 whatever the dtype (PyTorch's reason: the
  float32 proposal hangs for tiny concentrations).
- ``standard_gamma_grad(z, alpha)``: ``dz/dalpha`` at fixed ``P(alpha, z)`` (implicit
  reparameterization, Figurnov et al. 2018): ``-(dP/dalpha) / (dP/dz)``. With the series
  ``P = z**a e**-z / Gamma(a + 1) * S``, ``S = sum_n z**n / ((a + 1)...(a + n))``, this is
  ``-(z / a) (S (log z - digamma(a + 1)) + dS/da)``, summed until the terms are below 1e-17 of
  the sum: about 1e-13 relative for samples with ``P(a, z) < 1 - 1e-4``; the right tail
  loses digits to cancellation (``P = 1 - Q``: about ``1e-16 / Q`` relative), which a draw
  reaches with probability ``Q``. Above ``alpha = 1e6`` the Wilson-Hilferty cube
  ``z = a (1 - 1/(9a) + u / (3 sqrt(a)))**3`` is differentiated at fixed ``u`` (7e-7 relative
  there). (PyTorch's ``_standard_gamma_grad`` uses series, asymptotic and rational
  approximations: they differ from this by up to 2e-4 relative, benchmarks/torch_parity.py.)
"""
from __future__ import annotations

import numpy as np

from graphc import autograd, random, tracing
from graphc.autograd_function import Function
from graphc.errors import AutogradError, TraceError
from graphc.incomplete_gamma import digamma_array, lower_gamma_series
from graphc.tensor import Tensor

_LARGE_ALPHA = 1e6


def eager_only(family: str, *tensors) -> None:
    """Sampling from NumPy: refused (``TraceError``) while tracing."""
    if tracing.current() is not None or any(isinstance(t, Tensor) and t.is_traced
                                            for t in tensors):
        raise TraceError(f"{family}.sample/rsample is not supported inside a compiled "
                         f"function yet: its samples come from NumPy, eagerly. Draw them "
                         f"outside the compiled function and pass them in")


def numpy_rng() -> np.random.Generator:
    """A NumPy generator seeded from graphc's (one seed per draw, as ``graphc.poisson``)."""
    seed = random.default_generator.next_seed()
    return np.random.default_rng(np.uint64(seed & 0xFFFFFFFFFFFFFFFF))


def array(tensor: Tensor) -> np.ndarray:
    """A float64 NumPy copy of a tensor's values (no gradient)."""
    from graphc.device import host_array
    return np.asarray(host_array(tensor.detach()._data), dtype=np.float64)


def standard_gamma(alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gamma(alpha, 1) samples, one per element of ``alpha`` (Marsaglia-Tsang)."""
    # C order: ``out.reshape(-1)`` below must be a view to write through (a float32 tensor
    # expanded to a sample shape converts to a float64 array of another layout, whose
    # reshape is a copy: the draws were lost and ``out`` stayed uninitialized)
    alpha = np.array(alpha, dtype=np.float64, order="C")  # (a copy; keeps 0-d arrays 0-d)
    boost = alpha < 1
    a = np.where(boost, alpha + 1.0, alpha)
    d = a - 1.0 / 3.0
    c = 1.0 / np.sqrt(9.0 * d)
    out = np.empty(a.shape)
    todo = np.flatnonzero(np.ones(a.shape, dtype=bool))
    flat_d, flat_c, flat_out = d.reshape(-1), c.reshape(-1), out.reshape(-1)
    while todo.size:
        x = rng.standard_normal(todo.size)
        u = rng.random(todo.size)
        v = (1.0 + flat_c[todo] * x) ** 3
        with np.errstate(invalid="ignore", divide="ignore"):
            log_accept = 0.5 * x * x + flat_d[todo] * (1.0 - v + np.log(v))
        accept = (v > 0) & ((u < 1.0 - 0.0331 * x ** 4) | (np.log(u) < log_accept))
        flat_out[todo[accept]] = flat_d[todo][accept] * v[accept]
        todo = todo[~accept]
    if boost.any():
        # Gamma(a) = Gamma(a + 1) U^(1/a); in logs, as U^(1/a) underflows for tiny a
        u = rng.random(a.shape)
        with np.errstate(divide="ignore"):
            boosted = np.exp(np.log(out) + np.log(u) / np.where(boost, alpha, 1.0))
        out = np.where(boost, boosted, out)
    return np.maximum(out, np.finfo(np.float64).tiny)  # as PyTorch: never exactly 0


def von_mises(loc: np.ndarray, concentration: np.ndarray,
              rng: np.random.Generator) -> np.ndarray:
    """VonMises(loc, concentration) samples in ``[-pi, pi)``, one per element of the
    (broadcast) parameters (Best & Fisher, "Efficient simulation of the von Mises
    distribution", Applied Statistics 28, 1979)."""
    loc, kappa = np.broadcast_arrays(np.asarray(loc, np.float64),
                                     np.asarray(concentration, np.float64))
    tau = 1.0 + np.sqrt(1.0 + 4.0 * kappa ** 2)
    rho = (tau - np.sqrt(2.0 * tau)) / (2.0 * kappa)
    with np.errstate(divide="ignore", invalid="ignore"):
        # (1 + rho^2) / (2 rho) loses everything to rounding below 1e-5: its Taylor series
        r = np.where(kappa < 1e-5, 1.0 / kappa + kappa, (1.0 + rho ** 2) / (2.0 * rho))
    flat_r, flat_kappa = r.reshape(-1), kappa.reshape(-1)
    out = np.empty(flat_r.shape)
    todo = np.arange(flat_r.size)
    while todo.size:
        u1, u2, u3 = rng.random((3, todo.size))
        z = np.cos(np.pi * u1)
        f = (1.0 + flat_r[todo] * z) / (flat_r[todo] + z)
        c = flat_kappa[todo] * (flat_r[todo] - f)
        with np.errstate(divide="ignore"):
            accept = (c * (2.0 - c) - u2 > 0) | (np.log(c / u2) + 1.0 - c >= 0)
        out[todo[accept]] = (np.sign(u3[accept] - 0.5)
                             * np.arccos(np.clip(f[accept], -1.0, 1.0)))
        todo = todo[~accept]
    return np.mod(out.reshape(r.shape) + np.pi + loc, 2 * np.pi) - np.pi


def standard_gamma_grad(z: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``dz/dalpha`` of Gamma(alpha, 1) samples ``z`` at a fixed CDF level (see the module)."""
    z, alpha = np.broadcast_arrays(np.asarray(z, np.float64), np.asarray(alpha, np.float64))
    out = np.empty(z.shape)
    large = alpha > _LARGE_ALPHA
    small = ~large
    if small.any():
        a, x = alpha[small], z[small]
        total, d_total = lower_gamma_series(a, x)
        out[small] = -(x / a) * (total * (np.log(x) - digamma_array(a + 1.0)) + d_total)
    if large.any():
        a, x = alpha[large], z[large]
        root = np.cbrt(x / a)  # 1 - 1/(9a) + u / (3 sqrt(a)) at the sample
        u = (root - 1.0 + 1.0 / (9.0 * a)) * 3.0 * np.sqrt(a)
        d_root = -1.0 / (9.0 * a * a) - u / (6.0 * a * np.sqrt(a))
        out[large] = root ** 3 + 3.0 * a * root ** 2 * d_root
    return out


class _StandardGamma(Function):
    """Gamma(alpha, 1) draws whose gradient w.r.t. ``alpha`` is the implicit
    reparameterization ``dz/dalpha``: first order only, so differentiating it again raises
    (a constant slope would silently answer 0)."""

    @staticmethod
    def forward(ctx, concentration):
        import graphc
        alpha = array(concentration)
        z = standard_gamma(alpha, numpy_rng())
        dtype = concentration.dtype
        ctx.slope = (z, alpha, dtype)
        # float32 samples are rounded from float64 draws; keep them positive after rounding
        tiny = float(graphc.finfo(dtype).tiny)
        return graphc.tensor(np.maximum(z, tiny), dtype=dtype)

    @staticmethod
    def backward(ctx, grad):
        import graphc
        if autograd.is_grad_enabled():  # (create_graph)
            raise AutogradError("second derivatives of Gamma-family samples (rsample) w.r.t. "
                                "the concentration are not supported")
        z, alpha, dtype = ctx.slope
        return grad * graphc.tensor(standard_gamma_grad(z, alpha), dtype=dtype)


def rsample_standard_gamma(concentration: Tensor) -> Tensor:
    """Gamma(concentration, 1) samples of ``concentration``'s shape; their gradient w.r.t.
    ``concentration`` is the implicit reparameterization ``dz/dalpha`` (first order)."""
    return _StandardGamma.apply(concentration)
