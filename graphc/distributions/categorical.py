"""``Categorical(probs=|logits=)`` (``torch.distributions.Categorical``): one of ``K``
categories, the last dimension of the parameter; ``probs`` are normalized to sum to 1 and
``logits`` to ``logits - logsumexp(logits)``.

    >>> d = Categorical(logits=graphc.tensor([0.0, 0.0]))
    >>> d.logits.exp().tolist(), d.sample((3,)).shape
    ([0.5, 0.5], (3,))
"""
from __future__ import annotations

import math

import graphc
from graphc.distributions import constraints
from graphc.distributions.distribution import Distribution
from graphc.distributions.utils import lazy_property, logits_to_probs, probs_to_logits
from graphc.tensor import Tensor

__all__ = ["Categorical"]


def _parameter(value, name: str) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"Categorical: `{name}` must be a graphc.Tensor, got "
                        f"{type(value).__name__}")
    if value.ndim < 1:
        raise ValueError(f"`{name}` parameter must be at least one-dimensional.")
    return value


class Categorical(Distribution):
    """Integer samples in ``[0, K)`` with probabilities ``probs[..., k]`` (or
    ``softmax(logits)``); batch shape is the parameter's shape less its last dimension."""
    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            probs = _parameter(probs, "probs")
            self.probs = probs / probs.sum(-1, keepdim=True)
        else:
            logits = _parameter(logits, "logits")
            self.logits = logits - logits.logsumexp(dim=-1, keepdim=True)
        self._param = self.probs if probs is not None else self.logits
        self._num_events = self._param.shape[-1]
        batch_shape = self._param.shape[:-1] if self._param.ndim > 1 else ()
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Categorical, _instance)
        batch_shape = tuple(batch_shape)
        param_shape = batch_shape + (self._num_events,)
        if "probs" in self.__dict__:
            new.probs = self.probs.expand(param_shape)
            new._param = new.probs
        if "logits" in self.__dict__:
            new.logits = self.logits.expand(param_shape)
            new._param = new.logits
        new._num_events = self._num_events
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        return constraints.integer_interval(0, self._num_events - 1)

    @lazy_property
    def logits(self):
        return probs_to_logits(self.probs)

    @lazy_property
    def probs(self):
        return logits_to_probs(self.logits)

    @property
    def param_shape(self) -> tuple:
        return self._param.shape

    @property
    def mean(self):
        return graphc.full(self._extended_shape(), math.nan, dtype=self.probs.dtype)

    @property
    def mode(self):
        return self.probs.argmax(dim=-1)

    @property
    def variance(self):
        return graphc.full(self._extended_shape(), math.nan, dtype=self.probs.dtype)

    def sample(self, sample_shape=()):
        sample_shape = tuple(sample_shape) if not isinstance(sample_shape, int) \
            else (sample_shape,)
        with graphc.no_grad():
            probs_2d = self.probs.reshape(-1, self._num_events)
            count = math.prod(sample_shape)
            samples_2d = graphc.multinomial(probs_2d, count, True).T
        return samples_2d.reshape(self._extended_shape(sample_shape))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        value = value.long().unsqueeze(-1)
        value, log_pmf = graphc.broadcast_tensors(value, self.logits)
        return log_pmf.gather(-1, value[..., :1]).squeeze(-1)

    def entropy(self):
        min_real = graphc.finfo(self.logits.dtype).min
        logits = self.logits.clamp(min=min_real)  # -inf logits of impossible categories
        return -(logits * self.probs).sum(-1)

    def enumerate_support(self, expand: bool = True):
        values = graphc.arange(self._num_events, dtype=graphc.int64)
        values = values.reshape((-1,) + (1,) * len(self._batch_shape))
        if expand:
            values = values.expand((self._num_events,) + self._batch_shape)
        return values
