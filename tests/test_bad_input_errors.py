"""The fixes the bad-input fuzzer (benchmarks/bad_input_fuzz.py) led to, one test each: graphc's
own error classes, of the built-in types PyTorch raises, with messages that name the argument."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.nn.functional as F
from backends.base import ExecutionError
from graphc import nn
from graphc.arg_checks import check_choice, require_floating, require_integer, require_tensor
from graphc.errors import (
    ArgumentDTypeError,
    ArgumentError,
    ArgumentTypeError,
    GraphcError,
    IndexArgumentError,
    ShapeError,
    UnsupportedArgumentError,
)
from ir.errors import AxisError, DimTypeError, IndexRangeError, IRError


def test_the_new_classes_have_pytorchs_builtin_bases_and_the_old_ones():
    assert issubclass(ArgumentTypeError, GraphcError) and issubclass(ArgumentTypeError, TypeError)
    # torch: RuntimeError / NotImplementedError; graphc before: TypeError
    for base in (TypeError, RuntimeError, NotImplementedError, ShapeError):
        assert issubclass(ArgumentDTypeError, base)
    for base in (ArgumentError, ValueError, NotImplementedError):
        assert issubclass(UnsupportedArgumentError, base)
    assert issubclass(IndexArgumentError, IndexError) and issubclass(IndexArgumentError,
                                                                      GraphcError)
    assert issubclass(DimTypeError, IRError) and issubclass(DimTypeError, TypeError)
    for name in ("ArgumentTypeError", "ArgumentDTypeError", "UnsupportedArgumentError",
                 "IndexArgumentError"):
        assert name in graphc.__all__ and getattr(graphc, name).__name__ == name


# -- the shared checkers ------------------------------------------------------------------------
@pytest.mark.parametrize("value, kind", [([1.0], "list"), (None, "NoneType"),
                                         (np.ones(2), "ndarray"), (2.0, "float")])
def test_require_tensor_names_the_function_argument_and_type(value, kind):
    with pytest.raises(ArgumentTypeError,
                       match=rf"^f\(\): argument 'x' must be Tensor, not {kind}$"):
        require_tensor(value, "x", "f")
    t = graphc.ones(2)
    assert require_tensor(t, "x", "f") is t


def test_require_integer_and_floating_name_the_dtype_as_pytorch_does():
    with pytest.raises(ArgumentDTypeError, match=r"f\(\): expected i to be an integer tensor "
                                                 r"\(Long or Int\), but got Float"):
        require_integer(graphc.ones(2), "i", "f")
    with pytest.raises(ArgumentDTypeError, match="expected x to be a floating point tensor, but "
                                                 "got Long"):
        require_floating(graphc.ones(2, dtype=graphc.int64), "x", "f")
    with pytest.raises(ArgumentDTypeError, match="got Bool"):
        require_integer(graphc.ones(2, dtype=graphc.bool), "i", "f")
    assert require_integer(graphc.tensor([1], dtype=graphc.int32), "i", "f").dtype == graphc.int32


def test_check_choice_lists_the_choices():
    with pytest.raises(ArgumentError, match=r"f\(\): mode must be one of 'a', 'b', got 'c'"):
        check_choice("c", "mode", ("a", "b"), "f")
    with pytest.raises(UnsupportedArgumentError):
        check_choice("c", "mode", ("a",), "f", error=UnsupportedArgumentError)
    assert check_choice("a", "mode", ("a", "b"), "f") == "a"


# -- tensors where PyTorch needs tensors --------------------------------------------------------
@pytest.mark.parametrize("call, words", [
    (lambda: nn.Linear(2, 3)([[1.0, 2.0]]), "linear(): argument 'input' must be Tensor, not list"),
    (lambda: F.linear(graphc.ones(1, 2), np.ones((3, 2))), "argument 'weight' must be Tensor"),
    (lambda: nn.Embedding(5, 2)([1, 2]), "embedding(): argument 'input' must be Tensor"),
    (lambda: F.mse_loss(graphc.ones(2), [1.0, 2.0]), "mse_loss(): argument 'target'"),
    (lambda: F.l1_loss(np.ones(2), graphc.ones(2)), "l1_loss(): argument 'input'"),
    (lambda: F.cross_entropy(graphc.ones(2, 3), [0, 1]), "cross_entropy(): argument 'target'"),
    (lambda: graphc.ones_like([1.0]), "ones_like(): argument 'input' must be Tensor, not list"),
    (lambda: graphc.zeros_like(None), "zeros_like(): argument 'input' must be Tensor, not None"),
    (lambda: graphc.randn_like(np.ones(2)), "randn_like(): argument 'input'"),
    (lambda: graphc.cat(graphc.ones(2, 3)), "cat(): argument 'tensors' must be a tuple or list"),
    (lambda: graphc.stack([graphc.ones(2), None]), "expected Tensor as element 1"),
    (lambda: graphc.add(graphc.ones(2), None), "expected a Tensor, a number or a nested list"),
    (lambda: graphc.abs_([1.0]), "abs_(): argument 'input' must be Tensor, not list"),
    (lambda: graphc.sigmoid_(None), "sigmoid_(): argument 'input' must be Tensor, not NoneType"),
    (lambda: graphc.cat(None), "cat(): argument 'tensors' must be a tuple or list of Tensors, "
                               "not NoneType"),
    (lambda: graphc.vstack(None), "vstack(): expected a list or tuple of tensors, got NoneType"),
    (lambda: graphc.sum([1.0, 2.0]), "sum(): argument 'input' must be Tensor, not list"),
    (lambda: graphc.amax(None), "amax(): argument 'input' must be Tensor, not NoneType"),
    (lambda: graphc.var(np.ones(3)), "var(): argument 'input' must be Tensor, not ndarray"),
    (lambda: graphc.logsumexp([1.0], 0), "logsumexp(): argument 'input' must be Tensor"),
])
def test_a_non_tensor_where_a_tensor_is_needed_is_a_type_error(call, words):
    with pytest.raises(ArgumentTypeError) as info:
        call()
    assert words in str(info.value)


def test_cat_of_a_tensor_no_longer_concatenates_its_rows():
    # graphc used to iterate the tensor: cat(ones(2, 3)) gave a [6] tensor, where PyTorch refuses
    with pytest.raises(TypeError):
        graphc.cat(graphc.ones(2, 3))
    assert graphc.cat([graphc.ones(2, 3)]).shape == (2, 3)


# -- dtypes -------------------------------------------------------------------------------------
@pytest.mark.parametrize("call, words", [
    (lambda: nn.Linear(2, 3)(graphc.ones(4, 2, dtype=graphc.int64)),
     "input and weight must have the same dtype, but got Long input and Float weight"),
    (lambda: F.nll_loss(graphc.ones(2, 3), graphc.ones(2)),
     "nll_loss: target must hold class indices as int64 (or uint8)"),
    (lambda: F.nll_loss(graphc.ones(2, 3, dtype=graphc.int64), graphc.tensor([0, 1])),
     "nll_loss(): expected input to be a floating point tensor, but got Long"),
    (lambda: F.cross_entropy(graphc.ones(2, 3, dtype=graphc.int64), graphc.tensor([0, 1])),
     "cross_entropy(): expected input to be a floating point tensor"),
    (lambda: F.embedding(graphc.ones(2), graphc.ones(5, 2)),
     "embedding(): expected input to be an integer tensor"),
    (lambda: F.one_hot(graphc.ones(2), 3), "one_hot is only applicable to index tensors"),
    (lambda: nn.LSTM(4, 3)(graphc.ones(5, 2, 4, dtype=graphc.int64)), "LSTM: input dtype i64"),
    (lambda: graphc.linalg.inv(graphc.eye(2, dtype=graphc.int64)),
     "expected a floating point tensor"),
])
def test_a_wrong_dtype_is_a_dtype_error(call, words):
    with pytest.raises(ArgumentDTypeError) as info:
        call()
    assert words in str(info.value)
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, TypeError)


def test_linear_still_takes_matching_float_dtypes():
    layer = nn.Linear(2, 3).double()
    assert layer(graphc.ones(4, 2, dtype=graphc.float64)).dtype == graphc.float64


# -- shapes and values: PyTorch's RuntimeError, still the ValueError graphc raised before ----------
@pytest.mark.parametrize("call, words", [
    (lambda: nn.Conv2d(3, 4, 3)(graphc.ones(5, 5)), "conv2d: expected a 3-D (unbatched) or 4-D"),
    (lambda: nn.BatchNorm2d(3)(graphc.ones(2, 4, 5, 5)), "BatchNorm2d(3) got input with 4 channels"),
    (lambda: nn.LayerNorm(5)(graphc.ones(2, 4)), "normalized_shape [5] does not match"),
    (lambda: nn.LSTM(4, 3)(graphc.ones(5, 2, 6)), "Expected 4, got 6"),
    (lambda: nn.GRU(4, 3)(graphc.ones(5, 2, 4), graphc.ones(1, 2, 5)), "expected hx size"),
    (lambda: nn.MultiheadAttention(8, 2)(*[graphc.ones(3, 2, 6)] * 3), "query has 6 features"),
    (lambda: F.cross_entropy(graphc.ones(2, 3), graphc.tensor([0, 1]), weight=graphc.ones(4)),
     "weight tensor should be defined either for all 3 classes"),
    (lambda: graphc.linalg.solve(graphc.eye(3), graphc.ones(2)), "B of shape [2]"),
    (lambda: graphc.ones(4).narrow(0, 1, -1), "narrow(): length must be non-negative, got -1"),
    (lambda: F.pixel_shuffle(graphc.ones(1, 3, 2, 2), 2), "divisible by the square"),
])
def test_a_shape_mistake_is_a_shape_error(call, words):
    with pytest.raises(ShapeError) as info:
        call()
    assert words in str(info.value)


@pytest.mark.parametrize("call, words", [
    (lambda: F.mse_loss(graphc.ones(2), graphc.ones(2), reduction="meen"), "got 'meen'"),
    (lambda: nn.MultiheadAttention(10, 3), "embed_dim (10) must be divisible by num_heads (3)"),
    (lambda: nn.TransformerEncoderLayer(8, 2, 16, activation="foo"), "not foo"),
    (lambda: graphc.clamp(graphc.ones(2)), "at least one of 'min' or 'max'"),
    (lambda: graphc.topk(graphc.ones(3), 5), "k=5 out of range"),
    (lambda: graphc.multinomial(graphc.tensor([0.5, -1.0]), 1), "element < 0"),
    (lambda: F.binary_cross_entropy(graphc.full((2,), 1.5), graphc.ones(2)), "between 0 and 1"),
    (lambda: optim_sgd(lr=-0.1), "invalid learning rate: -0.1"),
    (lambda: graphc.utils.data.DataLoader([1, 2], batch_size=0), "batch_size"),
])
def test_a_bad_value_is_an_argument_error(call, words):
    with pytest.raises(ArgumentError) as info:
        call()
    assert words in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, RuntimeError)


def optim_sgd(**kwargs):
    return graphc.optim.SGD([graphc.ones(2, requires_grad=True)], **kwargs)


@pytest.mark.parametrize("call, words", [
    (lambda: nn.Upsample(scale_factor=2, mode="bilinearr")(graphc.ones(1, 1, 2, 2)),
     "mode 'bilinearr' is not supported"),
    (lambda: F.interpolate(graphc.ones(1, 1, 4), scale_factor=2, mode="bilinear"),
     "Got 3D input, but bilinear mode needs 4D input"),
    (lambda: F.pad(graphc.ones(1, 1, 4), (1, 1), mode="reflct"), "got 'reflct'"),
])
def test_an_unknown_mode_is_not_implemented_as_in_pytorch(call, words):
    with pytest.raises(UnsupportedArgumentError) as info:
        call()
    assert words in str(info.value)
    assert isinstance(info.value, NotImplementedError) and isinstance(info.value, ValueError)


# -- indices --------------------------------------------------------------------------------------
def test_index_arguments_of_the_wrong_kind_are_index_errors():
    with pytest.raises(IndexArgumentError, match="Index is supposed to be a vector"):
        graphc.index_select(graphc.ones(3), 0, graphc.tensor([[0]]))
    with pytest.raises(IndexArgumentError, match="tensors used as indices must be integer"):
        graphc.ones(3)[graphc.ones(1)]
    with pytest.raises(IndexRangeError, match=r"class values must be in \[0, 3\)"):
        F.one_hot(graphc.tensor([0, 4]), 3)


def test_softmax_over_a_dim_out_of_range_names_the_dim():
    # was "tuple index out of range" from inside graphc
    with pytest.raises(AxisError, match="out of range"):
        F.softmax(graphc.ones(2, 3), dim=2)
    np.testing.assert_allclose(F.softmax(graphc.ones(2, 0), dim=-1).numpy(), np.ones((2, 0)))


def test_a_float_dim_is_a_type_error_from_the_ir():
    with pytest.raises(DimTypeError, match="dim must be an int, got float 0.0"):
        graphc.ones(2, 3).transpose(0.0, 1)


@pytest.mark.parametrize("bad", [[0, 7], [0, -7]])
@pytest.mark.parametrize("call", [
    lambda i: F.embedding(i, graphc.ones(5, 2)),
    lambda i: graphc.index_select(graphc.ones(5), 0, i),
    lambda i: graphc.gather(graphc.ones(5), 0, i),
    lambda i: F.cross_entropy(graphc.ones(2, 5), i),
    lambda i: graphc.ones(5)[i],
], ids=["embedding", "index_select", "gather", "cross_entropy", "getitem"])
def test_out_of_range_indices_raise_eagerly_and_compiled(call, bad):
    index = graphc.tensor(bad)
    with pytest.raises(IndexError, match="out of (range|bounds)"):
        call(index)
    # compiled: an ExecutionError (a RuntimeError, not an IndexError) naming op, index and size,
    # raised before any result is returned; never an entry read from outside the table
    for backend in ("interpreter", "llvm"):
        with pytest.raises(ExecutionError, match=rf"index {bad[1]} is out of range for axis"):
            graphc.compile(call, backend=backend)(index)
