"""graphc.nn.utils.prune, as torch.nn.utils.prune: masks against NumPy references (the k
smallest |w|, the channels of smallest norm, the global k smallest), iterative pruning through
PruningContainer, PyTorch's validation errors, remove, state dicts, gradients, and compiled
forwards that always see the current mask. Tolerances: float32 forward values rtol=1e-6
(one matmul of small sizes); float64 gradients against finite differences as
conftest.check_grad states; masks compared exactly."""
import copy
import math

import numpy as np
import pytest

import graphc
from conftest import check_grad
from graphc import nn
from graphc.nn.utils import prune

RNG = np.random.default_rng(3)


def linear(out_features=3, in_features=4, weight=None):
    layer = nn.Linear(in_features, out_features)
    values = RNG.standard_normal((out_features, in_features)) if weight is None else weight
    with graphc.no_grad():
        layer.weight.copy_(graphc.tensor(np.asarray(values, dtype=np.float32)))
    return layer


def smallest_mask(values, k, keep=None):
    """1 everywhere but at the k smallest |values| (among the entries ``keep`` marks)."""
    flat = np.abs(values).ravel().astype(np.float64)
    keep = np.ones(flat.shape, bool) if keep is None else keep.ravel().astype(bool)
    candidates = np.flatnonzero(keep)
    pruned = candidates[np.argsort(flat[candidates], kind="stable")[:k]]
    mask = keep.astype(np.float32)
    mask[pruned] = 0
    return mask.reshape(values.shape)


def test_l1_unstructured_moves_the_parameter_and_adds_mask_and_hook():
    layer = linear()
    weight = layer.weight
    w = weight.numpy().copy()
    assert prune.l1_unstructured(layer, "weight", amount=5) is layer
    assert layer.weight_orig is weight  # the same Parameter: optimizers keep updating it
    np.testing.assert_array_equal(layer.weight_mask.numpy(), smallest_mask(w, 5))
    assert [n for n, _ in layer.named_parameters()] == ["bias", "weight_orig"]
    assert [n for n, _ in layer.named_buffers()] == ["weight_mask"]
    assert list(layer.state_dict()) == ["bias", "weight_orig", "weight_mask"]
    assert not isinstance(layer.weight, nn.Parameter)
    np.testing.assert_array_equal(layer.weight.numpy(), w * smallest_mask(w, 5))
    assert prune.is_pruned(layer) and prune.is_pruned(nn.Sequential(layer))
    assert not prune.is_pruned(linear())


def test_amount_as_fraction_rounds_as_pytorch():
    layer = linear(3, 4)  # 12 entries: 0.3 -> round(3.6) = 4
    w = layer.weight.numpy().copy()
    prune.l1_unstructured(layer, "weight", amount=0.3)
    np.testing.assert_array_equal(layer.weight_mask.numpy(), smallest_mask(w, 4))


def test_forward_pre_hook_recomputes_the_weight_from_orig_and_mask():
    layer = linear()
    prune.l1_unstructured(layer, "weight", amount=6)
    with graphc.no_grad():
        layer.weight_orig.add_(1.0)
    x = RNG.standard_normal((2, 4)).astype(np.float32)
    out = layer(graphc.tensor(x)).numpy()
    dense = layer.weight_orig.numpy() * layer.weight_mask.numpy()
    np.testing.assert_allclose(out, x @ dense.T + layer.bias.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(layer.weight.numpy(), dense)


def test_gradient_reaches_the_original_masked():
    layer = linear()
    prune.l1_unstructured(layer, "weight", amount=6)
    x = RNG.standard_normal((5, 4)).astype(np.float32)
    layer(graphc.tensor(x)).sum().backward()
    expected = np.ones((5, 3), np.float32).T @ x * layer.weight_mask.numpy()
    np.testing.assert_allclose(layer.weight_orig.grad.numpy(), expected, rtol=1e-6, atol=1e-6)


def test_prune_gradient_matches_finite_differences():
    w = RNG.standard_normal((3, 4))
    x = RNG.standard_normal((2, 4))

    def fn(weight, inputs):
        return inputs @ prune.L1Unstructured(amount=5).prune(weight).T

    check_grad(fn, [w, x])


def test_iterative_pruning_prunes_only_what_is_left():
    layer = linear(4, 5)
    w = layer.weight.numpy().copy()
    prune.l1_unstructured(layer, "weight", amount=6)
    first = smallest_mask(w, 6)
    prune.l1_unstructured(layer, "weight", amount=0.5)  # half of the 14 left: 7
    expected = smallest_mask(w, 7, keep=first)
    np.testing.assert_array_equal(layer.weight_mask.numpy(), expected)
    hooks = [h for h, _ in layer._forward_pre_hooks.values()]
    assert len(hooks) == 1 and isinstance(hooks[0], prune.PruningContainer)
    assert [type(m) for m in hooks[0]] == [prune.L1Unstructured, prune.L1Unstructured]
    prune.random_unstructured(layer, "weight", amount=2)
    assert len(hooks[0]) == 3
    mask = layer.weight_mask.numpy()
    assert mask.sum() == 20 - 6 - 7 - 2 and np.all(mask <= expected)


def test_ln_structured_prunes_channels_of_smallest_norm():
    w = RNG.standard_normal((4, 3, 2))
    for n, norm in [(1, lambda a, axis: np.abs(a).sum(axis)),
                    (2, lambda a, axis: np.sqrt((a * a).sum(axis))),
                    (math.inf, lambda a, axis: np.abs(a).max(axis)),
                    ("fro", lambda a, axis: np.sqrt((a * a).sum(axis)))]:
        for dim in (0, 1, -1):
            layer = linear(4, 3)
            layer.register_parameter("kernel", nn.Parameter(graphc.tensor(w.astype(np.float32))))
            prune.ln_structured(layer, "kernel", amount=1, n=n, dim=dim)
            axes = tuple(d for d in range(3) if d != dim % 3)
            smallest = int(np.argmin(norm(w.astype(np.float32), axes)))
            expected = np.ones(w.shape, np.float32)
            np.moveaxis(expected, dim, 0)[smallest] = 0
            np.testing.assert_array_equal(layer.kernel_mask.numpy(), expected, err_msg=f"{n} {dim}")


def test_structured_after_unstructured_prunes_among_live_channels():
    w = np.array([[5.0, 5.0, 5.0], [0.1, 0.2, 0.3], [1.0, 1.0, 1.0], [2.0, 0.0, 2.0]])
    layer = linear(4, 3, weight=w)
    prune.custom_from_mask(layer, "weight", graphc.tensor(np.array(
        [[1, 1, 1], [0, 0, 0], [1, 1, 1], [1, 1, 1]], np.float32)))
    # row 1 is already gone: the smallest-norm row among the 3 live ones is row 2
    prune.ln_structured(layer, "weight", amount=1, n=1, dim=0)
    expected = np.array([[1, 1, 1], [0, 0, 0], [0, 0, 0], [1, 1, 1]], np.float32)
    np.testing.assert_array_equal(layer.weight_mask.numpy(), expected)


def test_random_methods_prune_the_right_counts():
    graphc.manual_seed(0)
    layer = linear(6, 5)
    prune.random_unstructured(layer, "weight", amount=0.4)
    assert layer.weight_mask.numpy().sum() == 30 - 12
    layer = linear(6, 5)
    prune.random_structured(layer, "weight", amount=2, dim=1)
    mask = layer.weight_mask.numpy()
    assert sorted(mask.sum(0).tolist()) == [0, 0, 6, 6, 6] and np.all(mask == mask[0])
    layer = linear(6, 5)
    prune.random_structured(layer, "weight", amount=0, dim=0)
    assert layer.weight_mask.numpy().all()


def test_global_unstructured_prunes_the_smallest_over_all_tensors():
    a, b = linear(3, 4), linear(2, 3)
    wa, wb = a.weight.numpy().copy(), b.weight.numpy().copy()
    prune.global_unstructured([(a, "weight"), (b, "weight")], prune.L1Unstructured, amount=7)
    mask = smallest_mask(np.concatenate([wa.ravel(), wb.ravel()]), 7)
    np.testing.assert_array_equal(a.weight_mask.numpy().ravel(), mask[:12])
    np.testing.assert_array_equal(b.weight_mask.numpy().ravel(), mask[12:])
    # again: only what is left competes
    prune.global_unstructured([(a, "weight"), (b, "weight")], prune.L1Unstructured, amount=3)
    again = smallest_mask(np.concatenate([wa.ravel(), wb.ravel()]), 3, keep=mask)
    np.testing.assert_array_equal(a.weight_mask.numpy().ravel(), again[:12])
    with pytest.raises(TypeError, match="Only \"unstructured\""):
        prune.global_unstructured([(a, "bias")], prune.LnStructured, amount=1, n=1, dim=0)
    with pytest.raises(TypeError, match="importance_scores must be of type dict"):
        prune.global_unstructured([(a, "bias")], prune.L1Unstructured, importance_scores=[1],
                                  amount=1)


def test_importance_scores_choose_what_is_pruned():
    layer = linear(2, 3)
    scores = np.array([[6, 5, 4], [3, 2, 1]], np.float32)
    prune.l1_unstructured(layer, "weight", amount=2, importance_scores=graphc.tensor(scores))
    np.testing.assert_array_equal(layer.weight_mask.numpy(), [[1, 1, 1], [1, 0, 0]])
    with pytest.raises(AssertionError, match="importance_scores should have the same shape"):
        prune.l1_unstructured(linear(), "weight", 1, importance_scores=graphc.ones(2))


def test_identity_and_custom_from_mask():
    layer = linear(2, 2)
    prune.identity(layer, "weight")
    assert layer.weight_mask.numpy().all()
    mask = np.array([[1, 0], [0, 1]], np.float32)
    prune.custom_from_mask(layer, "bias", graphc.tensor(mask[0]))
    np.testing.assert_array_equal(layer.bias.numpy(), layer.bias_orig.numpy() * mask[0])


def test_pytorch_validation_errors_and_the_module_left_unchanged():
    with pytest.raises(TypeError, match="Invalid type for amount"):
        prune.L1Unstructured("0.5")
    for amount in (-1, 1.5, -0.1):
        with pytest.raises(ValueError, match="should either be a float in the range"):
            prune.RandomUnstructured(amount)
    layer = linear(3, 4)
    with pytest.raises(ValueError, match="amount=13 should be smaller than the number"):
        prune.l1_unstructured(layer, "weight", amount=13)
    assert isinstance(layer.weight, nn.Parameter) and not prune.is_pruned(layer)
    assert list(layer.state_dict()) == ["bias", "weight"]  # re-registered last, as PyTorch
    with pytest.raises(ValueError, match="Structured pruning can only be applied to multi"):
        prune.ln_structured(layer, "bias", amount=1, n=2, dim=0)
    with pytest.raises(IndexError, match="Invalid index 2"):
        prune.random_structured(layer, "weight", amount=1, dim=2)
    with pytest.raises(ValueError, match="has to be pruned before pruning can be removed"):
        prune.remove(layer, "weight")
    with pytest.raises(TypeError, match="not a BasePruningMethod subclass"):
        prune.PruningContainer(prune.Identity()).add_pruning_method("l1")


def test_remove_makes_the_pruning_permanent():
    layer = linear()
    weight = layer.weight
    prune.l1_unstructured(layer, "weight", amount=4)
    pruned = layer.weight.numpy().copy()
    assert prune.remove(layer, "weight") is layer
    assert layer.weight is weight and isinstance(layer.weight, nn.Parameter)
    np.testing.assert_array_equal(layer.weight.numpy(), pruned)
    assert list(layer.state_dict()) == ["bias", "weight"]
    assert not prune.is_pruned(layer) and "weight_mask" not in dict(layer.named_buffers())


def test_state_dict_round_trips_into_a_pruned_module(tmp_path):
    source = linear()
    prune.l1_unstructured(source, "weight", amount=5)
    graphc.save(source.state_dict(), tmp_path / "pruned.gc")
    target = linear()
    prune.identity(target, "weight")
    target.load_state_dict(graphc.load(tmp_path / "pruned.gc"))
    x = graphc.tensor(RNG.standard_normal((2, 4)).astype(np.float32))
    np.testing.assert_array_equal(target(x).numpy(), source(x).numpy())
    np.testing.assert_array_equal(target.weight_mask.numpy(), source.weight_mask.numpy())
    clone = copy.deepcopy(source)
    np.testing.assert_array_equal(clone(x).numpy(), source(x).numpy())
    assert prune.is_pruned(clone)


def test_compiled_forward_sees_every_new_mask():
    layer = linear(3, 4)
    prune.l1_unstructured(layer, "weight", amount=3)
    step = graphc.compile(lambda x: layer(x))
    x = RNG.standard_normal((2, 4)).astype(np.float32)

    def expected():
        dense = layer.weight_orig.numpy() * layer.weight_mask.numpy()
        return x @ dense.T + layer.bias.numpy()

    for _ in range(3):
        np.testing.assert_allclose(step(graphc.tensor(x)).numpy(), expected(), rtol=1e-6)
    # no retrace at every call: the weight a compiled call stores requires grad, as the
    # pre-hook's eager one did (graphc/guards.py's _Rewritten; compile.StoredWithoutHistory)
    assert step.explain().splitlines()[0].endswith("1 traces")
    prune.l1_unstructured(layer, "weight", amount=4)  # a new mask buffer and a new hook
    np.testing.assert_allclose(step(graphc.tensor(x)).numpy(), expected(), rtol=1e-6)
    assert layer.weight_mask.numpy().sum() == 5
    with graphc.no_grad():  # in place: the buffer is a graph input, read at each call
        layer.weight_mask.fill_(1.0)
    np.testing.assert_allclose(step(graphc.tensor(x)).numpy(), expected(), rtol=1e-6)
    prune.remove(layer, "weight")
    np.testing.assert_allclose(step(graphc.tensor(x)).numpy(),
                               x @ layer.weight.numpy().T + layer.bias.numpy(), rtol=1e-6)


def test_compiled_training_step_updates_the_original_only_where_kept():
    layer = linear(3, 4)
    prune.l1_unstructured(layer, "weight", amount=6)
    before = layer.weight_orig.numpy().copy()
    opt = graphc.optim.SGD(layer.parameters(), lr=0.1)
    x = graphc.tensor(RNG.standard_normal((5, 4)).astype(np.float32))

    @graphc.compile
    def step():
        opt.zero_grad()
        loss = layer(x).sum()
        loss.backward()
        opt.step()
        return loss

    step()
    mask = layer.weight_mask.numpy()
    changed = layer.weight_orig.numpy() != before
    assert np.array_equal(changed, mask == 1)


def test_pruning_inside_a_compiled_function_is_refused():
    layer = linear()

    @graphc.compile
    def bad(x):
        prune.l1_unstructured(layer, "weight", amount=1)
        return layer(x)

    with pytest.raises(graphc.errors.TraceError, match="prune outside it"):
        bad(graphc.ones(1, 4))
