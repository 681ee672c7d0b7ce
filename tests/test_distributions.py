"""graphc.distributions (torch.distributions): densities, CDFs, moments and entropies against
scipy.stats in float64, KL divergences against numerical integration, sample moments, rsample
gradients against finite differences, PyTorch's validation errors and shapes.

scipy (stats, integrate) comes with scikit-learn, which the test extra installs.
Tolerances: float64 closed forms vs scipy rtol=1e-10 (atol=1e-12); KL vs adaptive quadrature
rtol=1e-7 (quad's own accuracy); sample means over N draws within 5 standard errors
(sigma / sqrt(N); a seeded draw, a false failure has probability ~6e-7 per moment); gradients
vs central finite differences as conftest.check_grad states.
"""
import math
import warnings

import numpy as np
import pytest
from scipy import integrate, stats

import graphc
from conftest import check_grad
from graphc.distributions import (
    AffineTransform,
    Bernoulli,
    Categorical,
    Cauchy,
    Distribution,
    Exponential,
    ExpTransform,
    Gumbel,
    Independent,
    Laplace,
    LogNormal,
    MultivariateNormal,
    Normal,
    OneHotCategorical,
    SigmoidTransform,
    TanhTransform,
    TransformedDistribution,
    Uniform,
    constraints,
    kl_divergence,
    register_kl,
)
from graphc.distributions import kl as kl_module

TOL = dict(rtol=1e-10, atol=1e-12)
RNG = np.random.default_rng(27)
LOC = RNG.standard_normal(4)
SCALE = RNG.uniform(0.5, 2.0, 4)
X = RNG.standard_normal((3, 4)) * 2
POSITIVE = RNG.uniform(0.1, 4.0, (3, 4))
Q = RNG.uniform(0.05, 0.95, (3, 4))


def t(array):
    return graphc.tensor(np.asarray(array, dtype=np.float64))


# family: (graphc distribution, frozen scipy distribution, values to score)
CONTINUOUS = {
    "Normal": (lambda: Normal(t(LOC), t(SCALE)), stats.norm(LOC, SCALE), X),
    "Laplace": (lambda: Laplace(t(LOC), t(SCALE)), stats.laplace(LOC, SCALE), X),
    "Cauchy": (lambda: Cauchy(t(LOC), t(SCALE)), stats.cauchy(LOC, SCALE), X),
    "Gumbel": (lambda: Gumbel(t(LOC), t(SCALE)), stats.gumbel_r(LOC, SCALE), X),
    "Exponential": (lambda: Exponential(t(SCALE)), stats.expon(scale=1 / SCALE), POSITIVE),
    "Uniform": (lambda: Uniform(t(LOC), t(LOC + SCALE)), stats.uniform(LOC, SCALE),
                LOC + SCALE * Q),
    "LogNormal": (lambda: LogNormal(t(LOC), t(SCALE)),
                  stats.lognorm(SCALE, scale=np.exp(LOC)), POSITIVE),
}


@pytest.mark.parametrize("name", list(CONTINUOUS))
def test_continuous_closed_forms_match_scipy(name):
    make, ref, values = CONTINUOUS[name]
    d = make()
    np.testing.assert_allclose(d.log_prob(t(values)).numpy(), ref.logpdf(values), **TOL)
    np.testing.assert_allclose(d.cdf(t(values)).numpy(), ref.cdf(values), **TOL)
    np.testing.assert_allclose(d.icdf(t(Q)).numpy(), ref.ppf(Q), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(d.entropy().numpy(), ref.entropy(), **TOL)
    if name == "Cauchy":  # no mean; infinite variance (PyTorch's NaN and inf)
        assert np.isnan(d.mean.numpy()).all() and np.isposinf(d.variance.numpy()).all()
        return
    np.testing.assert_allclose(d.mean.numpy(), ref.mean(), **TOL)
    np.testing.assert_allclose(d.variance.numpy(), ref.var(), **TOL)
    np.testing.assert_allclose(d.stddev.numpy(), ref.std(), **TOL)


def test_discrete_closed_forms():
    p = RNG.uniform(0.05, 0.95, 4)
    values = (RNG.uniform(size=(3, 4)) < 0.5) * 1.0
    for d in (Bernoulli(probs=t(p)), Bernoulli(logits=t(np.log(p) - np.log1p(-p)))):
        np.testing.assert_allclose(d.log_prob(t(values)).numpy(),
                                   stats.bernoulli(p).logpmf(values), **TOL)
        np.testing.assert_allclose(d.entropy().numpy(), stats.bernoulli(p).entropy(), **TOL)
        np.testing.assert_allclose(d.mean.numpy(), p, **TOL)
        np.testing.assert_allclose(d.variance.numpy(), p * (1 - p), **TOL)
    logits = RNG.standard_normal((2, 5))
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    k = np.array([[0, 4], [3, 3], [1, 2]])
    for d in (Categorical(logits=t(logits)), Categorical(probs=t(probs * 7.0))):
        np.testing.assert_allclose(d.log_prob(graphc.tensor(k)).numpy(),
                                   np.log(probs[np.arange(2), k]), **TOL)
        np.testing.assert_allclose(d.entropy().numpy(), -(probs * np.log(probs)).sum(-1), **TOL)
        np.testing.assert_allclose(d.probs.numpy(), probs, **TOL)
        np.testing.assert_allclose(d.logits.numpy(), np.log(probs), **TOL)
    one_hot = OneHotCategorical(logits=t(logits))
    np.testing.assert_allclose(one_hot.log_prob(t(np.eye(5)[k])).numpy(),
                               np.log(probs[np.arange(2), k]), **TOL)
    np.testing.assert_allclose(one_hot.variance.numpy(), probs * (1 - probs), **TOL)
    # an impossible category: entropy stays finite, as PyTorch (probabilities are clamped to
    # [eps, 1 - eps] before their log: -log(1 - eps) = eps)
    assert Categorical(probs=t([0.0, 1.0])).entropy().item() == pytest.approx(
        np.finfo(np.float64).eps, rel=1e-6)


def test_logits_are_normalized_and_the_other_parametrization_is_lazy():
    d = Categorical(logits=t([[1.0, 2.0, 3.0]]))
    assert "probs" not in d.__dict__
    np.testing.assert_allclose(np.exp(d.logits.numpy()).sum(-1), 1.0, **TOL)
    d.probs
    assert "probs" in d.__dict__
    b = Bernoulli(probs=0.25)
    assert "logits" not in b.__dict__
    assert b.logits.item() == pytest.approx(math.log(0.25 / 0.75), rel=1e-7)


def test_multivariate_normal_matches_scipy_for_each_parametrization():
    a = RNG.standard_normal((2, 3, 3))
    cov = a @ np.swapaxes(a, -1, -2) + np.eye(3)
    loc = RNG.standard_normal((2, 3))
    values = RNG.standard_normal((4, 2, 3))
    for d in (MultivariateNormal(t(loc), covariance_matrix=t(cov)),
              MultivariateNormal(t(loc), precision_matrix=t(np.linalg.inv(cov))),
              MultivariateNormal(t(loc), scale_tril=t(np.linalg.cholesky(cov)))):
        for b in range(2):
            ref = stats.multivariate_normal(loc[b], cov[b])
            np.testing.assert_allclose(d.log_prob(t(values)).numpy()[:, b],
                                       ref.logpdf(values[:, b]), rtol=1e-9)
            np.testing.assert_allclose(d.entropy().numpy()[b], ref.entropy(), rtol=1e-9)
        np.testing.assert_allclose(d.covariance_matrix.numpy(), cov, rtol=1e-9)
        np.testing.assert_allclose(d.precision_matrix.numpy(), np.linalg.inv(cov), rtol=1e-8)
        np.testing.assert_allclose(d.variance.numpy(), np.diagonal(cov, 0, -2, -1), rtol=1e-9)
    with pytest.raises(ValueError, match="Exactly one of covariance_matrix"):
        MultivariateNormal(t(loc), covariance_matrix=t(cov), scale_tril=t(cov))
    with pytest.raises(ValueError, match="positive_definite|PositiveDefinite"):
        MultivariateNormal(t(loc), covariance_matrix=t(-cov))


def test_transformed_distributions():
    # SAC's squashed Gaussian: y = tanh(x), density p_x(atanh y) / (1 - y^2)
    y = np.tanh(X)
    d = TransformedDistribution(Normal(t(LOC), t(SCALE)), [TanhTransform()])
    x = np.arctanh(y)
    expected = stats.norm(LOC, SCALE).logpdf(x) - np.log1p(-y ** 2)
    np.testing.assert_allclose(d.log_prob(t(y)).numpy(), expected, rtol=1e-9)
    np.testing.assert_allclose(d.cdf(t(y)).numpy(), stats.norm(LOC, SCALE).cdf(x), rtol=1e-9)
    # a decreasing chain (scale -2): the CDF flips
    d = TransformedDistribution(Normal(t(LOC), t(SCALE)),
                                [SigmoidTransform(), AffineTransform(1.0, -2.0)])
    v = 1 - 2 * Q
    base = np.log((1 - v) / 2) - np.log1p(-(1 - v) / 2)
    np.testing.assert_allclose(d.cdf(t(v)).numpy(), 1 - stats.norm(LOC, SCALE).cdf(base),
                               rtol=1e-9)
    np.testing.assert_allclose(d.icdf(d.cdf(t(v))).numpy(), v, rtol=1e-9)
    # the log-determinant at large |x|, where log(1 - tanh(x)^2) would be -inf
    big = t([30.0, -30.0])
    np.testing.assert_allclose(TanhTransform().log_abs_det_jacobian(big, big.tanh()).numpy(),
                               np.log(4.0) - 2 * 30.0 - 2 * np.log1p(np.exp(-60.0)), rtol=1e-12)
    # cache_size=1: the inverse of the last output is the input itself (no atanh(1) = inf)
    cached = TanhTransform(cache_size=1)
    yy = cached(big)
    assert cached.inv(yy) is big
    assert TanhTransform().inv.inv == TanhTransform() and ExpTransform() != TanhTransform()


@pytest.mark.parametrize("pair", [
    "Normal-Normal", "Laplace-Laplace", "Exponential-Exponential", "Cauchy-Cauchy",
    "Uniform-Uniform", "Normal-Laplace", "Normal-Gumbel", "Laplace-Normal", "Gumbel-Normal",
    "Exponential-Normal", "Exponential-Gumbel", "Uniform-Normal", "Uniform-Gumbel",
    "Uniform-Exponential", "LogNormal-LogNormal",
])
def test_kl_matches_numerical_integration(pair):
    dists = {
        "Normal": (Normal(t(0.3), t(1.2)), stats.norm(0.3, 1.2)),
        "Laplace": (Laplace(t(-0.2), t(0.8)), stats.laplace(-0.2, 0.8)),
        "Exponential": (Exponential(t(1.5)), stats.expon(scale=1 / 1.5)),
        "Cauchy": (Cauchy(t(0.5), t(2.0)), stats.cauchy(0.5, 2.0)),
        "Gumbel": (Gumbel(t(0.1), t(1.3)), stats.gumbel_r(0.1, 1.3)),
        "Uniform": (Uniform(t(0.5), t(2.0)), stats.uniform(0.5, 1.5)),
        "LogNormal": (LogNormal(t(0.2), t(0.7)), stats.lognorm(0.7, scale=np.exp(0.2))),
    }
    others = {  # a different member of the family as q for same-family pairs
        "Normal": (Normal(t(-1.0), t(0.6)), stats.norm(-1.0, 0.6)),
        "Laplace": (Laplace(t(1.0), t(2.0)), stats.laplace(1.0, 2.0)),
        "Exponential": (Exponential(t(0.4)), stats.expon(scale=1 / 0.4)),
        "Cauchy": (Cauchy(t(-1.0), t(0.5)), stats.cauchy(-1.0, 0.5)),
        "Uniform": (Uniform(t(0.0), t(3.0)), stats.uniform(0.0, 3.0)),
        "LogNormal": (LogNormal(t(-0.3), t(1.1)), stats.lognorm(1.1, scale=np.exp(-0.3))),
    }
    p_name, q_name = pair.split("-")
    p, p_ref = dists[p_name]
    q, q_ref = (others if p_name == q_name else dists)[q_name]
    lo, hi = p_ref.support()

    def integrand(x):
        density = p_ref.pdf(x)
        return 0.0 if density == 0 else density * (p_ref.logpdf(x) - q_ref.logpdf(x))
    # the kinks of Laplace densities and the ends of Uniform ones split the range
    kinks = sorted({v for v in (-0.2, 1.0, 0.5, 2.0, 0.0, 3.0) if lo < v < hi})
    edges = [lo] + kinks + [hi]
    with np.errstate(over="ignore"):  # scipy's Gumbel density far in its left tail
        expected = sum(integrate.quad(integrand, a, b, limit=400, epsabs=1e-13,
                                      epsrel=1e-11)[0] for a, b in zip(edges[:-1], edges[1:]))
    np.testing.assert_allclose(kl_divergence(p, q).item(), expected, rtol=1e-7, atol=1e-10)


def test_kl_discrete_multivariate_independent_and_infinite():
    p, q = RNG.uniform(0.05, 0.95, (2, 4)), RNG.uniform(0.05, 0.95, (2, 4))
    p, q = p / p.sum(-1, keepdims=True), q / q.sum(-1, keepdims=True)
    expected = (p * np.log(p / q)).sum(-1)
    np.testing.assert_allclose(kl_divergence(Categorical(t(p)), Categorical(t(q))).numpy(),
                               expected, **TOL)
    np.testing.assert_allclose(kl_divergence(OneHotCategorical(t(p)),
                                             OneHotCategorical(t(q))).numpy(), expected, **TOL)
    bp, bq = p[:, 0], q[:, 1]
    np.testing.assert_allclose(
        kl_divergence(Bernoulli(t(bp)), Bernoulli(t(bq))).numpy(),
        bp * np.log(bp / bq) + (1 - bp) * np.log((1 - bp) / (1 - bq)), **TOL)
    # zero probabilities: 0 log 0 = 0, and p > 0 where q = 0 is +inf
    assert kl_divergence(Categorical(t([0.5, 0.5, 0.0])),
                         Categorical(t([0.25, 0.75, 0.0]))).item() == pytest.approx(
        0.5 * math.log(2) + 0.5 * math.log(2 / 3), rel=1e-12)
    assert kl_divergence(Bernoulli(t(0.5)), Bernoulli(t(1.0))).item() == math.inf
    a, b = RNG.standard_normal((2, 3, 3))
    s0, s1 = a @ a.T + np.eye(3), b @ b.T + np.eye(3)
    m0, m1 = RNG.standard_normal((2, 3))
    expected = 0.5 * (np.trace(np.linalg.solve(s1, s0)) + (m1 - m0) @ np.linalg.solve(
        s1, m1 - m0) - 3 + np.log(np.linalg.det(s1) / np.linalg.det(s0)))
    got = kl_divergence(MultivariateNormal(t(m0), t(s0)), MultivariateNormal(t(m1), t(s1)))
    assert got.item() == pytest.approx(expected, rel=1e-9)
    independent = kl_divergence(Independent(Normal(t(LOC), t(SCALE)), 1),
                                Independent(Normal(t(SCALE), t(SCALE + 1)), 1))
    assert independent.shape == ()
    assert independent.item() == pytest.approx(
        kl_divergence(Normal(t(LOC), t(SCALE)), Normal(t(SCALE), t(SCALE + 1))).sum().item(),
        rel=1e-12)
    assert kl_divergence(Uniform(t(0.0), t(2.0)), Uniform(t(0.5), t(3.0))).item() == math.inf
    assert kl_divergence(Normal(t(0.0), t(1.0)), Uniform(t(0.0), t(1.0))).item() == math.inf


def test_kl_dispatch_and_missing_rules():
    with pytest.raises(NotImplementedError, match="No KL\\(p \\|\\| q\\) is implemented for p "
                                                  "type Categorical and q type Normal"):
        kl_divergence(Categorical(t([0.5, 0.5])), Normal(0.0, 1.0))

    class MyNormal(Normal):
        pass

    # a subclass uses its parent's rule until it registers its own
    assert kl_divergence(MyNormal(0.0, 1.0), Normal(1.0, 1.0)).item() == pytest.approx(0.5)
    try:
        @register_kl(MyNormal, Normal)
        def _mine(p, q):
            return graphc.tensor(42.0)
        assert kl_divergence(MyNormal(0.0, 1.0), Normal(1.0, 1.0)).item() == 42.0
        assert kl_divergence(Normal(0.0, 1.0), Normal(1.0, 1.0)).item() == pytest.approx(0.5)

        @register_kl(Normal, MyNormal)
        def _other(p, q):
            return graphc.tensor(7.0)
        with pytest.warns(RuntimeWarning, match="Ambiguous kl_divergence"):
            kl_divergence(MyNormal(0.0, 1.0), MyNormal(1.0, 1.0))
    finally:
        for key in [(MyNormal, Normal), (Normal, MyNormal)]:
            kl_module._KL_REGISTRY.pop(key, None)
        kl_module._KL_MEMOIZE.clear()
    with pytest.raises(TypeError, match="Distribution subclass"):
        register_kl(int, Normal)


@pytest.mark.parametrize("name, make, mean, var", [
    ("Normal", lambda: Normal(t(LOC), t(SCALE)), LOC, SCALE ** 2),
    ("Laplace", lambda: Laplace(t(LOC), t(SCALE)), LOC, 2 * SCALE ** 2),
    ("Gumbel", lambda: Gumbel(t(LOC), t(SCALE)), LOC + SCALE * np.euler_gamma,
     (np.pi * SCALE) ** 2 / 6),
    ("Exponential", lambda: Exponential(t(SCALE)), 1 / SCALE, 1 / SCALE ** 2),
    ("Uniform", lambda: Uniform(t(LOC), t(LOC + SCALE)), LOC + SCALE / 2, SCALE ** 2 / 12),
    ("LogNormal", lambda: LogNormal(t(LOC / 4), t(SCALE / 4)),
     np.exp(LOC / 4 + SCALE ** 2 / 32), (np.exp(SCALE ** 2 / 16) - 1)
     * np.exp(LOC / 2 + SCALE ** 2 / 16)),
    ("Bernoulli", lambda: Bernoulli(t(Q[0])), Q[0], Q[0] * (1 - Q[0])),
])
def test_sample_moments(name, make, mean, var):
    graphc.manual_seed(27)
    n = 40000
    d = make()
    samples = d.sample((n,)).numpy()
    assert samples.shape == (n, 4)
    assert d.support.check(t(samples)).all().item()
    assert np.all(np.abs(samples.mean(0) - mean) < 5 * np.sqrt(var / n))
    # the sample variance's standard error for these (finite fourth moment) laws is below
    # 5 sqrt(var^2 * (kurtosis + 2) / n); kurtosis <= 6 (Laplace; LogNormal with sigma <= 0.5
    # stays below 8)
    assert np.all(np.abs(samples.var(0) - var) < 5 * np.sqrt(10 * var ** 2 / n))


def test_categorical_and_multivariate_sample_frequencies_and_covariance():
    graphc.manual_seed(1)
    probs = np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]])
    n = 40000
    samples = Categorical(t(probs)).sample((n,)).numpy()
    assert samples.shape == (n, 2) and samples.dtype == np.int64
    freq = np.stack([(samples == k).mean(0) for k in range(3)], -1)
    assert np.all(np.abs(freq - probs) < 5 * np.sqrt(probs * (1 - probs) / n))
    one_hot = OneHotCategorical(t(probs)).sample((5,)).numpy()
    assert one_hot.shape == (5, 2, 3) and np.all(one_hot.sum(-1) == 1)
    cov = np.array([[2.0, 0.6], [0.6, 1.0]])
    mvn = MultivariateNormal(t([1.0, -1.0]), covariance_matrix=t(cov))
    draws = mvn.sample((n,)).numpy()
    assert np.all(np.abs(draws.mean(0) - [1.0, -1.0]) < 5 * np.sqrt(np.diag(cov) / n))
    assert np.all(np.abs(np.cov(draws.T) - cov) < 5 * np.sqrt(2 * 2.0 * 2.0 / n))


def _fixed_noise(make, shape=(3,)):
    """``make(*params).rsample(shape)`` with the same noise on every call: a deterministic
    function of the parameters, so finite differences apply."""
    def fn(*params):
        graphc.manual_seed(5)
        return make(*params).rsample(shape)
    return fn


@pytest.mark.parametrize("name, make, params", [
    ("Normal", Normal, [LOC, SCALE]),
    ("Laplace", Laplace, [LOC, SCALE]),
    ("Cauchy", Cauchy, [LOC, SCALE]),
    ("Gumbel", Gumbel, [LOC, SCALE]),
    ("Exponential", Exponential, [SCALE]),
    ("Uniform", lambda lo, w: Uniform(lo, lo + w), [LOC, SCALE]),
    ("LogNormal", LogNormal, [LOC, SCALE / 4]),
    ("Tanh(Normal)", lambda m, s: TransformedDistribution(Normal(m, s), [TanhTransform()]),
     [LOC, SCALE]),
    ("MultivariateNormal(scale_tril)",
     lambda m, a: MultivariateNormal(m, scale_tril=a.tril(-1) + a.diagonal().exp().diag()),
     [LOC[:3], RNG.standard_normal((3, 3))]),
    ("MultivariateNormal(covariance_matrix)",
     lambda m, a: MultivariateNormal(m, covariance_matrix=a @ a.mT + graphc.eye(3,
                                                                                dtype=a.dtype)),
     [LOC[:3], RNG.standard_normal((3, 3))]),
])
def test_rsample_gradients_match_finite_differences(name, make, params):
    check_grad(_fixed_noise(make), params)
    sample = make(*[graphc.tensor(p, requires_grad=True) for p in params]).sample((2,))
    assert not sample.requires_grad  # sample() carries no gradient


@pytest.mark.parametrize("name, fn, params", [
    ("Normal.log_prob", lambda m, s: Normal(m, s).log_prob(t(X)), [LOC, SCALE]),
    ("Laplace.cdf", lambda m, s: Laplace(m, s).cdf(t(X)), [LOC, SCALE]),
    ("Gumbel.icdf", lambda m, s: Gumbel(m, s).icdf(t(Q)), [LOC, SCALE]),
    ("Bernoulli.entropy", lambda z: Bernoulli(logits=z).entropy(), [LOC]),
    ("Categorical.log_prob", lambda z: Categorical(logits=z).log_prob(
        graphc.tensor([[0, 3], [2, 2]])), [RNG.standard_normal((2, 4))]),
    ("MultivariateNormal.log_prob", lambda m, a: MultivariateNormal(
        m, covariance_matrix=a @ a.mT + graphc.eye(3, dtype=a.dtype)).log_prob(t(X[:, :3])),
     [LOC[:3], RNG.standard_normal((3, 3))]),
    ("kl Normal||Laplace", lambda m, s: kl_divergence(Normal(m, s), Laplace(s, m.exp())),
     [LOC, SCALE]),
])
def test_density_gradients_match_finite_differences(name, fn, params):
    check_grad(fn, params)


def test_validation_as_pytorch():
    with pytest.raises(ValueError, match=r"Expected parameter scale \(Tensor of shape \(\)\) of "
                                         r"distribution Normal.*GreaterThan\(lower_bound=0.0\)"):
        Normal(0.0, -1.0)
    with pytest.raises(ValueError, match="Expected parameter probs"):
        Bernoulli(probs=t([0.5, 1.5]))
    with pytest.raises(ValueError, match="Expected parameter probs.*Simplex"):
        Categorical(probs=t([-0.5, 1.5]))
    with pytest.raises(ValueError, match="Expected parameter low"):
        Uniform(1.0, 0.0)
    with pytest.raises(ValueError, match="Either `probs` or `logits` must be specified"):
        Bernoulli()
    with pytest.raises(ValueError, match="at least one-dimensional"):
        Categorical(logits=t(1.0))
    d = Uniform(0.0, 1.0)
    with pytest.raises(ValueError, match=r"Expected value argument .* to be within the support "
                                         r"\(Interval\(lower_bound="):
        d.log_prob(t(2.0))
    with pytest.raises(ValueError, match="The value argument to log_prob must be a Tensor"):
        d.log_prob(0.5)
    with pytest.raises(ValueError, match="Value is not broadcastable"):
        Normal(t(np.zeros(3)), 1.0).log_prob(t(np.zeros(4)))
    with pytest.raises(ValueError, match="The right-most size of value must match event_shape"):
        OneHotCategorical(t([0.5, 0.5])).log_prob(t([1.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="within the support"):
        Categorical(t([0.5, 0.5])).log_prob(graphc.tensor(2))
    with pytest.raises(ValueError, match="within the support"):
        Exponential(1.0).log_prob(t(-1.0))
    # validation off: out-of-support values score as PyTorch does (no error)
    assert Uniform(0.0, 1.0, validate_args=False).log_prob(t(2.0)).item() == -math.inf
    assert Exponential(1.0, validate_args=False).log_prob(t(-1.0)).item() == 1.0
    assert Normal(0.0, -1.0, validate_args=False).scale.item() == -1.0
    previous = Distribution._validate_args
    try:
        Distribution.set_default_validate_args(False)
        assert Uniform(0.0, 1.0).log_prob(t(2.0)).item() == -math.inf
        Normal(0.0, -1.0)
    finally:
        Distribution.set_default_validate_args(previous)
    with pytest.raises(ValueError):
        Distribution.set_default_validate_args("yes")
    with pytest.warns(FutureWarning, match="sample_n"):
        assert Normal(0.0, 1.0).sample_n(3).shape == (3,)


def test_shapes_broadcasting_and_expand():
    d = Normal(graphc.zeros(3), 1.0)
    assert d.scale.shape == (3,) and d.scale.dtype == graphc.float32
    assert Normal(0.0, 1.0).batch_shape == () and Normal(0.0, 1.0).sample().shape == ()
    assert Normal(t(np.zeros((2, 1))), t(np.ones(3))).batch_shape == (2, 3)
    assert d.sample((4, 5)).shape == (4, 5, 3) and d.rsample(2).shape == (2, 3)
    assert d.log_prob(graphc.zeros(5, 1)).shape == (5, 3)
    e = d.expand((2, 3))
    assert e.batch_shape == (2, 3) and e.sample((4,)).shape == (4, 2, 3)
    assert e._validate_args == d._validate_args
    c = Categorical(logits=graphc.zeros(2, 4))
    assert c.batch_shape == (2,) and c.event_shape == () and c.sample().shape == (2,)
    assert c.sample((3, 5)).shape == (3, 5, 2) and c.sample().dtype == graphc.int64
    assert c.expand((6, 2)).sample().shape == (6, 2)
    assert c.log_prob(graphc.tensor([[1], [3]])).shape == (2, 2)
    assert Categorical(logits=graphc.zeros(4)).sample().shape == ()
    assert c.enumerate_support().shape == (4, 2)
    o = OneHotCategorical(logits=graphc.zeros(2, 4))
    assert (o.batch_shape, o.event_shape, o.sample((3,)).shape) == ((2,), (4,), (3, 2, 4))
    ind = Independent(Normal(graphc.zeros(2, 3, 4), 1.0), 2)
    assert (ind.batch_shape, ind.event_shape) == ((2,), (3, 4))
    assert ind.log_prob(graphc.zeros(5, 2, 3, 4)).shape == (5, 2)
    assert ind.expand((7, 2)).sample().shape == (7, 2, 3, 4)
    assert repr(ind.support) == "IndependentConstraint(Real(), 2)"
    with pytest.raises(ValueError, match="reinterpreted_batch_ndims <="):
        Independent(Normal(graphc.zeros(2), 1.0), 2)
    mvn = MultivariateNormal(graphc.zeros(2, 3), scale_tril=graphc.eye(3))
    assert (mvn.batch_shape, mvn.event_shape) == ((2,), (3,))
    assert mvn.expand((4, 2)).sample((5,)).shape == (5, 4, 2, 3)
    assert mvn.log_prob(graphc.zeros(3)).shape == (2,)
    ln = LogNormal(graphc.zeros(3), 1.0).expand((2, 3))
    assert ln.sample().shape == (2, 3) and ln.log_prob(graphc.ones(2, 3)).shape == (2, 3)
    assert isinstance(ln, LogNormal) and ln.base_dist.batch_shape == (2, 3)
    assert Bernoulli(probs=0.3).sample((4,)).shape == (4,)
    assert Bernoulli(t([0.5, 0.7])).mode.numpy()[1] == 1.0
    assert np.isnan(Bernoulli(t([0.5, 0.7])).mode.numpy()[0])
    assert Normal(t(LOC), t(SCALE)).perplexity().shape == (4,)


def test_reproducible_with_manual_seed():
    d = Normal(t(LOC), t(SCALE))
    graphc.manual_seed(3)
    first = [d.sample((2,)).numpy(), Categorical(t([0.2, 0.8])).sample((4,)).numpy()]
    graphc.manual_seed(3)
    second = [d.sample((2,)).numpy(), Categorical(t([0.2, 0.8])).sample((4,)).numpy()]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_compiled_equals_eager():
    m, s = graphc.tensor(LOC.astype(np.float32)), graphc.tensor(SCALE.astype(np.float32))
    x = graphc.tensor(X.astype(np.float32))
    logits = graphc.tensor(RNG.standard_normal((3, 5)).astype(np.float32))
    k = graphc.tensor([0, 4, 2])

    def normal_terms(m, s, x):
        d = Normal(m, s)
        return d.log_prob(x), d.entropy(), d.cdf(x)

    def categorical_terms(z, k):
        d = Categorical(logits=z)
        return d.log_prob(k), d.entropy()

    def squashed(m, s, x):
        return TransformedDistribution(Normal(m, s), [TanhTransform()]).log_prob(x.tanh() * 0.9)

    for fn, args in ((normal_terms, (m, s, x)), (categorical_terms, (logits, k)),
                     (squashed, (m, s, x))):
        compiled = graphc.compile(fn)
        got, want = compiled(*args), fn(*args)
        for g, w in zip(got if isinstance(got, tuple) else (got,),
                        want if isinstance(want, tuple) else (want,)):
            np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-5, atol=1e-6)
    # rsample inside a compiled function: graphc's RNG, gradients to the parameters
    step = graphc.compile(lambda m, s: Normal(m, s).rsample((2,)))
    assert step(m, s).shape == (2, 4)
    # PyTorch's gradient of the reparameterized loss, compiled: d/dm sum(loc + s eps) = 2
    mg = graphc.tensor(LOC.astype(np.float32), requires_grad=True)

    @graphc.compile
    def grad_of_rsample(mg, s):
        Normal(mg, s).rsample((2,)).sum().backward()
        return mg.grad
    np.testing.assert_allclose(grad_of_rsample(mg, s).numpy(), np.full(4, 2.0))


def test_constraints():
    assert constraints.positive.check(t([1.0, 0.0])).tolist() == [True, False]
    assert constraints.nonnegative.check(t([0.0])).tolist() == [True]
    assert constraints.simplex.check(t([[0.5, 0.5], [0.5, 0.6]])).tolist() == [True, False]
    assert constraints.one_hot.check(t([[0.0, 1.0], [1.0, 1.0]])).tolist() == [True, False]
    assert constraints.integer_interval(0, 2).check(t([0.0, 2.0, 2.5, 3.0])).tolist() == [
        True, True, False, False]
    assert constraints.lower_cholesky.check(t(np.eye(2))).item()
    assert not constraints.lower_cholesky.check(t([[1.0, 1.0], [0.0, 1.0]])).item()
    assert constraints.real.check(t([math.nan])).tolist() == [False]
    assert constraints.is_dependent(Uniform.support)
    assert repr(constraints.unit_interval) == "Interval(lower_bound=0.0, upper_bound=1.0)"
    with pytest.raises(ValueError, match="Cannot determine validity of dependent constraint"):
        constraints.dependent.check(t(0.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Normal(0.0, 1.0).log_prob(t(0.0))  # no warning on the validated path
