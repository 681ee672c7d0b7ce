"""More of ``graphc.linalg``, as PyTorch's: ``matrix_exp`` (also ``graphc.matrix_exp``), the
composites ``cross``, ``diagonal``, ``vander`` (and ``graphc.vander``), ``householder_product``,
and ``tensorinv``/``tensorsolve`` (reshaped :func:`inv`/:func:`solve`).

    >>> import graphc
    >>> graphc.linalg.vander(graphc.tensor([1.0, 2.0, 3.0])).tolist()
    [[1.0, 1.0, 1.0], [1.0, 2.0, 4.0], [1.0, 3.0, 9.0]]
    >>> a = graphc.tensor([[0.0, 1.0], [0.0, 0.0]], dtype=graphc.float64)
    >>> [round(v, 12) for v in graphc.linalg.matrix_exp(a).flatten().tolist()]
    [1.0, 1.0, 0.0, 1.0]

``matrix_exp`` runs in NumPy eagerly (Higham's 2005 scaling and squaring with the degree-13
Padé approximant, per matrix of the batch; float32 in float32); its gradient is PyTorch's, the
upper-right block of the exponential of ``[[A^T, G], [0, A^T]]``, itself a ``matrix_exp`` (so
second derivatives work). Inside a compiled function it is a composite of matmuls (Taylor's
degree-18 polynomial with scaling and squaring), equal to the eager result to rounding. ``cross``,
``diagonal``, ``vander`` and ``householder_product`` are composites of graphc ops: they
differentiate as such and compile.
"""
from __future__ import annotations

import math

import numpy as np

from graphc import functions as F
from graphc import tracing
from graphc.amp.autocast_mode import autocast_op
from graphc.autograd_function import Function
from graphc.linalg_solvers import _compute_dtype, _factorized, _square, _wrap, inv, solve
from graphc.tensor import Tensor
from ir.errors import DTypeError, ShapeError

__all__ = ["matrix_exp", "cross", "diagonal", "vander", "vander_legacy", "tensorinv",
           "tensorsolve", "householder_product"]

# Higham (2005), "The scaling and squaring method for the matrix exponential revisited":
# the degree-13 Padé coefficients and the largest 1-norm for which it is accurate in float64
_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
           129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
           40840800.0, 960960.0, 16380.0, 182.0, 1.0)
_THETA13 = 5.371920351148152


def expm_array(a: np.ndarray) -> np.ndarray:
    """``exp`` of each square matrix of float ``a`` (NaN for a matrix with inf or NaN)."""
    if a.size == 0:
        return np.array(a, copy=True)
    n = a.shape[-1]
    finite = np.isfinite(a).all(axis=(-2, -1))
    a = np.where(finite[..., None, None], a, 0)
    norm = np.abs(a).sum(axis=-2).max(axis=-1)  # the 1-norm
    with np.errstate(divide="ignore"):
        squarings = np.maximum(0, np.ceil(np.log2(norm / _THETA13))).astype(np.int64)
    a = a / np.exp2(squarings)[..., None, None].astype(a.dtype)
    b = [np.asarray(c, dtype=a.dtype) for c in _PADE13]
    eye = np.eye(n, dtype=a.dtype)
    a2 = a @ a
    a4 = a2 @ a2
    a6 = a4 @ a2
    u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2) + b[7] * a6 + b[5] * a4 + b[3] * a2
             + b[1] * eye)
    v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 \
        + b[0] * eye
    with np.errstate(all="ignore"):
        r = np.linalg.solve(v - u, v + u)
        for i in range(int(squarings.max(initial=0))):
            r = np.where((squarings > i)[..., None, None], r @ r, r)
    return np.where(finite[..., None, None], r, np.nan)


class _MatrixExp(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _wrap(expm_array(a.numpy().astype(_compute_dtype(a))), a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        # PyTorch's rule (Mathias 1996): the Fréchet derivative of exp at A^T applied to G is
        # the upper-right block of exp([[A^T, G], [0, A^T]]); a matrix_exp again, so
        # create_graph=True differentiates it once more
        n = a.shape[-1]
        top = F.cat([a.mT, grad], -1)
        bottom = F.cat([F.mul(a, 0.0), a.mT], -1)
        block = _MatrixExp.apply(F.cat([top, bottom], -2))
        return F.narrow(F.narrow(block, -2, 0, n), -1, n, n)


@autocast_op("linalg_matrix_exp")
def matrix_exp(A: Tensor) -> Tensor:
    """The matrix exponential ``sum_k A^k / k!`` of each square matrix of ``A``
    (``torch.linalg.matrix_exp``, ``torch.matrix_exp``), with PyTorch's gradient. Inside a
    compiled function (or a traced transform) it is :func:`_traced_matrix_exp`, a composite."""
    A = F.to_tensor(A)
    if tracing.current() is not None or A.is_traced:
        _square("matrix_exp", A)
        return _traced_matrix_exp(A)
    A = _factorized("matrix_exp", A)
    return _MatrixExp.apply(A)


# Taylor's degree-18 polynomial of exp is exact to the unit roundoff of float64 on matrices of
# 1-norm at most 1 (the remainder is below e/19! < 2.3e-17): a trace scales by 2^-s to get
# there. It cannot read the norm to choose s: it squares _TRACED_SQUARINGS times, keeping the
# result of only the last s squarings (`where`), for matrices of 1-norm up to 2^12 (checked as
# the graph runs: beyond, the call raises)
_TAYLOR = [1.0 / math.factorial(i) for i in range(19)]
_TRACED_SQUARINGS = 12


def _traced_matrix_exp(A: Tensor) -> Tensor:
    """``exp(A)`` from graphc ops, for traces: scaling and squaring around Taylor's degree-18
    polynomial, evaluated with 7 matmuls (Paterson-Stockmeyer); it differentiates as a
    composite."""
    top = _TRACED_SQUARINGS
    norm = A.detach().abs().sum(-2).amax()
    tracing.check(norm > 2.0 ** top, ValueError,
                  f"linalg.matrix_exp: a matrix of 1-norm above {2 ** top} inside a compiled "
                  "function (its number of squarings is bounded while tracing); compute it "
                  "eagerly")
    squarings = F.clamp(norm.clamp(min=1e-300).log2().ceil(), 0, top)
    result = _taylor(A * (-squarings).exp2().to(A.dtype))
    for i in range(top):  # the squarings i >= top - s are kept
        result = F.where(squarings >= top - i, result @ result, result)
    return result


def _taylor(A: Tensor) -> Tensor:
    """Taylor's degree-18 polynomial of exp at A (of norm at most 1)."""
    from graphc.factories import eye
    identity = eye(A.shape[-1], dtype=A.dtype)
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


@autocast_op("linalg_cross")
def cross(input: Tensor, other: Tensor, *, dim: int = -1) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (``torch.linalg.cross``): both of the same
    number of dimensions, the others broadcast. A composite: it compiles."""
    from graphc.torch_functions import cross as torch_cross
    input, other = F.to_tensor(input), F.to_tensor(other)
    if input.ndim != other.ndim:
        raise ShapeError(f"linalg.cross: inputs must have the same number of dimensions, got "
                         f"{input.ndim} and {other.ndim}")
    return torch_cross(input, other, dim)


@autocast_op("linalg_diagonal")
def diagonal(A: Tensor, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """``torch.linalg.diagonal``: :func:`graphc.diagonal` with the last two dimensions as the
    default plane."""
    from graphc.diagonals import diagonal as torch_diagonal
    return torch_diagonal(F.to_tensor(A), offset, dim1, dim2)


def _powers(x: Tensor, count: int, who: str) -> Tensor:
    """``[x^0, x^1, ..., x^(count-1)]`` along a new last dimension, by repeated products (so
    the gradient at 0 is finite, as PyTorch's cumprod-based one); integers answer int64."""
    if x.dtype.is_bool:
        raise DTypeError(f"{who} supports floating point and integer tensors, but got {x.dtype}")
    if not x.dtype.is_float:
        from graphc import int64
        x = F.cast(x, int64)
    columns = [F.add(F.mul(x, 0), 1)] if count else []
    for _ in range(1, count):
        columns.append(F.mul(columns[-1], x))
    if not columns:
        from graphc.factories import zeros
        return zeros(*x.shape, 0, dtype=x.dtype)
    return F.stack(columns, -1)


@autocast_op("linalg_vander")
def vander(x: Tensor, *, N=None) -> Tensor:
    """The Vandermonde matrix of the last dimension of ``x`` (``torch.linalg.vander``):
    ``(*, n)`` gives ``(*, n, N)`` with column ``j`` = ``x ** j`` (increasing powers; N defaults
    to n and must be greater than 1). A composite: it compiles."""
    x = F.to_tensor(x)
    if x.ndim < 1:
        raise ShapeError(f"linalg.vander: x must have at least one dimension, got shape "
                         f"{list(x.shape)}")
    count = x.shape[-1] if N is None else N
    if not isinstance(count, int) or count <= 1:
        raise ShapeError(f"linalg.vander: N must be greater than 1, got {count}")
    return _powers(x, count, "linalg.vander")


def vander_legacy(x: Tensor, N=None, increasing: bool = False) -> Tensor:
    """``torch.vander``: the Vandermonde matrix of a 1-D ``x``, ``(n, N)`` with decreasing
    powers (``x ** (N - 1)`` first) unless ``increasing``."""
    x = F.to_tensor(x)
    if x.ndim != 1:
        raise ShapeError(f"vander: x must be a one-dimensional tensor, got shape "
                         f"{list(x.shape)}")
    count = x.shape[0] if N is None else N
    if not isinstance(count, int) or count < 0:
        raise ShapeError(f"vander: N must be non-negative, got {count}")
    result = _powers(x, count, "vander")
    from graphc import flip
    return result if increasing or count < 2 else flip(result, [-1])


def _prod(shape) -> int:
    return math.prod(int(s) for s in shape)


@autocast_op("linalg_tensorinv")
def tensorinv(A: Tensor, ind: int = 2) -> Tensor:
    """The inverse of ``A`` for :func:`graphc.tensordot` over ``ind`` dimensions
    (``torch.linalg.tensorinv``): ``A`` reshaped to a square (prod(shape[:ind]),
    prod(shape[ind:])) matrix, inverted, and shaped ``shape[ind:] + shape[:ind]``."""
    A = F.to_tensor(A)
    if not isinstance(ind, int) or ind <= 0:
        raise ValueError(f"linalg.tensorinv: Expected a strictly positive integer for 'ind', "
                         f"but got {ind}")
    rows, cols = _prod(A.shape[:ind]), _prod(A.shape[ind:])
    if rows != cols:
        raise ShapeError(f"linalg.tensorinv: Expected prod(A.shape[ind:]) == "
                         f"prod(A.shape[:ind]), but got {cols} != {rows} (shape "
                         f"{list(A.shape)}, ind={ind})")
    result = inv(F.reshape(A, [rows, cols]))
    return F.reshape(result, list(A.shape[ind:]) + list(A.shape[:ind]))


@autocast_op("linalg_tensorsolve")
def tensorsolve(A: Tensor, B: Tensor, dims=None) -> Tensor:
    """``X`` with ``tensordot(A, X, X.ndim) = B`` (``torch.linalg.tensorsolve``): ``X`` has the
    shape ``A.shape[B.ndim:]``; ``dims`` are dimensions of ``A`` moved to the end first."""
    A, B = F.to_tensor(A), F.to_tensor(B)
    if dims is not None:
        from graphc.torch_functions import movedim
        dims = [dims] if isinstance(dims, int) else list(dims)
        A = movedim(A, dims, list(range(A.ndim - len(dims), A.ndim)))
    shape = list(A.shape[B.ndim:])
    rows, cols = _prod(A.shape[:B.ndim]), _prod(shape)
    if rows != cols or rows != _prod(B.shape):
        raise ShapeError(f"linalg.tensorsolve: Expected prod(A.shape[B.ndim:]) == "
                         f"prod(A.shape[:B.ndim]) == B.numel(), but got {cols}, {rows} and "
                         f"{_prod(B.shape)} (A of shape {list(A.shape)}, B of shape "
                         f"{list(B.shape)})")
    result = solve(F.reshape(A, [rows, cols]), F.reshape(B, [rows]))
    return F.reshape(result, shape)


@autocast_op("linalg_householder_product")
def householder_product(A: Tensor, tau: Tensor) -> Tensor:
    """The first n columns of ``H_1 ... H_k``, ``H_i = I - tau_i v_i v_i^T`` with ``v_i`` the
    i-th column of ``A`` below the diagonal and 1 on it (``torch.linalg.householder_product``,
    LAPACK's ``orgqr``): ``A`` (*, m, n), m >= n, ``tau`` (*, k), k <= n. A composite of
    products: it differentiates and compiles."""
    A, tau = F.to_tensor(A), F.to_tensor(tau)
    who = "linalg.householder_product"
    if A.ndim < 2:
        raise ShapeError(f"{who}: input must have at least 2 dimensions, got shape "
                         f"{list(A.shape)}")
    if tau.ndim != A.ndim - 1:
        raise ShapeError(f"{who}: Expected tau to have one dimension less than input, but got "
                         f"tau.ndim equal to {tau.ndim} and input.ndim is equal to {A.ndim}")
    m, n, k = A.shape[-2], A.shape[-1], tau.shape[-1]
    if m < n:
        raise ShapeError(f"{who}: input.shape[-2] must be greater than or equal to "
                         f"input.shape[-1], got shape {list(A.shape)}")
    if n < k:
        raise ShapeError(f"{who}: input.shape[-1] must be greater than or equal to "
                         f"tau.shape[-1], got {n} and {k}")
    if tuple(tau.shape[:-1]) != tuple(A.shape[:-2]):
        raise ShapeError(f"{who}: Expected batch dimensions of tau to be equal to "
                         f"input.shape[:-2], got {list(tau.shape[:-1])} and "
                         f"{list(A.shape[:-2])}")
    if not A.dtype.is_float or tau.dtype != A.dtype:
        raise DTypeError(f"{who}: expected floating point input and tau of the same dtype, got "
                         f"{A.dtype} and {tau.dtype}")
    from graphc.factories import eye
    identity = eye(m, n, dtype=A.dtype)
    vectors = F.add(F.tril(A, -1), identity)  # column i is v_i (the part of A above is unused)
    q = F.add(F.mul(A, 0.0), identity)  # (the batch shape of A)
    for i in range(k - 1, -1, -1):  # Q = H_1 (H_2 (... (H_k I)))
        v = F.narrow(vectors, -1, i, 1)
        t = F.unsqueeze(F.narrow(tau, -1, i, 1), -1)
        q = F.sub(q, F.mul(t, F.matmul(v, F.matmul(v.mT, q))))
    return q
