"""More of PyTorch's top-level functions (session 27): histograms (``histogram
histogramdd``), statistics and calculus (``corrcoef nanmedian cumulative_trapezoid gradient``),
index arithmetic (``combinations unravel_index chain_matmul``), distances at the top level
(``cosine_similarity pairwise_distance pdist``) and the eager-only ``poisson`` and
``frombuffer``.

All but ``poisson`` and ``frombuffer`` are composites of graphc ops with static shapes, so they
run eagerly, differentiate where PyTorch does, and compile.

    >>> import graphc
    >>> hist, edges = graphc.histogram(graphc.tensor([1.0, 2.0, 1.0]), bins=2)
    >>> hist.tolist(), edges.tolist()
    ([2.0, 1.0], [1.0, 1.5, 2.0])
    >>> graphc.combinations(graphc.tensor([1, 2, 3])).tolist()
    [[1, 2], [1, 3], [2, 3]]
    >>> [g.tolist() for g in graphc.gradient(graphc.tensor([1.0, 2.0, 4.0]))]
    [[1.0, 1.5, 2.0]]
"""
from __future__ import annotations

import builtins
import itertools
import math
from typing import Optional

import numpy as np

from graphc import functions as F
from graphc import return_types, tracing
from graphc.errors import ArgumentError, TraceError
from graphc.nn.distance import cosine_similarity, pairwise_distance, pdist
from graphc.tensor import Tensor
from ir import dtypes
from ir.errors import DTypeError, ShapeError
from ir.types import wrap_dim

histogram_result = return_types.histogram
histogramdd_result = return_types.histogramdd
nanmedian_result = return_types.nanmedian


def _const(values, dtype) -> Tensor:
    from graphc.factories import tensor
    return tensor(np.asarray(values), dtype=dtype)


def _float_of(x: Tensor) -> Tensor:
    """``x`` as floating point: integers and bool in the default float dtype, as PyTorch's
    division makes them."""
    return x if x.dtype.is_float else F.cast(x, dtypes.DEFAULT_FLOAT)


# -- histograms -----------------------------------------------------------------------------
def _edges_between(low: Tensor, high: Tensor, bins: int) -> Tensor:
    """``bins + 1`` equally spaced edges from ``low`` to ``high`` (0-d, the edges' dtype),
    computed as PyTorch's linspace: from the start for the first half, from the end for the
    rest, so both ends are exact."""
    step = F.div(F.sub(high, low), float(bins))
    index = _const(np.arange(bins + 1), low.dtype)
    from_end = _const(np.arange(bins + 1)[::-1].copy(), low.dtype)
    first_half = _const(np.arange(bins + 1) < (bins + 1) // 2, dtypes.bool_)
    return F.where(first_half, F.add(low, F.mul(step, index)),
                   F.sub(high, F.mul(step, from_end)))


def _outer_edges(column: Tensor, rng, op: str) -> tuple[Tensor, Tensor]:
    """The first and last edge of one dimension: ``rng`` or the data's min and max (0 and 1
    for no data), widened by 0.5 each way when equal, as PyTorch's."""
    if rng is not None:
        low, high = float(rng[0]), float(rng[1])
        if low > high:
            raise RuntimeError(f"{op}: min should not exceed max, but got min {low} max {high}")
        if not (math.isfinite(low) and math.isfinite(high)):
            raise RuntimeError(f"{op}: range of [{low}, {high}] is not finite")
        if low == high:
            low, high = low - 0.5, high + 0.5
        return F.scalar_like(low, column), F.scalar_like(high, column)
    if column.shape[0] == 0:
        return F.scalar_like(0.0, column), F.scalar_like(1.0, column)
    low, high = F.amin(column), F.amax(column)
    tracing.check(F.logical_not(F.logical_and(F.isfinite(low), F.isfinite(high))), RuntimeError,
                  f"{op}: the range of the data is not finite (it holds inf or NaN); pass "
                  f"range=")
    same = F.eq(low, high)
    return (F.where(same, F.sub(low, 0.5), low), F.where(same, F.add(high, 0.5), high))


def _bin_index(column: Tensor, edges: Tensor) -> tuple[Tensor, Tensor]:
    """(the bin of each value, whether it is inside the edges): bins are ``[e_i, e_i+1)``, the
    last one closed, as ``upper_bound(edges, x) - 1`` in PyTorch."""
    n = edges.shape[0]
    inside = F.logical_and(F.ge(column, F.narrow(edges, 0, 0, 1)),
                           F.le(column, F.narrow(edges, 0, n - 1, 1)))
    if n <= 2:
        return F.cast(F.mul(column, 0), dtypes.i64), inside
    interior = F.narrow(edges, 0, 1, n - 2)  # bin i holds the values with i interior edges <= x
    index = F.sum(F.cast(F.ge(F.unsqueeze(column, -1), interior), dtypes.i64), -1)
    return index, inside


def _check_float(x: Tensor, op: str) -> None:
    if not x.dtype.is_float:
        raise DTypeError(f"{op}: input must be a floating point tensor, got {x.dtype}")


def _histogram_edges(column: Tensor, bins, rng, op: str) -> Tensor:
    if isinstance(bins, Tensor):
        if rng is not None:
            raise ArgumentError(f"{op}: range= is not allowed with a tensor of bin edges")
        if bins.ndim != 1 or bins.shape[0] < 1:
            raise ShapeError(f"{op}: bins must be a 1-D tensor of edges with at least one "
                             f"element, got shape {list(bins.shape)}")
        if bins.dtype != column.dtype:
            raise DTypeError(f"{op}: bins must have the input's dtype {column.dtype}, got "
                             f"{bins.dtype}")
        return bins.detach()
    bins = int(bins)
    if bins <= 0:
        raise RuntimeError(f"{op}: bins must be > 0, but got {bins}")
    low, high = _outer_edges(column.detach(), rng, op)
    return _edges_between(low, high, bins)


def _counts(index: Tensor, inside: Tensor, size: int, weight: Optional[Tensor],
            dtype) -> Tensor:
    """How many values (or how much weight) fall in each of ``size`` flat bins."""
    one_hot = F.logical_and(F.eq(F.unsqueeze(index, -1), _const(np.arange(size), dtypes.i64)),
                            F.unsqueeze(inside, -1))
    amount = F.cast(one_hot, dtype)
    if weight is not None:
        amount = F.mul(amount, F.unsqueeze(weight, -1))
    return F.sum(amount, 0)


def histogram(input: Tensor, bins=100, *, range=None, weight=None,  # noqa: A002
              density: bool = False):
    """A histogram of the values of ``input`` (``torch.histogram``): ``bins`` equal bins over
    ``range`` (the data's min and max by default) or a 1-D tensor of increasing edges. Bins are
    ``[e_i, e_{i+1})``, the last closed; values outside are left out. ``weight`` (``input``'s
    shape) sums weights instead of counting; ``density`` divides by the total and the bin
    widths. Returns ``(hist, bin_edges)``. Not differentiable (PyTorch has no gradient for it
    either).

        >>> import graphc
        >>> graphc.histogram(graphc.tensor([1.0, 2.0, 1.0]), bins=3, range=(0.0, 3.0)).hist.tolist()
        [0.0, 2.0, 1.0]
    """
    x = F.to_tensor(input)
    _check_float(x, "histogram")
    flat = F.reshape(x.detach(), [-1])
    edges = _histogram_edges(flat, bins, range, "histogram")
    w = _flat_weight(weight, x, "histogram")
    index, inside = _bin_index(flat, edges)
    hist = _counts(index, inside, edges.shape[0] - 1, w, x.dtype)
    if density:
        hist = F.div(F.div(hist, F.sum(hist)), F.sub(F.narrow(edges, 0, 1, edges.shape[0] - 1),
                                                     F.narrow(edges, 0, 0, edges.shape[0] - 1)))
    return histogram_result(hist, edges)


def _flat_weight(weight, x: Tensor, op: str) -> Optional[Tensor]:
    if weight is None:
        return None
    w = F.to_tensor(weight)
    if list(w.shape) != list(x.shape) or w.dtype != x.dtype:
        raise ShapeError(f"{op}: weight must have the input's shape {list(x.shape)} and dtype "
                         f"{x.dtype}, got shape {list(w.shape)}, dtype {w.dtype}")
    return F.reshape(w.detach(), [-1])


def histogramdd(input: Tensor, bins=10, *, range=None, weight=None,  # noqa: A002
                density: bool = False):
    """A D-dimensional histogram of the rows of ``input`` (``[..., D]``): ``bins`` is an int
    (for every dimension), a list of D ints, or a list of D 1-D tensors of edges; ``range`` a
    flat list ``[min_0, max_0, min_1, ...]``. Returns ``(hist, bin_edges)`` with ``hist`` of
    shape ``[bins_0, ..., bins_{D-1}]`` (``torch.histogramdd``). Not differentiable.

        >>> import graphc
        >>> r = graphc.histogramdd(graphc.tensor([[0.0, 0.0], [1.0, 1.0]]), bins=[2, 1])
        >>> r.hist.tolist()
        [[1.0], [1.0]]
    """
    x = F.to_tensor(input)
    _check_float(x, "histogramdd")
    if x.ndim < 1:
        raise ShapeError("histogramdd: input must have at least 1 dimension (the last one is "
                         "the coordinate)")
    dims = x.shape[-1]
    points = F.reshape(x.detach(), [-1, dims])
    if isinstance(bins, (int, Tensor)) and not (isinstance(bins, Tensor) and bins.ndim == 1
                                                and dims == 1):
        bins = [int(bins)] * dims if not isinstance(bins, Tensor) else [int(bins.item())] * dims
    bins = list(bins)
    if len(bins) != dims:
        raise ShapeError(f"histogramdd: expected {dims} sequences of bin edges (or bin counts), "
                         f"one per dimension of the input's last dim, got {len(bins)}")
    if range is not None:
        range = [float(r) for r in range]  # noqa: A001
        if len(range) != 2 * dims:
            raise ShapeError(f"histogramdd: expected {2 * dims} range values (min and max per "
                             f"dimension), got {len(range)}")
    w = _flat_weight(weight, x.detach()[..., 0] if x.ndim else x, "histogramdd")
    edges, flat_index, inside, sizes = [], None, None, []
    for d in builtins.range(dims):
        column = F.reshape(F.narrow(points, 1, d, 1), [-1])
        rng = None if range is None else range[2 * d: 2 * d + 2]
        e = _histogram_edges(column, bins[d], rng, "histogramdd")
        index, within = _bin_index(column, e)
        count = e.shape[0] - 1
        flat_index = index if flat_index is None else F.add(F.mul(flat_index, count), index)
        inside = within if inside is None else F.logical_and(inside, within)
        edges.append(e)
        sizes.append(count)
    hist = F.reshape(_counts(flat_index, inside, int(np.prod(sizes)), w, x.dtype), sizes)
    if density:
        hist = F.div(hist, F.sum(hist))
        for d, e in enumerate(edges):
            shape = [1] * dims
            shape[d] = sizes[d]
            widths = F.sub(F.narrow(e, 0, 1, sizes[d]), F.narrow(e, 0, 0, sizes[d]))
            hist = F.div(hist, F.reshape(widths, shape))
    return histogramdd_result(hist, tuple(edges))


# -- statistics and calculus ----------------------------------------------------------------
def corrcoef(input: Tensor) -> Tensor:
    """Pearson's correlation coefficients of the variables in the rows of ``input``
    (observations in columns), clipped to [-1, 1] (``torch.corrcoef``); a constant variable
    gives NaN.

        >>> import graphc
        >>> graphc.corrcoef(graphc.tensor([[1.0, 2.0, 3.0], [3.0, 1.0, -1.0]])).tolist()
        [[1.0, -1.0], [-1.0, 1.0]]
    """
    from graphc.torch_functions import cov
    c = cov(input)
    if c.ndim == 0:
        return F.div(c, c)
    from graphc.diagonals import diagonal
    d = F.sqrt(diagonal(c))
    c = F.div(c, F.unsqueeze(d, 1))
    c = F.div(c, F.unsqueeze(d, 0))
    return F.clamp(c, -1.0, 1.0)


def nanmedian(input: Tensor, dim: Optional[int] = None, keepdim: bool = False):
    """The lower median of the non-NaN elements (``torch.nanmedian``): NaN only where all are
    NaN (index 0 then). With ``dim``, ``(values, indices)``; without, one value, whose
    gradient is spread over the elements equal to it (PyTorch's).

        >>> import graphc
        >>> graphc.nanmedian(graphc.tensor([4.0, float("nan"), 1.0, 3.0, 2.0]))
        tensor(2.)
    """
    from graphc.scans_sorts import argsort, median
    x = F.to_tensor(input)
    if not x.dtype.is_float:
        return median(x) if dim is None else nanmedian_result(*median(x, dim, keepdim))
    if dim is None:
        flat = F.reshape(x, [-1])
        if flat.shape[0] == 0:
            return F.reshape(F.sum(flat), []) * math.nan
        value = nanmedian(flat, 0).values
        fixed = value.detach()
        ties = F.logical_or(F.eq(flat, fixed), F.logical_and(F.isnan(flat), F.isnan(fixed)))
        tied_mean = F.div(F.sum(F.where(ties, flat, 0.0)), F.sum(F.cast(ties, flat.dtype)))
        return F.add(fixed, F.sub(tied_mean, tied_mean.detach()))
    if x.ndim == 0:
        return nanmedian_result(x, F.reshape(F.cast(F.mul(x, 0), dtypes.i64), []).detach())
    axis = wrap_dim(dim, x.ndim)
    if x.shape[axis] == 0:
        raise IndexError(f"nanmedian(): expected reduction dim {dim} to have non-zero size, "
                         f"got shape {list(x.shape)}")
    order = argsort(x, axis)  # NaN sort last
    counted = F.sum(F.cast(F.logical_not(F.isnan(x)), dtypes.i64), axis, keepdim=True)
    middle = _half_below(counted)
    indices = F.gather(order, axis, middle)
    indices = F.where(F.eq(counted, 0), F.mul(indices, 0), indices)  # all NaN: index 0
    values = F.gather(x, axis, indices)
    if not keepdim:
        values, indices = F.squeeze(values, axis), F.squeeze(indices, axis)
    return nanmedian_result(values, indices)


def _half_below(counted: Tensor) -> Tensor:
    """``(max(n, 1) - 1) // 2`` for counts ``n >= 0``."""
    from graphc.math_functions import floor_divide
    return floor_divide(F.sub(F.where(F.eq(counted, 0), 1, counted), 1), 2)


def cumulative_trapezoid(y: Tensor, x: Optional[Tensor] = None, *, dx=None,
                         dim: int = -1) -> Tensor:
    """The running trapezoidal integral of ``y`` along ``dim``: one value fewer than ``y`` has
    there (``torch.cumulative_trapezoid``); spacing ``dx`` (default 1) or sample points ``x``
    (1-D along ``dim``, or ``y``'s shape).

        >>> import graphc
        >>> graphc.cumulative_trapezoid(graphc.tensor([1.0, 2.0, 4.0])).tolist()
        [1.5, 4.5]
    """
    from graphc.scans_sorts import cumsum
    y = F.to_tensor(y)
    if x is not None and dx is not None:
        raise ArgumentError("cumulative_trapezoid: pass x or dx, not both")
    if y.ndim == 0:
        raise ShapeError("cumulative_trapezoid: y must have at least 1 dimension, got a 0-d "
                         "tensor")
    axis = wrap_dim(dim, y.ndim)
    n = y.shape[axis]
    if n == 0:
        return _float_of(y)
    pair_sums = F.add(F.narrow(y, axis, 1, n - 1), F.narrow(y, axis, 0, n - 1))
    if x is None:
        step = 1.0 if dx is None else dx
        areas = F.mul(F.div(_float_of(pair_sums), 2.0), step) if step != 1.0 else \
            F.div(_float_of(pair_sums), 2.0)
    else:
        x = F.to_tensor(x)
        if x.ndim == 1:
            if x.shape[0] != n:
                raise ShapeError(f"cumulative_trapezoid: x has {x.shape[0]} points, y has {n} "
                                 f"along dim {dim}")
            widths = F.sub(F.narrow(x, 0, 1, n - 1), F.narrow(x, 0, 0, n - 1))
            view = [1] * y.ndim
            view[axis] = n - 1
            widths = F.reshape(widths, view)
        else:
            if x.ndim != y.ndim:
                raise ShapeError(f"cumulative_trapezoid: x must be 1-D or have y's number of "
                                 f"dims {y.ndim}, got shape {list(x.shape)}")
            m = x.shape[axis]
            widths = F.sub(F.narrow(x, axis, 1, m - 1), F.narrow(x, axis, 0, m - 1))
        areas = F.div(F.mul(widths, pair_sums), 2.0)
        areas = _float_of(areas)
    return cumsum(areas, axis)


def gradient(input: Tensor, *, spacing=1, dim=None, edge_order: int = 1) -> tuple:
    """The derivative of ``input`` sampled on a grid, estimated by second-order central
    differences inside and first- or second-order one-sided ones at the ends
    (``torch.gradient``, NumPy's ``gradient``): one tensor per dimension in ``dim`` (all by
    default). ``spacing``: a number (the step of every dimension), a list of numbers (one per
    dimension) or a list of 1-D tensors (each dimension's coordinates).

        >>> import graphc
        >>> graphc.gradient(graphc.tensor([[1.0, 2.0, 4.0]]), dim=1)[0].tolist()
        [[1.0, 1.5, 2.0]]
    """
    x = F.to_tensor(input)
    if edge_order not in (1, 2):
        raise RuntimeError("torch.gradient only supports edge_order=1 and edge_order=2.")
    if dim is None:
        axes = list(builtins.range(x.ndim))
    elif isinstance(dim, int):
        axes = [wrap_dim(dim, x.ndim)]
    else:
        axes = [wrap_dim(d, x.ndim) for d in dim]
    if len(set(axes)) != len(axes):
        raise RuntimeError(f"torch.gradient: dim {dim} holds a dimension twice")
    if isinstance(spacing, (list, tuple)):
        if len(spacing) != len(axes):
            raise RuntimeError(f"torch.gradient expected spacing to be unspecified, a scalar or "
                               f"it's spacing and dim arguments to have the same length, but "
                               f"got a spacing argument of length {len(spacing)} and a dim "
                               f"argument of length {len(axes)}.")
        steps = list(spacing)
    else:
        steps = [spacing] * len(axes)
    for axis in axes:
        if x.shape[axis] < edge_order + 1:
            raise RuntimeError("torch.gradient expected each dimension size to be at least "
                               "edge_order+1")
    x = _float_of(x)
    return tuple(_gradient_along(x, axis, step, edge_order) for axis, step in zip(axes, steps))


def _slice(x: Tensor, axis: int, start: int, stop: int) -> Tensor:
    n = x.shape[axis]
    start, stop = start % n if start < 0 else start, stop + n if stop <= 0 else stop
    return F.narrow(x, axis, start, stop - start)


def _gradient_along(x: Tensor, axis: int, step, edge_order: int) -> Tensor:
    n = x.shape[axis]
    if isinstance(step, Tensor) and step.ndim > 0:
        coords = F.cast(step, x.dtype) if step.dtype != x.dtype else step
        if coords.ndim != 1 or coords.shape[0] != n:
            raise RuntimeError(f"torch.gradient expected each tensor to be on the same device "
                               f"and of length {n} for dim {axis}, got shape "
                               f"{list(coords.shape)}")
        return _gradient_coordinates(x, axis, coords, edge_order)
    h = float(step.item() if isinstance(step, Tensor) else step)
    first, last = _slice(x, axis, 0, 1), _slice(x, axis, -1, 0)
    if n > 2 or edge_order == 2:
        center = F.div(F.sub(_slice(x, axis, 2, 0), _slice(x, axis, 0, -2)), 2.0)
    if edge_order == 1:
        prepend = F.sub(_slice(x, axis, 1, 2), first)
        append = F.sub(last, _slice(x, axis, -2, -1))
    else:
        second, before_last = _slice(x, axis, 1, 2), _slice(x, axis, -2, -1)
        prepend = F.add(F.add(F.mul(first, -1.5), F.mul(second, 2.0)),
                        F.mul(_slice(x, axis, 2, 3), -0.5))
        append = F.add(F.add(F.mul(_slice(x, axis, -3, -2), 0.5), F.mul(before_last, -2.0)),
                       F.mul(last, 1.5))
    parts = [prepend, center, append] if n > 2 else [prepend, append]
    return F.div(F.cat(parts, axis), h)


def _gradient_coordinates(x: Tensor, axis: int, coords: Tensor, edge_order: int) -> Tensor:
    """Non-uniform spacing: the second-order three-point formulas of NumPy (and PyTorch)."""
    n = x.shape[axis]
    d = F.sub(F.narrow(coords, 0, 1, n - 1), F.narrow(coords, 0, 0, n - 1))
    view = [1] * x.ndim

    def along(v: Tensor) -> Tensor:
        shape = list(view)
        shape[axis] = v.shape[0]
        return F.reshape(v, shape)

    def at(i: int) -> Tensor:
        return F.reshape(F.narrow(d, 0, i % (n - 1), 1), [])

    parts = []
    if edge_order == 1:
        parts.append(F.div(F.sub(_slice(x, axis, 1, 2), _slice(x, axis, 0, 1)), at(0)))
    else:
        d0, d1 = at(0), at(1)
        a = F.neg(F.div(F.add(F.mul(d0, 2.0), d1), F.mul(d0, F.add(d0, d1))))
        b = F.div(F.add(d0, d1), F.mul(d0, d1))
        c = F.neg(F.div(d0, F.mul(d1, F.add(d0, d1))))
        parts.append(F.add(F.add(F.mul(a, _slice(x, axis, 0, 1)), F.mul(b, _slice(x, axis, 1, 2))),
                           F.mul(c, _slice(x, axis, 2, 3))))
    if n > 2:
        h1, h2 = F.narrow(d, 0, 0, n - 2), F.narrow(d, 0, 1, n - 2)
        a = along(F.neg(F.div(h2, F.mul(h1, F.add(h1, h2)))))
        b = along(F.div(F.sub(h2, h1), F.mul(h1, h2)))
        c = along(F.div(h1, F.mul(h2, F.add(h1, h2))))
        parts.append(F.add(F.add(F.mul(a, _slice(x, axis, 0, -2)), F.mul(b, _slice(x, axis, 1, -1))),
                           F.mul(c, _slice(x, axis, 2, 0))))
    if edge_order == 1:
        parts.append(F.div(F.sub(_slice(x, axis, -1, 0), _slice(x, axis, -2, -1)), at(-1)))
    else:
        d2, d1 = at(-2), at(-1)  # the last two steps
        a = F.div(d1, F.mul(d2, F.add(d1, d2)))
        b = F.neg(F.div(F.add(d1, d2), F.mul(d1, d2)))
        c = F.div(F.add(F.mul(d1, 2.0), d2), F.mul(d1, F.add(d1, d2)))
        parts.append(F.add(F.add(F.mul(a, _slice(x, axis, -3, -2)),
                                 F.mul(b, _slice(x, axis, -2, -1))), F.mul(c, _slice(x, axis, -1, 0))))
    return F.cat(parts, axis)


# -- index arithmetic and products ----------------------------------------------------------
def combinations(input: Tensor, r: int = 2, with_replacement: bool = False) -> Tensor:
    """The length-``r`` combinations of the elements of a 1-D tensor, one per row, in the order
    of ``itertools.combinations`` (``with_replacement``: ``combinations_with_replacement``),
    like ``torch.combinations``. The rows are gathered, so the gradient flows back.

        >>> import graphc
        >>> graphc.combinations(graphc.tensor([1, 2]), with_replacement=True).tolist()
        [[1, 1], [1, 2], [2, 2]]
    """
    x = F.to_tensor(input)
    if x.ndim != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(x.shape)}")
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    if r == 0:
        return F.reshape(F.narrow(x, 0, 0, 0), [0])
    pick = itertools.combinations_with_replacement if with_replacement else \
        itertools.combinations
    index = np.array(list(pick(builtins.range(x.shape[0]), r)), dtype=np.int64).reshape(-1, r)
    return F.reshape(F.index_select(x, 0, _const(index.reshape(-1), dtypes.i64)),
                     [index.shape[0], r])


def unravel_index(indices, shape) -> tuple:
    """The coordinates in an array of ``shape`` of each flat index (``torch.unravel_index``):
    one int64 tensor per dimension, each of ``indices``' shape. Indices wrap around modulo the
    sizes, as PyTorch's (``-1`` is the last element).

        >>> import graphc
        >>> [t.tolist() for t in graphc.unravel_index(graphc.tensor([4, -1]), (2, 3))]
        [[1, 1], [1, 2]]
    """
    idx = F.to_tensor(indices)
    if idx.dtype.is_float or idx.dtype.is_bool:
        raise TypeError(f"expected 'indices' to be integer dtype, but got {idx.dtype}")
    sizes = [int(shape)] if isinstance(shape, int) else [int(s) for s in shape]
    if any(s < 0 for s in sizes):
        raise ValueError(f"'shape' cannot have negative values, but got {tuple(sizes)}")
    if any(s == 0 for s in sizes):
        raise ValueError(f"unravel_index: 'shape' has a dimension of size 0 ({tuple(sizes)}): "
                         f"no index lies in it")
    from graphc.math_functions import floor_divide, remainder
    strides = np.cumprod([1] + sizes[::-1][:-1])[::-1]
    wide = F.cast(idx, dtypes.i64)
    return tuple(remainder(floor_divide(wide, int(stride)), size)
                 for stride, size in zip(strides, sizes))


def chain_matmul(*matrices) -> Tensor:
    """The product of 2-D matrices, left to right (``torch.chain_matmul``, deprecated in
    PyTorch for ``linalg.multi_dot``).

        >>> import graphc
        >>> graphc.chain_matmul(graphc.eye(2), graphc.ones(2, 3)).shape
        (2, 3)
    """
    if len(matrices) == 1 and isinstance(matrices[0], (list, tuple)):
        matrices = tuple(matrices[0])
    if not matrices:
        raise RuntimeError("chain_matmul(): Expected one or more matrices")
    ms = [F.to_tensor(m) for m in matrices]
    for m in ms:
        if m.ndim != 2:
            raise RuntimeError(f"Tensor dimension is {m.ndim}, expected 2 instead.")
    result = ms[0]
    if len(ms) == 1:
        return result.clone()
    for m in ms[1:]:
        result = F.matmul(result, m)
    return result


# -- eager only: random samples and raw buffers ---------------------------------------------
def poisson(input: Tensor, generator=None) -> Tensor:
    """Samples of Poisson distributions with the rates ``input`` (``torch.poisson``), in
    ``input``'s dtype, from graphc's generator (``manual_seed`` makes them reproducible). Its
    gradient is zero, as PyTorch's. Eager only: it raises ``TraceError`` when compiled.

        >>> import graphc
        >>> _ = graphc.manual_seed(0); a = graphc.poisson(graphc.tensor([1.0, 5.0]))
        >>> _ = graphc.manual_seed(0); bool((a == graphc.poisson(graphc.tensor([1.0, 5.0]))).all())
        True
    """
    rate = F.to_tensor(input)
    if tracing.current() is not None or rate.is_traced:
        raise TraceError("poisson is not supported inside a compiled function yet: its "
                         "samples come from NumPy's Poisson sampler, eagerly. Draw them outside "
                         "the compiled function and pass them in")
    if not rate.dtype.is_float:
        raise DTypeError(f"poisson: expected a floating point tensor of rates, got "
                         f"{rate.dtype}")
    from graphc import random
    from graphc.device import host_array
    values = host_array(rate.detach()._data).astype(np.float64)
    if not (values >= 0).all():  # (NaN is refused too)
        raise RuntimeError("invalid Poisson rate, expected rate to be non-negative")
    seed = (generator or random.default_generator).next_seed()
    samples = np.random.default_rng(np.uint64(seed & 0xFFFFFFFFFFFFFFFF)).poisson(values)
    drawn = Tensor._wrap(np.asarray(samples, dtype=rate.dtype.numpy))
    if rate.requires_grad:  # zero gradient into the rates (PyTorch's), the values untouched
        return F.add(drawn, F.mul(F.sub(rate, rate.detach()), 0.0))
    return drawn


def frombuffer(buffer, *, dtype, count: int = -1, offset: int = 0,
               requires_grad: bool = False) -> Tensor:
    """A 1-D tensor over the bytes of an object with the buffer protocol (``bytes``,
    ``bytearray``, ``memoryview``, ``array.array``), like ``torch.frombuffer``: ``count``
    elements (-1: all) of ``dtype`` from byte ``offset``. A writable buffer is shared (writes
    to either show in the other), a read-only one is copied.

        >>> import graphc
        >>> graphc.frombuffer(bytearray([1, 0, 2, 0]), dtype=graphc.int16).tolist()
        [1, 2]
    """
    from graphc.factories import as_dtype
    dt = as_dtype(dtype)
    view = memoryview(buffer).cast("B")
    length, size = view.nbytes, dt.numpy.itemsize
    if length == 0 or count == 0:
        raise ValueError(f"both buffer length ({length}) and count ({count}) must not be 0")
    if not 0 <= offset < length:
        raise ValueError(f"offset ({offset} bytes) must be non-negative and no greater than "
                         f"buffer length ({length} bytes) minus 1")
    if count < 0:
        if (length - offset) % size:
            raise ValueError(f"buffer length ({length - offset} bytes) after offset ({offset} "
                             f"bytes) must be a multiple of element size ({size})")
        count = (length - offset) // size
    elif count * size > length - offset:
        raise ValueError(f"requested buffer length ({count} * {size} bytes) after offset "
                         f"({offset} bytes) must not be greater than actual buffer length "
                         f"({length} bytes)")
    array = np.frombuffer(view, dtype=dt.numpy, count=count, offset=offset)
    if not array.flags.writeable:
        array = array.copy()
    t = Tensor._wrap(array)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _install() -> None:
    for name in ("corrcoef", "histogram", "nanmedian"):
        setattr(Tensor, name, globals()[name])


_install()

__all__ = ["chain_matmul", "combinations", "corrcoef", "cosine_similarity",
           "cumulative_trapezoid", "frombuffer", "gradient", "histogram", "histogramdd",
           "nanmedian", "pairwise_distance", "pdist", "poisson", "unravel_index"]
