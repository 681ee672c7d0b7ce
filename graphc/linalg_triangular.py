"""``graphc.linalg``'s triangular solvers and the checked (``_ex``) factorizations, as
PyTorch's: ``solve_triangular`` (and the older ``graphc.triangular_solve``), ``cholesky_ex``,
``inv_ex``, ``solve_ex``, ``graphc.cholesky_solve`` and ``graphc.cholesky_inverse``.

    >>> import graphc
    >>> low = graphc.tensor([[2.0, 0.0], [1.0, 4.0]], dtype=graphc.float64)
    >>> graphc.linalg.solve_triangular(low, graphc.tensor([[2.0], [9.0]], dtype=graphc.float64),
    ...                                upper=False).flatten().tolist()
    [1.0, 2.0]

As in ``linalg_solvers``: NumPy eagerly (the triangular solves are substitutions vectorized over
the batch, so a zero on the diagonal gives inf/NaN, as LAPACK's ``trtrs``, not an error),
float32 in float32, and PyTorch's gradients written with graphc ops (second derivatives work).
Inside a compiled function they are refused (``TraceError``).
"""
from __future__ import annotations

import numpy as np

from graphc import functions as F
from graphc.amp.autocast_mode import autocast_op
from graphc.autograd_function import Function
from graphc.linalg_solvers import (
    LinAlgError,
    _compute_dtype,
    _eager_only,
    _factorized,
    _wrap,
    cholesky,
    inv,
    solve,
    solve_operand,
)
from graphc.tensor import Tensor

__all__ = ["solve_triangular", "triangular_solve", "cholesky_ex", "inv_ex", "solve_ex",
           "cholesky_solve", "cholesky_inverse"]


def _triangle(a: np.ndarray, upper: bool, unitriangular: bool) -> np.ndarray:
    t = np.triu(a) if upper else np.tril(a)
    if unitriangular:
        n = a.shape[-1]
        t = t * (1 - np.eye(n, dtype=a.dtype)) + np.eye(n, dtype=a.dtype)
    return t


def substitute(a: np.ndarray, b: np.ndarray, upper: bool, unitriangular: bool = False):
    """``X`` with ``tri(A) X = B`` by forward (back) substitution, one row at a time and every
    matrix of the batch at once: a zero on the diagonal gives inf/NaN, as LAPACK's."""
    n = a.shape[-1]
    x = np.zeros(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + b.shape[-2:],
                 dtype=np.result_type(a, b))
    with np.errstate(all="ignore"):
        for i in (range(n - 1, -1, -1) if upper else range(n)):
            done = slice(i + 1, n) if upper else slice(0, i)
            row = b[..., i, :] - (a[..., i:i + 1, done] @ x[..., done, :])[..., 0, :]
            x[..., i, :] = row if unitriangular else row / a[..., i, i, None]
    return x


class _SolveTriangular(Function):
    @staticmethod
    def forward(ctx, a, b, upper, unitriangular):
        dtype = _compute_dtype(a)
        ctx.save_for_backward(a, b)
        ctx.options = (upper, unitriangular)
        return _wrap(substitute(a.numpy().astype(dtype), b.numpy().astype(dtype), upper,
                                unitriangular), a)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        upper, unit = ctx.options
        # PyTorch's rule: gB = A^-T gX (a triangular solve with the other triangle), and
        # gA = -gB X^T restricted to A's triangle (without the diagonal when unitriangular)
        x = _SolveTriangular.apply(a, b, upper, unit)  # (recorded under create_graph)
        grad_b = _SolveTriangular.apply(a.mT, grad, not upper, unit)
        grad_a = F.neg(F.matmul(grad_b, x.mT))
        offset = int(unit)
        grad_a = F.triu(grad_a, offset) if upper else F.tril(grad_a, -offset)
        return grad_a, grad_b, None, None


def _check_triangular(name: str, A, B, left: bool):
    A = _factorized(name, A)
    B = F.to_tensor(B)
    _eager_only(name, B)
    if B.ndim < 2:
        raise ValueError(f"linalg.{name}: The input tensor B must have at least 2 dimensions, "
                         f"got shape {list(B.shape)}")
    if B.dtype != A.dtype:
        raise TypeError(f"linalg.{name}: Expected A and B to have the same dtype, but found A "
                        f"of type {A.dtype} and B of type {B.dtype} instead")
    n = A.shape[-1]
    if (B.shape[-2] if left else B.shape[-1]) != n:
        expected = f"(*, {n}, k)" if left else f"(*, k, {n})"
        raise ValueError(f"linalg.{name}: B of shape {list(B.shape)} does not match A of shape "
                         f"{list(A.shape)} (expected {expected})")
    return A, B


def _broadcast_batch(A: Tensor, B: Tensor):
    batch = tuple(np.broadcast_shapes(tuple(A.shape[:-2]), tuple(B.shape[:-2])))
    if tuple(A.shape[:-2]) != batch:
        A = F.broadcast_to(A, list(batch) + list(A.shape[-2:]))
    if tuple(B.shape[:-2]) != batch:
        B = F.broadcast_to(B, list(batch) + list(B.shape[-2:]))
    return A, B


@autocast_op("linalg_solve_triangular")
def solve_triangular(A: Tensor, B: Tensor, *, upper: bool, left: bool = True,
                     unitriangular: bool = False) -> Tensor:
    """``X`` with ``A @ X = B`` (``X @ A = B`` when not ``left``) for triangular ``A``
    (``torch.linalg.solve_triangular``): only the ``upper`` (or lower) triangle of ``A`` is read,
    and its diagonal taken as ones when ``unitriangular``. ``B`` is (*, n, k) ((*, k, n) for
    ``left=False``); the batch dimensions broadcast. The gradient of ``A`` is restricted to the
    triangle read, as PyTorch's."""
    A, B = _check_triangular("solve_triangular", A, B, left)
    if not left:  # X A = B  <=>  A^T X^T = B^T, with A^T triangular the other way
        return solve_triangular(A.mT, B.mT, upper=not upper, unitriangular=unitriangular).mT
    A, B = _broadcast_batch(A, B)
    return _SolveTriangular.apply(A, B, bool(upper), bool(unitriangular))


@autocast_op("triangular_solve")
def triangular_solve(b: Tensor, A: Tensor, upper: bool = True, transpose: bool = False,
                     unitriangular: bool = False):
    """``torch.triangular_solve``: ``(solution, cloned_coefficient)`` with ``op(A) X = b``,
    ``op(A)`` = ``A`` or ``A^T`` (``transpose``), ``A`` triangular (``upper`` or lower). Prefer
    :func:`solve_triangular`: its arguments are the other way round."""
    from graphc.return_types import triangular_solve as result
    A, b = _check_triangular("triangular_solve", A, b, True)
    A, b = _broadcast_batch(A, b)
    coefficient = A.mT if transpose else A
    x = _SolveTriangular.apply(coefficient, b, bool(upper) != bool(transpose), bool(unitriangular))
    return result(x, F.mul(A, 1.0))


# ------------------------------------------------------------------------------------------------
# Cholesky: checked factorization, solve, inverse
# ------------------------------------------------------------------------------------------------
def _cholesky_info(array: np.ndarray):
    """PyTorch's ``cholesky_ex`` of float ``array``: the lower factor and LAPACK's ``info`` per
    matrix (0, or the order of the first leading minor that is not positive-definite). A failed
    matrix keeps, as LAPACK's unblocked ``potf2``, the columns done, the reduced (non-positive)
    pivot on the diagonal, and the rest of its lower triangle unchanged."""
    batch, n = array.shape[:-2], array.shape[-1]
    info = np.zeros(batch, dtype=np.int32)
    try:
        with np.errstate(all="ignore"):
            return np.linalg.cholesky(array), info
    except np.linalg.LinAlgError:
        pass
    low = np.tril(array).copy()
    failed = np.zeros(batch, dtype=bool)
    with np.errstate(all="ignore"):
        for j in range(n):
            d = array[..., j, j] - np.sum(low[..., j, :j] ** 2, axis=-1)
            bad = ~failed & ~(d > 0)
            info[bad] = j + 1
            failed |= bad
            ok = ~failed
            low[..., j, j] = np.where(bad, d, np.where(ok, np.sqrt(np.where(ok, d, 1.0)),
                                                       low[..., j, j]))
            done = (low[..., j + 1:, :j] @ low[..., j, :j, None])[..., 0]
            column = (array[..., j + 1:, j] - done) / low[..., j, j, None]
            low[..., j + 1:, j] = np.where(ok[..., None], column, low[..., j + 1:, j])
    return low, info


def _batch_error(name: str, info: np.ndarray, message) -> None:
    bad = np.argwhere(info != 0)
    if len(bad):
        index = tuple(bad[0])
        where = f"(Batch element {int(np.ravel_multi_index(index, info.shape))}): " \
            if info.ndim else ""
        raise LinAlgError(f"linalg.{name}: {where}{message(int(info[index]))}")


@autocast_op("linalg_cholesky_ex")
def cholesky_ex(A: Tensor, *, upper: bool = False, check_errors: bool = False):
    """``(L, info)`` (``torch.linalg.cholesky_ex``): the Cholesky factor as
    :func:`~graphc.linalg.cholesky`, without raising for a matrix that is not positive-definite:
    ``info`` (int32, per matrix) is 0, or the order of its first leading minor that is not
    positive-definite (then ``L`` is LAPACK's partial factorization and gets no gradient).
    ``check_errors=True`` raises a :class:`LinAlgError` instead.

        >>> import graphc
        >>> graphc.linalg.cholesky_ex(graphc.tensor([[1.0, 2.0], [2.0, 1.0]])).info.item()
        2
    """
    from graphc.return_types import linalg_cholesky_ex as result
    A = _factorized("cholesky_ex", A)
    low, info = _cholesky_info(A.numpy().astype(_compute_dtype(A)))
    if check_errors:
        _batch_error("cholesky_ex", info, lambda i: (
            f"The factorization could not be completed because the input is not positive-"
            f"definite (the leading minor of order {i} is not positive-definite)."))
    info_t = Tensor._wrap(info)
    if not info.any():
        return result(cholesky(A, upper=upper), info_t)
    failed = Tensor._wrap((info != 0)[..., None, None])
    from graphc.factories import eye
    safe = cholesky(F.where(failed, eye(A.shape[-1], dtype=A.dtype), A))  # (no gradient there)
    out = F.where(failed, _wrap(low, A), safe)
    return result(out.mT if upper else out, info_t)


@autocast_op("linalg_inv_ex")
def inv_ex(A: Tensor, *, check_errors: bool = False):
    """``(inverse, info)`` (``torch.linalg.inv_ex``): :func:`~graphc.linalg.inv` without
    raising for a singular matrix: ``info`` (int32, per matrix) is 0, or the (1-based) index of
    the first zero pivot of its LU factorization (then ``inverse`` holds inf/NaN, and no
    gradient). ``check_errors=True`` raises a :class:`LinAlgError` instead.

        >>> import graphc
        >>> graphc.linalg.inv_ex(graphc.tensor([[1.0, 2.0], [2.0, 4.0]])).info.item()
        2
    """
    from graphc.linalg_lu import lu_factor_array
    from graphc.return_types import linalg_inv_ex as result
    A = _factorized("inv_ex", A)
    array = A.numpy().astype(_compute_dtype(A))
    lu, pivots, info = lu_factor_array(array)
    if check_errors:
        _batch_error("inv_ex", info, lambda i: (
            f"The diagonal element {i} is zero, the inversion could not be completed because "
            f"the input matrix is singular."))
    info_t = Tensor._wrap(info)
    singular = info != 0
    if not singular.any() and np.isfinite(array).all():
        try:
            return result(inv(A), info_t)
        except LinAlgError:  # (LAPACK's rounding found a zero pivot that ours did not)
            pass
    from graphc.linalg_lu import lu_solve_array
    n = A.shape[-1]
    identity = np.broadcast_to(np.eye(n, dtype=array.dtype), array.shape)
    fallback = lu_solve_array(lu, pivots, identity)  # (inf/NaN where singular, as LAPACK's)
    bad = singular | ~np.isfinite(fallback).all(axis=(-2, -1))
    safe, bad = _on_regular(inv, A, bad, array)
    return result(F.where(Tensor._wrap(bad[..., None, None]), _wrap(fallback, A), safe), info_t)


def _refused(array: np.ndarray) -> np.ndarray:
    """Per matrix of ``array``, whether NumPy's LAPACK finds it exactly singular."""
    refused = np.zeros(array.shape[:-2], dtype=bool)
    for index in np.ndindex(*refused.shape):
        try:
            with np.errstate(all="ignore"):
                np.linalg.inv(array[index])
        except np.linalg.LinAlgError:
            refused[index] = True
    return refused


def _on_regular(solver, A: Tensor, bad: np.ndarray, array: np.ndarray):
    """``(solver(A'), bad)``: the differentiable ``solver`` on ``A`` with its ``bad`` matrices
    replaced by the identity (so those get no gradient). NumPy's LAPACK may meet an exact zero
    pivot where the rounding of our ``getf2`` (``array``'s LU, the one ``info`` reports, as
    PyTorch's MKL did here) does not: such matrices join ``bad``."""
    from graphc.factories import eye
    identity = eye(A.shape[-1], dtype=A.dtype)
    try:
        return solver(F.where(Tensor._wrap(bad[..., None, None]), identity, A)), bad
    except LinAlgError:
        bad = bad | _refused(array)
        return solver(F.where(Tensor._wrap(bad[..., None, None]), identity, A)), bad


@autocast_op("linalg_solve_ex")
def solve_ex(A: Tensor, B: Tensor, *, left: bool = True, check_errors: bool = False):
    """``(result, info)`` (``torch.linalg.solve_ex``): :func:`~graphc.linalg.solve` without
    raising for a singular matrix: ``info`` (int32, one per matrix of ``A``) is 0, or the
    (1-based) index of the first zero pivot of its LU factorization; then ``result`` is what
    LAPACK's ``getrs`` gives with that factorization (inf/NaN) and gets no gradient (PyTorch's
    is NaN there). ``check_errors=True`` raises a :class:`LinAlgError` instead.

        >>> import graphc
        >>> A = graphc.tensor([[[2.0, 0.0], [0.0, 4.0]], [[1.0, 2.0], [2.0, 4.0]]])
        >>> out = graphc.linalg.solve_ex(A, graphc.tensor([2.0, 2.0]))
        >>> out.result[0].tolist(), out.info.tolist()
        ([1.0, 0.5], [0, 2])
    """
    from graphc.linalg_lu import lu_factor_array, lu_solve_array
    from graphc.return_types import linalg_solve_ex as result
    A = _factorized("solve_ex", A)
    B = F.to_tensor(B)
    _eager_only("solve_ex", B)
    if not left and (B.ndim < 2 or B.shape[-1] != A.shape[-1]):
        raise ValueError(f"linalg.solve_ex: B of shape {list(B.shape)} does not match A of "
                         f"shape {list(A.shape)} for X A = B (expected (..., k, {A.shape[-1]}))")
    # X A = B is A^T X^T = B^T; as PyTorch's, info is of A's own LU factorization either way
    B, vector = solve_operand("solve_ex", A, B if left else B.mT)
    coefficient = A if left else A.mT
    array = A.numpy().astype(_compute_dtype(A))
    lu, pivots, info = lu_factor_array(array)
    if check_errors:
        _batch_error("solve_ex", info, lambda i: (
            "The solver failed because the input matrix is singular."))
    info_t = Tensor._wrap(info)
    singular = info != 0
    if not singular.any():
        try:
            out = solve(coefficient, B)
            return result(out if left else out.mT, info_t)
        except LinAlgError:  # (LAPACK's rounding found a zero pivot that ours did not)
            pass
    rhs = B.numpy().astype(array.dtype)
    rhs = rhs[..., None] if vector else rhs
    n, batch = A.shape[-1], np.broadcast_shapes(array.shape[:-2], rhs.shape[:-2])
    fallback = lu_solve_array(np.broadcast_to(lu, batch + (n, n)),
                              np.broadcast_to(pivots, batch + (n,)),
                              np.broadcast_to(rhs, batch + rhs.shape[-2:]), transpose=not left)
    fallback = fallback[..., 0] if vector else fallback
    safe, singular = _on_regular(lambda M: solve(M, B), coefficient, singular,
                                 np.swapaxes(array, -1, -2) if not left else array)
    failed = Tensor._wrap(singular[..., None] if vector else singular[..., None, None])
    out = F.where(failed, _wrap(fallback, A), safe)
    return result(out if left else out.mT, info_t)


def _check_factor(name: str, L) -> Tensor:
    return _factorized(name, L)


class _CholeskySolve(Function):
    @staticmethod
    def forward(ctx, b, factor, upper):
        dtype = _compute_dtype(factor)
        low = factor.numpy().astype(dtype)
        low = np.swapaxes(np.triu(low), -1, -2) if upper else np.tril(low)
        y = substitute(low, b.numpy().astype(dtype), upper=False)
        ctx.save_for_backward(b, factor)
        ctx.upper = upper
        return _wrap(substitute(np.swapaxes(low, -1, -2), y, upper=True), factor)

    @staticmethod
    def backward(ctx, grad):
        b, factor = ctx.saved_tensors
        upper = ctx.upper
        # PyTorch's rule (for the full L of A = L L^T): gB = cholesky_solve(gX, L),
        # gL = -(gB X^T + X gB^T) L  (-U (...) for upper)
        x = _CholeskySolve.apply(b, factor, upper)
        grad_b = _CholeskySolve.apply(grad, factor, upper)
        common = F.matmul(grad_b, x.mT)
        common = F.add(common, common.mT)
        grad_factor = F.neg(F.matmul(factor, common) if upper else F.matmul(common, factor))
        return grad_b, grad_factor, None


@autocast_op("cholesky_solve")
def cholesky_solve(B: Tensor, L: Tensor, upper: bool = False) -> Tensor:
    """``X`` with ``A X = B`` where ``A = L L^T`` (``U^T U`` when ``upper``), from the Cholesky
    factor (``torch.cholesky_solve``; only its triangle is read). The gradient of ``L`` is
    PyTorch's, that of the full matrix in ``L L^T``.

        >>> import graphc
        >>> low = graphc.tensor([[2.0, 0.0], [1.0, 1.0]], dtype=graphc.float64)
        >>> graphc.cholesky_solve(graphc.tensor([[6.0], [4.0]], dtype=graphc.float64),
        ...                       low).flatten().tolist()
        [1.0, 1.0]
    """
    L, B = _check_triangular("cholesky_solve", L, B, True)
    L, B = _broadcast_batch(L, B)
    return _CholeskySolve.apply(B, L, bool(upper))


class _CholeskyInverse(Function):
    @staticmethod
    def forward(ctx, factor, upper):
        ctx.save_for_backward(factor)
        ctx.upper = upper
        dtype = _compute_dtype(factor)
        low = factor.numpy().astype(dtype)
        low = np.swapaxes(np.triu(low), -1, -2) if upper else np.tril(low)
        n = low.shape[-1]
        low_inv = substitute(low, np.broadcast_to(np.eye(n, dtype=dtype), low.shape), False)
        return _wrap(np.swapaxes(low_inv, -1, -2) @ low_inv, factor)

    @staticmethod
    def backward(ctx, grad):
        (factor,) = ctx.saved_tensors
        # PyTorch's rule: common = R (G + G^T) R with R = (L L^T)^-1; gL = -common L (-U common)
        result = _CholeskyInverse.apply(factor, ctx.upper)
        common = F.matmul(result, F.matmul(F.add(grad, grad.mT), result))
        return F.neg(F.matmul(factor, common) if ctx.upper else F.matmul(common, factor)), None


@autocast_op("cholesky_inverse")
def cholesky_inverse(L: Tensor, upper: bool = False) -> Tensor:
    """``(L L^T)^-1`` (``(U^T U)^-1`` when ``upper``) from the Cholesky factor
    (``torch.cholesky_inverse``; only its triangle is read), with PyTorch's gradient."""
    L = _check_factor("cholesky_inverse", L)
    return _CholeskyInverse.apply(L, bool(upper))
