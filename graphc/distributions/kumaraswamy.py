"""``Kumaraswamy(concentration1, concentration0)`` (``torch.distributions.Kumaraswamy``): the
distribution on ``[0, 1]`` with CDF ``1 - (1 - x^a)^b``, a Beta look-alike with a closed-form
inverse CDF.

    >>> d = Kumaraswamy(graphc.tensor(1.0, dtype=graphc.float64), 1.0)  # uniform
    >>> round(d.mean.item(), 12), round(d.variance.item(), 12)
    (0.5, 0.083333333333)
"""
from __future__ import annotations

import math

import graphc
from graphc.distributions import constraints
from graphc.distributions.transformed_distribution import TransformedDistribution
from graphc.distributions.transforms import AffineTransform, PowerTransform
from graphc.distributions.uniform import Uniform
from graphc.distributions.utils import broadcast_all, euler_constant

__all__ = ["Kumaraswamy"]


def _moment(a, b, n: int):
    """``E[X^n] = b B(1 + n/a, b)``."""
    arg = 1 + n / a
    return b * (graphc.lgamma(arg) + graphc.lgamma(b) - graphc.lgamma(arg + b)).exp()


class Kumaraswamy(TransformedDistribution):
    """``X = (1 - U^(1/b))^(1/a)`` for ``U ~ Uniform(0, 1)``, ``a = concentration1``,
    ``b = concentration0`` (reparameterized). ``mode`` is NaN unless both are at least 1
    (PyTorch's is NaN for every ``b > 1`` too: a wrong formula, see ``mode``)."""
    arg_constraints = {"concentration1": constraints.positive,
                       "concentration0": constraints.positive}
    support = constraints.unit_interval  # type: ignore[assignment]
    has_rsample = True  # type: ignore[assignment]

    def __init__(self, concentration1, concentration0, validate_args=None):
        self.concentration1, self.concentration0 = broadcast_all(concentration1, concentration0)
        base = Uniform(graphc.zeros_like(self.concentration0),
                       graphc.ones_like(self.concentration0), validate_args=validate_args)
        transforms = [PowerTransform(self.concentration0.reciprocal()),
                      AffineTransform(1.0, -1.0),
                      PowerTransform(self.concentration1.reciprocal())]
        super().__init__(base, transforms, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Kumaraswamy, _instance)
        new.concentration1 = self.concentration1.expand(batch_shape)
        new.concentration0 = self.concentration0.expand(batch_shape)
        return super().expand(batch_shape, _instance=new)

    @property
    def mean(self):
        return _moment(self.concentration1, self.concentration0, 1)

    @property
    def mode(self):
        # ((a - 1) / (a b - 1))^(1/a) where a, b >= 1 (0 at a = 1, 1 at b = 1), NaN (no
        # mode: the density is unbounded) where either is below 1. (PyTorch writes
        # log(1 - b) / b - log(1 - a b), NaN for every b > 1: its mode is always NaN)
        a, b = self.concentration1, self.concentration0
        log_mode = ((a - 1).log() - (a * b - 1).log()) / a
        return graphc.where((b < 1) | (a < 1), math.nan, log_mode).exp()

    @property
    def variance(self):
        return (_moment(self.concentration1, self.concentration0, 2)
                - self.mean.pow(2))

    def entropy(self):
        a, b = self.concentration1, self.concentration0
        harmonic = graphc.digamma(b + 1) + euler_constant  # H_b
        return (1 - b.reciprocal()) + (1 - a.reciprocal()) * harmonic - a.log() - b.log()
