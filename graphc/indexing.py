"""``Tensor.__getitem__`` and ``__setitem__`` in NumPy/PyTorch style, lowered to primitives.

Basic indices (ints, slices with positive steps, ``None``, ``...``) become ``slice`` and
``reshape``; integer-tensor indices become ``gather``. As in PyTorch, ints select first; the
tensor indices then broadcast together, and their broadcast dims replace the indexed axes in
place when the tensor indices stand next to each other, or go first when a slice or ``None``
separates them (NumPy's rule)::

    >>> import graphc
    >>> x = graphc.zeros(2, 5, 6)
    >>> j = graphc.tensor([0, 1, 1])
    >>> tuple(x[:, j, j].shape), tuple(x[j, :, j].shape), tuple(x[j, None, j].shape)
    ((2, 3), (3, 5), (3, 1, 6))

A boolean mask reads as the integer indices of its true elements (``x[mask]``, ``x[:, mask]``,
eagerly: the result's shape depends on the mask's values); assigning one value to every
selected element (``x[mask] = v``) becomes ``where``, which also traces. Writing
through basic indices (``x[1:3] = v``) becomes ``pad`` + ``where``, so it traces and has gradients.
Writing through integer-tensor indices (``x[idx] = v``, ``x[range(n), y] = v``) is
``index_put``: the flat positions ``x[key]`` reads are found by indexing row-major element
numbers (small per-axis ``arange`` broadcast together) the same way,
and ``v`` is scattered there (the last duplicate wins; ``index_put(accumulate=True)`` adds them).
``x[idx] += v`` reads, adds and writes back, as in PyTorch::

    >>> x = graphc.zeros(3, 2)
    >>> x[graphc.tensor([0, 2]), graphc.tensor([1, 0])] = 5.0
    >>> x.tolist()
    [[0.0, 5.0], [0.0, 0.0], [5.0, 0.0]]
"""
from __future__ import annotations

import numpy as np

from graphc import autograd, tracing
from graphc import functions as F
from graphc.dispatch import apply
from graphc.errors import IndexArgumentError
from graphc.index_ops import negative_counts_from_end
from graphc.tensor import Tensor
from graphc.user_warnings import warn
from ir import dtypes
from ir.errors import IndexRangeError
from ir.types import broadcasts_to


def _expand_key(key, ndim: int) -> list:
    key = list(key) if isinstance(key, tuple) else [key]
    consumed = sum(1 for k in key if k is not None and k is not Ellipsis)
    if sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if consumed > ndim:
        raise IndexError(f"too many indices for a tensor of rank {ndim}: got {consumed}")
    # identity tests: `Ellipsis in key` would call Tensor.__eq__ on tensor indices
    ellipsis_at = [i for i, k in enumerate(key) if k is Ellipsis]
    if ellipsis_at:
        at = ellipsis_at[0]
        key[at:at + 1] = [slice(None)] * (ndim - consumed)
    else:
        key += [slice(None)] * (ndim - consumed)
    return key


def _as_index_tensor(k):
    if isinstance(k, Tensor):
        return k
    if isinstance(k, (list, np.ndarray, range)):
        from graphc.factories import tensor
        return tensor(list(k) if isinstance(k, range) else k)
    return None


def _basic(x: Tensor, key: list):
    """Slices ``x`` by the basic part of ``key`` (ints become length-1 slices).

    Returns the sliced region (same rank as ``x``), its slice bounds, and a layout entry per key
    item: ("new",) for None, ("drop", axis) for an int, ("keep", axis) for a slice and
    ("index", axis, tensor) for an integer-tensor index.
    """
    starts, stops, steps, layout = [], [], [], []
    axis = 0
    for k in key:
        if k is None:
            layout.append(("new",))
            continue
        size = x.shape[axis]
        index_tensor = _as_index_tensor(k)
        if index_tensor is not None:
            starts.append(0), stops.append(size), steps.append(1)
            layout.append(("index", axis, index_tensor))
        elif isinstance(k, slice):
            if k.step is not None and k.step <= 0:
                raise IndexError(f"slice step must be positive, got {k.step} (negative steps "
                                 "are not supported, as in PyTorch)")
            start, stop, step = k.indices(size)
            starts.append(start), stops.append(max(stop, start)), steps.append(step)
            layout.append(("keep", axis))
        elif isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            k = int(k)
            if not -size <= k < size:
                raise IndexError(f"index {k} is out of bounds for axis {axis} with size {size}")
            k %= size
            starts.append(k), stops.append(k + 1), steps.append(1)
            layout.append(("drop", axis))
        else:
            raise IndexError(f"unsupported index {k!r} of type {type(k).__name__}")
        axis += 1
    region = apply("slice", [x], starts=starts, stops=stops, steps=steps)
    return region, (starts, stops, steps), layout


def _boolean_mask(key):
    """``key`` as a bool tensor if it is a boolean mask (tensor, array or list), else None."""
    if isinstance(key, Tensor):
        return key if key.dtype == dtypes.bool_ else None
    if isinstance(key, (np.ndarray, list)) and np.asarray(key).dtype == np.bool_:
        from graphc.factories import tensor
        return tensor(np.asarray(key))
    return None


def _mask_of(k):
    """Key item ``k`` as a bool tensor if it is a mask: a bool tensor, array or list, or (as
    PyTorch still reads it, with a warning) a uint8 tensor; else None."""
    if isinstance(k, Tensor) and k.dtype == dtypes.u8:
        warn("indexing with dtype uint8 is deprecated, please use a dtype bool "
             "instead (graphc reads it as a mask, as PyTorch does)", UserWarning)
        return F.ne(k, 0)
    return _boolean_mask(k)


def _masks_as_indices(x: Tensor, key):
    """``key`` with each mask replaced by the integer index tensors of its true elements, one
    per axis it covers (PyTorch's meaning of a mask: ``nonzero(mask)`` as a tuple), so that
    ``x[mask]``, ``x[:, mask]`` and ``x[mask] = values`` are integer indexing, with gradients.
    Eager only: the result's shape depends on the mask's values, which a trace does not
    know."""
    items = list(key) if isinstance(key, tuple) else [key]
    masks = [_mask_of(k) for k in items]
    if all(m is None for m in masks):
        return key
    if tracing.current() is not None:
        raise IndexError("boolean mask indexing (x[mask], x[:, mask]) inside a compiled "
                         "function gives a data-dependent shape; use graphc.where(mask, x, 0), "
                         "x[mask] = value (one value for every selected element), or call it "
                         "outside the compiled function")
    consumed = sum(1 if m is None else m.ndim for k, m in zip(items, masks)
                   if k is not None and k is not Ellipsis)
    out: list = []
    axis = 0
    for k, mask in zip(items, masks):
        if k is Ellipsis:
            axis += x.ndim - consumed
        elif mask is not None:
            if mask.ndim == 0:
                raise IndexError("a 0-d boolean index (x[graphc.tensor(True)]) is not supported; "
                                 "use x[None] or x[:0][None]")
            covered = list(x.shape[axis:axis + mask.ndim])
            for i, (m, n) in enumerate(zip(mask.shape, covered + [None] * mask.ndim)):
                if m != n:
                    raise IndexError(f"The shape of the mask {list(mask.shape)} at index {i} "
                                     f"does not match the shape of the indexed tensor "
                                     f"{list(x.shape)} at index {axis + i}")
            out.extend(mask.nonzero(as_tuple=True))
            axis += mask.ndim
            continue
        elif k is not None:
            axis += 1
        out.append(k)
    return tuple(out)


def _python_bools(x: Tensor, key):
    """PyTorch's (and NumPy's) Python bool index: ``True`` adds an axis of size 1 where it
    stands (as ``None``), ``False`` one of size 0. Returns the key with ``None`` for each and
    the result's axes that ``False`` makes empty."""
    items = list(key) if isinstance(key, tuple) else [key]
    if not any(isinstance(k, (bool, np.bool_)) for k in items):
        return key, []
    if any(_as_index_tensor(k) is not None for k in items):
        raise IndexError("a Python bool index (x[True], x[False]) together with tensor indices "
                         "is not supported: index with the tensors, then add the axis with None")
    consumed = sum(1 for k in items if k is not None and k is not Ellipsis
                   and not isinstance(k, (bool, np.bool_)))
    empty, axis = [], 0
    for k in items:
        if isinstance(k, (bool, np.bool_)):
            if not k:
                empty.append(axis)
            axis += 1
        elif k is None or isinstance(k, slice):
            axis += 1
        elif k is Ellipsis:
            axis += x.ndim - consumed
    return tuple(None if isinstance(k, (bool, np.bool_)) else k for k in items), empty


def getitem(x: Tensor, key) -> Tensor:
    key, empty = _python_bools(x, key)
    result = _getitem(x, key)
    for axis in empty:
        result = _getitem(result, (slice(None),) * axis + (slice(0, 0),))
    return result


def _getitem(x: Tensor, key) -> Tensor:
    key = _expand_key(_masks_as_indices(x, key), x.ndim)
    if all(isinstance(k, slice) and k == slice(None) for k in key):
        return x
    region, _, layout = _basic(x, key)
    if tracing.current() is None:
        for entry in layout:
            if entry[0] == "index" and entry[2].dtype.is_int:
                _check_range(entry[2].numpy(), region.shape[entry[1]], entry[1])
    region, layout = _select_scalar_indices(region, layout)
    # Drop the axes that ints selected, as PyTorch does before any tensor index is applied;
    # `kept` lists the layout entries that still own an axis, in order.
    kept = [e for e in layout if e[0] in ("keep", "index")]
    selected = F.reshape(region, [region.shape[e[1]] for e in kept])
    indexed = [(i, e[2]) for i, e in enumerate(kept) if e[0] == "index"]
    if not indexed:
        return F.reshape(selected, [1 if e[0] == "new" else region.shape[e[1]]
                                    for e in layout if e[0] != "drop"])
    for _, t in indexed:
        if not t.dtype.is_int:
            raise IndexArgumentError(f"tensors used as indices must be integer, got {t.dtype}")
    index_shape = list(np.broadcast_shapes(*(t.shape for _, t in indexed)))
    dims = [e[1] for e in layout if e[0] == "index"]
    if _adjacent(layout):
        # The broadcast index dims replace the indexed axes where they stand.
        result = _take(selected, indexed, dims)
        final, index_done = [], False
        for entry in layout:
            if entry[0] == "new":
                final.append(1)
            elif entry[0] == "keep":
                final.append(region.shape[entry[1]])
            elif entry[0] == "index" and not index_done:
                final.extend(index_shape)
                index_done = True
        return F.reshape(result, final)
    # Separated by a slice or None: the broadcast index dims go first (NumPy's rule, which
    # PyTorch follows), the other axes keep their order after them.
    axes = [a for a, _ in indexed]
    rest = [a for a in range(selected.ndim) if a not in axes]
    front = F.permute(selected, axes + rest)
    result = _take(front, [(i, t) for i, (_, t) in enumerate(indexed)], dims)
    return F.reshape(result, index_shape + [1 if e[0] == "new" else region.shape[e[1]]
                                            for e in layout if e[0] in ("new", "keep")])


def _select_scalar_indices(region: Tensor, layout: list):
    """Applies 0-d integer-tensor indices as PyTorch does: like ints, they select one position
    and drop the axis (so they never count as advanced indices for the placement rule)."""
    entries = []
    for entry in layout:
        if entry[0] == "index" and entry[2].ndim == 0 and entry[2].dtype.is_int:
            axis, t = entry[1], entry[2]
            t = negative_counts_from_end(t, region.shape[axis])
            region = F.index_select(region, axis, F.reshape(t, [1]))
            entry = ("drop", axis)
        entries.append(entry)
    return region, entries


def _check_range(index: np.ndarray, size: int, dim: int) -> None:
    """Eagerly, an index outside [-size, size) raises as in PyTorch, naming its own value and
    dimension (traced, the gather raises at run time; see :func:`_take`)."""
    bad = (index < -size) | (index >= size)
    if bad.any():
        raise IndexRangeError(f"index {index[bad].flat[0]} is out of bounds for dimension "
                              f"{dim} with size {size}")


def _adjacent(layout: list) -> bool:
    """Whether the tensor indices stand next to each other once ints have selected their axes:
    nothing but other tensor indices (or ints) between the first and the last."""
    positions = [i for i, e in enumerate(layout) if e[0] == "index"]
    between = layout[positions[0]:positions[-1] + 1]
    return all(e[0] in ("index", "drop") for e in between)


def _take(x: Tensor, tensor_indices, dims=None) -> Tensor:
    """Gathers along neighbouring axes of ``x`` with (broadcast) integer index tensors; the
    broadcast index dims replace those axes. ``dims``: the dimensions of the indexed tensor
    the indices are for, as errors name them (default: the axes of ``x``)."""
    axes = [a for a, _ in tensor_indices]
    first = axes[0]
    assert axes == list(range(first, first + len(axes))), "indexed axes must be neighbours"
    indices = [t for _, t in tensor_indices]
    shape = np.broadcast_shapes(*(t.shape for t in indices))
    merged = 1
    for a in axes:
        merged *= x.shape[a]
    linear = None
    for axis, dim, t in zip(axes, dims or axes, indices):
        size = x.shape[axis]
        t = negative_counts_from_end(t, size)
        if len(axes) > 1 and tracing.current() is not None:  # (eagerly: _check_range)
            t = _checked_at_run_time(t, dim, size)
        linear = t if linear is None else F.add(F.mul(linear, size), t)
    linear = F.broadcast_to(linear, shape)
    flat = F.reshape(x, list(x.shape[:first]) + [merged] + list(x.shape[first + len(axes):]))
    return F.index_select(flat, first, linear)


def _checked_at_run_time(index: Tensor, dim: int, size: int) -> Tensor:
    """``index`` read back through a gather along dimension ``dim`` of ``arange(size)``: the
    same numbers, but one out of range raises when the graph runs, naming its value, ``dim`` and
    ``size`` ("index 5 is out of range for axis 1 of size 4"). Merged with the next axis's
    index unchecked, it would read another element (x[0, 5] of a 3x4 x is x[1, 1])."""
    from graphc.factories import arange
    positions = F.reshape(arange(size, dtype=index.dtype), [1] * dim + [size])
    picked = F.index_select(positions, dim, F.reshape(index, [-1]))
    return F.reshape(picked, list(index.shape))


def setitem(x: Tensor, key, value) -> None:
    """``x[key] = value``, done as an in-place rebind of ``x`` (see ``Tensor._assign``)."""
    key, empty = _python_bools(x, key)
    if empty:  # x[False] = value selects nothing; value must still fit (as in PyTorch)
        F.broadcast_to(F.to_tensor(value, x), list(getitem(x, key).shape))
        return
    mask = _boolean_mask(key)
    if mask is not None:
        # the mask covers the leading axes (as in NumPy): align it there, not at the end
        if tuple(mask.shape) != tuple(x.shape[:mask.ndim]):
            raise IndexError(f"boolean mask of shape {list(mask.shape)} does not match the "
                             f"leading axes of a tensor of shape {list(x.shape)}")
        element = tuple(x.shape[mask.ndim:])  # the shape of each selected element
        value = F.to_tensor(value, x)
        if value.dtype != x.dtype:  # stored in x's dtype, as the basic-index path does
            value = F.cast(value, x.dtype)
        if value.ndim <= len(element) and broadcasts_to(tuple(value.shape), element):
            # one value for every selected element: a `where`, which traces
            mask = F.reshape(mask, list(mask.shape) + [1] * len(element))
            x._assign(lambda old: F.where(mask, value, old))
            return
        if tracing.current() is not None:
            raise IndexError(f"x[mask] = value inside a compiled function: value of shape "
                             f"{list(value.shape)} must broadcast to each selected element "
                             f"(shape {list(element)}), since how many elements the mask "
                             "selects is data-dependent; use graphc.where instead")
    if tracing.current() is None:
        key = _masks_as_indices(x, key)  # eagerly, masks anywhere are integer indices
    key = _expand_key(key, x.ndim)
    if any(_as_index_tensor(k) is not None for k in key):
        x._assign(lambda old: put(old, tuple(key), value))
        return

    if (tracing.current() is None and x._value is None and type(x._data) is np.ndarray
            and not (autograd.is_grad_enabled() and (
                x.requires_grad or (isinstance(value, Tensor) and value.requires_grad)))):
        # no autograd to record: written through the view x[key], in place in O(view)
        # (graphc.views), where the pad and where below make root-sized arrays
        view = x[tuple(key)]
        if view is not x and view._view_info is not None:
            def fill(old: Tensor) -> Tensor:
                v = F.to_tensor(value, old)
                if v.dtype != old.dtype:
                    v = F.cast(v, old.dtype)
                return F.broadcast_to(_without_leading_ones(v, old.ndim), list(old.shape))
            view._assign(fill)
            return

    def compute(old: Tensor) -> Tensor:
        region, (starts, stops, steps), layout = _basic(old, key)
        v = F.to_tensor(value, old)
        if v.dtype != old.dtype:
            v = F.cast(v, old.dtype)
        # v broadcasts against x[key] (ints dropped, Nones added), then fills the region
        indexed_shape = [1 if e[0] == "new" else region.shape[e[1]]
                         for e in layout if e[0] != "drop"]
        v = _without_leading_ones(v, len(indexed_shape))
        v = F.reshape(F.broadcast_to(v, indexed_shape), list(region.shape))
        pads = []
        for size, lo, _hi, st, n in zip(old.shape, starts, stops, steps, region.shape):
            if n == 0:
                pads.append([0, size, 0])
            else:
                pads.append([lo, size - (lo + (n - 1) * st + 1), st - 1])
        placed = apply("pad", [v], pads=pads, value=0.0)
        from graphc.factories import full
        mask = apply("pad", [full(region.shape, True, dtype=dtypes.bool_)], pads=pads, value=0.0)
        return F.where(mask, placed, old)

    x._assign(compute)


def _without_leading_ones(value: Tensor, ndim: int) -> Tensor:
    """A value written into ``ndim`` dimensions, its extra leading size-1 dimensions dropped
    (``x[0] = ones(1, 4)`` into a row of 4, as PyTorch allows)."""
    extra = 0
    while value.ndim - extra > ndim and value.shape[extra] == 1:
        extra += 1
    return F.reshape(value, list(value.shape[extra:])) if extra else value


def _row_major_ids(shape) -> Tensor:
    """``arange(numel).reshape(shape)`` built from one small ``arange`` per axis broadcast
    together, so a trace holds no constant as large as the tensor."""
    from graphc.factories import arange
    ids, stride = F.to_tensor(0), 1
    for axis in reversed(range(len(shape))):
        view = [1] * len(shape)
        view[axis] = shape[axis]
        ids = F.add(ids, F.reshape(F.mul(arange(shape[axis]), stride), view))
        stride *= shape[axis]
    return F.broadcast_to(ids, list(shape))


def put(x: Tensor, key, value, accumulate: bool = False) -> Tensor:
    """``x`` with ``value`` written (or, with ``accumulate``, added) where ``x[key]`` reads:
    ``torch.index_put``. The positions come from indexing the element numbers of ``x`` with
    ``key``, so every index form ``getitem`` accepts is accepted here, with the same checks."""
    positions = getitem(_row_major_ids(x.shape), key)
    v = F.to_tensor(value, x)
    if v.dtype != x.dtype:
        v = F.cast(v, x.dtype)
    v = _without_leading_ones(v, positions.ndim)
    if not broadcasts_to(tuple(v.shape), tuple(positions.shape)):
        raise IndexError(f"shape mismatch: value of shape {list(v.shape)} cannot be broadcast "
                         f"to the indexing result of shape {list(positions.shape)}")
    flat_positions = F.reshape(positions, [-1])
    flat_values = F.reshape(F.broadcast_to(v, list(positions.shape)), [-1])
    op = "scatter_add" if accumulate else "scatter"
    out = apply(op, [F.reshape(x, [-1]), flat_positions, flat_values], axis=0)
    return F.reshape(out, list(x.shape))
