"""graphc.trace and graphc.compile: lifting, caching, guards, write-back, errors.

Compiled results are compared with eager graphc (same code, same inputs) and, for the model
functions, with a float64 NumPy oracle. float32 tolerances: rtol=1e-5, atol=1e-5 between compiled
and eager (same op order, so usually exact); rtol=1e-4, atol=1e-5 against float64 NumPy.
"""
import math

import numpy as np
import pytest

import graphc
import ir

F32 = dict(rtol=1e-5, atol=1e-5)
VS_F64 = dict(rtol=1e-4, atol=1e-5)


def rng(seed=0):
    return np.random.default_rng(seed)


def t(array):
    return graphc.from_numpy(np.asarray(array, dtype=np.float32))


# -- model functions used below, with float64 NumPy oracles ---------------------------------------
def mlp(x, w1, b1, w2, b2):
    return graphc.relu(x @ w1.T + b1) @ w2.T + b2


def mlp_np(x, w1, b1, w2, b2):
    return np.maximum(x @ w1.T + b1, 0) @ w2.T + b2


def softmax_np(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / graphc.sqrt(var + eps) * weight + bias


def layer_norm_np(x, weight, bias, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def attention_scores(q, k, mask):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    scores = graphc.where(mask, scores, -1e9)
    return graphc.softmax(scores, dim=-1)


def attention_scores_np(q, k, mask):
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    return softmax_np(np.where(mask, scores, -1e9))


def _case_inputs():
    r = rng(1)
    x, w1, b1 = r.normal(size=(8, 5)), r.normal(size=(7, 5)), r.normal(size=(7,))
    w2, b2 = r.normal(size=(3, 7)), r.normal(size=(3,))
    ln = (r.normal(size=(4, 6)), r.normal(size=(6,)), r.normal(size=(6,)))
    q, k = r.normal(size=(2, 4, 8)), r.normal(size=(2, 5, 8))
    mask = np.tril(np.ones((4, 5), dtype=bool))
    return [
        ("mlp", mlp, mlp_np, (x, w1, b1, w2, b2)),
        ("softmax", lambda x: graphc.softmax(x, dim=-1), softmax_np, (x,)),
        ("layer_norm", layer_norm, layer_norm_np, ln),
        ("attention", attention_scores, attention_scores_np, (q, k, mask)),
    ]


@pytest.mark.parametrize("name,fn,oracle,inputs", _case_inputs(), ids=lambda v: v if isinstance(v, str) else "")
def test_compiled_equals_eager_and_float64_numpy(name, fn, oracle, inputs):
    args = [graphc.from_numpy(a) if a.dtype == bool else t(a) for a in inputs]
    eager = fn(*args).numpy()
    compiled = graphc.compile(fn)(*args).numpy()
    np.testing.assert_allclose(compiled, eager, **F32)
    np.testing.assert_allclose(compiled, oracle(*inputs), **VS_F64)


@pytest.mark.parametrize("name,fn,oracle,inputs", _case_inputs(), ids=lambda v: v if isinstance(v, str) else "")
def test_traced_graphs_verify_and_round_trip(name, fn, oracle, inputs):
    args = [graphc.from_numpy(a) if a.dtype == bool else t(a) for a in inputs]
    graph = graphc.trace(fn, *args)
    ir.verify(graph)
    text = ir.to_text(graph)
    assert ir.to_text(ir.parse(text)) == text
    debug = ir.to_text(graph, debug_info=True)
    assert ir.to_text(ir.parse(debug), debug_info=True) == debug


def test_closure_tensors_are_lifted_not_baked_in():
    w = t([1.0, 2.0, 3.0])
    f = graphc.compile(lambda x: (x * w).sum())
    x = t([1.0, 1.0, 1.0])
    assert f(x).item() == 6.0
    w.mul_(2)  # the compiled graph reads w afresh: no stale constant, no retrace
    assert f(x).item() == 12.0
    assert len(f.entries) == 1
    assert [v.name for v in f.entries[0].graph.inputs] == ["x", "w"]


def test_nested_arguments_and_results():
    @graphc.compile
    def f(batch, scale=2):
        a, b = batch["pair"]
        return {"sum": a + b, "both": [a * scale, (b, "tag")]}

    a, b = t([1.0, 2.0]), t([3.0, 4.0])
    out = f({"pair": (a, b)})
    assert out["sum"].tolist() == [4.0, 6.0]
    assert out["both"][0].tolist() == [2.0, 4.0]
    assert out["both"][1][0].tolist() == [3.0, 4.0] and out["both"][1][1] == "tag"


def test_retraces_once_per_new_shape_and_static_value():
    f = graphc.compile(lambda x, n: x * n)
    f(t(np.ones(3)), 2)
    f(t(np.ones(3)), 2)
    f(t(np.ones(4)), 2)
    f(t(np.ones(3)), 3)
    f(t(np.ones(4)), 2)
    assert len(f.entries) == 3
    assert [e.hits for e in f.entries] == [1, 1, 0]  # the tracing call is a miss
    report = f.explain()
    assert "first call" in report
    assert "argument x: f32[3] -> f32[4]" in report
    assert "argument n: 2 -> 3" in report


def test_numpy_arrays_are_accepted_as_tensors():
    f = graphc.compile(lambda x: x + 1)
    out = f(np.arange(3, dtype=np.float64))
    assert out.dtype == graphc.float64 and out.tolist() == [1.0, 2.0, 3.0]


def test_data_dependent_control_flow_raises_trace_error_at_the_user_line():
    def bad(x):
        if x.sum() > 0:  # the line the error must name
            return x
        return -x

    line = bad.__code__.co_firstlineno + 1
    with pytest.raises(graphc.TraceError) as info:
        graphc.compile(bad)(t([1.0]))
    assert f"test_compile.py:{line}" in str(info.value)
    assert "graphc.where" in str(info.value)


@pytest.mark.parametrize("use", [
    lambda x: float(x.sum()),
    lambda x: x.sum().item(),
    lambda x: np.exp(x),
    lambda x: x.numpy(),
])
def test_value_reads_inside_compiled_code_raise_trace_error(use):
    with pytest.raises(graphc.TraceError):
        graphc.compile(use)(t([1.0, 2.0]))


def test_branching_on_shapes_is_fine_and_guarded():
    def f(x):
        return x.sum() if x.shape[0] > 2 else x.max()

    cf = graphc.compile(f)
    assert cf(t([1.0, 2.0, 3.0])).item() == 6.0
    assert cf(t([1.0, 5.0])).item() == 5.0
    assert len(cf.entries) == 2


def test_in_place_updates_of_closure_state_are_written_back():
    counter = graphc.zeros(2)

    @graphc.compile
    def tick(x):
        counter.add_(x)
        return counter * 1

    out = tick(t([1.0, 2.0]))
    tick(t([1.0, 2.0]))
    assert counter.tolist() == [2.0, 4.0]
    assert out.tolist() == [1.0, 2.0]
    assert len(tick.entries) == 1
    assert "counter (data)" in tick.explain()


def test_backward_inside_compiled_step_matches_eager_training():
    def make():
        graphc.manual_seed(3)
        w = graphc.randn(3, 4, requires_grad=True)
        b = graphc.zeros(4, requires_grad=True)
        return w, b

    def step_fn(w, b):
        def step(x, y):
            w.grad = None
            b.grad = None
            loss = ((x @ w + b - y) ** 2).mean()
            loss.backward()
            with graphc.no_grad():
                w.sub_(0.1 * w.grad)
                b.sub_(0.1 * b.grad)
            return loss
        return step

    r = rng(5)
    data = [(t(r.normal(size=(6, 3))), t(r.normal(size=(6, 4)))) for _ in range(5)]
    we, be = make()
    eager_step = step_fn(we, be)
    wc, bc = make()
    compiled_step = graphc.compile(step_fn(wc, bc))
    for x, y in data:
        le = eager_step(x, y)
        lc = compiled_step(x, y)
        np.testing.assert_allclose(lc.numpy(), le.numpy(), **F32)
    np.testing.assert_allclose(wc.numpy(), we.numpy(), **F32)
    np.testing.assert_allclose(bc.grad.numpy(), be.grad.numpy(), **F32)
    assert len(compiled_step.entries) == 1


def test_guard_on_state_type_retraces_with_reason():
    w = t([1.0, 2.0])
    f = graphc.compile(lambda x: x * w)
    f(t([1.0, 1.0]))
    w._data = np.ones(2, dtype=np.float64)  # the lifted tensor changed dtype
    f(t([1.0, 1.0]))
    assert len(f.entries) == 2
    assert "guard failed: w has type f32[2]" in f.entries[1].reason


def test_random_ops_draw_fresh_numbers_each_call_and_follow_manual_seed():
    f = graphc.compile(lambda x: x + graphc.rand(3))
    x = graphc.zeros(3)
    graphc.manual_seed(0)
    a, b = f(x).numpy(), f(x).numpy()
    assert not np.array_equal(a, b)
    graphc.manual_seed(0)
    np.testing.assert_array_equal(f(x).numpy(), a)


def test_graph_for_returns_the_graph_that_runs():
    f = graphc.compile(lambda x: graphc.exp(x))
    graph = f.graph_for(t([1.0]))
    assert [n.op for n in graph.nodes] == ["exp"]
    assert str(graph.inputs[0].type) == "f32[1]"


def test_compiled_function_called_inside_another_is_traced_inline():
    inner = graphc.compile(lambda x: x * 2)
    # the interpreter lowers nothing, so the ops traced from inner stay visible in the graph
    outer = graphc.compile(lambda x: inner(x) + 1, backend="interpreter")
    assert outer(t([1.0])).tolist() == [3.0]
    assert [n.op for n in outer.entries[0].graph.nodes].count("mul") == 1


def test_tensor_stored_into_reachable_state_becomes_concrete_as_eagerly():
    stored = []

    @graphc.compile
    def f(x):
        stored.append(x * 2)
        return x

    f(t([1.0]))
    f(t([3.0]))
    assert [s.tolist() for s in stored] == [[2.0], [6.0]]  # eager appends once per call
    assert not any(s.is_traced for s in stored)


def test_tensor_stored_into_a_static_argument_object_becomes_concrete():
    class Box:
        value = None

    @graphc.compile
    def f(x, box):
        box.value = x * 2
        return x

    box = Box()
    f(t([1.0]), box)
    assert box.value.tolist() == [2.0]
    f(t([5.0]), box)
    assert box.value.tolist() == [10.0]


def test_traced_tensor_escaping_where_graphc_cannot_see_is_reported_when_used():
    import queue
    hidden = queue.SimpleQueue()  # a C object: the walk over the function's state cannot open it

    @graphc.compile
    def f(x):
        hidden.put(x * 2)
        return x

    f(t([1.0]))
    with pytest.raises(graphc.TraceError, match="escaped"):
        hidden.get() + 1


def test_tensor_stored_into_a_slotted_object_becomes_concrete():
    class Slotted:  # no __dict__: its state lives in __slots__
        __slots__ = ("value",)

    holder = Slotted()

    @graphc.compile
    def f(x):
        holder.value = x * 2
        return x

    f(t([1.0]))
    assert holder.value.tolist() == [2.0]
    f(t([5.0]))
    assert holder.value.tolist() == [10.0]


def test_unknown_backend_is_rejected_early():
    with pytest.raises(Exception, match="unknown backend 'nope'"):
        graphc.compile(lambda x: x, backend="nope")


# -- state identity and arguments (each of these once gave a silently different result) -------
def test_detach_clone_and_grad_assignment_of_closure_tensors_read_the_current_value():
    w = t([1.0, 1.0])
    src = t([2.0])
    p = t([0.0])

    @graphc.compile
    def f(x):
        p.grad = src
        return x * w.detach() + w.clone()

    x = t([1.0, 1.0])
    f(x)
    w.add_(1)
    src.add_(1)
    assert f(x).tolist() == [4.0, 4.0]  # eager: 1 * 2 + 2
    assert p.grad.tolist() == [3.0]


def test_reading_a_closure_tensor_value_while_tracing_is_a_trace_error():
    scale = t([3.0])
    with pytest.raises(graphc.TraceError, match="call .item()"):
        graphc.compile(lambda x: x * scale.item())(t([1.0]))


def test_replacing_a_lifted_parameter_or_global_retraces():
    from graphc import nn
    model = nn.Linear(2, 1)
    forward = graphc.compile(model)
    x = t([[1.0, 1.0]])
    forward(x)
    with graphc.no_grad():
        model.weight = nn.Parameter(graphc.full((1, 2), 5.0))
        model.bias = nn.Parameter(graphc.zeros(1))
    assert forward(x).tolist() == [[10.0]]
    assert ("model.weight is the tensor seen while tracing (now another tensor of type f32[1,2])"
            in forward.entries[1].reason)


GLOBAL_W = t([1.0, 2.0])


def test_rebinding_a_global_tensor_retraces():
    global GLOBAL_W
    f = graphc.compile(lambda x: (x * GLOBAL_W).sum())
    x = t([1.0, 1.0])
    assert f(x).item() == 3.0
    GLOBAL_W = t([2.0, 2.0])
    assert f(x).item() == 4.0
    assert len(f.entries) == 2


def test_in_place_updates_of_tensor_arguments_are_written_back():
    @graphc.compile
    def bump(x):
        x.add_(1)
        x[0] = 5.0

    a, b = t([0.0, 0.0]), t([1.0, 1.0])
    bump(a)
    bump(b)
    assert a.tolist() == [5.0, 1.0] and b.tolist() == [5.0, 2.0]
    assert len(bump.entries) == 1


def test_backward_accumulates_into_the_grad_of_tensor_arguments():
    @graphc.compile
    def accumulate(x):
        (x * x).sum().backward()

    x = t([1.0, 2.0]).requires_grad_()
    accumulate(x)
    accumulate(x)
    assert x.grad.tolist() == [4.0, 8.0]  # 2 * 2x, as eagerly
    y = t([3.0]).requires_grad_()
    accumulate(y)
    assert y.grad.tolist() == [6.0]


def test_the_same_tensor_as_argument_and_closure_state():
    w = t([1.0]).requires_grad_()

    @graphc.compile
    def f(a):
        (a * w).sum().backward()

    f(w)
    assert w.grad.tolist() == [2.0]  # d(w*w)/dw
    other = t([3.0]).requires_grad_()
    f(other)  # now the argument is not w: a different graph
    assert w.grad.tolist() == [5.0]
    assert "argument a is w" in f.entries[1].reason


def test_the_same_tensor_passed_twice_and_then_two_tensors():
    f = graphc.compile(lambda a, b: a * 2 + b)
    x, y = t([1.0]), t([10.0])
    assert f(x, x).tolist() == [3.0]
    assert f(x, y).tolist() == [12.0]
    assert len(f.entries) == 2


def test_turning_requires_grad_on_for_lifted_state_retraces():
    a, b = t([1.0]).requires_grad_(), t([1.0])

    @graphc.compile
    def step():
        for p in (a, b):
            p.grad = None
        loss = (a * b).sum()
        loss.backward()
        return loss

    step()
    assert b.grad is None
    b.requires_grad_(True)
    step()
    assert b.grad.tolist() == [1.0]


def test_grads_held_from_an_earlier_step_are_not_overwritten():
    w = t([1.0]).requires_grad_()

    @graphc.compile
    def step(x):
        w.grad = None
        (w * x).sum().backward()

    step(t([2.0]))
    held = w.grad
    step(t([16.0]))
    assert held.tolist() == [2.0] and w.grad.tolist() == [16.0]


def test_unhashable_static_arguments_are_compared_by_identity():
    class Config:  # unhashable: defines __eq__ without __hash__
        def __init__(self, scale):
            self.scale = scale

        def __eq__(self, other):
            return isinstance(other, Config) and other.scale == self.scale

    f = graphc.compile(lambda x, cfg: x * cfg.scale)
    results = [f(t([1.0]), Config(s)).item() for s in (1.0, 2.0, 3.0, 4.0)]
    assert results == [1.0, 2.0, 3.0, 4.0]


def test_keyword_and_positional_calls_share_a_cache_entry():
    f = graphc.compile(lambda x, y, n=2: x * n + y)
    a, b = t([1.0]), t([2.0])
    f(a, b)
    f(x=a, y=b)
    f(y=b, x=a, n=2)
    assert len(f.entries) == 1


def test_negative_zero_and_nan_static_floats():
    f = graphc.compile(lambda x, s: x * s)
    assert np.signbit(f(t([1.0]), 0.0).numpy()[0]) == False  # noqa: E712
    assert np.signbit(f(t([1.0]), -0.0).numpy()[0]) == True  # noqa: E712
    f(t([1.0]), float("nan"))
    f(t([1.0]), float("nan"))
    assert len(f.entries) == 3


def test_returning_tensors_inside_an_unsupported_container_is_a_trace_error():
    class Box:
        def __init__(self, value):
            self.value = value

    with pytest.raises(graphc.TraceError, match="returned a Box holding tensors"):
        graphc.compile(lambda x: Box(x * 2))(t([1.0]))


def test_compile_decorates_a_method_bound_to_each_instance():
    # as torch.compile: the instance is the first (static) argument; its state is guarded
    from graphc import nn

    class Scaled(nn.Module):
        def __init__(self, scale):
            super().__init__()
            self.lin = nn.Linear(3, 2)
            self.scale = scale

        @graphc.compile
        def forward(self, x):
            return self.lin(x) * self.scale
    graphc.manual_seed(0)
    a, b, x = Scaled(2.0), Scaled(3.0), graphc.randn(4, 3)
    for model in (a, b):
        np.testing.assert_allclose(model(x).numpy(), Scaled.forward.fn(model, x).numpy(),
                                   rtol=1e-6)
    a.scale = 5.0
    np.testing.assert_allclose(a(x).numpy(), Scaled.forward.fn(a, x).numpy(), rtol=1e-6)
    assert "self.scale == 2.0 (now 5.0)" in Scaled.forward.entries[-1].reason
    a(x).sum().backward()
    assert a.lin.weight.grad is not None and b.lin.weight.grad is None
    assert len(b.forward.graph_for(x).outputs) == 1  # bound: the instance passed first
    assert b.forward.explain() == Scaled.forward.explain()


def test_a_non_tensor_output_the_call_makes_is_a_new_object_per_call():
    # the object made while tracing was returned by every call: what the caller wrote into
    # one result showed in the next
    import numpy as np
    shared = {"labels": np.arange(2)}

    def f(x):
        return x * 2, np.zeros(3), {"seen": set()}, shared["labels"]
    compiled = graphc.compile(f)
    _, counts, stats, labels = compiled(graphc.ones(2))
    counts += 5
    stats["seen"].add("a")
    _, counts_again, stats_again, labels_again = compiled(graphc.ones(2))
    assert counts_again.tolist() == [0.0, 0.0, 0.0] and stats_again == {"seen": set()}
    assert labels is labels_again is shared["labels"]  # state's own objects stay themselves


def test_randperm_shuffles_inside_a_compiled_function():
    # it sorted with NumPy: compiling it failed, blaming a .numpy() the user never wrote
    shuffle = graphc.compile(lambda x: x[graphc.randperm(x.shape[0])])
    x = graphc.arange(8.0)
    orders = {tuple(shuffle(x).tolist()) for _ in range(5)}
    assert all(sorted(order) == list(range(8)) for order in orders) and len(orders) > 1


def test_a_result_recorded_inside_enable_grad_under_an_outer_no_grad_is_refused():
    # compiled, it came back without history where eagerly backward() works
    w = graphc.nn.Parameter(graphc.ones(3))

    def loss(x):
        with graphc.enable_grad():
            return (x * w).sum()

    def gradient(x):  # a gradient taken inside is fine: it has no history of its own
        with graphc.enable_grad():
            return graphc.autograd.grad((x * w).sum(), w)[0]
    x = graphc.tensor([1.0, 2.0, 3.0])
    with graphc.no_grad():
        with pytest.raises(graphc.errors.TraceError, match="inside enable_grad"):
            graphc.compile(loss)(x)
        assert graphc.compile(gradient)(x).tolist() == [1.0, 2.0, 3.0]


def test_an_argument_with_history_passes_through_a_compiled_call_under_no_grad():
    # a result made before the call is not one the trace recorded inside enable_grad
    w = graphc.nn.Parameter(graphc.ones(2))
    y = w * 3
    with graphc.no_grad():
        out, doubled = graphc.compile(lambda a, x: (a, x * 2))(y, graphc.ones(2))
    assert out is y and out.requires_grad and not doubled.requires_grad


def test_a_returned_object_holding_state_is_not_copied():
    class Result:
        def __init__(self, model):
            self.model = model
    model = graphc.nn.Linear(1, 1)
    compiled = graphc.compile(lambda x: (x * 2, Result(model), [model.weight.shape[0]]))
    _, result, sizes = compiled(graphc.ones(1))
    sizes.append(5)
    _, again, sizes_again = compiled(graphc.ones(1))
    assert result.model is model and again.model is model and sizes_again == [1]
