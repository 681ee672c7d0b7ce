"""``gather`` and ``scatter_add`` along an axis as native loops that check their indices.

Kernels cannot raise errors, so an index read from data (a cross-entropy's labels) cannot be a
kernel's :class:`~backends.kernel.Indirect` load: these ops were library calls of their NumPy
references, about 9 and 14 us of NumPy each on the MLP step's ``[256, 10]`` logits, but 60-160
us each inside the step (the Python around them runs cold after a large GEMM). Here each is one
ctypes call of a loop generated once: it walks the index in row-major order and returns the
position of the first index out of range (-1 when all are in range), which the caller turns
into the error the reference raises, naming that index. ``scatter_add`` checks every index
before it writes anything, then copies ``x`` and adds ``src`` in the order ``np.add.at`` does,
so each sum rounds as the reference's does: the results are the same bits.

Taken when the index covers ``x`` on every other axis (``index.shape[d] == x.shape[d]`` for
``d != axis``, so both read as ``[outer, axis, inner]``), and, for ``scatter_add``, when
``src`` has ``x``'s dtype, one of float32, float64, int32, int64 (:func:`suits`); other cases
keep the library call. One small module per (op, value type, index type), compiled through the
backend's :class:`~backends.llvm.compiler.CachingCompiler` (disk-cached).

    >>> import numpy as np
    >>> from backends.llvm.compiler import CachingCompiler
    >>> loop = index_loop(CachingCompiler(None), "gather", np.dtype(np.float32), np.dtype(np.int64))
    >>> x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32)
    >>> index = np.array([[2], [0]], np.int64)
    >>> out = np.empty((2, 1), np.float32)
    >>> loop(x.ctypes.data, index.ctypes.data, out.ctypes.data, 2, 3, 1, 1)  # all in range
    -1
    >>> out.ravel().tolist()
    [3.0, 4.0]
    >>> index[1, 0] = 3
    >>> loop(x.ctypes.data, index.ctypes.data, out.ctypes.data, 2, 3, 1, 1)  # its position
    1
"""
from __future__ import annotations

import ctypes
import math
from collections.abc import Callable, Sequence

import numpy as np
from llvmlite import ir  # type: ignore[import-untyped]

from backends.llvm.compiler import CachingCompiler
from backends.llvm.loops import counted_loop

OPS = ("gather", "scatter_add")
_ADDED = {"float32": ir.FloatType(), "float64": ir.DoubleType(), "int32": ir.IntType(32),
          "int64": ir.IntType(64)}
_I64, _PTR = ir.IntType(64), ir.PointerType()


def suits(op: str, shapes: Sequence[tuple[int, ...]], dtypes: Sequence[np.dtype],
          axis: int) -> bool:
    """Whether ``op`` on operands of these shapes and dtypes (``x, index[, src]``) runs here.

        >>> f32, i64 = np.dtype(np.float32), np.dtype(np.int64)
        >>> suits("gather", [(256, 10), (256, 1)], [f32, i64], 1)
        True
        >>> suits("gather", [(256, 10), (128, 1)], [f32, i64], 1)  # a part of x's rows
        False
        >>> suits("scatter_add", [(4, 3), (4, 1), (4, 1)], [f32, i64, np.dtype(np.float16)], 1)
        False
    """
    x, index = shapes[0], shapes[1]
    if op not in OPS or dtypes[1] not in (np.dtype(np.int32), np.dtype(np.int64)):
        return False
    if len(x) != len(index) or any(a != b for d, (a, b) in enumerate(zip(x, index))
                                   if d != axis):
        return False
    if op == "scatter_add":
        return dtypes[2] == dtypes[0] and dtypes[0].name in _ADDED
    return dtypes[0].itemsize in (1, 2, 4, 8)


def collapsed(x_shape: Sequence[int], index_shape: Sequence[int],
              axis: int) -> tuple[int, int, int, int]:
    """``(outer, x_axis, index_axis, inner)``: both operands as ``[outer, axis, inner]``.

        >>> collapsed((2, 5, 3, 4), (2, 7, 3, 4), 1)
        (2, 5, 7, 12)
    """
    return (math.prod(x_shape[:axis]), x_shape[axis], index_shape[axis],
            math.prod(x_shape[axis + 1:]))


def _value_key(op: str, dtype: np.dtype) -> str:
    # gather moves bits: one loop per element width serves every dtype of that width
    return dtype.name if op == "scatter_add" else f"bits{dtype.itemsize * 8}"


def _name(op: str, value: str, index_bits: int) -> str:
    return f"graphc_{op}_{value}_i{index_bits}"


def _module(op: str, value: str, index_bits: int) -> ir.Module:
    """``gather(x, index, out, outer, x_axis, index_axis, inner)`` or ``scatter_add(x, index,
    src, out, outer, x_axis, index_axis, inner)`` -> the flat position of the first index out
    of ``[0, x_axis)``, or -1."""
    element = _ADDED[value] if op == "scatter_add" else ir.IntType(int(value[4:]))
    index_type = ir.IntType(index_bits)
    pointers = 4 if op == "scatter_add" else 3
    module = ir.Module(name=_name(op, value, index_bits))
    function = ir.Function(module, ir.FunctionType(_I64, [_PTR] * pointers + [_I64] * 4),
                           _name(op, value, index_bits))
    *arrays, outer, x_axis, index_axis, inner = function.args
    builder = ir.IRBuilder(function.append_basic_block("entry"))
    failed = function.append_basic_block("index_out_of_range")
    zero = ir.Constant(_I64, 0)

    def at(base: ir.Value, position: ir.Value, typ: ir.Type = element) -> ir.Value:
        return builder.gep(base, [position], source_etype=typ)

    def each_index(body: Callable[[ir.Value, ir.Value], None]) -> None:
        """``body(position, x position)`` for every index in row-major order, after checking
        it (leaving for ``failed`` with its position when out of range)."""
        def row(o: ir.Value) -> None:
            def along(j: ir.Value) -> None:
                def element_of(i: ir.Value) -> None:
                    position = builder.add(builder.mul(builder.add(builder.mul(o, index_axis), j),
                                                       inner), i)
                    value = builder.sext(builder.load(at(arrays[1], position, index_type),
                                                      typ=index_type), _I64)
                    bad = builder.icmp_unsigned(">=", value, x_axis)  # negative: huge unsigned
                    ok = builder.append_basic_block("index_ok")
                    returned.add_incoming(position, builder.block)
                    builder.cbranch(bad, failed, ok)
                    builder.position_at_end(ok)
                    target = builder.add(builder.mul(builder.add(builder.mul(o, x_axis), value),
                                                     inner), i)
                    body(position, target)
                counted_loop(builder, zero, inner, element_of, name="inner")
            counted_loop(builder, zero, index_axis, along, name="along")
        counted_loop(builder, zero, outer, row, name="outer")

    builder.position_at_end(failed)
    returned = builder.phi(_I64)
    builder.ret(returned)
    builder.position_at_end(function.entry_basic_block)
    if op == "gather":
        x, _, out = arrays
        each_index(lambda p, t: builder.store(builder.load(at(x, t), typ=element), at(out, p)))
    else:
        x, _, src, out = arrays
        each_index(lambda p, t: None)  # every index checked before anything is written
        size = builder.mul(builder.mul(outer, x_axis), inner)
        counted_loop(builder, zero, size, lambda p: builder.store(
            builder.load(at(x, p), typ=element), at(out, p)), name="copy")
        add = builder.fadd if isinstance(element, (ir.FloatType, ir.DoubleType)) else builder.add

        def accumulate(p: ir.Value, t: ir.Value) -> None:
            target = at(out, t)
            builder.store(add(builder.load(target, typ=element),
                              builder.load(at(src, p), typ=element)), target)
        each_index(accumulate)
    builder.ret(ir.Constant(_I64, -1))
    return module


def index_loop(compiler: CachingCompiler, op: str, dtype: np.dtype,
               index_dtype: np.dtype) -> Callable[..., int]:
    """The loop of ``op`` for values of ``dtype`` and indices of ``index_dtype``, as a ctypes
    function (see :func:`_module` for its arguments); compiled (or loaded) once per compiler."""
    key = (op, _value_key(op, dtype), index_dtype.itemsize * 8)
    pointers = 4 if op == "scatter_add" else 3
    prototype = ctypes.CFUNCTYPE(ctypes.c_int64, *[ctypes.c_void_p] * pointers,
                                 *[ctypes.c_int64] * 4)
    return compiler.function(_name(*key), lambda: _module(*key), prototype)


__all__ = ["OPS", "collapsed", "index_loop", "suits"]
