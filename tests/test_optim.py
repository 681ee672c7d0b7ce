"""graphc.optim: optimizers against float64 NumPy versions of PyTorch's documented algorithms,
their state dicts, and training steps compiled whole with ``@graphc.compile``.

Tolerances: float64 parameters vs the float64 NumPy reference: rtol=1e-10, atol=1e-12 (the same
formulas, so only rounding differs). Compiled vs eager training steps in float32: rtol=1e-5,
atol=1e-6 (the same ops in the same order; usually bit-identical).
"""
import math

import numpy as np
import pytest

import graphc
from graphc import optim
from graphc.nn import Parameter
from graphc.optim import lr_scheduler

F64 = dict(rtol=1e-10, atol=1e-12)
F32 = dict(rtol=1e-5, atol=1e-6)
STEPS = 6
# gradient scales per step: shrinking and growing, so that amsgrad's running max matters
SCALES = [3.0, 1.0, 0.1, 2.0, 0.05, 0.5]


# -- float64 NumPy references: PyTorch's pseudo-code, line by line -------------------------------
def sgd_ref(p, grads, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
            maximize=False):
    b = None
    for g in grads:
        g = -g if maximize else g
        if weight_decay:
            g = g + weight_decay * p
        if momentum:
            b = g.copy() if b is None else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        p = p - lr * g
    return p


def adam_ref(p, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
             maximize=False, decoupled=False):
    beta1, beta2 = betas
    m, v, v_max = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        g = -g if maximize else g
        if weight_decay:
            if decoupled:
                p = p - lr * weight_decay * p
            else:
                g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g ** 2
        m_hat = m / (1 - beta1 ** t)
        if amsgrad:
            v_max = np.maximum(v_max, v)
            v_hat = v_max / (1 - beta2 ** t)
        else:
            v_hat = v / (1 - beta2 ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


def adamw_ref(p, grads, weight_decay=1e-2, **kw):
    return adam_ref(p, grads, weight_decay=weight_decay, decoupled=True, **kw)


def rmsprop_ref(p, grads, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                centered=False, maximize=False):
    v, g_ave, b = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for g in grads:
        g = -g if maximize else g
        if weight_decay:
            g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g ** 2
        v_tilde = v
        if centered:
            g_ave = alpha * g_ave + (1 - alpha) * g
            v_tilde = v_tilde - g_ave ** 2
        if momentum > 0:
            b = momentum * b + g / (np.sqrt(v_tilde) + eps)
            p = p - lr * b
        else:
            p = p - lr * g / (np.sqrt(v_tilde) + eps)
    return p


def adagrad_ref(p, grads, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                eps=1e-10, maximize=False):
    state_sum = np.full_like(p, initial_accumulator_value)
    for t, g in enumerate(grads, start=1):
        g = -g if maximize else g
        lr_t = lr / (1 + (t - 1) * lr_decay)
        if weight_decay:
            g = g + weight_decay * p
        state_sum = state_sum + g ** 2
        p = p - lr_t * g / (np.sqrt(state_sum) + eps)
    return p


CASES = [
    (optim.SGD, sgd_ref, dict(lr=0.1)),
    (optim.SGD, sgd_ref, dict(lr=0.1, momentum=0.9)),
    (optim.SGD, sgd_ref, dict(lr=0.1, momentum=0.9, dampening=0.3)),
    (optim.SGD, sgd_ref, dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    (optim.SGD, sgd_ref, dict(lr=0.1, momentum=0.5, weight_decay=0.2, maximize=True)),
    (optim.Adam, adam_ref, dict(lr=0.01)),
    (optim.Adam, adam_ref, dict(lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1)),
    (optim.Adam, adam_ref, dict(lr=0.01, betas=(0.5, 0.6), amsgrad=True)),
    (optim.Adam, adam_ref, dict(lr=0.01, maximize=True, weight_decay=0.05)),
    (optim.AdamW, adamw_ref, dict(lr=0.01)),
    (optim.AdamW, adamw_ref, dict(lr=0.01, weight_decay=0.3, amsgrad=True, betas=(0.5, 0.6))),
    (optim.RMSprop, rmsprop_ref, dict(lr=0.01)),
    (optim.RMSprop, rmsprop_ref, dict(lr=0.01, alpha=0.9, centered=True)),
    (optim.RMSprop, rmsprop_ref, dict(lr=0.01, momentum=0.7, weight_decay=0.1)),
    (optim.RMSprop, rmsprop_ref, dict(lr=0.01, momentum=0.7, centered=True, maximize=True)),
    (optim.Adagrad, adagrad_ref, dict(lr=0.1)),
    (optim.Adagrad, adagrad_ref, dict(lr=0.1, lr_decay=0.5, weight_decay=0.1)),
    (optim.Adagrad, adagrad_ref, dict(lr=0.1, initial_accumulator_value=0.3, eps=1e-3)),
]


def case_id(case):
    cls, _, kw = case
    return cls.__name__ + "-" + ",".join(f"{k}={v}" for k, v in kw.items())


def gradient_sequence(shape, seed=0):
    rng = np.random.default_rng(seed)
    return [s * rng.standard_normal(shape) for s in SCALES[:STEPS]]


def run_eager(cls, kw, p0, grads, dtype=np.float64):
    w = Parameter(graphc.tensor(p0.astype(dtype)))
    opt = cls([w], **kw)
    for g in grads:
        w.grad = graphc.tensor(g.astype(dtype))
        opt.step()
    return w, opt


# -- the algorithms ------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_documented_algorithm_for_several_steps(case):
    cls, reference, kw = case
    p0 = np.random.default_rng(1).standard_normal((3, 4))
    grads = gradient_sequence(p0.shape)
    w, _ = run_eager(cls, kw, p0, grads)
    assert w.dtype == graphc.float64
    np.testing.assert_allclose(w.numpy(), reference(p0, grads, **kw), **F64)


def test_sgd_first_momentum_step_is_the_gradient_without_dampening():
    w = Parameter(graphc.tensor([1.0], dtype="float64"))
    opt = optim.SGD([w], lr=1.0, momentum=0.9, dampening=0.5)
    w.grad = graphc.tensor([2.0], dtype="float64")
    opt.step()
    assert opt.state[w]["momentum_buffer"].tolist() == [2.0]  # b_1 = g_1, not (1 - 0.5) g_1
    assert w.tolist() == [-1.0]
    opt.step()  # b_2 = 0.9 * 2 + 0.5 * 2
    assert opt.state[w]["momentum_buffer"].tolist() == pytest.approx([2.8])


def test_amsgrad_changes_the_result_on_this_gradient_sequence():
    p0 = np.random.default_rng(1).standard_normal((3, 4))
    grads = gradient_sequence(p0.shape)
    plain, _ = run_eager(optim.Adam, dict(lr=0.01, betas=(0.5, 0.6)), p0, grads)
    ams, _ = run_eager(optim.Adam, dict(lr=0.01, betas=(0.5, 0.6), amsgrad=True), p0, grads)
    assert np.abs(plain.numpy() - ams.numpy()).max() > 1e-4


def test_adam_step_count_is_a_float32_scalar_tensor():
    _, opt = run_eager(optim.Adam, {}, np.zeros(2), gradient_sequence((2,))[:3])
    (state,) = opt.state.values()
    assert isinstance(state["step"], graphc.Tensor)
    assert state["step"].dtype == graphc.float32 and state["step"].shape == ()
    assert state["step"].item() == 3.0


def test_float32_parameters_stay_float32_and_close_to_the_reference():
    p0 = np.random.default_rng(2).standard_normal(5)
    grads = gradient_sequence(p0.shape)
    for cls, reference, kw in CASES:
        w, opt = run_eager(cls, kw, p0, grads, dtype=np.float32)
        assert w.dtype == graphc.float32
        for value in opt.state.get(w, {}).values():
            assert value.dtype == graphc.float32
        np.testing.assert_allclose(w.numpy(), reference(p0.astype(np.float32).astype(np.float64),
                                                        [g.astype(np.float32) for g in grads],
                                                        **kw), rtol=1e-4, atol=1e-5)


def test_parameters_without_grad_are_skipped():
    a, b = Parameter(graphc.ones(2)), Parameter(graphc.ones(2))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = graphc.ones(2)
    opt.step()
    assert b.tolist() == [1.0, 1.0] and b not in opt.state
    assert a.tolist() != [1.0, 1.0] and a in opt.state


def test_step_with_closure_returns_the_loss():
    w = Parameter(graphc.tensor([3.0]))
    opt = optim.SGD([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with graphc.no_grad():
        loss = opt.step(closure)  # closure runs with grad enabled
    assert loss.item() == 9.0
    assert w.item() == pytest.approx(3.0 - 0.1 * 6.0)


# -- parameter groups and zero_grad ----------------------------------------------------------------
def test_param_groups_take_defaults_and_their_own_values():
    a, b = Parameter(graphc.ones(1)), Parameter(graphc.ones(1))
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert all(g["momentum"] == 0.9 for g in opt.param_groups)
    a.grad, b.grad = graphc.ones(1), graphc.ones(1)
    opt.step()
    assert a.item() == pytest.approx(0.9) and b.item() == pytest.approx(0.5)


def test_add_param_group():
    a, b = Parameter(graphc.ones(1)), Parameter(graphc.ones(1))
    opt = optim.Adam([a], lr=0.1)
    opt.add_param_group({"params": [b], "lr": 0.01})
    assert opt.param_groups[1]["betas"] == (0.9, 0.999) and opt.param_groups[1]["lr"] == 0.01
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})


@pytest.mark.parametrize("params, error, match", [
    ([], ValueError, "empty parameter list"),
    (Parameter(graphc.ones(1)), TypeError, "iterable of Tensors"),
    ([1.0], TypeError, "can only optimize Tensors"),
])
def test_bad_params_are_rejected(params, error, match):
    with pytest.raises(error, match=match):
        optim.SGD(params, lr=0.1)


def test_bad_hyperparameters_are_rejected():
    w = [Parameter(graphc.ones(1))]
    with pytest.raises(ValueError, match="learning rate"):
        optim.Adam(w, lr=-1)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam(w, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD(w, lr=0.1, nesterov=True)


def test_zero_grad_to_none_or_to_zeros():
    w = Parameter(graphc.ones(2))
    opt = optim.SGD([w], lr=0.1)
    w.grad = graphc.ones(2)
    opt.zero_grad(set_to_none=False)
    assert w.grad.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert w.grad is None


# -- state dicts ---------------------------------------------------------------------------------
def test_state_dict_has_pytorchs_layout():
    a, b, c = (Parameter(graphc.ones(2)) for _ in range(3))
    opt = optim.Adam([{"params": [a, b]}, {"params": [c], "lr": 0.5}], lr=0.1)
    a.grad, c.grad = graphc.ones(2), graphc.ones(2)
    opt.step()
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert sorted(sd["state"]) == [0, 2]  # b had no gradient: no state
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1] == {"lr": 0.5, "betas": (0.9, 0.999), "eps": 1e-8,
                                     "weight_decay": 0.0, "amsgrad": False, "maximize": False,
                                     "foreach": None, "capturable": False,
                                     "differentiable": False, "fused": None,
                                     "decoupled_weight_decay": False, "params": [2]}


def test_state_dict_is_a_snapshot():
    w = Parameter(graphc.ones(2))
    opt = optim.SGD([w], lr=0.1, momentum=0.9)
    w.grad = graphc.ones(2)
    opt.step()
    sd = opt.state_dict()
    opt.step()
    assert sd["state"][0]["momentum_buffer"].tolist() == [1.0, 1.0]


@pytest.mark.parametrize("case", CASES[1::2], ids=case_id)
def test_load_state_dict_resumes_exactly(case):
    cls, _, kw = case
    p0 = np.random.default_rng(3).standard_normal(4)
    grads = gradient_sequence(p0.shape)
    straight, _ = run_eager(cls, kw, p0, grads)
    first, opt = run_eager(cls, kw, p0, grads[:3])
    saved = opt.state_dict()
    w = Parameter(graphc.tensor(first.numpy()))
    resumed = cls([w], **{**kw, "lr": 123.0})  # hyperparameters come from the state dict
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == kw["lr"]
    for g in grads[3:]:
        w.grad = graphc.tensor(g)
        resumed.step()
    np.testing.assert_allclose(w.numpy(), straight.numpy(), **F64)


def test_load_state_dict_checks_the_groups():
    a, b = Parameter(graphc.ones(1)), Parameter(graphc.ones(1))
    saved = optim.SGD([a, b], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="parameter group"):
        optim.SGD([a], lr=0.1).load_state_dict(saved)
    with pytest.raises(ValueError, match="3 parameter groups, but the optimizer has 2"):
        optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(
            {"state": {}, "param_groups": saved["param_groups"] * 2 + [{"params": []}]})


STATEFUL_CASES = [case for case in CASES if case[0] is not optim.SGD or "momentum" in case[2]]


@pytest.mark.parametrize("case", STATEFUL_CASES[::2], ids=case_id)
def test_load_state_dict_rejects_state_of_another_shape_at_load_time(case):
    cls, _, kw = case
    _, trained = run_eager(cls, kw, np.ones(3), gradient_sequence((3,))[:2])
    saved = trained.state_dict()
    w = Parameter(graphc.zeros(4, dtype="float64"))
    opt = cls([w], **kw)
    before = [(p, dict(state)) for p, state in opt.state.items()]  # Adagrad starts with state
    with pytest.raises(ValueError, match=r"state '\w+' of parameter 0 has shape \[3\], but "
                                         r"the parameter has shape \[4\]"):
        opt.load_state_dict(saved)
    assert [(p, dict(state)) for p, state in opt.state.items()] == before  # nothing half-loaded
    w.grad = graphc.ones(4, dtype="float64")
    opt.step()  # still usable, from a fresh state
    assert w.shape == (4,)


def test_load_state_dict_rejects_a_step_count_that_is_not_one_number():
    w = Parameter(graphc.zeros(2))
    opt = optim.Adam([w])
    groups = opt.state_dict()["param_groups"]
    state = {"step": graphc.zeros(2), "exp_avg": graphc.zeros(2), "exp_avg_sq": graphc.zeros(2)}
    with pytest.raises(ValueError, match=r"'step' of parameter 0 must be one number.*\[2\]"):
        opt.load_state_dict({"state": {0: state}, "param_groups": groups})
    state = {"step": 1, "exp_avg": graphc.zeros(2, dtype="int64"), "exp_avg_sq": graphc.zeros(2)}
    with pytest.raises(ValueError, match="'exp_avg' of parameter 0 has dtype int64, but the "
                                         "parameter is floating point"):
        opt.load_state_dict({"state": {0: state}, "param_groups": groups})


def test_load_state_dict_accepts_a_python_number_step_as_older_pytorch_saved_it():
    kw = {"lr": 0.01, "betas": (0.8, 0.9)}
    p0 = np.random.default_rng(5).standard_normal(3)
    grads = gradient_sequence(p0.shape)
    straight, _ = run_eager(optim.Adam, kw, p0, grads)
    first, opt = run_eager(optim.Adam, kw, p0, grads[:3])
    saved = opt.state_dict()
    saved["state"][0]["step"] = 3  # torch < 1.12 kept the step count as a Python int
    w = Parameter(graphc.tensor(first.numpy()))
    resumed = optim.Adam([w], **kw)
    resumed.load_state_dict(saved)
    for g in grads[3:]:
        w.grad = graphc.tensor(g)
        resumed.step()
    np.testing.assert_allclose(w.numpy(), adam_ref(p0, grads, **kw), **F64)
    np.testing.assert_allclose(w.numpy(), straight.numpy(), **F64)


def test_sgd_loads_a_pytorch_style_state_without_step_count():
    w = Parameter(graphc.tensor([0.0], dtype="float64"))
    opt = optim.SGD([w], lr=1.0, momentum=0.5)
    opt.load_state_dict({"state": {0: {"momentum_buffer": np.array([4.0])}},
                         "param_groups": [dict(opt.state_dict()["param_groups"][0])]})
    w.grad = graphc.tensor([2.0], dtype="float64")
    opt.step()  # not a first step: b = 0.5 * 4 + 2
    assert w.tolist() == [-4.0]


# -- compiled training steps ---------------------------------------------------------------------
COMPILED_CASES = [
    (optim.SGD, dict(lr=0.1)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.01)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    (optim.Adam, dict(lr=0.05)),
    (optim.Adam, dict(lr=0.05, amsgrad=True, weight_decay=0.01)),
    (optim.AdamW, dict(lr=0.05)),
    (optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True)),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.1)),
]


def regression_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((16, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(16)).astype(np.float32)
    return graphc.from_numpy(x), graphc.from_numpy(y)


def make_training(cls, kw, compiled, schedule=None):
    """A linear regression trained by ``cls``; returns (w, b, opt, step, scheduler)."""
    w = Parameter(graphc.tensor([0.5, 0.5, 0.5]))
    b = Parameter(graphc.tensor(0.0))
    opt = cls([w, b], **kw)

    def step(x, y):
        opt.zero_grad()
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    sched = schedule(opt) if schedule else None
    return w, b, opt, graphc.compile(step) if compiled else step, sched


def train(cls, kw, compiled, steps=5, schedule=None):
    x, y = regression_data()
    w, b, opt, step, sched = make_training(cls, kw, compiled, schedule)
    losses = []
    for _ in range(steps):
        losses.append(step(x, y).item())
        if sched:
            sched.step()
    return w, b, opt, step, losses


@pytest.mark.parametrize("cls, kw", COMPILED_CASES,
                         ids=[case_id((c, None, k)) for c, k in COMPILED_CASES])
def test_compiled_training_step_matches_eager_without_retracing(cls, kw):
    w_e, b_e, opt_e, _, losses_e = train(cls, kw, compiled=False)
    w_c, b_c, opt_c, step, losses_c = train(cls, kw, compiled=True)
    np.testing.assert_allclose(w_c.numpy(), w_e.numpy(), **F32)
    np.testing.assert_allclose(b_c.numpy(), b_e.numpy(), **F32)
    np.testing.assert_allclose(losses_c, losses_e, **F32)
    for p_e, p_c in ((w_e, w_c), (b_e, b_c)):
        for key, value in opt_e.state.get(p_e, {}).items():
            np.testing.assert_allclose(opt_c.state[p_c][key].numpy(), value.numpy(), **F32)
    assert losses_c[-1] < losses_c[0]
    assert len(step.entries) == 1, step.explain()
    assert step.entries[0].hits == 4  # (the first call traced)


def test_learning_rate_is_a_graph_input_and_hyperparameters_are_guarded():
    _, _, _, step, _ = train(optim.SGD, dict(lr=0.1, momentum=0.9), compiled=True, steps=1)
    graph = step.entries[0].graph
    assert "lr" in [v.name for v in graph.inputs]
    report = step.explain()
    assert "param_groups[0]['momentum'] == 0.9" in report
    assert "(scalar)" in report  # the lifted learning rate


def test_scheduler_changes_lr_without_retracing():
    def schedule(opt):
        return lr_scheduler.StepLR(opt, step_size=2, gamma=0.1)

    w_e, b_e, _, _, _ = train(optim.SGD, dict(lr=0.1, momentum=0.9), False, schedule=schedule)
    w_c, b_c, opt, step, _ = train(optim.SGD, dict(lr=0.1, momentum=0.9), True, schedule=schedule)
    w_fixed, _, _, _, _ = train(optim.SGD, dict(lr=0.1, momentum=0.9), True)
    assert len(step.entries) == 1, step.explain()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.1 ** 2)
    np.testing.assert_allclose(w_c.numpy(), w_e.numpy(), **F32)
    np.testing.assert_allclose(b_c.numpy(), b_e.numpy(), **F32)
    assert np.abs(w_c.numpy() - w_fixed.numpy()).max() > 1e-3  # the schedule mattered


def test_changing_a_hyperparameter_retraces_and_says_why():
    x, y = regression_data()
    w, b, opt, step, _ = make_training(optim.SGD, dict(lr=0.1, momentum=0.9), compiled=True)
    step(x, y)
    step(x, y)
    opt.param_groups[0]["momentum"] = 0.5
    step(x, y)
    assert len(step.entries) == 2
    assert "momentum" in step.entries[1].reason and "0.5" in step.entries[1].reason


def test_adam_changing_betas_retraces_and_matches_eager():
    results = []
    for compiled in (False, True):
        x, y = regression_data()
        w, b, opt, step, _ = make_training(optim.Adam, dict(lr=0.05), compiled)
        for i in range(4):
            if i == 2:
                opt.param_groups[0]["betas"] = (0.5, 0.9)
            step(x, y)
        results.append(w.numpy())
    np.testing.assert_allclose(results[1], results[0], **F32)
    assert len(step.entries) == 2


def test_two_param_groups_get_two_learning_rate_inputs():
    x, y = regression_data()
    w = Parameter(graphc.tensor([0.5, 0.5, 0.5]))
    b = Parameter(graphc.tensor(0.0))
    opt = optim.Adam([{"params": [w]}, {"params": [b], "lr": 0.2}], lr=0.05)

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    step(x, y)
    opt.param_groups[1]["lr"] = 0.0  # freezes b without retracing
    before = b.item()
    step(x, y)
    assert b.item() == before
    assert len(step.entries) == 1
    names = [v.name for v in step.entries[0].graph.inputs]
    assert "lr" in names and "lr_group1" in names


def test_compiled_optimizer_step_alone_reads_eager_gradients():
    w = Parameter(graphc.tensor([1.0, 2.0]))
    opt = optim.SGD([w], lr=0.1, momentum=0.9)
    step = graphc.compile(lambda: opt.step())
    reference = Parameter(graphc.tensor([1.0, 2.0]))
    ref_opt = optim.SGD([reference], lr=0.1, momentum=0.9)
    for i in range(3):
        g = graphc.tensor([1.0, -1.0]) * (i + 1)
        w.grad, reference.grad = g, g
        step()
        ref_opt.step()
    np.testing.assert_allclose(w.numpy(), reference.numpy(), **F32)
    assert len(step.entries) == 1


def test_load_state_dict_after_compiling_retraces_and_uses_the_loaded_state():
    x, y = regression_data()
    _, _, opt_e, step_e, _ = make_training(optim.Adam, dict(lr=0.05), compiled=False)
    for _ in range(3):
        step_e(x, y)
    saved = opt_e.state_dict()
    w, b, opt, step, _ = make_training(optim.Adam, dict(lr=0.05), compiled=True)
    step(x, y)
    opt.load_state_dict(saved)
    step(x, y)
    assert len(step.entries) == 2 and "state" in step.entries[1].reason
    assert opt.state[w]["step"].item() == 4.0


def test_changing_the_parameter_list_retraces():
    x, y = regression_data()
    w, b, opt, step, _ = make_training(optim.SGD, dict(lr=0.1), compiled=True)
    step(x, y)
    extra = Parameter(graphc.ones(1))
    opt.add_param_group({"params": [extra]})
    step(x, y)
    assert len(step.entries) == 2


def test_sgd_momentum_graph_has_no_python_step_constant():
    """The first-step rule is a `where` on the step tensor: the same graph serves all steps."""
    _, _, opt, step, _ = train(optim.SGD, dict(lr=0.1, momentum=0.9), compiled=True, steps=3)
    graph = step.entries[0].graph  # on the llvm backend the update sits in fused nodes
    ops = [n.op for node in graph.nodes for n in (node.body or graph).nodes]
    assert "where" in ops
    assert opt.state[next(iter(opt.state))]["step"].item() == 3.0


def test_cosine_schedule_with_adamw_compiled_matches_eager():
    def schedule(opt):
        return lr_scheduler.CosineAnnealingLR(opt, T_max=4, eta_min=0.001)

    w_e, _, _, _, _ = train(optim.AdamW, dict(lr=0.05), False, steps=6, schedule=schedule)
    w_c, _, _, step, _ = train(optim.AdamW, dict(lr=0.05), True, steps=6, schedule=schedule)
    np.testing.assert_allclose(w_c.numpy(), w_e.numpy(), **F32)
    assert len(step.entries) == 1


# -- schedulers ----------------------------------------------------------------------------------
def sgd(lr=1.0, groups=1):
    params = [{"params": [Parameter(graphc.ones(1))], "lr": lr * (i + 1)} for i in range(groups)]
    return optim.SGD(params, lr=lr)


def lrs_over(sched, opt, epochs):
    values = []
    for _ in range(epochs):
        values.append(sched.get_last_lr())
        opt.step()
        sched.step()
    return values


def test_step_lr_follows_the_formula():
    opt = sgd(0.5, groups=2)
    sched = lr_scheduler.StepLR(opt, step_size=3, gamma=0.2)
    for epoch, lrs in enumerate(lrs_over(sched, opt, 12)):
        for base, lr in zip([0.5, 1.0], lrs):
            assert lr == pytest.approx(base * 0.2 ** (epoch // 3), rel=1e-12)
    assert sched.last_epoch == 12


def test_cosine_annealing_matches_formula_and_pytorchs_recursion():
    base, eta_min, t_max = 0.3, 0.01, 7
    opt = sgd(base)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=t_max, eta_min=eta_min)
    got = [lrs[0] for lrs in lrs_over(sched, opt, 3 * t_max + 1)]
    # the documented closed form
    for epoch, lr in enumerate(got):
        expected = eta_min + (base - eta_min) * (1 + math.cos(math.pi * epoch / t_max)) / 2
        assert lr == pytest.approx(expected, rel=1e-12, abs=1e-15)
    # PyTorch's recursive update (CosineAnnealingLR.get_lr)
    lr = base
    for epoch in range(1, len(got)):
        if (epoch - 1 - t_max) % (2 * t_max) == 0:
            lr = lr + (base - eta_min) * (1 - math.cos(math.pi / t_max)) / 2
        else:
            lr = ((1 + math.cos(math.pi * epoch / t_max)) /
                  (1 + math.cos(math.pi * (epoch - 1) / t_max)) * (lr - eta_min) + eta_min)
        assert abs(got[epoch] - lr) < 1e-12
    assert got[t_max] == pytest.approx(eta_min)


def test_lambda_lr_per_group():
    opt = sgd(1.0, groups=2)
    sched = lr_scheduler.LambdaLR(opt, [lambda e: 0.9 ** e, lambda e: 1 / (e + 1)])
    for epoch, (a, b) in enumerate(lrs_over(sched, opt, 5)):
        assert a == pytest.approx(0.9 ** epoch) and b == pytest.approx(2.0 / (epoch + 1))
    with pytest.raises(ValueError, match="one per parameter group"):
        lr_scheduler.LambdaLR(opt, [lambda e: 1.0])


def test_scheduler_state_dict_round_trip_and_resume():
    opt = sgd(0.1)
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    lrs_over(sched, opt, 3)
    state = sched.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 3
    opt2 = sgd(0.1)
    opt2.load_state_dict(opt.state_dict())
    sched2 = lr_scheduler.StepLR(opt2, step_size=2, gamma=0.5, last_epoch=state["last_epoch"] - 1)
    sched2.load_state_dict(state)
    assert lrs_over(sched2, opt2, 3) == lrs_over(sched, opt, 3)


def test_lambda_lr_state_dict_leaves_out_plain_functions():
    opt = sgd(0.1)
    sched = lr_scheduler.LambdaLR(opt, lambda e: 0.5)
    assert sched.state_dict()["lr_lambdas"] == [None]


def test_scheduler_initial_lr_and_resume_errors():
    opt = sgd(0.1)
    lr_scheduler.StepLR(opt, step_size=1)
    assert opt.param_groups[0]["initial_lr"] == 0.1
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(sgd(0.1), step_size=1, last_epoch=5)


def test_compiled_step_with_zero_grad_to_zeros_matches_eager():
    """zero_grad(set_to_none=False): the first trace sees no .grad, the second a zeroed one;
    from then on the second entry is reused."""
    results = []
    for compiled in (False, True):
        x, y = regression_data()
        w = Parameter(graphc.tensor([0.5, 0.5, 0.5]))
        opt = optim.SGD([w], lr=0.1, momentum=0.9)

        def step(x, y):
            opt.zero_grad(set_to_none=False)
            loss = ((x @ w - y) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        step = graphc.compile(step) if compiled else step
        for _ in range(5):
            step(x, y)
        results.append(w.numpy())
    np.testing.assert_allclose(results[1], results[0], **F32)
    assert len(step.entries) == 2 and "w.grad is None" in step.entries[1].reason
