"""Errors in float32 ulps against a float64 reference, for the fast float32 math tests (and
benchmarks/fastmath_ulp.py, which measures the bounds the tests assert).

    >>> import numpy as np
    >>> float(ulp_errors(np.float32([1.0 + 2.0 ** -23]), np.array([1.0]))[0])
    1.0
"""
from __future__ import annotations

import numpy as np

import ir
from backends.llvm.backend import LLVMBackend

_BIG = 2.0 ** 128  # where float32 rounds to inf: an inf result counts as this far away


def unary_graph(op: str, dtype: str, n: int) -> ir.Graph:
    """``op`` applied to one ``dtype[n]`` input."""
    return ir.parse(f"func @{op}(%x: {dtype}[{n}]) -> ({dtype}[{n}]) {{\n"
                    f"  %0: {dtype}[{n}] = {op} %x\n  return %0\n}}")


def reference(op: str, x: np.ndarray) -> np.ndarray:
    """``op`` of ``x`` computed in float64, independently of the float32 code under test:
    NumPy's float64 functions; sigmoid as 1 / (1 + exp(-x)); erf as libm's double ``erf``
    (the llvm backend in f64 calls libm, never an approximation)."""
    with np.errstate(all="ignore"):
        wide = np.asarray(x).astype(np.float64)
        if op == "sigmoid":
            return 1.0 / (1.0 + np.exp(-wide))
        if op == "erf":
            run = LLVMBackend(fast_math=False).compile(unary_graph("erf", "f64", wide.size))
            return run(wide.ravel())[0].reshape(wide.shape)
        return getattr(np, op)(wide)


def ulp_errors(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """``|got - want|`` in float32 ulps of ``want`` (float64); NaN vs NaN is 0, NaN vs a
    number is inf; an infinite ``got`` counts as 2**128 (the first value that rounds to inf)."""
    with np.errstate(invalid="ignore"):
        g = np.asarray(got).astype(np.float64)
    g = np.where(np.isinf(g), np.copysign(_BIG, g), g)
    w = np.clip(want, -_BIG, _BIG)
    _, exponent = np.frexp(w)
    exponent = np.where(w == 0, -1000, exponent - 1)               # floor(log2 |w|)
    ulp = np.ldexp(1.0, np.maximum(exponent, -126) - 23)          # subnormals: 2**-149
    with np.errstate(invalid="ignore"):
        err = np.abs(g - w) / ulp
    both_nan = np.isnan(g) & np.isnan(w)
    return np.where(both_nan, 0.0, np.where(np.isnan(g) | np.isnan(w), np.inf, err))
