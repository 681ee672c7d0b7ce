"""Custom autograd functions (``graphc.autograd.Function``), as PyTorch's: ``backward`` is what
the gradient is (checked against finite differences where it is the true derivative, and
against the rule it states where it is not), with both definition styles, several outputs,
saved tensors, second derivatives, and refusal where a compiled function would ignore it."""
import numpy as np
import pytest

import graphc
from conftest import check_grad
from graphc.autograd import Function, once_differentiable
from graphc.errors import AutogradError


class ScaledExp(Function):
    @staticmethod
    def forward(ctx, x, scale):
        y = (x * scale).exp()
        ctx.save_for_backward(y)
        ctx.scale = scale
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * y * ctx.scale, None


class DoubleAndSum(Function):  # PyTorch 2's style: forward without ctx, and setup_context
    @staticmethod
    def forward(x):
        return x * 2, x.sum()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.seen = inputs[0].shape

    @staticmethod
    def backward(ctx, grad_double, grad_sum):
        return grad_double * 2 + grad_sum


class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x ** 2


def test_the_gradient_is_what_backward_says_matching_finite_differences():
    x = np.array([0.5, -1.0, 2.0])
    check_grad(lambda t: ScaledExp.apply(t, 1.5), [x])
    check_grad(lambda t: (lambda a, s: a * 3 + s * 5)(*DoubleAndSum.apply(t)), [x])
    check_grad(lambda t: Cube.apply(t), [x])


def test_a_backward_that_is_not_the_derivative_is_used_as_written():
    class StraightThrough(Function):
        @staticmethod
        def forward(ctx, x):
            return x.round()

        @staticmethod
        def backward(ctx, grad):
            return grad  # round's derivative is 0: this is the point of the estimator

    x = graphc.tensor([0.2, 1.7], requires_grad=True)
    (StraightThrough.apply(x) * graphc.tensor([2.0, 3.0])).sum().backward()
    assert x.grad.tolist() == [2.0, 3.0]


def test_unused_outputs_get_zeros_or_none_and_broadcast_gradients_are_summed():
    seen = []

    class Pair(Function):
        @staticmethod
        def forward(ctx, x, b, materialize):
            ctx.set_materialize_grads(materialize)
            return x + b, x * 0

        @staticmethod
        def backward(ctx, grad_sum, grad_zero):
            seen.append(grad_zero)
            return grad_sum, grad_sum, None  # b's gradient has x's shape: summed to b's

    x = graphc.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    b = graphc.tensor([0.5, 0.5], requires_grad=True)
    for materialize in (True, False):
        x.grad = b.grad = None
        Pair.apply(x, b, materialize)[0].sum().backward()
        assert b.grad.tolist() == [2.0, 2.0] and x.grad.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert seen[0].tolist() == [[0.0, 0.0], [0.0, 0.0]] and seen[1] is None


def test_second_derivatives_through_a_differentiable_backward():
    x = graphc.tensor([0.5, -1.0, 2.0], dtype=graphc.float64, requires_grad=True)
    (g,) = graphc.autograd.grad(Cube.apply(x).sum(), [x], create_graph=True)
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.detach().numpy(), rtol=1e-15)

    class Frozen(Cube):
        backward = staticmethod(once_differentiable(Cube.backward))

    y = graphc.tensor([2.0], requires_grad=True)
    (g,) = graphc.autograd.grad(Frozen.apply(y).sum(), [y], create_graph=True)
    assert g.tolist() == [12.0] and not g.requires_grad


def test_non_differentiable_outputs_saved_tensor_checks_and_bad_gradients():
    class MaxAt(Function):
        @staticmethod
        def forward(ctx, x):
            index = x.argmax()
            ctx.mark_non_differentiable(index)
            ctx.save_for_backward(x, index)
            return x.max(), index

        @staticmethod
        def backward(ctx, grad_value, grad_index):
            x, index = ctx.saved_tensors
            out = graphc.zeros_like(x)
            out[index] = grad_value
            return out

    x = graphc.tensor([1.0, 5.0, 2.0], requires_grad=True)
    value, index = MaxAt.apply(x)
    assert not index.requires_grad
    (value * 2).backward()
    assert x.grad.tolist() == [0.0, 2.0, 0.0]

    w = graphc.tensor([1.0, 2.0], requires_grad=True)
    saved = w * 1
    out = Cube.apply(saved)
    with graphc.no_grad():
        saved.add_(1)
    with pytest.raises(AutogradError, match="modified by an in-place operation"):
        out.sum().backward()

    class WrongShape(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return graphc.ones(5)

    with pytest.raises(AutogradError, match=r"shape \[5\] for argument 0, which has shape \[2\]"):
        WrongShape.apply(w).sum().backward()
    with pytest.raises(RuntimeError, match=r"call WrongShape.apply"):
        WrongShape(w)


def test_compiled_functions_refuse_it_where_a_gradient_is_needed_and_compile_it_elsewhere():
    f = graphc.compile(lambda x: ScaledExp.apply(x, 2.0))
    with pytest.raises(graphc.TraceError, match="would silently ignore ScaledExp.backward"):
        f(graphc.tensor([0.5], requires_grad=True))
    expected = np.exp(np.float32(1.0))
    with graphc.no_grad():
        np.testing.assert_allclose(f(graphc.tensor([0.5], requires_grad=True)).numpy(),
                                   [expected], rtol=1e-6)
    np.testing.assert_allclose(f(graphc.tensor([0.5])).numpy(), [expected], rtol=1e-6)
