"""``Gamma(concentration, rate)`` and ``Chi2(df)`` (``torch.distributions.Gamma``, ``Chi2``).

    >>> d = Gamma(graphc.tensor(2.0, dtype=graphc.float64), 3.0)
    >>> round(d.log_prob(graphc.tensor(0.5, dtype=graphc.float64)).item(), 6), d.mean.item()
    (0.004077, 0.6666666666666666)
"""
from __future__ import annotations

import graphc
from graphc.distributions import _sampling, constraints
from graphc.distributions._params import expand_broadcast, init_broadcast
from graphc.distributions.exp_family import ExponentialFamily
from graphc.incomplete_gamma import gammainc
from graphc.special_functions import xlogy

__all__ = ["Chi2", "Gamma"]


class Gamma(ExponentialFamily):
    """The gamma distribution with shape ``concentration`` and inverse scale ``rate``.
    ``rsample`` draws by Marsaglia and Tsang's method (eagerly, from graphc's generator);
    its gradient w.r.t. ``concentration`` is the implicit reparameterization (accuracy in
    ``_sampling.py``). ``cdf`` is the regularized incomplete gamma function (eager only)."""
    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, concentration, rate, validate_args=None):
        init_broadcast(self, ("concentration", "rate"), (concentration, rate), validate_args)

    def expand(self, batch_shape, _instance=None):
        return expand_broadcast(self, Gamma, ("concentration", "rate"), batch_shape, _instance)

    @property
    def mean(self):
        return self.concentration / self.rate

    @property
    def mode(self):
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self):
        return self.concentration / self.rate.pow(2)

    def rsample(self, sample_shape=()):
        _sampling.eager_only(type(self).__name__, self.concentration, self.rate)
        shape = self._extended_shape(sample_shape)
        z = _sampling.rsample_standard_gamma(self.concentration.expand(shape))
        value = z / self.rate.expand(shape)
        tiny = graphc.finfo(value.dtype).tiny  # (a float32 quotient may round to 0)
        return graphc.where(value.detach() < tiny, value - value.detach() + tiny, value)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        value = graphc.as_tensor(value, dtype=self.rate.dtype)
        return (xlogy(self.concentration, self.rate) + xlogy(self.concentration - 1, value)
                - self.rate * value - graphc.lgamma(self.concentration))

    def entropy(self):
        return (self.concentration - self.rate.log() + graphc.lgamma(self.concentration)
                + (1.0 - self.concentration) * graphc.digamma(self.concentration))

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return gammainc(self.concentration, self.rate * value)

    # exponential family: theta = (concentration - 1, -rate),
    # F(theta) = lgamma(theta1 + 1) + (theta1 + 1) log(-1 / theta2)
    _mean_carrier_measure = 0

    @property
    def _natural_params(self):
        return (self.concentration - 1, -self.rate)

    def _log_normalizer(self, x, y):
        return graphc.lgamma(x + 1) + (x + 1) * (-y.reciprocal()).log()



class Chi2(Gamma):
    """The chi-squared distribution with ``df`` degrees of freedom: ``Gamma(df / 2, 1 / 2)``."""
    arg_constraints = {"df": constraints.positive}

    def __init__(self, df, validate_args=None):
        super().__init__(0.5 * df, 0.5, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Chi2, _instance)
        return super().expand(batch_shape, new)

    @property
    def df(self):
        return self.concentration * 2

