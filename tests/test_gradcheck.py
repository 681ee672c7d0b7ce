"""graphc.autograd.gradcheck / gradgradcheck (torch.autograd.gradcheck): they pass on correct
gradients, and catch each kind of wrong backward with a message naming output and input."""
import re
import warnings

import numpy as np
import pytest

import graphc
from graphc.autograd import gradcheck, gradgradcheck
from graphc.autograd.gradcheck import GradcheckError


def f64(values, requires_grad=True):
    return graphc.tensor(values, dtype=graphc.float64, requires_grad=requires_grad)


def square_with(backward_rule):
    """x ** 2 as a custom Function whose backward is ``backward_rule(x, grad)``."""
    class Square(graphc.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return backward_rule(x, grad)
    return Square.apply


RIGHT = square_with(lambda x, g: 2 * x * g)
HALVED = square_with(lambda x, g: x * g)  # a factor 2 lost


@pytest.mark.parametrize("fn", [
    lambda x: graphc.tanh(x) * x,
    lambda x: graphc.softmax(x.reshape(2, 3), -1),
    lambda x: (x.max(), x.sum() ** 2),                       # two outputs
    lambda x: graphc.cumsum(x, 0)[1:] * graphc.sigmoid(x[:-1]),
    RIGHT,
])
@pytest.mark.parametrize("fast_mode", [False, True])
def test_correct_gradients_pass(fn, fast_mode):
    x = f64([0.3, -1.2, 2.0, 0.7, -0.4, 1.1])
    assert gradcheck(fn, (x,), fast_mode=fast_mode)


def test_several_inputs_and_non_tensor_arguments():
    rng = np.random.default_rng(0)
    x, w, b = f64(rng.normal(size=(2, 3))), f64(rng.normal(size=(3, 4))), f64(rng.normal(size=4))
    fixed = graphc.tensor(rng.normal(size=4))  # does not require grad: not checked

    def layer(x, w, scale, b, fixed):
        return graphc.relu(x @ w + b) * scale + fixed

    assert gradcheck(layer, (x, w, 2.5, b, fixed))
    assert gradcheck(layer, (x, w, 2.5, b, fixed), check_forward_ad=True,
                     check_batched_grad=True, check_batched_forward_grad=True)


def test_wrong_backward_is_reported_with_both_jacobians():
    x = f64([1.0, -2.0, 3.0])
    with pytest.raises(GradcheckError) as caught:
        gradcheck(HALVED, (x,))
    message = str(caught.value)
    assert message.startswith("Jacobian mismatch for output 0 with respect to input 0,")
    numerical = message.split("numerical:")[1].split("analytical:")[0]
    analytical = message.split("analytical:")[1].split("The max")[0]
    # the numerical Jacobian is d(x^2)/dx = diag(2x); the analytical one the broken diag(x)
    assert [float(v) for v in re.findall(r"-?\d+\.?\d*", numerical)] == \
        [2.0, 0, 0, 0, -4.0, 0, 0, 0, 6.0]
    assert [abs(float(v)) for v in re.findall(r"-?\d+\.?\d*", analytical)] == \
        [1.0, 0, 0, 0, 2.0, 0, 0, 0, 3.0]
    assert "max per-element difference is: 3.0" in message
    assert gradcheck(HALVED, (x,), raise_exception=False) is False


def test_fast_mode_catches_the_same_bug_and_shows_the_full_jacobians():
    with pytest.raises(GradcheckError, match="fast mode(.|\n)*Numerical:(.|\n)*Analytical:"):
        gradcheck(HALVED, (f64([1.0, -2.0, 3.0]),), fast_mode=True)


def test_input_named_by_its_position_among_the_arguments():
    def fn(scale, x):
        return HALVED(x) * scale
    with pytest.raises(GradcheckError, match=r"input 0 \(argument 1 of func\)"):
        gradcheck(fn, (2.0, f64([1.0, 2.0])))


def test_gradient_of_the_wrong_input_is_caught():
    x, y = f64([1.0, 2.0]), f64([3.0, 4.0])

    class Swapped(graphc.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * 2 + y * 3

        @staticmethod
        def backward(ctx, grad):
            return grad * 3, grad * 2
    with pytest.raises(GradcheckError, match="output 0 with respect to input 0"):
        gradcheck(Swapped.apply, (x, y))


def test_nondeterministic_backward_is_not_reentrant():
    calls = []

    def noisy(x, g):
        calls.append(1)
        return 2 * x * g * (1 + 1e-8 * len(calls))  # within tolerance, but not repeatable
    with pytest.raises(GradcheckError, match="not reentrant"):
        gradcheck(square_with(noisy), (f64([1.0, 2.0]),))
    assert gradcheck(square_with(noisy), (f64([1.0, 2.0]),), nondet_tol=1e-5)


def test_backward_must_give_zero_for_zero_output_gradients():
    offset = square_with(lambda x, g: 2 * x * g + (g == 0).to(graphc.float64))
    with pytest.raises(GradcheckError, match="zero gradients for zero output gradients"):
        gradcheck(offset, (f64([1.0, 2.0]),), atol=2.0)
    assert gradcheck(offset, (f64([1.0, 2.0]),), atol=2.0, check_undefined_grad=False)


def test_outputs_without_grad():
    x = f64([1.0, 2.0])
    assert gradcheck(lambda x: (x * 2).to(graphc.int64), (x,))  # integer: nothing to check
    with pytest.raises(GradcheckError, match="expected to be zero"):
        gradcheck(lambda x: x.detach() * 2, (x,))  # depends on x, yet has no gradient


def test_argument_errors():
    with pytest.raises(graphc.ArgumentError, match="at least one input tensor to require"):
        gradcheck(lambda x: x * 2, (f64([1.0], requires_grad=False),))
    with pytest.raises(ValueError):  # PyTorch raises ValueError there too
        gradcheck(lambda x: x, 3.0)


def test_float32_inputs_warn_like_pytorch():
    x = graphc.tensor([1.0, 2.0], requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gradcheck(lambda x: x * 2, (x,), raise_exception=False)
    assert any("not a double precision" in str(w.message) for w in caught)
    assert caught[0].filename == __file__  # attributed to the caller


def test_forward_ad_check_compares_jvp_with_finite_differences():
    x = f64([0.2, 0.9, -0.5])
    assert gradcheck(lambda x: graphc.exp(x).cumprod(0), (x,), check_forward_ad=True,
                     check_backward_ad=False)


def test_gradgradcheck_passes_on_second_derivatives():
    x, w = f64([0.5, -1.0, 2.0]), f64(np.arange(6.0).reshape(3, 2) / 5)
    assert gradgradcheck(lambda x: (x ** 3).sum(), (x,))
    assert gradgradcheck(lambda x, w: graphc.softmax(x @ w, -1), (x, w))
    assert gradgradcheck(lambda x: graphc.tanh(x), (x,), grad_outputs=(f64([1.0, 0.5, -2.0]),))


def test_gradgradcheck_catches_a_backward_that_is_not_differentiable():
    cut = square_with(lambda x, g: 2 * x.detach() * g)  # first derivative right, second lost
    x = f64([1.0, -2.0])
    assert gradcheck(cut, (x,))
    with pytest.raises(GradcheckError, match="Jacobian mismatch"):
        gradgradcheck(cut, (x,))


def test_gradgradcheck_leaves_graphcs_generator_alone():
    graphc.manual_seed(5)
    expected = graphc.rand(3)
    graphc.manual_seed(5)
    gradgradcheck(lambda x: x ** 2, (f64([1.0, 2.0]),))
    assert graphc.rand(3).tolist() == expected.tolist()


def test_error_types_and_import_paths():
    import sys

    from graphc.autograd.gradcheck import gradcheck as by_module_path
    module = sys.modules["graphc.autograd.gradcheck"]
    assert by_module_path is graphc.autograd.gradcheck
    assert issubclass(GradcheckError, RuntimeError)
    assert module.gradcheck is graphc.autograd.gradcheck
    assert module.gradgradcheck is graphc.autograd.gradgradcheck
