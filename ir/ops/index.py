"""Index ops in ``torch.gather`` / ``torch.scatter_add`` style (``take_along_axis``).

``gather(x, index) {axis}``: ``out[p] = x[p with p[axis] replaced by index[p]]``; ``index`` has
the rank of ``x`` and is no larger than ``x`` on the other axes; the result has ``index``'s shape.
``scatter_add(x, index, src) {axis}``: a copy of ``x`` with ``src[p]`` added at the positions
``gather`` would read; ``src`` has ``index``'s shape. Each is the other's gradient.
``scatter(x, index, src) {axis}``: a copy of ``x`` with ``src[p]`` written at those positions;
where several elements of ``index`` name the same position the last one in row-major order wins
(PyTorch leaves that case undefined; graphc picks last-write and documents it).
``scatter_reduce(x, index, src) {axis, reduce}``: a copy of ``x`` where each position ``gather``
would read is combined with the ``src`` elements sent to it by ``reduce`` (``prod``, ``amax`` or
``amin``; ``sum`` is ``scatter_add``), the ``include_self=True`` form of ``torch.scatter_reduce``.
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


def _scatter_type(op):
    """The type rule shared by the scatters: ``src`` has ``index``'s shape, the result ``x``'s."""
    def rule(types, attrs):
        x, index, src = types
        _check_index(op, x, index, attrs["axis"])
        if src.shape != index.shape:
            raise ShapeError(f"{op}: src shape {list(src.shape)} must equal index shape "
                             f"{list(index.shape)}")
        from ir.dtypes import promote
        if promote(x.dtype, src.dtype) != x.dtype:
            raise ShapeError(f"{op}: src dtype {src.dtype} does not fit input dtype {x.dtype}")
        return x
    return rule


_scatter_add_type = _scatter_type("scatter_add")


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


def _scatter_ref(x, index, src, axis):
    axis = normalize_axis(axis, x.ndim)
    out = x.copy()
    # NumPy's fancy assignment stores the elements in order, so the last duplicate wins
    out[_positions(index, axis, x.shape[axis])] = src.astype(x.dtype, copy=False)
    return out


def _row_major_ids(em, shape, dtype):
    """Each element's row-major number, built from one small ``arange`` per axis broadcast
    together (never a constant as large as the tensor)."""
    ids, stride = em.constant(0, dtype, ()), 1
    for axis in reversed(range(len(shape))):
        view = [1] * len(shape)
        view[axis] = shape[axis]
        numbers = em.constant([i * stride for i in range(shape[axis])], dtype, [shape[axis]])
        ids = em.add(ids, em.reshape(numbers, shape=view))
        stride *= shape[axis]
    return em.broadcast_to(ids, shape=list(shape)) if list(em.shape(ids)) != list(shape) else ids


def _scatter_vjp(em, xs, out, g, attrs):
    """The overwritten positions of ``x`` get no gradient; each ``src`` element gets the gradient
    at the position it was written to if it is the one that stayed there (the last duplicate).
    PyTorch, whose forward leaves duplicates undefined, gives every duplicate that gradient; for
    indices without duplicates the two agree."""
    x, index, src = xs
    axis = attrs["axis"]
    grad_x = em.scatter(g, index, em.zeros(em.shape(index), em.dtype(g)), axis=axis)
    ids = _row_major_ids(em, list(em.shape(index)), em.dtype(index))
    writer = em.scatter(em.constant(-1, em.dtype(index), em.shape(x)), index, ids, axis=axis)
    stayed = em.cast(em.eq(em.gather(writer, index, axis=axis), ids), dtype=em.dtype(g))
    return [grad_x, None, em.mul(em.gather(g, index, axis=axis), stayed)]


register(OpDef("scatter", "index", 3, _scatter_type("scatter"), _scatter_ref,
               attrs=(Attr("axis", "int"),), vjp=_scatter_vjp))

SCATTER_REDUCTIONS = {"prod": np.multiply, "amax": np.maximum, "amin": np.minimum}


def _scatter_reduce_type(types, attrs):
    reduce = attrs["reduce"]
    if reduce not in SCATTER_REDUCTIONS:
        raise ShapeError(f"scatter_reduce: reduce must be one of {sorted(SCATTER_REDUCTIONS)} "
                         f"(sum is scatter_add), got {reduce!r}")
    if types[0].dtype.is_bool:
        raise ShapeError(f"scatter_reduce: {reduce} of a bool tensor is not supported")
    return _scatter_type("scatter_reduce")(types, attrs)


def _scatter_reduce_ref(x, index, src, axis, reduce):
    axis = normalize_axis(axis, x.ndim)
    out = x.copy()
    ufunc = SCATTER_REDUCTIONS[reduce]
    ufunc.at(out, _positions(index, axis, x.shape[axis]), src.astype(x.dtype, copy=False))
    return out


def _scatter_extremum_vjp(em, xs, out, g, axis):
    """PyTorch's rule for amax/amin: the gradient is shared evenly by every element (of ``x``
    and of ``src``) equal to the result at its position."""
    x, index, src = xs
    dtype = em.dtype(g)
    x_wins = em.cast(em.eq(x, out), dtype=dtype)
    src_wins = em.cast(em.eq(src, em.gather(out, index, axis=axis)), dtype=dtype)
    share = em.div(g, em.scatter_add(x_wins, index, src_wins, axis=axis))
    return [em.mul(share, x_wins), None, em.mul(em.gather(share, index, axis=axis), src_wins)]


def _scatter_prod_vjp(em, xs, out, g, axis):
    """d out / d x is the product of the src elements sent there; d out / d src[j] is ``x``
    times the other elements sent to j's position, computed without dividing by zero: through
    ``out / src[j]`` where ``src[j] != 0``, else from the product of the nonzero elements when
    ``src[j]`` is the only zero there (and 0 when there are more)."""
    x, index, src = xs
    dtype = em.dtype(g)
    shape = em.shape(x)
    is_zero = em.eq(src, em.scalar(0, src))
    nonzero_src = em.where(is_zero, em.scalar(1, src), src)
    sent = em.scatter_reduce(em.constant(1, em.dtype(x), shape), index, src, axis=axis,
                             reduce="prod")
    grad_x = em.mul(g, sent)
    nonzero_prod = em.scatter_reduce(x, index, nonzero_src, axis=axis, reduce="prod")
    zeros_sent = em.scatter_add(em.zeros(shape, dtype), index, em.cast(is_zero, dtype=dtype),
                                axis=axis)
    only_zero = em.eq(em.gather(zeros_sent, index, axis=axis), em.scalar(1, zeros_sent))
    without_zero = em.where(only_zero, em.gather(nonzero_prod, index, axis=axis),
                            em.scalar(0, nonzero_prod))
    others = em.where(is_zero, without_zero, em.div(em.gather(out, index, axis=axis), nonzero_src))
    return [grad_x, None, em.mul(em.gather(g, index, axis=axis), others)]


def _scatter_reduce_vjp(em, xs, out, g, attrs):
    if attrs["reduce"] == "prod":
        return _scatter_prod_vjp(em, xs, out, g, attrs["axis"])
    return _scatter_extremum_vjp(em, xs, out, g, attrs["axis"])


register(OpDef("scatter_reduce", "index", 3, _scatter_reduce_type, _scatter_reduce_ref,
               attrs=(Attr("axis", "int"), Attr("reduce", "str")), vjp=_scatter_reduce_vjp,
               needs_output=True))
