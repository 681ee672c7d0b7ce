"""Module backward hooks (``register_full_backward_hook``/``_pre_hook``), as PyTorch's: the
gradients they see equal those autograd computes without them (exact: the hooks pass the
same numbers through an identity node), and what they return is what flows on."""
import numpy as np
import pytest

import graphc
from graphc import nn
from graphc.errors import TraceError


class TwoInTwoOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 4), nn.Linear(3, 2)

    def forward(self, x, y, scale=2.0):
        return self.a(x) * scale, self.b(y) ** 2


def inputs(seed=0, dtype=graphc.float64):
    rng = np.random.default_rng(seed)
    return [graphc.tensor(rng.standard_normal((5, 3)), dtype=dtype, requires_grad=True)
            for _ in range(2)]


def loss_of(outputs):
    return outputs[0].sum() + (outputs[1] * 3).sum()


def test_hooks_see_the_gradients_autograd_computes_without_them():
    graphc.manual_seed(0)
    model = TwoInTwoOut().double()
    x, y = inputs()
    outputs = model(x, y)
    expected_out = graphc.autograd.grad(loss_of(outputs), outputs, retain_graph=True)
    expected_in = graphc.autograd.grad(loss_of(model(x, y)), [x, y])
    seen = []
    model.register_full_backward_pre_hook(lambda m, gout: seen.append(("pre", gout)))
    model.register_full_backward_hook(lambda m, gin, gout: seen.append(("full", gin, gout)))
    loss_of(model(x, y)).backward()
    assert [entry[0] for entry in seen] == ["pre", "full"]
    for got, want in zip(seen[0][1], expected_out):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    for got, want in zip(seen[1][1], expected_in):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(x.grad.numpy(), expected_in[0].numpy())


def test_what_the_hooks_return_replaces_the_gradients_that_flow_on():
    graphc.manual_seed(0)
    model = TwoInTwoOut().double()
    x, y = inputs()
    plain = graphc.autograd.grad(loss_of(model(x, y)), [x, y])
    model.register_full_backward_pre_hook(lambda m, gout: (gout[0] * 2, gout[1]))
    model.register_full_backward_hook(lambda m, gin, gout: (gin[0] + 1, None))
    loss_of(model(x, y)).backward()
    # doubling grad_output[0] doubles what reaches x through the first output only
    np.testing.assert_allclose(x.grad.numpy(), 2 * plain[0].numpy() + 1, rtol=1e-15)
    np.testing.assert_array_equal(y.grad.numpy(), np.zeros((5, 3)))  # None: a zero gradient
    assert model.a.weight.grad is not None  # parameters get theirs as usual


def test_arguments_without_gradient_get_zeros_and_unused_outputs_none_as_in_pytorch():
    model = TwoInTwoOut()
    x, y = inputs(dtype=graphc.float32)
    seen = []
    model.register_full_backward_hook(lambda m, gin, gout: seen.append((gin, gout)))
    model(x, y.detach())[0].sum().backward()
    (gin, gout), = seen
    assert gin[0].shape == (5, 3) and not np.any(gin[1].numpy())
    assert gout[0].shape == (5, 4) and gout[1] is None
    seen.clear()
    model(x.detach(), y.detach())[1].sum().backward()  # no argument needs a gradient
    (gin, gout), = seen
    assert gin == (None, None) and gout[0] is None and gout[1].shape == (5, 2)




def test_submodule_hooks_fire_in_backward_order_once_per_pass():
    graphc.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    order = []
    for i, layer in enumerate(net):
        layer.register_full_backward_hook(lambda m, gin, gout, i=i: order.append(
            (i, [None if g is None else g.shape for g in gin], [g.shape for g in gout])))
    out = net(graphc.ones(2, 3))
    out.sum().backward(retain_graph=True)
    out.sum().backward()
    once = [(2, [(2, 4)], [(2, 1)]), (1, [(2, 4)], [(2, 4)]), (0, [None], [(2, 4)])]
    assert order == once + once


def test_second_derivatives_through_a_hooked_module_are_unchanged():
    def second(hooked):
        graphc.manual_seed(1)
        layer = nn.Linear(2, 1).double()
        if hooked:
            layer.register_full_backward_hook(lambda m, gin, gout: None)
        x = graphc.tensor([[1.0, 2.0]], dtype=graphc.float64, requires_grad=True)
        (g,) = graphc.autograd.grad((layer(x) ** 3).sum(), [x], create_graph=True)
        g.sum().backward()
        return x.grad.numpy()

    np.testing.assert_array_equal(second(True), second(False))


def test_compiled_functions_refuse_a_module_with_backward_hooks_under_grad():
    layer = nn.Linear(2, 2)
    f = graphc.compile(lambda x: layer(x).sum())
    x = graphc.ones(1, 2)
    plain = f(x).item()
    handle = layer.register_full_backward_hook(lambda m, gin, gout: None)
    with pytest.raises(TraceError, match="Linear has a backward hook"):
        f(x)
    with graphc.no_grad():  # nothing to hook: inference compiles
        assert f(x).item() == plain
    handle.remove()
    assert f(x).item() == plain


def test_bad_replacements_are_refused_naming_what_was_expected():
    layer = nn.Linear(3, 2)
    x = graphc.ones(1, 3, requires_grad=True)
    layer.register_full_backward_hook(lambda m, gin, gout: (gin[0], gin[0]))
    with pytest.raises(RuntimeError, match="tuple of 1 gradients"):
        layer(x).sum().backward()
    layer = nn.Linear(3, 2)
    layer.register_full_backward_pre_hook(lambda m, gout: (graphc.ones(5),))
    with pytest.raises(RuntimeError, match=r"shape \[5\] for grad_output\[0\], which has shape \[1, 2\]"):
        layer(x).sum().backward()


def test_mixed_dtype_arguments_get_gradients_in_their_own_dtypes():
    class Mix(nn.Module):
        def forward(self, a, b):
            return a.double() * b

    x = graphc.tensor([1.5, 2.5], dtype=graphc.float32, requires_grad=True)
    y = graphc.tensor([3.0, 4.0], dtype=graphc.float64, requires_grad=True)
    seen = []
    module = Mix()
    module.register_full_backward_hook(lambda m, gin, gout: seen.append(gin))
    module(x, y).sum().backward()
    (gx, gy), = seen
    assert (gx.dtype, gy.dtype) == (graphc.float32, graphc.float64)
    assert gx.tolist() == [3.0, 4.0] and gy.tolist() == [1.5, 2.5]
    assert x.grad.tolist() == [3.0, 4.0]


def test_grad_input_has_a_place_for_every_positional_argument_and_inplace_forward_is_refused():
    class Scale(nn.Module):
        def forward(self, x, factor):
            return x * factor

    seen = []
    module = Scale()
    module.register_full_backward_hook(
        lambda m, gin, gout: seen.append(gin) or (gin[0] * 2, None))
    w = graphc.ones(2, requires_grad=True)
    module(w, 3.0).sum().backward()
    assert len(seen[0]) == 2 and seen[0][1] is None  # (the number has no gradient)
    assert w.grad.tolist() == [6.0, 6.0]

    class Doubles(nn.Module):
        def forward(self, x):
            x.mul_(2)  # with hooks it would change a copy of the caller's tensor
            return x

    doubling = Doubles()
    doubling.register_full_backward_hook(lambda m, gin, gout: None)
    with pytest.raises(RuntimeError, match="changed its argument 0 in place"):
        doubling(graphc.ones(2, requires_grad=True) * 1)
