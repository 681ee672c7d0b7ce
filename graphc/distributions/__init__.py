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

Sampling the Gamma family (Gamma, Chi2, Beta, Dirichlet, StudentT, NegativeBinomial, and
LKJCholesky and Wishart through them), VonMises, Poisson and Binomial runs eagerly in NumPy
from graphc's generator (``TraceError`` inside a compiled function); their densities,
moments, entropies and KLs compile.
"""
# (chi2, half_cauchy, log_normal, pareto: PyTorch's module paths of families graphc defines
# beside a relative)
from graphc.distributions import chi2, constraints, half_cauchy, log_normal, pareto, transforms
from graphc.distributions.bernoulli import Bernoulli
from graphc.distributions.beta import Beta
from graphc.distributions.binomial import Binomial
from graphc.distributions.categorical import Categorical
from graphc.distributions.cauchy import Cauchy
from graphc.distributions.constraint_registry import biject_to, transform_to
from graphc.distributions.continuous_bernoulli import ContinuousBernoulli
from graphc.distributions.dirichlet import Dirichlet
from graphc.distributions.distribution import Distribution
from graphc.distributions.exp_family import ExponentialFamily
from graphc.distributions.exponential import Exponential
from graphc.distributions.fishersnedecor import FisherSnedecor
from graphc.distributions.gamma import Chi2, Gamma
from graphc.distributions.generalized_pareto import GeneralizedPareto
from graphc.distributions.geometric import Geometric
from graphc.distributions.gumbel import Gumbel
from graphc.distributions.half_normal import HalfCauchy, HalfNormal
from graphc.distributions.independent import Independent
from graphc.distributions.inverse_gamma import InverseGamma
from graphc.distributions.kl import kl_divergence, register_kl
from graphc.distributions.kumaraswamy import Kumaraswamy
from graphc.distributions.laplace import Laplace
from graphc.distributions.lkj_cholesky import LKJCholesky
from graphc.distributions.logistic_normal import LogisticNormal
from graphc.distributions.lowrank_multivariate_normal import LowRankMultivariateNormal
from graphc.distributions.mixture_same_family import MixtureSameFamily
from graphc.distributions.multinomial import Multinomial
from graphc.distributions.multivariate_normal import MultivariateNormal
from graphc.distributions.negative_binomial import NegativeBinomial
from graphc.distributions.normal import Normal
from graphc.distributions.one_hot_categorical import (
    OneHotCategorical,
    OneHotCategoricalStraightThrough,
)
from graphc.distributions.poisson import Poisson
from graphc.distributions.relaxed_bernoulli import LogitRelaxedBernoulli, RelaxedBernoulli
from graphc.distributions.relaxed_categorical import (
    ExpRelaxedCategorical,
    RelaxedOneHotCategorical,
)
from graphc.distributions.studentT import StudentT
from graphc.distributions.transformed_distribution import LogNormal, TransformedDistribution
from graphc.distributions.transforms import (
    AbsTransform,
    AffineTransform,
    CatTransform,
    ComposeTransform,
    CorrCholeskyTransform,
    CumulativeDistributionTransform,
    ExpTransform,
    IndependentTransform,
    LowerCholeskyTransform,
    PositiveDefiniteTransform,
    PowerTransform,
    ReshapeTransform,
    SigmoidTransform,
    SoftmaxTransform,
    SoftplusTransform,
    StackTransform,
    StickBreakingTransform,
    TanhTransform,
    Transform,
    identity_transform,
)
from graphc.distributions.uniform import Uniform
from graphc.distributions.von_mises import VonMises
from graphc.distributions.weibull import Pareto, Weibull
from graphc.distributions.wishart import Wishart

__all__ = [
    "AbsTransform", "AffineTransform", "Bernoulli", "Beta", "Binomial", "CatTransform",
    "Categorical", "Cauchy", "Chi2", "ComposeTransform", "ContinuousBernoulli",
    "CorrCholeskyTransform", "CumulativeDistributionTransform", "Dirichlet", "Distribution",
    "ExpRelaxedCategorical", "ExpTransform", "Exponential", "ExponentialFamily",
    "FisherSnedecor", "Gamma", "GeneralizedPareto", "Geometric", "Gumbel", "HalfCauchy",
    "HalfNormal", "Independent", "IndependentTransform", "InverseGamma", "Kumaraswamy",
    "LKJCholesky", "Laplace", "LogNormal", "LogisticNormal", "LogitRelaxedBernoulli",
    "LowRankMultivariateNormal", "LowerCholeskyTransform", "MixtureSameFamily", "Multinomial",
    "MultivariateNormal", "NegativeBinomial", "Normal", "OneHotCategorical",
    "OneHotCategoricalStraightThrough", "Pareto", "Poisson", "PositiveDefiniteTransform",
    "PowerTransform", "RelaxedBernoulli", "RelaxedOneHotCategorical", "ReshapeTransform",
    "SigmoidTransform", "SoftmaxTransform", "SoftplusTransform", "StackTransform",
    "StickBreakingTransform", "StudentT", "TanhTransform", "Transform",
    "TransformedDistribution", "Uniform", "VonMises", "Weibull", "Wishart", "biject_to", "chi2",
    "constraints", "half_cauchy", "identity_transform", "kl_divergence", "log_normal", "pareto",
    "register_kl", "transform_to", "transforms",
]
