"""The parts of ``torch.optim.Optimizer``'s API that custom optimizers written for PyTorch rely
on: ``state`` as a ``defaultdict(dict)`` keyed by parameter, ``param_groups`` and
``add_param_group``, state dicts in PyTorch's layout; eagerly and inside ``@graphc.compile``."""
from collections import defaultdict

import numpy as np
import pytest
from test_optim import F32, regression_data

import graphc
from graphc import optim
from graphc.nn import Parameter


class MomentumSGD(optim.Optimizer):
    """Written as PyTorch's documentation shows a custom optimizer: lazy state through
    ``self.state[p]``, hyperparameters from ``group``, a step decorated with ``no_grad``."""

    def __init__(self, params, lr=0.1, momentum=0.9):
        super().__init__(params, dict(lr=lr, momentum=momentum))

    @graphc.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with graphc.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = graphc.zeros(())
                    state["momentum_buffer"] = graphc.zeros_like(p)
                state["step"].add_(1)
                buf = state["momentum_buffer"]
                buf.mul_(group["momentum"]).add_(p.grad)
                p.add_(buf, alpha=-group["lr"])
        return loss


def momentum_sgd_ref(p, grads, lr=0.1, momentum=0.9):
    buf = np.zeros_like(p)
    for g in grads:
        buf = momentum * buf + g
        p = p - lr * buf
    return p


def test_state_is_a_defaultdict_keyed_by_parameter():
    w = Parameter(graphc.zeros(2))
    opt = optim.Adam([w])
    assert isinstance(opt.state, defaultdict)
    assert opt.state[w] == {}  # reading creates an empty entry, as in PyTorch
    w.grad = graphc.ones(2)
    opt.step()
    assert set(opt.state[w]) == {"step", "exp_avg", "exp_avg_sq"}
    opt.load_state_dict(opt.state_dict())
    assert isinstance(opt.state, defaultdict) and set(opt.state[w]) >= {"exp_avg"}


def test_custom_optimizer_written_for_pytorch_runs_eagerly():
    rng = np.random.default_rng(0)
    p0, grads = rng.standard_normal(3), [rng.standard_normal(3) for _ in range(4)]
    w = Parameter(graphc.tensor(p0))
    opt = MomentumSGD([w], lr=0.05)
    for g in grads:
        w.grad = graphc.tensor(g)
        opt.step()
    np.testing.assert_allclose(w.numpy(), momentum_sgd_ref(p0, grads, lr=0.05), rtol=1e-12)
    assert opt.state[w]["step"].item() == 4


def test_custom_optimizer_written_for_pytorch_runs_compiled_without_retracing():
    results = []
    for compiled in (False, True):
        x, y = regression_data()
        w = Parameter(graphc.tensor([0.5, 0.5, 0.5]))
        opt = MomentumSGD([w], lr=0.02)

        def step(x, y):
            opt.zero_grad()
            loss = ((x @ w - y) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        fn = graphc.compile(step) if compiled else step
        losses = [fn(x, y).item() for _ in range(6)]
        results.append((w.numpy(), losses, opt.state[w]["momentum_buffer"].numpy()))
    (w_e, losses_e, buf_e), (w_c, losses_c, buf_c) = results
    np.testing.assert_allclose(losses_c, losses_e, **F32)
    np.testing.assert_allclose(w_c, w_e, **F32)
    np.testing.assert_allclose(buf_c, buf_e, **F32)
    assert losses_c[-1] < losses_c[0]
    # the first call creates the state (a placeholder made concrete after it), the second
    # traces the steady state, which every later call reuses
    assert len(fn.entries) == 2, fn.explain()
    assert fn.entries[1].hits == 4


def test_custom_optimizer_with_a_python_step_count_stays_correct_compiled():
    """``state['step'] += 1`` on a Python int, as many PyTorch optimizers do: the compiled step
    retraces when the count changes (a guard), it never bakes in a stale count."""

    class CountingSGD(optim.Optimizer):
        def __init__(self, params, lr=0.1):
            super().__init__(params, dict(lr=lr))

        @graphc.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    state = self.state[p]
                    state["step"] = state.get("step", 0) + 1
                    p.sub_(group["lr"] / state["step"] * p.grad)  # lr / t decay

    x, y = regression_data()
    w = Parameter(graphc.tensor([0.5, 0.5, 0.5]))
    opt = CountingSGD([w], lr=0.05)

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        loss = ((x @ w - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    p = np.array([0.5, 0.5, 0.5])
    xs, ys = x.numpy().astype(np.float64), y.numpy().astype(np.float64)
    for t in range(1, 4):
        step(x, y)
        p = p - 0.05 / t * (2 * xs.T @ (xs @ p - ys) / len(ys))
    np.testing.assert_allclose(w.numpy(), p, rtol=1e-5)
    assert "['step'] was set by the traced call" in step.entries[1].reason
    assert len(step.entries) == 3  # a retrace per call: correct, and the price of a Python count


def test_python_value_created_by_a_trace_is_not_frozen_into_later_calls():
    """The guard on a value the trace itself created (absent before) must not match the next
    call: a compiled call does not rerun the Python that set it."""

    class Counter:
        pass

    counter = Counter()

    @graphc.compile
    def scaled(x):
        if not hasattr(counter, "calls"):
            counter.calls = 0
        counter.calls += 1
        return x * counter.calls

    x = graphc.ones(2)
    assert [scaled(x).tolist() for _ in range(3)] == [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]
    assert counter.calls == 3


def test_add_param_group_fills_defaults_and_the_new_group_is_optimized_compiled():
    x, y = regression_data()
    w = Parameter(graphc.tensor([0.5, 0.5, 0.5]))
    b = Parameter(graphc.tensor(0.0))
    opt = optim.NAdam([w], lr=0.05)
    opt.add_param_group({"params": b, "lr": 0.1})
    assert opt.param_groups[1]["betas"] == (0.9, 0.999) and opt.param_groups[1]["lr"] == 0.1

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    losses = [step(x, y).item() for _ in range(4)]
    assert losses[-1] < losses[0] and b.item() != 0.0
    assert len(step.entries) == 1, step.explain()


def test_zero_grad_sets_gradients_to_none_by_default():
    w = Parameter(graphc.zeros(2))
    opt = optim.RAdam([w])
    w.grad = graphc.ones(2)
    opt.zero_grad()
    assert w.grad is None


@pytest.mark.parametrize("cls, kw", [
    (optim.Adadelta, dict(lr=0.5)),
    (optim.Adamax, dict(lr=0.05)),
    (optim.NAdam, dict(lr=0.05)),
    (optim.RAdam, dict(lr=0.05)),
    (optim.Rprop, dict(lr=0.05)),
    (optim.ASGD, dict(lr=0.05, t0=2)),
], ids=lambda v: v.__name__ if isinstance(v, type) else "")
def test_state_dict_round_trip_resumes_exactly(cls, kw):
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal(3) for _ in range(6)]

    def run(split):
        w = Parameter(graphc.tensor(np.ones(3)))
        opt = cls([w], **kw)
        for i, g in enumerate(grads):
            if i == split:
                saved = opt.state_dict()
                w = Parameter(graphc.tensor(w.numpy()))
                opt = cls([w], **kw)
                opt.load_state_dict(saved)
            w.grad = graphc.tensor(g)
            opt.step()
        return w.numpy()

    np.testing.assert_array_equal(run(split=3), run(split=None))


def test_nadam_loads_a_pytorch_layout_state_with_a_scalar_mu_product():
    w = Parameter(graphc.zeros(2, 2))
    opt = optim.NAdam([w])
    saved = {"state": {0: {"step": graphc.tensor(3.0), "mu_product": graphc.tensor(0.1),
                           "exp_avg": graphc.zeros(2, 2), "exp_avg_sq": graphc.zeros(2, 2)}},
             "param_groups": opt.state_dict()["param_groups"]}
    opt.load_state_dict(saved)
    assert opt.state[w]["mu_product"].shape == () and opt.state[w]["step"].item() == 3.0
    saved["state"][0]["mu_product"] = graphc.zeros(2)
    with pytest.raises(ValueError, match="mu_product.*must be one number"):
        opt.load_state_dict(saved)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_pytorchs_implementation_switches_are_accepted_and_kept_as_pytorch_keeps_them(name):
    # PyTorch code passes foreach=/fused=/capturable=; they were TypeErrors
    keys = {"SGD": {"foreach", "differentiable", "fused"},
            "Adam": {"foreach", "capturable", "differentiable", "fused"},
            "AdamW": {"foreach", "capturable", "differentiable", "fused"},
            "RMSprop": {"foreach", "capturable", "differentiable"},
            "Adagrad": {"foreach", "differentiable", "fused"}}[name]
    w = graphc.nn.Parameter(graphc.ones(2))
    opt = getattr(graphc.optim, name)([w], lr=0.1, foreach=True)
    group = opt.state_dict()["param_groups"][0]
    assert keys <= set(group) and group["foreach"] is True
    w.grad = graphc.ones(2)
    opt.step()
    assert w.tolist()[0] < 1.0
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        getattr(graphc.optim, name)([w], lr=0.1, differentiable=True)


def test_adam_with_decoupled_weight_decay_steps_as_adamw():
    a, b = (graphc.nn.Parameter(graphc.tensor([1.0, -2.0])) for _ in range(2))
    adam = graphc.optim.Adam([a], lr=0.1, weight_decay=0.5, decoupled_weight_decay=True)
    adamw = graphc.optim.AdamW([b], lr=0.1, weight_decay=0.5)
    for _ in range(3):
        a.grad, b.grad = graphc.tensor([0.5, 0.25]), graphc.tensor([0.5, 0.25])
        adam.step()
        adamw.step()
    assert a.tolist() == b.tolist()
    assert adamw.state_dict()["param_groups"][0]["decoupled_weight_decay"] is True


def test_an_optimizer_takes_named_parameters_and_keeps_their_names():
    model = graphc.nn.Linear(2, 1)
    opt = graphc.optim.SGD(model.named_parameters(), lr=0.5)
    assert opt.param_groups[0]["param_names"] == ["weight", "bias"]
    assert opt.param_groups[0]["params"][0] is model.weight
    model(graphc.ones(1, 2)).sum().backward()
    before = model.bias.item()
    opt.step()
    assert model.bias.item() == before - 0.5
    with pytest.raises(ValueError, match="named .* or none"):
        graphc.optim.SGD([("weight", model.weight), model.bias], lr=0.1)


def test_a_checkpoint_from_before_a_hyperparameter_existed_loads_with_its_default():
    w = graphc.nn.Parameter(graphc.ones(2))
    state = graphc.optim.Adam([w]).state_dict()
    for key in ("decoupled_weight_decay", "foreach", "capturable", "differentiable", "fused"):
        del state["param_groups"][0][key]
    opt = graphc.optim.Adam([w])
    opt.load_state_dict(state)
    w.grad = graphc.ones(2)
    opt.step()  # was a KeyError for decoupled_weight_decay
    assert opt.param_groups[0]["decoupled_weight_decay"] is False and w.tolist()[0] < 1.0
