"""Whole-step compilation of training loops: forward, loss.backward(), optimizer step.

The compiled loop must give the parameters the same loop gives eagerly, step for step, and
must not retrace on steady-state steps. Tolerance for float32 parameters compiled vs eager:
rtol=1e-5, atol=1e-6 (on the interpreter both run the same registry references in the same
order and agree exactly; on the llvm backend, the default, GEMMs run in BLAS and float sums in
another order, a few ulp apart).
"""
import numpy as np
import pytest

import graphc
import graphc.nn.functional as F
from graphc import nn, optim

F32 = dict(rtol=1e-5, atol=1e-6)


def batches(n, batch=32, features=784, classes=10, seed=0):
    r = np.random.default_rng(seed)
    return [(graphc.from_numpy(r.normal(size=(batch, features)).astype(np.float32)),
             graphc.from_numpy(r.integers(0, classes, size=batch)))
            for _ in range(n)]


def mlp_and_sgd():
    graphc.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return model, opt


def make_step(model, opt):
    def train_step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return train_step


def assert_same_parameters(a: nn.Module, b: nn.Module):
    for (name, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), err_msg=name, **F32)


def test_the_issue_training_loop_compiled_matches_eager_step_for_step():
    eager_model, eager_opt = mlp_and_sgd()
    model, opt = mlp_and_sgd()
    eager_step = make_step(eager_model, eager_opt)
    train_step = graphc.compile(make_step(model, opt))
    for x, y in batches(6):
        np.testing.assert_allclose(train_step(x, y).item(), eager_step(x, y).item(), **F32)
        assert_same_parameters(model, eager_model)
    assert len(train_step.entries) == 1 and train_step.entries[0].hits == 5  # 6 calls, 1 trace
    for p, q in zip(model.parameters(), eager_model.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), **F32)


def test_explain_lists_the_lifted_state():
    model, opt = mlp_and_sgd()
    train_step = graphc.compile(make_step(model, opt))
    for x, y in batches(2):
        train_step(x, y)
    report = train_step.explain()
    for name in ("%model.0.weight", "%model.2.bias", "%lr", "model.0.weight.grad",
                 "momentum_buffer"):
        assert name in report, name
    # Linear and ReLU never read .training, so train/eval is not a guard of this graph
    assert ".training" not in report


def test_changing_the_learning_rate_does_not_retrace():
    eager_model, eager_opt = mlp_and_sgd()
    model, opt = mlp_and_sgd()
    schedulers = [optim.lr_scheduler.StepLR(o, step_size=1, gamma=0.5) for o in (eager_opt, opt)]
    eager_step, train_step = make_step(eager_model, eager_opt), graphc.compile(make_step(model, opt))
    for x, y in batches(4):
        np.testing.assert_allclose(train_step(x, y).item(), eager_step(x, y).item(), **F32)
        for s in schedulers:
            s.step()
    assert_same_parameters(model, eager_model)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01 / 16)
    assert len(train_step.entries) == 1


def small_cnn():
    graphc.manual_seed(1)
    # no conv bias ahead of BatchNorm (as PyTorch's docs advise): BatchNorm subtracts it again,
    # so its gradient is zero up to rounding, and Adam would scale that noise into lr-sized
    # steps of random sign: two correct backends rounding sums differently would diverge
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4 * 4 * 4, 10))
    return model, optim.Adam(model.parameters(), lr=1e-2)


def test_cnn_with_batchnorm_and_adam_compiled_matches_eager_including_running_stats():
    eager_model, eager_opt = small_cnn()
    model, opt = small_cnn()
    eager_step, train_step = make_step(eager_model, eager_opt), graphc.compile(make_step(model, opt))
    for x, y in batches(3, batch=8, features=64):
        x = x.reshape(8, 1, 8, 8)
        np.testing.assert_allclose(train_step(x, y).item(), eager_step(x, y).item(), **F32)
    assert_same_parameters(model, eager_model)  # includes running_mean/var, num_batches_tracked
    assert model[1].num_batches_tracked.item() == 3
    assert len(train_step.entries) == 1


def test_switching_to_eval_retraces_once_and_train_hits_the_cache_again():
    model, opt = small_cnn()
    forward = graphc.compile(model)
    x = graphc.randn(2, 1, 8, 8)
    forward(x)
    model.eval()
    forward(x)
    forward(x)
    model.train()
    forward(x)
    assert len(forward.entries) == 2
    assert "guard failed: model.1.training == True (now False)" in forward.entries[1].reason


def test_compiled_dropout_training_is_reproducible_under_manual_seed():
    def run():
        graphc.manual_seed(7)
        model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 4))
        opt = optim.SGD(model.parameters(), lr=0.1)
        step = graphc.compile(make_step(model, opt))
        losses = [step(x, y).item() for x, y in batches(4, batch=8, features=16, classes=4)]
        return losses, model.state_dict()

    (losses_a, state_a), (losses_b, state_b) = run(), run()
    assert losses_a == losses_b
    for key in state_a:
        np.testing.assert_array_equal(state_a[key].numpy(), state_b[key].numpy())
    assert len(set(losses_a)) == len(losses_a)  # fresh masks (and updates) every step


def test_value_and_grad_training_step_compiles_into_one_graph():
    """The functional style (JAX's jit(value_and_grad(...))) works too."""
    graphc.manual_seed(0)
    w = graphc.randn(784, 10) * 0.01
    loss_fn = lambda w, x, y: F.cross_entropy(x @ w, y)  # noqa: E731

    @graphc.compile
    def step(w, x, y):
        loss, g = graphc.value_and_grad(loss_fn)(w, x, y)
        return loss, w - 0.1 * g

    w_eager = w
    for x, y in batches(3):
        loss, w = step(w, x, y)
        eager_loss, g = graphc.value_and_grad(loss_fn)(w_eager, x, y)
        w_eager = w_eager - 0.1 * g
        np.testing.assert_allclose(loss.item(), eager_loss.item(), **F32)
    np.testing.assert_allclose(w.numpy(), w_eager.numpy(), **F32)
    assert len(step.entries) == 1
