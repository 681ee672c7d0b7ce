"""PyTorch's views: tensors that share their values with the tensor they were taken from.

``x[0]``, ``x.view(6)``, ``x.t()``, ``x.narrow(...)``, ``x.unbind()``, ``x.detach()``, ... return
*views* (the ops PyTorch lists in "Tensor Views"): an in-place op on a view changes its base, and
one on the base changes every view. graphc never writes a NumPy array in place (arrays are shared
and treated as immutable; an in-place op rebinds the tensor to a new value, see
``Tensor._assign``), so a view shares values by propagation instead of by storage:

* a view records its *root* (the tensor that is no view, reached through views of views), the
  ops that compute it from the root's value, and torch's strides and storage offset for it;
* an in-place op on a view computes the view's new value, writes it into the root's value (a
  ``scatter`` to the root positions the view covers: gradients reach the root's other elements
  and the written values, as PyTorch's ``CopySlices``) and rebinds the root; eagerly, where no
  autograd records, the new value is stored into the root's array through NumPy strides
  instead (O(view); the array is copied once first if anybody else may see it:
  :func:`_write_in_place`);
* rebinding a root recomputes every live view of it (weak references: dead views cost nothing)
  from the root's new value, with autograd history through the root, and gives them the root's
  version (PyTorch shares one version counter between a base and its views);
* inside a compiled function a view of state (a parameter, a closure tensor) is computed from
  the state's current traced value, so a write to either is seen by both and written back.

Strides are torch's, computed symbolically per op (roots are contiguous): ``reshape`` returns a
view exactly when PyTorch's would, ``view`` raises where PyTorch's raises.

    >>> import graphc
    >>> x = graphc.zeros(2, 3)
    >>> x[0].add_(1)
    tensor([1., 1., 1.])
    >>> x.tolist()
    [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]
    >>> x.t().stride(), x.t().is_contiguous(), x[1].storage_offset()
    ((1, 3), False, 3)
"""
from __future__ import annotations

import functools
import sys
import weakref
from collections.abc import Callable
from typing import Any, Optional

import numpy as np

from graphc import autograd, indexing, tracing
from graphc import functions as F
from graphc.dispatch import apply
from graphc.errors import AutogradError, ShapeError, TraceError
from graphc.tensor import Tensor
from ir.types import wrap_dim

_ref = weakref.ref
_grad_mode = autograd._state  # (this thread's grad mode, ``.enabled``)
_trace_state = tracing._local  # (this thread's active trace, ``.ctx``)


class ViewInfo:
    """What makes a tensor a view (``Tensor._view_info``): its root (:meth:`root`), the ops
    from the root's value to its own, torch's strides and storage offset (None: a traced index
    decides it), and whether it is cut from autograd (``detach()``, views of ``.data``).

    A detached view holds its root weakly (and the root's array strongly): ``losses.append(
    loss.detach())`` must not keep each loss's autograd graph alive through the root's
    ``grad_fn``, as PyTorch's detached tensors share storage, not history. When the root dies,
    its detached views go on sharing its values through a new root (:func:`_root_died`)."""

    __slots__ = ("base", "ops", "_strides", "_offset", "_layout", "detached", "positions",
                 "weak", "root_array", "no_grad")

    def __init__(self, base: Tensor, ops: tuple, strides: Optional[tuple],
                 offset: Optional[int], detached: bool, layout: Optional[Callable] = None):
        self.base: Any = base  # the root, or (weak) a weakref.ref to it
        self.ops = ops
        # torch's strides and offset, or (strides None) ``layout()`` computes them when first
        # asked: the fast ``x[key]`` leaves them to the few callers that ask
        self._strides, self._offset, self._layout = strides, offset, layout
        self.detached = detached
        self.positions: Optional[tuple] = None  # (root shape, flat root positions), eagerly
        self.weak = False
        self.root_array = None  # (weak) the root's latest array
        # made under no_grad (torch's CreationMeta::NO_GRAD_MODE): an in-place op on it under
        # grad mode raises where its root, or the value written, requires grad
        self.no_grad = False

    def _laid_out(self) -> None:
        self._strides, self._offset = self._layout()
        self._layout = None

    @property
    def strides(self) -> tuple:
        if self._strides is None:
            self._laid_out()
        return self._strides

    @property
    def offset(self) -> Optional[int]:
        if self._strides is None:
            self._laid_out()
        return self._offset

    def root(self) -> Tensor:
        return self.base() if self.weak else self.base


# graphc.tensor_compat's ``_DataView`` (what ``.data`` returns), registered there: a view of it
# is a detached view of the tensor it shows
DATA_VIEW_TYPE: Optional[type] = None
_PRUNE_EVERY = 32  # dead weak references are dropped from a root's list every so many views


def detached_copy(t: Tensor) -> Tensor:
    """The same values cut from the autograd history (``stop_gradient`` while tracing), as a
    new tensor that is no view (``Tensor.detach`` is this, made a view by :func:`install`)."""
    if tracing.current() is not None:  # also for concrete tensors, so they are lifted
        with autograd.no_grad():
            return apply("stop_gradient", [t])
    return Tensor._wrap(t._data)


# -- strides ------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def contiguous_strides(shape: tuple) -> tuple:
    """Row-major strides in elements, as PyTorch gives a new tensor (a size-0 or size-1 dim
    counts as 1 for the dims before it). (Cached: every view of a root asks.)"""
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


def _layout_info(t: Tensor) -> Optional[ViewInfo]:
    """The view record whose layout ``t`` has: its own, or for a ``.data`` view (which is no
    view itself), that of the tensor it shows (``x.t().data`` has ``x.t()``'s strides)."""
    info = t._view_info
    if info is None and type(t) is DATA_VIEW_TYPE:
        info = t._base._view_info
    return info


def layout(t: Tensor) -> tuple:
    """``(strides, storage_offset)`` of ``t`` as PyTorch would have them."""
    info = _layout_info(t)
    if info is None:
        return contiguous_strides(tuple(t.shape)), 0
    return info.strides, info.offset


def is_contiguous_layout(shape, strides) -> bool:
    """PyTorch's ``is_contiguous``: row-major strides, ignoring size-1 dims; empty: True."""
    if 0 in shape:
        return True
    expected = 1
    for n, s in zip(reversed(shape), reversed(strides)):
        if n != 1:
            if s != expected:
                return False
            expected *= n
    return True


def view_strides(shape, strides, new_shape) -> Optional[tuple]:
    """The strides of ``view(new_shape)`` of a tensor of ``shape`` and ``strides``, or None
    where it cannot be a view (PyTorch's ``computeStride``: each run of dims that is contiguous
    in memory may be split or merged, nothing across runs)."""
    shape, new_shape = list(shape), list(new_shape)
    if not shape:
        return (1,) * len(new_shape)
    numel = 1
    for n in shape:
        numel *= n
    if numel == 0:
        return tuple(strides) if shape == new_shape else contiguous_strides(tuple(new_shape))
    new = [0] * len(new_shape)
    view_d = len(new_shape) - 1
    chunk_base = strides[-1]
    tensor_numel = view_numel = 1
    for tensor_d in range(len(shape) - 1, -1, -1):
        tensor_numel *= shape[tensor_d]
        if tensor_d == 0 or (shape[tensor_d - 1] != 1
                             and strides[tensor_d - 1] != tensor_numel * chunk_base):
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                new[view_d] = view_numel * chunk_base
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if tensor_d > 0:
                chunk_base = strides[tensor_d - 1]
                tensor_numel = view_numel = 1
    return tuple(new) if view_d == -1 else None


def _expand_strides(shape, strides, new_shape) -> tuple:
    """PyTorch's ``inferExpandGeometry``: an expanded (or new leading) dim gets stride 0."""
    out = [0] * len(new_shape)
    lead = len(new_shape) - len(shape)
    for i in range(len(new_shape) - 1, -1, -1):
        d = i - lead
        size = shape[d] if d >= 0 else 1
        stride = strides[d] if d >= 0 else (new_shape[i + 1] * out[i + 1]
                                            if i + 1 < len(new_shape) else 1)
        if size != new_shape[i]:
            stride = 0
        out[i] = stride
    return tuple(out)


# -- linking a view to its root ------------------------------------------------------------------
def link(base: Tensor, out: Tensor, op: Callable, strides: Optional[tuple],
         offset: Optional[int], detached: bool = False,
         layout: Optional[Callable] = None) -> Tensor:
    """Makes ``out`` (just computed as ``op(base)``) a view of ``base``'s root (``layout()``
    gives its strides and offset when ``strides`` is None)."""
    info = base._view_info
    if info is not None:
        root, ops, detached = info.root(), info.ops + (op,), detached or info.detached
    elif type(base) is DATA_VIEW_TYPE:
        shown = base._base._view_info
        if shown is None:
            root, ops = base._base, (detached_copy, op)
        else:  # `.data` of a view: a detached view of that view's root (the in-place path
            # writes the root's array, so the root must be one)
            root, ops = shown.root(), shown.ops + (detached_copy, op)
        detached = True
    else:
        root, ops = base, (op,)
    info = ViewInfo(root, ops, strides, offset, detached, layout)
    if not detached:  # (a view of a view made under no_grad is one too, as in torch)
        if base._view_info is not None and base._view_info.no_grad:
            info.no_grad = base._view_info.no_grad
        elif not _grad_mode.enabled:
            info.no_grad = True
    return attach(out, info)


def attach(out: Tensor, info: ViewInfo) -> Tensor:
    """Makes ``out`` the view ``info`` describes (``info.base``: its root, a tensor)."""
    root = info.base
    out._view_info = info
    out._version = root._version
    refs = root._views
    if refs is None:
        refs = root._views = [_ref(out)]
    else:
        refs.append(_ref(out))
        if len(refs) % _PRUNE_EVERY == 0:
            refs[:] = [r for r in refs if r() is not None]
    if info.detached and root._value is None:
        info.weak, info.root_array = True, root._data
        info.base = _ref(root, functools.partial(_root_died, refs))
    return out


def _root_died(refs: list, _) -> None:
    """The root of detached views died (their weak references' callback): a new root holding
    its last values takes its place, so that they go on sharing them."""
    orphans = [v for v in (r() for r in refs) if v is not None and v._view_info.weak]
    if not orphans:
        return
    first = orphans[0]._view_info
    holder = Tensor._wrap(first.root_array)
    holder._version = orphans[0]._version
    holder._views = [_ref(v) for v in orphans]
    for v in orphans:
        info = v._view_info
        info.base, info.weak, info.root_array = holder, False, None


def forward(info: ViewInfo, root_value: Tensor) -> Tensor:
    """The view's value computed from ``root_value`` (a value of its root)."""
    for op in info.ops:
        root_value = op(root_value)
    return root_value


def _root_now(root: Tensor, ctx) -> Tensor:
    """The root's current value as a tensor ops can take: the root itself, or inside a trace,
    for a concrete root (state), its latest traced value with the root's autograd fields."""
    if ctx is None or root._value is not None:
        return root
    now = Tensor._traced(ctx.value_of(root), ctx)
    now.requires_grad, now._grad_fn = root.requires_grad, root._grad_fn
    return now


def _scatter(info: ViewInfo, root_old: Tensor, new: Tensor) -> Tensor:
    """``root_old`` with the elements the view covers replaced by ``new``: the root positions
    come from the view's ops applied to the root's row-major element numbers. A view of all
    of the root in its order (``x.detach()``, ``x.view(-1)``) is the new value reshaped."""
    if (info.offset == 0 and new.numel() == root_old.numel()
            and is_contiguous_layout(new.shape, info.strides)):
        return F.reshape(new, list(root_old.shape))
    if root_old._value is not None or type(root_old._data) is not np.ndarray:
        # traced: small aranges, no constant of the root's size (and on a device: made there)
        positions = F.reshape(forward(info, indexing._row_major_ids(root_old.shape)), [-1])
    else:  # eagerly: computed once per view (its root's shape is fixed while it has views)
        cached = info.positions
        if cached is None or cached[0] != root_old.shape:
            ids = Tensor._wrap(np.arange(root_old.numel(), dtype=np.int64)
                               .reshape(root_old.shape))
            with autograd.no_grad():
                cached = info.positions = (root_old.shape, F.reshape(forward(info, ids), [-1]))
        positions = cached[1]
    flat = apply("scatter", [F.reshape(root_old, [-1]), positions, F.reshape(new, [-1])],
                 axis=0)
    return F.reshape(flat, list(root_old.shape))


OVERLAP_MESSAGE = ("unsupported operation: more than one element of the written-to tensor "
                   "refers to a single memory location. Please clone() the tensor before "
                   "performing the operation.")


def _overlaps(shape, strides) -> bool:
    """Whether two elements of a strided layout may share a place: each stride, in increasing
    order, must pass the extent of the dims of smaller stride (a view of a row-major root that
    passes this has distinct places; one that fails has repeated ones)."""
    extent = 0
    for stride, size in sorted((s, n) for n, s in zip(shape, strides) if n > 1):
        if stride < extent + 1:
            return True
        extent += (size - 1) * stride
    return False


def assign_view(view: Tensor, compute, resizes: Optional[str]) -> Tensor:
    """``Tensor._assign`` of a view: ``compute(view's value)`` is written into the root, which
    is rebound (and so refreshes every view of it, this one included)."""
    info = view._view_info
    ctx = tracing.current()
    if ctx is not None and view._value is None and id(view) in ctx.arguments:
        raise TraceError(f"an in-place op on argument {ctx.label(view)!r}, a view of another "
                         f"tensor, inside a compiled function: graphc cannot write the tensor it "
                         f"views; pass that tensor and take the view inside the function")
    if resizes is not None:
        compute = keeping_layout(compute, resizes, "a view")
    if any(s == 0 and n > 1 for n, s in zip(view.shape, info.strides)):
        raise ShapeError(OVERLAP_MESSAGE)
    if _overlaps(view.shape, info.strides):
        raise ShapeError(f"an in-place op on a view whose elements overlap in its base (sizes "
                         f"{list(view.shape)}, strides {list(info.strides)}: unfold with a step "
                         f"smaller than its size): PyTorch's result depends on the order it "
                         f"visits memory, which graphc does not reproduce; write a clone() of "
                         f"the view, or the base")
    root = info.root()
    grad_mode = autograd.is_grad_enabled()
    if info.detached:
        if grad_mode and view.requires_grad and view._grad_fn is None:
            raise AutogradError("a leaf tensor that requires grad is used in an in-place "
                                "operation; wrap the update in `with graphc.no_grad():`")
    elif grad_mode and info.no_grad and root.requires_grad:
        _no_grad_view_error()
    elif grad_mode and root.requires_grad and root._grad_fn is None:
        raise AutogradError("a view of a leaf tensor that requires grad is used in an in-place "
                            "operation; wrap the update in `with graphc.no_grad():` (or write "
                            "into `.data`)")
    shape, dtype = view.shape, view.dtype

    def checked(new: Tensor) -> Tensor:
        if grad_mode and info.no_grad and new.requires_grad and not info.detached:
            _no_grad_view_error()
        if new.shape != shape:
            raise AutogradError(f"in-place result has shape {list(new.shape)}, but the view "
                                f"being written has shape {list(shape)}")
        if new.dtype != dtype:
            from ir import dtypes
            if not dtypes.can_cast(new.dtype, dtype):
                raise AutogradError(f"in-place result of dtype {new.dtype} cannot be stored in "
                                    f"a tensor of dtype {dtype}")
            new = F.cast(new, dtype)
        return new

    def through_root(root_old: Tensor) -> Tensor:
        return _scatter(info, root_old, checked(compute(forward(info, root_old))))

    if info.detached:  # written as `.data` is: no history, the root keeps its own
        history = root._grad_fn
        with autograd.no_grad():
            if not _write_in_place(view, info, root, compute, checked, False):
                root._assign(through_root)
        root._grad_fn = history
    elif not _write_in_place(view, info, root, compute, checked, grad_mode):
        root._assign(through_root)
    return view


def _no_grad_view_error():
    """PyTorch's error for an in-place op under grad mode on a view made under no_grad whose
    base requires grad (or whose new value does)."""
    raise AutogradError("A view was created in no_grad mode and is being modified inplace with "
                        "grad mode enabled. Given that this use case is ambiguous and "
                        "error-prone, it is forbidden. You can clarify your code by moving both "
                        "the view and the inplace either both inside the no_grad block (if you "
                        "don't want the inplace to be tracked) or both outside (if you want the "
                        "inplace to be tracked).")


# -- writing through a view in place --------------------------------------------------------------
_getrefcount = sys.getrefcount


def _references_beyond_holders() -> int:
    """What ``sys.getrefcount`` of an array in :func:`_sole_holder` adds to the array's
    holders: that function's local and, where the interpreter does not borrow it, the call's
    argument (2 on CPython 3.10-3.13; an interpreter that borrows the argument, as 3.14 may,
    adds 1). Measured the way ``_sole_holder`` asks (a local passed to ``_getrefcount``), as
    ``compile._SOLE_OWNER_REFERENCES`` is, not assumed: a figure one too high would take an
    array that one other object holds (a ``numpy()`` result) for the root's alone, and write
    it."""
    array = np.empty(0)  # (held by this local alone)
    return _getrefcount(array)


_LOCAL_REFS = _references_beyond_holders()


def _sole_holder(root: Tensor) -> bool:
    """Whether nothing but ``root`` and its views can see the memory of ``root``'s array, so
    that writing it in place changes no array anybody else holds (graphc's invariant: an array
    from ``numpy()``, ``from_numpy``, an autograd saved value or another tensor is never
    written). The array must own its memory (a view of another array may share it with anyone)
    and be writable; every NumPy view of it, and the array itself, must be held by the root
    and its views alone (``sys.getrefcount``; a NumPy view counts once in its base's count)."""
    array = root._data
    flags = array.flags
    if not (flags.owndata and flags.writeable and flags.c_contiguous):
        return False
    flags = None  # (it holds the array)
    expected = 1 + _LOCAL_REFS  # root._data
    for r in root._views or ():
        v = r()
        if v is None:
            continue
        if v._view_info.root_array is array:
            expected += 1
        data = v._data
        if data is array:
            expected += 1
        elif type(data) is np.ndarray and data.base is array:
            if _getrefcount(data) != 1 + _LOCAL_REFS:  # v._data alone holds it
                return False
            expected += 1
    v = data = None  # (a local holding the array would count)
    return _getrefcount(array) == expected


def _strided(array: np.ndarray, info: ViewInfo, shape) -> np.ndarray:
    """The NumPy view of the row-major ``array`` (a root's) at the view's torch strides and
    storage offset: its elements, where they are stored."""
    size = array.itemsize
    return np.ndarray(shape, array.dtype, array, info.offset * size,
                      [s * size for s in info.strides])


def _write_in_place(view: Tensor, info: ViewInfo, root: Tensor, compute, checked,
                    grad_mode: bool) -> bool:
    """The eager write of a view of a host root that records no autograd: the view's new value
    is stored into the root's array through NumPy strides, in O(view) time and memory, where
    the scatter (:func:`_scatter`) made a root-sized copy and index array. The root's array is
    copied first (once) when someone else may see it (:func:`_sole_holder`). The bookkeeping is
    ``Tensor._assign``'s: one version bump, the views refreshed (those already looking at the
    written array keep their values). False (nothing done) where the general path must run:
    inside a trace, a root on a device, a traced index, a root that records autograd (torch's
    CopySlices); a value to write that requires grad goes through the scatter from here."""
    if tracing.current() is not None or root._value is not None:
        return False
    if root._view_info is not None:
        # (link() makes roots that are no views; should another way make one, the general
        # path's root._assign writes through that view to its own root)
        return False
    if (type(root._data) is not np.ndarray or info.offset is None or view._data.size == 0
            or view._data.dtype != root._data.dtype or (grad_mode and root.requires_grad)):
        return False
    written = root._data if _sole_holder(root) else None  # (before any local holds it)
    array = root._data
    if written is None:  # copy-on-write: others may see this array (also makes it row-major)
        array = np.array(array, order="C")
    target = _strided(array, info, view._data.shape)
    old = target.view()
    old.flags.writeable = False  # (compute reads it; graphc never writes an operand)
    new = checked(compute(Tensor._wrap(old)))
    old = None
    if grad_mode and new.requires_grad:  # torch's CopySlices: the scatter, with history
        root._assign(lambda root_old: _scatter(info, root_old, new))
        return True
    np.copyto(target, new._data)
    root._data = array
    root._version += 1
    if root._views:
        refresh(root, written)
    return True


def refresh(root: Tensor, written: Optional[np.ndarray] = None) -> None:
    """Recomputes every live view of ``root`` from its current value (after it was rebound),
    with autograd history through the root, and gives them the root's version. ``written``:
    the root's array, just written in place (:func:`_write_in_place`); a view whose array is
    (a NumPy view of) it already shows its new values and, with no history to regenerate
    (the root records none), only takes the version."""
    ctx = tracing.current()
    now = None
    live = []
    keeps = written is not None and not root.requires_grad
    for r in root._views:
        v = r()
        if v is None:
            continue
        if keeps and v._grad_fn is None and v._value is None and (
                v._data is written or getattr(v._data, "base", None) is written):
            live.append(r)
            v._version = root._version
            continue
        if v._value is not None:
            if v._trace is not ctx:
                continue  # traced by a trace that has ended: nothing can read it
        elif ctx is None and v._view_info.weak:
            v._view_info.root_array = root._data
        elif ctx is not None:
            # a concrete view of state written inside a trace: the trace computes it from the
            # root's traced value when it reads it (TraceContext.value_of); after the call the
            # write-back refreshes it
            if id(v) in ctx.arguments:
                raise TraceError(f"argument {ctx.label(v)!r} of a compiled function is a view of "
                                 f"a tensor the function writes in place; pass that tensor and "
                                 f"take the view inside the function")
            live.append(r)
            continue
        live.append(r)
        if now is None:
            now = _root_now(root, ctx)
        info = v._view_info
        if info.detached:
            fresh = forward(info, now)
        elif info.no_grad:
            # made under no_grad: no history through the root (torch raises at any later use
            # once the root was written under grad mode; graphc reads it as a constant and
            # refuses in-place ops on it, as torch)
            with autograd.no_grad():
                fresh = forward(info, now)
        else:
            # a view that required grad keeps its history through the root, as PyTorch
            # regenerates a view's grad_fn after its base changed (also under no_grad)
            with autograd.set_grad_enabled(v.requires_grad or autograd.is_grad_enabled()):
                fresh = forward(info, now)
        if fresh._value is not None:
            v._value, v._trace = fresh._value, fresh._trace
        else:
            v._data = fresh._data
        v._version = root._version
        if not info.detached:
            # (a view made a leaf that requires grad, `x[:3].requires_grad_()`, stays one)
            own_leaf = v.requires_grad and v._grad_fn is None
            v._grad_fn = fresh._grad_fn
            v.requires_grad = fresh.requires_grad or own_leaf
            if fresh._grad_fn is not None:
                fresh._grad_fn._out_ref = _ref(v)
                fresh._grad_fn._out_version = v._version
    refs = root._views
    if live:
        refs[:] = live  # (the same list: a weak view's callback holds it)
    else:
        root._views = None


def data_replaced(tensor: Tensor) -> None:
    """Call after replacing ``tensor._data`` from outside ``_assign`` (a compiled function's
    write-back, ``load_state_dict``, a collective): its views see the new values."""
    if tensor._views:
        refresh(tensor)


def rehome(root: Tensor) -> None:
    """Before ``root`` takes other values wholesale (``root.data = other``): its views keep the
    values they have and go on sharing them among themselves, as PyTorch's views keep the old
    storage, through a new root holding the old values."""
    if not root._views:
        return
    holder = Tensor._wrap(root._data)
    holder._version = root._version
    holder._views, root._views = root._views, None
    for r in holder._views:
        v = r()
        if v is not None:
            info = v._view_info
            info.base, info.weak, info.root_array = holder, False, None


def has_live_views(t: Tensor) -> bool:
    return bool(t._views) and any(r() is not None for r in t._views)


# in-place ops that may move values between positions without changing the shape (a square t_)
_PERMUTING_INPLACE = ("t_", "transpose_", "swapaxes_", "swapdims_")


def keeping_layout(compute, name: str, what: str):
    """``compute`` of the shape-changing in-place op ``name`` applied to ``what`` (a view, a
    ``.data`` view, a tensor with views), refusing any result that is not the values in their
    places. PyTorch's in-place ``t_()``/``squeeze_()`` change only that tensor's sizes and
    strides over a shared storage; graphc's views share values by propagation between fixed
    layouts, so that would change the other tensors: a clear error instead. No-ops
    (``squeeze_()`` without size-1 dims) still run."""
    def checked(old: Tensor) -> Tensor:
        new = compute(old)
        moved = new.shape != old.shape
        if not moved and name in _PERMUTING_INPLACE:
            # the same op on a tensor of distinct sizes (0, 1, 2, ...: no elements) tells
            # whether it swaps dims of equal size here (a square t_) or is the identity
            from graphc.factories import zeros
            probe = zeros(tuple(range(old.dim())), dtype=old.dtype)
            moved = compute(probe).shape != probe.shape
        if moved:
            out_of_place = "reshape" if name.startswith("resize") else name[:-1]
            change = (f"change its shape from {list(old.shape)} to {list(new.shape)}"
                      if new.shape != old.shape else
                      f"move its values (shape {list(old.shape)}) between positions")
            prefix = ".data." if "`.data`" in what else "."
            raise ShapeError(
                f"{name}() on {what} would {change}; in graphc {what} writes through to the "
                f"tensors it shares values with (PyTorch's share storage, and {name}() changes "
                f"only one tensor's sizes and strides), so this would change them too; use the "
                f"out-of-place form `{prefix}{out_of_place}(...)`, which returns a new tensor")
        return new
    return checked


# -- the view ops ---------------------------------------------------------------------------------
def _permuted(x: Tensor, perm) -> tuple:
    strides, offset = layout(x)
    return tuple(strides[p] for p in perm), offset


def _dim(d: int, n: int) -> int:
    """``d`` counted from the end when negative (the op itself has checked its range)."""
    return d + n if d < 0 else d


def _swap(x: Tensor, a: int, b: int) -> tuple:
    strides, offset = layout(x)
    n = len(strides)
    if n == 0:
        return strides, offset
    a, b = _dim(a, n), _dim(b, n)
    swapped = list(strides)
    swapped[a], swapped[b] = strides[b], strides[a]
    return tuple(swapped), offset


def _transpose_rule(x, out, dim0, dim1):
    return _swap(x, dim0, dim1)


def _permute_rule(x, out, *dims, **kw):
    dims = kw.get("dims", dims)
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = dims[0]
    return _permuted(x, [wrap_dim(d, x.ndim) for d in dims])


def _movedim_rule(x, out, source, destination):
    source = [source] if isinstance(source, int) else list(source)
    destination = [destination] if isinstance(destination, int) else list(destination)
    src = [wrap_dim(d, x.ndim) for d in source]
    dst = [wrap_dim(d, x.ndim) for d in destination]
    order: list = [None] * x.ndim
    for s, d in zip(src, dst):
        order[d] = s
    rest = iter(d for d in range(x.ndim) if d not in src)
    return _permuted(x, [o if o is not None else next(rest) for o in order])


def _t_rule(x, out):
    return _swap(x, 0, 1) if len(x.shape) == 2 else layout(x)


def _reversed_rule(x, out):
    return _permuted(x, list(reversed(range(x.ndim))))


def _last_two_rule(x, out):
    return _swap(x, -2, -1)


def _reshape_rule(x, out, *args, **kwargs):
    strides, offset = layout(x)
    new = view_strides(x.shape, strides, out.shape)
    return None if new is None else (new, offset)


def _view_rule(x, out, *args, **kwargs):
    found = _reshape_rule(x, out)
    if found is None:
        raise ShapeError(f"view size is not compatible with input tensor's size and stride (at "
                         f"least one dimension spans across two contiguous subspaces): a tensor "
                         f"of shape {list(x.shape)} and strides {list(layout(x)[0])} cannot be "
                         f"viewed as shape {list(out.shape)}. Use .reshape(...) instead.")
    return found


def _squeeze_rule(x, out, dim=None):
    strides, offset = layout(x)
    if dim is None:
        drop = {d for d, n in enumerate(x.shape) if n == 1}
    else:
        dims = dim if isinstance(dim, (list, tuple)) else [dim]
        drop = {d for d in (wrap_dim(d, x.ndim) for d in dims) if x.shape[d] == 1}
    return tuple(s for d, s in enumerate(strides) if d not in drop), offset


def _unsqueeze_rule(x, out, dim):
    strides, offset = layout(x)
    d = wrap_dim(dim, x.ndim + 1)
    new = x.shape[d] * strides[d] if d < x.ndim else 1
    return strides[:d] + (new,) + strides[d:], offset


def _expand_rule(x, out, *args, **kwargs):
    strides, offset = layout(x)
    return _expand_strides(x.shape, strides, out.shape), offset


def _narrow_rule(x, out, dim, start, length):
    strides, offset = layout(x)
    d = wrap_dim(dim, x.ndim)
    start = int(start)
    if start < 0:
        start += x.shape[d]
    return strides, None if offset is None else offset + start * strides[d]


def _select_rule(x, out, dim, index):
    strides, offset = layout(x)
    d = wrap_dim(dim, x.ndim)
    index = int(index) % x.shape[d]
    return (strides[:d] + strides[d + 1:],
            None if offset is None else offset + index * strides[d])


def _diagonal_rule(x, out, offset=0, dim1=0, dim2=1):
    strides, base = layout(x)
    d1, d2 = wrap_dim(dim1, x.ndim), wrap_dim(dim2, x.ndim)
    if out.shape[-1] and base is not None:
        base += offset * strides[d2] if offset >= 0 else -offset * strides[d1]
    rest = tuple(s for d, s in enumerate(strides) if d not in (d1, d2))
    return rest + (strides[d1] + strides[d2],), base


def _unfold_rule(x, out, dimension, size, step):
    strides, offset = layout(x)
    if x.ndim == 0:
        return (1,), offset
    d = wrap_dim(dimension, x.ndim)
    return strides[:d] + (strides[d] * step,) + strides[d + 1:] + (strides[d],), offset


def _detach_rule(x, out):
    return layout(x)


# keyword names graphc's view ops accept for the same argument (NumPy's ``axis``)
_ALIASES = {"axis": "dim", "axis0": "dim0", "axis1": "dim1", "input": None, "self": None}


class _Shaped:
    """What a layout rule reads of a tensor (its shape and view link), kept by a view whose
    strides are worked out when first asked, instead of the tensor (and its values)."""
    __slots__ = ("shape", "ndim", "_view_info")

    def __init__(self, shape: tuple, info: Optional[ViewInfo]):
        self.shape, self.ndim, self._view_info = shape, len(shape), info


def _plain_axes(data: np.ndarray, name: str, args) -> Optional[tuple]:
    """The NumPy key (or, for a transpose, the two axes) of view op ``name`` with plain int
    ``args`` in range; None where the general path decides (and raises the errors)."""
    n = data.ndim
    for a in args:
        if type(a) is not int:
            return None
    if name == "narrow" and len(args) == 3 and n:
        d, start, length = args
        if not -n <= d < n:
            return None
        size = data.shape[d]
        if start < 0:
            start += size
        if not (0 <= start <= size and 0 <= length <= size - start):
            return None
        return (slice(None),) * (d % n) + (slice(start, start + length),)
    if name == "select" and len(args) == 2 and n:
        d, index = args
        if not -n <= d < n or not -data.shape[d] <= index < data.shape[d]:
            return None
        return (slice(None),) * (d % n) + (index, Ellipsis)
    if name in ("transpose", "swapaxes", "swapdims") and len(args) == 2 and n:
        if all(-n <= a < n for a in args):
            return args
    return None


_PLAIN = ("narrow", "select", "transpose", "swapaxes", "swapdims")


def _single(impl: Callable, rule: Callable, detached: bool = False,
            name: Optional[str] = None) -> Callable:
    plain = name in _PLAIN

    def view_op(self, *args, **kwargs):
        if (plain and not kwargs and type(self) is Tensor and self._value is None
                and type(self._data) is np.ndarray and _trace_state.ctx is None
                and not (self.requires_grad and _grad_mode.enabled)):
            where = _plain_axes(self._data, name, args)
            if where is not None:  # NumPy's view, its strides worked out when first asked
                data = self._data
                array = data[where] if name in ("narrow", "select") else data.swapaxes(*where)
                # (the closure keeps shapes, not arrays: a held array would make the root's
                # look shared to _sole_holder)
                shape, info, out_shape = data.shape, self._view_info, array.shape
                return link(self, Tensor._from_result(array), lambda t: impl(t, *args), None,
                            None, layout=lambda: rule(_Shaped(shape, info),
                                                      _Shaped(out_shape, None), *args))
        out = impl(self, *args, **kwargs)
        if out is self or not isinstance(self, Tensor):
            return out
        if kwargs:
            kwargs_ = {_ALIASES.get(k, k): v for k, v in kwargs.items()
                       if _ALIASES.get(k, k) is not None}
            found = rule(self, out, *args, **kwargs_)
        else:
            found = rule(self, out, *args)
        if found is None:  # reshape that must copy
            return out
        return link(self, out, lambda t: impl(t, *args, **kwargs), found[0], found[1], detached)
    view_op.__name__ = getattr(impl, "__name__", "view")
    view_op.__doc__ = impl.__doc__
    view_op.__wrapped__ = impl
    return view_op


def _split_dim(name: str, x: Tensor, args, kwargs) -> int:
    if name == "hsplit":
        return 1 if x.ndim > 1 else 0
    if name == "vsplit":
        return 0
    if name == "dsplit":
        return 2
    dim = kwargs.get("dim", args[1] if len(args) > 1 else 0)
    return wrap_dim(dim, x.ndim)


def _starts(name: str, x: Tensor, d: int, args, kwargs, pieces) -> list:
    """Where each piece of a split starts along ``d``: one after the other, except for
    ``tensor_split`` & co. at indices, which need not increase (``[3, 1]``: starts 0, 3, 1)."""
    where = args[0] if args else next(iter(kwargs.values()), None)
    if name in ("tensor_split", "hsplit", "vsplit", "dsplit") and not isinstance(where, int):
        size = x.shape[d]
        where = where.tolist() if isinstance(where, Tensor) else list(where)
        return [0] + [min(max(i if i >= 0 else i + size, 0), size) for i in where]
    starts, start = [], 0
    for piece in pieces:
        starts.append(start)
        start += piece.shape[d]
    return starts


def _pieces(impl: Callable, name: str) -> Callable:
    """``split``, ``chunk``, ``tensor_split`` & co.: each piece is a narrow view along a dim."""
    def view_op(self, *args, **kwargs):
        pieces = impl(self, *args, **kwargs)
        if not isinstance(self, Tensor):
            return pieces
        d = _split_dim(name, self, args, kwargs)
        strides, offset = layout(self)
        for piece, start in zip(pieces, _starts(name, self, d, args, kwargs, pieces)):
            if piece is not self:
                n = piece.shape[d]
                link(self, piece, lambda t, s=start, n=n: F.narrow(t, d, s, n), strides,
                     None if offset is None else offset + start * strides[d])
        return pieces
    view_op.__name__ = getattr(impl, "__name__", name)
    view_op.__doc__ = impl.__doc__
    view_op.__wrapped__ = impl
    return view_op


def _unbind(impl: Callable) -> Callable:
    def unbind(self, dim: int = 0):
        rows = impl(self, dim)
        if not isinstance(self, Tensor):
            return rows
        d = wrap_dim(dim, self.ndim)
        strides, offset = layout(self)
        kept = strides[:d] + strides[d + 1:]
        for i, row in enumerate(rows):
            link(self, row, lambda t, i=i: F.squeeze(F.narrow(t, d, i, 1), d), kept,
                 None if offset is None else offset + i * strides[d])
        return rows
    unbind.__doc__ = impl.__doc__
    unbind.__wrapped__ = impl
    return unbind


def _basic_key(x: Tensor, key):
    """``key`` expanded to one item per dim (ints, slices, Nones) where ``x[key]`` is basic
    indexing (a view in PyTorch), else None (integer-tensor or mask indexing copies)."""
    items = key if isinstance(key, tuple) else (key,)
    for k in items:
        if k is None or k is Ellipsis or isinstance(k, slice):
            if isinstance(k, slice) and not all(
                    b is None or (isinstance(b, int) and not isinstance(b, bool))
                    for b in (k.start, k.stop, k.step)):
                return None
            continue
        if isinstance(k, bool):
            return None
        if isinstance(k, int) or (hasattr(k, "__index__") and not isinstance(k, Tensor)
                                  and not hasattr(k, "__len__")):
            continue
        if isinstance(k, Tensor) and k.ndim == 0 and k.dtype.is_int:
            continue  # a 0-d integer tensor selects like an int, as in PyTorch
        return None
    return indexing._expand_key(key, x.ndim)


def _getitem_layout(x: Tensor, key: list) -> tuple:
    strides, offset = layout(x)
    return _layout_of(x.shape, strides, offset, key)


def _layout_of(shape, strides: tuple, offset: Optional[int], key: list) -> tuple:
    """The strides and offset of ``x[key]`` (``key`` expanded to one item per dim), ``x``
    having ``shape``, ``strides`` and ``offset``."""
    out: list = []
    axis = 0
    ndim = len(shape)
    for k in key:
        if k is None:
            out.append(shape[axis] * strides[axis] if axis < ndim else 1)
            continue
        if isinstance(k, slice):
            start, _, step = k.indices(shape[axis])
            if offset is not None:
                offset += start * strides[axis]
            out.append(strides[axis] * step)
        elif isinstance(k, Tensor):
            if offset is None or k._value is not None or tracing.current() is not None:
                offset = None  # known when the graph runs
            else:
                offset += (int(k) % shape[axis]) * strides[axis]
        else:
            offset = None if offset is None else offset + (int(k) % shape[axis]) * strides[axis]
        axis += 1
    return tuple(out), offset


def getitem(self: Tensor, key) -> Tensor:
    """``x[key]``: a view for basic indexing (ints, slices, None, ``...``), a copy for integer
    tensors and masks, as in PyTorch."""
    if self._value is None and type(self._data) is np.ndarray and not (
            self.requires_grad and _grad_mode.enabled) and _trace_state.ctx is None:
        out = _plain_getitem(self, key)
        if out is not None:
            return out
    out = indexing.getitem(self, key)
    if out is self:
        return out
    if type(key) is int:  # x[i], the most frequent: no key walk
        strides, offset = layout(self)
        if offset is not None:
            offset += (key % self.shape[0]) * strides[0]
        return link(self, out, lambda t: indexing.getitem(t, key), strides[1:], offset)
    expanded = _basic_key(self, key)
    if expanded is None:
        return out
    strides, offset = _getitem_layout(self, expanded)
    key = _frozen_key(key)
    return link(self, out, lambda t: indexing.getitem(t, key), strides, offset)


def _plain_key(key, ndim: int) -> bool:
    """Whether ``key`` is basic indexing that NumPy reads exactly as graphc: Python ints in
    range, slices of Python ints (or None) with a positive step, None and one ``...``."""
    items = key if type(key) is tuple else (key,)
    consumed, ellipses = 0, 0
    for k in items:
        t = type(k)
        if t is int or t is slice:
            if t is slice and not (
                    (k.step is None or (type(k.step) is int and k.step > 0))
                    and (k.start is None or type(k.start) is int)
                    and (k.stop is None or type(k.stop) is int)):
                return False
            consumed += 1
        elif k is Ellipsis:
            ellipses += 1
        elif k is not None:
            return False
    return consumed <= ndim and ellipses <= 1


def _plain_getitem(x: Tensor, key) -> Optional[Tensor]:
    """``x[key]`` of a concrete host tensor that records no autograd, for a key
    :func:`_plain_key` accepts: NumPy's view of the array, linked as a view whose strides are
    worked out when first asked (a fraction of the general path's time). None: the general
    path decides (and raises the errors)."""
    data = x._data
    if not _plain_key(key, data.ndim):
        return None
    try:  # (a trailing ... keeps a 0-d result an array, not a NumPy scalar)
        array = data[(key, Ellipsis) if type(key) is not tuple else
                     key if any(k is Ellipsis for k in key) else key + (Ellipsis,)]
    except IndexError:  # an int out of range, two ...: the general path's error
        return None
    shape, info = x.shape, _layout_info(x)
    return link(x, Tensor._from_result(array), lambda t: indexing.getitem(t, key), None, None,
                layout=lambda: _key_layout(shape, info, key))


def _key_layout(shape, info: Optional[ViewInfo], key) -> tuple:
    """torch's strides and offset of ``x[key]`` (a plain key), ``x`` of ``shape`` being a view
    ``info`` describes, or no view (None)."""
    strides, offset = (contiguous_strides(tuple(shape)), 0) if info is None else (
        info.strides, info.offset)
    return _layout_of(shape, strides, offset, indexing._expand_key(key, len(shape)))


def _frozen_key(key):
    """``key`` with its concrete 0-d index tensors as ints: the view keeps the position it was
    taken at, as PyTorch's (``v = x[i]; i.fill_(0)`` leaves ``v`` where it was). Traced ones stay
    (the graph selects them), and so do concrete ones read while tracing (graph inputs)."""
    if tracing.current() is not None:  # (a concrete index read while tracing is an input)
        return key

    def frozen(k):
        return int(k.item()) if isinstance(k, Tensor) and k._value is None else k
    return tuple(frozen(k) for k in key) if isinstance(key, tuple) else frozen(key)


# -- torch's layout queries ---------------------------------------------------------------------
def stride(self: Tensor, dim: Optional[int] = None):
    """Strides in elements, as PyTorch's (``Tensor.stride``): row-major for a tensor that is no
    view; a view's follow from the ops that made it (``x.t().stride()`` is ``(1, 3)`` for a 3x2
    ``x``)."""
    strides = layout(self)[0]
    return strides if dim is None else strides[wrap_dim(dim, self.ndim)]


def storage_offset(self: Tensor) -> int:
    """Where a view starts in its root's elements, as PyTorch's ``storage_offset`` (0 for a
    tensor that is no view)."""
    offset = layout(self)[1]
    if offset is None:
        raise TraceError("storage_offset() of a view selected by a traced index tensor is "
                         "only known when the compiled graph runs")
    return offset


def is_contiguous(self: Tensor, memory_format=None) -> bool:
    """Whether the strides are row-major (``Tensor.is_contiguous``): False for ``x.t()``,
    ``x[:, ::2]``, ``x.expand(...)``; True for every tensor that is no view."""
    info = _layout_info(self)
    return info is None or is_contiguous_layout(self.shape, info.strides)


def contiguous(self: Tensor, memory_format=None) -> Tensor:
    """Itself when contiguous, else a contiguous copy (no view), as in PyTorch."""
    return self if is_contiguous(self) else self.clone()


# -- installing ---------------------------------------------------------------------------------
_METHOD_RULES = {
    "transpose": _transpose_rule, "swapaxes": _transpose_rule, "swapdims": _transpose_rule,
    "permute": _permute_rule, "movedim": _movedim_rule, "moveaxis": _movedim_rule,
    "t": _t_rule, "adjoint": _last_two_rule,
    "view": _view_rule, "view_as": _view_rule, "reshape": _reshape_rule,
    "reshape_as": _reshape_rule, "flatten": _reshape_rule, "unflatten": _reshape_rule,
    "ravel": _reshape_rule,
    "squeeze": _squeeze_rule, "unsqueeze": _unsqueeze_rule,
    "expand": _expand_rule, "expand_as": _expand_rule, "broadcast_to": _expand_rule,
    "narrow": _narrow_rule, "select": _select_rule, "diagonal": _diagonal_rule,
    "unfold": _unfold_rule,
}
_PROPERTY_RULES = {"T": _reversed_rule, "mT": _last_two_rule, "mH": _last_two_rule,
                   "H": _t_rule}
_SPLITS = ("split", "chunk", "tensor_split", "hsplit", "vsplit", "dsplit", "split_with_sizes")
# graphc.<name> functions that are views in PyTorch (the same rules; not view/view_as/expand*)
_FUNCTIONS = ("transpose", "swapaxes", "swapdims", "permute", "movedim", "moveaxis", "t",
              "adjoint", "reshape", "flatten", "ravel", "unflatten", "squeeze", "unsqueeze",
              "broadcast_to", "narrow", "select", "diagonal")


def install(namespace: dict) -> None:
    """Makes the view ops of :class:`Tensor` and of ``namespace`` (``graphc``'s) return
    views. Called once, by ``graphc/__init__``, after every method is attached."""
    for name, rule in _METHOD_RULES.items():
        setattr(Tensor, name, _single(getattr(Tensor, name), rule, name=name))
    for name, rule in _PROPERTY_RULES.items():
        getter = getattr(Tensor, name).fget
        setattr(Tensor, name, property(_single(getter, rule)))
    for name in _SPLITS:
        setattr(Tensor, name, _pieces(getattr(Tensor, name), name))
    Tensor.unbind = _unbind(Tensor.unbind)
    Tensor.detach = _single(Tensor.detach, _detach_rule, detached=True)
    Tensor.__getitem__ = getitem
    Tensor.stride = stride
    Tensor.storage_offset = storage_offset
    Tensor.is_contiguous = is_contiguous
    Tensor.contiguous = contiguous
    for name in _FUNCTIONS:
        if name in namespace:
            namespace[name] = _single(namespace[name], _METHOD_RULES[name], name=name)
    for name in _SPLITS:
        if name in namespace:
            namespace[name] = _pieces(namespace[name], name)
    if "unbind" in namespace:
        namespace["unbind"] = _unbind(namespace["unbind"])
    if "detach" in namespace:
        namespace["detach"] = Tensor.detach


__all__ = ["OVERLAP_MESSAGE", "ViewInfo", "assign_view", "attach", "contiguous",
           "contiguous_strides", "data_replaced", "detached_copy", "forward", "getitem",
           "has_live_views", "install", "is_contiguous", "is_contiguous_layout",
           "keeping_layout", "layout", "link", "refresh", "rehome", "storage_offset", "stride",
           "view_strides"]
