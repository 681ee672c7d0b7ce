"""Sorts: ``argsort(x) {axis, descending}``, the i64 permutation that sorts each row along ``axis``.

Stable (equal elements keep their order, in both directions, as ``torch.sort(stable=True)``),
and a NaN sorts as the largest value: last ascending, first descending, as in PyTorch. ``-0.0``
and ``0.0`` are equal. The values are ``gather(x, indices)`` in the front end, so the gradient
of ``sort``, ``topk``, ``kthvalue`` and ``median`` is the scatter to the selected indices.
"""
from __future__ import annotations

import numpy as np

from ir import dtypes
from ir.errors import ShapeError
from ir.registry import Attr, OpDef, register
from ir.types import normalize_axis


def _argsort_type(types, attrs):
    (x,) = types
    if x.ndim == 0:
        raise ShapeError(f"argsort: the IR sorts along an existing axis; got a 0-d operand {x}")
    normalize_axis(attrs["axis"], x.ndim)
    return x.with_dtype(dtypes.i64)


def stable_argsort(x: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    """np.argsort(kind="stable") already puts NaN last; descending sorts the reversed row
    ascending and reverses the answer, so ties keep their order and NaN comes first."""
    axis = normalize_axis(axis, x.ndim)
    if x.dtype == dtypes.bf16.numpy:  # ml_dtypes' bfloat16 sorts NaN (and infinities) out of
        x = x.astype(np.float32)      # place: sort its exact float32 values
    if not descending:
        return np.argsort(x, axis=axis, kind="stable").astype(np.int64)
    n = x.shape[axis]
    order = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
    return (n - 1 - np.flip(order, axis)).astype(np.int64)


register(OpDef("argsort", "sort", 1, _argsort_type,
               lambda x, axis, descending=False: stable_argsort(x, axis, descending),
               attrs=(Attr("axis", "int"), Attr("descending", "bool", False, required=False))))


def precedes(dtype: dtypes.DType, descending: bool):
    """The order a code generator sorts by: a bool scalar expression of keys ``a`` and ``b``
    that holds when ``a`` sorts strictly before ``b`` (NaN is the largest key; equal keys,
    ``-0.0`` and ``0.0`` included, precede neither, so a stable sort keeps their order).

        >>> print(precedes(dtypes.i32, descending=True))
        gt(a, b)
    """
    from ir import scalar as S
    a, b = S.var("a", dtype), S.var("b", dtype)
    if not dtype.is_float:
        return S.gt(a, b) if descending else S.lt(a, b)
    if descending:  # a NaN comes first
        return S.logical_or(S.gt(a, b), S.logical_and(S.ne(a, a), S.eq(b, b)))
    return S.logical_or(S.lt(a, b), S.logical_and(S.ne(b, b), S.eq(a, a)))
