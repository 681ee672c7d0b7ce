"""The ``nn.Module`` API and the containers, specified by PyTorch's behaviour: registration,
traversal, state dicts (keys and shapes exactly as PyTorch names them), train/eval, repr."""
from __future__ import annotations

import pickle
from collections import OrderedDict

import numpy as np
import pytest

import graphc
from graphc import nn
from graphc.nn import init


def mlp():
    graphc.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.1),
                         nn.Linear(8, 3))


# The keys and shapes torch.nn.Sequential(Linear(4, 8), BatchNorm1d(8), ReLU(), Dropout(0.1),
# Linear(8, 3)).state_dict() has, in PyTorch's order.
TORCH_KEYS = OrderedDict([
    ("0.weight", (8, 4)), ("0.bias", (8,)),
    ("1.weight", (8,)), ("1.bias", (8,)), ("1.running_mean", (8,)), ("1.running_var", (8,)),
    ("1.num_batches_tracked", ()),
    ("4.weight", (3, 8)), ("4.bias", (3,)),
])


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.heads = nn.ModuleDict({"cls": nn.Linear(2, 3), "box": nn.Linear(2, 4)})
        self.layers = nn.ModuleList([nn.ReLU(), nn.Tanh()])
        self.scale = nn.Parameter(graphc.ones(1))
        self.register_buffer("steps", graphc.tensor(0))
        self.register_buffer("cache", graphc.zeros(2), persistent=False)

    def forward(self, x):
        x = self.conv(x).mean(dim=(2, 3))
        for layer in self.layers:
            x = layer(x)
        return self.heads["cls"](x) * self.scale


# -- registration and traversal -------------------------------------------------------------------
def test_state_dict_keys_and_shapes_match_pytorch():
    state = mlp().state_dict()
    assert list(state) == list(TORCH_KEYS)
    for key, shape in TORCH_KEYS.items():
        assert state[key].shape == shape
    assert state["1.num_batches_tracked"].dtype == graphc.int64
    assert state["0.weight"].dtype == graphc.float32


def test_state_dict_of_numpy_arrays_round_trips():
    source, target = mlp(), nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(),
                                          nn.Dropout(0.1), nn.Linear(8, 3))
    arrays = {k: np.array(v.numpy()) + 1 for k, v in source.state_dict().items()}
    result = target.load_state_dict(arrays)
    assert result.missing_keys == [] and result.unexpected_keys == []
    for key, value in target.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), arrays[key])
    assert target[1].num_batches_tracked.dtype == graphc.int64


def test_load_state_dict_strict_errors_name_the_keys():
    model = mlp()
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    del state["0.bias"]
    state["5.weight"] = np.zeros(3)
    state["4.weight"] = np.zeros((8, 3))
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(state)
    message = str(info.value)
    assert "missing keys: 0.bias" in message
    assert "unexpected keys: 5.weight" in message
    assert "4.weight" in message and "[8, 3]" in message and "[3, 8]" in message
    state["4.weight"] = np.zeros((3, 8))
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["0.bias"] and result.unexpected_keys == ["5.weight"]
    np.testing.assert_array_equal(model[4].weight.numpy(), np.zeros((3, 8)))


def test_parameters_children_and_modules():
    block = Block()
    names = [n for n, _ in block.named_parameters()]
    assert names == ["scale", "conv.weight", "conv.bias", "heads.cls.weight", "heads.cls.bias",
                     "heads.box.weight", "heads.box.bias"]
    assert len(list(block.parameters())) == 7
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in block.parameters())
    assert [n for n, _ in block.named_children()] == ["conv", "heads", "layers"]
    assert [type(m).__name__ for m in block.modules()] == [
        "Block", "Conv2d", "ModuleDict", "Linear", "Linear", "ModuleList", "ReLU", "Tanh"]
    assert [n for n, _ in block.named_modules()][:4] == ["", "conv", "heads", "heads.cls"]
    assert [n for n, _ in block.named_buffers()] == ["steps", "cache"]
    assert list(block.parameters(recurse=False)) == [block.scale]


def test_register_buffer_persistent_false_is_not_in_state_dict():
    block = Block()
    keys = list(block.state_dict())
    assert "steps" in keys and "cache" not in keys
    assert "cache" in dict(block.named_buffers())


def test_shared_parameters_are_listed_once():
    layer = nn.Linear(2, 2)
    model = nn.Sequential(layer, nn.ReLU(), layer)
    assert len(list(model.parameters())) == 2


def test_assigning_attributes_registers_and_unregisters():
    module = nn.Module()
    module.w = nn.Parameter(graphc.zeros(2))
    module.child = nn.Linear(1, 1)
    module.plain = graphc.zeros(3)  # a plain tensor attribute is not state
    assert [n for n, _ in module.named_parameters()] == ["w", "child.weight", "child.bias"]
    del module.child
    assert [n for n, _ in module.named_parameters()] == ["w"]
    module.w = None
    assert list(module.parameters()) == []


# -- modes, gradients, dtypes ---------------------------------------------------------------------
def test_train_and_eval_reach_every_submodule():
    block = Block()
    assert block.training and all(m.training for m in block.modules())
    assert block.eval() is block
    assert not any(m.training for m in block.modules())
    block.train()
    assert all(m.training for m in block.modules())
    block.layers.train(False)
    assert block.training and not block.layers[0].training


def test_zero_grad_and_requires_grad_():
    model = mlp()
    model(graphc.randn(5, 4)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model.requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())


def test_apply_visits_children_first_and_can_reinitialize():
    model = mlp()
    seen = []
    model.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "BatchNorm1d", "ReLU", "Dropout", "Linear", "Sequential"]

    def zero_linears(m):
        if isinstance(m, nn.Linear):
            init.zeros_(m.weight)
            init.ones_(m.bias)

    model.apply(zero_linears)
    assert np.all(model[0].weight.numpy() == 0) and np.all(model[4].bias.numpy() == 1)


def test_double_converts_float_state_and_keeps_integer_buffers():
    model = mlp().double()
    dtypes = {k: v.dtype for k, v in model.state_dict().items()}
    assert dtypes["0.weight"] == graphc.float64 and dtypes["1.running_var"] == graphc.float64
    assert dtypes["1.num_batches_tracked"] == graphc.int64
    assert model(graphc.randn(3, 4, dtype=graphc.float64)).dtype == graphc.float64


# -- containers -----------------------------------------------------------------------------------
def test_sequential_indexing_slicing_and_editing():
    model = mlp()
    assert len(model) == 5 and isinstance(model[-1], nn.Linear)
    head = model[:2]
    assert isinstance(head, nn.Sequential) and [n for n, _ in head.named_children()] == ["0", "1"]
    assert head[0] is model[0]
    assert [type(m).__name__ for m in model] == ["Linear", "BatchNorm1d", "ReLU", "Dropout",
                                                 "Linear"]
    model.append(nn.Softmax(dim=1))
    assert len(model) == 6 and "5" in dict(model.named_children())
    del model[3]
    assert [n for n, _ in model.named_children()] == ["0", "1", "2", "3", "4"]
    assert "4.weight" not in model.state_dict() and "3.weight" in model.state_dict()
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"]
    with pytest.raises(IndexError):
        model[10]


def test_sequential_forward_runs_in_order():
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
    x = graphc.randn(2, 3)
    assert np.array_equal(model(x).numpy(), model[1](model[0](x)).numpy())


def test_module_list_and_module_dict():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    layers.append(nn.ReLU())
    layers += [nn.Tanh()]
    assert len(layers) == 5 and isinstance(layers[-1], nn.Tanh)
    assert len(list(layers.parameters())) == 6
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    layers.insert(0, nn.Identity())
    assert isinstance(layers[0], nn.Identity) and len(layers) == 6
    del layers[0]
    assert [n for n, _ in layers.named_children()] == [str(i) for i in range(5)]
    heads = nn.ModuleDict({"a": nn.Linear(1, 1)})
    heads["b"] = nn.Linear(1, 2)
    heads.update([("c", nn.ReLU())])
    assert list(heads) == ["a", "b", "c"] and "b" in heads and len(heads) == 3
    assert list(heads.keys()) == ["a", "b", "c"]
    assert isinstance(heads.pop("c"), nn.ReLU) and list(heads.state_dict()) == [
        "a.weight", "a.bias", "b.weight", "b.bias"]


# -- repr -----------------------------------------------------------------------------------------
def test_repr_matches_pytorch():
    assert repr(mlp()) == (
        "Sequential(\n"
        "  (0): Linear(in_features=4, out_features=8, bias=True)\n"
        "  (1): BatchNorm1d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
        "  (2): ReLU()\n"
        "  (3): Dropout(p=0.1, inplace=False)\n"
        "  (4): Linear(in_features=8, out_features=3, bias=True)\n"
        ")")
    nested = nn.Sequential(nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2)), nn.Flatten())
    assert repr(nested) == (
        "Sequential(\n"
        "  (0): Sequential(\n"
        "    (0): Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1))\n"
        "    (1): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
        "  )\n"
        "  (1): Flatten(start_dim=1, end_dim=-1)\n"
        ")")
    assert repr(nn.Embedding(10, 3)) == "Embedding(10, 3)"
    assert repr(nn.AvgPool2d(3, stride=1, padding=1)) == (
        "AvgPool2d(kernel_size=3, stride=1, padding=1)")


def test_compiled_module_and_eager_module_agree_and_follow_train_eval():
    model = mlp()
    compiled = graphc.compile(model)
    x = graphc.randn(6, 4)
    model.eval()
    np.testing.assert_allclose(compiled(x).numpy(), model(x).numpy(), rtol=1e-6, atol=1e-6)
    model.train()
    before = model[1].running_mean.numpy().copy()
    compiled(x)
    assert not np.array_equal(model[1].running_mean.numpy(), before)
    assert len(compiled.entries) == 2  # one trace per mode


def test_assigning_a_plain_tensor_to_a_parameter_name_is_an_error():
    from graphc import nn
    layer = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="as parameter 'weight'"):
        layer.weight = layer.weight * 2
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    layer.bias = None  # allowed, as in PyTorch
    assert [name for name, _ in layer.named_parameters()] == ["weight"]


def _ema_update(ema, model, decay=0.75):
    # YOLOv5's ModelEMA: the state_dict's values written in place
    current = model.state_dict()
    with graphc.no_grad():
        for name, value in ema.state_dict().items():
            value *= decay
            value += (1 - decay) * current[name].detach()


@pytest.mark.parametrize("compiled", [False, True])
def test_state_dict_values_share_the_modules_values_both_ways(compiled):
    import copy
    graphc.manual_seed(0)
    ema, model = nn.Linear(3, 2), nn.Linear(3, 2)
    start = {k: v.numpy().copy() for k, v in ema.state_dict().items()}
    snapshot = copy.deepcopy(ema.state_dict())  # a copy, as in PyTorch
    update = graphc.compile(_ema_update) if compiled else _ema_update
    for _ in range(2):
        update(ema, model)
    for name, value in ema.state_dict().items():
        target = model.state_dict()[name].numpy()
        np.testing.assert_allclose(value.numpy(), 0.5625 * start[name] + 0.4375 * target,
                                   rtol=1e-6)
        np.testing.assert_array_equal(getattr(ema, name).detach().numpy(), value.numpy())
        np.testing.assert_array_equal(snapshot[name].numpy(), start[name])
    values = ema.state_dict()
    with graphc.no_grad():
        ema.weight.fill_(2.0)  # and the module's writes show in a state_dict taken before
    assert values["weight"].tolist() == [[2.0] * 3] * 2 and not values["weight"].requires_grad
    restored = pickle.loads(pickle.dumps(values))
    with graphc.no_grad():
        ema.weight.fill_(3.0)
    assert restored["weight"].tolist() == [[2.0] * 3] * 2


def test_forward_pre_hooks_and_hooks_run_in_pytorchs_order_and_replace_what_they_return():
    layer = nn.Identity()
    calls = []
    layer.register_forward_pre_hook(lambda m, args: (args[0] + 1,))
    layer.register_forward_pre_hook(lambda m, args, kwargs: ((args[0] * 10,), kwargs),
                                    with_kwargs=True)
    first = layer.register_forward_hook(lambda m, args, out: calls.append("first"))
    layer.register_forward_hook(lambda m, args, out: calls.append("prepended"), prepend=True)
    layer.register_forward_hook(lambda m, args, kwargs, out: out - 3, with_kwargs=True)
    assert layer(graphc.tensor([1.0])).tolist() == [17.0]  # (1 + 1) * 10 - 3
    assert calls == ["prepended", "first"]
    first.remove()
    with layer.register_forward_hook(lambda m, args, out: out * 0):
        assert layer(graphc.tensor([1.0])).tolist() == [0.0]
    assert layer(graphc.tensor([1.0])).tolist() == [17.0]
    assert calls == ["prepended", "first", "prepended", "prepended"]


def test_an_always_call_forward_hook_runs_when_forward_raises():
    class Failing(nn.Module):
        def forward(self, x):
            raise ValueError("bad input")
    module, seen = Failing(), []
    module.register_forward_hook(lambda m, args, out: seen.append(out), always_call=True)
    with pytest.raises(ValueError, match="bad input"):
        module(graphc.ones(1))
    assert seen == [None]


def test_forward_hooks_extract_features_and_a_compiled_model_retraces_when_they_change():
    graphc.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    features = {}
    model[0].register_forward_hook(lambda m, args, out: features.__setitem__("hidden", out))
    x = graphc.ones(4, 2)
    compiled = graphc.compile(lambda t: model(t))
    plain = compiled(x).numpy()
    assert features["hidden"].shape == (4, 3)
    handle = model[1].register_forward_hook(lambda m, args, out: out * 0)
    np.testing.assert_allclose(compiled(x).numpy(), model(x).numpy())
    assert not np.allclose(compiled(x).numpy(), plain)  # a stale graph would ignore the hook
    handle.remove()
    np.testing.assert_array_equal(compiled(x).numpy(), plain)


def test_get_submodule_parameter_and_buffer_by_dotted_name():
    model = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.BatchNorm1d(3)))
    assert model.get_submodule("1.0") is model[1][0] and model.get_submodule("") is model
    assert model.get_parameter("0.weight") is model[0].weight
    assert model.get_buffer("1.0.running_mean") is model[1][0].running_mean
    with pytest.raises(AttributeError, match="no submodule '2'"):
        model.get_submodule("2.weight")
    with pytest.raises(AttributeError, match="no parameter 'running_mean'"):
        model.get_parameter("1.0.running_mean")
    with pytest.raises(NotImplementedError, match="register_full_backward_hook"):
        model.register_backward_hook(lambda m, gin, gout: None)


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 2, 3)])
def test_orthogonal_init_makes_orthonormal_rows_or_columns_times_gain(shape):
    w = init.orthogonal_(graphc.empty(*shape, dtype=graphc.float64), gain=2.0).numpy()
    flat = w.reshape(shape[0], -1)
    gram = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
    np.testing.assert_allclose(gram, 4.0 * np.eye(len(gram)), atol=1e-12)
    with pytest.raises(ValueError, match="2 or more dimensions"):
        init.orthogonal_(graphc.empty(3))


def test_random_inits_draw_from_a_generator_when_given_one():
    draws = []
    for _ in range(2):
        generator = graphc.Generator().manual_seed(7)
        w = graphc.empty(3, 4)
        init.kaiming_uniform_(w, a=1.0, generator=generator)
        init.normal_(w, generator=generator)
        draws.append(init.orthogonal_(w, generator=generator).tolist())
    assert draws[0] == draws[1]


def test_load_state_dict_result_names_what_did_not_match_and_assign_takes_the_tensors():
    model = nn.Linear(2, 1)
    assert repr(model.load_state_dict(model.state_dict())) == "<All keys matched successfully>"
    partial = model.load_state_dict({"weight": graphc.ones(1, 2)}, strict=False)
    assert partial.missing_keys == ["bias"] and "IncompatibleKeys" in repr(partial)
    weight = graphc.full((1, 2), 3.0)
    model.weight.requires_grad_(False)
    model.load_state_dict({"weight": weight, "bias": graphc.zeros(1)}, assign=True)
    assert isinstance(model.weight, nn.Parameter) and not model.weight.requires_grad
    assert model.weight.tolist() == [[3.0, 3.0]] and model(graphc.ones(1, 2)).item() == 6.0


def test_extra_state_travels_in_the_state_dict():
    class Counter(nn.Module):
        def __init__(self):
            super().__init__()
            self.steps, self.scale = 0, nn.Parameter(graphc.ones(1))

        def get_extra_state(self):
            return {"steps": self.steps}

        def set_extra_state(self, state):
            self.steps = state["steps"]
    source, target = nn.Sequential(Counter()), nn.Sequential(Counter())
    source[0].steps = 7
    state = source.state_dict()
    assert list(state) == ["0.scale", "0._extra_state"] and state["0._extra_state"] == {"steps": 7}
    target.load_state_dict(state)
    assert target[0].steps == 7


def test_named_members_keep_duplicates_when_asked():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, shared)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert [n for n, _ in model.named_parameters(remove_duplicate=False)] == [
        "0.weight", "0.bias", "1.weight", "1.bias"]
    assert [n for n, _ in model.named_modules(remove_duplicate=False)] == ["", "0", "1"]


def test_a_single_layer_rnn_with_dropout_warns_that_it_does_nothing():
    with pytest.warns(UserWarning, match="does nothing"):
        nn.LSTM(2, 3, dropout=0.5)


def test_state_dict_views_can_require_grad_deep_copy_tied_and_assign_into_buffers():
    import copy
    model = nn.Linear(2, 2)
    weight = model.state_dict()["weight"].requires_grad_()
    (weight * 2).sum().backward()  # a leaf of its own, as PyTorch's detached values become
    assert weight.grad.tolist() == [[2.0, 2.0], [2.0, 2.0]] and model.weight.grad is None
    tied = copy.deepcopy({"a": model.state_dict()["weight"], "b": model.state_dict()["weight"]})
    assert tied["a"]._data is tied["b"]._data  # one copy for the tied views
    source, target = nn.BatchNorm1d(2), nn.BatchNorm1d(2)
    source.running_mean.fill_(0.5)
    target.load_state_dict(source.state_dict(), assign=True)
    assert type(target.running_mean) is graphc.Tensor and target.running_mean.tolist() == [0.5] * 2
    assert graphc.compile(lambda x: target.eval()(x))(graphc.ones(3, 2)).shape == (3, 2)


def test_module_api_details_as_pytorch():
    """ParameterDict of a plain dict sorts its keys (parameters(), and so optimizer state
    indices, follow them: a resumed torch checkpoint mixed momenta up otherwise); to(int)
    refused (it truncated the weights); old BatchNorm checkpoints without
    num_batches_tracked load; zero_grad(set_to_none=False) zeroes in place; dir() lists the
    parameters; state_dict takes destination= and the old positional form."""
    holder = nn.ParameterDict({"b": graphc.ones(2), "a": graphc.zeros(2)})
    assert list(holder.keys()) == ["a", "b"]
    assert list(nn.ParameterDict(OrderedDict(b=graphc.ones(1), a=graphc.ones(1)))) == ["b", "a"]
    with pytest.raises(KeyError, match="key can.+t contain"):
        holder["x.y"] = graphc.ones(1)
    layer = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="only accepts floating point dtypes"):
        layer.to(graphc.int64)
    norm = nn.BatchNorm1d(2)
    old = {k: v for k, v in nn.BatchNorm1d(2).state_dict().items() if k != "num_batches_tracked"}
    assert not norm.load_state_dict(old).missing_keys
    layer(graphc.ones(1, 2)).sum().backward()
    grad = layer.weight.grad
    layer.zero_grad(set_to_none=False)
    assert layer.weight.grad is grad and not grad.numpy().any()
    assert {"weight", "bias"} <= set(dir(layer))
    target: dict = {}
    assert layer.state_dict(destination=target, prefix="m.") is target
    assert sorted(target) == ["m.bias", "m.weight"]
    assert sorted(layer.state_dict(None, "p.")) == ["p.bias", "p.weight"]


def test_deepcopy_of_a_module_drops_parameter_grads_as_pytorch():
    import copy
    model = nn.Linear(2, 2)
    model.weight.lr_scale = 3.0
    model(graphc.ones(1, 2)).sum().backward()
    twin = copy.deepcopy(model)
    assert twin.weight.grad is None and twin.bias.grad is None  # PyTorch: Parameter.__deepcopy__
    assert isinstance(twin.weight, nn.Parameter) and twin.weight.requires_grad
    assert not hasattr(twin.weight, "lr_scale")  # it keeps only the values and requires_grad
    np.testing.assert_array_equal(twin.weight.numpy(), model.weight.numpy())
    twin(graphc.ones(1, 2)).sum().backward()  # a first backward, not accumulated onto the old
    np.testing.assert_array_equal(twin.weight.grad.numpy(), np.ones((2, 2), np.float32))
    np.testing.assert_array_equal(model.weight.grad.numpy(), np.ones((2, 2), np.float32))
    with graphc.no_grad():
        twin.weight.add_(1.0)
    assert not np.array_equal(twin.weight.numpy(), model.weight.numpy())  # values are copied
    frozen = nn.Parameter(graphc.ones(2), requires_grad=False)
    assert copy.deepcopy(frozen).requires_grad is False
    tied = {"a": model.weight, "b": model.weight}
    copied = copy.deepcopy(tied)
    assert copied["a"] is copied["b"]


def test_deepcopy_of_a_plain_leaf_keeps_its_grad_as_pytorch():
    import copy
    x = graphc.ones(2, requires_grad=True)
    (x * 2).sum().backward()
    y = copy.deepcopy(x)
    assert y.grad is not x.grad
    np.testing.assert_array_equal(y.grad.numpy(), [2.0, 2.0])


@pytest.mark.parametrize("make", [lambda: graphc.ones(2, requires_grad=True),
                                  lambda: nn.Parameter(graphc.ones(2))])
def test_copy_copy_of_a_tensor_has_no_grad_as_pytorch(make):
    import copy
    x = make()
    if isinstance(x, nn.Parameter):  # (plain graphc tensors take no Python attributes)
        x.note = "kept"
    (x * 2).sum().backward()
    y = copy.copy(x)
    assert type(y) is type(x) and y.requires_grad and y.grad is None
    assert getattr(y, "note", "kept") == "kept"
    (y * 3).sum().backward()  # shared .grad used to take both backwards
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])
    np.testing.assert_array_equal(y.grad.numpy(), [3.0, 3.0])
