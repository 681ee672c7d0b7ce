"""The ``probs=|logits=`` construction and ``expand`` that Bernoulli, Binomial, Geometric,
NegativeBinomial and the relaxed Bernoulli share: exactly one of the two is given (broadcast
with the other tensor parameters), and the other is computed when first read
(:class:`BinaryProbsOrLogits`)."""
from __future__ import annotations

from graphc.distributions.distribution import Distribution
from graphc.distributions.utils import (
    broadcast_all,
    is_number,
    lazy_property,
    logits_to_probs,
    probs_to_logits,
)


class BinaryProbsOrLogits:
    """The one of ``probs``/``logits`` not given, computed when first read (a binary event:
    ``logits = log(p / (1 - p))``, ``probs = sigmoid(logits)``)."""

    @lazy_property
    def logits(self):
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self):
        return logits_to_probs(self.logits, is_binary=True)


def init_probs_or_logits(dist: Distribution, probs, logits, others: dict) -> tuple:
    """Sets ``dist.probs`` or ``dist.logits`` and the ``others`` (name: value) broadcast
    together; returns the batch shape (empty when all are numbers)."""
    if (probs is None) == (logits is None):
        raise ValueError("Either `probs` or `logits` must be specified, but not both.")
    name, value = ("probs", probs) if probs is not None else ("logits", logits)
    values = (*others.values(), value)
    tensors = broadcast_all(*values)
    for key, tensor in zip((*others, name), tensors):
        setattr(dist, key, tensor)
    dist._param = tensors[-1]
    return () if all(is_number(v) for v in values) else tuple(tensors[-1].shape)


def expand_probs_or_logits(dist: Distribution, new: Distribution, batch_shape,
                           others: tuple) -> Distribution:
    """``new`` (an instance of ``dist``'s class) set up as ``dist`` expanded."""
    batch_shape = tuple(batch_shape)
    for name in others:
        setattr(new, name, getattr(dist, name).expand(batch_shape))
    for name in ("probs", "logits"):
        if name in dist.__dict__:
            setattr(new, name, dist.__dict__[name].expand(batch_shape))
            new._param = getattr(new, name)
    Distribution.__init__(new, batch_shape, validate_args=False)
    new._validate_args = dist._validate_args
    return new
