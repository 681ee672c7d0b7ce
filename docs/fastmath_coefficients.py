"""Derives the polynomials of backends/llvm/fastmath.py not taken from Cephes: erf's two.

erf is evaluated without exp and without a division, as two polynomials (both computed, one
selected per element, so the loop stays vectorizable):

- ``|x| < 1``: ``erf(x) = x * C_HI + x * S(x*x)`` (one FMA), ``C_HI`` being 2/sqrt(pi)
  rounded to float32 and ``S(z)`` fitted to ``erf(x)/x - C_HI``. The large term ``x * C_HI`` is
  then exact inside the FMA, and ``S``'s constant term carries the part of 2/sqrt(pi) that
  float32 ``C_HI`` misses (5.2e-8 relative: 0.4 to 0.9 ulp, which a plain ``x * P(x*x)`` loses near
  0). Fitted for the smallest maximum error relative to ``erf(x)/x``.
- ``1 <= |x| <= 4``: ``erf(|x|) = 1 - G(|x| - 2.5)``, ``G`` a polynomial fitted to
  ``erfc`` with the smallest maximum *absolute* error: erf is near 1 there, so an absolute error
  of ``G`` is an error in ulps of 1 (2**-24), and one subtraction rounds the result. Beyond 4
  (clamped) ``1 - G`` is 1 - 1.5e-8, which rounds to 1 (float32 rounds erf to 1 from 3.92 on).

Each is a weighted least-squares fit on 3000 Chebyshev points (``math.erf`` / ``math.erfc``
in float64 as targets) whose weights are multiplied by each point's error at every iteration
(Lawson's algorithm), converging to the minimax fit. The coefficients are rounded to float32.
Prints them (highest degree first, as ``_ERF_SMALL`` / ``_ERF_TAIL`` hold them) and each fit's
maximum error in float32 ulps (of erf; exact arithmetic: the float32 evaluation adds its own
roundings, see ``benchmarks/fastmath_ulp.py`` for the measured total).

    python docs/fastmath_coefficients.py
"""
import math

import numpy as np

SPLIT, CLAMP, TAIL_CENTER = 1.0, 4.0, 2.5
SMALL_DEGREE, TAIL_DEGREE = 6, 15
C_HI = float(np.float32(2 / math.sqrt(math.pi)))
ULP_OF_ONE = 2.0 ** -24   # float32 ulp just below 1


def chebyshev_points(low: float, high: float, count: int = 3000) -> np.ndarray:
    return np.cos(np.linspace(0, np.pi, count)) * (high - low) / 2 + (high + low) / 2


def minimax_polynomial(t: np.ndarray, target: np.ndarray, scale: np.ndarray, degree: int,
                       iterations: int = 60) -> np.ndarray:
    """Coefficients (highest degree first) of the polynomial in ``t`` with the smallest
    maximum of ``|p(t) - target| / scale``."""
    weights = np.full_like(t, 1 / t.size)
    best_error, best = math.inf, np.zeros(degree + 1)
    for _ in range(iterations):
        coefficients = np.polyfit(t, target, degree, w=np.sqrt(weights) / scale)
        error = np.abs(np.polyval(coefficients, t) - target) / scale
        if error.max() < best_error:
            best_error, best = error.max(), coefficients
        weights = weights * error / (weights * error).sum()
    return best


def small_branch() -> tuple[np.ndarray, float]:
    """``S`` (float32 coefficients) and its max error in ulps of erf on [0, SPLIT]."""
    x = chebyshev_points(0, SPLIT)
    over_x = np.array([math.erf(v) / v if v else 2 / math.sqrt(math.pi) for v in x])
    s = np.float32(minimax_polynomial(x * x, over_x - C_HI, over_x, SMALL_DEGREE))
    erf = x * (C_HI + np.polyval(s.astype(np.float64), x * x))
    want = over_x * x
    ulp = np.ldexp(1.0, np.frexp(np.maximum(want, 1e-30))[1] - 24)
    return s, float((np.abs(erf - want) / ulp)[x > 0].max())


def tail_branch() -> tuple[np.ndarray, float]:
    """``G`` (float32 coefficients) and its max error in ulps of 1 on [SPLIT, CLAMP]."""
    a = chebyshev_points(SPLIT, CLAMP)
    erfc = np.array([math.erfc(v) for v in a])
    g = np.float32(minimax_polynomial(a - TAIL_CENTER, erfc, np.ones_like(a), TAIL_DEGREE))
    error = np.abs(np.polyval(g.astype(np.float64), a - TAIL_CENTER) - erfc)
    return g, float(error.max() / ULP_OF_ONE)


if __name__ == "__main__":
    for name, (coefficients, error) in (("_ERF_SMALL", small_branch()),
                                        ("_ERF_TAIL", tail_branch())):
        print(f"{name} = {[float(c) for c in coefficients]}  # max {error:.3f} ulp")
