"""Regenerates the Chebyshev tables of ``erfcx`` in ``graphc/special_functions.py``.

``erfcx(x) = exp(x**2) erfc(x)`` on [0.5, 50] in three pieces, each a degree-20 Chebyshev
interpolant in ``y = 4 / (4 + x)`` (the variable of S. G. Johnson's Faddeeva package, in which
erfcx is smooth), through 21 Chebyshev points evaluated with mpmath at 50 digits. Run
``python docs/special_coefficients.py`` and paste its output over ``_ERFCX_PIECES``.
"""
import mpmath
import numpy as np
from numpy.polynomial import chebyshev

PIECES = ((0.5, 2.0), (2.0, 8.0), (8.0, 50.0))
DEGREE = 20


def erfcx(x: mpmath.mpf) -> mpmath.mpf:
    return mpmath.erfc(x) * mpmath.exp(x * x)


def piece(lo: float, hi: float) -> list:
    mpmath.mp.dps = 50
    ylo, yhi = 4 / (4 + hi), 4 / (4 + lo)
    nodes = np.cos(np.pi * (np.arange(DEGREE + 1) + 0.5) / (DEGREE + 1))
    ys = (nodes + 1) / 2 * (yhi - ylo) + ylo
    values = [float(erfcx(4 / mpmath.mpf(y) - 4)) for y in ys]
    return list(chebyshev.chebfit(nodes, values, DEGREE))


if __name__ == "__main__":
    import textwrap
    print("_ERFCX_PIECES = (")
    for lo, hi in PIECES:
        coefficients = ", ".join(repr(float(c)) for c in piece(lo, hi))
        print(f"    ({lo!r}, {hi!r}, (")
        print("\n".join("        " + line for line in textwrap.wrap(coefficients, 92)))
        print("    )),")
    print(")")
