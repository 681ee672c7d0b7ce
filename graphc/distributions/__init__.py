"""``graphc.distributions``: probability distributions with sampling, reparameterized
sampling, log-densities, entropies and KL divergences (``torch.distributions``), written
with graphc tensor ops so gradients flow to the parameters and the closed forms also run
inside ``@graphc.compile``.

    >>> import graphc
    >>> from graphc.distributions import Normal, kl_divergence
    >>> mu = graphc.tensor([0.0], requires_grad=True)
    >>> d = Normal(mu, 1.0)
    >>> d.rsample((4,)).shape
    (4, 1)
    >>> kl_divergence(d, Normal(1.0, 1.0)).item()
    0.5

Gamma, Beta, Dirichlet, Poisson (and the families built on them) wait for ``lgamma`` and
``digamma``; so does the Gumbel-Gumbel KL.
"""
from graphc.distributions import constraints, transforms
from graphc.distributions.bernoulli import Bernoulli
from graphc.distributions.categorical import Categorical
from graphc.distributions.cauchy import Cauchy
from graphc.distributions.distribution import Distribution
from graphc.distributions.exponential import Exponential
from graphc.distributions.gumbel import Gumbel
from graphc.distributions.independent import Independent
from graphc.distributions.kl import kl_divergence, register_kl
from graphc.distributions.laplace import Laplace
from graphc.distributions.multivariate_normal import MultivariateNormal
from graphc.distributions.normal import Normal
from graphc.distributions.one_hot_categorical import OneHotCategorical
from graphc.distributions.transformed_distribution import LogNormal, TransformedDistribution
from graphc.distributions.transforms import (
    AffineTransform,
    ComposeTransform,
    ExpTransform,
    SigmoidTransform,
    TanhTransform,
    Transform,
)
from graphc.distributions.uniform import Uniform

__all__ = [
    "AffineTransform", "Bernoulli", "Categorical", "Cauchy", "ComposeTransform",
    "Distribution", "ExpTransform", "Exponential", "Gumbel", "Independent", "Laplace",
    "LogNormal", "MultivariateNormal", "Normal", "OneHotCategorical", "SigmoidTransform",
    "TanhTransform", "Transform", "TransformedDistribution", "Uniform", "constraints",
    "kl_divergence", "register_kl", "transforms",
]
