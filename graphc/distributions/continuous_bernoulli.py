"""``ContinuousBernoulli(probs=|logits=)`` (``torch.distributions.ContinuousBernoulli``,
Loaiza-Ganem and Cunningham 2019): the density ``C(p) p**x (1 - p)**(1 - x)`` on [0, 1].

    >>> d = ContinuousBernoulli(probs=graphc.tensor(0.2, dtype=graphc.float64))
    >>> round(d.log_prob(graphc.tensor(0.5, dtype=graphc.float64)).item(), 6)
    -0.078831
"""
from __future__ import annotations

import math

import graphc
import graphc.nn.functional as F
from graphc.distributions import constraints
from graphc.distributions._logits import expand_probs_or_logits, init_probs_or_logits
from graphc.distributions.distribution import _values_checkable
from graphc.distributions.exp_family import ExponentialFamily
from graphc.distributions.utils import (
    broadcast_all,
    clamp_probs,
    lazy_property,
    logits_to_probs,
    probs_to_logits,
)

__all__ = ["ContinuousBernoulli"]


class ContinuousBernoulli(ExponentialFamily):
    """The continuous Bernoulli distribution. Its normalizer and moments are 0 / 0 at
    ``probs = 1/2``: inside ``lims`` (default (0.499, 0.501)) they are PyTorch's Taylor
    expansions, and the closed forms are evaluated at ``lims[0]`` there so their gradients stay
    finite. ``rsample`` is the inverse CDF of a uniform draw."""
    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, probs=None, logits=None, lims=(0.499, 0.501), validate_args=None):
        batch_shape = init_probs_or_logits(self, probs, logits, {})
        if probs is not None:
            if validate_args is not None and _values_checkable(self.probs) and not bool(
                    self.arg_constraints["probs"].check(self.probs).all().item()):
                raise ValueError("The parameter probs has invalid values")
            self.probs = clamp_probs(self.probs)
            self._param = self.probs
        self._lims = lims
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(ContinuousBernoulli, _instance)
        new._lims = self._lims
        return expand_probs_or_logits(self, new, batch_shape, ())

    @lazy_property
    def logits(self):
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self):
        return clamp_probs(logits_to_probs(self.logits, is_binary=True))

    @property
    def param_shape(self) -> tuple:
        return self._param.shape

    def _outside_unstable_region(self):
        return (self.probs <= self._lims[0]) | (self.probs > self._lims[1])

    def _cut_probs(self):
        return graphc.where(self._outside_unstable_region(), self.probs, self._lims[0])

    def _cont_bern_log_norm(self):
        """``log C(p)``: ``log(|log(1-p) - log p| / |1 - 2p|)``, a Taylor series near 1/2."""
        cut = self._cut_probs()
        below = graphc.where(cut <= 0.5, cut, 0.0)
        above = graphc.where(cut >= 0.5, cut, 1.0)
        log_norm = ((-cut).log1p() - cut.log()).abs().log() - graphc.where(
            cut <= 0.5, (-2.0 * below).log1p(), (2.0 * above - 1.0).log())
        x = (self.probs - 0.5).pow(2)
        taylor = math.log(2.0) + (4.0 / 3.0 + 104.0 / 45.0 * x) * x
        return graphc.where(self._outside_unstable_region(), log_norm, taylor)

    @property
    def mean(self):
        cut = self._cut_probs()
        mus = cut / (2.0 * cut - 1.0) + 1.0 / ((-cut).log1p() - cut.log())
        x = self.probs - 0.5
        taylor = 0.5 + (1.0 / 3.0 + 16.0 / 45.0 * x.pow(2)) * x
        return graphc.where(self._outside_unstable_region(), mus, taylor)

    @property
    def variance(self):
        cut = self._cut_probs()
        variances = (cut * (cut - 1.0) / (1.0 - 2.0 * cut).pow(2)
                     + 1.0 / ((-cut).log1p() - cut.log()).pow(2))
        x = (self.probs - 0.5).pow(2)
        taylor = 1.0 / 12.0 - (1.0 / 15.0 - 128.0 / 945.0 * x) * x
        return graphc.where(self._outside_unstable_region(), variances, taylor)

    def sample(self, sample_shape=()):
        with graphc.no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        u = graphc.rand(shape, dtype=self.probs.dtype)
        return self.icdf(u)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        return (-F.binary_cross_entropy_with_logits(logits, value, reduction="none")
                + self._cont_bern_log_norm())

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        cut = self._cut_probs()
        cdfs = (cut.pow(value) * (1.0 - cut).pow(1.0 - value) + cut - 1.0) / (2.0 * cut - 1.0)
        unbounded = graphc.where(self._outside_unstable_region(), cdfs, value)
        return graphc.where(value <= 0.0, 0.0, graphc.where(value >= 1.0, 1.0, unbounded))

    def icdf(self, value):
        cut = self._cut_probs()
        inverse = (((-cut + value * (2.0 * cut - 1.0)).log1p() - (-cut).log1p())
                   / (cut.log() - (-cut).log1p()))
        return graphc.where(self._outside_unstable_region(), inverse, value)

    def entropy(self):
        log_probs0 = (-self.probs).log1p()
        log_probs1 = self.probs.log()
        return (self.mean * (log_probs0 - log_probs1) - self._cont_bern_log_norm()
                - log_probs0)

    # exponential family: theta = logits, F(theta) = log((e^theta - 1) / theta), its Taylor
    # series for |theta| <= 0.001 (PyTorch's cut, written against the probability limits)
    _mean_carrier_measure = 0

    @property
    def _natural_params(self):
        return (self.logits,)

    def _log_normalizer(self, x):
        outside = (x <= self._lims[0] - 0.5) | (x > self._lims[1] - 0.5)
        cut = graphc.where(outside, x, self._lims[0] - 0.5)
        log_norm = cut.expm1().abs().log() - cut.abs().log()
        taylor = 0.5 * x + x.pow(2) / 24.0 - x.pow(4) / 2880.0
        return graphc.where(outside, log_norm, taylor)
