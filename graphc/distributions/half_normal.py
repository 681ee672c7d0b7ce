"""``HalfNormal(scale)`` and ``HalfCauchy(scale)`` (``torch.distributions.HalfNormal``,
``HalfCauchy``): ``|X|`` of a centred Normal or Cauchy.

    >>> round(HalfNormal(1.0).cdf(graphc.tensor(1.0)).item(), 6)
    0.682689
"""
from __future__ import annotations

import math

import graphc
from graphc.distributions import constraints
from graphc.distributions.cauchy import Cauchy
from graphc.distributions.normal import Normal
from graphc.distributions.transformed_distribution import TransformedDistribution
from graphc.distributions.transforms import AbsTransform

__all__ = ["HalfCauchy", "HalfNormal"]


class _Half(TransformedDistribution):
    """The shared part: the density doubles on [0, inf) and is 0 below."""
    arg_constraints = {"scale": constraints.positive}
    support = constraints.nonnegative  # type: ignore[assignment]
    has_rsample = True  # type: ignore[assignment]

    @property
    def scale(self):
        return self.base_dist.scale

    @property
    def mode(self):
        return graphc.zeros_like(self.scale)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        log_prob = self.base_dist.log_prob(value) + math.log(2)
        return graphc.where(value >= 0, log_prob, -math.inf)

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 2 * self.base_dist.cdf(value) - 1

    def icdf(self, prob):
        return self.base_dist.icdf((prob + 1) / 2)

    def entropy(self):
        return self.base_dist.entropy() - math.log(2)


class HalfNormal(_Half):
    """``|Normal(0, scale)|``."""

    def __init__(self, scale, validate_args=None):
        super().__init__(Normal(0, scale, validate_args=False), AbsTransform(),
                         validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(HalfNormal, _instance)
        return super().expand(batch_shape, _instance=new)

    @property
    def mean(self):
        return self.scale * math.sqrt(2 / math.pi)

    @property
    def variance(self):
        return self.scale.pow(2) * (1 - 2 / math.pi)


class HalfCauchy(_Half):
    """``|Cauchy(0, scale)|``: no finite mean (inf) or variance (inf), as PyTorch."""

    def __init__(self, scale, validate_args=None):
        super().__init__(Cauchy(0, scale, validate_args=False), AbsTransform(),
                         validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(HalfCauchy, _instance)
        return super().expand(batch_shape, _instance=new)

    @property
    def mean(self):
        return graphc.full(self._extended_shape(), math.inf, dtype=self.scale.dtype)

    @property
    def variance(self):
        return self.base_dist.variance
