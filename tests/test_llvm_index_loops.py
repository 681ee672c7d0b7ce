"""gather and scatter_add on llvm run as native loops that check their indices
(backends/llvm/index_loops.py): the same bits as the interpreter's NumPy references, in every
dtype they take, and the same error, naming the index, for one out of range."""
from __future__ import annotations

import numpy as np
import pytest

import backends
from backends.base import ExecutionError
from ir import dtypes
from ir.graph import Graph
from ir.types import TensorType

LLVM = backends.get("llvm")
INTERPRETER = backends.get("interpreter")


def index_graph(op: str, arrays, axis: int) -> Graph:
    graph = Graph(op)
    inputs = [graph.add_input(f"a{i}", TensorType(dtypes.from_numpy(a.dtype), a.shape))
              for i, a in enumerate(arrays)]
    graph.set_outputs(graph.add_node(op, inputs, {"axis": axis}).outputs)
    return graph


def run_both(op: str, arrays, axis: int, native: bool = True):
    """The llvm result (checking whether it ran natively) and the interpreter's."""
    graph = index_graph(op, arrays, axis)
    executable = LLVM.compile(graph)
    assert bool(executable._native_calls) == native
    assert ("# native loop (index_loops)" in executable.source()) == native
    return executable(*arrays)[0], INTERPRETER.compile(graph)(*arrays)[0]


def operands(op, x_shape, index_shape, axis, dtype, index_dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(x_shape) * 100).astype(dtype)
    index = rng.integers(0, x_shape[axis], index_shape).astype(index_dtype)
    if op == "gather":
        return [x, index]
    return [x, index, (rng.standard_normal(index_shape) * 100).astype(dtype)]


# (x shape, index shape, axis): cross-entropy's labels, a middle axis with inner elements and
# an index longer than x's axis (repeated positions: scatter_add adds them in order), axis 0,
# and an empty index
SHAPES = [((256, 10), (256, 1), 1), ((2, 5, 3), (2, 7, 3), 1), ((6, 4), (9, 4), 0),
          ((3, 4), (3, 0), 1)]


@pytest.mark.parametrize("x_shape,index_shape,axis", SHAPES)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64"])
@pytest.mark.parametrize("index_dtype", ["int32", "int64"])
@pytest.mark.parametrize("op", ["gather", "scatter_add"])
def test_same_bits_as_the_reference(op, x_shape, index_shape, axis, dtype, index_dtype):
    got, want = run_both(op, operands(op, x_shape, index_shape, axis, dtype, index_dtype), axis)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize("dtype", ["bool", "float16"])
def test_gather_moves_any_element_width(dtype):
    x = np.arange(24).reshape(4, 6).astype(dtype)
    index = np.array([[5, 0], [1, 1], [2, 4], [3, 3]], np.int64)
    got, want = run_both("gather", [x, index], 1)
    assert got.tobytes() == want.tobytes()


def test_scatter_add_of_another_dtype_keeps_the_library_call():
    x = np.zeros((3, 4), np.float64)
    index = np.array([[1], [2], [3]], np.int64)
    src = np.ones((3, 1), np.float32)  # promoted to x's float64 by the reference
    got, want = run_both("scatter_add", [x, index, src], 1, native=False)
    np.testing.assert_array_equal(got, want)


def test_an_index_narrower_than_x_keeps_the_library_call():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    index = np.array([[3], [0]], np.int64)  # two of x's three rows
    got, want = run_both("gather", [x, index], 1, native=False)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("op", ["gather", "scatter_add"])
@pytest.mark.parametrize("bad", [10, -1])
def test_an_index_out_of_range_is_an_error_naming_it(op, bad):
    arrays = operands(op, (256, 10), (256, 1), 1, "float32", "int64")
    arrays[1][37, 0], arrays[1][200, 0] = bad, 12  # the first bad one, in row-major order
    executable = LLVM.compile(index_graph(op, arrays, 1))
    with pytest.raises(ExecutionError,
                       match=rf"{op} failed.*index {bad} is out of range for axis 1 of size 10"):
        executable(*arrays)
    arrays[1][37, 0] = arrays[1][200, 0] = 3
    executable(*arrays)  # the executable still works with good indices
