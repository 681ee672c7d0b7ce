"""graphc.nn.utils: gradient clipping and flat parameter vectors, against NumPy versions of
PyTorch's definitions, eagerly and inside compiled training steps."""
import math

import numpy as np
import pytest
from test_optim import F32, F64

import graphc
from graphc import nn, optim
from graphc.errors import TraceError
from graphc.nn import Parameter
from graphc.nn.utils import (
    clip_grad_norm_,
    clip_grad_value_,
    get_total_norm,
    parameters_to_vector,
    vector_to_parameters,
)
from ir.errors import ShapeError


def params_with_grads(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal((2, 3)), rng.standard_normal(4), None, rng.standard_normal(())]
    params = []
    for g in grads:
        p = Parameter(graphc.tensor(np.zeros(np.shape(g) if g is not None else 3, dtype=dtype)))
        if g is not None:
            p.grad = graphc.tensor(np.asarray(g, dtype=dtype))
        params.append(p)
    return params, [g for g in grads if g is not None]


def norm_ref(grads, norm_type):
    flat = np.concatenate([np.ravel(g) for g in grads])
    if norm_type == math.inf:
        return np.abs(flat).max()
    if norm_type == 0:
        return float(np.count_nonzero(flat))
    return (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)


@pytest.mark.parametrize("norm_type", [2.0, 1, math.inf, 3.0, 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_scales_gradients_as_pytorch(norm_type, max_norm):
    params, grads = params_with_grads()
    total = clip_grad_norm_(params, max_norm, norm_type=norm_type)
    expected_total = norm_ref(grads, norm_type)
    assert total.item() == pytest.approx(expected_total, rel=1e-12)
    scale = min(1.0, max_norm / (expected_total + 1e-6))
    clipped = [p.grad.numpy() for p in params if p.grad is not None]
    for got, g in zip(clipped, grads):
        np.testing.assert_allclose(got, g * scale, **F64)
    assert params[2].grad is None  # parameters without a gradient are skipped
    if max_norm < expected_total:
        assert norm_ref(clipped, norm_type) == pytest.approx(max_norm, rel=1e-5)


def test_clip_grad_norm_accepts_one_tensor_and_a_generator():
    w = Parameter(graphc.zeros(2, dtype=graphc.float64))
    w.grad = graphc.tensor([3.0, 4.0], dtype=graphc.float64)
    assert clip_grad_norm_(w, 1.0).item() == 5.0
    model = nn.Linear(3, 2)
    model(graphc.ones(4, 3)).sum().backward()
    before = norm_ref([p.grad.numpy() for p in model.parameters()], 2)
    assert clip_grad_norm_(model.parameters(), 0.1).item() == pytest.approx(before, rel=1e-6)


def test_clip_grad_norm_without_gradients_returns_zero():
    assert clip_grad_norm_([Parameter(graphc.zeros(2))], 1.0).item() == 0.0


def test_clip_grad_norm_nonfinite_raises_runtime_error_only_when_asked():
    w = Parameter(graphc.zeros(2))
    w.grad = graphc.tensor([float("inf"), 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_([w], 1.0, error_if_nonfinite=True)
    assert w.grad.tolist()[1] == 1.0  # nothing was scaled
    total = clip_grad_norm_([w], 1.0)
    assert math.isinf(total.item())


def test_get_total_norm_is_the_norm_of_the_concatenation():
    _, grads = params_with_grads(seed=4)
    total = get_total_norm([graphc.tensor(g) for g in grads], norm_type=3.0)
    assert total.item() == pytest.approx(norm_ref(grads, 3.0), rel=1e-12)


def test_clip_grad_value_clamps_each_entry():
    params, grads = params_with_grads(seed=1)
    assert clip_grad_value_(params, 0.5) is None
    for p, g in zip([p for p in params if p.grad is not None], grads):
        np.testing.assert_array_equal(p.grad.numpy(), np.clip(g, -0.5, 0.5))


def clipped_training(compiled, clip, steps=4):
    graphc.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    opt = optim.SGD(model.parameters(), lr=0.05)
    x = graphc.tensor(np.linspace(-2, 2, 15, dtype=np.float32).reshape(5, 3))
    y = graphc.ones(5, 1) * 3.0

    def step(x, y):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean() * 50.0
        loss.backward()
        total = clip(model.parameters())
        opt.step()
        return loss, total

    fn = graphc.compile(step) if compiled else step
    totals = [fn(x, y)[1] for _ in range(steps)]
    return [p.numpy() for p in model.parameters()], totals, fn


@pytest.mark.parametrize("clip", [
    lambda ps: clip_grad_norm_(ps, 1.0),
    lambda ps: clip_grad_norm_(ps, 0.5, norm_type=math.inf),
    lambda ps: clip_grad_value_(ps, 0.1),
], ids=["norm2", "norm_inf", "value"])
def test_clipping_inside_a_compiled_step_matches_eager(clip):
    params_e, totals_e, _ = clipped_training(False, clip)
    params_c, totals_c, fn = clipped_training(True, clip)
    for a, b in zip(params_c, params_e):
        np.testing.assert_allclose(a, b, **F32)
    if totals_e[0] is not None:
        np.testing.assert_allclose([t.item() for t in totals_c], [t.item() for t in totals_e],
                                   **F32)
        assert totals_e[0].item() > 1.0  # clipping was active
    assert len(fn.entries) == 1, fn.explain()


def test_error_if_nonfinite_inside_compile_is_a_clear_trace_error():
    w = Parameter(graphc.ones(2))

    @graphc.compile
    def step(x):
        (w * x).sum().backward()
        return clip_grad_norm_([w], 1.0, error_if_nonfinite=True)

    with pytest.raises(TraceError, match="error_if_nonfinite=False"):
        step(graphc.ones(2))


def test_parameters_to_vector_and_back():
    a = Parameter(graphc.tensor([[1.0, 2.0], [3.0, 4.0]]))
    b = Parameter(graphc.tensor([5.0]))
    vec = parameters_to_vector([a, b])
    assert vec.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    (vec * graphc.tensor([1.0, 2.0, 3.0, 4.0, 5.0])).sum().backward()  # differentiable
    assert a.grad.tolist() == [[1.0, 2.0], [3.0, 4.0]] and b.grad.tolist() == [5.0]
    vector_to_parameters(graphc.tensor([9.0, 8.0, 7.0, 6.0, 5.0]), [a, b])
    assert a.tolist() == [[9.0, 8.0], [7.0, 6.0]] and b.tolist() == [5.0]
    assert a.requires_grad and a.grad_fn is None  # still a leaf parameter


def test_vector_to_parameters_rejects_bad_input():
    a = Parameter(graphc.zeros(2, 2))
    with pytest.raises(TypeError, match="vec must be a Tensor"):
        vector_to_parameters([1.0, 2.0, 3.0, 4.0], [a])
    with pytest.raises(ShapeError, match="vector of 4 elements"):
        vector_to_parameters(graphc.zeros(3), [a])
    with pytest.raises(TypeError, match="Tensors"):
        parameters_to_vector([a, 3.0])


def test_parameters_round_trip_inside_a_compiled_function():
    a = Parameter(graphc.tensor([1.0, 2.0]))
    b = Parameter(graphc.tensor([[3.0]]))

    @graphc.compile
    def shift():
        with graphc.no_grad():
            vector_to_parameters(parameters_to_vector([a, b]) + 1.0, [a, b])

    shift()
    shift()
    assert a.tolist() == [3.0, 4.0] and b.tolist() == [[5.0]]


def test_total_norm_of_mixed_dtype_gradients_is_in_the_widest_dtype():
    w32 = graphc.nn.Parameter(graphc.zeros(2))
    w64 = graphc.nn.Parameter(graphc.zeros(2, dtype=graphc.float64))
    w32.grad = graphc.tensor([3.0, 4.0])
    w64.grad = graphc.tensor([30.0, 1.0 / 3.0], dtype=graphc.float64)
    total = graphc.nn.utils.clip_grad_norm_([w32, w64], max_norm=1.0)
    expected = np.sqrt(25.0 + 900.0 + 1.0 / 9.0)
    assert total.dtype == graphc.float64 and total.item() == pytest.approx(expected, rel=1e-15)
