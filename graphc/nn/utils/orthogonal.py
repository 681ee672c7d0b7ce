"""The orthogonal parametrization (``torch.nn.utils.parametrizations.orthogonal``): a matrix
exponential, a Cayley map or a product of Householder reflectors of the original (graphc.linalg's
``matrix_exp`` and ``householder_product`` compile: so does a parametrized module, but for the
Cayley map's solve).

    >>> import graphc
    >>> from graphc.nn.utils.parametrizations import orthogonal
    >>> layer = orthogonal(graphc.nn.Linear(3, 3))
    >>> w = layer.weight
    >>> bool(((w.T @ w - graphc.eye(3)).abs() < 1e-5).all())
    True
"""
from __future__ import annotations

from enum import Enum, auto

import numpy as np

from graphc import autograd, tracing
from graphc import functions as F
from graphc.factories import eye, randn
from graphc.linalg_more import householder_product, matrix_exp
from graphc.nn.module import Module
from graphc.tensor import Tensor


def _qr_raw(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LAPACK's ``geqrf`` of each matrix of ``A`` (``torch.geqrf``): the reflectors below the
    diagonal with R on and above it, and the reflectors' scales."""
    batch = A.shape[:-2]
    flat = A.reshape((-1,) + A.shape[-2:])
    pieces = [np.linalg.qr(m, mode="raw") for m in flat]
    h = np.stack([p[0].T for p in pieces]) if pieces else np.zeros_like(flat)
    tau = np.stack([p[1] for p in pieces]) if pieces else np.zeros(flat.shape[:-1])
    return h.reshape(A.shape), tau.reshape(batch + tau.shape[-1:])


def _make_orthogonal(A: np.ndarray) -> np.ndarray:
    """The Q of A's QR decomposition, its columns' signs those of R's diagonal (so Q is A
    itself when A is already orthogonal, up to rounding)."""
    q, r = np.linalg.qr(A)
    return q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]


def _is_orthogonal(Q: np.ndarray) -> bool:
    n, k = Q.shape[-2], Q.shape[-1]
    eps = 10.0 * n * np.finfo(Q.dtype).eps
    return bool(np.allclose(np.swapaxes(Q, -1, -2) @ Q, np.eye(k), atol=eps))


class _OrthMaps(Enum):
    matrix_exp = auto()
    cayley = auto()
    householder = auto()


class _Orthogonal(Module):
    """Maps an unconstrained matrix to an orthogonal one (``Q^T Q = I``, or ``Q Q^T = I`` for
    wide ones): the exponential or Cayley transform of its skew-symmetric part, or a product of
    Householder reflectors; with trivialization, times the buffer ``base`` (the orthogonalized
    initial weight), the original starting at the point that maps to the identity."""

    def __init__(self, weight: Tensor, orthogonal_map: _OrthMaps, *,
                 use_trivialization: bool = True) -> None:
        super().__init__()
        self.shape = tuple(weight.shape)
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, X: Tensor) -> Tensor:
        n, k = X.shape[-2], X.shape[-1]
        transposed = n < k
        if transposed:
            X = X.mT
            n, k = k, n
        if self.orthogonal_map in (_OrthMaps.matrix_exp, _OrthMaps.cayley):
            X = X.tril()
            if n != k:
                pad = F.broadcast_to(X[..., :1] * 0.0, list(X.shape[:-1]) + [n - k])
                X = F.cat([X, pad], dim=-1)
            A = X - X.mT
            if self.orthogonal_map == _OrthMaps.matrix_exp:
                Q = matrix_exp(A)
            else:
                from graphc.linalg_solvers import solve
                identity = eye(n, dtype=A.dtype)
                Q = solve(identity - 0.5 * A, identity + 0.5 * A)
            if n != k:
                Q = Q[..., :k]
        else:
            A = X.tril(-1)
            tau = 2.0 / (1.0 + (A * A).sum(-2))
            Q = householder_product(A, tau)
            # (PyTorch multiplies by the diagonal cast to int: truncated, no gradient)
            Q = Q * X.diagonal(dim1=-2, dim2=-1).detach().trunc().unsqueeze(-2)
        if "base" in self._buffers:
            Q = self.base @ Q
        return Q.mT if transposed else Q

    def right_inverse(self, Q: Tensor) -> Tensor:
        """The original that maps to ``Q`` (assigning ``module.weight = Q``): with
        trivialization, ``base`` becomes Q orthogonalized (completed to a square matrix with
        random columns when Q is not square) and the original the point that maps to the
        identity; without, the Householder reflectors of Q's QR decomposition."""
        if tracing.current() is not None or Q.is_traced:
            raise tracing.TraceError("orthogonal: assigning the weight of an orthogonal "
                                     "parametrization runs a QR decomposition eagerly; do it "
                                     "outside the compiled function")
        if tuple(Q.shape) != self.shape:
            raise ValueError(f"Expected a matrix or batch of matrices of shape {self.shape}. "
                             f"Got a tensor of shape {tuple(Q.shape)}.")
        with autograd.no_grad():
            values = np.asarray(Q.detach().numpy())
            n, k = values.shape[-2], values.shape[-1]
            transpose = n < k
            if transpose:
                values = np.swapaxes(values, -1, -2)
                n, k = k, n
            if "base" not in self._buffers:
                if self.orthogonal_map in (_OrthMaps.cayley, _OrthMaps.matrix_exp):
                    raise NotImplementedError("It is not possible to assign to the matrix "
                                              "exponential or the Cayley parametrizations when "
                                              "use_trivialization=False.")
                h, tau = _qr_raw(values)
                diag = np.sign(np.diagonal(h, axis1=-2, axis2=-1))
                diag = np.where(tau == 0.0, -diag, diag)
                idx = np.arange(k)
                h[..., idx, idx] = diag
                h = np.swapaxes(h, -1, -2) if transpose else h
                return Tensor._wrap(np.ascontiguousarray(h, dtype=Q.dtype.numpy))
            if n == k:
                base = values.copy() if _is_orthogonal(values) else _make_orthogonal(values)
            else:
                extra = randn(*(values.shape[:-2] + (n, n - k)), dtype=Q.dtype).numpy()
                base = _make_orthogonal(np.concatenate([values, extra], axis=-1))
            self.base = Tensor._wrap(np.ascontiguousarray(base, dtype=Q.dtype.numpy))
            neg_identity = np.zeros(self.shape, dtype=Q.dtype.numpy)
            idx = np.arange(min(self.shape[-2:]))
            neg_identity[..., idx, idx] = -1.0
            return Tensor._wrap(neg_identity)
