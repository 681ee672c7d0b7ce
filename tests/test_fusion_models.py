"""Fusion checks on real models: graphs traced by ``graphc.compile``, fused by the ``fuse`` pass
under the pass manager (verified, and validated against the interpreter before and after).

The facts asserted are the issue's "done when": a GELU*sigmoid chain is one fused node; in an
MLP's training step every bias add and activation sits in its matmul's epilogue, forward and
backward; layer norm is at most two fused groups; an SGD-momentum or Adam update is at most
one fused group per parameter.
"""
from __future__ import annotations

import pytest

import graphc
import ir
import passes
from graphc import nn, optim
from graphc.nn import functional as F


def fuse(graph: ir.Graph) -> ir.Graph:
    return passes.PassManager("fuse", verify_each=True, validate=True).run(graph)


def home_of(graph: ir.Graph) -> dict[int, ir.Node]:
    """id(node) -> the fused node whose body holds it (nodes move into bodies unchanged)."""
    return {id(inner): node for node in graph.nodes if node.op == "fused"
            for inner in node.body.nodes}


def training_step_graph(model, optimizer, x, y) -> ir.Graph:
    def step(x, y):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return graphc.compile(step, passes="dce", backend="interpreter").graph_for(x, y)


def mlp_step(make_optimizer):
    graphc.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    graph = training_step_graph(model, make_optimizer(model.parameters()),
                                graphc.randn(4, 6), graphc.randint(0, 3, (4,)))
    return graph


def test_a_gelu_sigmoid_chain_becomes_exactly_one_fused_node():
    graph = graphc.compile(lambda x: F.gelu(x) * graphc.sigmoid(x),
                           backend="interpreter").graph_for(graphc.randn(4, 6))
    assert {"erf", "sigmoid", "mul"} <= {n.op for n in graph.nodes}
    fused = fuse(graph)
    assert [n.op for n in fused.nodes] == ["fused"]  # nothing else but the inputs
    assert {"erf", "sigmoid", "mul"} <= {n.op for n in fused.nodes[0].body.nodes}


def test_every_bias_add_and_activation_of_an_mlp_sits_in_its_matmuls_epilogue():
    graph = mlp_step(lambda params: optim.SGD(params, lr=0.1, momentum=0.9))
    bias_inputs = {id(v) for v in graph.inputs if v.name.endswith(".bias")}
    # forward: matmul -> add bias (-> relu); backward: matmul -> where(relu mask) -> sum
    forward, backward = [], []
    for node in graph.nodes:
        if node.op == "add" and any(id(v) in bias_inputs for v in node.inputs):
            matmul = next(v.producer for v in node.inputs if v.producer is not None)
            assert matmul.op == "matmul"
            relus = [u for u in node.output.users.nodes() if u.op == "relu"]
            forward.append([matmul, node, *relus])
        if node.op == "where" and node.inputs[0].producer.op == "le":
            matmul = node.inputs[2].producer
            assert matmul.op == "matmul"
            bias_grads = [u for u in node.output.users.nodes() if u.op == "sum"]
            assert bias_grads, "the relu mask's result feeds the bias gradient"
            backward.append([matmul, node, *bias_grads])
    assert len(forward) == 2 and sum(len(f) == 3 for f in forward) == 1 and len(backward) == 1

    fused = fuse(graph)
    home = home_of(fused)
    for pattern in forward + backward:
        homes = {id(home.get(id(n))) for n in pattern}
        assert len(homes) == 1 and id(None) not in homes, [n.op for n in pattern]
        assert home[id(pattern[0])].body.nodes[0] is pattern[0]  # the body starts with it
    assert sum(n.op == "matmul" for n in fused.nodes) == 2  # the weight-gradient matmuls
    for node in fused.nodes:
        if node.op == "fused":
            assert sum(n.op == "matmul" for n in node.body.nodes) <= 1


def functional_layer_norm():
    w, b = graphc.randn(6), graphc.randn(6)
    return lambda x: F.layer_norm(x, (6,), w, b)


@pytest.mark.parametrize("make_layer_norm", [functional_layer_norm, lambda: nn.LayerNorm(6)],
                         ids=["functional", "module"])
def test_layer_norm_becomes_at_most_two_fused_groups(make_layer_norm):
    graph = graphc.compile(make_layer_norm(), backend="interpreter").graph_for(graphc.randn(4, 6))
    assert sum(n.op == "sum" for n in graph.nodes) == 2
    fused = fuse(graph)
    assert [n.op for n in fused.nodes if n.op != "const"] in (["fused"], ["fused", "fused"])


def updates_by_parameter(graph: ir.Graph) -> dict[str, set[int]]:
    """For each parameter: the nodes producing its new value and its new optimizer state."""
    params = {v.name for v in graph.inputs if v.name.startswith("model.")}
    producers: dict[str, set[int]] = {p: set() for p in params}
    for output, aliased in graph.output_aliases.items():
        name = graph.inputs[aliased].name
        param = name if name in params else next(
            p for p in params if f".state.{p}." in name)
        producers[param].add(id(graph.outputs[output].producer))
    return producers


@pytest.mark.parametrize("make_optimizer", [
    lambda params: optim.SGD(params, lr=0.1, momentum=0.9),
    lambda params: optim.Adam(params, lr=1e-2),
], ids=["sgd_momentum", "adam"])
def test_an_optimizer_update_is_at_most_one_fused_group_per_parameter(make_optimizer):
    graph = mlp_step(make_optimizer)
    before = updates_by_parameter(graph)
    assert all(len(nodes) >= 3 for nodes in before.values())  # param, state, step: apart
    fused = fuse(graph)
    ops = {id(n): n.op for n in fused.nodes}
    for param, producers in updates_by_parameter(fused).items():
        assert len(producers) == 1, param
        assert ops[producers.pop()] == "fused", param
