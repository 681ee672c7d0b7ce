"""The Adam family's shared parameter walk (``graphc.optim.adam.adam_family_parameters``): each
parameter group is stepped with its own hyperparameters, as PyTorch's optimizers do."""
from __future__ import annotations

import numpy as np

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
