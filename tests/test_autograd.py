"""Eager autograd: backward, accumulation, grad modes, in-place rules, double backward, composites.

Gradients are checked in float64 against central finite differences (``eps=1e-6``,
``rtol=1e-5``, ``atol=1e-7``; see ``conftest.check_grad``); Hessian-vector products against
central differences of first-order gradients with the same tolerances. Simple closed-form
gradients are compared with their formula evaluated in NumPy.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc
from conftest import FD_EPS, FD_TOL, assert_close, check_grad
from graphc import AutogradError


def leaf(array, dtype=graphc.float64):
    return graphc.tensor(np.asarray(array), dtype=dtype, requires_grad=True)


@pytest.fixture
def xs(rng):
    return rng.uniform(-1.0, 1.0, size=(2, 3))


# -- backward -----------------------------------------------------------------------------------
def test_backward_of_a_scalar_gives_the_gradient(xs):
    w = np.arange(6.0).reshape(2, 3)
    x = leaf(xs)
    (x * x * graphc.tensor(w)).sum().backward()
    assert_close(x.grad, 2 * xs * w)
    assert x.grad.dtype == graphc.float64 and x.grad.requires_grad is False


def test_backward_with_a_gradient_argument_computes_a_vector_jacobian_product(xs):
    x = leaf(xs)
    g = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, 1.0]])
    (x.exp() * 3.0).backward(graphc.tensor(g))
    assert_close(x.grad, 3.0 * np.exp(xs) * g)


def test_backward_of_a_non_scalar_needs_a_gradient_of_the_same_shape(xs):
    y = leaf(xs) * 2
    with pytest.raises(AutogradError, match="scalar"):
        y.backward()
    with pytest.raises(AutogradError, match=r"\[3\].*\[2, 3\]"):
        y.backward(graphc.ones(3, dtype=graphc.float64))


def test_gradients_accumulate_over_backward_calls(xs):
    x = leaf(xs)
    (x * x).sum().backward()
    (3.0 * x).sum().backward()
    assert_close(x.grad, 2 * xs + 3.0)
    x.grad = None
    (x * 1.5).sum().backward()
    assert_close(x.grad, np.full_like(xs, 1.5))


def test_a_value_used_twice_gets_both_contributions(xs):
    x = leaf(xs)
    y = x * x
    (y + y.exp()).sum().backward()  # d/dx (x^2 + exp(x^2)) = 2x + 2x exp(x^2)
    assert_close(x.grad, 2 * xs + 2 * xs * np.exp(xs ** 2))


def test_gradient_dtype_follows_the_input(xs):
    x32 = leaf(xs, graphc.float32)
    (x32 * x32).sum().backward()
    assert x32.grad.dtype == graphc.float32
    x64 = leaf(xs)
    (x64.float() * 2.0).sum().backward()  # through a cast f64 -> f32 the gradient is f64 again
    assert x64.grad.dtype == graphc.float64
    assert_close(x64.grad, np.full_like(xs, 2.0))


# -- grad modes, detach, requires_grad -------------------------------------------------------
def test_no_grad_records_nothing_and_restores_the_mode(xs):
    x = leaf(xs)
    with graphc.no_grad():
        y = x * 2
        assert not graphc.is_grad_enabled()
        with graphc.enable_grad():
            z = x * 2
    assert graphc.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None
    with pytest.raises(RuntimeError):
        with graphc.no_grad():
            raise RuntimeError("boom")
    assert graphc.is_grad_enabled()


def test_set_grad_enabled_switches_when_called_as_pytorchs_does():
    # it once was a generator context manager: a plain call changed nothing
    try:
        graphc.set_grad_enabled(False)
        assert not graphc.is_grad_enabled()
        assert not (leaf(np.ones(2, np.float32)) * 2).requires_grad
    finally:
        graphc.set_grad_enabled(True)
    assert graphc.is_grad_enabled()
    with graphc.set_grad_enabled(False):
        assert not graphc.is_grad_enabled()
    assert graphc.is_grad_enabled()


def test_no_grad_on_a_generator_function_covers_its_body_and_not_the_caller():
    x = leaf(np.ones(2, np.float32))

    @graphc.no_grad()
    def doubled(times):
        for _ in range(times):
            received = yield x * 2
            if received is not None:
                yield received * 3

    modes_between, results = [], []
    steps = doubled(2)
    for y in steps:
        results.append(y)
        modes_between.append(graphc.is_grad_enabled())
        assert (x * 2).requires_grad  # the caller's mode between items
    assert [r.requires_grad for r in results] == [False, False] and modes_between == [True, True]
    steps = doubled(1)
    next(steps)
    assert not steps.send(x).requires_grad  # send resumes the body in no_grad too
    with graphc.no_grad():
        assert next(graphc.enable_grad()(lambda: (yield x * 2))()).requires_grad

    @graphc.no_grad
    def catches():
        try:
            yield 1
        except KeyError:
            yield graphc.is_grad_enabled()
    steps = catches()
    next(steps)
    assert steps.throw(KeyError("k")) is False  # the body handles what is thrown, in no_grad
    steps.close()
    assert graphc.is_grad_enabled()


def test_one_grad_mode_instance_shared_by_two_threads_restores_each_threads_mode():
    import threading
    shared = graphc.no_grad()
    entered, left, seen = threading.Event(), threading.Event(), {}

    def first():  # grad on before its block
        with shared:
            entered.set()
            left.wait()
        seen["first"] = graphc.is_grad_enabled()

    def second():  # grad off before its block, which it enters while the first is inside
        graphc.set_grad_enabled(False)
        entered.wait()
        with shared:
            pass
        left.set()
        seen["second"] = graphc.is_grad_enabled()
    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"first": True, "second": False}


def test_set_grad_enabled_called_inside_a_compiled_function_is_refused():
    # eagerly the mode stays switched after the call; a compiled call would not switch it
    def f(x):
        graphc.set_grad_enabled(False)
        return x * 2
    with pytest.raises(graphc.TraceError, match="switched grad mode"):
        graphc.compile(f)(graphc.ones(2))
    assert graphc.is_grad_enabled()


def test_grad_mode_decorators_restore_the_mode_per_call():
    @graphc.set_grad_enabled(False)
    def off():
        return graphc.is_grad_enabled()

    @graphc.no_grad
    def countdown(n):  # recursion: each call restores what it found
        return countdown(n - 1) if n else graphc.is_grad_enabled()

    @graphc.no_grad()
    def on_inside():
        with graphc.enable_grad():
            return graphc.is_grad_enabled()
    assert graphc.is_grad_enabled()  # decorating switched nothing
    assert (off(), countdown(3), on_inside()) == (False, False, True)
    assert graphc.is_grad_enabled()


def test_detach_shares_the_value_and_stops_the_gradient(xs):
    x = leaf(xs)
    d = x.detach()
    assert not d.requires_grad and d.is_leaf
    np.testing.assert_array_equal(d.numpy(), xs)
    (x * d).sum().backward()  # d is a constant: the gradient is x, not 2x
    assert_close(x.grad, xs)


def test_requires_grad_propagates_through_differentiable_ops_only(xs):
    x, c = leaf(xs), graphc.tensor(xs)
    assert x.is_leaf and x.requires_grad and x.grad_fn is None
    assert not (c * 2).requires_grad
    y = x * c + 1
    assert y.requires_grad and not y.is_leaf and y.grad_fn is not None
    assert not (x > 0).requires_grad and not x.argmax().requires_grad
    assert graphc.tensor(xs).requires_grad_().requires_grad


def test_only_float_tensors_can_require_grad():
    with pytest.raises(AutogradError, match="floating point"):
        graphc.tensor([1, 2], requires_grad=True)
    with pytest.raises(AutogradError, match="floating point"):
        graphc.tensor([1, 2]).requires_grad_()


def test_second_backward_without_retain_graph_is_an_error(xs):
    x = leaf(xs)
    y = x.tanh().sum()
    y.backward()
    with pytest.raises(AutogradError, match="retain_graph"):
        y.backward()


def test_retain_graph_allows_a_second_backward(xs):
    x = leaf(xs)
    y = x.tanh().sum()
    y.backward(retain_graph=True)
    y.backward()
    assert_close(x.grad, 2 * (1 - np.tanh(xs) ** 2))


def test_backward_of_a_tensor_without_history_is_an_error():
    with pytest.raises(AutogradError, match="does not require grad"):
        graphc.tensor(1.0).backward()


def test_autograd_grad_returns_gradients_without_touching_dot_grad(xs):
    x, unused = leaf(xs), leaf([1.0])
    gx, gu = graphc.autograd.grad((x * x).sum(), [x, unused], allow_unused=True)
    assert_close(gx, 2 * xs)
    assert gu is None and x.grad is None
    with pytest.raises(AutogradError, match="not used"):  # PyTorch's default: an error
        graphc.autograd.grad((x * x).sum(), [x, unused])


# -- in-place ops --------------------------------------------------------------------------------
INPLACE = [
    ("add_", lambda t, o: t.add_(o), lambda a, o: a + o),
    ("add_-alpha", lambda t, o: t.add_(o, alpha=-2.0), lambda a, o: a - 2.0 * o),
    ("sub_", lambda t, o: t.sub_(o), lambda a, o: a - o),
    ("mul_", lambda t, o: t.mul_(o), lambda a, o: a * o),
    ("div_", lambda t, o: t.div_(o), lambda a, o: a / o),
    ("+=", lambda t, o: t.__iadd__(o), lambda a, o: a + o),
    ("-=", lambda t, o: t.__isub__(o), lambda a, o: a - o),
    ("*=", lambda t, o: t.__imul__(o), lambda a, o: a * o),
    ("/=", lambda t, o: t.__itruediv__(o), lambda a, o: a / o),
    ("zero_", lambda t, o: t.zero_(), lambda a, o: np.zeros_like(a)),
    ("fill_", lambda t, o: t.fill_(2.5), lambda a, o: np.full_like(a, 2.5)),
    ("copy_", lambda t, o: t.copy_(o), lambda a, o: np.broadcast_to(o, a.shape)),
    ("setitem", lambda t, o: t.__setitem__((0, slice(1, None)), o[1:]),
     lambda a, o: np.concatenate([[[a[0, 0], *o[1:]]], a[1:]])),
]


@pytest.mark.parametrize("name,apply_op,oracle", INPLACE, ids=[c[0] for c in INPLACE])
def test_in_place_ops_update_the_tensor_and_return_it(name, apply_op, oracle, xs):
    other = np.array([0.5, 1.5, 2.0])
    t = graphc.tensor(xs)
    result = apply_op(t, graphc.tensor(other))
    assert result is t or name == "setitem"
    assert t.dtype == graphc.float64
    assert_close(t, oracle(xs, other))


@pytest.mark.parametrize("name,apply_op,oracle", INPLACE, ids=[c[0] for c in INPLACE])
def test_in_place_ops_on_non_leaf_tensors_have_correct_gradients(name, apply_op, oracle, rng):
    x0, w0 = rng.uniform(0.5, 1.5, size=(2, 3)), rng.uniform(0.5, 1.5, size=3)

    def fn(x, w):
        y = x + 0.25  # a non-leaf (add's gradient reads no values)
        apply_op(y, w)
        return y * x.exp()

    check_grad(fn, [x0, w0])


def test_a_function_mixing_many_in_place_ops_has_correct_gradients(rng):
    x0, w0 = rng.uniform(-1, 1, size=(2, 3)), rng.uniform(0.5, 1.5, size=(2, 3))

    def fn(x, w):
        y = x + 0.0
        y += w
        y.sub_(w * 0.5)
        y.add_(w, alpha=2.0)
        y[0, 1:] = w[1, :2] * 3.0
        z = w + 1.0
        z.mul_(x)
        u = x - 0.0
        u.div_(w + 3.0)
        c = x + 0.0
        c.copy_(w * w)
        f = x + 0.0
        f.fill_(2.0)
        v = x + 0.0
        v.zero_()
        return y * z + u.exp() + c.sin() + f * x + v

    check_grad(fn, [x0, w0])


def test_overwriting_a_non_leaf_gives_zero_gradient_to_its_old_value(xs):
    x = leaf(xs)
    y = x + 1.0
    y.zero_()
    y.sum().backward()
    assert_close(x.grad, np.zeros_like(xs))
    assert not y.is_leaf and y.grad is None


def test_modifying_a_tensor_saved_for_backward_is_an_error(xs):
    x = leaf(xs)
    y = x.exp()  # exp's gradient reads its result
    y.add_(1)
    with pytest.raises(AutogradError, match="in-place"):
        y.sum().backward()

    a = x + 0.0
    b = a * a  # mul's gradient reads its operands
    a.mul_(2.0)
    with pytest.raises(AutogradError, match="in-place"):
        b.sum().backward()


def test_modifying_a_tensor_that_backward_does_not_need_is_fine(xs):
    x = leaf(xs)
    y = x + 1  # add's gradient needs no values
    y.add_(1)
    y.sum().backward()
    assert_close(x.grad, np.ones_like(xs))


def _matmul_of_itself_grad(x):
    a = x.reshape(3, 2)  # d/dx sum(a @ x) with a = reshape(x)
    return (np.ones((3, 3)) @ x.T).reshape(2, 3) + a.T @ np.ones((3, 3))


@pytest.mark.parametrize("build,expected_grad", [
    pytest.param(lambda x: x * 2.0, lambda x: np.full_like(x, 2.0), id="mul-result"),
    pytest.param(lambda x: x.reshape(3, 2) @ x, _matmul_of_itself_grad, id="matmul-result"),
    pytest.param(lambda x: graphc.where(x > 0, x, 0.0), lambda x: (x > 0).astype(float),
                 id="where-result"),
])
def test_in_place_change_to_a_value_the_gradient_rule_does_not_read_is_allowed(
        build, expected_grad, xs):
    x = leaf(xs)
    y = build(x)
    y += 1.0  # e.g. `h = x @ w; h += b`, the usual way of adding a bias in place
    y.sum().backward()
    assert_close(x.grad, expected_grad(xs))


def test_in_place_change_to_an_input_of_exp_is_allowed(xs):
    x = leaf(xs)
    a = x + 0.0
    b = a.exp()
    a.add_(1.0)  # exp's gradient only reads its result b
    b.sum().backward()
    assert_close(x.grad, np.exp(xs))


def test_in_place_change_to_the_result_of_exp_is_an_error(xs):
    b = leaf(xs).exp()
    b += 1.0  # exp's gradient reads b, as in PyTorch this must fail
    with pytest.raises(AutogradError, match="result of exp"):
        b.sum().backward()


def test_detach_in_place_does_not_cut_an_already_recorded_graph(xs):
    x = leaf(xs)
    a = x * 2.0
    b = a * 3.0
    a.detach_()  # a itself is cut from history, b's recorded history is not
    assert a.is_leaf and not a.requires_grad
    b.sum().backward()
    assert_close(x.grad, np.full_like(xs, 6.0))


def test_in_place_on_a_leaf_that_requires_grad_is_an_error_outside_no_grad(xs):
    x = leaf(xs)
    with pytest.raises(AutogradError, match="leaf"):
        x.add_(1.0)
    with pytest.raises(AutogradError, match="leaf"):
        x[0] = 0.0
    with graphc.no_grad():  # an optimizer step
        x -= 0.5
        x[1, 1] = 7.0
    expected = xs - 0.5
    expected[1, 1] = 7.0
    assert_close(x, expected)
    assert x.is_leaf and x.requires_grad
    (x * 2).sum().backward()
    assert_close(x.grad, np.full_like(xs, 2.0))


# -- double backward ---------------------------------------------------------------------------
def _gradients(f, arrays):
    ts = [leaf(a) for a in arrays]
    return [g.numpy() for g in graphc.autograd.grad(f(*ts), ts)]


def check_hvp(f, arrays, rng, eps=FD_EPS):
    """H v via double backward equals central differences of the gradient along v."""
    arrays = [np.asarray(a, np.float64) for a in arrays]
    vs = [rng.uniform(-1, 1, size=a.shape) for a in arrays]
    ts = [leaf(a) for a in arrays]
    grads = graphc.autograd.grad(f(*ts), ts, create_graph=True)
    assert all(g.requires_grad for g in grads)
    directional = sum((g * graphc.tensor(v)).sum() for g, v in zip(grads, vs))
    hvp = graphc.autograd.grad(directional, ts)
    plus = _gradients(f, [a + eps * v for a, v in zip(arrays, vs)])
    minus = _gradients(f, [a - eps * v for a, v in zip(arrays, vs)])
    for got, p, m in zip(hvp, plus, minus):
        np.testing.assert_allclose(got.numpy(), (p - m) / (2 * eps), **FD_TOL)


def test_second_derivative_of_a_cube():
    x = leaf(3.0)
    (g,) = graphc.autograd.grad(x ** 3, [x], create_graph=True)
    (h,) = graphc.autograd.grad(g, [x])
    assert g.item() == pytest.approx(27.0) and h.item() == pytest.approx(18.0)


def test_hessian_vector_product_of_tanh(rng):
    c = graphc.tensor(rng.uniform(0.5, 1.5, size=(2, 3)))
    check_hvp(lambda x: (x.tanh() * c).sum(), [rng.uniform(-1, 1, size=(2, 3))], rng)


def test_hessian_vector_product_of_softmax_cross_entropy(rng):
    labels = np.array([2, 0, 3])
    onehot = graphc.tensor(np.eye(4)[labels])

    def loss(logits):
        return -(graphc.log_softmax(logits, dim=-1) * onehot).sum() / 3.0

    check_hvp(loss, [rng.standard_normal((3, 4))], rng)


def test_hessian_vector_product_of_a_matmul_chain(rng):
    x = graphc.tensor(rng.standard_normal((4, 3)))

    def loss(w1, w2):
        h = (x @ w1).tanh() @ w2
        return (h * h).sum()

    check_hvp(loss, [rng.standard_normal((3, 5)) * 0.5, rng.standard_normal((5, 2))], rng)


def test_hessian_vector_product_of_a_layer_norm_like_function(rng):
    check_hvp(lambda x: (_layer_norm(x) * _layer_norm(x).sigmoid()).sum(),
              [rng.standard_normal((2, 5))], rng)


# -- composite functions vs finite differences ---------------------------------------------------
def _layer_norm(x, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / (var + eps).sqrt()


def _attention(q, k, v):
    d = q.shape[-1]
    n = q.shape[-2]
    causal = graphc.tensor(np.triu(np.full((n, n), -np.inf), k=1))
    scores = graphc.softmax(q @ k.T / math.sqrt(d) + causal, dim=-1)
    return scores @ v


def _cross_entropy(logits, labels):
    logp = graphc.log_softmax(logits, dim=1)
    return -logp.gather(1, labels.reshape(-1, 1)).mean()


COMPOSITES = [
    ("softmax", lambda x: graphc.softmax(x, dim=-1), [(3, 4)]),
    ("softmax-dim0", lambda x: graphc.softmax(x, dim=0), [(3, 4)]),
    ("log_softmax", lambda x: graphc.log_softmax(x, dim=1), [(3, 4)]),
    ("logsumexp", lambda x: graphc.logsumexp(x, dim=1), [(3, 4)]),
    ("logsumexp-keepdim", lambda x: x.logsumexp(dim=0, keepdim=True), [(3, 4)]),
    ("mean", lambda x: x.mean(dim=(0, 1)), [(3, 4)]),
    ("var", lambda x: x.var(dim=1), [(3, 4)]),
    ("var-biased-all", lambda x: x.var(unbiased=False), [(3, 4)]),
    ("std", lambda x: x.std(dim=0, keepdim=True), [(3, 4)]),
    ("gelu", graphc.gelu, [(3, 4)]),
    ("gelu-tanh", lambda x: graphc.gelu(x, approximate="tanh"), [(3, 4)]),
    ("silu", graphc.silu, [(3, 4)]),
    ("sigmoid-of-square", lambda x: (x * x).sigmoid(), [(3, 4)]),
    ("layer_norm", _layer_norm, [(3, 5)]),
    ("masked-attention", _attention, [(4, 3), (4, 3), (4, 2)]),
    ("mlp", lambda x, w, b: (x @ w + b).relu().sum(dim=1), [(4, 3), (3, 5), (5,)]),
    ("matmul-vector", lambda m, v: m @ v, [(3, 4), (4,)]),
    ("clamp-inside-and-outside", lambda x: x.clamp(min=-0.5, max=0.5) * x, [(3, 4)]),
    ("max-dim-values", lambda x: x.max(dim=1).values, [(3, 4)]),
    ("slicing", lambda x: x[1:, ::2] * x[:2, 1::2], [(3, 4)]),
    ("indexing-with-None-and-ints", lambda x: x[None, 1, :, None] * x[-1], [(3, 4)]),
    ("cat-stack-split", lambda x: graphc.stack(graphc.cat([x, x * x], 1).split(4, dim=1), 0),
     [(3, 4)]),
    ("pad", lambda x: graphc.pad(x, (1, 2, 0, 1), value=0.5) ** 2, [(3, 4)]),
    ("transpose-permute-expand", lambda x: x.T.unsqueeze(0).expand(2, 4, 3).permute(2, 0, 1),
     [(3, 4)]),
]


@pytest.mark.parametrize("name,fn,shapes", COMPOSITES, ids=[c[0] for c in COMPOSITES])
def test_composite_gradients_match_finite_differences(name, fn, shapes, rng):
    check_grad(fn, [rng.uniform(-1.5, 1.5, size=s) for s in shapes])


def test_cross_entropy_gradient_is_softmax_minus_onehot(rng):
    logits = rng.standard_normal((3, 4))
    labels = np.array([1, 3, 1])
    check_grad(lambda z: _cross_entropy(z, graphc.tensor(labels)), [logits])
    x = leaf(logits)
    _cross_entropy(x, graphc.tensor(labels)).backward()
    e = np.exp(logits - logits.max(1, keepdims=True))
    assert_close(x.grad, (e / e.sum(1, keepdims=True) - np.eye(4)[labels]) / 3, dtype="f64")


def test_embedding_lookup_gradient_accumulates_over_repeated_indices(rng):
    table = rng.standard_normal((5, 2))
    idx = graphc.tensor([[0, 3, 3], [4, 0, 3]])
    check_grad(lambda w: w[idx] * w[idx], [table])
    w = leaf(table)
    w[idx].sum().backward()
    counts = np.bincount(np.array([0, 3, 3, 4, 0, 3]), minlength=5)
    assert_close(w.grad, np.repeat(counts[:, None], 2, axis=1).astype(np.float64))


def test_attention_mask_blocks_the_gradient_to_future_keys(rng):
    q, k, v = (leaf(rng.standard_normal((3, 2))) for _ in range(3))
    out = _attention(q, k, v)
    out[0].sum().backward()  # row 0 may only look at position 0
    assert np.all(np.isfinite(k.grad.numpy()))
    assert np.all(v.grad.numpy()[1:] == 0.0)


def test_recorded_ops_are_freed_without_the_cycle_collector():
    """The forward pass builds no reference cycles: dropping a result frees its tape entry."""
    import gc
    import weakref
    gc.disable()
    try:
        x = graphc.tensor([1.0, 2.0], requires_grad=True)
        y = x.exp()
        record = weakref.ref(y.grad_fn)
        del y
        assert record() is None
    finally:
        gc.enable()


def test_gradient_of_a_weight_shared_by_every_batch_matches_finite_differences(rng):
    # [2, 3, 4] @ [4, 5]: the weight's gradient sums over both leading axes
    check_grad(lambda a, w: a @ w, [rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5))])


def test_gradient_of_a_shared_weight_is_one_gemm_over_stacked_rows():
    # a linear layer over [batch, seq, features]: the weight gradient must not build a
    # [batch, in, out] stack of outer products and then sum it (seconds at attention sizes)
    def loss(x, w):
        return (x @ w).sum()

    graph = graphc.trace(graphc.grad(loss, argnums=1), graphc.randn(8, 16, 32),
                         graphc.randn(32, 24))
    shapes = [tuple(v.type.shape) for n in graph.nodes for v in n.outputs]
    assert (32, 24) in shapes and (8, 32, 24) not in shapes, str(graph)


@pytest.mark.parametrize("compiled", [False, True])
def test_std_of_a_constant_slice_has_a_zero_gradient(compiled):
    # as PyTorch: the square root's own gradient at 0 is infinite (0 * inf would be NaN)
    x = graphc.tensor([[3.0, 3.0, 3.0, 3.0], [1.0, 2.0, 3.0, 4.0]], requires_grad=True)
    std = graphc.compile(lambda x: x.std(1)) if compiled else (lambda x: x.std(1))
    values = std(x)
    assert values.tolist()[0] == 0.0
    values.sum().backward()
    assert x.grad.tolist()[0] == [0.0, 0.0, 0.0, 0.0]
    centered = np.array([-1.5, -0.5, 0.5, 1.5])  # d std / dx = centered / ((n - 1) std)
    np.testing.assert_allclose(x.grad.numpy()[1], centered / (3 * np.sqrt(5 / 3)), rtol=1e-6)
    assert np.isnan(graphc.tensor([1.0, float("nan")]).std().item())


def test_assigning_a_grad_of_another_dtype_is_refused_as_in_pytorch():
    w = graphc.zeros(2, requires_grad=True)
    with pytest.raises(graphc.errors.AutogradError, match="assigned grad has dtype float64|f64"):
        w.grad = graphc.zeros(2, dtype=graphc.float64)
    w.grad = graphc.ones(2)
    assert w.grad.tolist() == [1.0, 1.0]


def test_grad_outputs_are_checked_one_per_output_of_its_shape():
    x = graphc.tensor([1.0, 2.0], requires_grad=True)

    def outs():
        return [(x * x).sum(), (x * 3).sum()]

    (g,) = graphc.autograd.grad(outs(), x, grad_outputs=[None, graphc.tensor(2.0)])
    assert g.tolist() == [8.0, 10.0]  # None: ones (it dropped that output)
    with pytest.raises(graphc.errors.AutogradError, match="1 gradients for 2 outputs"):
        graphc.autograd.grad(outs(), x, grad_outputs=[graphc.tensor(1.0)])
    with pytest.raises(graphc.errors.AutogradError, match=r"grad_output\[0\] has a shape of \[2, 2\]"):
        graphc.autograd.grad(x * x, x, grad_outputs=graphc.ones(2, 2))
    unused = graphc.tensor([5.0], requires_grad=True)
    grads = graphc.autograd.grad((x * x).sum(), [x, unused], materialize_grads=True)
    assert grads[1].tolist() == [0.0]


def test_atan2_gradient_at_the_origin_is_zero_not_nan():
    v = graphc.tensor([[1.0, 1.0], [0.0, 0.0]], requires_grad=True)
    angle = graphc.atan2(v[:, 1], v[:, 0])
    (angle * graphc.tensor([1.0, 0.0])).sum().backward()  # one zero vector made all of it NaN
    assert v.grad.tolist() == [[-0.5, 0.5], [0.0, 0.0]]
    y, x = (graphc.tensor([0.0], requires_grad=True) for _ in range(2))
    graphc.compile(lambda y, x: graphc.atan2(y, x).sum())(y, x).backward()
    assert y.grad.tolist() == [0.0] and x.grad.tolist() == [0.0]


def test_autograd_details_as_pytorch():
    # y * 3 reads only the 3 for y's gradient: changing y in place afterwards is fine
    x = graphc.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = y * 3
    y.add_(1)
    (z + y).sum().backward()
    assert x.grad.tolist() == [8.0, 8.0]
    # an integer result has no gradient: the graph is cut there
    assert not x.long().requires_grad
    # backward(inputs=) accumulates only into those, and .grad accumulates in place
    w = graphc.tensor([3.0, 4.0], requires_grad=True)
    x.grad = None
    (x * w).sum().backward(inputs=[x])
    held = x.grad
    (x * w).sum().backward(inputs=[x])
    assert w.grad is None and held is x.grad and held.tolist() == [6.0, 8.0]
    # a hook may not change the gradient's shape or dtype
    h = x * 1
    h.register_hook(lambda g: g.sum())
    with pytest.raises(graphc.errors.AutogradError, match="changed the gradient"):
        h.sum().backward()


def test_a_gradient_through_a_mask_depends_on_its_input_with_derivative_zero():
    """relu's gradient uses x only through x > 0: under create_graph it requires grad (as in
    PyTorch) and a penalty on it gives zeros; it raised 'does not require grad'."""
    w = graphc.tensor([[1.0, -2.0], [0.5, 1.0]])  # frozen: nothing else requires grad
    x = graphc.tensor([[1.0, 2.0]], requires_grad=True)
    (g,) = graphc.autograd.grad(graphc.relu(x @ w).sum(), x, create_graph=True)
    assert g.requires_grad
    (g ** 2).sum().backward()
    assert x.grad.tolist() == [[0.0, 0.0]]
    (ones,) = graphc.autograd.grad(x.sum(), x, create_graph=True)
    assert not ones.requires_grad  # (sum's gradient reads nothing of x, as in PyTorch)


def test_review_details_of_the_autograd_changes():
    # an in-place op changing a mul input's shape is still refused clearly (not a ShapeError)
    x = graphc.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    y = x * 2
    z = y * graphc.tensor([[1.0], [10.0]])
    y.t_()
    with pytest.raises(graphc.errors.AutogradError, match="modified by an in-place"):
        z.sum().backward()
    # a gradient reading a constant only (x * w): no history under create_graph, as PyTorch
    x = graphc.tensor([1.0, 2.0], requires_grad=True)
    (gx,) = graphc.autograd.grad((x * graphc.tensor([3.0, 4.0])).sum(), x, create_graph=True)
    assert not gx.requires_grad


def test_completion_callbacks_run_after_the_pass_and_belong_to_their_thread():
    # queue_callback (DistributedDataParallel's gradient averaging) runs once, after every
    # leaf's .grad is written; two threads' backward passes keep their own queues
    import sys
    import threading

    from graphc import autograd

    def one_pass(results, key):
        w = graphc.tensor([1.0, 2.0], requires_grad=True)
        seen = []
        w.register_hook(lambda g: autograd.queue_callback(lambda: seen.append(w.grad.tolist())))
        for _ in range(50):
            w.grad = None
            (w * 3).sum().backward()
        results[key] = seen

    results = {}
    threads = [threading.Thread(target=one_pass, args=(results, k)) for k in range(2)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # (threads switch inside a pass: one global queue lost some)
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert results == {0: [[3.0, 3.0]] * 50, 1: [[3.0, 3.0]] * 50}
