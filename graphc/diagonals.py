"""Diagonals: ``diagonal``, ``diag``, ``diag_embed`` and ``trace`` with PyTorch's meaning,
written from ``index_select`` (reading a diagonal is a gather of the flat positions
``i * (cols + 1) + offset``) and ``where`` + ``pad`` (writing one).

    >>> import graphc
    >>> graphc.diag(graphc.tensor([1.0, 2.0])).tolist()
    [[1.0, 0.0], [0.0, 2.0]]
    >>> graphc.diag(graphc.tensor([[1.0, 2.0], [3.0, 4.0]]), 1).tolist()
    [2.0]
"""
from __future__ import annotations

from graphc import functions as F
from graphc.amp.autocast_mode import autocast_op
from graphc.errors import ShapeError
from graphc.tensor import Tensor
from ir.types import wrap_dim


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal of the planes spanned by ``dim1`` and ``dim2`` (above the main one for
    ``offset > 0``, below for ``offset < 0``), as a new last dimension, like ``torch.diagonal``."""
    if input.ndim < 2:
        raise ShapeError(f"diagonal(): input must have at least 2 dimensions, got shape "
                         f"{list(input.shape)}")
    d1, d2 = wrap_dim(dim1, input.ndim), wrap_dim(dim2, input.ndim)
    if d1 == d2:
        raise ShapeError(f"diagonal(): dim1 and dim2 cannot be the same dimension ({d1})")
    rest = [d for d in range(input.ndim) if d not in (d1, d2)]
    planes = F.permute(input, rest + [d1, d2])
    rows, cols = input.shape[d1], input.shape[d2]
    first_row, first_col = max(-offset, 0), max(offset, 0)
    length = max(0, min(rows - first_row, cols - first_col))
    from graphc.factories import arange
    positions = F.add(F.mul(arange(length), cols + 1), first_row * cols + first_col)
    flat = F.reshape(planes, [input.shape[d] for d in rest] + [rows * cols])
    return F.index_select(flat, len(rest), positions)


def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices (in dims ``dim1``, ``dim2`` of the result) whose ``offset`` diagonal is the last
    dimension of ``input``, zeros elsewhere, like ``torch.diag_embed``."""
    n = input.shape[-1] if input.ndim else 1
    x = F.reshape(input, [1]) if input.ndim == 0 else input
    from graphc.factories import arange
    eye = F.eq(F.unsqueeze(arange(n), 1), F.unsqueeze(arange(n), 0))
    zero = F.cast(F.to_tensor(0), x.dtype)
    square = F.where(eye, F.unsqueeze(x, -1), zero)  # [..., n, n], x[i] at (i, i)
    shift = abs(offset)
    pads = [shift, 0, 0, shift] if offset > 0 else [0, shift, shift, 0]  # last axis first
    if shift:
        square = F.pad(square, pads)
    out_ndim = square.ndim
    d1, d2 = wrap_dim(dim1, out_ndim), wrap_dim(dim2, out_ndim)
    if d1 == d2:
        raise ShapeError(f"diag_embed(): dim1 and dim2 cannot be the same dimension ({d1})")
    # the batch dims keep their order in the remaining places
    order = [None] * out_ndim
    order[d1], order[d2] = out_ndim - 2, out_ndim - 1
    batch = iter(range(out_ndim - 2))
    order = [next(batch) if o is None else o for o in order]
    return F.permute(square, order)


def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """A 1-d ``input`` becomes a square matrix with it on the ``diagonal``-th diagonal; a 2-d
    ``input`` gives its ``diagonal``-th diagonal as a 1-d tensor, like ``torch.diag``."""
    if input.ndim == 1:
        return diag_embed(input, diagonal)
    if input.ndim == 2:
        return globals()["diagonal"](input, diagonal)
    raise ShapeError(f"diag(): input must be 1-d or 2-d, got shape {list(input.shape)}")


@autocast_op("trace")
def trace(input: Tensor) -> Tensor:
    """The sum of the main diagonal of a 2-d ``input``, like ``torch.trace``."""
    if input.ndim != 2:
        raise ShapeError(f"trace(): expected a 2-d tensor, got shape {list(input.shape)}")
    return F.sum(diagonal(input))


for _name in ("diagonal", "diag_embed", "diag", "trace"):
    setattr(Tensor, _name, globals()[_name])
