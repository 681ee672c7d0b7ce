"""``graphc.finfo`` and ``graphc.iinfo``: the limits of a dtype, as ``torch.finfo``/``iinfo``.

    >>> import graphc
    >>> graphc.finfo(graphc.float16).eps, graphc.finfo(graphc.bfloat16).eps
    (0.0009765625, 0.0078125)
    >>> graphc.iinfo(graphc.uint8).max, graphc.iinfo(graphc.int8).min
    (255, -128)
"""
from __future__ import annotations

import numpy as np

from ir import dtypes


class finfo:  # noqa: N801  (named as torch.finfo)
    """Limits of a float dtype (default: the default float dtype, f32)."""

    def __init__(self, dtype=None):
        dtype = _as_dtype(dtype if dtype is not None else dtypes.DEFAULT_FLOAT)
        if not dtype.is_float:
            raise TypeError(f"finfo: {dtype} is not a floating point dtype; use iinfo")
        info = dtypes.finfo(dtype)
        self.dtype, self.bits = dtype, dtype.bits
        self.eps, self.max, self.min = float(info.eps), float(info.max), float(info.min)
        self.tiny = self.smallest_normal = float(info.tiny)
        self.resolution = 10.0 ** -int(info.precision)

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution}, min={self.min}, max={self.max}, "
                f"eps={self.eps}, tiny={self.tiny}, dtype={self.dtype})")


class iinfo:  # noqa: N801  (named as torch.iinfo)
    """Limits of an integer dtype."""

    def __init__(self, dtype):
        dtype = _as_dtype(dtype)
        if not dtype.is_int:
            raise TypeError(f"iinfo: {dtype} is not an integer dtype; use finfo")
        info = np.iinfo(dtype.numpy)
        self.dtype, self.bits, self.min, self.max = dtype, dtype.bits, int(info.min), int(info.max)

    def __repr__(self) -> str:
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"


def _as_dtype(dtype) -> dtypes.DType:
    from graphc.factories import as_dtype  # factories imports the tensor machinery
    return as_dtype(dtype)
