"""The ``fuse`` pass: grouping rules, convexity, acyclicity, and numbers unchanged.

The rules are in ``passes/fusion/grouping.py``'s docstring; ``tests/golden/fuse_*.gir`` show
whole outputs, ``tests/test_fusion_models.py`` checks graphs traced from real models.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_ir_text import DTYPES, Builder, identifiers, random_graphs

import ir
import passes
from backends.interpreter import ExecutionError, InterpretedGraph
from ir.errors import IntegerDivisionByZero
from passes import validate as validation
from passes.fusion import Fuse, find_groups, fuse
from passes.fusion.grouping import FusionOptions, quotient_cycle, quotient_order, role


def ops_of(groups):
    return [[n.op for n in group] for group in groups]


def fused_nodes(graph):
    return [n for n in graph.nodes if n.op == "fused"]


# -- roles -------------------------------------------------------------------------------------

@pytest.mark.parametrize("line, expected", [
    ("%1: f32[4,6] = exp %x", "pointwise"),
    ("%1: bool[4,6] = gt %x, %x", "pointwise"),
    ("%1: f64[4,6] = cast %x {dtype=f64}", "pointwise"),
    ("%1: f32[2,4,6] = broadcast_to %x {shape=[2,4,6]}", "pointwise"),
    ("%1: f32[4,1,6] = reshape %x {shape=[4,1,6]}", "pointwise"),  # only adds a size-1 dim
    ("%1: f32[6,4] = reshape %x {shape=[6,4]}", "boundary"),  # moves elements between axes
    ("%1: f32[6,4] = transpose %x {perm=[1,0]}", "boundary"),
    ("%1: f32[4] = sum %x {axes=[1]}", "reduction"),
    ("%1: i64[4] = argmax %x {axis=1}", "reduction"),
    ("%1: f32[4,4] = matmul %x, %0", "anchor"),
    ("%1: f32[] = const {value=1.0, dtype=f32, shape=[]}", "constant"),
])
def test_each_op_has_the_role_the_rules_give_it(line, expected):
    graph = ir.parse("func @f(%x: f32[4,6]) -> (f32[4,6]) {\n"
                     "  %0: f32[6,4] = transpose %x {perm=[1,0]}\n"
                     f"  {line}\n  return %x\n}}")
    assert role(graph.nodes[1]) == expected


# -- grouping rules ----------------------------------------------------------------------------

def test_an_elementwise_chain_with_broadcast_operands_is_one_group():
    g = ir.parse("""func @f(%x: f32[4,3], %b: f32[3], %s: f32[]) -> (f32[4,3]) {
      %0: f32[4,3] = add %x, %b
      %1: f32[4,3] = mul %0, %s
      %2: bool[4,3] = gt %1, %x
      %3: f32[4,3] = where %2, %1, %x
      %4: f64[4,3] = cast %3 {dtype=f64}
      %5: f32[4,3] = cast %4 {dtype=f32}
      return %5
    }""")
    assert ops_of(find_groups(g)) == [["add", "mul", "gt", "where", "cast", "cast"]]


def test_a_shared_constant_does_not_glue_unrelated_chains_together():
    g = ir.parse("""func @f(%x: f32[3], %y: f32[3]) -> (f32[3], f32[3]) {
      %0: f32[] = const {value=2.0, dtype=f32, shape=[]}
      %1: f32[3] = mul %x, %0
      %2: f32[3] = exp %1
      %3: f32[3] = mul %y, %0
      %4: f32[3] = exp %3
      return %2, %4
    }""")
    # two groups, each with a copy of the fill they share (a literal in its kernel), which
    # does not join them; the shared original is gone
    groups = find_groups(g)
    assert ops_of(groups) == [["const", "mul", "exp"], ["const", "mul", "exp"]]
    assert groups[0][0] is not groups[1][0]
    assert [n.op for n in g.nodes].count("const") == 2


def test_a_shared_fill_read_by_a_gemm_epilogue_comes_after_the_gemm():
    """A GEMM's fused body must start with the GEMM (its epilogue follows)."""
    g = ir.parse("""func @f(%x: f32[3,3], %w: f32[3,3], %y: f32[3,3]) -> (f32[3,3], f32[3,3]) {
      %0: f32[] = const {value=0.5, dtype=f32, shape=[]}
      %1: f32[3,3] = matmul %x, %w
      %2: f32[3,3] = mul %1, %0
      %3: f32[3,3] = mul %y, %0
      %4: f32[3,3] = exp %3
      return %2, %4
    }""")
    assert ops_of(find_groups(g)) == [["matmul", "const", "mul"], ["const", "mul", "exp"]]


def test_a_shared_fill_a_matmul_reads_stays_outside_the_matmul_group():
    g = ir.parse("""func @f(%x: f32[3,3], %y: f32[3,3]) -> (f32[3,3], f32[3,3]) {
      %0: f32[3,3] = const {value=0.5, dtype=f32, shape=[3,3]}
      %1: f32[3,3] = matmul %x, %0
      %2: f32[3,3] = neg %1
      %3: f32[3,3] = mul %y, %0
      %4: f32[3,3] = exp %3
      return %2, %4
    }""")
    assert ops_of(find_groups(g)) == [["matmul", "neg"], ["const", "mul", "exp"]]
    readers = sorted(u.op for n in g.nodes if n.op == "const" for u in n.output.users.nodes())
    assert readers == ["matmul", "mul"]  # the original feeds the matmul, the copy the mul


def test_a_matmul_never_joins_the_group_of_its_operands():
    g = ir.parse("""func @f(%x: f32[3,3], %w: f32[3,3]) -> (f32[3,3]) {
      %0: f32[3,3] = relu %x
      %1: f32[3,3] = exp %0
      %2: f32[3,3] = matmul %1, %w
      %3: f32[3,3] = neg %2
      return %3
    }""")
    assert ops_of(find_groups(g)) == [["relu", "exp"], ["matmul", "neg"]]


def test_work_independent_of_the_matmul_stays_out_of_its_epilogue():
    # the tanh of %y does not depend on the matmul, so it cannot run in its epilogue; the
    # add prefers the anchor's group
    g = ir.parse("""func @f(%x: f32[3,3], %w: f32[3,3], %y: f32[3,3]) -> (f32[3,3]) {
      %0: f32[3,3] = matmul %x, %w
      %1: f32[3,3] = tanh %y
      %2: f32[3,3] = exp %1
      %3: f32[3,3] = add %2, %0
      return %3
    }""")
    assert ops_of(find_groups(g)) == [["matmul", "add"], ["tanh", "exp"]]


def test_a_group_holds_at_most_one_reduction():
    g = ir.parse("""func @f(%x: f32[4,3]) -> (f32[]) {
      %0: f32[4,3] = exp %x
      %1: f32[4] = sum %0 {axes=[1]}
      %2: f32[4] = neg %1
      %3: f32[] = max %2 {axes=[0]}
      %4: f32[] = abs %3
      return %4
    }""")
    assert ops_of(find_groups(g)) == [["exp", "sum", "neg"], ["max", "abs"]]


def test_nothing_in_a_matmul_group_uses_its_epilogue_reduction():
    # the bias-gradient sum sits in the epilogue, the update reading it starts a new group
    g = ir.parse("""func @f(%g: f32[4,3], %w: f32[3,5], %b: f32[5]) -> (f32[5]) {
      %0: f32[4,5] = matmul %g, %w
      %1: f32[4,5] = relu %0
      %2: f32[5] = sum %1 {axes=[0]}
      %3: f32[5] = sub %b, %2
      %4: f32[5] = abs %3
      return %4
    }""")
    assert ops_of(find_groups(g)) == [["matmul", "relu", "sum"], ["sub", "abs"]]


def test_siblings_reading_a_value_elementwise_merge_but_a_broadcast_scalar_links_nothing():
    g = ir.parse("""func @f(%lr: f32[], %a: f32[3], %b: f32[3]) -> (f32[3], f32[3], f32[]) {
      %0: f32[3] = mul %lr, %a
      %1: f32[3] = exp %0
      %2: f32[3] = mul %lr, %b
      %3: f32[3] = exp %2
      %4: f32[] = neg %lr
      %5: f32[] = abs %4
      return %1, %3, %5
    }""")
    # %lr is read at its own shape only by neg: the two updates stay apart
    assert ops_of(find_groups(g)) == [["mul", "exp"], ["mul", "exp"], ["neg", "abs"]]
    g2 = ir.parse("""func @f(%s: f32[], %a: f32[3]) -> (f32[3], f32[]) {
      %0: f32[] = exp %s
      %1: f32[3] = mul %0, %a
      %2: f32[] = neg %s
      return %1, %2
    }""")
    assert ops_of(find_groups(g2)) == [["exp", "mul", "neg"]]
    assert ops_of(find_groups(g2, FusionOptions(siblings=False))) == [["exp", "mul"]]


def test_max_ops_counts_ops_but_not_constants():
    g = ir.parse("""func @f(%x: f32[3]) -> (f32[3]) {
      %0: f32[] = const {value=2.0, dtype=f32, shape=[]}
      %1: f32[3] = mul %x, %0
      %2: f32[3] = add %1, %0
      return %2
    }""")
    assert ops_of(find_groups(g, FusionOptions(max_ops=2))) == [["const", "mul", "add"]]
    assert find_groups(g, FusionOptions(max_ops=1)) == []


def test_single_ops_and_unused_groups_are_not_fused():
    g = ir.parse("""func @f(%x: f32[3]) -> (f32[3]) {
      %0: f32[3] = exp %x
      %1: f32[3] = neg %0
      %2: f32[3] = transpose %x {perm=[0]}
      %3: f32[3] = abs %2
      return %3
    }""")
    assert find_groups(g) == []  # exp, neg: dead; abs: alone
    assert not Fuse().apply(g).changed


# -- no cycles ---------------------------------------------------------------------------------

DIAMOND = """func @f(%x: f32[3,3]) -> (f32[3,3]) {
  %0: f32[3,3] = exp %x
  %1: f32[3,3] = transpose %0 {perm=[1,0]}
  %2: f32[3,3] = add %0, %1
  return %2
}"""


def test_a_group_with_a_path_leaving_it_and_coming_back_is_refused():
    assert find_groups(ir.parse(DIAMOND)) == []


# Two groups that each hold a reduction, so they cannot merge, while each feeds the other:
# %1 (group X) -> %7 (group Y) and %5 (group Y) -> %6 (group X). Each group is convex, but
# fused together they would depend on each other.
CROSSED = """func @f(%p: f32[4,3], %q: f32[4,3]) -> (f32[4,3], f32[4,3]) {
  %0: f32[4,3] = exp %p
  %1: f32[4,1] = sum %0 {axes=[1], keepdim=true}
  %2: f32[4,1] = exp %1
  %3: f32[4,3] = exp %q
  %4: f32[4,1] = sum %3 {axes=[1], keepdim=true}
  %5: f32[4,1] = exp %4
  %6: f32[4,3] = add %0, %5
  %7: f32[4,3] = add %3, %2
  return %6, %7
}"""


def test_groups_that_would_depend_on_each_other_are_not_both_fused():
    graph = ir.parse(CROSSED)
    x = [graph.nodes[i] for i in (0, 1, 2, 7)]
    y = [graph.nodes[i] for i in (3, 4, 5, 6)]
    assert quotient_order(graph, [x, y])[1], "the crossed groups form a cycle"
    assert quotient_cycle(graph, [x, y]) in (x, y)
    groups = find_groups(graph)
    assert len(groups) == 1 and quotient_cycle(graph, groups) is None
    result = passes.PassManager("fuse", verify_each=True, validate=True).run(graph)
    assert len(fused_nodes(result)) == 1


# -- options -----------------------------------------------------------------------------------

def test_options_round_trip_and_max_ops_must_be_positive():
    pipeline = passes.parse_pipeline("fuse{max-ops=8,epilogues=false}")
    assert str(pipeline) == "fuse{max-ops=8,epilogues=false}"
    assert pipeline[0] == Fuse(max_ops=8, epilogues=False)
    with pytest.raises(passes.PassError, match="'max-ops' must be at least 1, got 0"):
        passes.parse_pipeline("fuse{max-ops=0}")


def test_fused_nodes_are_left_alone_by_a_second_fuse():
    graph = fuse(ir.parse("""func @f(%x: f32[3,3]) -> (f32[3,3]) {
      %0: f32[3,3] = exp %x
      %1: f32[3,3] = neg %0
      %2: f32[3,3] = transpose %1 {perm=[1,0]}
      %3: f32[3,3] = add %2, %x
      %4: f32[3,3] = abs %3
      return %4
    }"""))
    text = ir.to_text(graph)
    assert [n.op for n in graph.nodes] == ["fused", "transpose", "fused"]
    assert ir.to_text(fuse(graph)) == text


# -- every graph stays valid, acyclic and bit-for-bit equal ------------------------------------

def run(graph, arrays):
    return InterpretedGraph(graph)(*(arrays[validation.input_name(v)] for v in graph.inputs))


# Longer graphs than test_ir_text's, mostly of ops that fuse, so that groups meet and clash.
FUSIBLE_STEPS = ["unary", "unary", "binary", "binary", "where", "cast", "reduce", "reduce",
                 "matmul", "broadcast_to", "reshape", "transpose", "slice", "const"]


@st.composite
def fusible_graphs(draw):
    graph = ir.Graph("g")
    for name in draw(st.lists(identifiers, min_size=1, max_size=3, unique=True)):
        shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
        graph.add_input(name, ir.TensorType(draw(st.sampled_from(DTYPES)), tuple(shape)))
    builder = Builder(draw, graph)
    for _ in range(draw(st.integers(4, 24))):
        getattr(builder, draw(st.sampled_from(FUSIBLE_STEPS)))()
    graph.set_outputs(draw(st.lists(st.sampled_from(builder.pool), min_size=1, max_size=4)))
    return graph


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(graph=random_graphs() | fusible_graphs())
def test_fuse_keeps_random_graphs_valid_acyclic_and_bitwise_equal(graph):
    ir.verify(graph)
    arrays = validation.make_inputs(graph, seed=1)
    try:
        before = run(graph, arrays)
    except (ExecutionError, IntegerDivisionByZero):  # e.g. an index out of range: nothing to compare
        before = None
    max_ops = 3 if len(graph.nodes) % 2 else 32
    result = Fuse(max_ops=max_ops).apply(graph).graph
    ir.verify(result)  # checks that every value is defined before use: no cycle
    assert ir.to_text(ir.parse(ir.to_text(result))) == ir.to_text(result)
    for node in fused_nodes(result):
        assert sum(n.op != "const" for n in node.body.nodes) <= max_ops
        assert all(n.op != "fused" for n in node.body.nodes)
    if before is not None:
        after = run(result, arrays)  # fusion reorders no arithmetic: the same bits
        assert len(after) == len(before)
        for a, b in zip(before, after):
            assert a.dtype == b.dtype and a.shape == b.shape
            assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def test_copying_shared_fills_keeps_every_value():
    """The copies run under the numeric validator: the fused graph computes what the graph did,
    a fill read by two chains and by a GEMM's epilogue included."""
    graph = ir.parse("""func @f(%x: f32[3,3], %w: f32[3,3], %y: f32[3,3]) -> (f32[3,3], f32[3,3]) {
      %0: f32[3,3] = const {value=0.5, dtype=f32, shape=[3,3]}
      %1: f32[3,3] = matmul %x, %w
      %2: f32[3,3] = mul %1, %0
      %3: f32[3,3] = neg %2
      %4: f32[3,3] = mul %y, %0
      %5: f32[3,3] = exp %4
      return %3, %5
    }""")
    result = passes.PassManager("fuse", verify_each=True, validate=True).run(graph)
    assert len(fused_nodes(result)) == 2
    assert all(n.op == "fused" for n in result.nodes)  # the shared original is gone


def test_dead_nodes_stay_out_of_fused_bodies_so_every_backend_runs_the_result():
    """From an IR file (compile runs dce first): a dead add of another shape, pulled into the
    group, made the llvm and numba code generators fail on the fused body."""
    import backends

    graph = ir.parse('''func @f(%x: f32[4]) -> (f32[3,4]) {
      %0: f32[2] = slice %x {starts=[1], stops=[4], steps=[2]}
      %1: f32[1] = sum %x {axes=[0], keepdim=true}
      %2: f32[4] = add %x, %1
      %3: f32[2] = add %0, %1
      %4: f32[3,4] = broadcast_to %2 {shape=[3,4]}
      return %4
    }''')
    fused = fuse(graph)
    body_ops = [n.op for node in fused.nodes if node.body is not None for n in node.body.nodes]
    assert body_ops and body_ops.count("add") == 1
    x = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
    expected = np.broadcast_to(x + x.sum(), (3, 4))
    np.testing.assert_allclose(backends.get("llvm").compile(fused)(x)[0], expected)
