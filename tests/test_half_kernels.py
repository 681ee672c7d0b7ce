"""float16 and bfloat16 compiled to native code (llvm): stored as 16 bits, computed in float32,
rounded to nearest even once per op, as PyTorch's CPU kernels and graphc's interpreter do.

Expected values here are worked out by hand from the formats (f16: 11 significant bits,
spacing 2 between 2048 and 4096; bf16: 8 significant bits), not taken from graphc. The registry
walk and the special-value sweep of tests/test_backend_llvm.py cover every op and cast in these
dtypes against the interpreter; this file covers the rounding corners, the f32 accumulators,
GEMMs, fusion and whole compiled training steps.
"""
from __future__ import annotations

import numpy as np
import pytest
from test_backend_llvm import assert_same_as_interpreter, one_node_graph
from test_registry import assert_same_bits

import backends
import graphc
import ir
from backends.kernel import LibraryCall, build_program
from backends.llvm.backend import SUPPORTED_DTYPES as LLVM_DTYPES
from conftest import assert_close
from ir.dtypes import bf16, f16

LLVM = backends.get("llvm")
INTERPRETER = backends.get("interpreter")
HALVES = [f16, bf16]
NAN, INF = float("nan"), float("inf")


def _f32_bits(*bits: int) -> np.ndarray:
    return np.array(bits, np.uint32).view(np.float32)


def _compiled_and_eager(fn, *args):
    """``fn`` run eagerly and compiled with the default backend; both results as arrays."""
    compiled = graphc.compile(fn)
    got, want = compiled(*args), fn(*args)
    assert "runs on the interpreter" not in compiled.explain()
    return got.numpy(), want.numpy()


def test_llvm_runs_f16_and_bf16_elementwise_kernels_natively():
    assert {f16, bf16} <= LLVM_DTYPES
    for dtype in HALVES:
        graph = ir.parse(f"""func @f(%x: {dtype}[8], %y: {dtype}[8]) -> ({dtype}[8]) {{
          %0: {dtype}[8] = mul %x, %y
          %1: {dtype}[8] = exp %0
          return %1
        }}""")
        program = build_program(graph)
        assert not any(isinstance(s, LibraryCall) for s in program.steps)
        rng = np.random.default_rng(0)
        x, y = (rng.uniform(-2, 2, 8).astype(dtype.numpy) for _ in range(2))
        assert_same_as_interpreter(graph, [x, y])


# -- conversions -------------------------------------------------------------------------------
F64_TO_F16 = [  # (float64, float16 rounded once, as NumPy converts)
    (1 + 2**-11 + 2**-40, 1 + 2**-10),  # just above a tie: through f32 it would be a tie -> 1.0
    (-(1 + 2**-11 + 2**-40), -(1 + 2**-10)),
    (1 + 2**-11, 1.0),                  # a tie: to even
    (65519.99, 65504.0), (65520.0, INF), (1e300, INF), (-1e300, -INF),
    (2**-25 + 2**-60, 2**-24),          # above half the smallest subnormal
    (2**-25, 0.0), (-2**-26, -0.0),
    (NAN, NAN), (-0.0, -0.0), (INF, INF),
]


def test_f64_to_f16_rounds_once_as_numpy_not_twice_through_f32():
    x = np.array([v for v, _ in F64_TO_F16], np.float64)
    want = np.array([w for _, w in F64_TO_F16], np.float16)
    graph = one_node_graph("cast", [x], {"dtype": f16})
    (got,) = LLVM.compile(graph)(x)
    assert_same_bits(got, want, lambda: "f64 -> f16 on llvm")
    compiled, eager = _compiled_and_eager(lambda t: t.half(), graphc.tensor(x))
    assert_same_bits(compiled, want, lambda: "compiled .half()")
    assert_same_bits(eager, want, lambda: "eager .half()")


def test_f32_to_bf16_rounds_to_nearest_even_and_keeps_nan_nan():
    one = 0x3F800000
    x = np.concatenate([
        _f32_bits(one + 0x8000,           # 1 + 2**-8: a tie, to even: 1.0
                  one + 0x18000,          # 1 + 3 * 2**-8: a tie, to even: 1 + 2**-6
                  one + 0x8001,           # just above the tie: 1 + 2**-7
                  0x7F800001, 0xFF800001,  # NaNs whose payload is below bf16's: still NaN
                  0x7F7FFFFF,             # float32's max rounds up to infinity in bf16
                  0x7F7F0000),            # bf16's max stays
        np.array([-0.0, INF, -INF], np.float32)])
    want = np.array([1.0, 1 + 2**-6, 1 + 2**-7, NAN, NAN, INF, 3.3895313892515355e38,
                     -0.0, INF, -INF]).astype(bf16.numpy)
    assert_same_bits(want[3:5], np.array([NAN, NAN]).astype(bf16.numpy), lambda: "oracle")
    (got,) = LLVM.compile(one_node_graph("cast", [x], {"dtype": bf16}))(x)
    assert_same_bits(got, want, lambda: "f32 -> bf16 on llvm")
    compiled, eager = _compiled_and_eager(lambda t: t.bfloat16(), graphc.tensor(x))
    assert_same_bits(compiled, want, lambda: "compiled .bfloat16()")
    assert_same_bits(eager, want, lambda: "eager .bfloat16()")


def test_f64_and_i64_to_bf16_round_through_f32_as_pytorch_and_ml_dtypes():
    """c10::BFloat16 (and ml_dtypes) convert a double or an integer to float first: two
    roundings, which a value just above a bf16 tie shows."""
    x = np.array([1 + 2**-8 + 2**-30], np.float64)     # f32: 1 + 2**-8, a tie: 1.0
    n = np.array([2**24 + 2**16 + 1], np.int64)        # f32: 2**24 + 2**16, a tie: 2**24
    for array, want in ((x, 1.0), (n, 2.0**24)):
        (got,) = LLVM.compile(one_node_graph("cast", [array], {"dtype": bf16}))(array)
        assert got.astype(np.float64).tolist() == [want]


# -- rounding per op, accumulating in f32 -------------------------------------------------------
def test_a_fused_f16_chain_rounds_after_every_op_as_eager():
    """(1025 * 3) - 1: 3075 rounds to 3076 (a tie, to even), minus 1 is 3075 again, 3076; one
    rounding of the exact 3074 at the end would give 3074."""
    x = graphc.tensor([1025.0, 1025.0]).half()
    compiled, eager = _compiled_and_eager(lambda t: t * 3 - 1, x)
    assert compiled.tolist() == eager.tolist() == [3076.0, 3076.0]


@pytest.mark.parametrize("dtype,total", [(f16, 3000.0), (bf16, 3008.0)], ids=str)
def test_half_precision_sums_accumulate_in_f32_and_round_once(dtype, total):
    """A 16-bit accumulator stalls at 2048 (f16) or 256 (bf16); bf16 rounds 3000 to 3008."""
    x = graphc.ones(3, 3000, dtype=dtype)
    compiled, eager = _compiled_and_eager(lambda t: t.sum(dim=1), x)
    assert compiled.tolist() == eager.tolist() == [total] * 3


def test_an_f16_product_accumulates_in_f32_and_rounds_once():
    """3**8 = 6561 rounds to 6560 in f16 (spacing 4); a 16-bit running product would round
    3**7 = 2187 to 2188 and end at 6564."""
    x = graphc.full((2, 8), 3.0, dtype=f16)
    compiled, eager = _compiled_and_eager(lambda t: t.prod(dim=1), x)
    assert compiled.tolist() == eager.tolist() == [6560.0, 6560.0]


@pytest.mark.parametrize("dtype", HALVES, ids=str)
def test_half_precision_extrema_and_arg_extrema_keep_nan_as_the_interpreter(dtype):
    x = np.array([[1.0, NAN, 3.0, -2.0], [0.5, -0.0, 0.0, 7.0], [-INF, 2.0, 2.0, 1.0]],
                 dtype.numpy)
    for op, attrs in (("max", {"axes": [1]}), ("min", {"axes": [0]}), ("argmax", {"axis": 1}),
                      ("argmin", {"axis": 0})):
        assert_same_as_interpreter(one_node_graph(op, [x], attrs), [x], exact=True)


@pytest.mark.parametrize("dtype", HALVES, ids=str)
def test_half_precision_scans_and_sorts_match_the_interpreter(dtype):
    x = np.random.default_rng(2).uniform(-3, 3, size=(3, 40)).astype(dtype.numpy)
    for op, attrs in (("cumsum", {"axis": 1}), ("cumprod", {"axis": 0}),
                      ("cummax_indices", {"axis": 1}), ("argsort", {"axis": 1})):
        assert_same_as_interpreter(one_node_graph(op, [x], attrs), [x], exact=True)


# -- GEMMs ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", HALVES, ids=str)
def test_half_precision_matmul_accumulates_in_f32_and_rounds_once(dtype):
    """ones(1, 3000) @ ones(3000, 2): 3000 in f16, 3008 in bf16, with an epilogue (relu of
    the product plus a bias) applied to the rounded product."""
    a, b = graphc.ones(1, 3000, dtype=dtype), graphc.ones(3000, 2, dtype=dtype)
    bias = graphc.tensor([-1.0, 1.0]).to(dtype)
    compiled, eager = _compiled_and_eager(lambda x, y, c: graphc.relu(x @ y + c), a, b, bias)
    total = 3000.0 if dtype == f16 else 3008.0
    want = [[float(np.array(total - 1, dtype.numpy)), float(np.array(total + 1, dtype.numpy))]]
    assert compiled.astype(np.float64).tolist() == eager.astype(np.float64).tolist() == want


@pytest.mark.parametrize("dtype", HALVES, ids=str)
def test_half_precision_conv2d_compiled_matches_eager(dtype):
    rng = np.random.default_rng(3)
    x = graphc.tensor(rng.standard_normal((2, 3, 6, 6))).to(dtype)
    w = graphc.tensor(rng.standard_normal((4, 3, 3, 3))).to(dtype)
    compiled, eager = _compiled_and_eager(
        lambda x, w: graphc.relu(graphc.nn.functional.conv2d(x, w, padding=1)), x, w)
    assert_same_bits(compiled, eager, lambda: "conv2d")


# -- a compiled training step -----------------------------------------------------------------
def _mlp(dtype):
    graphc.manual_seed(0)
    model = graphc.nn.Sequential(graphc.nn.Linear(6, 16), graphc.nn.ReLU(),
                                 graphc.nn.Linear(16, 3))
    model = model.half() if dtype == f16 else model.bfloat16()
    return model, graphc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def _step(model, opt):
    def step(x, y):
        loss = graphc.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss
    return step


@pytest.mark.parametrize("dtype", HALVES, ids=str)
def test_half_precision_mlp_training_step_compiles_natively_and_matches_eager(dtype):
    eager_model, eager_opt = _mlp(dtype)
    model, opt = _mlp(dtype)
    assert all(p.dtype == dtype for p in model.parameters())
    compiled = graphc.compile(_step(model, opt))
    eager = _step(eager_model, eager_opt)
    rng = np.random.default_rng(4)
    for _ in range(4):
        x = graphc.tensor(rng.standard_normal((8, 6))).to(dtype)
        y = graphc.tensor(rng.integers(0, 3, size=8))
        got, want = compiled(x, y), eager(x, y)
        assert got.dtype == want.dtype == dtype
        assert_close(got, want.numpy())
        for p, q in zip(model.parameters(), eager_model.parameters()):
            assert p.dtype == dtype
            assert_close(p, q.numpy())
    report = compiled.explain()
    assert "runs on the interpreter" not in report and compiled.backend == "llvm", report
    entry = compiled.entries[-1]
    assert isinstance(entry.executable, backends.llvm.backend.LLVMExecutable)


# -- the numba backend -------------------------------------------------------------------------
NUMBA_PROGRAM = """func @f(%d: f64[14], %s: f32[10], %ones: bf16[3,3000], %threes: f16[8]
                           ) -> (f16[14], bf16[14], bf16[10], bf16[3], f16[]) {
  %0: f16[14] = cast %d {dtype=f16}
  %1: bf16[14] = cast %d {dtype=bf16}
  %2: bf16[10] = cast %s {dtype=bf16}
  %3: bf16[3] = sum %ones {axes=[1]}
  %4: f16[] = prod %threes {axes=[0]}
  return %0, %1, %2, %3, %4
}"""


def test_numba_computes_half_precision_as_the_interpreter_with_the_same_roundings():
    """One module (numba compiles slowly): the conversion corners above, and a sum and a
    product accumulated in f32; bit for bit. (The f16/bf16 registry samples and some ops on
    special values are in tests/test_backend_numba.py.)"""
    one = 0x3F800000
    # and 1 + 2**-8 + 2**-30, which bf16 gets through f32 as a tie: 1.0
    d = np.array([v for v, _ in F64_TO_F16] + [1 + 2**-8 + 2**-30], np.float64)
    s = np.concatenate([_f32_bits(one + 0x8000, one + 0x18000, one + 0x8001, 0x7F800001,
                                  0xFF800001, 0x7F7FFFFF, 0x7F7F0000),
                        np.array([-0.0, INF, -INF], np.float32)])
    arrays = [d, s, np.ones((3, 3000), bf16.numpy), np.full(8, 3.0, np.float16)]
    graph = ir.parse(NUMBA_PROGRAM)
    got = backends.get("numba").compile(graph)(*arrays)
    want = INTERPRETER.compile(graph)(*arrays)
    for k, (g, w) in enumerate(zip(got, want)):
        assert_same_bits(g, w, lambda k=k: f"output {k}")
    assert_same_bits(got[0][:-1], np.array([w for _, w in F64_TO_F16], np.float16),
                     lambda: "f64->f16")
    assert float(got[1][-1]) == 1.0
    assert np.isnan(got[2][3:5].astype(np.float32)).all()
    assert got[3].astype(np.float64).tolist() == [3008.0] * 3 and float(got[4]) == 6560.0


def _ulps_apart(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Distance in units in the last place of a float16/bfloat16 array (as ordered integers)."""
    def ordered(a):
        bits = a.view(np.int16).astype(np.int64)
        return np.where(bits < 0, -(bits & 0x7FFF), bits)
    return np.abs(ordered(got) - ordered(want))


_SELU = (1.6732632423543772848170429916717, 1.0507009873554804934193349852946)
_ACTIVATIONS = {  # float64 oracles, written out independently
    "silu": (lambda F, t: F.silu(t), lambda x: x / (1 + np.exp(-x))),
    "mish": (lambda F, t: F.mish(t), lambda x: x * np.tanh(np.logaddexp(0, x))),
    "selu": (lambda F, t: F.selu(t),
             lambda x: _SELU[1] * np.where(x > 0, x, _SELU[0] * np.expm1(np.minimum(x, 0)))),
    "hardswish": (lambda F, t: F.hardswish(t), lambda x: x * np.clip(x + 3, 0, 6) / 6),
    "gelu_tanh": (lambda F, t: F.gelu(t, approximate="tanh"),
                  # 0.5 * x * (1 + tanh(z)) written as x * sigmoid(2z): float64 cancels too
                  lambda x: x / (1 + np.exp(-2 * np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))),
}


@pytest.mark.parametrize("name", sorted(_ACTIVATIONS))
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("compiled", [False, True])
def test_half_precision_activations_are_computed_in_float32_and_rounded_once(
        name, dtype, compiled):
    # each op rounding to float16 lost whole tails: gelu_tanh(-3.6) and silu(-17.3) were -0
    # (PyTorch computes these in float32); now within 1 ulp of the float64 value rounded
    fn, oracle = _ACTIVATIONS[name]
    half = f16.numpy if dtype == "float16" else bf16.numpy
    x = np.linspace(-20, 12, 4001).astype(half)
    x = x[np.isfinite(x.astype(np.float64))]
    run = (lambda t: fn(graphc.nn.functional, t))
    got = (graphc.compile(run) if compiled else run)(graphc.tensor(x)).numpy()
    want = oracle(x.astype(np.float64)).astype(np.float32).astype(half)
    assert got.dtype == half
    assert _ulps_apart(got, want).max() <= 1


@pytest.mark.parametrize("compiled", [False, True])
def test_gelu_tanh_keeps_its_float32_tail(compiled):
    # 1 + tanh(z) cancelled: float32 gelu_tanh(-5) was 30% off, and 0 from x = -9 on
    x = np.array([-12.0, -9.0, -5.0, -3.0, 0.5, 4.0])
    run = lambda t: graphc.nn.functional.gelu(t, approximate="tanh")  # noqa: E731
    got = (graphc.compile(run) if compiled else run)(graphc.tensor(x, dtype=graphc.float32))
    z = np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)
    want = (x / (1 + np.exp(-2 * z))).astype(np.float32)  # -12 underflows float32 to -0
    # relative only (no atol: the tail is below 1e-6); a few ulps of fast-math sigmoid
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=0)
