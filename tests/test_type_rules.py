"""Type rules never accept what the reference then cannot run.

The property, over every registered op, small operand types (ranks 0..2 plus two 4-D shapes
for the convolution family, every dtype) and attribute values of the declared kinds:
either the type rule raises ``ShapeError``, or the NumPy reference runs and returns exactly the
inferred shape and dtype. So ``ir.parse`` and ``ir.verify`` never crash inside a type rule,
and the interpreter never fails on a graph that verified. The specific cases the issue named
follow, through ``ir.parse`` and through eager and compiled graphc.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc
import ir
from conftest import assert_close
from ir import dtypes
from ir.errors import ShapeError
from ir.evaluate import COMPUTES_IN_F32, computing_in_f32, quiet_float_errors
from ir.types import TensorType
from ir.verify import attr_value_error

SHAPES = [(), (1,), (3,), (0,), (2, 3), (3, 1), (1, 1, 3, 3), (2, 2, 4, 4)]
INF, NAN = math.inf, math.nan
ATTR_VALUES = {  # per attribute kind, values that probe every type rule's edges
    "int": [-3, -1, 0, 1, 2, 3, 2**63],
    "float": [0.0, 1.0, -1.0, 2.5, 2, INF, -INF, NAN],
    "bool": [False, True],
    "ints": [[], [0], [1], [-1], [2], [3], [0, 1], [1, 0], [-1, -2], [0, 0], [1, 1], [2, 2],
             [3, 1], [3, 3], [1, -1], [-1, 3], [0, 1, 2], [1, 1, 3, 3]],
    "intss": [[], [[0, 0, 0]], [[1, 0, 0]], [[-1, 0, 0]], [[0, 0]], [[1, 2, 1], [0, 1, 0]],
              [[0, 0, 0], [0, 0, 0]]],
    "dtype": list(dtypes.ALL),
    "value": [1.5, 0, True, 300, -1, INF, NAN, [], [[]], [1, 2], [1.5, True], [[1], [2]],
              [[1, 2, 3]], [[1, 2, 3], [4, 5, 6]], [[1, 2], [3]], [[1, 2], 3], [1, [2, 3]]],
    "shape": [[], [0], [2], [3], [2, 3], [1, 1, 3, 3], [2, 2, 4, 4], [1, 1, 2, 2]],
    "str": ["", "sum", "prod", "amax", "amin", "nonsense"],
}
# Bodies for `fused`: the type rule must refuse operands that do not match the body's inputs.
ATTR_VALUES["graph"] = [ir.parse(text).nodes[0].body for text in (
    """func @f(%x: f32[3]) -> (f32[3]) {
  %0: f32[3] = fused %x {
    (%a: f32[3]):
    %0: f32[3] = relu %a
    yield %0
  }
  return %0
}""",
    """func @f(%x: f32[2,3], %y: f32[3]) -> (f32[2,3], bool[2,3]) {
  %0, %1: f32[2,3], bool[2,3] = fused %x, %y {
    (%a: f32[2,3], %b: f32[3]):
    %0: f32[2,3] = add %a, %b
    %1: bool[2,3] = gt %0, %a
    yield %0, %1
  }
  return %0, %1
}""")]

# Errors a reference may raise for operand *values* (not types), as PyTorch does at run time.
VALUE_ERRORS = {
    "gather": (IndexError, "out of range"),
    "scatter_add": (IndexError, "out of range"),
    "scatter": (IndexError, "out of range"),
    "scatter_reduce": (IndexError, "out of range"),
    "pow": (ValueError, "Integers to negative integer powers"),
    **{op: (RuntimeError, "integer division by zero")
       for op in ("floor_divide", "remainder", "fmod", "trunc_divide")},
    # a collective's world is the process's, known when the graph runs (here: a world of one)
    **{op: (ShapeError, "traced for a world of")
       for op in ("all_reduce", "all_gather", "reduce_scatter")},
}


def operand(t: TensorType, rng: np.random.Generator) -> np.ndarray:
    if t.dtype.is_bool:
        return rng.random(t.shape) > 0.5
    if t.dtype.is_int:
        return rng.integers(-1, 3, t.shape).astype(t.dtype.numpy)
    return rng.uniform(-2, 2, t.shape).astype(t.dtype.numpy)


@st.composite
def op_calls(draw, opdef):
    arity = opdef.arity if opdef.arity is not None else draw(st.integers(1, 3))
    types = [TensorType(draw(st.sampled_from(dtypes.ALL)), draw(st.sampled_from(SHAPES)))
             for _ in range(arity)]
    if opdef.kind == "source" and arity == 1 and draw(st.integers(0, 9)):
        types = [TensorType(dtypes.i64, ())]  # random ops: mostly a well-typed seed
    attrs = {a.name: draw(st.sampled_from(ATTR_VALUES[a.kind])) for a in opdef.attrs
             if a.required or draw(st.booleans())}
    return types, attrs


@pytest.mark.parametrize("opdef", ir.all_ops(), ids=lambda op: op.name)
def test_type_rule_refuses_or_reference_returns_the_inferred_type(opdef):
    rng = np.random.default_rng(0)

    @settings(max_examples=40, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(op_calls(opdef))
    def check(call):
        types, attrs = call
        # Every drawn attribute has the right kind (the parser checks kinds), but the Python API
        # reaches type rules without the parser: a ragged `value` must be refused here too.
        assert all(attr_value_error(a.kind, attrs[a.name]) is None or a.kind == "value"
                   for a in opdef.attrs if a.name in attrs)
        try:
            full = opdef.check_attrs(attrs)
            inferred = opdef.infer(types, full)
        except ShapeError:
            return
        arrays = [operand(t, rng) for t in types]
        expected = inferred.dtype
        if opdef.kind in COMPUTES_IN_F32 and opdef.name != "cast" and any(
                t.dtype.is_low_precision_float for t in types):
            # f16/bf16 operands reach computing references as f32 (ir.evaluate converts them,
            # and rounds the result once): the reference answers in f32 there
            arrays = computing_in_f32(arrays)
            expected = dtypes.f32 if expected.is_low_precision_float else expected
        value_errors, words = VALUE_ERRORS.get(opdef.name, ((), ""))
        try:
            with quiet_float_errors():
                result = np.asarray(opdef.reference(*arrays, **full))
        except value_errors as e:
            assert words in str(e)
            return
        assert result.shape == inferred.shape, f"{types} {attrs}"
        assert result.dtype == expected.numpy, f"{types} {attrs}"

    check()


# -- the cases the issue named, through the parser ----------------------------------------------
@pytest.mark.parametrize("body", [
    "%0: f32[] = max %x {axes=[0], keepdim=true}",
    "%0: f32[] = sum %x {axes=[0]}",
    "%0: f32[2] = concat %x, %x {axis=0}",
    "%0: f32[] = gather %x, %i {axis=0}",
    "%0: f32[] = neg %b",
    "%0: bool[] = sub %b, %b",
    "%0: f32[] = const {value=[[1, 2], [3]], dtype=f32, shape=[2, 2]}",
    "%0: f32[] = random_uniform %s {shape=[], low=2.0, high=1.0}",
    "%0: f32[] = random_uniform %s {shape=[], high=inf}",
    "%0: f32[] = random_normal %s {shape=[], std=-1.0}",
    "%0: i64[] = pad %s {pads=[], value=nan}",
], ids=["max-axes0-of-0d", "sum-axes0-of-0d", "concat-of-0d", "gather-of-0d", "neg-bool",
        "sub-bool", "ragged-const", "uniform-low-above-high", "uniform-infinite",
        "normal-negative-std", "pad-nan-into-int"])
def test_parser_reports_bad_operands_as_parse_errors_not_crashes(body):
    text = ("func @f(%x: f32[], %i: i64[], %b: bool[], %s: i64[]) -> (f32[]) {\n  " + body
            + "\n  return %x\n}")
    with pytest.raises(ir.ParseError):
        ir.parse(text)


# -- bool arithmetic ----------------------------------------------------------------------------
MASK = [True, False, True]


@pytest.mark.parametrize("mode", ["eager", "compiled"])
@pytest.mark.parametrize("call,message", [
    (lambda m: -m, "Negation, the `-` operator, on a bool tensor is not supported"),
    (lambda m: m - m, "Subtraction, the `-` operator, with a bool tensor is not supported"),
    (lambda m: m - 1, "Subtraction, the `-` operator, with a bool tensor is not supported"),
], ids=["neg", "sub-bools", "sub-bool-int"])
def test_bool_negation_and_subtraction_are_refused_like_pytorch(call, message, mode):
    fn = call if mode == "eager" else graphc.compile(call)
    with pytest.raises(ShapeError, match=message):
        fn(graphc.tensor(MASK))


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_sign_of_a_bool_tensor_is_the_tensor_itself_like_pytorch(mode):
    fn = graphc.sign if mode == "eager" else graphc.compile(graphc.sign)
    result = fn(graphc.tensor(MASK))
    assert result.dtype == graphc.bool and result.tolist() == MASK


def test_logical_ops_on_masks_still_work():
    m = graphc.tensor(MASK)
    assert (~m).tolist() == [False, True, False]
    assert (m ^ graphc.tensor([True, True, False])).tolist() == [False, True, True]


# -- numbers the type rule promises ------------------------------------------------------------
@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_int_tensor_divided_by_f64_scalar_tensor_computes_in_f64(mode):
    # PyTorch: a 0-d f64 tensor of a higher category than i64[n] sets the dtype, so i64 / f64
    # is float64 division, not float32 division widened afterwards.
    fn = (lambda a, b: a / b) if mode == "eager" else graphc.compile(lambda a, b: a / b)
    result = fn(graphc.tensor([1, 2, 10]), graphc.tensor(3.0, dtype=graphc.float64))
    assert result.dtype == graphc.float64
    assert_close(result, np.array([1, 2, 10], np.float64) / 3.0)


def test_pad_value_must_fit_the_tensor_dtype():
    ints = graphc.tensor([1, 2])
    with pytest.raises(ShapeError, match="does not fit dtype i64"):
        graphc.pad(ints, (1, 0), value=math.nan)
    assert graphc.pad(ints, (1, 0), value=7).tolist() == [7, 1, 2]


# -- random bounds ------------------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda: graphc.uniform((3,), 2.0, 1.0),
    lambda: graphc.uniform((3,), 0.0, math.inf),
    lambda: graphc.uniform((3,), -math.inf, 0.0),
    lambda: graphc.uniform((3,), math.nan, 1.0),
    lambda: graphc.nn.init.uniform_(graphc.zeros(3), 1.0, -1.0),
    lambda: graphc.compile(lambda: graphc.uniform((3,), 2.0, 1.0))(),
], ids=["low-above-high", "infinite-high", "infinite-low", "nan-low", "init-uniform_",
        "compiled"])
def test_uniform_refuses_reversed_or_non_finite_bounds(call):
    with pytest.raises(ShapeError, match="random_uniform"):
        call()


def test_uniform_with_equal_bounds_is_that_number():
    assert graphc.uniform((4,), 2.5, 2.5).tolist() == [2.5] * 4


@pytest.mark.parametrize("std", [-1.0, math.nan])
def test_normal_refuses_a_negative_or_nan_std(std):
    with pytest.raises(ShapeError, match="random_normal"):
        graphc.normal(0.0, std, (3,))
