"""``graphc.linalg``'s inverses, determinants and solvers, as PyTorch's: ``inv``, ``det``,
``slogdet``, ``solve``, ``cholesky``, and the composites ``matrix_power``, ``multi_dot``,
``vecdot``. Each takes a batch of square matrices in its last two dimensions.

    >>> import graphc
    >>> a = graphc.tensor([[4.0, 7.0], [2.0, 6.0]], dtype=graphc.float64, requires_grad=True)
    >>> [round(v, 3) for v in graphc.linalg.inv(a).flatten().tolist()]
    [0.6, -0.7, -0.2, 0.4]
    >>> graphc.linalg.det(a).backward()      # d det / dA = det * inv(A)^T
    >>> [round(v, 3) for v in a.grad.flatten().tolist()]
    [6.0, -2.0, -7.0, 4.0]

The factorizations run in LAPACK (NumPy's) eagerly, and their gradients are PyTorch's formulas
written with graphc ops (so second derivatives work). Inside a compiled function they are
refused (``TraceError``) for now; ``matrix_power`` with n >= 0, ``multi_dot`` and ``vecdot``
are matmuls and compile.
"""
from __future__ import annotations

import numpy as np

from graphc import autograd, tracing
from graphc import functions as F
from graphc.amp.autocast_mode import autocast_op
from graphc.autograd_function import Function
from graphc.errors import ArgumentDTypeError, AutogradError, ShapeError
from graphc.tensor import Tensor

__all__ = ["inv", "det", "slogdet", "logdet", "solve", "cholesky", "matrix_power",
           "multi_dot", "vecdot", "LinAlgError"]


class LinAlgError(RuntimeError):
    """A matrix a factorization cannot handle (singular, not positive definite), as
    ``torch.linalg.LinAlgError``."""


def _eager_only(name: str, *tensors: Tensor) -> None:
    if tracing.current() is not None or any(t.is_traced for t in tensors):
        raise tracing.TraceError(
            f"linalg.{name} is not supported inside a compiled function or a traced transform "
            f"(vmap, jacfwd, hessian) yet: it runs in LAPACK, eagerly. Call it outside, or "
            f"use grad/jacrev, which differentiate it eagerly")


def _square(name: str, a: Tensor) -> Tensor:
    a = F.to_tensor(a)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"linalg.{name}: A must be a batch of square matrices, got shape "
                         f"{list(a.shape)}")
    if not a.dtype.is_float:
        raise ArgumentDTypeError(f"linalg.{name}: expected a floating point tensor, got {a.dtype}")
    return a


def _factorized(name: str, a: Tensor) -> Tensor:
    """The checked square matrices of a function that runs in LAPACK, eagerly."""
    a = _square(name, a)
    _eager_only(name, a)
    return a


def _lapack(name: str, fn, *arrays):
    """``fn(*arrays)``, NumPy's LinAlgError raised as graphc's (naming the function)."""
    try:
        with np.errstate(all="ignore"):
            return fn(*arrays)
    except np.linalg.LinAlgError as exc:
        raise LinAlgError(f"linalg.{name}: {exc}") from None


def _wrap(array: np.ndarray, like: Tensor) -> Tensor:
    return Tensor._wrap(np.asarray(array, dtype=like.dtype.numpy))


def _compute_dtype(a: Tensor):
    return np.float64 if a.dtype.numpy.itemsize >= 8 else np.float32


class _Inverse(Function):
    @staticmethod
    def forward(ctx, a):
        array = a.numpy().astype(_compute_dtype(a))
        ctx.save_for_backward(a)
        if not np.isfinite(array).all():  # NaN or inf in: NaN out, as PyTorch (LAPACK raises)
            return _wrap(np.full(array.shape, np.nan), a)
        return _wrap(_lapack("inv", np.linalg.inv, array), a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        a_inv = inv(a)  # (recorded under create_graph: second derivatives)
        return F.neg(F.matmul(F.matmul(a_inv.mT, grad), a_inv.mT))


@autocast_op("inverse")
def inv(A: Tensor) -> Tensor:
    """The inverse of each square matrix of ``A`` (``torch.linalg.inv``); a singular one is a
    :class:`LinAlgError`."""
    A = _factorized("inv", A)
    return _Inverse.apply(A)


class _LogAbsDet(Function):
    @staticmethod
    def forward(ctx, a):
        sign, logabs = _lapack("slogdet", np.linalg.slogdet, a.numpy().astype(_compute_dtype(a)))
        ctx.save_for_backward(a)
        return _wrap(sign, a), _wrap(logabs, a)

    @staticmethod
    def backward(ctx, grad_sign, grad_logabs):
        (a,) = ctx.saved_tensors
        return F.mul(F.unsqueeze(F.unsqueeze(grad_logabs, -1), -1), inv(a).mT)


def slogdet(A: Tensor):
    """``(sign, log|det|)`` of each square matrix (``torch.linalg.slogdet``): stable where the
    determinant under- or overflows. The gradient flows through ``log|det|``."""
    from graphc.return_types import slogdet as result
    A = _factorized("slogdet", A)
    sign, logabs = _LogAbsDet.apply(A)
    sign = sign.detach()
    return result(sign, logabs)


def logdet(A: Tensor) -> Tensor:
    """``log(det(A))``: NaN for a negative determinant, -inf for zero (``torch.logdet``)."""
    sign, logabs = slogdet(A)
    return F.where(F.lt(sign, 0), float("nan"), F.where(F.eq(sign, 0), -float("inf"), logabs))


def det(A: Tensor) -> Tensor:
    """The determinant of each square matrix (``torch.linalg.det``), with gradient
    ``det(A) * inv(A)^T`` (the cofactor matrix: for a singular matrix it is computed from the
    SVD, as PyTorch does, so it stays finite)."""
    A = _factorized("det", A)
    return _Determinant.apply(A)


class _Determinant(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _wrap(_lapack("det", np.linalg.det, a.numpy().astype(_compute_dtype(a))), a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        determinant = det(a)  # (recorded under create_graph: second derivatives)
        if np.all(determinant.detach().numpy() != 0):
            cofactor = F.mul(F.unsqueeze(F.unsqueeze(determinant, -1), -1), inv(a).mT)
        else:  # singular: the cofactors from the SVD, adj(A) = det(U V^T) V diag(prod_j!=i s_j) U^T
            if autograd.is_grad_enabled():  # (create_graph: a constant would be silently wrong)
                raise AutogradError("linalg.det: second derivatives at a singular matrix are "
                                    "not supported")
            array = a.numpy().astype(_compute_dtype(a))
            cofactor = _wrap(np.swapaxes(_adjugate(array), -1, -2), a)
        return F.mul(F.unsqueeze(F.unsqueeze(grad, -1), -1), cofactor)


def _adjugate(a: np.ndarray) -> np.ndarray:
    u, s, vt = np.linalg.svd(a)
    n = s.shape[-1]
    others = np.stack([np.prod(np.delete(s, i, axis=-1), axis=-1) for i in range(n)], axis=-1)
    scale = np.linalg.det(u) * np.linalg.det(vt)
    v = np.swapaxes(vt, -1, -2)
    ut = np.swapaxes(u, -1, -2)
    return scale[..., None, None] * (v * others[..., None, :]) @ ut


class _Solve(Function):
    @staticmethod
    def forward(ctx, a, b, vector):
        dtype = _compute_dtype(a)
        rhs = b.numpy().astype(dtype)
        matrix = a.numpy().astype(dtype)
        x = _lapack("solve", np.linalg.solve, matrix, rhs[..., None] if vector else rhs)
        ctx.save_for_backward(a, b)
        ctx.vector = vector
        return _wrap(x[..., 0] if vector else x, a)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        x = solve(a, b)  # (again: recorded under create_graph, for second derivatives)
        grad_b = solve(a.mT, grad)  # A^T gB = gX
        if ctx.vector:
            grad_a = F.neg(F.mul(F.unsqueeze(grad_b, -1), F.unsqueeze(x, -2)))
        else:
            grad_a = F.neg(F.matmul(grad_b, x.mT))
        return grad_a, grad_b, None


@autocast_op("linalg_solve")
def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:
    """``X`` with ``A @ X = B`` (``torch.linalg.solve``); ``B`` is a batch of matrices or, of
    shape ``A.shape[:-1]``, of vectors. ``left=False`` solves ``X @ A = B``."""
    A = _factorized("solve", A)
    B = F.to_tensor(B)
    _eager_only("solve", B)
    if not left:
        return solve(A.mT, B.mT).mT
    B, vector = solve_operand("solve", A, B)
    return _Solve.apply(A, B, vector)


def solve_operand(name: str, A: Tensor, B: Tensor):
    """``(B, vector)``: the right-hand side of ``A X = B`` as PyTorch reads it, cast to A's
    dtype, and whether it is a batch of vectors (``B.shape == A.shape[:-1]``, or one vector
    for every matrix) rather than of matrices (..., n, k)."""
    if B.ndim == 1 and A.ndim > 2 and B.shape[0] == A.shape[-1]:
        B = F.broadcast_to(B, list(A.shape[:-1]))  # one vector for every matrix, as PyTorch
    vector = B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1])
    if not vector and (B.ndim < 2 or B.shape[-2] != A.shape[-1]):
        raise ShapeError(f"linalg.{name}: B of shape {list(B.shape)} does not match A of shape "
                         f"{list(A.shape)} (expected (..., {A.shape[-1]}, k) or "
                         f"{list(A.shape[:-1])})")
    return F.cast(B, A.dtype), vector


class _Cholesky(Function):
    @staticmethod
    def forward(ctx, a, upper):
        array = a.numpy().astype(_compute_dtype(a))
        try:
            low = np.linalg.cholesky(array)
        except np.linalg.LinAlgError:
            raise LinAlgError("linalg.cholesky: the input is not positive-definite") from None
        out = _wrap(low, a)
        ctx.save_for_backward(a)
        ctx.upper = upper
        return out.mT if upper else out

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        low = cholesky(a)  # (again: recorded under create_graph, for second derivatives)
        if ctx.upper:
            grad = grad.mT
        # PyTorch's rule: phi = tril(L^T gL) with its diagonal halved, S = L^-T phi L^-1,
        # gA = (S + S^T) / 2
        phi = F.tril(F.matmul(low.mT, grad))
        n = low.shape[-1]
        from graphc.factories import eye
        phi = F.sub(phi, F.mul(phi, F.mul(eye(n, dtype=low.dtype), 0.5)))
        low_inv = inv(low)
        s = F.matmul(F.matmul(low_inv.mT, phi), low_inv)
        return F.mul(F.add(s, s.mT), 0.5), None


@autocast_op("cholesky")
def cholesky(A: Tensor, *, upper: bool = False) -> Tensor:
    """The lower (or ``upper``) triangular ``L`` with ``A = L L^T`` of each symmetric positive-
    definite matrix (``torch.linalg.cholesky``); another matrix is a :class:`LinAlgError`."""
    A = _factorized("cholesky", A)
    return _Cholesky.apply(A, upper)


def matrix_power(A: Tensor, n: int) -> Tensor:
    """``A`` multiplied by itself ``n`` times (``torch.linalg.matrix_power``): the identity for
    0, ``inv(A)`` powers for negative ``n``. Repeated squaring of matmuls: it compiles for
    n >= 0."""
    A = _square("matrix_power", A)
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"linalg.matrix_power: n must be an int, got {type(n).__name__}")
    if n < 0:
        return matrix_power(inv(A), -n)
    from graphc.factories import eye
    result = None
    base = A
    while n:
        if n & 1:
            result = base if result is None else F.matmul(result, base)
        n >>= 1
        if n:
            base = F.matmul(base, base)
    if result is None:
        return F.add(F.mul(A, 0.0), eye(A.shape[-1], dtype=A.dtype))
    return F.mul(result, 1.0) if result is A else result  # (a new tensor, for n == 1 too)


@autocast_op("linalg_multi_dot")
def multi_dot(tensors) -> Tensor:
    """The product of a chain of matrices (``torch.linalg.multi_dot``); the first may be a
    vector (a row) and the last a vector (a column). Multiplied in the order that needs the
    fewest operations."""
    tensors = [F.to_tensor(t) for t in tensors]
    if len(tensors) < 2:
        raise ValueError("linalg.multi_dot: expected at least 2 tensors")
    first_vector, last_vector = tensors[0].ndim == 1, tensors[-1].ndim == 1
    if first_vector:
        tensors[0] = F.unsqueeze(tensors[0], 0)
    if last_vector:
        tensors[-1] = F.unsqueeze(tensors[-1], -1)
    for i, t in enumerate(tensors):
        if t.ndim != 2:
            raise ValueError(f"linalg.multi_dot: tensor {i} must be 2-D (or 1-D first or last), "
                             f"got shape {list(t.shape)}")
    dims = [tensors[0].shape[0]] + [t.shape[1] for t in tensors]
    order = _chain_order(dims)
    result = _multiply(tensors, order, 0, len(tensors) - 1)
    if first_vector:
        result = F.squeeze(result, 0)
    if last_vector:
        result = F.squeeze(result, -1)
    return result


def _chain_order(dims: list[int]) -> list[list[int]]:
    """The classic matrix-chain dynamic program: split[i][j] is where to cut i..j."""
    n = len(dims) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = -1
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if cost[i][j] < 0 or c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k
    return split


def _multiply(tensors, split, i: int, j: int) -> Tensor:
    if i == j:
        return tensors[i]
    k = split[i][j]
    return F.matmul(_multiply(tensors, split, i, k), _multiply(tensors, split, k + 1, j))


@autocast_op("linalg_vecdot")
def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """The dot product of vectors along ``dim``, broadcasting the rest
    (``torch.linalg.vecdot``)."""
    return F.sum(F.mul(x, y), dim)
