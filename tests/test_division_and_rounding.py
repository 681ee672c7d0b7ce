"""Division with rounding modes, remainders and rounding, as PyTorch defines them, eagerly and
compiled on every CPU backend.

Expected values are computed here with Python ints (exact, any width) and Python floats
(``math.fmod``, ``math.floor``), or written out from PyTorch's documented semantics:

* ``a // b`` and ``div(rounding_mode='floor')`` round down, ``div(rounding_mode='trunc')``
  toward zero; ``%``/``remainder`` has the sign of the divisor, ``fmod`` of the dividend;
* integer division by zero raises PyTorch's "ZeroDivisionError" as a RuntimeError, eagerly and
  from compiled code (the kernels keep integer division out of loop nests, so the check runs);
* ``INT_MIN // -1`` wraps to INT_MIN and ``INT_MIN % -1`` is 0 (what PyTorch gives on CPU);
* floats: ``fmod(x, 0.0)`` and ``remainder(x, 0.0)`` are NaN, ``x // 0.0`` is ``x / 0.0``, a
  zero remainder keeps fmod's sign (``remainder(-0.0, 1.0)`` and ``remainder(-2.0, 1.0)`` are
  -0.0), ``remainder(-1.0, inf)`` is inf;
* ``floor ceil round trunc`` return integer tensors unchanged; ``round`` is half to even.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc
from conftest import assert_close

MODES = ["eager", "interpreter", "llvm", "numba"]
I64_MIN, I64_MAX = -2**63, 2**63 - 1
I32_MIN = -2**31


def run(mode, fn, *args):
    if mode == "eager":
        return fn(*args)
    return graphc.compile(fn, backend=mode)(*args)


def bits(values) -> list[str]:
    """Floats as their exact hex form (keeps the sign of zero; NaN as 'nan')."""
    return ["nan" if math.isnan(v) else float(v).hex() for v in values]


def wrap64(value: int) -> int:
    return (value + 2**63) % 2**64 - 2**63


def floor_div(a: int, b: int) -> int:
    return wrap64(a // b)  # Python's // rounds down; only INT_MIN // -1 leaves the range


def trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return wrap64(q if (a >= 0) == (b > 0) else -q)


def c_fmod(a: int, b: int) -> int:
    return a - b * (abs(a) // abs(b) * (1 if (a >= 0) == (b > 0) else -1))


A = [7, -7, 7, -7, 0, 6, -6, I64_MIN, I64_MAX, I64_MIN, 5]
B = [2, 2, -2, -2, 3, -3, 4, -1, -1, 3, I64_MIN]


# -- integers ------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_integer_floor_division_rounds_down_and_remainder_takes_the_divisors_sign(mode):
    a, b = graphc.tensor(A), graphc.tensor(B)
    q, r = run(mode, lambda x, y: (x // y, x % y), a, b)
    assert q.dtype == r.dtype == graphc.int64
    assert q.tolist() == [floor_div(x, y) for x, y in zip(A, B)]
    assert r.tolist() == [x % y for x, y in zip(A, B)]  # INT_MIN % -1 is 0


@pytest.mark.parametrize("mode", MODES)
def test_integer_fmod_and_trunc_division_round_toward_zero(mode):
    a, b = graphc.tensor(A), graphc.tensor(B)
    f, t = run(mode, lambda x, y: (graphc.fmod(x, y), graphc.div(x, y, rounding_mode="trunc")),
               a, b)
    assert f.tolist() == [c_fmod(x, y) for x, y in zip(A, B)]
    assert t.tolist() == [trunc_div(x, y) for x, y in zip(A, B)]  # INT_MIN / -1 wraps


@pytest.mark.parametrize("mode", MODES)
def test_int32_division_keeps_int32_and_a_python_int_divisor_keeps_the_dtype(mode):
    a = graphc.tensor([I32_MIN, -9, 9], dtype=graphc.int32)
    q, r, t = run(mode, lambda x: (x // -1, x % 4, graphc.div(x, -2, rounding_mode="trunc")), a)
    assert (q.dtype, r.dtype, t.dtype) == (graphc.int32,) * 3
    assert q.tolist() == [I32_MIN, 9, -9]  # I32_MIN // -1 wraps around in int32
    assert r.tolist() == [0, 3, 1]
    assert t.tolist() == [2**30, 4, -4]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", ["//", "%", "fmod", "trunc", "floor"])
def test_integer_division_by_zero_raises_a_runtime_error(mode, op):
    fn = {"//": lambda x, y: x // y, "%": lambda x, y: x % y,
          "fmod": lambda x, y: graphc.fmod(x, y),
          "trunc": lambda x, y: graphc.div(x, y, rounding_mode="trunc"),
          "floor": lambda x, y: graphc.div(x, y, rounding_mode="floor")}[op]
    with pytest.raises(RuntimeError, match="ZeroDivisionError") as caught:
        run(mode, fn, graphc.tensor([4, 5]), graphc.tensor([2, 0]))
    assert isinstance(caught.value, graphc.IntegerDivisionByZero)


@pytest.mark.parametrize("backend", ["llvm", "numba", "interpreter"])
def test_compiled_integer_division_inside_a_fused_step_checks_its_divisor(backend):
    """The division sits between elementwise ops the fuse pass groups into one kernel: the
    integer division still runs checked, and the float work around it is unchanged."""
    @graphc.compile(backend=backend)
    def step(x, n, d):
        return (n + 1) // d * 2, graphc.exp(x) % 1.5

    x = graphc.tensor([0.5, 1.0])
    q, r = step(x, graphc.tensor([6, -8]), graphc.tensor([4, 3]))
    assert q.tolist() == [2, -6]
    assert_close(r, [math.fmod(math.exp(0.5), 1.5), math.fmod(math.e, 1.5)])
    with pytest.raises(graphc.IntegerDivisionByZero):
        step(x, graphc.tensor([6, -8]), graphc.tensor([0, 3]))


def test_division_refuses_bool_tensors_naming_the_op():
    t = graphc.tensor([True, False])
    for fn, name in [(lambda: t // t, "floor_divide"), (lambda: t % t, "remainder"),
                     (lambda: graphc.fmod(t, t), "fmod")]:
        with pytest.raises(RuntimeError, match=f"{name}: operand 0 has dtype bool"):
            fn()


# -- floats ---------------------------------------------------------------------------------
INF, NAN = math.inf, math.nan
FA = [7.5, -7.5, 7.5, -7.5, -0.0, 0.0, -2.0, -1.0, 1.0, 1.0, 0.5, -0.5, INF, NAN, 3.0, -0.0]
FB = [2.0, 2.0, -2.0, -2.0, 1.0, -1.0, 1.0, INF, 0.0, -0.0, INF, INF, 2.0, 1.0, NAN, -1.0]


def torch_remainder(a: float, b: float) -> float:
    """PyTorch's CPU kernel: fmod, then + b where a nonzero result's sign differs from b's
    (a zero result keeps fmod's sign, unlike Python's %)."""
    if b == 0 or math.isinf(a) or math.isnan(a) or math.isnan(b):
        return NAN  # where C's fmod is NaN (math.fmod raises instead)
    mod = math.fmod(a, b)
    return mod + b if mod != 0 and (b < 0) != (mod < 0) else mod


def torch_floor_divide(a: float, b: float) -> float:
    """Python's float // is the same fmod-based formula as PyTorch's; by zero, IEEE division."""
    if b == 0:
        with np.errstate(all="ignore"):
            return float(np.float64(a) / np.float64(b))
    return a // b


@pytest.mark.parametrize("mode", MODES)
def test_float_remainder_and_fmod_on_signed_zeros_infinities_and_nan(mode):
    a, b = graphc.tensor(FA), graphc.tensor(FB)
    r, f = run(mode, lambda x, y: (x % y, graphc.fmod(x, y)), a, b)
    assert bits(r.tolist()) == bits([torch_remainder(x, y) for x, y in zip(FA, FB)])
    want_fmod = [NAN if y == 0 or math.isinf(x) or math.isnan(x) or math.isnan(y)
                 else math.fmod(x, y) for x, y in zip(FA, FB)]
    assert bits(f.tolist()) == bits(want_fmod)


def test_float_remainder_edge_values_as_pytorch_gives_them():
    r = graphc.remainder(graphc.tensor([-0.0, -2.0, -1.0, 1.0, 5.0]),
                         graphc.tensor([1.0, 1.0, INF, 0.0, -INF]))
    assert bits(r.tolist()) == bits([-0.0, -0.0, INF, NAN, -INF])


@pytest.mark.parametrize("mode", MODES)
def test_float_floor_division_rounds_down_and_divides_by_zero_as_ieee(mode):
    a, b = graphc.tensor(FA), graphc.tensor(FB)
    q = run(mode, lambda x, y: x // y, a, b)
    assert bits(q.tolist()) == bits([torch_floor_divide(x, y) for x, y in zip(FA, FB)])
    t = run(mode, lambda x, y: graphc.div(x, y, rounding_mode="trunc"), a, b)
    with np.errstate(all="ignore"):
        want = np.trunc(np.array(FA) / np.array(FB))
    assert bits(t.tolist()) == bits(want.tolist())


@pytest.mark.parametrize("mode", MODES)
def test_mixed_int_and_float_operands_divide_in_float(mode):
    n = graphc.tensor([5, -5])
    q, r, rq, rr = run(mode, lambda x: (x // 2.5, x % 1.5, 7 // x, 7 % x), n)
    assert q.dtype == r.dtype == graphc.float32 and rq.dtype == rr.dtype == graphc.int64
    assert q.tolist() == [2.0, -2.0] and r.tolist() == [0.5, 1.0]
    assert rq.tolist() == [1, -2] and rr.tolist() == [2, -3]


def test_in_place_floor_division_and_remainder_and_methods():
    x = graphc.tensor([7, -7])
    x //= 2
    assert x.tolist() == [3, -4]
    x %= 3
    assert x.tolist() == [0, 2]
    y = graphc.tensor([7.5, -7.5])
    assert y.floor_divide(2).tolist() == [3.0, -4.0]
    assert y.remainder(2).tolist() == [1.5, 0.5]
    assert y.fmod(2).tolist() == [1.5, -1.5]
    assert y.div(2, rounding_mode="floor").tolist() == [3.0, -4.0]
    assert y.true_divide(2).tolist() == [3.75, -3.75]
    y.div_(2, rounding_mode="trunc")
    assert y.tolist() == [3.0, -3.0]


def test_div_refuses_an_unknown_rounding_mode_naming_the_choices():
    with pytest.raises(RuntimeError, match="rounding_mode must be None, 'trunc' or 'floor'"):
        graphc.div(graphc.tensor([1.0]), 2.0, rounding_mode="round")


def test_true_division_of_integers_gives_floats():
    assert graphc.div(graphc.tensor([7]), graphc.tensor([2])).tolist() == [3.5]
    assert graphc.true_divide(graphc.tensor([7]), 2).dtype == graphc.float32


# -- gradients -----------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_remainder_and_fmod_gradients_are_one_and_minus_the_rounded_quotient(mode):
    def grads(a, b):
        a, b = a.detach().requires_grad_(), b.detach().requires_grad_()
        (graphc.remainder(a, b) * 1.0 + graphc.fmod(a, b) * 10.0).sum().backward()
        return a.grad, b.grad

    fn = grads if mode == "eager" else graphc.compile(grads)
    av, bv = [7.5, -7.5, 2.0], [2.0, 2.0, -0.75]
    ga, gb = fn(graphc.tensor(av), graphc.tensor(bv))
    assert ga.tolist() == [11.0, 11.0, 11.0]
    assert gb.tolist() == [-(math.floor(x / y) + 10 * math.trunc(x / y)) for x, y in zip(av, bv)]


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_rounding_and_division_with_a_rounding_mode_have_zero_gradients_frac_one(mode):
    def grads(x, y):
        x, y = x.detach().requires_grad_(), y.detach().requires_grad_()
        out = (graphc.floor(x) + graphc.ceil(x) + graphc.round(x) + graphc.trunc(x)
               + graphc.round(x, decimals=1) + 3.0 * graphc.frac(x) + x // y
               + graphc.div(x, y, rounding_mode="trunc"))
        out.sum().backward()
        return x.grad, y.grad

    fn = grads if mode == "eager" else graphc.compile(grads)
    gx, gy = fn(graphc.tensor([1.3, -2.7]), graphc.tensor([0.7, 0.9]))
    assert gx.tolist() == [3.0, 3.0] and gy.tolist() == [0.0, 0.0]


# -- rounding -------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_round_is_half_to_even_and_keeps_the_sign_of_zero(mode):
    values = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, -0.2, 1e8 + 1]
    r = run(mode, graphc.round, graphc.tensor(values, dtype=graphc.float64))
    assert bits(r.tolist()) == bits([0.0, 2.0, 2.0, -0.0, -2.0, -2.0, 0.0, -0.0, 1e8 + 1])


@pytest.mark.parametrize("mode", MODES)
def test_round_to_decimals_scales_as_pytorch(mode):
    x = graphc.tensor([1.2345, -0.125, 1250.0, 1350.0], dtype=graphc.float64)
    two, minus_two = run(mode, lambda t: (graphc.round(t, decimals=2), t.round(decimals=-2)), x)
    # rint(x * 100) / 100 and rint(x / 100) * 100, ties to even
    assert two.tolist() == [1.23, -0.12, 1250.0, 1350.0]
    assert minus_two.tolist() == [0.0, -0.0, 1200.0, 1400.0]


@pytest.mark.parametrize("mode", MODES)
def test_floor_ceil_round_trunc_of_integers_return_them_unchanged(mode):
    for dtype in (graphc.int32, graphc.int64):
        x = graphc.tensor([-3, 0, 7], dtype=dtype)
        results = run(mode, lambda t: (graphc.floor(t), graphc.ceil(t), graphc.round(t),
                                       graphc.trunc(t), graphc.fix(t)), x)
        for r in results:
            assert r.dtype == dtype and r.tolist() == [-3, 0, 7]


@pytest.mark.parametrize("mode", MODES)
def test_floor_ceil_trunc_frac_of_floats(mode):
    values = [-2.5, -0.5, -0.0, 0.5, 2.5, INF, NAN]
    results = run(mode, lambda t: (t.floor(), t.ceil(), t.trunc(), t.frac()),
                  graphc.tensor(values))
    assert [bits(r.tolist()) for r in results] == [
        bits([-3.0, -1.0, -0.0, 0.0, 2.0, INF, NAN]),
        bits([-2.0, -0.0, -0.0, 1.0, 3.0, INF, NAN]),
        bits([-2.0, -0.0, -0.0, 0.0, 2.0, INF, NAN]),
        bits([-0.5, -0.5, 0.0, 0.5, 0.5, NAN, NAN])]  # -0.0 - -0.0 is +0.0


def test_frac_and_round_decimals_refuse_integers_and_rounding_refuses_bools():
    with pytest.raises(RuntimeError, match="frac: operand 0 has dtype i64; frac takes float"):
        graphc.frac(graphc.tensor([1]))
    with pytest.raises(RuntimeError, match="decimals=1 needs a float tensor"):
        graphc.round(graphc.tensor([1]), decimals=1)
    with pytest.raises(RuntimeError, match="floor: operand 0 has dtype bool"):
        graphc.floor(graphc.tensor([True]))
    with pytest.raises(RuntimeError, match="decimals must be an int"):
        graphc.round(graphc.tensor([1.0]), decimals=1.5)


def test_in_place_rounding_methods():
    x = graphc.tensor([1.5, -1.5])
    x.round_()
    assert x.tolist() == [2.0, -2.0]
    y = graphc.tensor([1.7, -1.7])
    y.floor_()
    assert y.tolist() == [1.0, -2.0]


@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_constant_integer_division_by_zero_is_left_to_raise_when_the_graph_runs(backend):
    """``fold`` evaluates constant nodes at compile time: a constant integer division by zero
    must neither crash the compiler nor vanish; it raises when the graph runs, as eagerly."""
    step = graphc.compile(lambda x: graphc.full((2,), 7) // graphc.zeros(2, dtype=graphc.int64)
                          + x, backend=backend)
    with pytest.raises(graphc.IntegerDivisionByZero):
        step(graphc.tensor([1, 2]))


def test_a_bool_tensor_divided_by_an_integer_tensor_takes_its_dtype():
    flags = graphc.tensor([True, False, True])
    small = graphc.tensor([3, -2, 5], dtype=graphc.int8)
    assert (flags // small).dtype == graphc.int8 and (flags % small).tolist() == [1, 0, 1]
    with pytest.raises(RuntimeError, match="dtype bool"):
        flags % True  # (a bool with a bool: refused, as PyTorch)
