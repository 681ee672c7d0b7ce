"""``StudentT(df, loc, scale)`` (``torch.distributions.StudentT``).

    >>> round(StudentT(3.0).log_prob(graphc.tensor(0.0)).item(), 6)
    -1.000889
"""
from __future__ import annotations

import math

import graphc
from graphc.distributions import constraints
from graphc.distributions._params import expand_broadcast, init_broadcast
from graphc.distributions.distribution import Distribution
from graphc.distributions.gamma import Chi2

__all__ = ["StudentT"]


class StudentT(Distribution):
    """Student's t distribution with ``df`` degrees of freedom, location ``loc`` and scale
    ``scale``. ``rsample`` is ``loc + scale * X / sqrt(Z / df)`` for ``X ~ Normal(0, 1)`` and
    ``Z ~ Chi2(df)`` (reparameterized in ``df`` through the Gamma's implicit gradient)."""
    arg_constraints = {"df": constraints.positive, "loc": constraints.real,
                       "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, df, loc=0.0, scale=1.0, validate_args=None):
        init_broadcast(self, ("df", "loc", "scale"), (df, loc, scale), validate_args)

    def expand(self, batch_shape, _instance=None):
        return expand_broadcast(self, StudentT, ("df", "loc", "scale"), batch_shape, _instance)

    @property
    def _chi2(self):
        return Chi2(self.df, validate_args=False)

    @property
    def mean(self):
        return graphc.where(self.df <= 1, math.nan, self.loc)  # no mean for df <= 1

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        df = self.df
        finite = self.scale.pow(2) * df / graphc.where(df > 2, df - 2, 1.0)
        return graphc.where(df > 2, finite,
                            graphc.where(df > 1, math.inf, math.nan) * graphc.ones_like(df))

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        x = graphc.randn(shape, dtype=self.df.dtype)
        z = self._chi2.rsample(sample_shape)
        return self.loc + self.scale * (x * (z / self.df).rsqrt())

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        y = (value - self.loc) / self.scale
        df = self.df
        z = (self.scale.log() + 0.5 * df.log() + 0.5 * math.log(math.pi)
             + graphc.lgamma(0.5 * df) - graphc.lgamma(0.5 * (df + 1.0)))
        return -0.5 * (df + 1.0) * (y.pow(2) / df).log1p() - z

    def entropy(self):
        df = self.df
        lbeta = (graphc.lgamma(0.5 * df) + math.lgamma(0.5)
                 - graphc.lgamma(0.5 * (df + 1)))
        return (self.scale.log()
                + 0.5 * (df + 1) * (graphc.digamma(0.5 * (df + 1)) - graphc.digamma(0.5 * df))
                + 0.5 * df.log() + lbeta)
