"""PyTorch's scatter and index family, written from the ``scatter``, ``scatter_add``,
``scatter_reduce`` and ``gather`` primitives (ir/ops/index.py).

``scatter``, ``scatter_reduce``, ``index_add``, ``index_copy``, ``index_fill``, ``index_put``,
``index_reduce``, ``take_along_dim`` and their in-place forms (``x.scatter_(...)``,
``x.index_add_(...)``...) have PyTorch's meaning. Where several indices name the same
position, accumulating ops (``scatter_add``, ``index_add``, ``index_put(accumulate=True)``) add
every contribution, and writing ops (``scatter``, ``index_copy``, ``index_put``) keep the last
one in row-major order of the index (PyTorch leaves that undefined)::

    >>> import graphc
    >>> x = graphc.zeros(4)
    >>> graphc.index_add(x, 0, graphc.tensor([1, 1, 3]), graphc.tensor([1.0, 2.0, 5.0])).tolist()
    [0.0, 3.0, 0.0, 5.0]
    >>> graphc.scatter(x, 0, graphc.tensor([2, 2]), graphc.tensor([7.0, 9.0])).tolist()
    [0.0, 0.0, 9.0, 0.0]

Index values out of range raise ``IndexError``; operand shapes that do not fit raise
``ShapeError`` naming the argument.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from graphc import functions as F
from graphc.amp.autocast_mode import autocast_op
from graphc.dispatch import apply
from graphc.errors import ArgumentError, DTypeError, ShapeError
from graphc.tensor import Tensor
from ir import dtypes
from ir.types import wrap_dim

_REDUCE_IDENTITY = {"sum": 0, "mean": 0, "prod": 1}


def _at_least_1d(x: Tensor) -> Tensor:
    return F.reshape(x, [1]) if x.ndim == 0 else x


def _check_index_tensor(op: str, index) -> Tensor:
    index = F.to_tensor(index)
    if not index.dtype.is_int:
        raise DTypeError(f"{op}(): index must be an integer tensor (int64 or int32), got "
                         f"{index.dtype}")
    return index


def _filled(like: Tensor, value, dtype=None) -> Tensor:
    """A tensor of ``like``'s shape filled with ``value`` (of ``like``'s dtype by default)."""
    scalar = apply("const", [], value=value, dtype=dtype or like.dtype, shape=[])
    return F.broadcast_to(scalar, list(like.shape))


def _scatter_operands(op: str, x: Tensor, dim: int, index, src) -> tuple:
    """``x``, the wrapped ``dim``, ``index`` and ``src`` cut to ``index``'s shape (PyTorch reads
    only that part of a larger ``src``), all at least 1-d as PyTorch treats 0-d operands."""
    index = _check_index_tensor(op, index)
    axis = wrap_dim(dim, x.ndim)
    x1, index1 = _at_least_1d(x), _at_least_1d(index)
    if index1.ndim != x1.ndim:
        raise ShapeError(f"{op}(): index has {index.ndim} dimensions but input has {x.ndim}; "
                         "they must have the same number of dimensions")
    src1 = _at_least_1d(F.to_tensor(src, x))
    if src1.ndim != index1.ndim or any(s < i for s, i in zip(src1.shape, index1.shape)):
        raise ShapeError(f"{op}(): src of shape {list(src1.shape)} must be at least as large "
                         f"as index of shape {list(index1.shape)} in every dimension")
    if src1.shape != index1.shape:
        src1 = apply("slice", [src1], starts=[0] * src1.ndim, stops=list(index1.shape),
                     steps=[1] * src1.ndim)
    if src1.dtype != x.dtype:
        src1 = F.cast(src1, x.dtype)
    return x1, axis, index1, src1


def _scatter_primitive(op: str, x: Tensor, dim: int, index, src, **attrs) -> Tensor:
    x1, axis, index1, src1 = _scatter_operands(op, x, dim, index, src)
    return F.reshape(apply(op, [x1, index1, src1], axis=axis, **attrs), list(x.shape))


def scatter(input: Tensor, dim: int, index: Tensor, src=None, value=None, *,
            reduce: Optional[str] = None) -> Tensor:
    """A copy of ``input`` with ``src`` (or the number ``value``) written at ``index`` along
    ``dim``, like ``torch.scatter``: ``out[index[i][j]][j] = src[i][j]`` for ``dim=0``.

    ``reduce='add'`` or ``'multiply'`` combines instead of writing (PyTorch's older form of
    ``scatter_reduce``). Duplicate indices: the last write wins.

        >>> import graphc
        >>> graphc.zeros(2, 3).scatter(1, graphc.tensor([[2], [0]]), 1.0).tolist()
        [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    if src is None:
        if value is None:
            raise TypeError("scatter(): give either src (a tensor) or value (a number)")
        src = value
    if not isinstance(src, Tensor):  # a number: filled to index's shape
        index = _check_index_tensor("scatter", index)
        src = F.broadcast_to(F.scalar_like(src, input), list(index.shape))
    if reduce is None:
        return _scatter_primitive("scatter", input, dim, index, src)
    if reduce == "add":
        return _scatter_primitive("scatter_add", input, dim, index, src)
    if reduce == "multiply":
        return _scatter_primitive("scatter_reduce", input, dim, index, src, reduce="prod")
    raise ValueError(f"scatter(): reduce must be 'add' or 'multiply', got {reduce!r}")


@autocast_op("scatter_add")
def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """A copy of ``input`` with ``src`` added at ``index`` along ``dim`` (duplicates add up),
    like ``torch.scatter_add``."""
    return _scatter_primitive("scatter_add", input, dim, index, src)


def _identity(reduce: str, dtype) -> float:
    if reduce in _REDUCE_IDENTITY:
        return _REDUCE_IDENTITY[reduce]
    sign = -1 if reduce == "amax" else 1
    if dtype.is_float:
        return sign * float("inf")
    info = np.iinfo(dtype.numpy)
    return int(info.min) if sign < 0 else int(info.max)


def scatter_reduce(input: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *,
                   include_self: bool = True) -> Tensor:
    """``torch.scatter_reduce``: each position of ``input`` that ``index`` names along ``dim``
    becomes the ``reduce`` (``'sum'``, ``'prod'``, ``'mean'``, ``'amax'``, ``'amin'``) of the
    ``src`` elements sent to it, and of its own value when ``include_self``. Positions no index
    names keep their value.

        >>> import graphc
        >>> x = graphc.tensor([1.0, 1.0, 1.0])
        >>> i, s = graphc.tensor([0, 0, 2]), graphc.tensor([4.0, 6.0, 8.0])
        >>> graphc.scatter_reduce(x, 0, i, s, "mean").tolist()
        [3.6666667461395264, 1.0, 4.5]
        >>> graphc.scatter_reduce(x, 0, i, s, "amax", include_self=False).tolist()
        [6.0, 1.0, 8.0]
    """
    if reduce not in ("sum", "prod", "mean", "amax", "amin"):
        raise ValueError(f"scatter_reduce(): reduce must be 'sum', 'prod', 'mean', 'amax' or "
                         f"'amin', got {reduce!r}")
    x1, axis, index1, src1 = _scatter_operands("scatter_reduce", input, dim, index, src)
    start = x1
    if not include_self:  # the named positions start from the reduction's identity
        fill = _filled(index1, _identity(reduce, x1.dtype), x1.dtype)
        start = apply("scatter", [x1, index1, fill], axis=axis)
    if reduce in ("sum", "mean"):
        out = apply("scatter_add", [start, index1, src1], axis=axis)
    else:
        out = apply("scatter_reduce", [start, index1, src1], axis=axis, reduce=reduce)
    if reduce == "mean":
        own = 1 if include_self else 0
        counts = apply("scatter_add", [_filled(x1, own, dtypes.i64), index1,
                                       _filled(src1, 1, dtypes.i64)], axis=axis)
        counts = F.maximum(counts, 1)  # untouched positions (count 0) keep their value
        out = _mean_division(out, counts)
    return F.reshape(out, list(input.shape))


def _mean_division(total: Tensor, counts: Tensor) -> Tensor:
    """``total / counts`` in ``total``'s dtype; integers round toward minus infinity (PyTorch
    divides integer means with ``rounding_mode='floor'``)."""
    if total.dtype.is_float:
        return F.div(total, F.cast(counts, total.dtype))
    quotient = F.div(F.cast(total, dtypes.f64), F.cast(counts, dtypes.f64))
    truncated = F.cast(quotient, total.dtype)
    below = F.lt(quotient, F.cast(truncated, dtypes.f64))  # negative non-integers
    return F.where(below, F.sub(truncated, 1), truncated)


def _along_dim(op: str, x: Tensor, dim: int, index, source: Tensor) -> tuple:
    """``dim`` wrapped and a 1-d ``index`` broadcast to ``source``'s shape, PyTorch's ``index_*``
    convention: ``index[i]`` says where slice ``i`` of ``source`` along ``dim`` goes."""
    index = _check_index_tensor(op, index)
    if index.ndim > 1:
        raise ShapeError(f"{op}(): index must be a vector (1-d), got shape {list(index.shape)}")
    axis = wrap_dim(dim, x.ndim)
    index = _at_least_1d(index)
    x1 = _at_least_1d(x)
    source = _at_least_1d(F.to_tensor(source, x))
    expected = list(x1.shape)
    expected[axis] = index.shape[0]
    if list(source.shape) != expected:
        raise ShapeError(f"{op}(): source of shape {list(source.shape)} must have the shape of "
                         f"input ({list(x.shape)}) with dimension {axis} of the index's length "
                         f"{index.shape[0]}: {expected}")
    view = [1] * x1.ndim
    view[axis] = index.shape[0]
    spread = F.broadcast_to(F.reshape(index, view), expected)
    return x1, axis, spread, source


def negative_counts_from_end(index: Tensor, size: int) -> Tensor:
    """Negative indices count from the end; one below ``-size`` stays as it is, so that the
    gather's range error names the index the user wrote."""
    return F.where(F.logical_and(F.lt(index, 0), F.ge(index, -size)), F.add(index, size), index)


def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1) -> Tensor:
    """``input`` with ``alpha * source[..., i, ...]`` added to ``input[..., index[i], ...]``
    along ``dim``, like ``torch.index_add`` (duplicate indices add up)."""
    x1, axis, spread, source = _along_dim("index_add", input, dim, index, source)
    if alpha != 1:
        source = F.mul(source, alpha)
    source = F.cast(source, x1.dtype)
    spread = negative_counts_from_end(spread, x1.shape[axis])
    return F.reshape(apply("scatter_add", [x1, spread, source], axis=axis), list(input.shape))


@autocast_op("index_copy")
def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """``input`` with ``source[..., i, ...]`` copied to ``input[..., index[i], ...]`` along
    ``dim``, like ``torch.index_copy`` (duplicate indices: the last copy wins)."""
    x1, axis, spread, source = _along_dim("index_copy", input, dim, index, source)
    spread = negative_counts_from_end(spread, x1.shape[axis])
    out = apply("scatter", [x1, spread, F.cast(source, x1.dtype)], axis=axis)
    return F.reshape(out, list(input.shape))


def index_reduce(input: Tensor, dim: int, index: Tensor, source: Tensor, reduce: str, *,
                 include_self: bool = True) -> Tensor:
    """``torch.index_reduce``: each slice ``index[i]`` of ``input`` along ``dim`` becomes the
    ``reduce`` (``'prod'``, ``'mean'``, ``'amax'``, ``'amin'``) of the slices ``i`` of ``source``
    sent to it, and of itself when ``include_self``; slices no index names keep their value.
    It is ``scatter_reduce`` with the index spread over ``source``, gradient included.

        >>> import graphc
        >>> x = graphc.tensor([1.0, 2.0, 3.0])
        >>> graphc.index_reduce(x, 0, graphc.tensor([0, 0]), graphc.tensor([4.0, 5.0]),
        ...                     "prod").tolist()
        [20.0, 2.0, 3.0]
    """
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise ArgumentError(f"index_reduce(): expected reduce to be one of prod, mean, amax or amin "
                         f"but got {reduce!r}")
    x1, axis, spread, source = _along_dim("index_reduce", input, dim, index, source)
    out = scatter_reduce(x1, axis, spread, F.cast(source, x1.dtype), reduce,
                         include_self=include_self)
    return F.reshape(out, list(input.shape))


def index_fill(input: Tensor, dim: int, index: Tensor, value) -> Tensor:
    """``input`` with every slice ``index[i]`` along ``dim`` set to ``value`` (a number or a
    0-d tensor), like ``torch.index_fill``."""
    index = _at_least_1d(_check_index_tensor("index_fill", index))
    value = F.to_tensor(value, input)
    if value.ndim:
        raise ShapeError(f"index_fill(): value must be a number or a 0-d tensor, got shape "
                         f"{list(value.shape)}")
    shape = list(_at_least_1d(input).shape)
    shape[wrap_dim(dim, input.ndim)] = index.shape[0]
    return index_copy(input, dim, index, F.broadcast_to(F.cast(value, input.dtype), shape))


def take_along_dim(input: Tensor, indices: Tensor, dim: Optional[int] = None) -> Tensor:
    """``torch.take_along_dim``: ``gather`` along ``dim`` after broadcasting ``input`` and
    ``indices`` on the other dimensions; without ``dim``, on the flattened input."""
    indices = _check_index_tensor("take_along_dim", indices)
    if dim is None:
        return F.gather(F.reshape(input, [-1]), 0, F.reshape(indices, [-1]))
    axis = wrap_dim(dim, input.ndim)
    if input.ndim != indices.ndim:
        raise ShapeError(f"take_along_dim(): input ({input.ndim} dims) and indices "
                         f"({indices.ndim} dims) must have the same number of dimensions")
    x_shape, i_shape = list(input.shape), list(indices.shape)
    for d in range(input.ndim):
        if d != axis:
            size = max(x_shape[d], i_shape[d])
            if 1 not in (x_shape[d], i_shape[d]) and x_shape[d] != i_shape[d]:
                raise ShapeError(f"take_along_dim(): input shape {x_shape} and indices shape "
                                 f"{i_shape} do not broadcast on dimension {d}")
            x_shape[d] = i_shape[d] = size
    indices = negative_counts_from_end(indices, input.shape[axis])
    return F.gather(F.broadcast_to(input, x_shape), axis, F.broadcast_to(indices, i_shape))


@autocast_op("index_put")
def index_put(input: Tensor, indices, values, accumulate: bool = False) -> Tensor:
    """``torch.index_put``: ``input[indices] = values`` (or ``+=`` with ``accumulate``, which
    adds every duplicate) without changing ``input``; ``indices`` is a tuple of index tensors."""
    from graphc import indexing
    return indexing.put(input, tuple(indices), values, accumulate=accumulate)


def _install_methods() -> None:
    """Tensor methods: ``x.scatter(...)`` and the in-place ``x.scatter_(...)`` and so on."""
    functions = {"scatter": scatter, "scatter_add": scatter_add, "scatter_reduce": scatter_reduce,
                 "index_add": index_add, "index_copy": index_copy, "index_fill": index_fill,
                 "index_reduce": index_reduce,
                 "index_put": index_put}
    for name, fn in functions.items():
        setattr(Tensor, name, fn)
        setattr(Tensor, name + "_", lambda self, *a, _fn=fn, **k: self._assign(
            lambda old: _fn(old, *a, **k)))
    Tensor.take_along_dim = take_along_dim


_install_methods()
