"""Optimizer hooks, as PyTorch's: around step (per optimizer and global), around state dicts,
and inside compiled training steps (traced with the step; adding one retraces)."""
import numpy as np

import graphc
from graphc import optim
from graphc.nn import Parameter
from graphc.optim.optimizer import register_optimizer_step_pre_hook


def sgd(lr=0.1):
    w = Parameter(graphc.tensor([1.0, -2.0], dtype=graphc.float64))
    return w, optim.SGD([w], lr=lr)


def test_step_hooks_run_in_order_around_the_step_once_and_can_be_removed():
    w, opt = sgd()
    seen = []
    opt.register_step_pre_hook(lambda o, args, kwargs: seen.append(("pre", w.tolist())))
    handle = opt.register_step_post_hook(lambda o, args, kwargs: seen.append(("post",
                                                                             w.tolist())))
    global_handle = register_optimizer_step_pre_hook(lambda o, a, k: seen.append(("global",)))
    try:
        w.grad = graphc.ones(2, dtype=graphc.float64)
        opt.step()
    finally:
        global_handle.remove()
    assert seen == [("global",), ("pre", [1.0, -2.0]), ("post", [0.9, -2.1])]
    handle.remove()
    opt.step()
    assert len(seen) == 4  # the pre-hook only

    class Wrapped(optim.SGD):  # a subclass calling super().step(): the hooks still run once
        def step(self, closure=None):
            return super().step(closure)

    count = []
    other = Wrapped([Parameter(graphc.ones(1))], lr=0.1)
    other.register_step_pre_hook(lambda o, a, k: count.append(1))
    other.step()
    assert count == [1]


def test_a_pre_hook_may_replace_the_arguments_and_state_dict_hooks_see_the_dict():
    w, opt = sgd()
    w.grad = graphc.ones(2, dtype=graphc.float64)
    calls = []
    opt.register_step_pre_hook(lambda o, args, kwargs: ((lambda: calls.append(1) or 7.0,), {}))
    assert opt.step() == 7.0 and calls == [1]
    opt.register_state_dict_post_hook(lambda o, sd: {**sd, "note": "kept"})
    loaded = []
    opt.register_load_state_dict_pre_hook(lambda o, sd: loaded.append(sorted(sd)))
    opt.register_load_state_dict_post_hook(lambda o: loaded.append("done"))
    saved = opt.state_dict()
    assert saved["note"] == "kept"
    opt.load_state_dict(saved)
    assert loaded == [["note", "param_groups", "state"], "done"]


def test_compiled_steps_run_the_hooks_traced_and_retrace_when_one_is_added():
    def run(compiled):
        w, opt = sgd()

        def step():
            opt.zero_grad()
            loss = (w * w).sum()
            loss.backward()
            opt.step()
            return loss

        fn = graphc.compile(step) if compiled else step
        fn()
        with graphc.no_grad():  # a post-hook keeping the weights in [-1.5, 1.5]
            opt.register_step_post_hook(lambda o, a, k: w.data.clamp_(-1.5, 1.5))
        for _ in range(2):
            fn()
        return w.numpy(), fn

    eager, _ = run(False)
    compiled, fn = run(True)
    np.testing.assert_allclose(compiled, eager, rtol=1e-12)
    assert np.abs(eager).max() <= 1.5 and len(fn.entries) == 2, fn.explain()
    assert "step hooks" in fn.explain()
