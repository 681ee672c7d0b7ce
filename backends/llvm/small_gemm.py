"""Small float32 GEMMs as generated register-tiled loops instead of BLAS calls.

OpenBLAS pays for packing and blocking that only large products repay: on attention's heads
(32 products of 128x128x64 per batched GEMM, six per training step) its ``sgemm`` ran at
75 GFLOP/s on one Emerald Rapids core, where the loop here runs at 136 (0.49 ms against
0.90 ms a batched product; PyTorch's MKL ``bmm``: 0.47-0.50 ms). On large products OpenBLAS
stays ahead (256x512x512: 141 against 124 GFLOP/s), so :func:`suits` takes only products
whose ``b`` fits in a panel of :data:`PANEL_FLOATS` (64 KB, on the stack), and of at most
:data:`PRODUCT_MACS` multiply-adds a matrix (one thread: BLAS may use several).

The loop computes ``C = A @ B`` for each matrix of a batch, C row-major, A and B read through
two strides each (so either orientation). B is first copied into a row-major panel unless it
is one already: the tiles read it along its rows, and on a strided B (a head of attention's
``[.., 768]`` projections) they ran 1.2-1.4x slower. C is cut into tiles of :data:`ROWS`
rows by one or two vectors of columns; a tile keeps its sums in vector registers over the
whole ``k`` loop: per ``k``, one or two vector loads of B's row, and per row of the tile one
broadcast of A's element and one fused multiply-add per vector. Rows left over (``m`` not a
multiple of :data:`ROWS`) take one-row tiles. Each sum adds its ``k`` products in order with
one rounding per product (``fma``): deterministic, and as accurate as a BLAS's.

One module per vector width, compiled through the backend's
:class:`~backends.llvm.compiler.CachingCompiler` (loaded from the on-disk cache after the
first process); sizes and strides are run-time arguments.

    >>> import numpy as np
    >>> from backends.llvm.compiler import CachingCompiler
    >>> loop = tiled_loop(CachingCompiler(None))
    >>> lanes = vector_lanes()
    >>> a = np.arange(3 * 2, dtype=np.float32).reshape(3, 2)
    >>> b = np.ones((2, lanes), np.float32)
    >>> c = np.empty((3, lanes), np.float32)
    >>> offsets = np.zeros((1, 3), np.int64)
    >>> loop(3, lanes, 2, a.ctypes.data, 2, 1, b.ctypes.data, lanes, 1, c.ctypes.data, lanes,
    ...      1, offsets.ctypes.data)
    >>> bool(np.array_equal(c, a @ b))
    True
"""
from __future__ import annotations

import ctypes
import weakref
from collections.abc import Callable
from typing import Any

from llvmlite import ir  # type: ignore[import-untyped]

from backends.llvm import jit
from backends.llvm.cache import code_fingerprint
from backends.llvm.compiler import CachingCompiler
from backends.llvm.loops import counted_loop, for_each_matrix

ROWS = 8  # rows of C per tile: with two vectors of columns, 16 accumulators
PANEL_FLOATS = 16384  # the largest k * n taken (64 KB of B, read once per row of tiles)
# the largest m * n * k per matrix taken: the loop runs on one thread, where BLAS would split
# a larger product over the threads of graphc.set_num_threads (here one matrix of this size
# takes about 60 us)
PRODUCT_MACS = 1 << 22

_F32, _I64, _PTR = ir.FloatType(), ir.IntType(64), ir.PointerType()
# compiler -> {lanes: loop}: each backend's compiler makes (or loads) its own once
_LOOPS: weakref.WeakKeyDictionary[CachingCompiler, dict[int, Any]] = weakref.WeakKeyDictionary()


def vector_lanes() -> int:
    """float32 lanes of the vectors the tiles use: 16 with AVX-512, else 8."""
    return 16 if "+avx512f" in jit.host_features().split(",") else 8


def suits(dtype: str, m: int, n: int, k: int) -> bool:
    """Whether a product of these sizes runs here rather than in BLAS.

        >>> suits("float32", 128, 128, 64), suits("float32", 256, 512, 512)
        (True, False)
        >>> suits("float32", 128, 10, 64), suits("float64", 128, 128, 64)
        (False, False)
        >>> suits("float32", 65536, 64, 64)  # a panel that fits, but many rows: BLAS's
        False
    """
    return (dtype == "float32" and m > 0 and k > 0 and n > 0 and n % vector_lanes() == 0
            and k * n <= PANEL_FLOATS and m * n * k <= PRODUCT_MACS)


def _name(lanes: int) -> str:
    return f"graphc_small_gemm_f32_x{lanes}"


def _module(lanes: int) -> ir.Module:
    """``loop(m, n, k, a, a_row, a_col, b, b_row, b_col, c, ldc, count, offsets)``: for
    ``i`` in ``range(count)``, ``C = A @ B`` with ``A[r, s]`` at ``a + offsets[i][0]`` (bytes)
    plus ``r * a_row + s * a_col`` elements, ``B[s, t]`` at ``b + offsets[i][1]`` plus ``s *
    b_row + t * b_col``, ``C[r, t]`` at ``c + offsets[i][2]`` plus ``r * ldc + t``. ``n``
    must be a multiple of ``lanes``, ``k * n`` at most :data:`PANEL_FLOATS`."""
    vector = ir.VectorType(_F32, lanes)
    module = ir.Module(name=_name(lanes))
    args = [_I64, _I64, _I64, _PTR, _I64, _I64, _PTR, _I64, _I64, _PTR, _I64, _I64, _PTR]
    function = ir.Function(module, ir.FunctionType(ir.VoidType(), args), _name(lanes))
    m, n, k, a0, a_row, a_col, b0, b_row, b_col, c0, ldc, count, offsets = function.args
    fma = ir.Function(module, ir.FunctionType(vector, [vector] * 3), f"llvm.fma.v{lanes}f32")
    builder = ir.IRBuilder(function.append_basic_block("entry"))
    panel = builder.alloca(_F32, PANEL_FLOATS, name="panel")
    panel.align = 64
    # B is a row-major panel already when its rows are contiguous and n apart
    packed = builder.and_(builder.icmp_signed("==", b_col, ir.Constant(_I64, 1)),
                          builder.icmp_signed("==", b_row, n))
    zero = ir.Constant(vector, [0.0] * lanes)
    splat_mask = ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)

    def const(value: int) -> ir.Constant:
        return ir.Constant(_I64, value)

    def loop(start: ir.Value, stop: ir.Value, step: int,
             body: Callable[[ir.Value], None]) -> None:
        counted_loop(builder, start, stop, body, step)

    def element(base: ir.Value, index: ir.Value) -> ir.Value:
        return builder.gep(base, [index], source_etype=_F32)

    def tile(a: ir.Value, b: ir.Value, c: ir.Value, row: ir.Value, column: ir.Value,
             rows: int, vectors: int) -> None:
        """C[row:row+rows, column:column+vectors*lanes] = A[row:row+rows, :] @ B[:, same]."""
        before = builder.block
        head, inside, after = (builder.append_basic_block(x)
                               for x in ("k_head", "k_body", "k_after"))
        builder.branch(head)
        builder.position_at_end(head)
        s = builder.phi(_I64)
        s.add_incoming(const(0), before)
        sums = []
        for _ in range(rows * vectors):
            phi = builder.phi(vector)
            phi.add_incoming(zero, before)
            sums.append(phi)
        builder.cbranch(builder.icmp_signed("<", s, k), inside, after)
        builder.position_at_end(inside)
        b_row = builder.add(builder.mul(s, n), column)
        b_vectors = [builder.load(element(b, builder.add(b_row, const(v * lanes))), typ=vector,
                                  align=4) for v in range(vectors)]
        a_column = builder.mul(s, a_col)
        updated = []
        for r in range(rows):
            a_index = builder.add(builder.mul(builder.add(row, const(r)), a_row), a_column)
            scalar = builder.load(element(a, a_index), typ=_F32)
            broadcast = builder.shuffle_vector(
                builder.insert_element(zero, scalar, const(0)), zero, splat_mask)
            updated += [builder.call(fma, [broadcast, b_vectors[v], sums[r * vectors + v]])
                        for v in range(vectors)]
        s.add_incoming(builder.add(s, const(1)), builder.block)
        for phi, value in zip(sums, updated):
            phi.add_incoming(value, builder.block)
        builder.branch(head)
        builder.position_at_end(after)
        for r in range(rows):
            c_row = builder.add(builder.mul(builder.add(row, const(r)), ldc), column)
            for v in range(vectors):
                builder.store(sums[r * vectors + v],
                              element(c, builder.add(c_row, const(v * lanes))), align=4)

    def row_of_tiles(a: ir.Value, b: ir.Value, c: ir.Value, row: ir.Value, rows: int) -> None:
        wide = 2 * lanes
        paired = builder.sub(n, builder.srem(n, const(wide)))  # columns in two-vector tiles
        loop(const(0), paired, wide, lambda column: tile(a, b, c, row, column, rows, 2))
        # n is a multiple of lanes: at most one one-vector tile is left
        loop(paired, n, lanes, lambda column: tile(a, b, c, row, column, rows, 1))

    def pack(b: ir.Value) -> None:
        """panel[s * n + t] = B[s, t], walking B along whichever axis is contiguous."""
        def copy(s: ir.Value, t: ir.Value) -> None:
            value = builder.load(element(b, builder.add(builder.mul(s, b_row),
                                                        builder.mul(t, b_col))), typ=_F32)
            builder.store(value, element(panel, builder.add(builder.mul(s, n), t)))
        with builder.if_else(builder.icmp_signed("==", b_col, const(1))) as (rows, columns):
            with rows:
                loop(const(0), k, 1, lambda s: loop(
                    const(0), n, 1, lambda t: copy(s, t)))
            with columns:
                loop(const(0), n, 1, lambda t: loop(
                    const(0), k, 1, lambda s: copy(s, t)))

    def matrix(pointers: list[ir.Value]) -> None:
        a, b, c = pointers
        with builder.if_then(builder.not_(packed)):
            pack(b)
        b = builder.select(packed, b, panel)
        tiled = builder.sub(m, builder.srem(m, const(ROWS)))
        loop(const(0), tiled, ROWS, lambda row: row_of_tiles(a, b, c, row, ROWS))
        loop(tiled, m, 1, lambda row: row_of_tiles(a, b, c, row, 1))

    for_each_matrix(builder, count, offsets, [a0, b0, c0], matrix)
    builder.ret_void()
    return module


def tiled_loop(compiler: CachingCompiler) -> Callable[..., Any]:
    """The loop of :func:`_module` for this host's :func:`vector_lanes`, as a ctypes function;
    compiled (or loaded) once per compiler."""
    lanes = vector_lanes()
    loops = _LOOPS.setdefault(compiler, {})
    if lanes not in loops:
        name = _name(lanes)
        compiled = compiler.compile_source(f"{name} code {code_fingerprint()}",
                                           lambda: _module(lanes), [name])
        i64, pointer = ctypes.c_int64, ctypes.c_void_p
        prototype = ctypes.CFUNCTYPE(None, i64, i64, i64, pointer, i64, i64, pointer, i64,
                                     i64, pointer, i64, i64, pointer)
        loop = prototype(compiled.jit.address(name))
        loop.machine_code = compiled.jit  # type: ignore[attr-defined]  # keeps the code alive
        loops[lanes] = loop
    return loops[lanes]


__all__ = ["PANEL_FLOATS", "PRODUCT_MACS", "ROWS", "suits", "tiled_loop", "vector_lanes"]
