"""PyTorch's front-end surface (issue 10): device lines, module paths, ``Tensor.data``,
``.type()``, ``new_*``, legacy constructors, in-place random fills, ``axis=`` and 0-d dims.

Expected values follow PyTorch's documented semantics and are stated independently here.
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest

import graphc
from conftest import assert_close
from graphc import nn


# -- device lines ------------------------------------------------------------------------------
def test_accelerator_answers_none_and_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(graphc.cuda, "is_available", lambda: False)
    assert graphc.accelerator.is_available() is False
    assert graphc.accelerator.current_accelerator() is None
    assert graphc.accelerator.device_count() == 0
    device = (graphc.accelerator.current_accelerator() if graphc.accelerator.is_available()
              else "cpu")
    assert graphc.ones(2).to(device).device == graphc.device("cpu")


def test_accelerator_names_cuda_when_cuda_is_available(monkeypatch):
    monkeypatch.setattr(graphc.cuda, "is_available", lambda: True)
    assert graphc.accelerator.is_available() is True
    assert graphc.accelerator.current_accelerator() == graphc.device("cuda")
    assert graphc.accelerator.current_accelerator().type == "cuda"
    assert graphc.accelerator.device_count() == 1


def test_pytorch_example_device_lines_run_on_the_cpu():
    use_cuda = graphc.cuda.is_available() and False
    device = graphc.device("cuda" if use_cuda else "cpu")
    model = nn.Linear(3, 2).to(device)
    x = graphc.ones(4, 3).to(device, non_blocking=True)
    y = graphc.zeros(4, 2, device=device)
    assert model(x).device == device and y.device == device and not x.is_cuda
    assert x.to(device, graphc.float64).dtype == graphc.float64


def test_every_factory_takes_device():
    cpu = graphc.device("cpu")
    made = [graphc.tensor([1.0], device="cpu"), graphc.as_tensor([1.0], device=cpu),
            graphc.zeros(2, device=cpu), graphc.ones(2, device=cpu), graphc.empty(2, device=cpu),
            graphc.full((2,), 3.0, device=cpu), graphc.arange(3, device=cpu),
            graphc.linspace(0, 1, 3, device=cpu), graphc.eye(2, device=cpu),
            graphc.rand(2, device=cpu), graphc.randn(2, device=cpu),
            graphc.randint(0, 5, (2,), device=cpu), graphc.randperm(3, device=cpu),
            graphc.normal(0.0, 1.0, (2,), device=cpu), graphc.zeros_like(graphc.ones(2),
                                                                       device=cpu)]
    assert all(t.device == cpu for t in made)


def test_tensor_to_a_string_that_is_no_device_is_a_device_error():
    with pytest.raises(graphc.DeviceError, match="unknown device 'tpu'"):
        graphc.ones(2).to("tpu")
    with pytest.raises(RuntimeError):
        nn.Linear(2, 2).to("mps")


def test_cudnn_flags_are_settable_and_mps_is_not_available():
    import graphc.backends.cudnn as cudnn
    saved = (cudnn.benchmark, cudnn.deterministic)
    try:
        cudnn.benchmark = True
        cudnn.deterministic = True
        assert graphc.backends.cudnn.benchmark is True
        assert graphc.backends.cudnn.deterministic is True
    finally:
        cudnn.benchmark, cudnn.deterministic = saved
    assert graphc.backends.cudnn.enabled is True
    assert graphc.backends.mps.is_available() is False


def test_graphc_backends_does_not_shadow_the_code_generators():
    import backends
    assert hasattr(backends, "get") and not hasattr(graphc.backends, "get")
    assert backends.get("interpreter") is not None


@pytest.mark.parametrize("path", ["graphc.nn.parallel", "graphc.onnx", "graphc.utils.data",
                                  "graphc.backends.cudnn", "graphc.accelerator",
                                  "graphc.linalg", "graphc.distributions",
                                  "graphc.utils.checkpoint"])
def test_pytorch_module_paths_import(path):
    assert importlib.import_module(path) is not None


def test_utils_data_reexports_graphc_data():
    from graphc.utils.data import DataLoader, Dataset, Subset, TensorDataset, random_split
    assert (DataLoader, Dataset, Subset, TensorDataset, random_split) == (
        graphc.data.DataLoader, graphc.data.Dataset, graphc.data.Subset,
        graphc.data.TensorDataset, graphc.data.random_split)
    assert graphc.utils.data.DataLoader is graphc.data.DataLoader


def test_data_parallel_on_one_device_calls_the_module():
    graphc.manual_seed(0)
    inner = nn.Linear(3, 2)
    model = nn.parallel.DataParallel(inner)
    x = graphc.tensor(np.arange(6.0).reshape(2, 3), dtype=graphc.float32)
    w, b = inner.weight.numpy().astype(np.float64), inner.bias.numpy().astype(np.float64)
    assert_close(model(x), x.numpy() @ w.T + b)
    assert model.module is inner and nn.DataParallel is nn.parallel.DataParallel
    assert sorted(model.state_dict()) == ["module.bias", "module.weight"]
    assert len(list(model.parameters())) == 2


def test_data_parallel_training_step_compiles():
    graphc.manual_seed(0)
    model = nn.DataParallel(nn.Linear(3, 1))
    opt = graphc.optim.SGD(model.parameters(), lr=0.1)
    x, y = graphc.randn(8, 3), graphc.randn(8, 1)

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    losses = [step(x, y).item() for _ in range(5)]
    assert losses[-1] < losses[0]


# -- Tensor.data ---------------------------------------------------------------------------------
def test_data_in_place_init_writes_the_parameter_without_recording_autograd():
    p = nn.Parameter(graphc.zeros(3))
    graphc.manual_seed(1)
    p.data.normal_(0.0, 0.02)
    assert p.requires_grad and p.is_leaf and p.grad_fn is None
    assert np.all(p.numpy() != 0) and np.all(np.abs(p.numpy()) < 0.2)
    p.data.fill_(0.5)
    p.data.mul_(2)
    assert p.tolist() == [1.0, 1.0, 1.0]


def test_data_is_detached_and_shares_values_both_ways():
    p = graphc.tensor([1.0, 2.0], requires_grad=True)
    d = p.data
    assert not d.requires_grad and d.grad_fn is None and d.tolist() == [1.0, 2.0]
    with graphc.no_grad():
        p.add_(1.0)
    assert d.tolist() == [2.0, 3.0]  # the view sees the update
    d.zero_()
    assert p.tolist() == [0.0, 0.0]


@pytest.mark.parametrize("shape", [(2, 3), (3, 3)], ids=["2x3", "square"])
@pytest.mark.parametrize("name,args", [
    ("t_", ()), ("transpose_", (0, 1)), ("swapaxes_", (1, 0)), ("swapdims_", (0, -1)),
    ("unsqueeze_", (0,)), ("resize_", (9,)), ("resize_as_", (graphc.zeros(1, 9),)),
], ids=["t", "transpose", "swapaxes", "swapdims", "unsqueeze", "resize", "resize_as"])
def test_layout_changing_in_place_ops_on_data_refuse_instead_of_changing_the_tensor(
        name, args, shape):
    # PyTorch's p.data is a tensor of its own sharing p's storage: p.data.t_() changes only
    # that tensor's sizes and strides, p keeps its shape and its values in their places
    values = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    p = nn.Parameter(graphc.tensor(values))
    with pytest.raises(graphc.ShapeError, match=rf"{name}\(\) on a `\.data` view.*writes "
                                                rf"through.*out-of-place form `\.data\."):
        getattr(p.data, name)(*args)
    assert p.shape == shape and p.requires_grad and p.grad_fn is None
    assert_close(p, values)


def test_layout_changing_in_place_ops_on_data_that_change_nothing_still_run():
    p = nn.Parameter(graphc.tensor(np.arange(6.0, dtype=np.float32).reshape(2, 3)))
    d = p.data
    assert d.squeeze_() is d and d.transpose_(1, 1) is d and d.resize_(2, 3) is d
    d.squeeze_(0)  # a dim of size 2: nothing to squeeze
    assert p.shape == (2, 3) and p.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    q = graphc.ones(1, 3)
    with pytest.raises(graphc.ShapeError, match=r"squeeze_\(\) on a `\.data` view.*\[1, 3\] "
                                                r"to \[3\]"):
        q.data.squeeze_()
    assert q.shape == (1, 3)
    # the out-of-place form the error suggests: a transposed copy, p untouched
    assert p.data.t().tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]] and p.shape == (2, 3)
    # the tensor itself (not its .data) still changes shape in place, as in PyTorch
    x = graphc.zeros(2, 3)
    x.t_()
    assert x.shape == (3, 2)


def test_data_assignment_replaces_values_even_with_another_shape():
    p = nn.Parameter(graphc.zeros(2, 2))
    p.data = graphc.ones(3)
    assert p.tolist() == [1.0, 1.0, 1.0] and p.requires_grad


def test_manual_sgd_through_data_compiles_and_matches_eager():
    def make():
        graphc.manual_seed(3)
        return nn.Linear(2, 1)

    x, y = graphc.tensor([[1.0, 2.0], [3.0, -1.0]]), graphc.tensor([[1.0], [0.0]])

    def step(model, x, y):
        model.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        for param in model.parameters():
            param.data.add_(-0.1 * param.grad)
        return loss

    eager_model, compiled_model = make(), make()
    compiled = graphc.compile(step)
    for _ in range(3):
        eager_loss = step(eager_model, x, y)
        compiled_loss = compiled(compiled_model, x, y)
        assert_close(compiled_loss, eager_loss.numpy())
    assert_close(compiled_model.weight, eager_model.weight.numpy())
    assert compiled_model.weight.requires_grad and compiled_model.weight.is_leaf


# -- .type(), legacy types and constructors -----------------------------------------------------
def test_type_names_the_legacy_type_and_converts():
    x = graphc.tensor([1.5, -2.5])
    assert x.type() == "graphc.FloatTensor"
    assert graphc.tensor([1]).type() == "graphc.LongTensor"
    assert graphc.tensor([True]).type() == "graphc.BoolTensor"
    assert x.double().type() == "graphc.DoubleTensor" and x.int().type() == "graphc.IntTensor"
    assert x.type(graphc.LongTensor).tolist() == [1, -2]  # truncation toward zero
    assert x.type("torch.DoubleTensor").dtype == graphc.float64
    assert x.type(graphc.int32).dtype == graphc.int32
    with pytest.raises(TypeError, match="unknown tensor type"):
        x.type("torch.QuantumTensor")


def test_legacy_constructors_make_float32_shapes_or_convert_data():
    assert graphc.Tensor(2, 3).shape == (2, 3) and graphc.Tensor(2, 3).dtype == graphc.float32
    assert graphc.Tensor([1, 2]).dtype == graphc.float32  # torch.Tensor is FloatTensor
    assert graphc.Tensor().shape == (0,)
    assert graphc.FloatTensor([1, 2]).tolist() == [1.0, 2.0]
    assert graphc.LongTensor([1.7, -1.7]).tolist() == [1, -1]
    assert graphc.DoubleTensor(3).dtype == graphc.float64
    assert graphc.BoolTensor([1, 0]).tolist() == [True, False]
    assert graphc.IntTensor(2, 2).dtype == graphc.int32
    assert isinstance(nn.Parameter(graphc.Tensor(4, 5)), graphc.Tensor)


def test_legacy_types_work_in_isinstance_checks():
    assert isinstance(graphc.ones(2), graphc.FloatTensor)
    assert not isinstance(graphc.ones(2), graphc.LongTensor)
    assert isinstance(graphc.tensor([1]), graphc.LongTensor)
    assert not isinstance([1.0], graphc.FloatTensor)


def test_new_factories_take_dtype_and_device_of_self():
    x = graphc.ones(2, dtype=graphc.float64)
    assert x.new_zeros(3).dtype == graphc.float64 and x.new_zeros(3).tolist() == [0.0] * 3
    assert x.new_ones((2, 2)).tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert x.new_full((2,), 7).tolist() == [7.0, 7.0] and x.new_full((2,), 7).dtype == x.dtype
    assert x.new_empty(4).shape == (4,) and x.new_empty(4).dtype == graphc.float64
    made = x.new_tensor([1, 2])
    assert made.dtype == graphc.float64 and made.tolist() == [1.0, 2.0]
    assert x.new_zeros(2, dtype=graphc.int64).dtype == graphc.int64
    assert x.new_zeros(2).device == x.device
    assert x.new_ones(2, requires_grad=True).requires_grad


def test_new_zeros_inside_compile_matches_eager():
    f = graphc.compile(lambda x: x + x.new_ones(x.shape) + x.new_full((3,), 2.0))
    x = graphc.tensor([1.0, 2.0, 3.0])
    assert f(x).tolist() == [4.0, 5.0, 6.0]


# -- in-place random fills ----------------------------------------------------------------------
def test_random_fills_follow_graphcs_generator_and_their_distribution():
    graphc.manual_seed(0)
    a = graphc.empty(20000).normal_(2.0, 0.5)
    graphc.manual_seed(0)
    b = graphc.empty(20000).normal_(2.0, 0.5)
    assert a.tolist() == b.tolist()
    values = a.numpy().astype(np.float64)
    assert abs(values.mean() - 2.0) < 0.02 and abs(values.std() - 0.5) < 0.02
    u = graphc.empty(20000).uniform_(-1.0, 3.0).numpy()
    assert u.min() >= -1.0 and u.max() < 3.0 and abs(u.mean() - 1.0) < 0.05
    bern = graphc.empty(20000, dtype=graphc.float64).bernoulli_(0.25).numpy()
    assert set(np.unique(bern)) <= {0.0, 1.0} and abs(bern.mean() - 0.25) < 0.02
    e = graphc.empty(20000).exponential_(2.0).numpy()
    assert e.min() >= 0 and abs(e.mean() - 0.5) < 0.02


def test_random_fill_on_leaf_requiring_grad_needs_no_grad_as_in_pytorch():
    w = nn.Parameter(graphc.empty(3))
    with pytest.raises(RuntimeError, match="leaf"):
        w.normal_()
    with graphc.no_grad():
        w.uniform_(-0.1, 0.1)
    assert w.is_leaf and w.requires_grad and np.all(np.abs(w.numpy()) <= 0.1)
    with pytest.raises(RuntimeError, match="floating point"):
        graphc.zeros(2, dtype=graphc.int64).normal_()


# -- axis= and 0-d dims ---------------------------------------------------------------------------
AXIS_CASES = [
    ("sum", lambda x: x.sum(axis=1), lambda a: a.sum(1)),
    ("sum_keepdim", lambda x: graphc.sum(x, axis=0, keepdim=True), lambda a: a.sum(0, keepdims=True)),
    ("mean", lambda x: x.mean(axis=-1), lambda a: a.mean(-1)),
    ("max", lambda x: x.max(axis=1).values, lambda a: a.max(1)),
    ("min", lambda x: graphc.min(x, axis=0)[0], lambda a: a.min(0)),
    ("amax", lambda x: x.amax(axis=1), lambda a: a.max(1)),
    ("argmax", lambda x: x.argmax(axis=1), lambda a: a.argmax(1)),
    ("argmin", lambda x: graphc.argmin(x, axis=0), lambda a: a.argmin(0)),
    ("std", lambda x: x.std(axis=1), lambda a: a.std(1, ddof=1)),
    ("var", lambda x: graphc.var(x, axis=0), lambda a: a.var(0, ddof=1)),
    ("softmax", lambda x: graphc.softmax(x, axis=1),
     lambda a: np.exp(a) / np.exp(a).sum(1, keepdims=True)),
    ("logsumexp", lambda x: x.logsumexp(axis=1), lambda a: np.log(np.exp(a).sum(1))),
    ("cat", lambda x: graphc.cat([x, x], axis=1), lambda a: np.concatenate([a, a], 1)),
    ("concat", lambda x: graphc.concat([x, x], axis=0), lambda a: np.concatenate([a, a], 0)),
    ("stack", lambda x: graphc.stack([x, x], axis=1), lambda a: np.stack([a, a], 1)),
    ("unsqueeze", lambda x: x.unsqueeze(axis=1), lambda a: a[:, None]),
    ("all", lambda x: (x > 0).all(axis=1), lambda a: (a > 0).all(1)),
    ("any", lambda x: (x > 2).any(axis=0), lambda a: (a > 2).any(0)),
]


@pytest.mark.parametrize("name,fn,oracle", AXIS_CASES, ids=[c[0] for c in AXIS_CASES])
def test_axis_is_an_alias_of_dim(name, fn, oracle):
    a = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]])
    x = graphc.tensor(a, dtype=graphc.float64)
    assert_close(fn(x), oracle(a))
    assert_close(graphc.compile(fn)(x), oracle(a))


def test_axis_and_dim_together_is_a_type_error():
    with pytest.raises(TypeError, match="axis"):
        graphc.ones(2, 2).sum(dim=0, axis=1)


ZERO_D_CASES = [
    ("sum_0", lambda s: s.sum(0)), ("sum_minus_1", lambda s: s.sum(-1)),
    ("mean_0", lambda s: s.mean(0)), ("amax_0", lambda s: s.amax(0)),
    ("max_0", lambda s: s.max(0).values), ("logsumexp_0", lambda s: s.logsumexp(0)),
    ("norm_0", lambda s: s.norm(dim=0)), ("flip_0", lambda s: s.flip(0)),
    ("squeeze_0", lambda s: s.squeeze(0)), ("transpose", lambda s: s.transpose(0, -1)),
]


@pytest.mark.parametrize("name,fn", ZERO_D_CASES, ids=[c[0] for c in ZERO_D_CASES])
def test_dims_0_and_minus_1_name_the_scalar_of_a_0d_tensor(name, fn):
    s = graphc.tensor(-3.0)
    expected = 3.0 if name == "norm_0" else -3.0
    assert fn(s).shape == () and fn(s).item() == expected
    assert graphc.compile(fn)(s).item() == expected


def test_0d_softmax_argmax_and_unsqueeze_follow_pytorch():
    s = graphc.tensor(3.0)
    assert s.softmax(-1).item() == 1.0 and s.log_softmax(0).item() == 0.0
    assert s.argmax(0).item() == 0 and s.argmax(0).shape == ()
    assert s.unsqueeze(0).shape == (1,) and s.unsqueeze(-1).shape == (1,)
    with pytest.raises(IndexError):
        s.sum(1)


def test_tensors_answer_false_for_devices_graphc_does_not_have():
    t = graphc.ones(2)
    assert (t.is_xpu, t.is_mps, t.is_meta) == (False, False, False)
