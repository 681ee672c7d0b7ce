"""A batched GEMM as one native call: a loop, generated once, that calls BLAS's GEMM for every
matrix of the batch.

The llvm executable calls GEMM through ctypes (:mod:`backends.llvm.blas`), about 2 us a call
here. A batched product (attention's heads: 32 GEMMs of 128x128x64 per product, six products
per training step) paid that per matrix: 0.4 ms a step. The loop here takes BLAS's ``?gemm``
as a function pointer, the flags and sizes every matrix shares, and a table of byte offsets
(``count`` rows of ``a, b, c``), so one ctypes call runs the whole batch, in the same order
and with the same arguments as the Python loop it replaces (the results are the same bits).

It is one small module per (dtype, BLAS integer width), compiled through the backend's
:class:`~backends.llvm.compiler.CachingCompiler`, so a process after the first loads it from
the on-disk cache.

    >>> import numpy as np
    >>> from backends.llvm import blas
    >>> from backends.llvm.compiler import CachingCompiler
    >>> library = blas.find_blas()
    >>> loop = batch_loop(CachingCompiler(None), "float32", library.integer)
    >>> a = np.arange(8, dtype=np.float32).reshape(2, 2, 2)
    >>> b = np.ones((2, 2, 2), np.float32)
    >>> c = np.empty((2, 2, 2), np.float32)
    >>> offsets = np.array([[0, 0, 0], [16, 16, 16]], np.int64)  # bytes: the second matrix
    >>> loop(library.gemm_address(np.float32), blas.ROW_MAJOR, blas.NO_TRANS,
    ...      blas.NO_TRANS, 2, 2, 2, 1.0, a.ctypes.data, 2, b.ctypes.data, 2, 0.0,
    ...      c.ctypes.data, 2, 2, offsets.ctypes.data)
    >>> bool(np.array_equal(c, a @ b))
    True
"""
from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

from llvmlite import ir  # type: ignore[import-untyped]

from backends.llvm.compiler import CachingCompiler
from backends.llvm.loops import for_each_matrix

_REALS = {"float32": (ir.FloatType(), ctypes.c_float), "float64": (ir.DoubleType(), ctypes.c_double)}


def _name(dtype: str, bits: int) -> str:
    return f"graphc_gemm_batch_{dtype}_i{bits}"


def _module(dtype: str, bits: int) -> ir.Module:
    """``loop(gemm, order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
    count, offsets)``: ``gemm(...)`` on ``a + offsets[i][0]``, ``b + offsets[i][1]``, ``c +
    offsets[i][2]`` (bytes) for ``i`` in ``range(count)``."""
    real = _REALS[dtype][0]
    integer, i32, i64, ptr = ir.IntType(bits), ir.IntType(32), ir.IntType(64), ir.PointerType()
    shared = [i32, i32, i32, integer, integer, integer, real, ptr, integer, ptr, integer, real,
              ptr, integer]
    gemm_type = ir.FunctionType(ir.VoidType(), shared)
    module = ir.Module(name=_name(dtype, bits))
    # the GEMM's pointer typed as a function pointer: llvmlite takes the call's type from it
    loop = ir.Function(module, ir.FunctionType(ir.VoidType(),
                                               [gemm_type.as_pointer()] + shared + [i64, ptr]),
                       _name(dtype, bits))
    gemm, order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, count, offsets = loop.args
    builder = ir.IRBuilder(loop.append_basic_block("entry"))
    for_each_matrix(builder, count, offsets, [a, b, c], lambda at: builder.call(
        gemm, [order, ta, tb, m, n, k, alpha, at[0], lda, at[1], ldb, beta, at[2], ldc]))
    builder.ret_void()
    return module


def batch_loop(compiler: CachingCompiler, dtype: str,
               integer: type[ctypes.c_int] | type[ctypes.c_int64]) -> Callable[..., Any]:
    """The loop for ``dtype`` ("float32"/"float64") and BLAS integers of ctypes type
    ``integer``, as a ctypes function; compiled (or loaded) once per compiler."""
    bits = ctypes.sizeof(integer) * 8
    c_real = _REALS[dtype][1]
    shared = [ctypes.c_int, ctypes.c_int, ctypes.c_int, integer, integer, integer, c_real,
              ctypes.c_void_p, integer, ctypes.c_void_p, integer, c_real, ctypes.c_void_p,
              integer]
    prototype = ctypes.CFUNCTYPE(None, ctypes.c_void_p, *shared, ctypes.c_int64,
                                 ctypes.c_void_p)
    return compiler.function(_name(dtype, bits), lambda: _module(dtype, bits), prototype)


__all__ = ["batch_loop"]
