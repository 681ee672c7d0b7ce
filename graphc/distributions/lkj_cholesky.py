"""``LKJCholesky(dim, concentration=1.0)`` (``torch.distributions.LKJCholesky``): the LKJ
distribution of ``dim x dim`` correlation matrices, over their lower Cholesky factors.

With ``M = L L^T`` a correlation matrix, ``p(L) ∝ |M|^(eta - 1) |dM/dL|`` (Lewandowski,
Kurowicka and Joe 2009, in Cholesky form: ``prod_i L_ii^(dim - i + 2 (eta - 1))``,
``i = 2..dim``). ``concentration = 1`` is uniform over correlation matrices; larger values
favour the identity.

    >>> d = LKJCholesky(3, graphc.tensor(2.0, dtype=graphc.float64))
    >>> d.event_shape, round(d.log_prob(graphc.eye(3, dtype=graphc.float64)).item(), 6)
    ((3, 3), -0.615483)
"""
from __future__ import annotations

import math

import graphc
from graphc.distributions import constraints
from graphc.distributions.beta import Beta
from graphc.distributions.distribution import Distribution
from graphc.distributions.utils import broadcast_all

__all__ = ["LKJCholesky"]


class LKJCholesky(Distribution):
    """The LKJ distribution of correlation matrices, over their lower Cholesky factors
    (``support = constraints.corr_cholesky``). ``sample`` is the onion method (Ghosh and
    Henderson 2003; LKJ 2009 section 3.2), vectorized as PyTorch's but with the right Beta
    parameters (see ``_onion_beta``: PyTorch's samples are off for ``dim >= 3``): each row
    ``i`` is ``sqrt(y_i)`` times a uniform direction in its first ``i`` coordinates (``y_i``
    a Beta draw), then the diagonal completes it to unit norm. Beta draws come from NumPy,
    eagerly (``TraceError`` inside a compiled function); there is no ``rsample``, as
    PyTorch."""
    arg_constraints = {"concentration": constraints.positive}
    support = constraints.corr_cholesky

    def __init__(self, dim: int, concentration=1.0, validate_args=None):
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
            raise ValueError(f"Expected dim to be an integer greater than or equal to 2. "
                             f"Found dim={dim}.")
        self.dim = dim
        (self.concentration,) = broadcast_all(concentration)
        super().__init__(tuple(self.concentration.shape), (dim, dim),
                         validate_args=validate_args)
        # (after validation: a non-positive concentration names itself, not the Beta's)
        self._beta = self._onion_beta(self.concentration)

    def _onion_beta(self, concentration):
        """The Beta of row ``i``'s squared off-diagonal norm (0-based rows, ``i >= 1``):
        ``Beta(i / 2, eta + (dim - 2) / 2 - (i - 1) / 2)`` (LKJ 2009 section 3.2: the
        ``k``-th step draws ``Beta(k / 2, beta)``), row 0 a placeholder never used.

        PyTorch's first parameter is ``(i - 1) + 1/2`` instead of ``i / 2`` (right for
        ``i = 1`` only), which makes its samples' correlations in rows 2 and below too
        concentrated away from 0 for ``dim >= 3`` (their variance 0.30 instead of 0.25 for
        ``dim = 3, eta = 1``); graphc's follow the LKJ distribution that ``log_prob``
        scores (tests/test_distributions_session28.py checks their marginals)."""
        marginal = concentration + 0.5 * (self.dim - 2)
        offset = graphc.cat([graphc.zeros(1, dtype=concentration.dtype),
                             graphc.arange(self.dim - 1, dtype=concentration.dtype)])
        return Beta(0.5 * offset + 0.5, marginal.unsqueeze(-1) - 0.5 * offset,
                    validate_args=False)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(LKJCholesky, _instance)
        batch_shape = tuple(batch_shape)
        new.dim = self.dim
        new.concentration = self.concentration.expand(batch_shape)
        new._beta = self._beta.expand(batch_shape + (self.dim,))
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def sample(self, sample_shape=()):
        with graphc.no_grad():
            y = self._beta.sample(sample_shape).unsqueeze(-1)
            u = graphc.randn(self._extended_shape(sample_shape), dtype=y.dtype).tril(-1)
            norm = u.norm(dim=-1, keepdim=True)
            # row 0 has no off-diagonal part: 0 there, not 0 / 0
            direction = u / graphc.where(norm > 0, norm, graphc.ones_like(norm))
            w = y.sqrt() * direction
            tiny = graphc.finfo(w.dtype).tiny
            diagonal = (1 - w.pow(2).sum(-1)).clamp(min=tiny).sqrt()
            return w + graphc.diag_embed(diagonal)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        diagonal = value.diagonal(dim1=-1, dim2=-2)[..., 1:]
        order = graphc.arange(2, self.dim + 1, dtype=self.concentration.dtype)
        order = 2 * (self.concentration - 1).unsqueeze(-1) + self.dim - order
        unnormalized = (order * diagonal.log()).sum(-1)
        dm1 = self.dim - 1
        alpha = self.concentration + 0.5 * dm1
        normalizer = (0.5 * dm1 * math.log(math.pi) + graphc.mvlgamma(alpha - 0.5, dm1)
                      - graphc.lgamma(alpha) * dm1)
        return unnormalized - normalizer
