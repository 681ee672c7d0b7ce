"""``graphc.linalg``'s LDL factorization of symmetric matrices, as PyTorch's: ``ldl_factor``,
``ldl_factor_ex`` and ``ldl_solve``.

``A = P L D L^T P^T`` with ``L`` unit lower triangular and ``D`` block diagonal (1x1 and 2x2
blocks), by Bunch-Kaufman diagonal pivoting: LAPACK's ``sytf2`` (``uplo='L'``, what PyTorch's
``sytrf`` runs for the matrix sizes it is given) written in NumPy, since NumPy has no LDL and
scipy is not a runtime dependency. The results are in LAPACK's compact form, as PyTorch's:

- ``LD`` holds ``L`` below the diagonal (its unit diagonal not stored) and ``D`` on the
  diagonal and, for a 2x2 block, the first subdiagonal; the strict upper triangle is zero;
- ``pivots`` (int32, 1-based): ``pivots[k] = p > 0`` says a 1x1 block at k, after rows and
  columns k and p were swapped; ``pivots[k] = pivots[k + 1] = -p < 0`` says a 2x2 block at
  k, k + 1, after rows and columns k + 1 and p were swapped.

    >>> import graphc
    >>> A = graphc.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=graphc.float64)
    >>> LD, pivots = graphc.linalg.ldl_factor(A)
    >>> LD.tolist(), pivots.tolist()
    ([[0.0, 0.0], [1.0, 0.0]], [-2, -2])
    >>> graphc.linalg.ldl_solve(LD, pivots, graphc.tensor([[1.0], [2.0]], dtype=graphc.float64)).tolist()
    [[2.0], [1.0]]

Eager only (a ``TraceError`` inside a compiled function). PyTorch defines no derivative for
these; here, as there, a backward pass through them raises. Only real matrices: ``hermitian``
is accepted and, as for PyTorch's real input, changes nothing. One difference: where ``D``
has an exact zero on its diagonal, ``ldl_factor`` (and ``ldl_factor_ex(check_errors=True)``)
raise a :class:`~graphc.linalg.LinAlgError`; PyTorch fails there with an internal assertion.
"""
from __future__ import annotations

import math

import numpy as np

from graphc import functions as F
from graphc.amp.autocast_mode import autocast_op
from graphc.autograd_function import Function
from graphc.errors import ArgumentError, AutogradError, DTypeError, ShapeError
from graphc.linalg_solvers import _compute_dtype, _eager_only, _factorized, _wrap
from graphc.linalg_triangular import _batch_error
from graphc.tensor import Tensor

__all__ = ["ldl_factor", "ldl_factor_ex", "ldl_solve"]

_ALPHA = (1.0 + math.sqrt(17.0)) / 8.0  # Bunch-Kaufman's threshold: bounds the growth of L


def _idamax(v: np.ndarray) -> int:
    """BLAS ``idamax`` (0-based): the first entry of largest magnitude; a NaN is never larger,
    so it is chosen only as the first entry."""
    a = np.abs(v)
    if np.isnan(a[0]):
        return 0
    return int(np.argmax(np.where(np.isnan(a), -np.inf, a)))


def _swap_symmetric(a: np.ndarray, k: int, kk: int, kp: int) -> None:
    """Swaps rows and columns kk < kp of the trailing lower triangle ``a[k:, k:]``."""
    a[kp + 1:, [kk, kp]] = a[kp + 1:, [kp, kk]]
    between = a[kk + 1:kp, kk].copy()
    a[kk + 1:kp, kk] = a[kp, kk + 1:kp]
    a[kp, kk + 1:kp] = between
    a[[kk, kp], [kk, kp]] = a[[kp, kk], [kp, kk]]
    if kk > k:  # a 2x2 step also swaps the entries of its first column
        a[[kk, kp], k] = a[[kp, kk], k]


def sytf2_lower(array: np.ndarray):
    """``(LD, pivots, info)`` of one symmetric matrix (its lower triangle is read) as LAPACK's
    ``sytf2`` with ``uplo='L'``: ``info`` is 0, or the (1-based) first k with D[k, k] exactly
    zero (the factorization is still completed, as LAPACK's)."""
    a = np.tril(array).astype(array.dtype, copy=True)
    n = a.shape[0]
    pivots = np.zeros(n, dtype=np.int32)
    info = 0
    k = 0
    with np.errstate(all="ignore"):
        while k < n:
            step = 1
            absakk = abs(a[k, k])
            if k + 1 < n:
                imax = k + 1 + _idamax(a[k + 1:, k])
                colmax = abs(a[imax, k])
            else:
                imax, colmax = k, 0.0
            if colmax == 0 and not absakk > 0:  # a zero (or NaN) column: D[k, k] is singular
                info = info or k + 1
                kp = k
            else:
                if absakk >= _ALPHA * colmax:
                    kp = k
                else:  # the largest off-diagonal entry in row (and column) imax
                    row = a[imax, k:imax]
                    rowmax = abs(row[_idamax(row)])
                    if imax + 1 < n:
                        rowmax = max(rowmax, abs(a[imax + 1 + _idamax(a[imax + 1:, imax]), imax]))
                    if absakk >= _ALPHA * colmax * (colmax / rowmax):
                        kp = k
                    elif abs(a[imax, imax]) >= _ALPHA * rowmax:
                        kp = imax
                    else:
                        kp, step = imax, 2
                kk = k + step - 1
                if kp != kk:
                    _swap_symmetric(a, k, kk, kp)
                if step == 1:
                    if k + 1 < n:  # A22 -= x x^T / d, then L's column is x / d
                        d11 = 1.0 / a[k, k]
                        x = a[k + 1:, k].copy()
                        a[k + 1:, k + 1:] -= np.tril(d11 * np.outer(x, x))
                        a[k + 1:, k] = d11 * x
                elif k + 2 < n:  # the 2x2 pivot block: LAPACK's update, column by column
                    d21 = a[k + 1, k]
                    d11 = a[k + 1, k + 1] / d21
                    d22 = a[k, k] / d21
                    t = 1.0 / (d11 * d22 - 1.0)
                    d21 = t / d21
                    first, second = a[k + 2:, k].copy(), a[k + 2:, k + 1].copy()
                    wk = d21 * (d11 * first - second)
                    wkp1 = d21 * (d22 * second - first)
                    a[k + 2:, k + 2:] -= np.tril(np.outer(first, wk) + np.outer(second, wkp1))
                    a[k + 2:, k], a[k + 2:, k + 1] = wk, wkp1
            if step == 1:
                pivots[k] = kp + 1
            else:
                pivots[k] = pivots[k + 1] = -(kp + 1)
            k += step
    return a, pivots, info


def sytrs_lower(ld: np.ndarray, pivots: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``X`` with ``A X = B`` from one matrix's ``sytf2_lower`` factorization, as LAPACK's
    ``sytrs`` (``uplo='L'``): solve ``L D Y = P^T B`` from the top, then ``L^T P^T X = Y``
    from the bottom."""
    x = np.array(b, copy=True)
    n = ld.shape[0]
    with np.errstate(all="ignore"):
        k = 0
        while k < n:
            if pivots[k] > 0:
                kp = pivots[k] - 1
                x[[k, kp]] = x[[kp, k]]
                x[k + 1:] -= np.outer(ld[k + 1:, k], x[k])
                x[k] /= ld[k, k]
                k += 1
            else:
                kp = -pivots[k] - 1
                x[[k + 1, kp]] = x[[kp, k + 1]]
                x[k + 2:] -= np.outer(ld[k + 2:, k], x[k]) + np.outer(ld[k + 2:, k + 1], x[k + 1])
                akm1k = ld[k + 1, k]
                akm1, ak = ld[k, k] / akm1k, ld[k + 1, k + 1] / akm1k
                denom = akm1 * ak - 1.0
                bkm1, bk = x[k] / akm1k, x[k + 1] / akm1k
                x[k], x[k + 1] = (ak * bkm1 - bk) / denom, (akm1 * bk - bkm1) / denom
                k += 2
        k = n - 1
        while k >= 0:
            if pivots[k] > 0:
                x[k] -= ld[k + 1:, k] @ x[k + 1:]
                kp = pivots[k] - 1
                x[[k, kp]] = x[[kp, k]]
                k -= 1
            else:
                x[k] -= ld[k + 1:, k] @ x[k + 1:]
                x[k - 1] -= ld[k + 1:, k - 1] @ x[k + 1:]
                kp = -pivots[k] - 1
                x[[k, kp]] = x[[kp, k]]
                k -= 2
    return x


class _NoDerivative(Function):
    """Wraps NumPy results: outputs that require grad when an input does, and a backward
    that raises, as PyTorch's (which defines no derivative for the LDL functions)."""

    @staticmethod
    def forward(ctx, name, arrays, like, *inputs):
        ctx.name = name
        return tuple(_wrap(a, like) for a in arrays)

    @staticmethod
    def backward(ctx, *grads):
        raise AutogradError(f"the derivative of linalg.{ctx.name} is not implemented (nor is "
                            f"PyTorch's)")


def _differentiable(name: str, arrays, like: Tensor, *inputs: Tensor):
    if any(t.requires_grad for t in inputs):
        return _NoDerivative.apply(name, arrays, like, *inputs)
    return tuple(_wrap(a, like) for a in arrays)


@autocast_op("linalg_ldl_factor_ex")
def ldl_factor_ex(A: Tensor, *, hermitian: bool = False, check_errors: bool = False):
    """``(LD, pivots, info)`` (``torch.linalg.ldl_factor_ex``): the compact LDL factorization
    of the symmetric matrices ``A`` (their lower triangles are read; see the module's notes),
    and per matrix ``info`` (int32): 0, or the (1-based) first k with ``D[k, k]`` exactly zero.
    ``check_errors=True`` raises a :class:`~graphc.linalg.LinAlgError` where ``info != 0``.

        >>> import graphc
        >>> graphc.linalg.ldl_factor_ex(graphc.zeros(2, 2)).info.item()
        1
    """
    from graphc.return_types import linalg_ldl_factor_ex as result
    A = _factorized("ldl_factor_ex", A)
    return result(*_ldl_factor("ldl_factor_ex", A, check_errors))


def _ldl_factor(name: str, A: Tensor, check_errors: bool):
    array = A.numpy().astype(_compute_dtype(A))
    batch, n = array.shape[:-2], array.shape[-1]
    ld = np.zeros_like(array)
    pivots = np.zeros(batch + (n,), dtype=np.int32)
    info = np.zeros(batch, dtype=np.int32)
    for index in np.ndindex(*batch):
        ld[index], pivots[index], info[index] = sytf2_lower(array[index])
    if check_errors:
        _batch_error(name, info, lambda i: (
            f"The factorization could not be completed because the block diagonal matrix D "
            f"is exactly singular: D[{i - 1}, {i - 1}] is zero."))
    (out,) = _differentiable(name, [ld], A, A)
    return out, Tensor._wrap(pivots), Tensor._wrap(info)


@autocast_op("linalg_ldl_factor")
def ldl_factor(A: Tensor, *, hermitian: bool = False):
    """``(LD, pivots)`` (``torch.linalg.ldl_factor``): :func:`ldl_factor_ex` that raises a
    :class:`~graphc.linalg.LinAlgError` where ``D`` has a zero on its diagonal."""
    from graphc.return_types import linalg_ldl_factor as result
    A = _factorized("ldl_factor", A)
    LD, pivots, _ = _ldl_factor("ldl_factor", A, True)
    return result(LD, pivots)


@autocast_op("linalg_ldl_solve")
def ldl_solve(LD: Tensor, pivots: Tensor, B: Tensor, *, hermitian: bool = False) -> Tensor:
    """``X`` with ``A X = B`` (``torch.linalg.ldl_solve``) from ``(LD, pivots)`` of
    :func:`ldl_factor`; ``B`` is (..., n, k), of ``LD``'s dtype, its batch broadcast with
    ``LD``'s."""
    LD = _factorized("ldl_solve", LD)
    pivots, B = F.to_tensor(pivots), F.to_tensor(B)
    _eager_only("ldl_solve", pivots, B)
    n = LD.shape[-1]
    if not pivots.dtype.is_int:
        raise DTypeError(f"linalg.ldl_solve: pivots must be an integer tensor (ldl_factor's "
                         f"int32), got {pivots.dtype}")
    if tuple(pivots.shape) != tuple(LD.shape[:-1]):
        raise ShapeError(f"linalg.ldl_solve: pivots of shape {list(pivots.shape)} do not match "
                         f"LD of shape {list(LD.shape)} (expected {list(LD.shape[:-1])})")
    if B.ndim < 2 or B.shape[-2] != n:
        raise ShapeError(f"linalg.ldl_solve: B of shape {list(B.shape)} does not match LD of "
                         f"shape {list(LD.shape)} (expected (..., {n}, k))")
    if B.dtype != LD.dtype:
        raise DTypeError(f"linalg.ldl_solve: B must have LD's dtype {LD.dtype}, got {B.dtype}")
    p = pivots.numpy()
    if p.size and (np.abs(p).max() > n or np.abs(p).min() < 1):
        raise ArgumentError(f"linalg.ldl_solve: every pivot must satisfy 1 <= |pivot| <= {n} "
                         f"(pass the pivots of ldl_factor)")
    dtype = _compute_dtype(LD)
    batch = np.broadcast_shapes(LD.shape[:-2], B.shape[:-2])
    ld = np.broadcast_to(LD.numpy().astype(dtype), batch + (n, n))
    p = np.broadcast_to(p, batch + (n,))
    rhs = np.broadcast_to(B.numpy().astype(dtype), batch + tuple(B.shape[-2:]))
    x = np.empty(rhs.shape, dtype=dtype)
    for index in np.ndindex(*batch):
        x[index] = sytrs_lower(ld[index], p[index], rhs[index])
    (out,) = _differentiable("ldl_solve", [x], LD, LD, B)
    return out
