"""``ExponentialFamily`` (``torch.distributions.ExponentialFamily``): the base of the families
whose density is ``p(x) = exp(<t(x), theta> - F(theta) + k(x))``; given the natural
parameters ``theta`` (``_natural_params``), the log-normalizer ``F`` (``_log_normalizer``) and
``E[k(x)]`` (``_mean_carrier_measure``), the entropy and the KL divergence between two members
of one family follow from ``F`` and its gradient (a Bregman divergence), by autograd.

    >>> import graphc
    >>> from graphc.distributions import Normal
    >>> d = Normal(graphc.tensor(0.0, dtype=graphc.float64), 2.0)
    >>> round(ExponentialFamily.entropy(d).item(), 12) == round(d.entropy().item(), 12)
    True
"""
from __future__ import annotations

import graphc
from graphc.distributions.distribution import Distribution

__all__ = ["ExponentialFamily"]


class ExponentialFamily(Distribution):
    """An exponential family member. Subclasses define ``_natural_params`` (a tuple of
    tensors), ``_log_normalizer(*natural_params)`` and ``_mean_carrier_measure``; ``entropy``
    is then ``F(theta) - <theta, grad F(theta)> - E[k(x)]`` (families with a closed form
    override it)."""

    @property
    def _natural_params(self) -> tuple:
        raise NotImplementedError

    def _log_normalizer(self, *natural_params):
        raise NotImplementedError

    @property
    def _mean_carrier_measure(self):
        raise NotImplementedError

    def entropy(self):
        """The entropy from the log-normalizer's gradient at the (detached) natural
        parameters, as PyTorch's: no gradient reaches the distribution's parameters."""
        params = [p.detach().requires_grad_() for p in self._natural_params]
        with graphc.enable_grad():
            log_normalizer = self._log_normalizer(*params)
            gradients = graphc.autograd.grad(log_normalizer.sum(), params, create_graph=True)
        result = log_normalizer - self._mean_carrier_measure
        for param, gradient in zip(params, gradients):
            result = result - (param * gradient).reshape(self._batch_shape + (-1,)).sum(-1)
        return result
