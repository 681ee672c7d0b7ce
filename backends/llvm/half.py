"""float16 and bfloat16 in LLVM IR: stored as 16 bits, computed in float32 (PyTorch's CPU
"opmath" type for them), rounded to nearest even when a result is stored.

f16 is LLVM's ``half`` in registers and in memory (``fpext``/``fptrunc`` to float32 are
single F16C instructions on x86). bf16 is its bits, an ``i16``: llvmlite has no ``bfloat``
type, and the conversions are integer operations that vectorize anyway:

- to float32: the 16 bits are the top half of the float32's (``zext``, ``shl 16``, bitcast);
- from float32: round to nearest even by adding ``0x7fff`` plus the lowest kept bit, then
  keeping the top 16 bits (a carry into the exponent rounds up to the next binade or to
  infinity, as it should); a NaN becomes the quiet NaN ``0x7fc0`` with its sign, as
  ``ml_dtypes`` (the interpreter's bfloat16) converts it, since the addition could carry a NaN
  with a low payload into infinity.

Conversions from float64 follow the interpreter's: to f16 NumPy rounds once, correctly, which
float64 -> float32 -> f16 would not (two roundings), so the float32 step rounds *to odd*
(truncate, then set the lowest bit if anything was dropped): with 24 bits against f16's 11,
the second rounding is then the correct one. To bf16, ``ml_dtypes`` (like PyTorch's
``c10::BFloat16``) goes through float32, rounding twice; so does this.

    >>> from llvmlite import ir
    >>> module = ir.Module()
    >>> fn = ir.Function(module, ir.FunctionType(ir.IntType(16), [ir.FloatType()]), "f")
    >>> b = ir.IRBuilder(fn.append_basic_block())
    >>> _ = b.ret(from_f32(b, fn.args[0], BF16))
    >>> "lshr i32" in str(module)
    True
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir  # type: ignore[import-untyped]

from ir.dtypes import DType, bf16, f16

F16, BF16 = f16, bf16
FLOAT, DOUBLE = ir.FloatType(), ir.DoubleType()
I16, I32, I64 = ir.IntType(16), ir.IntType(32), ir.IntType(64)
TYPES = {"f16": ir.HalfType(), "bf16": I16}  # the register (and memory) type of each


def is_half(dtype: DType) -> bool:
    """f16 or bf16: the dtypes this module converts."""
    return dtype.is_low_precision_float


# scalar primitives that move f16/bf16 values without computing on them (``cast`` converts)
MOVES_HALVES = frozenset(("var", "const", "cast", "select"))


def computes_in_f32(expr) -> bool:
    """Whether scalar ``expr`` computes on f16/bf16 operands or to an f16/bf16 result: code
    generators then compute it in f32 and round its result (here and in the numba renderer)."""
    return expr.op not in MOVES_HALVES and (is_half(expr.dtype) or
                                            any(is_half(a.dtype) for a in expr.args))


def constant(value, dtype: DType) -> ir.Constant:
    """An f16 or bf16 constant (NaN, infinities and -0.0 included), in its register type."""
    if dtype == F16:
        return ir.Constant(TYPES["f16"], float(value))
    bits = np.asarray(value, dtype=bf16.numpy).reshape(1).view(np.uint16)[0]
    return ir.Constant(I16, int(bits) - (1 << 16 if bits >= 1 << 15 else 0))


def to_f32(b: ir.IRBuilder, x: ir.Value, dtype: DType) -> ir.Value:
    """The float32 holding exactly the f16 or bf16 value ``x``."""
    if dtype == F16:
        return b.fpext(x, FLOAT)
    return b.bitcast(b.shl(b.zext(x, I32), ir.Constant(I32, 16)), FLOAT)


def from_f32(b: ir.IRBuilder, x: ir.Value, dtype: DType) -> ir.Value:
    """The float32 ``x`` rounded to nearest even in f16 or bf16 (NaN stays NaN)."""
    if dtype == F16:
        return b.fptrunc(x, TYPES["f16"])
    bits = b.bitcast(x, I32)
    lowest_kept = b.and_(b.lshr(bits, ir.Constant(I32, 16)), ir.Constant(I32, 1))
    rounded = b.add(bits, b.add(ir.Constant(I32, 0x7FFF), lowest_kept))
    top = b.trunc(b.lshr(rounded, ir.Constant(I32, 16)), I16)
    sign = b.trunc(b.lshr(bits, ir.Constant(I32, 16)), I16)
    quiet_nan = b.or_(b.and_(sign, ir.Constant(I16, -0x8000)), ir.Constant(I16, 0x7FC0))
    return b.select(b.fcmp_unordered("uno", x, x), quiet_nan, top)


def from_f64(b: ir.IRBuilder, x: ir.Value, dtype: DType) -> ir.Value:
    """The float64 ``x`` in f16 (rounded once, as NumPy) or bf16 (through float32, as
    ``ml_dtypes``)."""
    nearest = b.fptrunc(x, FLOAT)
    if dtype != F16:
        return from_f32(b, nearest, dtype)
    # round to odd: truncate toward zero (one step back where rounding went up in magnitude,
    # infinity included), then make the last bit 1 where the conversion was inexact
    back = b.fpext(nearest, DOUBLE)
    went_up = b.fcmp_ordered(">", _fabs(b, back), _fabs(b, x))
    bits = b.bitcast(nearest, I32)
    truncated = b.select(went_up, b.sub(bits, ir.Constant(I32, 1)), bits)
    inexact = b.fcmp_ordered("!=", back, x)  # false for NaN: its bits stay
    odd = b.select(inexact, b.or_(truncated, ir.Constant(I32, 1)), truncated)
    return b.fptrunc(b.bitcast(odd, FLOAT), TYPES["f16"])


def _fabs(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    fn = b.module.declare_intrinsic("llvm.fabs", [x.type])
    return b.call(fn, [x])
