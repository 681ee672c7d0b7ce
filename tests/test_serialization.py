"""graphc.save / graphc.load: round trips, and every kind of damaged file -> CheckpointError."""
import io
import json
import math
import struct
import zipfile

import numpy as np
import pytest

import graphc
from graphc import optim
from graphc.errors import CheckpointError
from graphc.nn import Module, Parameter
from graphc.serialization import ALIGN, MAGIC, load, read_header, save


def round_trip(obj):
    buffer = io.BytesIO()
    save(obj, buffer)
    buffer.seek(0)
    return load(buffer)


def assert_same(a, b):
    """Structural equality with types: tuple stays tuple, int stays int, tensors keep dtype."""
    assert type(a) is type(b) or isinstance(a, graphc.Tensor) and isinstance(b, graphc.Tensor), \
        (type(a), type(b))
    if isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            assert type(key) is type(next(k for k in b if k == key))
            assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, graphc.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and np.shape(a) == np.shape(b)
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


# -- round trips --------------------------------------------------------------------------------
class Net(Module):
    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(0)
        self.weight = Parameter(graphc.from_numpy(rng.standard_normal((4, 3)).astype(np.float32)))
        self.bias = Parameter(graphc.zeros(4))
        self.register_buffer("steps", graphc.tensor(7))

    def forward(self, x):
        return x @ self.weight.T + self.bias


def test_model_state_dict_round_trip(tmp_path):
    net = Net()
    path = tmp_path / "model.gck"
    save(net.state_dict(), path)
    loaded = load(path)
    assert list(loaded) == ["weight", "bias", "steps"]
    assert_same(dict(net.state_dict()), loaded)
    fresh = Net()
    fresh.load_state_dict(loaded)
    np.testing.assert_array_equal(fresh.weight.numpy(), net.weight.numpy())


def test_optimizer_state_dict_round_trip_resumes_training(tmp_path):
    def make():
        w = Parameter(graphc.tensor([1.0, -2.0, 0.5]))
        return w, optim.Adam([{"params": [w]}], lr=0.1, amsgrad=True)

    w, opt = make()
    for i in range(3):
        w.grad = graphc.tensor([0.3, -0.1, 0.2]) * (i + 1)
        opt.step()
    save({"model": {"w": w.detach()}, "optim": opt.state_dict(), "epoch": 3}, tmp_path / "ck")
    ck = load(str(tmp_path / "ck"))
    assert sorted(ck["optim"]["state"]) == [0]  # integer keys survive
    assert ck["optim"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert_same(opt.state_dict(), ck["optim"])
    w2, opt2 = make()
    w2._data = ck["model"]["w"].numpy()
    opt2.load_state_dict(ck["optim"])
    for p, o in ((w, opt), (w2, opt2)):
        p.grad = graphc.tensor([0.5, 0.5, -0.5])
        o.step()
    np.testing.assert_array_equal(w2.numpy(), w.numpy())


def test_nested_structures_and_scalars_keep_their_types():
    obj = {
        "none": None, "t": True, "f": False, "i": -3, "big": 2 ** 80, "x": 0.1, "neg0": -0.0,
        "nan": float("nan"), "inf": float("inf"), "minf": -math.inf, "s": "héllo\n\u2603",
        "empty": {}, "list": [1, [2, (3, "4")], ()], "tuple": (1.5, None),
        7: "int key", -1: {"nested": {"deeper": [[[]]]}},
        "tensors": [graphc.zeros(2, 3), graphc.arange(5), graphc.tensor(True),
                    graphc.tensor([1, 2], dtype="int32"), graphc.tensor(2.5, dtype="float64"),
                    graphc.zeros(0, 4), graphc.ones(3, requires_grad=True)],
        "arrays": [np.arange(6, dtype=np.uint8).reshape(2, 3), np.float16([1.5, -2]),
                   np.array(3.0), np.zeros((0,), np.int16), np.arange(12.0).reshape(3, 4).T,
                   np.array([1 + 2j], np.complex64), np.arange(3, dtype=">i4")],
        "np_scalars": [np.float32(1.25), np.int64(-9), np.bool_(True)],
    }
    loaded = round_trip(obj)
    expected = dict(obj)
    expected["arrays"] = list(obj["arrays"][:-1]) + [np.arange(3, dtype=np.int32)]  # native order
    assert_same(expected, loaded)
    assert loaded["arrays"][4].flags.c_contiguous and loaded["arrays"][0].flags.writeable


def test_paths_and_file_objects(tmp_path):
    obj = {"w": graphc.ones(2)}
    save(obj, str(tmp_path / "a"))
    save(obj, tmp_path / "b")
    with open(tmp_path / "c", "wb") as f:
        save(obj, f)
    for name in "abc":
        assert_same(obj, load(tmp_path / name))
        with open(tmp_path / name, "rb") as f:
            assert_same(obj, load(f))
    assert (tmp_path / "a").read_bytes() == (tmp_path / "c").read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_two_checkpoints_in_one_stream():
    buffer = io.BytesIO()
    save([1], buffer)
    save({"x": graphc.ones(1)}, buffer)
    buffer.seek(0)
    assert load(buffer) == [1]
    assert load(buffer)["x"].tolist() == [1.0]


def test_layout_is_documented_and_aligned(tmp_path):
    save({"a": graphc.ones(3), "b": np.arange(5)}, tmp_path / "ck")
    raw = (tmp_path / "ck").read_bytes()
    assert raw.startswith(MAGIC)
    header = read_header(tmp_path / "ck")
    assert header["format"] == "graphc-checkpoint"
    assert [a["dtype"] for a in header["arrays"]] == ["<f4", "<i8"]
    assert all(a["offset"] % ALIGN == 0 for a in header["arrays"])


def test_unsavable_objects_are_rejected_at_save():
    for bad, match in ((object(), "cannot save a object"), ({1.5: 1}, "keys must be str or int"),
                       ({"s": {1, 2}}, r"obj\['s'\]"), (np.array(["a"]), "dtype")):
        with pytest.raises(TypeError, match=match):
            save(bad, io.BytesIO())


def test_load_missing_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nope")


# -- damaged files ------------------------------------------------------------------------------
def checkpoint_bytes():
    buffer = io.BytesIO()
    save({"w": graphc.from_numpy(np.arange(12, dtype=np.float32).reshape(3, 4)),
          "b": graphc.zeros(4), "step": 3}, buffer)
    return buffer.getvalue()


def split_file(raw):
    """(header dict, data bytes) of a checkpoint."""
    header_len = struct.unpack("<Q", raw[len(MAGIC) + 4:len(MAGIC) + 12])[0]
    start = len(MAGIC) + 12
    header = json.loads(raw[start:start + header_len])
    data_start = -(-(start + header_len) // ALIGN) * ALIGN
    return header, raw[data_start:]


def join_file(header, data, version=1):
    """A checkpoint with ``header`` (any JSON-able value, or raw bytes) and ``data``."""
    if isinstance(header, bytes):
        text = header
    else:
        text = json.dumps(header, separators=(",", ":")).encode()
    head = MAGIC + struct.pack("<IQ", version, len(text)) + text
    return head + b"\0" * (-len(head) % ALIGN) + data


def expect_error(tmp_path, raw, match):
    path = tmp_path / "damaged.gck"
    path.write_bytes(raw)
    with pytest.raises(CheckpointError, match=match) as info:
        load(path)
    assert str(path) in str(info.value)  # the message names the file
    with pytest.raises(CheckpointError, match=match):
        load(io.BytesIO(raw))  # file objects too (named "<file object>")
    return str(info.value)


def test_intact_file_loads_and_rebuilt_file_is_identical():
    raw = checkpoint_bytes()
    assert join_file(*split_file(raw)) == raw  # the test helpers below are faithful
    assert load(io.BytesIO(join_file(*split_file(raw))))["step"] == 3


@pytest.mark.parametrize("cut", [0, 1, 5, len(MAGIC), len(MAGIC) + 7, len(MAGIC) + 12, 40,
                                 -(4 * 4 + 1), -48, -1])
def test_truncated_files(tmp_path, cut):
    raw = checkpoint_bytes()
    expect_error(tmp_path, raw[:cut] if cut >= 0 else raw[:len(raw) + cut], "truncated")


def test_every_truncation_is_detected(tmp_path):
    raw = checkpoint_bytes()
    for cut in range(0, len(raw), 7):
        with pytest.raises(CheckpointError):
            load(io.BytesIO(raw[:cut]))


def test_random_bytes(tmp_path):
    rng = np.random.default_rng(0)
    for size in (3, 100, 5000):
        expect_error(tmp_path, rng.bytes(size), "not a graphc checkpoint|truncated")


def test_wrong_magic_and_foreign_formats(tmp_path):
    raw = checkpoint_bytes()
    expect_error(tmp_path, b"\x89GRAPHX" + raw[7:], "wrong magic")
    message = expect_error(tmp_path, raw.replace(b"\r\n", b"\n", 1), "wrong magic")
    assert "binary mode" in message
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("data.pkl", b"not really")
    assert "zip" in expect_error(tmp_path, zipped.getvalue(), "wrong magic")
    expect_error(tmp_path, np.lib.format.magic(1, 0) + raw, "wrong magic")


def test_unsupported_version(tmp_path):
    header, data = split_file(checkpoint_bytes())
    expect_error(tmp_path, join_file(header, data, version=99), "version 99")


def test_header_referencing_a_missing_array(tmp_path):
    header, data = split_file(checkpoint_bytes())
    header["root"]["$dict"][0][1]["$tensor"] = 5
    expect_error(tmp_path, join_file(header, data), r"obj\['w'\] refers to array 5")


def test_header_with_a_wrong_shape(tmp_path):
    header, data = split_file(checkpoint_bytes())
    header["arrays"][0]["shape"] = [4, 4]
    expect_error(tmp_path, join_file(header, data), r"array 0: shape \[4, 4\].*needs 64 bytes")
    header["arrays"][0]["shape"] = [3, -4]
    expect_error(tmp_path, join_file(header, data), "invalid shape")


@pytest.mark.parametrize("tamper, match", [
    (lambda h: h["arrays"][0].update(dtype="|O"), "not allowed"),
    (lambda h: h["arrays"][0].update(dtype="<U4"), "not allowed"),
    (lambda h: h["arrays"][1].update(offset=10 ** 6), "outside"),
    (lambda h: h["arrays"][1].update(offset=-64), "invalid offset"),
    (lambda h: h["arrays"][0].update(crc32=h["arrays"][0]["crc32"] ^ 1), "checksum"),
    (lambda h: h.update(data_size=10 ** 12), "truncated"),
    (lambda h: h.update(root={"$pickle": "cos\nsystem\n"}), "unknown node"),
    (lambda h: h.update(root={"$dict": [[1.5, None]]}), "malformed dict entry"),
    (lambda h: h["root"]["$dict"].append(["again", {"$tensor": 0}]), "already used"),
    (lambda h: h.update(format="something else"), "does not describe"),
    (lambda h: h.pop("arrays"), "no 'arrays'"),
])
def test_tampered_headers(tmp_path, tamper, match):
    header, data = split_file(checkpoint_bytes())
    tamper(header)
    expect_error(tmp_path, join_file(header, data), match)


def test_header_that_is_not_json(tmp_path):
    _, data = split_file(checkpoint_bytes())
    expect_error(tmp_path, join_file(b'{"format": "graphc-checkpoint", ', data), "not valid JSON")
    expect_error(tmp_path, join_file(b"\xff\xfe", data), "not valid JSON")
    expect_error(tmp_path, join_file(b'{"root": NaN}', data), "not valid JSON")


def test_flipped_data_byte_fails_the_checksum(tmp_path):
    raw = bytearray(checkpoint_bytes())
    raw[-3] ^= 0x40
    expect_error(tmp_path, bytes(raw), "array 1 .* fails its checksum")


def test_trailing_bytes_after_a_file(tmp_path):
    path = tmp_path / "ck"
    path.write_bytes(checkpoint_bytes() + b"extra")
    with pytest.raises(CheckpointError, match="unexpected 5 bytes"):
        load(path)


def test_huge_header_length_is_rejected_before_reading(tmp_path):
    raw = MAGIC + struct.pack("<IQ", 1, 2 ** 60)
    expect_error(tmp_path, raw, "implausible")


def test_no_raw_exceptions_from_random_corruption(tmp_path):
    """Flip random bytes anywhere: load either succeeds or raises CheckpointError, never more."""
    raw = checkpoint_bytes()
    rng = np.random.default_rng(1)
    for _ in range(300):
        damaged = bytearray(raw)
        for position in rng.integers(0, len(raw), size=rng.integers(1, 4)):
            damaged[position] = rng.integers(0, 256)
        try:
            load(io.BytesIO(bytes(damaged)))
        except CheckpointError:
            pass


def test_text_mode_file_object_is_rejected_clearly(tmp_path):
    save([1], tmp_path / "ck")
    with open(tmp_path / "ck", encoding="latin-1") as f:
        with pytest.raises(CheckpointError, match="text mode"):
            load(f)


class _Unseekable(io.RawIOBase):
    """A pipe-like stream: readable, not seekable."""

    def __init__(self, raw):
        self._buffer = io.BytesIO(raw)

    def readable(self):
        return True

    def readinto(self, memory):
        data = self._buffer.read(len(memory))
        memory[:len(data)] = data
        return len(data)


def test_unseekable_streams_load_and_detect_truncation():
    raw = checkpoint_bytes()
    assert load(io.BufferedReader(_Unseekable(raw)))["step"] == 3
    header, data = split_file(raw)
    header["data_size"] = 10 ** 13  # must fail as truncation, not as a 10 TB allocation
    with pytest.raises(CheckpointError, match="truncated"):
        load(io.BufferedReader(_Unseekable(join_file(header, data))))
