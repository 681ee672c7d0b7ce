"""``FisherSnedecor(df1, df2)`` (``torch.distributions.FisherSnedecor``): the F distribution,
``(X1 / df1) / (X2 / df2)`` of independent chi-squared ``X1``, ``X2``.

    >>> d = FisherSnedecor(graphc.tensor(4.0, dtype=graphc.float64), 6.0)
    >>> d.mean.item(), d.mode.item()
    (1.5, 0.375)
"""
from __future__ import annotations

import math

import graphc
from graphc.distributions import constraints
from graphc.distributions._params import init_broadcast
from graphc.distributions.distribution import Distribution
from graphc.distributions.gamma import Gamma

__all__ = ["FisherSnedecor"]


class FisherSnedecor(Distribution):
    """The F distribution with ``df1`` and ``df2`` degrees of freedom; ``rsample`` is a ratio
    of Gamma draws (eager only, reparameterized). ``mean`` is NaN for ``df2 <= 2``,
    ``variance`` for ``df2 <= 4`` and ``mode`` for ``df1 <= 2``, as PyTorch."""
    arg_constraints = {"df1": constraints.positive, "df2": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, df1, df2, validate_args=None):
        init_broadcast(self, ("df1", "df2"), (df1, df2), validate_args)
        self._make_gammas()

    def _make_gammas(self) -> None:
        # X / df for X ~ chi2(df) is Gamma(df / 2, rate df / 2): the rates cancel in the ratio
        self._gamma1 = Gamma(self.df1 * 0.5, self.df1, validate_args=False)
        self._gamma2 = Gamma(self.df2 * 0.5, self.df2, validate_args=False)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(FisherSnedecor, _instance)
        batch_shape = tuple(batch_shape)
        new.df1 = self.df1.expand(batch_shape)
        new.df2 = self.df2.expand(batch_shape)
        new._make_gammas()
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self):
        df2 = self.df2
        return graphc.where(df2 > 2, df2 / (df2 - 2), math.nan)

    @property
    def mode(self):
        df1, df2 = self.df1, self.df2
        return graphc.where(df1 > 2, (df1 - 2) / df1 * df2 / (df2 + 2), math.nan)

    @property
    def variance(self):
        df1, df2 = self.df1, self.df2
        var = 2 * df2.pow(2) * (df1 + df2 - 2) / (df1 * (df2 - 2).pow(2) * (df2 - 4))
        return graphc.where(df2 > 4, var, math.nan)

    def rsample(self, sample_shape=()):
        tiny = graphc.finfo(self.df1.dtype).tiny
        x1 = self._gamma1.rsample(sample_shape)
        x2 = self._gamma2.rsample(sample_shape)
        return (x1 / x2.clamp(min=tiny)).clamp(min=tiny)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        half1, half2 = self.df1 * 0.5, self.df2 * 0.5
        ratio = self.df1 / self.df2
        t1 = graphc.lgamma(half1 + half2) - graphc.lgamma(half1) - graphc.lgamma(half2)
        t2 = half1 * ratio.log() + (half1 - 1) * value.log()
        t3 = (half1 + half2) * (ratio * value).log1p()
        return t1 + t2 - t3
