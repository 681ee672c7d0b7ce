"""The out-of-place writes into a view PyTorch has (``select_scatter``, ``diagonal_scatter``;
``slice_scatter`` lives with the other selections in :mod:`graphc.torch_functions`) and
``block_diag``, all written from ``index_copy``, ``pad`` and ``cat``: the result is ``input``
with the view replaced by ``src`` (cast to ``input``'s dtype, as PyTorch's), and the gradient
splits between the two (zeros in the view for ``input``, the view for ``src``). They compile
like any composite.

    >>> import graphc
    >>> graphc.select_scatter(graphc.zeros(2, 2), graphc.ones(2), 0, 1).tolist()
    [[0.0, 0.0], [1.0, 1.0]]
    >>> graphc.diagonal_scatter(graphc.zeros(2, 2), graphc.ones(2)).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    >>> graphc.block_diag(graphc.tensor([[1, 2]]), graphc.tensor(3)).tolist()
    [[1, 2, 0], [0, 0, 3]]
"""
from __future__ import annotations

import numpy as np

from graphc import functions as F
from graphc.diagonals import diagonal
from graphc.errors import ShapeError
from graphc.index_ops import index_copy
from graphc.tensor import Tensor
from ir import dtypes
from ir.errors import IndexRangeError
from ir.types import wrap_dim


def _positions(values) -> Tensor:
    from graphc.factories import tensor
    return tensor(np.asarray(values, dtype=np.int64), dtype=dtypes.i64)


def _check_src(op: str, src: Tensor, expected: list) -> None:
    if list(src.shape) != expected:
        raise ShapeError(f"{op}(): expected src to have a size equal to the slice of self. "
                         f"src size = {list(src.shape)}, slice size = {expected}")


def select_scatter(input: Tensor, src: Tensor, dim: int, index: int) -> Tensor:
    """``input`` with ``input.select(dim, index)`` replaced by ``src`` (``torch.select_scatter``);
    ``src`` has ``input``'s shape without ``dim``.

        >>> import graphc
        >>> graphc.select_scatter(graphc.zeros(2, 3), graphc.ones(2), 1, -1).tolist()
        [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]
    """
    input, src = F.to_tensor(input), F.to_tensor(src)
    if input.ndim == 0:
        raise ShapeError("select_scatter(): input must have at least one dimension")
    axis = wrap_dim(dim, input.ndim)
    size = input.shape[axis]
    if not -size <= index < size:
        raise IndexRangeError(f"select_scatter(): index {index} out of range for tensor of size "
                              f"{list(input.shape)} at dimension {axis}")
    _check_src("select_scatter", src, [n for d, n in enumerate(input.shape) if d != axis])
    return index_copy(input, axis, _positions([index % size]), F.unsqueeze(src, axis))


def diagonal_scatter(input: Tensor, src: Tensor, offset: int = 0, dim1: int = 0,
                     dim2: int = 1) -> Tensor:
    """``input`` with ``input.diagonal(offset, dim1, dim2)`` replaced by ``src``
    (``torch.diagonal_scatter``); ``src`` has the diagonal's shape (the other dims, then the
    diagonal's length).

        >>> import graphc
        >>> graphc.diagonal_scatter(graphc.zeros(2, 3), graphc.ones(2), 1).tolist()
        [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    input, src = F.to_tensor(input), F.to_tensor(src)
    _check_src("diagonal_scatter", src, list(diagonal(input, offset, dim1, dim2).shape))
    d1, d2 = wrap_dim(dim1, input.ndim), wrap_dim(dim2, input.ndim)
    rest = [d for d in range(input.ndim) if d not in (d1, d2)]
    rows, cols = input.shape[d1], input.shape[d2]
    first_row, first_col = max(-offset, 0), max(offset, 0)
    length = src.shape[-1]
    if length == 0:
        return input
    # the planes flattened, as diagonal() reads them: the diagonal is every (cols + 1)-th place
    planes = F.permute(input, rest + [d1, d2])
    flat = F.reshape(planes, [input.shape[d] for d in rest] + [rows * cols])
    positions = first_row * cols + first_col + (cols + 1) * np.arange(length)
    written = F.reshape(index_copy(flat, len(rest), _positions(positions), src), planes.shape)
    order = rest + [d1, d2]
    return F.permute(written, [order.index(d) for d in range(input.ndim)])


def block_diag(*tensors) -> Tensor:
    """A block diagonal matrix of the 0-, 1- or 2-d ``tensors`` (a 0-d tensor is a 1x1 block, a
    1-d one a row), zeros elsewhere, in their promoted dtype (``torch.block_diag``).

        >>> import graphc
        >>> graphc.block_diag(graphc.ones(1, 2), graphc.ones(2, 1)).tolist()
        [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]
    """
    blocks = []
    for i, t in enumerate(tensors):
        t = F.to_tensor(t)
        if t.ndim > 2:
            raise ShapeError(f"block_diag(): input tensors must have 2 or fewer dimensions. "
                             f"Input {i} has {t.ndim} dimensions")
        blocks.append(F.reshape(t, [1, -1] if t.ndim < 2 else list(t.shape)))
    if not blocks:
        from graphc.factories import zeros
        return zeros(1, 0)
    dtype = dtypes.promote(*(b.dtype for b in blocks))
    width = sum(b.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        right = width - left - b.shape[1]
        rows.append(F.pad(F.cast(b, dtype), [left, right]))  # last axis: (before, after)
        left += b.shape[1]
    return F.cat(rows, 0)


def _install_methods() -> None:
    Tensor.select_scatter = select_scatter
    Tensor.diagonal_scatter = diagonal_scatter


_install_methods()

__all__ = ["block_diag", "diagonal_scatter", "select_scatter"]
