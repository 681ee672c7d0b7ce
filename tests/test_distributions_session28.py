"""graphc.distributions' MixtureSameFamily, LowRankMultivariateNormal, VonMises, LKJCholesky and
Wishart, and the constraints they brought (corr_cholesky, square, symmetric,
positive_semidefinite, positive_integer, MixtureSameFamilyConstraint).

References, all float64: scipy.stats (norm, multivariate_normal, vonmises, wishart, beta) and
closed forms written here from the literature (the LKJ normalizing constant of Lewandowski,
Kurowicka and Joe 2009; the Woodbury-free KL of two normals from full covariance matrices;
the law of total variance).

Tolerances: closed forms vs scipy rtol=1e-10 (atol=1e-12); densities through Cholesky
factors and solves rtol=1e-9 (atol 1e-10); gradients as conftest.check_grad states
(central differences in float64). Sampling: sample means of N seeded draws within 5 standard
errors, the standard errors derived from the distribution's own second (or fourth) moments
(a false failure ~6e-7 per moment); Kolmogorov-Smirnov tests of seeded draws against the exact
CDF at a 1e-4 significance level.
"""
import math

import numpy as np
import pytest
from scipy import integrate, special, stats

import graphc
from conftest import check_grad
from graphc.distributions import (
    Beta,
    Categorical,
    Dirichlet,
    Gamma,
    Independent,
    LKJCholesky,
    LowRankMultivariateNormal,
    MixtureSameFamily,
    MultivariateNormal,
    Normal,
    VonMises,
    Wishart,
    constraints,
    kl_divergence,
)

TOL = dict(rtol=1e-10, atol=1e-12)
LINALG_TOL = dict(rtol=1e-9, atol=1e-10)
RNG = np.random.default_rng(2828)
KS_LEVEL = 1e-4


def t(array):
    return graphc.tensor(np.asarray(array, dtype=np.float64))


def within_standard_errors(estimate, expected, standard_error, k=5.0):
    assert np.all(np.abs(np.asarray(estimate) - expected) < k * np.asarray(standard_error)), (
        estimate, expected, standard_error)


# ---------------------------------------------------------------- MixtureSameFamily

W_MIX = RNG.uniform(0.2, 2.0, (3, 4))           # unnormalized weights, batch 3, k = 4
MU_MIX = RNG.standard_normal((3, 4)) * 2
SD_MIX = RNG.uniform(0.3, 1.5, (3, 4))


def normal_mixture():
    return MixtureSameFamily(Categorical(t(W_MIX)), Normal(t(MU_MIX), t(SD_MIX)))


def test_mixture_of_normals_matches_scipy():
    d = normal_mixture()
    assert d.batch_shape == (3,) and d.event_shape == ()
    w = W_MIX / W_MIX.sum(-1, keepdims=True)
    x = RNG.standard_normal((5, 3)) * 3
    want = special.logsumexp(np.log(w) + stats.norm.logpdf(x[..., None], MU_MIX, SD_MIX), -1)
    np.testing.assert_allclose(d.log_prob(t(x)).numpy(), want, **TOL)
    cdf = (w * stats.norm.cdf(x[..., None], MU_MIX, SD_MIX)).sum(-1)
    np.testing.assert_allclose(d.cdf(t(x)).numpy(), cdf, **TOL)
    mean = (w * MU_MIX).sum(-1)
    second = (w * (SD_MIX ** 2 + MU_MIX ** 2)).sum(-1)
    np.testing.assert_allclose(d.mean.numpy(), mean, **TOL)
    np.testing.assert_allclose(d.variance.numpy(), second - mean ** 2, **TOL)
    np.testing.assert_allclose(d.stddev.numpy(), np.sqrt(second - mean ** 2), **TOL)


def test_mixture_of_multivariate_components():
    # Independent(Normal) and MultivariateNormal components: event shape (2,)
    k = 3
    loc = RNG.standard_normal((k, 2))
    scale = RNG.uniform(0.5, 1.5, (k, 2))
    w = np.array([0.2, 0.5, 0.3])
    x = RNG.standard_normal((4, 2))
    d = MixtureSameFamily(Categorical(probs=t(w)), Independent(Normal(t(loc), t(scale)), 1))
    assert d.batch_shape == () and d.event_shape == (2,)
    per = stats.norm.logpdf(x[:, None, :], loc, scale).sum(-1)
    np.testing.assert_allclose(d.log_prob(t(x)).numpy(),
                               special.logsumexp(np.log(w) + per, -1), **TOL)
    np.testing.assert_allclose(d.mean.numpy(), (w[:, None] * loc).sum(0), **TOL)
    mean = (w[:, None] * loc).sum(0)
    var = (w[:, None] * (scale ** 2 + (loc - mean) ** 2)).sum(0)
    np.testing.assert_allclose(d.variance.numpy(), var, **TOL)

    a = RNG.standard_normal((k, 2, 2))
    cov = a @ np.swapaxes(a, -1, -2) + np.eye(2)
    d = MixtureSameFamily(Categorical(probs=t(w)), MultivariateNormal(t(loc),
                                                                      covariance_matrix=t(cov)))
    per = np.stack([stats.multivariate_normal(loc[i], cov[i]).logpdf(x) for i in range(k)], -1)
    np.testing.assert_allclose(d.log_prob(t(x)).numpy(),
                               special.logsumexp(np.log(w) + per, -1), **LINALG_TOL)
    assert d.sample((6,)).shape == (6, 2)
    assert isinstance(d.support, constraints.MixtureSameFamilyConstraint)
    assert d.support.event_dim == 1


def test_mixture_samples():
    # N = 40000 draws per batch element; the mean's standard error is sqrt(var / N), the
    # sample variance's sqrt((mu4 - var^2) / N) with the mixture's 4th central moment
    # mu4 = sum_i w_i (3 s_i^4 + 6 s_i^2 d_i^2 + d_i^4), d_i = mu_i - mean
    graphc.manual_seed(28)
    n = 40000
    d = normal_mixture()
    s = d.sample((n,)).numpy()
    assert s.shape == (n, 3)
    w = W_MIX / W_MIX.sum(-1, keepdims=True)
    mean = d.mean.numpy()
    var = d.variance.numpy()
    dev = MU_MIX - mean[:, None]
    mu4 = (w * (3 * SD_MIX ** 4 + 6 * SD_MIX ** 2 * dev ** 2 + dev ** 4)).sum(-1)
    within_standard_errors(s.mean(0), mean, np.sqrt(var / n))
    within_standard_errors(s.var(0), var, np.sqrt((mu4 - var ** 2) / n))
    # the whole distribution: KS against the mixture CDF, batch element 0
    cdf = lambda x: (w[0] * stats.norm.cdf(np.asarray(x)[..., None], MU_MIX[0], SD_MIX[0])).sum(-1)  # noqa: E731
    assert stats.kstest(s[:, 0], cdf).pvalue > KS_LEVEL


def test_mixture_batch_broadcast_expand_and_gradients():
    # one set of weights () for a batch (2,) of components (2, k)
    loc = RNG.standard_normal((2, 3))
    d = MixtureSameFamily(Categorical(logits=t([0.1, -0.3, 0.5])), Normal(t(loc), 1.0))
    assert d.batch_shape == (2,)
    assert d.sample((5,)).shape == (5, 2)
    e = d.expand((4, 2))
    assert e.batch_shape == (4, 2) and e.sample().shape == (4, 2)
    x = t(RNG.standard_normal((4, 2)))
    np.testing.assert_allclose(e.log_prob(x).numpy(), d.log_prob(x).numpy(), **TOL)
    x = t(RNG.standard_normal((5, 3)))
    check_grad(lambda z, m, s: MixtureSameFamily(Categorical(logits=z), Normal(m, s)).log_prob(
        x), [np.log(W_MIX), MU_MIX, SD_MIX])
    check_grad(lambda z, m, s: MixtureSameFamily(Categorical(logits=z), Normal(m, s)).variance,
               [np.log(W_MIX), MU_MIX, SD_MIX])


def test_mixture_errors():
    comp = Normal(t(np.zeros((3, 4))), 1.0)
    with pytest.raises(ValueError, match="Mixture distribution needs to be an"):
        MixtureSameFamily(Normal(0.0, 1.0), comp)
    with pytest.raises(ValueError, match="Component distribution needs to be an"):
        MixtureSameFamily(Categorical(t(np.ones(4))), "normal")
    with pytest.raises(ValueError, match=r"`mixture_distribution component` \(5\) does not "
                                         r"equal `component_distribution.batch_shape\[-1\]` \(4\)"):
        MixtureSameFamily(Categorical(t(np.ones(5))), comp)
    with pytest.raises(ValueError, match=r"is not compatible with `component_distribution"):
        MixtureSameFamily(Categorical(t(np.ones((2, 4)))), comp)
    with pytest.raises(ValueError, match="must have at least one dimension"):
        MixtureSameFamily(Categorical(t(np.ones(1))), Normal(0.0, 1.0))
    # sample validation: the components' support (a Gamma mixture rejects negatives)
    d = MixtureSameFamily(Categorical(t(np.ones(2))), Gamma(t([1.0, 2.0]), 1.0),
                          validate_args=True)
    with pytest.raises(ValueError, match="within the support"):
        d.log_prob(t(-1.0))
    assert d.support.check(t([0.5, -0.5])).tolist() == [True, False]


# ---------------------------------------------------------------- LowRankMultivariateNormal

N_LR, M_LR = 5, 2
LOC_LR = RNG.standard_normal((3, N_LR))
W_LR = RNG.standard_normal((3, N_LR, M_LR))
D_LR = RNG.uniform(0.3, 2.0, (3, N_LR))
COV_LR = W_LR @ np.swapaxes(W_LR, -1, -2) + D_LR[..., None] * np.eye(N_LR)


def lowrank(i=slice(None)):
    return LowRankMultivariateNormal(t(LOC_LR[i]), t(W_LR[i]), t(D_LR[i]))


def test_lowrank_matches_scipy_and_full_matrices():
    d = lowrank()
    assert d.batch_shape == (3,) and d.event_shape == (N_LR,)
    x = RNG.standard_normal((4, 3, N_LR))
    for b in range(3):
        ref = stats.multivariate_normal(LOC_LR[b], COV_LR[b])
        np.testing.assert_allclose(d.log_prob(t(x))[:, b].numpy(), ref.logpdf(x[:, b]),
                                   **LINALG_TOL)
        np.testing.assert_allclose(d.entropy()[b].item(), ref.entropy(), **LINALG_TOL)
    np.testing.assert_allclose(d.covariance_matrix.numpy(), COV_LR, **TOL)
    np.testing.assert_allclose(d.precision_matrix.numpy(), np.linalg.inv(COV_LR), **LINALG_TOL)
    np.testing.assert_allclose(d.scale_tril.numpy(), np.linalg.cholesky(COV_LR), **LINALG_TOL)
    np.testing.assert_allclose(d.variance.numpy(), np.diagonal(COV_LR, axis1=-2, axis2=-1),
                               **TOL)
    np.testing.assert_allclose(d.mean.numpy(), LOC_LR, **TOL)
    np.testing.assert_allclose(d.mode.numpy(), LOC_LR, **TOL)


def _kl_full(m0, s0, m1, s1):
    """KL(N(m0, s0) || N(m1, s1)) from full matrices."""
    n = m0.shape[-1]
    inv1 = np.linalg.inv(s1)
    diff = m1 - m0
    return 0.5 * (np.trace(inv1 @ s0, axis1=-2, axis2=-1)
                  + np.einsum("...i,...ij,...j->...", diff, inv1, diff) - n
                  + np.linalg.slogdet(s1)[1] - np.linalg.slogdet(s0)[1])


def test_lowrank_kl_pairs():
    p, q = lowrank(), lowrank([2, 0, 1])
    perm = [2, 0, 1]
    want = _kl_full(LOC_LR, COV_LR, LOC_LR[perm], COV_LR[perm])
    np.testing.assert_allclose(kl_divergence(p, q).numpy(), want, **LINALG_TOL)
    full = MultivariateNormal(t(LOC_LR[perm]), covariance_matrix=t(COV_LR[perm]))
    np.testing.assert_allclose(kl_divergence(p, full).numpy(), want, **LINALG_TOL)
    full_p = MultivariateNormal(t(LOC_LR), covariance_matrix=t(COV_LR))
    np.testing.assert_allclose(kl_divergence(full_p, q).numpy(), want, **LINALG_TOL)
    assert np.allclose(kl_divergence(p, p).numpy(), 0.0, atol=1e-12)
    other = LowRankMultivariateNormal(t(np.zeros(3)), t(np.ones((3, 1))), t(np.ones(3)))
    with pytest.raises(ValueError, match="different event shapes"):
        kl_divergence(p, other)
    check_grad(lambda m, w, dg: kl_divergence(LowRankMultivariateNormal(m, w, dg), q),
               [LOC_LR, W_LR, D_LR])
    check_grad(lambda m, w, dg: kl_divergence(full_p, LowRankMultivariateNormal(m, w, dg)),
               [LOC_LR, W_LR, D_LR])


def test_lowrank_gradients_and_rsample():
    x = RNG.standard_normal((4, 3, N_LR))
    check_grad(lambda m, w, dg: LowRankMultivariateNormal(m, w, dg).log_prob(t(x)),
               [LOC_LR, W_LR, D_LR])
    check_grad(lambda w, dg: LowRankMultivariateNormal(t(LOC_LR), w, dg).entropy(),
               [W_LR, D_LR])

    def draws(m, w, dg):
        graphc.manual_seed(4)  # the same noise at every evaluation: a smooth function
        return LowRankMultivariateNormal(m, w, dg).rsample((3,))
    check_grad(draws, [LOC_LR, W_LR, D_LR])


def test_lowrank_sample_moments():
    # N = 40000 vectors; the sample mean's standard error is sqrt(S_ii / N), the sample
    # covariance's (Gaussian, 4th moments by Isserlis) sqrt((S_ii S_jj + S_ij^2) / N)
    graphc.manual_seed(5)
    n = 40000
    s = lowrank(0).sample((n,)).numpy()
    assert s.shape == (n, N_LR)
    cov = COV_LR[0]
    within_standard_errors(s.mean(0), LOC_LR[0], np.sqrt(np.diagonal(cov) / n))
    diag = np.diagonal(cov)
    within_standard_errors(np.cov(s.T), cov, np.sqrt((np.outer(diag, diag) + cov ** 2) / n))


def test_lowrank_broadcast_expand_and_errors():
    d = LowRankMultivariateNormal(t(np.zeros(N_LR)), t(W_LR), t(D_LR[0]))
    assert d.batch_shape == (3,) and d.loc.shape == (3, N_LR) and d.cov_diag.shape == (3, N_LR)
    e = lowrank(0).expand((2, 3))
    assert e.batch_shape == (2, 3) and e.rsample((4,)).shape == (4, 2, 3, N_LR)
    np.testing.assert_allclose(e.log_prob(t(LOC_LR[0])).numpy(),
                               np.full((2, 3), lowrank(0).log_prob(t(LOC_LR[0])).item()), **TOL)
    with pytest.raises(ValueError, match="loc must be at least one-dimensional"):
        LowRankMultivariateNormal(t(0.0), t(W_LR[0]), t(D_LR[0]))
    with pytest.raises(ValueError, match="cov_factor must be at least two-dimensional"):
        LowRankMultivariateNormal(t(LOC_LR[0]), t(D_LR[0]), t(D_LR[0]))
    with pytest.raises(ValueError, match=f"cov_factor must be a batch of matrices with shape "
                                         f"{N_LR} x m"):
        LowRankMultivariateNormal(t(LOC_LR[0]), t(W_LR[0].T), t(D_LR[0]))
    with pytest.raises(ValueError, match="cov_diag must be a batch of vectors"):
        LowRankMultivariateNormal(t(LOC_LR[0]), t(W_LR[0]), t(D_LR[0, :2]))
    with pytest.raises(ValueError, match="Incompatible batch shapes"):
        LowRankMultivariateNormal(t(LOC_LR[:2]), t(W_LR), t(D_LR[0]))
    with pytest.raises(ValueError, match=r"Expected parameter cov_diag .*GreaterThan"):
        LowRankMultivariateNormal(t(LOC_LR[0]), t(W_LR[0]), t(-D_LR[0]), validate_args=True)
    with pytest.raises(TypeError, match="`loc` must be a graphc.Tensor"):
        LowRankMultivariateNormal(np.zeros(2), t(W_LR[0]), t(D_LR[0]))
    with pytest.raises(ValueError, match="The right-most size of value must match"):
        lowrank().log_prob(t(np.zeros(N_LR + 1)))


# ---------------------------------------------------------------- VonMises

LOC_VM = np.array([-2.5, 0.3, 1.0, 7.0])  # any real number, read modulo 2 pi
KAPPA_VM = np.array([0.05, 1.0, 4.0, 60.0])


def test_von_mises_matches_scipy():
    d = VonMises(t(LOC_VM), t(KAPPA_VM))
    x = RNG.uniform(-10, 10, (5, 4))
    np.testing.assert_allclose(d.log_prob(t(x)).numpy(),
                               stats.vonmises.logpdf(x, KAPPA_VM, loc=LOC_VM), **TOL)
    ratio = special.i1e(KAPPA_VM) / special.i0e(KAPPA_VM)
    np.testing.assert_allclose(d.variance.numpy(), 1 - ratio, **TOL)
    np.testing.assert_allclose(d.stddev.numpy(), np.sqrt(1 - ratio), **TOL)
    np.testing.assert_allclose(d.entropy().numpy(), stats.vonmises(KAPPA_VM).entropy(), **TOL)
    np.testing.assert_allclose(d.mean.numpy(), LOC_VM, **TOL)
    np.testing.assert_allclose(d.mode.numpy(), LOC_VM, **TOL)
    # large concentrations: log I0 from the scaled i0e, no overflow
    big = VonMises(t(0.0), t(1e4))
    np.testing.assert_allclose(big.log_prob(t(0.01)).item(),
                               stats.vonmises.logpdf(0.01, 1e4), **TOL)
    # the density integrates to 1 over one period (loc 7.0 wraps)
    total, _ = integrate.quad(lambda v: math.exp(VonMises(t(7.0), t(4.0)).log_prob(t(v)).item()),
                              -math.pi, math.pi, epsabs=1e-13)
    assert abs(total - 1.0) < 1e-10


def test_von_mises_gradients():
    x = RNG.uniform(-4, 4, (3, 4))
    check_grad(lambda m, k: VonMises(m, k).log_prob(t(x)), [LOC_VM, KAPPA_VM])
    check_grad(lambda k: VonMises(t(LOC_VM), k).variance, [KAPPA_VM])
    check_grad(lambda k: VonMises(t(LOC_VM), k).entropy(), [KAPPA_VM])


@pytest.mark.parametrize("kappa", [1e-7, 0.5, 3.0, 500.0])
def test_von_mises_samples(kappa):
    # N = 40000 draws. With A = I1(k)/I0(k): E[cos(X - loc)] = A, E[sin(X - loc)] = 0,
    # Var[cos(X - loc)] = 1 - A/k - A^2 and Var[sin(X - loc)] = A/k (from I2 = I0 - 2 I1/k);
    # the sample means of cos and sin lie within 5 standard errors. KS against scipy's CDF.
    graphc.manual_seed(11)
    n = 40000
    loc = 2.0
    s = VonMises(t(loc), t(kappa)).sample((n,)).numpy()
    assert s.shape == (n,) and s.dtype == np.float64
    assert np.all((s >= -math.pi) & (s < math.pi))
    a = special.i1e(kappa) / special.i0e(kappa)
    a_over_k = a / kappa if kappa > 1e-3 else 0.5 - kappa ** 2 / 16  # (series: A ~ k/2)
    within_standard_errors(np.cos(s - loc).mean(), a, np.sqrt((1 - a_over_k - a * a) / n))
    within_standard_errors(np.sin(s - loc).mean(), 0.0, np.sqrt(a_over_k / n))
    # scipy's CDF is for [loc - pi, loc + pi); compare the draws moved into that period
    moved = np.mod(s - loc + math.pi, 2 * math.pi) - math.pi
    assert stats.kstest(moved, stats.vonmises(kappa).cdf).pvalue > KS_LEVEL


def test_von_mises_shapes_dtype_expand_errors_and_compile():
    graphc.manual_seed(1)
    d = VonMises(graphc.tensor([0.0, 1.0]), 2.0)
    s = d.sample((3,))
    assert s.shape == (3, 2) and s.dtype == graphc.float32 and not d.has_rsample
    e = d.expand((4, 2))
    assert e.batch_shape == (4, 2) and e.sample().shape == (4, 2)
    with pytest.raises(ValueError, match=r"Expected parameter concentration .*GreaterThan"):
        VonMises(t(0.0), t(-1.0), validate_args=True)
    with pytest.raises(NotImplementedError):
        d.rsample()
    draws = []
    for _ in range(2):
        graphc.manual_seed(7)
        draws.append(VonMises(t(LOC_VM), t(KAPPA_VM)).sample((5,)).numpy())
    np.testing.assert_array_equal(*draws)
    x32 = graphc.tensor(RNG.uniform(-3, 3, (2, 4)).astype(np.float32))
    m32 = graphc.tensor(LOC_VM.astype(np.float32))
    k32 = graphc.tensor(KAPPA_VM.astype(np.float32))

    def terms(m, k, x):
        return VonMises(m, k).log_prob(x), VonMises(m, k).variance

    for got, want in zip(graphc.compile(terms)(m32, k32, x32), terms(m32, k32, x32)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(graphc.TraceError, match="VonMises.sample/rsample is not supported"):
        graphc.compile(lambda m: VonMises(m, 1.0).sample())(m32)


# ---------------------------------------------------------------- LKJCholesky

def _lkj_log_normalizer(d, eta):
    """log of the integral of det(C)^(eta - 1) over d x d correlation matrices
    (Lewandowski, Kurowicka and Joe 2009, section 3.2)."""
    total = 0.0
    for k in range(1, d):
        b = eta + (d - k - 1) / 2
        total += (2 * eta - 2 + d - k) * (d - k) * math.log(2)
        total += (d - k) * (2 * special.gammaln(b) - special.gammaln(2 * b))
    return total


def _lkj_reference(value, d, eta):
    """log p(L) = log p(C = L L^T) + log |dC/dL| with |dC/dL| = prod_i L_ii^(d - i)
    (1-based rows i >= 2: row i of L is a point of the i-sphere's upper half)."""
    diag = np.diagonal(value, axis1=-2, axis2=-1)
    rows = np.arange(1, d + 1)
    log_det_c = 2 * np.log(diag).sum(-1)
    return ((eta - 1) * log_det_c + ((d - rows) * np.log(diag)).sum(-1)
            - _lkj_log_normalizer(d, eta))


@pytest.mark.parametrize("dim", [2, 3, 5])
def test_lkj_log_prob_matches_the_lkj_normalizer(dim):
    eta = np.array([0.5, 1.0, 3.7])
    graphc.manual_seed(dim)
    d = LKJCholesky(dim, t(eta))
    assert d.batch_shape == (3,) and d.event_shape == (dim, dim)
    value = d.sample((4,)).numpy()
    want = np.stack([_lkj_reference(value[:, i], dim, e) for i, e in enumerate(eta)], -1)
    np.testing.assert_allclose(d.log_prob(t(value)).numpy(), want, **TOL)


def test_lkj_density_integrates_to_one_in_two_dimensions():
    # dim 2: L = [[1, 0], [r, sqrt(1 - r^2)]], a density over r in (-1, 1)
    for eta in (0.7, 1.0, 4.0):
        d = LKJCholesky(2, t(eta))

        def density(r, d=d):
            value = t([[1.0, 0.0], [r, math.sqrt(1 - r * r)]])
            return math.exp(d.log_prob(value).item())
        total, _ = integrate.quad(density, -1, 1, epsabs=1e-12)
        assert abs(total - 1.0) < 1e-8


@pytest.mark.parametrize("dim,eta", [(2, 1.0), (4, 0.5), (5, 3.0)])
def test_lkj_samples(dim, eta):
    # each off-diagonal correlation r of C = L L^T has (r + 1) / 2 ~ Beta(b, b),
    # b = eta - 1 + dim / 2: mean 0, variance 1 / (2 b + 1) = 1 / (2 eta + dim - 1), fourth
    # moment 3 / ((2 b + 1)(2 b + 3)) (LKJ 2009). N = 20000 draws; sample mean and variance
    # within 5 standard errors (sqrt(var / N), sqrt((m4 - var^2) / N)); KS of every entry
    # against the Beta (PyTorch's onion sampler fails this for rows 2 and below)
    graphc.manual_seed(3)
    n = 20000
    d = LKJCholesky(dim, t(eta))
    value = d.sample((n,))
    assert value.shape == (n, dim, dim)
    assert constraints.corr_cholesky.check(value).all().item()
    L = value.numpy()
    C = L @ np.swapaxes(L, -1, -2)
    np.testing.assert_allclose(np.diagonal(C, axis1=-2, axis2=-1), 1.0, atol=1e-12)
    var = 1 / (2 * eta + dim - 1)
    rows, cols = np.tril_indices(dim, -1)
    r = C[:, rows, cols]
    b = eta - 1 + dim / 2
    m4 = 3 / ((2 * b + 1) * (2 * b + 3))
    within_standard_errors(r.mean(0), 0.0, np.full(len(rows), np.sqrt(var / n)))
    within_standard_errors((r ** 2).mean(0), var, np.full(len(rows), np.sqrt((m4 - var ** 2) / n)))
    for entry in range(len(rows)):
        assert stats.kstest((r[:, entry] + 1) / 2, stats.beta(b, b).cdf).pvalue > KS_LEVEL


def test_lkj_gradient_expand_and_errors():
    graphc.manual_seed(2)
    value = LKJCholesky(4, t(1.5)).sample((3,)).numpy()
    check_grad(lambda eta: LKJCholesky(4, eta).log_prob(t(value)), [np.array([0.6, 1.5, 3.0])])
    d = LKJCholesky(3, 2.0)
    assert d.batch_shape == () and d.concentration.dtype == graphc.get_default_dtype()
    e = d.expand((2,))
    assert e.batch_shape == (2,) and e.sample((5,)).shape == (5, 2, 3, 3)
    with pytest.raises(ValueError, match="Expected dim to be an integer greater than or equal "
                                         "to 2. Found dim=1."):
        LKJCholesky(1)
    with pytest.raises(ValueError, match=r"Expected parameter concentration .*GreaterThan"):
        LKJCholesky(3, t(-1.0), validate_args=True)
    with pytest.raises(ValueError, match=r"within the support \(CorrCholesky\(\)\)"):
        LKJCholesky(2, t(1.0), validate_args=True).log_prob(t([[1.0, 0.0], [0.5, 0.5]]))


# ---------------------------------------------------------------- Wishart

P_W = 3
A_W = RNG.standard_normal((2, P_W, P_W))
S_W = A_W @ np.swapaxes(A_W, -1, -2) + np.eye(P_W)
DF_W = np.array([3.5, 8.0])


def test_wishart_matches_scipy():
    refs = [stats.wishart(DF_W[b], S_W[b]) for b in range(2)]
    x = np.stack([ref.rvs(4, random_state=b) for b, ref in enumerate(refs)], 1)  # (4, 2, p, p)
    for kwargs in (dict(covariance_matrix=t(S_W)), dict(scale_tril=t(np.linalg.cholesky(S_W))),
                   dict(precision_matrix=t(np.linalg.inv(S_W)))):
        d = Wishart(t(DF_W), **kwargs)
        assert d.batch_shape == (2,) and d.event_shape == (P_W, P_W)
        for b, ref in enumerate(refs):
            np.testing.assert_allclose(d.log_prob(t(x))[:, b].numpy(), ref.logpdf(
                np.moveaxis(x[:, b], 0, -1)), **LINALG_TOL)
            np.testing.assert_allclose(d.entropy()[b].item(), ref.entropy(), **LINALG_TOL)
            np.testing.assert_allclose(d.mean[b].numpy(), ref.mean(), **LINALG_TOL)
            np.testing.assert_allclose(d.variance[b].numpy(), ref.var(), **LINALG_TOL)
        np.testing.assert_allclose(d.covariance_matrix.numpy(), S_W, **LINALG_TOL)
        np.testing.assert_allclose(d.precision_matrix.numpy(), np.linalg.inv(S_W), **LINALG_TOL)
        np.testing.assert_allclose(d.scale_tril.numpy(), np.linalg.cholesky(S_W), **LINALG_TOL)
    # mode (df - p - 1) Sigma where df > p + 1, NaN (no mode) below
    mode = Wishart(t(DF_W), covariance_matrix=t(S_W)).mode.numpy()
    assert np.all(np.isnan(mode[0]))
    np.testing.assert_allclose(mode[1], stats.wishart(DF_W[1], S_W[1]).mode(), **LINALG_TOL)


def test_wishart_gradients():
    x = np.stack([stats.wishart(DF_W[b], S_W[b]).rvs(3, random_state=9 + b) for b in range(2)],
                 1)
    lower = np.linalg.cholesky(S_W)
    check_grad(lambda df, L: Wishart(df, scale_tril=L.tril()).log_prob(t(x)), [DF_W, lower])
    check_grad(lambda df, L: Wishart(df, scale_tril=L.tril()).entropy(), [DF_W, lower])
    check_grad(lambda v: Wishart(t(DF_W), covariance_matrix=t(S_W)).log_prob(v), [x[:1]])

    def draws(L):
        graphc.manual_seed(6)  # the same Bartlett noise at every evaluation
        return Wishart(t(DF_W), scale_tril=L.tril()).rsample((2,))
    check_grad(draws, [lower])


def test_wishart_rsample_gradient_in_df_is_right_on_average():
    # d/d df E[trace(X)] = trace(Sigma) = p for Sigma = I. One draw per batch element of a
    # batch of N = 4000 equal df's gives N independent per-sample gradients; their mean lies
    # within 5 standard errors (their own sample standard deviation / sqrt(N)) of p
    graphc.manual_seed(12)
    n = 4000
    df = graphc.tensor(np.full(n, 5.5), requires_grad=True)
    x = Wishart(df, scale_tril=graphc.eye(P_W, dtype=graphc.float64)).rsample()
    x.diagonal(dim1=-2, dim2=-1).sum().backward()
    g = df.grad.numpy()
    within_standard_errors(g.mean(), P_W, g.std(ddof=1) / np.sqrt(n))


def test_wishart_samples():
    # N = 20000 draws. Elementwise: mean df Sigma, standard error sqrt(var_ij / N) with
    # var_ij = df (S_ij^2 + S_ii S_jj). log|X| - log|Sigma| - p log 2 is a sum of independent
    # log chi2(df - i) (Bartlett): mean sum_i digamma((df - i) / 2), variance
    # sum_i trigamma((df - i) / 2)
    graphc.manual_seed(8)
    n = 20000
    d = Wishart(t(DF_W), covariance_matrix=t(S_W))
    x = d.sample((n,)).numpy()
    assert x.shape == (n, 2, P_W, P_W)
    np.testing.assert_allclose(x, np.swapaxes(x, -1, -2), rtol=0, atol=1e-12)
    mean = DF_W[:, None, None] * S_W
    diag = np.diagonal(S_W, axis1=-2, axis2=-1)
    var = DF_W[:, None, None] * (S_W ** 2 + diag[..., :, None] * diag[..., None, :])
    within_standard_errors(x.mean(0), mean, np.sqrt(var / n))
    halves = (DF_W[:, None] - np.arange(P_W)) / 2
    logdet = np.linalg.slogdet(x)[1] - np.linalg.slogdet(S_W)[1] - P_W * math.log(2)
    within_standard_errors(logdet.mean(0), special.digamma(halves).sum(-1),
                           np.sqrt(special.polygamma(1, halves).sum(-1) / n))


def test_wishart_shapes_expand_warnings_and_errors():
    d = Wishart(6.0, covariance_matrix=t(S_W[0]))
    assert d.batch_shape == () and d.df.shape == () and d.rsample((2,)).shape == (2, P_W, P_W)
    d = Wishart(t([5.0, 6.0, 7.0]), covariance_matrix=t(S_W[0]))
    assert d.batch_shape == (3,) and d.sample().shape == (3, P_W, P_W)
    e = Wishart(t(DF_W), covariance_matrix=t(S_W)).expand((4, 2))
    assert e.batch_shape == (4, 2) and e.sample().shape == (4, 2, P_W, P_W)
    assert e.covariance_matrix.shape == (4, 2, P_W, P_W)
    x = t(np.eye(P_W) * 2)
    np.testing.assert_allclose(e.log_prob(x).numpy()[3],
                               Wishart(t(DF_W), covariance_matrix=t(S_W)).log_prob(x).numpy(),
                               **TOL)
    with pytest.raises(ValueError, match=r"Value of df=1.5 expected to be greater than "
                                         r"ndim - 1 = 2."):
        Wishart(1.5, covariance_matrix=t(S_W[0]))
    with pytest.warns(UserWarning, match="Low df values detected"):
        Wishart(2.5, covariance_matrix=t(S_W[0]))
    with pytest.raises(ValueError, match="Exactly one of covariance_matrix or precision_matrix"):
        Wishart(5.0, covariance_matrix=t(S_W[0]), scale_tril=t(np.eye(P_W)))
    with pytest.raises(ValueError, match="Exactly one of covariance_matrix or precision_matrix"):
        Wishart(5.0)
    with pytest.raises(ValueError, match="covariance_matrix must be at least two-dimensional"):
        Wishart(5.0, covariance_matrix=t(np.ones(3)))
    with pytest.raises(ValueError, match="must be a batch of square matrices"):
        Wishart(5.0, covariance_matrix=t(np.ones((2, 3))))
    with pytest.raises(ValueError, match=r"Expected parameter covariance_matrix .*"
                                         r"PositiveDefinite"):
        Wishart(5.0, covariance_matrix=t(-np.eye(P_W)), validate_args=True)
    with pytest.raises(ValueError, match=r"within the support \(PositiveDefinite\(\)\)"):
        Wishart(5.0, covariance_matrix=t(np.eye(P_W)), validate_args=True).log_prob(
            t(-np.eye(P_W)))
    with pytest.raises(TypeError, match="df must be a number or a graphc.Tensor"):
        Wishart("5", covariance_matrix=t(np.eye(P_W)))


# ---------------------------------------------------------------- constraints

def test_new_constraints():
    lower = np.linalg.cholesky(np.array([[1.0, 0.3], [0.3, 1.0]]))
    not_unit = np.array([[1.0, 0.0], [0.5, 1.0]])
    upper = lower.T
    assert constraints.corr_cholesky.check(t([lower, not_unit, upper])).tolist() == [
        True, False, False]
    assert constraints.corr_cholesky.event_dim == 2
    assert constraints.square.check(t(np.zeros((4, 2, 2)))).tolist() == [True] * 4
    assert constraints.square.check(t(np.zeros((2, 3)))).item() is False
    sym = np.array([[2.0, 1.0], [1.0, 2.0]])
    assert constraints.symmetric.check(t([sym, not_unit])).tolist() == [True, False]
    psd = np.array([[1.0, 1.0], [1.0, 1.0]])  # singular: semidefinite, not definite
    indefinite = np.array([[1.0, 2.0], [2.0, 1.0]])
    assert constraints.positive_semidefinite.check(t([sym, psd, indefinite, not_unit])).tolist() \
        == [True, True, False, False]
    assert constraints.positive_definite.check(t([sym, psd, indefinite, not_unit])).tolist() \
        == [True, False, False, False]
    assert constraints.positive_integer.check(t([0.0, 1.0, 2.5, 3.0])).tolist() == [
        False, True, False, True]
    assert constraints.positive_integer.is_discrete
    mixture = constraints.MixtureSameFamilyConstraint(constraints.positive)
    assert mixture.check(t([1.0, -1.0])).tolist() == [True, False]
    assert repr(mixture) == "MixtureSameFamilyConstraint(GreaterThan(lower_bound=0.0))"
    with pytest.raises(TypeError, match="base_constraint must be a Constraint"):
        constraints.MixtureSameFamilyConstraint("positive")


# ---------------------------------------------------------------- float32 Gamma-family draws

def test_float32_gamma_family_samples_with_a_sample_shape():
    # regression: a float32 concentration expanded to a sample shape became a float64 array
    # of another memory layout, the sampler's writes went to a copy and the draws were
    # uninitialized memory (Gamma(1) sample mean 2.45). N = 20000 draws; means within 5
    # standard errors sqrt(var / N)
    graphc.manual_seed(30)
    n = 20000
    alpha = np.array([0.5, 1.0, 1.5, 2.0])
    g = Gamma(graphc.tensor(alpha.astype(np.float32)), 1.0).sample((n,))
    assert g.dtype == graphc.float32
    within_standard_errors(g.numpy().mean(0), alpha, np.sqrt(alpha / n))
    b = Beta(graphc.tensor(alpha.astype(np.float32)), 1.5).sample((n,)).numpy()
    mean = alpha / (alpha + 1.5)
    within_standard_errors(b.mean(0), mean, np.sqrt(mean * (1 - mean) / (alpha + 2.5) / n))
    c = np.array([1.0, 1.5, 0.5])
    s = Dirichlet(graphc.tensor(c.astype(np.float32))).sample((n,)).numpy()
    mean = c / c.sum()
    within_standard_errors(s.mean(0), mean, np.sqrt(mean * (1 - mean) / (c.sum() + 1) / n))
    # and LKJCholesky's float32 draws through them: E r^2 = 1 / (2 eta + dim - 1)
    L = LKJCholesky(4, 1.0).sample((n,)).numpy().astype(np.float64)
    r = (L @ np.swapaxes(L, -1, -2))[:, [1, 2, 3], [0, 1, 2]]
    var, m4 = 1 / 5, 3 / (5 * 7)  # b = 2: 1 / (2b + 1), 3 / ((2b + 1)(2b + 3))
    within_standard_errors((r ** 2).mean(0), var, np.full(3, np.sqrt((m4 - var ** 2) / n)))


def test_wishart_redraws_singular_samples():
    # a singular Bartlett draw (forced here: possible for p - 1 < df < p) is redrawn, with
    # PyTorch's warning; with max_try_correction=0 it is returned as drawn
    d = Wishart(t(5.0), covariance_matrix=t(np.eye(2)))
    original = d._bartlett_sampling
    calls = []

    def first_singular(shape):
        calls.append(shape)
        sample = original(shape)
        if len(calls) == 1:
            return graphc.where(graphc.tensor([True, False, False]).reshape(3, 1, 1),
                                graphc.zeros_like(sample), sample)
        return sample
    d._bartlett_sampling = first_singular
    graphc.manual_seed(0)
    with pytest.warns(UserWarning, match="Singular sample detected"):
        s = d.rsample((3,))
    assert len(calls) == 2 and constraints.positive_definite.check(s).all().item()
    calls.clear()
    with pytest.warns(UserWarning, match="Singular sample detected"):
        s = d.rsample((3,), max_try_correction=0)
    assert constraints.positive_definite.check(s).tolist() == [False, True, True]
