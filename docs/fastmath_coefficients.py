"""Derives the polynomials of backends/llvm/fastmath.py not taken from Cephes: erf's two.

erf is evaluated without exp and without a division, as two polynomials (both computed, one
selected per element, so the loop stays vectorizable), each by plain Horner (one FMA per
coefficient: the GELU*sigmoid kernel is bound by the number of vector operations):

- ``|x| < 1``: ``erf(x) = x * C_HI + x * S(x*x)`` (one FMA), ``C_HI`` being 2/sqrt(pi)
  rounded to float32 and ``S(z)`` fitted to ``erf(x)/x - C_HI``. The large term ``x * C_HI`` is
  then exact inside the FMA, and ``S``'s constant term carries the part of 2/sqrt(pi) that
  float32 ``C_HI`` misses (5.2e-8 relative: 0.4 to 0.9 ulp, which a plain ``x * P(x*x)`` loses near
  0). Fitted for the smallest maximum error relative to ``erf(x)/x``.
- ``1 <= |x| <= 3.92``: ``erf(|x|) = P(|x| - TAIL_CENTER)``, ``P = 1 - G`` with ``G`` fitted
  to ``erfc`` with the smallest maximum *absolute* error: erf is near 1 there, so an absolute
  error is an error in ulps of 1 (2**-24). ``P`` is ``erf`` itself (the ``1 -`` folded into its
  constant term): its last FMA rounds once, where ``1 - G(t)`` rounded twice and cost one more
  operation; but ``P``'s constant term, near 1, is then a float32 with an error of up to half an
  ulp that the other terms cannot absorb. ``TAIL_CENTER`` is a centre (found by
  :func:`scan_centers`) where the minimax ``1 - G(0)`` lies within 0.03 ulp of a float32, and
  near the low end (the evaluation error is largest where ``|t|`` and ``P``'s terms are large,
  at ``|x| = 1``). Beyond 3.92 (clamped) ``P`` rounds to 1, as erf does in float32.

Each is a minimax fit on 4000 Chebyshev points (``scipy.special.erf`` / ``erfc`` in float64
as targets), solved as a linear program (minimize the maximum weighted error), then rounded to
float32 one coefficient at a time, highest degree first, refitting the remaining ones after each
rounding (so the later coefficients absorb the earlier roundings: this costs a few hundredths
of an ulp). Prints them (highest degree first, as
``_ERF_SMALL`` / ``_ERF_TAIL`` hold them) and each fit's maximum error in float32 ulps (of erf;
exact arithmetic: the float32 evaluation adds its own roundings, see
``benchmarks/fastmath_ulp.py`` for the measured total). Needs scipy; about 10 s.

    python docs/fastmath_coefficients.py
"""
import math

import numpy as np
from scipy.optimize import linprog
from scipy.special import erf, erfc

SPLIT, CLAMP, TAIL_CENTER = 1.0, 3.92, 2.28125   # the centre: a float32 (73/32)
SMALL_DEGREE, TAIL_DEGREE = 6, 12
C_HI = float(np.float32(2 / math.sqrt(math.pi)))
ULP_OF_ONE = 2.0 ** -24   # float32 ulp just below 1


def chebyshev_points(low: float, high: float, count: int = 4000) -> np.ndarray:
    return np.cos(np.linspace(0, np.pi, count)) * (high - low) / 2 + (high + low) / 2


def minimax_polynomial(t: np.ndarray, target: np.ndarray, scale: np.ndarray, degree: int,
                       fixed: dict[int, float]) -> np.ndarray:
    """Coefficients (lowest degree first) of the polynomial in ``t`` with the smallest maximum
    of ``|p(t) - target| / scale``, the coefficients in ``fixed`` (degree -> value) given.

    A linear program in the free coefficients and the maximum error ``e``: minimize ``e``
    subject to ``-e <= (p(t) - target) / scale <= e`` at every point. It solves for the change
    from the least-squares fit, so that its values are of the order of the error (the solver's
    tolerances are relative: ``erfc`` itself is 1e7 ulps)."""
    free = [k for k in range(degree + 1) if k not in fixed]
    width = np.abs(t).max()
    basis = np.stack([(t / width) ** k for k in free], axis=1) / scale[:, None]
    rest = (target - sum(v * t ** k for k, v in fixed.items())) / scale
    start = np.linalg.lstsq(basis, rest, rcond=None)[0]
    rest = rest - basis @ start
    ones = np.ones((t.size, 1))
    bound = np.vstack([np.hstack([basis, -ones]), np.hstack([-basis, -ones])])
    cost = np.zeros(len(free) + 1)
    cost[-1] = 1.0
    for method in ("highs", "highs-ds", "highs-ipm"):   # the default one fails now and then
        solution = linprog(cost, A_ub=bound, b_ub=np.concatenate([rest, -rest]),
                           bounds=[(None, None)] * len(free) + [(0, None)], method=method)
        if solution.x is not None:
            break
    else:
        raise RuntimeError(f"no minimax fit: {solution.message}")
    coefficients = np.zeros(degree + 1)
    for k, v in fixed.items():
        coefficients[k] = v
    for i, k in enumerate(free):
        coefficients[k] = (solution.x[i] + start[i]) / width ** k
    return coefficients


def float32_minimax(t: np.ndarray, target: np.ndarray, scale: np.ndarray, degree: int,
                    fixed: dict[int, float] | None = None) -> np.ndarray:
    """:func:`minimax_polynomial` with float32 coefficients: rounded one at a time, highest
    degree first, the rest refitted after each."""
    fixed = dict(fixed or {})
    for k in range(degree, -1, -1):
        if k not in fixed:
            fixed[k] = float(np.float32(minimax_polynomial(t, target, scale, degree, fixed)[k]))
    return np.array([fixed[k] for k in range(degree + 1)])


def small_branch() -> tuple[np.ndarray, float]:
    """``S`` (float32 coefficients, highest degree first) and its max error in ulps of erf on
    [0, SPLIT]."""
    x = chebyshev_points(0, SPLIT)
    over_x = np.where(x > 0, erf(x) / np.where(x > 0, x, 1), 2 / math.sqrt(math.pi))
    s = float32_minimax(x * x, over_x - C_HI, over_x * ULP_OF_ONE, SMALL_DEGREE)[::-1]
    approx = x * (C_HI + np.polyval(s, x * x))
    want = over_x * x
    ulp = np.ldexp(1.0, np.frexp(np.maximum(want, 1e-30))[1] - 24)
    return s, float((np.abs(approx - want) / ulp)[x > 0].max())


def tail_branch(center: float = TAIL_CENTER) -> tuple[np.ndarray, float]:
    """``P`` (float32 coefficients, highest degree first) and its max error in ulps of 1 on
    [SPLIT, CLAMP]. Fitted as ``G = 1 - P`` to ``erfc`` (``erf`` near 1 is too large for the
    solver's tolerances), ``G``'s constant term pinned to ``1 - P(0)``, ``P(0)`` being the
    unconstrained fit's rounded to float32."""
    a = chebyshev_points(SPLIT, CLAMP)
    t, target, scale = a - center, erfc(a), np.full_like(a, ULP_OF_ONE)
    p0 = float(np.float32(1 - minimax_polynomial(t, target, scale, TAIL_DEGREE, {})[0]))
    p = -float32_minimax(t, target, scale, TAIL_DEGREE, {0: 1 - p0})
    p[0] = p0
    p = p[::-1]
    return p, float(np.abs(np.polyval(p, t) - erf(a)).max() / ULP_OF_ONE)


def scan_centers(low: float = 2.15, high: float = 2.7, step: float = 0.0025) -> list:
    """Centres for the tail (float32 values) by how far the minimax ``P(0)`` is from a float32,
    in ulps of 1, nearest first: the candidates for ``TAIL_CENTER``."""
    a = chebyshev_points(SPLIT, CLAMP)
    found = []
    for center in np.arange(low, high, step, dtype=np.float32):
        g0 = minimax_polynomial(a - float(center), erfc(a), np.full_like(a, ULP_OF_ONE),
                                TAIL_DEGREE, {})[0]
        found.append((abs(float(np.float32(1 - g0)) - (1 - g0)) / ULP_OF_ONE, float(center)))
    return sorted(found)


if __name__ == "__main__":
    for name, (coefficients, error) in (("_ERF_SMALL", small_branch()),
                                        ("_ERF_TAIL", tail_branch())):
        print(f"{name} = {[float(c) for c in coefficients]}  # max {error:.3f} ulp")
