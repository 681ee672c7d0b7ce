"""The eager one-step cross entropy (graphc/nn/cross_entropy_eager.py) keeps every bit of the
composite (log_softmax + nll_loss ops), values and gradients, and falls back to it wherever it
does not apply."""
import numpy as np
import pytest

import graphc
import graphc.nn.functional as F
from graphc.autograd import gradcheck
from graphc.errors import AutogradError
from graphc.nn.losses import composite_cross_entropy


def _logits(rng, n, c, dtype, kind):
    a = rng.standard_normal((n, c)) * 3
    if kind == "inf":
        a[0, 0], a[-1, -1] = np.inf, -np.inf
        a[1, :] = -np.inf
    if kind == "nan":
        a[0, 1] = np.nan
    return graphc.tensor(a, dtype=dtype)


def _bits(t):
    return t.detach().numpy().tobytes()


@pytest.mark.parametrize("dtype", [graphc.float32, graphc.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("kind", ["plain", "ignored", "all_ignored", "inf", "nan", "strided"])
def test_fused_keeps_the_composites_bits(dtype, reduction, kind):
    rng = np.random.default_rng(hash((str(dtype), reduction, kind)) % 2**32)
    base = _logits(rng, 9, 6, dtype, kind)
    target = rng.integers(0, 6, 9)
    if kind == "ignored":
        target[::3] = 7  # ignored, and out of range: never read
    if kind == "all_ignored":
        target[:] = 7
    target = graphc.tensor(target)
    grad = graphc.tensor(rng.standard_normal(9), dtype=dtype) if reduction == "none" else None
    results = []
    for fn in (F.cross_entropy, composite_cross_entropy):
        x = (base.t().contiguous().t() if kind == "strided" else base.clone()).requires_grad_()
        loss = fn(x, target, ignore_index=7, reduction=reduction)
        loss.backward(grad)
        results.append((loss, x.grad))
    (fused, fused_grad), (composite, composite_grad) = results
    assert fused.grad_fn.name == "cross_entropy"  # (the fused path ran)
    assert composite.grad_fn.name != "cross_entropy"
    assert _bits(fused) == _bits(composite)
    assert _bits(fused_grad) == _bits(composite_grad)


def test_fused_gradient_against_finite_differences():
    rng = np.random.default_rng(0)
    x = graphc.tensor(rng.standard_normal((5, 4)), dtype=graphc.float64, requires_grad=True)
    target = graphc.tensor([0, 3, -100, 1, 2])
    for reduction in ("mean", "sum", "none"):
        assert gradcheck(lambda x: F.cross_entropy(x, target, reduction=reduction), (x,))


def test_double_backward_matches_the_composite():
    rng = np.random.default_rng(1)
    base = graphc.tensor(rng.standard_normal((6, 5)), dtype=graphc.float64)
    target = graphc.tensor(rng.integers(0, 5, 6))
    results = []
    for fn in (F.cross_entropy, composite_cross_entropy):
        x = base.clone().requires_grad_()
        (g,) = graphc.autograd.grad(fn(x * x, target), [x], create_graph=True)
        g.square().sum().backward()
        results.append((g, x.grad))
    assert _bits(results[0][0]) == _bits(results[1][0])
    assert _bits(results[0][1]) == _bits(results[1][1])


def test_second_backward_needs_retain_graph():
    x = graphc.randn(3, 4, requires_grad=True)
    loss = F.cross_entropy(x, graphc.tensor([0, 1, 2]))
    loss.backward()
    with pytest.raises(AutogradError, match="second time"):
        loss.backward()
    x.grad = None
    loss = F.cross_entropy(x, graphc.tensor([0, 1, 2]))
    loss.backward(retain_graph=True)
    first = x.grad.clone()
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * first.numpy())


def test_logits_changed_in_place_afterwards_still_differentiate():
    # as the composite (and PyTorch: log_softmax's backward reads its result, not its input)
    x = graphc.randn(3, 4, requires_grad=True)
    logits = x * 1.0
    loss = F.cross_entropy(logits, graphc.tensor([0, 1, 2]))
    expected = graphc.autograd.grad(composite_cross_entropy(x * 1.0, graphc.tensor([0, 1, 2])),
                                    [x])[0]
    with graphc.no_grad():
        logits.mul_(0.0)
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), expected.numpy())


def test_falls_back_where_it_does_not_apply():
    x = graphc.randn(4, 3, requires_grad=True)
    target = graphc.tensor([0, 1, 2, 1])
    weight = graphc.tensor([1.0, 2.0, 0.5])
    for loss in (F.cross_entropy(x, target, weight=weight),
                 F.cross_entropy(x, target, label_smoothing=0.1),
                 F.cross_entropy(x, F.softmax(graphc.randn(4, 3), 1)),
                 F.cross_entropy(x.half(), target),
                 F.cross_entropy(x[0], target[0])):
        assert loss.grad_fn.name != "cross_entropy"
    with pytest.raises(IndexError, match="out of range"):
        F.cross_entropy(x, graphc.tensor([0, 1, 3, 1]))
    with pytest.raises(IndexError, match="out of range"):
        F.cross_entropy(x, graphc.tensor([0, -1, 2, 1]))


def test_compiled_loss_equals_eager():
    rng = np.random.default_rng(2)
    x = graphc.tensor(rng.standard_normal((8, 10)), dtype=graphc.float32)
    target = graphc.tensor(rng.integers(0, 10, 8))
    compiled = graphc.compile(lambda x, t: F.cross_entropy(x, t))
    # (compiled code sums in its own order, as before the fused path: float32, 1e-6 relative)
    np.testing.assert_allclose(compiled(x, target).numpy(), F.cross_entropy(x, target).numpy(),
                               rtol=1e-6)


def test_no_grad_records_nothing():
    x = graphc.randn(2, 3, requires_grad=True)
    with graphc.no_grad():
        loss = F.cross_entropy(x, graphc.tensor([0, 2]))
    assert loss.grad_fn is None and not loss.requires_grad


def test_forward_mode_and_hessian_match_the_composite():
    from graphc.func import hessian, jvp
    rng = np.random.default_rng(3)
    x = graphc.tensor(rng.standard_normal((3, 4)), dtype=graphc.float64)
    v = graphc.tensor(rng.standard_normal((3, 4)), dtype=graphc.float64)
    target = graphc.tensor([1, 0, 3])
    fused = jvp(lambda x: F.cross_entropy(x, target), (x,), (v,))[1]
    composite = jvp(lambda x: composite_cross_entropy(x, target), (x,), (v,))[1]
    assert _bits(fused) == _bits(composite)
    h_fused = hessian(lambda x: F.cross_entropy(x, target))(x)
    h_composite = hessian(lambda x: composite_cross_entropy(x, target))(x)
    np.testing.assert_allclose(h_fused.numpy(), h_composite.numpy(), rtol=1e-12, atol=1e-15)


def test_checkpointed_loss_gives_the_same_gradient():
    from graphc.utils.checkpoint import checkpoint
    rng = np.random.default_rng(4)
    base = graphc.tensor(rng.standard_normal((5, 3)), dtype=graphc.float32)
    target = graphc.tensor([0, 2, 1, 1, 0])
    grads = []
    for wrap in (False, True):
        x = base.clone().requires_grad_()
        fn = lambda x: F.cross_entropy(x * 2.0, target)  # noqa: E731
        loss = checkpoint(fn, x, use_reentrant=False) if wrap else fn(x)
        loss.backward()
        grads.append(x.grad)
    assert _bits(grads[0]) == _bits(grads[1])
