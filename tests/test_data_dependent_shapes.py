"""``nonzero``, ``argwhere`` and ``masked_select``: eager with PyTorch's results; inside
``graphc.compile`` a TraceError that names the op and suggests a mask instead (issue 10)."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from conftest import assert_close, check_grad


def test_nonzero_lists_indices_row_major_like_pytorch():
    x = graphc.tensor([[0.0, 1.5, 0.0], [-2.0, 0.0, 3.0]])
    assert graphc.nonzero(x).tolist() == [[0, 1], [1, 0], [1, 2]]
    assert x.nonzero().dtype == graphc.int64
    rows, cols = x.nonzero(as_tuple=True)
    assert rows.tolist() == [0, 1, 1] and cols.tolist() == [1, 0, 2]
    assert graphc.argwhere(x).tolist() == [[0, 1], [1, 0], [1, 2]]


def test_nonzero_of_empty_result_and_of_0d_tensors():
    assert graphc.nonzero(graphc.zeros(2, 3)).shape == (0, 2)
    assert graphc.nonzero(graphc.tensor(3.0)).shape == (1, 0)
    assert graphc.nonzero(graphc.tensor(0.0)).shape == (0, 0)
    (only,) = graphc.nonzero(graphc.tensor(3.0), as_tuple=True)  # a 0-d input counts as 1-d
    assert only.tolist() == [0]


def test_masked_select_broadcasts_and_returns_a_1d_tensor():
    x = graphc.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    mask = graphc.tensor([True, False, True])
    assert graphc.masked_select(x, mask).tolist() == [1.0, 3.0, 4.0, 6.0]
    assert x.masked_select(x > 4).tolist() == [5.0, 6.0]
    with pytest.raises(RuntimeError, match="bool"):
        graphc.masked_select(x, graphc.tensor([1, 0, 1]))
    with pytest.raises(RuntimeError):
        graphc.masked_select(x, graphc.tensor([True, False]))


def test_masked_select_gradient_reaches_the_selected_elements():
    mask = graphc.tensor([[True, False], [False, True]])
    grads = check_grad(lambda x: graphc.masked_select(x * x, mask), [np.array([[1.0, 2.0],
                                                                           [3.0, -4.0]])])
    assert grads[0][0, 1] == 0.0 and grads[0][1, 0] == 0.0
    selected = graphc.masked_select(graphc.tensor([[1.0, 2.0], [3.0, -4.0]]), mask)
    assert_close(selected, np.array([1.0, -4.0]))


@pytest.mark.parametrize("op", [
    lambda x: graphc.nonzero(x), lambda x: x.nonzero(as_tuple=True)[0],
    lambda x: graphc.argwhere(x), lambda x: graphc.masked_select(x, x > 0),
], ids=["nonzero", "nonzero_as_tuple", "argwhere", "masked_select"])
def test_data_dependent_shapes_inside_compile_are_a_clear_trace_error(op):
    f = graphc.compile(op)
    with pytest.raises(graphc.TraceError, match=r"output shape depends on the values.*mask"):
        f(graphc.tensor([1.0, 0.0, 2.0]))


def test_trace_error_names_the_op():
    f = graphc.compile(lambda x: graphc.masked_select(x, x > 0).sum())
    with pytest.raises(RuntimeError, match=r"^masked_select\(\) inside a compiled function"):
        f(graphc.tensor([1.0, -1.0]))


def test_unique_keeps_each_nan_apart_as_pytorch():
    values, inverse, counts = graphc.unique(graphc.tensor([2.0, float("nan"), 1.0, 2.0,
                                                           float("nan")]),
                                            return_inverse=True, return_counts=True)
    assert values[:2].tolist() == [1.0, 2.0] and np.isnan(values[2:].numpy()).all()
    assert inverse.tolist() == [1, 2, 0, 1, 3] and counts.tolist() == [1, 2, 1, 1]
