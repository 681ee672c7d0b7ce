"""Gradients at the edges where PyTorch defines them specially, eagerly and compiled.

Expected values are PyTorch's, derived here from its backward formulas (``pow_backward_self``,
``pow_backward_exponent``, ``threshold_backward``, ``evenly_distribute_backward``, the
``maximum``/``minimum`` derivatives) with ``math``, never read off graphc:

* ``d/dx x**y = y * x**(y-1)``, but 0 where ``y == 0``;
* ``d/dy x**y = x**y * log(x)``, but 0 where ``x == 0 and y >= 0``;
* masked rules (relu, max/min, maximum/minimum, where, clamp) *select* the incoming gradient,
  so an infinite one gives 0, not ``0 * inf = nan``, where nothing flows;
* every gradient is cast to the dtype of the tensor it belongs to.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc
import ir
import passes
from ir.emitter import GraphEmitter, input_gradients

MODES = ["eager", "compiled"]
INF = math.inf
NAN = math.nan


def leaf(values, dtype=graphc.float32):
    return graphc.tensor(values, dtype=dtype, requires_grad=True)


def backward_through(mode, fn, *leaves, upstream=None):
    """Runs ``fn(*leaves).backward(...)`` eagerly or inside ``graphc.compile`` and returns the
    leaves' gradients as float64 arrays. ``upstream`` fills the incoming gradient (default 1)."""
    def step(*xs):
        out = fn(*xs)
        fill = 1.0 if upstream is None else upstream
        out.backward(graphc.full(out.shape, fill, dtype=out.dtype))

    (step if mode == "eager" else graphc.compile(step))(*leaves)
    return [x.grad.numpy().astype(np.float64) for x in leaves]


def assert_same(actual, expected):
    """Equal, with nan == nan and infinities of the same sign (these are exact edge values)."""
    np.testing.assert_array_equal(np.asarray(actual), np.asarray(expected, dtype=np.float64))


# -- pow --------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_pow_exponent_gradient_is_zero_where_the_base_is_zero(mode):
    """The issue's case: x ** p with a learnable p and a zero in x (PyTorch: 9.89, not nan)."""
    x_values, p_value = [0.0, 1.0, 3.0], 2.0
    x, p = leaf(x_values), leaf(p_value)
    gx, gp = backward_through(mode, lambda x, p: (x ** p).sum(), x, p)
    expected_gp = sum(v ** p_value * math.log(v) for v in x_values if v != 0)
    assert expected_gp == pytest.approx(9.8875, abs=1e-4)
    np.testing.assert_allclose(gp, expected_gp, rtol=1e-5)
    np.testing.assert_allclose(gx, [p_value * v ** (p_value - 1) for v in x_values], rtol=1e-6)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("form", ["python-int", "python-float", "tensor"])
@pytest.mark.parametrize("c,expected", [(0, 0.0), (1, 1.0), (2, 0.0), (3, 0.0)])
def test_pow_base_gradient_at_zero_for_small_exponents(mode, form, c, expected):
    """d/dx x**c at x = 0 is c * 0**(c-1) (1 for c = 1), and 0 for c = 0 where the formula
    would give 0 * inf."""
    exponent = {"python-int": c, "python-float": float(c), "tensor": graphc.tensor(float(c))}[form]
    (g,) = backward_through(mode, lambda x: (x ** exponent).sum(), leaf([0.0]))
    assert_same(g, [expected])


@pytest.mark.parametrize("mode", MODES)
def test_base_gradient_of_b_to_the_zero_is_zero_at_zero_also_for_a_learnable_exponent(mode):
    b, e = leaf(0.0), leaf(0.0)
    gb, ge = backward_through(mode, lambda b, e: b ** e, b, e)
    assert_same(gb, 0.0)
    assert_same(ge, 0.0)  # 0**0 = 1 is constant in e there: (x == 0) & (y >= 0)


@pytest.mark.parametrize("mode", MODES)
def test_gradient_of_zero_to_the_x_is_zero_for_nonnegative_x(mode):
    """d/dx 0**x: 0 where x >= 0; for x < 0, 0**x = inf and inf * log(0) = -inf, as in PyTorch."""
    (g,) = backward_through(mode, lambda x: (0 ** x).sum(), leaf([0.0, 1.0, 2.5, -1.0]))
    assert_same(g, [0.0, 0.0, 0.0, -INF])


@pytest.mark.parametrize("mode", MODES)
def test_pow_gradients_away_from_zero_are_the_textbook_ones(mode):
    x_values, y_values = [0.5, 2.0, 3.0], [-1.5, 0.0, 2.5]
    gx, gy = backward_through(mode, lambda x, y: (x ** y).sum(), leaf(x_values), leaf(y_values))
    np.testing.assert_allclose(gx, [y * x ** (y - 1) for x, y in zip(x_values, y_values)],
                               rtol=1e-5)
    np.testing.assert_allclose(gy, [x ** y * math.log(x) for x, y in zip(x_values, y_values)],
                               rtol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_integer_base_with_float64_exponent_differentiates_in_float64(mode):
    """PyTorch takes log of the base in the promoted dtype, not in float32."""
    base = graphc.tensor([3, 0, 7])
    (g,) = backward_through(mode, lambda y: (base ** y).sum(),
                            leaf([1.1, 2.0, 0.3], dtype=graphc.float64))
    expected = [3 ** 1.1 * math.log(3), 0.0, 7 ** 0.3 * math.log(7)]
    np.testing.assert_allclose(g, expected, rtol=1e-12)


# -- masked gradients under an infinite upstream gradient --------------------------------------
MASKED = [
    ("relu", lambda x: graphc.relu(x), [-1.0, 2.0], [0.0, INF]),
    ("max", lambda x: x.max(), [1.0, 3.0, 2.0], [0.0, INF, 0.0]),
    ("min", lambda x: x.min(), [1.0, 3.0, 2.0], [INF, 0.0, 0.0]),
    ("amax-dim", lambda x: graphc.amax(x.reshape(2, 2), dim=1), [1.0, 3.0, 4.0, 2.0],
     [0.0, INF, INF, 0.0]),
    ("max-dim-values", lambda x: x.reshape(2, 2).max(dim=1).values, [1.0, 3.0, 4.0, 2.0],
     [0.0, INF, INF, 0.0]),
    ("min-dim-values", lambda x: x.reshape(2, 2).min(dim=1).values, [1.0, 3.0, 4.0, 2.0],
     [INF, 0.0, 0.0, INF]),
    ("where", lambda x: graphc.where(x > 0, x, 0.0), [-1.0, 2.0], [0.0, INF]),
    ("clamp", lambda x: graphc.clamp(x, 0.0, 1.0), [-1.0, 0.5, 2.0], [0.0, INF, 0.0]),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name,fn,x,expected", MASKED, ids=[m[0] for m in MASKED])
def test_masked_gradient_is_zero_not_nan_under_an_infinite_upstream_gradient(
        mode, name, fn, x, expected):
    (g,) = backward_through(mode, fn, leaf(x), upstream=INF)
    assert_same(g, expected)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op,x_wins", [(graphc.maximum, [False, True]),
                                       (graphc.minimum, [True, False])])
def test_maximum_and_minimum_give_the_loser_zero_under_an_infinite_gradient(mode, op, x_wins):
    gx, gy = backward_through(mode, op, leaf([1.0, 2.0]), leaf([2.0, 1.0]), upstream=INF)
    assert_same(gx, [INF if w else 0.0 for w in x_wins])
    assert_same(gy, [0.0 if w else INF for w in x_wins])


@pytest.mark.parametrize("mode", MODES)
def test_maximum_splits_ties_and_gives_a_nan_operand_the_gradient_on_both_sides(mode):
    """PyTorch: where(x == y, g/2, g), then 0 where x < y (for x) or x > y (for y); a nan
    compares false both ways, so both operands keep g."""
    gx, gy = backward_through(mode, graphc.maximum, leaf([1.0, NAN, 3.0]),
                              leaf([1.0, 2.0, NAN]))
    assert_same(gx, [0.5, 1.0, 1.0])
    assert_same(gy, [0.5, 1.0, 1.0])


@pytest.mark.parametrize("mode", MODES)
def test_max_of_a_tensor_with_nans_splits_the_gradient_among_the_nans(mode):
    """The max is nan; PyTorch's evenly_distribute_backward picks the nan elements."""
    (g,) = backward_through(mode, lambda x: x.max(), leaf([1.0, NAN, 3.0, NAN]))
    assert_same(g, [0.0, 0.5, 0.0, 0.5])


@pytest.mark.parametrize("mode", MODES)
def test_relu_passes_the_gradient_of_a_nan_input(mode):
    """threshold_backward zeroes where the result is <= 0; relu(nan) is nan, which is not."""
    (g,) = backward_through(mode, graphc.relu, leaf([NAN, -1.0, 2.0]))
    assert_same(g, [1.0, 0.0, 1.0])


@pytest.mark.parametrize("mode", MODES)
def test_sign_gradient_is_zero_even_under_an_infinite_upstream_gradient(mode):
    (g,) = backward_through(mode, graphc.sign, leaf([-2.0, 0.0, 3.0]), upstream=INF)
    assert_same(g, [0.0, 0.0, 0.0])


# -- gradient dtype ----------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_float32_leaf_used_with_float64_gets_a_float32_grad(mode):
    a = leaf([1.0, 2.0])
    b = graphc.tensor([0.25, 3.0], dtype=graphc.float64)
    backward_through(mode, lambda a: (a * 2.0 * b).sum(), a)
    assert a.grad.dtype == graphc.float32
    np.testing.assert_allclose(a.grad.numpy(), [0.5, 6.0], rtol=1e-7)


@pytest.mark.parametrize("mode", MODES)
def test_optimizer_steps_a_float32_parameter_whose_loss_is_float64(mode):
    w = leaf([1.0, -2.0])
    target = graphc.tensor([0.5, 0.5], dtype=graphc.float64)
    opt = graphc.optim.SGD([w], lr=0.1)

    def step():
        opt.zero_grad()
        loss = ((w - target) ** 2).sum()
        loss.backward()
        opt.step()

    (step if mode == "eager" else graphc.compile(step))()
    assert w.dtype == graphc.float32 and w.grad.dtype == graphc.float32
    # w - 0.1 * 2 (w - target)
    np.testing.assert_allclose(w.numpy(), [1.0 - 0.2 * 0.5, -2.0 - 0.2 * -2.5], rtol=1e-6)


def test_autodiff_pass_gives_each_input_a_gradient_of_its_own_dtype():
    graph = ir.parse("""func @f(%x: f32[2], %y: f64[2]) -> (f64[]) {
  %0: f64[2] = mul %x, %y
  %1: f64[] = sum %0 {axes=[0]}
  return %1
}""")
    passes.autodiff.differentiate(graph)
    assert [str(v.type) for v in graph.outputs] == ["f64[]", "f32[2]", "f64[2]"]


def test_input_gradients_casts_only_gradients_whose_dtype_differs():
    graph = ir.Graph("g")
    x = graph.add_input("x", ir.TensorType(ir.f32, (2,)))
    y = graph.add_input("y", ir.TensorType(ir.f64, (2,)))
    out = graph.add_node("mul", [x, y]).output
    g = graph.add_input("g", out.type)
    gx, gy = input_gradients(GraphEmitter(graph), ir.get_op("mul"), [x, y], out, g, {})
    assert gx.type == x.type and gx.producer.op == "cast"
    assert gy.type == y.type and gy.producer.op != "cast"


# -- softplus and the functions built on it, at 0 ------------------------------------------------
SOFTPLUS_AT_ZERO = [  # (function of x, d/dx and d2/dx2 at x = 0, from sigmoid(0) = 1/2, 1/4)
    ("softplus", lambda x: graphc.nn.functional.softplus(x), 0.5, 0.25),
    ("logsigmoid", lambda x: graphc.nn.functional.logsigmoid(x), 0.5, -0.25),
    ("logaddexp(x, 0)", lambda x: graphc.logaddexp(x, graphc.zeros_like(x)), 0.5, 0.25),
    ("bce_with_logits", lambda x: graphc.nn.functional.binary_cross_entropy_with_logits(
        x, graphc.full_like(x, 0.3), reduction="sum"), 0.5 - 0.3, 0.25),
    ("soft_margin_loss", lambda x: graphc.nn.functional.soft_margin_loss(
        x, graphc.ones_like(x), reduction="sum"), -0.5, 0.25),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name, fn, first, second", SOFTPLUS_AT_ZERO,
                         ids=[case[0] for case in SOFTPLUS_AT_ZERO])
def test_softplus_family_has_exact_slope_and_curvature_at_zero(mode, name, fn, first, second):
    # max(z, 0) + log1p(exp(-|z|)) had no curvature at 0 (0, not 1/4), and with relu for the
    # max no slope either (soft_margin_loss: a zero gradient for a zero-initialized layer)
    def slope(x):
        (g,) = graphc.autograd.grad(fn(x).sum(), [x], create_graph=True)
        return g

    x = leaf([0.0, 0.0])
    got = backward_through(mode, lambda t: slope(t).sum(), x)[0]
    # float32: within 1e-6 relative (0.5 - 0.3 is not exact)
    np.testing.assert_allclose(slope(leaf([0.0])).detach().numpy(), [first], rtol=1e-6)
    np.testing.assert_allclose(got, [second, second], rtol=1e-6)


def _second_derivative(fn, x0, dtype=graphc.float64):
    """The gradient of sum(fn(x)) and the gradient of the sum of that gradient, at x0."""
    x = graphc.tensor(x0, dtype=dtype, requires_grad=True)
    (g,) = graphc.autograd.grad(fn(x), x, create_graph=True)
    return g.tolist(), graphc.autograd.grad(g.sum(), x)[0].tolist()


@pytest.mark.parametrize("rounding", ["floor", "trunc"])
def test_a_rounding_division_gives_a_broadcast_divisor_a_zero_gradient_of_its_own_shape(rounding):
    # the zeros had the result's shape: a [1, 3] divisor got a [2, 3] gradient, which then
    # broadcast into the gradient it was added to and doubled it
    x = graphc.tensor([[1.5, 2.5, -3.0], [4.0, 5.5, 6.0]], dtype=graphc.float64)
    y = graphc.tensor([[0.7, 1.1, 2.0]], dtype=graphc.float64, requires_grad=True)
    (alone,) = graphc.autograd.grad(graphc.div(x, y, rounding_mode=rounding).sum(), [y])
    assert alone.shape == (1, 3) and alone.tolist() == [[0.0, 0.0, 0.0]]
    w = y * 3.0
    loss = graphc.div(x, w, rounding_mode=rounding).sum() + (w * w).sum()
    (grad,) = graphc.autograd.grad(loss, [y])
    np.testing.assert_allclose(grad.numpy(), 18 * y.detach().numpy())  # d/dy 9 y^2
    # remainder's gradient uses the rounding division: its second derivative doubled too
    assert _second_derivative(lambda v: graphc.remainder(x, v * 1.0).sum() + (v * v).sum(),
                              y.detach().numpy())[1] == [[2.0, 2.0, 2.0]]


def test_smooth_l1_and_huber_losses_curve_where_input_equals_target():
    # |d| * |d| has no curvature at d = 0 (sign(0) = 0): the second derivative was 0 there
    target = graphc.tensor([0.0, 1.0, 0.0], dtype=graphc.float64)
    F = graphc.nn.functional
    _, curvature = _second_derivative(
        lambda a: F.smooth_l1_loss(a, target, beta=0.5, reduction="sum"), [0.0, 1.0, 0.1])
    assert curvature == [2.0, 2.0, 2.0]  # 1 / beta
    _, curvature = _second_derivative(
        lambda a: F.huber_loss(a, target, reduction="sum"), [0.0, 1.0, 0.1])
    assert curvature == [1.0, 1.0, 1.0]


def test_kl_div_mixed_second_derivative_holds_at_a_zero_target():
    # the whole term target * (log target - input) sat in a where(target > 0): its dependence
    # on the target was dropped where the target is 0
    inputs = graphc.tensor([-1.0, -2.0], dtype=graphc.float64, requires_grad=True)
    target = graphc.tensor([0.0, 0.5], dtype=graphc.float64, requires_grad=True)
    loss = graphc.nn.functional.kl_div(inputs, target, reduction="sum")
    assert loss.item() == pytest.approx(0.5 * (math.log(0.5) + 2.0))
    (by_input,) = graphc.autograd.grad(loss, inputs, create_graph=True)
    assert graphc.autograd.grad(by_input.sum(), target)[0].tolist() == [-1.0, -1.0]


def test_the_zeroth_power_has_zero_second_derivative_at_zero():
    # the first derivative selected 0 * inf away, but its own derivative multiplied 0 by inf
    assert _second_derivative(lambda x: (x ** 0.0).sum(), [0.0, 2.0]) == ([0.0, 0.0], [0.0, 0.0])
    _, curvature = _second_derivative(lambda x: (x ** 3.0).sum(), [0.0, 2.0])
    assert curvature == [0.0, 12.0]


def test_kl_div_counts_a_masked_log_probability_with_a_zero_target_as_zero():
    inputs = graphc.tensor([-math.inf, -1.0], requires_grad=True)
    target = graphc.tensor([0.0, 1.0])
    loss = graphc.nn.functional.kl_div(inputs, target, reduction="sum")
    loss.backward()
    assert loss.item() == 1.0 and inputs.grad.tolist() == [0.0, -1.0]
