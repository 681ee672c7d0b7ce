"""The orthogonal parametrization (``torch.nn.utils.parametrizations.orthogonal``) and the
composites it is made of: a matrix exponential and a product of Householder reflectors
written with matmuls, so a parametrized module compiles.

    >>> import graphc
    >>> from graphc.nn.utils.parametrizations import orthogonal
    >>> layer = orthogonal(graphc.nn.Linear(3, 3))
    >>> w = layer.weight
    >>> bool(((w.T @ w - graphc.eye(3)).abs() < 1e-5).all())
    True

``_matrix_exp`` is private: ``graphc.linalg.matrix_exp``, when it exists, can replace it.
"""
from __future__ import annotations

import math
from enum import Enum, auto

import numpy as np

from graphc import autograd, tracing
from graphc import functions as F
from graphc.factories import eye, randn
from graphc.nn.module import Module
from graphc.tensor import Tensor

# Taylor's degree-18 polynomial of exp is exact to the unit roundoff of float64 on matrices of
# 1-norm at most 1 (the remainder is below 1/19! * e < 2.3e-17): scale by 2^-s to get there
_THETA = 1.0
_TAYLOR = [1.0 / math.factorial(i) for i in range(19)]
# a traced call cannot read the norm to choose s: it squares this many times, keeping the
# result of only the last s squarings (`where`), so it matches eager code for matrices of
# 1-norm up to 2^12 (checked as the graph runs: beyond, the call raises)
_TRACED_SQUARINGS = 12


def _matrix_exp(A: Tensor) -> Tensor:
    """``exp(A)`` of a (batch of) square matrices: scaling and squaring around Taylor's
    degree-18 polynomial, evaluated with 7 matmuls (Paterson-Stockmeyer), so it is
    differentiable and compiles. The number of squarings s comes from the 1-norm of A."""
    n = A.shape[-1]
    norm = A.detach().abs().sum(-2).amax()
    if tracing.current() is None and not A.is_traced:
        s = max(0, math.ceil(math.log2(max(float(norm.item()), 1e-300) / _THETA)))
        result = _taylor(A * (0.5 ** s), n)
        for _ in range(s):
            result = result @ result
        return result
    top = _TRACED_SQUARINGS
    tracing.check(norm > _THETA * 2.0 ** top, ValueError,
                  f"matrix exponential: a matrix of 1-norm above {2 ** top} inside a compiled "
                  "function (its number of squarings is bounded while tracing); compute it "
                  "eagerly")
    s_traced = F.clamp((norm / _THETA).clamp(min=1e-300).log2().ceil(), 0, top)
    result = _taylor(A * (-s_traced).exp2().to(A.dtype), n)
    for i in range(top):  # the squarings i >= top - s are kept
        result = F.where(s_traced >= top - i, result @ result, result)
    return result


def _taylor(A: Tensor, n: int) -> Tensor:
    """Taylor's degree-18 polynomial of exp at A (of norm at most 1)."""
    identity = eye(n, dtype=A.dtype)
    powers = [identity, A, A @ A]
    powers.append(powers[2] @ A)
    a4 = powers[3] @ A

    def block(j: int) -> Tensor:
        terms = [powers[i] * _TAYLOR[4 * j + i] for i in range(4) if 4 * j + i < len(_TAYLOR)]
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return total

    result = block(4)
    for j in (3, 2, 1, 0):
        result = result @ a4 + block(j)
    return result


def _householder_product(A: Tensor, tau: Tensor) -> Tensor:
    """The first k columns of ``H_1 ... H_k`` with ``H_i = I - tau_i v_i v_i^T``, ``v_i`` the
    i-th column of ``A`` below the diagonal with a 1 on it (``torch.linalg.
    householder_product``), applied one reflector at a time with matmuls."""
    n, k = A.shape[-2], A.shape[-1]
    v = A.tril(-1) + eye(n, k, dtype=A.dtype)
    q = F.broadcast_to(eye(n, k, dtype=A.dtype), list(A.shape))
    for i in reversed(range(k)):
        column = v[..., :, i:i + 1]
        q = q - (column * tau[..., i:i + 1].unsqueeze(-1)) @ (column.mT @ q)
    return q


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
                Q = _matrix_exp(A)
            else:
                from graphc.linalg_solvers import solve
                identity = eye(n, dtype=A.dtype)
                Q = solve(identity - 0.5 * A, identity + 0.5 * A)
            if n != k:
                Q = Q[..., :k]
        else:
            A = X.tril(-1)
            tau = 2.0 / (1.0 + (A * A).sum(-2))
            Q = _householder_product(A, tau)
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
