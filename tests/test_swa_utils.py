"""optim.swa_utils, as PyTorch's: AveragedModel's running mean and EMA of parameters against
NumPy, SWALR's annealing against its closed form, update_bn's statistics against NumPy.
float64 throughout, rtol=1e-12."""
import math

import numpy as np
import pytest

import graphc
from graphc import nn, optim
from graphc.optim.swa_utils import SWALR, AveragedModel, get_ema_avg_fn, update_bn


def snapshots(model, steps=4):
    """Sets the model's weight to a sequence of values; yields each (a copy)."""
    rng = np.random.default_rng(0)
    for _ in range(steps):
        value = rng.standard_normal(model.weight.shape)
        with graphc.no_grad():
            model.weight.copy_(graphc.tensor(value))
        yield value


def test_swa_is_the_mean_and_ema_the_recurrence_of_the_parameters_seen():
    model = nn.Linear(3, 2).double()
    swa, ema = AveragedModel(model), AveragedModel(model, avg_fn=get_ema_avg_fn(0.8))
    seen = []
    for value in snapshots(model):
        seen.append(value)
        swa.update_parameters(model)
        ema.update_parameters(model)
    np.testing.assert_allclose(swa.module.weight.numpy(), np.mean(seen, axis=0), rtol=1e-12)
    expected = seen[0]
    for value in seen[1:]:
        expected = 0.8 * expected + 0.2 * value
    np.testing.assert_allclose(ema.module.weight.numpy(), expected, rtol=1e-12)
    assert swa.n_averaged.item() == 4 and swa.n_averaged.dtype == graphc.int64
    assert swa.module.weight is not model.weight  # a copy: training goes on in the model
    x = graphc.ones(1, 3, dtype=graphc.float64)
    np.testing.assert_allclose(swa(x).numpy(), swa.module(x).numpy())


@pytest.mark.parametrize("strategy", ["cos", "linear"])
def test_swalr_anneals_to_the_swa_rate_and_stays(strategy):
    opt = optim.SGD([nn.Parameter(graphc.zeros(1))], lr=1.0)
    scheduler = SWALR(opt, swa_lr=0.1, anneal_epochs=4, anneal_strategy=strategy)
    rates = []
    for _ in range(7):
        opt.step()
        scheduler.step()
        rates.append(scheduler.get_last_lr()[0])
    anneal = (lambda t: (1 - math.cos(math.pi * t)) / 2) if strategy == "cos" else (lambda t: t)
    # each step moves from the last rate toward 0.1 as the schedule says: alpha_t of the way
    # from the rate the previous alpha implied
    lr, expected = 1.0, []
    for step in range(1, 8):
        prev = anneal(max(0, min(1, (step - 1) / 4)))
        start = 0.1 if prev == 1 else (lr - prev * 0.1) / (1 - prev)
        alpha = anneal(min(1, step / 4))
        lr = 0.1 * alpha + start * (1 - alpha)
        expected.append(lr)
    np.testing.assert_allclose(rates, expected, rtol=1e-12)
    assert rates[-1] == pytest.approx(0.1, rel=1e-12)
    with pytest.raises(ValueError, match="anneal_strategy"):
        SWALR(opt, 0.1, anneal_strategy="step")


def test_update_bn_recomputes_batchnorm_statistics_over_the_loader():
    graphc.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).double()
    model.eval()
    batches = [graphc.tensor(np.random.default_rng(i).standard_normal((8, 3)))
               for i in range(5)]
    update_bn([(b, None) for b in batches], model)
    with graphc.no_grad():
        features = [model[0](b).numpy() for b in batches]
    bn = model[1]
    np.testing.assert_allclose(bn.running_mean.numpy(),
                               np.mean([f.mean(0) for f in features], axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(),
                               np.mean([f.var(0, ddof=1) for f in features], axis=0),
                               rtol=1e-12)
    assert bn.momentum == 0.1 and not model.training  # both restored
