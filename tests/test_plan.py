"""The ``plan`` pass and memory plans in the IR (``ir/plan.py``, ``passes/plan.py``).

A plan is proved safe two ways: :func:`ir.plan.check_plan` (run by the verifier), and by
*executing* the graph the way a backend would under the plan: every value stored in one byte
arena at its offset (or in its input's buffer), so a value overwritten while still needed
shows up as a wrong result, compared bit for bit with the reference interpreter.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from test_ir_text import random_graphs

import ir
import passes
from backends.interpreter import InterpretedGraph
from ir.evaluate import evaluate_results, quiet_float_errors
from ir.plan import (
    MemoryPlan,
    Placement,
    check_plan,
    live_ranges,
    liveness_peak,
    nbytes,
)
from passes import validate
from passes.plan import plan_memory


def run_in_arena(graph: ir.Graph, arrays: list[np.ndarray]) -> tuple:
    """Runs ``graph`` storing every node result where ``graph.plan`` says (a NumPy stand-in
    for a backend): returns the outputs, read from the arena and the input buffers at the end."""
    plan = graph.plan
    assert plan is not None
    arena = np.zeros(plan.arena_bytes + 64, np.uint8)  # never written past arena_bytes
    buffers = [np.array(a, copy=True) for a in arrays]  # caller's buffers, donated

    def view(value: ir.Value) -> np.ndarray:
        if value.producer is None:
            return buffers[graph.inputs.index(value)]
        place = plan.placements[value]
        if place.input is not None:
            return buffers[place.input]
        n = nbytes(value.type)
        return arena[place.offset:place.offset + n].view(value.dtype.numpy).reshape(value.shape)

    with quiet_float_errors():
        for node in graph.nodes:
            operands = [view(v).copy() for v in node.inputs]
            if node.body is not None:
                results = InterpretedGraph(node.body)(*operands)
            else:
                results = evaluate_results(node.opdef, operands, node.attrs, node.result_types)
            for value, result in zip(node.outputs, results):
                view(value)[...] = result
    return tuple(view(v).copy() for v in graph.outputs)


def assert_bitwise_equal(actual, expected) -> None:
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert a.dtype == e.dtype and a.shape == e.shape
        assert a.tobytes() == e.tobytes()


def planned(text: str, **options) -> ir.Graph:
    graph = passes.PassManager([passes.get("plan")(**options)], verify_each=True).run(
        ir.parse(text))
    check_plan(graph)
    return graph


def place_of(graph: ir.Graph, number: int) -> Placement:
    """The placement of node result ``%number``."""
    values = [v for n in graph.nodes for v in n.outputs]
    return graph.plan.placements[values[number]]


# -- the allocator ------------------------------------------------------------------------------

def test_values_live_at_the_same_time_never_share_bytes():
    g = planned("""func @f(%x: f32[8,8]) -> (f32[8,8]) {
      %0: f32[8,8] = transpose %x {perm=[1,0]}
      %1: f32[8,8] = matmul %x, %0
      %2: f32[8,8] = matmul %1, %0
      %3: f32[8,8] = matmul %2, %1
      return %3
    }""")
    ranges = live_ranges(g)
    values = list(ranges)
    for i, a in enumerate(values):
        for b in values[i + 1:]:
            (a0, a1), (b0, b1) = ranges[a], ranges[b]
            if a0 <= b1 and b0 <= a1:  # live together
                pa, pb = g.plan.placements[a].offset, g.plan.placements[b].offset
                assert pa + nbytes(a.type) <= pb or pb + nbytes(b.type) <= pa


def test_a_buffer_is_reused_once_its_value_is_dead():
    # four 256-byte matmul results, at most two live at once: two slots suffice
    g = planned("""func @f(%x: f32[8,8]) -> (f32[8,8]) {
      %0: f32[8,8] = matmul %x, %x
      %1: f32[8,8] = matmul %0, %x
      %2: f32[8,8] = matmul %1, %x
      %3: f32[8,8] = matmul %2, %x
      return %3
    }""")
    assert g.plan.arena_bytes == 2 * 256
    assert g.plan.naive_bytes() == 4 * 256
    assert place_of(g, 0).offset == place_of(g, 2).offset


def test_offsets_and_the_arena_are_aligned():
    g = planned("""func @f(%x: f32[3]) -> (f32[3], f32[3]) {
      %0: f32[3] = exp %x
      %1: f32[3] = neg %x
      return %0, %1
    }""", alignment=128)
    assert {place_of(g, 0).offset, place_of(g, 1).offset} == {0, 128}
    assert g.plan.alignment == 128 and g.plan.arena_bytes == 256


def test_an_elementwise_node_overwrites_an_operand_that_dies_there():
    g = planned("""func @f(%x: f32[4], %y: f32[4]) -> (f32[4]) {
      %0: f32[4] = add %x, %y
      %1: f32[4] = tanh %0
      return %1
    }""")
    assert place_of(g, 1).reuses is g.nodes[0].output
    assert g.plan.arena_bytes == 64


def test_no_in_place_update_of_an_operand_still_needed_later():
    g = planned("""func @f(%x: f32[4]) -> (f32[4]) {
      %0: f32[4] = exp %x
      %1: f32[4] = tanh %0
      %2: f32[4] = mul %1, %0
      return %2
    }""")
    assert place_of(g, 1).reuses is None  # %0 is read again by %2
    assert place_of(g, 2).reuses is not None  # both die at %2: one is overwritten


@pytest.mark.parametrize("node, why", [
    ("%1: f32[3,4] = add %0, %y", "broadcast operand: element i is read by many results"),
    ("%1: f64[4] = cast %0 {dtype=f64}", "8-byte result over a 4-byte operand"),
    ("%1: f32[] = sum %0 {axes=[0]}", "a reduction"),
    ("%1: f32[4] = concat %0 {axis=0}", "a movement op, not elementwise"),
])
def test_in_place_needs_an_elementwise_node_and_an_operand_of_the_result_shape_and_size(node,
                                                                                       why):
    result_type = node.split(" = ")[0].split(": ")[1]
    g = planned(f"""func @f(%x: f32[4], %y: f32[3,4]) -> ({result_type}) {{
      %0: f32[4] = exp %x
      {node}
      return %1
    }}""")
    assert place_of(g, 1).reuses is None, why


def test_a_cast_to_a_dtype_of_the_same_size_may_write_in_place():
    g = planned("""func @f(%x: f32[4]) -> (i32[4]) {
      %0: f32[4] = exp %x
      %1: i32[4] = cast %0 {dtype=i32}
      return %1
    }""")
    assert place_of(g, 1).reuses is g.nodes[0].output


def test_in_place_can_be_turned_off():
    g = planned("""func @f(%x: f32[4]) -> (f32[4]) {
      %0: f32[4] = exp %x
      %1: f32[4] = neg %0
      return %1
    }""", in_place=False)
    assert place_of(g, 1).reuses is None and g.plan.arena_bytes == 128


def test_a_fused_elementwise_node_writes_in_place_but_not_one_with_a_reduction():
    g = planned("""func @f(%x: f32[4]) -> (f32[4], f32[]) {
      %0: f32[4] = exp %x
      %1: f32[4] = fused %0 {
        (%a: f32[4]):
        %0: f32[4] = tanh %a
        %1: f32[4] = neg %0
        yield %1
      }
      %2: f32[4] = exp %1
      %3: f32[] = fused %2 {
        (%a: f32[4]):
        %0: f32[4] = tanh %a
        %1: f32[] = sum %0 {axes=[0]}
        yield %1
      }
      return %2, %3
    }""")
    assert place_of(g, 1).reuses is g.nodes[0].output
    assert place_of(g, 3).reuses is None


def test_an_aliased_output_is_written_into_its_input_buffer():
    g = planned("""func @sgd(%w: f32[4], %g: f32[4], %lr: f32[]) -> (f32[4] aliases %w) {
      %0: f32[4] = mul %g, %lr
      %1: f32[4] = sub %w, %0
      return %1
    }""")
    assert place_of(g, 1) == Placement(input=0)
    assert "mem(%w)" in ir.to_text(g)


def test_an_aliased_output_gets_an_arena_slot_while_its_input_is_still_read():
    g = planned("""func @f(%w: f32[4]) -> (f32[4] aliases %w, f32[4]) {
      %0: f32[4] = exp %w
      %1: f32[4] = mul %w, %0
      return %0, %1
    }""")
    assert place_of(g, 0).input is None  # %w is read after %0 is made: copy back at the end


def test_swapped_aliased_outputs_do_not_clobber_each_other():
    g = planned("""func @swap(%a: f32[4], %b: f32[4]) -> (f32[4] aliases %a, f32[4] aliases %b) {
      %0: f32[4] = neg %b
      %1: f32[4] = neg %a
      return %0, %1
    }""")
    assert place_of(g, 0).input is None and place_of(g, 1).input == 1
    a, b = np.arange(4, dtype=np.float32), np.arange(4, 8, dtype=np.float32)
    assert_bitwise_equal(run_in_arena(g, [a, b]), (-b, -a))


def test_zero_size_values_take_no_arena_space():
    g = planned("""func @f(%x: f32[0,3]) -> (f32[0,3]) {
      %0: f32[0,3] = exp %x
      %1: f32[0,3] = neg %0
      return %1
    }""")
    assert g.plan.arena_bytes == 0


def test_plan_report_compares_the_arena_with_one_buffer_per_value(caplog):
    text = """func @f(%x: f32[16]) -> (f32[16]) {
      %0: f32[16] = exp %x
      %1: f32[16] = neg %0
      return %1
    }"""
    with caplog.at_level("INFO", logger="graphc.passes"):
        g = planned(text)
    assert "arena 64 B for 2 values (naive 128 B, 50.0%), 1 in place" in caplog.text
    assert g.plan.summary() in caplog.text


# -- the plan in the IR text --------------------------------------------------------------------

PLANNED = """\
func @f(%x: f32[4], %w: f32[4]) -> (f32[4] aliases %w, f32[4], f32[4]) plan(arena=128, align=64) {
  %0: f32[4] = exp %x mem(0)
  %1, %2: f32[4], f32[4] = fused %0 {
    (%a: f32[4]):
    %0: f32[4] = neg %a
    %1: f32[4] = tanh %a
    yield %0, %1
  } mem(0 reuses %0, 64)
  %3: f32[4] = add %w, %1 mem(%w) loc("m.py":3)
  return %3, %1, %2
}"""


def test_a_plan_prints_and_parses_back_exactly():
    g = ir.parse(PLANNED)
    ir.verify(g)
    assert ir.to_text(g, debug_info=True) == PLANNED
    assert ir.to_text(ir.parse(ir.to_text(g))) == ir.to_text(g)
    assert place_of(g, 1) == Placement(offset=0, reuses=g.nodes[0].output)
    assert place_of(g, 3) == Placement(input=1)


def test_planning_a_planned_graph_again_changes_nothing():
    g = ir.parse(PLANNED)
    first = passes.get("plan")().apply(g)
    second = passes.get("plan")().apply(first.graph)
    assert not second.changed


@pytest.mark.parametrize("old, new, message", [
    (" plan(arena=128, align=64)", "", "mem(...) without a memory plan"),
    ("mem(0)", "", "every node needs mem(...)"),
    ("mem(0 reuses %0, 64)", "mem(0)", "mem(...) gives 1 place(s) for 2 result(s)"),
    ("mem(0 reuses %0, 64)", "mem(0 reuses %x, 64)", "%x is not an operand of this node"),
    ("mem(%w)", "mem(%v)", "%v is not an input of @f"),
    ("align=64", "align=0", "the alignment must be positive"),
    ("%0: f32[4] = neg %a", "%0: f32[4] = neg %a mem(0)", "a body's values are kernel"),
])
def test_malformed_plans_are_parse_errors(old, new, message):
    assert old in PLANNED
    with pytest.raises(ir.ParseError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace(".", r"\.")):
        ir.parse(PLANNED.replace(old, new, 1))


@pytest.mark.parametrize("old, new, message", [
    ("mem(0 reuses %0, 64)", "mem(0 reuses %0, 0)", "overlaps"),
    ("mem(0 reuses %0, 64)", "mem(64 reuses %0, 0)", "has another offset"),
    ("arena=128", "arena=64", "outside the 64-byte arena"),
    ("mem(0 reuses %0, 64)", "mem(0 reuses %0, 32)", "not a non-negative multiple"),
    ("return %3, %1, %2", "return %3, %0, %2", "still needed after this node"),
    ("-> (f32[4] aliases %w, f32[4], f32[4])", "-> (f32[4], f32[4], f32[4])",
     "is no output that aliases that input"),
])
def test_the_verifier_rejects_unsafe_plans(old, new, message):
    g = ir.parse(PLANNED.replace(old, new, 1))
    with pytest.raises(ir.VerifyError, match=message):
        ir.verify(g)


def test_plan_errors_in_ir_text_point_at_the_line_and_column_of_the_place():
    text = PLANNED.replace("mem(0 reuses %0, 64)", "mem(0 reuses %0, 32)", 1)
    line = 8  # '  } mem(0 reuses %0, 32)': %2's place, the 32, is the broken one
    column = text.splitlines()[line - 1].index("32") + 1
    with pytest.raises(ir.VerifyError, match=f"%2 at line {line}, column {column}: offset 32"):
        ir.verify(ir.parse(text))
    overlapping = PLANNED.replace("mem(0 reuses %0, 64)", "mem(0 reuses %0, 0)", 1)
    column = overlapping.splitlines()[line - 1].index(", 0)") + 3
    with pytest.raises(ir.VerifyError, match=f"%2 at line {line}, column {column} .* overlaps"):
        ir.verify(ir.parse(overlapping))
    built = planned("""func @f(%x: f32[4]) -> (f32[4]) {
      %0: f32[4] = exp %x
      return %0
    }""")
    assert all(place.source is None for place in built.plan.placements.values())


def test_the_verifier_rejects_an_input_overwritten_while_a_later_node_reads_it():
    g = ir.parse("""func @f(%w: f32[4]) -> (f32[4] aliases %w, f32[4]) plan(arena=64, align=64) {
      %0: f32[4] = exp %w mem(%w)
      %1: f32[4] = mul %w, %0 mem(0)
      return %0, %1
    }""")
    with pytest.raises(ir.VerifyError, match="overwrites input %w, which a later mul node"):
        ir.verify(g)


def test_the_verifier_rejects_in_place_reuse_by_a_matmul():
    g = ir.parse("""func @f(%x: f32[2,2]) -> (f32[2,2]) plan(arena=64, align=64) {
      %0: f32[2,2] = exp %x mem(0)
      %1: f32[2,2] = matmul %0, %0 mem(0 reuses %0)
      return %1
    }""")
    with pytest.raises(ir.VerifyError, match="a matmul node cannot write"):
        ir.verify(g)


def test_a_plan_made_stale_by_a_later_rewrite_fails_verification():
    g = planned("""func @f(%x: f32[4]) -> (f32[4]) {
      %0: f32[4] = exp %x
      %1: f32[4] = neg %x
      return %1
    }""")
    g = passes.run(g, "dce")  # removes %0, which the plan still places
    with pytest.raises(ir.VerifyError, match="the plan is stale"):
        ir.verify(g)
    g = ir.parse(PLANNED)
    g.add_node("exp", [g.inputs[0]])  # a node the plan does not know
    with pytest.raises(ir.VerifyError, match="has no placement"):
        check_plan(g)


# -- properties ---------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(graph=random_graphs())
def test_plans_of_random_graphs_are_safe_and_run_bit_for_bit_like_the_interpreter(graph):
    inputs = validate.make_inputs(graph, seed=0)
    arrays = [inputs[validate.input_name(v)] for v in graph.inputs]
    graph.plan = plan_memory(graph)
    ir.verify(graph)
    assert graph.plan.arena_bytes <= graph.plan.naive_bytes()
    parsed = ir.parse(ir.to_text(graph))
    ir.verify(parsed)
    assert ir.to_text(parsed) == ir.to_text(graph)
    try:
        expected = validate.run_reference(graph, inputs)
    except validate.ReferenceFailed:  # e.g. gather indices out of range for random inputs
        assume(False)
    assert_bitwise_equal(run_in_arena(graph, arrays), expected)


def test_the_arena_without_in_place_is_at_least_the_liveness_peak():
    text = """func @f(%x: f32[16]) -> (f32[16], f32[16]) {
      %0: f32[16] = exp %x
      %1: f32[16] = neg %0
      %2: f32[16] = tanh %1
      %3: f32[16] = add %2, %0
      return %3, %1
    }"""
    g = planned(text, in_place=False)
    assert g.plan.arena_bytes >= liveness_peak(g)


def test_memory_plan_equality_is_by_placements():
    g = ir.parse(PLANNED)
    assert g.plan == MemoryPlan(128, 64, dict(g.plan.placements))


def test_the_arena_execution_catches_a_value_overwritten_while_still_needed():
    # the check above cannot pass vacuously: a plan that puts %1 over the live %0 changes the
    # result of %2 when executed in an arena
    g = ir.parse("""func @f(%x: f32[4]) -> (f32[4]) plan(arena=64, align=64) {
      %0: f32[4] = exp %x mem(0)
      %1: f32[4] = neg %x mem(0)
      %2: f32[4] = add %0, %1 mem(0 reuses %0)
      return %2
    }""")
    with pytest.raises(ir.VerifyError, match="overlaps"):
        ir.verify(g)
    x = np.arange(4, dtype=np.float32)
    assert run_in_arena(g, [x])[0].tobytes() != (np.exp(x) - x).tobytes()
