"""Movement ops: they rearrange elements without computing new ones.

``reshape {shape}``, ``transpose {perm}``, ``broadcast_to {shape}``,
``slice {starts, stops, steps}`` (one entry per axis, normalized: 0 <= start <= stop <= dim, step >= 1),
``concat {axis}`` (variadic), ``pad {pads=[[lo, hi, interior], ...], value}``. Interior padding
(as in XLA) inserts ``interior`` fill elements between neighbours; it is exactly the transpose of
a strided slice, so the two ops are each other's gradient.
"""
from __future__ import annotations

import numpy as np

from ir import dtypes
from ir.errors import ShapeError
from ir.ops.sources import _misfit
from ir.registry import Attr, OpDef, register
from ir.types import TensorType, normalize_axis


def _ints(op, name, value, length=None):
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                       for v in value):
        raise ShapeError(f"{op}: attribute {name} must be a list of ints, got {value!r}")
    if length is not None and len(value) != length:
        raise ShapeError(f"{op}: attribute {name} needs {length} entries (one per axis), "
                         f"got {len(value)}")
    return [int(v) for v in value]


# -- reshape ---------------------------------------------------------------------------------
def _reshape_type(types, attrs):
    (x,) = types
    shape = _ints("reshape", "shape", attrs["shape"])
    if TensorType(x.dtype, shape).size != x.size or any(d < 0 for d in shape):
        raise ShapeError(f"reshape: cannot reshape {list(x.shape)} ({x.size} elements) "
                         f"to {shape}")
    return x.with_shape(shape)


register(OpDef("reshape", "movement", 1, _reshape_type, lambda x, shape: np.reshape(x, shape),
               attrs=(Attr("shape", "ints"),), needs_values=False,
               vjp=lambda em, xs, out, g, a: [em.reshape(g, shape=list(em.shape(xs[0])))]))


# -- transpose -------------------------------------------------------------------------------
def _transpose_type(types, attrs):
    (x,) = types
    perm = _ints("transpose", "perm", attrs["perm"], x.ndim)
    if sorted(perm) != list(range(x.ndim)):
        raise ShapeError(f"transpose: perm {perm} is not a permutation of 0..{x.ndim - 1}")
    return x.with_shape([x.shape[p] for p in perm])


def _transpose_vjp(em, xs, out, g, attrs):
    inverse = [0] * len(attrs["perm"])
    for i, p in enumerate(attrs["perm"]):
        inverse[p] = i
    return [em.transpose(g, perm=inverse)]


register(OpDef("transpose", "movement", 1, _transpose_type,
               lambda x, perm: np.transpose(x, perm), attrs=(Attr("perm", "ints"),),
               vjp=_transpose_vjp, needs_values=False))


# -- broadcast_to ----------------------------------------------------------------------------
def _broadcast_to_type(types, attrs):
    (x,) = types
    shape = _ints("broadcast_to", "shape", attrs["shape"])
    lead = len(shape) - x.ndim
    if lead < 0 or any(d not in (1, s) for d, s in zip(x.shape, shape[lead:])):
        raise ShapeError(f"broadcast_to: cannot broadcast {list(x.shape)} to {shape}")
    return x.with_shape(shape)


def _broadcast_to_vjp(em, xs, out, g, attrs):
    from ir.emitter import unbroadcast
    return [unbroadcast(em, g, em.shape(xs[0]))]


register(OpDef("broadcast_to", "movement", 1, _broadcast_to_type,
               lambda x, shape: np.broadcast_to(x, shape), attrs=(Attr("shape", "ints"),),
               vjp=_broadcast_to_vjp, needs_values=False))


# -- slice -----------------------------------------------------------------------------------
def is_unit_reshape(node) -> bool:
    """Whether ``node`` is a reshape that only inserts or removes size-1 dims: the same elements
    in the same order along the same non-trivial axes (free where a loop re-indexes its operand:
    the fuse pass and the kernel builder treat it so)."""
    if node.op != "reshape":
        return False
    source, target = node.inputs[0].type.shape, node.outputs[0].type.shape
    return [d for d in source if d != 1] == [d for d in target if d != 1]


def slice_length(start: int, stop: int, step: int) -> int:
    return max(0, -(-(stop - start) // step))


def _slice_type(types, attrs):
    (x,) = types
    starts = _ints("slice", "starts", attrs["starts"], x.ndim)
    stops = _ints("slice", "stops", attrs["stops"], x.ndim)
    steps = _ints("slice", "steps", attrs["steps"], x.ndim)
    shape = []
    for axis, (lo, hi, st, d) in enumerate(zip(starts, stops, steps, x.shape)):
        if st < 1 or not 0 <= lo <= hi <= d:
            raise ShapeError(f"slice: axis {axis} of size {d} needs 0 <= start <= stop <= {d} "
                             f"and step >= 1, got start={lo} stop={hi} step={st}")
        shape.append(slice_length(lo, hi, st))
    return x.with_shape(shape)


def _slice_ref(x, starts, stops, steps):
    return x[tuple(slice(a, b, c) for a, b, c in zip(starts, stops, steps))]


def _slice_vjp(em, xs, out, g, attrs):
    pads = []
    for lo, _hi, st, d, n in zip(attrs["starts"], attrs["stops"], attrs["steps"],
                                em.shape(xs[0]), em.shape(out)):
        if n == 0:
            pads.append([0, d, 0])
        else:
            pads.append([lo, d - (lo + (n - 1) * st + 1), st - 1])
    return [em.pad(g, pads=pads, value=0.0)]


SLICE_ATTRS = (Attr("starts", "ints"), Attr("stops", "ints"), Attr("steps", "ints"))
register(OpDef("slice", "movement", 1, _slice_type, _slice_ref, attrs=SLICE_ATTRS,
               vjp=_slice_vjp, needs_values=False))


# -- pad -------------------------------------------------------------------------------------
def _pads(op, pads, ndim):
    if not isinstance(pads, (list, tuple)) or len(pads) != ndim:
        raise ShapeError(f"{op}: pads needs one [lo, hi, interior] per axis ({ndim}), got {pads!r}")
    result = []
    for axis, p in enumerate(pads):
        p = _ints(op, f"pads[{axis}]", p, 3)
        if min(p) < 0:
            raise ShapeError(f"{op}: pads[{axis}] = {p} must be non-negative")
        result.append(p)
    return result


def _padded(d, lo, hi, interior):
    return lo + hi + d + max(d - 1, 0) * interior


def _pad_type(types, attrs):
    (x,) = types
    pads = _pads("pad", attrs["pads"], x.ndim)
    if not isinstance(attrs["value"], (int, float)):
        raise ShapeError(f"pad: value must be a number, got {attrs['value']!r}")
    misfit = _misfit(attrs["value"], x.dtype)
    if misfit:  # NumPy would store nan in an int tensor as its most negative value
        raise ShapeError(f"pad: value {attrs['value']!r} does not fit dtype {x.dtype} ({misfit})")
    return x.with_shape([_padded(d, *p) for d, p in zip(x.shape, pads)])


def _pad_ref(x, pads, value):
    shape = [_padded(d, *p) for d, p in zip(x.shape, pads)]
    out = dtypes.filled(shape, value, dtypes.from_numpy(x.dtype))
    out[tuple(slice(lo, lo + max(d - 1, 0) * (it + 1) + 1 if d else lo, it + 1)
              for d, (lo, hi, it) in zip(x.shape, pads))] = x
    return out


def _pad_vjp(em, xs, out, g, attrs):
    shape = em.shape(xs[0])
    starts = [p[0] for p in attrs["pads"]]
    steps = [p[2] + 1 for p in attrs["pads"]]
    stops = [lo + (d - 1) * st + 1 if d else lo for lo, st, d in zip(starts, steps, shape)]
    return [em.slice(g, starts=starts, stops=stops, steps=steps)]


register(OpDef("pad", "movement", 1, _pad_type, _pad_ref,
               attrs=(Attr("pads", "intss"), Attr("value", "float", 0.0, required=False)),
               vjp=_pad_vjp, needs_values=False))


# -- concat ----------------------------------------------------------------------------------
def _concat_type(types, attrs):
    if not types:
        raise ShapeError("concat needs at least one operand")
    from ir.dtypes import promote
    for i, t in enumerate(types):
        if t.ndim == 0:
            raise ShapeError(f"concat: operand {i} is 0-d ({t}); zero-dimensional tensors "
                             "cannot be concatenated (reshape or stack them instead)")
    first = types[0]
    axis = normalize_axis(attrs["axis"], first.ndim)
    for i, t in enumerate(types[1:], 1):
        if t.ndim != first.ndim or any(a != b for k, (a, b) in enumerate(zip(t.shape, first.shape))
                                       if k != axis):
            raise ShapeError(f"concat: operand {i} has shape {list(t.shape)}, expected "
                             f"{list(first.shape)} except along axis {axis}")
    shape = list(first.shape)
    shape[axis] = sum(t.shape[axis] for t in types)
    return TensorType(promote(*(t.dtype for t in types)), shape)


def _concat_ref(*xs, axis):
    from ir.dtypes import from_numpy, promote
    dtype = promote(*(from_numpy(x.dtype) for x in xs)).numpy
    return np.concatenate([x.astype(dtype, copy=False) for x in xs], axis=axis)


def _concat_vjp(em, xs, out, g, attrs):
    shape = em.shape(out)
    axis = normalize_axis(attrs["axis"], len(shape))
    grads, offset = [], 0
    for x in xs:
        size = em.shape(x)[axis]
        starts = [0] * len(shape)
        stops = list(shape)
        starts[axis], stops[axis] = offset, offset + size
        piece = em.slice(g, starts=starts, stops=stops, steps=[1] * len(shape))
        grads.append(piece if em.dtype(x).is_float else None)
        offset += size
    return grads


register(OpDef("concat", "movement", None, _concat_type, _concat_ref,
               attrs=(Attr("axis", "int"),), vjp=_concat_vjp, needs_values=False))
