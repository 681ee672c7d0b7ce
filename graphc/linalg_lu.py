"""``graphc.linalg``'s LU factorization, as PyTorch's: ``lu_factor``, ``lu_factor_ex``,
``lu``, ``lu_solve`` and ``graphc.lu_unpack``.

    >>> import graphc
    >>> a = graphc.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=graphc.float64)
    >>> P, L, U = graphc.linalg.lu(a)
    >>> [round(v, 4) for v in U.flatten().tolist()], graphc.linalg.lu_factor(a).pivots.tolist()
    ([3.0, 4.0, 0.0, 0.6667], [2, 2])

NumPy has no LU, so this is LAPACK's ``getf2`` written in NumPy: partial (row) pivoting on the
largest magnitude, the first on ties, a loop over the columns and every matrix of the batch at
once; ``pivots`` are LAPACK's (int32, 1-based: row ``i`` was swapped with row ``pivots[i]``).
A zero pivot is not an error (``info`` says where it is), as LAPACK's. Eager only (a
``TraceError`` inside a compiled function); the gradients are PyTorch's, written with graphc
ops (``solve_triangular``), so second derivatives work.
"""
from __future__ import annotations

import numpy as np

from graphc import functions as F
from graphc.amp.autocast_mode import autocast_op
from graphc.autograd_function import Function
from graphc.errors import ShapeError
from graphc.linalg_solvers import _compute_dtype, _eager_only, _wrap
from graphc.linalg_triangular import _broadcast_batch, solve_triangular, substitute
from graphc.tensor import Tensor

__all__ = ["lu_factor", "lu_factor_ex", "lu", "lu_solve", "lu_unpack"]


def lu_factor_array(array: np.ndarray):
    """``(LU, pivots, info)`` of a float batch ``(*, m, n)`` as LAPACK's ``getrf``."""
    lu = np.array(array, copy=True)
    batch, (m, n) = lu.shape[:-2], lu.shape[-2:]
    k = min(m, n)
    pivots = np.zeros(batch + (k,), dtype=np.int32)
    info = np.zeros(batch, dtype=np.int32)
    rows = np.arange(m)
    with np.errstate(all="ignore"):
        for j in range(k):
            p = j + np.argmax(np.abs(lu[..., j:, j]), axis=-1)  # (the first on ties)
            pivots[..., j] = p + 1
            if np.any(p != j):  # swap rows j and p of each matrix
                order = np.broadcast_to(rows, batch + (m,)).copy()
                order[..., j] = p
                np.put_along_axis(order, p[..., None], j, axis=-1)
                lu = np.take_along_axis(lu, order[..., None], axis=-2)
            pivot = lu[..., j, j]
            zero = pivot == 0
            info[(info == 0) & zero] = j + 1
            scale = np.where(zero, 1.0, pivot)[..., None]
            lu[..., j + 1:, j] = lu[..., j + 1:, j] / scale
            lu[..., j + 1:, j + 1:] -= lu[..., j + 1:, j, None] * lu[..., j, None, j + 1:]
    return lu, pivots, info


def _permutation(pivots: np.ndarray, m: int) -> np.ndarray:
    """``perm`` with ``A[perm] = L U``: LAPACK's row swaps applied in order."""
    perm = np.broadcast_to(np.arange(m), pivots.shape[:-1] + (m,)).copy()
    for j in range(pivots.shape[-1]):
        p = pivots[..., j].astype(np.int64) - 1
        here = perm[..., j].copy()
        perm[..., j] = np.take_along_axis(perm, p[..., None], axis=-1)[..., 0]
        np.put_along_axis(perm, p[..., None], here[..., None], axis=-1)
    return perm


def _permutation_matrix(pivots: np.ndarray, m: int, dtype) -> np.ndarray:
    perm = _permutation(pivots, m)  # P[perm[i], i] = 1, so that A = P L U
    eye = np.eye(m, dtype=dtype)
    return np.swapaxes(eye[perm], -1, -2)


def lu_solve_array(lu: np.ndarray, pivots: np.ndarray, b: np.ndarray,
                   transpose: bool = False) -> np.ndarray:
    """``X`` with ``A X = B`` (``A^T X = B`` with ``transpose``) from ``getrf``'s factorization
    ``A = P L U``, as LAPACK's ``getrs`` (inf/NaN where a pivot is zero)."""
    perm = _permutation(pivots, lu.shape[-1])
    if transpose:  # U^T L^T P^T X = B: two substitutions, then the rows back to their places
        lu_t = np.swapaxes(lu, -1, -2)
        z = substitute(lu_t, substitute(lu_t, b, upper=False), upper=True, unitriangular=True)
        x = np.empty_like(z)
        np.put_along_axis(x, np.broadcast_to(perm[..., None], z.shape), z, axis=-2)
        return x
    rhs = np.take_along_axis(b, perm[..., None], axis=-2)
    return substitute(lu, substitute(lu, rhs, upper=False, unitriangular=True), upper=True)


def _matrices(name: str, A) -> Tensor:
    A = F.to_tensor(A)
    if A.ndim < 2:
        raise ShapeError(f"linalg.{name}: Expected tensor with 2 or more dimensions. Got size: "
                         f"{list(A.shape)} instead")
    if not A.dtype.is_float:
        raise TypeError(f"linalg.{name}: expected a floating point tensor, got {A.dtype}")
    _eager_only(name, A)
    return A


def _no_pivot(name: str, pivot: bool) -> None:
    if not pivot:
        raise NotImplementedError(f"linalg.{name}: LU without pivoting is not implemented on "
                                  f"the CPU (as PyTorch's)")


def _unpack_arrays(lu: np.ndarray):
    m, n = lu.shape[-2:]
    k = min(m, n)
    low = np.tril(lu[..., :, :k], -1) + np.eye(m, k, dtype=lu.dtype)
    return low, np.triu(lu[..., :k, :])


class _LU(Function):
    """``(L, U)`` of ``A = P L U`` (P from the same pivots, without gradient)."""

    @staticmethod
    def forward(ctx, a):
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(a)
        lu_data, _, _ = lu_factor_array(a.numpy().astype(_compute_dtype(a)))
        low, up = _unpack_arrays(lu_data)
        return _wrap(low, a), _wrap(up, a)

    @staticmethod
    def backward(ctx, grad_l, grad_u):
        (a,) = ctx.saved_tensors
        p = _wrap(_permutation_matrix(lu_factor_array(a.numpy().astype(_compute_dtype(a)))[1],
                                      a.shape[-2], np.float64), a)
        low, up = _LU.apply(a)  # (recorded under create_graph: second derivatives)
        return _lu_backward(grad_l, grad_u, p, low, up)


def _lu_backward(gl, gu, p, low, up):
    """PyTorch's ``linalg_lu_backward`` (real case), square, wide and tall."""
    m, n = low.shape[-2], up.shape[-1]
    k = min(m, n)
    if m == n:  # gA = P L^-T [tril_-1(L^T gL) + triu(gU U^T)] U^-T
        ga = None
        if gl is not None:
            ga = F.tril(F.matmul(low.mT, gl), -1)
        if gu is not None:
            term = F.triu(F.matmul(gu, up.mT))
            ga = term if ga is None else F.add(ga, term)
        ga = solve_triangular(up.mT, ga, upper=False, left=False)
        ga = solve_triangular(low.mT, ga, upper=True, unitriangular=True)
        return F.matmul(p, ga)
    from graphc.factories import zeros
    if m < n:  # wide: A1 = P L U1, A2 = P L U2
        u1 = F.narrow(up, -1, 0, k)
        ga = F.matmul(low.mT, gl) if gl is not None else None
        if gu is not None:
            term = F.matmul(F.triu(gu), up.mT)
            ga = F.neg(term) if ga is None else F.sub(ga, term)
        ga = solve_triangular(u1.mT, F.tril(ga, -1), upper=False, left=False)
        if gu is not None:
            ga = F.cat([F.add(ga, F.triu(F.narrow(gu, -1, 0, k))), F.narrow(gu, -1, k, n - k)],
                       -1)
        ga = solve_triangular(low.mT, ga, upper=True, unitriangular=True)
        if gu is None:
            ga = F.cat([ga, zeros(*ga.shape[:-1], n - k, dtype=ga.dtype)], -1)
        return F.matmul(p, ga)
    # tall: A1 = P L1 U, A2 = P L2 U
    l1 = F.narrow(low, -2, 0, k)
    ga = F.matmul(gu, up.mT) if gu is not None else None
    if gl is not None:
        term = F.matmul(low.mT, F.tril(gl, -1))
        ga = F.neg(term) if ga is None else F.sub(ga, term)
    ga = solve_triangular(l1.mT, F.triu(ga), upper=True, unitriangular=True)
    if gl is not None:
        ga = F.cat([F.add(ga, F.tril(F.narrow(gl, -2, 0, k), -1)), F.narrow(gl, -2, k, m - k)],
                   -2)
    ga = solve_triangular(up.mT, ga, upper=False, left=False)
    if gl is None:
        ga = F.cat([ga, zeros(*ga.shape[:-2], m - k, ga.shape[-1], dtype=ga.dtype)], -2)
    return F.matmul(p, ga)


def _factor(name: str, A, pivot: bool):
    A = _matrices(name, A)
    _no_pivot(name, pivot)
    lu_data, pivots, info = lu_factor_array(A.numpy().astype(_compute_dtype(A)))
    return A, lu_data, pivots, info


def _packed(A: Tensor) -> Tensor:
    """``L - I + U`` packed in one (m, n) matrix, differentiable through :class:`_LU`."""
    low, up = _LU.apply(A)
    m, n = A.shape[-2], A.shape[-1]
    k = min(m, n)
    from graphc.factories import zeros
    strict = F.tril(low, -1)
    if m > k:
        up = F.cat([up, zeros(*up.shape[:-2], m - k, n, dtype=up.dtype)], -2)
    if n > k:
        strict = F.cat([strict, zeros(*strict.shape[:-1], n - k, dtype=strict.dtype)], -1)
    return F.add(strict, up)


@autocast_op("linalg_lu_factor_ex")
def lu_factor_ex(A: Tensor, *, pivot: bool = True, check_errors: bool = False):
    """``(LU, pivots, info)`` (``torch.linalg.lu_factor_ex``): as :func:`lu_factor`, with
    ``info`` (int32, per matrix) 0 or the 1-based index of the first zero pivot of ``U``;
    ``check_errors=True`` raises for one."""
    from graphc.return_types import linalg_lu_factor_ex as result
    A, lu_data, pivots, info = _factor("lu_factor_ex", A, pivot)
    if check_errors and info.any():
        bad = np.argwhere(info != 0)[0]
        where = (f"(Batch element {int(np.ravel_multi_index(tuple(bad), info.shape))}): "
                 if info.ndim else "")
        i = int(info[tuple(bad)]) - 1
        raise RuntimeError(f"linalg.lu_factor_ex: {where}U[{i},{i}] is zero and using it on "
                           f"lu_solve would result in a division by zero. If you still want "
                           f"to perform the factorization, consider calling linalg.lu(A, "
                           f"pivot) or linalg.lu_factor_ex(A, pivot)")
    return result(_packed(A), Tensor._wrap(pivots), Tensor._wrap(info))


@autocast_op("linalg_lu_factor")
def lu_factor(A: Tensor, *, pivot: bool = True):
    """``(LU, pivots)`` with ``A = P L U`` packed (``torch.linalg.lu_factor``): ``L`` (unit
    diagonal, not stored) below the diagonal of ``LU`` and ``U`` on and above it; ``pivots``
    int32, 1-based, LAPACK's. A singular matrix is not an error here (see
    :func:`lu_factor_ex`). Differentiable (PyTorch's ``lu`` gradient). Only ``pivot=True``, as
    PyTorch on the CPU."""
    from graphc.return_types import linalg_lu_factor as result
    A, _, pivots, _ = _factor("lu_factor", A, pivot)
    return result(_packed(A), Tensor._wrap(pivots))


@autocast_op("linalg_lu")
def lu(A: Tensor, *, pivot: bool = True):
    """``(P, L, U)`` with ``A = P L U`` (``torch.linalg.lu``): ``P`` a permutation matrix,
    ``L`` (m, k) unit lower triangular, ``U`` (k, n) upper triangular, k = min(m, n). ``L`` and
    ``U`` are differentiable (PyTorch's gradient, square, wide and tall; infinite where ``U``
    is singular)."""
    from graphc.return_types import linalg_lu as result
    A, _, pivots, _ = _factor("lu", A, pivot)
    low, up = _LU.apply(A)
    p = _wrap(_permutation_matrix(pivots, A.shape[-2], np.float64), A)
    return result(p, low, up)


def _pivots(name: str, pivots, LU: Tensor) -> np.ndarray:
    pivots = F.to_tensor(pivots)
    if str(pivots.dtype) not in ("i32", "int32"):
        raise TypeError(f"linalg.{name}: pivots should be a Tensor of scalar type int32, got "
                        f"{pivots.dtype}")
    k = min(LU.shape[-2], LU.shape[-1])
    if tuple(pivots.shape) != tuple(LU.shape[:-2]) + (k,):
        raise ValueError(f"linalg.{name}: pivots of shape {list(pivots.shape)} do not match LU "
                         f"of shape {list(LU.shape)} (expected {list(LU.shape[:-2]) + [k]})")
    array = pivots.numpy()
    if array.size and (array.min() < 1 or array.max() > LU.shape[-2]):
        raise ValueError(f"linalg.{name}: pivots must be between 1 and {LU.shape[-2]}, got "
                         f"values from {array.min()} to {array.max()}")
    return array


@autocast_op("lu_unpack")
def lu_unpack(LU_data: Tensor, LU_pivots: Tensor, unpack_data: bool = True,
              unpack_pivots: bool = True):
    """``(P, L, U)`` from :func:`~graphc.linalg.lu_factor`'s packed ``(LU, pivots)``
    (``torch.lu_unpack``): ``L`` and ``U`` are its triangles (differentiable), ``P`` the
    permutation of the pivots. Those not asked for (``unpack_data``, ``unpack_pivots``) are
    empty tensors, as PyTorch's."""
    from graphc.return_types import lu_unpack as result
    LU_data = _matrices("lu_unpack", LU_data)
    m, n = LU_data.shape[-2], LU_data.shape[-1]
    k = min(m, n)
    empty = _wrap(np.zeros(0), LU_data)
    low = up = p = empty
    if unpack_data:
        from graphc.factories import eye
        low = F.add(F.tril(F.narrow(LU_data, -1, 0, k), -1), eye(m, k, dtype=LU_data.dtype))
        up = F.triu(F.narrow(LU_data, -2, 0, k))
    if unpack_pivots:
        p = _wrap(_permutation_matrix(_pivots("lu_unpack", LU_pivots, LU_data), m, np.float64),
                  LU_data)
    return result(p, low, up)


@autocast_op("linalg_lu_solve")
def lu_solve(LU: Tensor, pivots: Tensor, B: Tensor, *, left: bool = True,
             adjoint: bool = False) -> Tensor:
    """``X`` with ``A X = B`` from :func:`lu_factor`'s ``(LU, pivots)`` of ``A``
    (``torch.linalg.lu_solve``): ``A^T X = B`` with ``adjoint``, ``X A = B`` when not ``left``.
    Differentiable in ``LU`` and ``B`` (two triangular solves and a permutation).

        >>> import graphc
        >>> a = graphc.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=graphc.float64)
        >>> LU, piv = graphc.linalg.lu_factor(a)
        >>> b = graphc.tensor([[5.0], [11.0]], dtype=graphc.float64)
        >>> [round(v, 6) for v in graphc.linalg.lu_solve(LU, piv, b).flatten().tolist()]
        [1.0, 2.0]
    """
    LU = _matrices("lu_solve", LU)
    B = F.to_tensor(B)
    _eager_only("lu_solve", B)
    if LU.shape[-1] != LU.shape[-2]:
        raise ValueError(f"linalg.lu_solve: A must be batches of square matrices, but they are "
                         f"{LU.shape[-2]} by {LU.shape[-1]} matrices")
    if B.ndim < 2:
        raise ValueError(f"linalg.lu_solve: The input tensor B must have at least 2 dimensions, "
                         f"got shape {list(B.shape)}")
    n = LU.shape[-1]
    if (B.shape[-2] if left else B.shape[-1]) != n:
        raise ValueError(f"linalg.lu_solve: B of shape {list(B.shape)} does not match LU of "
                         f"shape {list(LU.shape)}")
    if B.dtype != LU.dtype:
        raise TypeError(f"linalg.lu_solve: Expected LU and B to have the same dtype, but found "
                        f"LU of type {LU.dtype} and B of type {B.dtype} instead")
    if not left:  # X A = B  <=>  A^T X^T = B^T
        return lu_solve(LU, pivots, B.mT, adjoint=not adjoint).mT
    p = _wrap(_permutation_matrix(_pivots("lu_solve", pivots, LU), n, np.float64), LU)
    LU, B = _broadcast_batch(LU, B)
    if not adjoint:  # A = P L U: X = U^-1 L^-1 P^T B
        y = solve_triangular(LU, F.matmul(p.mT, B), upper=False, unitriangular=True)
        return solve_triangular(LU, y, upper=True)
    # A^T = U^T L^T P^T: X = P L^-T U^-T B
    y = solve_triangular(LU.mT, B, upper=False)
    return F.matmul(p, solve_triangular(LU.mT, y, upper=True, unitriangular=True))

