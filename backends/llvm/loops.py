"""Counted loops in LLVM IR, for code written by hand rather than rendered from kernels (the
sort kernel's passes, the batched-GEMM, tiled-GEMM and index loops).

    >>> from llvmlite import ir
    >>> i64 = ir.IntType(64)
    >>> function = ir.Function(ir.Module(), ir.FunctionType(ir.VoidType(), [i64]), "f")
    >>> builder = ir.IRBuilder(function.append_basic_block("entry"))
    >>> counted_loop(builder, ir.Constant(i64, 0), function.args[0], lambda i: None, step=2)
    >>> [block.name for block in function.blocks]
    ['entry', 'loop.head', 'loop.body', 'loop.end']
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from llvmlite import ir  # type: ignore[import-untyped]


def counted_loop(builder: ir.IRBuilder, start: ir.Value, stop: ir.Value,
                 body: Callable[[ir.Value], None], step: int | ir.Value = 1,
                 name: str = "loop") -> None:
    """``for index in range(start, stop, step): body(index)`` (signed i64 bounds, ``step`` a
    positive constant or value); the builder is left after the loop. ``body`` may add blocks
    of its own."""
    before = builder.block
    head, inside, after = (builder.append_basic_block(f"{name}.{part}")
                           for part in ("head", "body", "end"))
    builder.branch(head)
    builder.position_at_end(head)
    index = builder.phi(start.type)
    index.add_incoming(start, before)
    builder.cbranch(builder.icmp_signed("<", index, stop), inside, after)
    builder.position_at_end(inside)
    body(index)
    increment = step if isinstance(step, ir.Value) else ir.Constant(start.type, step)
    index.add_incoming(builder.add(index, increment), builder.block)
    builder.branch(head)
    builder.position_at_end(after)


def for_each_matrix(builder: ir.IRBuilder, count: ir.Value, offsets: ir.Value,
                    bases: Sequence[ir.Value], body: Callable[[list[ir.Value]], None]) -> None:
    """For ``i`` in ``range(count)``: ``body`` of the pointers ``bases[j] + offsets[i][j]``
    (``offsets``: ``count`` rows of ``len(bases)`` i64 byte offsets, one row per matrix of a
    batch)."""
    i64 = ir.IntType(64)

    def matrix(index: ir.Value) -> None:
        row = builder.mul(index, ir.Constant(i64, len(bases)))
        pointers = []
        for column, base in enumerate(bases):
            slot = builder.gep(offsets, [builder.add(row, ir.Constant(i64, column))],
                               source_etype=i64)
            pointers.append(builder.gep(base, [builder.load(slot, typ=i64)],
                                        source_etype=ir.IntType(8)))
        body(pointers)
    counted_loop(builder, ir.Constant(i64, 0), count, matrix, name="matrix")


__all__ = ["counted_loop", "for_each_matrix"]
