"""graphc.utils.checkpoint (torch.utils.checkpoint): gradients equal to the plain run's
(bitwise in float64 where each tensor reaches the function once: the recomputation runs the
same ops on the same values; else the terms of a sum may be added in another order, so those
tests compare with rtol=1e-12 or with hand-written derivatives at rtol=1e-12, and finite
differences as conftest.check_grad states), dropout masks reproduced from the saved RNG state,
intermediates freed after forward, nested checkpoints, checkpoint_sequential, a tensor
reaching the function twice (two arguments, an argument also captured), tensor hooks on the
boundary firing once, per-thread recording, and PyTorch's warnings and errors."""
import gc
import sys
import threading
import weakref

import numpy as np
import pytest

import graphc
from conftest import check_grad
from graphc import nn
from graphc.utils.checkpoint import CheckpointError, checkpoint, checkpoint_sequential

RNG = np.random.default_rng(0)


def block(x, w, scale=1.0):
    h = (x @ w).tanh()
    return (h * h.sin()).sum(-1) * scale


def grads_of(fn, arrays):
    tensors = [graphc.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    (out * graphc.tensor(np.arange(1.0, out.numel() + 1).reshape(out.shape))).sum().backward()
    return out.detach().numpy(), [t.grad.numpy() for t in tensors]


def test_gradients_bitwise_equal_to_the_plain_run():
    arrays = [RNG.standard_normal((3, 4)), RNG.standard_normal((4, 5))]
    plain_out, plain = grads_of(block, arrays)
    out, grads = grads_of(lambda x, w: checkpoint(block, x, w, scale=2.0, use_reentrant=False)
                          / 2.0, arrays)
    np.testing.assert_array_equal(out, plain_out)
    for g, p in zip(grads, plain):
        np.testing.assert_array_equal(g, p)


def test_modules_parameters_and_autograd_grad():
    graphc.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    x = graphc.tensor(RNG.standard_normal((5, 4)), requires_grad=False)  # params only
    model(x).pow(2).sum().backward()
    plain = [p.grad.numpy().copy() for p in model.parameters()]
    model.zero_grad()
    checkpoint(model, x, use_reentrant=False).pow(2).sum().backward()
    for p, want in zip(model.parameters(), plain):
        np.testing.assert_array_equal(p.grad.numpy(), want)
    # autograd.grad w.r.t. a parameter, through the checkpoint
    w = model[0].weight
    (g,) = graphc.autograd.grad(checkpoint(model, x, use_reentrant=False).sum(), [w])
    (want,) = graphc.autograd.grad(model(x).sum(), [w])
    np.testing.assert_array_equal(g.numpy(), want.numpy())


def test_dropout_masks_are_reproduced():
    drop = nn.Dropout(0.5)
    x = graphc.tensor(RNG.standard_normal((50,)), requires_grad=True)
    graphc.manual_seed(7)
    y = checkpoint(lambda t: drop(t.exp()), x, use_reentrant=False)
    graphc.randn(10)  # the global stream moves on before backward
    after_forward = graphc.get_rng_state()
    y.sum().backward()
    kept = y.detach().numpy() != 0
    # the gradient of sum(dropout(exp(x))) is exp(x) * 2 where kept, 0 where dropped: the mask
    # of the recomputation is the forward's
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, 2 * np.exp(x.detach().numpy()), 0),
                               rtol=1e-6)
    assert 10 < kept.sum() < 40
    # and the backward left the global RNG where it was
    np.testing.assert_array_equal(graphc.get_rng_state().numpy(), after_forward.numpy())
    # without preserve_rng_state the recomputation draws another mask
    x.grad = None
    graphc.manual_seed(7)
    y = checkpoint(lambda t: drop(t.exp()), x, use_reentrant=False, preserve_rng_state=False,
                   determinism_check="none")
    y.sum().backward()
    assert np.any((x.grad.numpy() != 0) != (y.detach().numpy() != 0))


def test_intermediates_are_freed_after_forward():
    kept = []

    def fn(x):
        h = x.exp()
        kept.append(weakref.ref(h))
        return (h * x).sin()

    x = graphc.tensor(RNG.standard_normal(4), requires_grad=True)
    plain = fn(x)
    gc.collect()
    assert kept[-1]() is not None  # the plain graph keeps exp(x) for backward
    y = checkpoint(fn, x, use_reentrant=False)
    gc.collect()
    assert kept[-1]() is None  # the checkpointed one does not
    y.sum().backward()
    grad = x.grad.numpy().copy()
    x.grad = None
    plain.sum().backward()
    np.testing.assert_array_equal(grad, x.grad.numpy())


def test_nested_checkpoints_and_second_derivatives():
    def inner(t):
        return t.sin() * t

    def outer(t):
        return checkpoint(inner, t.exp(), use_reentrant=False).tanh()

    arrays = [RNG.standard_normal(5)]
    plain_out, plain = grads_of(lambda t: inner(t.exp()).tanh(), arrays)
    out, grads = grads_of(lambda t: checkpoint(outer, t, use_reentrant=False), arrays)
    np.testing.assert_array_equal(out, plain_out)
    np.testing.assert_array_equal(grads[0], plain[0])
    # create_graph through a checkpoint: the Hessian-vector product of the plain function
    x = graphc.tensor(arrays[0], requires_grad=True)
    (g,) = graphc.autograd.grad(checkpoint(outer, x, use_reentrant=False).sum(), [x],
                                create_graph=True)
    (h,) = graphc.autograd.grad(g.sum(), [x])
    x2 = graphc.tensor(arrays[0], requires_grad=True)
    (g2,) = graphc.autograd.grad(inner(x2.exp()).tanh().sum(), [x2], create_graph=True)
    (h2,) = graphc.autograd.grad(g2.sum(), [x2])
    np.testing.assert_allclose(h.numpy(), h2.numpy(), rtol=1e-12)


def test_several_outputs_recompute_once():
    calls = []

    def two(x, w):
        calls.append(1)
        h = x @ w
        return h.sin(), (h.cos(), 3)

    arrays = [RNG.standard_normal((2, 3)), RNG.standard_normal((3, 3))]
    x, w = (graphc.tensor(a, requires_grad=True) for a in arrays)
    a, (b, three) = checkpoint(two, x, w, use_reentrant=False)
    assert three == 3
    (a.sum() + (b * b).sum()).backward()
    assert len(calls) == 2  # forward, and one recomputation for both outputs
    x2, w2 = (graphc.tensor(v, requires_grad=True) for v in arrays)
    a2, (b2, _) = two(x2, w2)
    (a2.sum() + (b2 * b2).sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), x2.grad.numpy())
    np.testing.assert_array_equal(w.grad.numpy(), w2.grad.numpy())


def test_checkpoint_sequential_matches_the_plain_model():
    graphc.manual_seed(1)
    model = nn.Sequential(*[nn.Linear(6, 6) if i % 2 == 0 else nn.Tanh() for i in range(8)])
    model = model.double()
    x = graphc.tensor(RNG.standard_normal((4, 6)), requires_grad=True)
    model(x).sum().backward()
    plain = [p.grad.numpy().copy() for p in model.parameters()] + [x.grad.numpy().copy()]
    model.zero_grad()
    x.grad = None
    out = checkpoint_sequential(model, 3, x, use_reentrant=False)
    out.sum().backward()
    for got, want in zip([p.grad.numpy() for p in model.parameters()] + [x.grad.numpy()],
                         plain):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="Unexpected keyword arguments: foo"):
        checkpoint_sequential(model, 2, x, use_reentrant=False, foo=1)


def test_use_reentrant_warning_and_errors_as_pytorch():
    x = graphc.tensor([1.0, 2.0], requires_grad=True)
    with pytest.warns(UserWarning, match="the use_reentrant parameter should be passed "
                                         "explicitly"):
        checkpoint(lambda t: t * 2, x)
    with pytest.warns(UserWarning, match="checkpoint_sequential: the use_reentrant parameter"):
        checkpoint_sequential([lambda t: t * 2, lambda t: t + 1], 2, x)
    with pytest.raises(ValueError, match="Unexpected keyword arguments: scale"):
        checkpoint(block, x, x, scale=1.0, use_reentrant=True)
    with pytest.raises(ValueError, match=r"determinism_check should be one of \['default', "
                                         r"'none'\], but got always"):
        checkpoint(lambda t: t, x, use_reentrant=False, determinism_check="always")
    # the reentrant variant: no input needs a gradient -> PyTorch's warning, no gradient
    layer = nn.Linear(2, 2)
    with pytest.warns(UserWarning, match="None of the inputs have requires_grad=True"):
        y = checkpoint(layer, graphc.ones(2), use_reentrant=True)
    assert not y.requires_grad
    assert checkpoint(layer, graphc.ones(2), use_reentrant=False).requires_grad


def test_nondeterministic_recomputation_is_caught():
    state = {"n": 0}

    def changes(x):
        state["n"] += 1
        return x.exp() if state["n"] == 1 else x.exp().sin()

    x = graphc.tensor([1.0], requires_grad=True)
    y = checkpoint(changes, x, use_reentrant=False)
    with pytest.raises(CheckpointError, match="a different number of operations"):
        y.sum().backward()


def test_no_grad_and_compiled_calls_just_run_the_function():
    x = graphc.tensor(RNG.standard_normal(3).astype(np.float32), requires_grad=True)
    with graphc.no_grad():
        assert not checkpoint(block, x[None], x[:, None], use_reentrant=False).requires_grad

    @graphc.compile
    def step(x):
        y = checkpoint(lambda t: (t.exp() * t).sum(), x, use_reentrant=False)
        y.backward()
        return y, x.grad

    y, g = step(x)
    xs = x.detach().numpy()
    np.testing.assert_allclose(y.numpy(), (np.exp(xs) * xs).sum(), rtol=1e-5)
    np.testing.assert_allclose(g.numpy(), np.exp(xs) * (1 + xs), rtol=1e-5)


def test_a_tensor_reaching_the_function_twice_gets_both_gradients():
    # as PyTorch: d/dx sum(x * x) = 2x, whether x comes as two arguments, or as an argument
    # the function also reads from outside (the engine summed one of the two uses before)
    x = graphc.tensor([0.5, 1.5], requires_grad=True)
    checkpoint(lambda a, b: a * b, x, x, use_reentrant=False).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 3.0])
    x.grad = None
    checkpoint(lambda a: a * x, x, use_reentrant=False).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 3.0])
    # a non-leaf passed three times, once by keyword: d/dx tanh(8 x^3) = 24 x^2 / cosh^2
    xs = np.array([0.5, 0.7])
    x = graphc.tensor(xs, requires_grad=True)
    n = x * 2
    y = checkpoint(lambda a, b, c: (a * b * c).tanh(), n, n, c=n, use_reentrant=False)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 24 * xs ** 2 / np.cosh(8 * xs ** 3) ** 2,
                               rtol=1e-12)
    # against finite differences, with a parameter-like captured tensor too
    check_grad(lambda x, w: checkpoint(lambda a, b: a * b * w + a.sin() * x, x, x,
                                       use_reentrant=False), [RNG.standard_normal(4),
                                                               RNG.standard_normal(4)])


def test_second_derivatives_through_an_argument_also_captured():
    # f(x) = sin(x^2) x: f' = 2x^2 cos(x^2) + sin(x^2), f'' = 6x cos(x^2) - 4x^3 sin(x^2)
    xs = np.array([0.3, -1.1, 0.8])
    x = graphc.tensor(xs, requires_grad=True)
    y = checkpoint(lambda a: (a * x).sin() * a, x, use_reentrant=False)
    (g,) = graphc.autograd.grad(y.sum(), [x], create_graph=True)
    (h,) = graphc.autograd.grad(g.sum(), [x])
    np.testing.assert_allclose(g.numpy(), 2 * xs ** 2 * np.cos(xs ** 2) + np.sin(xs ** 2),
                               rtol=1e-12)
    np.testing.assert_allclose(h.numpy(), 6 * xs * np.cos(xs ** 2)
                               - 4 * xs ** 3 * np.sin(xs ** 2), rtol=1e-12)


class _CountingIdentity(graphc.autograd.Function):
    calls = 0

    @staticmethod
    def forward(ctx, t):
        return t * 1.0

    @staticmethod
    def backward(ctx, g):
        _CountingIdentity.calls += 1
        return g


def test_hooks_on_the_boundary_fire_once():
    fired = []
    x = graphc.tensor([0.5, 1.5], requires_grad=True)
    w = graphc.tensor([1.0, 1.0], requires_grad=True)  # a parameter: captured leaf
    w.register_hook(lambda g: (fired.append("w"), g * 2)[1])
    checkpoint(lambda a: a * w, x, use_reentrant=False).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 3.0])  # 2 x, doubled once
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])
    assert fired == ["w"]
    # a captured non-leaf: its hook fires once, and the history that made it is walked once
    # (by the outer backward pass, not again inside the checkpoint's)
    fired.clear()
    _CountingIdentity.calls = 0
    x.grad = None
    v = graphc.tensor([2.0, -1.0], requires_grad=True)
    c = _CountingIdentity.apply(v) * 3
    c.register_hook(lambda g: (fired.append("c"), g * 10)[1])
    x.register_hook(lambda g: (fired.append("x"), None)[1])
    checkpoint(lambda a: a * c, x, use_reentrant=False).sum().backward()
    np.testing.assert_array_equal(v.grad.numpy(), [15.0, 45.0])  # 3 * 10 * x
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, -3.0])  # c
    assert sorted(fired) == ["c", "x"]
    assert _CountingIdentity.calls == 1


def test_two_threads_checkpoint_concurrently():
    # recording is per thread: another thread's nodes are not the checkpointed call's
    arrays = [RNG.standard_normal((3, 4)), RNG.standard_normal((4, 5))]
    _, plain = grads_of(block, arrays)
    results: list = []
    errors: list = []
    start = threading.Barrier(2)

    def work(check):
        try:
            start.wait()
            for _ in range(20):
                results.append(grads_of(lambda x, w: checkpoint(
                    block, x, w, use_reentrant=False, determinism_check=check), arrays)[1])
        except Exception as error:  # reported by the main thread
            errors.append(error)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, inside the checkpointed calls
    try:
        threads = [threading.Thread(target=work, args=(c,)) for c in ("default", "none")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors
    assert len(results) == 40
    for grads in results:
        for g, p in zip(grads, plain):
            np.testing.assert_array_equal(g, p)
