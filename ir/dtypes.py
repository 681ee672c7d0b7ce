"""Element types of the IR and PyTorch-style type promotion.

The IR knows five dtypes, named as they print in IR text::

    >>> from ir.dtypes import f32, i64, promote
    >>> promote(f32, i64).name
    'f32'
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DType:
    """One element type: its IR name, its NumPy equivalent and its promotion rank."""

    name: str
    numpy: np.dtype
    rank: int  # promotion order: bool < i32 < i64 < f32 < f64

    @property
    def is_float(self) -> bool:
        return self.name in ("f32", "f64")

    @property
    def is_int(self) -> bool:
        return self.name in ("i32", "i64")

    @property
    def is_bool(self) -> bool:
        return self.name == "bool"

    def __repr__(self) -> str:
        return self.name

    def __str__(self) -> str:
        return self.name


bool_ = DType("bool", np.dtype(np.bool_), 0)
i32 = DType("i32", np.dtype(np.int32), 1)
i64 = DType("i64", np.dtype(np.int64), 2)
f32 = DType("f32", np.dtype(np.float32), 3)
f64 = DType("f64", np.dtype(np.float64), 4)

ALL: tuple[DType, ...] = (bool_, i32, i64, f32, f64)
BY_NAME: dict[str, DType] = {d.name: d for d in ALL}
_BY_NUMPY: dict[np.dtype, DType] = {d.numpy: d for d in ALL}

DEFAULT_FLOAT = f32
DEFAULT_INT = i64


def from_numpy(dtype) -> DType:
    """The IR dtype of a NumPy dtype; float16 and unsigned types are rejected with a clear error."""
    np_dtype = np.dtype(dtype)
    if np_dtype in _BY_NUMPY:
        return _BY_NUMPY[np_dtype]
    raise TypeError(
        f"unsupported dtype {np_dtype}; graphc supports {', '.join(d.name for d in ALL)}"
    )


def promote(*dtypes: DType) -> DType:
    """PyTorch-style promotion: the highest category wins, and the wider type within it."""
    return max(dtypes, key=lambda d: d.rank)


def _category(dtype: DType) -> int:
    return 0 if dtype.is_bool else 1 if dtype.is_int else 2


def result_type(*operands: tuple[DType, int]) -> DType:
    """The dtype of an elementwise op on tensors given as (dtype, rank), as PyTorch decides it.

    Dimensioned tensors promote among themselves; a 0-d tensor only matters when it is of a
    higher category (bool < integer < float) than all of them, so ``f32[n] + f64[]`` is f32
    but ``i64[n] + f32[]`` is f32 too.

        >>> result_type((f32, 1), (f64, 0)).name, result_type((i32, 2), (f32, 0)).name
        ('f32', 'f32')
    """
    dimensioned = [d for d, ndim in operands if ndim > 0]
    zero_dim = [d for d, ndim in operands if ndim == 0]
    if not dimensioned:
        return promote(*zero_dim)
    result = promote(*dimensioned)
    higher = [d for d in zero_dim if _category(d) > _category(result)]
    if higher:
        top = max(_category(d) for d in higher)
        return promote(*(d for d in higher if _category(d) == top))
    return result


def to_float(dtype: DType) -> DType:
    """The dtype a float-valued op (exp, div, mean, ...) computes in: floats stay, others f32."""
    return dtype if dtype.is_float else DEFAULT_FLOAT
