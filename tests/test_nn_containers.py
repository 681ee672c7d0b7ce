"""Module registration rules and the container API, checked against PyTorch's behaviour.

Every expected value here (names, reprs, exception types) was taken from torch 2.13 running the
same operations, and is hard-coded: the suite does not need PyTorch.
"""
from collections import OrderedDict

import numpy as np
import pytest

import graphc
from graphc import nn


def names(module):
    return [name for name, _ in module.named_children()]


def kinds(container):
    return [type(m).__name__ for m in container]


def seq():
    return nn.Sequential(nn.ReLU(), nn.Tanh(), nn.Sigmoid())


def mlist():
    return nn.ModuleList([nn.ReLU(), nn.Tanh(), nn.Sigmoid()])


def named_seq():
    return nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU()),
                                      ("out", nn.Linear(2, 1))]))


# -- zero_grad -------------------------------------------------------------------------------------
def test_zero_grad_without_none_gives_exact_zeros_even_over_nan_and_inf():
    layer = nn.Linear(2, 1)
    layer(graphc.ones(1, 2)).sum().backward()
    layer.weight.grad = graphc.tensor([[float("nan"), float("inf")]])
    layer.bias.grad = graphc.tensor([float("-inf")])
    layer.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(layer.weight.grad.numpy(), [[0.0, 0.0]])
    np.testing.assert_array_equal(layer.bias.grad.numpy(), [0.0])
    assert layer.weight.grad.dtype == graphc.float32
    layer.zero_grad()
    assert layer.weight.grad is None and layer.bias.grad is None


def test_zero_grad_without_none_inside_a_compiled_step():
    layer = nn.Linear(2, 1)

    @graphc.compile
    def step(x):
        layer.zero_grad(set_to_none=False)
        layer(x).sum().backward()

    layer(graphc.ones(1, 2)).sum().backward()
    for _ in range(2):
        layer.weight.grad = graphc.tensor([[float("nan"), float("inf")]])
        step(graphc.ones(3, 2))
        np.testing.assert_array_equal(layer.weight.grad.numpy(), [[3.0, 3.0]])


# -- load_state_dict -------------------------------------------------------------------------------
def small():
    return nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))


def test_load_state_dict_problems_are_runtime_errors_like_pytorch():
    model = small()
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    missing = dict(state)
    del missing["0.bias"]
    with pytest.raises(RuntimeError, match="missing keys: 0.bias"):
        model.load_state_dict(missing)
    assert tuple(model.load_state_dict(missing, strict=False)) == (["0.bias"], [])
    unexpected = dict(state, **{"9.weight": state["0.weight"]})
    with pytest.raises(RuntimeError, match="unexpected keys: 9.weight"):
        model.load_state_dict(unexpected)
    result = model.load_state_dict(unexpected, strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == ["9.weight"]
    with pytest.raises(TypeError):
        model.load_state_dict([1, 2])


@pytest.mark.parametrize("strict", [True, False])
def test_a_mis_shaped_key_is_an_error_even_without_strict_and_loads_nothing(strict):
    model = small()
    before = model[0].bias.numpy().copy()
    state = {k: v.numpy() + 1 for k, v in model.state_dict().items()}
    state["0.weight"] = np.ones((1, 1), np.float32)
    with pytest.raises(RuntimeError, match=r"0.weight.*\[1, 1\].*\[3, 2\]"):
        model.load_state_dict(state, strict=strict)
    np.testing.assert_array_equal(model[0].bias.numpy(), before)


# -- what can be registered, under which names -----------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda: nn.ModuleList([3]),
    lambda: nn.Sequential(nn.ReLU(), 5),
    lambda: nn.ModuleDict({"a": 3}),
    lambda: nn.ModuleList().append(3),
    lambda: nn.ModuleList().extend([nn.ReLU(), "relu"]),
    lambda: nn.Sequential().append(3),
    lambda: nn.Sequential().insert(0, 3),    # torch: AssertionError
    lambda: nn.ModuleList().insert(0, 3),    # torch: no check at all
    lambda: nn.Linear(1, 1).add_module("extra", 3),
    lambda: nn.Linear(1, 1).register_module("extra", graphc.zeros(1)),
    lambda: seq().__setitem__(0, 3),
    lambda: mlist().__setitem__(0, 3),
    lambda: nn.ModuleDict().__setitem__("a", 3),
    lambda: nn.ModuleDict({1: nn.ReLU()}),            # names are strings
])
def test_only_modules_go_into_modules_and_containers(make):
    with pytest.raises(TypeError):
        make()


@pytest.mark.parametrize("make", [
    lambda: nn.ModuleDict({"a.b": nn.ReLU()}),
    lambda: nn.ModuleDict({"": nn.ReLU()}),
    lambda: nn.ModuleDict({"train": nn.ReLU()}),      # a method of Module
    lambda: nn.Linear(1, 1).add_module("weight", nn.ReLU()),
    lambda: nn.Linear(1, 1).add_module("in_features", nn.ReLU()),
    lambda: nn.Linear(1, 1).register_parameter("a.b", None),
    lambda: nn.Linear(1, 1).register_buffer("", None),
    lambda: nn.Linear(1, 1).register_buffer("weight", None),
])
def test_bad_or_taken_names_are_key_errors_like_pytorch(make):
    with pytest.raises(KeyError):
        make()


def test_add_module_replaces_a_child_and_accepts_none():
    layer = nn.Linear(1, 1)
    layer.add_module("act", nn.ReLU())
    layer.register_module("act", nn.Tanh())
    layer.add_module("skip", None)
    assert list(layer._modules) == ["act", "skip"] and names(layer) == ["act"]
    assert isinstance(layer.act, nn.Tanh) and layer.skip is None
    layer.register_parameter("weight", None)  # re-registering its own kind is fine
    assert layer.weight is None
    assert names(nn.Sequential(None)) == [] and list(nn.Sequential(None)._modules) == ["0"]


# -- Sequential ------------------------------------------------------------------------------------
def test_sequential_indexing_like_pytorch():
    s = seq()
    assert isinstance(s[2], nn.Sigmoid) and isinstance(s[-3], nn.ReLU)
    for bad in (3, -4):
        with pytest.raises(IndexError):
            s[bad]
        with pytest.raises(IndexError):
            del s[bad]
    with pytest.raises(TypeError):
        s[1.0]
    assert type(s[1:]) is nn.Sequential and names(s[1:]) == ["1", "2"]  # a slice keeps names
    assert names(s[::-1]) == ["2", "1", "0"] and names(named_seq()[1:]) == ["act", "out"]
    assert len(s) == 3 and kinds(s) == ["ReLU", "Tanh", "Sigmoid"]


def test_sequential_mutations_keep_pytorchs_names():
    s = seq()
    s[-1] = nn.Identity()
    assert kinds(s) == ["ReLU", "Tanh", "Identity"]
    s.append(nn.ReLU()).extend([nn.Tanh(), nn.Sigmoid()])
    assert names(s) == ["0", "1", "2", "3", "4", "5"]
    del s[::2]
    assert names(s) == ["0", "1", "2"] and kinds(s) == ["Tanh", "ReLU", "Sigmoid"]
    assert isinstance(s.pop(-1), nn.Sigmoid) and names(s) == ["0", "1"]
    popped = s.pop(slice(0, 1))
    assert type(popped) is nn.Sequential and kinds(popped) == ["Tanh"] and kinds(s) == ["ReLU"]

    n = named_seq()
    n[1] = nn.Tanh()
    n.append(nn.ReLU())
    assert names(n) == ["fc", "act", "out", "3"] and isinstance(n.act, nn.Tanh)
    del n[0]  # PyTorch renumbers every child after a deletion, named or not
    assert names(n) == ["0", "1", "2"] and list(n.state_dict()) == ["1.weight", "1.bias"]
    assert isinstance(named_seq().pop(0), nn.Linear)


@pytest.mark.parametrize("index, expected", [
    (0, ["Identity", "ReLU", "Tanh", "Sigmoid"]),
    (1, ["ReLU", "Identity", "Tanh", "Sigmoid"]),
    (3, ["ReLU", "Tanh", "Sigmoid", "Identity"]),
    (-1, ["ReLU", "Tanh", "Identity", "Sigmoid"]),
    (-3, ["Identity", "ReLU", "Tanh", "Sigmoid"]),
])
def test_sequential_insert(index, expected):
    s = seq()
    assert s.insert(index, nn.Identity()) is s
    assert kinds(s) == expected and names(s) == ["0", "1", "2", "3"]


@pytest.mark.parametrize("index", [4, -4])
def test_sequential_insert_out_of_range_is_an_index_error(index):
    with pytest.raises(IndexError):
        seq().insert(index, nn.Identity())


def test_sequential_concatenation_and_repetition():
    a, b = seq(), seq()
    both = a + b
    assert type(both) is nn.Sequential and len(both) == 6
    assert names(both) == ["0", "1", "2", "3", "4", "5"] and len(a) == 3
    a += b
    assert a is not both and len(a) == 6 and names(a) == names(both)
    for bad in ([nn.ReLU()], nn.ModuleList([nn.ReLU()])):
        with pytest.raises(ValueError):
            seq() + bad
        with pytest.raises(ValueError):
            s = seq()
            s += bad
    twice = seq() * 2
    # the same modules twice: six positions, named_children yields each module once
    assert len(twice) == 6 and list(twice._modules) == [str(i) for i in range(6)]
    assert names(twice) == ["0", "1", "2"] and len(2 * seq()) == 6
    s = seq()
    s *= 3
    assert len(s) == 9 and s[0] is s[3] is s[6]
    with pytest.raises(ValueError):
        seq() * 0
    with pytest.raises(TypeError):
        seq() * 1.5


# -- ModuleList ------------------------------------------------------------------------------------
def test_module_list_api_like_pytorch():
    m = mlist()
    assert isinstance(m[-3], nn.ReLU) and len(m) == 3
    for bad in (3, -4):
        with pytest.raises(IndexError):
            m[bad]
    tail = m[1:]
    assert type(tail) is nn.ModuleList and names(tail) == ["0", "1"]
    assert kinds(m[::-1]) == ["Sigmoid", "Tanh", "ReLU"]
    m[-1] = nn.Identity()
    assert kinds(m) == ["ReLU", "Tanh", "Identity"]
    del m[-2]
    assert names(m) == ["0", "1"] and kinds(m) == ["ReLU", "Identity"]
    assert isinstance(m.pop(0), nn.ReLU) and names(m) == ["0"]
    m.extend(seq())
    m += [nn.ReLU()]
    assert names(m) == ["0", "1", "2", "3", "4"]
    popped = m.pop(slice(1, None))
    assert type(popped) is nn.ModuleList and len(popped) == 4 and names(m) == ["0"]
    joined = mlist() + [nn.Identity()]
    assert type(joined) is nn.ModuleList and names(joined) == ["0", "1", "2", "3"]
    with pytest.raises(TypeError):
        mlist().extend(3)


@pytest.mark.parametrize("index, expected", [
    (0, ["Identity", "ReLU", "Tanh", "Sigmoid"]),
    (1, ["ReLU", "Identity", "Tanh", "Sigmoid"]),
    (3, ["ReLU", "Tanh", "Sigmoid", "Identity"]),
    # PyTorch documents "insert before index"; its code raises KeyError('-1') for a negative
    # index and leaves a gap ("0", "1", "2", "10") past the end. graphc does what list does.
    (-1, ["ReLU", "Tanh", "Identity", "Sigmoid"]),
    (10, ["ReLU", "Tanh", "Sigmoid", "Identity"]),
    (-10, ["Identity", "ReLU", "Tanh", "Sigmoid"]),
])
def test_module_list_insert(index, expected):
    m = mlist()
    assert m.insert(index, nn.Identity()) is None
    assert kinds(m) == expected and names(m) == ["0", "1", "2", "3"]


# -- ModuleDict ------------------------------------------------------------------------------------
def test_module_dict_api_like_pytorch():
    d = nn.ModuleDict({"a": nn.ReLU(), "b": nn.Tanh()})
    d.update(nn.ModuleDict({"c": nn.Sigmoid()}))
    d.update([("d", nn.Identity())])
    d.update(OrderedDict(e=nn.ReLU()))
    assert list(d) == list(d.keys()) == [k for k, _ in d.items()] == ["a", "b", "c", "d", "e"]
    assert [type(v).__name__ for v in d.values()] == ["ReLU", "Tanh", "Sigmoid", "Identity",
                                                      "ReLU"]
    d["b"] = nn.Identity()
    del d["c"]
    assert names(d) == ["a", "b", "d", "e"] and isinstance(d["b"], nn.Identity)
    assert isinstance(d.pop("a"), nn.ReLU) and "a" not in d and "b" in d and len(d) == 3
    for missing in (lambda: d["zz"], lambda: d.pop("zz"), lambda: d.__delitem__("zz")):
        with pytest.raises(KeyError):
            missing()
    with pytest.raises(TypeError):
        d.update(3)
    with pytest.raises(TypeError):
        d.update([3])
    with pytest.raises(ValueError):
        d.update([("x", nn.ReLU(), 3)])
    d.clear()
    assert list(d) == [] and len(d) == 0


def test_a_module_used_twice_is_one_child_but_two_state_dict_entries():
    shared = nn.Linear(1, 1)
    s = nn.Sequential(shared, nn.ReLU(), shared)
    assert names(s) == ["0", "1"] and len(list(s.children())) == 2
    assert list(s.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(list(s.parameters())) == 2


# -- __setattr__ / __delattr__ ---------------------------------------------------------------------
class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.sub = nn.Linear(2, 2)
        self.act = nn.ReLU()


def test_assigning_none_to_a_submodule_keeps_its_name():
    model = Pair()
    model.sub = None
    assert list(model._modules) == ["sub", "act"] and names(model) == ["act"]
    assert model.sub is None and list(model.state_dict()) == []
    model.sub = nn.Tanh()
    assert list(model._modules) == ["sub", "act"]  # back in its old place
    with pytest.raises(TypeError, match="child module 'sub'"):
        model.sub = 3
    with pytest.raises(TypeError):
        model.sub = graphc.zeros(2)
    assert isinstance(model.sub, nn.Tanh)


def test_deleting_attributes():
    model = Pair()
    del model.act
    assert list(model._modules) == ["sub"] and not hasattr(model, "act")
    with pytest.raises(AttributeError):
        model.act
    model.note = 5
    del model.note
    assert not hasattr(model, "note")
    with pytest.raises(AttributeError):
        del model.nothing
    layer = nn.Linear(2, 2)
    del layer.bias
    assert list(layer._parameters) == ["weight"] and not hasattr(layer, "bias")
    layer.bias = nn.ReLU()  # the name is free again, for anything
    assert list(layer._modules) == ["bias"]


def test_reassigning_changes_the_kind_like_pytorch():
    layer = nn.Linear(2, 2)
    layer.weight = None
    assert list(layer._parameters) == ["weight", "bias"] and list(layer.state_dict()) == ["bias"]
    layer.extra = nn.ReLU()
    layer.extra = layer.bias  # a Parameter moves the name from _modules to _parameters
    assert list(layer._modules) == [] and list(layer._parameters) == ["weight", "bias", "extra"]
    bn = nn.BatchNorm1d(3)
    with pytest.raises(TypeError):
        bn.running_mean = 3
    bn.running_var = nn.ReLU()
    assert list(bn._buffers) == ["running_mean", "num_batches_tracked"]
    assert list(bn._modules) == ["running_var"]


# -- repr ------------------------------------------------------------------------------------------
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)]
                                    + [nn.ReLU(), nn.Dropout(0.5), nn.ReLU()])
        self.heads = nn.ModuleDict({"cls": nn.Linear(4, 2),
                                    "box": nn.Sequential(nn.Linear(4, 4), nn.Tanh())})
        self.skip = nn.Identity()
        self.skip = None
        self.empty = nn.ModuleList()

    def extra_repr(self):
        return "width=4"


class TwoLines(nn.Module):
    def extra_repr(self):
        return "a=1\nb=2"


def test_repr_of_a_nested_model_matches_pytorch():
    assert repr(nn.Sequential(Block(), nn.Flatten())) == (
        "Sequential(\n"
        "  (0): Block(\n"
        "    width=4\n"
        "    (layers): ModuleList(\n"
        "      (0-2): 3 x Linear(in_features=4, out_features=4, bias=True)\n"
        "      (3): ReLU()\n"
        "      (4): Dropout(p=0.5, inplace=False)\n"
        "      (5): ReLU()\n"
        "    )\n"
        "    (heads): ModuleDict(\n"
        "      (cls): Linear(in_features=4, out_features=2, bias=True)\n"
        "      (box): Sequential(\n"
        "        (0): Linear(in_features=4, out_features=4, bias=True)\n"
        "        (1): Tanh()\n"
        "      )\n"
        "    )\n"
        "    (skip): None\n"
        "    (empty): ModuleList()\n"
        "  )\n"
        "  (1): Flatten(start_dim=1, end_dim=-1)\n"
        ")")
    assert repr(TwoLines()) == "TwoLines(\n  a=1\n  b=2\n)"
    assert repr(nn.Sequential()) == "Sequential()" and repr(nn.ModuleDict()) == "ModuleDict()"
    assert repr(nn.ModuleList([nn.ReLU(), nn.ReLU(), nn.Tanh(), nn.ReLU()])) == (
        "ModuleList(\n  (0-1): 2 x ReLU()\n  (2): Tanh()\n  (3): ReLU()\n)")
