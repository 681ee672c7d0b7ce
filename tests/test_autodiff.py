"""Symbolic autodiff (the ``autodiff`` pass) and the function transforms grad/value_and_grad.

The pass's gradients are compared with eager autograd (same registry rules, different route) and
with central finite differences in float64 (eps=1e-6, rtol=1e-6, atol=1e-8: float64 keeps
FD truncation error ~1e-10 for these smooth functions).
"""
import numpy as np
import pytest

import backends
import graphc
import ir
import passes
from ir.emitter import GraphEmitter
from passes.autodiff import differentiate

FD = dict(rtol=1e-6, atol=1e-8)


def run(graph, *arrays):
    return backends.get("interpreter").compile(graph)(*arrays)


def finite_difference(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        grad[i] = (f(up) - f(down)) / (2 * eps)
    return grad


def loss_fn(x, w):
    """A small network with fan-out, broadcasting and a reduction: the kinds of ops that matter."""
    h = graphc.tanh(x @ w)
    return (graphc.softmax(h, dim=-1) * h).sum() + (w * w).mean()


def loss_np(x, w):
    h = np.tanh(x @ w)
    e = np.exp(h - h.max(-1, keepdims=True))
    return float((e / e.sum(-1, keepdims=True) * h).sum() + (w * w).mean())


@pytest.fixture
def xw():
    r = np.random.default_rng(0)
    return r.normal(size=(4, 3)), r.normal(size=(3, 5))


def test_pass_gradients_match_eager_autograd_and_finite_differences(xw):
    x, w = xw
    graph = graphc.trace(loss_fn, graphc.from_numpy(x), graphc.from_numpy(w))
    differentiate(graph)
    ir.verify(graph)
    value, gx, gw = run(graph, x, w)
    assert value == pytest.approx(loss_np(x, w), rel=1e-12)
    xt = graphc.from_numpy(x).requires_grad_()
    wt = graphc.from_numpy(w).requires_grad_()
    loss_fn(xt, wt).backward()
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gw, wt.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gw, finite_difference(lambda v: loss_np(x, v), w), **FD)


def test_joint_graph_prints_parses_and_runs_the_same(xw):
    x, w = xw
    graph = passes.run(graphc.trace(loss_fn, graphc.from_numpy(x), graphc.from_numpy(w)),
                       "autodiff{wrt=1},dce")
    text = ir.to_text(graph)
    reparsed = ir.parse(text)
    assert ir.to_text(reparsed) == text
    for a, b in zip(run(graph, x, w), run(reparsed, x, w)):
        np.testing.assert_array_equal(a, b)
    assert len(graph.outputs) == 2  # value and d/dw only


def test_integer_and_detached_paths_get_no_gradient():
    def f(x, idx):
        picked = graphc.gather(x, 0, idx)
        return (picked * x.detach()).sum() + graphc.argmax(x).to(graphc.float64)

    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    idx = np.array([[1, 0], [0, 0]])
    graph = differentiate(graphc.trace(f, graphc.from_numpy(x), graphc.from_numpy(idx)))
    value, gx = run(graph, x, idx)
    # d/dx of sum(x[idx] * const): scatter of the constant factor onto the gathered positions
    expected = np.zeros_like(x)
    np.add.at(expected, (idx, np.arange(2)[None, :].repeat(2, 0)), x)
    np.testing.assert_allclose(gx, expected)


def test_unused_input_gets_zero_gradient():
    graph = differentiate(graphc.trace(lambda x, y: (x * 2).sum(), graphc.ones(2),
                                       graphc.ones(3)))
    _, gx, gy = run(graph, np.ones(2, np.float32), np.ones(3, np.float32))
    assert gx.tolist() == [2.0, 2.0] and gy.tolist() == [0.0, 0.0, 0.0]


def test_vector_output_with_cotangent_input():
    graph = differentiate(graphc.trace(lambda x: graphc.exp(x), graphc.ones(3)), cotangent=True)
    assert graph.inputs[-1].name == "d_out"
    x = np.array([0.0, 1.0, 2.0], np.float32)
    v = np.array([1.0, 2.0, 3.0], np.float32)
    _, gx = run(graph, x, v)
    np.testing.assert_allclose(gx, v * np.exp(x), rtol=1e-6)


def test_non_scalar_output_without_cotangent_is_an_error():
    graph = graphc.trace(lambda x: graphc.exp(x), graphc.ones(3))
    with pytest.raises(passes.PassError, match="cotangent"):
        differentiate(graph)


def test_gradient_of_gradient_gives_hessian_vector_products(xw):
    """Differentiate the joint graph again: d/dx (v . grad f(x)) = H v."""
    x, w = xw
    graph = differentiate(graphc.trace(loss_fn, graphc.from_numpy(x), graphc.from_numpy(w)),
                          wrt=[1])
    # turn the gradient output into the scalar v . grad_w, then differentiate w.r.t. w again
    v_in = graph.add_input("v", graph.outputs[1].type)
    em = GraphEmitter(graph)
    dot = em.sum(em.mul(graph.outputs[1], v_in), axes=[0, 1])
    graph.set_outputs([dot])
    differentiate(graph, wrt=[1])
    ir.verify(graph)
    v = np.random.default_rng(1).normal(size=w.shape)
    _, hv = run(graph, x, w, v)

    def grad_w(wv):
        g = differentiate(graphc.trace(loss_fn, graphc.from_numpy(x), graphc.from_numpy(wv)),
                          wrt=[1])
        return run(g, x, wv)[1]

    eps = 1e-6
    expected = (grad_w(w + eps * v) - grad_w(w - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hv, expected, rtol=1e-5, atol=1e-8)


# -- graphc.grad / value_and_grad ---------------------------------------------------------------
def cubic_sum(x):
    return (x ** 3).sum()


def test_grad_of_grad_of_scalar_function_eager_and_compiled():
    def f(x):
        return graphc.sin(x) * x ** 2

    d2 = graphc.grad(graphc.grad(f))
    for value in (0.3, -1.2, 2.0):
        x = graphc.tensor(value, dtype=graphc.float64)
        expected = -np.sin(value) * value ** 2 + 4 * value * np.cos(value) + 2 * np.sin(value)
        assert d2(x).item() == pytest.approx(expected, rel=1e-12)
        assert graphc.compile(d2)(x).item() == pytest.approx(expected, rel=1e-12)


def test_value_and_grad_with_argnums_and_aux():
    def f(x, y):
        loss = (x * y).sum()
        return loss, {"norm": (x * x).sum()}

    x, y = graphc.tensor([1.0, 2.0]), graphc.tensor([3.0, 4.0])
    (value, aux), (gx, gy) = graphc.value_and_grad(f, argnums=(0, 1), has_aux=True)(x, y)
    assert value.item() == 11.0 and aux["norm"].item() == 5.0
    assert gx.tolist() == [3.0, 4.0] and gy.tolist() == [1.0, 2.0]
    assert not x.requires_grad and x.grad is None  # arguments are left alone


def test_compiled_value_and_grad_is_one_graph_matching_eager():
    vg = graphc.value_and_grad(lambda w, x: graphc.log_softmax(x @ w, dim=-1).sum())
    r = np.random.default_rng(2)
    w, x = graphc.from_numpy(r.normal(size=(3, 4))), graphc.from_numpy(r.normal(size=(5, 3)))
    compiled = graphc.compile(vg)
    (value, grad_w), (ev, eg) = compiled(w, x), vg(w, x)
    np.testing.assert_allclose(value.numpy(), ev.numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad_w.numpy(), eg.numpy(), rtol=1e-12)
    assert len(compiled.entries) == 1
    graph = compiled.entries[0].graph  # on the llvm backend the matmul sits in a fused node
    assert "matmul" in [n.op for node in graph.nodes for n in (node.body or graph).nodes]


def test_grad_rejects_non_scalar_outputs_and_integer_arguments():
    with pytest.raises(graphc.AutogradError, match="scalar"):
        graphc.grad(lambda x: x * 2)(graphc.ones(3))
    with pytest.raises(graphc.AutogradError, match="floating point"):
        graphc.grad(cubic_sum)(graphc.arange(3))
