"""Integer and bool semantics that must match PyTorch, eagerly and compiled.

Expected values are computed here with Python ints (two's complement of any width, so the
fixed-width results are exact) or written out from PyTorch's documented behaviour:

* ``& | ^ ~`` are bitwise on integer tensors and keep their dtype; on bool they are logical;
  floats are refused (PyTorch: RuntimeError "bitwise_and_cpu" not implemented for 'Float');
* ``argmin``/``min(dim)`` find the first minimum, also the dtype's own minimum, and a nan
  counts as the extreme for ``argmin`` and ``argmax``;
* ``graphc.tensor`` refuses Python ints that overflow the dtype (PyTorch: RuntimeError);
* integer ``linspace`` truncates toward zero; bool ``linspace`` is refused;
* ``tril``/``triu`` keep the dtype, bool included.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc

MODES = ["eager", "compiled"]
I64_MIN, I64_MAX = -2**63, 2**63 - 1
I32_MIN, I32_MAX = -2**31, 2**31 - 1


def run(mode, fn, *args):
    return fn(*args) if mode == "eager" else graphc.compile(fn)(*args)


# -- bitwise operators -------------------------------------------------------------------------
A_VALUES = [12, 10, -1, 0, I64_MIN, I64_MAX]
B_VALUES = [10, -7, 5, 0, -1, I64_MIN]
BITWISE = [("&", lambda a, b: a & b), ("|", lambda a, b: a | b), ("^", lambda a, b: a ^ b)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("symbol,op", BITWISE, ids=[b[0] for b in BITWISE])
def test_bitwise_operators_on_int64_are_bitwise_and_keep_the_dtype(mode, symbol, op):
    result = run(mode, op, graphc.tensor(A_VALUES), graphc.tensor(B_VALUES))
    assert result.dtype == graphc.int64
    assert result.tolist() == [op(a, b) for a, b in zip(A_VALUES, B_VALUES)]


@pytest.mark.parametrize("mode", MODES)
def test_bitwise_not_on_integers_flips_every_bit_and_keeps_the_dtype(mode):
    for dtype, values in [(graphc.int64, A_VALUES), (graphc.int32, [0, 5, -1, I32_MIN, I32_MAX])]:
        result = run(mode, lambda a: ~a, graphc.tensor(values, dtype=dtype))
        assert result.dtype == dtype
        assert result.tolist() == [~v for v in values]


@pytest.mark.parametrize("mode", MODES)
def test_bitwise_operators_on_int32_keep_int32(mode):
    a, b = [0x0F0F, -3, I32_MIN], [0x00FF, 6, I32_MAX]
    result = run(mode, lambda x, y: (x & y, x | y, x ^ y), graphc.tensor(a, dtype=graphc.int32),
                 graphc.tensor(b, dtype=graphc.int32))
    assert [r.dtype for r in result] == [graphc.int32] * 3
    assert [r.tolist() for r in result] == [[p & q for p, q in zip(a, b)],
                                            [p | q for p, q in zip(a, b)],
                                            [p ^ q for p, q in zip(a, b)]]


@pytest.mark.parametrize("mode", MODES)
def test_bitwise_operators_on_bool_are_logical_and_stay_bool(mode):
    p, q = [True, True, False, False], [True, False, True, False]
    result = run(mode, lambda x, y: (x & y, x | y, x ^ y, ~x), graphc.tensor(p), graphc.tensor(q))
    assert [r.dtype for r in result] == [graphc.bool] * 4
    assert [r.tolist() for r in result] == [[a and b for a, b in zip(p, q)],
                                            [a or b for a, b in zip(p, q)],
                                            [a != b for a, b in zip(p, q)],
                                            [not a for a in p]]


@pytest.mark.parametrize("mode", MODES)
def test_reflected_bitwise_operators_take_a_python_int_on_the_left(mode):
    values = [0x1234, -1, 0x7FFF]
    result = run(mode, lambda a: (0x1337 & a, 0x1337 | a, 0x1337 ^ a),
                 graphc.tensor(values, dtype=graphc.int32))
    assert [r.dtype for r in result] == [graphc.int32] * 3
    assert [r.tolist() for r in result] == [[0x1337 & v for v in values],
                                            [0x1337 | v for v in values],
                                            [0x1337 ^ v for v in values]]


def test_bool_with_integer_promotes_to_the_integer_dtype():
    result = graphc.tensor([True, False, True]) | graphc.tensor([2, 2, 0], dtype=graphc.int32)
    assert result.dtype == graphc.int32 and result.tolist() == [3, 2, 1]


@pytest.mark.parametrize("mode", MODES)
def test_bitwise_functions_methods_and_in_place_forms(mode):
    def use(a, b):
        results = [graphc.bitwise_and(a, b), graphc.bitwise_or(a, b), graphc.bitwise_xor(a, b),
                   graphc.bitwise_not(a), a.bitwise_and(b), a.bitwise_or(b), a.bitwise_xor(b),
                   a.bitwise_not()]
        c = a.clone()
        c &= b
        d = a.clone()
        d |= b
        e = a.clone()
        e ^= b
        f = a.clone().bitwise_xor_(b).bitwise_not_()
        return results + [c, d, e, f]

    a_values, b_values = [6, -8, 0], [3, 5, -1]
    out = [r.tolist() for r in run(mode, use, graphc.tensor(a_values), graphc.tensor(b_values))]
    ands = [x & y for x, y in zip(a_values, b_values)]
    ors = [x | y for x, y in zip(a_values, b_values)]
    xors = [x ^ y for x, y in zip(a_values, b_values)]
    nots = [~x for x in a_values]
    assert out == [ands, ors, xors, nots, ands, ors, xors, nots, ands, ors, xors,
                   [~v for v in xors]]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fn,op", [
    (lambda f, i: f & i, "bitwise_and"), (lambda f, i: i | f, "bitwise_or"),
    (lambda f, i: f ^ i, "bitwise_xor"), (lambda f, i: ~f, "bitwise_not"),
    (lambda f, i: i & 1.5, "bitwise_and")])
def test_bitwise_ops_refuse_floats_naming_the_op_and_dtype(mode, fn, op):
    with pytest.raises(RuntimeError, match=f"{op}.*f32") as info:
        run(mode, fn, graphc.tensor([1.0, 2.0]), graphc.tensor([1, 2]))
    assert isinstance(info.value, graphc.DTypeError)


# -- argmin, min(dim) ------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_argmin_finds_the_minimum_of_the_dtype(mode):
    """argmin(x) is not argmax(-x): -(-2**63) overflows back to -2**63."""
    result = run(mode, lambda x, y: (x.argmin(), y.argmin(), x.argmax()),
                 graphc.tensor([0, I64_MIN, 5]), graphc.tensor([7, I32_MIN, 3], dtype=graphc.int32))
    assert [r.item() for r in result] == [1, 1, 2]


@pytest.mark.parametrize("mode", MODES)
def test_min_over_a_dim_returns_the_dtype_minimum_and_its_first_index(mode):
    x = graphc.tensor([[0, I64_MIN, 5, I64_MIN], [3, 2, 2, 4]])
    values, indices = run(mode, lambda x: tuple(x.min(dim=1)), x)
    assert values.tolist() == [I64_MIN, 2] and indices.tolist() == [1, 1]


@pytest.mark.parametrize("mode", MODES)
def test_argmin_returns_the_first_of_tied_minima_along_any_dim(mode):
    x = graphc.tensor([[3.0, 1.0, 1.0], [0.0, 2.0, 0.0]])
    result = run(mode, lambda x: (x.argmin(), x.argmin(dim=1), x.argmin(dim=0, keepdim=True)), x)
    assert [r.tolist() for r in result] == [3, [1, 0], [[1, 0, 1]]]


@pytest.mark.parametrize("mode", MODES)
def test_argmin_and_argmax_return_the_first_nan(mode):
    x = graphc.tensor([1.0, math.nan, -5.0, math.nan, 9.0])
    amin, amax, (value, index) = run(mode, lambda x: (x.argmin(), x.argmax(), x.min(dim=0)), x)
    assert amin.item() == 1 and amax.item() == 1 and index.item() == 1
    assert math.isnan(value.item())


def test_argmin_of_bool_finds_the_first_false():
    assert graphc.tensor([True, False, False]).argmin().item() == 1


# -- graphc.tensor and integer overflow --------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("data", [[2**63], 2**63, [I64_MIN - 1], [2**64], [2**63, -1],
                                  [[1, 2], [3, 2**70]]],
                         ids=["2**63", "scalar-2**63", "-2**63-1", "2**64", "mixed-signs",
                              "nested"])
def test_tensor_refuses_python_ints_beyond_int64(mode, data):
    with pytest.raises(RuntimeError, match="cannot be converted to type int64 without overflow"):
        run(mode, lambda: graphc.tensor(data))


def test_tensor_keeps_the_int64_extremes_exactly():
    assert graphc.tensor([I64_MIN, I64_MAX]).tolist() == [I64_MIN, I64_MAX]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("data", [[2**31], [I32_MIN - 1], [1e10], [math.inf], [math.nan]])
def test_tensor_refuses_values_that_overflow_an_explicit_int32_dtype(mode, data):
    with pytest.raises(RuntimeError, match="cannot be converted to type int32 without overflow"):
        run(mode, lambda: graphc.tensor(data, dtype=graphc.int32))


def test_tensor_stores_in_range_values_in_int32_truncating_floats():
    t = graphc.tensor([I32_MIN, I32_MAX, 2.9, -2.9], dtype=graphc.int32)
    assert t.dtype == graphc.int32 and t.tolist() == [I32_MIN, I32_MAX, 2, -2]


def test_big_python_ints_become_floats_with_a_float_dtype_or_among_floats():
    assert graphc.tensor([2**63], dtype=graphc.float64).tolist() == [float(2**63)]
    mixed = graphc.tensor([2**64, 1.5])
    assert mixed.dtype == graphc.float32
    assert mixed.tolist() == [float(np.float32(2**64)), 1.5]


def test_full_refuses_a_fill_value_that_overflows_the_dtype():
    with pytest.raises(RuntimeError, match="int32 without overflow"):
        graphc.full((2,), 2**31, dtype=graphc.int32)
    assert graphc.full((2,), I32_MIN, dtype=graphc.int32).tolist() == [I32_MIN, I32_MIN]


# -- linspace ------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_integer_linspace_truncates_toward_zero(mode):
    """PyTorch computes start + i * step in double and truncates: 5 - 10 i / 19 here (no value
    but the ends is a whole number, so rounding direction alone decides each element)."""
    result = run(mode, lambda: graphc.linspace(5, -5, 20, dtype=graphc.int32))
    assert result.dtype == graphc.int32
    assert result.tolist() == [math.trunc(5 - 10 * i / 19) for i in range(20)]


def test_integer_linspace_truncates_its_ends_first():
    """Non-integer ends become integers first (-3.7 -> -3, 3.7 -> 3): step 1.5 from -3."""
    assert graphc.linspace(-3.7, 3.7, 5, dtype=graphc.int64).tolist() == [-3, -1, 0, 1, 3]
    assert graphc.linspace(7, 0, 1, dtype=graphc.int64).tolist() == [7]
    assert graphc.linspace(7, 0, 0, dtype=graphc.int64).tolist() == []


def test_linspace_refuses_bool_and_negative_steps():
    with pytest.raises(RuntimeError, match="bool"):
        graphc.linspace(0, 1, 3, dtype=graphc.bool)
    with pytest.raises(ValueError, match="non-negative"):
        graphc.linspace(0, 1, -1, dtype=graphc.int64)


# -- tril / triu ---------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [graphc.bool, graphc.int32, graphc.float64])
def test_tril_and_triu_keep_the_dtype(mode, dtype):
    x = graphc.ones(3, 4, dtype=dtype)
    lower, upper = run(mode, lambda x: (graphc.tril(x, -1), x.triu(1)), x)
    assert lower.dtype == dtype and upper.dtype == dtype
    assert lower.tolist() == [[int(c <= r - 1) for c in range(4)] for r in range(3)]
    assert upper.tolist() == [[int(c >= r + 1) for c in range(4)] for r in range(3)]


@pytest.mark.parametrize("mode", MODES)
def test_a_narrow_integer_dtype_argument_wraps_as_pytorchs(mode):
    # integers accumulate in i64; the result was left in i64 (304, not uint8's 48)
    def reductions(x):
        return (x.sum(dtype=graphc.uint8), x.sum(dtype=graphc.int32), x.prod(dtype=graphc.uint8),
                graphc.cumsum(x, 0, dtype=graphc.int8), graphc.cumprod(x, 0, dtype=graphc.uint8))
    x = graphc.tensor(np.array([100, 200, 4], np.uint8))
    got = [(t.tolist(), t.dtype) for t in run(mode, reductions, x)]
    assert got == [(48, graphc.uint8), (304, graphc.int32), (128, graphc.uint8),
                   ([100, 44, 48], graphc.int8), ([100, 32, 128], graphc.uint8)]
