"""The small dtypes: uint8, int8, int16, float16 and bfloat16, with PyTorch's semantics.

* promotion follows ``torch.promote_types`` / ``torch.result_type`` (the tables below are written
  from PyTorch's documented rules: categories bool < integer < float; uint8 with a signed type
  of its width or narrower needs the next wider signed type; float16 and bfloat16 meet in
  float32; a 0-d tensor or a Python number only counts when of a higher category);
* float16/bfloat16 ops compute in float32 and round the result once, to nearest even, so each
  result is the float64 oracle rounded to the dtype (by ml_dtypes/NumPy, independently of
  graphc) within one ulp; sums accumulate in float32;
* integers wrap around on overflow, as PyTorch's CPU;
* backends that cannot run a dtype refuse it at compile time, and ``graphc.compile``'s default
  then runs the graph on the interpreter and says so in ``explain()``.
"""
from __future__ import annotations

import importlib
import io

import ml_dtypes
import numpy as np
import pytest

import backends
import graphc
import ir
from backends.llvm.backend import SUPPORTED_DTYPES as LLVM_DTYPES
from backends.numba.backend import SUPPORTED_DTYPES as NUMBA_DTYPES
from conftest import TOLERANCES, assert_close
from ir import dtypes
from ir.dtypes import bf16, bool_, f16, f32, f64, i8, i16, i32, i64, u8

BF16 = np.dtype(ml_dtypes.bfloat16)
SMALL = [u8, i8, i16, f16, bf16]
FLOATS16 = [f16, bf16]


# -- promotion ---------------------------------------------------------------------------------
# torch.promote_types(a, b) for dimensioned tensors of both dtypes
PROMOTE_TYPES = [
    (u8, u8, u8), (u8, i8, i16), (i8, u8, i16), (u8, i16, i16), (u8, i32, i32), (u8, i64, i64),
    (i8, i16, i16), (i8, i64, i64), (i16, i32, i32), (bool_, u8, u8), (bool_, i8, i8),
    (f16, bf16, f32), (bf16, f16, f32), (f16, f32, f32), (bf16, f32, f32), (bf16, f64, f64),
    (f16, f64, f64), (u8, f16, f16), (i64, bf16, bf16), (i16, f16, f16), (bool_, bf16, bf16),
    (i8, f32, f32), (u8, bool_, u8), (f16, f16, f16), (bf16, bf16, bf16),
]


@pytest.mark.parametrize("a,b,expected", PROMOTE_TYPES, ids=lambda d: str(d))
def test_promotion_of_dimensioned_tensors_follows_torch_promote_types(a, b, expected):
    assert dtypes.promote(a, b) == expected
    assert dtypes.result_type((a, 1), (b, 2)) == expected
    x = graphc.zeros(2, dtype=a)
    y = graphc.zeros(2, dtype=b)
    assert (x + y).dtype == expected
    assert graphc.compile(lambda x, y: x + y)(x, y).dtype == expected


# torch.result_type(dimensioned tensor, 0-d tensor): the 0-d one counts only when of a higher
# category (bool < integer < float), and then with its own dtype
ZERO_DIM = [
    (i64, f16, f16), (i64, bf16, bf16), (f16, f64, f16), (u8, i64, u8), (i8, u8, i8),
    (bool_, u8, u8), (bool_, i64, i64), (f16, bf16, f16), (bf16, f32, bf16), (u8, f16, f16),
    (i32, f64, f64),
]


@pytest.mark.parametrize("dimensioned,zero_dim,expected", ZERO_DIM, ids=lambda d: str(d))
def test_a_zero_dim_tensor_counts_only_when_of_a_higher_category(dimensioned, zero_dim, expected):
    assert dtypes.result_type((dimensioned, 1), (zero_dim, 0)) == expected
    x = graphc.zeros(3, dtype=dimensioned)
    s = graphc.zeros((), dtype=zero_dim)
    assert (x * s).dtype == expected and (s * x).dtype == expected
    assert graphc.compile(lambda x, s: x * s)(x, s).dtype == expected


def test_zero_dim_tensors_alone_promote_as_dimensioned_ones():
    assert dtypes.result_type((u8, 0), (i8, 0)) == i16
    assert dtypes.result_type((f16, 0), (bf16, 0)) == f32


# Python numbers: a float with an integer tensor gives the default float (f32); with a float
# tensor, the tensor's dtype; an int keeps an integer tensor's dtype; a bool tensor and an int
# give int64
PYTHON_SCALARS = [(u8, 1.5, f32), (i8, 2.0, f32), (f16, 1.5, f16), (bf16, 3, bf16), (u8, 3, u8),
                  (i16, -2, i16), (bool_, 1, i64), (bf16, 0.25, bf16)]


@pytest.mark.parametrize("dtype,number,expected", PYTHON_SCALARS, ids=str)
def test_python_numbers_take_the_tensors_dtype_unless_of_a_higher_category(dtype, number,
                                                                           expected):
    x = graphc.ones(2, dtype=dtype)
    assert (x * number).dtype == expected and (number * x).dtype == expected
    assert graphc.compile(lambda x: x * number)(x).dtype == expected


def test_dtypes_print_and_parse_in_ir_text():
    text = """func @f(%a: u8[2], %b: i8[2], %c: f16[2], %d: bf16[2]) -> (i16[2], f32[2]) {
  %0: i16[2] = add %a, %b
  %1: f32[2] = mul %c, %d
  return %0, %1
}"""
    assert str(ir.parse(text)) == text


# -- float16 / bfloat16 arithmetic: computed in float32, rounded once ---------------------------
def _rounded(values: np.ndarray, dtype) -> np.ndarray:
    """The float64 oracle rounded to ``dtype`` by NumPy / ml_dtypes (round to nearest even)."""
    return np.asarray(values, np.float64).astype(dtype.numpy)


def _ulps_apart(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """How many representable values of their (16-bit) dtype lie between ``got`` and ``want``."""
    def ordered(a):
        bits = a.view(np.uint16).astype(np.int64)
        return np.where(bits & 0x8000, 0x8000 - bits, bits)  # monotonic in the float value
    return np.abs(ordered(got) - ordered(want))


UNARY_ORACLES = {
    "exp": np.exp, "tanh": np.tanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "sqrt": np.sqrt,
    "log": np.log, "sin": np.sin, "rsqrt": lambda x: 1 / np.sqrt(x),
}
BINARY_ORACLES = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}


def _samples(dtype, positive=False):
    rng = np.random.default_rng(11)
    values = rng.uniform(0.05 if positive else -4, 4, size=257)
    return values.astype(dtype.numpy)


@pytest.mark.parametrize("dtype", FLOATS16, ids=str)
@pytest.mark.parametrize("name", sorted(UNARY_ORACLES))
def test_half_precision_math_is_the_float64_result_rounded_once(name, dtype):
    x = _samples(dtype, positive=name in ("sqrt", "log", "rsqrt"))
    want = _rounded(UNARY_ORACLES[name](x.astype(np.float64)), dtype)
    eager = getattr(graphc, name)(graphc.from_numpy(x))
    compiled = graphc.compile(lambda t: getattr(graphc, name)(t))(graphc.from_numpy(x))
    for got in (eager, compiled):
        assert got.dtype == dtype
        # computed in f32 then rounded: at most one ulp from the f64 value rounded once
        assert _ulps_apart(got.numpy(), want).max() <= 1


def _log_softmax64(a, axis=-1):
    shifted = a - a.max(axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis, keepdims=True))


@pytest.mark.parametrize("dtype", FLOATS16, ids=str)
def test_half_precision_softmax_and_attention_are_the_float64_result_rounded_once(dtype):
    # computed in float32 and rounded once, as PyTorch's kernels do (rounding every step was
    # 3-10x further from float64: 0.0072 against torch's 0.0007 for float16 log_softmax): at
    # most one ulp from the float64 result rounded once (log_softmax's largest entries are
    # near 0, where a float32 log(sum) of 1e-7 is many float16 ulps: an absolute 2**-20 too)
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((8, 300)) * 4).astype(dtype.numpy)
    exact = x.astype(np.float64)
    for fn, reference in ((graphc.log_softmax, _log_softmax64),
                          (graphc.softmax, lambda a: np.exp(_log_softmax64(a)))):
        want = reference(exact)
        for got in (fn(graphc.from_numpy(x), -1),
                    graphc.compile(lambda t, fn=fn: fn(t, -1))(graphc.from_numpy(x))):
            assert got.dtype == dtype
            ulps = _ulps_apart(got.numpy(), _rounded(want, dtype))
            near_zero = np.abs(got.numpy().astype(np.float64) - want) <= 2.0 ** -20
            assert ((ulps <= 1) | near_zero).all()
    q, k, v = (rng.standard_normal((2, 16, 8)).astype(dtype.numpy) for _ in range(3))
    scores = q.astype(np.float64) @ np.swapaxes(k.astype(np.float64), -1, -2) / np.sqrt(8)
    want = np.exp(_log_softmax64(scores)) @ v.astype(np.float64)
    got = graphc.nn.functional.scaled_dot_product_attention(
        *(graphc.from_numpy(a) for a in (q, k, v)))
    assert got.dtype == dtype
    assert _ulps_apart(got.numpy(), _rounded(want, dtype)).max() <= 1


def _attention64(q, k, v, bias):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1]) + bias
    return np.exp(_log_softmax64(scores)) @ v


@pytest.mark.parametrize("dtype", [f16, bf16, f32], ids=str)
def test_attention_masks_must_be_bool_or_float_in_every_dtype(dtype):
    # the half path computes in float32: an integer mask cast to float32 first was silently
    # added as a bias, where float32 queries (and PyTorch, in every dtype) refuse it
    sdpa = graphc.nn.functional.scaled_dot_product_attention
    rng = np.random.default_rng(11)
    q, k, v = (rng.standard_normal((2, 5, 4)).astype(dtype.numpy) for _ in range(3))
    q64, k64, v64 = (a.astype(np.float64) for a in (q, k, v))
    tq, tk, tv = (graphc.from_numpy(a) for a in (q, k, v))
    for mask_dtype in (graphc.int64, graphc.int32, graphc.uint8):
        with pytest.raises(TypeError, match="masks must be bool or floating point"):
            sdpa(tq, tk, tv, attn_mask=graphc.ones(5, 5, dtype=mask_dtype))

    allowed = rng.random((5, 5)) < 0.7
    allowed[:, 0] = True  # no query without keys
    bias = rng.choice([0.0, -1.5, 2.0], size=(5, 5))  # exact in every float dtype
    causal = np.where(np.triu(np.ones((5, 5), bool), 1), -np.inf, 0.0)
    cases = [({"attn_mask": graphc.tensor(allowed)}, np.where(allowed, 0.0, -np.inf)),
             ({"attn_mask": graphc.tensor(bias, dtype=dtype)}, bias),
             ({"attn_mask": graphc.tensor(bias, dtype=graphc.float32)}, bias),
             ({"is_causal": True}, causal)]
    for kwargs, added in cases:
        got = sdpa(tq, tk, tv, **kwargs)
        want = _attention64(q64, k64, v64, added)
        assert got.dtype == dtype
        if dtype == f32:
            assert_close(got, want, **TOLERANCES["f32"])
        else:  # computed in float32, rounded once
            assert _ulps_apart(got.numpy(), _rounded(want, dtype)).max() <= 1

    # dropout in the half path: the float32 computation, with the same draws, rounded once
    graphc.manual_seed(4)
    got = sdpa(tq, tk, tv, attn_mask=graphc.tensor(allowed), dropout_p=0.5)
    graphc.manual_seed(4)
    wide = sdpa(*(graphc.from_numpy(a.astype(np.float32)) for a in (q, k, v)),
                attn_mask=graphc.tensor(allowed), dropout_p=0.5)
    assert got.dtype == dtype
    assert np.array_equal(got.numpy(), wide.numpy().astype(dtype.numpy))
    assert not np.allclose(got.numpy().astype(np.float64),
                           _attention64(q64, k64, v64, np.where(allowed, 0.0, -np.inf)))


@pytest.mark.parametrize("dtype", FLOATS16, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY_ORACLES))
def test_half_precision_arithmetic_is_correctly_rounded(name, dtype):
    """+ - * / of two 16-bit floats in f32 (24 bits >= 2 * 11 + 2) rounded once is exactly the
    correctly rounded result: equal to the float64 result rounded, bit for bit."""
    x, y = _samples(dtype), _samples(dtype, positive=True)[::-1].copy()
    want = _rounded(BINARY_ORACLES[name](x.astype(np.float64), y.astype(np.float64)), dtype)
    fn = getattr(graphc, name)
    for got in (fn(graphc.from_numpy(x), graphc.from_numpy(y)),
                graphc.compile(fn)(graphc.from_numpy(x), graphc.from_numpy(y))):
        assert got.dtype == dtype
        np.testing.assert_array_equal(got.numpy().view(np.uint16), want.view(np.uint16))


def test_bfloat16_rounds_to_nearest_even_and_keeps_nan():
    # 1 + 2**-8 is halfway between 1 and 1 + 2**-7: even is 1; 1 + 3 * 2**-8 rounds up to 1 + 2**-6
    x = graphc.tensor([1.0, 1.0, float("nan"), -0.0, 3e38, -1e-40], dtype=graphc.float32)
    y = graphc.tensor([2.0**-8, 3 * 2.0**-8, 1.0, 0.0, 3e38, 0.0])
    got = (x.bfloat16() + y.bfloat16()).float().numpy()
    assert got[0] == 1.0 and got[1] == 1.0 + 2.0**-6
    assert np.isnan(got[2])
    assert got[4] == np.inf  # overflow rounds to infinity
    assert x.bfloat16().float().numpy()[5] == np.float32(np.float64(-1e-40).astype(BF16))


def test_float16_overflows_to_infinity_and_bfloat16_does_not_at_the_same_value():
    x = graphc.tensor([60000.0])
    assert (x.half() * 2).item() == float("inf")
    assert (x.bfloat16() * 2).item() == pytest.approx(120000.0, rel=2.0**-7)


@pytest.mark.parametrize("dtype", FLOATS16, ids=str)
def test_half_precision_sums_accumulate_in_float32_and_return_the_dtype(dtype):
    x = np.full(3000, 1.0, dtype.numpy)  # a 16-bit accumulator stalls at 2048 (f16) / 256 (bf16)
    want = _rounded(3000.0, dtype)
    for got in (graphc.from_numpy(x).sum(), graphc.compile(lambda t: t.sum())(graphc.from_numpy(x))):
        assert got.dtype == dtype and got.numpy() == want
    values = _samples(dtype)
    total = graphc.from_numpy(values).sum()
    assert _ulps_apart(np.atleast_1d(total.numpy()),
                       np.atleast_1d(_rounded(values.astype(np.float64).sum(), dtype))).max() <= 1
    mean = graphc.from_numpy(values).mean()
    assert mean.dtype == dtype
    assert_close(mean, values.astype(np.float64).mean(), dtype=dtype.name)


@pytest.mark.parametrize("dtype", FLOATS16, ids=str)
def test_half_precision_matmul_accumulates_in_float32(dtype):
    rng = np.random.default_rng(2)
    a, b = rng.uniform(-1, 1, (5, 64)).astype(dtype.numpy), rng.uniform(-1, 1, (64, 3)).astype(
        dtype.numpy)
    want = a.astype(np.float64) @ b.astype(np.float64)
    for got in (graphc.from_numpy(a) @ graphc.from_numpy(b),
                graphc.compile(lambda x, y: x @ y)(graphc.from_numpy(a), graphc.from_numpy(b))):
        assert got.dtype == dtype
        assert_close(got, want, dtype=dtype.name)


@pytest.mark.parametrize("dtype", FLOATS16, ids=str)
def test_half_precision_gradients_match_finite_differences_within_their_precision(dtype):
    x0 = np.array([0.5, -1.25, 2.0])
    x = graphc.tensor(x0).to(dtype).requires_grad_()
    loss = (graphc.tanh(x) * x).sum()
    loss.backward()
    assert x.grad.dtype == dtype
    exact = np.tanh(x0) + x0 * (1 - np.tanh(x0) ** 2)
    np.testing.assert_allclose(x.grad.numpy().astype(np.float64), exact,
                               rtol=4 * TOLERANCES[dtype.name]["rtol"], atol=1e-3)


# -- integers wrap around -------------------------------------------------------------------------
WRAPS = [
    (u8, lambda x: x + 1, [255, 0], [0, 1]),
    (u8, lambda x: x - 1, [0, 5], [255, 4]),
    (u8, lambda x: x * 2, [200, 3], [144, 6]),
    (u8, lambda x: -x, [5, 0], [251, 0]),
    (i8, lambda x: x + 1, [127, -128], [-128, -127]),
    (i8, lambda x: x * 2, [100, -100], [-56, 56]),
    (i8, lambda x: -x, [-128, 3], [-128, -3]),
    (i16, lambda x: x + 1, [32767, 0], [-32768, 1]),
    (i16, lambda x: x * x, [300, -2], [24464, 4]),
]


@pytest.mark.parametrize("dtype,fn,values,expected", WRAPS,
                         ids=[f"{d}-{i}" for i, (d, *_) in enumerate(WRAPS)])
def test_small_integers_wrap_around_on_overflow_like_torch(dtype, fn, values, expected):
    x = graphc.tensor(values, dtype=dtype)
    for got in (fn(x), graphc.compile(fn)(x)):
        assert got.dtype == dtype and got.tolist() == expected


def test_uint8_division_is_true_division_in_the_default_float():
    x, y = graphc.tensor([200, 7], dtype=graphc.uint8), graphc.tensor([3, 2], dtype=graphc.uint8)
    for got in (x / y, graphc.compile(lambda a, b: a / b)(x, y)):
        assert got.dtype == f32
        assert_close(got, np.array([200 / 3, 3.5]), dtype="f32")


def test_uint8_sums_to_int64_without_wrapping():
    x = graphc.full((1000,), 255, dtype=graphc.uint8)
    for got in (x.sum(), graphc.compile(lambda t: t.sum())(x)):
        assert got.dtype == i64 and got.item() == 255000


def test_uint8_comparisons_are_unsigned():
    x = graphc.tensor([200, 1], dtype=graphc.uint8)
    for got in (x > 100, graphc.compile(lambda t: t > 100)(x)):
        assert got.tolist() == [True, False]
    assert x.max().item() == 200 and x.argmax().item() == 0


# -- casts ----------------------------------------------------------------------------------------
CASTS = [
    # float -> 8/16-bit integers: truncated to int64, then wrapped (PyTorch's CPU results)
    (f32, [-1.5, 300.7, -300.2, 2.9], u8, [255, 44, 212, 2]),
    (f32, [-1.5, 200.0, 127.9], i8, [-1, -56, 127]),
    (f64, [40000.0, -2.5], i16, [-25536, -2]),
    (bf16, [-1.0, 3.0], u8, [255, 3]),
    (f16, [-2.5, 100.0], i8, [-2, 100]),
    # integers convert exactly, narrowing wraps
    (i64, [256, -1, 65535], u8, [0, 255, 255]),
    (i32, [70000], i16, [4464]),
    (u8, [255], i8, [-1]),
    (u8, [200], f16, [200.0]),
    (bool_, [True, False], bf16, [1.0, 0.0]),
]


@pytest.mark.parametrize("source,values,target,expected", CASTS,
                         ids=[f"{s}-to-{t}" for s, _, t, _ in CASTS])
def test_casts_to_and_from_small_dtypes_match_torch(source, values, target, expected):
    x = graphc.tensor(np.array(values, np.float64 if source.is_float else np.int64)).to(source)
    for got in (x.to(target), graphc.compile(lambda t: t.to(target))(x)):
        assert got.dtype == target and got.tolist() == expected


def test_float_to_bfloat16_and_float16_round_to_nearest_even():
    values = np.array([1 + 2.0**-8, 1 + 3 * 2.0**-8, 1 + 2.0**-11, 1 + 3 * 2.0**-11, 1e-9, 7e4])
    x = graphc.tensor(values, dtype=graphc.float64)
    assert x.bfloat16().numpy().astype(np.float64).tolist()[:2] == [1.0, 1 + 2.0**-6]
    halves = x.half().numpy().astype(np.float64).tolist()
    assert halves[2:4] == [1.0, 1 + 2.0**-9] and halves[4] == 0.0 and halves[5] == np.inf


# -- tensor API -------------------------------------------------------------------------------------
def test_dtype_names_and_conversion_methods_match_torch():
    assert graphc.half is graphc.float16 and graphc.short is graphc.int16
    x = graphc.tensor([1.7, -2.2])
    assert x.half().dtype == f16 and x.bfloat16().dtype == bf16
    assert x.byte().dtype == u8 and x.char().dtype == i8 and x.short().dtype == i16
    assert x.to(graphc.bfloat16).dtype == bf16 and x.to(graphc.half).dtype == f16
    with pytest.raises(RuntimeError):  # a string names a device in PyTorch: "half" is none
        x.to("half")
    assert x.char().tolist() == [1, -2]
    assert x.half().is_floating_point() and x.bfloat16().is_floating_point()
    assert not x.byte().is_floating_point()


@pytest.mark.parametrize("dtype", SMALL, ids=str)
def test_factories_make_every_small_dtype(dtype):
    assert graphc.zeros(2, 3, dtype=dtype).dtype == dtype
    assert graphc.ones(2, dtype=dtype).tolist() == [1, 1]
    assert graphc.full((2,), 3, dtype=dtype).tolist() == [3, 3]
    assert graphc.arange(4, dtype=dtype).tolist() == [0, 1, 2, 3]
    assert graphc.tensor([1, 2], dtype=dtype).dtype == dtype
    assert graphc.zeros_like(graphc.ones(2), dtype=dtype).dtype == dtype
    if dtype.is_float:
        assert graphc.randn(3, dtype=dtype).dtype == dtype
        assert graphc.rand(3, dtype=dtype).dtype == dtype


@pytest.mark.parametrize("dtype", SMALL, ids=str)
def test_numpy_arrays_keep_their_small_dtype(dtype):
    array = np.arange(6).reshape(2, 3).astype(dtype.numpy)
    for t in (graphc.tensor(array), graphc.from_numpy(array), graphc.as_tensor(array)):
        assert t.dtype == dtype and t.shape == (2, 3)
    assert np.shares_memory(graphc.from_numpy(array).numpy(), array)  # as torch.from_numpy


def test_uint8_images_become_floats_in_zero_one():
    images = np.random.default_rng(0).integers(0, 256, size=(4, 28, 28)).astype(np.uint8)
    data = graphc.tensor(images)
    assert data.dtype == u8
    scaled = data.float() / 255
    assert scaled.dtype == f32
    assert_close(scaled, images.astype(np.float64) / 255, dtype="f32")
    batch = graphc.data.TensorDataset(data, graphc.arange(4))[1][0]
    assert batch.dtype == u8


def test_finfo_and_iinfo_describe_the_small_dtypes():
    assert graphc.finfo(graphc.float16).eps == 2.0**-10
    assert graphc.finfo(graphc.float16).max == 65504.0
    assert graphc.finfo(graphc.bfloat16).eps == 2.0**-7
    assert graphc.finfo(graphc.bfloat16).tiny == 2.0**-126
    assert graphc.finfo().bits == 32
    assert (graphc.iinfo(graphc.uint8).min, graphc.iinfo(graphc.uint8).max) == (0, 255)
    assert (graphc.iinfo(graphc.int8).min, graphc.iinfo(graphc.int16).max) == (-128, 32767)
    with pytest.raises(TypeError, match="not a floating point"):
        graphc.finfo(graphc.uint8)
    with pytest.raises(TypeError, match="not an integer"):
        graphc.iinfo(graphc.half)


def test_python_integers_out_of_a_small_dtypes_range_are_refused():
    with pytest.raises(RuntimeError, match="uint8"):
        graphc.tensor([256], dtype=graphc.uint8)
    with pytest.raises(RuntimeError, match="int8"):
        graphc.full((2,), -129, dtype=graphc.int8)


@pytest.mark.parametrize("dtype", [graphc.uint8, graphc.int8, graphc.int16, graphc.int32])
@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_comparisons_with_python_ints_beyond_the_dtype_compare_the_values(dtype, mode):
    # exactly, as Python compares ints (PyTorch wraps the int into the dtype first: a wrong
    # answer for uint8 < -1000; benchmarks/torch_parity.py records the difference)
    info = np.iinfo(dtype.numpy)
    x = graphc.tensor([info.min, 0, info.max], dtype=dtype)
    for n in (info.max + 1, info.min - 1, 2**70):
        def compare(t, n=n):
            return (t == n, t != n, t < n, t <= n, t > n, t >= n, n < t, n >= t)
        fn = compare if mode == "eager" else graphc.compile(compare)
        values = x.numpy().astype(object)  # Python ints: exact comparisons
        expected = (values == n, values != n, values < n, values <= n, values > n,
                    values >= n, n < values, n >= values)
        for got, want in zip(fn(x), expected):
            assert got.dtype == graphc.bool
            np.testing.assert_array_equal(got.numpy(), want.astype(bool))


def test_arithmetic_with_a_python_int_beyond_the_dtype_is_refused_naming_both():
    with pytest.raises(RuntimeError, match=r"the Python int 1000 does not fit the int8 tensor "
                                           r"it is combined with \(int8 holds -128..127\)"):
        graphc.tensor([1, 2], dtype=graphc.int8) + 1000


# -- checkpoints ---------------------------------------------------------------------------------
def test_checkpoints_save_and_load_every_small_dtype_bit_for_bit():
    rng = np.random.default_rng(1)
    state = {d.name: graphc.tensor(rng.uniform(-100, 100, size=(3, 2))).to(d) for d in SMALL}
    state["nan_bf16"] = graphc.tensor([float("nan"), -0.0, float("inf")]).bfloat16()
    state["scalar_f16"] = graphc.tensor(1.5).half()
    state["raw"] = np.array([1.5, -2.0], BF16)
    state["weight"] = graphc.tensor([0.5]).bfloat16().requires_grad_()
    buffer = io.BytesIO()
    graphc.save(state, buffer)
    buffer.seek(0)
    loaded = graphc.load(buffer)
    for key, value in state.items():
        original = value if isinstance(value, np.ndarray) else value.numpy()
        back = loaded[key] if isinstance(loaded[key], np.ndarray) else loaded[key].numpy()
        assert back.dtype == original.dtype and back.shape == original.shape
        assert back.tobytes() == original.tobytes()
    assert loaded["weight"].requires_grad


# -- backends ---------------------------------------------------------------------------------------
def _chain(x):
    return graphc.sigmoid(x * 2 + 1).sum(dim=0)


def _int_chain(x):
    return (x * 3 + 7).max(dim=0).values


def _graph_of(fn, *args) -> ir.Graph:
    return graphc.compile(fn, backend="interpreter").graph_for(*args)


@pytest.mark.parametrize("backend", ["llvm", "numba"])
@pytest.mark.parametrize("dtype", SMALL, ids=str)
def test_code_generating_backends_refuse_dtypes_they_cannot_run_at_compile_time(
        backend, dtype, monkeypatch):
    # llvm and numba run every dtype; a backend without one (cuda has none of these) is played
    # by taking it out of the backend's list
    module = importlib.import_module(f"backends.{backend}.backend")
    monkeypatch.setattr(module, "SUPPORTED_DTYPES", module.SUPPORTED_DTYPES - {dtype})
    x = graphc.ones(3, 2, dtype=dtype)
    fn = _chain if dtype.is_float else _int_chain
    graph = _graph_of(fn, x)
    with pytest.raises(backends.UnsupportedDTypeError, match=f"dtype {dtype}"):
        backends.get(backend).compile(graph)
    with pytest.raises(backends.UnsupportedDTypeError, match=f"{backend} backend"):
        graphc.compile(fn, backend=backend)(x)  # a backend the user names refuses loudly


def test_llvm_and_numba_run_every_small_dtype_natively():
    # f16/bf16 kernels: tests/test_half_kernels.py
    assert {u8, i8, i16, f16, bf16} <= LLVM_DTYPES & NUMBA_DTYPES


def _integer_program(x, y):
    """Elementwise chains (wrapping), comparisons, casts and reductions of two small-integer
    tensors: what an llvm kernel must compute as the interpreter does."""
    z = x * y + 7 - x
    wide = z.to(graphc.int64) * 3
    return (z, z.max(dim=0).values, z.min(dim=1).values, z.argmax(dim=1), z.sum(dim=0),
            (x > y), graphc.maximum(x, y), wide, z.abs(), (-z).to(graphc.float32) / 3,
            (x.to(graphc.float32) * 1.7 - 100).to(x.dtype))


@pytest.mark.parametrize("backend", ["llvm", "numba"])
@pytest.mark.parametrize("dtype", [u8, i8, i16], ids=str)
def test_backends_compute_small_integer_programs_as_the_interpreter(backend, dtype):
    rng = np.random.default_rng(4)
    info = np.iinfo(dtype.numpy)
    x = graphc.tensor(rng.integers(info.min, info.max, size=(5, 7), endpoint=True)).to(dtype)
    y = graphc.tensor(rng.integers(info.min, info.max, size=(5, 7), endpoint=True)).to(dtype)
    graph = _graph_of(_integer_program, x, y)
    interpreted = backends.get("interpreter").compile(graph)(x.numpy(), y.numpy())
    compiled = graphc.compile(_integer_program, backend=backend)
    got = compiled(x, y)
    assert "runs on the interpreter" not in compiled.explain()
    for g, want in zip(got, interpreted):
        assert g.dtype.numpy == want.dtype
        assert g.numpy().tobytes() == want.tobytes(), (g, want)


@pytest.mark.parametrize("dtype", SMALL, ids=str)
def test_default_compile_runs_every_small_dtype_and_says_where(dtype):
    """The default backend's result equals eager's bit for bit; a dtype it refuses runs on the
    interpreter, and explain() says why."""
    rng = np.random.default_rng(5)
    x = graphc.tensor(rng.uniform(-3, 3, size=(4, 3))).to(dtype)
    fn = _chain if dtype.is_float else _int_chain
    compiled = graphc.compile(fn)
    got, want = compiled(x), fn(x)
    assert got.dtype == want.dtype
    assert got.numpy().tobytes() == want.numpy().tobytes()
    refused = compiled.backend == "llvm" and dtype not in LLVM_DTYPES
    note = f"runs on the interpreter: llvm backend: cannot run dtype {dtype}"
    assert (note in compiled.explain()) == refused


def test_default_compile_keeps_its_backend_for_other_dtypes(monkeypatch):
    # llvm runs every dtype now: make it refuse f16 again, as a CPU backend without it would
    monkeypatch.setattr(backends.llvm.backend, "SUPPORTED_DTYPES", LLVM_DTYPES - {f16})
    compiled = graphc.compile(_chain)
    compiled(graphc.ones(3, 2).half())
    compiled(graphc.ones(3, 2))
    entries = compiled.explain().split("\nentry ")
    assert "runs on the interpreter" in entries[1]
    assert "runs on the interpreter" not in entries[2]


@pytest.mark.parametrize("dtype", SMALL, ids=str)
def test_training_step_in_a_small_float_dtype_or_on_integer_inputs(dtype):
    """A linear model with half-precision weights (or float weights fed uint8/int data) trains
    eagerly and compiled to the same losses."""
    rng = np.random.default_rng(8)
    inputs = rng.integers(0, 9, size=(16, 4)).astype(dtype.numpy)
    weight_dtype = dtype if dtype.is_float else f32
    results = []
    for compiled in (False, True):
        w = graphc.tensor(rng.uniform(-1, 1, size=(4, 1)) * 0 + 0.1).to(weight_dtype)
        w.requires_grad_()

        def step(x, w=w):
            loss = ((x.to(weight_dtype) / 8) @ w).square().mean()
            loss.backward()
            return loss

        run = graphc.compile(step) if compiled else step
        x = graphc.tensor(inputs)
        losses = []
        for _ in range(3):
            losses.append(run(x).item())
            with graphc.no_grad():
                w -= 0.5 * w.grad
            w.grad = None
        assert losses[-1] < losses[0]
        results.append(losses)
    # llvm may sum an f32 loss in another order than NumPy: equal within the dtype's tolerance
    assert_close(np.array(results[1]), np.array(results[0]), dtype=weight_dtype.name)


def test_bfloat16_tensors_print_as_floats_with_their_dtype():
    assert repr(graphc.zeros(2, dtype=graphc.bfloat16)) == "tensor([0., 0.], dtype=bf16)"
    assert repr(graphc.tensor([1.5, -2.0]).half()) == "tensor([ 1.5, -2. ], dtype=f16)"
    assert repr(graphc.tensor([200], dtype=graphc.uint8)) == "tensor([200], dtype=u8)"


def test_data_loader_batches_of_uint8_images_stay_uint8_like_torch():
    images = np.random.default_rng(3).integers(0, 256, size=(6, 28, 28)).astype(np.uint8)
    labels = np.arange(6)
    loader = graphc.data.DataLoader(list(zip(images, labels)), batch_size=4)
    x, y = next(iter(loader))
    assert x.dtype == u8 and x.shape == (4, 28, 28) and y.dtype == i64
    assert_close(x.float() / 255, images[:4].astype(np.float64) / 255, dtype="f32")
    halves = graphc.data.default_collate([np.float16(1.5), np.float16(2.0)])
    assert halves.dtype == f16
    assert graphc.data.default_convert(np.ones(2, BF16)).dtype == bf16


@pytest.mark.parametrize("descending", [False, True])
def test_bfloat16_sorts_nan_and_infinities_as_float32_does(descending):
    # NumPy's sort of ml_dtypes' bfloat16 put NaN and infinities out of place (eagerly)
    values = [3.0, -1.0, float("nan"), float("-inf"), 2.0, float("inf"), 0.5]
    expected = graphc.sort(graphc.tensor(values), descending=descending)
    for run in (graphc.sort, graphc.compile(graphc.sort)):
        got = run(graphc.tensor(values, dtype=graphc.bfloat16), descending=descending)
        np.testing.assert_array_equal(got.values.float().numpy(), expected.values.numpy())
        assert got.indices.tolist() == expected.indices.tolist()


HALF_NORM_INPUT = np.array([[300.0, -200.0, 100.0, 50.0]])  # squares past float16's 65504


def _layer_norm_f64(x):
    centered = x - x.mean(-1, keepdims=True)
    return centered / np.sqrt((centered ** 2).mean(-1, keepdims=True) + 1e-5)


HALF_NORMS = [
    ("layer_norm", lambda x: graphc.nn.functional.layer_norm(x, (4,)), _layer_norm_f64),
    ("var", lambda x: x.var(dim=1), lambda x: x.var(axis=1, ddof=1)),
    ("std", lambda x: x.std(dim=1), lambda x: x.std(axis=1, ddof=1)),
    # its variance, 4.2e6, is past float16's range; the root is not
    ("std of a variance past 65504", lambda x: (x * 10).std(dim=1),
     lambda x: (x * 10).std(axis=1, ddof=1)),
    ("vector_norm", lambda x: graphc.linalg.vector_norm(x, dim=1),
     lambda x: np.sqrt((x ** 2).sum(1))),
    ("normalize", lambda x: graphc.nn.functional.normalize(x, dim=1),
     lambda x: x / np.sqrt((x ** 2).sum(1, keepdims=True))),
    ("rms_norm", lambda x: graphc.nn.functional.rms_norm(x, (4,)),
     lambda x: x / np.sqrt((x ** 2).mean(-1, keepdims=True) + np.finfo(np.float32).eps)),
    ("batch_norm", lambda x: graphc.nn.functional.batch_norm(x.reshape(4, 1), None, None,
                                                             training=True),
     lambda x: _layer_norm_f64(x).reshape(4, 1)),
]


@pytest.mark.parametrize("dtype, rtol", [(graphc.float16, 4e-3), (graphc.bfloat16, 2e-2)],
                         ids=["f16", "bf16"])
@pytest.mark.parametrize("name, fn, reference", HALF_NORMS, ids=[c[0] for c in HALF_NORMS])
def test_half_precision_norms_accumulate_in_float32(name, fn, reference, dtype, rtol):
    # their sums of squares overflowed float16 (a layer norm came out 0, a norm inf); PyTorch
    # accumulates them in float32. Tolerances: a few ulps of the half dtype (2^-10, 2^-7)
    expected = reference(HALF_NORM_INPUT)
    for run in (fn, graphc.compile(fn)):
        got = run(graphc.tensor(HALF_NORM_INPUT, dtype=dtype))
        assert got.dtype == dtype
        np.testing.assert_allclose(got.float().numpy(), expected, rtol=rtol, atol=rtol)


def test_clip_grad_norm_of_float16_gradients_keeps_them():
    w = graphc.nn.Parameter(graphc.zeros(3, dtype=graphc.float16))
    w.grad = graphc.tensor([300.0, -200.0, 100.0], dtype=graphc.float16)
    norm = graphc.nn.utils.clip_grad_norm_([w], 1.0)
    np.testing.assert_allclose(float(norm), 374.17, rtol=4e-3)  # sqrt(140000), was inf
    np.testing.assert_allclose(w.grad.float().numpy(), np.array([300, -200, 100]) / 374.17,
                               rtol=4e-3)
