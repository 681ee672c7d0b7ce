"""The values of ``linspace`` bit for bit as PyTorch's CPU kernel computes them.

PyTorch computes ``step = (end - start) / (steps - 1)`` in the result's dtype, then the first
half of the values from ``start`` (``start + step * i``) and the second half from ``end``
(``end - step * (steps - 1 - i)``), so both ends are exact and the values are symmetric. Its
kernel is compiled with contraction on, so in float32 and float64 (and for integer results,
computed in float64) each value is one fused multiply-add, rounded once; float16 and bfloat16
round after every operation (their arithmetic converts back at each step). NumPy's
``linspace`` (``start + i * step``, rounded twice) differed by an ulp in about a third of
the values.

A fused multiply-add is emulated exactly in NumPy, whole arrays at a time: the product is split
into two doubles (Veltkamp/Dekker), the sum with ``c`` made exact (TwoSum), and the parts
added with rounding to odd before the final rounding to nearest (Boldo and Melquiond,
"Emulation of FMA and correctly rounded sums: proved algorithms using rounding to odd", 2008).

    >>> import numpy as np
    >>> linspace_values(0.0, 1.0, 5, np.dtype(np.float32)).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
"""
from __future__ import annotations

import numpy as np

__all__ = ["linspace_values", "fma"]

_SPLIT = 134217729.0  # 2**27 + 1: Veltkamp's constant for float64


def _two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``s + t == a + b`` exactly, ``s`` the rounded sum (Knuth)."""
    s = a + b
    bb = s - a
    t = (a - (s - bb)) + (b - bb)
    return s, t


def _two_product(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``p + e == a * b`` exactly, ``p`` the rounded product (Dekker)."""
    p = a * b

    def split(x):
        c = _SPLIT * x
        high = c - (c - x)
        return high, x - high
    ah, al = split(a)
    bh, bl = split(b)
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, e


def _round_to_odd_sum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a + b`` rounded to odd: exact sums as they are; an inexact one is the neighbour of
    the exact value whose last significand bit is 1."""
    s, t = _two_sum(a, b)
    even = (s.view(np.int64) & 1) == 0
    nudge = (t != 0) & even
    return np.where(nudge, np.nextafter(s, np.where(t > 0, np.inf, -np.inf)), s)


def fma(a, b, c) -> np.ndarray:
    """``a * b + c`` in float64, rounded once (as a hardware fused multiply-add), elementwise.

        >>> x = 1.0 + 2.0 ** -30
        >>> float(fma(x, x, -1.0)) == 2.0 ** -29 + 2.0 ** -60  # a plain a * b + c drops 2**-60
        True
    """
    a, b, c = (np.asarray(v, dtype=np.float64) for v in (a, b, c))
    with np.errstate(over="ignore", invalid="ignore"):
        uh, ul = _two_product(a, b)
        th, tl = _two_sum(c, uh)
        result = th + _round_to_odd_sum(tl, ul)
    plain = a * b + c  # (infinities, NaN and overflow: the splits do not hold there)
    return np.where(np.isfinite(result) & np.isfinite(uh), result, plain)


def _fma_to_float32(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``a * b + c`` for float32 operands, rounded once to float32: the product is exact in
    float64, the sum rounded to odd there, so the rounding to float32 is the only one that
    counts (53 >= 24 + 2 bits)."""
    product = a.astype(np.float64) * b.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        exact = _round_to_odd_sum(c.astype(np.float64), product)
    plain = product + c.astype(np.float64)
    return np.where(np.isfinite(exact), exact, plain).astype(np.float32)


def linspace_values(start: float, end: float, steps: int, dtype: np.dtype) -> np.ndarray:
    """``torch.linspace(start, end, steps)`` in the float ``dtype`` (float16, bfloat16,
    float32, float64), or in float64 before an integer dtype truncates it (``start`` and
    ``end`` then integers already)."""
    integer = dtype.kind in "iu"
    work = np.dtype(np.float64) if integer else dtype
    if steps == 0:
        return np.empty(0, dtype=work)
    first, last = work.type(start), work.type(end)
    if steps == 1:
        return np.full(1, first, dtype=work)
    index = np.arange(steps)
    from_start = index < steps // 2
    count = np.where(from_start, index, steps - 1 - index)  # steps from the nearer end
    with np.errstate(over="ignore", invalid="ignore"):
        if integer:  # (PyTorch: the difference of the ends, both as doubles, divided)
            step = (float(end) - float(start)) / (steps - 1)
        else:
            step = (last - first) / work.type(steps - 1)
        signed = np.where(from_start, step, -step).astype(work)
        base = np.where(from_start, first, last).astype(work)
        if work == np.float64:
            return fma(signed, count.astype(np.float64), base)
        if work == np.float32:
            return _fma_to_float32(signed, count.astype(np.float32), base)
        # float16 and bfloat16: each operation rounds (the index converted first)
        return (base + signed * count.astype(work)).astype(work)
