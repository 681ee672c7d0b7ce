"""``pow(x, c)`` with a small integral constant ``c`` in an llvm kernel is multiplications or a
reciprocal, not a scalar libm ``powf`` call (ir.scalar.POW_BY_MULTIPLICATION): the tanh form of
GELU (``x**3``) stays vectorized, and the results keep pow's special values."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from ulp import ulp_errors

import graphc
import graphc.nn.functional as F
from backends.llvm.render import OPTIMIZE_MIN_WORK
from conftest import assert_close

INF, NAN = math.inf, math.nan
# specials, overflow (1e13**3, 7e19**2), underflow to subnormals and to zero, signs of zero
SPECIAL = [0.0, -0.0, 1.0, -1.0, 2.5, -2.5, INF, -INF, NAN, 1e13, -1e13, 7e19, -7e19,
           1.5e38, 1e-20, -1e-20, 3e-39, -1e-45, 1e-10, 0.3]


def power_rounded_once(x: np.ndarray, c: int) -> np.ndarray:
    """``x ** c`` in float64 (exact for c in -1..2 up to its one rounding), rounded to x's dtype:
    what a correctly rounded pow gives, computed without the code under test."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return np.power(x.astype(np.float64), float(c)).astype(x.dtype)


def same_bits_or_both_nan(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    return (got == want) & (np.signbit(got) == np.signbit(want)) | np.isnan(got) & np.isnan(want)


def negated_power(c: int, backend: str | None):
    """``-(x ** c)``: pow fused with a negation, which is exact, so the expected value is
    ``-power``."""
    def f(t):
        return graphc.neg(graphc.pow(t, float(c)))
    return f if backend is None else graphc.compile(f, backend=backend)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", [-1, 0, 1, 2, 3, 4])
@pytest.mark.parametrize("mode", ["eager", "llvm"])
def test_pow_by_small_integral_constant_keeps_special_values_and_rounding(c, dtype, mode):
    x = np.array(SPECIAL, dtype)
    with np.errstate(all="ignore"):
        got = negated_power(c, None if mode == "eager" else mode)(graphc.from_numpy(x)).numpy()
    want = -power_rounded_once(x, c)
    exact = ~np.isfinite(want) | (want == 0) | np.isin(x, [0.0, 1.0, -1.0])
    assert same_bits_or_both_nan(got[exact], want[exact]).all(), \
        f"pow(x, {c}) at {x[exact]}: {got[exact]} vs {want[exact]}"
    if dtype == np.float32:
        # one rounding for c in -1..2 (half an ulp), two for 3 and 4 (x*x first)
        bound = 0.5 if c in (-1, 0, 1, 2) or mode == "eager" else 1.5
        assert ulp_errors(-got[~exact], -want[~exact].astype(np.float64)).max() <= bound + 0.5
    else:
        assert_close(got[~exact], want[~exact])


@pytest.mark.parametrize("c", [-1, 2, 3, 4])
def test_pow_by_small_integral_constant_in_an_llvm_kernel_calls_no_libm_pow(c):
    x = np.linspace(-3, 3, OPTIMIZE_MIN_WORK, dtype=np.float32)
    compiled = negated_power(c, "llvm")
    got = compiled(graphc.from_numpy(x)).numpy()
    optimized = compiled.entries[0].executable.jit.optimized_ir
    assert "pow" not in optimized and "x float>" in optimized, "pow is still a libm call"
    with np.errstate(divide="ignore"):
        assert_close(got, -power_rounded_once(x, c))


def test_pow_by_a_non_integral_or_large_constant_still_calls_libm_pow():
    x = np.linspace(0.5, 3, OPTIMIZE_MIN_WORK, dtype=np.float32)
    for c in (2.5, 5.0, -2.0):
        compiled = graphc.compile(lambda t, c=c: graphc.neg(graphc.pow(t, c)), backend="llvm")
        assert_close(compiled(graphc.from_numpy(x)).numpy(), -np.power(x.astype(np.float64), c))
        assert "pow" in compiled.entries[0].executable.jit.optimized_ir


def test_compiled_tanh_gelu_on_llvm_is_vectorized_and_matches_float64():
    # PyTorch: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x**3)))
    x = np.linspace(-8, 8, OPTIMIZE_MIN_WORK, dtype=np.float32)
    compiled = graphc.compile(lambda t: F.gelu(t, approximate="tanh"), backend="llvm")
    got = compiled(graphc.from_numpy(x)).numpy()
    wide = x.astype(np.float64)
    want = 0.5 * wide * (1 + np.tanh(math.sqrt(2 / math.pi) * (wide + 0.044715 * wide ** 3)))
    assert_close(got, want)
    optimized = compiled.entries[0].executable.jit.optimized_ir
    assert "pow" not in optimized and "x float>" in optimized


@pytest.mark.parametrize("c", [2, 3])
def test_a_lone_compiled_pow_inlines_its_exponent_and_calls_no_libm_pow(c):
    """``x ** 2`` on its own (no fused neighbour): its exponent used to be a 0-d input the
    kernel loaded, so the renderer saw no constant and called powf for every element."""
    x = np.linspace(-3, 3, OPTIMIZE_MIN_WORK, dtype=np.float32)
    compiled = graphc.compile(lambda t: t ** c, backend="llvm")
    got = compiled(graphc.from_numpy(x)).numpy()
    program = compiled.entries[0].executable.source().split("; LLVM IR")[0]
    assert f"pow(x0, {float(c)}:f32)" in program
    assert "pow" not in compiled.entries[0].executable.jit.optimized_ir
    assert_close(got, power_rounded_once(x, c))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["eager", "interpreter", "llvm"])
def test_pow_one_half_is_the_square_root(dtype, mode):
    """``x ** 0.5`` is ``sqrt(x)``, as the reference (``np.power`` with a scalar exponent) and
    PyTorch compute it: ``-0.0`` stays ``-0.0`` and ``-inf`` gives NaN (C's pow gives +0.0 and
    +inf), and the bits are sqrt's (ir.scalar.root_of)."""
    rng = np.random.default_rng(7)
    x = np.concatenate([np.array(SPECIAL, dtype), rng.random(OPTIMIZE_MIN_WORK, dtype) * 1e3])
    f = (lambda t: t ** 0.5) if mode == "eager" else graphc.compile(lambda t: t ** 0.5,
                                                                     backend=mode)
    with np.errstate(all="ignore"):
        got = f(graphc.from_numpy(x)).numpy()
        want = np.sqrt(x)
    assert got.dtype == x.dtype
    assert same_bits_or_both_nan(got, want).all(), x[~same_bits_or_both_nan(got, want)]
    if mode == "llvm":
        optimized = graphc.compile(lambda t: t ** 0.5, backend="llvm")
        optimized(x)
        assert "pow" not in optimized.entries[0].executable.jit.optimized_ir


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("mode", ["eager", "interpreter", "llvm"])
def test_an_exponent_array_of_one_half_is_the_square_root_too(dtype, mode):
    """The exponent as an array (NumPy's own power takes C's pow there) or an input: the same
    sqrt wherever it is 0.5, so no result depends on how the exponent is laid out."""
    with np.errstate(over="ignore"):  # f16: 1e13 and up are inf
        x = np.array(SPECIAL, dtype)
    y = np.where(np.arange(x.size) % 3 == 0, 2.0, 0.5).astype(dtype)

    def f(t, u):
        return t ** u, t ** graphc.full((x.size,), 0.5, dtype=graphc.from_numpy(x).dtype)
    run = f if mode == "eager" else graphc.compile(f, backend=mode)
    with np.errstate(all="ignore"):
        got_mixed, got_full = (r.numpy() for r in run(graphc.from_numpy(x), graphc.from_numpy(y)))
        want_mixed = np.where(y == 0.5, np.sqrt(x), np.power(x, y))
        want_full = np.sqrt(x)
    assert same_bits_or_both_nan(got_full, want_full).all(), (x, got_full)
    assert same_bits_or_both_nan(got_mixed, want_mixed).all(), (x, got_mixed)
