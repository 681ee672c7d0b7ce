"""graphc.special.gammainc/gammaincc (torch.igamma/igammac): values against scipy.special in
float64 (rtol 1e-13 for a <= 3, 2e-11 up to a = 1e4, atol 1e-15 for Q = 1 - P; float32: the
float64 value rounded, rtol 2e-7), PyTorch's edge values,
gradients against finite differences (conftest's tolerances), the second derivative w.r.t. a
refused rather than answered 0, and a TraceError when compiled."""
import math

import numpy as np
import pytest
import scipy.special

import graphc
from conftest import check_grad
from graphc import special

RNG = np.random.default_rng(3)
A = np.concatenate([RNG.uniform(0.05, 3, 40), RNG.uniform(3, 200, 20), [1e-3, 0.5, 1.0, 1e4]])
X = np.concatenate([RNG.uniform(0.0, 5, 40), RNG.uniform(1, 300, 20), [2.0, 0.25, 1.0, 9e3]])


def t64(values):
    return graphc.tensor(np.asarray(values, np.float64), dtype=graphc.float64)


def test_values_match_scipy_in_both_dtypes():
    # (the prefactor x**a e**-x / Gamma(a + 1) goes through lgamma: its absolute error grows
    # with lgamma(a), to about 1e-11 relative in P for a near 1e4)
    for fn, reference in ((special.gammainc, scipy.special.gammainc),
                          (special.gammaincc, scipy.special.gammaincc)):
        got, want = fn(t64(A), t64(X)).numpy(), reference(A, X)
        small = A <= 3
        # (Q = 1 - P where the series runs: 1e-16 absolute, not relative, when Q is tiny)
        np.testing.assert_allclose(got[small], want[small], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(got, want, rtol=2e-11, atol=1e-15)
    got = special.gammainc(graphc.tensor(A.astype(np.float32)),
                           graphc.tensor(X.astype(np.float32)))
    assert got.dtype == graphc.float32
    want = scipy.special.gammainc(A.astype(np.float32).astype(np.float64),
                                  X.astype(np.float32).astype(np.float64)).astype(np.float32)
    np.testing.assert_allclose(got.numpy(), want, rtol=2e-7, atol=1e-30)
    assert graphc.igamma is special.gammainc and graphc.igammac is special.gammaincc
    np.testing.assert_array_equal(t64(A).igamma(t64(X)).numpy(),
                                  special.gammainc(t64(A), t64(X)).numpy())


def test_edge_values_are_pytorchs():
    a = [0.0, -1.0, 1.0, 2.0, math.inf, 1.0, 1.0, math.nan, 0.5, 3.0]
    x = [1.0, 1.0, 0.0, math.inf, 1.0, -1.0, math.nan, 1.0, 0.0, 0.0]
    # (written from torch 2.13's answers)
    lower = [1.0, math.nan, 0.0, 1.0, 0.0, math.nan, math.nan, math.nan, 0.0, 0.0]
    np.testing.assert_array_equal(special.gammainc(t64(a), t64(x)).numpy(), lower)
    np.testing.assert_array_equal(special.gammaincc(t64(a), t64(x)).numpy(),
                                  1.0 - np.array(lower))


@pytest.mark.parametrize("fn", [special.gammainc, special.gammaincc], ids=["P", "Q"])
def test_gradients_match_finite_differences(fn):
    a, x = RNG.uniform(0.5, 4, 6), RNG.uniform(0.5, 6, 6)
    check_grad(fn, [a, x])

    def slope_in_x(a, x):  # the derivative in x differentiates again (graphc ops)
        with graphc.enable_grad():  # (check_grad's finite differences run under no_grad)
            if not x.requires_grad:
                x = x.detach().requires_grad_()
            (g,) = graphc.autograd.grad(fn(a.detach(), x).sum(), [x], create_graph=True)
        return g
    check_grad(slope_in_x, [a, x], wrt=[1])


def test_a_second_derivative_in_a_is_refused_not_zero():
    a = t64([2.0]).requires_grad_()
    (g,) = graphc.autograd.grad(special.gammainc(a, t64([1.5])).sum(), [a])
    h = 1e-6
    slope = (scipy.special.gammainc(2.0 + h, 1.5) - scipy.special.gammainc(2.0 - h, 1.5)) / (2 * h)
    assert g.item() == pytest.approx(slope, rel=1e-7)
    with pytest.raises(graphc.errors.AutogradError, match="second derivatives"):
        graphc.autograd.grad(special.gammainc(a, t64([1.5])).sum(), [a], create_graph=True)


def test_inside_a_compiled_function_it_is_refused():
    with pytest.raises(graphc.TraceError, match="gammainc"):
        graphc.compile(lambda a, x: special.gammainc(a, x))(t64([1.0]), t64([1.0]))


def test_the_gradient_in_x_at_zero_is_the_limit():
    # d/dx P(a, x) = x**(a-1) e**-x / Gamma(a) as x -> 0: inf for a < 1, 1 for a = 1 (P(1, x)
    # = 1 - e**-x), 0 above (PyTorch answers NaN for a = 1)
    x = t64([0.0, 0.0, 0.0]).requires_grad_()
    special.gammainc(t64([0.5, 1.0, 2.0]), x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [math.inf, 1.0, 0.0])
