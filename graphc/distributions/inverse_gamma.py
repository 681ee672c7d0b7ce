"""``InverseGamma(concentration, rate)`` (``torch.distributions.InverseGamma``): ``1 / X`` for
``X ~ Gamma(concentration, rate)``.

    >>> d = InverseGamma(graphc.tensor(3.0, dtype=graphc.float64), 2.0)
    >>> d.mean.item(), d.mode.item()
    (1.0, 0.5)
"""
from __future__ import annotations

import math

import graphc
from graphc.distributions import constraints
from graphc.distributions.gamma import Gamma
from graphc.distributions.transformed_distribution import TransformedDistribution
from graphc.distributions.transforms import PowerTransform

__all__ = ["InverseGamma"]


class InverseGamma(TransformedDistribution):
    """The inverse gamma distribution: ``Gamma(concentration, rate)`` through
    ``PowerTransform(-1)``; reparameterized through the Gamma's ``rsample`` (eager only).
    ``mean`` is infinite for ``concentration <= 1`` and ``variance`` for ``<= 2``."""
    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.positive  # type: ignore[assignment]
    has_rsample = True  # type: ignore[assignment]

    def __init__(self, concentration, rate, validate_args=None):
        base = Gamma(concentration, rate, validate_args=validate_args)
        minus_one = graphc.full((), -1.0, dtype=base.rate.dtype)
        super().__init__(base, PowerTransform(minus_one), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(InverseGamma, _instance)
        return super().expand(batch_shape, _instance=new)

    @property
    def concentration(self):
        return self.base_dist.concentration

    @property
    def rate(self):
        return self.base_dist.rate

    @property
    def mean(self):
        a = self.concentration
        return graphc.where(a > 1, self.rate / (a - 1), math.inf)

    @property
    def mode(self):
        return self.rate / (self.concentration + 1)

    @property
    def variance(self):
        a = self.concentration
        return graphc.where(a > 2, self.rate.square() / ((a - 1).square() * (a - 2)), math.inf)

    def entropy(self):
        a = self.concentration
        return a + self.rate.log() + graphc.lgamma(a) - (1 + a) * graphc.digamma(a)
