"""``x[key]`` with integer-tensor indices, and circular padding, against independent oracles.

PyTorch's indexing rule, spelled in NumPy for the oracle: ints (and 0-d integer tensors) select
first, as ``Tensor.select`` does; the tensor indices then broadcast together and NumPy's rule
places their broadcast dims: where the indexed axes were when the tensor indices stand next to
each other, first when a slice or ``None`` separates them.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc
import graphc.nn.functional as F
from conftest import check_grad


def pytorch_getitem(array: np.ndarray, key: tuple) -> np.ndarray:
    """``array[key]`` as PyTorch computes it, using only NumPy indexing."""
    key = _expand_ellipsis(key, array.ndim)
    is_int = [isinstance(k, int) or (isinstance(k, np.ndarray) and k.ndim == 0) for k in key]
    # Step 1, basic indexing only: ints select, slices slice, None adds an axis.
    first = tuple(int(k) if flag else slice(None) if isinstance(k, np.ndarray) else k
                  for k, flag in zip(key, is_int))
    selected = array[first]
    # Step 2, NumPy's advanced indexing on what is left: every surviving axis is a full slice
    # except the tensor-indexed ones.
    second = tuple(k if isinstance(k, np.ndarray) else slice(None)
                   for k, flag in zip(key, is_int) if not flag)
    return selected[second]


def _expand_ellipsis(key: tuple, ndim: int) -> tuple:
    consumed = sum(1 for k in key if k is not None and k is not Ellipsis)
    at = [i for i, k in enumerate(key) if k is Ellipsis]
    if not at:
        return key + (slice(None),) * (ndim - consumed)
    return key[:at[0]] + (slice(None),) * (ndim - consumed) + key[at[0] + 1:]


def as_graphc_key(key: tuple) -> tuple:
    return tuple(graphc.tensor(k) if isinstance(k, np.ndarray) else k for k in key)


def test_pytorch_getitem_oracle_knows_where_ints_and_separated_tensors_go():
    # The oracle itself, on shapes PyTorch is known to give. An int selects before tensor
    # indices are placed (pytorch/pytorch#157676: arr[:, [0], :, 0] is (5, 1, 7) in PyTorch,
    # (1, 5, 7) in NumPy).
    assert pytorch_getitem(np.zeros((5, 6, 7, 8)), (slice(None), np.array([0]), slice(None), 0)
                           ).shape == (5, 1, 7)
    x = np.zeros((5, 6, 7))
    j = np.array([0, 1])
    assert pytorch_getitem(x, (j, slice(None), j)).shape == (2, 6)               # separated
    assert pytorch_getitem(x, (slice(None), j, j)).shape == (5, 2)               # adjacent
    assert pytorch_getitem(x, (j, None, j)).shape == (2, 1, 7)                   # None separates


def test_advanced_indices_separated_by_none_move_to_the_front():
    # The case: on a (2,5,6,5,3,4) tensor the broadcast index dims (2,3,1,5,6,1) go
    # first, then the three Nones, then the three axes nobody indexed.
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, 5, 6, 5, 3, 4))
    j = rng.integers(-2, 2, (2, 3, 1, 1, 1, 1))
    o = rng.integers(-5, 5, (5, 6, 1))
    p = rng.integers(0, 6, (1,))
    key = (None, None, j, None, o, p)
    expected = x[key]  # NumPy, the independent oracle (no ints here, so PyTorch agrees)
    assert expected.shape == (2, 3, 1, 5, 6, 1, 1, 1, 1, 5, 3, 4)

    eager = graphc.tensor(x)[as_graphc_key(key)]
    compiled = graphc.compile(lambda t, j, o, p: t[None, None, j, None, o, p])(
        graphc.tensor(x), graphc.tensor(j), graphc.tensor(o), graphc.tensor(p))
    for result in (eager, compiled):
        assert result.shape == expected.shape
        np.testing.assert_array_equal(result.numpy(), expected)


def test_an_int_between_tensor_indices_does_not_separate_them():
    x = np.arange(120.0).reshape(2, 3, 4, 5)
    j, o = np.array([1, 0, 1]), np.array([3, 3, 0])
    result = graphc.tensor(x)[graphc.tensor(j), 2, graphc.tensor(o)]
    expected = np.stack([x[a, 2, b] for a, b in zip(j, o)])  # written out element by element
    assert result.shape == (3, 5)
    np.testing.assert_array_equal(result.numpy(), expected)


def test_a_zero_dim_integer_tensor_index_selects_like_an_int():
    x = np.arange(60.0).reshape(3, 4, 5)
    j = np.array([4, 0])
    result = graphc.tensor(x)[graphc.tensor(1), :, graphc.tensor(j)]
    assert result.shape == (4, 2)  # as x[1][:, j]
    np.testing.assert_array_equal(result.numpy(), x[1][:, j])


def test_gradient_of_separated_tensor_indices_matches_finite_differences(rng):
    x = rng.uniform(-1, 1, (3, 4, 5))
    j, o = np.array([[2, 0], [2, 1]]), np.array([4, -1])  # repeats: gradients accumulate
    check_grad(lambda t: t[graphc.tensor(j), None, 1:3, graphc.tensor(o)], [x])
    check_grad(lambda t: t[graphc.tensor(j), :, graphc.tensor(o)], [x])


# -- property: random index tuples --------------------------------------------------------------
@st.composite
def index_cases(draw):
    """A shape and a key of ints, slices (with steps), None, Ellipsis and integer arrays."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    broadcast = draw(st.lists(st.integers(1, 3), max_size=2))
    key = []
    for d in shape:
        if draw(st.integers(0, 3)) == 0:
            key.append(None)
        kind = draw(st.sampled_from(["int", "slice", "array", "array", "full"]))
        if kind == "int":
            key.append(draw(st.integers(-d, d - 1)))
        elif kind == "slice":
            start = draw(st.none() | st.integers(-d - 1, d + 1))
            stop = draw(st.none() | st.integers(-d - 1, d + 1))
            key.append(slice(start, stop, draw(st.none() | st.integers(1, 3))))
        elif kind == "array":  # a shape that broadcasts to `broadcast`
            lead = draw(st.integers(0, len(broadcast)))
            index_shape = [1 if draw(st.booleans()) else n for n in broadcast[lead:]]
            values = draw(st.lists(st.integers(-d, d - 1), min_size=int(np.prod(index_shape)),
                                   max_size=int(np.prod(index_shape))))
            key.append(np.array(values, dtype=np.int64).reshape(index_shape))
        else:
            key.append(slice(None))
    if draw(st.booleans()):
        key.append(None)
    if draw(st.booleans()):  # replace the trailing full slices by an Ellipsis after the rest
        while key and isinstance(key[-1], slice) and key[-1] == slice(None):
            key.pop()
        last = max((i for i, k in enumerate(key) if k is not None), default=-1)
        key.insert(draw(st.integers(last + 1, len(key))), Ellipsis)
    return shape, tuple(key)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index_cases())
def test_getitem_matches_numpy_indexing_with_pytorch_int_selection(case):
    shape, key = case
    x = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    expected = pytorch_getitem(x, key)
    result = graphc.tensor(x)[as_graphc_key(key)]
    assert result.shape == expected.shape, f"key {key}"
    np.testing.assert_array_equal(result.numpy(), expected)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index_cases())
def test_compiled_getitem_matches_numpy_indexing_with_pytorch_int_selection(case):
    shape, key = case
    x = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    arrays = [k for k in key if isinstance(k, np.ndarray)]

    def index(t, *tensors):
        it = iter(tensors)
        return t[tuple(next(it) if isinstance(k, np.ndarray) else k for k in key)]

    result = graphc.compile(index)(graphc.tensor(x), *(graphc.tensor(a) for a in arrays))
    np.testing.assert_array_equal(result.numpy(), pytorch_getitem(x, key))


# -- circular padding ---------------------------------------------------------------------------
CIRCULAR = [
    # (pad, expected for arange(5)), each written out from PyTorch's definition: crop by the
    # negative amounts, then wrap what is left around by the positive ones
    ((1, -2), [2, 0, 1, 2]),
    ((-1, 2), [1, 2, 3, 4, 1, 2]),
    ((-2, -1), [2, 3]),
    ((2, 2), [3, 4, 0, 1, 2, 3, 4, 0, 1]),
    ((-3, 2), [3, 4, 3, 4]),
]


@pytest.mark.parametrize("pad,expected", CIRCULAR, ids=[str(p) for p, _ in CIRCULAR])
def test_circular_pad_with_negative_padding_crops_then_wraps(pad, expected):
    x = graphc.arange(5.0).reshape(1, 1, 5)
    eager = F.pad(x, pad, mode="circular")
    compiled = graphc.compile(lambda t: F.pad(t, pad, mode="circular"))(x)
    for result in (eager, compiled):
        assert result.numpy().reshape(-1).tolist() == expected


def test_circular_pad_refuses_wrapping_the_cropped_axis_more_than_once():
    x = graphc.arange(5.0).reshape(1, 1, 5)
    with pytest.raises(ValueError, match="more than once"):
        F.pad(x, (3, -3), mode="circular")  # 2 elements left, 3 to wrap
    with pytest.raises(ValueError, match="more than once"):
        F.pad(x, (6, 0), mode="circular")


def test_gradient_of_cropping_circular_pad_matches_finite_differences(rng):
    x = rng.uniform(-1, 1, (1, 2, 4, 5))
    check_grad(lambda t: F.pad(t, (2, -1, -1, 1), mode="circular"), [x])
