"""Edge semantics where graphc gave other numbers, dtypes or errors than PyTorch (found by a
side-by-side hunt; each expected value written from PyTorch's documented rule, eagerly and
compiled)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc

MODES = [False, True]  # eager, compiled (the default backend)


def run(fn, *args, compiled=False):
    return (graphc.compile(fn) if compiled else fn)(*args)


@pytest.mark.parametrize("compiled", MODES)
def test_a_clone_keeps_bool_and_the_sign_of_zero(compiled):
    # traced, clone was x + 0: a bool mask came back int64 and indexed by position
    def masked(x, m):
        y = x.clone()
        y[m.clone()] = 0.0
        return y, ~m.clone(), x.clone()
    x = graphc.tensor([-0.0, 2.0, 3.0, 4.0])
    zeroed, flipped, copy = run(masked, x, graphc.tensor([True, False, False, True]),
                                compiled=compiled)
    assert zeroed.tolist() == [0.0, 2.0, 3.0, 0.0]
    assert flipped.dtype == graphc.bool and flipped.tolist() == [False, True, True, False]
    assert math.copysign(1.0, copy.tolist()[0]) == -1.0


@pytest.mark.parametrize("compiled", MODES)
def test_clamp_with_a_nan_bound_is_nan(compiled):
    x = graphc.tensor([0.2, -3.0])
    nan = float("nan")
    assert np.isnan(run(lambda t: t.clamp(min=nan), x, compiled=compiled).numpy()).all()
    assert np.isnan(run(lambda t: t.clamp(max=nan), x, compiled=compiled).numpy()).all()
    bounded = run(lambda t, b: t.clamp(min=b), x, graphc.tensor([nan, 0.0]), compiled=compiled)
    assert np.isnan(bounded.numpy()[0]) and bounded.numpy()[1] == 0.0


@pytest.mark.parametrize("compiled", MODES)
def test_masked_fill_keeps_the_tensors_dtype(compiled):
    mask = graphc.tensor([True, False])
    ints = run(lambda x, m: x.masked_fill(m, 2.7), graphc.tensor([1, 2]), mask, compiled=compiled)
    assert ints.dtype == graphc.int64 and ints.tolist() == [2, 2]  # truncated, as stored
    flags = run(lambda x, m: x.masked_fill(m, 2), graphc.tensor([False, False]), mask,
                compiled=compiled)
    assert flags.dtype == graphc.bool and flags.tolist() == [True, False]
    x, y = graphc.tensor([1, 2]), graphc.tensor([1, 2])
    x.masked_fill_(mask, 2.7)
    y[mask] = 2.7
    assert x.tolist() == y.tolist() == [2, 2]


@pytest.mark.parametrize("compiled", MODES)
def test_float16_means_pools_and_dots_accumulate_in_float32(compiled):
    half = graphc.float16
    big = graphc.tensor([60000.0, 60000.0], dtype=half)  # their sum passes 65504
    assert run(lambda t: t.mean(), big, compiled=compiled).item() == 60000.0
    pooled = run(lambda t: graphc.nn.functional.avg_pool1d(t, 2), big.reshape(1, 1, 2),
                 compiled=compiled)
    assert pooled.dtype == half and pooled.item() == 60000.0
    dotted = run(graphc.dot, graphc.tensor([300.0, -300.0], dtype=half),
                 graphc.tensor([300.0, 300.0], dtype=half), compiled=compiled)
    assert dotted.dtype == half and dotted.item() == 0.0  # products pass 65504 in float16


def test_arange_of_an_integer_dtype_truncates_its_arguments_first():
    assert graphc.arange(0.5, 3.7, 1, dtype=graphc.int64).tolist() == [0, 1, 2]
    assert graphc.arange(0, 5, 1.5, dtype=graphc.int64).tolist() == [0, 1, 2, 3, 4]
    assert graphc.arange(-1.5, 2, 1, dtype=graphc.int64).tolist() == [-1, 0, 1]
    with pytest.raises(RuntimeError, match="step must be nonzero"):
        graphc.arange(0, 3, 0.5, dtype=graphc.int64)  # was six zeros
    assert graphc.arange(graphc.tensor(3)).dtype == graphc.int64
    assert graphc.full((2,), graphc.tensor(3)).tolist() == [3, 3]


def test_add_and_sub_take_alpha():
    x = graphc.tensor([1.0, 2.0])
    assert graphc.add(x, x, alpha=2).tolist() == [3.0, 6.0]
    assert x.sub(graphc.tensor([2.0, 2.0]), alpha=0.5).tolist() == [0.0, 1.0]


def test_empty_splits_negative_narrow_and_int32_searchsorted_as_pytorch():
    assert [c.shape for c in graphc.split(graphc.zeros(0), 2)] == [(0,)]  # was no piece
    assert [c.shape for c in graphc.chunk(graphc.zeros(0, 3), 2)] == [(0, 3), (0, 3)]
    assert graphc.narrow(graphc.arange(5), -1, -2, 2).tolist() == [3, 4]
    found = graphc.searchsorted(graphc.tensor([1.0, 2.0, 3.0]), graphc.tensor([2.5]),
                                out_int32=True)
    assert found.dtype == graphc.int32 and found.tolist() == [2]


def test_a_lists_numpy_scalars_and_tensors_take_part_in_its_dtype():
    # a float64 NumPy scalar in a list made float32 data (Python floats' default)
    cases = [([1, np.float64(2)], graphc.float64), ([1.5, np.float16(2)], graphc.float32),
             ([1, np.float16(2)], graphc.float16), ([np.int32(1), 2], graphc.int64),
             ([[1.0], [np.float64(2.0)]], graphc.float64),
             ([graphc.tensor(1.5, dtype=graphc.float64)], graphc.float64),
             ([graphc.tensor(1), 2.5], graphc.float32), ([1, 2], graphc.int64)]
    for data, dtype in cases:
        assert graphc.tensor(data).dtype == dtype, data
