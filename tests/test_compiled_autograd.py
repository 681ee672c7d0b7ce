"""Autograd through compiled calls (``graphc/compiled_grad.py``): the outputs of
``graphc.compile(model)(x)`` carry history, so ``loss.backward()`` outside the compiled
function gives the gradients eager mode gives (as ``torch.compile(model)`` does).

Gradients are compared with eager autograd on the same weights, float32 (``rtol=1e-5,
atol=1e-6``: the compiled backward graph may fuse and reorder sums), and with finite differences
in float64 where eager cannot reproduce the call (dropout's mask).
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.nn as nn
import graphc.nn.functional as F
from conftest import assert_close
from graphc.errors import AutogradError, TraceError

F32 = dict(rtol=1e-5, atol=1e-6)


def _grads(module):
    return {name: p.grad.numpy().copy() for name, p in module.named_parameters()
            if p.grad is not None}


def _mlp():
    graphc.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))


@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_backward_through_a_compiled_module_gives_eager_gradients(backend):
    model = _mlp()
    x = graphc.randn(4, 5, requires_grad=True)
    target = graphc.tensor([0, 2, 1, 1])
    F.cross_entropy(model(x), target).backward()
    eager, eager_x = _grads(model), x.grad.numpy().copy()
    model.zero_grad()
    x.grad = None

    compiled = graphc.compile(model, backend=backend)
    loss = F.cross_entropy(compiled(x), target)
    assert loss.requires_grad
    loss.backward()
    for name, g in _grads(model).items():
        assert_close(g, eager[name], **F32)
    assert_close(x.grad.numpy(), eager_x, **F32)


def test_gradients_accumulate_over_calls_like_eager():
    model = _mlp()
    compiled = graphc.compile(model)
    x = graphc.randn(3, 5)
    for _ in range(2):
        compiled(x).sum().backward()
    accumulated = _grads(model)
    model.zero_grad()
    (model(x).sum() * 2).backward()
    for name, g in _grads(model).items():
        assert_close(accumulated[name], g, **F32)


def test_each_output_of_a_compiled_call_gets_its_own_gradient():
    graphc.manual_seed(1)
    a, b = nn.Linear(4, 3), nn.Linear(4, 2)

    def two_heads(x):
        return a(x).tanh(), b(x) * 3.0
    x = graphc.randn(5, 4)
    u, v = two_heads(x)
    ((u ** 2).sum() + v.sum()).backward()
    eager = {**{"a" + k: g for k, g in _grads(a).items()}, **{"b" + k: g for k, g in _grads(b).items()}}
    a.zero_grad()
    b.zero_grad()
    u, v = graphc.compile(two_heads)(x)
    ((u ** 2).sum() + v.sum()).backward()
    compiled = {**{"a" + k: g for k, g in _grads(a).items()}, **{"b" + k: g for k, g in _grads(b).items()}}
    assert compiled.keys() == eager.keys()
    for name in eager:
        assert_close(compiled[name], eager[name], **F32)


def test_backward_of_a_compiled_dropout_uses_the_forward_calls_mask():
    # the backward graph recomputes the forward from the saved inputs, the random seed among
    # them: d sum(dropout(x)) / dx is the mask times 1/(1-p), which the forward's output shows
    drop = nn.Dropout(0.5)
    compiled = graphc.compile(lambda x: drop(x))
    x = graphc.tensor(np.random.default_rng(0).uniform(1, 2, (64,)).astype(np.float32),
                      requires_grad=True)
    out = compiled(x)
    out.sum().backward()
    expected = np.where(out.numpy() != 0, 2.0, 0.0).astype(np.float32)
    assert 0 < (expected != 0).sum() < 64
    assert_close(x.grad.numpy(), expected, **F32)


def test_batchnorm_in_a_compiled_module_updates_its_running_stats_once():
    graphc.manual_seed(2)
    bn_eager, bn_compiled = nn.BatchNorm1d(3), nn.BatchNorm1d(3)
    x = graphc.randn(8, 3)
    bn_eager(x).pow(2).sum().backward()
    graphc.compile(bn_compiled)(x).pow(2).sum().backward()
    assert_close(bn_compiled.running_mean.numpy(), bn_eager.running_mean.numpy(), **F32)
    assert_close(bn_compiled.running_var.numpy(), bn_eager.running_var.numpy(), **F32)
    assert_close(bn_compiled.weight.grad.numpy(), bn_eager.weight.grad.numpy(), **F32)


def test_compiled_gradient_matches_finite_differences_in_float64():
    w = graphc.tensor(np.random.default_rng(3).normal(size=(3, 3)), dtype=graphc.float64,
                      requires_grad=True)
    f = graphc.compile(lambda x: (x @ w).sin().sum())
    x = graphc.tensor(np.random.default_rng(4).normal(size=(2, 3)), dtype=graphc.float64)
    f(x).backward()
    eps = 1e-6
    base = w.detach().numpy().copy()
    numeric = np.zeros_like(base)
    for i in np.ndindex(*base.shape):
        for sign in (1, -1):
            shifted = base.copy()
            shifted[i] += sign * eps
            numeric[i] += sign * np.sin(x.numpy() @ shifted).sum() / (2 * eps)
    assert_close(w.grad.numpy(), numeric, rtol=1e-6, atol=1e-8)


def test_a_parameter_changed_in_place_before_backward_is_an_error():
    model = _mlp()
    out = graphc.compile(model)(graphc.randn(2, 5)).sum()
    with graphc.no_grad():
        model[0].weight.add_(1.0)
    with pytest.raises(AutogradError, match="modified by an in-place operation"):
        out.backward()


def test_double_backward_through_a_compiled_call_is_refused_clearly():
    x = graphc.tensor([1.0, 2.0], requires_grad=True)
    y = graphc.compile(lambda t: (t ** 3).sum())(x)
    (g,) = graphc.autograd.grad(y, [x], create_graph=False)
    assert_close(g.numpy(), np.array([3.0, 12.0], np.float32), **F32)
    y = graphc.compile(lambda t: (t ** 3).sum())(x)
    with pytest.raises(AutogradError, match="double backward"):
        graphc.autograd.grad(y, [x], create_graph=True)


def test_outputs_under_no_grad_and_of_integer_type_carry_no_history():
    model = _mlp()
    compiled = graphc.compile(lambda x: (model(x), model(x).argmax(-1)))
    with graphc.no_grad():
        out, _ = compiled(graphc.randn(2, 5))
    assert not out.requires_grad
    out, labels = compiled(graphc.randn(2, 5))
    assert out.requires_grad and not labels.requires_grad


def test_a_compiled_training_step_keeps_no_history_on_its_outputs():
    model = _mlp()
    opt = graphc.optim.SGD(model.parameters(), lr=0.1)

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss
    loss = step(graphc.randn(4, 5), graphc.randn(4, 3))
    assert not loss.requires_grad and loss.grad_fn is None


def test_the_backward_graph_is_built_once_per_cache_entry():
    model = _mlp()
    compiled = graphc.compile(model)
    x = graphc.randn(2, 5)
    compiled(x).sum().backward()
    (entry,) = compiled.entries
    first = entry.differentiable.executable
    assert first is not None
    compiled(x).sum().backward()
    assert entry.differentiable.executable is first


@pytest.mark.parametrize("backend", ["llvm", "interpreter"])
def test_an_input_the_outputs_do_not_use_keeps_grad_none_as_eagerly(backend):
    # it got zeros: an optimizer then steps it (weight decay, momentum) where eagerly it skips it
    def f(a, b, c):
        return (a * 2).sum() + c.argmax().float()  # c only through an index: no gradient

    grads = []
    for run in (f, graphc.compile(f, backend=backend)):
        a, b, c = (graphc.tensor(v, requires_grad=True) for v in ([1.0, 2.0], [3.0], [0.5, 0.7]))
        run(a, b, c).backward()
        grads.append([None if t.grad is None else t.grad.tolist() for t in (a, b, c)])
    assert grads[1] == grads[0] == [[2.0, 2.0], None, None]
    graphc.manual_seed(0)
    model = nn.Linear(2, 1)
    unused = nn.Parameter(graphc.ones(2))
    opt = graphc.optim.SGD([*model.parameters(), unused], lr=0.1, weight_decay=0.5)
    step = graphc.compile(lambda x: model(x).sum() + unused.argmax().float(), backend=backend)
    step(graphc.ones(3, 2)).backward()
    opt.step()
    assert unused.grad is None and unused.tolist() == [1.0, 1.0]


def test_backward_of_a_compiled_call_inside_another_trace_is_refused_not_nan():
    """jacrev of a compiled function ran its backward executable on vmap's placeholder (all
    NaN), and a compiled pull-back on the first call's cotangent (stale): now a TraceError."""
    from graphc.func import jacrev, vjp

    f = graphc.compile(lambda w: w.sin())
    w = graphc.tensor([1.0, 2.0])
    with pytest.raises(TraceError, match="backward through a call of the compiled function"):
        jacrev(f)(w)
    _, pull_back = vjp(f, w)
    compiled_pull_back = graphc.compile(lambda v: pull_back(v)[0])
    with pytest.raises(TraceError, match="made outside this trace"):
        compiled_pull_back(graphc.tensor([0.0, 1.0]))
    np.testing.assert_allclose(pull_back(graphc.tensor([0.0, 1.0]))[0].numpy(),
                               [0.0, np.cos(2.0)], rtol=1e-6)  # eagerly it is fine


def test_compiling_a_generator_function_is_refused_at_compile():
    def pairs(x):
        yield x * 2
        yield x * 3

    with pytest.raises(TypeError, match="'.*pairs' is a generator or async function"):
        graphc.compile(pairs)
