"""``RelaxedBernoulli(temperature, probs=|logits=)`` and ``LogitRelaxedBernoulli``
(``torch.distributions.RelaxedBernoulli``): the binary Concrete / Gumbel-softmax relaxation.

    >>> d = RelaxedBernoulli(graphc.tensor(0.5), probs=graphc.tensor([0.2, 0.9]))
    >>> d.rsample((3,)).shape
    (3, 2)
"""
from __future__ import annotations

import math

import graphc
from graphc.distributions import constraints
from graphc.distributions._logits import (
    BinaryProbsOrLogits,
    expand_probs_or_logits,
    init_probs_or_logits,
)
from graphc.distributions.distribution import Distribution
from graphc.distributions.transformed_distribution import TransformedDistribution
from graphc.distributions.transforms import SigmoidTransform
from graphc.distributions.utils import (
    broadcast_all,
    clamp_probs,
)

__all__ = ["LogitRelaxedBernoulli", "RelaxedBernoulli"]


class LogitRelaxedBernoulli(BinaryProbsOrLogits, Distribution):
    """The logit of a :class:`RelaxedBernoulli` sample: ``(logits + logistic noise) /
    temperature``."""
    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.real
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        self.temperature = temperature
        batch_shape = init_probs_or_logits(self, probs, logits, {})
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(LogitRelaxedBernoulli, _instance)
        new.temperature = self.temperature
        return expand_probs_or_logits(self, new, batch_shape, ())

    @property
    def param_shape(self) -> tuple:
        return self._param.shape

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        probs = clamp_probs(self.probs.expand(shape))
        uniforms = clamp_probs(graphc.rand(shape, dtype=probs.dtype))
        return (uniforms.log() - (-uniforms).log1p() + probs.log()
                - (-probs).log1p()) / self.temperature

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        diff = logits - value * self.temperature
        t = self.temperature
        log_t = t.log() if isinstance(t, graphc.Tensor) else math.log(t)
        return log_t + diff - 2 * diff.exp().log1p()


class RelaxedBernoulli(TransformedDistribution):
    """``sigmoid`` of a :class:`LogitRelaxedBernoulli`: values in (0, 1) that approach
    Bernoulli draws as ``temperature`` goes to 0, reparameterized."""
    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.unit_interval  # type: ignore[assignment]
    has_rsample = True  # type: ignore[assignment]

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        base = LogitRelaxedBernoulli(temperature, probs, logits)
        super().__init__(base, SigmoidTransform(), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(RelaxedBernoulli, _instance)
        return super().expand(batch_shape, _instance=new)

    @property
    def temperature(self):
        return self.base_dist.temperature

    @property
    def logits(self):
        return self.base_dist.logits

    @property
    def probs(self):
        return self.base_dist.probs
