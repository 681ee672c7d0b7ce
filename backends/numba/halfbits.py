"""float16 and bfloat16 for numba kernels: their bits as ``uint16``, converted to and from
float32 by numba intrinsics.

numba has no bfloat16 and no float16 arithmetic on the CPU, so the numba renderer passes f16
and bf16 arrays as ``uint16`` views, and a kernel holds their elements as those bits. Every
computation converts them to float32 exactly (``f16_to_f32``, ``bf16_to_f32``) and rounds its
result to nearest even (``f32_to_f16``, ``f32_to_bf16``; ``f64_to_f16`` rounds a float64 once,
as NumPy does): the same LLVM IR as the llvm backend's (:mod:`backends.llvm.half`), emitted
through numba's ``@intrinsic``.

    >>> import numpy as np
    >>> from numba import njit
    >>> round_trip = njit(lambda x: f16_to_f32(f32_to_f16(x)))
    >>> float(round_trip(np.float32(1 + 2**-11)))  # a tie: to even
    1.0
"""
from __future__ import annotations

from numba import types
from numba.extending import intrinsic

from backends.llvm import half
from ir.dtypes import bf16, f16


def _to_f32(dtype):
    @intrinsic
    def convert(typingctx, bits):
        def codegen(context, builder, signature, args):
            (value,) = args
            if dtype == f16:
                value = builder.bitcast(value, half.TYPES["f16"])
            return half.to_f32(builder, value, dtype)
        return types.float32(types.uint16), codegen
    return convert


def _from(source, dtype):
    @intrinsic
    def convert(typingctx, x):
        def codegen(context, builder, signature, args):
            (value,) = args
            rounded = (half.from_f64 if source == "f64" else half.from_f32)(builder, value, dtype)
            return builder.bitcast(rounded, half.I16) if dtype == f16 else rounded
        return types.uint16(types.float64 if source == "f64" else types.float32), codegen
    return convert


f16_to_f32 = _to_f32(f16)
bf16_to_f32 = _to_f32(bf16)
f32_to_f16 = _from("f32", f16)
f32_to_bf16 = _from("f32", bf16)
f64_to_f16 = _from("f64", f16)
f64_to_bf16 = _from("f64", bf16)

HELPERS = ("f16_to_f32", "bf16_to_f32", "f32_to_f16", "f32_to_bf16", "f64_to_f16",
           "f64_to_bf16")
