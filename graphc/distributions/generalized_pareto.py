"""``GeneralizedPareto(loc, scale, concentration)``
(``torch.distributions.GeneralizedPareto``): the distribution of threshold excesses in
extreme value theory, ``P(X > x) = (1 + xi z)^(-1/xi)``, ``z = (x - loc) / scale``
(``exp(-z)`` at ``xi = 0``); unbounded above for ``xi >= 0``, up to ``loc - scale / xi``
for ``xi < 0``.

    >>> d = GeneralizedPareto(graphc.tensor(0.0, dtype=graphc.float64), 1.0, 0.0)  # Exp(1)
    >>> round(d.log_prob(graphc.tensor(2.0, dtype=graphc.float64)).item(), 12), d.mean.item()
    (-2.0, 1.0)
"""
from __future__ import annotations

import math

import graphc
from graphc.distributions import constraints
from graphc.distributions._params import expand_broadcast, init_broadcast
from graphc.distributions.distribution import Distribution

__all__ = ["GeneralizedPareto"]

_NAMES = ("loc", "scale", "concentration")


class GeneralizedPareto(Distribution):
    """The generalized Pareto distribution; ``rsample`` is the inverse CDF of uniforms
    (reparameterized). A concentration within 1e-8 of 0 uses the exponential limit, as
    PyTorch's ``isclose``. ``mean`` is NaN for ``xi >= 1``, ``variance`` for ``xi >= 1/2``."""
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive,
                       "concentration": constraints.real}
    has_rsample = True

    def __init__(self, loc, scale, concentration, validate_args=None):
        init_broadcast(self, _NAMES, (loc, scale, concentration), validate_args)

    def expand(self, batch_shape, _instance=None):
        return expand_broadcast(self, GeneralizedPareto, _NAMES, batch_shape, _instance)

    def _near_zero(self):
        """Where the concentration is 0 (the exponential limit), and a safe divisor."""
        zero = self.concentration.abs() <= 1e-8
        return zero, graphc.where(zero, 1.0, self.concentration)

    def _z(self, x):
        return (x - self.loc) / self.scale

    def rsample(self, sample_shape=()):
        u = graphc.rand(self._extended_shape(sample_shape), dtype=self.loc.dtype)
        return self.icdf(u)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        z = self._z(value)
        zero, xi = self._near_zero()
        power = 1 / xi + 1
        nonzero = graphc.where(power == 0, power, power * (xi * z).log1p())
        return -self.scale.log() - graphc.where(zero, z, nonzero)

    def log_survival_function(self, value):
        """``log P(X > value)``."""
        if self._validate_args:
            self._validate_sample(value)
        z = self._z(value)
        zero, xi = self._near_zero()
        return graphc.where(zero, -z, -(xi * z).log1p() / xi)

    def log_cdf(self, value):
        return (-self.log_survival_function(value).exp()).log1p()

    def cdf(self, value):
        return self.log_cdf(value).exp()

    def icdf(self, value):
        zero, xi = self._near_zero()
        log_u = (-value).log1p()
        nonzero = self.loc + self.scale / xi * (-xi * log_u).expm1()
        return graphc.where(zero, self.loc - self.scale * log_u, nonzero)

    @property
    def mean(self):
        xi = self.concentration
        valid = xi < 1
        safe = graphc.where(valid, xi, 0.5)
        return graphc.where(valid, self.loc + self.scale / (1 - safe), math.nan)

    @property
    def variance(self):
        xi = self.concentration
        valid = xi < 0.5
        safe = graphc.where(valid, xi, 0.25)
        var = self.scale.pow(2) / ((1 - safe).pow(2) * (1 - 2 * safe))
        return graphc.where(valid, var, math.nan)

    def entropy(self):
        return (self.scale.log() + self.concentration + 1).expand(self._batch_shape)

    @property
    def mode(self):
        return self.loc

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        lower = self.loc
        xi = self.concentration
        upper = graphc.where(xi < 0, lower - self.scale / graphc.where(xi < 0, xi, -1.0),
                             math.inf)
        return constraints.interval(lower, upper)
