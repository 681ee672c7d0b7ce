"""Movement ops as views: a reshaped, transposed, sliced, broadcast or padded value read straight
from the buffer it came from, with no copy kernel.

A :class:`View` says where each element of a value lives in another value's buffer: element
``(c_0, ..., c_{n-1})`` is ``base[offset + sum(c_k * strides[k])]``, or ``pad`` where one of
``guards`` fails (a padded value: the guarded coordinate is outside its source). Composing a
movement op with a view is arithmetic on these affine maps (:func:`view_after`), so a chain
``reshape -> transpose -> slice`` is one view of the first buffer, and a kernel that reads the
result loads the first buffer through one index map (``Load.index``, ``Load.bounds``).

Nothing here writes memory: a view is only ever read. A value that must be one C-contiguous
buffer of its own (a GEMM or library call operand, a program output) is copied out of its view
once, where it is needed (the kernel builder's ``_operand``). :func:`matrix_layout` says when
BLAS can read a view in place instead; :func:`split_at_guards` cuts a kernel whose padded
views are guarded along one loop into pieces without guards.

    >>> v = View.contiguous((2, 3))               # x: f32[2,3]
    >>> v.strides
    (3, 1)
    >>> t = transposed(v, [1, 0])                # x.T: f32[3,2], no copy
    >>> t.strides
    (1, 3)
    >>> s = sliced(t, starts=[1, 0], steps=[1, 1])  # x.T[1:]
    >>> s.offset, s.strides
    (1, (1, 3))
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from backends.kernel.program import Bound, IndexMap, Kernel, Store, contiguous_strides
from ir.scalar import ScalarExpr


@dataclass(frozen=True)
class Guard:
    """``0 <= constant + sum(c_k * coefficients[k]) < extent`` over a value's coordinates: the
    coordinate of a source axis a padded view reads, which must fall inside that axis."""

    coefficients: tuple[int, ...]
    constant: int
    extent: int


@dataclass(frozen=True)
class View:
    """Element ``c`` of a value is its base buffer's element ``offset + sum(c_k * strides[k])``,
    or ``pad`` where a guard fails (see the module doc)."""

    offset: int
    strides: tuple[int, ...]
    guards: tuple[Guard, ...] = ()
    pad: ScalarExpr | None = None

    @staticmethod
    def contiguous(shape: tuple[int, ...]) -> View:
        """A value stored C-contiguously in its own buffer: the identity view."""
        return View(0, contiguous_strides(shape))

    def is_contiguous(self, shape: tuple[int, ...]) -> bool:
        """Whether the value's elements are its base's first ones, in C order."""
        return not self.guards and self.offset == 0 and all(
            s == c or d == 1 for s, c, d in zip(self.strides, contiguous_strides(shape), shape))

    def index(self, shape: tuple[int, ...], domain: tuple[int, ...],
              loop_axes: Sequence[int]) -> IndexMap:
        """How a kernel over ``domain`` reads the value (of ``shape``, broadcast right-aligned
        to the domain) when its loop ``k`` runs along domain axis ``loop_axes[k]``."""
        return IndexMap(self.offset, _per_loop(self.strides, shape, domain, loop_axes))

    def bounds(self, shape: tuple[int, ...], domain: tuple[int, ...],
               loop_axes: Sequence[int]) -> tuple[Bound, ...]:
        """The guards as a kernel's :class:`Bound` checks (same loops as :meth:`index`)."""
        return tuple(Bound(IndexMap(g.constant, _per_loop(g.coefficients, shape, domain,
                                                          loop_axes)), g.extent)
                     for g in self.guards)


def _per_loop(coefficients: tuple[int, ...], shape: tuple[int, ...], domain: tuple[int, ...],
              loop_axes: Sequence[int]) -> tuple[int, ...]:
    """Coefficients over a value's axes as coefficients over a kernel's loops: a value axis of
    length 1 (its coordinate is always 0) and a domain axis the value lacks contribute 0."""
    lead = len(domain) - len(shape)
    per_axis = [0 if a < lead or shape[a - lead] == 1 else coefficients[a - lead]
                for a in range(len(domain))]
    return tuple(per_axis[a] for a in loop_axes)


def _map_linear(view: View, change) -> View | None:
    """``view`` with ``change`` applied to its strides and to each guard's coefficients (as
    ``(coefficients, constant) -> (coefficients, constant) | None``), or None if it fails."""
    moved = change(view.strides, view.offset)
    if moved is None:
        return None
    guards = []
    for g in view.guards:
        mapped = change(g.coefficients, g.constant)
        if mapped is None:
            return None
        guards.append(Guard(mapped[0], mapped[1], g.extent))
    return View(moved[1], moved[0], tuple(guards), view.pad)


def transposed(view: View, perm: Sequence[int]) -> View:
    """The view of ``transpose(x, perm)`` given ``x``'s."""
    result = _map_linear(view, lambda c, k: (tuple(c[p] for p in perm), k))
    assert result is not None
    return result


def sliced(view: View, starts: Sequence[int], steps: Sequence[int]) -> View:
    """The view of ``slice(x, starts, ..., steps)`` given ``x``'s: coordinate ``c`` of the
    slice is ``start + step * c`` of ``x``."""
    def change(c, k):
        return (tuple(a * st for a, st in zip(c, steps)),
                k + sum(a * s for a, s in zip(c, starts)))
    result = _map_linear(view, change)
    assert result is not None
    return result


def broadcast(view: View, shape: tuple[int, ...], target: tuple[int, ...]) -> View:
    """The view of ``broadcast_to(x, target)`` given ``x``'s (of ``shape``): new leading axes
    and stretched length-1 axes do not move through ``x``."""
    lead = len(target) - len(shape)

    def change(c, k):
        return (tuple(0 if a < lead or shape[a - lead] == 1 else c[a - lead]
                      for a in range(len(target))), k)
    result = _map_linear(view, change)
    assert result is not None
    return result


def padded(view: View, shape: tuple[int, ...], pads: Sequence[Sequence[int]],
           value: ScalarExpr) -> View | None:
    """The view of ``pad(x, pads, value)`` given ``x``'s (of ``shape``), or None when that is
    no view: interior padding, or ``x`` already padded with another value. Coordinate ``c`` of
    the result is ``c - lo`` of ``x``, read only where that is inside ``x``."""
    if any(p[2] for p in pads) or (view.pad is not None and view.pad != value):
        return None
    lows = [p[0] for p in pads]
    result = _map_linear(view, lambda c, k: (c, k - sum(a * lo for a, lo in zip(c, lows))))
    assert result is not None
    ndim = len(shape)
    new = tuple(Guard(tuple(int(a == axis) for a in range(ndim)), -lo, shape[axis])
                for axis, (lo, hi, _) in enumerate(pads) if lo or hi)
    return View(result.offset, result.strides, result.guards + new, value)


def reshaped(view: View, shape: tuple[int, ...], target: tuple[int, ...]) -> View | None:
    """The view of ``reshape(x, target)`` given ``x``'s (of ``shape``), or None when no
    strides express it (axes merged whose strides are not nested, as a transposed value
    flattened). An empty ``x`` reshapes to any view: nothing is read."""
    if 0 in shape:
        return View(view.offset, contiguous_strides(target))  # reads nothing

    def change(c, k):
        moved = reshape_linear(c, shape, target)
        return None if moved is None else (moved, k)
    return _map_linear(view, change)


def reshape_linear(coefficients: Sequence[int], shape: tuple[int, ...],
                   target: tuple[int, ...]) -> tuple[int, ...] | None:
    """A linear map of coordinates of ``shape`` (``sum(c_k * coefficients[k])``) as one of the
    same elements' coordinates in ``target`` (a reshape: the same elements in C order), or None
    when it is not linear there.

        >>> reshape_linear((4, 1), (3, 4), (12,))     # contiguous rows merge
        (1,)
        >>> reshape_linear((1, 3), (3, 4), (12,))     # transposed: no stride does it
        >>> reshape_linear((8, 1), (3, 4), (3, 2, 2))  # an axis splits
        (8, 2, 1)
    """
    old = [(d, c) for d, c in zip(shape, coefficients) if d != 1]
    new_axes = [a for a, d in enumerate(target) if d != 1]
    result = [0] * len(target)
    i = j = 0
    while i < len(old) or j < len(new_axes):
        # the smallest run of old axes and new axes holding the same number of elements
        group_old, group_new = [old[i]], [new_axes[j]]
        count_old, count_new = old[i][0], target[new_axes[j]]
        i, j = i + 1, j + 1
        while count_old != count_new:
            if count_old < count_new:
                group_old.append(old[i])
                count_old *= old[i][0]
                i += 1
            else:
                group_new.append(new_axes[j])
                count_new *= target[new_axes[j]]
                j += 1
        # linear over the run only when it reads the run as one flat index times a stride
        unit = group_old[-1][1]
        step = 1
        for extent, c in reversed(group_old):
            if c != unit * step:
                return None
            step *= extent
        step = 1
        for axis in reversed(group_new):
            result[axis] = unit * step
            step *= target[axis]
    return tuple(result)


def matrix_layout(shape: tuple[int, ...], strides: tuple[int, ...]) -> tuple[bool, int] | None:
    """How BLAS reads the matrices (last two axes) of a strided operand: ``(column_major,
    leading dimension)``, or None when it cannot (no axis of stride 1, rows that overlap).
    Row-major ``[r, c]`` has stride 1 along ``c`` and ``ld >= c`` between rows; column-major
    is its transpose stored row-major.

        >>> matrix_layout((4, 3), (3, 1)), matrix_layout((4, 3), (1, 8))
        ((False, 3), (True, 8))
        >>> matrix_layout((4, 3), (6, 2)) is None
        True
    """
    if len(shape) < 2:
        return None
    (r, c), (sr, sc) = shape[-2:], strides[-2:]
    if c == 1 or sc == 1:
        ld = sr if r > 1 else max(c, 1)
        return (False, ld) if ld >= max(c, 1) else None
    if r == 1 or sr == 1:
        ld = sc if c > 1 else max(r, 1)
        return (True, ld) if ld >= max(r, 1) else None
    return None


def split_at_guards(kernel: Kernel) -> list[Kernel]:
    """A pointwise kernel whose guarded loads (padded views: the pieces of a concatenation, a
    slice's gradient) are all guarded along one and the same loop, as one kernel per stretch
    of that loop over which each guard holds everywhere or nowhere: there a load reads
    unguarded, or is its pad constant, so the loops vectorize. The first piece allocates the
    outputs, the others fill in their part (``partial``). Any other kernel stays whole.

        >>> from backends.kernel.program import Buffer, Load, Store
        >>> from ir.dtypes import f32
        >>> from ir.scalar import add, const, var
        >>> from ir.types import TensorType
        >>> x, y = Buffer("x", TensorType(f32, (2, 3)), "input"), Buffer("y", TensorType(f32, (4, 3)))
        >>> guard = Bound(IndexMap(-1, (1, 0)), 2)  # rows 1 and 2 read x
        >>> load = Load("x0", x, IndexMap(-3, (3, 1)), (guard,), const(0.0, f32))
        >>> value = add(var("x0", f32), const(1.0, f32))
        >>> kernel = Kernel("k0", (4, 3), [load], value, [Store(y, IndexMap(0, (3, 1)), value)])
        >>> [(k.shape, len(k.loads), k.partial) for k in split_at_guards(kernel)]
        [((1, 3), 0, False), ((2, 3), 1, True), ((1, 3), 0, True)]
    """
    from backends.kernel.build import substitute  # build imports this module
    guarded = [ld for ld in kernel.loads if ld.bounds]
    if (not guarded or kernel.reduction is not None or kernel.sort is not None or kernel.scan
            or kernel.partial or any(ld.indirect is not None for ld in kernel.loads)):
        return [kernel]
    axes = {k for ld in guarded for b in ld.bounds for k, c in enumerate(b.index.strides) if c}
    if len(axes) != 1:
        return [kernel]
    (axis,) = axes
    if _reads_counter(kernel, axis):
        return [kernel]
    n = kernel.shape[axis]
    cuts = {0, n}
    for ld in guarded:
        for b in ld.bounds:
            lo, hi = _where_in_bounds(b.index.strides[axis], b.index.offset, b.extent)
            cuts |= {min(max(lo, 0), n), min(max(hi, 0), n)}
    stretches = [(lo, hi) for lo, hi in zip(sorted(cuts), sorted(cuts)[1:]) if lo < hi]
    if not stretches:
        return [kernel]  # an empty loop
    pieces = []
    for number, (lo, hi) in enumerate(stretches):
        def moved(index: IndexMap, lo: int = lo) -> IndexMap:
            return IndexMap(index.offset + lo * index.strides[axis], index.strides)

        loads, constants = [], {}
        for ld in kernel.loads:
            if not ld.bounds:
                loads.append(dataclasses.replace(ld, index=moved(ld.index)))
            elif all(0 <= b.index.offset + lo * b.index.strides[axis] < b.extent
                     for b in ld.bounds):
                loads.append(dataclasses.replace(ld, index=moved(ld.index), bounds=(), pad=None))
            else:
                assert ld.pad is not None
                constants[ld.var] = ld.pad
        stores = [Store(s.buffer, moved(s.index), substitute(s.value, constants))
                  for s in kernel.stores]
        shape = kernel.shape[:axis] + (hi - lo,) + kernel.shape[axis + 1:]
        pieces.append(Kernel(kernel.name, shape, loads, stores[0].value, stores,
                             origin=f"{kernel.origin}, {lo} <= i{axis} < {hi}",
                             partial=number > 0))
    return pieces


def _where_in_bounds(step: int, offset: int, extent: int) -> tuple[int, int]:
    """The stretch ``[lo, hi)`` of a loop counter ``i`` where ``0 <= offset + step * i <
    extent`` (``step != 0``)."""
    if step > 0:
        return -(offset // step), -((offset - extent) // step)
    back = -step  # 0 <= offset - back * i < extent: (offset - extent) / back < i <= offset / back
    return (offset - extent) // back + 1, offset // back + 1


def _reads_counter(kernel: Kernel, axis: int) -> bool:
    """Whether the kernel's stores read loop counter ``axis`` as a value."""
    name, seen, stack = f"i{axis}", set(), [s.value for s in kernel.stores]
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if e.op == "var" and e.value == name:
            return True
        stack.extend(e.args)
    return False
