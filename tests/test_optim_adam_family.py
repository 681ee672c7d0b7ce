"""The Adam family's shared parameter walk (``graphc.optim.adam.adam_family_parameters``): each
parameter group is stepped with its own hyperparameters, as PyTorch's optimizers do."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from conftest import assert_close
from graphc.nn import Parameter


def nadam_reference(p, steps, lr, betas, eps, weight_decay, momentum_decay, decoupled):
    """PyTorch's NAdam (its documented algorithm) on the loss ``sum(p**2)``, in NumPy; the
    ``mu_product`` state is a float32 scalar, as PyTorch keeps it."""
    beta1, beta2 = betas
    p = p.astype(np.float64).copy()
    m, v, mu_product = np.zeros_like(p), np.zeros_like(p), np.float32(1.0)
    for t in range(1, steps + 1):
        g = 2 * p
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        mu = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        mu_product = np.float32(mu_product * np.float32(mu))
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        denom = np.sqrt(v / (1 - beta2 ** t)) + eps
        p = (p - lr * (1 - mu) / (1 - float(mu_product)) * g / denom
             - lr * mu_next / (1 - float(mu_product) * mu_next) * m / denom)
    return p


def test_nadam_reads_decoupled_weight_decay_per_param_group():
    start = {"decoupled": np.array([1.5, -2.0, 0.5]), "l2": np.array([-1.0, 3.0, 0.25])}
    params = {k: Parameter(graphc.tensor(v, dtype=graphc.float64)) for k, v in start.items()}
    hyper = dict(lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.5, momentum_decay=4e-3)
    opt = graphc.optim.NAdam([{"params": [params["decoupled"]], "decoupled_weight_decay": True},
                              {"params": [params["l2"]]}], **hyper)
    for _ in range(3):
        opt.zero_grad()
        sum((p * p).sum() for p in params.values()).backward()
        opt.step()
    for key, p in params.items():
        expected = nadam_reference(start[key], 3, decoupled=key == "decoupled", **hyper)
        # float32 mu_product: its rounding reaches the update at ~1e-7 relative
        assert_close(p.detach().numpy(), expected, rtol=1e-6, atol=1e-9)
    # the two flags give different updates: a walk that read one group's flag for both fails
    other = nadam_reference(start["l2"], 3, decoupled=True, **hyper)
    assert np.abs(params["l2"].detach().numpy() - other).max() > 1e-3


def adam_reference(p, grads, lr, betas, eps):
    """Adam's documented algorithm in float64, its bias corrections in Python floats."""
    beta1, beta2 = betas
    p, m, v = p.astype(np.float64).copy(), np.zeros_like(p, np.float64), np.zeros_like(p, np.float64)
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        p = p - lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
    return p


@pytest.mark.parametrize("name", ["Adam", "AdamW", "NAdam", "RAdam", "Adamax", "Adagrad"])
@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float32"])
@pytest.mark.parametrize("compiled", [False, True])
def test_adam_family_moves_half_precision_parameters(name, dtype, compiled):
    # the bias corrections were computed in the parameter's dtype: bfloat16 rounds 0.999 to
    # 1, so Adam's 1 - beta2**t was 0 and no bfloat16 parameter ever moved
    grads = [np.array([1.0, -0.5, 0.25]) * (1 + (i % 7) / 7) for i in range(60)]
    p = Parameter(graphc.zeros(3, dtype=getattr(graphc, dtype)))
    opt = getattr(graphc.optim, name)([p], lr=0.01, **({} if name == "Adagrad" else
                                                        {"weight_decay": 0.0}))

    def step(g):
        p.grad = g
        opt.step()
    step = graphc.compile(step) if compiled else step
    for g in grads:
        step(graphc.tensor(g, dtype=p.dtype))
    moved = p.float().numpy()
    assert (np.sign(moved) == -np.sign(grads[0])).all(), moved
    if name in ("Adam", "AdamW"):
        # a 1-ulp bfloat16/float16 rounding per step, over 60 steps of about 0.01
        tol = {"bfloat16": 0.06, "float16": 0.01, "float32": 1e-5}[dtype]
        np.testing.assert_allclose(moved, adam_reference(np.zeros(3), grads, 0.01,
                                                         (0.9, 0.999), 1e-8), atol=tol)


def test_an_in_place_op_stores_a_wider_float_result_as_pytorchs_can_cast_allows():
    x = graphc.zeros(3)
    x.add_(graphc.ones(3, dtype=graphc.float64))  # narrowing within a category is allowed
    assert x.dtype == graphc.float32 and x.tolist() == [1.0, 1.0, 1.0]
    scalar = graphc.zeros(())
    scalar.sub_(graphc.tensor(0.5, dtype=graphc.float64))
    assert scalar.dtype == graphc.float32 and scalar.item() == -0.5
    with pytest.raises(graphc.errors.AutogradError, match="dtype f32 cannot be stored.*i64"):
        graphc.zeros(3, dtype=graphc.int64).add_(graphc.ones(3))
