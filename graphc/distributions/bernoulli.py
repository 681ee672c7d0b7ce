"""``Bernoulli(probs=|logits=)`` (``torch.distributions.Bernoulli``).

    >>> round(Bernoulli(logits=0.0).log_prob(graphc.tensor(1.0)).item(), 6)
    -0.693147
"""
from __future__ import annotations

import math

import graphc
import graphc.nn.functional as F
from graphc.distributions import constraints
from graphc.distributions._logits import (
    BinaryProbsOrLogits,
    expand_probs_or_logits,
    init_probs_or_logits,
)
from graphc.distributions.exp_family import ExponentialFamily
from graphc.distributions.utils import broadcast_all

__all__ = ["Bernoulli"]


class Bernoulli(BinaryProbsOrLogits, ExponentialFamily):
    """1 with probability ``probs`` (or ``sigmoid(logits)``), else 0; exactly one of the two is
    given and the other is computed when first read."""
    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        batch_shape = init_probs_or_logits(self, probs, logits, {})
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Bernoulli, _instance)
        return expand_probs_or_logits(self, new, batch_shape, ())

    @property
    def param_shape(self) -> tuple:
        return self._param.shape

    @property
    def mean(self):
        return self.probs

    @property
    def mode(self):
        mode = (self.probs >= 0.5).to(self.probs.dtype)
        return graphc.where(self.probs == 0.5, math.nan, mode)  # a tie has no mode

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        with graphc.no_grad():
            return graphc.bernoulli(self.probs.expand(shape))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        return -F.binary_cross_entropy_with_logits(logits, value, reduction="none")

    def entropy(self):
        return F.binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")

    def enumerate_support(self, expand: bool = True):
        values = graphc.arange(2, dtype=self._param.dtype)
        values = values.reshape((-1,) + (1,) * len(self._batch_shape))
        if expand:
            values = values.expand((2,) + self._batch_shape)
        return values

    # exponential family: theta = logit(p), F(theta) = log(1 + e^theta)
    _mean_carrier_measure = 0

    @property
    def _natural_params(self):
        return (graphc.special.logit(self.probs),)

    def _log_normalizer(self, x):
        return x.exp().log1p()
