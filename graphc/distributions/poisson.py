"""``Poisson(rate)`` (``torch.distributions.Poisson``).

    >>> round(Poisson(2.0).log_prob(graphc.tensor(3.0)).item(), 6)
    -1.712318
"""
from __future__ import annotations

import graphc
from graphc.distributions import _sampling, constraints
from graphc.distributions._params import expand_broadcast, init_broadcast
from graphc.distributions.exp_family import ExponentialFamily
from graphc.distributions.utils import broadcast_all

__all__ = ["Poisson"]


class Poisson(ExponentialFamily):
    """Counts with mean ``rate``; samples are drawn eagerly from graphc's generator
    (``graphc.poisson``: NumPy's sampler), without gradient."""
    arg_constraints = {"rate": constraints.nonnegative}
    support = constraints.nonnegative_integer

    def __init__(self, rate, validate_args=None):
        init_broadcast(self, ("rate",), (rate,), validate_args)

    def expand(self, batch_shape, _instance=None):
        return expand_broadcast(self, Poisson, ("rate",), batch_shape, _instance)

    @property
    def mean(self):
        return self.rate

    @property
    def mode(self):
        return self.rate.floor()

    @property
    def variance(self):
        return self.rate

    def sample(self, sample_shape=()):
        _sampling.eager_only("Poisson", self.rate)
        shape = self._extended_shape(sample_shape)
        with graphc.no_grad():
            return graphc.poisson(self.rate.expand(shape))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        rate, value = broadcast_all(self.rate, value)
        return value.xlogy(rate) - rate - graphc.lgamma(value + 1)

    # exponential family: theta = log(rate), F(theta) = e^theta
    @property
    def _natural_params(self):
        return (self.rate.log(),)

    def _log_normalizer(self, x):
        return x.exp()
