"""``graphc.testing``: ``assert_close`` passes and fails where ``torch.testing.assert_close``
does, with its messages (written down from PyTorch 2.13's), and ``make_tensor`` fills the
ranges it documents."""
import math

import numpy as np
import pytest

import graphc
from graphc.testing import assert_close, make_tensor


def test_close_values_pass_within_the_dtype_defaults():
    assert_close(graphc.tensor([1.0, 2.0]), graphc.tensor([1.0, 2.0 + 2e-6]))  # f32 rtol 1.3e-6
    assert_close(graphc.tensor([1.0], dtype=graphc.float64),
                 graphc.tensor([1.0 + 5e-8], dtype=graphc.float64))
    assert_close([graphc.ones(2), {"a": 1.0}], [graphc.ones(2), {"a": 1.0}])
    assert_close(graphc.tensor([math.nan]), graphc.tensor([math.nan]), equal_nan=True)
    assert_close(graphc.tensor([math.inf]), graphc.tensor([math.inf]))


def test_a_float_mismatch_reports_counts_and_the_greatest_differences():
    with pytest.raises(AssertionError) as error:
        assert_close(graphc.tensor([1.0, 2.0, 3.0]), graphc.tensor([1.0, 2.1, 3.0]))
    assert str(error.value) == (
        "Tensor-likes are not close!\n\nMismatched elements: 1 / 3 (33.3%)\n"
        "Greatest absolute difference: 0.09999990463256836 at index (1,) (up to 1e-05 allowed)\n"
        "Greatest relative difference: 0.04761900380253792 at index (1,) (up to 1.3e-06 "
        "allowed)")


def test_integers_compare_exactly_and_say_equal():
    with pytest.raises(AssertionError) as error:
        assert_close(graphc.tensor([1, 2]), graphc.tensor([1, 3]))
    assert str(error.value).startswith("Tensor-likes are not equal!\n\nMismatched elements: "
                                       "1 / 2 (50.0%)\nGreatest absolute difference: 1 at "
                                       "index (1,)\n")


def test_nan_fails_unless_equal_nan():
    with pytest.raises(AssertionError, match="Mismatched elements: 1 / 1"):
        assert_close(graphc.tensor([math.nan]), graphc.tensor([math.nan]))


@pytest.mark.parametrize("actual, expected, message", [
    (graphc.ones(2), graphc.ones(2, dtype=graphc.float64),
     "The values for attribute 'dtype' do not match"),
    (graphc.ones(2), graphc.ones(3), "The values for attribute 'shape' do not match"),
    ([1.0, 2.0], [1.0, 2.5], r"(?s)Scalars are not close!\n\nExpected 2.5 but got 2.0\..*"
                             r"\n\nThe failure occurred for item \[1\]"),
    ({"a": graphc.ones(2)}, {"a": graphc.zeros(2)}, r"The failure occurred for item \['a'\]"),
    ([1.0], [1.0, 2.0], "The length of the sequences mismatch: 1 != 2"),
])
def test_mismatched_structure_and_attributes_are_named(actual, expected, message):
    with pytest.raises(AssertionError, match=message):
        assert_close(actual, expected)


def test_check_dtype_false_compares_values_across_dtypes():
    assert_close(graphc.ones(2), graphc.ones(2, dtype=graphc.float64), check_dtype=False)


def test_options_and_bad_pairs():
    with pytest.raises(AssertionError, match="^custom$"):
        assert_close(graphc.ones(1), graphc.zeros(1), msg="custom")
    with pytest.raises(AssertionError, match="^wrapped: Tensor-likes"):
        assert_close(graphc.ones(1), graphc.zeros(1), msg=lambda m: "wrapped: " + m)
    assert_close(graphc.tensor([1.0]), graphc.tensor([1.5]), rtol=0.0, atol=0.5)
    with pytest.raises(ValueError, match="Both 'rtol' and 'atol'"):
        assert_close(graphc.ones(1), graphc.ones(1), rtol=1e-3)
    with pytest.raises(TypeError, match="No comparison pair"):
        assert_close(graphc.ones(2), [1.0, 1.0])


@pytest.mark.parametrize("dtype, low, high", [
    (graphc.float32, -9.0, 9.0), (graphc.float64, 2.0, 3.0), (graphc.int64, -9, 10),
    (graphc.uint8, 0, 10), (graphc.int8, -3, 4),
])
def test_make_tensor_fills_its_range_and_repeats_under_manual_seed(dtype, low, high):
    graphc.manual_seed(3)
    given = {} if (low, high) in ((-9.0, 9.0), (-9, 10), (0, 10)) else dict(low=low, high=high)
    t = make_tensor(4, 50, dtype=dtype, **given)
    assert t.shape == (4, 50) and t.dtype == dtype
    values = t.numpy()
    assert values.min() >= low and values.max() < high
    assert len(np.unique(values)) > 1
    graphc.manual_seed(3)
    np.testing.assert_array_equal(make_tensor((4, 50), dtype=dtype, **given).numpy(), values)
    nonzero = make_tensor(200, dtype=dtype, low=-1, high=2, exclude_zero=True).numpy() \
        if dtype != graphc.uint8 else make_tensor(200, dtype=dtype, exclude_zero=True).numpy()
    assert (nonzero != 0).all()
    assert make_tensor(3, dtype=graphc.bool).dtype == graphc.bool
    assert make_tensor(2, dtype=graphc.float64, requires_grad=True).requires_grad
