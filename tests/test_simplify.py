"""The ``simplify`` pass: only identities exact under IEEE 754 and PyTorch's dtype rules.

More cases, as IR in and IR out, are the golden files ``tests/golden/simplify_*.gir``.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import graphc
import ir
import passes
from backends.interpreter import InterpretedGraph
from passes.constants import same_bits
from passes.simplify import LOSSLESS_CASTS

F32_SPECIALS = np.array([0.0, -0.0, 1.0, -3.5, np.inf, -np.inf, np.nan, 1e-45, -1e-40, 3.4e38],
                        np.float32)
I32_SPECIALS = np.array([0, 1, -1, 2**31 - 1, -2**31, 2**24 + 1], np.int32)


def simplify(graph: ir.Graph) -> ir.Graph:
    return passes.PassManager("simplify", verify_each=True).run(graph)


def unary_graph(dtype, build) -> ir.Graph:
    """``build(graph, x)`` returns the output value; x has F32/I32_SPECIALS' shape."""
    g = ir.Graph("f")
    x = g.add_input("x", ir.TensorType(dtype, (10 if dtype == ir.f32 else 6,)))
    g.set_outputs([build(g, x)])
    return g


def node(g, op, inputs, **attrs):
    return g.add_node(op, inputs, attrs).output


def const(g, value, dtype, shape=()):
    return node(g, "const", [], value=value, dtype=dtype, shape=list(shape))


REWRITES = {
    "x * 1": (ir.f32, lambda g, x: node(g, "mul", [x, const(g, 1.0, ir.f32)])),
    "1 * x (i64 one)": (ir.f32, lambda g, x: node(g, "mul", [const(g, 1, ir.i64), x])),
    "x / 1": (ir.f32, lambda g, x: node(g, "div", [x, const(g, 1.0, ir.f64)])),
    "x + -0.0": (ir.f32, lambda g, x: node(g, "add", [x, const(g, -0.0, ir.f32)])),
    "x - 0.0": (ir.f32, lambda g, x: node(g, "sub", [x, const(g, 0.0, ir.f32)])),
    "i + 0": (ir.i32, lambda g, x: node(g, "add", [const(g, 0, ir.i32), x])),
    "i - 0": (ir.i32, lambda g, x: node(g, "sub", [x, const(g, 0, ir.i32)])),
    "i * 1": (ir.i32, lambda g, x: node(g, "mul", [x, const(g, 1, ir.i32)])),
    "neg neg x": (ir.f32, lambda g, x: node(g, "neg", [node(g, "neg", [x])])),
    "neg neg i": (ir.i32, lambda g, x: node(g, "neg", [node(g, "neg", [x])])),
    "f32 -> f64 -> f32": (ir.f32, lambda g, x: node(g, "cast", [node(g, "cast", [x],
                                                                      dtype=ir.f64)],
                                                    dtype=ir.f32)),
    "i32 -> f64 -> i32": (ir.i32, lambda g, x: node(g, "cast", [node(g, "cast", [x],
                                                                      dtype=ir.f64)],
                                                    dtype=ir.i32)),
    "reshape twice": (ir.f32, lambda g, x: node(g, "reshape", [node(g, "reshape", [x],
                                                                     shape=[2, 5])],
                                                shape=[10])),
}


@pytest.mark.parametrize("case", sorted(REWRITES))
def test_each_rewrite_returns_x_with_identical_bits_on_special_values(case):
    dtype, build = REWRITES[case]
    graph = unary_graph(dtype, build)
    x = F32_SPECIALS if dtype == ir.f32 else I32_SPECIALS
    before = InterpretedGraph(graph)(x)[0]
    result = simplify(graph)
    assert result.outputs[0] is result.inputs[0] and len(result.nodes) == 0
    assert same_bits(before, x)  # the identity holds at run time, bit for bit


INEXACT = {
    "x + 0.0": lambda g, x: node(g, "add", [x, const(g, 0.0, ir.f32)]),  # -0.0 + 0.0 = +0.0
    "x - -0.0": lambda g, x: node(g, "sub", [x, const(g, -0.0, ir.f32)]),
    "x * 0": lambda g, x: node(g, "mul", [x, const(g, 0.0, ir.f32)]),  # nan, inf * 0 = nan
    "exp log x": lambda g, x: node(g, "exp", [node(g, "log", [x])]),
    "f64 one rounding to f32": lambda g, x: node(g, "mul", [
        x, const(g, [1.0] * 9 + [1.0000001], ir.f32, (10,))]),
}


@pytest.mark.parametrize("case", sorted(INEXACT))
def test_rewrites_that_are_not_exact_are_not_applied(case):
    graph = unary_graph(ir.f32, INEXACT[case])
    before = InterpretedGraph(graph)(F32_SPECIALS)[0]
    assert not same_bits(before, F32_SPECIALS)  # the "identity" really changes bits here
    result = simplify(graph)
    assert result.outputs[0] is not result.inputs[0]


def test_i32_through_f32_and_back_is_not_simplified():
    graph = unary_graph(ir.i32, lambda g, x: node(g, "cast", [node(g, "cast", [x],
                                                                     dtype=ir.f32)],
                                                  dtype=ir.i32))
    assert InterpretedGraph(graph)(I32_SPECIALS)[0][-1] == 2**24  # 2**24 + 1 is lost
    assert [n.op for n in simplify(graph).nodes] == ["cast", "cast"]


DTYPES = [ir.bool_, ir.i32, ir.i64, ir.f32, ir.f64]
EXTREMES = {
    "bool": np.array([False, True]),
    "i32": np.array([0, 1, -1, 2**24 + 1, 2**31 - 1, -2**31], np.int32),
    "i64": np.array([0, 1, -1, 2**53 + 1, 2**63 - 1, -2**63], np.int64),
    "f32": np.array([0.0, -0.0, 0.1, 1e-45, 3.4e38, 0.5, np.inf], np.float32),
    "f64": np.array([0.0, -0.0, 0.1, 5e-324, 1.7e308, 0.5, np.inf], np.float64),
}


@pytest.mark.parametrize("source,wide", list(itertools.permutations(DTYPES, 2)),
                         ids=lambda d: d.name)
def test_lossless_casts_are_exactly_the_conversions_that_round_trip(source, wide):
    values = EXTREMES[source.name]
    with np.errstate(all="ignore"):  # out-of-range float -> int conversions are the point
        back = values.astype(wide.numpy).astype(source.numpy)
    assert ((source, wide) in LOSSLESS_CASTS) == same_bits(back, values)


def test_transposes_compose_into_one():
    g = ir.parse("""func @f(%x: f32[2,3,4]) -> (f32[4,2,3]) {
      %0: f32[3,2,4] = transpose %x {perm=[1,0,2]}
      %1: f32[4,3,2] = transpose %0 {perm=[2,0,1]}
      %2: f32[4,2,3] = transpose %1 {perm=[0,2,1]}
      return %2
    }""")
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    expected = x.transpose(1, 0, 2).transpose(2, 0, 1).transpose(0, 2, 1)  # NumPy, step by step
    result = simplify(g)
    assert [(n.op, n.attrs["perm"]) for n in result.nodes] == [("transpose", [2, 0, 1])]
    np.testing.assert_array_equal(InterpretedGraph(result)(x)[0], expected)


def test_compiled_x_plus_zero_keeps_pytorchs_signed_zero_and_x_minus_zero_is_dropped():
    def f(x):
        return x + 0.0, x - 0.0, x * 1.0

    x = graphc.from_numpy(np.array([-0.0, 0.0, 2.0, np.inf], np.float32))
    compiled = graphc.compile(f)
    graph = compiled.graph_for(x)
    assert [n.op for n in graph.nodes] == ["const", "add"]
    assert graph.outputs[1] is graph.inputs[0] and graph.outputs[2] is graph.inputs[0]
    # PyTorch: -0.0 + 0.0 = +0.0, -0.0 - 0.0 = -0.0, -0.0 * 1.0 = -0.0
    expected = (np.array([0.0, 0.0, 2.0, np.inf], np.float32),
                np.array([-0.0, 0.0, 2.0, np.inf], np.float32),
                np.array([-0.0, 0.0, 2.0, np.inf], np.float32))
    for mode in (f(x), compiled(x)):
        for got, want in zip(mode, expected):
            assert same_bits(got.numpy(), want)
