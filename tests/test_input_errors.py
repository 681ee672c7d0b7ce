"""Bad input met by a clear error that names what was wrong, where it was once silently
accepted (a wrong result) or met by an error from deep inside: each case came from a hunt for
such input (the CLI's cases are in test_cli.py)."""
import numpy as np
import pytest

import graphc
import graphc.nn.functional as F
import ir
from backends.base import ExecutionError
from graphc import nn, optim
from ir.errors import ParseError, ShapeError


@pytest.mark.parametrize("backend", ["llvm", "interpreter"])
def test_a_compiled_one_hot_of_a_class_out_of_range_is_an_error(backend):
    one_hot = graphc.compile(lambda t: F.one_hot(t, 3), backend=backend)
    assert one_hot(graphc.tensor([2, 0])).tolist() == [[0, 0, 1], [1, 0, 0]]
    for classes in ([3, 1], [-1, 1]):  # a negative class must not wrap to the last one
        with pytest.raises(ExecutionError, match="out of range"):
            one_hot(graphc.tensor(classes))


def test_a_parameter_group_without_params_is_refused():
    with pytest.raises(KeyError, match="'params'"):
        optim.SGD([{"parms": [graphc.ones(2, requires_grad=True)]}], lr=0.1)


def test_flatten_with_start_after_end_is_refused():
    with pytest.raises(ShapeError, match="start_dim .1. cannot come after end_dim .0."):
        graphc.ones(2, 3).flatten(1, 0)


@pytest.mark.parametrize("make", [lambda: graphc.zeros(2.5), lambda: graphc.ones(6).view(2.0, 3),
                                  lambda: graphc.ones(4).reshape(1.5, 4)])
def test_float_sizes_are_refused_not_truncated(make):
    with pytest.raises(TypeError, match="sizes must be ints, got float"):
        make()
    assert graphc.zeros(np.int64(2), graphc.tensor(3)).shape == (2, 3)


def test_a_surrogate_escape_in_ir_is_not_a_character():
    with pytest.raises(ParseError, match=r"1:9: .*escape \\ud800 is not a character"):
        ir.parse('func @"f\\ud800"(%x: f32[2]) -> (f32[2]) {\n  return %x\n}\n')


def test_a_batched_matmul_whose_batches_do_not_broadcast_names_both_operands():
    with pytest.raises(ShapeError, match=r"matmul: batch dimensions do not broadcast: "
                                         r"\[2, 3, 4\] @ \[3, 4, 5\]"):
        graphc.ones(2, 3, 4) @ graphc.ones(3, 4, 5)


@pytest.mark.parametrize("value", ["abc", None])
def test_load_state_dict_names_a_value_that_is_no_tensor(value):
    layer = nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match=f"weight: checkpoint holds a {type(value).__name__}"):
        layer.load_state_dict({"weight": value, "bias": graphc.zeros(2)})


# -- tensor indices out of range -------------------------------------------------------------
GRID = np.arange(12.0, dtype=np.float32).reshape(3, 4)


@pytest.mark.parametrize("rows, cols, bad", [
    ([0], [5], (5, 1, 4)), ([1], [-5], (-5, 1, 4)), ([-4], [0], (-4, 0, 3)),
    ([[0], [2]], [1, 4], (4, 1, 4))])
def test_an_index_past_its_own_axis_never_reads_the_next_axis(rows, cols, bad):
    """Several tensor indices merge into one; x[0, 5] of a 3x4 x was silently x[1, 1]. The
    error names the index as written, its dimension and that dimension's size."""
    x = graphc.tensor(GRID)
    rows, cols = graphc.tensor(rows), graphc.tensor(cols)
    index, dim, size = bad
    eager = f"index {index} is out of bounds for dimension {dim} with size {size}"
    with pytest.raises(IndexError, match=eager):
        x[rows, cols]
    with pytest.raises(IndexError, match=eager):
        x[rows, cols] = 1.0  # index_put goes through the same positions
    compiled = f"index {index} is out of range for axis {dim} of size {size}"
    for backend in ("llvm", "interpreter"):
        with pytest.raises(ExecutionError, match=compiled):
            graphc.compile(lambda t, i, j: t[i, j], backend=backend)(x, rows, cols)
        with pytest.raises(ExecutionError, match=compiled):
            graphc.compile(lambda t, i, j: t.index_put((i, j), graphc.tensor(1.0)),
                           backend=backend)(x, rows, cols)


def test_the_dimension_an_error_names_is_the_indexed_tensors():
    # an int before the indices and a slice between them: dims as the user wrote them
    x = graphc.arange(24.0).reshape(2, 3, 4)
    i, j = graphc.tensor([1]), graphc.tensor([4])
    for fn in (lambda t, i, j: t[0, i, j], lambda t, i, j: t[i, :, j]):
        with pytest.raises(IndexError, match="index 4 is out of bounds for dimension 2 with "
                                             "size 4"):
            fn(x, i, j)
        with pytest.raises(ExecutionError, match="index 4 is out of range for axis 2 of size 4"):
            graphc.compile(fn)(x, i, j)


def test_tensor_indices_in_range_still_count_negatives_from_the_end():
    x = graphc.tensor(GRID)
    rows, cols = graphc.tensor([[0], [-3], [2]]), graphc.tensor([-4, 3])
    expected = GRID[[[0], [-3], [2]], [-4, 3]]
    assert x[rows, cols].numpy().tolist() == expected.tolist()
    for backend in ("llvm", "interpreter"):
        got = graphc.compile(lambda t, i, j: t[i, j], backend=backend)(x, rows, cols)
        assert got.numpy().tolist() == expected.tolist()


@pytest.mark.parametrize("index", [graphc.tensor(-7), graphc.tensor([-7])])
def test_an_index_below_minus_the_size_is_named_as_written(index):
    x = graphc.tensor(GRID)
    with pytest.raises(IndexError, match="index -7 is out of bounds for dimension 0 with size 3"):
        x[index]
    with pytest.raises(ExecutionError, match="index -7 is out of range"):
        graphc.compile(lambda t, i: t[i])(x, index)


# -- argument types --------------------------------------------------------------------------
def test_full_refuses_a_fill_value_that_is_not_a_number():
    with pytest.raises(TypeError, match="fill_value must be a number, not str"):
        graphc.full((2,), "a")
    assert graphc.full((2,), graphc.tensor(1.5)).tolist() == [1.5, 1.5]


@pytest.mark.parametrize("make", [
    lambda p: optim.SGD(p, lr="0.1"), lambda p: optim.Adam(p, betas=(0.9, "0.99")),
    lambda p: optim.RMSprop(p, alpha=None), lambda p: optim.Adagrad(p, eps=[1e-10]),
    lambda p: optim.SGD(p, lr=0.1).add_param_group(
        {"params": [graphc.ones(1, requires_grad=True)], "momentum": "0.9"})])
def test_optimizer_hyperparameters_must_be_numbers(make):
    with pytest.raises(TypeError, match=r"(lr|betas|alpha|eps|momentum) must be a number, got"):
        make([graphc.ones(2, requires_grad=True)])


def test_saving_to_a_directory_names_it(tmp_path):
    with pytest.raises(IsADirectoryError, match=str(tmp_path)):
        graphc.save({"w": graphc.ones(2)}, tmp_path)
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


@pytest.mark.parametrize("make", [graphc.tensor, graphc.from_numpy])
def test_an_array_in_the_other_byte_order_is_refused_with_the_conversion(make):
    with pytest.raises(TypeError, match=r"byte order.*astype\('float32'\)"):
        make(np.arange(3, dtype=">f4"))
