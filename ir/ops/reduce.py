"""Reductions over a list of axes (``sum max min``) and ``argmax``/``argmin`` over one axis.

``axes`` lists the reduced axes (negative counts from the end); ``keepdim`` keeps them as size 1.
Summing bools or integers gives i64, as in PyTorch.

Each op declares how it folds (``ir.scalar.Reduction``): ``sum`` adds in the accumulator dtype
(f32 stays f32, summed pairwise as PyTorch does on CPU; f16 and bf16 in f32, rounded once;
ints and bools in i64) from 0; ``max``
and ``min`` keep NaN (``maximum``/``minimum``) from the lowest/highest value of the dtype (on
bools they are or/and). ``argmax`` takes the first maximum, and the first NaN if there is one.
``mean`` is no primitive: ``graphc.functions.mean`` divides a sum by the count, so its final
division is an ordinary ``div`` node.
"""
from __future__ import annotations

import functools

import numpy as np

from ir import dtypes
from ir import scalar as S
from ir.errors import ShapeError
from ir.registry import Attr, OpDef, register
from ir.types import normalize_axis

REDUCE_ATTRS = (Attr("axes", "ints"), Attr("keepdim", "bool", False, required=False))


def normalize_axes(op: str, axes, ndim: int) -> tuple[int, ...]:
    if not isinstance(axes, (list, tuple)) or not all(isinstance(a, int) for a in axes):
        raise ShapeError(f"{op}: axes must be a list of ints, got {axes!r}")
    norm = tuple(sorted(normalize_axis(a, ndim) for a in axes))
    if len(set(norm)) != len(norm):
        raise ShapeError(f"{op}: axes {list(axes)} repeat an axis")
    return norm


def reduced_shape(shape, axes, keepdim: bool):
    if keepdim:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _reduce_type(op, result_dtype=lambda d: d):
    def rule(types, attrs):
        (x,) = types
        axes = normalize_axes(op, attrs["axes"], x.ndim)
        if op in ("max", "min") and any(x.shape[a] == 0 for a in axes):
            raise ShapeError(f"{op}: cannot reduce over an empty axis of shape {list(x.shape)}")
        return x.with_shape(reduced_shape(x.shape, axes, attrs["keepdim"])).with_dtype(
            result_dtype(x.dtype))
    return rule


def _sum_dtype(d):
    return d if d.is_float else dtypes.i64


def _reference(np_fn):
    def ref(x, axes, keepdim):
        axes = tuple(normalize_axis(a, x.ndim) for a in axes)
        return np_fn(x, axis=axes, keepdims=keepdim)
    return ref


def _expand_back(em, v, x, axes, keepdim):
    """Reshapes a reduced value so it broadcasts against the input ``x`` again."""
    axes = normalize_axes("reduce", axes, len(em.shape(x)))
    if not keepdim:
        v = em.reshape(v, shape=list(reduced_shape(em.shape(x), axes, True)))
    return v


def _sum_vjp(em, xs, out, g, attrs):
    (x,) = xs
    g = _expand_back(em, g, x, attrs["axes"], attrs["keepdim"])
    return [em.broadcast_to(g, shape=list(em.shape(x)))]


def _extremum_vjp(em, xs, out, g, attrs):
    """Gradient flows to every element equal to the extremum, split evenly (like torch.amax);
    a nan extremum is the nans of its slice. The others get zeros by selection, not by a
    multiplied mask, so an infinite gradient leaves them 0 rather than nan (PyTorch's
    evenly_distribute_backward)."""
    (x,) = xs
    out_b = _expand_back(em, out, x, attrs["axes"], attrs["keepdim"])
    g_b = _expand_back(em, g, x, attrs["axes"], attrs["keepdim"])
    both_nan = em.bitwise_and(em.ne(x, x), em.ne(out_b, out_b))
    selected = em.bitwise_or(em.eq(x, out_b), both_nan)
    count = em.sum(em.cast(selected, dtype=em.dtype(g)), axes=attrs["axes"], keepdim=True)
    return [em.where(selected, em.div(g_b, count), em.scalar(0, g))]


def _prod_reference(x, axes, keepdim):
    axes = tuple(normalize_axis(a, x.ndim) for a in axes)
    return np.prod(x, axis=axes, keepdims=keepdim, dtype=_sum_dtype(dtypes.from_numpy(x.dtype)).numpy)


def _prod_vjp(em, xs, out, g, attrs):
    """The product of all the *other* elements of each reduced slice, computed as exclusive
    running products from both ends (PyTorch's formula), not ``out / x``: exact with zeros.
    The reduced axes are moved last and flattened into one, scanned, and moved back."""
    (x,) = xs
    shape = em.shape(x)
    axes = normalize_axes("prod", attrs["axes"], len(shape))
    g = _expand_back(em, g, x, attrs["axes"], attrs["keepdim"])
    if not axes:
        return [g]
    kept = [a for a in range(len(shape)) if a not in axes]
    perm = kept + list(axes)
    rows = [shape[a] for a in kept] + [int(np.prod([shape[a] for a in axes], dtype=np.int64))]
    flat = em.reshape(em.transpose(x, perm=perm), shape=rows)
    from ir.ops.scan import exclusive_cumprod
    last = len(rows) - 1
    others = em.mul(exclusive_cumprod(em, flat, last, reverse=False),
                    exclusive_cumprod(em, flat, last, reverse=True))
    inverse = [perm.index(a) for a in range(len(shape))]
    others = em.transpose(em.reshape(others, shape=[shape[a] for a in perm]), perm=inverse)
    return [em.mul(em.broadcast_to(g, shape=list(shape)), others)]


@functools.cache  # (a fold is immutable; the eager reference asks for one at every sum)
def _sum_fold(dtype):
    # float16 and bfloat16 accumulate in float32 and round the total once, as PyTorch's CPU
    result = _sum_dtype(dtype)
    acc = dtypes.f32 if result.is_low_precision_float else result
    return S.Reduction.of(acc, 0, S.add, result=result,
                          order="pairwise" if acc.is_float else "any")


def _max_fold(dtype):
    return S.Reduction.of(dtype, S.lowest(dtype), S.logical_or if dtype.is_bool else S.maximum)


def _prod_fold(dtype):
    # float16 and bfloat16 multiply in float32 and round the product once (the reference,
    # through ir.evaluate, and PyTorch's CPU): a 16-bit running product would round per step
    result = _sum_dtype(dtype)
    acc = dtypes.f32 if result.is_low_precision_float else result
    return S.Reduction.of(acc, 1, S.mul, result=result)


def _min_fold(dtype):
    return S.Reduction.of(dtype, S.highest(dtype), S.logical_and if dtype.is_bool else S.minimum)


# (np.sum, np.max and np.min call these reductions on an ndarray, after a Python wrapper that
# cost more than the reduction of a small tensor: eager x.sum() spent 4 us there)
_np_sum = _reference(np.add.reduce)


def _sum_reference(x, axes, keepdim):
    """np.sum in the declared accumulator (i64 for u8, not NumPy's u64; f32 for f16 and bf16),
    rounded once to the result dtype."""
    fold = _sum_fold(dtypes.from_numpy(x.dtype))
    total = _np_sum(x.astype(fold.accumulator.numpy, copy=False), axes, keepdim)
    return np.asarray(total).astype(fold.result.numpy, copy=False)


register(OpDef("sum", "reduce", 1, _reduce_type("sum", _sum_dtype), _sum_reference,
               attrs=REDUCE_ATTRS, vjp=_sum_vjp, needs_values=False, reduction=_sum_fold))
register(OpDef("prod", "reduce", 1, _reduce_type("prod", _sum_dtype), _prod_reference,
               attrs=REDUCE_ATTRS, vjp=_prod_vjp, reduction=_prod_fold))
register(OpDef("max", "reduce", 1, _reduce_type("max"), _reference(np.maximum.reduce),
               attrs=REDUCE_ATTRS, vjp=_extremum_vjp, needs_output=True, reduction=_max_fold))
register(OpDef("min", "reduce", 1, _reduce_type("min"), _reference(np.minimum.reduce),
               attrs=REDUCE_ATTRS, vjp=_extremum_vjp, needs_output=True, reduction=_min_fold))


def _arg_extremum_type(op):
    def rule(types, attrs):
        (x,) = types
        axis = normalize_axis(attrs["axis"], x.ndim)
        if x.ndim == 0 or x.shape[axis] == 0:
            raise ShapeError(f"{op}: cannot take {op} over an empty axis of shape "
                             f"{list(x.shape)}")
        return x.with_shape(reduced_shape(x.shape, (axis,), attrs["keepdim"])).with_dtype(
            dtypes.i64)
    return rule


def _arg_extremum_ref(np_fn):
    # NumPy's argmax/argmin already answer as PyTorch does: the first index of the extremum,
    # and a nan counts as the extremum (the first nan's index)
    def ref(x, axis, keepdim):
        return np_fn(x, axis=normalize_axis(axis, x.ndim), keepdims=keepdim)
    return ref


def _arg_extremum_fold(op: str):
    # argmin is its own reduction, not argmax(-x): negation overflows at an integer dtype's
    # minimum (-(-2**63) is -2**63 again in i64).
    beats, start, word = (S.gt, S.lowest, "maximum") if op == "argmax" else (S.lt, S.highest,
                                                                              "minimum")

    def fold(dtype):
        def better(best, x):
            if not dtype.is_float:
                return beats(x, best)
            # the first NaN beats everything (x != x is "x is NaN"), and nothing beats a NaN
            return S.logical_or(beats(x, best), S.logical_and(S.ne(x, x), S.eq(best, best)))
        return S.ArgReduction.of(
            dtype, start(dtype), better,
            rule=f"the first index of the {word}; the first NaN if any (as np.{op})")
    return fold


for _name, _np_fn in [("argmax", np.argmax), ("argmin", np.argmin)]:
    register(OpDef(_name, "reduce", 1, _arg_extremum_type(_name), _arg_extremum_ref(_np_fn),
                   attrs=(Attr("axis", "int"), Attr("keepdim", "bool", False, required=False)),
                   reduction=_arg_extremum_fold(_name)))
