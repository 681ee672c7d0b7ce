"""Elementwise ops on dtypes where NumPy and PyTorch part ways, eager and compiled: what the
scalar-body walk of the registry found. Expected values follow PyTorch's documented semantics."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
import ir

BOOLS = np.array([True, False, True])


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_int64_divided_by_float64_converts_the_integers_straight_to_float64(mode):
    """PyTorch promotes i64 / f64 to f64; going through f32 first turns 2**24 + 1 into 2**24."""
    def divide(a, b):
        return a / b
    fn = divide if mode == "eager" else graphc.compile(divide)
    got = fn(graphc.tensor(np.array([2**24 + 1, -(2**53)], np.int64)),
             graphc.tensor(np.array([1.0, 2.0])))
    assert got.dtype == graphc.float64
    assert got.numpy().tolist() == [16777217.0, -(2.0**52)]


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_sign_of_a_bool_tensor_is_the_tensor_itself(mode):
    fn = graphc.sign if mode == "eager" else graphc.compile(lambda t: graphc.sign(t))
    got = fn(graphc.tensor(BOOLS))
    assert got.dtype == graphc.bool and got.numpy().tolist() == [True, False, True]


@pytest.mark.parametrize("mode", ["eager", "compiled"])
@pytest.mark.parametrize("op,words", [
    (lambda a: -a, "neg: Negation, the `-` operator, on a bool tensor is not supported"),
    (lambda a: a - a, "sub: Subtraction, the `-` operator, with a bool tensor is not supported"),
    (lambda a: a ** a, "pow: pow with two bool tensors is not supported"),
], ids=["neg", "sub", "pow"])
def test_negating_subtracting_or_powering_bools_is_a_clear_error(mode, op, words):
    fn = op if mode == "eager" else graphc.compile(op)
    with pytest.raises(ir.ShapeError, match=words):
        fn(graphc.tensor(BOOLS))


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_bools_still_add_and_multiply_as_or_and_and(mode):
    """PyTorch: True + True is True (logical or), True * False is False (logical and)."""
    def both(a, b):
        return a + b, a * b
    fn = both if mode == "eager" else graphc.compile(both)
    total, product = fn(graphc.tensor(BOOLS), graphc.tensor(np.array([True, True, False])))
    assert total.numpy().tolist() == [True, True, True]
    assert product.numpy().tolist() == [True, False, False]
