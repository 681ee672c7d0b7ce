"""Products, scans and sorts with PyTorch's names and results: ``prod``, ``cumsum cumprod
logcumsumexp cummax cummin``, ``sort argsort msort topk kthvalue median``.

Built on four kinds of primitive (``ir/ops``): the ``prod`` reduction, the ``scan`` ops
(running folds along one axis), ``argsort`` (a stable sort's permutation) and ``gather``.
Every ``values`` result is ``gather(x, indices)``, so its gradient is the scatter to the
selected indices, as in PyTorch. A 0-d tensor acts as one element along dim 0 or -1.

    >>> import graphc
    >>> graphc.cumsum(graphc.tensor([1, 2, 3]), 0).tolist()
    [1, 3, 6]
    >>> graphc.topk(graphc.tensor([1.0, 5.0, 3.0]), 2).indices.tolist()
    [1, 2]
"""
from __future__ import annotations

import math
from typing import Optional

from graphc import functions as F
from graphc import return_types
from graphc.amp.autocast_mode import autocast_op
from graphc.dispatch import apply
from graphc.errors import ArgumentError
from graphc.tensor import Tensor
from ir import dtypes
from ir.types import wrap_dim


@autocast_op("prod")
def prod(x: Tensor, dim: Optional[int] = None, keepdim: bool = False, dtype=None) -> Tensor:
    """The product of all elements, or over ``dim``; bools and integers multiply in i64.

    The gradient is the product of the other elements, exact when some are zero:

        >>> import graphc
        >>> x = graphc.tensor([2.0, 0.0, 3.0], requires_grad=True)
        >>> graphc.prod(x).backward(); x.grad.tolist()
        [0.0, 6.0, 0.0]
    """
    if dtype is None:
        return apply("prod", [x], axes=F._axes(x, dim), keepdim=keepdim)
    x = F.cast(x, dtype)  # integers multiply in i64: cast back, as sum does
    return F.cast(apply("prod", [x], axes=F._axes(x, dim), keepdim=keepdim), dtype)


# -- scans -------------------------------------------------------------------------------------
def _scan(op: str, x: Tensor, dim: int) -> Tensor:
    """Applies scan ``op`` along ``dim``; a 0-d tensor is scanned as one element."""
    axis = wrap_dim(dim, x.ndim)
    if x.ndim == 0:
        return F.reshape(apply(op, [F.reshape(x, [1])], axis=0), [])
    return apply(op, [x], axis=axis)


@autocast_op("cumsum")
def cumsum(x: Tensor, dim: int, dtype=None) -> Tensor:
    """Running sums along ``dim``; bools and integers give i64, as in PyTorch.

        >>> import graphc
        >>> graphc.cumsum(graphc.tensor([[1.0, 2.0], [3.0, 4.0]]), dim=0).tolist()
        [[1.0, 2.0], [4.0, 6.0]]
    """
    if dtype is None:
        return _scan("cumsum", x, dim)
    return F.cast(_scan("cumsum", F.cast(x, dtype), dim), dtype)  # as sum: wraps in dtype


@autocast_op("cumprod")
def cumprod(x: Tensor, dim: int, dtype=None) -> Tensor:
    """Running products along ``dim``; bools and integers give i64. The gradient is exact with
    zeros in the input (as PyTorch's), not ``out / x``."""
    if dtype is None:
        return _scan("cumprod", x, dim)
    return F.cast(_scan("cumprod", F.cast(x, dtype), dim), dtype)  # as sum: wraps in dtype


def logcumsumexp(x: Tensor, dim: int) -> Tensor:
    """``log(cumsum(exp(x)))`` computed stably (no overflow); floats only, as in PyTorch.

        >>> import graphc
        >>> graphc.logcumsumexp(graphc.tensor([1000.0, 1000.0]), 0).tolist()[1] > 1000.69
        True
    """
    return _scan("logcumsumexp", x, dim)


def _running_extremum(op: str, result, x: Tensor, dim: int):
    indices = _scan(op, x, dim)
    return result(F.gather(x, dim, indices), indices)


def cummax(x: Tensor, dim: int) -> return_types.cummax:
    """(values, indices) of the running maximum along ``dim``: among equal maxima the last
    index, and a NaN stays the maximum once seen (each later NaN takes its index), as PyTorch.

        >>> import graphc
        >>> graphc.cummax(graphc.tensor([1.0, 3.0, 2.0, 3.0]), 0).indices.tolist()
        [0, 1, 1, 3]
    """
    return _running_extremum("cummax_indices", return_types.cummax, x, dim)


def cummin(x: Tensor, dim: int) -> return_types.cummin:
    """(values, indices) of the running minimum along ``dim`` (ties: the last index)."""
    return _running_extremum("cummin_indices", return_types.cummin, x, dim)


# -- sorts ---------------------------------------------------------------------------------------
def argsort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """The indices that sort ``x`` along ``dim``. Always stable (equal elements keep their
    order, which ``stable=False`` allows too); a NaN sorts as the largest value.

        >>> import graphc
        >>> graphc.argsort(graphc.tensor([2.0, float("nan"), 1.0, 2.0])).tolist()
        [2, 0, 3, 1]
    """
    axis = wrap_dim(dim, x.ndim)
    if x.ndim == 0:
        return F.reshape(apply("argsort", [F.reshape(x, [1])], axis=0), [])
    return apply("argsort", [x], axis=axis, descending=bool(descending))


def sort(x: Tensor, dim: int = -1, descending: bool = False,
         stable: bool = False) -> return_types.sort:
    """(values, indices) of ``x`` sorted along ``dim`` (stable; NaN sorts as the largest).

        >>> import graphc
        >>> graphc.sort(graphc.tensor([3, 1, 2]), descending=True).values.tolist()
        [3, 2, 1]
    """
    indices = argsort(x, dim, descending)
    return return_types.sort(F.gather(x, dim, indices), indices)


def msort(x: Tensor) -> Tensor:
    """``x`` sorted along dim 0 (the values of ``sort(x, dim=0)``)."""
    return sort(x, dim=0).values


def _selected(x: Tensor, dim: int, order: Tensor, start: int, length: int, keepdim: bool,
              result):
    """(values, indices) at positions ``start .. start+length`` of the sorting permutation
    ``order`` along ``dim``; with ``keepdim=False`` the (length-1) ``dim`` is squeezed."""
    if x.ndim == 0:
        return result(x, F.reshape(order, []))
    indices = F.narrow(order, dim, start, length)
    values = F.gather(x, dim, indices)
    if not keepdim:
        values, indices = F.squeeze_(values, dim), F.squeeze_(indices, dim)
    return result(values, indices)


def _size_along(x: Tensor, dim: int) -> int:
    return x.shape[wrap_dim(dim, x.ndim)] if x.ndim else 1


def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True,
         sorted: bool = True) -> return_types.topk:
    """The ``k`` largest (``largest=False``: smallest) elements along ``dim`` and their indices,
    largest first. NaN counts as the largest; among equal elements the first index comes first
    (PyTorch leaves that order unspecified). ``sorted=False`` also gives them sorted.

        >>> import graphc
        >>> graphc.topk(graphc.tensor([1.0, 4.0, 2.0, 4.0]), 3).indices.tolist()
        [1, 3, 2]
    """
    n = _size_along(x, dim)
    if not 0 <= k <= n:
        raise ArgumentError(f"topk: selected index k={k} out of range for dim {dim} of size {n}")
    return _selected(x, dim, argsort(x, dim, descending=largest), 0, k, True, return_types.topk)


def kthvalue(x: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> return_types.kthvalue:
    """The ``k``-th smallest element along ``dim`` (``k`` counts from 1) and its index; NaN
    counts as the largest.

        >>> import graphc
        >>> graphc.kthvalue(graphc.tensor([5.0, 1.0, 3.0]), 2)
        kthvalue(values=tensor(3.), indices=tensor(2))
    """
    n = _size_along(x, dim)
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k={k} out of range for dim {dim} of "
                           f"size {n} (k counts from 1)")
    return _selected(x, dim, argsort(x, dim), k - 1, 1, keepdim, return_types.kthvalue)


def median(x: Tensor, dim: Optional[int] = None, keepdim: bool = False):
    """The lower median (the ``(n-1)//2``-th smallest, not a mean of two), as PyTorch: with
    ``dim``, ``(values, indices)``; without, one value over all elements. A row holding a NaN
    has median NaN, at the index of its first NaN.

        >>> import graphc
        >>> graphc.median(graphc.tensor([4.0, 1.0, 3.0, 2.0]))
        tensor(2.)
    """
    if dim is None:
        flat = F.reshape(x, [-1])
        if flat.shape[0] == 0:  # PyTorch answers NaN here, not an error
            return F.reshape(F.cast(F.sum(flat), x.dtype), []) * math.nan
        value = median(flat, 0).values
        if not x.dtype.is_float:
            return value
        # PyTorch spreads this median's gradient evenly over the elements equal to it (with a
        # dim, it goes to the index returned): the value stays the median's, bit for bit
        # (v - 0.0 keeps a -0.0), the gradient is the mean's over the ties
        fixed = value.detach()
        ties = F.eq(flat, fixed)
        tied_mean = F.div(F.sum(F.where(ties, flat, 0.0)), F.sum(F.cast(ties, flat.dtype)))
        spread = F.sub(fixed, F.sub(tied_mean.detach(), tied_mean))
        return F.where(F.isfinite(fixed), spread, value)
    n = _size_along(x, dim)
    if n == 0:
        raise IndexError(f"median(): expected reduction dim {dim} to have non-zero size, "
                         f"got shape {list(x.shape)}")
    if x.ndim == 0:
        return return_types.median(x, F.reshape(argsort(x), []))
    middle = F.narrow(argsort(x, dim), dim, (n - 1) // 2, 1)
    if x.dtype.is_float:
        nans = F.isnan(x)
        first_nan = F.argmax(F.cast(nans, dtypes.i64), dim, keepdim=True)
        middle = F.where(F.any(nans, dim, keepdim=True), first_nan, middle)
    return _selected(x, dim, middle, 0, 1, keepdim, return_types.median)


METHODS = ("prod", "cumsum", "cumprod", "logcumsumexp", "cummax", "cummin", "argsort", "sort",
           "msort", "topk", "kthvalue", "median")
