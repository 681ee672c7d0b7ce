"""Adadelta, Adamax, NAdam, RAdam, Rprop, ASGD and LBFGS against float64 NumPy versions of PyTorch's
algorithms (written out below from ``torch.optim``'s documentation), eagerly and compiled.

Tolerances as in test_optim.py: float64 parameters vs the float64 reference rtol=1e-10; compiled
float32 training steps vs eager ones rtol=1e-5, atol=1e-6.
"""
import numpy as np
import pytest
from test_optim import F32, F64, case_id, run_eager, train

import graphc
from graphc import optim
from graphc.errors import TraceError
from graphc.nn import Parameter

STEPS = 10  # RAdam switches from its SGD-like to its rectified update within these


def gradients(shape=(5,), seed=0):
    rng = np.random.default_rng(seed)
    scales = [3.0, 1.0, 0.1, 2.0, 0.05, 0.5, 1.0, 4.0, 0.2, 1.0]
    return [s * rng.standard_normal(shape) for s in scales[:STEPS]]


# -- float64 NumPy references --------------------------------------------------------------------
def adadelta_ref(p, grads, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
    square_avg, acc_delta = np.zeros_like(p), np.zeros_like(p)
    for g in grads:
        g = -g if maximize else g
        if weight_decay:
            g = g + weight_decay * p
        square_avg = rho * square_avg + (1 - rho) * g ** 2
        delta = np.sqrt(acc_delta + eps) / np.sqrt(square_avg + eps) * g
        acc_delta = rho * acc_delta + (1 - rho) * delta ** 2
        p = p - lr * delta
    return p


def adamax_ref(p, grads, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
               maximize=False):
    beta1, beta2 = betas
    m, u = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        g = -g if maximize else g
        if weight_decay:
            g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        u = np.maximum(beta2 * u, np.abs(g) + eps)
        p = p - lr / (1 - beta1 ** t) * m / u
    return p


def nadam_ref(p, grads, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
              momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False):
    beta1, beta2 = betas
    m, v = np.zeros_like(p), np.zeros_like(p)
    mu_product = np.float32(1.0)  # PyTorch keeps it in a float32 scalar tensor
    for t, g in enumerate(grads, start=1):
        g = -g if maximize else g
        if weight_decay:
            if decoupled_weight_decay:
                p = p * (1 - lr * weight_decay)
            else:
                g = g + weight_decay * p
        mu = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        mu_product = np.float32(mu_product * np.float32(mu))
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g ** 2
        denom = np.sqrt(v / (1 - beta2 ** t)) + eps
        mp = float(mu_product)
        p = p - lr * (1 - mu) / (1 - mp) * g / denom
        p = p - lr * mu_next / (1 - mp * mu_next) * m / denom
    return p


def radam_ref(p, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
              decoupled_weight_decay=False, maximize=False, rectified_steps=None):
    beta1, beta2 = betas
    m, v = np.zeros_like(p), np.zeros_like(p)
    rho_inf = 2 / (1 - beta2) - 1
    for t, g in enumerate(grads, start=1):
        g = -g if maximize else g
        if weight_decay:
            if decoupled_weight_decay:
                p = p * (1 - lr * weight_decay)
            else:
                g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g ** 2
        m_hat = m / (1 - beta1 ** t)
        rho_t = rho_inf - 2 * t * beta2 ** t / (1 - beta2 ** t)
        if rho_t > 5:
            r = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            p = p - lr * m_hat * r * np.sqrt(1 - beta2 ** t) / (np.sqrt(v) + eps)
        else:
            p = p - lr * m_hat
        if rectified_steps is not None:
            rectified_steps.append(rho_t > 5)
    return p


def rprop_ref(p, grads, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), maximize=False,
              sign_changes=None):
    etaminus, etaplus = etas
    prev, step_size = np.zeros_like(p), np.full_like(p, lr)
    for g in grads:
        g = -g if maximize else g
        agreement = g * prev
        eta = np.where(agreement > 0, etaplus, np.where(agreement < 0, etaminus, 1.0))
        step_size = np.clip(step_size * eta, *step_sizes)
        g = np.where(agreement < 0, 0.0, g)
        p = p - np.sign(g) * step_size
        prev = g
        if sign_changes is not None:
            sign_changes.append(int((agreement < 0).sum()))
    return p


def asgd_ref(p, grads, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0,
             maximize=False, averages=None):
    eta, mu, ax = np.float32(lr), np.float32(1.0), np.zeros_like(p)  # PyTorch: float32 scalars
    for t, g in enumerate(grads, start=1):
        g = -g if maximize else g
        if weight_decay:
            g = g + weight_decay * p
        p = p * (1 - lambd * float(eta)) - float(eta) * g
        ax = p if mu == 1 else ax + (p - ax) * float(mu)
        eta = np.float32(lr / (1 + lambd * lr * t) ** alpha)
        mu = np.float32(1 / max(1, t - t0))
    if averages is not None:
        averages.append(ax)
    return p


CASES = [
    (optim.Adadelta, adadelta_ref, dict()),
    (optim.Adadelta, adadelta_ref, dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1)),
    (optim.Adadelta, adadelta_ref, dict(maximize=True, weight_decay=0.05)),
    (optim.Adamax, adamax_ref, dict(lr=0.01)),
    (optim.Adamax, adamax_ref, dict(lr=0.01, betas=(0.5, 0.6), eps=1e-3, weight_decay=0.1)),
    (optim.Adamax, adamax_ref, dict(lr=0.01, maximize=True)),
    (optim.NAdam, nadam_ref, dict(lr=0.01)),
    (optim.NAdam, nadam_ref, dict(lr=0.01, betas=(0.8, 0.9), momentum_decay=0.1,
                                  weight_decay=0.1)),
    (optim.NAdam, nadam_ref, dict(lr=0.01, weight_decay=0.2, decoupled_weight_decay=True,
                                  maximize=True)),
    (optim.RAdam, radam_ref, dict(lr=0.01)),
    (optim.RAdam, radam_ref, dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1)),
    (optim.RAdam, radam_ref, dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1,
                                  decoupled_weight_decay=True, maximize=True)),
    (optim.Rprop, rprop_ref, dict()),
    (optim.Rprop, rprop_ref, dict(lr=0.1, etas=(0.3, 1.5), step_sizes=(0.05, 0.2),
                                  maximize=True)),
    (optim.ASGD, asgd_ref, dict(lr=0.05)),
    (optim.ASGD, asgd_ref, dict(lr=0.05, lambd=0.01, alpha=0.6, t0=4, weight_decay=0.1,
                                maximize=True)),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_pytorchs_algorithm_for_ten_steps(case):
    cls, ref, kw = case
    p0 = np.random.default_rng(1).standard_normal(5)
    grads = gradients()
    w, _ = run_eager(cls, kw, p0, grads)
    expected = ref(p0, grads, **kw)
    np.testing.assert_allclose(w.numpy(), expected, **F64)
    assert np.abs(expected - p0).max() > 1e-3  # the steps moved the parameters


def test_radam_takes_both_its_early_and_its_rectified_update():
    rectified = []
    radam_ref(np.zeros(5), gradients(), betas=(0.8, 0.9), rectified_steps=rectified)
    assert any(rectified) and not all(rectified)
    radam_ref(np.zeros(5), gradients(), rectified_steps=rectified)
    assert rectified[-1] and not rectified[-STEPS]


def test_rprop_reference_meets_sign_changes_and_asgd_averages_after_t0():
    changes = []
    rprop_ref(np.zeros(5), gradients(), sign_changes=changes)
    assert sum(changes) > 0  # the case above takes the "sign changed: skip" branch
    w, opt = run_eager(optim.ASGD, dict(lr=0.05, t0=4), np.ones(5), gradients())
    averages = []
    asgd_ref(np.ones(5), gradients(), lr=0.05, t0=4, averages=averages)
    np.testing.assert_allclose(opt.state[w]["ax"].numpy(), averages[0], **F64)
    assert np.abs(averages[0] - w.numpy()).max() > 1e-3  # a true average, not the parameter
    assert opt.state[w]["eta"].dtype == graphc.float32 and opt.state[w]["mu"].shape == ()


def test_nadam_mu_product_is_a_float32_scalar_like_pytorchs():
    w = Parameter(graphc.tensor([1.0, 2.0], dtype=graphc.float64))
    opt = optim.NAdam([w])
    w.grad = graphc.tensor([0.5, -0.5], dtype=graphc.float64)
    opt.step()
    mu_product = opt.state[w]["mu_product"]
    assert mu_product.dtype == graphc.float32 and mu_product.shape == ()
    assert mu_product.item() == pytest.approx(0.9 * (1 - 0.5 * 0.96 ** 0.004), rel=1e-7)


@pytest.mark.parametrize("cls, kw", [
    (optim.Adadelta, dict(lr=1.0, weight_decay=0.01)),
    (optim.Adamax, dict(lr=0.05)),
    (optim.NAdam, dict(lr=0.05, weight_decay=0.01, decoupled_weight_decay=True)),
    (optim.RAdam, dict(lr=0.05, betas=(0.8, 0.9))),
    (optim.Rprop, dict(lr=0.05)),
    (optim.ASGD, dict(lr=0.05, t0=3, weight_decay=0.01)),
], ids=lambda v: v.__name__ if isinstance(v, type) else ",".join(map(str, v.items())))
def test_compiled_training_step_matches_eager_without_retracing(cls, kw):
    w_e, b_e, opt_e, _, losses_e = train(cls, kw, compiled=False)
    w_c, b_c, opt_c, step, losses_c = train(cls, kw, compiled=True)
    np.testing.assert_allclose(w_c.numpy(), w_e.numpy(), **F32)
    np.testing.assert_allclose(b_c.numpy(), b_e.numpy(), **F32)
    np.testing.assert_allclose(losses_c, losses_e, **F32)
    for key, value in opt_e.state[w_e].items():
        np.testing.assert_allclose(opt_c.state[w_c][key].numpy(), value.numpy(), **F32)
    assert losses_c[-1] < losses_c[0]
    assert len(step.entries) == 1, step.explain()


@pytest.mark.parametrize("cls, kw, message", [
    (optim.Adadelta, dict(rho=1.5), "rho"),
    (optim.Adamax, dict(betas=(0.9, 1.0)), "betas"),
    (optim.NAdam, dict(momentum_decay=-1.0), "momentum_decay"),
    (optim.RAdam, dict(eps=-1.0), "epsilon"),
    (optim.Rprop, dict(etas=(1.2, 0.5)), "eta"),
    (optim.ASGD, dict(weight_decay=-1.0), "weight_decay"),
    (optim.LBFGS, dict(line_search_fn="backtracking"), "line_search_fn"),
])
def test_bad_hyperparameters_are_rejected_naming_them(cls, kw, message):
    with pytest.raises(ValueError, match=message):
        cls([Parameter(graphc.zeros(2))], **kw)


def test_defaults_and_argument_order_are_pytorchs():
    w = Parameter(graphc.zeros(2))
    assert optim.Adadelta([w], 0.5, 0.8, 1e-5, 0.1).defaults == dict(
        lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1, foreach=None, maximize=False)
    group = optim.Adadelta([w]).param_groups[0]
    assert (group["lr"], group["rho"], group["eps"], group["weight_decay"]) == (1.0, 0.9, 1e-6, 0)
    group = optim.Adamax([w]).param_groups[0]
    assert (group["lr"], group["betas"], group["eps"]) == (2e-3, (0.9, 0.999), 1e-8)
    group = optim.NAdam([w]).param_groups[0]
    assert (group["lr"], group["momentum_decay"], group["decoupled_weight_decay"]) == \
        (2e-3, 4e-3, False)
    group = optim.RAdam([w]).param_groups[0]
    assert (group["lr"], group["decoupled_weight_decay"]) == (1e-3, False)
    group = optim.Rprop([w]).param_groups[0]
    assert (group["lr"], group["etas"], group["step_sizes"]) == (1e-2, (0.5, 1.2), (1e-6, 50))
    assert optim.ASGD([w], 0.5, 1e-3, 0.5, 10.0, 0.1).defaults == dict(
        lr=0.5, lambd=1e-3, alpha=0.5, t0=10.0, weight_decay=0.1, maximize=False,
        foreach=None, capturable=False, differentiable=False)
    group = optim.LBFGS([w]).param_groups[0]
    assert group == dict(params=[w], lr=1, max_iter=20, max_eval=25, tolerance_grad=1e-7,
                         tolerance_change=1e-9, history_size=100, line_search_fn=None)


# -- LBFGS ---------------------------------------------------------------------------------------
def lbfgs_ref(f_and_grad, x, lr=1.0, max_iter=20, tolerance_grad=1e-7, tolerance_change=1e-9,
              history_size=100):
    """One LBFGS.step without line search, as PyTorch documents and implements it: fixed step
    ``lr`` (the first one scaled by ``min(1, 1 / sum|g|)``), two-loop recursion."""
    loss, g = f_and_grad(x)
    if np.abs(g).max() <= tolerance_grad:
        return x
    s_list, y_list, rho_list, h_diag, d, t = [], [], [], 1.0, None, None
    prev_g = None
    for n_iter in range(1, max_iter + 1):
        if n_iter == 1:
            d = -g
        else:
            y, s = g - prev_g, d * t
            if y @ s > 1e-10:
                if len(s_list) == history_size:
                    s_list.pop(0), y_list.pop(0), rho_list.pop(0)
                s_list.append(s), y_list.append(y), rho_list.append(1 / (y @ s))
                h_diag = (y @ s) / (y @ y)
            q, alphas = -g, []
            for s_i, y_i, rho_i in reversed(list(zip(s_list, y_list, rho_list))):
                alphas.append(rho_i * (s_i @ q))
                q = q - alphas[-1] * y_i
            r = q * h_diag
            for (s_i, y_i, rho_i), alpha in zip(zip(s_list, y_list, rho_list), reversed(alphas)):
                r = r + s_i * (alpha - rho_i * (y_i @ r))
            d = r
        prev_g, prev_loss = g, loss
        t = min(1.0, 1.0 / np.abs(g).sum()) * lr if n_iter == 1 else lr
        if g @ d > -tolerance_change:
            break
        x = x + t * d
        if n_iter == max_iter:
            break
        loss, g = f_and_grad(x)
        if np.abs(g).max() <= tolerance_grad or np.abs(t * d).max() <= tolerance_change \
                or abs(loss - prev_loss) < tolerance_change:
            break
    return x


def quadratic(seed=0, n=4):
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, n))
    a = m @ m.T + n * np.eye(n)  # symmetric positive definite
    b = rng.standard_normal(n)
    return a, b


def lbfgs_closure(opt, w, loss_fn):
    def closure():
        opt.zero_grad()
        loss = loss_fn(w)
        loss.backward()
        return loss
    return closure


def rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def test_lbfgs_without_line_search_follows_the_two_loop_recursion():
    a, b = quadratic()

    def f_and_grad(x):
        return 0.5 * x @ a @ x - b @ x, a @ x - b

    a_t, b_t = graphc.tensor(a), graphc.tensor(b)
    w = Parameter(graphc.zeros(4, dtype=graphc.float64))
    opt = optim.LBFGS([w], lr=0.1, max_iter=7, history_size=3)
    closure = lbfgs_closure(opt, w, lambda w: 0.5 * (w @ (a_t @ w)) - b_t @ w)
    opt.step(closure)
    expected = lbfgs_ref(f_and_grad, np.zeros(4), lr=0.1, max_iter=7, history_size=3)
    np.testing.assert_allclose(w.numpy(), expected, **F64)
    assert opt.state[w]["n_iter"] == 7 and opt.state[w]["func_evals"] == 7


def test_lbfgs_with_strong_wolfe_solves_a_quadratic():
    a, b = quadratic(seed=3, n=6)
    a_t, b_t = graphc.tensor(a), graphc.tensor(b)
    w = Parameter(graphc.zeros(6, dtype=graphc.float64))
    # tight tolerances: with the defaults it stops once the loss changes by less than 1e-9
    opt = optim.LBFGS([w], line_search_fn="strong_wolfe", tolerance_grad=1e-12,
                      tolerance_change=1e-15)
    first = opt.step(lbfgs_closure(opt, w, lambda w: 0.5 * (w @ (a_t @ w)) - b_t @ w))
    assert first.item() == 0.0  # step returns the loss before the step
    np.testing.assert_allclose(w.numpy(), np.linalg.solve(a, b), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_lbfgs_strong_wolfe_converges_on_rosenbrock(dtype):
    w = Parameter(graphc.tensor([-1.5, 2.0], dtype=getattr(graphc, dtype)))
    opt = optim.LBFGS([w], history_size=10, line_search_fn="strong_wolfe")
    closure = lbfgs_closure(opt, w, rosenbrock)
    losses = [opt.step(closure).item() for _ in range(5)]
    assert all(b <= a for a, b in zip(losses, losses[1:]))
    np.testing.assert_allclose(w.numpy(), [1.0, 1.0], atol=1e-3)
    assert rosenbrock(w.numpy()) < 1e-8


def test_lbfgs_with_a_compiled_closure_matches_eager():
    results = []
    for compiled in (False, True):
        w = Parameter(graphc.tensor([-1.5, 2.0], dtype=graphc.float64))
        opt = optim.LBFGS([w], history_size=10, line_search_fn="strong_wolfe")
        closure = lbfgs_closure(opt, w, rosenbrock)
        closure = graphc.compile(closure) if compiled else closure
        for _ in range(3):
            opt.step(closure)
        results.append(w.numpy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-9)
    # LBFGS's changing state (counters, history) is no reason to retrace the closure
    assert len(closure.entries) == 1, closure.explain()


def test_lbfgs_step_inside_compile_is_a_clear_trace_error():
    w = Parameter(graphc.tensor([-1.5, 2.0]))
    opt = optim.LBFGS([w])
    closure = lbfgs_closure(opt, w, rosenbrock)

    @graphc.compile
    def train_step():
        return opt.step(closure)

    with pytest.raises(TraceError, match="LBFGS.step cannot run inside @graphc.compile"):
        train_step()


def test_lbfgs_needs_a_closure_and_one_parameter_group():
    w = Parameter(graphc.zeros(2))
    with pytest.raises(TypeError, match="closure"):
        optim.LBFGS([w]).step()
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": [w]}, {"params": [Parameter(graphc.zeros(1))], "lr": 0.1}])


def test_lbfgs_state_dict_resumes_exactly():
    def run(split):
        w = Parameter(graphc.tensor([-1.5, 2.0], dtype=graphc.float64))
        opt = optim.LBFGS([w], max_iter=4, history_size=5, line_search_fn="strong_wolfe")
        for i in range(4):
            if i == split:
                saved, values = opt.state_dict(), w.numpy().copy()
                w = Parameter(graphc.tensor(values))
                opt = optim.LBFGS([w], max_iter=4, history_size=5,
                                  line_search_fn="strong_wolfe")
                opt.load_state_dict(saved)
            opt.step(lbfgs_closure(opt, w, rosenbrock))
        return w.numpy()

    np.testing.assert_array_equal(run(split=2), run(split=None))
