"""``Dirichlet(concentration)`` (``torch.distributions.Dirichlet``): distributions over the
probability simplex of the last dimension.

    >>> d = Dirichlet(graphc.tensor([1.0, 2.0, 3.0], dtype=graphc.float64))
    >>> [round(v, 4) for v in d.mean.tolist()], d.sample((5,)).shape
    ([0.1667, 0.3333, 0.5], (5, 3))
"""
from __future__ import annotations

import graphc
import graphc.nn.functional as F
from graphc.distributions import _sampling, constraints
from graphc.distributions.distribution import Distribution
from graphc.distributions.exp_family import ExponentialFamily
from graphc.special_functions import xlogy
from graphc.tensor import Tensor

__all__ = ["Dirichlet"]


class Dirichlet(ExponentialFamily):
    """The Dirichlet distribution with ``concentration`` (its last dimension the event).
    ``rsample`` normalizes independent Gamma(concentration_i, 1) draws; its gradients are
    those of the Gammas' implicit reparameterization through the normalization (a valid
    pathwise gradient; PyTorch's per-sample gradient differs, its expectation agrees)."""
    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, concentration, validate_args=None):
        if not isinstance(concentration, Tensor):
            raise TypeError(f"Dirichlet: `concentration` must be a graphc.Tensor, got "
                            f"{type(concentration).__name__}")
        if concentration.ndim < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        shape = tuple(concentration.shape)
        super().__init__(shape[:-1], shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Dirichlet, _instance)
        batch_shape = tuple(batch_shape)
        new.concentration = self.concentration.expand(batch_shape + self.event_shape)
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape=()):
        _sampling.eager_only("Dirichlet", self.concentration)
        shape = self._extended_shape(sample_shape)
        gammas = _sampling.rsample_standard_gamma(self.concentration.expand(shape))
        finfo = graphc.finfo(gammas.dtype)
        sample = gammas / gammas.sum(-1, keepdim=True)
        # as PyTorch: never exactly 0 or 1 (log_prob stays finite)
        clamped = sample.detach().clamp(min=finfo.tiny, max=1 - finfo.eps)
        return sample + (clamped - sample.detach())

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        c = self.concentration
        return (xlogy(c - 1.0, value).sum(-1) + graphc.lgamma(c.sum(-1))
                - graphc.lgamma(c).sum(-1))

    @property
    def mean(self):
        return self.concentration / self.concentration.sum(-1, keepdim=True)

    @property
    def mode(self):
        c = self.concentration
        excess = (c - 1).clamp(min=0.0)
        mode = excess / excess.sum(-1, keepdim=True)
        # every concentration below 1: the density peaks at the corner of the largest
        corner = F.one_hot(mode.argmax(-1), c.shape[-1]).to(mode.dtype)
        return graphc.where((c < 1).all(-1, keepdim=True), corner, mode)

    @property
    def variance(self):
        c = self.concentration
        total = c.sum(-1, keepdim=True)
        return c * (total - c) / (total.pow(2) * (total + 1))

    def entropy(self):
        c = self.concentration
        k = c.shape[-1]
        total = c.sum(-1)
        return (graphc.lgamma(c).sum(-1) - graphc.lgamma(total)
                - (k - total) * graphc.digamma(total)
                - ((c - 1.0) * graphc.digamma(c)).sum(-1))

    # exponential family (as PyTorch): theta = concentration, F = log B(concentration)
    @property
    def _natural_params(self):
        return (self.concentration,)

    def _log_normalizer(self, x):
        return graphc.lgamma(x).sum(-1) - graphc.lgamma(x.sum(-1))
