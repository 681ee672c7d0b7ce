"""Parametrizations (``nn.utils.parametrize``), weight normalization (the parametrization and
the original ``nn.utils.weight_norm``), as PyTorch's: values, gradients against finite
differences, state-dict names, assignment, removal, and compiled training steps equal to eager
ones without retracing. Tolerances: float64, rtol=1e-12 (finite differences: conftest's)."""
import numpy as np
import pytest

import graphc
from conftest import check_grad
from graphc import nn, optim
from graphc.nn.utils import parametrizations, parametrize


class Symmetric(nn.Module):
    def forward(self, x):
        return x.triu() + x.triu(1).mT

    def right_inverse(self, a):
        return a.triu()


def linear(seed=0, features=(4, 3)):
    graphc.manual_seed(seed)
    return nn.Linear(*features).double()


def test_a_parametrized_weight_is_computed_from_its_original_at_every_access():
    layer = nn.Linear(3, 3).double()
    original = layer.weight
    parametrize.register_parametrization(layer, "weight", Symmetric())
    assert type(layer).__name__ == "ParametrizedLinear" and isinstance(layer, nn.Linear)
    assert parametrize.is_parametrized(layer, "weight") and not parametrize.is_parametrized(
        layer, "bias")
    assert layer.parametrizations.weight.original is original  # (optimizers keep it)
    w = layer.weight.detach().numpy()
    np.testing.assert_array_equal(w, w.T)
    assert sorted(layer.state_dict()) == ["bias", "parametrizations.weight.original"]
    target = np.arange(9.0).reshape(3, 3)
    layer.weight = graphc.tensor(target + target.T)  # stored through right_inverse
    np.testing.assert_array_equal(layer.weight.numpy(), target + target.T)
    parametrize.remove_parametrizations(layer, "weight")
    assert type(layer) is nn.Linear and layer.weight is original
    np.testing.assert_array_equal(original.numpy(), target + target.T)


def test_removal_can_leave_the_original_instead_of_the_parametrized_value():
    layer = nn.Linear(3, 3).double()
    original = layer.weight
    values = original.detach().numpy().copy()
    parametrize.register_parametrization(layer, "weight", Symmetric())
    parametrize.remove_parametrizations(layer, "weight", leave_parametrized=False)
    assert type(layer) is nn.Linear and layer.weight is original
    np.testing.assert_array_equal(original.detach().numpy(), np.triu(values))  # right_inverse's
    several = parametrizations.weight_norm(linear())
    with pytest.raises(ValueError, match="sequence of tensors"):
        parametrize.remove_parametrizations(several, "weight", leave_parametrized=False)


def test_weight_norm_parametrization_values_gradients_and_names():
    layer = parametrizations.weight_norm(linear(), dim=0)
    g = layer.parametrizations.weight.original0
    v = layer.parametrizations.weight.original1
    assert g.shape == (3, 1) and v.shape == (3, 4)
    np.testing.assert_allclose(layer.weight.detach().numpy(), v.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(g.detach().numpy()[:, 0],
                               np.linalg.norm(v.detach().numpy(), axis=1), rtol=1e-12)
    norm = parametrizations._WeightNorm(0)
    check_grad(lambda gg, vv: norm(gg, vv), [np.array([[2.0], [0.5], [1.5]]),
                                             np.random.default_rng(0).standard_normal((3, 4))])
    whole = parametrizations._WeightNorm(None)
    check_grad(lambda gg, vv: whole(gg, vv), [np.array(2.0),
                                              np.random.default_rng(1).standard_normal((3, 4))])


def _sgd_losses(model, x, lr, compiled):
    """Four SGD steps on ``sum(model(x)**2)``, eager or as one compiled step: (losses, step)."""
    opt = optim.SGD(model.parameters(), lr=lr)

    def step(x):
        opt.zero_grad()
        loss = model(x).pow(2).sum()
        loss.backward()
        opt.step()
        return loss

    run = graphc.compile(step) if compiled else step
    return [run(x).item() for _ in range(4)], run


@pytest.mark.parametrize("make", [
    lambda: parametrizations.weight_norm(linear(), dim=1),
    lambda: nn.utils.weight_norm(linear(), dim=0),
    lambda: parametrize.register_parametrization(linear(features=(3, 3)), "weight",
                                                 Symmetric()),
], ids=["weight_norm_parametrization", "weight_norm_original", "custom"])
def test_compiled_training_steps_equal_eager_ones_without_retracing(make):
    def train(compiled):
        model = make()
        x = graphc.tensor(np.random.default_rng(2).standard_normal((5, model.in_features)))
        return (model, *_sgd_losses(model, x, 0.02, compiled))

    eager, eager_losses, _ = train(False)
    model, losses, step = train(True)
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-12)
    np.testing.assert_allclose(model.weight.detach().numpy(), eager.weight.detach().numpy(),
                               rtol=1e-12)
    assert losses[-1] < losses[0] and len(step.entries) == 1, step.explain()


def test_original_weight_norm_names_removal_and_refusals():
    layer = nn.utils.weight_norm(linear())
    assert sorted(layer.state_dict()) == ["bias", "weight_g", "weight_v"]
    before = layer.weight.detach().numpy()
    np.testing.assert_allclose(before, linear().weight.detach().numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError, match="two weight_norm"):
        nn.utils.weight_norm(layer)
    nn.utils.remove_weight_norm(layer)
    assert sorted(layer.state_dict()) == ["bias", "weight"] and type(layer) is nn.Linear
    np.testing.assert_allclose(layer.weight.detach().numpy(), before, rtol=1e-12)
    with pytest.raises(ValueError, match="weight_norm of 'weight' not found"):
        nn.utils.remove_weight_norm(layer)
    with pytest.raises(ValueError, match="no parameter or buffer with name 'scale'"):
        parametrize.register_parametrization(linear(), "scale", Symmetric())


def test_spectral_norm_divides_by_the_largest_singular_value_and_compiles():
    layer = parametrizations.spectral_norm(linear(features=(5, 4)))
    assert sorted(layer.state_dict()) == ["bias", "parametrizations.weight.0._u",
                                          "parametrizations.weight.0._v",
                                          "parametrizations.weight.original"]
    original = layer.parametrizations.weight.original.detach().numpy()
    for _ in range(30):  # power iteration, one step per training-mode access
        weight = layer.weight
    sigma = np.linalg.svd(original, compute_uv=False)[0]
    np.testing.assert_allclose(weight.detach().numpy(), original / sigma, rtol=1e-10)
    layer.eval()
    u_before = layer.parametrizations.weight[0]._u.numpy().copy()
    _ = layer.weight  # eval: the vectors stay
    np.testing.assert_array_equal(layer.parametrizations.weight[0]._u.numpy(), u_before)
    with pytest.raises(ValueError, match="n_power_iterations"):
        parametrizations.spectral_norm(linear(), n_power_iterations=0)

    def train(compiled):
        graphc.manual_seed(3)  # (the same random start vectors)
        model = parametrizations.spectral_norm(linear())
        x = graphc.tensor(np.random.default_rng(2).standard_normal((5, 4)))
        return _sgd_losses(model, x, 0.05, compiled)

    eager, _ = train(False)
    compiled, run = train(True)
    np.testing.assert_allclose(compiled, eager, rtol=1e-10)
    assert len(run.entries) == 1, run.explain()


def test_parametrized_modules_deep_copy_but_refuse_pickling_as_pytorch():
    import copy
    import io
    import pickle
    layer = parametrizations.weight_norm(linear())
    with pytest.raises(RuntimeError, match="only supported through state_dict"):
        pickle.dumps(layer)
    with pytest.raises(TypeError, match="save its state_dict"):
        graphc.save(layer, io.BytesIO())
    replica = copy.deepcopy(layer)
    np.testing.assert_array_equal(replica.weight.detach().numpy(), layer.weight.detach().numpy())
    assert replica.parametrizations.weight.original0 is not layer.parametrizations.weight.original0


class Split(nn.Module):
    """A parametrization of two tensors: right_inverse splits a value into a quarter and three
    quarters (a list, as PyTorch allows), forward adds them back."""

    def forward(self, a, b):
        return a + b

    def right_inverse(self, x):
        return [x * 0.25, x * 0.75]


class Function(nn.Module):
    """A parametrization made of a forward function and an optional right inverse."""

    def __init__(self, forward, right_inverse=None):
        super().__init__()
        self.function = forward
        if right_inverse is not None:
            self.right_inverse = right_inverse

    def forward(self, *x):
        return self.function(*x)


def test_a_right_inverse_returning_several_tensors_gives_original0_original1():
    layer = linear()
    w = layer.weight.detach().numpy().copy()
    parametrize.register_parametrization(layer, "weight", Split())
    chain = layer.parametrizations.weight
    assert chain.ntensors == 2 and not hasattr(chain, "original")
    np.testing.assert_array_equal(chain.original0.numpy(), w * 0.25)
    np.testing.assert_array_equal(chain.original1.numpy(), w * 0.75)
    assert isinstance(chain.original0, nn.Parameter) and chain.original1.requires_grad
    np.testing.assert_allclose(layer.weight.detach().numpy(), w, rtol=1e-12)
    layer.weight = graphc.full((3, 4), 4.0, dtype=graphc.float64)  # through right_inverse
    np.testing.assert_array_equal(chain.original0.numpy(), np.full((3, 4), 1.0))
    np.testing.assert_array_equal(chain.original1.numpy(), np.full((3, 4), 3.0))
    (layer.weight * graphc.tensor(w)).sum().backward()  # d/d(original_i) of sum(w * (a + b))
    np.testing.assert_array_equal(chain.original0.grad.numpy(), w)
    np.testing.assert_array_equal(chain.original1.grad.numpy(), w)


def test_unsafe_false_checks_shape_and_dtype_before_changing_anything_as_pytorch():
    layer = linear()
    w = layer.weight
    before = w.detach().numpy().copy()
    with pytest.raises(ValueError, match="may not change the shape of the tensor, unless "
                                         "`unsafe` flag is enabled.\nunparametrized shape: "
                                         r"\[3, 4\]\nparametrized shape: \[12\]"):
        parametrize.register_parametrization(  # (checked after the right_inverse)
            layer, "weight", Function(lambda x: x.reshape(12), lambda x: x * 2))
    with pytest.raises(ValueError, match="may not change the dtype .*\nunparametrized dtype: "
                                         "f64\nparametrized dtype: f32"):
        parametrize.register_parametrization(layer, "weight", Function(lambda x: x.float()))
    with pytest.raises(ValueError, match="A parametrization must return a tensor. Got tuple"):
        parametrize.register_parametrization(layer, "weight", Function(lambda x: (x, x)))
    with pytest.raises(ValueError, match="When `right_inverse` outputs one tensor, it may not "
                                         "change the dtype"):
        parametrize.register_parametrization(layer, "weight", Function(
            lambda x: x.double(), lambda x: x.float()))
    with pytest.raises(ValueError, match="Got element 1 of the sequence with type int"):
        parametrize.register_parametrization(layer, "weight", Function(
            lambda a, b: a, lambda x: (x, 3)))
    # nothing registered, and the refused right_inverse (x * 2) did not touch the weight
    assert not parametrize.is_parametrized(layer) and layer.weight is w
    np.testing.assert_array_equal(w.detach().numpy(), before)
    parametrize.register_parametrization(layer, "weight", Function(lambda x: x[:2]),
                                         unsafe=True)
    assert layer.weight.shape == (2, 4)


def test_a_chained_parametrization_is_checked_against_the_parametrized_tensor():
    layer = linear()
    parametrize.register_parametrization(layer, "weight", Function(lambda x: x * 2,
                                                                   lambda x: x / 2))
    with pytest.raises(ValueError, match=r"unless the `unsafe` flag is enabled.\n"
                                         r"module.weight.shape: \[3, 4\]\n"
                                         r"parametrization\(module.weight\).shape: \[2, 4\]"):
        parametrize.register_parametrization(layer, "weight", Function(lambda x: x[:2]))
    with pytest.raises(ValueError, match="right_inverse must have the same shape as "
                                         "module.weight"):
        parametrize.register_parametrization(layer, "weight", Function(
            lambda x: x + 1, lambda x: x.reshape(12)))
    with pytest.raises(ValueError, match="right_inverse must return a tensor. Got: tuple"):
        parametrize.register_parametrization(layer, "weight", Function(
            lambda x: x + 1, lambda x: (x, x)))
    assert len(layer.parametrizations.weight) == 1  # none of them was appended
    parametrize.register_parametrization(layer, "weight", Function(lambda x: x + 1), unsafe=True)
    assert layer.parametrizations.weight.unsafe  # (as PyTorch: the chain becomes unsafe)


def test_assigning_needs_a_right_inverse_of_the_dtype_and_may_change_the_shape():
    layer = linear()
    parametrize.register_parametrization(layer, "weight", Function(lambda x: x * 2))
    with pytest.raises(RuntimeError, match="does not implement right_inverse"):
        layer.weight = graphc.ones(3, 4, dtype=graphc.float64)
    layer = linear()
    parametrize.register_parametrization(layer, "weight", Function(lambda x: x * 2,
                                                                   lambda x: x / 2))
    original = layer.parametrizations.weight.original
    with pytest.raises(ValueError, match="has dtype f32 while `original` has dtype f64"):
        layer.weight = graphc.ones(3, 4)
    layer.weight = graphc.ones(3, dtype=graphc.float64)  # PyTorch's set_: the new shape
    assert layer.parametrizations.weight.original is original and original.shape == (3,)
    np.testing.assert_array_equal(layer.weight.detach().numpy(), np.ones(3))
    parametrize.register_parametrization(layer, "bias", Split())
    with pytest.raises(ValueError, match="sequence of tensors of length 2. Got a sequence of "
                                         "length 1"):
        layer.parametrizations.bias[0].right_inverse = lambda x: [x]
        layer.bias = graphc.zeros(3, dtype=graphc.float64)


def test_removal_of_a_several_tensor_parametrization_keeps_the_value():
    layer = linear()
    w = layer.weight.detach().numpy().copy()
    parametrize.register_parametrization(layer, "weight", Split())
    parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
    assert type(layer) is nn.Linear and isinstance(layer.weight, nn.Parameter)
    np.testing.assert_allclose(layer.weight.detach().numpy(), w, rtol=1e-12)
