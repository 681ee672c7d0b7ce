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
