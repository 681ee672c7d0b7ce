"""Typed scalar expressions (``ir.scalar``): builders type-check, the evaluator computes in each
node's dtype, and the printer spells what a human needs. Expected values are stated from IEEE /
NumPy semantics, independently of graphc."""
from __future__ import annotations

import numpy as np
import pytest

import ir
from ir import scalar as S
from ir.dtypes import bool_, f32, f64, i32, i64
from ir.errors import ScalarTypeError
from ir.registry import OpDef, register

NAN = np.nan


def f32s(*values):
    return np.array(values, np.float32)


def test_builders_reject_mixing_f32_and_f64_without_a_cast():
    x, y = S.var("x", f32), S.var("y", f64)
    with pytest.raises(ScalarTypeError, match=r"add: operands have different dtypes \(f32 and "
                                              r"f64\); cast one first"):
        S.add(x, y)
    assert S.add(S.cast(x, f64), y).dtype == f64


def test_python_numbers_become_constants_of_the_expression_dtype_so_f32_computes_in_f32():
    x = S.var("x", f32)
    body = S.mul(x, 0.1)
    assert str(body) == "mul(x, 0.1:f32)" and body.args[1].dtype == f32
    got = S.evaluate(body, {"x": f32s(9.0)})
    # 9 * float32(0.1) rounded in float32 is 0.90000004; 9 * 0.1 in float64 would round to 0.9
    assert got.dtype == np.float32
    assert got[0] == np.float32(0.90000004) and got[0] != np.float32(0.9)


def test_float32_arithmetic_rounds_every_step_to_float32():
    x = S.var("x", f32)
    # 2**24 + 1 is not a float32: the sum rounds back to 2**24, and subtracting gives 0
    got = S.evaluate(S.sub(S.add(x, 1.0), x), {"x": f32s(2.0**24)})
    assert got.tolist() == [0.0]


@pytest.mark.parametrize("value,dtype,words", [
    (1e300, f32, "overflows f32"),
    (0.5, i64, "not an integer"),
    (2**31, i32, "out of range for i32"),
    (2, bool_, "bool takes"),
    ("1", f32, "not a number"),
])
def test_constants_must_fit_their_dtype(value, dtype, words):
    with pytest.raises(ScalarTypeError, match=words):
        S.const(value, dtype)


@pytest.mark.parametrize("build,words", [
    (lambda: S.exp(S.var("n", i64)), "exp: takes float operands, got i64"),
    (lambda: S.div(S.var("n", i32), 2), "div: takes float operands, got i32"),
    (lambda: S.add(S.var("b", bool_), True), "add: takes number operands, got bool"),
    (lambda: S.logical_and(S.var("x", f32), 1.0), "logical_and: takes bool operands"),
    (lambda: S.bitwise_xor(S.var("x", f64), 1.0), "bitwise_xor: takes integer operands"),
    (lambda: S.select(S.var("x", f32), 1.0, 0.0), "condition must be a bool expression"),
    (lambda: S.add(1.0, 2.0), "needs at least one expression operand"),
])
def test_primitives_reject_dtypes_they_do_not_take(build, words):
    with pytest.raises(ScalarTypeError, match=words):
        build()


def test_scalar_type_errors_are_type_errors():
    assert issubclass(ScalarTypeError, TypeError) and issubclass(ScalarTypeError, ir.IRError)


@pytest.mark.parametrize("build", [S.maximum, S.minimum])
def test_maximum_and_minimum_propagate_nan_from_either_side(build):
    x, y = S.var("x", f32), S.var("y", f32)
    got = S.evaluate(build(x, y), {"x": f32s(NAN, 1.0, NAN), "y": f32s(1.0, NAN, NAN)})
    assert np.isnan(got).all()


def test_sign_gives_nan_for_nan_and_zero_for_both_zeros():
    got = S.evaluate(S.sign(S.var("x", f64)), {"x": np.array([NAN, -0.0, 0.0, -3.5, np.inf])})
    assert np.isnan(got[0])
    assert got[1:].tolist() == [0.0, 0.0, -1.0, 1.0]
    assert not np.signbit(got[1])


def test_cast_truncates_floats_to_ints_and_tests_nonzero_for_bool():
    x = S.var("x", f32)
    ints = S.evaluate(S.cast(x, i32), {"x": f32s(-2.7, 2.7, -0.5, 0.5)})
    assert ints.dtype == np.int32 and ints.tolist() == [-2, 2, 0, 0]
    flags = S.evaluate(S.cast(x, bool_), {"x": f32s(0.0, -0.0, NAN, 0.25)})
    assert flags.tolist() == [False, False, True, True]  # NaN is not zero


def test_cast_between_integers_wraps_around():
    got = S.evaluate(S.cast(S.var("n", i64), i32), {"n": np.array([2**40 + 5, -1], np.int64)})
    assert got.tolist() == [5, -1]  # 2**40 + 5 modulo 2**32


def test_integer_arithmetic_wraps_around():
    n = S.var("n", i32)
    got = S.evaluate(S.add(n, 1), {"n": np.array([2**31 - 1], np.int32)})
    assert got.tolist() == [-2**31]


def test_evaluator_names_a_missing_variable_and_a_wrong_dtype():
    x = S.var("x", f32)
    with pytest.raises(ScalarTypeError, match="no value for variable 'x'"):
        S.evaluate(S.exp(x), {})
    with pytest.raises(ScalarTypeError, match="variable 'x' is f32, its array is float64"):
        S.evaluate(S.exp(x), {"x": np.array([1.0])})


def test_printer_spells_constants_with_their_dtype():
    assert [str(S.const(v, d)) for v, d in [
        (-0.0, f64), (NAN, f32), (-np.inf, f32), (0.1, f32), (-2**31, i32), (False, bool_),
    ]] == ["-0.0:f64", "nan:f32", "-inf:f32", "0.1:f32", "-2147483648:i32", "false:bool"]


def test_printer_shows_casts_and_selects():
    x, n = S.var("x", f32), S.var("n", i64)
    body = S.select(S.gt(x, 0.0), x, S.cast(n, f32))
    assert str(body) == "select(gt(x, 0.0:f32), x, cast(n, f32))"


def test_comparison_bodies_compute_in_the_common_dtype_of_their_operands():
    """PyTorch converts a 0-d operand of the same category to the dimensioned operand's dtype."""
    eq = ir.get_op("eq")
    _, body = eq.scalar_body([ir.TensorType(i32, (3,)), ir.TensorType(i64, ())], {})
    assert str(body) == "eq(x0, cast(x1, i32))"
    _, body = eq.scalar_body([ir.TensorType(i32, (3,)), ir.TensorType(i64, (3,))], {})
    assert str(body) == "eq(cast(x0, i64), x1)"


def test_registering_a_string_template_is_rejected_clearly():
    with pytest.raises(ValueError, match="scalar must build a typed scalar expression"):
        register(OpDef("string_template_op", "elementwise", 1, lambda types, attrs: types[0],
                       lambda x: x, scalar="x + 1"))  # type: ignore[arg-type]
    assert not ir.registry.exists("string_template_op")
