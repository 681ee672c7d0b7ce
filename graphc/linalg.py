"""``graphc.linalg``: norms with PyTorch's meaning (``norm``, ``vector_norm``, ``matrix_norm``),
and the inverses, solvers (``linalg_solvers``), decompositions (``linalg_decompositions``),
triangular solvers and checked factorizations (``linalg_triangular``), LU (``linalg_lu``),
``matrix_exp`` and the smaller composites (``linalg_more``).

The norms are composites of ``abs``, ``pow``, ``sum``, ``amax``/``amin`` and ``sqrt``, so they
compile and differentiate (the spectral and nuclear ones need singular values: eager only).
As in PyTorch, the gradient of a norm at a zero vector is 0 (not NaN).

    >>> import graphc
    >>> graphc.linalg.vector_norm(graphc.tensor([3.0, 4.0])).item()
    5.0
    >>> graphc.linalg.matrix_norm(graphc.tensor([[1.0, -2.0], [3.0, 4.0]]), ord=1).item()
    6.0
"""
from __future__ import annotations

import math

from graphc import functions as F
from graphc.tensor import Tensor
from ir.errors import DTypeError, ShapeError
from ir.types import wrap_dim


def _float_input(x: Tensor, dtype, who: str) -> Tensor:
    if dtype is not None:
        x = F.cast(x, dtype)
    if not x.dtype.is_float:
        raise DTypeError(f"{who}: expected a floating point tensor as input, got {x.dtype}")
    return x


def _root_of_positive(total: Tensor, p: float) -> Tensor:
    """``total ** (1 / p)`` whose gradient is 0 where ``total`` is 0 (PyTorch's norm backward
    masks that case): the root is taken of 1 there and the result selected away, so no
    ``inf * 0`` reaches the gradient."""
    zero = F.eq(total, 0)
    safe = F.where(zero, 1.0, total)
    root = F.sqrt(safe) if p == 2 else F.pow(safe, 1.0 / p)
    return F.where(zero, 0.0, root)


@F.half_in_float32
def vector_norm(x: Tensor, ord=2, dim=None, keepdim: bool = False, *,
                dtype=None) -> Tensor:
    """The vector ``ord``-norm over ``dim`` (all elements when None), like
    ``torch.linalg.vector_norm``: ``ord`` is a number, ``inf`` or ``-inf``; 0 counts the
    nonzero elements."""
    x = _float_input(F.to_tensor(x), dtype, "linalg.vector_norm")
    if isinstance(ord, str):
        raise TypeError(f"linalg.vector_norm: ord must be a number, got {ord!r}")
    ord = float(ord)
    magnitude = F.abs(x)
    if ord == math.inf:
        return F.amax(magnitude, dim, keepdim)
    if ord == -math.inf:
        return F.amin(magnitude, dim, keepdim)
    if ord == 0:  # a count, with PyTorch's zero gradient (it requires grad as x does)
        count = F.sum(F.cast(F.ne(x, 0), x.dtype).detach(), dim, keepdim)
        no_change = F.where(F.isfinite(x), F.sub(x, x.detach()), 0.0)  # 0, gradient 1
        return F.add(count, F.mul(F.sum(no_change, dim, keepdim), 0.0))
    if ord == 1:
        return F.sum(magnitude, dim, keepdim)
    if ord == 2:
        return _root_of_positive(F.sum(F.mul(x, x), dim, keepdim), 2)
    if ord > 0:  # |x| ** ord with gradient 0 at x == 0, as PyTorch's (also for ord < 1)
        nonzero = F.ne(magnitude, 0)
        powered = F.where(nonzero, F.pow(F.where(nonzero, magnitude, 1.0), ord), 0.0)
    else:  # a zero entry makes the norm 0 (|0| ** ord is inf), with gradient 0 (not NaN)
        nonzero = F.ne(magnitude, 0)
        powered = F.where(nonzero, F.pow(F.where(nonzero, magnitude, 1.0), ord), math.inf)
    return _root_of_positive(F.sum(powered, dim, keepdim), ord)


def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *,
                dtype=None) -> Tensor:
    """A matrix norm over the two dims ``dim`` (``torch.linalg.matrix_norm``): ``'fro'``, the
    induced norms ``1``/``-1`` (largest/smallest column sum of ``|A|``) and ``inf``/``-inf``
    (rows), and from the singular values (:func:`svdvals`: eager only) ``2``/``-2`` (the
    largest/smallest) and ``'nuc'`` (their sum).
    """
    A = _float_input(F.to_tensor(A), dtype, "linalg.matrix_norm")
    if A.ndim < 2:
        raise ShapeError(f"linalg.matrix_norm: the input tensor A must have at least 2 "
                         f"dimensions, got shape {list(A.shape)}")
    if len(dim) != 2:
        raise ShapeError(f"linalg.matrix_norm: dim must be a 2-tuple, got {dim}")
    rows, cols = (wrap_dim(d, A.ndim) for d in dim)
    if rows == cols:
        raise ShapeError(f"linalg.matrix_norm: dims must be different, got {dim}")
    if ord == "fro":
        return vector_norm(A, 2, [rows, cols], keepdim)
    if ord in ("nuc", 2, -2):
        from graphc.linalg_decompositions import svdvals
        rest = [d for d in range(A.ndim) if d not in (rows, cols)]
        s = svdvals(F.permute(A, rest + [rows, cols]))
        result = (F.sum(s, -1) if ord == "nuc" else F.amax(s, -1) if ord == 2
                  else F.amin(s, -1))
        return F.unsqueeze(F.unsqueeze(result, min(rows, cols)), max(rows, cols)) if keepdim \
            else result
    if ord not in (1, -1, math.inf, -math.inf):
        raise ShapeError(f"linalg.matrix_norm: order {ord!r} is not supported; use 'fro', "
                         f"'nuc', 1, -1, 2, -2, inf or -inf")
    summed, over = (rows, cols) if abs(ord) == 1 else (cols, rows)
    sums = F.sum(F.abs(A), summed, keepdim=True)
    result = F.amax(sums, over, keepdim=True) if ord > 0 else F.amin(sums, over, keepdim=True)
    return result if keepdim else F.squeeze(result, [rows, cols])


def norm(A: Tensor, ord=None, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """``torch.linalg.norm``: without ``ord``, the 2-norm of the flattened tensor (or over
    ``dim``); with ``ord``, a vector norm of a 1-D input or over one dim, a matrix norm of a 2-D
    input or over two dims."""
    A = F.to_tensor(A)
    if isinstance(dim, int):
        dim = (dim,)
    if ord is None:
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if dim is None:
        if A.ndim not in (1, 2):
            raise ShapeError(f"linalg.norm: with ord={ord!r} and no dim, the input must be 1-D "
                             f"or 2-D, got shape {list(A.shape)}")
        dim = tuple(range(A.ndim))
    if len(dim) == 1:
        return vector_norm(A, ord, dim, keepdim, dtype=dtype)
    return matrix_norm(A, ord, dim, keepdim, dtype=dtype)


def tensor_norm(x: Tensor, p="fro", dim=None, keepdim: bool = False,
                dtype=None) -> Tensor:
    """``torch.norm`` / ``Tensor.norm``: ``p`` a number (a vector norm over ``dim``, all
    elements by default), ``'fro'`` (the 2-norm over ``dim``) or ``'nuc'``.

        >>> import graphc
        >>> graphc.tensor([[3.0, 4.0]]).norm(dim=1).tolist()
        [5.0]
    """
    if isinstance(dim, int):
        dim = (dim,)
    if p == "fro":
        return vector_norm(x, 2, dim, keepdim, dtype=dtype)
    if p == "nuc":
        return matrix_norm(x, "nuc", (-2, -1) if dim is None else dim, keepdim, dtype=dtype)
    if isinstance(p, str):
        raise ShapeError(f"norm: p must be a number, 'fro' or 'nuc', got {p!r}")
    return vector_norm(x, p, dim, keepdim, dtype=dtype)


# decompositions (QR, symmetric eigen, SVD) and what is built on them; inverses, determinants
# and solvers: modules of their own
from graphc.linalg_decompositions import (  # noqa: E402
    cond,
    eigh,
    eigvalsh,
    lstsq,
    matrix_rank,
    pinv,
    qr,
    svd,
    svdvals,
)

# LDL (linalg_ldl), LU (linalg_lu), matrix_exp and the smaller composites (linalg_more), inverses and solvers
# (linalg_solvers), triangular solvers and checked factorizations (linalg_triangular)
from graphc.linalg_ldl import ldl_factor, ldl_factor_ex, ldl_solve  # noqa: E402
from graphc.linalg_lu import lu, lu_factor, lu_factor_ex, lu_solve  # noqa: E402
from graphc.linalg_more import (  # noqa: E402
    cross,
    diagonal,
    householder_product,
    matrix_exp,
    tensorinv,
    tensorsolve,
    vander,
)
from graphc.linalg_solvers import (  # noqa: E402
    LinAlgError,
    cholesky,
    det,
    inv,
    logdet,
    matrix_power,
    multi_dot,
    slogdet,
    solve,
    vecdot,
)
from graphc.linalg_triangular import (  # noqa: E402
    cholesky_ex,
    inv_ex,
    solve_ex,
    solve_triangular,
)

__all__ = ["matrix_norm", "norm", "vector_norm", "LinAlgError", "cholesky", "det", "inv",
           "logdet", "matrix_power", "multi_dot", "slogdet", "solve", "vecdot", "cond", "eigh",
           "eigvalsh", "lstsq", "matrix_rank", "pinv", "qr", "svd", "svdvals",
           "solve_triangular", "cholesky_ex", "inv_ex", "solve_ex", "ldl_factor", "ldl_factor_ex",
           "ldl_solve", "lu_factor", "lu_factor_ex", "lu",
           "lu_solve", "matrix_exp", "cross", "diagonal", "vander", "tensorinv", "tensorsolve",
           "householder_product"]

_COMPLEX_ONLY = {"eig": "eigh", "eigvals": "eigvalsh"}


def __getattr__(name: str):
    # eig/eigvals answer complex tensors (a real nonsymmetric matrix has complex eigenvalues)
    if name in _COMPLEX_ONLY:
        raise AttributeError(
            f"graphc.linalg.{name} is not supported: it returns complex tensors, and graphc "
            f"has no complex dtypes. For a symmetric matrix use graphc.linalg."
            f"{_COMPLEX_ONLY[name]}")
    raise AttributeError(f"module 'graphc.linalg' has no attribute {name!r}")
