"""The transforms of ``torch.distributions.transforms`` beyond the elementwise ones of
``transforms.py``: ``SoftplusTransform`` and ``CumulativeDistributionTransform`` (elementwise),
and those acting on whole events: ``IndependentTransform``, ``ReshapeTransform``,
``SoftmaxTransform``, ``StickBreakingTransform`` (``R^(K-1)`` onto the ``K``-simplex),
``LowerCholeskyTransform``, ``PositiveDefiniteTransform``, ``CorrCholeskyTransform``
(``R^(D(D-1)/2)`` onto Cholesky factors of correlation matrices), and ``CatTransform`` /
``StackTransform`` (other transforms on slices of one tensor). All are re-exported by
``graphc.distributions.transforms``.

    >>> t = StickBreakingTransform()
    >>> y = t(graphc.zeros(2, dtype=graphc.float64))
    >>> [round(v, 6) for v in y.tolist()], round(t.inv(y).abs().max().item(), 12)
    ([0.333333, 0.333333, 0.333333], 0.0)
"""
from __future__ import annotations

import math

import numpy as np

import graphc
import graphc.nn.functional as F
from graphc import linalg
from graphc.distributions import constraints
from graphc.distributions.transforms import Transform
from graphc.distributions.utils import sum_rightmost
from graphc.tensor import Tensor

__all__ = ["CatTransform", "CorrCholeskyTransform", "CumulativeDistributionTransform", "IndependentTransform",
           "LowerCholeskyTransform", "PositiveDefiniteTransform", "ReshapeTransform",
           "SoftmaxTransform", "SoftplusTransform", "StackTransform", "StickBreakingTransform"]


def _same_type(self, other) -> bool:
    return type(other) is type(self)


class SoftplusTransform(Transform):
    """``y = log(1 + exp(x))``, onto the positive reals."""
    domain = constraints.real
    codomain = constraints.positive
    bijective = True
    sign = +1
    __eq__ = _same_type
    __hash__ = object.__hash__

    def _call(self, x):
        return F.softplus(x)

    def _inverse(self, y):
        return y + (-(-y).expm1()).log()  # log(exp(y) - 1) without overflow

    def log_abs_det_jacobian(self, x, y):
        return -F.softplus(-x)


class CumulativeDistributionTransform(Transform):
    """``y = distribution.cdf(x)``: a distribution's support onto ``[0, 1]``; its inverse is
    the ``icdf`` and ``log |dy/dx|`` the ``log_prob``."""
    bijective = True
    codomain = constraints.unit_interval
    sign = +1

    def __init__(self, distribution, cache_size: int = 0):
        super().__init__(cache_size=cache_size)
        self.distribution = distribution

    @property
    def domain(self):  # type: ignore[override]
        return self.distribution.support

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return CumulativeDistributionTransform(self.distribution, cache_size=cache_size)

    def _call(self, x):
        return self.distribution.cdf(x)

    def _inverse(self, y):
        return self.distribution.icdf(y)

    def log_abs_det_jacobian(self, x, y):
        return self.distribution.log_prob(x)


class IndependentTransform(Transform):
    """``base_transform`` with its ``reinterpreted_batch_ndims`` rightmost dimensions read as
    part of the event: the log-determinant sums over them."""

    def __init__(self, base_transform: Transform, reinterpreted_batch_ndims: int,
                 cache_size: int = 0):
        super().__init__(cache_size=cache_size)
        self.base_transform = base_transform.with_cache(cache_size)
        self.reinterpreted_batch_ndims = reinterpreted_batch_ndims

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return IndependentTransform(self.base_transform, self.reinterpreted_batch_ndims,
                                    cache_size=cache_size)

    @constraints.dependent_property(is_discrete=False)
    def domain(self):
        return constraints.independent(self.base_transform.domain,
                                       self.reinterpreted_batch_ndims)

    @constraints.dependent_property(is_discrete=False)
    def codomain(self):
        return constraints.independent(self.base_transform.codomain,
                                       self.reinterpreted_batch_ndims)

    @property
    def bijective(self):  # type: ignore[override]
        return self.base_transform.bijective

    @property
    def sign(self):
        return self.base_transform.sign

    def _call(self, x):
        if x.ndim < self.domain.event_dim:
            raise ValueError("Too few dimensions on input")
        return self.base_transform(x)

    def _inverse(self, y):
        if y.ndim < self.codomain.event_dim:
            raise ValueError("Too few dimensions on input")
        return self.base_transform.inv(y)

    def log_abs_det_jacobian(self, x, y):
        return sum_rightmost(self.base_transform.log_abs_det_jacobian(x, y),
                             self.reinterpreted_batch_ndims)

    def forward_shape(self, shape) -> tuple:
        return self.base_transform.forward_shape(shape)

    def inverse_shape(self, shape) -> tuple:
        return self.base_transform.inverse_shape(shape)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.base_transform!r}, "
                f"{self.reinterpreted_batch_ndims})")


def _cut_shape(shape, event_shape: tuple, name: str) -> tuple:
    """``shape`` less its trailing ``event_shape`` (the batch), checked."""
    shape = tuple(shape)
    if len(shape) < len(event_shape):
        raise ValueError("Too few dimensions on input")
    cut = len(shape) - len(event_shape)
    if shape[cut:] != event_shape:
        raise ValueError(f"Shape mismatch: expected {shape[cut:]} but got {event_shape} "
                         f"({name})")
    return shape[:cut]


class ReshapeTransform(Transform):
    """Events of ``in_shape`` reshaped to ``out_shape`` (same number of elements); the
    log-determinant is 0."""
    bijective = True

    def __init__(self, in_shape, out_shape, cache_size: int = 0):
        self.in_shape = tuple(int(s) for s in in_shape)
        self.out_shape = tuple(int(s) for s in out_shape)
        if math.prod(self.in_shape) != math.prod(self.out_shape):
            raise ValueError("in_shape, out_shape have different numbers of elements")
        super().__init__(cache_size=cache_size)

    @constraints.dependent_property
    def domain(self):
        return constraints.independent(constraints.real, len(self.in_shape))

    @constraints.dependent_property
    def codomain(self):
        return constraints.independent(constraints.real, len(self.out_shape))

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return ReshapeTransform(self.in_shape, self.out_shape, cache_size=cache_size)

    def _call(self, x):
        return x.reshape(tuple(x.shape[:x.ndim - len(self.in_shape)]) + self.out_shape)

    def _inverse(self, y):
        return y.reshape(tuple(y.shape[:y.ndim - len(self.out_shape)]) + self.in_shape)

    def log_abs_det_jacobian(self, x, y):
        return graphc.zeros(tuple(x.shape[:x.ndim - len(self.in_shape)]), dtype=x.dtype)

    def forward_shape(self, shape) -> tuple:
        return _cut_shape(shape, self.in_shape, "in_shape") + self.out_shape

    def inverse_shape(self, shape) -> tuple:
        return _cut_shape(shape, self.out_shape, "out_shape") + self.in_shape


def _vector_event(shape) -> tuple:
    if len(shape) < 1:
        raise ValueError("Too few dimensions on input")
    return tuple(shape)


class SoftmaxTransform(Transform):
    """``y = softmax(x)`` over the last dimension, onto the simplex. Not bijective (adding a
    constant to ``x`` changes nothing): its inverse is ``log(y)``, one of the preimages, and
    it has no log-determinant, as PyTorch."""
    domain = constraints.real_vector
    codomain = constraints.simplex
    __eq__ = _same_type
    __hash__ = object.__hash__

    def _call(self, x):
        return x.softmax(-1)

    def _inverse(self, y):
        return y.log()

    def forward_shape(self, shape) -> tuple:
        return _vector_event(shape)

    def inverse_shape(self, shape) -> tuple:
        return _vector_event(shape)


def _stick_offsets(k: int, dtype) -> Tensor:
    """``log(K - i)``, ``i = 0..K-2``: shifts that make ``x = 0`` the simplex's center."""
    return graphc.arange(k, 0, -1, dtype=dtype).log()


class StickBreakingTransform(Transform):
    """``R^(K-1)`` onto the ``K``-simplex by stick breaking: ``z_i = sigmoid(x_i -
    log(K - 1 - i))`` is the fraction of the remaining stick given to category ``i``, the last
    category gets the rest. Bijective, with its log-determinant (w.r.t. the first ``K - 1``
    coordinates of ``y``)."""
    domain = constraints.real_vector
    codomain = constraints.simplex
    bijective = True
    __eq__ = _same_type
    __hash__ = object.__hash__

    def _call(self, x):
        z = (x - _stick_offsets(x.shape[-1], x.dtype)).sigmoid()
        finfo = graphc.finfo(x.dtype)
        z = z.clamp(min=finfo.tiny, max=1 - finfo.eps)  # (as PyTorch: no empty sticks)
        remaining = (1 - z).cumprod(-1)
        return F.pad(z, (0, 1), value=1.0) * F.pad(remaining, (1, 0), value=1.0)

    def _inverse(self, y):
        head = y[..., :-1]
        left = (1 - head.cumsum(-1)).clamp(min=graphc.finfo(y.dtype).tiny)
        return head.log() - left.log() + _stick_offsets(head.shape[-1], y.dtype)

    def log_abs_det_jacobian(self, x, y):
        shifted = x - _stick_offsets(x.shape[-1], x.dtype)
        return (-shifted + F.logsigmoid(shifted) + y[..., :-1].log()).sum(-1)

    def forward_shape(self, shape) -> tuple:
        shape = _vector_event(shape)
        return shape[:-1] + (shape[-1] + 1,)

    def inverse_shape(self, shape) -> tuple:
        shape = _vector_event(shape)
        return shape[:-1] + (shape[-1] - 1,)


class LowerCholeskyTransform(Transform):
    """Unconstrained square matrices onto lower-triangular ones with a positive diagonal:
    the strictly lower part kept, the diagonal exponentiated (the upper part dropped: not
    bijective, no log-determinant, as PyTorch)."""
    domain = constraints.independent(constraints.real, 2)
    codomain = constraints.lower_cholesky
    __eq__ = _same_type
    __hash__ = object.__hash__

    def _call(self, x):
        return x.tril(-1) + graphc.diag_embed(x.diagonal(dim1=-2, dim2=-1).exp())

    def _inverse(self, y):
        return y.tril(-1) + graphc.diag_embed(y.diagonal(dim1=-2, dim2=-1).log())


class PositiveDefiniteTransform(Transform):
    """Unconstrained square matrices onto positive definite ones: ``L L^T`` of
    ``LowerCholeskyTransform()(x)`` (its inverse factors in LAPACK, eagerly)."""
    domain = constraints.independent(constraints.real, 2)
    codomain = constraints.positive_definite
    __eq__ = _same_type
    __hash__ = object.__hash__

    def _call(self, x):
        lower = LowerCholeskyTransform()(x)
        return graphc.matmul(lower, lower.mT)

    def _inverse(self, y):
        return LowerCholeskyTransform().inv(linalg.cholesky(y))


def _tril_positions(d: int, offset: int) -> Tensor:
    """Flat positions (in a ``d x d`` matrix, row-major) of the lower triangle below
    diagonal ``offset``, in ``torch.tril_indices`` order."""
    rows, cols = np.tril_indices(d, offset)
    return graphc.tensor(rows * d + cols, dtype=graphc.int64)


def _tril_to_vector(matrix: Tensor, offset: int) -> Tensor:
    d = matrix.shape[-1]
    flat = matrix.reshape(tuple(matrix.shape[:-2]) + (d * d,))
    return flat.index_select(-1, _tril_positions(d, offset))


def _vector_to_strict_tril(vector: Tensor, d: int) -> Tensor:
    """A ``d x d`` matrix with ``vector`` in its strictly lower triangle, zeros elsewhere."""
    index = np.full(d * d, vector.shape[-1], dtype=np.int64)  # (the appended zero)
    rows, cols = np.tril_indices(d, -1)
    index[rows * d + cols] = np.arange(len(rows))
    padded = F.pad(vector, (0, 1), value=0.0)
    flat = padded.index_select(-1, graphc.tensor(index, dtype=graphc.int64))
    return flat.reshape(tuple(vector.shape[:-1]) + (d, d))


def _corr_dimension(n: int) -> int:
    d = round((0.25 + 2 * n) ** 0.5 + 0.5)
    if d * (d - 1) // 2 != n:
        raise ValueError("Input is not a flattened lower-diagonal number")
    return d


class CorrCholeskyTransform(Transform):
    """``R^(D(D-1)/2)`` onto lower Cholesky factors of ``D x D`` correlation matrices
    (``constraints.corr_cholesky``), as PyTorch's (Stan's): ``tanh`` of the vector gives
    partial correlations in ``(-1, 1)``, filled row by row into the strict lower triangle,
    and each row is stick-broken so it has unit norm with a positive diagonal."""
    domain = constraints.real_vector
    codomain = constraints.corr_cholesky
    bijective = True
    __eq__ = _same_type
    __hash__ = object.__hash__

    def _call(self, x):
        eps = graphc.finfo(x.dtype).eps
        partial = x.tanh().clamp(min=-1 + eps, max=1 - eps)
        d = _corr_dimension(x.shape[-1])
        r = _vector_to_strict_tril(partial, d)
        remaining = (1 - r.pow(2)).sqrt().cumprod(-1)  # sqrt of each row's unused norm
        r = r + graphc.eye(d, dtype=x.dtype)
        return r * F.pad(remaining[..., :-1], (1, 0), value=1.0)

    def _inverse(self, y):
        left = 1 - (y * y).cumsum(-1)
        left_before = F.pad(left[..., :-1], (1, 0), value=1.0)
        t = _tril_to_vector(y, -1) / _tril_to_vector(left_before, -1).sqrt()
        return (t.log1p() - (-t).log1p()) / 2  # atanh

    def log_abs_det_jacobian(self, x, y):
        left = 1 - (y * y).cumsum(-1)
        stick_breaking = 0.5 * _tril_to_vector(left, -2).log().sum(-1)
        # log(1 - tanh(x)^2) = 2 (log 2 - x - softplus(-2x))
        tanh = -2 * (x + F.softplus(-2 * x) - math.log(2.0)).sum(-1)
        return stick_breaking + tanh

    def forward_shape(self, shape) -> tuple:
        shape = _vector_event(shape)
        d = _corr_dimension(shape[-1])
        return shape[:-1] + (d, d)

    def inverse_shape(self, shape) -> tuple:
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError("Too few dimensions on input")
        if shape[-2] != shape[-1]:
            raise ValueError("Input is not square")
        d = shape[-1]
        return shape[:-2] + (d * (d - 1) // 2,)


def _check_transforms(tseq) -> list:
    if not all(isinstance(t, Transform) for t in tseq):
        raise TypeError("All elements of tseq must be Transform instances")
    return list(tseq)


class CatTransform(Transform):
    """The transforms ``tseq`` on consecutive slices of ``lengths`` (default 1 each) along
    ``dim``, as ``torch.cat`` joins them; the log-determinants are joined the same way (or
    summed, where ``dim`` lies inside the event)."""

    def __init__(self, tseq, dim: int = 0, lengths=None, cache_size: int = 0):
        tseq = _check_transforms(tseq)
        if cache_size:
            tseq = [t.with_cache(cache_size) for t in tseq]
        super().__init__(cache_size=cache_size)
        self.transforms = tseq
        self.lengths = [1] * len(tseq) if lengths is None else list(lengths)
        if len(self.lengths) != len(self.transforms):
            raise ValueError(f"lengths ({len(self.lengths)}) must match transforms "
                             f"({len(self.transforms)})")
        self.dim = dim

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        return max(t.event_dim for t in self.transforms)

    @property
    def length(self) -> int:
        return sum(self.lengths)

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return CatTransform(self.transforms, self.dim, self.lengths, cache_size)

    def _slices(self, value, name: str):
        if not -value.ndim <= self.dim < value.ndim:
            raise ValueError(f"dim {self.dim} out of range for {name} with {value.ndim} "
                             "dimensions")
        if value.shape[self.dim] != self.length:
            raise ValueError(f"{name}.size({self.dim}) = {value.shape[self.dim]} must equal "
                             f"length {self.length}")
        start = 0
        for length in self.lengths:
            yield value.narrow(self.dim, start, length)
            start += length

    def _call(self, x):
        return graphc.cat([t(part) for t, part in zip(self.transforms, self._slices(x, "x"))],
                          self.dim)

    def _inverse(self, y):
        return graphc.cat([t.inv(part)
                           for t, part in zip(self.transforms, self._slices(y, "y"))], self.dim)

    def log_abs_det_jacobian(self, x, y):
        terms = []
        for t, xs, ys in zip(self.transforms, self._slices(x, "x"), self._slices(y, "y")):
            terms.append(sum_rightmost(t.log_abs_det_jacobian(xs, ys),
                                       self.event_dim - t.event_dim))
        dim = (self.dim - x.ndim if self.dim >= 0 else self.dim) + self.event_dim
        if dim < 0:  # (dim is a batch dimension of the log-determinant)
            return graphc.cat(terms, dim)
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return total

    @property
    def bijective(self):  # type: ignore[override]
        return all(t.bijective for t in self.transforms)

    @constraints.dependent_property
    def domain(self):
        return constraints.cat([t.domain for t in self.transforms], self.dim, self.lengths)

    @constraints.dependent_property
    def codomain(self):
        return constraints.cat([t.codomain for t in self.transforms], self.dim, self.lengths)


class StackTransform(Transform):
    """The transforms ``tseq`` on the slices ``x.select(dim, i)``, as ``torch.stack`` joins
    them (the log-determinants stacked along ``dim``)."""

    def __init__(self, tseq, dim: int = 0, cache_size: int = 0):
        tseq = _check_transforms(tseq)
        if cache_size:
            tseq = [t.with_cache(cache_size) for t in tseq]
        super().__init__(cache_size=cache_size)
        self.transforms = tseq
        self.dim = dim

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return StackTransform(self.transforms, self.dim, cache_size)

    def _slices(self, value, name: str) -> list:
        if not -value.ndim <= self.dim < value.ndim:
            raise ValueError(f"dim {self.dim} out of range for {name} with {value.ndim} "
                             "dimensions")
        if value.shape[self.dim] != len(self.transforms):
            raise ValueError(f"{name}.size({self.dim}) = {value.shape[self.dim]} must equal "
                             f"len(transforms) {len(self.transforms)}")
        return [value.select(self.dim, i) for i in range(value.shape[self.dim])]

    def _call(self, x):
        return graphc.stack([t(part) for t, part in zip(self.transforms, self._slices(x, "x"))],
                            self.dim)

    def _inverse(self, y):
        return graphc.stack([t.inv(part)
                             for t, part in zip(self.transforms, self._slices(y, "y"))],
                            self.dim)

    def log_abs_det_jacobian(self, x, y):
        return graphc.stack([t.log_abs_det_jacobian(xs, ys) for t, xs, ys in
                             zip(self.transforms, self._slices(x, "x"), self._slices(y, "y"))],
                            self.dim)

    @property
    def bijective(self):  # type: ignore[override]
        return all(t.bijective for t in self.transforms)

    @constraints.dependent_property
    def domain(self):
        return constraints.stack([t.domain for t in self.transforms], self.dim)

    @constraints.dependent_property
    def codomain(self):
        return constraints.stack([t.codomain for t in self.transforms], self.dim)
