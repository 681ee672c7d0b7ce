"""graphc.distributions, the Gamma family and the count distributions (Gamma, Chi2, Beta,
Dirichlet, StudentT, Poisson, Binomial, Multinomial, Geometric, NegativeBinomial, HalfNormal,
HalfCauchy, Weibull, Pareto, the relaxed Bernoulli/one-hot categorical and the straight-through
one-hot categorical): densities, CDFs, moments and entropies against scipy.stats in float64,
KL divergences against numerical integration or summation, sample moments, the implicit
reparameterization gradient of Gamma samples against finite differences of scipy's inverse
incomplete gamma, gradients against finite differences, validation errors and shapes.

Tolerances: float64 closed forms vs scipy rtol=1e-10 (atol=1e-12; 1e-9 where a digamma or
lgamma difference of nearby values loses digits); Gamma.cdf (series / continued fraction in
NumPy) rtol=1e-12; KL vs quadrature rtol=1e-7 (quad's own accuracy), vs summation 1e-10;
sample means over N draws within 5 standard errors (a seeded draw; a false failure has
probability ~6e-7 per moment); Gamma sample gradients vs central differences of
``gammaincinv`` rtol=1e-6 (the differences' own error; the gradient itself is ~1e-12, see
graphc/distributions/_sampling.py); other gradients as conftest.check_grad states; compiled vs
eager float32 rtol=1e-5.
"""
import math

import numpy as np
import pytest
from scipy import integrate, special, stats

import graphc
from conftest import check_grad
from graphc.distributions import (
    Bernoulli,
    Beta,
    Binomial,
    Chi2,
    ContinuousBernoulli,
    Dirichlet,
    Exponential,
    Gamma,
    Geometric,
    Gumbel,
    HalfCauchy,
    HalfNormal,
    Laplace,
    Multinomial,
    NegativeBinomial,
    Normal,
    OneHotCategoricalStraightThrough,
    Pareto,
    Poisson,
    RelaxedBernoulli,
    RelaxedOneHotCategorical,
    StudentT,
    Uniform,
    Weibull,
    _sampling,
    constraints,
    kl_divergence,
)

TOL = dict(rtol=1e-10, atol=1e-12)
RNG = np.random.default_rng(2713)
A = RNG.uniform(0.3, 5.0, 4)      # shapes / concentrations
B = RNG.uniform(0.5, 3.0, 4)      # rates / scales
LOC = RNG.standard_normal(4)
POSITIVE = RNG.uniform(0.05, 4.0, (3, 4))
UNIT = RNG.uniform(0.02, 0.98, (3, 4))
X = RNG.standard_normal((3, 4)) * 2
Q = RNG.uniform(0.05, 0.95, (3, 4))


def t(array):
    return graphc.tensor(np.asarray(array, dtype=np.float64))


# family: (make, frozen scipy distribution, values, methods beyond log_prob/entropy/moments)
CONTINUOUS = {
    "Gamma": (lambda: Gamma(t(A), t(B)), stats.gamma(A, scale=1 / B), POSITIVE, ("cdf",)),
    "Chi2": (lambda: Chi2(t(2 * A)), stats.chi2(2 * A), POSITIVE, ("cdf",)),
    "Beta": (lambda: Beta(t(A), t(B)), stats.beta(A, B), UNIT, ()),
    "StudentT": (lambda: StudentT(t(A + 2.5), t(LOC), t(B)), stats.t(A + 2.5, LOC, B), X, ()),
    "HalfNormal": (lambda: HalfNormal(t(B)), stats.halfnorm(scale=B), POSITIVE,
                   ("cdf", "icdf")),
    "HalfCauchy": (lambda: HalfCauchy(t(B)), stats.halfcauchy(scale=B), POSITIVE,
                   ("cdf", "icdf")),
    "Weibull": (lambda: Weibull(t(B), t(A)), stats.weibull_min(A, scale=B), POSITIVE,
                ("cdf", "icdf")),
    "Pareto": (lambda: Pareto(t(B), t(A + 2.1)), stats.pareto(A + 2.1, scale=B),
               B + POSITIVE, ("cdf", "icdf")),
}


@pytest.mark.parametrize("name", list(CONTINUOUS))
def test_continuous_closed_forms_match_scipy(name):
    make, ref, values, extra = CONTINUOUS[name]
    d = make()
    np.testing.assert_allclose(d.log_prob(t(values)).numpy(), ref.logpdf(values), rtol=1e-9,
                               atol=1e-12)
    np.testing.assert_allclose(d.entropy().numpy(), ref.entropy(), rtol=1e-9, atol=1e-12)
    if "cdf" in extra:
        np.testing.assert_allclose(d.cdf(t(values)).numpy(), ref.cdf(values), rtol=1e-12,
                                   atol=1e-14)
    if "icdf" in extra:
        np.testing.assert_allclose(d.icdf(t(Q)).numpy(), ref.ppf(Q), rtol=1e-9)
    if name == "HalfCauchy":  # PyTorch's infinite mean and variance
        assert np.isposinf(d.mean.numpy()).all() and np.isposinf(d.variance.numpy()).all()
        return
    np.testing.assert_allclose(d.mean.numpy(), ref.mean(), **TOL)
    np.testing.assert_allclose(d.variance.numpy(), ref.var(), rtol=1e-9)


def test_gamma_cdf_far_in_both_tails_and_at_zero():
    a = np.array([0.01, 0.5, 3.0, 30.0, 300.0, 3.0, 0.5])
    x = np.array([1e-5, 40.0, 0.01, 60.0, 250.0, 0.0, 0.0])
    got = Gamma(t(a), 1.0).cdf(t(x)).numpy()
    np.testing.assert_allclose(got, special.gammainc(a, x), rtol=1e-12, atol=1e-300)


def test_dirichlet_matches_scipy():
    alpha = RNG.uniform(0.4, 3.0, (2, 3))
    values = RNG.dirichlet(np.ones(3), size=(4, 2))
    d = Dirichlet(t(alpha))
    for b in range(2):
        ref = stats.dirichlet(alpha[b])
        expected = [ref.logpdf(v) for v in values[:, b]]
        np.testing.assert_allclose(d.log_prob(t(values)).numpy()[:, b], expected, rtol=1e-10)
        np.testing.assert_allclose(d.entropy().numpy()[b], ref.entropy(), rtol=1e-10)
        np.testing.assert_allclose(d.mean.numpy()[b], ref.mean(), **TOL)
        np.testing.assert_allclose(d.variance.numpy()[b], ref.var(), **TOL)
    np.testing.assert_allclose(Dirichlet(t([2.0, 3.0, 4.0])).mode.numpy(), [1 / 6, 2 / 6, 3 / 6],
                               **TOL)
    # all concentrations below 1: a corner; PyTorch's is the first (its argmax of 0 / 0)
    assert Dirichlet(t([0.5, 0.9, 0.2])).mode.tolist() == [1.0, 0.0, 0.0]


def test_discrete_closed_forms_match_scipy():
    rate = B * 2
    k = np.array([[0, 1, 5, 2], [3, 0, 1, 7], [2, 2, 0, 1]], dtype=np.float64)
    pois = Poisson(t(rate))
    np.testing.assert_allclose(pois.log_prob(t(k)).numpy(), stats.poisson(rate).logpmf(k), **TOL)
    np.testing.assert_allclose(pois.mode.numpy(), np.floor(rate), **TOL)
    p = UNIT[0]
    n = np.array([7.0, 10.0, 3.0, 12.0])
    kb = np.minimum(k, n)
    logits = np.log(p) - np.log1p(-p)
    for d in (Binomial(t(n), probs=t(p)), Binomial(t(n), logits=t(logits))):
        np.testing.assert_allclose(d.log_prob(t(kb)).numpy(), stats.binom(n, p).logpmf(kb),
                                   rtol=1e-10)
        np.testing.assert_allclose(d.mean.numpy(), n * p, **TOL)
        np.testing.assert_allclose(d.variance.numpy(), n * p * (1 - p), **TOL)
        np.testing.assert_allclose(d.mode.numpy(), np.minimum(np.floor((n + 1) * p), n), **TOL)
    same_n = Binomial(t(np.full(4, 9.0)), probs=t(p))
    np.testing.assert_allclose(same_n.entropy().numpy(), stats.binom(9, p).entropy(),
                               rtol=1e-10)
    for d in (Geometric(probs=t(p)), Geometric(logits=t(logits))):
        # PyTorch counts failures before the first success: scipy's geom shifted by one
        ref = stats.geom(p, loc=-1)
        np.testing.assert_allclose(d.log_prob(t(k)).numpy(), ref.logpmf(k), rtol=1e-10)
        np.testing.assert_allclose(d.entropy().numpy(), ref.entropy(), rtol=1e-10)
        np.testing.assert_allclose(d.mean.numpy(), ref.mean(), rtol=1e-10)
        np.testing.assert_allclose(d.variance.numpy(), ref.var(), rtol=1e-10)
    r = A + 0.5
    nb = NegativeBinomial(t(r), probs=t(p))
    ref = stats.nbinom(r, 1 - p)  # PyTorch counts successes (probability p) before r failures
    np.testing.assert_allclose(nb.log_prob(t(k)).numpy(), ref.logpmf(k), rtol=1e-10)
    np.testing.assert_allclose(nb.mean.numpy(), ref.mean(), rtol=1e-10)
    np.testing.assert_allclose(nb.variance.numpy(), ref.var(), rtol=1e-10)
    probs = np.array([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]])
    counts = np.array([[[1, 2, 3], [0, 0, 6]], [[6, 0, 0], [2, 2, 2]]], dtype=np.float64)
    m = Multinomial(6, probs=t(probs))
    np.testing.assert_allclose(m.log_prob(t(counts)).numpy(),
                               stats.multinomial(6, probs).logpmf(counts), rtol=1e-10)
    np.testing.assert_allclose(m.entropy().numpy(), stats.multinomial(6, probs).entropy(),
                               rtol=1e-10)
    np.testing.assert_allclose(m.mean.numpy(), 6 * probs, **TOL)
    # an impossible category counted zero times does not make the count impossible
    zero = Multinomial(2, logits=t([0.0, -math.inf]))
    assert zero.log_prob(t([2.0, 0.0])).item() == pytest.approx(0.0, abs=1e-15)


class _ContinuousBernoulliRef:
    """The continuous Bernoulli density normalized by quadrature (a reference independent of
    the closed forms)."""

    def __init__(self, p):
        self.p = p
        self.norm = integrate.quad(lambda x: p ** x * (1 - p) ** (1 - x), 0, 1,
                                   epsabs=1e-14, epsrel=1e-13)[0]

    def pdf(self, x):
        return self.p ** x * (1 - self.p) ** (1 - x) / self.norm

    def logpdf(self, x):
        return np.log(self.pdf(x))

    def support(self):
        return 0.0, 1.0

    def expect(self, fn):
        return integrate.quad(lambda x: fn(x) * self.pdf(x), 0, 1, epsabs=1e-14,
                              epsrel=1e-13)[0]


def test_continuous_bernoulli_matches_quadrature():
    # outside the Taylor region (0.499, 0.501] the closed forms are exact: rtol 1e-9; inside,
    # PyTorch's Taylor expansions of the normalizer and moments hold to ~1e-12
    for p in (0.03, 0.2, 0.4985, 0.4999, 0.5, 0.5007, 0.7, 0.97):
        ref = _ContinuousBernoulliRef(p)
        d = ContinuousBernoulli(probs=t(p))
        xs = np.array([0.0, 0.1, 0.5, 0.93, 1.0])
        np.testing.assert_allclose(d.log_prob(t(xs)).numpy(), ref.logpdf(xs), rtol=1e-9,
                                   atol=1e-11)
        mean = ref.expect(lambda x: x)
        np.testing.assert_allclose(d.mean.item(), mean, rtol=1e-9)
        np.testing.assert_allclose(d.variance.item(), ref.expect(lambda x: (x - mean) ** 2),
                                   rtol=1e-8)
        np.testing.assert_allclose(d.entropy().item(), -ref.expect(ref.logpdf), rtol=1e-9,
                                   atol=1e-11)
        if 0.499 < p <= 0.501:  # inside, PyTorch's cdf and icdf are the uniform's
            assert d.cdf(t(xs)).tolist() == xs.tolist() == d.icdf(t(xs)).tolist()
            continue
        cdf = [integrate.quad(ref.pdf, 0, x, epsabs=1e-14)[0] for x in xs]
        np.testing.assert_allclose(d.cdf(t(xs)).numpy(), cdf, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(d.icdf(d.cdf(t(xs[1:4]))).numpy(), xs[1:4], rtol=1e-9)
    logits = ContinuousBernoulli(logits=t(math.log(0.2 / 0.8)))
    assert logits.log_prob(t(0.3)).item() == pytest.approx(
        ContinuousBernoulli(probs=t(0.2)).log_prob(t(0.3)).item(), rel=1e-12)
    with pytest.raises(ValueError, match="The parameter probs has invalid values"):
        ContinuousBernoulli(probs=t(1.5), validate_args=True)
    graphc.manual_seed(4)
    samples = ContinuousBernoulli(probs=t(0.2)).sample((40000,)).numpy()
    ref = _ContinuousBernoulliRef(0.2)
    mean = ref.expect(lambda x: x)
    assert abs(samples.mean() - mean) < 5 * math.sqrt(ref.expect(lambda x: (x - mean) ** 2)
                                                       / 40000)


def test_relaxed_and_straight_through():
    temperature = t(0.7)
    p = UNIT[0]
    d = RelaxedBernoulli(temperature, probs=t(p))
    # the binary Concrete density (Maddison et al. 2017, eq. 23 with lambda = 0.7)
    y = UNIT[1]
    lam, alpha = 0.7, p / (1 - p)
    expected = np.log(lam * alpha * y ** (-lam - 1) * (1 - y) ** (-lam - 1)
                      / (alpha * y ** -lam + (1 - y) ** -lam) ** 2)
    np.testing.assert_allclose(d.log_prob(t(y)).numpy(), expected, rtol=1e-10)
    samples = d.rsample((5,))
    assert samples.shape == (5, 4) and bool(((samples > 0) & (samples < 1)).all().item())
    logits = RNG.standard_normal(3)
    probs = np.exp(logits) / np.exp(logits).sum()
    r = RelaxedOneHotCategorical(temperature, logits=t(logits))
    v = RNG.dirichlet(np.ones(3), size=2)
    # the Concrete density: (n-1)! lam^(n-1) prod(p_i v_i^(-lam-1)) / (sum p_i v_i^-lam)^n
    dens = (math.factorial(2) * lam ** 2 * np.prod(probs * v ** (-lam - 1), -1)
            / (probs * v ** -lam).sum(-1) ** 3)
    np.testing.assert_allclose(r.log_prob(t(v)).numpy(), np.log(dens), rtol=1e-10)
    assert r.rsample((4,)).shape == (4, 3) and r.event_shape == (3,)
    z = graphc.tensor(logits, requires_grad=True)
    st = OneHotCategoricalStraightThrough(logits=z)
    sample = st.rsample((6,))
    assert set(sample.sum(-1).tolist()) == {1.0}
    (sample * t([1.0, 2.0, 3.0])).sum().backward()
    # the straight-through gradient is that of 6 * probs . c
    c = np.array([1.0, 2.0, 3.0])
    expected = 6 * probs * (c - probs @ c)
    np.testing.assert_allclose(z.grad.numpy(), expected, rtol=1e-12)


def _quad_kl(p_ref, q_ref, lo, hi, points=()):
    def integrand(x):
        density = p_ref.pdf(x)
        return 0.0 if density == 0 else density * (p_ref.logpdf(x) - q_ref.logpdf(x))
    edges = [lo, *points, hi]
    return sum(integrate.quad(integrand, a, b, limit=400, epsabs=1e-13, epsrel=1e-11)[0]
               for a, b in zip(edges[:-1], edges[1:]))


KL_CONTINUOUS = {
    "Gamma-Gamma": (Gamma(t(2.5), t(1.5)), Gamma(t(1.2), t(0.7)),
                    stats.gamma(2.5, scale=1 / 1.5), stats.gamma(1.2, scale=1 / 0.7)),
    "Beta-Beta": (Beta(t(2.0), t(3.5)), Beta(t(0.8), t(1.5)), stats.beta(2.0, 3.5),
                  stats.beta(0.8, 1.5)),
    "Gumbel-Gumbel": (Gumbel(t(0.3), t(1.2)), Gumbel(t(-0.5), t(0.8)),
                      stats.gumbel_r(0.3, 1.2), stats.gumbel_r(-0.5, 0.8)),
    "HalfNormal-HalfNormal": (HalfNormal(t(1.3)), HalfNormal(t(0.6)), stats.halfnorm(scale=1.3),
                              stats.halfnorm(scale=0.6)),
    "Pareto-Pareto": (Pareto(t(1.5), t(3.0)), Pareto(t(1.0), t(2.0)),
                      stats.pareto(3.0, scale=1.5), stats.pareto(2.0, scale=1.0)),
    "Exponential-Gamma": (Exponential(t(1.5)), Gamma(t(2.2), t(0.9)), stats.expon(scale=1 / 1.5),
                          stats.gamma(2.2, scale=1 / 0.9)),
    "Gamma-Exponential": (Gamma(t(2.2), t(0.9)), Exponential(t(1.5)),
                          stats.gamma(2.2, scale=1 / 0.9), stats.expon(scale=1 / 1.5)),
    "Gamma-Gumbel": (Gamma(t(2.2), t(0.9)), Gumbel(t(1.0), t(2.0)),
                     stats.gamma(2.2, scale=1 / 0.9), stats.gumbel_r(1.0, 2.0)),
    "Gamma-Normal": (Gamma(t(2.2), t(0.9)), Normal(t(1.0), t(2.0)),
                     stats.gamma(2.2, scale=1 / 0.9), stats.norm(1.0, 2.0)),
    "Beta-Exponential": (Beta(t(2.0), t(3.5)), Exponential(t(1.5)), stats.beta(2.0, 3.5),
                         stats.expon(scale=1 / 1.5)),
    "Beta-Gamma": (Beta(t(2.0), t(3.5)), Gamma(t(2.2), t(0.9)), stats.beta(2.0, 3.5),
                   stats.gamma(2.2, scale=1 / 0.9)),
    "Beta-Normal": (Beta(t(2.0), t(3.5)), Normal(t(1.0), t(2.0)), stats.beta(2.0, 3.5),
                    stats.norm(1.0, 2.0)),
    "Beta-Uniform": (Beta(t(2.0), t(3.5)), Uniform(t(-0.5), t(1.5)), stats.beta(2.0, 3.5),
                     stats.uniform(-0.5, 2.0)),
    "Pareto-Exponential": (Pareto(t(1.5), t(3.0)), Exponential(t(0.5)),
                           stats.pareto(3.0, scale=1.5), stats.expon(scale=2.0)),
    "Pareto-Gamma": (Pareto(t(1.5), t(3.0)), Gamma(t(2.2), t(0.9)),
                     stats.pareto(3.0, scale=1.5), stats.gamma(2.2, scale=1 / 0.9)),
    "Pareto-Normal": (Pareto(t(1.5), t(3.0)), Normal(t(1.0), t(2.0)),
                      stats.pareto(3.0, scale=1.5), stats.norm(1.0, 2.0)),
    "Uniform-Beta": (Uniform(t(0.2), t(0.7)), Beta(t(2.0), t(3.5)), stats.uniform(0.2, 0.5),
                     stats.beta(2.0, 3.5)),
    "Uniform-Gamma": (Uniform(t(0.2), t(2.7)), Gamma(t(2.2), t(0.9)), stats.uniform(0.2, 2.5),
                      stats.gamma(2.2, scale=1 / 0.9)),
    "Uniform-Pareto": (Uniform(t(1.2), t(2.7)), Pareto(t(1.0), t(2.0)),
                       stats.uniform(1.2, 1.5), stats.pareto(2.0, scale=1.0)),
}


KL_CONTINUOUS.update({
    "ContinuousBernoulli-ContinuousBernoulli": (
        ContinuousBernoulli(t(0.2)), ContinuousBernoulli(t(0.65)),
        _ContinuousBernoulliRef(0.2), _ContinuousBernoulliRef(0.65)),
    "ContinuousBernoulli-Normal": (ContinuousBernoulli(t(0.2)), Normal(t(1.0), t(2.0)),
                                   _ContinuousBernoulliRef(0.2), stats.norm(1.0, 2.0)),
    "ContinuousBernoulli-Exponential": (ContinuousBernoulli(t(0.8)), Exponential(t(1.5)),
                                        _ContinuousBernoulliRef(0.8),
                                        stats.expon(scale=1 / 1.5)),
    "ContinuousBernoulli-Uniform": (ContinuousBernoulli(t(0.8)), Uniform(t(-0.5), t(1.5)),
                                    _ContinuousBernoulliRef(0.8), stats.uniform(-0.5, 2.0)),
    "Beta-ContinuousBernoulli": (Beta(t(2.0), t(3.5)), ContinuousBernoulli(t(0.3)),
                                 stats.beta(2.0, 3.5), _ContinuousBernoulliRef(0.3)),
    "Uniform-ContinuousBernoulli": (Uniform(t(0.2), t(0.7)), ContinuousBernoulli(t(0.3)),
                                    stats.uniform(0.2, 0.5), _ContinuousBernoulliRef(0.3)),
})


@pytest.mark.parametrize("pair", list(KL_CONTINUOUS))
def test_kl_matches_numerical_integration(pair):
    p, q, p_ref, q_ref = KL_CONTINUOUS[pair]
    lo, hi = p_ref.support()
    with np.errstate(over="ignore", divide="ignore"):
        expected = _quad_kl(p_ref, q_ref, lo, hi)
    np.testing.assert_allclose(kl_divergence(p, q).item(), expected, rtol=1e-7, atol=1e-10)


def test_kl_discrete_dirichlet_and_infinite():
    ks = np.arange(0, 200.0)
    expected = (stats.poisson(2.5).pmf(ks) * (stats.poisson(2.5).logpmf(ks)
                                              - stats.poisson(4.0).logpmf(ks))).sum()
    assert kl_divergence(Poisson(t(2.5)), Poisson(t(4.0))).item() == pytest.approx(
        expected, rel=1e-10)
    kb = np.arange(0, 11.0)
    p_ref, q_ref = stats.binom(10, 0.3), stats.binom(10, 0.6)
    expected = (p_ref.pmf(kb) * (p_ref.logpmf(kb) - q_ref.logpmf(kb))).sum()
    assert kl_divergence(Binomial(10, probs=t(0.3)), Binomial(10, probs=t(0.6))).item() == \
        pytest.approx(expected, rel=1e-10)
    assert kl_divergence(Binomial(t(12.0), probs=t(0.3)),
                         Binomial(t(10.0), probs=t(0.6))).item() == math.inf
    with pytest.raises(NotImplementedError, match="q.total_count > p.total_count"):
        kl_divergence(Binomial(t(8.0), probs=t(0.3)), Binomial(t(10.0), probs=t(0.6)))
    p_ref, q_ref = stats.geom(0.3, loc=-1), stats.geom(0.6, loc=-1)
    expected = (p_ref.pmf(ks) * (p_ref.logpmf(ks) - q_ref.logpmf(ks))).sum()
    assert kl_divergence(Geometric(t(0.3)), Geometric(t(0.6))).item() == pytest.approx(
        expected, rel=1e-10)
    kb2 = np.arange(0, 2.0)
    expected = (stats.bernoulli(0.3).pmf(kb2) * (stats.bernoulli(0.3).logpmf(kb2)
                                                 - stats.poisson(1.7).logpmf(kb2))).sum()
    assert kl_divergence(Bernoulli(t(0.3)), Poisson(t(1.7))).item() == pytest.approx(
        expected, rel=1e-10)
    # Dirichlet: the closed form vs Monte Carlo would be weak; two-category Dirichlets are
    # Betas, whose KL is integrated above
    a, b = np.array([2.0, 3.5]), np.array([0.8, 1.5])
    assert kl_divergence(Dirichlet(t(a)), Dirichlet(t(b))).item() == pytest.approx(
        kl_divergence(Beta(t(2.0), t(3.5)), Beta(t(0.8), t(1.5))).item(), rel=1e-12)
    # three categories: E_p[log p - log q] with E_p[log x_i] integrated over x_i's Beta
    # marginal, the normalizers from scipy's gammaln
    a3, b3 = np.array([2.0, 1.5, 3.0]), np.array([1.0, 2.5, 1.2])
    mean_log = np.array([integrate.quad(lambda v, ai=ai: np.log(v) * stats.beta(
        ai, a3.sum() - ai).pdf(v), 0, 1, epsabs=1e-13, epsrel=1e-12)[0] for ai in a3])
    expected = (special.gammaln(a3.sum()) - special.gammaln(a3).sum()
                - special.gammaln(b3.sum()) + special.gammaln(b3).sum()
                + ((a3 - b3) * mean_log).sum())
    assert kl_divergence(Dirichlet(t(a3)), Dirichlet(t(b3))).item() == pytest.approx(
        expected, rel=1e-9)
    for p, q in ((Gamma(t(2.0), t(1.0)), Uniform(t(0.0), t(1.0))),
                 (Normal(t(0.0), t(1.0)), Gamma(t(2.0), t(1.0))),
                 (Poisson(t(1.0)), Binomial(5, probs=t(0.5))),
                 (Pareto(t(1.0), t(0.5)), Exponential(t(1.0))),
                 (Uniform(t(-1.0), t(1.0)), Gamma(t(2.0), t(1.0))),
                 (Beta(t(2.0), t(2.0)), Uniform(t(0.2), t(1.0)))):
        assert kl_divergence(p, q).item() == math.inf


@pytest.mark.parametrize("name, make, mean, var", [
    ("Gamma", lambda: Gamma(t(A), t(B)), A / B, A / B ** 2),
    ("Gamma(alpha < 1)", lambda: Gamma(t([0.05, 0.2, 0.5, 0.9]), 1.0),
     np.array([0.05, 0.2, 0.5, 0.9]), np.array([0.05, 0.2, 0.5, 0.9])),
    ("Chi2", lambda: Chi2(t(2 * A)), 2 * A, 4 * A),
    ("Beta", lambda: Beta(t(A), t(B)), A / (A + B), A * B / ((A + B) ** 2 * (A + B + 1))),
    ("StudentT", lambda: StudentT(t(A + 9.0), t(LOC), t(B)), LOC, B ** 2 * (A + 9) / (A + 7)),
    ("Poisson", lambda: Poisson(t([0.3, 4.0, 25.0, 300.0])), np.array([0.3, 4.0, 25.0, 300.0]),
     np.array([0.3, 4.0, 25.0, 300.0])),
    ("Binomial", lambda: Binomial(t([5.0, 40.0, 100.0, 1000.0]), probs=t(UNIT[0])),
     np.array([5.0, 40.0, 100.0, 1000.0]) * UNIT[0],
     np.array([5.0, 40.0, 100.0, 1000.0]) * UNIT[0] * (1 - UNIT[0])),
    ("Geometric", lambda: Geometric(t(UNIT[0] * 0.5 + 0.3)), 1 / (UNIT[0] * 0.5 + 0.3) - 1,
     (1 - (UNIT[0] * 0.5 + 0.3)) / (UNIT[0] * 0.5 + 0.3) ** 2),
    ("NegativeBinomial", lambda: NegativeBinomial(t(A + 1), probs=t(UNIT[0] * 0.5)),
     (A + 1) * UNIT[0] * 0.5 / (1 - UNIT[0] * 0.5),
     (A + 1) * UNIT[0] * 0.5 / (1 - UNIT[0] * 0.5) ** 2),
    ("HalfNormal", lambda: HalfNormal(t(B)), B * np.sqrt(2 / np.pi), B ** 2 * (1 - 2 / np.pi)),
    ("Weibull", lambda: Weibull(t(B), t(A + 1)), stats.weibull_min(A + 1, scale=B).mean(),
     stats.weibull_min(A + 1, scale=B).var()),
    ("Pareto", lambda: Pareto(t(B), t(A + 5)), stats.pareto(A + 5, scale=B).mean(),
     stats.pareto(A + 5, scale=B).var()),
])
def test_sample_moments(name, make, mean, var):
    graphc.manual_seed(27)
    n = 40000
    d = make()
    samples = d.sample((n,)).numpy()
    assert samples.shape == (n, 4)
    assert d.support.check(t(samples)).all().item()
    assert np.all(np.abs(samples.mean(0) - mean) < 5 * np.sqrt(var / n))
    # the sample variance's standard error is sqrt(var^2 (kurtosis + 2) / n) (kurtosis
    # excess, from scipy; Gamma(0.05)'s 120 is checked on the mean only)
    if name in EXCESS_KURTOSIS:
        kurtosis = np.max(EXCESS_KURTOSIS[name])
        assert np.all(np.abs(samples.var(0) - var) < 5 * np.sqrt(var ** 2 * (kurtosis + 2) / n))


EXCESS_KURTOSIS = {
    "Gamma": stats.gamma(A).stats("k"), "Chi2": stats.chi2(2 * A).stats("k"),
    "Beta": stats.beta(A, B).stats("k"), "StudentT": stats.t(A + 9.0).stats("k"),
    "Poisson": stats.poisson([0.3, 4.0, 25.0, 300.0]).stats("k"),
    "Binomial": stats.binom([5, 40, 100, 1000], UNIT[0]).stats("k"),
    "Geometric": stats.geom(UNIT[0] * 0.5 + 0.3).stats("k"),
    "NegativeBinomial": stats.nbinom(A + 1, 1 - UNIT[0] * 0.5).stats("k"),
    "HalfNormal": stats.halfnorm().stats("k"), "Weibull": stats.weibull_min(A + 1).stats("k"),
    "Pareto": stats.pareto(A + 5).stats("k"),
}


def test_dirichlet_and_multinomial_samples():
    graphc.manual_seed(3)
    n = 20000
    alpha = np.array([[0.5, 1.0, 2.0], [3.0, 0.2, 1.0]])
    s = Dirichlet(t(alpha)).sample((n,)).numpy()
    assert s.shape == (n, 2, 3) and np.allclose(s.sum(-1), 1.0)
    mean = alpha / alpha.sum(-1, keepdims=True)
    var = mean * (1 - mean) / (alpha.sum(-1, keepdims=True) + 1)
    assert np.all(np.abs(s.mean(0) - mean) < 5 * np.sqrt(var / n))
    probs = np.array([0.2, 0.3, 0.5])
    c = Multinomial(10, probs=t(probs)).sample((n,)).numpy()
    assert c.shape == (n, 3) and np.all(c.sum(-1) == 10)
    assert np.all(np.abs(c.mean(0) - 10 * probs) < 5 * np.sqrt(10 * probs * (1 - probs) / n))


def test_gamma_rsample_gradient_is_the_implicit_reparameterization():
    # dz/dalpha at the sample's CDF level u = P(alpha, z): central differences of
    # gammaincinv(alpha +- h, u); d/drate of z / rate is -z / rate^2
    alpha = np.array([0.05, 0.3, 1.0, 4.0, 60.0, 2500.0])
    rate = np.array([1.0, 2.0, 0.5, 1.5, 1.0, 3.0])
    for seed in range(3):
        a = graphc.tensor(np.tile(alpha, (20, 1)), requires_grad=True)
        r = graphc.tensor(np.tile(rate, (20, 1)), requires_grad=True)
        graphc.manual_seed(seed)
        sample = Gamma(a, r).rsample()
        sample.sum().backward()
        z = sample.detach().numpy() * rate
        u = special.gammainc(alpha, z)
        ok = (u > 1e-12) & (u < 1 - 1e-6)  # where gammaincinv differences are accurate
        h = 1e-6 * alpha
        fd = (special.gammaincinv(alpha + h, u) - special.gammaincinv(alpha - h, u)) / (2 * h)
        np.testing.assert_allclose((a.grad.numpy() * rate)[ok], fd[ok], rtol=1e-6)
        np.testing.assert_allclose(r.grad.numpy(), -z / rate ** 2, rtol=1e-12)
    # the standard-gamma gradient above 1e6 (Wilson-Hilferty) and in the far right tail
    big = np.array([2e6, 2e6])
    zb = special.gammaincinv(big, [0.1, 0.9])
    hb = 1e-3 * big
    fd = (special.gammaincinv(big + hb, [0.1, 0.9])
          - special.gammaincinv(big - hb, [0.1, 0.9])) / (2 * hb)
    np.testing.assert_allclose(_sampling.standard_gamma_grad(zb, big), fd, rtol=1e-6)


def test_beta_dirichlet_and_student_t_rsample_gradients():
    # the same draws re-made from the seed: gammas z_i, levels u_i = P(a_i, z_i); the sample
    # as a function of the concentrations at fixed u, differentiated centrally
    a = np.array([[0.7, 2.0, 5.0]])
    ta = graphc.tensor(a, requires_grad=True)
    graphc.manual_seed(11)
    x = Dirichlet(ta).rsample((4,))
    w = RNG.standard_normal(x.shape)
    (x * t(w)).sum().backward()
    graphc.manual_seed(11)
    z = _sampling.standard_gamma(np.broadcast_to(a, (4, 1, 3)), _sampling.numpy_rng())
    u = special.gammainc(a, z)

    def dirichlet_at(alpha):
        g = special.gammaincinv(alpha, u)
        return ((g / g.sum(-1, keepdims=True)) * w).sum()
    expected = np.zeros(3)
    for i in range(3):
        step = np.zeros(3)
        step[i] = 1e-6 * a[0, i]
        expected[i] = (dirichlet_at(a + step) - dirichlet_at(a - step)) / (2 * step[i])
    np.testing.assert_allclose(ta.grad.numpy()[0], expected, rtol=1e-6)
    # Beta(c1, c0) is the first coordinate of Dirichlet([c1, c0])
    c1 = graphc.tensor(np.array([1.5]), requires_grad=True)
    c0 = graphc.tensor(np.array([0.6]), requires_grad=True)
    graphc.manual_seed(12)
    Beta(c1, c0).rsample((3,)).sum().backward()
    graphc.manual_seed(12)
    pair = np.array([1.5, 0.6])
    u = special.gammainc(pair, _sampling.standard_gamma(np.broadcast_to(pair, (3, 1, 2)),
                                                        _sampling.numpy_rng()))

    def beta_at(c):
        g = special.gammaincinv(c, u)
        return (g[..., 0] / g.sum(-1)).sum()
    for i, param in enumerate((c1, c0)):
        step = np.zeros(2)
        step[i] = 1e-6
        fd = (beta_at(pair + step) - beta_at(pair - step)) / 2e-6
        np.testing.assert_allclose(param.grad.item(), fd, rtol=1e-6)
    # StudentT: loc + scale * X / sqrt(Z / df) with Z = 2 Gamma(df / 2)
    df = graphc.tensor(np.array([3.0]), requires_grad=True)
    graphc.manual_seed(13)
    StudentT(df).rsample((5,)).sum().backward()
    graphc.manual_seed(13)
    normal = graphc.randn((5, 1), dtype=graphc.float64).numpy()
    gam = _sampling.standard_gamma(np.full((5, 1), 1.5), _sampling.numpy_rng())
    u = special.gammainc(1.5, gam)

    def student_at(nu):
        chi2 = 2 * special.gammaincinv(nu / 2, u)
        return (normal / np.sqrt(chi2 / nu)).sum()
    fd = (student_at(3.0 + 1e-6) - student_at(3.0 - 1e-6)) / 2e-6
    np.testing.assert_allclose(df.grad.item(), fd, rtol=1e-6)


@pytest.mark.parametrize("name, fn, params", [
    ("Gamma.log_prob", lambda a, b: Gamma(a, b).log_prob(t(POSITIVE)), [A, B]),
    ("Gamma.entropy", lambda a, b: Gamma(a, b).entropy(), [A, B]),
    ("Gamma.cdf", lambda a, b, x: Gamma(a, b).cdf(x), [A, B, POSITIVE]),
    ("Beta.log_prob", lambda a, b: Beta(a, b).log_prob(t(UNIT)), [A, B]),
    ("Beta.entropy", lambda a, b: Beta(a, b).entropy(), [A, B]),
    ("Dirichlet.log_prob", lambda a: Dirichlet(a).log_prob(t([[0.2, 0.3, 0.5]])),
     [RNG.uniform(0.5, 3.0, (2, 3))]),
    ("StudentT.log_prob", lambda d, m, s: StudentT(d, m, s).log_prob(t(X)), [A + 1, LOC, B]),
    ("StudentT.entropy", lambda d, m, s: StudentT(d, m, s).entropy(), [A + 1, LOC, B]),
    ("Poisson.log_prob", lambda r: Poisson(r).log_prob(t([[0.0, 2.0, 5.0, 1.0]])), [B]),
    ("Binomial.log_prob", lambda z: Binomial(t(8.0), logits=z).log_prob(
        t([[0.0, 2.0, 5.0, 8.0]])), [LOC]),
    ("NegativeBinomial.log_prob", lambda n, z: NegativeBinomial(n, logits=z).log_prob(
        t([[0.0, 2.0, 5.0, 8.0]])), [A, LOC]),
    ("Geometric.entropy", lambda p: Geometric(probs=p).entropy(), [UNIT[0]]),
    ("Weibull.log_prob", lambda s, k: Weibull(s, k).log_prob(t(POSITIVE)), [B, A]),
    ("Pareto.cdf", lambda s, a: Pareto(s, a).cdf(t(B + POSITIVE)), [B, A]),
    ("kl Gamma||Gamma", lambda a, b: kl_divergence(Gamma(a, b), Gamma(b, a)), [A, B]),
    ("kl Beta||Beta", lambda a, b: kl_divergence(Beta(a, b), Beta(b, a + 1)), [A, B]),
    ("kl Gumbel||Gumbel", lambda m, s: kl_divergence(Gumbel(m, s), Gumbel(-m, s + 0.5)),
     [LOC, B]),
    ("kl Gamma||Normal", lambda a, b: kl_divergence(Gamma(a, b), Normal(b, a)), [A, B]),
    ("ContinuousBernoulli.log_prob", lambda z: ContinuousBernoulli(logits=z).log_prob(
        t(UNIT)), [LOC]),
    ("ContinuousBernoulli.entropy", lambda p: ContinuousBernoulli(probs=p).entropy(),
     [UNIT[0]]),
    ("kl ContinuousBernoulli||ContinuousBernoulli", lambda p, q: kl_divergence(
        ContinuousBernoulli(p), ContinuousBernoulli(q)), [UNIT[0], UNIT[1]]),
    ("kl Dirichlet||Dirichlet", lambda a, b: kl_divergence(Dirichlet(a), Dirichlet(b)),
     [RNG.uniform(0.5, 3.0, (2, 3)), RNG.uniform(0.5, 3.0, (2, 3))]),
])
def test_gradients_match_finite_differences(name, fn, params):
    check_grad(fn, params)


def test_validation_as_pytorch():
    with pytest.raises(ValueError, match=r"Expected parameter concentration .* of distribution "
                                         r"Gamma.*GreaterThan\(lower_bound=0.0\)"):
        Gamma(t(-1.0), 1.0)
    with pytest.raises(ValueError, match="Expected parameter df"):
        Chi2(t(0.0))
    with pytest.raises(ValueError, match="Expected parameter concentration .* Dirichlet"):
        Beta(t(1.0), t(-2.0))
    with pytest.raises(ValueError, match="at least one-dimensional"):
        Dirichlet(t(1.0))
    with pytest.raises(ValueError, match="Expected parameter rate"):
        Poisson(t(-0.5))
    with pytest.raises(ValueError, match="Expected parameter total_count"):
        Binomial(t(2.5), probs=t(0.5))
    with pytest.raises(ValueError, match="Either `probs` or `logits` must be specified"):
        Binomial(3)
    with pytest.raises(ValueError, match="Expected parameter probs .* to be positive"):
        Geometric(probs=t([0.5, 0.0]))
    with pytest.raises(ValueError, match="Expected parameter probs"):
        NegativeBinomial(3.0, probs=t(1.0))
    with pytest.raises(NotImplementedError, match="inhomogeneous total_count"):
        Multinomial(t(3.0), probs=t([0.5, 0.5]))
    with pytest.raises(NotImplementedError, match="Inhomogeneous total count not supported by "
                                                  "`entropy`"):
        Binomial(t([2.0, 3.0]), probs=t(0.5)).entropy()
    with pytest.raises(ValueError, match="within the support"):
        Gamma(t(1.0), t(1.0)).log_prob(t(-1.0))
    with pytest.raises(ValueError, match="within the support"):
        Beta(t(1.0), t(1.0)).log_prob(t(1.5))
    with pytest.raises(ValueError, match="within the support"):
        Poisson(t(1.0)).log_prob(t(1.5))
    with pytest.raises(ValueError, match="within the support"):
        Binomial(t(3.0), probs=t(0.5)).log_prob(t(4.0))
    with pytest.raises(ValueError, match="within the support"):
        Multinomial(3, probs=t([0.5, 0.5])).log_prob(t([3.0, 1.0]))
    with pytest.raises(ValueError, match=r"within the support \(GreaterThanEq"):
        Pareto(t(2.0), t(1.0)).log_prob(t(1.5))
    with pytest.raises(ValueError, match="within the support"):
        Dirichlet(t([1.0, 1.0])).log_prob(t([0.5, 0.6]))
    with pytest.raises(ValueError, match="Expected parameter scale"):
        HalfNormal(t(-1.0))
    with pytest.raises(ValueError, match="Expected parameter concentration"):
        Weibull(t(1.0), t(0.0))
    # validation off: PyTorch's values outside the support
    assert Gamma(t(1.0), t(1.0), validate_args=False).log_prob(t(-1.0)).item() == 1.0
    assert HalfNormal(t(1.0), validate_args=False).log_prob(t(-1.0)).item() == -math.inf


def test_shapes_broadcasting_expand_and_enumerate_support():
    g = Gamma(graphc.ones(3), 2.0)
    assert g.batch_shape == (3,) and g.rate.dtype == graphc.float32
    assert g.sample((4, 2)).shape == (4, 2, 3) and g.sample().dtype == graphc.float32
    assert Gamma(1.0, 1.0).batch_shape == () and Gamma(1.0, 1.0).sample().shape == ()
    assert g.expand((2, 3)).sample().shape == (2, 3)
    assert isinstance(Chi2(t([1.0, 2.0])).expand((3, 2)), Chi2)
    assert Chi2(t([1.0, 2.0])).expand((3, 2)).df.shape == (3, 2)
    b = Beta(t([1.0, 2.0]), 3.0)
    assert b.batch_shape == (2,) and b.expand((4, 2)).rsample((5,)).shape == (5, 4, 2)
    assert Beta(1.0, 2.0).concentration1.item() == 1.0
    d = Dirichlet(graphc.ones(2, 4))
    assert (d.batch_shape, d.event_shape, d.sample((3,)).shape) == ((2,), (4,), (3, 2, 4))
    assert d.expand((5, 2)).sample().shape == (5, 2, 4)
    bi = Binomial(t([3.0, 3.0]), probs=t([0.2, 0.7]))
    assert bi.enumerate_support().shape == (4, 2) and bi.enumerate_support(False).shape == (4, 1)
    assert bi.enumerate_support()[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert bi.expand((5, 2)).sample((3,)).shape == (3, 5, 2)
    assert bi.support.check(t([[0.0, 3.0], [4.0, 1.5]])).tolist() == [[True, True],
                                                                      [False, False]]
    m = Multinomial(5, logits=graphc.zeros(2, 3))
    assert (m.batch_shape, m.event_shape, m.sample((4,)).shape) == ((2,), (3,), (4, 2, 3))
    assert m.expand((6, 2)).sample().shape == (6, 2, 3)
    assert Poisson(t([1.0, 2.0])).expand((3, 2)).sample().shape == (3, 2)
    assert Geometric(logits=t([0.0])).expand((2, 1)).sample((3,)).shape == (3, 2, 1)
    assert NegativeBinomial(2.0, logits=t([0.0, 1.0])).sample((3,)).shape == (3, 2)
    s = StudentT(t([3.0, 4.0]))
    assert s.batch_shape == (2,) and s.rsample((6,)).shape == (6, 2)
    assert np.isnan(StudentT(t([0.5, 1.5, 3.0])).mean.numpy()[0])
    assert StudentT(t([0.5, 1.5, 3.0])).variance.numpy()[1] == math.inf
    for make in (lambda: HalfNormal(t([1.0, 2.0])), lambda: HalfCauchy(t([1.0, 2.0])),
                 lambda: Weibull(t([1.0, 2.0]), 1.5), lambda: Pareto(t([1.0, 2.0]), 3.0),
                 lambda: RelaxedBernoulli(t(0.5), probs=t([0.3, 0.6]))):
        dist = make()
        assert dist.batch_shape == (2,) and dist.rsample((3,)).shape == (3, 2)
        e = dist.expand((4, 2))
        assert type(e) is type(dist) and e.sample().shape == (4, 2)
        assert e.log_prob(dist.sample()).shape == (4, 2)
    r = RelaxedOneHotCategorical(t(0.5), logits=graphc.zeros(2, 3, dtype=graphc.float64))
    assert r.expand((4, 2)).rsample().shape == (4, 2, 3)
    assert Binomial(5, probs=t(0.5)).mode.item() == 3.0
    assert repr(constraints.multinomial(3)) == "Multinomial()"


def test_reproducible_with_manual_seed():
    draws = []
    for _ in range(2):
        graphc.manual_seed(9)
        draws.append([Gamma(t(A), 1.0).sample((3,)).numpy(), Poisson(t(B)).sample().numpy(),
                      Binomial(t(7.0), probs=t(UNIT[0])).sample().numpy(),
                      Beta(t(A), t(B)).sample().numpy()])
    for a, b in zip(*draws):
        np.testing.assert_array_equal(a, b)


def test_compiled_equals_eager_and_sampling_refused_when_compiled():
    a, b = graphc.tensor(A.astype(np.float32)), graphc.tensor(B.astype(np.float32))
    x = graphc.tensor(POSITIVE.astype(np.float32))
    u = graphc.tensor(UNIT.astype(np.float32))
    k = graphc.tensor(np.floor(POSITIVE * 2).astype(np.float32))

    def gamma_terms(a, b, x):
        d = Gamma(a, b)
        return d.log_prob(x), d.entropy(), kl_divergence(d, Gamma(b, a))

    def beta_terms(a, b, u):
        d = Beta(a, b)
        return d.log_prob(u), d.entropy(), d.mean

    def poisson_terms(b, k):
        return Poisson(b).log_prob(k), StudentT(b + 1.0).log_prob(k - 1.0)

    for fn, args in ((gamma_terms, (a, b, x)), (beta_terms, (a, b, u)),
                     (poisson_terms, (b, k))):
        got, want = graphc.compile(fn)(*args), fn(*args)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(graphc.TraceError, match="Gamma.sample/rsample is not supported inside "
                                                "a compiled function"):
        graphc.compile(lambda a: Gamma(a, 1.0).rsample())(a)
    with pytest.raises(graphc.TraceError, match="not supported inside a compiled function"):
        graphc.compile(lambda a, x: Gamma(a, 1.0).cdf(x))(a, x)


def test_laplace_and_exponential_pairs_still_dispatch():
    # the new rules must not shadow the old ones (most specific pair wins)
    assert kl_divergence(Laplace(t(0.0), t(1.0)), Gamma(t(1.0), t(1.0))).item() == math.inf
    assert kl_divergence(Exponential(t(1.0)), Exponential(t(2.0))).item() == pytest.approx(
        math.log(0.5) + 1.0, rel=1e-12)


def test_second_derivatives_are_right_or_refused_never_a_silent_zero():
    # Gamma.cdf's second derivative in x is x**(a-1) e**-x / Gamma(a) differentiated again
    # (graphc ops); a Gamma sample's slope in the concentration is first order only, so a
    # second derivative raises (both were constants before: a silent 0)
    x = graphc.tensor([1.5], dtype=graphc.float64, requires_grad=True)
    concentration = graphc.tensor([2.0], dtype=graphc.float64)
    (g,) = graphc.autograd.grad(Gamma(concentration, 1.0).cdf(x).sum(), [x], create_graph=True)
    (h,) = graphc.autograd.grad(g.sum(), [x])
    assert h.item() == pytest.approx(math.exp(-1.5) * (1 - 1.5), rel=1e-12)
    alpha = graphc.tensor([2.0], dtype=graphc.float64, requires_grad=True)
    (slope,) = graphc.autograd.grad(Gamma(alpha, 1.0).rsample().sum(), [alpha])
    assert slope.item() > 0
    with pytest.raises(graphc.errors.AutogradError, match="second derivatives"):
        graphc.autograd.grad(Gamma(alpha, 1.0).rsample().sum(), [alpha], create_graph=True)
