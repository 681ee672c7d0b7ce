"""Source ops: ``const`` and counter-based random numbers.

``const {value, dtype, shape}``: ``value`` is a number (the tensor is filled with it) or a nested
list of the given shape. A zero-size tensor's list stops at its first empty level: ``[]`` for
shape ``[0,3]``, ``[[],[]]`` for ``[2,0,3]``. Every number must fit ``dtype``: ints in its
range (floats for an int dtype are truncated, so they must be finite and in range too),
``bool`` takes true, false, 0 or 1, and float dtypes take any number a float64 can hold.

``random_uniform(%seed) {shape, dtype, low, high, stream}`` and
``random_normal(%seed) {shape, dtype, mean, std, stream}`` take an i64[] seed operand and a
``stream`` number in ``[0, 2**63)``; ``low <= high``, ``mean`` and ``std >= 0`` are finite
(as PyTorch's ``uniform_`` and ``normal_`` demand). Element
``i`` is a pure function of (seed, stream, i) (a SplitMix64 hash), so every backend can
reproduce the same numbers, and a compiled function that receives a fresh seed each call draws
fresh numbers each call (dropout) while staying reproducible under ``graphc.manual_seed``.
"""
from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Optional

import numpy as np

from ir import dtypes
from ir.errors import ShapeError
from ir.registry import Attr, OpDef, register
from ir.types import TensorType

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


STREAM_LIMIT = 2**63  # random ops' `stream` is in [0, STREAM_LIMIT)


def _nested_shape(value):
    """The shape of a nested list, read along its first items (it stops at an empty list)."""
    shape = []
    while isinstance(value, (list, tuple)):
        shape.append(len(value))
        value = value[0] if value else None
    return shape


def _is_rectangular(value, shape) -> bool:
    """Whether every list in ``value`` at depth k has ``shape[k]`` items, numbers at the end."""
    if not shape:
        return not isinstance(value, (list, tuple))
    return (isinstance(value, (list, tuple)) and len(value) == shape[0]
            and all(_is_rectangular(item, shape[1:]) for item in value))


def _numbers(value):
    """The numbers in a nested list (or the number itself), in order."""
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _numbers(item)
    else:
        yield value


def _misfit(x, dtype: dtypes.DType) -> Optional[str]:
    """Why the number ``x`` cannot be stored in ``dtype``, or None if it can."""
    if isinstance(x, (bool, np.bool_)):
        return None  # true/false are 1/0 in every dtype
    if dtype.is_bool:
        # 0.0 and 1.0 too: `zeros(..., dtype=bool)` fills with 0.0
        return None if x in (0, 1) else "bool takes true, false, 0 or 1"
    if dtype.is_int:
        info = np.iinfo(dtype.numpy)
        if not isinstance(x, Integral):
            if not math.isfinite(x):
                return f"{dtype} has no {x}"
            x = math.trunc(x)  # floats are truncated, as NumPy and PyTorch do
        if not info.min <= x <= info.max:
            return f"{dtype} holds {info.min}..{info.max}"
        return None
    try:
        float(x)  # float dtypes take any float; an int beyond float64's range has no value
    except OverflowError:
        return "it is beyond the range of a float64"
    return None


def _show_number(x) -> str:
    if isinstance(x, Integral) and not isinstance(x, (bool, np.bool_)) and abs(int(x)) >= 10**40:
        return f"an integer of {int(x).bit_length()} bits"  # long ints print slowly, or not at all
    return repr(x)


def _const_type(types, attrs):
    dtype, shape, value = attrs["dtype"], attrs["shape"], attrs["value"]
    if not isinstance(dtype, dtypes.DType):
        raise ShapeError(f"const: dtype must be a dtype, got {dtype!r}")
    if isinstance(value, (list, tuple)):
        nested, declared = _nested_shape(value), list(shape)
        if not _is_rectangular(value, nested):  # NumPy cannot build an array from it
            raise ShapeError("const: value is a ragged nested list (rows of different lengths, "
                             "or numbers mixed with lists)")
        if 0 in nested:  # zero-size: the list stops at the first 0, the shape may go on
            declared = declared[:len(nested)]
        if nested != declared:
            raise ShapeError(f"const: value has shape {nested}, "
                             f"but the declared shape is {list(shape)}")
    for x in _numbers(value):
        check_const_number(x, dtype)
    return TensorType(dtype, shape)


def check_const_number(x, dtype: dtypes.DType) -> None:
    """Raises ShapeError unless ``x`` is a number ``const`` can store in ``dtype``: the check
    the ``const`` type rule makes of each of its numbers (eager mode makes it of a Python
    number combined with a tensor, which it wraps without the op: ``graphc.functions``).

        >>> check_const_number(300, dtypes.u8)
        Traceback (most recent call last):
        ir.errors.ShapeError: const: value 300 does not fit dtype u8 (u8 holds 0..255)
    """
    if type(x) is float and dtype.is_float:  # (the commonest case, x * 0.5: always fits)
        return
    if not isinstance(x, (Real, bool, np.bool_)):
        raise ShapeError(f"const: value must be a number or a nested list, got {x!r}")
    reason = _misfit(x, dtype)
    if reason:
        raise ShapeError(f"const: value {_show_number(x)} does not fit dtype {dtype} "
                         f"({reason})")


def _const_ref(value, dtype, shape):
    if isinstance(value, (list, tuple)):
        return np.array(value, dtype=dtype.numpy).reshape(shape)
    return dtypes.filled(shape, value, dtype)


register(OpDef("const", "source", 0, _const_type, _const_ref,
               attrs=(Attr("value", "value"), Attr("dtype", "dtype"), Attr("shape", "ints"))))


def splitmix64(z: np.ndarray) -> np.ndarray:
    """The SplitMix64 finalizer on uint64 arrays (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def random_bits(seed: int, stream: int, count: int) -> np.ndarray:
    """``count`` pseudo-random uint64 words for (seed, stream): word i depends only on i."""
    with np.errstate(over="ignore"):
        # +1 on stream and counter: SplitMix64(0) is 0, so neither seed 0 nor element 0 may hash 0
        key = splitmix64(np.array([np.int64(seed).astype(np.uint64)
                                   + (np.uint64(stream) + np.uint64(1)) * _GOLDEN],
                                  dtype=np.uint64))[0]
        counters = (np.arange(count, dtype=np.uint64) + np.uint64(1)) * _GOLDEN + key
    return splitmix64(counters)


def uniform01(bits: np.ndarray) -> np.ndarray:
    """Doubles in [0, 1) from the top 53 bits."""
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def _random_type(types, attrs):
    (seed,) = types
    if seed.dtype != dtypes.i64 or seed.shape != ():
        raise ShapeError(f"random ops take an i64[] seed operand, got {seed}")
    if not attrs["dtype"].is_float:
        raise ShapeError(f"random ops produce floats, got dtype {attrs['dtype']}")
    if not 0 <= attrs["stream"] < STREAM_LIMIT:
        raise ShapeError(f"random ops need 0 <= stream < 2**63, got stream={attrs['stream']}")
    return TensorType(attrs["dtype"], attrs["shape"])


def _finite(op: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ShapeError(f"{op}: attribute {name} must be a finite number, got {value!r}")
    return float(value)


def _uniform_type(types, attrs):
    low = _finite("random_uniform", "low", attrs["low"])
    high = _finite("random_uniform", "high", attrs["high"])
    if low > high:
        raise ShapeError(f"random_uniform: expects a [low, high) range, but found "
                         f"low={low} > high={high}")
    return _random_type(types, attrs)


def _normal_type(types, attrs):
    _finite("random_normal", "mean", attrs["mean"])
    if _finite("random_normal", "std", attrs["std"]) < 0:
        raise ShapeError(f"random_normal: expects std >= 0, got std={attrs['std']}")
    return _random_type(types, attrs)


def _uniform_ref(seed, shape, dtype, low, high, stream):
    n = math.prod(shape)  # a Python int: np.prod would wrap around
    u = uniform01(random_bits(int(seed), stream, n))
    out = (low + (high - low) * u).astype(dtype.numpy)
    if high > low:
        # rounding (to f32 above all) can land exactly on `high`; keep the promised [low, high)
        below = np.nextafter(dtype.numpy.type(high), dtype.numpy.type(low))
        out = np.minimum(out, below)
    return out.reshape(shape)


def _normal_ref(seed, shape, dtype, mean, std, stream):
    n = math.prod(shape)  # a Python int: np.prod would wrap around
    bits = random_bits(int(seed), stream, 2 * n)
    u1, u2 = uniform01(bits[0::2]), uniform01(bits[1::2])
    z = np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)  # Box-Muller; 1-u1 > 0
    return (mean + std * z).astype(dtype.numpy).reshape(shape)


_RANDOM_COMMON = (Attr("shape", "ints"), Attr("dtype", "dtype", dtypes.f32, required=False))
register(OpDef("random_uniform", "source", 1, _uniform_type, _uniform_ref,
               attrs=_RANDOM_COMMON + (Attr("low", "float", 0.0, required=False),
                                       Attr("high", "float", 1.0, required=False),
                                       Attr("stream", "int", 0, required=False))))
register(OpDef("random_normal", "source", 1, _normal_type, _normal_ref,
               attrs=_RANDOM_COMMON + (Attr("mean", "float", 0.0, required=False),
                                       Attr("std", "float", 1.0, required=False),
                                       Attr("stream", "int", 0, required=False))))
