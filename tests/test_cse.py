"""The ``cse`` pass: equal nodes merge, exactly and only when their results are the same bits.

More cases, as IR in and IR out, are the golden files ``tests/golden/cse_*.gir``.
"""
from __future__ import annotations

import math

import numpy as np

import graphc
import ir
import passes
from backends.interpreter import InterpretedGraph
from passes.cse import freeze


def cse(text: str) -> ir.Graph:
    return passes.PassManager("cse", verify_each=True).run(ir.parse(text))


def ops(graph: ir.Graph) -> list[str]:
    return [n.op for n in graph.nodes]


def test_attribute_keys_compare_by_type_and_bits():
    assert freeze(-0.0) != freeze(0.0)
    assert freeze(math.nan) == freeze(-math.nan)
    assert len({freeze(1), freeze(1.0), freeze(True)}) == 3
    assert freeze([1, [2.0]]) == freeze((1, (2.0,)))
    assert freeze(np.float32(0.5)) == freeze(0.5) and freeze(np.int64(3)) == freeze(3)


def test_maximum_of_floats_is_not_commuted_because_signed_zeros_differ():
    text = """func @f(%x: f32[2], %y: f32[2]) -> (f32[2], f32[2]) {
      %0: f32[2] = maximum %x, %y
      %1: f32[2] = maximum %y, %x
      return %0, %1
    }"""
    x, y = np.array([-0.0, 1.0], np.float32), np.array([0.0, 1.0], np.float32)
    graph = cse(text)
    assert ops(graph) == ["maximum", "maximum"]
    first, second = InterpretedGraph(graph)(x, y)
    # When the operands compare equal, maximum (NumPy's, graphc's reference) returns its
    # second operand, so the two orders differ in the sign of zero.
    assert not np.signbit(first[0]) and np.signbit(second[0])


def test_random_ops_merge_only_when_seed_and_every_attribute_match():
    text = """func @f(%seed: i64[]) -> (f32[8], f32[8], f32[8]) {
      %0: f32[8] = random_normal %seed {shape=[8], stream=3}
      %1: f32[8] = random_normal %seed {shape=[8], stream=3}
      %2: f32[8] = random_normal %seed {shape=[8], stream=4}
      return %0, %1, %2
    }"""
    seed = np.array(12345, np.int64)
    a, b, c = InterpretedGraph(ir.parse(text))(seed)
    np.testing.assert_array_equal(a, b)  # the same (seed, stream): the same numbers ...
    assert not np.array_equal(a, c)  # ... another stream: others
    graph = cse(text)
    assert ops(graph) == ["random_normal", "random_normal"]
    merged = InterpretedGraph(graph)(seed)
    for before, after in zip((a, b, c), merged):
        np.testing.assert_array_equal(before, after)


def test_nodes_differing_only_in_a_default_written_out_merge():
    graph = cse("""func @f(%x: f32[2,3]) -> (f32[3], f32[3]) {
      %0: f32[3] = sum %x {axes=[0]}
      %1: f32[3] = sum %x {axes=[0], keepdim=false}
      return %0, %1
    }""")
    assert ops(graph) == ["sum"] and graph.outputs[0] is graph.outputs[1]


class CountingList(list):
    """A list that counts how often it is walked."""

    walks = 0

    def __iter__(self):
        CountingList.walks += 1
        return super().__iter__()


def test_cse_runs_in_linear_time():
    """Each merge costs O(its uses): node list edits grow with the merges, and the graph's
    (many) outputs are walked a fixed number of times, not once per merge."""
    n = 500
    g = ir.Graph("f")
    value = g.add_input("x", ir.TensorType(ir.f32, (2,)))
    for _ in range(n):
        a = g.add_node("exp", [value]).output
        b = g.add_node("exp", [value]).output
        value = g.add_node("add", [b, a]).output
    g.outputs = CountingList([value] * 200)
    CountingList.walks, start = 0, g.nodes.work
    g = passes.run(g, "cse")
    assert len(g.nodes) == 2 * n
    assert g.nodes.work - start <= 2 * n
    assert CountingList.walks <= 3


def test_validation_names_outputs_of_multi_result_nodes():
    """The validator labels outputs as the text numbers them, fused results included."""
    from passes.validate import label_outputs
    graph = ir.parse("""func @f(%x: f32[3]) -> (f32[3], f32[3]) {
      %0, %1: f32[3], f32[3] = fused %x {
        (%a: f32[3]):
        %0: f32[3] = exp %a
        %1: f32[3] = neg %a
        yield %0, %1
      }
      return %1, %0
    }""")
    assert label_outputs(graph) == ["%1: f32[3]", "%0: f32[3]"]


def test_compiled_function_computes_a_repeated_subexpression_once():
    def f(x, y):
        return graphc.exp(x + y) * graphc.exp(y + x)

    rng = np.random.default_rng(0)
    x, y = (graphc.from_numpy(rng.standard_normal(5).astype(np.float32)) for _ in range(2))
    # the interpreter: its graph is not fused, and its exp is NumPy's, rounding as expected
    # below (the llvm backend's fast float32 exp may differ by an ulp, by design)
    compiled = graphc.compile(f, backend="interpreter")
    assert ops(compiled.graph_for(x, y)).count("exp") == 1
    expected = np.exp(x.numpy() + y.numpy()) ** 2  # float32 NumPy, the same roundings
    np.testing.assert_array_equal(compiled(x, y).numpy(), expected)
    np.testing.assert_array_equal(f(x, y).numpy(), expected)
