"""Fast float32 math in the llvm backend (backends/llvm/fastmath.py): each approximation stays
within its documented ulp bound of a float64 reference over a strided sweep of float32 bit
patterns, gives the special values exactly, vectorizes, and can be turned off."""
from __future__ import annotations

import numpy as np
import pytest
from ulp import reference, ulp_errors, unary_graph

import graphc
from backends.llvm.backend import LLVMBackend
from backends.llvm.fastmath import FUNCTIONS, ULP_BOUNDS
from backends.llvm.render import OPTIMIZE_MIN_WORK
from conftest import assert_close

FAST, LIBM = LLVMBackend(fast_math=True), LLVMBackend(fast_math=False)
F32_MIN_SUBNORMAL = np.float32(2.0 ** -149)
F32_MAX = np.finfo(np.float32).max


def fast(op: str, x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, np.float32)
    return FAST.compile(unary_graph(op, "f32", x.size))(x)[0]


# 1M float32 bit patterns, evenly spread over all 2**32 (every sign, exponent and the
# subnormals), plus the edges between the approximations' ranges
SWEEP = np.concatenate([
    np.arange(0, 1 << 32, 4099, dtype=np.uint64).astype(np.uint32).view(np.float32),
    np.float32([0.625, 1.0, 4.0, 9.1, 88.72283, 88.72284, -103.97, -104.0, 2.0 ** -126,
                np.sqrt(2.0), np.sqrt(0.5), -0.99999994, 1e-30, 1e-8]),
])
SWEEP = np.concatenate([SWEEP, -SWEEP])


@pytest.mark.parametrize("op", sorted(FUNCTIONS))
def test_fast_float32_math_stays_within_its_documented_ulp_bound(op):
    errors = ulp_errors(fast(op, SWEEP), reference(op, SWEEP))
    worst = int(np.argmax(errors))
    assert errors[worst] <= ULP_BOUNDS[op], \
        f"{op}({SWEEP[worst]!r}) is {errors[worst]:.2f} ulp off (bound {ULP_BOUNDS[op]})"


NAN, INF = np.nan, np.inf
# C99 / PyTorch values at the special points, sign of zero included
SPECIAL = {
    "exp": [(0.0, 1.0), (-0.0, 1.0), (INF, INF), (-INF, 0.0), (NAN, NAN), (89.0, INF),
            (-104.0, 0.0)],
    "expm1": [(0.0, 0.0), (-0.0, -0.0), (INF, INF), (-INF, -1.0), (NAN, NAN), (89.0, INF),
              (-30.0, -1.0)],
    "log": [(0.0, -INF), (-0.0, -INF), (1.0, 0.0), (INF, INF), (-INF, NAN), (-1.0, NAN),
            (NAN, NAN)],
    "log1p": [(0.0, 0.0), (-0.0, -0.0), (-1.0, -INF), (-2.0, NAN), (INF, INF), (-INF, NAN),
              (NAN, NAN)],
    "tanh": [(0.0, 0.0), (-0.0, -0.0), (INF, 1.0), (-INF, -1.0), (20.0, 1.0), (-20.0, -1.0),
             (NAN, NAN)],
    "sigmoid": [(0.0, 0.5), (-0.0, 0.5), (INF, 1.0), (-INF, 0.0), (NAN, NAN), (-200.0, 0.0)],
    "erf": [(0.0, 0.0), (-0.0, -0.0), (INF, 1.0), (-INF, -1.0), (5.0, 1.0), (-5.0, -1.0),
            (NAN, NAN)],
}


@pytest.mark.parametrize("op", sorted(FUNCTIONS))
def test_fast_float32_math_gives_special_values_exactly(op):
    assert set(SPECIAL) == set(FUNCTIONS)
    x = np.float32([v for v, _ in SPECIAL[op]])
    want = np.float32([w for _, w in SPECIAL[op]])
    got = fast(op, x)
    same = (got == want) & (np.signbit(got) == np.signbit(want)) | np.isnan(got) & np.isnan(want)
    assert same.all(), f"{op}{tuple(x[~same])} gave {got[~same]}, expected {want[~same]}"


@pytest.mark.parametrize("op,want", [("exp", lambda x: x), ("tanh", lambda x: x),
                                     ("expm1", lambda x: x), ("log1p", lambda x: x),
                                     ("erf", lambda x: np.float32(2 / np.sqrt(np.pi)) * x)])
def test_fast_float32_math_on_subnormal_inputs(op, want):
    x = np.float32([F32_MIN_SUBNORMAL, -F32_MIN_SUBNORMAL, 1e-40, -3e-39])
    got = fast(op, x)
    if op == "exp":
        np.testing.assert_array_equal(got, np.ones(4, np.float32))
    else:
        assert (ulp_errors(got, reference(op, x)) <= ULP_BOUNDS[op]).all()
        assert (np.sign(got) == np.sign(x)).all()


def test_fast_expm1_and_log1p_keep_full_precision_near_zero():
    x = np.float32(np.geomspace(1e-30, 1e-2, 2000))
    x = np.concatenate([x, -x])
    for op in ("expm1", "log1p"):
        assert ulp_errors(fast(op, x), reference(op, x)).max() <= ULP_BOUNDS[op], op


def test_fast_sigmoid_keeps_the_tiny_results_of_very_negative_inputs():
    # 1 / (1 + e**30) = 9.3576e-14: the tanh form 0.5 * (1 + tanh(x / 2)) cancels to 0 there
    x = np.float32([-30.0, -60.0, -87.0, -95.0])
    want = 1.0 / (1.0 + np.exp(-x.astype(np.float64)))
    assert ulp_errors(fast("sigmoid", x), want).max() <= ULP_BOUNDS["sigmoid"]


def test_fast_sigmoid_rounds_subnormal_results_once_and_never_overflows():
    # e = exp(-|x|) is scaled by 2**(n + 64) and then by 2**-64, so results below 2**-126
    # are rounded once, as subnormals; very large |x| neither overflow nor give NaN
    x = np.float32([-88.0, -90.0, -95.5, -100.0, -103.0, -103.9, 88.8, 1e30, -1e30,
                    F32_MAX, -F32_MAX])
    got = fast("sigmoid", x)
    assert (got[:6] < 2.0 ** -126).all() and (got[:6] > 0).all()
    assert ulp_errors(got, reference("sigmoid", x)).max() <= ULP_BOUNDS["sigmoid"]
    np.testing.assert_array_equal(got[6:], np.float32([1, 1, 0, 1, 0]))


def _neighbours(center: float, count: int = 20000) -> np.ndarray:
    """``count`` consecutive float32 values on each side of ``center``."""
    bits = np.float32(center).view(np.uint32)
    return np.arange(bits - count, bits + count, dtype=np.uint32).view(np.float32)


@pytest.mark.parametrize("edge", [1.0, 3.92, 4.0])
def test_fast_erf_holds_its_bound_and_stays_within_one_around_its_branch_split_and_clamp(edge):
    # erf is two polynomials (split at |x| = 1) on a range clamped at 4: every value near the
    # seams (not just the sweep's samples) is within the bound, and none goes past +-1
    x = _neighbours(edge)
    x = np.concatenate([x, -x])
    got = fast("erf", x)
    assert ulp_errors(got, reference("erf", x)).max() <= ULP_BOUNDS["erf"]
    assert (np.abs(got) <= 1).all()


def test_fast_erf_of_tiny_inputs_is_two_over_sqrt_pi_times_x_rounded_once():
    # erf(x) = x * 2/sqrt(pi) to within float32 precision below 1e-4; the large term is exact
    # in one FMA, so tiny and subnormal x give 2/sqrt(pi) * x correctly rounded
    x = np.float32([F32_MIN_SUBNORMAL * 7, -3e-39, 1e-40, 1e-30, -2.5e-20, 1e-10, 3e-5])
    want = np.float32(x.astype(np.float64) * (2 / np.sqrt(np.pi)))
    np.testing.assert_array_equal(fast("erf", x), want)


def test_fast_math_kernels_are_vectorized_and_call_no_libm():
    size = max(1024, OPTIMIZE_MIN_WORK)  # smaller kernels are not optimized at all
    for op in sorted(FUNCTIONS):
        run = FAST.compile(unary_graph(op, "f32", size))
        optimized = run.jit.optimized_ir
        assert "x float>" in optimized, f"{op}: no vector code"
        assert f"@{op}f(" not in optimized and f"llvm.{op}.f32" not in optimized, op


def test_fast_math_can_be_turned_off_by_option_or_environment(monkeypatch):
    assert "llvm.exp.f32" in LIBM.compile(unary_graph("exp", "f32", 4)).source()
    monkeypatch.setenv("GRAPHC_FAST_MATH", "0")
    assert "llvm.exp.f32" in LLVMBackend().compile(unary_graph("exp", "f32", 4)).source()
    monkeypatch.setenv("GRAPHC_FAST_MATH", "1")
    assert "llvm.exp.f32" not in LLVMBackend().compile(unary_graph("exp", "f32", 4)).source()


def test_float64_transcendentals_call_libm_even_under_fast_math():
    source = FAST.compile(unary_graph("tanh", "f64", 4)).source()
    assert "@tanh(" in source
    x = np.linspace(-5, 5, 4)
    assert_close(FAST.compile(unary_graph("tanh", "f64", 4))(x)[0], np.tanh(x))


def test_compiled_gelu_times_sigmoid_on_llvm_matches_float64():
    @graphc.compile(backend="llvm")
    def chain(x):
        return graphc.gelu(x) * graphc.sigmoid(x)

    x = np.float32(np.linspace(-12, 12, 4001))
    got = graphc.to_numpy(chain(graphc.tensor(x))) if hasattr(graphc, "to_numpy") else \
        np.asarray(chain(graphc.tensor(x)).numpy())
    wide = x.astype(np.float64)
    erf = reference("erf", wide / np.sqrt(2.0))
    want = 0.5 * wide * (1 + erf) / (1 + np.exp(-wide))
    # gelu's 1 + erf(x / sqrt 2) cancels for negative x in any float32 evaluation order, so
    # the float32 tolerance of tests/conftest.py applies, not an ulp bound
    assert_close(got, want)
