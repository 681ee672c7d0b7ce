"""Learning-rate schedulers against PyTorch's documented closed forms (written out here), their
chaining, state dicts, and compiled training steps that must see each new rate without
retracing. (StepLR, CosineAnnealingLR and LambdaLR basics are in test_optim.py.)"""
import math

import numpy as np
import pytest
from test_optim import F32, lrs_over, regression_data, sgd

import graphc
from graphc import optim
from graphc.nn import Parameter
from graphc.optim import lr_scheduler

REL = dict(rel=1e-12, abs=1e-15)


def first_group(values):
    return [lrs[0] for lrs in values]


def assert_schedule(got, expected):
    assert len(got) == len(expected)
    for epoch, (g, e) in enumerate(zip(got, expected)):
        assert g == pytest.approx(e, **REL), f"epoch {epoch}: {g} != {e}"


# -- closed forms --------------------------------------------------------------------------------
def test_multistep_lr_decays_at_each_milestone_counting_repeats():
    opt = sgd(0.5, groups=2)
    sched = lr_scheduler.MultiStepLR(opt, milestones=[2, 5, 5, 7], gamma=0.3)
    got = lrs_over(sched, opt, 10)
    for base, index in ((0.5, 0), (1.0, 1)):
        passed = [sum(m <= e for m in [2, 5, 5, 7]) for e in range(10)]
        assert_schedule([lrs[index] for lrs in got], [base * 0.3 ** n for n in passed])


def test_exponential_lr():
    opt = sgd(0.2)
    sched = lr_scheduler.ExponentialLR(opt, gamma=0.9)
    assert_schedule(first_group(lrs_over(sched, opt, 8)), [0.2 * 0.9 ** e for e in range(8)])


def test_linear_lr_warms_up_then_holds():
    opt = sgd(0.1)
    sched = lr_scheduler.LinearLR(opt, start_factor=0.2, end_factor=0.9, total_iters=6)
    expected = [0.1 * (0.2 + 0.7 * min(e, 6) / 6) for e in range(10)]
    assert_schedule(first_group(lrs_over(sched, opt, 10)), expected)


def test_constant_lr_scales_until_total_iters():
    opt = sgd(0.1)
    sched = lr_scheduler.ConstantLR(opt, factor=0.4, total_iters=3)
    assert_schedule(first_group(lrs_over(sched, opt, 6)), [0.04, 0.04, 0.04, 0.1, 0.1, 0.1])


def test_polynomial_lr_decays_to_zero_and_stays():
    opt = sgd(0.1)
    sched = lr_scheduler.PolynomialLR(opt, total_iters=8, power=2.0)
    expected = [0.1 * (1 - min(e, 8) / 8) ** 2 for e in range(11)]
    assert_schedule(first_group(lrs_over(sched, opt, 11)), expected)


def test_multiplicative_lr_multiplies_the_current_rate():
    opt = sgd(1.0)
    sched = lr_scheduler.MultiplicativeLR(opt, lambda epoch: 0.5 if epoch % 2 else 0.9)
    expected, lr = [], 1.0
    for epoch in range(7):
        if epoch:
            lr *= 0.5 if epoch % 2 else 0.9
        expected.append(lr)
    assert_schedule(first_group(lrs_over(sched, opt, 7)), expected)


@pytest.mark.parametrize("t_mult", [1, 2])
def test_cosine_warm_restarts_follow_sgdr(t_mult):
    base, eta_min, t_0 = 0.1, 0.001, 3
    opt = sgd(base)
    sched = lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=t_0, T_mult=t_mult,
                                                      eta_min=eta_min)
    expected, t_cur, t_i = [], 0, t_0
    for _ in range(25):
        expected.append(eta_min + (base - eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2)
        t_cur += 1
        if t_cur == t_i:
            t_cur, t_i = 0, t_i * t_mult
    assert_schedule(first_group(lrs_over(sched, opt, 25)), expected)


@pytest.mark.parametrize("t_mult", [1, 3])
def test_cosine_warm_restarts_accept_fractional_epochs(t_mult):
    base, eta_min, t_0 = 0.1, 0.01, 2
    opt = sgd(base)
    sched = lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=t_0, T_mult=t_mult,
                                                      eta_min=eta_min)
    for epoch in np.arange(0.0, 20.0, 0.3):
        sched.step(float(epoch))
        start, length = 0.0, t_0  # find the cycle holding this epoch by walking the cycles
        while epoch >= start + length:
            start, length = start + length, length * t_mult
        expected = eta_min + (base - eta_min) * (1 + math.cos(math.pi * (epoch - start)
                                                              / length)) / 2
        assert sched.get_last_lr()[0] == pytest.approx(expected, rel=1e-9)
        assert sched.last_epoch == math.floor(epoch)
    with pytest.raises(ValueError, match="non-negative"):
        sched.step(-1)


def test_cosine_annealing_lr_composes_with_another_scheduler_as_pytorchs():
    """PyTorch's cosine is recursive: chained with a constant factor, the factor carries over
    (a closed form would drop it)."""
    base, t_max = 1.0, 6
    opt = sgd(base)
    chained = lr_scheduler.ChainedScheduler([lr_scheduler.ConstantLR(opt, 0.5, total_iters=100),
                                             lr_scheduler.CosineAnnealingLR(opt, T_max=t_max)])
    got = first_group(lrs_over(chained, opt, t_max))
    expected = [0.5 * base * (1 + math.cos(math.pi * e / t_max)) / 2 for e in range(t_max)]
    assert_schedule(got, expected)


def test_one_cycle_lr_cos_two_phases_with_momentum():
    total, pct, max_lr, div, final_div = 20, 0.3, 1.0, 25.0, 1e4
    opt = optim.SGD([Parameter(graphc.zeros(1))], lr=0.1, momentum=0.9)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=total, pct_start=pct,
                                    div_factor=div, final_div_factor=final_div)
    start, low = max_lr / div, max_lr / div / final_div
    up_end = pct * total - 1

    def cos(a, b, frac):
        return b + (a - b) / 2 * (1 + math.cos(math.pi * frac))

    for step in range(total):
        if step <= up_end:
            frac = step / up_end
            lr, momentum = cos(start, max_lr, frac), cos(0.95, 0.85, frac)
        else:
            frac = (step - up_end) / (total - 1 - up_end)
            lr, momentum = cos(max_lr, low, frac), cos(0.85, 0.95, frac)
        assert sched.get_last_lr()[0] == pytest.approx(lr, **REL)
        assert opt.param_groups[0]["momentum"] == pytest.approx(momentum, **REL)
        opt.step()
        sched.step()
    with pytest.raises(ValueError, match="total_steps=20"):
        sched.step()


def test_one_cycle_lr_linear_three_phases_cycles_adams_beta1():
    total, pct = 20, 0.25
    opt = optim.Adam([Parameter(graphc.zeros(1))], betas=(0.9, 0.99))
    sched = lr_scheduler.OneCycleLR(opt, max_lr=2.0, epochs=4, steps_per_epoch=5,
                                    pct_start=pct, anneal_strategy="linear", three_phase=True)
    start, low = 2.0 / 25, 2.0 / 25 / 1e4
    ends = [pct * total - 1, 2 * pct * total - 2, total - 1]
    phases = [(start, 2.0, 0.95, 0.85), (2.0, start, 0.85, 0.95), (start, low, 0.95, 0.95)]
    for step in range(total):
        begin = 0.0
        for end, (lr_a, lr_b, m_a, m_b) in zip(ends, phases):
            if step <= end or end == ends[-1]:
                frac = (step - begin) / (end - begin)
                break
            begin = end
        assert sched.get_last_lr()[0] == pytest.approx(lr_a + (lr_b - lr_a) * frac, **REL)
        assert opt.param_groups[0]["betas"] == (pytest.approx(m_a + (m_b - m_a) * frac), 0.99)
        opt.step()
        sched.step()


def test_one_cycle_lr_rejects_bad_arguments():
    opt = sgd(0.1)
    with pytest.raises(ValueError, match="total_steps, or epochs and steps_per_epoch"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="anneal_strategy"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=5, anneal_strategy="step")
    with pytest.raises(ValueError, match="momentum"):
        lr_scheduler.OneCycleLR(optim.Adagrad([Parameter(graphc.zeros(1))]), max_lr=1.0,
                                total_steps=5)


def cyclic_reference(step, base, top, up, down, mode="triangular", gamma=1.0):
    """PyTorch's documented CyclicLR: a triangle of ``up`` steps up and ``down`` down, its
    height scaled per cycle (triangular2: halved each cycle) or per step (exp_range)."""
    cycle = math.floor(1 + step / (up + down))
    x = 1.0 + step / (up + down) - cycle
    ratio = up / (up + down)
    factor = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
    scale = {"triangular": 1.0, "triangular2": 1 / 2.0 ** (cycle - 1),
             "exp_range": gamma ** step}[mode]
    return factor * scale


@pytest.mark.parametrize("mode, up, down, gamma", [
    ("triangular", 3, None, 1.0), ("triangular2", 2, 5, 1.0), ("exp_range", 4, 2, 0.9)])
def test_cyclic_lr_follows_smiths_triangle_and_moves_momentum_the_other_way(mode, up, down,
                                                                             gamma):
    opt = optim.SGD([{"params": [Parameter(graphc.zeros(1))]},
                     {"params": [Parameter(graphc.zeros(1))], "lr": 5.0}], lr=9.0,
                    momentum=0.5)
    sched = lr_scheduler.CyclicLR(opt, base_lr=[0.1, 0.01], max_lr=[0.5, 0.2], step_size_up=up,
                                  step_size_down=down, mode=mode, gamma=gamma)
    for step in range(20):
        f = cyclic_reference(step, 0, 1, up, down if down is not None else up, mode, gamma)
        lrs = sched.get_last_lr()
        assert lrs[0] == pytest.approx(0.1 + 0.4 * f, **REL)
        assert lrs[1] == pytest.approx(0.01 + 0.19 * f, **REL)
        assert opt.param_groups[1]["momentum"] == pytest.approx(0.9 - 0.1 * f, **REL)
        opt.step()
        sched.step()
    assert any(0 < cyclic_reference(s, 0, 1, up, down or up, mode, gamma) < 1 for s in range(20))


def test_cyclic_lr_custom_scale_adam_beta1_state_dict_and_errors():
    opt = optim.Adam([Parameter(graphc.zeros(1))], betas=(0.7, 0.99))
    sched = lr_scheduler.CyclicLR(opt, 0.1, 0.3, step_size_up=2, base_momentum=0.5,
                                  max_momentum=0.6, scale_fn=lambda x: 0.5 ** x,
                                  scale_mode="iterations")
    assert opt.param_groups[0]["betas"] == (0.6, 0.99)
    lrs_over(sched, opt, 3)
    assert sched.get_last_lr()[0] == pytest.approx(0.1 + 0.2 * 0.5 * 0.5 ** 3, **REL)
    assert opt.param_groups[0]["betas"] == (pytest.approx(0.6 - 0.1 * 0.5 * 0.5 ** 3), 0.99)
    saved = sched.state_dict()
    assert saved["_scale_fn_custom"] is None and "_scale_fn_ref" not in saved  # (functions)
    with pytest.raises(ValueError, match="mode must be one of"):
        lr_scheduler.CyclicLR(opt, 0.1, 0.3, mode="square")
    with pytest.raises(ValueError, match="momentum or beta1"):
        lr_scheduler.CyclicLR(optim.Adagrad([Parameter(graphc.zeros(1))]), 0.1, 0.3)


def test_sequential_lr_restarts_each_scheduler_at_its_milestone():
    opt = sgd(1.0)
    sched = lr_scheduler.SequentialLR(opt, [
        lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=3),
        lr_scheduler.ExponentialLR(opt, gamma=0.5),
        lr_scheduler.ConstantLR(opt, factor=0.2, total_iters=2)], milestones=[3, 6])
    expected = ([0.1 + 0.9 * e / 3 for e in range(3)]
                + [0.5 ** e for e in range(3)]
                + [0.2, 0.2, 1.0, 1.0])
    assert_schedule(first_group(lrs_over(sched, opt, 10)), expected)


def test_sequential_and_chained_schedulers_check_their_schedulers():
    opt, other = sgd(1.0), sgd(1.0)
    exp = lr_scheduler.ExponentialLR(opt, gamma=0.5)
    with pytest.raises(ValueError, match="one milestone fewer"):
        lr_scheduler.SequentialLR(opt, [exp, lr_scheduler.ExponentialLR(opt, 0.9)], [])
    with pytest.raises(ValueError, match="another optimizer"):
        lr_scheduler.ChainedScheduler([exp, lr_scheduler.ExponentialLR(other, 0.9)])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        lr_scheduler.ChainedScheduler([exp, lr_scheduler.ReduceLROnPlateau(opt)])


def test_chained_scheduler_multiplies_the_factors():
    opt = sgd(1.0)
    sched = lr_scheduler.ChainedScheduler([lr_scheduler.ConstantLR(opt, 0.5, total_iters=3),
                                           lr_scheduler.ExponentialLR(opt, gamma=0.9)])
    expected = [(0.5 if e < 3 else 1.0) * 0.9 ** e for e in range(6)]
    assert_schedule(first_group(lrs_over(sched, opt, 6)), expected)


def test_step_with_an_epoch_uses_the_closed_form():
    opt = sgd(1.0)
    sched = lr_scheduler.MultiStepLR(opt, milestones=[2, 4], gamma=0.1)
    sched.step(5)
    assert sched.get_last_lr()[0] == pytest.approx(0.01)
    sched.step(3)
    assert sched.get_last_lr()[0] == pytest.approx(0.1)


# -- ReduceLROnPlateau ---------------------------------------------------------------------------
def plateau_reference(metrics, lr, mode="min", factor=0.1, patience=10, threshold=1e-4,
                      threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
    """PyTorch's documented rule, step by step."""
    best = math.inf if mode == "min" else -math.inf
    bad = cooldown_left = 0
    lrs = []
    for metric in metrics:
        if mode == "min":
            better = metric < (best * (1 - threshold) if threshold_mode == "rel"
                               else best - threshold)
        else:
            better = metric > (best * (1 + threshold) if threshold_mode == "rel"
                               else best + threshold)
        if better:
            best, bad = metric, 0
        else:
            bad += 1
        if cooldown_left > 0:
            cooldown_left -= 1
            bad = 0
        if bad > patience:
            new_lr = max(lr * factor, min_lr)
            if lr - new_lr > eps:
                lr = new_lr
            cooldown_left, bad = cooldown, 0
        lrs.append(lr)
    return lrs


@pytest.mark.parametrize("kw", [
    dict(patience=3),
    dict(mode="max", factor=0.5, patience=2, threshold=0.1, threshold_mode="abs", cooldown=2,
         min_lr=0.02),
    dict(factor=0.5, patience=0, threshold=0.0, min_lr=0.1, eps=0.05),
])
def test_reduce_lr_on_plateau_follows_pytorchs_rule(kw):
    metrics = list(np.cumsum(np.random.default_rng(0).standard_normal(60)))
    opt = sgd(0.4)
    sched = lr_scheduler.ReduceLROnPlateau(opt, **kw)
    got = []
    for metric in metrics:
        opt.step()
        sched.step(graphc.tensor(metric) if len(got) % 2 else metric)
        got.append(sched.get_last_lr()[0])
    expected = plateau_reference(metrics, 0.4, **kw)
    assert got == pytest.approx(expected, rel=1e-12)
    assert min(expected) < 0.4  # the rate was reduced


def test_reduce_lr_on_plateau_min_lr_per_group_and_errors():
    opt = sgd(1.0, groups=2)
    sched = lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0, min_lr=[0.4, 0.1])
    for metric in [1.0, 1.0, 1.0, 1.0]:
        sched.step(metric)
    # three bad epochs, each halving: 1 -> 0.5 -> 0.4 (its min_lr) -> 0.4; 2 -> 1 -> 0.5 -> 0.25
    assert sched.get_last_lr() == [0.4, 0.25]
    with pytest.raises(ValueError, match="2 min_lrs"):
        lr_scheduler.ReduceLROnPlateau(opt, min_lr=[0.1])
    with pytest.raises(ValueError, match="factor"):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode"):
        lr_scheduler.ReduceLROnPlateau(opt, mode="lowest")


# -- state dicts ---------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda opt: lr_scheduler.MultiStepLR(opt, [2, 4]),
    lambda opt: lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2),
    lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=12),
    lambda opt: lr_scheduler.CyclicLR(opt, 0.1, 1.0, step_size_up=3, mode="triangular2"),
    lambda opt: lr_scheduler.SequentialLR(opt, [lr_scheduler.LinearLR(opt, total_iters=2),
                                                lr_scheduler.ExponentialLR(opt, 0.5)], [2]),
    lambda opt: lr_scheduler.ChainedScheduler([lr_scheduler.ExponentialLR(opt, 0.5),
                                               lr_scheduler.PolynomialLR(opt, 8)]),
], ids=["multistep", "warm_restarts", "one_cycle", "cyclic", "sequential", "chained"])
def test_state_dict_round_trip_resumes_the_schedule(make):
    def fresh():
        opt = optim.SGD([Parameter(graphc.zeros(1))], lr=1.0, momentum=0.9)
        return opt, make(opt)

    opt, sched = fresh()
    lrs_over(sched, opt, 4)
    opt2, sched2 = fresh()
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(sched.state_dict())
    assert "optimizer" not in sched.state_dict()
    assert lrs_over(sched2, opt2, 6) == lrs_over(sched, opt, 6)


def test_reduce_lr_on_plateau_state_dict_round_trip():
    opt = sgd(1.0)
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=1, mode="max")
    for metric in [1.0, 0.5, 0.5]:
        sched.step(metric)
    opt2 = sgd(1.0)
    opt2.load_state_dict(opt.state_dict())
    sched2 = lr_scheduler.ReduceLROnPlateau(opt2)
    sched2.load_state_dict(sched.state_dict())
    for metric in [0.4, 0.3, 2.0, 1.0, 1.0]:
        sched.step(metric)
        sched2.step(metric)
        assert sched2.get_last_lr() == sched.get_last_lr()


# -- compiled training steps ---------------------------------------------------------------------
def train_with(schedule, compiled, opt_cls=optim.SGD, steps=8, **opt_kw):
    x, y = regression_data()
    # two parameters: SGD once turned the number momentum into a tensor for the second one
    w, b = Parameter(graphc.tensor([0.5, 0.5, 0.5])), Parameter(graphc.tensor(0.0))
    opt = opt_cls([w, b], **opt_kw)
    sched = schedule(opt)

    def step(x, y):
        opt.zero_grad()
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    fn = graphc.compile(step) if compiled else step
    losses = []
    for _ in range(steps):
        losses.append(fn(x, y).item())
        if isinstance(sched, lr_scheduler.ReduceLROnPlateau):
            sched.step(1.0)  # never improves: the rate drops after every `patience` steps
        else:
            sched.step()
    return w.numpy(), losses, fn, opt


@pytest.mark.parametrize("opt_cls, opt_kw, schedule", [
    (optim.SGD, dict(lr=0.1, momentum=0.9),
     lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=0.2, total_steps=8)),
    (optim.Adam, dict(lr=0.1),
     lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=0.2, total_steps=8)),
    (optim.NAdam, dict(lr=0.1),
     lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=0.2, total_steps=8, three_phase=True)),
    (optim.RMSprop, dict(lr=0.01, momentum=0.5),
     lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=0.02, total_steps=8)),
    (optim.SGD, dict(lr=0.1),
     lambda opt: lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1)),
    (optim.Adamax, dict(lr=0.1), lambda opt: lr_scheduler.SequentialLR(
        opt, [lr_scheduler.LinearLR(opt, total_iters=3), lr_scheduler.ExponentialLR(opt, 0.7)],
        [3])),
    (optim.RAdam, dict(lr=0.1),
     lambda opt: lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=3)),
    (optim.SGD, dict(lr=0.1, momentum=0.9),
     lambda opt: lr_scheduler.CyclicLR(opt, 0.05, 0.2, step_size_up=2, mode="exp_range",
                                       gamma=0.9)),
], ids=["one_cycle_sgd_momentum", "one_cycle_adam_beta1", "one_cycle_nadam_three_phase",
        "one_cycle_rmsprop_momentum", "plateau", "sequential", "warm_restarts", "cyclic"])
def test_compiled_step_sees_every_new_rate_and_momentum_without_retracing(opt_cls, opt_kw,
                                                                         schedule):
    w_e, losses_e, _, _ = train_with(schedule, False, opt_cls, **opt_kw)
    w_c, losses_c, step, opt = train_with(schedule, True, opt_cls, **opt_kw)
    np.testing.assert_allclose(losses_c, losses_e, **F32)
    np.testing.assert_allclose(w_c, w_e, **F32)
    assert len(step.entries) == 1, step.explain()
    # the schedule mattered: a fixed rate gives another result
    w_fixed, _, _, _ = train_with(lambda opt: lr_scheduler.LambdaLR(opt, lambda e: 1.0), False,
                                  opt_cls, **opt_kw)
    assert np.abs(w_fixed - w_e).max() > 1e-4


@pytest.mark.parametrize("change", ["scheduler after the update", "scheduler before it",
                                    "param_group['lr'] *= 0.5", "a StepLR's 1000th step"])
def test_a_rate_changed_inside_the_compiled_step_is_refused(change):
    # the rate is a graph input read before each call runs: a change made by the step's own
    # Python code (not run again by compiled calls) once gave a rate one step early, then
    # never changed it again
    x, y = regression_data()
    w = Parameter(graphc.tensor([0.5, 0.5, 0.5]))
    opt = optim.SGD([w], lr=0.1)
    sched = (lr_scheduler.StepLR(opt, step_size=1000) if change.startswith("a StepLR")
             else lr_scheduler.ExponentialLR(opt, gamma=0.5))

    def step(x, y):
        if change == "scheduler before it":
            sched.step()
        opt.zero_grad()
        ((x @ w - y) ** 2).mean().backward()
        opt.step()
        if change in ("scheduler after the update", "a StepLR's 1000th step"):
            sched.step()  # refused at its first step, not at the one that changes the rate
        elif change.startswith("param_group"):
            opt.param_groups[0]["lr"] *= 0.5
    step(x, y)  # eagerly it runs
    with pytest.raises(graphc.TraceError, match=r"(changes the optimizer's 'lr' .* while it is "
                                                r"traced|step\(\) inside a compiled function).*"
                                                r"[Ss]tep the scheduler after the call"):
        graphc.compile(step)(x, y)


def test_one_cycle_momentum_is_a_graph_input_and_other_betas_stay_guarded():
    x, y = regression_data()
    w = Parameter(graphc.tensor([0.5, 0.5, 0.5]))
    opt = optim.Adam([w], lr=0.1, betas=(0.9, 0.99))
    lr_scheduler.OneCycleLR(opt, max_lr=0.2, total_steps=8)

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        loss = ((x @ w - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    step(x, y)
    names = [v.name for v in step.entries[0].graph.inputs]
    assert "lr" in names and "betas0" in names
    opt.param_groups[0]["betas"] = (0.8, 0.9)  # beta2 is not cycled: changing it retraces
    step(x, y)
    assert len(step.entries) == 2 and "['betas'][1:]" in step.entries[1].reason


def test_a_tensor_learning_rate_is_filled_in_place_by_the_schedule():
    # the scheduler replaced the tensor with a float: the tensor the user passed stayed at 0.1
    lr = graphc.tensor(0.1)
    w = graphc.nn.Parameter(graphc.zeros(1))
    opt = graphc.optim.SGD([w], lr=lr)
    schedule = graphc.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    seen = []
    for _ in range(6):
        w.grad = graphc.ones(1)
        opt.step()
        schedule.step()
        seen.append(round(lr.item(), 6))
    assert seen == [0.1, 0.05, 0.05, 0.025, 0.025, 0.0125]
    assert opt.param_groups[0]["lr"] is lr and opt.param_groups[0]["initial_lr"].item() == \
        pytest.approx(0.1)
    assert schedule.get_last_lr()[0].item() == pytest.approx(0.0125)
    assert w.item() == pytest.approx(-2 * (0.1 + 0.05 + 0.025))  # the rate before each step


def test_module_train_refuses_a_mode_that_is_not_a_bool():
    with pytest.raises(ValueError, match="boolean"):
        graphc.nn.Linear(1, 1).train("no")


def test_a_learning_rate_the_compiled_step_reads_itself_is_guarded_by_value():
    # the rate is a graph input of the update (a schedule does not retrace), and the guards
    # left it alone: the step's own read of it (returned for logging) stayed at 0.1
    w = graphc.nn.Parameter(graphc.ones(1))
    opt = graphc.optim.SGD([w], lr=0.1)

    def step(x, report):
        opt.zero_grad()
        (x * w).sum().backward()
        opt.step()
        return opt.param_groups[0]["lr"] * x if report else x
    reporting = graphc.compile(lambda x: step(x, True))
    silent = graphc.compile(lambda x: step(x, False))
    schedule = graphc.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    seen = []
    for _ in range(3):
        seen.append(reporting(graphc.ones(1)).item())
        silent(graphc.ones(1))
        schedule.step()
    assert seen == pytest.approx([0.1, 0.05, 0.025])
    assert silent.traces == 1 and reporting.traces == 3
    assert opt.param_groups[0].get("lr") == pytest.approx(0.1 / 8)
