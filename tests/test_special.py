"""graphc.special and the top-level gamma family (``lgamma digamma polygamma mvlgamma erfc
i0``), against scipy.special in float64 (scipy comes with scikit-learn, in the test extra) over
wide ranges: negatives, near the poles, tiny and huge arguments, +-inf and NaN.

Tolerances: float64 values rtol=5e-14 (atol=5e-15 where a function crosses zero: lgamma at 1
and 2, digamma at 1.4616); float32 values (computed in float64, rounded once) rtol=2e-7
(1 ulp = 1.2e-7). Gradients: against the closed-form derivatives from scipy at rtol=1e-12,
and against finite differences with conftest.check_grad. Compiled (llvm) == eager at
rtol=1e-14.
"""
import math

import mpmath  # (a dependency of sympy, in the venv) the reference where scipy loses digits
import numpy as np
import pytest
from scipy import special as S

import graphc
from conftest import check_grad
from graphc import special

WIDE = np.array([-1e10 - 0.5, -100.3, -7.25, -3.5, -2.000001, -1.999999, -0.5, -1e-8, -1e-300,
                 1e-300, 1e-8, 0.1, 0.3, 0.5, 0.9, 1.0, 1.2, 1.4616321449683623, 1.5, 2.0,
                 2.5, 3.0, 7.3, 9.99, 10.0, 10.01, 30.0, 171.5, 1e4, 1e10, 1e300])
POSITIVE = WIDE[WIDE > 0]
ERF_RANGE = np.concatenate([np.linspace(-6, 6, 97), [-27.0, -10.0, 0.49, 0.5, 0.51, 1.99, 2.0,
                                                      7.99, 8.0, 26.5, 27.5, 49.9, 50.0, 50.1,
                                                      1e3, 1e8, 1e200]])
BESSEL_RANGE = np.concatenate([np.linspace(-20, 20, 81), [7.999, 8.0, 8.001, 100.0, -300.0,
                                                          700.0, 1e5]])
SPECIAL = np.array([math.inf, -math.inf, math.nan])


def t(array, dtype=graphc.float64):
    return graphc.tensor(np.asarray(array), dtype=dtype)


def close(got, want, rtol=5e-14, atol=0.0):
    np.testing.assert_allclose(got.numpy(), want, rtol=rtol, atol=atol, equal_nan=True)


def _mp(fn):
    """An mpmath function (30 digits) on a float64 array, NaN where it has no value."""
    def reference(x):
        with mpmath.workdps(30):
            out = []
            for v in np.asarray(x, dtype=np.float64):
                try:
                    out.append(float(fn(mpmath.mpf(float(v)))) if math.isfinite(v) else
                               math.nan)
                except (ValueError, ZeroDivisionError):
                    out.append(math.nan)
        return np.array(out)
    return reference


def _lgamma_reference(x):
    # PyTorch's (and C's) lgamma: +inf at the poles and at +-inf; scipy gives -inf at -inf
    with np.errstate(all="ignore"):
        return np.where(np.isinf(x), math.inf, S.gammaln(x))


UNARY = {  # name: (graphc function, scipy reference, inputs, atol in float64)
    "lgamma": (graphc.lgamma, _lgamma_reference, np.concatenate([WIDE, SPECIAL]), 5e-15),
    "digamma": (graphc.digamma, _mp(mpmath.digamma), WIDE, 5e-15),
    "trigamma": (lambda x: graphc.polygamma(1, x), _mp(lambda v: mpmath.polygamma(1, v)),
                 WIDE[np.abs(WIDE) < 1e9], 0.0),
    # (below 0 the reflection's terms, ~pi**(n+1), cancel: 1e-13 absolute, not relative)
    "polygamma2": (lambda x: graphc.polygamma(2, x), _mp(lambda v: mpmath.polygamma(2, v)),
                   WIDE[(np.abs(WIDE) < 1e9) & (np.abs(WIDE) > 1e-100)], 1e-13),
    "polygamma3": (lambda x: graphc.polygamma(3, x), _mp(lambda v: mpmath.polygamma(3, v)),
                   WIDE[(np.abs(WIDE) < 1e9) & (np.abs(WIDE) > 1e-50)], 1e-12),
    "erfc": (graphc.erfc, S.erfc, np.concatenate([ERF_RANGE, SPECIAL]), 0.0),
    "erfcx": (special.erfcx, S.erfcx, np.concatenate([ERF_RANGE, SPECIAL]), 0.0),
    "ndtr": (special.ndtr, S.ndtr, np.concatenate([ERF_RANGE, SPECIAL]), 0.0),
    "log_ndtr": (special.log_ndtr, S.log_ndtr, np.concatenate([ERF_RANGE * 1.4, SPECIAL]),
                 0.0),
    "ndtri": (special.ndtri, S.ndtri, np.array([0.0, 1e-300, 1e-20, 1e-5, 0.01, 0.1, 0.3, 0.5,
                                                0.6, 0.8647, 0.9, 0.99, 1 - 1e-12, 1.0, -0.1,
                                                1.5, math.nan]), 0.0),
    "i0": (graphc.i0, S.i0, np.concatenate([BESSEL_RANGE, SPECIAL]), 0.0),
    "i0e": (special.i0e, S.i0e, np.concatenate([BESSEL_RANGE, SPECIAL]), 0.0),
    "i1": (special.i1, S.i1, np.concatenate([BESSEL_RANGE, SPECIAL]), 0.0),
    "i1e": (special.i1e, S.i1e, np.concatenate([BESSEL_RANGE, SPECIAL]), 0.0),
    "entr": (special.entr, S.entr, np.concatenate([[-1.0, 0.0, 1e-300, 0.5, 1.0, 1e300],
                                                   SPECIAL]), 0.0),
    "expit": (special.expit, S.expit, np.array([-800.0, -3.0, 0.0, 2.0, 40.0]), 1e-300),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_float64_values_match_scipy(name):
    fn, reference, x, atol = UNARY[name]
    with np.errstate(all="ignore"):
        want = reference(x)
    close(fn(t(x)), want, atol=atol)


@pytest.mark.parametrize("name", ["lgamma", "digamma", "erfc", "erfcx", "ndtr", "log_ndtr",
                                  "ndtri", "i0", "i0e", "i1", "i1e"])
def test_float32_is_the_float64_value_rounded(name):
    fn, reference, x, atol = UNARY[name]
    with np.errstate(over="ignore"):
        x32 = x.astype(np.float32)
    # (not the values float32 cannot hold: overflowed to inf, underflowed to 0)
    x32 = x32[(np.isfinite(x32) | ~np.isfinite(x)) & ((x32 != 0) | (x == 0))]
    got = fn(t(x32, graphc.float32))
    assert got.dtype == graphc.float32
    with np.errstate(all="ignore"):
        want = reference(x32.astype(np.float64)).astype(np.float32)
    # (near a zero of the function, its float64 absolute error carries over)
    atol = max(atol, float(np.finfo(np.float32).tiny))
    np.testing.assert_allclose(got.numpy(), want, rtol=2e-7, atol=atol, equal_nan=True)


def test_poles_and_signed_zero_as_pytorch():
    close(graphc.lgamma(t([0.0, -0.0, -1.0, -5.0, -1e20])), [math.inf] * 5)
    close(graphc.digamma(t([0.0, -0.0, -1.0, -3.0, -math.inf])),
          [-math.inf, math.inf, math.nan, math.nan, math.nan])
    close(graphc.polygamma(1, t([0.0, -2.0])), [math.inf, math.inf])
    close(special.ndtri(t([0.0, 1.0])), [-math.inf, math.inf])
    close(graphc.polygamma(2, t([0.0, -3.0])), [-math.inf, -math.inf])
    close(graphc.i0(t([math.inf, -math.inf])), [math.nan, math.nan])  # (0 * inf, as PyTorch)


def test_integer_inputs_become_float32():
    assert graphc.lgamma(graphc.tensor([1, 2, 3])).dtype == graphc.float32
    np.testing.assert_allclose(graphc.lgamma(graphc.tensor([1, 2, 5])).numpy(),
                               [0.0, 0.0, math.log(24)], rtol=1e-7)


DERIVATIVES = {  # name: (function, closed-form derivative, inputs)
    "lgamma": (graphc.lgamma, S.psi, np.array([-3.5, -0.3, 0.3, 1.5, 7.3, 30.0, 1e5])),
    "digamma": (graphc.digamma, lambda x: S.polygamma(1, x),
                np.array([-3.5, -0.3, 0.3, 1.5, 7.3, 30.0, 1e5])),
    "trigamma": (lambda x: graphc.polygamma(1, x), lambda x: S.polygamma(2, x),
                 np.array([-3.5, -0.3, 0.3, 1.5, 7.3, 30.0])),
    "erfc": (graphc.erfc, lambda x: -2 / math.sqrt(math.pi) * np.exp(-x * x),
             np.array([-3.0, -0.2, 0.3, 1.0, 5.0, 20.0])),
    "erfcx": (special.erfcx, lambda x: 2 * x * S.erfcx(x) - 2 / math.sqrt(math.pi),
              np.array([-3.0, -0.2, 0.3, 1.0, 5.0, 20.0])),  # (the form cancels beyond)
    "ndtri": (special.ndtri, lambda p: math.sqrt(2 * math.pi) * np.exp(S.ndtri(p) ** 2 / 2),
              np.array([1e-100, 1e-5, 0.1, 0.3, 0.5, 0.8, 0.99999])),
    "log_ndtr": (special.log_ndtr, lambda x: np.exp(-x * x / 2 - S.log_ndtr(x))
                 / math.sqrt(2 * math.pi), np.array([-30.0, -3.0, -0.5, 0.0, 2.0, 8.0])),
    "i0": (graphc.i0, S.i1, np.array([-12.0, -1.0, 0.0, 0.5, 7.9, 8.1, 30.0])),
    "i0e": (special.i0e, lambda x: S.i1e(x) - np.sign(x) * S.i0e(x),
            np.array([-12.0, -1.0, 0.5, 7.9, 8.1, 30.0])),
    "i1": (special.i1, lambda x: S.i0(x) - S.i1(x) / x, np.array([-12.0, -1.0, 0.5, 8.1, 30.0])),
    "i1 at 0": (special.i1, lambda x: 0.5 + 0 * x, np.array([0.0])),
    "erfcx at 0": (special.erfcx, lambda x: -2 / math.sqrt(math.pi) + 0 * x, np.array([0.0])),
    "lgamma at 1 and 2": (graphc.lgamma, S.psi, np.array([1.0, 2.0])),
    "i1e": (special.i1e, lambda x: S.i0e(x) - S.i1e(x) * (np.sign(x) + 1 / x),
            np.array([-12.0, -1.0, 0.5, 8.1, 30.0])),
}


@pytest.mark.parametrize("name", sorted(DERIVATIVES))
def test_gradients_match_the_closed_forms(name):
    fn, derivative, x = DERIVATIVES[name]
    x_t = graphc.tensor(x, requires_grad=True)
    fn(x_t).sum().backward()
    np.testing.assert_allclose(x_t.grad.numpy(), derivative(x), rtol=1e-12)


@pytest.mark.parametrize("fn", [graphc.lgamma, graphc.digamma, graphc.erfc, special.erfcx,
                                special.i0e, special.i1, special.log_ndtr,
                                lambda x: graphc.polygamma(2, x),
                                lambda x: graphc.mvlgamma(x, 3)])
def test_gradients_match_finite_differences(fn):
    check_grad(fn, [np.array([1.3, 2.7, 4.1, 9.5])])


def test_second_derivative_of_erfc_is_erfs():
    x = graphc.tensor([0.7, 3.0], dtype=graphc.float64, requires_grad=True)
    (g,) = graphc.autograd.grad(graphc.erfc(x).sum(), [x], create_graph=True)
    g.sum().backward()
    want = 4 / math.sqrt(math.pi) * np.array([0.7, 3.0]) * np.exp(-np.array([0.7, 3.0]) ** 2)
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-13)


def test_mvlgamma_sums_lgammas_and_checks_its_domain():
    x = np.array([1.6, 2.5, 10.0])
    close(graphc.mvlgamma(t(x), 3), S.multigammaln(x[:, None], 3)[:, 0]
          if np.ndim(S.multigammaln(x[0], 3)) else [S.multigammaln(v, 3) for v in x])
    assert special.multigammaln is graphc.mvlgamma
    with pytest.raises(graphc.ArgumentError, match=r"greater than \(p-1\)/2"):
        graphc.mvlgamma(t([0.9]), 3)


def test_binary_and_reexported_functions():
    x, y = np.array([0.0, 0.0, 2.0, -1.5]), np.array([-1.0, math.nan, 3.0, 0.25])
    close(special.xlog1py(t(x), t(y)), S.xlog1py(x, y))
    close(special.xlogy(t(x), t(np.abs(y))), S.xlogy(x, np.abs(y)))
    p = np.array([0.0, 0.25, 0.5, 1.0])
    close(special.logit(t(p), eps=1e-6), S.logit(np.clip(p, 1e-6, 1 - 1e-6)))
    z = np.array([[1.0, 2.0, -3.0]])
    close(special.logsumexp(t(z), 1), np.log(np.exp(z).sum(1)))
    close(special.softmax(t(z), 1), S.softmax(z, 1))
    close(special.log_softmax(t(z), 1), S.log_softmax(z, 1))
    close(special.sinc(t([0.0, 0.5])), np.sinc([0.0, 0.5]))
    for name in ("erf", "erfinv", "expm1", "exp2", "log1p", "round"):
        assert getattr(special, name) is getattr(graphc, name)
    assert special.psi is special.digamma and special.gammaln is graphc.lgamma


def test_tensor_methods_and_in_place_forms():
    x = t([0.5, 3.0])
    close(x.lgamma(), S.gammaln([0.5, 3.0]))
    close(x.polygamma(1), S.polygamma(1, [0.5, 3.0]))
    close(x.mvlgamma(1), S.gammaln([0.5, 3.0]))
    for name, ref in (("digamma", S.psi), ("erfc", S.erfc), ("i0", S.i0), ("lgamma", S.gammaln)):
        y = t([0.5, 3.0])
        assert getattr(y, name + "_")() is y
        close(y, ref([0.5, 3.0]))


def test_compiled_matches_eager():
    def f(x):
        return (graphc.lgamma(x) + graphc.digamma(x) + graphc.polygamma(2, x)
                + graphc.erfc(x) + special.erfcx(x) + special.i1e(x) + special.i0(x)
                + special.ndtri(graphc.sigmoid(x)) + special.log_ndtr(x))

    compiled = graphc.compile(f)
    x = t([-3.7, -0.4, 0.3, 1.5, 6.0, 12.0, 60.0])
    np.testing.assert_allclose(compiled(x).numpy(), f(x).numpy(), rtol=1e-14)
    x_c = graphc.tensor([0.3, 1.5, 6.0], dtype=graphc.float64, requires_grad=True)
    x_e = graphc.tensor([0.3, 1.5, 6.0], dtype=graphc.float64, requires_grad=True)
    graphc.compile(lambda v: f(v).sum())(x_c).backward()
    f(x_e).sum().backward()
    np.testing.assert_allclose(x_c.grad.numpy(), x_e.grad.numpy(), rtol=1e-12)
