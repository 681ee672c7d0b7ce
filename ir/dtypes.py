"""Element types of the IR and PyTorch-style type promotion.

The IR knows ten dtypes, named as they print in IR text (bool u8 i8 i16 i32 i64 f16 bf16 f32
f64; NumPy has no bfloat16, ``ml_dtypes`` provides it)::

    >>> from ir.dtypes import f32, i64, promote
    >>> promote(f32, i64).name
    'f32'
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import ml_dtypes
import numpy as np


@dataclass(frozen=True)
class DType:
    """One element type: its IR name, its NumPy equivalent and its kind.

    ``kind`` is ``"bool"``, ``"int"`` (signed), ``"uint"`` or ``"float"``; ``rank`` only orders
    dtypes for display (bool, the integers, then the floats, narrow before wide). Promotion is
    :func:`promote`, not a comparison of ranks: ``u8`` and ``i8`` promote to ``i16``.
    """

    name: str
    numpy: np.dtype
    rank: int
    kind: str

    @property
    def is_float(self) -> bool:
        return self.kind == "float"

    @property
    def is_int(self) -> bool:
        """Signed or unsigned integer (not bool)."""
        return self.kind in ("int", "uint")

    @property
    def is_unsigned(self) -> bool:
        return self.kind == "uint"

    @property
    def is_bool(self) -> bool:
        return self.kind == "bool"

    # PyTorch's dtype attributes (``torch.float32.is_floating_point``, ...)
    @property
    def is_floating_point(self) -> bool:
        return self.kind == "float"

    @property
    def is_complex(self) -> bool:
        """Always False: the IR has no complex dtypes."""
        return False

    @property
    def is_signed(self) -> bool:
        """True for the signed integers and the floats; False for bool and u8 (as PyTorch)."""
        return self.kind in ("int", "float")

    @property
    def itemsize(self) -> int:
        """Bytes per element."""
        return self.numpy.itemsize

    def to_real(self) -> DType:
        """The real dtype of the same precision: the dtype itself, the IR having no complex
        dtypes (``torch.float32.to_real()`` is ``torch.float32``)."""
        return self

    @property
    def bits(self) -> int:
        return self.numpy.itemsize * 8

    @property
    def is_low_precision_float(self) -> bool:
        """f16 and bf16: each op computes in f32 and rounds its result to them, as PyTorch's CPU."""
        return self.is_float and self.bits == 16

    def __eq__(self, other) -> bool:
        # (the dataclass's comparison, field by field, took 0.7 us, and eager mode compares
        # dtypes at every op: the ten dtypes are single objects, so identity answers at once)
        if self is other:
            return True
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (self.name == other.name and self.numpy == other.numpy and self.rank == other.rank
                and self.kind == other.kind)

    def __hash__(self) -> int:
        # equal dtypes have equal names; hashing the NumPy dtype too would only be slower
        # (type-rule results are looked up by their operands' types at every eager op)
        return hash(self.name)

    def __repr__(self) -> str:
        return self.name

    def __str__(self) -> str:
        return self.name


bool_ = DType("bool", np.dtype(np.bool_), 0, "bool")
u8 = DType("u8", np.dtype(np.uint8), 1, "uint")
i8 = DType("i8", np.dtype(np.int8), 2, "int")
i16 = DType("i16", np.dtype(np.int16), 3, "int")
i32 = DType("i32", np.dtype(np.int32), 4, "int")
i64 = DType("i64", np.dtype(np.int64), 5, "int")
f16 = DType("f16", np.dtype(np.float16), 6, "float")
bf16 = DType("bf16", np.dtype(ml_dtypes.bfloat16), 7, "float")
f32 = DType("f32", np.dtype(np.float32), 8, "float")
f64 = DType("f64", np.dtype(np.float64), 9, "float")

ALL: tuple[DType, ...] = (bool_, u8, i8, i16, i32, i64, f16, bf16, f32, f64)
BY_NAME: dict[str, DType] = {d.name: d for d in ALL}
_BY_NUMPY: dict[np.dtype, DType] = {d.numpy: d for d in ALL}

DEFAULT_FLOAT = f32
DEFAULT_INT = i64


def from_numpy(dtype) -> DType:
    """The IR dtype of a NumPy dtype (``ml_dtypes.bfloat16`` is bf16); others are rejected.

        >>> from_numpy(np.uint8).name, from_numpy(ml_dtypes.bfloat16).name
        ('u8', 'bf16')
    """
    try:
        return _BY_NUMPY[dtype]  # an array's dtype, the common case, at once
    except (KeyError, TypeError):  # (a type, a string, something unhashable: converted first)
        pass
    np_dtype = np.dtype(dtype)
    if np_dtype in _BY_NUMPY:
        return _BY_NUMPY[np_dtype]
    if not np_dtype.isnative and np_dtype.newbyteorder("=") in _BY_NUMPY:
        raise TypeError(f"unsupported dtype {np_dtype.str}: its byte order is not this "
                        f"machine's; convert with array.astype('{np_dtype.newbyteorder('=')}')")
    raise TypeError(
        f"unsupported dtype {np_dtype}; graphc supports {', '.join(d.name for d in ALL)}"
    )


def finfo(dtype: DType):
    """Limits of a float dtype (``ml_dtypes.finfo``: NumPy's own has no bfloat16).

        >>> float(finfo(bf16).max) > 3e38, float(finfo(f16).max)
        (True, 65504.0)
    """
    return ml_dtypes.finfo(dtype.numpy)


def convert(array: np.ndarray, dtype: DType) -> np.ndarray:
    """``array`` converted to ``dtype`` as the ``cast`` op defines it: NumPy's ``astype``,
    except that a float becomes an 8- or 16-bit integer through i64 (truncated, then wrapped
    around: -1.5 -> u8 255, 300.7 -> u8 44, as PyTorch's CPU), where C leaves it undefined, and
    anything but f32 becomes bf16 through f32 (PyTorch's rounding, whatever ml_dtypes does).

        >>> convert(np.array([-1.5, 300.7], np.float32), u8).tolist()
        [255, 44]
    """
    if array.dtype.kind == "f" or array.dtype == bf16.numpy:
        if dtype.is_int and dtype.bits < 32:
            return array.astype(np.int64).astype(dtype.numpy)
    return _through_f32_to_bf16(array, dtype).astype(dtype.numpy)


def asarray(array, dtype: DType) -> np.ndarray:
    """``np.asarray(array, dtype.numpy)`` (no copy when it has that dtype already), except that
    anything but f32 becomes bf16 through f32, as in :func:`convert`.

        >>> float(asarray([1 + 2**-8 + 2**-30], bf16)[0])
        1.0
    """
    return np.asarray(_through_f32_to_bf16(np.asarray(array), dtype), dtype.numpy)


def _through_f32_to_bf16(array: np.ndarray, dtype: DType) -> np.ndarray:
    """``array`` as f32 when it is to become bf16 and is not f32 or bf16 already: PyTorch (and
    the kernels) convert to bf16 through f32, so f64 1 + 2**-8 + 2**-30, a tie in f32, is bf16
    1.0. ml_dtypes 0.7 rounds f64 to bf16 in one step (1.0078125); 0.6 went through f32."""
    if dtype == bf16 and array.dtype not in (np.float32, bf16.numpy):
        return array.astype(np.float32)
    return array


def _promote_pair(a: DType, b: DType) -> DType:
    if a == b:
        return a
    if _category(a) != _category(b):
        return a if _category(a) > _category(b) else b
    wide, narrow = (a, b) if a.bits >= b.bits else (b, a)
    if a.is_float:
        # f16 and bf16 hold different ranges and precisions: neither holds the other, f32 both
        return f32 if wide.bits == narrow.bits else wide
    if a.kind == b.kind or (wide.kind == "int" and wide.bits > narrow.bits):
        return wide
    # an unsigned type and a signed one no wider than it: the next wider signed type
    return {8: i16, 16: i32, 32: i64}.get(wide.bits, i64)


def promote(*dtypes: DType) -> DType:
    """PyTorch's promotion lattice (``torch.promote_types``): the highest category wins
    (bool < integer < float), then the type that holds both.

        >>> promote(u8, i8).name, promote(f16, bf16).name, promote(bool_, u8).name
        ('i16', 'f32', 'u8')
    """
    result = dtypes[0]
    for d in dtypes[1:]:
        result = _promote_pair(result, d)
    return result


def _category(dtype: DType) -> int:
    return 0 if dtype.is_bool else 1 if dtype.is_int else 2


def filled(shape, value, dtype: DType) -> np.ndarray:
    """``np.full(shape, value)`` in ``dtype``; a Python int beyond int64 filling a float dtype
    goes through float first (ml_dtypes' bfloat16 refuses such ints, NumPy's floats take them).

        >>> filled((2,), 2**70, bf16).astype(np.float32).tolist() == [2.0**70, 2.0**70]
        True
    """
    if dtype.is_float and isinstance(value, int) and not -2**63 <= value < 2**63:
        value = float(value) if abs(value) < 2**1024 else math.copysign(math.inf, value)
    # (np.full's own steps, without its Python wrapper: this makes every Python number an eager
    # op meets)
    array = np.empty(shape, dtype.numpy)
    np.copyto(array, value, casting="unsafe")
    return array


def can_cast(source: DType, target: DType) -> bool:
    """Whether an in-place op may store a ``source`` result in a ``target`` tensor, as
    ``torch.can_cast``: not into a lower category (float into an integer, an integer into
    bool); narrowing within one is allowed (``f32_tensor.add_(f64_tensor)``).

        >>> can_cast(f64, f32), can_cast(f32, i64), can_cast(i64, bool_)
        (True, False, False)
    """
    return _category(source) <= _category(target)


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
