"""Tensor types (dtype + static shape) and NumPy broadcasting over them.

    >>> from ir.types import TensorType, broadcast_shapes
    >>> from ir.dtypes import f32
    >>> str(TensorType(f32, (32, 784)))
    'f32[32,784]'
    >>> broadcast_shapes((32, 1), (10,))
    (32, 10)
"""
from __future__ import annotations

from dataclasses import dataclass

from ir.dtypes import DType
from ir.errors import ShapeError

Shape = tuple[int, ...]


@dataclass(frozen=True)
class TensorType:
    """The static type of an IR value: element dtype and a fully known shape."""

    dtype: DType
    shape: Shape

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        if any(d < 0 for d in self.shape):
            raise ShapeError(f"negative dimension in shape {list(self.shape)}")

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def with_shape(self, shape) -> "TensorType":
        return TensorType(self.dtype, tuple(shape))

    def with_dtype(self, dtype: DType) -> "TensorType":
        return TensorType(dtype, self.shape)

    def __str__(self) -> str:
        return f"{self.dtype.name}[{','.join(str(d) for d in self.shape)}]"

    __repr__ = __str__


def broadcast_shapes(*shapes: Shape) -> Shape:
    """NumPy broadcasting of several shapes; raises ShapeError naming both shapes on a mismatch."""
    ndim = max((len(s) for s in shapes), default=0)
    result = []
    for axis in range(-ndim, 0):
        size = 1
        for shape in shapes:
            if -axis > len(shape):
                continue
            d = shape[axis]
            if d == 1:
                continue
            if size not in (1, d):
                raise ShapeError(
                    "shapes " + " and ".join(str(list(s)) for s in shapes)
                    + f" cannot be broadcast together (axis {axis}: {size} vs {d})"
                )
            size = d
        result.append(size)
    return tuple(result)


def normalize_axis(axis: int, ndim: int) -> int:
    """Turns a possibly negative axis into 0..ndim-1, or raises ShapeError."""
    if not -ndim <= axis < max(ndim, 1):
        raise ShapeError(f"axis {axis} is out of range for a tensor of rank {ndim}")
    return axis % ndim if ndim else 0
