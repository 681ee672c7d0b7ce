"""``graphc.save_file`` / ``graphc.load_file``: .safetensors through the safetensors package.

The PyTorch-made files in tests/fixtures/ were written by tests/fixtures/make_torch_checkpoints.py
with ``safetensors.torch.save_file``; their expected outputs were computed by PyTorch in float64.
The byte-level checks below read the format's header directly (8-byte little-endian length, then
JSON), as the safetensors specification defines it, independently of the package.
"""
import json
import os
import struct

import ml_dtypes
import numpy as np
import pytest

import graphc
from conftest import assert_close
from graphc import nn
from graphc.errors import CheckpointError

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def fixture(name: str) -> str:
    return os.path.join(FIXTURES, name)


def header_of(path) -> dict:
    raw = open(path, "rb").read()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + length])


def test_pytorch_safetensors_state_dicts_load_into_the_matching_models_and_give_its_outputs():
    for name, model in (("mlp", nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))),
                        ("cnn", nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(),
                                              nn.Flatten(), nn.Linear(32, 3)))):
        result = model.load_state_dict(graphc.load_file(fixture(f"{name}.safetensors")))
        assert not result.missing_keys and not result.unexpected_keys
        model.eval()
        x = graphc.tensor(np.load(fixture(f"{name}_input.npy")))
        expected = np.load(fixture(f"{name}_expected.npy"))  # PyTorch's, in float64
        assert_close(model(x), expected)
        assert_close(graphc.compile(model)(x), expected)


def test_pytorch_safetensors_of_every_dtype_load_with_their_values():
    state = graphc.load_file(fixture("dtypes.safetensors"))
    values = [0.5, -1.25, 3.0, 1024.0]  # exact in float16 and bfloat16
    for key, dtype in (("f16", graphc.float16), ("bf16", graphc.bfloat16),
                       ("f64", graphc.float64)):
        assert state[key].dtype == dtype
        assert state[key].float().tolist() == values
    assert state["i64"].tolist() == [-3, 0, 2**40] and state["u8"].tolist() == [0, 255]
    assert state["b"].tolist() == [True, False] and state["b"].dtype == graphc.bool
    assert state["scalar"].shape == () and state["scalar"].item() == 2.5
    assert state["empty"].shape == (0, 3)


def test_save_file_writes_what_pytorch_reads_back_with_the_same_names_dtypes_and_bytes(tmp_path):
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    path = tmp_path / "model.safetensors"
    graphc.save_file(model.state_dict(), path, metadata={"format": "pt"})
    header = header_of(path)
    assert header.pop("__metadata__") == {"format": "pt"}
    assert {k: (v["dtype"], v["shape"]) for k, v in header.items()} == {
        "0.weight": ("F32", [8, 4]), "0.bias": ("F32", [8]),
        "2.weight": ("F32", [3, 8]), "2.bias": ("F32", [3])}
    raw = open(path, "rb").read()
    start = 8 + struct.unpack("<Q", raw[:8])[0]
    begin, end = header["0.weight"]["data_offsets"]
    np.testing.assert_array_equal(np.frombuffer(raw[start + begin:start + end], "<f4")
                                  .reshape(8, 4), model[0].weight.numpy())
    again = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    again.load_state_dict(graphc.load_file(path))
    x = graphc.randn(2, 4)
    np.testing.assert_array_equal(again(x).numpy(), model(x).numpy())


def test_half_and_bfloat16_round_trip_as_f16_and_bf16(tmp_path):
    values = np.array([0.5, -1.25, 3.0, 65504.0], dtype=np.float32)
    tensors = {"h": graphc.tensor(values, dtype=graphc.float16),
               "b": graphc.tensor(values, dtype=graphc.bfloat16),
               "i": graphc.tensor([1, -2], dtype=graphc.int32),
               "s": graphc.tensor(1.5)}
    path = tmp_path / "t.safetensors"
    graphc.save_file(tensors, path)
    header = header_of(path)
    assert {k: header[k]["dtype"] for k in tensors} == {"h": "F16", "b": "BF16", "i": "I32",
                                                        "s": "F32"}
    loaded = graphc.load_file(path)
    assert loaded["h"].dtype == graphc.float16 and loaded["b"].dtype == graphc.bfloat16
    np.testing.assert_array_equal(loaded["h"].numpy(), values.astype(np.float16))
    np.testing.assert_array_equal(loaded["b"].numpy(), values.astype(ml_dtypes.bfloat16))
    assert loaded["s"].shape == () and loaded["s"].item() == 1.5
    assert loaded["i"].tolist() == [1, -2]


def test_bytes_api_round_trips():
    data = graphc.safetensors.save({"w": graphc.arange(6).reshape(2, 3).float()})
    assert graphc.safetensors.load(data)["w"].tolist() == [[0, 1, 2], [3, 4, 5]]


def test_tensors_sharing_memory_are_refused_as_pytorch_refuses_them(tmp_path):
    linear = nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match=r"share memory.*\[\['a', 'b'\]\]"):
        graphc.save_file({"a": linear.weight, "b": linear.weight, "c": linear.bias},
                         tmp_path / "tied.safetensors")
    assert not (tmp_path / "tied.safetensors").exists()


def test_save_file_names_a_bad_key_value_or_metadata(tmp_path):
    path = tmp_path / "x.safetensors"
    with pytest.raises(TypeError, match="key 1 is invalid, expected str"):
        graphc.save_file({1: graphc.ones(1)}, path)
    with pytest.raises(ValueError, match="key 'n' is invalid, expected a tensor but received "
                                         "int"):
        graphc.save_file({"n": 3}, path)
    with pytest.raises(TypeError, match="metadata must be a dict of str to str"):
        graphc.save_file({"w": graphc.ones(1)}, path, metadata={"epoch": 3})


def test_damaged_safetensors_files_are_checkpoint_errors_naming_the_file(tmp_path):
    whole = open(fixture("mlp.safetensors"), "rb").read()
    for i, damaged in enumerate((whole[:len(whole) - 4], whole[:20], b"\xff" * 8 + whole[8:],
                                 b"not a safetensors file at all")):
        path = tmp_path / f"bad{i}.safetensors"
        path.write_bytes(damaged)
        with pytest.raises(CheckpointError, match=f"bad{i}.safetensors"):
            graphc.load_file(path)
    with pytest.raises(FileNotFoundError):
        graphc.load_file(tmp_path / "missing.safetensors")


def test_graphc_load_of_a_safetensors_file_says_to_use_load_file():
    with pytest.raises(CheckpointError, match="looks like a .safetensors file: read it with "
                                              "graphc.load_file"):
        graphc.load(fixture("mlp.safetensors"))


def test_load_file_tensors_are_independent_of_the_file(tmp_path):
    path = tmp_path / "w.safetensors"
    graphc.save_file({"w": graphc.ones(3)}, path)
    loaded = graphc.load_file(path)["w"]
    path.write_bytes(b"")  # the file's bytes are gone: the tensor keeps its values
    os.remove(path)
    assert loaded.tolist() == [1.0, 1.0, 1.0]


def test_load_from_bytes_reads_bfloat16_and_every_other_dtype_as_load_file_does():
    from graphc import safetensors as gs
    tensors = {"bf": graphc.tensor([1.5, -2.0], dtype=graphc.bfloat16),
               "f": graphc.tensor([[1.0, 2.0]]), "b": graphc.tensor([True, False]),
               "i": graphc.tensor([3, -4], dtype=graphc.int32)}
    loaded = gs.load(gs.save(tensors))  # (was "not a valid safetensors file: 'BF16'")
    for key, value in tensors.items():
        assert loaded[key].dtype == value.dtype and loaded[key].tolist() == value.tolist()
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        gs.load(b"garbage")
