"""``Exponential(rate)`` (``torch.distributions.Exponential``).

    >>> round(Exponential(2.0).cdf(graphc.tensor(1.0)).item(), 6)
    0.864665
"""
from __future__ import annotations

import graphc
from graphc.distributions import constraints
from graphc.distributions._params import expand_broadcast, init_broadcast
from graphc.distributions.exp_family import ExponentialFamily

__all__ = ["Exponential"]


class Exponential(ExponentialFamily):
    """The exponential distribution with ``rate`` (mean ``1 / rate``); ``rsample`` is
    ``-log1p(-u) / rate`` for uniform ``u``."""
    arg_constraints = {"rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, rate, validate_args=None):
        init_broadcast(self, ("rate",), (rate,), validate_args)

    def expand(self, batch_shape, _instance=None):
        return expand_broadcast(self, Exponential, ("rate",), batch_shape, _instance)

    @property
    def mean(self):
        return self.rate.reciprocal()

    @property
    def mode(self):
        return graphc.zeros_like(self.rate)

    @property
    def stddev(self):
        return self.rate.reciprocal()

    @property
    def variance(self):
        return self.rate.pow(-2)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        u = graphc.rand(shape, dtype=self.rate.dtype)
        return -(-u).log1p() / self.rate

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return self.rate.log() - self.rate * value

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 1 - (-self.rate * value).exp()

    def icdf(self, value):
        return -(-value).log1p() / self.rate

    def entropy(self):
        return 1.0 - self.rate.log()

    # exponential family: theta = -rate, F(theta) = -log(-theta)
    _mean_carrier_measure = 0

    @property
    def _natural_params(self):
        return (-self.rate,)

    def _log_normalizer(self, x):
        return -(-x).log()
