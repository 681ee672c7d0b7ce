"""Fast float32 math: inlined, vectorizable approximations emitted as LLVM IR.

libm's ``expf``/``tanhf``/... are scalar calls in a loop (llvmlite ships no vector math
library), so an f32 kernel with a transcendental runs one element at a time. These functions
emit straight-line code instead (range reduction, a polynomial, selects for the special values:
no branches, no calls), which LLVM's loop vectorizer turns into SIMD code.

Each function takes the kernel's builder and one ``float`` value and returns one ``float``:

- ``exp``: Cody-Waite reduction ``x = n*ln2 + r`` (ln2 split in two, Cephes ``expf``'s
  ``C1``/``C2``), Cephes ``expf``'s degree-7 polynomial, then ``2**n`` applied in two halves so
  that subnormal results and ``n = 128`` need no special case;
- ``expm1``: the same reduction, the Taylor series of ``expm1(r)`` to ``r**8`` (its truncation
  error is below 2**-30 on ``|r| <= ln2/2``), then ``2**n * expm1(r) + (2**n - 1)`` with one
  rounding (``2**n - 1`` is exact for the ``n`` where it matters), so it is exact near 0;
- ``log``: ``x = m * 2**e`` with ``m`` in [sqrt(1/2), sqrt(2)), Cephes ``logf``'s polynomial for
  ``log(1 + f)``, ``e*ln2`` added in two parts; subnormal inputs are scaled by 2**23 first;
- ``log1p``: ``log(u)`` of ``u = 1 + x`` plus the rounding error of ``u`` divided by ``u`` (the
  classic correction, as in FreeBSD's ``log1pf``), so it is exact near 0;
- ``tanh``: Cephes ``tanhf``'s odd polynomial below ``|x| = 0.625``, else
  ``1 - 2 / (exp(2|x|) + 1)`` (``|x|`` clamped to 9.1) with the sign of ``x``;
- ``sigmoid``: ``1 / (1 + e)`` for ``x >= 0`` and ``e / (1 + e)`` below, ``e = exp(-|x|)``, so
  no overflow and subnormal results for very negative ``x``;
- ``erf``: ``x * C_HI + x * S(x*x)`` (one FMA; ``C_HI`` is 2/sqrt(pi) in float32, ``S`` carries
  the rest) below ``|x| = 1``, else ``P(|x| - 73/32)`` (``P`` approximates erf itself, 13
  coefficients) with ``|x|`` clamped to 3.92 and the sign of ``x``: two polynomials, no exp and
  no division (``S``, ``P`` fitted by ``docs/fastmath_coefficients.py``).

The exps inside tanh and sigmoid need no range handling (``_exp_scaled``: their arguments are
clamped so that ``2**n`` is a normal float), and every function with two branches computes
both and selects (no branch in the loop). Two interleaved Horner chains (``_Emit.horner2``)
halve a polynomial's latency for one more multiplication, which made erf alone 10-15% faster
here (more loop iterations overlap); but in the GELU*sigmoid chain the kernel is bound by the
number of vector operations (each coefficient of erf's tail cost ~0.1 ms of ~6.5 ms), so erf
now runs plain Horner (one FMA per coefficient; its tail folded into one polynomial for erf
itself also needs the single final rounding: see ``docs/fastmath_coefficients.py``).

Cephes (Stephen L. Moshier) is public domain; only its published coefficients are used here.
NaN, the infinities, -0.0 and subnormals give exactly what the libm functions give (through
selects, clamps that let NaN through, or a final copysign); ``llvm.fma`` is used explicitly
where it saves a rounding, and no fast-math flag is set, so the rest of the kernel keeps IEEE
semantics. The measured maximum ulp errors are in docs/DESIGN-NOTES.md ("Fast float32 math")
and ``ULP_BOUNDS``.

    >>> from llvmlite import ir
    >>> module = ir.Module()
    >>> fn = ir.Function(module, ir.FunctionType(F32, [F32]), "fast_exp")
    >>> b = ir.IRBuilder(fn.append_basic_block())
    >>> _ = b.ret(FUNCTIONS["exp"](b, fn.args[0]))
    >>> [line for line in str(module).splitlines() if "call" in line and "llvm." not in line]
    []
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from llvmlite import ir  # type: ignore[import-untyped]

from ir.dtypes import f32
from ir.scalar import ScalarExpr

F32 = ir.FloatType()
I32 = ir.IntType(32)

# Asserted error bounds in float32 ulps against float64: the maximum measured by
# benchmarks/fastmath_ulp.py over every 17th float32 bit pattern (docs/DESIGN-NOTES.md, "Fast
# float32 math"), rounded up with a small margin. Tests assert them on a strided sweep.
ULP_BOUNDS = {"exp": 1.2, "expm1": 1.5, "log": 1.0, "log1p": 1.0, "tanh": 1.4, "sigmoid": 2.5,
              "erf": 1.5}

# Cephes expf / logf / tanhf coefficients (highest degree first)
_LOG2E = 1.44269504088896341
_LN2_HI, _LN2_LO = 0.693359375, -2.12194440e-4  # ln2 = hi + lo; hi has 9 bits, so n*hi is exact
_EXP_POLY = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
             1.6666665459e-1, 5.0000001201e-1]
_LOG_POLY = [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1,
             1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1,
             3.3333331174e-1]
_TANH_POLY = [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1,
              -3.33332819422e-1]
# Taylor series of expm1(r) / r**2 - ... : 1/2, 1/6, ..., 1/8! (highest degree first)
_EXPM1_POLY = [1 / 40320, 1 / 5040, 1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2]
# erf: x * C_HI + x * S(x*x) below |x| = 1, P(|x| - 73/32) from there to 3.92 (clamped; P is
# erf itself, 1 - erfc folded into its constant term), S and P fitted by
# docs/fastmath_coefficients.py (highest degree first)
_ERF_SPLIT, _ERF_CLAMP, _ERF_TAIL_CENTER = 1.0, 3.92, 2.28125
_ERF_C_HI = 1.128379225730896   # 2/sqrt(pi) rounded to float32 (S(0) holds the rest)
_ERF_SMALL = [7.853861461626366e-05, -0.0008010193705558777, 0.005188327748328447,
              -0.026853812858462334, 0.1128358542919159, -0.3761262595653534,
              -6.02771663693602e-08]
_ERF_TAIL = [-9.132581908488646e-06, 4.5012675400357693e-05, -1.752657044562511e-05,
             -0.00033799276570789516, 0.0009221316431649029, -0.00046948803355917335,
             -0.0030384750571101904, 0.010120096616446972, -0.017457744106650352,
             0.019437145441770554, -0.014142532832920551, 0.006199563853442669,
             0.9987454414367676]


class _Emit:
    """The few IR shapes the approximations are written in, on float32 values."""

    def __init__(self, builder: ir.IRBuilder):
        self.b = builder
        self.module = builder.module

    @staticmethod
    def f(value: float) -> ir.Constant:
        return ir.Constant(F32, float(np.float32(value)))  # rounded to f32 here, on purpose

    @staticmethod
    def i(value: int) -> ir.Constant:
        return ir.Constant(I32, value)

    def call(self, name: str, *args: ir.Value) -> ir.Value:
        fnty = ir.FunctionType(F32, [F32] * len(args))
        return self.b.call(self.module.declare_intrinsic(f"llvm.{name}", [F32], fnty), list(args))

    def fma(self, a: ir.Value, b: ir.Value, c: ir.Value) -> ir.Value:
        return self.call("fma", a, b, c)

    def horner(self, x: ir.Value, coefficients: list[float]) -> ir.Value:
        acc: ir.Value = self.f(coefficients[0])
        for c in coefficients[1:]:
            acc = self.fma(acc, x, self.f(c))
        return acc

    def horner2(self, x: ir.Value, coefficients: list[float], ways: int = 2) -> ir.Value:
        """:meth:`horner` split into two interleaved chains in ``x*x`` (even and odd powers),
        ``E(x*x) + x * O(x*x)``, each split again while ``ways > 2``: half the latency (per
        split) for one more multiplication, so more loop iterations overlap."""
        square = self.b.fmul(x, x)
        even = coefficients[-1::-2][::-1]   # highest degree first, as ``coefficients``
        odd = coefficients[-2::-2][::-1]

        def chain(part: list[float]) -> ir.Value:
            return self.horner2(square, part, ways // 2) if ways > 2 else self.horner(square, part)
        return self.fma(chain(odd), x, chain(even))

    def lt(self, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.fcmp_ordered("<", a, b)  # false on NaN

    def is_nan(self, x: ir.Value) -> ir.Value:
        return self.b.fcmp_unordered("uno", x, x)

    def clamp(self, x: ir.Value, low: float, high: float) -> ir.Value:
        """``x`` limited to [low, high]; NaN becomes ``low`` (callers select NaN back), so no
        later ``fptosi`` sees it."""
        b = self.b
        x = b.select(b.fcmp_ordered(">=", x, self.f(low)), x, self.f(low))
        return b.select(b.fcmp_ordered("<=", x, self.f(high)), x, self.f(high))

    def pow2(self, n: ir.Value) -> ir.Value:
        """``2.0**n`` for an i32 ``n`` in [-126, 127], built from its exponent bits."""
        b = self.b
        return b.bitcast(b.shl(b.add(n, self.i(127)), self.i(23)), F32)

    def reduce_ln2(self, x: ir.Value) -> tuple[ir.Value, ir.Value]:
        """``(n, r)`` with ``x = n*ln2 + r``, ``|r| <= ln2/2`` and ``n`` an i32 (x not NaN)."""
        b = self.b
        n = self.call("rint", b.fmul(x, self.f(_LOG2E)))
        minus_n = b.fneg(n)
        r = self.fma(minus_n, self.f(_LN2_HI), x)
        r = self.fma(minus_n, self.f(_LN2_LO), r)
        return b.fptosi(n, I32), r


def exp(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """``exp(x)``: 0 below -104 (under half the smallest subnormal), inf above 88.73."""
    m, b = _Emit(builder), builder
    n, r = m.reduce_ln2(m.clamp(x, -104.0, 89.0))
    y = b.fadd(m.fma(m.horner(r, _EXP_POLY), b.fmul(r, r), r), m.f(1.0))
    # 2**n in two factors: n is in [-150, 128], each half in [-75, 64]
    half = b.ashr(n, m.i(1))
    y = b.fmul(b.fmul(y, m.pow2(half)), m.pow2(b.sub(n, half)))
    return b.select(m.is_nan(x), x, y)


def _expm1_finite(m: _Emit, x: ir.Value) -> ir.Value:
    """``expm1(x)`` for a non-NaN ``x`` (clamped to [-20, 89]: -1 and inf beyond)."""
    b = m.b
    n, r = m.reduce_ln2(m.clamp(x, -20.0, 89.0))
    em = m.fma(b.fmul(r, r), m.horner(r, _EXPM1_POLY), r)        # expm1(r)
    # 2**n * em + (2**n - 1) = 2 * (t*em + (t - 0.5)) with t = 2**(n-1): t - 0.5 is exact
    # for n in [-23, 24] (elsewhere the result is -1 or exp(x) to within the rounding anyway)
    t = m.pow2(b.sub(n, m.i(1)))
    scaled = b.fmul(m.fma(t, em, b.fsub(t, m.f(0.5))), m.f(2.0))
    # n = 0: em itself (halving a subnormal em and doubling it back would lose its last bit)
    return b.select(b.icmp_signed("==", n, m.i(0)), em, scaled)


def expm1(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """``exp(x) - 1``, accurate near 0; keeps -0.0 and NaN."""
    m, b = _Emit(builder), builder
    y = _expm1_finite(m, x)
    zero_or_nan = b.or_(b.fcmp_ordered("==", x, m.f(0.0)), m.is_nan(x))
    return b.select(zero_or_nan, x, y)


def _log_finite(m: _Emit, x: ir.Value, correction: ir.Value | None = None) -> ir.Value:
    """``log(x) + correction`` for a finite ``x > 0`` (``correction`` small: |c| < ulp(x)/x)."""
    b = m.b
    subnormal = m.lt(x, m.f(2.0 ** -126))
    x = b.select(subnormal, b.fmul(x, m.f(2.0 ** 23)), x)
    bits = b.bitcast(x, I32)
    e = b.sub(b.sub(b.ashr(bits, m.i(23)), m.i(127)), b.select(subnormal, m.i(23), m.i(0)))
    mantissa = b.bitcast(b.or_(b.and_(bits, m.i(0x7FFFFF)), m.i(0x3F800000)), F32)  # [1, 2)
    above = b.fcmp_ordered(">", mantissa, m.f(2.0 ** 0.5))
    mantissa = b.select(above, b.fmul(mantissa, m.f(0.5)), mantissa)
    e = b.sitofp(b.select(above, b.add(e, m.i(1)), e), F32)
    f = b.fsub(mantissa, m.f(1.0))                                # exact (Sterbenz)
    z = b.fmul(f, f)
    y = b.fmul(b.fmul(f, z), m.horner(f, _LOG_POLY))
    if correction is not None:
        y = b.fadd(y, correction)
    y = m.fma(e, m.f(_LN2_LO), y)
    y = m.fma(z, m.f(-0.5), y)
    return m.fma(e, m.f(_LN2_HI), b.fadd(f, y))


def log(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """``log(x)``: -inf at +-0, NaN below 0, inf at inf."""
    m, b = _Emit(builder), builder
    y = _log_finite(m, x)
    special = b.select(b.fcmp_ordered("==", x, m.f(0.0)), m.f(-np.inf),
                       b.select(m.lt(x, m.f(0.0)), m.f(np.nan), x))
    regular = b.and_(m.lt(m.f(0.0), x), m.lt(x, m.f(np.inf)))
    return b.select(regular, y, special)


def log1p(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """``log(1 + x)``, accurate near 0: -inf at -1, NaN below; keeps -0.0."""
    m, b = _Emit(builder), builder
    u = b.fadd(m.f(1.0), x)
    # the rounding error of u = 1 + x, exactly (FreeBSD log1pf's correction); log(u + c) is
    # log(u) + c/u to well within an ulp
    error = b.select(b.fcmp_ordered(">", u, m.f(2.0)), b.fsub(m.f(1.0), b.fsub(u, x)),
                     b.fsub(x, b.fsub(u, m.f(1.0))))
    y = _log_finite(m, u, b.fdiv(error, u))
    special = b.select(b.fcmp_ordered("==", x, m.f(-1.0)), m.f(-np.inf),
                       b.select(m.lt(x, m.f(-1.0)), m.f(np.nan), x))
    regular = b.and_(m.lt(m.f(-1.0), x), m.lt(x, m.f(np.inf)))
    y = b.select(regular, y, special)
    return b.select(b.fcmp_ordered("==", x, m.f(0.0)), x, y)


def tanh(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """``tanh(x)``: Cephes ``tanhf``'s odd polynomial below ``|x| = 0.625``, else
    ``1 - 2 / (exp(2|x|) + 1)`` with ``|x|`` clamped to 9.1 (tanh rounds to 1 from 9.01 on;
    the clamp lets NaN through) and the sign of ``x``; keeps -0.0, subnormals and NaN."""
    m, b = _Emit(builder), builder
    z = b.fmul(x, x)
    small = m.fma(b.fmul(x, z), m.horner(z, _TANH_POLY), x)
    a = m.call("fabs", x)
    clamped = b.select(m.lt(m.f(9.1), a), m.f(9.1), a)
    e = _exp_scaled(m, b.fadd(clamped, clamped), 0)                # in [3.4, 8.1e7]
    large = b.fsub(m.f(1.0), b.fdiv(m.f(2.0), b.fadd(e, m.f(1.0))))
    # copysign: large is |tanh|, and the small branch gives +0 for x = -0.0
    return m.call("copysign", b.select(m.lt(a, m.f(0.625)), small, large), x)


def _exp_scaled(m: _Emit, t: ir.Value, offset: int) -> ir.Value:
    """``exp(t) * 2**offset`` for ``t`` whose ``n = round(t * log2(e))`` keeps ``n + offset`` in
    [-126, 127] (the callers clamp ``t``): :func:`exp` without its range handling. ``n`` comes
    from one FMA against a "magic" constant ``1.5 * 2**23 + 127 + offset``: the sum rounds to
    an integer whose low bits are ``n + 127 + offset``, the exponent field of ``2**(n + offset)``
    once shifted into place, so no ``rint``/``fptosi``. NaN propagates through every step."""
    b = m.b
    magic = 1.5 * 2 ** 23 + 127 + offset
    k = m.fma(t, m.f(_LOG2E), m.f(magic))
    minus_n = b.fsub(m.f(magic), k)                               # exact
    r = m.fma(minus_n, m.f(_LN2_HI), t)
    r = m.fma(minus_n, m.f(_LN2_LO), r)
    expm1_r = m.fma(m.horner2(r, _EXP_POLY), b.fmul(r, r), r)
    scale = b.bitcast(b.shl(b.bitcast(k, I32), m.i(23)), F32)
    return m.fma(expm1_r, scale, scale)    # (1 + expm1(r)) * 2**(n + offset), one rounding


def sigmoid(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """``1 / (1 + exp(-x))``, computed from ``e = exp(-|x|)`` (in (0, 1], so it never
    overflows) as ``1 / (1 + e)``, or ``e / (1 + e)`` for negative ``x``, which keeps the tiny
    (down to subnormal) results of very negative ``x``: ``e`` is ``exp(-|x|) * 2**64`` (normal
    down to -|x| = -104, see :func:`_exp_scaled`) times ``2**-64``, rounded once."""
    m, b = _Emit(builder), builder
    t = b.fneg(m.call("fabs", x))
    t = b.select(m.lt(t, m.f(-104.0)), m.f(-104.0), t)  # e rounds to 0 below; NaN passes
    scaled = _exp_scaled(m, t, 64)
    e = b.fmul(scaled, m.f(2.0 ** -64))
    numerator = b.select(m.lt(x, m.f(0.0)), e, m.f(1.0))
    return b.fdiv(numerator, m.fma(scaled, m.f(2.0 ** -64), m.f(1.0)))  # 1 + e, rounded once


def erf(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """``erf(x)``: +-1 from |x| = 3.92 on, keeps -0.0, subnormals and NaN.

    Two polynomials, no exp and no division: ``x * C_HI + x * S(x*x)`` (one FMA, exact in its
    large term) below |x| = 1, else ``P(|x| - 73/32)``, ``P`` being erf itself (its last FMA
    rounds once), with ``|x|`` clamped to 3.92 (the clamp lets NaN through) and the sign of
    ``x``. Both by plain Horner, one FMA per coefficient: in the GELU*sigmoid chain the kernel
    is bound by the number of vector operations, not by the chains' latency."""
    m, b = _Emit(builder), builder
    small = m.fma(x, m.f(_ERF_C_HI), b.fmul(x, m.horner(b.fmul(x, x), _ERF_SMALL)))
    a = m.call("fabs", x)
    clamped = b.select(m.lt(m.f(_ERF_CLAMP), a), m.f(_ERF_CLAMP), a)
    tail = m.horner(b.fsub(clamped, m.f(_ERF_TAIL_CENTER)), _ERF_TAIL)
    # x's sign bit ORed in: the tail is |erf| and the small branch has x's sign already, but
    # for x = -0.0, where it gives +0. (copysign, which also clears the bit first, is one
    # vector operation more: the GELU*sigmoid chain 5.69 -> 5.57 ms.)
    chosen = b.bitcast(b.select(m.lt(a, m.f(_ERF_SPLIT)), small, tail), I32)
    sign = b.and_(b.bitcast(x, I32), m.i(-0x80000000))
    return b.bitcast(b.or_(chosen, sign), F32)


Approximation = Callable[[ir.IRBuilder, ir.Value], ir.Value]
FUNCTIONS: dict[str, Approximation] = {
    "exp": exp, "expm1": expm1, "log": log, "log1p": log1p, "tanh": tanh, "sigmoid": sigmoid,
    "erf": erf,
}


def sigmoid_operand(expr: ScalarExpr) -> ScalarExpr | None:
    """``x`` if ``expr`` is the registry's f32 sigmoid body ``exp(min(x, 0)) / (exp(-|x|) +
    1)``, else None: rendered as :func:`sigmoid`, one inlined approximation in place of two
    libm exps and a division."""
    if expr.op != "div" or expr.dtype != f32:
        return None
    above, below = expr.args
    if not (above.op == "exp" and above.args[0].op == "minimum"
            and _is_const(above.args[0].args[1], 0.0)):
        return None
    x = above.args[0].args[0]
    if not (below.op == "add" and _is_const(below.args[1], 1.0) and below.args[0].op == "exp"):
        return None
    negated = below.args[0].args[0]
    if negated.op == "neg" and negated.args[0].op == "abs" and negated.args[0].args[0] is x:
        return x
    return None


def _is_const(expr: ScalarExpr, value: float) -> bool:
    return expr.op == "const" and float(expr.value) == value


__all__ = ["F32", "FUNCTIONS", "ULP_BOUNDS", "sigmoid_operand"]
