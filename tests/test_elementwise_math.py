"""Trigonometric, hyperbolic and logarithmic functions and the composites built on them
(``logaddexp``, ``lerp``, ``xlogy``, ``square``, ``clamp_min``/``clamp_max``), with PyTorch's
dtypes and edge values, eagerly and compiled. Expected values come from Python's ``math``
(float64) or are written out from PyTorch's documented behaviour.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc
from conftest import assert_close, check_grad

MODES = ["eager", "interpreter", "llvm", "numba"]
INF, NAN = math.inf, math.nan

UNARY = {"tan": math.tan, "asin": math.asin, "acos": math.acos, "atan": math.atan,
         "sinh": math.sinh, "cosh": math.cosh, "asinh": math.asinh, "atanh": math.atanh,
         "log2": math.log2, "log10": math.log10, "exp2": lambda v: 2.0 ** v}
ALIASES = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsinh": "asinh",
           "arccosh": "acosh", "arctanh": "atanh", "arctan2": "atan2"}


def run(mode, fn, *args):
    if mode == "eager":
        return fn(*args)
    return graphc.compile(fn, backend=mode)(*args)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_math_functions_match_float64_math(mode, name):
    values = [0.25, -0.5, 0.75, 0.125] if name in ("asin", "acos", "atanh") else [0.5, 1.5, 3.0]
    if name in ("log2", "log10"):
        values = [0.5, 8.0, 1000.0]
    x = graphc.tensor(values, dtype=graphc.float64)
    got = run(mode, getattr(graphc, name), x)
    assert_close(got, [UNARY[name](v) for v in values])
    assert_close(getattr(graphc.tensor(values), name)(), [UNARY[name](v) for v in values])


@pytest.mark.parametrize("mode", MODES)
def test_acosh_and_special_values_of_the_inverse_functions(mode):
    x = graphc.tensor([1.0, 2.0, 0.5, INF], dtype=graphc.float64)
    got = run(mode, graphc.acosh, x).tolist()
    assert got[:2] == [0.0, pytest.approx(math.acosh(2.0), rel=1e-15)]
    assert math.isnan(got[2]) and got[3] == INF  # below the domain: NaN
    edges = run(mode, lambda t: (graphc.asin(t), graphc.atanh(t), graphc.log2(t)),
                graphc.tensor([1.0, -1.0, 2.0, 0.0, -0.0]))
    asin, atanh, log2 = (e.tolist() for e in edges)
    assert asin[:2] == [pytest.approx(math.pi / 2), pytest.approx(-math.pi / 2)]
    assert math.isnan(asin[2])
    assert atanh[:2] == [INF, -INF] and math.isnan(atanh[2])
    assert log2[3:] == [-INF, -INF]


def test_integer_and_bool_inputs_compute_in_float32():
    for name in sorted(UNARY):
        out = getattr(graphc, name)(graphc.tensor([0, 1]))
        assert out.dtype == graphc.float32, name
    assert graphc.asin(graphc.tensor([True, False])).dtype == graphc.float32
    assert graphc.atan2(graphc.tensor([1]), graphc.tensor([2])).dtype == graphc.float32
    assert graphc.xlogy(graphc.tensor([3]), graphc.tensor([4])).dtype == graphc.float32
    assert graphc.atan2(graphc.tensor([1.0], dtype=graphc.float64), 2).dtype == graphc.float64


def test_numpy_style_aliases_are_the_same_functions_and_methods():
    for alias, name in ALIASES.items():
        assert getattr(graphc, alias) is getattr(graphc, name)
        assert getattr(graphc.Tensor, alias) is getattr(graphc.Tensor, name)


@pytest.mark.parametrize("mode", MODES)
def test_atan2_takes_the_quadrant_and_signed_zeros_into_account(mode):
    y = graphc.tensor([1.0, 1.0, -1.0, 0.0, -0.0, 0.0, -0.0, 1.0])
    x = graphc.tensor([1.0, -1.0, -1.0, 0.0, 0.0, -0.0, -0.0, -INF])
    got = run(mode, graphc.atan2, y, x)
    want = [math.atan2(a, b) for a, b in zip(y.tolist(), x.tolist())]
    assert_close(got, want)
    assert [math.copysign(1.0, v) for v in got.tolist()] == [
        math.copysign(1.0, v) for v in want]


@pytest.mark.parametrize("mode", MODES)
def test_hypot_does_not_overflow_and_inf_beats_nan(mode):
    got = run(mode, graphc.hypot, graphc.tensor([3e30, INF, 3.0, -0.0]),
              graphc.tensor([4e30, NAN, -4.0, 0.0]))
    assert got.tolist() == [pytest.approx(5e30, rel=1e-6), INF, 5.0, 0.0]


def test_hypot_refuses_two_integer_tensors_and_promotes_one_as_pytorch():
    with pytest.raises(RuntimeError, match="hypot: takes float tensors, got i64 and i64"):
        graphc.hypot(graphc.tensor([3]), graphc.tensor([4]))
    mixed = graphc.hypot(graphc.tensor([3]), graphc.tensor([4.0]))
    assert mixed.dtype == graphc.float32 and mixed.tolist() == [5.0]
    assert graphc.logaddexp(graphc.tensor([0]), graphc.tensor([0.0])).item() == \
        pytest.approx(math.log(2))


@pytest.mark.parametrize("mode", MODES)
def test_xlogy_is_zero_where_x_is_zero_unless_y_is_nan(mode):
    x = graphc.tensor([0.0, 0.0, 0.0, 2.0, 3.0])
    y = graphc.tensor([0.0, NAN, INF, 0.0, math.e])
    got = run(mode, graphc.xlogy, x, y).tolist()
    assert got[0] == 0.0 and math.isnan(got[1]) and got[2] == 0.0 and got[3] == -INF
    assert got[4] == pytest.approx(3.0)
    assert graphc.xlogy(2, graphc.tensor([3.0])).tolist() == [pytest.approx(2 * math.log(3))]


def test_xlogy_gradient_is_pytorchs_masked_rule():
    x = graphc.tensor([0.0, 2.0, 0.0], dtype=graphc.float64, requires_grad=True)
    y = graphc.tensor([0.0, 3.0, 2.0], dtype=graphc.float64, requires_grad=True)
    graphc.xlogy(x, y).sum().backward()
    gx, gy = x.grad.tolist(), y.grad.tolist()
    # d/dx: log(y), but 0 where x == 0 and y <= 0; d/dy: x / y (0 / 0 is NaN, as in PyTorch)
    assert gx == [0.0, pytest.approx(math.log(3.0)), pytest.approx(math.log(2.0))]
    assert math.isnan(gy[0]) and gy[1:] == [pytest.approx(2 / 3), 0.0]


@pytest.mark.parametrize("mode", MODES)
def test_logaddexp_is_stable_and_keeps_equal_infinities(mode):
    a = graphc.tensor([0.0, 1000.0, -INF, INF, -1000.0, 2.0], dtype=graphc.float64)
    b = graphc.tensor([0.0, 1000.0, -INF, INF, -1001.0, -INF], dtype=graphc.float64)
    got = run(mode, graphc.logaddexp, a, b).tolist()
    assert got == [pytest.approx(math.log(2.0)), pytest.approx(1000.0 + math.log(2.0)), -INF,
                   INF, pytest.approx(-1000.0 + math.log1p(math.exp(-1.0))), 2.0]


def test_logaddexp_gradient_matches_finite_differences_and_refuses_integers():
    rng = np.random.default_rng(0)
    check_grad(graphc.logaddexp, [rng.normal(size=4), rng.normal(size=4)])
    with pytest.raises(RuntimeError, match="logaddexp: takes float tensors"):
        graphc.logaddexp(graphc.tensor([1]), graphc.tensor([2]))


@pytest.mark.parametrize("mode", MODES)
def test_lerp_reaches_its_ends_exactly_on_both_branches(mode):
    start = graphc.tensor([1.0, 1e8, -3.0, 0.1])
    end = graphc.tensor([3.0, 1.0, 5.0, 0.7])
    weight = graphc.tensor([0.25, 1.0, 0.0, 0.5])
    got = run(mode, graphc.lerp, start, end, weight).tolist()
    assert got[:3] == [1.5, 1.0, -3.0]
    assert got[3] == pytest.approx(0.4)
    assert graphc.lerp(start, end, 0.5).tolist()[0] == 2.0  # a Python number as weight
    assert start.lerp(end, 1.0).tolist() == end.tolist()


def test_lerp_gradients_and_dtype_check():
    rng = np.random.default_rng(1)
    check_grad(graphc.lerp, [rng.normal(size=4), rng.normal(size=4),
                             np.array([0.1, 0.4, 0.6, 0.9])])
    with pytest.raises(RuntimeError, match="expected dtype f32 for `end` but got dtype i64"):
        graphc.lerp(graphc.tensor([1.0]), graphc.tensor([2]), 0.5)


def test_square_of_bools_is_int64_and_of_ints_keeps_the_dtype():
    assert graphc.square(graphc.tensor([True, False])).tolist() == [1, 0]
    assert graphc.square(graphc.tensor([True])).dtype == graphc.int64
    assert graphc.square(graphc.tensor([-3], dtype=graphc.int32)).dtype == graphc.int32


def test_clamp_min_and_clamp_max_functions_and_methods():
    x = graphc.tensor([-2.0, 0.5, 3.0])
    assert graphc.clamp_min(x, 0.0).tolist() == [0.0, 0.5, 3.0]
    assert graphc.clamp_max(x, 1.0).tolist() == [-2.0, 0.5, 1.0]
    assert x.clamp_min(-1.0).clamp_max(2.0).tolist() == [-1.0, 0.5, 2.0]
    y = x.clone()
    y.clamp_min_(0.0)
    assert y.tolist() == [0.0, 0.5, 3.0]


@pytest.mark.parametrize("name", ["tan", "asin", "acos", "atan", "sinh", "cosh", "asinh",
                                  "atanh", "log2", "log10", "exp2"])
def test_in_place_forms_of_the_unary_functions(name):
    x = graphc.tensor([0.25, 0.5])
    expected = getattr(graphc, name)(x).tolist()
    getattr(x, name + "_")()
    assert x.tolist() == expected


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [graphc.float32, graphc.float64])
def test_sigmoid_keeps_its_relative_accuracy_in_the_negative_tail(mode, dtype):
    # the tanh form 0.5 * (1 + tanh(x / 2)) cancelled there: sigmoid(-20) came out 0 (float32;
    # float64 from about -37), and log(sigmoid(x)) -inf with a NaN gradient
    values = [-10.0, -17.0, -20.0, -30.0, -50.0, -80.0, 0.0, 3.0, 40.0, INF, -INF, NAN]
    expected = [1.0 / (1.0 + math.exp(-v)) if v > -700 else 0.0 for v in values[:-3]]
    got = run(mode, graphc.sigmoid, graphc.tensor(values, dtype=dtype)).numpy()
    # float32: within 4 ulp (llvm's inlined approximation is bounded by 2.5); float64: 1e-14
    rtol = 4 * 2.0 ** -23 if dtype == graphc.float32 else 1e-14
    np.testing.assert_allclose(got[:-3], expected, rtol=rtol, atol=0)
    assert got[-3] == 1.0 and got[-2] == 0.0 and math.isnan(got[-1])


@pytest.mark.parametrize("mode", MODES)
def test_silu_and_log_sigmoid_of_a_large_negative_input_are_finite(mode):
    x = graphc.tensor([-20.0, -40.0], requires_grad=mode == "eager")
    silu = run(mode, graphc.nn.functional.silu, x).detach().numpy()
    np.testing.assert_allclose(silu, [-20.0 / (1 + math.exp(20.0)), -40.0 / (1 + math.exp(40.0))],
                               rtol=4 * 2.0 ** -23)
    if mode == "eager":  # torch's gradient of log(sigmoid(x)) here: 1 - sigmoid(x), about 1
        graphc.log(graphc.sigmoid(x)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0], rtol=1e-6)
