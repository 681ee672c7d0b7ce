"""``Gumbel(loc, scale)`` (``torch.distributions.Gumbel``), the distribution of the maximum of
many samples (and of Gumbel-max sampling).

    >>> round(Gumbel(0.0, 1.0).cdf(graphc.tensor(0.0)).item(), 6)
    0.367879
"""
from __future__ import annotations

import math

import graphc
from graphc.distributions import constraints
from graphc.distributions._params import expand_broadcast, init_broadcast
from graphc.distributions.distribution import Distribution
from graphc.distributions.utils import euler_constant

__all__ = ["Gumbel"]


class Gumbel(Distribution):
    """The Gumbel distribution with location ``loc`` and scale ``scale``. (PyTorch builds it as a
    TransformedDistribution of a Uniform; here its closed forms are written out, with the same
    values: ``rsample`` is ``loc - scale * log(-log(u))`` for ``u`` in [tiny, 1 - eps].)"""
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        init_broadcast(self, ("loc", "scale"), (loc, scale), validate_args)

    def expand(self, batch_shape, _instance=None):
        return expand_broadcast(self, Gumbel, ("loc", "scale"), batch_shape, _instance)

    @property
    def mean(self):
        return self.loc + self.scale * euler_constant

    @property
    def mode(self):
        return self.loc

    @property
    def stddev(self):
        return (math.pi / math.sqrt(6)) * self.scale

    @property
    def variance(self):
        return self.stddev.pow(2)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        finfo = graphc.finfo(self.loc.dtype)
        u = graphc.rand(shape, dtype=self.loc.dtype).clamp(min=finfo.tiny, max=1 - finfo.eps)
        return self.loc - self.scale * (-u.log()).log()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        y = (self.loc - value) / self.scale
        return (y - y.exp()) - self.scale.log()

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return (-(-(value - self.loc) / self.scale).exp()).exp()

    def icdf(self, value):
        return self.loc - self.scale * (-value.log()).log()

    def entropy(self):
        return self.scale.log() + (1 + euler_constant)
