"""What makes a compiled training step fast on the llvm backend (issue 8), and stays correct.

- reductions across rows (a bias gradient: ``sum`` over the batch axis) run with the reduced loop
  outside, folding each element into its output in the same order as before (same bits);
- parameters and optimizer state are updated in place in their own arrays, step after step,
  unless another holder of the array would see the write;
- the compiled step matches the eager step, step for step.
"""
from __future__ import annotations

import numpy as np
import pytest
from test_backend_llvm import _inputs_for, assert_same_as_interpreter

import backends
import ir
from backends.kernel import build_program
from backends.llvm import render
from backends.llvm.backend import LLVMBackend
from backends.llvm.render import folds_row_by_row

LLVM = backends.get("llvm")
F32 = np.float32


# -- reductions across rows ----------------------------------------------------------------------
def column_reduction(op: str, dtype: str, out_dtype: str, shape=(37, 21)) -> ir.Graph:
    rows, cols = shape
    return ir.parse(f"""func @f(%x: {dtype}[{rows},{cols}]) -> ({out_dtype}[{cols}]) {{
      %0: {out_dtype}[{cols}] = {op} %x {{axes=[0]}}
      return %0
    }}""")


def sequential_fold(x: np.ndarray, combine, start) -> np.ndarray:
    """Folds the rows of ``x`` one after the other: the order a column sum must keep."""
    acc = np.full(x.shape[1:], start, dtype=x.dtype)
    for row in x:
        acc = combine(acc, row)
    return acc


def test_a_column_sum_folds_row_by_row_in_the_same_order_as_before():
    graph = column_reduction("sum", "f32", "f32")
    (kernel,) = build_program(graph).kernels
    assert folds_row_by_row(kernel)
    x = np.random.default_rng(0).standard_normal((37, 21)).astype(F32) * 1e3
    got = LLVM.compile(graph)(x)[0]
    np.testing.assert_array_equal(got.view(np.int32), sequential_fold(x, np.add, 0).view(np.int32))


def test_a_column_fold_gives_the_bits_of_the_reduced_loop_innermost_order(monkeypatch):
    graph = column_reduction("sum", "f32", "f32", shape=(300, 40))
    x = np.random.default_rng(1).standard_normal((300, 40)).astype(F32)
    rows_first = LLVMBackend(disk=None).compile(graph)(x)[0]
    monkeypatch.setattr(render, "folds_row_by_row", lambda kernel: False)
    innermost = LLVMBackend(disk=None).compile(graph)(x)[0]
    np.testing.assert_array_equal(rows_first.view(np.int32), innermost.view(np.int32))


@pytest.mark.parametrize("op,dtype,out_dtype", [
    ("sum", "f64", "f64"), ("sum", "i64", "i64"), ("max", "f32", "f32"), ("min", "i32", "i32"),
    ("sum", "i32", "i64"),  # accumulates in i64, stored as i64: folds in place
    ("sum", "bool", "i64"), ("max", "bool", "bool"),
])
def test_column_reductions_match_the_interpreter_in_every_dtype(op, dtype, out_dtype):
    graph = column_reduction(op, dtype, out_dtype)
    arrays = _inputs_for(graph)
    if dtype.startswith("f"):
        arrays[0][3, 5] = np.nan  # max keeps NaN, wherever it comes in the fold
    assert_same_as_interpreter(graph, arrays)


def test_a_row_sum_keeps_its_reduced_loop_innermost():
    graph = ir.parse("""func @f(%x: f32[8,16]) -> (f32[8]) {
      %0: f32[8] = sum %x {axes=[1]}
      return %0
    }""")
    (kernel,) = build_program(graph).kernels
    assert not folds_row_by_row(kernel)
