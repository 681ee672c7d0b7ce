"""``MixtureSameFamily(mixture_distribution, component_distribution)``
(``torch.distributions.MixtureSameFamily``): a mixture of ``k`` components of one family, the
component's rightmost batch dimension indexing them and a :class:`Categorical` weighting them.

    >>> from graphc.distributions import Categorical, Normal
    >>> mix = Categorical(graphc.ones(2, dtype=graphc.float64))
    >>> gmm = MixtureSameFamily(mix, Normal(graphc.tensor([-1.0, 1.0], dtype=graphc.float64), 1.0))
    >>> gmm.batch_shape, gmm.event_shape, gmm.mean.item(), gmm.variance.item()
    ((), (), 0.0, 2.0)
"""
from __future__ import annotations

import graphc
from graphc.distributions import constraints
from graphc.distributions.categorical import Categorical
from graphc.distributions.distribution import Distribution
from graphc.tensor import Tensor

__all__ = ["MixtureSameFamily"]


class MixtureSameFamily(Distribution):
    """The mixture density ``sum_i w_i p_i(x)``: ``log_prob`` is a logsumexp over the
    components, ``mean`` the weighted mean, ``variance`` the law of total variance and
    ``sample`` picks one component's draw per event (not reparameterized: the choice of
    component has no pathwise gradient, as PyTorch)."""
    arg_constraints: dict = {}
    has_rsample = False

    def __init__(self, mixture_distribution: Categorical, component_distribution: Distribution,
                 validate_args=None):
        if not isinstance(mixture_distribution, Categorical):
            raise ValueError(" The Mixture distribution needs to be an  instance of "
                             "graphc.distributions.Categorical")
        if not isinstance(component_distribution, Distribution):
            raise ValueError("The Component distribution needs to be an instance of "
                             "graphc.distributions.Distribution")
        if len(component_distribution.batch_shape) < 1:
            raise ValueError("`component_distribution.batch_shape` must have at least one "
                             "dimension (its rightmost one indexes the components), got ()")
        self._mixture_distribution = mixture_distribution
        self._component_distribution = component_distribution
        mdbs = mixture_distribution.batch_shape
        cdbs = component_distribution.batch_shape[:-1]
        for size1, size2 in zip(reversed(mdbs), reversed(cdbs)):
            if size1 != 1 and size2 != 1 and size1 != size2:
                raise ValueError(f"`mixture_distribution.batch_shape` ({mdbs}) is not "
                                 f"compatible with `component_distribution.batch_shape`({cdbs})")
        km = mixture_distribution.logits.shape[-1]
        kc = component_distribution.batch_shape[-1]
        if km != kc:
            raise ValueError(f"`mixture_distribution component` ({km}) does not equal "
                             f"`component_distribution.batch_shape[-1]` ({kc})")
        self._num_component = km
        event_shape = component_distribution.event_shape
        self._event_ndims = len(event_shape)
        super().__init__(cdbs, event_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(MixtureSameFamily, _instance)
        batch_shape = tuple(batch_shape)
        new._component_distribution = self._component_distribution.expand(
            batch_shape + (self._num_component,))
        new._mixture_distribution = self._mixture_distribution.expand(batch_shape)
        new._num_component = self._num_component
        new._event_ndims = self._event_ndims
        Distribution.__init__(new, batch_shape, new._component_distribution.event_shape,
                              validate_args=False)
        new._validate_args = self._validate_args
        return new

    @constraints.dependent_property
    def support(self):
        return constraints.MixtureSameFamilyConstraint(self._component_distribution.support)

    @property
    def mixture_distribution(self) -> Categorical:
        return self._mixture_distribution

    @property
    def component_distribution(self) -> Distribution:
        return self._component_distribution

    def _pad(self, x: Tensor) -> Tensor:
        """``x`` with a component dimension before its event dimensions."""
        return x.unsqueeze(-1 - self._event_ndims)

    def _weights(self) -> Tensor:
        """The mixture probabilities shaped to broadcast against the components' moments
        (``mixture batch + (k,) + (1,) * event_ndims``)."""
        probs = self._mixture_distribution.probs
        return probs.reshape(tuple(probs.shape) + (1,) * self._event_ndims)

    @property
    def mean(self):
        component_dim = -1 - self._event_ndims
        return (self._weights() * self._component_distribution.mean).sum(component_dim)

    @property
    def variance(self):
        # law of total variance: Var(Y) = E[Var(Y | X)] + Var(E[Y | X])
        component_dim = -1 - self._event_ndims
        weights = self._weights()
        component = self._component_distribution
        mean_cond_var = (weights * component.variance).sum(component_dim)
        spread = (component.mean - self._pad(self.mean)).pow(2)
        return mean_cond_var + (weights * spread).sum(component_dim)

    def cdf(self, x):
        cdf_x = self._component_distribution.cdf(self._pad(x))
        return (cdf_x * self._mixture_distribution.probs).sum(-1)

    def log_prob(self, x):
        if self._validate_args:
            self._validate_sample(x)
        log_prob_x = self._component_distribution.log_prob(self._pad(x))  # [S, B, k]
        log_weights = self._mixture_distribution.logits.log_softmax(-1)  # [B, k]
        return (log_prob_x + log_weights).logsumexp(-1)

    def sample(self, sample_shape=()):
        sample_shape = (sample_shape,) if isinstance(sample_shape, int) else tuple(sample_shape)
        with graphc.no_grad():
            # one component index per event: [S, B] (a mixture batch broadcast to B)
            mixture = self._mixture_distribution
            if mixture.batch_shape != self._batch_shape:
                mixture = mixture.expand(self._batch_shape)
            choice = mixture.sample(sample_shape)
            samples = self._component_distribution.sample(sample_shape)  # [S, B, k, E]
            gather_dim = len(sample_shape) + len(self._batch_shape)
            index = choice.reshape(tuple(choice.shape) + (1,) * (self._event_ndims + 1))
            index = index.expand(tuple(choice.shape) + (1,) + self._event_shape)
            return samples.gather(gather_dim, index).squeeze(gather_dim)

    def __repr__(self) -> str:
        return (f"MixtureSameFamily(\n  {self._mixture_distribution},\n  "
                f"{self._component_distribution})")
