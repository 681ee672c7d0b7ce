"""Functions whose output shape depends on the values: ``nonzero``, ``argwhere``,
``masked_select``. They run eagerly; inside ``graphc.compile`` they raise a TraceError, since a
compiled graph has static shapes (PyTorch's own ``torch.compile`` breaks the graph there).

    >>> import graphc
    >>> graphc.nonzero(graphc.tensor([0, 3, 0, 5])).tolist()
    [[1], [3]]
    >>> graphc.masked_select(graphc.tensor([1.0, 2.0, 3.0]), graphc.tensor([True, False, True]))
    tensor([1., 3.])
"""
from __future__ import annotations

import numpy as np

from graphc import functions as F
from graphc import tracing
from graphc.errors import TraceError
from graphc.tensor import Tensor
from ir import dtypes
from ir.types import broadcast_shapes


def _refuse_while_tracing(op: str, alternative: str) -> None:
    if tracing.current() is not None:
        raise TraceError(f"{op}() inside a compiled function: its output shape depends on the "
                         f"values of the input, and a compiled graph has static shapes. "
                         f"{alternative}, or call it outside the compiled function")


def nonzero(x: Tensor, *, as_tuple: bool = False):
    """The indices of the nonzero elements, one row per element (``torch.nonzero``), or with
    ``as_tuple=True`` one 1-D index tensor per dim (a 0-d input counts as 1-D)."""
    _refuse_while_tracing("nonzero", "Keep the shape with a mask instead: x * mask, or "
                                     "graphc.where(mask, x, 0)")
    values = F.to_tensor(x)._concrete("call nonzero()")
    if as_tuple:
        return tuple(Tensor._wrap(i.astype(np.int64)) for i in np.nonzero(np.atleast_1d(values)))
    if values.ndim == 0:
        return Tensor._wrap(np.zeros((int(values != 0), 0), dtype=np.int64))
    return Tensor._wrap(np.stack(np.nonzero(values), axis=1).astype(np.int64))


def argwhere(x: Tensor) -> Tensor:
    """The same as ``nonzero(x)`` (``torch.argwhere``)."""
    _refuse_while_tracing("argwhere", "Keep the shape with a mask instead: x * mask, or "
                                      "graphc.where(mask, x, 0)")
    return nonzero(x)


def masked_select(x: Tensor, mask) -> Tensor:
    """The elements of ``x`` where ``mask`` is true, as a 1-D tensor (both broadcast, like
    ``torch.masked_select``); differentiable in ``x`` (a gather at the selected positions)."""
    _refuse_while_tracing("masked_select", "Keep the shape with the mask instead: "
                                           "graphc.where(mask, x, 0), or (x * mask).sum()")
    x, mask = F.to_tensor(x), F.to_tensor(mask)
    if mask.dtype != dtypes.bool_:
        raise F.DTypeError(f"masked_select: mask must be a bool tensor, got {mask.dtype}")
    shape = broadcast_shapes(x.shape, mask.shape)
    flat = F.reshape(F.broadcast_to(x, shape), [-1])
    where = np.flatnonzero(np.broadcast_to(mask._concrete("call masked_select()"), shape))
    return F.index_select(flat, 0, Tensor._wrap(where.astype(np.int64)))


__all__ = ["argwhere", "bincount", "masked_select", "nonzero", "unique", "unique_consecutive"]


def unique(x: Tensor, sorted: bool = True, return_inverse: bool = False,  # noqa: A002
           return_counts: bool = False, dim=None):
    """The distinct elements of ``x`` (or distinct slices along ``dim``), in ascending order,
    with the inverse indices and counts if asked (``torch.unique``). Eager only."""
    _refuse_while_tracing("unique", "Compare against known values with a mask instead")
    values = F.to_tensor(x)._concrete("call unique()")
    if dim is None:
        # each NaN distinct, as PyTorch's (NumPy merges them by default)
        result = np.unique(values.reshape(-1), return_inverse=True, return_counts=True,
                           equal_nan=False)
        inverse = result[1].reshape(values.shape)
    else:
        axis = dim % builtins_max(values.ndim, 1)
        result = np.unique(values, return_inverse=True, return_counts=True, axis=axis,
                           equal_nan=False)
        inverse = result[1].reshape(-1)
    return _unique_result(result[0], inverse, result[2], return_inverse, return_counts)


def unique_consecutive(x: Tensor, return_inverse: bool = False, return_counts: bool = False,
                       dim=None):
    """``x`` with each run of equal consecutive elements (or slices along ``dim``) kept once,
    with inverse indices and run lengths if asked (``torch.unique_consecutive``). Eager only."""
    _refuse_while_tracing("unique_consecutive", "Compare neighbours with a mask instead")
    values = F.to_tensor(x)._concrete("call unique_consecutive()")
    axis = 0 if dim is None else dim % builtins_max(values.ndim, 1)
    flat = values.reshape(-1) if dim is None else np.moveaxis(values, axis, 0)
    if flat.shape[0] == 0:
        starts = np.zeros(0, dtype=bool)
    else:
        changed = (flat[1:] != flat[:-1]).reshape(flat.shape[0] - 1, -1).any(axis=1)
        starts = np.concatenate([[True], changed])
    run_ids = np.cumsum(starts) - 1
    kept = flat[starts]
    counts = np.bincount(run_ids, minlength=len(kept)) if len(kept) else np.zeros(0, np.int64)
    if dim is not None:
        kept = np.moveaxis(kept, 0, axis)
    inverse = run_ids.reshape(values.shape) if dim is None else run_ids
    return _unique_result(kept, inverse, counts, return_inverse, return_counts)


def builtins_max(a: int, b: int) -> int:
    return a if a > b else b


def _unique_result(values, inverse, counts, return_inverse: bool, return_counts: bool):
    out = Tensor._wrap(np.ascontiguousarray(values))
    extra = []
    if return_inverse:
        extra.append(Tensor._wrap(np.asarray(inverse, dtype=np.int64)))
    if return_counts:
        extra.append(Tensor._wrap(np.asarray(counts, dtype=np.int64)))
    return (out, *extra) if extra else out


def bincount(x: Tensor, weights=None, minlength: int = 0) -> Tensor:
    """How often each value 0, 1, ... occurs in the 1-D non-negative integer ``x``, or the sum
    of ``weights`` at each value (``torch.bincount``); length ``max(x) + 1`` or ``minlength``.
    Eager only: the length depends on the values."""
    _refuse_while_tracing("bincount", "Use scatter_add into a zeros tensor of known length")
    x = F.to_tensor(x)
    if x.ndim != 1 or x.dtype.is_float or x.dtype.is_bool:
        raise RuntimeError(f"bincount only supports 1-d non-negative integral inputs, got a "
                           f"{x.ndim}-d tensor of dtype {x.dtype}")
    if minlength < 0:
        raise RuntimeError(f"bincount: minlength should be >= 0, got {minlength}")
    values = x._concrete("call bincount()").astype(np.int64)
    if (values < 0).any():
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if weights is None:
        return Tensor._wrap(np.bincount(values, minlength=minlength).astype(np.int64))
    weights = F.to_tensor(weights)
    if list(weights.shape) != list(x.shape):
        raise RuntimeError(f"bincount: weights should be 1-d and have the same length as "
                           f"input, got {list(weights.shape)} for input {list(x.shape)}")
    out_dtype = dtypes.f32 if weights.dtype == dtypes.f32 else dtypes.f64
    total = np.bincount(values, weights=weights._concrete("call bincount()").astype(np.float64),
                        minlength=minlength)
    return Tensor._wrap(total.astype(out_dtype.numpy))
