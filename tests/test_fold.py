"""The ``fold`` pass: constants computed now hold exactly the bits the interpreter computes.

More cases, as IR in and IR out, are the golden files ``tests/golden/fold_*.gir``.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc
import ir
import passes
from backends.interpreter import ExecutionError, InterpretedGraph
from passes.constants import same_bits

SPECIAL_F32 = [0.0, -0.0, 1.5, -2.25, np.inf, -np.inf, np.nan, 1e-45, -1e-40, 3.4e38, 1e-30]


def fold(graph: ir.Graph, pipeline: str = "fold") -> ir.Graph:
    return passes.PassManager(pipeline, verify_each=True).run(graph)


def constant_graph(op: str, operands: list[np.ndarray], attrs: dict | None = None) -> ir.Graph:
    """``op`` applied to const nodes holding ``operands`` (written element by element)."""
    g = ir.Graph("f")
    values = [g.add_node("const", [], {"value": a.tolist(), "dtype": ir.dtypes.from_numpy(a.dtype),
                                       "shape": list(a.shape)}).output for a in operands]
    g.set_outputs([g.add_node(op, values, attrs).output])
    return g


@pytest.mark.parametrize("op", ["exp", "log", "sqrt", "tanh", "sigmoid", "neg", "abs", "sign",
                                "reciprocal", "erf", "relu"])
def test_folded_unary_ops_are_bit_identical_to_run_time_on_special_values(op):
    x = np.array(SPECIAL_F32, np.float32)
    graph = constant_graph(op, [x])
    at_run_time = InterpretedGraph(graph)()[0]
    folded = fold(graph)
    assert [n.op for n in folded.nodes] == ["const"]
    assert same_bits(InterpretedGraph(folded)()[0], at_run_time)
    # and through the text form, up to the sign of NaN (the printer writes every NaN `nan`)
    reparsed = InterpretedGraph(ir.parse(ir.to_text(folded)))()[0]
    nan = np.isnan(at_run_time)
    assert np.array_equal(np.isnan(reparsed), nan)
    assert same_bits(np.where(nan, 0, reparsed), np.where(nan, 0, at_run_time))


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq"])
def test_folded_binary_ops_are_bit_identical_to_run_time(op):
    x = np.array(SPECIAL_F32, np.float32)
    y = np.array(SPECIAL_F32[::-1], np.float64)[:, None]  # promotes and broadcasts
    graph = constant_graph(op, [x, y])
    at_run_time = InterpretedGraph(graph)()[0]
    assert same_bits(InterpretedGraph(fold(graph))()[0], at_run_time)


def test_negative_zero_survives_the_text_round_trip_of_a_folded_constant():
    for dtype in (np.float32, np.float64):
        graph = constant_graph("neg", [np.array([0.0, -1.0, 0.0], dtype)])
        text = ir.to_text(fold(graph))
        assert "[-0.0,1.0,-0.0]" in text
        again = InterpretedGraph(ir.parse(text))()[0]
        assert same_bits(again, np.array([-0.0, 1.0, -0.0], dtype))


def test_folding_a_transpose_keeps_the_bits_of_a_later_float32_sum():
    """A folded transpose is stored row-major, the unfolded one was a strided view; float32
    sums add in an order that follows memory layout, so the interpreter must not let layout
    leak into results."""
    data = np.random.default_rng(0).standard_normal((64, 300)).astype(np.float32)
    g = ir.Graph("f")
    c = g.add_node("const", [], {"value": data.tolist(), "dtype": ir.f32,
                                 "shape": [64, 300]}).output
    t = g.add_node("transpose", [c], {"perm": [1, 0]}).output
    x = g.add_input("x", ir.TensorType(ir.f32, (300, 64)))
    g.set_outputs([g.add_node("sum", [g.add_node("mul", [t, x]).output], {"axes": [0]}).output])
    ones = np.ones((300, 64), np.float32)
    before = InterpretedGraph(g)(ones)[0]
    folded = fold(g, "fold{max-elements=20000}")
    assert "transpose" not in [n.op for n in folded.nodes]
    assert same_bits(InterpretedGraph(folded)(ones)[0], before)


def test_a_gather_with_an_out_of_range_constant_index_is_left_to_fail_at_run_time():
    graph = constant_graph("gather", [np.array([1.0, 2.0], np.float32), np.array([5])],
                           {"axis": 0})
    folded = fold(graph)
    assert [n.op for n in folded.nodes] == ["const", "const", "gather"]
    with pytest.raises(ExecutionError, match="gather failed.*index 5 is out of range"):
        InterpretedGraph(folded)()


def test_max_elements_bounds_what_is_folded():
    graph = constant_graph("broadcast_to", [np.array([1.0, 2.0], np.float32)], {"shape": [3, 2]})
    assert "broadcast_to" in [n.op for n in fold(graph, "fold{max-elements=5}").nodes]
    graph = constant_graph("broadcast_to", [np.array([1.0, 2.0], np.float32)], {"shape": [3, 2]})
    assert [n.op for n in fold(graph, "fold{max-elements=6}").nodes] == ["const"]
    assert str(passes.parse_pipeline("fold{max-elements=6}")) == "fold{max-elements=6}"


def test_compiled_function_folds_tensors_it_builds_from_constants():
    def f(x):
        return x * graphc.ones(3).exp()

    x = graphc.from_numpy(np.array([-0.0, 2.0, np.nan], np.float32))
    compiled = graphc.compile(f)
    assert [n.op for n in compiled.graph_for(x).nodes] == ["const", "mul"]
    expected = x.numpy() * np.exp(np.ones(3, np.float32))
    assert same_bits(compiled(x).numpy(), expected)
    assert same_bits(f(x).numpy(), expected)
