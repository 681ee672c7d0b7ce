"""``LowRankMultivariateNormal(loc, cov_factor, cov_diag)``
(``torch.distributions.LowRankMultivariateNormal``): a normal distribution of ``n``-vectors
whose covariance is ``W W^T + diag(D)``, ``W`` of shape ``n x m`` with ``m`` typically much
smaller than ``n``.

The log-density and entropy need only the Cholesky factor of the ``m x m`` capacitance
``C = I + W^T D^-1 W`` (Woodbury identity and matrix determinant lemma). As PyTorch, it is
factored when the distribution is made, in LAPACK, eagerly: making one inside a compiled
function raises a TraceError (make it outside and pass its parameters' results in).

    >>> d = LowRankMultivariateNormal(graphc.zeros(2), graphc.tensor([[1.0], [0.0]]),
    ...                               graphc.ones(2))
    >>> d.covariance_matrix.tolist(), d.event_shape
    ([[2.0, 0.0], [0.0, 1.0]], (2,))
"""
from __future__ import annotations

import math

import numpy as np

import graphc
from graphc import linalg
from graphc.distributions import constraints
from graphc.distributions.distribution import Distribution
from graphc.distributions.multivariate_normal import _batch_mv, _solve_lower, batch_mahalanobis
from graphc.distributions.utils import lazy_property
from graphc.tensor import Tensor

__all__ = ["LowRankMultivariateNormal"]


def _with_identity(matrix: Tensor) -> Tensor:
    return matrix + graphc.eye(matrix.shape[-1], dtype=matrix.dtype)


def _batch_capacitance_tril(W: Tensor, D: Tensor) -> Tensor:
    """The Cholesky factor of ``I + W^T D^-1 W`` for batches of ``W`` and vectors ``D``."""
    return linalg.cholesky(_with_identity(graphc.matmul(W.mT / D.unsqueeze(-2), W)))


def _batch_lowrank_logdet(D: Tensor, capacitance_tril: Tensor) -> Tensor:
    """``log |W W^T + D| = log |C| + log |D|`` (matrix determinant lemma)."""
    return (2 * capacitance_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
            + D.log().sum(-1))


def _batch_lowrank_mahalanobis(W: Tensor, D: Tensor, x: Tensor,
                               capacitance_tril: Tensor) -> Tensor:
    """``x^T (W W^T + D)^-1 x`` by Woodbury:
    ``(W W^T + D)^-1 = D^-1 - D^-1 W C^-1 W^T D^-1``."""
    wt_dinv_x = _batch_mv(W.mT / D.unsqueeze(-2), x)
    return (x.pow(2) / D).sum(-1) - batch_mahalanobis(capacitance_tril, wt_dinv_x)


def woodbury_factor(W: Tensor, D: Tensor, capacitance_tril: Tensor) -> Tensor:
    """``A = C_L^-1 W^T D^-1``, so that ``(W W^T + D)^-1 = D^-1 - A^T A``."""
    return _solve_lower(capacitance_tril, W.mT / D.unsqueeze(-2))


def _tensor(value, name: str) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"LowRankMultivariateNormal: `{name}` must be a graphc.Tensor, got "
                        f"{type(value).__name__}")
    return value


class LowRankMultivariateNormal(Distribution):
    """The normal distribution with mean ``loc`` (``batch + (n,)``) and covariance
    ``cov_factor @ cov_factor.mT + diag(cov_diag)`` (``cov_factor``: ``batch + (n, m)``,
    ``cov_diag``: ``batch + (n,)``); ``rsample`` is ``loc + W eps_m + sqrt(D) eps_n``."""
    arg_constraints = {"loc": constraints.real_vector,
                       "cov_factor": constraints.independent(constraints.real, 2),
                       "cov_diag": constraints.independent(constraints.positive, 1)}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, cov_factor, cov_diag, validate_args=None):
        loc = _tensor(loc, "loc")
        cov_factor = _tensor(cov_factor, "cov_factor")
        cov_diag = _tensor(cov_diag, "cov_diag")
        if loc.ndim < 1:
            raise ValueError("loc must be at least one-dimensional.")
        event_shape = tuple(loc.shape[-1:])
        if cov_factor.ndim < 2:
            raise ValueError("cov_factor must be at least two-dimensional, with optional "
                             "leading batch dimensions")
        if tuple(cov_factor.shape[-2:-1]) != event_shape:
            raise ValueError(f"cov_factor must be a batch of matrices with shape "
                             f"{event_shape[0]} x m")
        if tuple(cov_diag.shape[-1:]) != event_shape:
            raise ValueError(f"cov_diag must be a batch of vectors with shape {event_shape}")
        try:
            shape = tuple(np.broadcast_shapes(loc.shape + (1,), tuple(cov_factor.shape),
                                              cov_diag.shape + (1,)))
        except ValueError as error:
            raise ValueError(f"Incompatible batch shapes: loc {tuple(loc.shape)}, cov_factor "
                             f"{tuple(cov_factor.shape)}, cov_diag "
                             f"{tuple(cov_diag.shape)}") from error
        self.loc = loc.expand(shape[:-1])
        self.cov_factor = cov_factor.expand(shape)
        self.cov_diag = cov_diag.expand(shape[:-1])
        self._unbroadcasted_cov_factor = cov_factor
        self._unbroadcasted_cov_diag = cov_diag
        super().__init__(shape[:-2], event_shape, validate_args=validate_args)
        # (after validation: a non-positive cov_diag is a ValueError naming it, not a
        # Cholesky failure)
        self._capacitance_tril = _batch_capacitance_tril(cov_factor, cov_diag)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(LowRankMultivariateNormal, _instance)
        batch_shape = tuple(batch_shape)
        loc_shape = batch_shape + self.event_shape
        new.loc = self.loc.expand(loc_shape)
        new.cov_diag = self.cov_diag.expand(loc_shape)
        new.cov_factor = self.cov_factor.expand(loc_shape + tuple(self.cov_factor.shape[-1:]))
        new._unbroadcasted_cov_factor = self._unbroadcasted_cov_factor
        new._unbroadcasted_cov_diag = self._unbroadcasted_cov_diag
        new._capacitance_tril = self._capacitance_tril
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _matrix_shape(self) -> tuple:
        return self._batch_shape + self._event_shape + self._event_shape

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @lazy_property
    def variance(self):
        return (self._unbroadcasted_cov_factor.pow(2).sum(-1)
                + self._unbroadcasted_cov_diag).expand(self._batch_shape + self._event_shape)

    @lazy_property
    def scale_tril(self):
        # sqrt(D) chol(I + D^-1/2 W W^T D^-1/2), as PyTorch (no cancellation from forming
        # W W^T + D and factoring it directly)
        sqrt_diag = self._unbroadcasted_cov_diag.sqrt().unsqueeze(-1)
        scaled = self._unbroadcasted_cov_factor / sqrt_diag
        inner = linalg.cholesky(_with_identity(graphc.matmul(scaled, scaled.mT)))
        return (sqrt_diag * inner).expand(self._matrix_shape())

    @lazy_property
    def covariance_matrix(self):
        W = self._unbroadcasted_cov_factor
        return (graphc.matmul(W, W.mT) + graphc.diag_embed(self._unbroadcasted_cov_diag)
                ).expand(self._matrix_shape())

    @lazy_property
    def precision_matrix(self):
        # Woodbury: D^-1 - A^T A with A = C_L^-1 W^T D^-1
        A = woodbury_factor(self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag,
                            self._capacitance_tril)
        precision = (graphc.diag_embed(self._unbroadcasted_cov_diag.reciprocal())
                     - graphc.matmul(A.mT, A))
        return precision.expand(self._matrix_shape())

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        w_shape = shape[:-1] + tuple(self.cov_factor.shape[-1:])
        eps_w = graphc.randn(w_shape, dtype=self.loc.dtype)
        eps_d = graphc.randn(shape, dtype=self.loc.dtype)
        return (self.loc + _batch_mv(self._unbroadcasted_cov_factor, eps_w)
                + self._unbroadcasted_cov_diag.sqrt() * eps_d)

    def _log_det(self) -> Tensor:
        return _batch_lowrank_logdet(self._unbroadcasted_cov_diag, self._capacitance_tril)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        m = _batch_lowrank_mahalanobis(self._unbroadcasted_cov_factor,
                                       self._unbroadcasted_cov_diag, value - self.loc,
                                       self._capacitance_tril)
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) + self._log_det() + m)

    def entropy(self):
        h = 0.5 * (self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + self._log_det())
        if len(self._batch_shape) == 0:
            return h
        return h.expand(self._batch_shape)
