"""The ``remat`` pass: what a joint forward+backward graph keeps, and what it recomputes."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from test_ir_text import random_graphs
from test_pass_manager import _example_models, _training_step_graph
from test_plan import assert_bitwise_equal, run_in_arena

import graphc
import ir
import passes
from graphc import nn, optim
from ir.plan import liveness_peak
from passes import validate
from passes.remat import Rematerialize, forward_nodes, is_recomputable, kept_bytes


def run(graph: ir.Graph, seed: int = 0) -> tuple:
    return validate.run_reference(graph, validate.make_inputs(graph, seed))


def deep_mlp_step_graph(depth: int = 6, width: int = 32, batch: int = 256,
                        activation=nn.SiLU) -> ir.Graph:
    """One SGD step of silu(x @ W + b) layers: activations (batch x width) dominate memory.
    SiLU's gradient reads its input, so backward keeps both sides of each activation unless
    remat recomputes the output (relu's gradient reads only its output, as PyTorch's)."""
    graphc.manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), activation()]
    model = nn.Sequential(*layers, nn.Linear(width, 10))
    opt = optim.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    x, y = graphc.randn(batch, width), graphc.randint(0, 10, (batch,))
    # the interpreter lowers nothing: the graph as traced
    return passes.run(graphc.compile(step, passes="", backend="interpreter").graph_for(x, y),
                      "dce")


def test_remat_lowers_the_peak_of_a_deep_mlp_training_step_and_keeps_results_bitwise_equal():
    graph = deep_mlp_step_graph()
    expected = run(graph)
    peak, arena = liveness_peak(graph), passes.run(deep_mlp_step_graph(), "plan").plan
    remat = Rematerialize()
    graph = passes.PassManager([remat, passes.get("plan")()], verify_each=True).run(graph)
    report = remat.last_report
    assert report.recomputed > 0 and not report.undone
    assert report.kept_after < report.kept_before / 1.5  # silu outputs are no longer kept
    assert report.peak_before == peak and report.peak_after == liveness_peak(graph)
    assert liveness_peak(graph) < 0.75 * peak
    assert graph.plan.arena_bytes < arena.arena_bytes  # the planned arena shrinks too
    assert_bitwise_equal(run(graph), expected)


def test_remat_recomputes_the_activation_but_keeps_matmul_results():
    graph = deep_mlp_step_graph(depth=2, batch=64)
    originals = {id(n) for n in graph.nodes}
    Rematerialize().apply(graph)
    clones = [n for n in graph.nodes if id(n) not in originals]
    assert clones and all(is_recomputable(n) for n in clones)
    assert {"sigmoid", "mul"} <= {n.op for n in clones}  # silu(x) = x * sigmoid(x), recomputed
    assert not {"matmul", "sum", "max", "gather"} & {n.op for n in clones}


def test_remat_report_goes_to_the_passes_logger_and_last_report(caplog):
    graph = deep_mlp_step_graph(depth=2, batch=64)
    remat = Rematerialize()
    with caplog.at_level("INFO", logger="graphc.passes"):
        remat.apply(graph)
    text = str(remat.last_report)
    assert text.startswith("remat: kept ") and "bytes of activations across forward->backward" in text
    assert f"recomputing {remat.last_report.recomputed} op(s)" in text
    assert text in caplog.text
    assert remat.last_report.saved == remat.last_report.kept_before - remat.last_report.kept_after


JOINT = """func @step(%x: f32[64], %y: f32[64]) -> (f32[], f32[64]) {
  %0: f32[] = sum %x {axes=[0]}
  %1: f32[64] = broadcast_to %0 {shape=[64]}
  %2: f32[64] = mul %1, %x
  %3: f32[] = sum %2 {axes=[0]}
  %4: f32[64] = exp %y
  %5: f32[64] = exp %4
  %6: f32[64] = add %4, %5
  %7: f32[64] = mul %6, %1
  return %3, %7
}"""


def test_the_forward_is_what_the_loss_needs_and_kept_values_are_what_the_backward_reads():
    g = ir.parse(JOINT)
    forward = forward_nodes(g, (0,))
    assert [n.op for n in g.nodes if id(n) in forward] == ["sum", "broadcast_to", "mul", "sum"]
    assert kept_bytes(g, forward) == 64 * 4  # %1, read by %7


def test_a_clone_goes_just_before_its_first_backward_use():
    g = ir.parse(JOINT)
    Rematerialize().apply(g)
    ops = [n.op for n in g.nodes]
    assert ops[-2:] == ["broadcast_to", "mul"]
    assert g.nodes[-1].inputs[1].producer is g.nodes[-2]
    assert g.nodes[1].output.users.nodes() == [g.nodes[2]]  # the forward copy dies early


def test_remat_takes_its_rewrite_back_when_the_peak_does_not_drop():
    # everything the backward reads is alive at the loss anyway: recomputing saves nothing
    g = ir.parse("""func @f(%x: f32[64]) -> (f32[], f32[64]) {
      %0: f32[64] = exp %x
      %1: f32[] = sum %0 {axes=[0]}
      %2: f32[64] = mul %0, %0
      return %1, %2
    }""")
    before = ir.to_text(g)
    remat = Rematerialize()
    result = remat.apply(g)
    assert remat.last_report.undone and not result.changed
    assert ir.to_text(result.graph) == before
    ir.verify(result.graph)


def test_remat_leaves_a_graph_without_backward_alone():
    g = ir.parse("""func @f(%x: f32[4]) -> (f32[4]) {
      %0: f32[4] = exp %x
      return %0
    }""")
    remat = Rematerialize()
    assert not remat.apply(g).changed
    assert remat.last_report.recomputed == 0


def test_remat_never_recomputes_random_numbers():
    g = ir.parse("""func @f(%s: i64[], %x: f32[64]) -> (f32[], f32[64]) {
      %0: f32[64] = random_uniform %s {shape=[64]}
      %1: f32[64] = mul %0, %x
      %2: f32[] = sum %1 {axes=[0]}
      %3: f32[64] = exp %x
      %4: f32[64] = exp %3
      %5: f32[64] = add %3, %4
      %6: f32[64] = mul %5, %0
      return %2, %6
    }""")
    expected = run(g)
    Rematerialize().apply(g)
    assert [n.op for n in g.nodes].count("random_uniform") == 1
    assert_bitwise_equal(run(g), expected)


def test_remat_drops_a_memory_plan_it_invalidates():
    g = passes.run(ir.parse(JOINT), "plan,remat")
    assert g.plan is None
    ir.verify(g)


def test_remat_with_a_forward_output_that_does_not_exist_is_a_pass_error():
    with pytest.raises(passes.PassError, match="forward output 5 does not exist"):
        passes.run(ir.parse(JOINT), "remat{forward-outputs=5}")


def test_plan_and_remat_validate_on_the_examples_training_steps():
    for name, (model, x, y) in _example_models().items():
        graph = passes.run(_training_step_graph(model, x, y), "dce")
        inputs = validate.make_inputs(graph, 0)
        arrays = [inputs[validate.input_name(v)] for v in graph.inputs]
        result = passes.PassManager("remat,plan", validate=True, verify_each=True).run(graph)
        assert result.plan is not None, name
        assert_bitwise_equal(run_in_arena(result, arrays), validate.run_reference(result, inputs))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(graph=random_graphs())
def test_remat_keeps_random_graphs_valid_bitwise_equal_and_never_raises_the_peak(graph):
    assume(graph.outputs)
    inputs = validate.make_inputs(graph, seed=0)
    try:
        expected = validate.run_reference(graph, inputs)
    except validate.ReferenceFailed:
        assume(False)
    peak = liveness_peak(graph)
    graph = Rematerialize().apply(graph).graph
    ir.verify(graph)
    assert liveness_peak(graph) <= peak
    after = validate.run_reference(graph, inputs)
    assert [a.tobytes() for a in after] == [np.asarray(e).tobytes() for e in expected]
