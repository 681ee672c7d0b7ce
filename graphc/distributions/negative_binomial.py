"""``NegativeBinomial(total_count, probs=|logits=)`` (``torch.distributions.NegativeBinomial``):
the number of successes before ``total_count`` failures, success probability ``probs``.

    >>> d = NegativeBinomial(3.0, probs=graphc.tensor(0.4, dtype=graphc.float64))
    >>> round(d.mean.item(), 6), round(d.log_prob(graphc.tensor(1.0, dtype=graphc.float64)).item(), 6)
    (2.0, -1.350155)
"""
from __future__ import annotations

import graphc
import graphc.nn.functional as F
from graphc.distributions import constraints
from graphc.distributions._logits import (
    BinaryProbsOrLogits,
    expand_probs_or_logits,
    init_probs_or_logits,
)
from graphc.distributions.distribution import Distribution
from graphc.distributions.gamma import Gamma

__all__ = ["NegativeBinomial"]


class NegativeBinomial(BinaryProbsOrLogits, Distribution):
    """Successes before ``total_count`` (a positive real) failures; samples are
    ``Poisson(Gamma(total_count, exp(-logits)))`` draws (eager, from graphc's generator)."""
    arg_constraints = {"total_count": constraints.greater_than_eq(0),
                       "probs": constraints.half_open_interval(0.0, 1.0),
                       "logits": constraints.real}
    support = constraints.nonnegative_integer

    def __init__(self, total_count, probs=None, logits=None, validate_args=None):
        batch_shape = init_probs_or_logits(self, probs, logits, {"total_count": total_count})
        self.total_count = self.total_count.to(self._param.dtype)
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(NegativeBinomial, _instance)
        return expand_probs_or_logits(self, new, batch_shape, ("total_count",))

    @property
    def param_shape(self) -> tuple:
        return self._param.shape

    @property
    def mean(self):
        return self.total_count * self.logits.exp()

    @property
    def mode(self):
        return ((self.total_count - 1) * self.logits.exp()).floor().clamp(min=0.0)

    @property
    def variance(self):
        return self.mean / (-self.logits).sigmoid()

    @property
    def _gamma(self):
        return Gamma(self.total_count, (-self.logits).exp(), validate_args=False)

    def sample(self, sample_shape=()):
        with graphc.no_grad():
            rate = self._gamma.sample(sample_shape)
            return graphc.poisson(rate)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        n = self.total_count
        log_unnormalized = n * F.logsigmoid(-self.logits) + value * F.logsigmoid(self.logits)
        log_normalization = (-graphc.lgamma(n + value) + graphc.lgamma(1.0 + value)
                             + graphc.lgamma(n))
        # n + k = 0 (no failures needed, no successes seen): probability 1
        log_normalization = graphc.where(n + value == 0.0, 0.0, log_normalization)
        return log_unnormalized - log_normalization
