"""graphc.distributions' transforms over events (Softplus, CumulativeDistribution, Independent,
Reshape, Softmax, StickBreaking, LowerCholesky, PositiveDefinite, CorrCholesky), the
``biject_to``/``transform_to`` registries, and the families InverseGamma, Kumaraswamy,
LogisticNormal, FisherSnedecor and GeneralizedPareto.

References, all float64: scipy.stats (invgamma, f, genpareto, norm), numerical quadrature
(Kumaraswamy's moments; its entropy by mpmath's tanh-sinh quadrature), and Jacobians by central finite differences of NumPy
re-implementations (the log-determinants).

Tolerances: closed forms vs scipy rtol=1e-10 (atol=1e-12); vs quadrature 1e-9 (quad's own
accuracy); log-determinants vs finite-difference Jacobians rtol=1e-6 (step 1e-6: the
differences' own error); gradients as conftest.check_grad states. Sampling: means of N seeded
draws within 5 standard errors derived from the exact variance; Kolmogorov-Smirnov against
the exact CDF at a 1e-4 significance level.
"""
import math

import mpmath
import numpy as np
import pytest
from scipy import integrate, special, stats

import graphc
from conftest import check_grad
from graphc.distributions import (
    CorrCholeskyTransform,
    CumulativeDistributionTransform,
    ExpTransform,
    FisherSnedecor,
    GeneralizedPareto,
    IndependentTransform,
    InverseGamma,
    Kumaraswamy,
    LogisticNormal,
    LowerCholeskyTransform,
    Normal,
    PositiveDefiniteTransform,
    ReshapeTransform,
    SoftmaxTransform,
    SoftplusTransform,
    StickBreakingTransform,
    biject_to,
    constraints,
    transform_to,
)

TOL = dict(rtol=1e-10, atol=1e-12)
RNG = np.random.default_rng(2829)
KS_LEVEL = 1e-4


def t(array):
    return graphc.tensor(np.asarray(array, dtype=np.float64))


def within_standard_errors(estimate, expected, standard_error, k=5.0):
    assert np.all(np.abs(np.asarray(estimate) - expected) < k * np.asarray(standard_error)), (
        estimate, expected, standard_error)


def fd_jacobian(fn, x, h=1e-6):
    """Central finite-difference Jacobian of ``fn: R^n -> R^m`` at ``x``."""
    columns = []
    for i in range(len(x)):
        step = np.zeros_like(x)
        step[i] = h
        columns.append((fn(x + step) - fn(x - step)) / (2 * h))
    return np.stack(columns, -1)


# ---------------------------------------------------------------- transforms

def _stick_breaking_np(x):
    k = len(x)
    z = special.expit(x - np.log(np.arange(k, 0, -1)))
    left = np.concatenate([[1.0], np.cumprod(1 - z)])
    return np.concatenate([z, [1.0]]) * left


def test_stick_breaking_transform():
    t_ = StickBreakingTransform()
    x = RNG.standard_normal((3, 4))
    y = t_(t(x))
    assert y.shape == (3, 5) and t_.forward_shape((3, 4)) == (3, 5)
    assert t_.inverse_shape((3, 5)) == (3, 4)
    np.testing.assert_allclose(y.numpy(), np.stack([_stick_breaking_np(r) for r in x]), **TOL)
    assert constraints.simplex.check(y).all().item()
    np.testing.assert_allclose(t_.inv(y).numpy(), x, rtol=1e-9, atol=1e-12)
    # x = 0 is the simplex's center
    np.testing.assert_allclose(t_(t(np.zeros(4))).numpy(), np.full(5, 0.2), **TOL)
    # log |det d y[:-1] / dx|
    for row in x:
        jac = fd_jacobian(lambda v: _stick_breaking_np(v)[:-1], row)
        got = t_.log_abs_det_jacobian(t(row), t_(t(row))).item()
        np.testing.assert_allclose(got, np.linalg.slogdet(jac)[1], rtol=1e-6)
    check_grad(lambda v: t_.log_abs_det_jacobian(v, t_(v)), [x])
    check_grad(lambda v: t_(v), [x])


def _corr_cholesky_np(x, d):
    r = np.zeros((d, d))
    r[np.tril_indices(d, -1)] = np.tanh(x)
    out = np.eye(d)
    for i in range(1, d):
        left = 1.0
        for j in range(i):
            out[i, j] = r[i, j] * math.sqrt(left)
            left -= out[i, j] ** 2
        out[i, i] = math.sqrt(left)
    return out


def test_corr_cholesky_transform():
    t_ = CorrCholeskyTransform()
    d = 4
    x = RNG.standard_normal((2, d * (d - 1) // 2))
    y = t_(t(x))
    assert y.shape == (2, d, d) and t_.forward_shape((2, 6)) == (2, 4, 4)
    assert t_.inverse_shape((2, 4, 4)) == (2, 6)
    np.testing.assert_allclose(y.numpy(), np.stack([_corr_cholesky_np(r, d) for r in x]),
                               **TOL)
    assert constraints.corr_cholesky.check(y).all().item()
    np.testing.assert_allclose(t_.inv(y).numpy(), x, rtol=1e-9, atol=1e-12)
    rows, cols = np.tril_indices(d, -1)
    for row in x:
        jac = fd_jacobian(lambda v: _corr_cholesky_np(v, d)[rows, cols], row)
        got = t_.log_abs_det_jacobian(t(row), t_(t(row))).item()
        np.testing.assert_allclose(got, np.linalg.slogdet(jac)[1], rtol=1e-6)
    check_grad(lambda v: t_.log_abs_det_jacobian(v, t_(v)), [x])
    with pytest.raises(ValueError, match="not a flattened lower-diagonal number"):
        t_.forward_shape((4,))
    with pytest.raises(ValueError, match="not square"):
        t_.inverse_shape((2, 3))


def test_elementwise_and_independent_transforms():
    x = RNG.standard_normal((3, 4)) * 3
    sp = SoftplusTransform()
    y = sp(t(x))
    np.testing.assert_allclose(y.numpy(), np.logaddexp(0, x), **TOL)
    np.testing.assert_allclose(sp.inv(y).numpy(), x, rtol=1e-9, atol=1e-12)
    # d softplus / dx = sigmoid(x)
    np.testing.assert_allclose(sp.log_abs_det_jacobian(t(x), y).numpy(),
                               np.log(special.expit(x)), **TOL)
    cdf = CumulativeDistributionTransform(Normal(t(0.5), t(2.0)))
    u = cdf(t(x))
    np.testing.assert_allclose(u.numpy(), stats.norm.cdf(x, 0.5, 2.0), **TOL)
    np.testing.assert_allclose(cdf.inv(u).numpy(), x, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(cdf.log_abs_det_jacobian(t(x), u).numpy(),
                               stats.norm.logpdf(x, 0.5, 2.0), **TOL)
    assert cdf.domain is constraints.real and cdf.codomain is constraints.unit_interval
    ind = IndependentTransform(ExpTransform(), 1)
    assert ind.domain.event_dim == 1 and ind.codomain.event_dim == 1
    np.testing.assert_allclose(ind.log_abs_det_jacobian(t(x), ind(t(x))).numpy(), x.sum(-1),
                               **TOL)
    assert repr(ind) == "IndependentTransform(ExpTransform(), 1)"
    with pytest.raises(ValueError, match="Too few dimensions on input"):
        IndependentTransform(ExpTransform(), 2)(t(np.zeros(3)))


def test_reshape_softmax_and_matrix_transforms():
    r = ReshapeTransform((6,), (2, 3))
    x = RNG.standard_normal((4, 6))
    y = r(t(x))
    assert y.shape == (4, 2, 3) and r.inv(y).shape == (4, 6)
    assert r.log_abs_det_jacobian(t(x), y).tolist() == [0.0] * 4
    assert r.forward_shape((5, 6)) == (5, 2, 3) and r.inverse_shape((5, 2, 3)) == (5, 6)
    with pytest.raises(ValueError, match="different numbers of elements"):
        ReshapeTransform((6,), (4,))
    with pytest.raises(ValueError, match="Shape mismatch"):
        r.forward_shape((5, 7))
    s = SoftmaxTransform()
    p = s(t(x))
    np.testing.assert_allclose(p.numpy(), special.softmax(x, -1), **TOL)
    np.testing.assert_allclose(s(s.inv(p)).numpy(), p.numpy(), **TOL)
    assert not s.bijective
    m = RNG.standard_normal((2, 3, 3))
    lower = LowerCholeskyTransform()(t(m))
    want = np.tril(m, -1) + np.exp(np.diagonal(m, axis1=-2, axis2=-1))[..., None] * np.eye(3)
    np.testing.assert_allclose(lower.numpy(), want, **TOL)
    assert constraints.lower_cholesky.check(lower).all().item()
    np.testing.assert_allclose(LowerCholeskyTransform().inv(lower).numpy(), np.tril(m), **TOL)
    pd = PositiveDefiniteTransform()(t(m))
    np.testing.assert_allclose(pd.numpy(), want @ np.swapaxes(want, -1, -2), **TOL)
    assert constraints.positive_definite.check(pd).all().item()
    np.testing.assert_allclose(PositiveDefiniteTransform().inv(pd).numpy(), np.tril(m),
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("constraint,shape", [
    (constraints.real, (3,)), (constraints.positive, (3,)), (constraints.nonnegative, (3,)),
    (constraints.greater_than(2.0), (3,)), (constraints.greater_than_eq(-1.0), (3,)),
    (constraints.less_than(1.5), (3,)), (constraints.unit_interval, (3,)),
    (constraints.interval(-2.0, 5.0), (3,)), (constraints.half_open_interval(0.0, 2.0), (3,)),
    (constraints.simplex, (2, 4)), (constraints.real_vector, (2, 4)),
    (constraints.independent(constraints.positive, 1), (2, 4)),
    (constraints.corr_cholesky, (2, 6)),
])
def test_biject_to_is_a_bijection_onto_the_constraint(constraint, shape):
    x = t(RNG.standard_normal(shape))
    bijection = biject_to(constraint)
    y = bijection(x)
    assert bijection.bijective
    assert constraint.check(y).all().item()
    np.testing.assert_allclose(bijection.inv(y).numpy(), x.numpy(), rtol=1e-8, atol=1e-10)
    y2 = transform_to(constraint)(x)
    assert constraint.check(y2).all().item()


def test_transform_to_matrices_and_registry_errors():
    m = t(RNG.standard_normal((2, 3, 3)))
    for constraint in (constraints.lower_cholesky, constraints.positive_definite,
                       constraints.positive_semidefinite):
        assert constraint.check(transform_to(constraint)(m)).all().item()
    assert isinstance(transform_to(constraints.simplex), SoftmaxTransform)
    assert isinstance(biject_to(constraints.simplex), StickBreakingTransform)
    with pytest.raises(NotImplementedError, match="Cannot transform _Boolean constraints"):
        biject_to(constraints.boolean)
    with pytest.raises(NotImplementedError, match="Cannot transform _LowerCholesky"):
        biject_to(constraints.lower_cholesky)  # (not a bijection from a vector space)
    with pytest.raises(TypeError, match="Expected constraint to be either a Constraint"):
        transform_to.register(int, lambda c: None)


# ---------------------------------------------------------------- families

A = RNG.uniform(2.5, 6.0, 4)      # concentrations with finite variance where needed
B = RNG.uniform(0.5, 3.0, 4)
POSITIVE = RNG.uniform(0.05, 3.0, (3, 4))
UNIT = RNG.uniform(0.02, 0.98, (3, 4))


def test_inverse_gamma_matches_scipy():
    d = InverseGamma(t(A), t(B))
    ref = stats.invgamma(A, scale=B)
    np.testing.assert_allclose(d.log_prob(t(POSITIVE)).numpy(), ref.logpdf(POSITIVE), **TOL)
    np.testing.assert_allclose(d.cdf(t(POSITIVE)).numpy(), ref.cdf(POSITIVE), **TOL)
    np.testing.assert_allclose(d.entropy().numpy(), ref.entropy(), **TOL)
    np.testing.assert_allclose(d.mean.numpy(), ref.mean(), **TOL)
    np.testing.assert_allclose(d.variance.numpy(), ref.var(), **TOL)
    np.testing.assert_allclose(d.mode.numpy(), B / (A + 1), **TOL)
    low = InverseGamma(t([0.5, 1.5]), t(1.0))
    assert low.mean.tolist()[0] == math.inf and low.variance.tolist() == [math.inf] * 2
    check_grad(lambda a, b: InverseGamma(a, b).log_prob(t(POSITIVE)), [A, B])
    check_grad(lambda a, b: InverseGamma(a, b).entropy(), [A, B])
    # N = 40000 draws (A > 4 not needed: the mean's standard error uses the finite variance)
    graphc.manual_seed(1)
    n = 40000
    s = InverseGamma(t(A), t(B)).sample((n,)).numpy()
    within_standard_errors(s.mean(0), ref.mean(), np.sqrt(ref.var() / n))
    assert stats.kstest(s[:, 0], stats.invgamma(A[0], scale=B[0]).cdf).pvalue > KS_LEVEL


def test_kumaraswamy_matches_quadrature():
    a = np.array([0.5, 1.0, 2.0, 5.0])
    b = np.array([0.7, 1.0, 3.0, 2.0])
    d = Kumaraswamy(t(a), t(b))
    pdf = lambda x, i: a[i] * b[i] * x ** (a[i] - 1) * (1 - x ** a[i]) ** (b[i] - 1)  # noqa: E731
    np.testing.assert_allclose(d.log_prob(t(UNIT)).numpy(),
                               np.log(np.stack([pdf(UNIT[:, i], i) for i in range(4)], -1)),
                               **TOL)
    np.testing.assert_allclose(d.cdf(t(UNIT)).numpy(), 1 - (1 - UNIT ** a) ** b, **TOL)
    np.testing.assert_allclose(d.icdf(t(UNIT)).numpy(), (1 - (1 - UNIT) ** (1 / b)) ** (1 / a),
                               **TOL)
    for i in range(4):
        mean = integrate.quad(lambda x: x * pdf(x, i), 0, 1, epsabs=1e-13)[0]
        second = integrate.quad(lambda x: x * x * pdf(x, i), 0, 1, epsabs=1e-13)[0]
        # (tanh-sinh in mpmath: the integrand is singular at both ends for a, b < 1)
        with mpmath.workdps(30):  # (15 digits leave 2e-8 near the singular ends)
            ai, bi = mpmath.mpf(a[i]), mpmath.mpf(b[i])
            entropy = float(mpmath.quad(
                lambda x: -ai * bi * x ** (ai - 1) * (1 - x ** ai) ** (bi - 1) * mpmath.log(
                    ai * bi * x ** (ai - 1) * (1 - x ** ai) ** (bi - 1)), [0, 0.5, 1]))
        np.testing.assert_allclose(d.mean[i].item(), mean, rtol=1e-9)
        np.testing.assert_allclose(d.variance[i].item(), second - mean ** 2, rtol=1e-9)
        np.testing.assert_allclose(d.entropy()[i].item(), entropy, rtol=1e-9, atol=1e-10)
    mode = d.mode.numpy()
    assert np.isnan(mode[0])  # (a, b < 1: unbounded density; a = b = 1: uniform)
    np.testing.assert_allclose(mode[2:], ((a[2:] - 1) / (a[2:] * b[2:] - 1)) ** (1 / a[2:]),
                               **TOL)
    # the mode maximizes the density; at a = 1 it is 0, at b = 1 it is 1
    for i in (2, 3):
        grid = np.linspace(1e-4, 1 - 1e-4, 20001)
        assert abs(grid[np.argmax(pdf(grid, i))] - mode[i]) < 1e-4
    assert Kumaraswamy(t([1.0, 3.0]), t([2.0, 1.0])).mode.tolist() == [0.0, 1.0]
    check_grad(lambda p, q: Kumaraswamy(p, q).log_prob(t(UNIT)), [a, b])
    check_grad(lambda p, q: Kumaraswamy(p, q).entropy(), [a, b])
    graphc.manual_seed(2)
    n = 40000
    s = Kumaraswamy(t(a), t(b)).sample((n,)).numpy()
    within_standard_errors(s.mean(0), d.mean.numpy(), np.sqrt(d.variance.numpy() / n))
    assert stats.kstest(s[:, 2], lambda x: 1 - (1 - x ** a[2]) ** b[2]).pvalue > KS_LEVEL


def test_logistic_normal():
    loc = RNG.standard_normal((2, 3))
    scale = RNG.uniform(0.5, 1.5, (2, 3))
    d = LogisticNormal(t(loc), t(scale))
    assert d.batch_shape == (2,) and d.event_shape == (4,)
    y = RNG.dirichlet(np.ones(4), size=(5, 2))
    # reference: the normal density of x = inverse stick breaking, over |det dy[:-1]/dx|
    want = np.empty((5, 2))
    for i in range(5):
        for j in range(2):
            head = y[i, j, :-1]
            x = np.log(head) - np.log(1 - np.cumsum(head)) + np.log(np.arange(3, 0, -1))
            jac = fd_jacobian(lambda v: _stick_breaking_np(v)[:-1], x)
            want[i, j] = (stats.norm.logpdf(x, loc[j], scale[j]).sum()
                          - np.linalg.slogdet(jac)[1])
    np.testing.assert_allclose(d.log_prob(t(y)).numpy(), want, rtol=1e-6)
    check_grad(lambda m, s: LogisticNormal(m, s).log_prob(t(y)), [loc, scale])
    assert LogisticNormal(t(0.3), t(2.0)).event_shape == (2,)
    np.testing.assert_allclose(d.loc.numpy(), loc, **TOL)
    # first coordinate: logit(y0) + log 3 ~ Normal(loc0, scale0); N = 20000, KS
    graphc.manual_seed(3)
    s = d.sample((20000,)).numpy()
    assert s.shape == (20000, 2, 4) and np.allclose(s.sum(-1), 1.0)
    first = special.logit(s[:, 0, 0]) + math.log(3)
    assert stats.kstest(first, stats.norm(loc[0, 0], scale[0, 0]).cdf).pvalue > KS_LEVEL


def test_fisher_snedecor_matches_scipy():
    df1 = np.array([1.5, 3.0, 6.0, 12.0])
    df2 = np.array([2.5, 5.0, 9.0, 20.0])
    d = FisherSnedecor(t(df1), t(df2))
    ref = stats.f(df1, df2)
    np.testing.assert_allclose(d.log_prob(t(POSITIVE)).numpy(), ref.logpdf(POSITIVE), **TOL)
    mean, var = d.mean.numpy(), d.variance.numpy()
    np.testing.assert_allclose(mean, ref.mean(), **TOL)  # (scipy: inf where df2 <= 2)
    assert np.isnan(var[0]) and np.isnan(d.mode.numpy()[0])
    np.testing.assert_allclose(var[2:], ref.var()[2:], **TOL)
    np.testing.assert_allclose(d.mode.numpy()[1:], ((df1 - 2) / df1 * df2 / (df2 + 2))[1:],
                               **TOL)
    check_grad(lambda p, q: FisherSnedecor(p, q).log_prob(t(POSITIVE)), [df1, df2])
    graphc.manual_seed(4)
    n = 40000
    s = d.sample((n,)).numpy()
    within_standard_errors(s.mean(0)[2:], ref.mean()[2:], np.sqrt(ref.var()[2:] / n))
    for i in range(4):
        assert stats.kstest(s[:, i], stats.f(df1[i], df2[i]).cdf).pvalue > KS_LEVEL


XI = np.array([-0.3, 0.0, 0.2, 0.45])


def test_generalized_pareto_matches_scipy():
    loc = RNG.standard_normal(4)
    d = GeneralizedPareto(t(loc), t(B), t(XI))
    ref = stats.genpareto(XI, loc=loc, scale=B)
    x = loc + POSITIVE * 0.5  # (inside [loc, loc - scale / xi] for xi = -0.3)
    assert d.support.check(t(x)).all().item()
    np.testing.assert_allclose(d.log_prob(t(x)).numpy(), ref.logpdf(x), **TOL)
    np.testing.assert_allclose(d.cdf(t(x)).numpy(), ref.cdf(x), **TOL)
    np.testing.assert_allclose(d.log_survival_function(t(x)).numpy(), ref.logsf(x), **TOL)
    np.testing.assert_allclose(d.icdf(t(UNIT)).numpy(), ref.ppf(UNIT), **TOL)
    np.testing.assert_allclose(d.entropy().numpy(), ref.entropy(), **TOL)
    np.testing.assert_allclose(d.mean.numpy(), ref.mean(), **TOL)
    np.testing.assert_allclose(d.variance.numpy(), ref.var(), **TOL)
    assert np.isnan(GeneralizedPareto(t(0.0), t(1.0), t(1.5)).mean.item())
    upper = loc[0] - B[0] / XI[0]
    assert d.support.check(t([[upper + 0.1, 0, 0, 0]]).expand(1, 4)).tolist()[0][0] is False
    check_grad(lambda m, s, c: GeneralizedPareto(m, s, c).log_prob(t(x)), [loc, B, XI + 0.01])

    def draws(m, s, c):
        graphc.manual_seed(5)  # the same uniforms at every evaluation
        return GeneralizedPareto(m, s, c).rsample((3,))
    check_grad(draws, [loc, B, XI + 0.01])
    graphc.manual_seed(6)
    n = 40000
    s = d.sample((n,)).numpy()
    within_standard_errors(s.mean(0), ref.mean(), np.sqrt(ref.var() / n))
    for i in range(4):
        assert stats.kstest(s[:, i], stats.genpareto(XI[i], loc[i], B[i]).cdf).pvalue > KS_LEVEL


def test_new_families_validation_shapes_and_expand():
    for make in (lambda: InverseGamma(t(-1.0), 1.0), lambda: Kumaraswamy(t(1.0), t(-2.0)),
                 lambda: LogisticNormal(t([0.0, 1.0]), t(-1.0)),
                 lambda: FisherSnedecor(t(0.0), 1.0),
                 lambda: GeneralizedPareto(t(0.0), t(-1.0), t(0.1))):
        with pytest.raises(ValueError, match="Expected parameter"):
            make().__class__  # (made with the default validation)
    with pytest.raises(ValueError, match="within the support"):
        Kumaraswamy(t(1.0), t(2.0), validate_args=True).log_prob(t(1.5))
    with pytest.raises(ValueError, match="within the support"):
        GeneralizedPareto(t(0.0), t(1.0), t(-0.5), validate_args=True).log_prob(t(2.5))
    graphc.manual_seed(7)
    for d, batch, event in ((InverseGamma(t(A), 1.0), (4,), ()),
                            (Kumaraswamy(t(A), t(B)), (4,), ()),
                            (LogisticNormal(t(np.zeros((4, 2))), 1.0), (4,), (3,)),
                            (FisherSnedecor(t(A), t(B)), (4,), ()),
                            (GeneralizedPareto(t(0.0), t(B), 0.1), (4,), ())):
        assert d.batch_shape == batch and d.event_shape == event
        e = d.expand((2,) + batch)
        assert e.batch_shape == (2,) + batch
        assert e.sample((3,)).shape == (3, 2) + batch + event
        assert d.support.check(d.sample((5,))).all().item()
    x = t(POSITIVE[0])
    np.testing.assert_allclose(InverseGamma(t(A), 1.0).expand((2, 4)).log_prob(x).numpy()[1],
                               InverseGamma(t(A), 1.0).log_prob(x).numpy(), **TOL)
    assert FisherSnedecor(3.0, 4.0).batch_shape == ()


def test_compose_transform_with_events_of_different_sizes():
    # StickBreaking (vector events) then Exp (elementwise): Exp's log-determinant is summed
    # over the simplex vector, the composition's domain/codomain are vector events and its
    # shapes chain (the event grows by one)
    from graphc.distributions import ComposeTransform
    compose = ComposeTransform([StickBreakingTransform(), ExpTransform()])
    x = RNG.standard_normal((3, 4))
    y = compose(t(x))
    assert y.shape == (3, 5) and compose.forward_shape((3, 4)) == (3, 5)
    assert compose.inverse_shape((3, 5)) == (3, 4)
    assert compose.domain.event_dim == 1 and compose.codomain.event_dim == 1
    simplex = np.stack([_stick_breaking_np(r) for r in x])
    want = np.empty(3)
    for i, row in enumerate(x):
        jac = fd_jacobian(lambda v: _stick_breaking_np(v)[:-1], row)
        want[i] = np.linalg.slogdet(jac)[1] + simplex[i].sum()
    np.testing.assert_allclose(compose.log_abs_det_jacobian(t(x), y).numpy(), want, rtol=1e-6)
    np.testing.assert_allclose(compose.inv(y).numpy(), x, rtol=1e-9, atol=1e-12)


def test_cat_and_stack_transforms_and_constraints():
    from graphc.distributions import CatTransform, SigmoidTransform, StackTransform
    x = RNG.standard_normal((3, 5))
    cat = CatTransform([ExpTransform(), SigmoidTransform()], dim=1, lengths=[2, 3])
    y = cat(t(x))
    want = np.concatenate([np.exp(x[:, :2]), special.expit(x[:, 2:])], 1)
    np.testing.assert_allclose(y.numpy(), want, **TOL)
    np.testing.assert_allclose(cat.inv(y).numpy(), x, rtol=1e-9, atol=1e-12)
    sigmoid_slope = special.expit(x[:, 2:]) * special.expit(-x[:, 2:])
    log_det = np.concatenate([x[:, :2], np.log(sigmoid_slope)], 1)
    np.testing.assert_allclose(cat.log_abs_det_jacobian(t(x), y).numpy(), log_det, **TOL)
    assert cat.codomain.check(y).all().item() and cat.bijective
    # parts with vector events along the cat dimension: their log-determinants are summed
    vec = CatTransform([IndependentTransform(ExpTransform(), 1),
                        IndependentTransform(SigmoidTransform(), 1)], dim=-1, lengths=[2, 3])
    assert vec.event_dim == 1
    np.testing.assert_allclose(vec.log_abs_det_jacobian(t(x), vec(t(x))).numpy(),
                               log_det.sum(-1), **TOL)
    stack = StackTransform([ExpTransform(), SigmoidTransform(), SoftplusTransform()], dim=0)
    y = stack(t(x))
    np.testing.assert_allclose(y.numpy(), np.stack([np.exp(x[0]), special.expit(x[1]),
                                                    np.logaddexp(0, x[2])]), **TOL)
    np.testing.assert_allclose(stack.inv(y).numpy(), x, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(stack.log_abs_det_jacobian(t(x), y).numpy()[0], x[0], **TOL)
    with pytest.raises(ValueError, match="must equal len\\(transforms\\) 3"):
        stack(t(x.T))
    with pytest.raises(ValueError, match="must equal length 5"):
        cat(t(x[:, :4]))
    c = constraints.cat([constraints.positive, constraints.real], 1, [2, 3])
    value = t([[1.0, 2.0, -1.0, 0.0, 5.0], [-1.0, 2.0, 0.0, 0.0, 0.0]])
    assert c.check(value).tolist() == [[True, True, True, True, True],
                                       [False, True, True, True, True]]
    s = constraints.stack([constraints.positive, constraints.unit_interval], 0)
    assert s.check(t([[1.0, -1.0], [0.5, 2.0]])).tolist() == [[True, False], [True, False]]
    for constraint, shape in ((c, (4, 5)), (s, (2, 3))):
        z = t(RNG.standard_normal(shape))
        assert constraint.check(biject_to(constraint)(z)).all().item()
        assert constraint.check(transform_to(constraint)(z)).all().item()


# ---------------------------------------------------------------- ExponentialFamily

def test_exponential_family_entropy_and_bregman_kl():
    from graphc.distributions import (
        Bernoulli,
        ContinuousBernoulli,
        Exponential,
        ExponentialFamily,
        Gamma,
        Wishart,
        kl_divergence,
    )
    from graphc.distributions.kl import _kl_expfamily_expfamily
    a, b = A, B
    u = UNIT[0]
    pairs = [(Normal(t(a), t(b)), Normal(t(-a), t(a))), (Gamma(t(a), t(b)), Gamma(t(b), t(a))),
             (Exponential(t(a)), Exponential(t(b))), (Bernoulli(t(u)), Bernoulli(t(u[::-1]))),
             (ContinuousBernoulli(t(u)), ContinuousBernoulli(t(u[::-1])))]
    for p, q in pairs:
        assert isinstance(p, ExponentialFamily)
        # the generic entropy from the log-normalizer equals the family's closed form
        np.testing.assert_allclose(ExponentialFamily.entropy(p).detach().numpy(),
                                   p.entropy().numpy(), rtol=1e-10, atol=1e-12)
        # and the Bregman divergence the closed-form KL
        np.testing.assert_allclose(_kl_expfamily_expfamily(p, q).detach().numpy(),
                                   kl_divergence(p, q).numpy(), rtol=1e-9, atol=1e-12)
    # Wishart has no closed-form rule: kl_divergence is the Bregman one; reference (Wishart
    # KL, p = W(n0, V0), q = W(n1, V1)): n1/2 (log|V1| - log|V0|) + n0/2 (tr(V1^-1 V0) - d)
    # + log Gamma_d(n1/2) - log Gamma_d(n0/2) + (n0 - n1)/2 psi_d(n0/2)
    d = 3
    v0 = np.eye(d) * 2 + 0.5
    v1 = np.array([[1.5, 0.2, 0.0], [0.2, 1.0, 0.3], [0.0, 0.3, 2.0]])
    n0, n1 = 5.0, 7.5
    p = Wishart(t(n0), covariance_matrix=t(v0))
    q = Wishart(t(n1), covariance_matrix=t(v1))
    psi = special.digamma(n0 / 2 - np.arange(d) / 2).sum()
    want = (n1 / 2 * (np.linalg.slogdet(v1)[1] - np.linalg.slogdet(v0)[1])
            + n0 / 2 * (np.trace(np.linalg.solve(v1, v0)) - d)
            + special.multigammaln(n1 / 2, d) - special.multigammaln(n0 / 2, d)
            + (n0 - n1) / 2 * psi)
    np.testing.assert_allclose(kl_divergence(p, q).item(), want, rtol=1e-10)
    np.testing.assert_allclose(ExponentialFamily.entropy(p).item(), p.entropy().item(),
                               rtol=1e-10)
    with pytest.raises(NotImplementedError, match="different exponential families"):
        _kl_expfamily_expfamily(Normal(t(0.0), t(1.0)), Exponential(t(1.0)))


def test_densities_compile_and_equal_eager():
    # float32, compiled vs eager rtol=1e-5 (atol 1e-6); LowRankMultivariateNormal factors its
    # capacitance at construction (LAPACK, eager): refused inside a compiled function
    from graphc.distributions import (
        Categorical,
        LKJCholesky,
        LowRankMultivariateNormal,
        MixtureSameFamily,
        Wishart,
    )
    rng = np.random.default_rng(5)

    def f32(a):
        return graphc.tensor(np.asarray(a, dtype=np.float32))
    a, b = f32(rng.uniform(1, 3, 4)), f32(rng.uniform(1, 3, 4))
    u, x = f32(rng.uniform(0.1, 0.9, 4)), f32(rng.uniform(0.1, 2, 4))
    cases = [
        (lambda z, m, s, v: MixtureSameFamily(Categorical(logits=z), Normal(m, s)).log_prob(v),
         (f32(rng.standard_normal((3, 4))), f32(rng.standard_normal((3, 4))),
          f32(rng.uniform(0.5, 1, (3, 4))), f32(rng.standard_normal((5, 3))))),
        (lambda c: LKJCholesky(3, c).log_prob(graphc.eye(3)), (a,)),
        (lambda p, q, v: InverseGamma(p, q).log_prob(v), (a, b, x)),
        (lambda p, q, v: Kumaraswamy(p, q).log_prob(v), (a, b, u)),
        (lambda p, q, v: FisherSnedecor(p, q).log_prob(v), (a, b, x)),
        (lambda p, q, v: GeneralizedPareto(p * 0, q, p * 0.1).log_prob(v), (a, b, x)),
        (lambda p, q: LogisticNormal(p[:3], q[:3]).log_prob(f32([0.1, 0.2, 0.3, 0.4])), (a, b)),
        (lambda df, lower: Wishart(df, scale_tril=lower).variance, (a + 3, graphc.eye(3) * 2)),
    ]
    for fn, args in cases:
        np.testing.assert_allclose(graphc.compile(fn)(*args).numpy(), fn(*args).numpy(),
                                   rtol=1e-5, atol=1e-6)
    with pytest.raises(graphc.TraceError, match="linalg.cholesky is not supported inside"):
        graphc.compile(lambda m, w, d: LowRankMultivariateNormal(m, w, d).rsample())(
            x, f32(rng.standard_normal((4, 2))), b)
