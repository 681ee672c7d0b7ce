"""PyTorch's special functions (``torch.special`` and the top-level ``lgamma digamma
polygamma mvlgamma erfc i0``), each a composite of graphc's primitive ops: they run eagerly,
differentiate through autograd, and compile (no op of their own) on every backend.

    >>> import graphc
    >>> x = graphc.tensor([0.5, 1.0, 4.0], dtype=graphc.float64)
    >>> [round(v, 12) for v in graphc.lgamma(x).tolist()]
    [0.572364942925, 0.0, 1.791759469228]
    >>> [round(v, 12) for v in graphc.special.erfc(x).tolist()]
    [0.479500122187, 0.15729920705, 1.5417e-08]

Float32 (and float16, bfloat16, integer) inputs compute in float64 and round once to their
dtype: the results are the correctly rounded float64 values within 1 ulp of float32. Measured
maximum errors in float64 (against mpmath / scipy.special, over the ranges of
``tests/test_special.py``), relative unless said:

- ``lgamma``: 3e-15 absolute near its zeros at 1 and 2, 2e-15 relative elsewhere (Lanczos g=7,
  n=9, reflection below 0.5); ``digamma``: 2e-15 absolute near its zero at 1.4616, 4e-16
  relative elsewhere (shift to >= 10, asymptotic series; reflection below 0);
  ``polygamma(n >= 1)``: 1e-14 for n <= 4 (the Hurwitz zeta series, Euler-Maclaurin);
- ``erfc erfcx ndtr log_ndtr``: 3e-14 (exp(x**2) erfc(x) as Chebyshev interpolants in
  ``4 / (4 + x)`` on [0.5, 50], from ``docs/special_coefficients.py``; ``x**2`` split so that
  ``exp(-x**2)`` keeps its accuracy); ``ndtri``: 1e-15 (Cephes' rational approximations and
  one Newton step);
- ``i0 i0e i1 i1e``: 1e-15 (Cephes' Chebyshev expansions on [0, 8] and [8, inf)).

Gradients are the composites' own (accurate to about 1e-12 relative for the
approximations, see the tests); ``erfc``'s is exactly ``erf``'s, ``ndtri``'s is
``sqrt(2 pi) exp(x**2 / 2)`` at the Newton step's fixed point.
"""
from __future__ import annotations

import math

from graphc import functions as F
from graphc import math_functions as M
from graphc import tracing
from graphc.errors import ArgumentError
from graphc.tensor import Tensor
from graphc.tensor_methods import inplace_method
from ir import dtypes

_F64 = dtypes.f64


# -- helpers -------------------------------------------------------------------------------------
def _floating(x) -> Tensor:
    """``x`` as a float tensor: integers and bools become the default float dtype (PyTorch's
    ``torch.special.*`` of an int tensor is float32)."""
    x = F.to_tensor(x)
    return x if x.dtype.is_float else F.cast(x, dtypes.DEFAULT_FLOAT)


def _in_float64(fn):
    """Runs ``fn`` on a float64 copy of a narrower float input, the result rounded back once."""
    def wrapped(x: Tensor, *args) -> Tensor:
        if x.dtype == _F64:
            return fn(x, *args)
        return F.cast(fn(F.cast(x, _F64), *args), x.dtype)
    return wrapped


def _const(value: float, like: Tensor) -> Tensor:
    return F.scalar_like(float(value), like)


def _safe(condition: Tensor, x: Tensor, fill: float) -> Tensor:
    """``x`` where ``condition`` holds, else ``fill``: the operand of a branch that ``where``
    selects only there, so that the other elements (poles, overflow) send no inf or NaN back
    through the branch's gradient."""
    return F.where(condition, x, _const(fill, x))


def _keep_nan(x: Tensor, result: Tensor) -> Tensor:
    return F.where(F.isnan(x), x, result)


def _polynomial(x: Tensor, coefficients) -> Tensor:
    """Horner's scheme, highest power first."""
    result = _const(coefficients[0], x)
    for c in coefficients[1:]:
        result = F.add(F.mul(result, x), c)
    return result


def _chebyshev(y: Tensor, coefficients) -> Tensor:
    """Cephes' ``chbevl``: ``sum' c[n-1-k] T_k(y / 2)`` (Clenshaw's recurrence; the T_0 term
    halved), ``y`` in [-2, 2], the coefficients from the highest order down."""
    b0, b1 = _const(coefficients[0], y), _const(0.0, y)
    b2 = b1
    for c in coefficients[1:]:
        b2, b1 = b1, b0
        b0 = F.add(F.sub(F.mul(y, b1), b2), c)
    return F.mul(F.sub(b0, b2), 0.5)


def _abs_sin_pi(x: Tensor) -> Tensor:
    """``|sin(pi x)|`` with the argument reduced first (exactly: ``x - round(x)``), so that
    it vanishes at the integers and stays accurate for large ``x``."""
    return F.abs(F.sin(F.mul(F.sub(x, M.round(x)), math.pi)))


# -- gamma family --------------------------------------------------------------------------------
_LANCZOS_G = 7.0
_LANCZOS = (0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
            -176.61502916214059, 12.507343278686905, -0.13857109526572012,
            9.9843695780195716e-6, 1.5056327351493116e-7)


def _lanczos_lgamma(x: Tensor) -> Tensor:
    """``lgamma(x)`` for x >= 0.5 (Lanczos, g = 7, 9 terms), written so that huge ``x`` does
    not overflow before the result does."""
    z = F.sub(x, 1.0)
    series = _const(_LANCZOS[0], x)
    for i, p in enumerate(_LANCZOS[1:], start=1):
        series = F.add(series, F.div(p, F.add(z, float(i))))
    t = F.add(z, _LANCZOS_G + 0.5)
    # (z + 1/2) log t - t, with t = z + 1/2 + g
    main = F.sub(F.mul(F.add(z, 0.5), F.sub(F.log(t), 1.0)), _LANCZOS_G)
    return F.add(F.add(main, 0.5 * math.log(2 * math.pi)), F.log(series))


@_in_float64
def _lgamma(x: Tensor) -> Tensor:
    reflect = F.lt(x, 0.5)
    upper = _lanczos_lgamma(F.where(reflect, F.sub(1.0, x), x))
    # log(pi / |sin(pi x)|) - lgamma(1 - x); +inf at 0 and the negative integers
    xs = _safe(reflect, x, 0.25)
    reflected = F.sub(F.sub(math.log(math.pi), F.log(_abs_sin_pi(xs))), upper)
    result = F.where(reflect, reflected, upper)
    # exactly 0 at 1 and 2 (Lanczos leaves an ulp there), as PyTorch gives; the gradient
    # (digamma) kept: the value less its own detached copy
    at_zero = F.logical_or(F.eq(x, 1.0), F.eq(x, 2.0))
    result = F.sub(result, F.where(at_zero, result.detach(), _const(0.0, x)))
    return _keep_nan(x, F.where(F.isinf(x), _const(math.inf, x), result))


def lgamma(input) -> Tensor:
    """``log |Gamma(x)|`` (``torch.lgamma``, ``torch.special.gammaln``): +inf at 0, at the
    negative integers and at +-inf; its gradient is :func:`digamma`.

        >>> import graphc
        >>> graphc.lgamma(graphc.tensor([3.0, -0.5])).tolist()
        [0.6931471824645996, 1.2655121088027954]
    """
    return _lgamma(_floating(input))


_PSI_ASYMPTOTIC = (8.33333333333333333333E-2, -2.10927960927960927961E-2,
                   7.57575757575757575758E-3, -4.16666666666666666667E-3,
                   3.96825396825396825397E-3, -8.33333333333333333333E-3,
                   8.33333333333333333333E-2)  # Cephes psi: B_2k / 2k in powers of 1 / x**2


def _psi_positive(y: Tensor) -> Tensor:
    """``digamma(y)`` for y >= 0: shifted up to y >= 10 (``psi(y) = psi(y + 1) - 1 / y``,
    ten steps unrolled) and the asymptotic series there."""
    total = _const(0.0, y)
    for _ in range(10):
        low = F.lt(y, 10.0)
        total = F.sub(total, F.where(low, F.reciprocal(y), _const(0.0, y)))
        y = F.where(low, F.add(y, 1.0), y)
    big = F.lt(y, 1e17)  # beyond, the series is below an ulp (and 1 / y**2 underflows)
    z = F.reciprocal(F.mul(_safe(big, y, 1e17), _safe(big, y, 1e17)))
    series = F.where(big, F.mul(z, _polynomial(z, _PSI_ASYMPTOTIC)), _const(0.0, y))
    return F.add(total, F.sub(F.sub(F.log(y), F.div(0.5, y)), series))


def _centered_frac(x: Tensor) -> Tensor:
    """``x - round(x)``, in [-1/2, 1/2] and exact: ``tan(pi x)`` has period 1 in x, and
    near a pole at -n this is the (small, exact) distance to it, where ``x - trunc(x)`` would
    be near -1 and ``pi * (x - trunc(x))`` off by an ulp of pi."""
    return F.sub(x, M.round(x))


@_in_float64
def _digamma(x: Tensor) -> Tensor:
    negative = F.lt(x, 0.0)
    upper = _psi_positive(F.where(negative, F.sub(1.0, x), x))
    # psi(x) = psi(1 - x) - pi / tan(pi r), r = x - round(x)
    r = _centered_frac(_safe(negative, x, -0.5))
    reflected = F.sub(upper, F.div(math.pi, M.tan(F.mul(r, math.pi))))
    result = F.where(negative, F.where(F.eq(r, 0.0), _const(math.nan, x), reflected), upper)
    return _keep_nan(x, F.where(F.eq(x, -math.inf), _const(math.nan, x), result))


def digamma(input) -> Tensor:
    """``d/dx log Gamma(x)`` (``torch.digamma``, ``torch.special.psi``/``digamma``): -inf at
    +0 (+inf at -0), NaN at the negative integers and -inf, as PyTorch gives.

        >>> import graphc
        >>> round(graphc.digamma(graphc.tensor([1.0], dtype=graphc.float64)).item(), 14)
        -0.57721566490153
    """
    return _digamma(_floating(input))


psi = digamma

# B_2k / (2k)! for the Euler-Maclaurin tail of the Hurwitz zeta function
_BERNOULLI_OVER_FACTORIAL = tuple(b / math.factorial(2 * k) for k, b in enumerate(
    (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510, 43867 / 798,
     -174611 / 330, 854513 / 138, -236364091 / 2730), start=1))


def _hurwitz_zeta(s: int, q: Tensor) -> Tensor:
    """``zeta(s, q) = sum_k (q + k) ** -s`` for an integer s >= 2 and q > 0: ten terms summed,
    the rest by Euler-Maclaurin at ``a = q + 10``."""
    total = _const(0.0, q)
    for k in range(10):
        total = F.add(total, F.pow(F.add(q, float(k)), float(-s)))
    a = F.add(q, 10.0)
    tail = F.add(F.div(F.pow(a, float(1 - s)), float(s - 1)), F.mul(F.pow(a, float(-s)), 0.5))
    rising = float(s)  # s (s + 1) ... (s + 2j - 2)
    power = F.pow(a, float(-s - 1))
    inverse_square = F.reciprocal(F.mul(a, a))
    for j, coefficient in enumerate(_BERNOULLI_OVER_FACTORIAL, start=1):
        tail = F.add(tail, F.mul(power, coefficient * rising))
        rising *= (s + 2 * j - 1) * (s + 2 * j)
        power = F.mul(power, inverse_square)
    return F.add(total, tail)


def _cot_derivative(n: int) -> tuple:
    """The polynomial P_n (coefficients, highest power first) with
    ``d^n/dx^n cot(x) = P_n(cot x)``, from ``cot' = -(1 + cot**2)``."""
    p = [1.0, 0.0]  # P_0(c) = c, lowest power first below
    p = p[::-1]
    for _ in range(n):
        derivative = [k * p[k] for k in range(1, len(p))] or [0.0]
        # -(1 + c**2) * P'(c)
        nxt = [0.0] * (len(derivative) + 2)
        for k, d in enumerate(derivative):
            nxt[k] -= d
            nxt[k + 2] -= d
        p = nxt
    return tuple(p[::-1])


@_in_float64
def _polygamma(x: Tensor, n: int) -> Tensor:
    negative = F.lt(x, 0.0)
    q = F.where(negative, F.sub(1.0, x), x)
    sign = 1.0 if n % 2 else -1.0
    upper = F.mul(_hurwitz_zeta(n + 1, _safe(F.gt(q, 0.0), q, 1.0)), sign * math.factorial(n))
    # psi_n(x) = (-1)**n psi_n(1 - x) - pi**(n+1) d^n/dy^n cot(y) at y = pi x
    r = _centered_frac(_safe(negative, x, -0.5))
    cot = F.reciprocal(M.tan(F.mul(r, math.pi)))
    cot_n = F.mul(_polynomial(cot, _cot_derivative(n)), math.pi ** (n + 1))
    reflected = F.sub(F.mul(upper, (-1.0) ** n), cot_n)
    pole = F.logical_or(F.eq(x, 0.0), F.logical_and(negative, F.eq(r, 0.0)))
    # at the poles: (-1)**(n+1) inf, the sign of the zeta series' term, as PyTorch gives
    at_pole = _const(math.inf if n % 2 else -math.inf, x)
    result = F.where(pole, at_pole, F.where(negative, reflected, upper))
    return _keep_nan(x, F.where(F.eq(x, math.inf), _const(0.0, x), result))


def polygamma(n: int, input) -> Tensor:
    """The n-th derivative of :func:`digamma` (``torch.polygamma``); ``n = 0`` is digamma.

        >>> import graphc
        >>> x = graphc.tensor([1.0], dtype=graphc.float64)
        >>> round(graphc.polygamma(1, x).item(), 14)   # pi**2 / 6
        1.64493406684823
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ArgumentError(f"polygamma: n must be a non-negative int, got {n!r}")
    x = _floating(input)
    return _digamma(x) if n == 0 else _polygamma(x, n)


def mvlgamma(input, p: int) -> Tensor:
    """The log of the multivariate gamma function of dimension ``p`` (``torch.mvlgamma``,
    ``torch.special.multigammaln``): ``p (p - 1) / 4 log(pi) + sum_i lgamma(x - i / 2)``.
    Every element must exceed ``(p - 1) / 2``: eagerly an error says so, as in PyTorch; inside
    a compiled function such elements give NaN.

        >>> import graphc
        >>> round(graphc.mvlgamma(graphc.tensor([2.5], dtype=graphc.float64), 2).item(), 12)
        0.857047813398
    """
    if isinstance(p, bool) or not isinstance(p, int) or p < 1:
        raise ArgumentError(f"mvlgamma: p must be an int >= 1, got {p!r}")
    x = F.to_tensor(input)
    if not x.dtype.is_float:
        raise ArgumentError(f"mvlgamma: takes a float tensor, got {x.dtype}")
    bound = (p - 1) / 2
    inside = F.gt(x, bound)
    if tracing.current() is None and not bool(F.all(F.logical_or(inside, F.isnan(x)))):
        raise ArgumentError(f"mvlgamma: all elements must be greater than (p-1)/2 = {bound}")
    total = _const(p * (p - 1) / 4 * math.log(math.pi), x)
    for i in range(p):
        total = F.add(total, lgamma(F.sub(x, i / 2)))
    return F.where(F.logical_or(inside, F.isnan(x)), total, _const(math.nan, x))


multigammaln = mvlgamma
gammaln = lgamma


# -- error function family -----------------------------------------------------------------------
# exp(x**2) erfc(x) on [lo, hi] as sum c_k T_k(t), t the image of 4 / (4 + x) in [-1, 1]
# (generated by docs/special_coefficients.py)
_ERFCX_PIECES = (
    (0.5, 2.0, (
        0.413348404938351, 0.17798720576183003, 0.022027303290235185, 0.0021499255767484164,
        0.00016682958331472374, 1.018753895068116e-05, 4.722183975727579e-07, 1.506925999819144e-08,
        2.2176100586674592e-10, -5.577529322682139e-12, -3.443250175510231e-13,
        -1.7300677480852418e-15, 3.280815047716088e-16, 4.855669311351837e-18,
        3.6726734938114346e-17, -4.4046912806638976e-17, -8.034901205153465e-17,
        -3.535551061591235e-17, 5.1380215123287947e-17, 5.79921911701452e-17, -1.226381998073831e-16
    )),
    (2.0, 8.0, (
        0.14966859611720648, 0.09108427922721217, 0.012844101480325821, 0.00160400309137081,
        0.00017633849697701169, 1.6879415910847692e-05, 1.380335951755153e-06,
        9.316692249192312e-08, 4.826213449866967e-09, 1.5382710745505921e-10,
        -9.617514496759854e-13, -4.3150166701669496e-13, -1.971278956646548e-14,
        2.849567982534937e-16, 8.440872130996703e-17, -4.262752430212895e-17,
        -3.4781347629870293e-17, -3.6258963893357016e-17, 1.755427683761621e-17,
        3.107425126379384e-17, -4.390450470209776e-17
    )),
    (8.0, 50.0, (
        0.03830862825695259, 0.02917719643926538, 0.0023123492466828074, 0.00017379698860132495,
        1.2323093321267382e-05, 8.186804871079506e-07, 5.049117199275638e-08,
        2.8530524343030296e-09, 1.4474805249173427e-10, 6.36721876155041e-12,
        2.2564491935129472e-13, 5.089654046144957e-15, -4.276726249673024e-17,
        -1.7134130181698492e-17, 9.264207803735613e-18, -7.818452872199284e-18,
        -4.799868067777815e-18, -9.617215804218424e-19, 5.327738119140324e-18, 7.06690144715955e-18,
        -1.82286544432579e-17
    )),
)

_SQRT_PI_INV = 1 / math.sqrt(math.pi)


def _erfcx_nonnegative(a: Tensor) -> Tensor:
    """``exp(a**2) erfc(a)`` for a >= 0: ``exp(a**2) (1 - erf(a))`` below 0.5 (erfc >= 0.48:
    no cancellation), the Chebyshev pieces up to 50, the continued fraction beyond."""
    small = F.lt(a, 0.5)
    a_small = _safe(small, a, 0.0)
    result = F.mul(F.exp(F.mul(a_small, a_small)), F.sub(1.0, F.erf(a_small)))
    for lo, hi, coefficients in _ERFCX_PIECES:
        inside = F.logical_and(F.ge(a, lo), F.lt(a, hi))
        y = F.div(4.0, F.add(_safe(inside, a, lo), 4.0))
        y_lo, y_hi = 4 / (4 + hi), 4 / (4 + lo)
        t2 = F.sub(F.mul(F.sub(y, y_lo), 4 / (y_hi - y_lo)), 2.0)  # 2t, in [-2, 2]
        cephes_order = list(coefficients[::-1])
        cephes_order[-1] *= 2  # chbevl halves the T_0 term
        result = F.where(inside, _chebyshev(t2, cephes_order), result)
    far = F.ge(a, 50.0)
    af = _safe(far, a, 50.0)
    # ispi / (x + 0.5 / (x + 1 / (x + 1.5 / (x + 2 / x)))), simplified; 1 / (sqrt(pi) x) far out
    a2 = F.mul(af, af)
    fraction = F.div(F.mul(F.add(F.mul(a2, F.add(a2, 4.5)), 2.0), _SQRT_PI_INV),
                     F.mul(af, F.add(F.mul(a2, F.add(a2, 5.0)), 3.75)))
    huge = F.gt(a, 5e7)
    fraction = F.where(huge, F.div(_SQRT_PI_INV, _safe(huge, a, 5e7)),
                       F.where(huge, _const(0.0, a), fraction))
    return F.where(far, fraction, result)


def _exp_minus_square(x: Tensor) -> Tensor:
    """``exp(-x**2)`` for 0 <= x < 27, with ``x**2`` split as ``h**2 + (x - h)(x + h)``,
    h = x rounded down to 1/16 (h**2 exact), so the rounding of x**2 does not grow the error
    by x**2 ulps."""
    h = F.div(M.floor(F.mul(x, 16.0)), 16.0)
    return F.mul(F.exp(F.neg(F.mul(h, h))), F.exp(F.neg(F.mul(F.sub(x, h), F.add(x, h)))))


@_in_float64
def _erfc_value(x: Tensor) -> Tensor:
    a = F.abs(x)
    central = F.lt(a, 0.5)
    near = F.sub(1.0, F.erf(_safe(central, x, 0.0)))
    finite = F.lt(a, 27.0)
    af = _safe(finite, a, 1.0)
    upper = F.where(finite, F.mul(_exp_minus_square(af), _erfcx_nonnegative(af)),
                    _const(0.0, x))
    tail = F.where(F.lt(x, 0.0), F.sub(2.0, upper), upper)
    return _keep_nan(x, F.where(central, near, tail))


def erfc(input) -> Tensor:
    """``1 - erf(x)`` without its cancellation (``torch.erfc``, ``torch.special.erfc``):
    accurate down to its underflow near x = 27. Its gradient is exactly ``-erf'(x)``.

        >>> import graphc
        >>> f"{graphc.erfc(graphc.tensor([10.0], dtype=graphc.float64)).item():.14e}"
        '2.08848758376254e-45'
    """
    x = _floating(input)
    with_grad = F.erf(x)
    # the accurate value, with erf's derivatives: stop(v) + (stop(erf) - erf) is exactly v
    return F.add(_erfc_value(x).detach(), F.sub(with_grad.detach(), with_grad))


@_in_float64
def _erfcx(x: Tensor) -> Tensor:
    negative = F.lt(x, 0.0)
    # (|x| by a select: abs has no slope at 0, erfcx has)
    positive_part = _erfcx_nonnegative(F.where(negative, F.neg(x), x))
    xn = _safe(negative, x, 0.0)
    # erfcx(x) = 2 exp(x**2) - erfcx(-x); overflows to +inf below -26.7
    reflected = F.sub(F.mul(F.exp(F.mul(xn, xn)), 2.0), positive_part)
    return _keep_nan(x, F.where(negative, reflected, positive_part))


def erfcx(input) -> Tensor:
    """The scaled complementary error function ``exp(x**2) erfc(x)``
    (``torch.special.erfcx``): ~ 1 / (sqrt(pi) x) for large x, +inf below -26.7.

        >>> import graphc
        >>> round(graphc.special.erfcx(graphc.tensor([1e4], dtype=graphc.float64)).item(), 12)
        5.6418958e-05
    """
    return _erfcx(_floating(input))


def ndtr(input) -> Tensor:
    """The standard normal CDF, ``erfc(-x / sqrt(2)) / 2`` (``torch.special.ndtr``).

        >>> import graphc
        >>> graphc.special.ndtr(graphc.tensor([0.0])).tolist()
        [0.5]
    """
    return _ndtr(_floating(input))


@_in_float64
def _ndtr(x: Tensor) -> Tensor:
    return F.mul(erfc(F.mul(x, -math.sqrt(0.5))), 0.5)


@_in_float64
def _log_ndtr(x: Tensor) -> Tensor:
    low = F.lt(x, -1.0)
    t = F.mul(_safe(low, x, -2.0), math.sqrt(0.5))
    # log(erfcx(-t) / 2) - t**2 in the lower tail (no underflow); log1p(-erfc(t) / 2) above
    lower = F.sub(F.log(F.mul(_erfcx(F.neg(t)), 0.5)), F.mul(t, t))
    xu = _safe(F.logical_not(low), x, 0.0)
    upper = F.log1p(F.mul(_erfc_plain(F.mul(xu, math.sqrt(0.5))), -0.5))
    return _keep_nan(x, F.where(low, lower, upper))


def log_ndtr(input) -> Tensor:
    """``log(ndtr(x))`` accurate in the lower tail (``torch.special.log_ndtr``).

        >>> import graphc
        >>> round(graphc.special.log_ndtr(graphc.tensor([-40.0], dtype=graphc.float64)).item(), 6)
        -804.608442
    """
    return _log_ndtr(_floating(input))


# Cephes ndtri: y - 1/2 in [-3/8, 3/8]; z = sqrt(-2 log y) in [2, 8); in [8, 64]
_NDTRI_P0 = (-5.99633501014107895267E1, 9.80010754185999661536E1, -5.66762857469070293439E1,
             1.39312609387279679503E1, -1.23916583867381258016E0)
_NDTRI_Q0 = (1.0, 1.95448858338141759834E0, 4.67627912898881538453E0, 8.63602421390890590575E1,
             -2.25462687854119370527E2, 2.00260212380060660359E2, -8.20372256168333339912E1,
             1.59056225126211695515E1, -1.18331621121330003142E0)
_NDTRI_P1 = (4.05544892305962419923E0, 3.15251094599893866154E1, 5.71628192246421288162E1,
             4.40805073893200834700E1, 1.46849561928858024014E1, 2.18663306850790267539E0,
             -1.40256079171354495875E-1, -3.50424626827848203418E-2,
             -8.57456785154685413611E-4)
_NDTRI_Q1 = (1.0, 1.57799883256466749731E1, 4.53907635128879210584E1, 4.13172038254672030440E1,
             1.50425385692907503408E1, 2.50464946208309415979E0, -1.42182922854787788574E-1,
             -3.80806407691578277194E-2, -9.33259480895457427372E-4)
_NDTRI_P2 = (3.23774891776946035970E0, 6.91522889068984211695E0, 3.93881025292474443415E0,
             1.33303460815807542389E0, 2.01485389549179081538E-1, 1.23716634817820021358E-2,
             3.01581553508235416007E-4, 2.65806974686737550832E-6, 6.23974539184983293730E-9)
_NDTRI_Q2 = (1.0, 6.02427039364742014255E0, 3.67983563856160859403E0, 1.37702099489081330271E0,
             2.16236993594496635890E-1, 1.34204006088543189037E-2, 3.28014464682127739104E-4,
             2.89247864745380683936E-6, 6.79019408009981274425E-9)
_EXP_MINUS_2 = 0.13533528323661269189


@_in_float64
def _ndtri(y: Tensor) -> Tensor:
    inside = F.logical_and(F.gt(y, 0.0), F.lt(y, 1.0))
    ys = _safe(inside, y, 0.5)
    upper_half = F.gt(ys, 0.5)
    lower = F.where(upper_half, F.sub(1.0, ys), ys)  # the lower tail's probability, exact
    central = F.gt(lower, _EXP_MINUS_2)
    # central: x = w + w w**2 P0(w**2) / Q0(w**2), w = y - 1/2, scaled by sqrt(2 pi)
    w = F.sub(_safe(central, lower, 0.5), 0.5)
    w2 = F.mul(w, w)
    x_central = F.mul(F.add(w, F.mul(w, F.div(F.mul(w2, _polynomial(w2, _NDTRI_P0)),
                                              _polynomial(w2, _NDTRI_Q0)))),
                      math.sqrt(2 * math.pi))
    # tails: z = sqrt(-2 log y), x = z - log(z) / z - P(1/z) / (z Q(1/z))
    z = F.sqrt(F.mul(F.log(F.where(central, _const(_EXP_MINUS_2 / 2, y), lower)), -2.0))
    u = F.reciprocal(z)
    near = F.lt(z, 8.0)
    rational = F.where(near, F.div(_polynomial(u, _NDTRI_P1), _polynomial(u, _NDTRI_Q1)),
                       F.div(_polynomial(u, _NDTRI_P2), _polynomial(u, _NDTRI_Q2)))
    x_tail = F.neg(F.sub(F.sub(z, F.div(F.log(z), z)), F.mul(u, rational)))
    x = F.where(central, x_central, x_tail)  # the quantile of the lower tail (<= 0 there)
    # one Newton step on ndtr(x) = p: at its fixed point, the gradient is 1 / ndtr'(x)
    density = F.mul(F.exp(F.mul(F.mul(x, x), -0.5)), 1 / math.sqrt(2 * math.pi))
    residual = F.sub(F.mul(_erfc_plain(F.mul(x, -math.sqrt(0.5))), 0.5), lower)
    x = F.sub(x, F.div(residual, density))
    x = F.where(upper_half, F.neg(x), x)
    edge = F.where(F.eq(y, 0.0), _const(-math.inf, y),
                   F.where(F.eq(y, 1.0), _const(math.inf, y), _const(math.nan, y)))
    return F.where(inside, x, edge)


def _erfc_plain(x: Tensor) -> Tensor:
    """erfc with erf's gradient, float64 in, float64 out."""
    with_grad = F.erf(x)
    return F.add(_erfc_value(x).detach(), F.sub(with_grad.detach(), with_grad))


def ndtri(input) -> Tensor:
    """The inverse of :func:`ndtr` (``torch.special.ndtri``): -inf at 0, +inf at 1, NaN
    outside [0, 1].

        >>> import graphc
        >>> round(graphc.special.ndtri(graphc.tensor([0.975], dtype=graphc.float64)).item(), 12)
        1.95996398454
    """
    return _ndtri(_floating(input))


# -- modified Bessel functions of the first kind (Cephes' Chebyshev tables) --------------------
_I0E_A = (-4.41534164647933937950E-18, 3.33079451882223809783E-17, -2.43127984654795469359E-16,
          1.71539128555513303061E-15, -1.16853328779934516808E-14, 7.67618549860493561688E-14,
          -4.85644678311192946090E-13, 2.95505266312963983461E-12,
          -1.72682629144155570723E-11, 9.67580903537323691224E-11,
          -5.18979560163526290666E-10, 2.65982372468238665035E-9,
          -1.30002500998624804212E-8, 6.04699502254191894932E-8, -2.67079385394061173391E-7,
          1.11738753912010371815E-6, -4.41673835845875056359E-6, 1.64484480707288970893E-5,
          -5.75419501008210370398E-5, 1.88502885095841655729E-4, -5.76375574538582365885E-4,
          1.63947561694133579842E-3, -4.32430999505057594430E-3, 1.05464603945949983183E-2,
          -2.37374148058994688156E-2, 4.93052842396707084878E-2, -9.49010970480476444210E-2,
          1.71620901522208775349E-1, -3.04682672343198398683E-1, 6.76795274409476084995E-1)
_I0E_B = (-7.23318048787475395456E-18, -4.83050448594418207126E-18, 4.46562142029675999901E-17,
          3.46122286769746109310E-17, -2.82762398051658348494E-16, -3.42548561967721913462E-16,
          1.77256013305652638360E-15, 3.81168066935262242075E-15, -9.55484669882830764870E-15,
          -4.15056934728722208663E-14, 1.54008621752140982691E-14, 3.85277838274214270114E-13,
          7.18012445138366623367E-13, -1.79417853150680611778E-12,
          -1.32158118404477131188E-11, -3.14991652796324136454E-11,
          1.18891471078464383424E-11, 4.94060238822496958910E-10, 3.39623202570838634515E-9,
          2.26666899049817806459E-8, 2.04891858946906374183E-7, 2.89137052083475648297E-6,
          6.88975834691682398426E-5, 3.36911647825569408990E-3, 8.04490411014108831608E-1)
_I1E_A = (2.77791411276104639959E-18, -2.11142121435816608115E-17, 1.55363195773620046921E-16,
          -1.10559694773538630805E-15, 7.60068429473540693410E-15, -5.04218550472791168711E-14,
          3.22379336594557470981E-13, -1.98397439776494371520E-12, 1.17361862988909016308E-11,
          -6.66348972350202774223E-11, 3.62559028155211703701E-10,
          -1.88724975172282928790E-9, 9.38153738649577178388E-9, -4.44505912879632808065E-8,
          2.00329475355213526229E-7, -8.56872026469545474066E-7, 3.47025130813767847674E-6,
          -1.32731636560394358279E-5, 4.78156510755005422638E-5, -1.61760815825896745588E-4,
          5.12285956168575772895E-4, -1.51357245063125314899E-3, 4.15642294431288815669E-3,
          -1.05640848946261981558E-2, 2.47264490306265168283E-2, -5.29459812080949914269E-2,
          1.02643658689847095384E-1, -1.76416518357834055153E-1, 2.52587186443633654823E-1)
_I1E_B = (7.51729631084210481353E-18, 4.41434832307170791151E-18, -4.65030536848935832153E-17,
          -3.20952592199342395980E-17, 2.96262899764595013876E-16, 3.30820231092092828324E-16,
          -1.88035477551078244854E-15, -3.81440307243700780478E-15,
          1.04202769841288027642E-14, 4.27244001671195135429E-14, -2.10154184277266431302E-14,
          -4.08355111109219731823E-13, -7.19855177624590851209E-13,
          2.03562854414708950722E-12, 1.41258074366137813316E-11, 3.25260358301548823856E-11,
          -1.89749581235054123450E-11, -5.58974346219658380687E-10,
          -3.83538038596423702205E-9, -2.63146884688951950684E-8, -2.51223623787020892529E-7,
          -3.88256480887769039346E-6, -1.10588938762623716291E-4, -9.76109749136146840777E-3,
          7.78576235018280120474E-1)


def _bessel_scaled(a: Tensor, inner, outer) -> Tensor:
    """``exp(-a) I(a)`` for a >= 0 from a pair of Cephes tables: ``inner`` on [0, 8] in
    ``a / 2 - 2``, ``outer`` times ``1 / sqrt(a)`` beyond, in ``32 / a - 2``."""
    near = F.le(a, 8.0)
    a_near, a_far = _safe(near, a, 0.0), _safe(F.logical_not(near), a, 8.0)
    inside = _chebyshev(F.sub(F.mul(a_near, 0.5), 2.0), inner)
    outside = F.div(_chebyshev(F.sub(F.div(32.0, a_far), 2.0), outer), F.sqrt(a_far))
    return F.where(near, inside, outside), near


@_in_float64
def _i0e(x: Tensor) -> Tensor:
    # (abs: slope 0 at the kink of exp(-|x|), the gradient PyTorch gives there)
    return _bessel_scaled(F.abs(x), _I0E_A, _I0E_B)[0]


def _magnitude(x: Tensor) -> Tensor:
    """``|x|`` by a select, whose slope at 0 is 1 (abs's is 0: i1's would vanish there)."""
    return F.where(F.lt(x, 0.0), F.neg(x), x)


@_in_float64
def _i1e(x: Tensor) -> Tensor:
    a = _magnitude(x)
    value, near = _bessel_scaled(a, _I1E_A, _I1E_B)
    value = F.where(near, F.mul(value, a), value)  # the inner table is of exp(-x) I1(x) / x
    return F.where(F.lt(x, 0.0), F.neg(value), value)


def _grow(x: Tensor, scaled: Tensor) -> Tensor:
    """``exp(|x|)`` times a scaled Bessel value (NaN at +-inf: 0 * inf, as PyTorch gives)."""
    return F.mul(scaled, F.exp(F.abs(x)))


def i0e(input) -> Tensor:
    """``exp(-|x|) I0(x)`` (``torch.special.i0e``)."""
    x = _floating(input)
    return _keep_nan(x, _i0e(x))


def i0(input) -> Tensor:
    """The modified Bessel function of the first kind, order 0 (``torch.i0``,
    ``torch.special.i0``).

        >>> import graphc
        >>> round(graphc.i0(graphc.tensor([1.0], dtype=graphc.float64)).item(), 12)
        1.266065877752
    """
    x = _floating(input)
    return _keep_nan(x, _in_float64(lambda v: _grow(v, _i0e(v)))(x))


def i1e(input) -> Tensor:
    """``exp(-|x|) I1(x)`` (``torch.special.i1e``)."""
    x = _floating(input)
    return _keep_nan(x, _i1e(x))


def i1(input) -> Tensor:
    """The modified Bessel function of the first kind, order 1 (``torch.special.i1``)."""
    x = _floating(input)
    return _keep_nan(x, _in_float64(lambda v: _grow(v, _i1e(v)))(x))


# -- logistic, entropy and the rest --------------------------------------------------------------
def expit(input) -> Tensor:
    """The logistic sigmoid (``torch.special.expit``)."""
    return F.sigmoid(_floating(input))


def logit(input, eps=None) -> Tensor:
    """``log(p / (1 - p))``, ``p`` clamped to [eps, 1 - eps] when ``eps`` is given
    (``torch.special.logit``)."""
    from graphc.torch_functions import logit as _logit
    return _logit(input, eps)


def xlog1py(input, other) -> Tensor:
    """``x * log1p(y)``, 0 where x == 0 unless y is NaN (``torch.special.xlog1py``).

        >>> import graphc
        >>> graphc.special.xlog1py(graphc.tensor([0.0, 2.0]), graphc.tensor([-1.0, 1.0])).tolist()
        [0.0, 1.3862943649291992]
    """
    x, y = F.operands(input, other)
    if not x.dtype.is_float and not y.dtype.is_float:
        x, y = _floating(x), _floating(y)
    zero = F.logical_and(F.eq(x, 0.0), F.logical_not(F.isnan(y)))
    y_safe = _safe(F.logical_not(zero), y, 0.0)
    return F.where(zero, _const(0.0, x), F.mul(x, F.log1p(y_safe)))


def xlogy(input, other) -> Tensor:
    """``x * log(y)``, 0 where x == 0 (``torch.special.xlogy``, ``torch.xlogy``)."""
    from graphc.math_functions import xlogy as _xlogy
    return _xlogy(input, other)


def entr(input) -> Tensor:
    """The elementwise entropy ``-x log x``: 0 at 0, -inf below (``torch.special.entr``).

        >>> import graphc
        >>> graphc.special.entr(graphc.tensor([0.0, 0.5, -1.0])).tolist()
        [0.0, 0.3465735912322998, -inf]
    """
    x = _floating(input)
    positive = F.gt(x, 0.0)
    xs = _safe(positive, x, 1.0)
    value = F.neg(F.mul(xs, F.log(xs)))
    result = F.where(positive, value, F.where(F.eq(x, 0.0), _const(0.0, x),
                                              _const(-math.inf, x)))
    return _keep_nan(x, result)


def _install() -> None:
    """The Tensor methods and their in-place forms (``x.lgamma()``, ``x.digamma_()``)."""
    for name, fn in (("lgamma", lgamma), ("digamma", digamma), ("erfc", erfc), ("i0", i0)):
        setattr(Tensor, name, fn)
        setattr(Tensor, name + "_", inplace_method(fn, name + "_"))
    Tensor.polygamma = lambda self, n: polygamma(n, self)
    Tensor.polygamma_ = lambda self, n: self._assign(lambda old: polygamma(n, old))
    Tensor.mvlgamma = mvlgamma
    Tensor.mvlgamma_ = inplace_method(mvlgamma, "mvlgamma_")


_install()

__all__ = ["digamma", "entr", "erfc", "erfcx", "expit", "gammaln", "i0", "i0e", "i1", "i1e",
           "lgamma", "log_ndtr", "logit", "multigammaln", "mvlgamma", "ndtr", "ndtri",
           "polygamma", "psi", "xlog1py", "xlogy"]
