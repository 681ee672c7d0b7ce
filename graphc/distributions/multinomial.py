"""``Multinomial(total_count, probs=|logits=)`` (``torch.distributions.Multinomial``): counts
of ``total_count`` draws from a :class:`Categorical`.

    >>> d = Multinomial(4, probs=graphc.tensor([0.5, 0.5], dtype=graphc.float64))
    >>> round(d.log_prob(graphc.tensor([2.0, 2.0], dtype=graphc.float64)).exp().item(), 6)
    0.375
"""
from __future__ import annotations

import math

import graphc
import graphc.nn.functional as F
from graphc.distributions import constraints
from graphc.distributions.binomial import Binomial
from graphc.distributions.categorical import Categorical
from graphc.distributions.distribution import Distribution
from graphc.distributions.utils import broadcast_all

__all__ = ["Multinomial"]


class Multinomial(Distribution):
    """Count vectors (event shape ``(K,)``) of ``total_count`` categorical draws; ``log_prob``
    does not need ``total_count`` (it reads the counts' sum), ``sample`` does."""
    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}

    def __init__(self, total_count=1, probs=None, logits=None, validate_args=None):
        if not isinstance(total_count, int) or isinstance(total_count, bool):
            raise NotImplementedError("inhomogeneous total_count is not supported")
        self.total_count = total_count
        self._categorical = Categorical(probs=probs, logits=logits)
        self._binomial = Binomial(total_count=total_count, probs=self.probs)
        super().__init__(self._categorical.batch_shape, self._categorical.param_shape[-1:],
                         validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Multinomial, _instance)
        batch_shape = tuple(batch_shape)
        new.total_count = self.total_count
        new._categorical = self._categorical.expand(batch_shape)
        new._binomial = Binomial(self.total_count, probs=new._categorical.probs,
                                 validate_args=False)
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @constraints.dependent_property(is_discrete=True, event_dim=1)
    def support(self):
        return constraints.multinomial(self.total_count)

    @property
    def _param(self):
        return self._categorical._param

    @property
    def probs(self):
        return self._categorical.probs

    @property
    def logits(self):
        return self._categorical.logits

    @property
    def param_shape(self) -> tuple:
        return self._categorical.param_shape

    @property
    def mean(self):
        return self.probs * self.total_count

    @property
    def variance(self):
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape=()):
        sample_shape = (sample_shape,) if isinstance(sample_shape, int) else tuple(sample_shape)
        k = self._categorical._num_events
        with graphc.no_grad():
            draws = self._categorical.sample((self.total_count,) + sample_shape)
            counts = F.one_hot(draws, k).sum(0) if self.total_count > 0 else graphc.zeros(
                self._extended_shape(sample_shape), dtype=graphc.int64)
        return counts.to(self.probs.dtype)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        log_factorial_n = graphc.lgamma(value.sum(-1) + 1)
        log_factorial_xs = graphc.lgamma(value + 1).sum(-1)
        # an impossible category counted zero times contributes 0, not 0 * -inf
        logits = graphc.where((value == 0) & (logits == -math.inf), 0.0, logits)
        return log_factorial_n - log_factorial_xs + (logits * value).sum(-1)

    def entropy(self):
        n = float(self.total_count)
        term1 = n * self._categorical.entropy() - math.lgamma(n + 1)
        support = self._binomial.enumerate_support(expand=False)[1:]
        binomial_probs = self._binomial.log_prob(support).exp()
        weights = graphc.lgamma(support + 1)
        return term1 + (binomial_probs * weights).sum((0, -1))
