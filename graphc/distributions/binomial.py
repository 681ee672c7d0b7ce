"""``Binomial(total_count, probs=|logits=)`` (``torch.distributions.Binomial``).

    >>> d = Binomial(10, probs=graphc.tensor(0.3, dtype=graphc.float64))
    >>> round(d.log_prob(graphc.tensor(3.0, dtype=graphc.float64)).exp().item(), 6)
    0.266828
"""
from __future__ import annotations

import graphc
from graphc.distributions import _sampling, constraints
from graphc.distributions._logits import (
    BinaryProbsOrLogits,
    expand_probs_or_logits,
    init_probs_or_logits,
)
from graphc.distributions.distribution import Distribution

__all__ = ["Binomial"]


def _clamp_by_zero(x):
    # max(x, 0) with gradient 1/2 at 0 (PyTorch's)
    return (x.clamp(min=0) + x - x.clamp(max=0)) / 2


def _homogeneous_count(total_count, what: str) -> int:
    count = int(total_count.max().item())
    if not int(total_count.min().item()) == count:
        raise NotImplementedError(f"Inhomogeneous total count not supported by `{what}`.")
    return count


class Binomial(BinaryProbsOrLogits, Distribution):
    """The number of successes in ``total_count`` independent trials of probability
    ``probs`` (or ``sigmoid(logits)``); ``total_count`` takes the parameter's dtype."""
    arg_constraints = {"total_count": constraints.nonnegative_integer,
                       "probs": constraints.unit_interval, "logits": constraints.real}
    has_enumerate_support = True

    def __init__(self, total_count=1, probs=None, logits=None, validate_args=None):
        batch_shape = init_probs_or_logits(self, probs, logits, {"total_count": total_count})
        self.total_count = self.total_count.to(self._param.dtype)
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Binomial, _instance)
        return expand_probs_or_logits(self, new, batch_shape, ("total_count",))

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        return constraints.integer_interval(0, self.total_count)

    @property
    def param_shape(self) -> tuple:
        return self._param.shape

    @property
    def mean(self):
        return self.total_count * self.probs

    @property
    def mode(self):
        return ((self.total_count + 1) * self.probs).floor().clamp(max=self.total_count)

    @property
    def variance(self):
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape=()):
        _sampling.eager_only("Binomial", self.total_count, self._param)
        shape = self._extended_shape(sample_shape)
        n = _sampling.array(self.total_count.expand(shape)).astype("int64")
        p = _sampling.array(self.probs.expand(shape))
        draws = _sampling.numpy_rng().binomial(n, p)
        return graphc.tensor(draws, dtype=self._param.dtype)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        n = self.total_count
        log_factorial_n = graphc.lgamma(n + 1)
        log_factorial_k = graphc.lgamma(value + 1)
        log_factorial_nmk = graphc.lgamma(n - value + 1)
        # n log(1 + e^logits) written to stay finite for large |logits|
        normalize = (n * _clamp_by_zero(self.logits)
                     + n * (-self.logits.abs()).exp().log1p() - log_factorial_n)
        return value * self.logits - log_factorial_k - log_factorial_nmk - normalize

    def entropy(self):
        _homogeneous_count(self.total_count, "entropy")
        log_prob = self.log_prob(self.enumerate_support(False))
        return -(log_prob.exp() * log_prob).sum(0)

    def enumerate_support(self, expand: bool = True):
        count = _homogeneous_count(self.total_count, "enumerate_support")
        values = graphc.arange(1 + count, dtype=self._param.dtype)
        values = values.reshape((-1,) + (1,) * len(self._batch_shape))
        if expand:
            values = values.expand((count + 1,) + self._batch_shape)
        return values
