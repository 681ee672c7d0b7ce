"""``LogisticNormal(loc, scale)`` (``torch.distributions.LogisticNormal``): a normal vector of
``K - 1`` logits mapped onto the ``K``-simplex by ``StickBreakingTransform``.

    >>> import graphc
    >>> d = LogisticNormal(graphc.zeros(2, dtype=graphc.float64), 1.0)
    >>> d.event_shape, d.sample((4,)).shape
    ((3,), (4, 3))
"""
from __future__ import annotations

from graphc.distributions import constraints
from graphc.distributions.event_transforms import StickBreakingTransform
from graphc.distributions.normal import Normal
from graphc.distributions.transformed_distribution import TransformedDistribution

__all__ = ["LogisticNormal"]


class LogisticNormal(TransformedDistribution):
    """``StickBreakingTransform()(x)``, ``x ~ Normal(loc, scale)`` over the last dimension
    (a scalar ``loc``/``scale`` is one logit: a 2-category simplex)."""
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.simplex  # type: ignore[assignment]
    has_rsample = True  # type: ignore[assignment]

    def __init__(self, loc, scale, validate_args=None):
        base = Normal(loc, scale, validate_args=validate_args)
        if not base.batch_shape:
            base = base.expand((1,))
        super().__init__(base, StickBreakingTransform(), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(LogisticNormal, _instance)
        return super().expand(batch_shape, _instance=new)

    @property
    def loc(self):
        return self.base_dist.base_dist.loc

    @property
    def scale(self):
        return self.base_dist.base_dist.scale
