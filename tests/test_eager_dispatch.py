"""The shortcuts of eager dispatch change no result, error or dtype.

``OpDef.infer_results`` remembers type-rule results (``ir.registry``), ``Tensor.ir_type`` builds
its type without the constructor's checks, and a Python number combined with a tensor becomes a
0-d array without the ``const`` op (``graphc.functions.scalar_like``). Each test sets the
shortcut against the long way: the type rule called afresh, ``TensorType(...)``, or the ``const``
op through ``apply``. Results are compared exactly (no tolerance: both ways run the same NumPy
code on the same operands).

``dispatch.apply``'s fast path (host operands, no trace, no profiler) remembers result types by
the arrays' dtypes and shapes (``OpDef.infer_arrays``) and enters NumPy's quiet error state
through its context variable (``ir.evaluate.silence_float_errors``): the tests at the end check
that it is left whenever a profiler, a trace, autocast or anomaly mode is on, with the same
results, and that NumPy's error state is graphc's policy inside an op and the caller's outside.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphc
import ir
from graphc.dispatch import apply
from graphc.functions import scalar_dtype, scalar_like
from ir import dtypes
from ir.errors import AxisError, ShapeError
from ir.types import TensorType


@pytest.fixture
def default_float64():
    graphc.set_default_dtype(graphc.float64)
    try:
        yield
    finally:
        graphc.set_default_dtype(graphc.float32)


# -- the type-rule cache ---------------------------------------------------------------------
def test_cached_type_follows_the_default_dtype():
    a, b = graphc.tensor([1, 2]), graphc.tensor([4, 8])
    assert (a / b).dtype == dtypes.f32  # remembered under the float32 default...
    graphc.set_default_dtype(graphc.float64)
    try:
        q = a / b  # ...and not served under float64: int / int is the default float
        assert q.dtype == dtypes.f64 and q.numpy().dtype == np.float64
        assert q.tolist() == [0.25, 0.25]
        assert graphc.exp(a).dtype == dtypes.f64
    finally:
        graphc.set_default_dtype(graphc.float32)
    assert (a / b).dtype == dtypes.f32


def test_compiled_function_traced_under_each_default_dtype(default_float64):
    fn = graphc.compile(lambda x, y: x / y)
    a, b = graphc.tensor([1, 3]), graphc.tensor([2, 4])
    assert fn(a, b).dtype == dtypes.f64
    graphc.set_default_dtype(graphc.float32)
    assert fn(a, b).dtype == dtypes.f32
    assert fn(a, b).tolist() == [0.5, 0.75]


def test_list_attributes_are_keyed_by_value_at_call_time():
    reshape = ir.get_op("reshape")
    x = TensorType(dtypes.f32, (6,))
    shape = [2, 3]
    assert reshape.infer([x], {"shape": shape}) == TensorType(dtypes.f32, (2, 3))
    shape[:] = [3, 2]  # the same list object, changed: a new question
    assert reshape.infer([x], {"shape": shape}) == TensorType(dtypes.f32, (3, 2))
    assert reshape.infer([x], {"shape": (3, 2)}) == TensorType(dtypes.f32, (3, 2))
    with pytest.raises(ShapeError):
        reshape.infer([x], {"shape": [4, 2]})


def test_equal_values_of_other_types_are_other_questions():
    total = ir.get_op("sum")
    x = TensorType(dtypes.f32, (2, 3))
    assert total.infer([x], {"axes": [1], "keepdim": False}).shape == (2,)
    with pytest.raises(AxisError, match="axis must be an int"):  # True == 1, but not an axis
        total.infer([x], {"axes": [True], "keepdim": False})


def test_errors_are_not_remembered():
    add = ir.get_op("add")
    a, b = TensorType(dtypes.f32, (2,)), TensorType(dtypes.f32, (3,))
    for _ in range(2):
        with pytest.raises(ShapeError, match="cannot be broadcast"):
            add.infer([a, b], {})
    assert add.infer([a, a], {}) == a


def test_long_and_nested_list_attributes():
    const = ir.get_op("const")
    values = [float(i) for i in range(100)]  # too long to remember: checked every time
    assert const.infer([], {"value": values, "dtype": dtypes.f32, "shape": [100]}).shape == (100,)
    values[7] = 1e300
    assert const.infer([], {"value": values, "dtype": dtypes.f32, "shape": [100]}).shape == (100,)
    values[7] = 2**70
    with pytest.raises(ShapeError, match="does not fit dtype i64"):
        const.infer([], {"value": values, "dtype": dtypes.i64, "shape": [100]})
    nested = [[1, 2], [3, 4]]  # short: remembered by value
    assert const.infer([], {"value": nested, "dtype": dtypes.u8, "shape": [2, 2]}).shape == (2, 2)
    nested[1][1] = 300
    with pytest.raises(ShapeError, match="does not fit dtype u8"):
        const.infer([], {"value": nested, "dtype": dtypes.u8, "shape": [2, 2]})


def test_eager_ops_with_list_attributes():
    x = graphc.arange(6.0).reshape(2, 3)
    assert x.permute(1, 0).tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    assert x.permute([1, 0]).shape == (3, 2)
    assert x.sum([0, 1]).item() == 15.0
    assert x.sum((1,)).tolist() == [3.0, 12.0]


# -- Tensor.ir_type ----------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(), (0,), (2, 3), (1, 0, 4)])
def test_ir_type_is_the_checked_type(shape):
    for dtype in (dtypes.f32, dtypes.bf16, dtypes.i8, dtypes.bool_):
        t = graphc.zeros(*shape, dtype=dtype)
        assert t.ir_type == TensorType(dtype, shape)
        assert type(t.ir_type.shape) is tuple and all(type(d) is int for d in t.ir_type.shape)


def test_ir_type_follows_in_place_changes():
    x = graphc.ones(2, 3)
    y = x.data
    x.add_(1)
    x.unsqueeze_(0)
    assert x.ir_type == TensorType(dtypes.f32, (1, 2, 3))
    assert y.ir_type == TensorType(dtypes.f32, (1, 2, 3))  # .data reads its base's array
    assert x.dtype == dtypes.f32 and x.shape == (1, 2, 3)


# -- Python numbers next to tensors ---------------------------------------------------------
NUMBERS = [0, 1, -7, 127, 2**40, True, False, 0.5, -0.0, 1e10, 1e300, float("inf"),
           float("nan"), np.float64(2.5)]


@pytest.mark.parametrize("dtype", [dtypes.f32, dtypes.f64, dtypes.f16, dtypes.bf16, dtypes.i8,
                                   dtypes.u8, dtypes.i64, dtypes.bool_])
def test_numbers_as_the_const_op_makes_them(dtype):
    like = graphc.zeros(2, dtype=dtype)
    for value in NUMBERS:
        try:
            expected = apply("const", [], value=value, dtype=scalar_dtype(value, dtype),
                             shape=[])
        except ShapeError as error:
            with pytest.raises(ShapeError) as caught:
                scalar_like(value, like)
            # scalar_like's own range check may speak first: it must then name the value
            assert str(caught.value) == str(error) or str(value) in str(caught.value)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # (NumPy's overflow warnings stay quiet)
            got = scalar_like(value, like)
        assert got.dtype == expected.dtype and got.shape == ()
        assert got.numpy().tobytes() == expected.numpy().tobytes()
        assert not got.requires_grad and got.grad_fn is None


def test_a_number_too_large_for_any_float():
    like = graphc.zeros(2)
    with pytest.raises(ShapeError, match="beyond the range of a float64"):
        like + 2**2000
    with pytest.raises(ShapeError, match="does not fit the int8 tensor"):
        graphc.zeros(2, dtype=dtypes.i8) + 300


def test_numbers_in_eager_compiled_and_profiled_code_agree():
    x = graphc.tensor([1.0, -2.0, 3.0], requires_grad=True)

    def f(t):
        return ((t * 1.5 + 2) ** 2 - True).sum()

    eager = f(x)
    eager.backward()
    compiled = graphc.compile(f)(x.detach())
    with graphc.profiler.profile() as prof:
        profiled = f(x.detach())
    assert eager.item() == compiled.item() == profiled.item()
    assert x.grad.tolist() == [2 * 1.5 * (1.5 * v + 2) for v in (1.0, -2.0, 3.0)]
    assert any("const" in e.key for e in prof.key_averages())  # the profiler still sees it


# -- dispatch.apply's fast path ----------------------------------------------------------------
def _forward_backward(x, w):
    """Ops of several kinds (matmul, elementwise with a number, reductions, a float error:
    log of a negative sum) and their gradients."""
    x, w = x.detach().requires_grad_(), w.detach().requires_grad_()
    y = graphc.nn.functional.linear(x, w).relu() * 2.0
    loss = (y.sum(1) / 3).sum() + graphc.sqrt(x.sum() - 100.0)
    loss.backward()
    return [loss.detach(), x.grad, w.grad]


def _same(a, b):
    for s, t in zip(a, b):
        assert s.dtype == t.dtype and s.shape == t.shape
        assert s.numpy().tobytes() == t.numpy().tobytes()


@pytest.fixture
def operands():
    graphc.manual_seed(0)
    return graphc.randn(4, 5), graphc.randn(3, 5)


def test_results_agree_under_the_profiler(operands):
    plain = _forward_backward(*operands)
    assert np.isnan(plain[0].item())  # (sqrt of a negative number: nan, quietly)
    with graphc.profiler.profile() as prof:
        profiled = _forward_backward(*operands)
    _same(plain, profiled)
    keys = {e.key for e in prof.key_averages()}
    assert {"eager::matmul", "eager::relu", "eager::sqrt", "eager::sum"} <= keys  # timed: the
    # general path ran


def test_results_agree_in_anomaly_mode(operands):
    plain = _forward_backward(*operands)
    with graphc.autograd.detect_anomaly(check_nan=False):
        _same(plain, _forward_backward(*operands))
    with graphc.autograd.detect_anomaly():  # (sqrt(-s)'s nan gradient)
        with pytest.raises(RuntimeError, match="returned nan values"):
            _forward_backward(*operands)


def test_results_agree_under_autocast(operands):
    x, w = operands
    with graphc.autocast("cpu"):
        auto = graphc.nn.functional.linear(x, w).relu() * 2.0
    by_hand = graphc.nn.functional.linear(x.bfloat16(), w.bfloat16()).relu() * 2.0
    assert auto.dtype == dtypes.bf16
    _same([auto], [by_hand])


def test_a_trace_records_instead_of_computing(operands):
    x, w = operands
    graph = graphc.trace(lambda a, b: graphc.nn.functional.linear(a, b).relu() * 2.0, x, w)
    assert [n.op for n in graph.nodes if n.op in ("matmul", "relu", "mul")] == \
        ["matmul", "relu", "mul"]
    compiled = graphc.compile(lambda a, b: (graphc.nn.functional.linear(a, b).relu() * 2.0)
                              .sum(1) / 3, backend="interpreter")
    eager = (graphc.nn.functional.linear(x, w).relu() * 2.0).sum(1) / 3
    _same([compiled(x, w)], [eager])


def test_remembered_types_follow_dtype_shape_attributes_and_default_dtype():
    total = ir.get_op("sum")
    f32, f64, ints = np.zeros((2, 3), np.float32), np.zeros((2, 3)), np.zeros((2, 3), np.int8)
    for _ in range(2):  # (the second round answers from what the first remembered)
        assert total.infer_arrays([f32], {"axes": [1], "keepdim": False}) == \
            TensorType(dtypes.f32, (2,))
        assert total.infer_arrays([f32], {"axes": [0], "keepdim": True}) == \
            TensorType(dtypes.f32, (1, 3))
        assert total.infer_arrays([f64], {"axes": [1], "keepdim": False}).dtype == dtypes.f64
        assert total.infer_arrays([ints], {"axes": [1], "keepdim": False}).dtype == dtypes.i64
        assert total.infer_arrays([f32.T], {"axes": [1], "keepdim": False}).shape == (3,)
        with pytest.raises(AxisError):  # (not remembered: raised each time)
            total.infer_arrays([f32], {"axes": [2], "keepdim": False})
    div = ir.get_op("div")
    a = np.array([1, 2])
    assert div.infer_arrays([a, a], {}).dtype == dtypes.f32
    graphc.set_default_dtype(graphc.float64)
    try:
        assert div.infer_arrays([a, a], {}).dtype == dtypes.f64
    finally:
        graphc.set_default_dtype(graphc.float32)
    assert div.infer_arrays([a, a], {}).dtype == dtypes.f32
    with pytest.raises(ShapeError, match="takes 2 operand"):  # arity checked, not remembered
        div.infer_arrays([a], {})


def test_float_errors_are_quiet_inside_ops_whatever_the_callers_numpy_state():
    before = np.geterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a NumPy RuntimeWarning would fail the test
        assert np.isnan(graphc.log(graphc.tensor(-1.0)).item())
        assert graphc.log(graphc.tensor(0.0)).item() == -np.inf
    with np.errstate(all="raise"):
        assert np.isnan(graphc.log(graphc.tensor(-1.0)).item())  # graphc's policy: IEEE values
        assert (graphc.tensor([1.0]) / 0.0).tolist() == [np.inf]
        assert np.geterr() == {"divide": "raise", "over": "raise", "under": "raise",
                               "invalid": "raise"}  # the caller's state, back
        with pytest.raises(FloatingPointError):
            np.log(np.float32(-1.0))
    with np.errstate(all="warn"):
        with pytest.raises(ShapeError):  # an op that raises puts the caller's state back too
            graphc.ones(2) + graphc.ones(3)
        assert np.geterr()["invalid"] == "warn"
    assert np.geterr() == before


def test_quiet_state_keeps_the_callers_buffer_size():
    from ir.evaluate import quiet_float_errors
    before = np.getbufsize()
    with np.errstate(all="raise"):
        np.setbufsize(16384)
        try:
            with quiet_float_errors():
                assert np.getbufsize() == 16384
                assert np.geterr()["invalid"] == "ignore"
            assert np.geterr()["invalid"] == "raise"
        finally:
            np.setbufsize(before)


def test_emitter_op_methods_are_made_once_for_every_emitter():
    from graphc.autograd import TensorEmitter
    from ir.emitter import Emitter, GraphEmitter
    graph = ir.Graph()
    value = graph.add_input("x", TensorType(dtypes.f32, (2,)))
    traced, eager = GraphEmitter(graph), TensorEmitter()
    assert traced.exp(value).producer.op == "exp"
    t = graphc.tensor([0.0, 1.0])
    assert eager.exp(t).numpy().tobytes() == np.exp(np.float32([0.0, 1.0])).tobytes()
    assert "exp" in vars(Emitter)  # kept on the base class: one function for both
    assert eager.shape(t) == t.ir_type.shape and eager.dtype(t) == t.ir_type.dtype
    with pytest.raises(AttributeError):
        traced.no_such_op  # noqa: B018
    assert "no_such_op" not in vars(Emitter)
