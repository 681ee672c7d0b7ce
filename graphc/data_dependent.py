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


__all__ = ["argwhere", "masked_select", "nonzero"]
