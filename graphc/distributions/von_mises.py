"""``VonMises(loc, concentration)`` (``torch.distributions.VonMises``): the circular normal
distribution of angles, ``p(x) = exp(k cos(x - loc)) / (2 pi I0(k))``.

``log I0(k)`` is ``log(i0e(k)) + k`` from ``graphc.special.i0e`` (1e-15 relative);
PyTorch uses Abramowitz & Stegun's polynomial approximations (9.8.1-9.8.4, about 1e-7
relative), so graphc's ``log_prob`` and ``variance`` differ from PyTorch's in the 7th digit
and match scipy.stats.vonmises to rounding.

    >>> d = VonMises(graphc.tensor(0.0, dtype=graphc.float64), 2.0)
    >>> round(d.log_prob(graphc.tensor(0.0, dtype=graphc.float64)).item(), 6)
    -0.661871
"""
from __future__ import annotations

import math

import numpy as np

import graphc
from graphc.distributions import _sampling, constraints
from graphc.distributions._params import expand_broadcast, init_broadcast
from graphc.distributions.distribution import Distribution
from graphc.distributions.utils import lazy_property
from graphc.special_functions import i0e, i1e

__all__ = ["VonMises"]


def _bessel_ratio(concentration):
    """``I1(k) / I0(k)``, the mean resultant length (exponentially scaled: no overflow)."""
    return i1e(concentration) / i0e(concentration)


class VonMises(Distribution):
    """The von Mises distribution with mean angle ``loc`` (any real number, read modulo
    ``2 pi``) and ``concentration`` ``k > 0``. ``mean``/``mode`` are ``loc``, ``variance`` the
    circular variance ``1 - I1(k)/I0(k)``. ``sample`` is Best and Fisher's rejection method,
    eagerly in NumPy from graphc's generator (``TraceError`` inside a compiled function); there
    is no ``rsample``, as PyTorch. ``entropy`` is a graphc addition (PyTorch has none)."""
    arg_constraints = {"loc": constraints.real, "concentration": constraints.positive}
    support = constraints.real
    has_rsample = False

    def __init__(self, loc, concentration, validate_args=None):
        init_broadcast(self, ("loc", "concentration"), (loc, concentration), validate_args)

    def expand(self, batch_shape, _instance=None):
        return expand_broadcast(self, VonMises, ("loc", "concentration"), batch_shape,
                                _instance)

    def _log_normalizer(self):
        """``log(2 pi I0(k))``."""
        k = self.concentration
        return math.log(2 * math.pi) + i0e(k).log() + k

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return self.concentration * graphc.cos(value - self.loc) - self._log_normalizer()

    def sample(self, sample_shape=()):
        _sampling.eager_only("VonMises", self.loc, self.concentration)
        shape = self._extended_shape(sample_shape)
        draws = _sampling.von_mises(np.broadcast_to(_sampling.array(self.loc), shape),
                                    np.broadcast_to(_sampling.array(self.concentration), shape),
                                    _sampling.numpy_rng())
        return graphc.tensor(draws, dtype=self.loc.dtype)

    @property
    def mean(self):
        """The circular mean, ``loc``."""
        return self.loc

    @property
    def mode(self):
        return self.loc

    @lazy_property
    def variance(self):
        """The circular variance ``1 - I1(k) / I0(k)``."""
        return 1 - _bessel_ratio(self.concentration)

    def entropy(self):
        k = self.concentration
        return self._log_normalizer() - k * _bessel_ratio(k)
