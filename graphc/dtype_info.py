"""``graphc.finfo`` and ``graphc.iinfo``: the limits of a dtype, as ``torch.finfo``/``iinfo``.

    >>> import graphc
    >>> graphc.finfo(graphc.float16).eps, graphc.finfo(graphc.bfloat16).eps
    (0.0009765625, 0.0078125)
    >>> graphc.iinfo(graphc.uint8).max, graphc.iinfo(graphc.int8).min
    (255, -128)

Also PyTorch's dtype questions, answered by the promotion binary ops use (``ir.dtypes``):
``graphc.promote_types``, ``graphc.result_type`` and ``graphc.can_cast``.

    >>> graphc.result_type(graphc.ones(2, dtype=graphc.int32), 2.5) == graphc.float32
    True
    >>> graphc.promote_types(graphc.uint8, graphc.int8) == graphc.int16
    True
    >>> graphc.can_cast(graphc.float32, graphc.int64)
    False
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


def promote_types(type1, type2) -> dtypes.DType:
    """The smallest dtype both ``type1`` and ``type2`` convert to without losing their category
    (``torch.promote_types``): bool < integers < floats, then the type that holds both."""
    return dtypes.promote(_as_dtype(type1), _as_dtype(type2))


def can_cast(from_, to) -> bool:
    """Whether PyTorch's casting rules allow ``from_`` into ``to`` (``torch.can_cast``): never
    into a lower category (a float into an integer, an integer into bool)."""
    return dtypes.can_cast(_as_dtype(from_), _as_dtype(to))


def result_type(tensor1, tensor2) -> dtypes.DType:
    """The dtype an arithmetic op on ``tensor1`` and ``tensor2`` gives (``torch.result_type``):
    each is a tensor or a Python number; dimensioned tensors outrank 0-d tensors, which outrank
    Python numbers, unless the lower-ranked operand is of a higher category (bool < integer <
    float). The same rules as ``a + b``."""
    from graphc.functions import scalar_dtype
    from graphc.tensor import Tensor
    tensors = [x for x in (tensor1, tensor2) if isinstance(x, Tensor)]
    operands = []
    for name, x in (("tensor1", tensor1), ("tensor2", tensor2)):
        if isinstance(x, Tensor):
            operands.append((x.dtype, x.ndim))
        elif not isinstance(x, (bool, int, float)):
            raise TypeError(f"result_type(): {name} must be a Tensor or a Python number, got "
                            f"{type(x).__name__}")
        elif tensors:
            # a number takes its tensor's dtype unless of a higher category, then ranks as 0-d
            operands.append((scalar_dtype(x, tensors[0].dtype), 0))
        else:  # two numbers: each takes its own default dtype
            operands.append((scalar_dtype(x, dtypes.bool_), 0))
    return dtypes.result_type(*operands)


def _as_dtype(dtype) -> dtypes.DType:
    from graphc.factories import as_dtype  # factories imports the tensor machinery
    return as_dtype(dtype)
