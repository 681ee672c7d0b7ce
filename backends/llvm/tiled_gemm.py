"""float32 GEMMs as generated register-tiled loops instead of BLAS calls.

Two kinds of product run here rather than in OpenBLAS (where the backend found one; else
NumPy's matmul runs every product):

- **small ones**, on every machine: OpenBLAS pays for packing and blocking that only large
  products repay. On attention's heads (32 products of 128x128x64 per batched GEMM, six per
  training step) its ``sgemm`` ran at 75 GFLOP/s on one Emerald Rapids core, where the loop
  here runs at 136 (PyTorch's MKL ``bmm``: about the same as the loop). :func:`suits` takes
  every product whose ``b`` has at most :data:`SMALL_B_FLOATS` (64 KB) and of at most
  :data:`SMALL_MACS` multiply-adds a matrix.
- **larger ones**, where BLAS's kernels use vectors no wider than the loop's 512 bits (on
  AVX-512 machines; AVX2 machines keep them in BLAS, not measured against its kernels
  there): NumPy's OpenBLAS 0.3.31 does not know AMD's Zen 5 and runs its Haswell (AVX2)
  kernels there, at 93-100 GFLOP/s on the MLP step's products, where the loop ran at 150-197
  (``benchmarks/tiled_gemm.py``); on Sapphire Rapids OpenBLAS's SkylakeX (AVX-512) kernels
  ran them at 149-167, the loop at 169-176 since it packs a transposed A and keeps its blocks
  within L1 (at 130-166 before); with at least :data:`WIDER_MIN_ROWS` rows, or :data:`ROWS`
  when B is at most :data:`WIDER_B_FLOATS`: on fewer rows the packing of B is repaid by too
  little work (a 2048x2048 row-major B: 1.1-1.7x OpenBLAS's time at 1-16 rows, 0.86x at 32; a
  784x512 one: 0.66-0.73x at 8-16 rows, but 1.25x at 4, one-row tiles only; Zen 5).

The loop computes ``C = A @ B`` for each matrix of a batch, C row-major, A and B read through
two strides each (so either orientation). The product is cut into blocks of at most ``depth``
rows of B (the ``k`` axis) by ``width`` columns (:func:`blocks`); each block of B is first
copied into a row-major panel (32 KB, read once per row of tiles) unless B is one row-major
block already: the tiles read it along its rows, and on a strided B (a head of attention's
``[.., 768]`` projections) they ran 1.2-1.4x slower. An A whose rows are not contiguous (a
transposed A: a weight's gradient) is packed too, each block of its columns into a scratch the
caller provides, each tile's rows side by side (:func:`scratch_floats`). C is cut into tiles
of :data:`ROWS` rows by one or two vectors of columns; a tile keeps its sums in vector
registers over the block's ``k``: per ``k``, one or two vector loads of B's row, and per row
of the tile one broadcast of A's element and one fused multiply-add per vector; the next block
of ``k`` starts from the sums stored in C. Rows left over (``m`` not a multiple of
:data:`ROWS`) take one-row tiles. Each sum adds its ``k`` products in order with one rounding
per product (``fma``), however the product is blocked or split over threads: deterministic,
and as accurate as a BLAS's.

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
    >>> depth, width = blocks(lanes, 2)
    >>> loop(3, lanes, 2, depth, width, a.ctypes.data, 2, 1, b.ctypes.data, lanes, 1,
    ...      c.ctypes.data, lanes, 1, offsets.ctypes.data, None)
    >>> bool(np.array_equal(c, a @ b))
    True
"""
from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

from llvmlite import ir  # type: ignore[import-untyped]

from backends.llvm import jit
from backends.llvm.compiler import CachingCompiler
from backends.llvm.loops import counted_loop, for_each_matrix

ROWS = 8  # rows of C per tile: with two vectors of columns, 16 accumulators
# the largest block of B, depth * width (32 KB, on the stack), and the deepest: a block and a
# tile's part of A (8 KB) stay in a 48 KB L1. On the MLP step's five large products (Sapphire
# Rapids, A packed) blocks of 256x32 ran at 169-176 GFLOP/s, of 128x32 and 128x64 at 163-176,
# of 64 KB (512x32, 256x64) at 158-170; on Zen 5, of 64 KB, depths of 128, 256 and 512 ran at
# 149-183, 158-191 and 150-197 (32 KB not measured there)
PANEL_FLOATS = 8192
DEPTH = 256
# the most floats of B of a small product (64 KB), and its most m * n * k per matrix: in BLAS,
# a larger product may be split over the threads of graphc.set_num_threads (here one matrix
# of this size takes about 60 us)
SMALL_B_FLOATS = 16384
SMALL_MACS = 1 << 22
# where BLAS's kernels are no wider: the fewest rows of a large product taken, and the most
# floats of B (2 MB) with which one of ROWS to WIDER_MIN_ROWS rows is taken (see the module doc)
WIDER_MIN_ROWS = 32
WIDER_B_FLOATS = 1 << 19

_F32, _I64, _PTR = ir.FloatType(), ir.IntType(64), ir.PointerType()


def vector_lanes() -> int:
    """float32 lanes of the vectors the tiles use: 16 with AVX-512, else 8."""
    return 16 if "+avx512f" in jit.host_features().split(",") else 8


def suits(dtype: str, m: int, n: int, k: int, blas_vector_bits: int | None = None) -> bool:
    """Whether a product of these sizes runs here rather than in BLAS, whose kernels use
    vectors of ``blas_vector_bits`` (None: not known).

        >>> lanes = vector_lanes()
        >>> suits("float32", 128, 128, 64), suits("float32", 256, 512, 512)
        (True, False)
        >>> suits("float32", 256, 512, 512, blas_vector_bits=32 * lanes // 2)  # narrower BLAS
        True
        >>> suits("float32", 256, 512, 512, blas_vector_bits=512) == (lanes == 16)  # AVX-512
        True
        >>> suits("float32", 16, 2048, 2048, blas_vector_bits=32 * lanes // 2)  # few rows
        False
        >>> suits("float32", 16, 512, 784, blas_vector_bits=32 * lanes // 2)  # of a smaller B
        True
        >>> suits("float32", 128, 10, 64), suits("float64", 128, 128, 64)
        (False, False)
        >>> suits("float32", 65536, 64, 64)  # a panel that fits, but many rows: BLAS's
        False
    """
    if dtype != "float32" or min(m, n, k) <= 0 or n % vector_lanes():
        return False
    small = k * n <= SMALL_B_FLOATS and m * n * k <= SMALL_MACS
    enough_rows = m >= WIDER_MIN_ROWS or (m >= ROWS and k * n <= WIDER_B_FLOATS)
    bits = 32 * vector_lanes()
    no_wider = blas_vector_bits is not None and (
        blas_vector_bits < bits or blas_vector_bits == bits == 512)
    return small or (no_wider and enough_rows)


def scratch_floats(m: int, depth: int) -> int:
    """Floats of the scratch where the loop packs a block of A (``depth`` columns of its rows
    in whole tiles), for an A whose rows are not contiguous."""
    return m // ROWS * ROWS * depth


def blocks(n: int, k: int) -> tuple[int, int]:
    """``(depth, width)``: the blocks of B (``k`` by ``n``) that the loop packs; all of B
    when it fits in the panel.

        >>> blocks(512, 16)
        (16, 512)
        >>> blocks(512, 784), blocks(784, 128)
        ((256, 32), (128, 64))
    """
    if k * n <= PANEL_FLOATS:
        return k, n
    depth = min(k, DEPTH)
    pair = 2 * vector_lanes()  # whole two-vector tiles
    width = max(pair, PANEL_FLOATS // depth // pair * pair)
    return depth, min(width, n)


def _name(lanes: int) -> str:
    return f"graphc_tiled_gemm_f32_x{lanes}"


def _module(lanes: int) -> ir.Module:
    """``loop(m, n, k, depth, width, a, a_row, a_col, b, b_row, b_col, c, ldc, count,
    offsets, scratch)``: for ``i`` in ``range(count)``, ``C = A @ B`` with ``A[r, s]`` at ``a +
    offsets[i][0]`` (bytes) plus ``r * a_row + s * a_col`` elements, ``B[s, t]`` at ``b +
    offsets[i][1]`` plus ``s * b_row + t * b_col``, ``C[r, t]`` at ``c + offsets[i][2]`` plus
    ``r * ldc + t``. ``m``, ``n``, ``k``, ``depth`` and ``width`` must be at least 1 (nothing
    checks: a zero step would never end), ``n`` and ``width`` multiples of ``lanes``, ``depth *
    width`` at most :data:`PANEL_FLOATS`: :func:`blocks` chooses them, :func:`suits` the sizes.
    ``scratch``: null, or room for ``scratch_floats(m, depth)`` floats, where an A whose rows
    are not contiguous (``a_col != 1``) is packed (:func:`_module`'s ``pack_a``)."""
    vector = ir.VectorType(_F32, lanes)
    module = ir.Module(name=_name(lanes))
    args = [_I64] * 5 + [_PTR, _I64, _I64, _PTR, _I64, _I64, _PTR, _I64, _I64, _PTR, _PTR]
    function = ir.Function(module, ir.FunctionType(ir.VoidType(), args), _name(lanes))
    (m, n, k, depth, width, a0, a_row, a_col, b0, b_row, b_col, c0, ldc, count,
     offsets, scratch) = function.args
    fma = ir.Function(module, ir.FunctionType(vector, [vector] * 3), f"llvm.fma.v{lanes}f32")
    builder = ir.IRBuilder(function.append_basic_block("entry"))
    panel = builder.alloca(_F32, PANEL_FLOATS, name="panel")
    panel.align = 64
    zero = ir.Constant(vector, [0.0] * lanes)
    splat_mask = ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)

    def const(value: int) -> ir.Constant:
        return ir.Constant(_I64, value)

    def loop(start: ir.Value, stop: ir.Value, step: int | ir.Value,
             body: Callable[[ir.Value], None]) -> None:
        counted_loop(builder, start, stop, body, step)

    def element(base: ir.Value, index: ir.Value) -> ir.Value:
        return builder.gep(base, [index], source_etype=_F32)

    def smaller(x: ir.Value, y: ir.Value) -> ir.Value:
        return builder.select(builder.icmp_signed("<", x, y), x, y)

    tiled_rows = builder.sub(m, builder.srem(m, const(ROWS)))  # rows in whole tiles
    # A is packed where its rows are not contiguous (a transposed A: a weight's gradient)
    packing = builder.and_(builder.icmp_signed("!=", a_col, const(1)),
                           builder.icmp_unsigned("!=", scratch, ir.Constant(_PTR, None)))
    # B is used in place when it is one row-major block already: rows contiguous, n apart
    in_place = builder.and_(
        builder.and_(builder.icmp_signed("==", b_col, const(1)),
                     builder.icmp_signed("==", b_row, n)),
        builder.and_(builder.icmp_signed("==", depth, k), builder.icmp_signed("==", width, n)))

    class Block:
        """One block of the product: ``C[:, t0:t0+w] (+)= A[:, s0:s0+d] @ B[s0:s0+d, t0:t0+w]``
        with B's block row-major at ``b``, ``stride`` apart; ``a`` and ``c`` point at the
        block's first column, and ``first`` says whether C starts from zero. With ``packing``
        the tiles of ``ROWS`` rows read A's block from ``scratch`` (``pack_a``)."""

        def __init__(self, a: ir.Value, b: ir.Value, stride: ir.Value, c: ir.Value,
                     depth: ir.Value, first: ir.Value):
            self.a, self.b, self.stride, self.c = a, b, stride, c
            self.depth, self.first = depth, first

    def pack_a(a: ir.Value, block_depth: ir.Value) -> None:
        """scratch[row * block_depth + s * ROWS + r] = A[row + r, s] (a: the block's first
        column) for the rows of whole tiles: each tile's part of the block in one contiguous
        run, read in order. In a transposed A a row's consecutive elements are ``a_col``
        apart: read in place, its tiles touched one cache line (and one page) per ``k``, and
        ran at 146 GFLOP/s where a row-major A ran at 176 (a 512x784x256 weight gradient,
        Sapphire Rapids)."""
        rows_vector = ir.VectorType(_F32, ROWS)

        def strip(row: ir.Value, s: ir.Value) -> ir.Value:
            return element(scratch, builder.add(builder.mul(row, block_depth),
                                                builder.mul(s, const(ROWS))))

        def copy(row: ir.Value, s: ir.Value) -> None:
            at = builder.add(builder.mul(row, a_row), builder.mul(s, a_col))
            with builder.if_else(builder.icmp_signed("==", a_row, const(1))) as (together,
                                                                                  apart):
                with together:  # the ROWS elements are side by side: one vector
                    values = builder.load(builder.bitcast(element(a, at),
                                                          rows_vector.as_pointer()),
                                          typ=rows_vector, align=4)
                    builder.store(values, builder.bitcast(strip(row, s),
                                                          rows_vector.as_pointer()), align=4)
                with apart:
                    for r in range(ROWS):
                        value = builder.load(element(a, builder.add(
                            at, builder.mul(const(r), a_row))), typ=_F32)
                        builder.store(value, element(strip(row, s), const(r)))
        loop(const(0), tiled_rows, ROWS, lambda row: loop(
            const(0), block_depth, 1, lambda s: copy(row, s)))

    def tile(block: Block, row: ir.Value, column: ir.Value, rows: int, vectors: int) -> None:
        """The block's C[row:row+rows, column:column+vectors*lanes]. A whole tile reads A
        from scratch where A was packed, in a loop of its own: with the packed strides
        constant, each ``k`` addresses its row's elements at fixed offsets from one pointer
        (weight gradients ran 3-6% faster than in one loop for both, with the strides
        chosen at run time)."""
        direct = element(block.a, builder.mul(row, a_row))
        if rows != ROWS:
            tile_sums(block, row, column, rows, vectors, direct, a_row, a_col)
            return
        with builder.if_else(packing) as (packed, in_place_a):
            with packed:
                tile_sums(block, row, column, rows, vectors,
                          element(scratch, builder.mul(row, block.depth)), const(1), const(ROWS))
            with in_place_a:
                tile_sums(block, row, column, rows, vectors, direct, a_row, a_col)

    def tile_sums(block: Block, row: ir.Value, column: ir.Value, rows: int, vectors: int,
                  a_base: ir.Value, row_step: ir.Value, k_step: ir.Value) -> None:
        """The tile's sums over the block's ``k``, with ``A[row + r, s]`` at ``a_base + r *
        row_step + s * k_step``, stored into C."""
        def c_address(r: int, v: int) -> ir.Value:
            c_row = builder.add(builder.mul(builder.add(row, const(r)), ldc), column)
            return element(block.c, builder.add(c_row, const(v * lanes)))
        starts = [builder.select(block.first, zero,
                                 builder.load(c_address(r, v), typ=vector, align=4))
                  for r in range(rows) for v in range(vectors)]
        before = builder.block
        head, inside, after = (builder.append_basic_block(x)
                               for x in ("k_head", "k_body", "k_after"))
        builder.branch(head)
        builder.position_at_end(head)
        s = builder.phi(_I64)
        s.add_incoming(const(0), before)
        sums = []
        for start in starts:
            phi = builder.phi(vector)
            phi.add_incoming(start, before)
            sums.append(phi)
        builder.cbranch(builder.icmp_signed("<", s, block.depth), inside, after)
        builder.position_at_end(inside)
        b_row_start = builder.add(builder.mul(s, block.stride), column)
        b_vectors = [builder.load(element(block.b, builder.add(b_row_start, const(v * lanes))),
                                  typ=vector, align=4) for v in range(vectors)]
        a_column = builder.mul(s, k_step)
        updated = []
        for r in range(rows):
            a_index = builder.add(builder.mul(const(r), row_step), a_column)
            scalar = builder.load(element(a_base, a_index), typ=_F32)
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
            for v in range(vectors):
                builder.store(sums[r * vectors + v], c_address(r, v), align=4)

    def row_of_tiles(block: Block, columns: ir.Value, row: ir.Value, rows: int) -> None:
        wide = 2 * lanes
        paired = builder.sub(columns, builder.srem(columns, const(wide)))  # two-vector tiles
        loop(const(0), paired, wide, lambda column: tile(block, row, column, rows, 2))
        # columns is a multiple of lanes: at most one one-vector tile is left
        loop(paired, columns, lanes, lambda column: tile(block, row, column, rows, 1))

    def transposed_square(b: ir.Value, s0: ir.Value, t0: ir.Value, columns: ir.Value) -> None:
        """panel[s0:s0+lanes, t0:t0+lanes] = B[same] for a B whose columns are contiguous
        (``b_row == 1``): the square's columns loaded as vectors, transposed in registers by
        log2(lanes) rounds of pairwise interleaves (row ``j`` with row ``j + lanes/2``: after
        the last round, vector ``i`` holds column ``i``), stored as the panel's rows."""
        half = lanes // 2
        low = ir.Constant(ir.VectorType(ir.IntType(32), lanes),
                          [x for m in range(half) for x in (m, m + lanes)])
        high = ir.Constant(ir.VectorType(ir.IntType(32), lanes),
                           [x for m in range(half, lanes) for x in (m, m + lanes)])
        rows = [builder.load(element(b, builder.add(s0, builder.mul(builder.add(t0, const(j)),
                                                                     b_col))),
                             typ=vector, align=4) for j in range(lanes)]
        for _ in range(lanes.bit_length() - 1):
            rows = [builder.shuffle_vector(rows[j], rows[j + half], mask)
                    for j in range(half) for mask in (low, high)]
        for i, row in enumerate(rows):
            start = builder.add(builder.mul(builder.add(s0, const(i)), columns), t0)
            builder.store(row, builder.bitcast(element(panel, start), vector.as_pointer()),
                          align=4)

    def pack(b: ir.Value, rows: ir.Value, columns: ir.Value) -> None:
        """panel[s * columns + t] = B[s, t] (b: the block's first element), walking B along
        whichever axis is contiguous (``columns`` is a multiple of ``lanes``)."""
        def copy(s: ir.Value, t: ir.Value) -> None:
            value = builder.load(element(b, builder.add(builder.mul(s, b_row),
                                                        builder.mul(t, b_col))), typ=_F32)
            builder.store(value, element(panel, builder.add(builder.mul(s, columns), t)))
        with builder.if_else(builder.icmp_signed("==", b_col, const(1))) as (along_rows, down):
            with along_rows:
                loop(const(0), rows, 1, lambda s: loop(
                    const(0), columns, 1, lambda t: copy(s, t)))
            with down:
                # a transposed B: whole squares transposed in registers (a scalar copy took
                # about 10% of the MLP's forward products), the rows left over one by one
                squares = builder.select(builder.icmp_signed("==", b_row, const(1)),
                                         builder.sub(rows, builder.srem(rows, const(lanes))),
                                         const(0))
                loop(const(0), columns, lanes, lambda t0: loop(
                    const(0), squares, lanes,
                    lambda s0: transposed_square(b, s0, t0, columns)))
                loop(const(0), columns, 1, lambda t: loop(
                    squares, rows, 1, lambda s: copy(s, t)))

    def matrix(pointers: list[ir.Value]) -> None:
        a, b, c = pointers

        def depth_block(s0: ir.Value) -> None:
            block_depth = smaller(depth, builder.sub(k, s0))
            first = builder.icmp_signed("==", s0, const(0))
            a_block = element(a, builder.mul(s0, a_col))
            with builder.if_then(packing):
                pack_a(a_block, block_depth)

            def width_block(t0: ir.Value) -> None:
                columns = smaller(width, builder.sub(n, t0))
                with builder.if_then(builder.not_(in_place)):
                    pack(element(b, builder.add(builder.mul(s0, b_row), builder.mul(t0, b_col))),
                         block_depth, columns)
                block = Block(a_block, builder.select(in_place, b, panel),
                              builder.select(in_place, n, columns), element(c, t0),
                              block_depth, first)
                loop(const(0), tiled_rows, ROWS,
                     lambda row: row_of_tiles(block, columns, row, ROWS))
                loop(tiled_rows, m, 1, lambda row: row_of_tiles(block, columns, row, 1))
            loop(const(0), n, width, width_block)
        loop(const(0), k, depth, depth_block)

    for_each_matrix(builder, count, offsets, [a0, b0, c0], matrix)
    builder.ret_void()
    return module


def tiled_loop(compiler: CachingCompiler, lanes: int | None = None) -> Callable[..., Any]:
    """The loop of :func:`_module` for vectors of ``lanes`` floats (default: this host's
    :func:`vector_lanes`), as a ctypes function; compiled (or loaded) once per compiler."""
    lanes = vector_lanes() if lanes is None else lanes
    i64, pointer = ctypes.c_int64, ctypes.c_void_p
    prototype = ctypes.CFUNCTYPE(None, i64, i64, i64, i64, i64, pointer, i64, i64, pointer,
                                 i64, i64, pointer, i64, i64, pointer, pointer)
    return compiler.function(_name(lanes), lambda: _module(lanes), prototype)


__all__ = ["DEPTH", "PANEL_FLOATS", "ROWS", "SMALL_B_FLOATS", "SMALL_MACS", "WIDER_B_FLOATS",
           "WIDER_MIN_ROWS", "blocks", "scratch_floats", "suits", "tiled_loop", "vector_lanes"]
