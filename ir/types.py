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

import numpy as np

from ir.dtypes import DType
from ir.errors import AxisError, DimTypeError, ShapeError

Shape = tuple[int, ...]
_new_object, _set_attr = object.__new__, object.__setattr__


@dataclass(frozen=True)
class TensorType:
    """The static type of an IR value: element dtype and a fully known shape."""

    dtype: DType
    shape: Shape

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        if any(d < 0 for d in self.shape):
            raise ShapeError(f"negative dimension in shape {list(self.shape)}")

    @classmethod
    def of_array(cls, dtype: DType, shape: Shape) -> TensorType:
        """The type of an array of ``dtype`` with NumPy shape ``shape``: without the checks of
        the constructor, which a NumPy shape (a tuple of non-negative Python ints) passes
        already. Eager mode asks for its operands' types at every op.

            >>> import numpy as np
            >>> from ir.dtypes import f32
            >>> TensorType.of_array(f32, np.zeros((2, 3)).shape) == TensorType(f32, (2, 3))
            True
        """
        t = _new_object(cls)
        _set_attr(t, "dtype", dtype)
        _set_attr(t, "shape", shape)
        return t

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def with_shape(self, shape) -> TensorType:
        return TensorType(self.dtype, tuple(shape))

    def with_dtype(self, dtype: DType) -> TensorType:
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


def broadcasts_to(shape: Shape, target: Shape) -> bool:
    """Whether ``shape`` broadcasts to exactly ``target`` (``np.broadcast_to`` would accept it).

    >>> broadcasts_to((3, 1), (2, 3, 4)), broadcasts_to((3,), (1,))
    (True, False)
    """
    if len(shape) > len(target):
        return False
    return all(s in (1, t) for s, t in zip(reversed(shape), reversed(target)))


def normalize_axis(axis: int, ndim: int) -> int:
    """Turns a possibly negative axis into 0..ndim-1, or raises AxisError.

    This is the IR's strict reading: an axis must exist, so a 0-d tensor has none (an IR
    ``sum {axes=[0]}`` of an ``f32[]`` value is an error, not a no-op).

        >>> normalize_axis(-1, 3)
        2
    """
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise AxisError(f"axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        if ndim == 0:
            raise AxisError(f"axis {axis} is out of range for a tensor of rank 0 (it has no axes)")
        raise AxisError(f"axis {axis} is out of range for a tensor of rank {ndim} "
                        f"(expected one in [{-ndim}, {ndim - 1}])")
    return int(axis) % ndim


def wrap_dim(dim: int, ndim: int) -> int:
    """A user's ``dim`` argument read as PyTorch reads it: negative dims count from the end,
    and a 0-d tensor accepts 0 and -1, which name the scalar itself (the result is then 0).

    The front end decides what an op over "the scalar's own dim" means (a reduction over it is
    the identity); the IR never sees such an axis.

        >>> wrap_dim(-1, 3), wrap_dim(-1, 0), wrap_dim(0, 0)
        (2, 0, 0)
    """
    if type(dim) is int and -ndim <= dim < ndim:  # (the common case, quickly; bool is not int)
        return dim % ndim
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise DimTypeError(f"dim must be an int, got {type(dim).__name__} {dim!r}")
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise AxisError(f"dim {dim} is out of range for a tensor of rank {ndim} "
                        f"(expected one in [{-n}, {n - 1}])")
    return int(dim) % n
