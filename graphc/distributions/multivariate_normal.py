"""``MultivariateNormal(loc, covariance_matrix=|precision_matrix=|scale_tril=)``
(``torch.distributions.MultivariateNormal``).

The Cholesky factor and the triangular solves run in LAPACK, eagerly
(``graphc.linalg.cholesky``/``solve``): inside a compiled function they raise a TraceError
unless ``scale_tril`` is given and only ``rsample``/``mean``/``variance`` are used.

    >>> d = MultivariateNormal(graphc.zeros(2), covariance_matrix=graphc.eye(2))
    >>> round(d.log_prob(graphc.zeros(2)).item(), 6), d.event_shape
    (-1.837877, (2,))
"""
from __future__ import annotations

import math

import numpy as np

import graphc
from graphc import linalg
from graphc.distributions import constraints
from graphc.distributions.distribution import Distribution
from graphc.distributions.utils import lazy_property
from graphc.tensor import Tensor

__all__ = ["MultivariateNormal"]


def _batch_mv(matrices: Tensor, vectors: Tensor) -> Tensor:
    return graphc.matmul(matrices, vectors.unsqueeze(-1)).squeeze(-1)


def _solve_lower(lower: Tensor, rhs: Tensor) -> Tensor:
    """``L^-1 rhs`` for lower-triangular ``L`` broadcast against the batch of ``rhs`` (a batch
    of matrices, ``rhs`` with the same trailing ``n``), through ``linalg.solve``."""
    batch = tuple(np.broadcast_shapes(lower.shape[:-2], rhs.shape[:-2]))
    n = lower.shape[-1]
    return linalg.solve(lower.expand(batch + (n, n)), rhs.expand(batch + rhs.shape[-2:]))


def batch_mahalanobis(lower: Tensor, x: Tensor) -> Tensor:
    """``x^T (L L^T)^-1 x`` for each vector of ``x``, ``L`` broadcast over its batch."""
    solved = _solve_lower(lower, x.unsqueeze(-1))
    return solved.pow(2).sum((-2, -1))


def _precision_to_scale_tril(precision: Tensor) -> Tensor:
    # PyTorch's way (and its rounding): the Cholesky factor of the flipped precision, flipped
    # back, is the inverse transpose of the covariance's factor
    flipped = linalg.cholesky(graphc.flip(precision, (-2, -1)))
    lower_inverse = graphc.flip(flipped, (-2, -1)).mT
    identity = graphc.eye(precision.shape[-1], dtype=precision.dtype)
    return _solve_lower(lower_inverse, identity)


class ScaleTrilMatrices:
    """The three parametrizations of a scale from its Cholesky factor
    ``_unbroadcasted_scale_tril``, each computed on first use and expanded to
    ``_matrix_shape()`` (MultivariateNormal, Wishart)."""

    @lazy_property
    def scale_tril(self):
        return self._unbroadcasted_scale_tril.expand(self._matrix_shape())

    @lazy_property
    def covariance_matrix(self):
        lower = self._unbroadcasted_scale_tril
        return graphc.matmul(lower, lower.mT).expand(self._matrix_shape())

    @lazy_property
    def precision_matrix(self):
        lower = self._unbroadcasted_scale_tril
        lower_inverse = _solve_lower(lower, graphc.eye(lower.shape[-1], dtype=lower.dtype))
        return graphc.matmul(lower_inverse.mT, lower_inverse).expand(self._matrix_shape())


def _matrix(value, name: str, description: str) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"MultivariateNormal: {name} must be a graphc.Tensor, got "
                        f"{type(value).__name__}")
    if value.ndim < 2:
        raise ValueError(f"{description} must be at least two-dimensional, with optional "
                         "leading batch dimensions")
    return value


class MultivariateNormal(ScaleTrilMatrices, Distribution):
    """The normal distribution of vectors with mean ``loc`` and a covariance given by exactly
    one of ``covariance_matrix``, ``precision_matrix`` (its inverse) or ``scale_tril`` (its
    lower Cholesky factor); ``rsample`` is ``loc + scale_tril @ eps``."""
    arg_constraints = {"loc": constraints.real_vector,
                       "covariance_matrix": constraints.positive_definite,
                       "precision_matrix": constraints.positive_definite,
                       "scale_tril": constraints.lower_cholesky}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, covariance_matrix=None, precision_matrix=None, scale_tril=None,
                 validate_args=None):
        if not isinstance(loc, Tensor):
            raise TypeError(f"MultivariateNormal: loc must be a graphc.Tensor, got "
                            f"{type(loc).__name__}")
        if loc.ndim < 1:
            raise ValueError("loc must be at least one-dimensional.")
        given = [m is not None for m in (covariance_matrix, precision_matrix, scale_tril)]
        if sum(given) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or "
                             "scale_tril may be specified.")
        if scale_tril is not None:
            matrix = _matrix(scale_tril, "scale_tril", "scale_tril matrix")
        elif covariance_matrix is not None:
            matrix = _matrix(covariance_matrix, "covariance_matrix", "covariance_matrix")
        else:
            matrix = _matrix(precision_matrix, "precision_matrix", "precision_matrix")
        batch_shape = tuple(np.broadcast_shapes(matrix.shape[:-2], loc.shape[:-1]))
        n = matrix.shape[-1]
        expanded = matrix.expand(batch_shape + (n, n))
        if scale_tril is not None:
            self.scale_tril = expanded
        elif covariance_matrix is not None:
            self.covariance_matrix = expanded
        else:
            self.precision_matrix = expanded
        self.loc = loc.expand(batch_shape + (loc.shape[-1],))
        super().__init__(batch_shape, self.loc.shape[-1:], validate_args=validate_args)
        if scale_tril is not None:
            self._unbroadcasted_scale_tril = scale_tril
        elif covariance_matrix is not None:
            self._unbroadcasted_scale_tril = linalg.cholesky(covariance_matrix)
        else:
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(precision_matrix)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(MultivariateNormal, _instance)
        batch_shape = tuple(batch_shape)
        cov_shape = batch_shape + self.event_shape + self.event_shape
        new.loc = self.loc.expand(batch_shape + self.event_shape)
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril
        for name in ("covariance_matrix", "scale_tril", "precision_matrix"):
            if name in self.__dict__:
                setattr(new, name, getattr(self, name).expand(cov_shape))
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

    @property
    def variance(self):
        return self._unbroadcasted_scale_tril.pow(2).sum(-1).expand(
            self._batch_shape + self._event_shape)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        eps = graphc.randn(shape, dtype=self.loc.dtype)
        return self.loc + _batch_mv(self._unbroadcasted_scale_tril, eps)

    def _half_log_det(self) -> Tensor:
        return self._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        diff = value - self.loc
        m = batch_mahalanobis(self._unbroadcasted_scale_tril, diff)
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) + m) - self._half_log_det()

    def entropy(self):
        h = 0.5 * self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + self._half_log_det()
        if len(self._batch_shape) == 0:
            return h
        return h.expand(self._batch_shape)
