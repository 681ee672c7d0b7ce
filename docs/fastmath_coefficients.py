"""Derives the one polynomial of backends/llvm/fastmath.py not taken from Cephes: erf's tail.

For 1 <= x <= 4, ``erfc(x) * exp(x*x)`` is smooth and slowly varying, so a polynomial in
``x - 2.5`` fits it well; ``erf(x) = 1 - exp(-x*x) * P(x)``. This is a least-squares fit with
relative weights on 4000 Chebyshev points (``math.erfc`` in float64 as the target), degree 11:
its float32 Horner evaluation is within 1.7e-7 relative of the target, and erfc is at most
0.16 of erf there, so it adds under half an ulp to erf. Prints the coefficients, highest
degree first, rounded to float32 as ``_ERFC_POLY`` holds them.

    python docs/fastmath_coefficients.py
"""
import math

import numpy as np

LOW, HIGH, CENTER, DEGREE = 1.0, 4.0, 2.5, 11

if __name__ == "__main__":
    x = np.cos(np.linspace(0, np.pi, 4000)) * (HIGH - LOW) / 2 + (LOW + HIGH) / 2
    target = np.array([math.erfc(v) * math.exp(v * v) for v in x])
    coefficients = np.polyfit(x - CENTER, target, DEGREE, w=1 / target)
    print([float(np.float32(c)) for c in coefficients])
