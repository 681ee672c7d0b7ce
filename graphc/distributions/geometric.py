"""``Geometric(probs=|logits=)`` (``torch.distributions.Geometric``): the number of failures
before the first success.

    >>> round(Geometric(probs=0.5).log_prob(graphc.tensor(2.0)).exp().item(), 6)
    0.125
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
from graphc.distributions.distribution import Distribution, _values_checkable
from graphc.distributions.utils import broadcast_all

__all__ = ["Geometric"]


class Geometric(BinaryProbsOrLogits, Distribution):
    """Failures before the first success of trials with success probability ``probs`` (in
    (0, 1]) or ``sigmoid(logits)``; sampled by inversion, ``floor(log u / log(1 - p))``."""
    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.nonnegative_integer

    def __init__(self, probs=None, logits=None, validate_args=None):
        batch_shape = init_probs_or_logits(self, probs, logits, {})
        super().__init__(batch_shape, validate_args=validate_args)
        if self._validate_args and probs is not None and _values_checkable(self.probs):
            # beyond unit_interval: a success probability of 0 never stops
            value = self.probs
            if not bool((value > 0).all().item()):
                raise ValueError(
                    f"Expected parameter probs ({type(value).__name__} of shape "
                    f"{tuple(value.shape)}) of distribution {self!r} to be positive but found "
                    f"invalid values:\n{value}")

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Geometric, _instance)
        return expand_probs_or_logits(self, new, batch_shape, ())

    @property
    def mean(self):
        return 1.0 / self.probs - 1.0

    @property
    def mode(self):
        return graphc.zeros_like(self.probs)

    @property
    def variance(self):
        return (1.0 / self.probs - 1.0) / self.probs

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        tiny = graphc.finfo(self.probs.dtype).tiny
        with graphc.no_grad():
            u = graphc.rand(shape, dtype=self.probs.dtype).clamp(min=tiny)
            return (u.log() / (-self.probs).log1p()).floor()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        value, probs = broadcast_all(value, self.probs)
        # p = 1 and k = 0: 0 * log(0) is 0 (certain success at the first trial)
        safe = graphc.where((probs == 1) & (value == 0), 0.0, probs)
        return value * (-safe).log1p() + self.probs.log()

    def entropy(self):
        return F.binary_cross_entropy_with_logits(self.logits, self.probs,
                                                  reduction="none") / self.probs
