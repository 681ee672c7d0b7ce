"""More of PyTorch's top-level functions, written from graphc's primitives (issue 10, third
wave): shapes and stacking (``hstack vstack dstack column_stack tensor_split tile movedim
rot90 meshgrid broadcast_tensors cartesian_prod``), elementwise math (``logit nan_to_num
signbit erfinv``), reductions (``nansum nanmean count_nonzero var_mean std_mean quantile
trapezoid``), comparisons and searches (``isin searchsorted bucketize histc equal``),
products (``inner kron cross cdist dist cov``) and selection (``select take slice_scatter
repeat_interleave diff``).

Each is a composite, so it runs eagerly, traces into ``graphc.compile``, differentiates and
batches under ``vmap`` through the registry's rules. The few whose output shape depends on
values (``unique``, ``bincount``...) live in :mod:`graphc.data_dependent`.

    >>> import graphc
    >>> x = graphc.tensor([[1, 2], [3, 4]])
    >>> graphc.hstack([x, x]).tolist(), graphc.kron(x, graphc.ones(1, 2, dtype=graphc.int64)).tolist()
    ([[1, 2, 1, 2], [3, 4, 3, 4]], [[1, 1, 2, 2], [3, 3, 4, 4]])
    >>> graphc.searchsorted(graphc.tensor([1.0, 3.0, 5.0]), graphc.tensor([0.0, 3.0, 6.0])).tolist()
    [0, 1, 3]
"""
from __future__ import annotations

import builtins
import math
import operator
from typing import Optional

import numpy as np

from graphc import functions as F
from graphc import tracing
from graphc.amp.autocast_mode import autocast_op
from graphc.composites import flip, repeat
from graphc.errors import ArgumentError, ArgumentTypeError, IndexArgumentError, TraceError
from graphc.tensor import Tensor
from ir import dtypes
from ir.errors import DTypeError, ShapeError
from ir.types import broadcast_shapes, wrap_dim


def _const(values, dtype) -> Tensor:
    from graphc.factories import tensor
    return tensor(np.asarray(values), dtype=dtype)


def _is_float(x: Tensor) -> bool:
    return x.dtype.is_float


# -- aliases PyTorch keeps ------------------------------------------------------------------
absolute = F.abs
concatenate = F.cat


def clone(x: Tensor, *, memory_format=None) -> Tensor:
    """A copy of ``x`` that keeps its autograd history (``torch.clone``)."""
    return F.to_tensor(x).clone()


def numel(x: Tensor) -> int:
    """The number of elements of ``x`` (``torch.numel``)."""
    return int(np.prod(x.shape, dtype=np.int64))


def is_tensor(obj) -> bool:
    """Whether ``obj`` is a graphc tensor (``torch.is_tensor``)."""
    return isinstance(obj, Tensor)


def is_floating_point(x: Tensor) -> bool:
    """Whether ``x`` has a floating point dtype (``torch.is_floating_point``)."""
    return builtins.bool(x.dtype.is_float)


def ravel(x: Tensor) -> Tensor:
    """``x`` flattened to 1-D (``torch.ravel``)."""
    return F.reshape(x, [-1])


def swapaxes(x: Tensor, axis0: int, axis1: int) -> Tensor:
    """The same as ``transpose`` (``torch.swapaxes``/``swapdims``)."""
    return F.transpose(x, axis0, axis1)


swapdims = swapaxes


def movedim(x: Tensor, source, destination) -> Tensor:
    """``x`` with dims ``source`` moved to positions ``destination``, the others keeping their
    order (``torch.movedim``/``moveaxis``)."""
    source = [source] if isinstance(source, int) else list(source)
    destination = [destination] if isinstance(destination, int) else list(destination)
    if len(source) != len(destination):
        raise ShapeError(f"movedim: Invalid source or destination dims: source ({source} dims) "
                         f"should contain the same number of dims as destination "
                         f"({destination} dims)")
    rank = x.ndim
    src = [wrap_dim(d, builtins.max(rank, 1)) for d in source]
    dst = [wrap_dim(d, builtins.max(rank, 1)) for d in destination]
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ShapeError(f"movedim: repeated dim in source {source} or destination "
                         f"{destination}")
    if rank == 0:
        return x
    order: list = [None] * rank
    for s, d in zip(src, dst):
        order[d] = s
    rest = iter(d for d in range(rank) if d not in src)
    order = [o if o is not None else next(rest) for o in order]
    return F.permute(x, order)


moveaxis = movedim


def select(x: Tensor, dim: int, index: int) -> Tensor:
    """The slice ``x[..., index, ...]`` along ``dim``, that dim removed (``torch.select``)."""
    if x.ndim == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    axis = wrap_dim(dim, x.ndim)
    n = x.shape[axis]
    index = operator.index(index)  # (a 0-d integer tensor too, as in PyTorch)
    if not -n <= index < n:
        raise IndexError(f"select(): index {index} out of range for tensor of size "
                         f"{list(x.shape)} at dimension {dim}")
    return F.squeeze(F.narrow(x, axis, index % n, 1), axis)


# -- stacking and splitting -----------------------------------------------------------------
def atleast_1d(*tensors):
    """Each tensor with at least 1 dim (0-d become shape [1]) (``torch.atleast_1d``)."""
    return _at_least(tensors, 1)


def atleast_2d(*tensors):
    """Each tensor with at least 2 dims: 1-D ``[n]`` becomes ``[1, n]``."""
    return _at_least(tensors, 2)


def atleast_3d(*tensors):
    """Each tensor with at least 3 dims: ``[n]`` becomes ``[1, n, 1]``, ``[m, n]``
    ``[m, n, 1]``."""
    return _at_least(tensors, 3)


def _at_least(tensors, rank: int):
    single = len(tensors) == 1 and isinstance(tensors[0], Tensor)
    items = tensors[0] if len(tensors) == 1 and not single else tensors
    out = [_raise_rank(F.to_tensor(t), rank) for t in items]
    return out[0] if single else tuple(out)


def _raise_rank(x: Tensor, rank: int) -> Tensor:
    shape = list(x.shape)
    if len(shape) >= rank:
        return x
    if rank == 3:
        shape = {0: [1, 1, 1], 1: [1, shape[0], 1] if shape else [], 2: shape + [1]}[len(shape)]
    else:
        shape = [1] * (rank - len(shape)) + shape
    return F.reshape(x, shape)


def _tensor_list(tensors, op: str) -> list[Tensor]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise ArgumentTypeError(f"{op}(): expected a list or tuple of tensors, got "
                                f"{type(tensors).__name__}")
    if not tensors:
        raise ShapeError(f"{op}(): expects a non-empty list of tensors")
    return [F.to_tensor(t) for t in tensors]


def hstack(tensors) -> Tensor:
    """Tensors joined column-wise: along dim 0 if all are 1-D, else dim 1 (``torch.hstack``)."""
    ts = [_raise_rank(t, 1) for t in _tensor_list(tensors, "hstack")]
    return F.cat(ts, 0 if ts[0].ndim == 1 else 1)


def vstack(tensors) -> Tensor:
    """Tensors joined row-wise, 1-D ones as rows (``torch.vstack``/``row_stack``)."""
    return F.cat([_raise_rank(t, 2) for t in _tensor_list(tensors, "vstack")], 0)


row_stack = vstack


def dstack(tensors) -> Tensor:
    """Tensors joined depth-wise along dim 2 (``torch.dstack``)."""
    return F.cat([_raise_rank(t, 3) for t in _tensor_list(tensors, "dstack")], 2)


def column_stack(tensors) -> Tensor:
    """Tensors joined as columns: 0-d and 1-D ones become ``[n, 1]`` (``torch.column_stack``)."""
    ts = [F.reshape(t, [numel(t), 1]) if t.ndim <= 1 else t
          for t in _tensor_list(tensors, "column_stack")]
    return F.cat(ts, 1)


def tensor_split(x: Tensor, indices_or_sections, dim: int = 0) -> tuple[Tensor, ...]:
    """Splits ``x`` along ``dim`` into ``n`` near-equal parts (an int: the first ``size % n``
    parts one longer), or at the given indices (``torch.tensor_split``)."""
    if x.ndim == 0:
        raise ShapeError("tensor_split expected at least a 1-dimensional tensor, but got a "
                         "tensor with 0 dims")
    axis = wrap_dim(dim, x.ndim)
    size = x.shape[axis]
    if isinstance(indices_or_sections, Tensor):
        indices_or_sections = indices_or_sections.tolist()
    if isinstance(indices_or_sections, int):
        n = indices_or_sections
        if n <= 0:
            raise RuntimeError(f"tensor_split: number of sections must be larger than 0, got {n}")
        lengths = [size // n + (1 if i < size % n else 0) for i in range(n)]
        bounds = list(np.cumsum([0] + lengths))
    else:
        bounds = [0] + [builtins.min(builtins.max(i if i >= 0 else i + size, 0), size)
                        for i in indices_or_sections] + [size]
    parts = []
    for start, end in zip(bounds[:-1], bounds[1:]):
        start = builtins.min(int(start), size)
        parts.append(F.narrow(x, axis, start, builtins.max(int(end) - start, 0)))
    return tuple(parts)


def _split_at(x: Tensor, indices_or_sections, dim: int, op: str, rank: int):
    if x.ndim < rank:
        raise RuntimeError(f"{op} requires a tensor with at least {rank} dimension, but got a "
                           f"tensor with {x.ndim} dimensions!")
    if isinstance(indices_or_sections, int) and x.shape[dim] % indices_or_sections:
        raise RuntimeError(f"{op} attempted to split along dimension {dim}, but the size of "
                           f"the dimension {x.shape[dim]} is not divisible by the split_size "
                           f"{indices_or_sections}!")
    return tensor_split(x, indices_or_sections, dim)


def hsplit(x: Tensor, indices_or_sections):
    """``tensor_split`` along dim 1 (dim 0 for 1-D), sections must divide evenly."""
    return _split_at(x, indices_or_sections, 1 if x.ndim > 1 else 0, "torch.hsplit", 1)


def vsplit(x: Tensor, indices_or_sections):
    """``tensor_split`` along dim 0 of a tensor of rank >= 2 (``torch.vsplit``)."""
    return _split_at(x, indices_or_sections, 0, "torch.vsplit", 2)


def dsplit(x: Tensor, indices_or_sections):
    """``tensor_split`` along dim 2 of a tensor of rank >= 3 (``torch.dsplit``)."""
    return _split_at(x, indices_or_sections, 2, "torch.dsplit", 3)


def tile(x: Tensor, dims) -> Tensor:
    """``x`` repeated ``dims[i]`` times along dim i; fewer dims than the rank are padded with
    ones in front (``torch.tile``)."""
    dims = [dims] if isinstance(dims, int) else list(dims)
    return repeat(x, [1] * (x.ndim - len(dims)) + dims)


def broadcast_tensors(*tensors) -> tuple[Tensor, ...]:
    """The tensors broadcast to their common shape (``torch.broadcast_tensors``)."""
    ts = [F.to_tensor(t) for t in tensors]
    shape = broadcast_shapes(*[t.shape for t in ts]) if ts else ()
    return tuple(F.broadcast_to(t, list(shape)) for t in ts)


def meshgrid(*tensors, indexing: str = "ij") -> tuple[Tensor, ...]:
    """Coordinate grids from 1-D tensors (``torch.meshgrid``): ``'ij'`` (matrix indexing, the
    default) or ``'xy'`` (Cartesian: the grids of the first two inputs swapped, their
    dims in ``[len(t1), len(t0), ...]`` order)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    ts = [F.to_tensor(t) for t in tensors]
    for t in ts:
        if t.ndim > 1:
            raise ShapeError(f"meshgrid: expects 0-D or 1-D tensors, got a tensor of rank {t.ndim}")
    ts = [F.reshape(t, [-1]) for t in ts]
    swap = indexing == "xy" and len(ts) >= 2
    if swap:
        ts[0], ts[1] = ts[1], ts[0]
    shape = [t.shape[0] for t in ts]
    grids = []
    for i, t in enumerate(ts):
        view = [1] * len(ts)
        view[i] = shape[i]
        grids.append(F.broadcast_to(F.reshape(t, view), shape))
    if swap:
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


def cartesian_prod(*tensors) -> Tensor:
    """All combinations of the elements of 1-D tensors, one per row, in the order of
    ``itertools.product`` (``torch.cartesian_prod``)."""
    if len(tensors) == 1:
        return F.to_tensor(tensors[0])
    return F.stack([F.reshape(g, [-1]) for g in meshgrid(*tensors)], 1)


def rot90(x: Tensor, k: int = 1, dims=(0, 1)) -> Tensor:
    """``x`` rotated by 90 degrees ``k`` times, from the first dim towards the second
    (``torch.rot90``)."""
    dims = list(dims)
    if len(dims) != 2:
        raise ShapeError(f"rot90: expected total rotation dims == 2, but got dims = {len(dims)}")
    if x.ndim < 2:
        raise ShapeError(f"rot90: expected total dims >= 2, but got total dims = {x.ndim}")
    d0, d1 = wrap_dim(dims[0], x.ndim), wrap_dim(dims[1], x.ndim)
    if d0 == d1:
        raise ShapeError(f"rot90: expected rotation dims to be different, but got dim0 = {d0} "
                         f"and dim1 = {d1}")
    k %= 4
    if k == 1:
        return F.transpose(flip(x, [d1]), d0, d1)
    if k == 2:
        return flip(x, [d0, d1])
    if k == 3:
        return F.transpose(flip(x, [d0]), d0, d1)
    return x


def diagflat(x: Tensor, offset: int = 0) -> Tensor:
    """A 2-D matrix with the flattened ``x`` on diagonal ``offset`` (``torch.diagflat``)."""
    from graphc.diagonals import diag
    return diag(F.reshape(x, [-1]), offset)


# -- elementwise ----------------------------------------------------------------------------
def logit(x: Tensor, eps: Optional[float] = None) -> Tensor:
    """``log(p / (1 - p))``, ``p`` clamped to ``[eps, 1 - eps]`` when ``eps`` is given
    (``torch.logit``)."""
    x = F.to_tensor(x)
    if not _is_float(x):
        x = F.cast(x, dtypes.f32)
    if eps is not None:
        x = F.clamp(x, eps, 1.0 - eps)
    return F.log(F.div(x, F.sub(1.0, x)))


def nan_to_num(x: Tensor, nan: float = 0.0, posinf: Optional[float] = None,
               neginf: Optional[float] = None) -> Tensor:
    """NaN replaced by ``nan``, +inf and -inf by ``posinf``/``neginf`` (the dtype's largest
    and lowest finite values by default) (``torch.nan_to_num``); integers pass unchanged."""
    x = F.to_tensor(x)
    if not _is_float(x):
        return x
    from graphc.dtype_info import finfo
    big = float(finfo(x.dtype).max)
    posinf = big if posinf is None else posinf
    neginf = -big if neginf is None else neginf
    x = F.where(F.isnan(x), F.scalar_like(nan, x), x)
    infinite = F.isinf(x)
    return F.where(F.logical_and(infinite, F.gt(x, 0)), F.scalar_like(posinf, x),
                   F.where(F.logical_and(infinite, F.lt(x, 0)), F.scalar_like(neginf, x), x))


def signbit(x: Tensor) -> Tensor:
    """Whether the sign bit is set: true for negative numbers and for ``-0.0``
    (``torch.signbit``). A NaN counts as positive here (graphc cannot read a NaN's sign)."""
    x = F.to_tensor(x)
    if x.dtype.is_bool:
        return F.ne(x, x)
    negative = F.lt(x, 0)
    if not _is_float(x):
        return negative
    zero = F.eq(x, 0)
    negative_zero = F.logical_and(zero, F.lt(F.reciprocal(F.where(zero, x, 1.0)), 0))
    return F.logical_or(negative, negative_zero)


def erfinv(y: Tensor) -> Tensor:
    """The inverse error function (``torch.erfinv``): ``erf(erfinv(y)) == y`` on (-1, 1),
    ±inf at ±1, NaN outside.

    Giles' single-precision approximation, refined by two Newton steps on ``erf(x) - y``. The
    gradient flows through the steps; at the fixed point it is the exact
    ``sqrt(pi) / 2 * exp(x**2)``.
    """
    y = F.to_tensor(y)
    if not _is_float(y):
        y = F.cast(y, dtypes.f32)
    inside = F.lt(F.abs(y), 1.0)
    safe = F.where(inside, y, F.scalar_like(0.0, y))
    w = F.neg(F.log(F.mul(F.sub(1.0, safe), F.add(1.0, safe))))
    central = _poly(F.sub(w, 2.5), [2.81022636e-08, 3.43273939e-07, -3.5233877e-06,
                                    -4.39150654e-06, 0.00021858087, -0.00125372503,
                                    -0.00417768164, 0.246640727, 1.50140941])
    tail = _poly(F.sub(F.sqrt(F.where(F.lt(w, 5.0), F.scalar_like(5.0, w), w)), 3.0),
                 [-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
                  0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682])
    x = F.mul(F.where(F.lt(w, 5.0), central, tail), safe)
    half_sqrt_pi = math.sqrt(math.pi) / 2
    for _ in range(2):  # Newton: x -= (erf(x) - y) / erf'(x)
        slope = F.div(F.exp(F.neg(F.mul(x, x))), half_sqrt_pi)
        x = F.sub(x, F.div(F.sub(F.erf(x), safe), slope))
    edge = F.where(F.eq(y, 1.0), F.scalar_like(math.inf, y),
                   F.where(F.eq(y, -1.0), F.scalar_like(-math.inf, y), F.scalar_like(math.nan, y)))
    return F.where(inside, x, edge)


def _poly(x: Tensor, coefficients) -> Tensor:
    result = F.scalar_like(coefficients[0], x)
    for c in coefficients[1:]:
        result = F.add(F.mul(result, x), c)
    return result


def masked_fill(x: Tensor, mask, value) -> Tensor:
    """``x`` with ``value`` where ``mask`` is true (``torch.masked_fill``)."""
    return F.masked_fill(x, mask, value)


# -- reductions -----------------------------------------------------------------------------
def nansum(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The sum treating NaN as zero (``torch.nansum``)."""
    x = F.to_tensor(x)
    if _is_float(x):
        x = F.where(F.isnan(x), F.scalar_like(0.0, x), x)
    return F.sum(x, dim, keepdim, dtype=dtype)


def nanmean(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The mean of the non-NaN elements (``torch.nanmean``); NaN where all are NaN."""
    x = F.to_tensor(x)
    if not _is_float(x):
        raise DTypeError(f"nanmean(): expected input to have floating point dtype but got "
                         f"{x.dtype}")
    if dtype is not None:
        x = F.cast(x, dtype)
    counted = F.logical_not(F.isnan(x))
    return F.div(nansum(x, dim, keepdim), F.sum(F.cast(counted, x.dtype), dim, keepdim))


def count_nonzero(x: Tensor, dim=None) -> Tensor:
    """How many elements are nonzero, over ``dim`` (all when None) (``torch.count_nonzero``)."""
    return F.sum(F.cast(F.ne(x, 0), dtypes.i64), dim)


def var_mean(x: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """``(var, mean)`` over ``dim`` in one call (``torch.var_mean``)."""
    return (F.var(x, dim, unbiased, keepdim, correction=correction),
            F.mean(x, dim, keepdim))


def std_mean(x: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """``(std, mean)`` over ``dim`` in one call (``torch.std_mean``)."""
    return (F.std(x, dim, unbiased, keepdim, correction=correction),
            F.mean(x, dim, keepdim))


@autocast_op("quantile")
def quantile(x: Tensor, q, dim: Optional[int] = None, keepdim: bool = False, *,
             interpolation: str = "linear") -> Tensor:
    """The ``q``-th quantiles of ``x`` along ``dim`` (all elements when None), like
    ``torch.quantile``: a number ``q`` gives one value per row, a 1-D tensor ``q`` adds a
    leading dim. ``interpolation`` is ``linear lower higher midpoint nearest``. A sort, then a
    gather at the two neighbouring ranks, so it differentiates into the selected elements."""
    return _quantile("quantile", x, q, dim, keepdim, interpolation, ignore_nan=False)


@autocast_op("nanquantile")
def nanquantile(x: Tensor, q, dim: Optional[int] = None, keepdim: bool = False, *,
                interpolation: str = "linear") -> Tensor:
    """:func:`quantile` ignoring NaN (``torch.nanquantile``): the quantiles of each row's
    non-NaN values (a row of NaN only gives NaN). The sort puts NaN last, so each row's ranks
    are scaled by its own count of numbers.

        >>> import graphc
        >>> graphc.nanquantile(graphc.tensor([1.0, float("nan"), 3.0]), 0.5).item()
        2.0
    """
    return _quantile("nanquantile", x, q, dim, keepdim, interpolation, ignore_nan=True)


def _quantile(name: str, x: Tensor, q, dim, keepdim: bool, interpolation: str,
              ignore_nan: bool) -> Tensor:
    from graphc.scans_sorts import sort
    x = F.to_tensor(x)
    if not _is_float(x):
        raise DTypeError(f"{name}() input tensor must be either float or double dtype, "
                         f"got {x.dtype}")
    if interpolation not in ("linear", "lower", "higher", "midpoint", "nearest"):
        raise ValueError(f"{name}() interpolation must be one of linear, lower, higher, "
                         f"midpoint or nearest. Got {interpolation}")
    from graphc import math_functions as M
    scalar_q = not isinstance(q, Tensor) or q.ndim == 0
    if isinstance(q, Tensor):
        if q.ndim > 1:
            raise RuntimeError(f"{name}() q must be a scalar or 1D tensor, got {q.ndim}D")
        if q.dtype != x.dtype:
            raise RuntimeError(f"{name}() q tensor must be same dtype as the input tensor, "
                               f"got {q.dtype} and {x.dtype}")
        qs = F.reshape(q.detach(), [-1])
        F.check_range(qs, 0, 1, ArgumentError, f"{name}() q values must be in the range [0, 1]")
    else:
        known = np.atleast_1d(np.asarray(q, dtype=np.float64))
        if not ((known >= 0) & (known <= 1)).all():
            raise RuntimeError(f"{name}() q values must be in the range [0, 1]")
        qs = _const(known, x.dtype)
    if dim is None:
        source, axis = F.reshape(x, [-1]), 0
    else:
        source, axis = x, wrap_dim(dim, builtins.max(x.ndim, 1))
        if x.ndim == 0:
            source = F.reshape(x, [1])
    n = source.shape[axis]
    if n == 0:
        raise IndexError(f"{name}() input tensor must be non-empty")
    ordered = sort(source, axis).values  # NaN last
    # clamped, so that a q outside [0, 1] reaches its check (at run time, compiled) rather
    # than an index error of the gathers below
    q_clean = F.where(F.isnan(qs), F.scalar_like(0.0, qs), qs)
    shape = [1] * ordered.ndim
    shape[axis] = qs.shape[0]
    if ignore_nan:  # each row's ranks over its own numbers: [.., len(q) at axis, ..]
        numbers = F.sum(F.cast(F.logical_not(F.isnan(source)), x.dtype), axis, keepdim=True)
        last = F.maximum(F.sub(numbers, 1.0), F.scalar_like(0.0, numbers))
        rank = F.minimum(F.mul(F.reshape(q_clean, shape), last), last)
    else:
        rank = F.clamp(F.mul(q_clean, float(n - 1)), 0.0, float(n - 1))
    below, above = M.floor(rank), M.ceil(rank)
    if interpolation == "lower":
        above = below
    elif interpolation == "higher":
        below = above
    elif interpolation == "nearest":
        below = above = M.round(rank)  # half to even, as PyTorch
    count = qs.shape[0]
    if ignore_nan:
        from graphc.index_ops import take_along_dim
        lo = take_along_dim(ordered, F.cast(below, dtypes.i64), axis)
        hi = take_along_dim(ordered, F.cast(above, dtypes.i64), axis)
    else:
        lo = F.index_select(ordered, axis, F.cast(below, dtypes.i64))
        hi = F.index_select(ordered, axis, F.cast(above, dtypes.i64))
    if interpolation == "midpoint":
        weight = F.where(F.eq(below, above), F.scalar_like(0.0, rank), F.scalar_like(0.5, rank))
    else:
        weight = F.sub(rank, below)
    w = weight if ignore_nan else F.reshape(weight, shape)
    result = F.add(lo, F.mul(F.sub(hi, lo), w))
    if ignore_nan:  # a row of NaN only has NaN quantiles
        result = F.where(F.eq(numbers, 0.0), F.scalar_like(math.nan, result), result)
    elif x.dtype.is_float:  # a row holding NaN has NaN quantiles, as PyTorch
        has_nan = F.any(F.isnan(source), axis, keepdim=True)
        result = F.where(has_nan, F.scalar_like(math.nan, result), result)
    result = movedim(result, axis, 0)
    if keepdim:
        if dim is None:
            result = F.reshape(result, [count] + [1] * x.ndim)
        else:
            result = F.unsqueeze(result, axis + 1) if x.ndim else result
    return F.squeeze(result, 0) if scalar_q else result


def trapezoid(y: Tensor, x=None, *, dx=None, dim: int = -1) -> Tensor:
    """The trapezoidal rule along ``dim``: spacing ``dx`` (default 1) or sample points ``x``
    (``torch.trapezoid``/``trapz``)."""
    y = F.to_tensor(y)
    axis = wrap_dim(dim, y.ndim)
    n = y.shape[axis]
    if n == 0:
        return F.sum(y, axis)
    pairs = F.add(F.narrow(y, axis, 1, n - 1), F.narrow(y, axis, 0, n - 1))
    if x is None:
        return F.mul(F.sum(pairs, axis), (1.0 if dx is None else dx) / 2)
    x = F.to_tensor(x)
    spacing = diff(x, dim=-1 if x.ndim == 1 else dim)
    if x.ndim == 1:
        view = [1] * y.ndim
        view[axis] = n - 1
        spacing = F.reshape(spacing, view)
    return F.div(F.sum(F.mul(pairs, spacing), axis), 2.0)


trapz = trapezoid


def diff(x: Tensor, n: int = 1, dim: int = -1, prepend=None, append=None) -> Tensor:
    """The ``n``-th forward difference along ``dim``, after joining ``prepend`` and ``append``
    (``torch.diff``); bool tensors give ``!=`` of neighbours."""
    x = F.to_tensor(x)
    if x.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    axis = wrap_dim(dim, x.ndim)
    parts = [F.to_tensor(p) for p in (prepend, x, append) if p is not None]
    if len(parts) > 1:
        x = F.cat([F.broadcast_to(p, [*x.shape[:axis], 1, *x.shape[axis + 1:]]) if p.ndim == 0
                   else p for p in parts], axis)
    for _ in range(n):
        size = x.shape[axis]
        if size == 0:
            break
        later, earlier = F.narrow(x, axis, 1, size - 1), F.narrow(x, axis, 0, size - 1)
        x = F.ne(later, earlier) if x.dtype.is_bool else F.sub(later, earlier)
    return x


# -- comparisons and searches ---------------------------------------------------------------
def equal(a: Tensor, b: Tensor) -> bool:
    """Whether ``a`` and ``b`` have the same shape and elements (``torch.equal``)."""
    a, b = F.to_tensor(a), F.to_tensor(b)
    if a.shape != b.shape:
        return False
    return builtins.bool(F.all(F.eq(a, b)).item())


def isin(elements, test_elements, *, assume_unique: bool = False,
         invert: bool = False) -> Tensor:
    """Whether each of ``elements`` occurs in ``test_elements`` (``torch.isin``); either may be
    a number."""
    like = test_elements if isinstance(test_elements, Tensor) else None
    elements = F.to_tensor(elements, like)
    tests = F.reshape(F.to_tensor(test_elements, elements), [-1])
    if tests.shape[0] == 0:
        found = F.broadcast_to(F.to_tensor(False), list(elements.shape))
    else:
        found = F.any(F.eq(F.unsqueeze(elements, -1), tests), -1)
    return F.logical_not(found) if invert else found


def searchsorted(sorted_sequence: Tensor, values, *, out_int32: bool = False,
                 right: bool = False, side: Optional[str] = None, sorter=None) -> Tensor:
    """Insertion points of ``values`` in ``sorted_sequence`` along its last dim
    (``torch.searchsorted``): the count of elements ``< v`` (``<= v`` with ``right=True`` or
    ``side='right'``). Leading dims of a N-D sequence pair with those of ``values``."""
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but "
                               f"got {side}")
        if right and side == "left":
            raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites")
        right = side == "right"
    seq = F.to_tensor(sorted_sequence)
    if sorter is not None:
        from graphc.index_ops import take_along_dim
        seq = take_along_dim(seq, F.to_tensor(sorter), -1)
    scalar = not isinstance(values, Tensor)
    v = F.to_tensor(values, seq)
    if seq.ndim > 1 and (v.ndim != seq.ndim or list(v.shape[:-1]) != list(seq.shape[:-1])):
        raise RuntimeError(f"torch.searchsorted(): boundaries tensor should be 1 dimension or "
                           f"the first N-1 dimensions of boundaries tensor and input value "
                           f"tensor must match, but we got boundaries tensor "
                           f"{list(seq.shape)} and input value tensor {list(v.shape)}")
    compare = F.le if right else F.lt
    row = F.reshape(seq, [-1]) if seq.ndim <= 1 else F.unsqueeze(seq, -2)
    column = F.unsqueeze(v, -1)
    hits = compare(row, column)
    if column.dtype.is_float:  # NaN sorts after every number, as in NumPy and PyTorch
        after = F.isnan(column) if right else F.logical_and(F.isnan(column),
                                                            F.logical_not(F.isnan(row)))
        hits = F.logical_or(hits, after)
    out = F.sum(F.cast(hits, dtypes.i64), -1)
    if out_int32:  # (sums of integers are int64)
        out = F.cast(out, dtypes.i32)
    return F.reshape(out, []) if scalar else out


def bucketize(input, boundaries: Tensor, *, out_int32: bool = False,
              right: bool = False) -> Tensor:
    """The bucket of each element given 1-D increasing ``boundaries`` (``torch.bucketize``):
    ``boundaries[i-1] < x <= boundaries[i]``, or ``<= x <`` with ``right=True``."""
    boundaries = F.to_tensor(boundaries)
    if boundaries.ndim != 1:
        raise RuntimeError(f"bucketize(): boundaries tensor must be 1 dimension, but got dim("
                           f"{boundaries.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


def histc(x: Tensor, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:  # noqa: A002
    """A histogram of ``x`` with ``bins`` equal bins on ``[min, max]`` (the data's range when
    both are 0); elements outside are ignored (``torch.histc``). Not differentiable."""
    x = F.to_tensor(x)
    if not _is_float(x):
        raise DTypeError(f"torch.histogramc: input tensor dtype must be floating point, got "
                         f"{x.dtype}")
    if bins <= 0:
        raise RuntimeError(f"torch.histc: bins must be > 0, but got {bins} for bins")
    if min > max:
        raise RuntimeError(f"torch.histc: max must be larger than min, got min={min}, max={max}")
    flat = F.reshape(x, [-1]).detach()
    if min == max and flat.shape[0]:
        low, high = F.amin(flat), F.amax(flat)
    else:
        low, high = F.scalar_like(float(min), flat), F.scalar_like(float(max), flat)
    equal_ends = F.eq(low, high)  # all one value: PyTorch widens the range by 1 each side
    low = F.where(equal_ends, F.sub(low, 1.0), low)
    high = F.where(equal_ends, F.add(high, 1.0), high)
    inside = F.logical_and(F.ge(flat, low), F.le(flat, high))
    position = F.div(F.mul(F.sub(flat, low), float(bins)), F.sub(high, low))
    index = F.clamp(F.cast(position, dtypes.i64), 0, bins - 1)
    one_hot = F.eq(F.unsqueeze(index, -1), _const(np.arange(bins), dtypes.i64))
    counted = F.logical_and(one_hot, F.unsqueeze(inside, -1))
    return F.sum(F.cast(counted, x.dtype), 0)


# -- products and distances -----------------------------------------------------------------
@autocast_op("inner")
def inner(a: Tensor, b: Tensor) -> Tensor:
    """The sum of products over the last dims of ``a`` and ``b`` (``torch.inner``); a 0-d
    operand multiplies."""
    a, b = F.to_tensor(a), F.to_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        return F.mul(a, b)
    if a.shape[-1] != b.shape[-1]:
        raise ShapeError(f"inner() the last dimension must match on both input tensors but "
                         f"got shapes {list(a.shape)} and {list(b.shape)}")
    from graphc.contractions import tensordot
    return tensordot(a, b, ([a.ndim - 1], [b.ndim - 1]))


def kron(a: Tensor, b: Tensor) -> Tensor:
    """The Kronecker product (``torch.kron``): block ``(i, j)`` is ``a[i, j] * b``."""
    a, b = F.to_tensor(a), F.to_tensor(b)
    rank = builtins.max(a.ndim, b.ndim)
    sa = [1] * (rank - a.ndim) + list(a.shape)
    sb = [1] * (rank - b.ndim) + list(b.shape)
    spread_a = F.reshape(a, [n for d in sa for n in (d, 1)])
    spread_b = F.reshape(b, [n for d in sb for n in (1, d)])
    return F.reshape(F.mul(spread_a, spread_b), [p * q for p, q in zip(sa, sb)])


@autocast_op("cross")
def cross(a: Tensor, b: Tensor, dim: Optional[int] = None) -> Tensor:
    """The 3-D cross product along ``dim`` (``torch.cross``; without ``dim`` the first dim of
    size 3, as PyTorch's deprecated default)."""
    a, b = F.to_tensor(a), F.to_tensor(b)
    shape = broadcast_shapes(a.shape, b.shape)
    a, b = F.broadcast_to(a, list(shape)), F.broadcast_to(b, list(shape))
    if dim is None:
        dim = next((i for i, n in enumerate(shape) if n == 3), None)
        if dim is None:
            raise RuntimeError(f"no dimension of size 3 in input of shape {list(shape)}")
    axis = wrap_dim(dim, len(shape))
    if shape[axis] != 3:
        raise ShapeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got "
                         f"{shape[axis]} and {shape[axis]}")
    ax = [F.narrow(a, axis, i, 1) for i in range(3)]
    bx = [F.narrow(b, axis, i, 1) for i in range(3)]
    return F.cat([F.sub(F.mul(ax[1], bx[2]), F.mul(ax[2], bx[1])),
                  F.sub(F.mul(ax[2], bx[0]), F.mul(ax[0], bx[2])),
                  F.sub(F.mul(ax[0], bx[1]), F.mul(ax[1], bx[0]))], axis)


@autocast_op("dist")
def dist(a: Tensor, b: Tensor, p: float = 2) -> Tensor:
    """The ``p``-norm of ``a - b`` (``torch.dist``)."""
    from graphc.linalg import vector_norm
    return vector_norm(F.sub(a, b), p)


@autocast_op("cdist")
def cdist(x1: Tensor, x2: Tensor, p: float = 2.0,
          compute_mode: str = "use_mm_for_euclid_dist_if_necessary") -> Tensor:
    """The ``p``-norm distance between each row of ``x1`` ``[..., P, M]`` and each row of
    ``x2`` ``[..., R, M]``: ``[..., P, R]`` (``torch.cdist``). Computed from the differences
    (not the matrix-product shortcut), so it is exact for close points."""
    from graphc.linalg import vector_norm
    x1, x2 = F.to_tensor(x1), F.to_tensor(x2)
    if x1.ndim < 2 or x2.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {x1.ndim}D, X2 "
                           f"got: {x2.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: "
                           f"{x1.shape[-1]} X2: {x2.shape[-1]}")
    if p < 0:
        raise RuntimeError(f"cdist only supports non-negative p values, got {p}")
    differences = F.sub(F.unsqueeze(x1, -2), F.unsqueeze(x2, -3))
    return vector_norm(differences, p, dim=-1)


def cov(x: Tensor, *, correction: int = 1, fweights=None, aweights=None) -> Tensor:
    """The covariance matrix of the variables in the rows of ``x`` (observations in columns),
    like ``torch.cov``, with optional integer frequency and float observation weights."""
    x = F.to_tensor(x)
    if x.ndim > 2:
        raise RuntimeError(f"cov(): expected input to have two or fewer dimensions but got an "
                           f"input with {x.ndim} dimensions")
    if not _is_float(x):
        x = F.cast(x, dtypes.f32)
    rows = F.reshape(x, [1, -1]) if x.ndim < 2 else x
    n = rows.shape[1]
    weights = None
    for w in (fweights, aweights):
        if w is not None:
            w = F.cast(F.to_tensor(w), rows.dtype)
            weights = w if weights is None else F.mul(weights, w)
    if weights is None:
        total = F.scalar_like(float(n), rows)
        mean = F.mean(rows, 1, keepdim=True)
        norm = F.scalar_like(float(n - correction), rows)
    else:
        total = F.sum(weights)
        mean = F.div(F.sum(F.mul(rows, weights), 1, keepdim=True), total)
        if correction == 0:
            norm = total
        elif aweights is None:
            norm = F.sub(total, float(correction))
        else:
            aw = F.cast(F.to_tensor(aweights), rows.dtype)
            norm = F.sub(total, F.div(F.mul(F.sum(F.mul(weights, aw)), float(correction)),
                                      total))
    centred = F.sub(rows, mean)
    weighted = centred if weights is None else F.mul(centred, weights)
    result = F.div(F.matmul(weighted, F.transpose(centred, 0, 1)),
                   F.clamp(norm, 0.0, None) if weights is not None else
                   (norm if n - correction > 0 else F.scalar_like(0.0, rows)))
    return F.reshape(result, []) if x.ndim < 2 else result


# -- selection and writes -------------------------------------------------------------------
def take(x: Tensor, index: Tensor) -> Tensor:
    """The elements of the flattened ``x`` at ``index`` (negative counts from the end), in the
    shape of ``index`` (``torch.take``)."""
    flat = F.reshape(x, [-1])
    index = F.to_tensor(index)
    if index.dtype.is_float or index.dtype.is_bool:
        raise IndexError(f"take(): Expected a long tensor for index, but got {index.dtype}")
    n = flat.shape[0]
    wrapped = F.where(F.lt(index, 0), F.add(index, n), index)
    return F.reshape(F.index_select(flat, 0, F.reshape(wrapped, [-1])), list(index.shape))


def slice_scatter(x: Tensor, src: Tensor, dim: int = 0, start: Optional[int] = None,
                  end: Optional[int] = None, step: int = 1) -> Tensor:
    """``x`` with ``src`` written into the slice ``start:end:step`` of ``dim``
    (``torch.slice_scatter``); the gradient splits between the two."""
    from graphc.index_ops import index_copy
    x = F.to_tensor(x)
    axis = wrap_dim(dim, x.ndim)
    positions = np.arange(x.shape[axis])[slice(start, end, step)]
    expected = list(x.shape)
    expected[axis] = len(positions)
    if list(src.shape) != expected:
        raise RuntimeError(f"slice_scatter: expected src to have a size equal to the slice of "
                           f"self. src size = {list(src.shape)}, slice size = {expected}")
    if len(positions) == 0:
        return x
    return index_copy(x, axis, _const(positions, dtypes.i64), src)


def repeat_interleave(x, repeats=None, dim: Optional[int] = None, *,
                      output_size: Optional[int] = None) -> Tensor:
    """Each element (or slice along ``dim``) repeated ``repeats`` times in place
    (``torch.repeat_interleave``); without ``dim`` the input is flattened. ``repeats`` may be a
    tensor of per-element counts (eager only: the output shape depends on it), and
    ``repeat_interleave(counts)`` alone repeats each index ``counts[i]`` times."""
    if repeats is None:  # repeat_interleave(repeats): the indices, repeated
        counts = F.to_tensor(x)
        from graphc.factories import arange
        return repeat_interleave(arange(counts.shape[0] if counts.ndim else 1), counts)
    x = F.to_tensor(x)
    if dim is None:
        x, axis = F.reshape(x, [-1]), 0
    else:
        axis = wrap_dim(dim, builtins.max(x.ndim, 1))
        if x.ndim == 0:
            x = F.reshape(x, [1])
    n = x.shape[axis]
    if isinstance(repeats, Tensor) and repeats.ndim > 0 and repeats.numel() > 1:
        if tracing.current() is not None or repeats._value is not None:
            raise TraceError("repeat_interleave() with a tensor of repeats inside a compiled "
                             "function: the output shape depends on its values; pass an int, "
                             "or call it outside the compiled function")
        counts = repeats.numpy()
        if counts.shape != (n,):
            raise RuntimeError(f"repeat_interleave: repeats must have the same size as input "
                               f"along dim, but got repeats.size(0) = {counts.shape[0]} and "
                               f"input.size({dim}) = {n}")
    else:
        counts = np.full(n, int(repeats.item() if isinstance(repeats, Tensor) else repeats))
    if (counts < 0).any():
        raise RuntimeError("repeat_interleave: repeats can not be negative")
    index = np.repeat(np.arange(n), counts)
    if output_size is not None and output_size != len(index):
        raise RuntimeError(f"repeat_interleave: output_size {output_size} does not match the "
                           f"total of repeats {len(index)}")
    return F.index_select(x, axis, _const(index, dtypes.i64))


@autocast_op("renorm")
def renorm(input: Tensor, p: float, dim: int, maxnorm: float) -> Tensor:
    """``input`` with each slice along ``dim`` whose ``p``-norm exceeds ``maxnorm`` scaled
    down to it (``torch.renorm``: by ``maxnorm / (norm + 1e-7)``, as PyTorch)."""
    from graphc.linalg import vector_norm
    x = F.to_tensor(input)
    axis = wrap_dim(dim, x.ndim)
    others = [d for d in range(x.ndim) if d != axis]
    norms = vector_norm(x, p, others, keepdim=True) if others else F.abs(x)
    factor = F.where(F.gt(norms, maxnorm), F.div(float(maxnorm), F.add(norms, 1e-7)), 1.0)
    return F.mul(x, F.cast(factor, x.dtype))


def index_select(input: Tensor, dim: int, index) -> Tensor:
    """``torch.index_select``: the entries of ``input`` along ``dim`` at ``index``. A 0-d
    index selects a dimension of length 1, as PyTorch's (it was dropped, so ``a -
    a.index_select(1, i)`` broadcast another way, silently). (``graphc.functions``' own
    version, which the library uses, takes an index of any shape, as NumPy's ``take``.)"""
    index = F.to_tensor(index)
    if index.ndim > 1:
        raise IndexArgumentError(f"index_select(): Index is supposed to be a vector, got shape "
                                 f"{list(index.shape)}")
    return F.index_select(input, dim, F.reshape(index, [1]) if index.ndim == 0 else index)


def masked_scatter(x: Tensor, mask, source: Tensor) -> Tensor:
    """``x`` with the elements of ``source``, in order, written where ``mask`` is true
    (``Tensor.masked_scatter``): the k-th true position takes ``source.flatten()[k]``. A
    cumulative count picks the source element, so the shape stays static and it compiles."""
    from graphc.scans_sorts import cumsum
    x, mask, source = F.to_tensor(x), F.to_tensor(mask), F.to_tensor(source)
    if mask.dtype != dtypes.bool_:
        raise RuntimeError(f"masked_scatter_ only supports boolean masks, but got mask with "
                           f"dtype {mask.dtype}")
    mask = F.broadcast_to(mask, list(x.shape))
    flat_mask = F.reshape(mask, [-1])
    rank = F.sub(cumsum(F.cast(flat_mask, dtypes.i64), 0), 1)
    flat_source = F.reshape(source, [-1])
    available = flat_source.shape[0]
    # compiled too (tracing.check): the index below is clamped, so a short source repeated
    # its last element silently; an empty one left x as it was
    needed = F.sum(F.cast(flat_mask, dtypes.i64))
    tracing.check(F.gt(needed, available), RuntimeError,
                  f"masked_scatter: source has {available} elements, fewer than the mask's "
                  f"true elements")
    if available == 0:
        return F.where(mask, x, x)  # (no true element, checked above)
    picked = F.index_select(flat_source, 0, F.clamp(rank, 0, available - 1))
    return F.where(mask, F.reshape(F.cast(picked, x.dtype), list(x.shape)), x)


def put(x: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
    """``x`` with ``source`` written (or with ``accumulate`` added) at the flat positions
    ``index`` (``Tensor.put``)."""
    from graphc.index_ops import index_add, index_copy
    flat = F.reshape(x, [-1])
    index = F.reshape(F.to_tensor(index), [-1])
    source = F.reshape(F.to_tensor(source), [-1])
    if index.shape[0] != source.shape[0]:
        raise RuntimeError(f"put_(): Expected source and index to have the same number of "
                           f"elements, but got source.numel() = {source.shape[0]}, "
                           f"index.numel() = {index.shape[0]}")
    write = index_add if accumulate else index_copy
    return F.reshape(write(flat, 0, index, source), list(x.shape))


__all__ = [
    "absolute", "atleast_1d", "atleast_2d", "atleast_3d", "broadcast_tensors", "bucketize",
    "cartesian_prod", "cdist", "clone", "column_stack", "concatenate", "count_nonzero", "cov",
    "cross", "diagflat", "diff", "dist", "dsplit", "dstack", "equal", "erfinv", "histc",
    "hsplit", "hstack", "inner", "is_floating_point", "is_tensor", "isin", "kron", "logit",
    "masked_fill", "masked_scatter", "index_select", "renorm", "meshgrid", "moveaxis", "movedim",
    "nan_to_num",
    "nanmean", "nanquantile", "nansum", "numel", "put", "quantile", "ravel", "repeat_interleave", "rot90",
    "row_stack", "searchsorted", "select", "signbit", "slice_scatter", "std_mean", "swapaxes",
    "swapdims", "take", "tensor_split", "tile", "trapezoid", "trapz", "var_mean", "vsplit",
    "vstack",
]
