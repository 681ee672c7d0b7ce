"""SGD's and Adam's eager steps on NumPy arrays (graphc/optim/eager_arrays.py) keep every bit of
their tensor-op steps, and are left to the tensor ops wherever they do not apply."""
import numpy as np
import pytest

import graphc
from graphc.optim.eager_arrays import host_pairs

CONFIGS = [
    (graphc.optim.SGD, dict(lr=0.1)),
    (graphc.optim.SGD, dict(lr=0.1, maximize=True, weight_decay=0.01)),
    (graphc.optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.1)),
    (graphc.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    (graphc.optim.Adam, dict(lr=1e-2)),
    (graphc.optim.Adam, dict(lr=1e-2, weight_decay=0.1, maximize=True)),
    (graphc.optim.Adam, dict(lr=1e-2, amsgrad=True, betas=(0.8, 0.99), eps=1e-6)),
    (graphc.optim.AdamW, dict(lr=1e-2, weight_decay=0.1, amsgrad=True)),
]


def _run(cls, kwargs, dtype, eager: bool, monkeypatch):
    with monkeypatch.context() as m:
        if not eager:
            m.setattr(cls, "_eager_step", lambda self, *args: False)
        rng = np.random.default_rng(0)
        params = [graphc.nn.Parameter(graphc.tensor(rng.standard_normal(s), dtype=dtype))
                  for s in ((3, 4), (4,), (2, 2, 2))]
        opt = cls([{"params": params[:2]}, {"params": params[2:], "lr": 0.03}], **kwargs)
        for _ in range(4):
            for p in params:
                p.grad = graphc.tensor(rng.standard_normal(tuple(p.shape)) * 3, dtype=dtype)
            opt.step()
        state = [np.asarray(v.numpy()) for p in params for v in opt.state[p].values()]
        return [p.detach().numpy() for p in params] + state, [p._version for p in params]


@pytest.mark.parametrize("dtype", [graphc.float32, graphc.float64])
@pytest.mark.parametrize("cls,kwargs", CONFIGS)
def test_eager_arrays_keep_the_tensor_steps_bits(cls, kwargs, dtype, monkeypatch):
    fast, fast_versions = _run(cls, kwargs, dtype, True, monkeypatch)
    slow, slow_versions = _run(cls, kwargs, dtype, False, monkeypatch)
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    assert fast_versions == slow_versions  # (an in-place update moves a version either way)


def test_eager_arrays_apply_only_to_plain_host_floats():
    w = graphc.nn.Parameter(graphc.randn(3))
    w.grad = graphc.randn(3)
    assert host_pairs({"params": [w]}) is not None
    half = graphc.nn.Parameter(graphc.randn(3).half())
    half.grad = graphc.randn(3).half()
    assert host_pairs({"params": [w, half]}) is None
    viewed = graphc.nn.Parameter(graphc.randn(2, 3))
    viewed.grad = graphc.randn(2, 3)
    row = viewed[0]  # (a live view follows in-place updates: the tensor ops keep it so)
    assert host_pairs({"params": [viewed]}) is None
    del row
    assert host_pairs({"params": [graphc.nn.Parameter(graphc.randn(2))]}) == []  # no grad


def test_a_reference_to_a_parameter_sees_the_update():
    w = graphc.nn.Parameter(graphc.tensor([1.0, 2.0]))
    held = w
    opt = graphc.optim.Adam([w], lr=0.1)
    (w * w).sum().backward()
    version = w._version
    opt.step()
    assert held is w and w._version == version + 1
    np.testing.assert_allclose(w.detach().numpy(), [0.9, 1.9], rtol=1e-6)


def test_compiled_step_equals_eager_step():
    def train(opt_cls, compiled: bool):
        graphc.manual_seed(0)
        model = graphc.nn.Linear(4, 2)
        opt = opt_cls(model.parameters(), lr=0.1)
        x, y = graphc.randn(8, 4), graphc.randint(0, 2, (8,))

        def step():
            opt.zero_grad()
            graphc.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        run = graphc.compile(step) if compiled else step
        for _ in range(3):
            run()
        return [p.detach().numpy() for p in model.parameters()]

    for opt_cls in (graphc.optim.SGD, graphc.optim.Adam):
        for a, b in zip(train(opt_cls, False), train(opt_cls, True)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # float32
