"""graphc raises the built-in exception types PyTorch raises for the same mistakes (issue 10),
so ``except RuntimeError:`` / ``except IndexError:`` written for PyTorch works unchanged.

The expected type of each row is PyTorch's (2.x, CPU): RuntimeError for shape, dtype and
autograd misuse, IndexError for dims and indices out of range, TypeError for wrong argument
types, ValueError where PyTorch's Python layer raises it. graphc's own classes (ShapeError,
AxisError, AutogradError, DeviceError, ...) subclass those built-ins and keep their messages;
each row also checks that the message says what was wrong.
"""
from __future__ import annotations

import pytest

import graphc
from graphc import nn
from graphc.nn import functional as F


def _backward_twice():
    a = graphc.ones(2, requires_grad=True)
    loss = (a * a).sum()
    loss.backward()
    loss.backward()


def _set_item_wrong_shape():
    x = graphc.ones(3)
    x[:] = graphc.ones(2)


# (mistake, code that makes it, the type PyTorch raises, a word of graphc's message)
MISTAKES = [
    ("matmul_inner_dims_differ", lambda: graphc.ones(2, 3) @ graphc.ones(2, 3),
     RuntimeError, "matmul"),
    ("mm_inner_dims_differ", lambda: graphc.mm(graphc.ones(2, 3), graphc.ones(2, 3)),
     RuntimeError, "matmul"),
    ("linear_wrong_in_features", lambda: nn.Linear(3, 2)(graphc.ones(4, 5)),
     RuntimeError, "5 != 3"),
    ("broadcast_add_mismatch", lambda: graphc.ones(2, 3) + graphc.ones(4), RuntimeError,
     "broadcast"),
    ("broadcast_mul_mismatch", lambda: graphc.ones(2, 3) * graphc.ones(2, 2), RuntimeError,
     "broadcast"),
    ("where_shapes_mismatch", lambda: graphc.where(graphc.ones(2, dtype=graphc.bool),
                                                   graphc.ones(2), graphc.ones(3)),
     RuntimeError, "broadcast"),
    ("mse_loss_sizes_mismatch", lambda: F.mse_loss(graphc.ones(2, 3), graphc.ones(4, 3)),
     RuntimeError, "broadcast"),
    ("cat_sizes_mismatch", lambda: graphc.cat([graphc.ones(2, 3), graphc.ones(2, 4)]),
     RuntimeError, "shape"),
    ("stack_sizes_mismatch", lambda: graphc.stack([graphc.ones(2), graphc.ones(3)]),
     RuntimeError, "shape"),
    ("cat_of_nothing", lambda: graphc.cat([]), ValueError, "non-empty"),
    ("view_wrong_numel", lambda: graphc.ones(2, 3).view(4, 2), RuntimeError, "reshape"),
    ("reshape_wrong_numel", lambda: graphc.ones(2, 3).reshape(5), RuntimeError, "reshape"),
    ("reshape_two_inferred_dims", lambda: graphc.ones(2, 3).reshape(-1, -1), RuntimeError,
     "only one dimension"),
    ("expand_non_singleton", lambda: graphc.ones(2, 3).expand(4, 3), RuntimeError,
     "broadcast"),
    ("permute_wrong_length", lambda: graphc.ones(2, 3).permute(0), RuntimeError, "perm"),
    ("narrow_past_the_end", lambda: graphc.ones(3).narrow(0, 2, 5), RuntimeError, "stop"),
    ("split_sizes_wrong_sum", lambda: graphc.ones(3).split([1, 1]), RuntimeError, "add up"),
    ("chunk_zero_chunks", lambda: graphc.ones(3).chunk(0), RuntimeError, "positive"),
    ("dot_lengths_differ", lambda: graphc.dot(graphc.ones(2), graphc.ones(3)), RuntimeError,
     "same length"),
    ("matmul_of_0d", lambda: graphc.matmul(graphc.tensor(1.0), graphc.ones(2)), RuntimeError,
     "at least one dimension"),
    ("conv2d_wrong_channels", lambda: nn.Conv2d(3, 4, 3)(graphc.ones(1, 2, 5, 5)),
     RuntimeError, "channels"),
    ("setitem_wrong_shape", _set_item_wrong_shape, RuntimeError, "broadcast"),
    ("zeros_negative_size", lambda: graphc.zeros(-1), RuntimeError, "negative"),
    ("item_of_many_elements", lambda: graphc.ones(2).item(), RuntimeError, "one element"),
    ("bool_of_many_elements", lambda: bool(graphc.ones(2)), RuntimeError, "ambiguous"),
    ("bitwise_and_of_floats", lambda: graphc.ones(2) & graphc.ones(2), NotImplementedError,
     "bitwise"),
    ("sub_of_bools", lambda: graphc.ones(2, dtype=graphc.bool) - graphc.ones(2, dtype=graphc.bool),
     RuntimeError, "bool"),
    ("backward_twice", _backward_twice, RuntimeError, "second time"),
    ("backward_of_non_scalar", lambda: (graphc.ones(2, requires_grad=True) * 2).backward(),
     RuntimeError, "scalar"),
    ("in_place_on_leaf_requiring_grad", lambda: graphc.ones(2, requires_grad=True).add_(1),
     RuntimeError, "leaf"),
    ("requires_grad_on_integers", lambda: graphc.tensor([1, 2], requires_grad=True),
     RuntimeError, "floating point"),
    ("randint_empty_range", lambda: graphc.randint(5, 2, (3,)), RuntimeError, "greater than"),
    ("arange_zero_step", lambda: graphc.arange(0, 5, 0), RuntimeError, "nonzero"),
    ("unknown_device", lambda: graphc.device("tpu"), RuntimeError, "unknown device"),
    ("to_unknown_device", lambda: graphc.ones(2).to("tpu"), RuntimeError, "unknown device"),
    ("gather_index_out_of_range", lambda: graphc.gather(graphc.ones(3), 0, graphc.tensor([5])),
     RuntimeError, "out of range"),
    ("sum_dim_out_of_range", lambda: graphc.ones(2, 3).sum(5), IndexError, "out of range"),
    ("softmax_dim_out_of_range", lambda: graphc.ones(2, 3).softmax(2), IndexError,
     "out of range"),
    ("transpose_dim_out_of_range", lambda: graphc.ones(2, 3).transpose(0, 3), IndexError,
     "out of range"),
    ("unsqueeze_dim_out_of_range", lambda: graphc.ones(2, 3).unsqueeze(4), IndexError,
     "out of range"),
    ("squeeze_dim_out_of_range", lambda: graphc.ones(2, 3).squeeze(3), IndexError,
     "out of range"),
    ("cat_dim_out_of_range", lambda: graphc.cat([graphc.ones(2), graphc.ones(2)], 1),
     IndexError, "out of range"),
    ("argmax_dim_out_of_range", lambda: graphc.ones(3).argmax(1), IndexError, "out of range"),
    ("size_of_dim_out_of_range", lambda: graphc.ones(3).size(1), IndexError, "out of range"),
    ("index_out_of_range", lambda: graphc.ones(3)[5], IndexError, "out of bounds"),
    ("too_many_indices", lambda: graphc.ones(3)[0, 0], IndexError, "too many indices"),
    ("index_select_out_of_range", lambda: graphc.ones(3).index_select(0, graphc.tensor([5])),
     IndexError, "out of range"),
    ("embedding_index_out_of_range", lambda: nn.Embedding(3, 2)(graphc.tensor([5])),
     IndexError, "out of range"),
    ("unbind_of_0d", lambda: graphc.tensor(1.0).unbind(), IndexError, "no dimensions"),
    ("len_of_0d", lambda: len(graphc.tensor(1.0)), TypeError, "0-d"),
    ("add_a_string", lambda: graphc.ones(2) + "a", TypeError, "cannot make a tensor"),
    ("sum_over_a_string_dim", lambda: graphc.ones(2).sum("a"), TypeError, "dim"),
    ("grad_set_to_a_list", lambda: setattr(graphc.ones(2, requires_grad=True), "grad", [1.0]),
     TypeError, "grad"),
    ("ragged_nested_lists", lambda: graphc.tensor([[1, 2], [3]]), ValueError, "ragged"),
    ("cross_entropy_batch_sizes_differ",
     lambda: F.cross_entropy(graphc.ones(4, 3), graphc.zeros(5, dtype=graphc.int64)),
     ValueError, "target"),
    ("backward_of_a_non_scalar", lambda: (graphc.ones(3, requires_grad=True) * 2).backward(),
     RuntimeError, "grad can be implicitly created only for scalar outputs"),
    ("backward_gradient_of_another_shape",
     lambda: (graphc.ones(3, requires_grad=True) * 2).backward(graphc.ones(1)),
     RuntimeError, "Mismatch in shape"),
    ("backward_without_history", lambda: graphc.ones(3).sum().backward(), RuntimeError,
     "does not require grad and does not have a grad_fn"),
    ("softmax_of_integers", lambda: F.softmax(graphc.tensor([1, 2]), dim=0),
     NotImplementedError, "not implemented"),
    ("sdpa_float64_mask_float32_query",
     lambda: F.scaled_dot_product_attention(graphc.ones(1, 2, 4), graphc.ones(1, 2, 4),
                                            graphc.ones(1, 2, 4),
                                            attn_mask=graphc.zeros(2, 2, dtype=graphc.float64)),
     RuntimeError, "attn_mask"),
]


@pytest.mark.parametrize("mistake,code,expected,words", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_mistake_raises_the_builtin_type_pytorch_raises(mistake, code, expected, words):
    with pytest.raises(expected, match=words):
        code()


def test_graphc_classes_keep_their_names_and_subclass_the_builtins():
    assert issubclass(graphc.ShapeError, RuntimeError) and issubclass(graphc.ShapeError,
                                                                       ValueError)
    assert issubclass(graphc.DTypeError, NotImplementedError)
    assert issubclass(graphc.AutogradError, RuntimeError)
    assert issubclass(graphc.DeviceError, RuntimeError)
    assert issubclass(graphc.TraceError, RuntimeError)
    from ir.errors import AxisError, IndexRangeError
    assert issubclass(AxisError, IndexError) and issubclass(IndexRangeError, IndexError)


def test_compiled_mistakes_raise_the_same_builtin_types():
    bad_gather = graphc.compile(lambda x, i: graphc.gather(x, 0, i))
    with pytest.raises(RuntimeError, match="out of range"):
        bad_gather(graphc.ones(3), graphc.tensor([5]))
    mismatched = graphc.compile(lambda a, b: a @ b)
    with pytest.raises(RuntimeError, match="matmul"):
        mismatched(graphc.ones(2, 3), graphc.ones(2, 3))
    reads_a_value = graphc.compile(lambda x: x * 2 if x.sum() > 0 else x)
    with pytest.raises(RuntimeError):  # a TraceError; torch.compile's errors are RuntimeErrors
        reads_a_value(graphc.ones(2))
