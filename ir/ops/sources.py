"""Source ops: ``const`` and counter-based random numbers.

``const {value, dtype, shape}``: ``value`` is a number (the tensor is filled with it) or a nested
list of the given shape.

``random_uniform(%seed) {shape, dtype, low, high, stream}`` and
``random_normal(%seed) {shape, dtype, mean, std, stream}`` take an i64[] seed operand. Element
``i`` is a pure function of (seed, stream, i) (a SplitMix64 hash), so every backend can
reproduce the same numbers, and a compiled function that receives a fresh seed each call draws
fresh numbers each call (dropout) while staying reproducible under ``graphc.manual_seed``.
"""
from __future__ import annotations

import numpy as np

from ir import dtypes
from ir.errors import ShapeError
from ir.registry import Attr, OpDef, register
from ir.types import TensorType

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _nested_shape(value):
    shape = []
    while isinstance(value, (list, tuple)):
        shape.append(len(value))
        value = value[0] if value else None
    return shape


def _const_type(types, attrs):
    dtype, shape, value = attrs["dtype"], attrs["shape"], attrs["value"]
    if not isinstance(dtype, dtypes.DType):
        raise ShapeError(f"const: dtype must be a dtype, got {dtype!r}")
    if isinstance(value, (list, tuple)):
        if _nested_shape(value) != list(shape):
            raise ShapeError(f"const: value has shape {_nested_shape(value)}, "
                             f"but the declared shape is {list(shape)}")
    elif not isinstance(value, (int, float, bool)):
        raise ShapeError(f"const: value must be a number or a nested list, got {value!r}")
    return TensorType(dtype, shape)


def _const_ref(value, dtype, shape):
    if isinstance(value, (list, tuple)):
        return np.array(value, dtype=dtype.numpy).reshape(shape)
    return np.full(shape, value, dtype=dtype.numpy)


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
    return TensorType(attrs["dtype"], attrs["shape"])


def _uniform_ref(seed, shape, dtype, low, high, stream):
    n = int(np.prod(shape, dtype=np.int64))
    u = uniform01(random_bits(int(seed), stream, n))
    out = (low + (high - low) * u).astype(dtype.numpy)
    if high > low:
        # rounding (to f32 above all) can land exactly on `high`; keep the promised [low, high)
        below = np.nextafter(dtype.numpy.type(high), dtype.numpy.type(low))
        out = np.minimum(out, below)
    return out.reshape(shape)


def _normal_ref(seed, shape, dtype, mean, std, stream):
    n = int(np.prod(shape, dtype=np.int64))
    bits = random_bits(int(seed), stream, 2 * n)
    u1, u2 = uniform01(bits[0::2]), uniform01(bits[1::2])
    z = np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)  # Box-Muller; 1-u1 > 0
    return (mean + std * z).astype(dtype.numpy).reshape(shape)


_RANDOM_COMMON = (Attr("shape", "ints"), Attr("dtype", "dtype", dtypes.f32, required=False))
register(OpDef("random_uniform", "source", 1, _random_type, _uniform_ref,
               attrs=_RANDOM_COMMON + (Attr("low", "float", 0.0, required=False),
                                       Attr("high", "float", 1.0, required=False),
                                       Attr("stream", "int", 0, required=False))))
register(OpDef("random_normal", "source", 1, _random_type, _normal_ref,
               attrs=_RANDOM_COMMON + (Attr("mean", "float", 0.0, required=False),
                                       Attr("std", "float", 1.0, required=False),
                                       Attr("stream", "int", 0, required=False))))
