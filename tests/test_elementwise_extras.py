"""PyTorch's remaining elementwise functions (graphc/elementwise_extras.py), each against a
NumPy oracle, eagerly and compiled; shifts against Python's integer arithmetic."""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc
from conftest import assert_close, check_grad

X = np.array([-2.0, np.nan, 3.0, -0.0, 0.0, np.inf, -1.5])
Y = np.array([1.0, 5.0, np.nan, 2.0, -0.0, -3.0, 0.0])


def both(fn, *arrays):
    tensors = [graphc.tensor(a) for a in arrays]
    return fn(*tensors).numpy(), graphc.compile(fn)(*tensors).numpy()


@pytest.mark.parametrize("name, oracle", [
    ("fmax", np.fmax), ("fmin", np.fmin), ("copysign", np.copysign),
    ("heaviside", np.heaviside), ("float_power", np.float_power),
    ("multiply", np.multiply), ("subtract", np.subtract),
    ("greater", np.greater), ("less_equal", np.less_equal), ("not_equal", np.not_equal),
])
def test_binary_functions_match_numpy(name, oracle):
    want = oracle(X, Y)
    for got in both(getattr(graphc, name), X, Y):
        np.testing.assert_array_equal(got, want)
        if got.dtype.kind == "f" and name not in ("fmax", "fmin"):  # signed zeros too
            assert (np.signbit(got) == np.signbit(want)).all()  # (max(0, -0) may be either)


@pytest.mark.parametrize("name, oracle", [
    ("negative", np.negative), ("isposinf", np.isposinf), ("isneginf", np.isneginf),
    ("deg2rad", np.deg2rad), ("rad2deg", np.rad2deg), ("sinc", np.sinc),
])
def test_unary_functions_match_numpy(name, oracle):
    for got in both(getattr(graphc, name), X):
        assert_close(got, oracle(X), dtype="f64")


def test_gradients_of_the_composites_match_finite_differences():
    x, y = np.array([0.7, -1.3, 2.2]), np.array([1.5, 0.4, -2.5])
    check_grad(lambda a, b: graphc.copysign(a, b), [x, y], wrt=[0])
    check_grad(lambda a, b: graphc.fmax(a, b) * graphc.fmin(a, b), [x, y])
    check_grad(graphc.sinc, [x])
    check_grad(graphc.sinc, [np.array([0.0])])  # 1 at zero, with its derivative 0


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8])
def test_shifts_match_python_integers_and_stop_at_the_width(dtype):
    values = np.array([1, 7, 100, 255] if dtype == np.uint8 else [1, -8, 7, -1, 12345], dtype)
    bits = np.iinfo(dtype).bits
    width = 8 * np.dtype(dtype).itemsize
    for amount in (0, 1, 3, width - 1, width, width + 5):
        shifts = np.full(values.shape, amount, dtype)
        left = [(int(v) << amount) % 2**bits if amount < width else 0 for v in values]
        right = [int(v) >> amount if amount < width else (-1 if v < 0 else 0) for v in values]
        left = np.array(left, dtype=np.uint64).astype(dtype)
        for got in both(lambda a, s: a << s, values, shifts):
            np.testing.assert_array_equal(got, left)
        for got in both(lambda a, s: a >> s, values, shifts):
            np.testing.assert_array_equal(got, np.array(right, dtype))
    with pytest.raises(graphc.errors.ArgumentError, match="integer"):
        graphc.bitwise_left_shift(graphc.ones(2), 1)


def test_rsub_unflatten_fill_diagonal_and_where_of_a_condition_alone():
    x = graphc.tensor([1.0, 2.0])
    assert graphc.rsub(x, 10.0, alpha=2).tolist() == [8.0, 6.0]
    assert graphc.zeros(2, 6).unflatten(1, (2, -1)).shape == (2, 2, 3)
    tall = graphc.zeros(5, 2)
    tall.fill_diagonal_(1.0, wrap=True)  # the diagonal starts again after a blank row
    assert tall.tolist() == [[1, 0], [0, 1], [0, 0], [1, 0], [0, 1]]
    cube = graphc.zeros(2, 2, 2)
    cube.fill_diagonal_(3.0)
    assert cube.numpy()[0, 0, 0] == cube.numpy()[1, 1, 1] == 3.0 and cube.sum().item() == 6.0
    rows, cols = graphc.where(graphc.tensor([[True, False], [False, True]]))
    assert rows.tolist() == [0, 1] and cols.tolist() == [0, 1]


def test_a_value_with_extra_leading_ones_writes_into_a_row():
    x = graphc.zeros(3, 4)
    x[0] = graphc.ones(1, 4)
    x[[1, 2]] = graphc.full((1, 2, 4), 2.0)
    assert x.tolist() == [[1.0] * 4, [2.0] * 4, [2.0] * 4]
    assert math.isfinite(x.sum().item())
