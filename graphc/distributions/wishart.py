"""``Wishart(df, covariance_matrix=|precision_matrix=|scale_tril=)``
(``torch.distributions.Wishart``): distributions of ``p x p`` positive definite matrices, the
scatter matrix ``sum_k x_k x_k^T`` of ``df`` normal vectors of covariance ``Sigma`` (``df``
may be any real number above ``p - 1``).

Like :class:`MultivariateNormal`, the Cholesky factor and the triangular solves run in LAPACK
eagerly (TraceError inside a compiled function, except ``rsample``/``mean``/``variance`` with
``scale_tril`` given), and sampling needs the Gamma family's NumPy draws (eager only).

    >>> d = Wishart(graphc.tensor(4.0, dtype=graphc.float64),
    ...             covariance_matrix=graphc.eye(2, dtype=graphc.float64))
    >>> d.mean.tolist(), d.sample((3,)).shape
    ([[4.0, 0.0], [0.0, 4.0]], (3, 2, 2))
"""
from __future__ import annotations

import math

import numpy as np

import graphc
from graphc import linalg
from graphc.distributions import constraints
from graphc.distributions.distribution import Distribution, _values_checkable
from graphc.distributions.exp_family import ExponentialFamily
from graphc.distributions.gamma import Chi2
from graphc.distributions.multivariate_normal import (
    ScaleTrilMatrices,
    _precision_to_scale_tril,
    _solve_lower,
)
from graphc.distributions.utils import is_number
from graphc.tensor import Tensor
from graphc.user_warnings import warn

__all__ = ["Wishart"]

_LOG_2 = math.log(2.0)


def _mvdigamma(x: Tensor, p: int) -> Tensor:
    """The multivariate digamma ``sum_{i<p} digamma(x - i/2)``, the derivative of
    ``mvlgamma(x, p)``."""
    halves = graphc.arange(p, dtype=x.dtype) / 2
    return graphc.digamma(x.unsqueeze(-1) - halves).sum(-1)


class Wishart(ScaleTrilMatrices, ExponentialFamily):
    """The Wishart distribution with ``df`` degrees of freedom and scale ``Sigma``, given by
    exactly one of ``covariance_matrix``, ``precision_matrix`` (its inverse) or ``scale_tril``
    (its Cholesky factor ``L``). ``rsample`` is Bartlett's decomposition ``(L A)(L A)^T``,
    ``A`` lower triangular with ``sqrt(chi2(df - i))`` on its diagonal and standard normals
    below; its gradient w.r.t. ``df`` is the Gamma draws' implicit reparameterization. A
    singular draw (possible for ``p - 1 < df < p``) is redrawn up to ``max_try_correction``
    times, with a warning, as PyTorch."""
    support = constraints.positive_definite
    has_rsample = True

    @property
    def arg_constraints(self) -> dict:  # type: ignore[override]
        return {"covariance_matrix": constraints.positive_definite,
                "precision_matrix": constraints.positive_definite,
                "scale_tril": constraints.lower_cholesky,
                "df": constraints.greater_than(self.event_shape[-1] - 1)}

    def __init__(self, df, covariance_matrix=None, precision_matrix=None, scale_tril=None,
                 validate_args=None):
        given = [(name, value) for name, value in (("covariance_matrix", covariance_matrix),
                                                    ("precision_matrix", precision_matrix),
                                                    ("scale_tril", scale_tril))
                 if value is not None]
        if len(given) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or "
                             "scale_tril may be specified.")
        name, param = given[0]
        if not isinstance(param, Tensor):
            raise TypeError(f"Wishart: {name} must be a graphc.Tensor, got "
                            f"{type(param).__name__}")
        if param.ndim < 2:
            raise ValueError(f"{name} must be at least two-dimensional, with optional "
                             "leading batch dimensions")
        if param.shape[-1] != param.shape[-2]:
            raise ValueError(f"{name} must be a batch of square matrices, got shape "
                             f"{tuple(param.shape)}")
        p = param.shape[-1]
        if is_number(df):
            batch_shape = tuple(param.shape[:-2])
            self.df = graphc.tensor(float(df), dtype=param.dtype)
        elif isinstance(df, Tensor):
            batch_shape = tuple(np.broadcast_shapes(tuple(param.shape[:-2]), tuple(df.shape)))
            self.df = df.expand(batch_shape)
        else:
            raise TypeError(f"Wishart: df must be a number or a graphc.Tensor, got "
                            f"{type(df).__name__}")
        if _values_checkable(self.df):
            if bool((self.df <= p - 1).any().item()):
                raise ValueError(f"Value of df={df} expected to be greater than ndim - 1 = "
                                 f"{p - 1}.")
            if bool((self.df < p).any().item()):
                warn("Low df values detected. Singular samples are highly likely to occur for "
                     "ndim - 1 < df < ndim.")
        setattr(self, name, param.expand(batch_shape + (p, p)))
        super().__init__(batch_shape, (p, p), validate_args=validate_args)
        if scale_tril is not None:
            self._unbroadcasted_scale_tril = scale_tril
        elif covariance_matrix is not None:
            self._unbroadcasted_scale_tril = linalg.cholesky(covariance_matrix)
        else:
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(precision_matrix)
        self._dist_chi2 = self._bartlett_chi2()

    def _bartlett_chi2(self) -> Chi2:
        """The squared diagonal of Bartlett's factor: ``chi2(df - i)``, ``i = 0..p-1``."""
        p = self._event_shape[-1]
        dtype = self._unbroadcasted_scale_tril.dtype
        return Chi2(self.df.unsqueeze(-1) - graphc.arange(p, dtype=dtype), validate_args=False)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Wishart, _instance)
        batch_shape = tuple(batch_shape)
        cov_shape = batch_shape + self.event_shape
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril.expand(cov_shape)
        new.df = self.df.expand(batch_shape)
        for name in ("covariance_matrix", "scale_tril", "precision_matrix"):
            if name in self.__dict__:
                setattr(new, name, getattr(self, name).expand(cov_shape))
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._dist_chi2 = new._bartlett_chi2()
        new._validate_args = self._validate_args
        return new

    def _matrix_shape(self) -> tuple:
        return self._batch_shape + self._event_shape

    def _df_matrix(self) -> Tensor:
        return self.df.reshape(self._batch_shape + (1, 1))

    @property
    def mean(self):
        return self._df_matrix() * self.covariance_matrix

    @property
    def mode(self):
        factor = self.df - self._event_shape[-1] - 1
        factor = graphc.where(factor <= 0, math.nan, factor)  # no mode for df <= p + 1
        return factor.reshape(self._batch_shape + (1, 1)) * self.covariance_matrix

    @property
    def variance(self):
        V = self.covariance_matrix
        diagonal = V.diagonal(dim1=-2, dim2=-1)
        return self._df_matrix() * (V.pow(2) + diagonal.unsqueeze(-1) * diagonal.unsqueeze(-2))

    def _bartlett_sampling(self, sample_shape) -> Tensor:
        p = self._event_shape[-1]
        eps = graphc.finfo(self._unbroadcasted_scale_tril.dtype).eps
        diagonal = self._dist_chi2.rsample(sample_shape).sqrt().clamp(min=eps)
        below = graphc.randn(tuple(sample_shape) + self._batch_shape + (p, p),
                             dtype=diagonal.dtype).tril(-1)
        chol = graphc.matmul(self._unbroadcasted_scale_tril, below + graphc.diag_embed(diagonal))
        return graphc.matmul(chol, chol.mT)

    def rsample(self, sample_shape=(), max_try_correction=None):
        """Samples by Bartlett's decomposition; a singular draw is redrawn up to
        ``max_try_correction`` (default 10) times and may remain singular after them (its
        ``log_prob`` is then ``-inf``)."""
        sample_shape = (sample_shape,) if isinstance(sample_shape, int) else tuple(sample_shape)
        tries = 10 if max_try_correction is None else max_try_correction
        sample = self._bartlett_sampling(sample_shape)
        singular = ~self.support.check(sample.detach())
        if bool(singular.any().item()):
            warn("Singular sample detected.")
            for _ in range(tries):
                fresh = self._bartlett_sampling(sample_shape)
                sample = graphc.where(singular.reshape(tuple(singular.shape) + (1, 1)),
                                      fresh, sample)
                singular = ~self.support.check(sample.detach())
                if not bool(singular.any().item()):
                    break
        return sample

    def _half_log_det_scale(self) -> Tensor:
        """``p log(2) / 2 + log |L|``."""
        p = self._event_shape[-1]
        lower = self._unbroadcasted_scale_tril
        return p * _LOG_2 / 2 + lower.diagonal(dim1=-2, dim2=-1).log().sum(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        nu = self.df
        p = self._event_shape[-1]
        lower = self._unbroadcasted_scale_tril
        # trace(Sigma^-1 X) = trace(L^-1 X L^-T)
        whitened = _solve_lower(lower, _solve_lower(lower, value).mT)
        trace = whitened.diagonal(dim1=-2, dim2=-1).sum(-1)
        return (-nu * self._half_log_det_scale() - graphc.mvlgamma(nu / 2, p)
                + (nu - p - 1) / 2 * linalg.slogdet(value).logabsdet - trace / 2)

    def entropy(self):
        nu = self.df
        p = self._event_shape[-1]
        return ((p + 1) * self._half_log_det_scale() + graphc.mvlgamma(nu / 2, p)
                - (nu - p - 1) / 2 * _mvdigamma(nu / 2, p) + nu * p / 2)

    # exponential family: theta = (-precision / 2, (df - p - 1) / 2),
    # F = (theta2 + (p + 1)/2) (p log 2 - log|-2 theta1|) + mvlgamma(theta2 + (p + 1)/2, p)
    _mean_carrier_measure = 0

    @property
    def _natural_params(self):
        p = self._event_shape[-1]
        return (-self.precision_matrix / 2, (self.df - p - 1) / 2)

    def _log_normalizer(self, x, y):
        p = self._event_shape[-1]
        half = y + (p + 1) / 2
        return (half * (-linalg.slogdet(-2 * x).logabsdet + _LOG_2 * p)
                + graphc.mvlgamma(half, p))
