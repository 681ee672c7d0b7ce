"""Index ops in ``torch.gather`` / ``torch.scatter_add`` style (``take_along_axis``).

``gather(x, index) {axis}``: ``out[p] = x[p with p[axis] replaced by index[p]]``; ``index`` has
the rank of ``x`` and is no larger than ``x`` on the other axes; the result has ``index``'s shape.
``scatter_add(x, index, src) {axis}``: a copy of ``x`` with ``src[p]`` added at the positions
``gather`` would read; ``src`` has ``index``'s shape. Each is the other's gradient.
"""
from __future__ import annotations

import numpy as np

from ir.errors import IndexRangeError, ShapeError
from ir.registry import Attr, OpDef, register
from ir.types import normalize_axis


def _check_index(op, x, index, axis):
    if not (index.dtype.is_int):
        raise ShapeError(f"{op}: index must be i32 or i64, got {index.dtype}")
    if index.ndim != x.ndim:
        raise ShapeError(f"{op}: index rank {index.ndim} must equal input rank {x.ndim}")
    ax = normalize_axis(axis, x.ndim)
    for d, (i, n) in enumerate(zip(index.shape, x.shape)):
        if d != ax and i > n:
            raise ShapeError(f"{op}: index shape {list(index.shape)} exceeds input shape "
                             f"{list(x.shape)} on axis {d}")
    return ax


def _gather_type(types, attrs):
    x, index = types
    _check_index("gather", x, index, attrs["axis"])
    return x.with_shape(index.shape)


def _positions(index, axis, size):
    """The full index tuple addressing, for every element of ``index``, its target element."""
    # Negative indices are errors, as in torch.gather: a label of -1 must not pick the last class.
    if index.size and (index.min() < 0 or index.max() >= size):
        bad = index[(index < 0) | (index >= size)].flat[0]
        raise IndexRangeError(f"index {bad} is out of range for axis {axis} of size {size}")
    grids = list(np.indices(index.shape, sparse=True))
    grids[axis] = index
    return tuple(grids)


def _gather_ref(x, index, axis):
    axis = normalize_axis(axis, x.ndim)
    return x[_positions(index, axis, x.shape[axis])]


def _gather_vjp(em, xs, out, g, attrs):
    x, index = xs
    zeros = em.zeros(em.shape(x), em.dtype(g))
    return [em.scatter_add(zeros, index, g, axis=attrs["axis"]), None]


register(OpDef("gather", "index", 2, _gather_type, _gather_ref, attrs=(Attr("axis", "int"),),
               vjp=_gather_vjp))


def _scatter_add_type(types, attrs):
    x, index, src = types
    _check_index("scatter_add", x, index, attrs["axis"])
    if src.shape != index.shape:
        raise ShapeError(f"scatter_add: src shape {list(src.shape)} must equal index shape "
                         f"{list(index.shape)}")
    from ir.dtypes import promote
    if promote(x.dtype, src.dtype) != x.dtype:
        raise ShapeError(f"scatter_add: src dtype {src.dtype} does not fit input dtype {x.dtype}")
    return x


def _scatter_add_ref(x, index, src, axis):
    axis = normalize_axis(axis, x.ndim)
    out = x.copy()
    np.add.at(out, _positions(index, axis, x.shape[axis]), src.astype(x.dtype, copy=False))
    return out


def _scatter_add_vjp(em, xs, out, g, attrs):
    x, index, src = xs
    return [g, None, em.gather(g, index, axis=attrs["axis"])]


register(OpDef("scatter_add", "index", 3, _scatter_add_type, _scatter_add_ref,
               attrs=(Attr("axis", "int"),), vjp=_scatter_add_vjp))
