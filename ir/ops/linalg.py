"""Batched ``matmul``: ``[..., m, k] @ [..., k, n] -> [..., m, n]`` with broadcast batch dims.

Vectors are handled by the front end (it unsqueezes/squeezes), so both operands have rank >= 2.
"""
from __future__ import annotations

import numpy as np

from ir import dtypes
from ir.errors import ShapeError
from ir.ops.elementwise import _binary_grads, _promoted
from ir.registry import OpDef, register
from ir.types import TensorType, broadcast_shapes


def _matmul_type(types, attrs):
    a, b = types
    if a.ndim < 2 or b.ndim < 2:
        raise ShapeError(f"matmul: operands need rank >= 2, got {a} and {b}")
    if a.shape[-1] != b.shape[-2]:
        raise ShapeError(f"matmul: inner dimensions differ: {list(a.shape)} @ {list(b.shape)} "
                         f"({a.shape[-1]} != {b.shape[-2]})")
    try:
        batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ShapeError as exc:
        raise ShapeError(f"matmul: batch dimensions do not broadcast: {list(a.shape)} @ "
                         f"{list(b.shape)} ({exc})") from None
    return TensorType(dtypes.promote(a.dtype, b.dtype), batch + (a.shape[-2], b.shape[-1]))


def swap_last(em, x):
    """Transposes the last two axes of ``x``."""
    n = len(em.shape(x))
    return em.transpose(x, perm=list(range(n - 2)) + [n - 1, n - 2])


def _rows(em, x):
    """``x`` of shape [..., m, c] as the 2-D [prod(...) * m, c] matrix of its stacked rows."""
    shape = em.shape(x)
    return em.reshape(x, shape=[int(np.prod(shape[:-1], dtype=np.int64)), shape[-1]])


def _matmul_vjp(em, xs, out, g, attrs):
    a, b = xs

    def grad_b():
        if len(em.shape(b)) == 2 and len(em.shape(a)) > 2:
            # a matrix shared by every batch (a linear layer's weight): sum_i a_i^T g_i is one
            # GEMM over the stacked rows, not a batch of outer products summed afterwards
            return em.matmul(swap_last(em, _rows(em, a)), _rows(em, g))
        return em.matmul(swap_last(em, a), g)

    return _binary_grads(em, xs, lambda: em.matmul(g, swap_last(em, b)), grad_b)


def _matmul_reference(a, b):
    """np.matmul in the promoted dtype; f16 and bf16 multiply and accumulate in f32 and round
    once (as PyTorch's CPU; ml_dtypes' bfloat16 matmul would answer in f32)."""
    a, b = _promoted(a, b)
    if not dtypes.from_numpy(a.dtype).is_low_precision_float:
        return np.matmul(a, b)
    return np.matmul(a.astype(np.float32), b.astype(np.float32)).astype(a.dtype)


register(OpDef("matmul", "matmul", 2, _matmul_type, _matmul_reference,
               vjp=_matmul_vjp))
