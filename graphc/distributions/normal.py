"""``Normal(loc, scale)`` (``torch.distributions.Normal``).

    >>> d = Normal(0.0, 1.0)
    >>> round(d.log_prob(graphc.tensor(0.0)).item(), 6), round(d.cdf(graphc.tensor(0.0)).item(), 6)
    (-0.918939, 0.5)
"""
from __future__ import annotations

import math

import graphc
from graphc.distributions import constraints
from graphc.distributions._params import expand_broadcast, init_broadcast
from graphc.distributions.exp_family import ExponentialFamily

__all__ = ["Normal"]


class Normal(ExponentialFamily):
    """The normal distribution with mean ``loc`` and standard deviation ``scale``; ``rsample``
    is ``loc + scale * eps`` with ``eps`` from ``graphc.randn``."""
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        init_broadcast(self, ("loc", "scale"), (loc, scale), validate_args)

    def expand(self, batch_shape, _instance=None):
        return expand_broadcast(self, Normal, ("loc", "scale"), batch_shape, _instance)

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def stddev(self):
        return self.scale

    @property
    def variance(self):
        return self.stddev.pow(2)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        eps = graphc.randn(shape, dtype=self.loc.dtype)
        return self.loc + eps * self.scale

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        var = self.scale ** 2
        return (-((value - self.loc) ** 2) / (2 * var) - self.scale.log()
                - math.log(math.sqrt(2 * math.pi)))

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 0.5 * (1 + graphc.erf((value - self.loc) * self.scale.reciprocal()
                                     / math.sqrt(2)))

    def icdf(self, value):
        return self.loc + self.scale * graphc.erfinv(2 * value - 1) * math.sqrt(2)

    def entropy(self):
        return 0.5 + 0.5 * math.log(2 * math.pi) + self.scale.log()

    # exponential family: theta = (loc / scale^2, -1 / (2 scale^2)),
    # F(theta) = -theta1^2 / (4 theta2) + log(pi / -theta2) / 2
    _mean_carrier_measure = 0

    @property
    def _natural_params(self):
        return (self.loc / self.scale.pow(2), -0.5 * self.scale.pow(2).reciprocal())

    def _log_normalizer(self, x, y):
        return -0.25 * x.pow(2) / y + 0.5 * (-math.pi / y).log()
