"""Boolean-mask indexing (``x[mask]``, ``x[:, mask]``, ``x[mask] = values``) against NumPy,
whose boolean indexing PyTorch follows; gradients against finite differences (conftest's
tolerances). Values are exact: indexing copies elements."""
import warnings

import numpy as np
import pytest

import graphc
from conftest import check_grad

RNG = np.random.default_rng(7)
X = RNG.standard_normal((3, 4, 5))


@pytest.mark.parametrize("key", [
    lambda x: x > 0,                                  # a mask over every axis
    lambda x: x[:, :, 0] > 0,                         # over the leading two axes
    lambda x: (slice(None), x[0, :, 0] > 0),          # x[:, mask]
    lambda x: (Ellipsis, x[0, 0] > 0),                # x[..., mask]
    lambda x: (x[:, 0, 0] > 0, slice(None), 2),       # a mask with an int and a slice
    lambda x: (x[:, 0, 0] > 0, None, slice(1, 3)),    # with None and a slice
    lambda x: np.zeros(3, dtype=bool),                 # selects nothing
])
def test_mask_indexing_reads_what_numpy_reads(key):
    k = key(X)
    as_graphc = tuple(graphc.tensor(i) if isinstance(i, np.ndarray) else i for i in k) \
        if isinstance(k, tuple) else graphc.tensor(k)
    got = graphc.tensor(X)[as_graphc]
    np.testing.assert_array_equal(got.numpy(), X[k])


def test_masks_given_as_lists_and_arrays_read_the_same():
    rows = [True, False, True]
    np.testing.assert_array_equal(graphc.tensor(X)[rows].numpy(), X[rows])
    np.testing.assert_array_equal(graphc.tensor(X)[np.array(rows)].numpy(), X[np.array(rows)])


def test_gradients_flow_to_the_selected_elements():
    mask = X > 0.3
    check_grad(lambda x: x[graphc.tensor(mask)] ** 2, [X])
    check_grad(lambda x: x[:, graphc.tensor(mask[0, :, 0])].sin(), [X])


def test_a_uint8_index_is_a_mask_with_pytorchs_deprecation_warning():
    x = graphc.arange(6.0)
    with pytest.warns(UserWarning, match="uint8 is deprecated") as caught:
        got = x[graphc.tensor([1, 0, 1, 0, 1, 1], dtype=graphc.uint8)]
    assert got.tolist() == [0.0, 2.0, 4.0, 5.0]
    assert caught[0].filename == __file__  # points at the user's line


def test_a_mask_of_the_wrong_shape_is_named_as_pytorch_names_it():
    with pytest.raises(IndexError, match=r"The shape of the mask \[2\] at index 0 does not "
                                         r"match the shape of the indexed tensor \[3, 4, 5\] "
                                         r"at index 1"):
        graphc.tensor(X)[:, graphc.tensor([True, False])]


def test_assigning_one_value_per_selected_element():
    x = graphc.tensor(X.copy())
    mask = X > 0
    values = RNG.standard_normal(int(mask.sum()))
    x[graphc.tensor(mask)] = graphc.tensor(values)
    expected = X.copy()
    expected[mask] = values
    np.testing.assert_array_equal(x.numpy(), expected)
    x = graphc.tensor(X.copy())
    columns = X[0, 0] > 0
    x[:, :, graphc.tensor(columns)] = -1.0
    expected = X.copy()
    expected[:, :, columns] = -1.0
    np.testing.assert_array_equal(x.numpy(), expected)


def test_index_put_accumulates_through_a_mask():
    mask = graphc.tensor([True, False, True, True, False])
    got = graphc.index_put(graphc.ones(5), (mask,), graphc.tensor(2.0), accumulate=True)
    assert got.tolist() == [3.0, 1.0, 3.0, 3.0, 1.0]


def test_inside_a_compiled_function_a_mask_read_is_refused_and_a_where_still_traces():
    @graphc.compile
    def read(x):
        return x[x > 0]

    with pytest.raises(Exception, match="data-dependent shape"):
        read(graphc.tensor(X))

    @graphc.compile
    def clear(x):
        y = x * 1.0
        y[y < 0] = 0.0
        return y

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(clear(graphc.tensor(X)).numpy(), np.maximum(X, 0.0))
