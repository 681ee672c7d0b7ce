"""Counted loops in LLVM IR, for code written by hand rather than rendered from kernels (the
sort kernel's passes, the small-GEMM loops).

    >>> from llvmlite import ir
    >>> i64 = ir.IntType(64)
    >>> function = ir.Function(ir.Module(), ir.FunctionType(ir.VoidType(), [i64]), "f")
    >>> builder = ir.IRBuilder(function.append_basic_block("entry"))
    >>> counted_loop(builder, ir.Constant(i64, 0), function.args[0], lambda i: None, step=2)
    >>> [block.name for block in function.blocks]
    ['entry', 'loop.head', 'loop.body', 'loop.end']
"""
from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir  # type: ignore[import-untyped]


def counted_loop(builder: ir.IRBuilder, start: ir.Value, stop: ir.Value,
                 body: Callable[[ir.Value], None], step: int = 1, name: str = "loop") -> None:
    """``for index in range(start, stop, step): body(index)`` (signed i64 bounds); the builder
    is left after the loop. ``body`` may add blocks of its own."""
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
    index.add_incoming(builder.add(index, ir.Constant(start.type, step)), builder.block)
    builder.branch(head)
    builder.position_at_end(after)


__all__ = ["counted_loop"]
