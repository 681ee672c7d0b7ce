"""graphc.save / graphc.load: round trips, and every kind of damaged file -> CheckpointError."""
import io
import json
import math
import struct
import zipfile
import zlib

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


def test_the_same_tensor_saved_many_times_is_stored_once_and_loads_as_one_object():
    t = graphc.from_numpy(np.arange(1000, dtype=np.float32))
    once, many = io.BytesIO(), io.BytesIO()
    save([t], once)
    save([t] * 64, many)
    assert len(many.getvalue()) - len(once.getvalue()) < 64 * 20  # 63 more small references
    loaded = load(io.BytesIO(many.getvalue()))
    assert len(loaded) == 64 and all(x is loaded[0] for x in loaded)
    np.testing.assert_array_equal(loaded[0].numpy(), np.arange(1000, dtype=np.float32))
    loaded[0].add_(1)  # one object, so a change shows through every reference (torch aliasing)
    assert loaded[63].tolist()[:2] == [1.0, 2.0]


def test_tensors_sharing_one_array_are_stored_once():
    w = Parameter(graphc.ones(256, 4))
    tied = {"encoder.weight": w, "decoder.weight": w, "frozen": w.detach()}
    buffer = io.BytesIO()
    save(tied, buffer)
    header = read_header(io.BytesIO(buffer.getvalue()))
    assert len(header["arrays"]) == 1 and header["data_size"] == 256 * 4 * 4
    loaded = load(io.BytesIO(buffer.getvalue()))
    assert loaded["encoder.weight"] is loaded["decoder.weight"]
    assert loaded["encoder.weight"].requires_grad and not loaded["frozen"].requires_grad
    assert_same({k: v for k, v in tied.items()}, loaded)


def test_the_same_numpy_array_saved_twice_loads_as_one_array():
    a = np.arange(6.0).reshape(2, 3)
    loaded = round_trip({"x": a, "y": [a], "copy": a.copy()})
    assert loaded["x"] is loaded["y"][0] and loaded["copy"] is not loaded["x"]
    np.testing.assert_array_equal(loaded["copy"], a)


def test_unsavable_objects_are_rejected_at_save():
    for bad, match in ((object(), "cannot save a object"), ({1.5: 1}, "keys must be str or int"),
                       ({"f": lambda: 0}, r"obj\['f'\]"), (np.array(["a"]), "dtype")):
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


# The layout as the module docstring documents it: magic, then version, header length and the
# header's CRC-32 (little-endian uint32, uint64, uint32), the JSON header, zeros to a multiple of
# ALIGN, the data.
HEADER_START = len(MAGIC) + 16


def split_file(raw):
    """(header dict, data bytes) of a checkpoint."""
    header_len = struct.unpack("<Q", raw[len(MAGIC) + 4:len(MAGIC) + 12])[0]
    header = json.loads(raw[HEADER_START:HEADER_START + header_len])
    data_start = -(-(HEADER_START + header_len) // ALIGN) * ALIGN
    return header, raw[data_start:]


def join_file(header, data, version=2):
    """A checkpoint with ``header`` (any JSON-able value, or raw bytes) and ``data``, with a
    correct header checksum (so that the checks behind it are what a test reaches)."""
    if isinstance(header, bytes):
        text = header
    else:
        text = json.dumps(header, separators=(",", ":")).encode()
    head = MAGIC + struct.pack("<IQI", version, len(text), zlib.crc32(text)) + text
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
    path = tmp_path / "cut.gck"
    for cut in range(len(raw)):
        with pytest.raises(CheckpointError, match="truncated"):
            load(io.BytesIO(raw[:cut]))
        path.write_bytes(raw[:cut])
        with pytest.raises(CheckpointError, match="truncated"):
            load(path)


def test_one_byte_edits_of_header_numbers_are_detected(tmp_path):
    """A shape, dtype or number edited in place used to load silently with wrong values."""
    raw = checkpoint_bytes()
    for old, new in ((b'"step",3', b'"step",4'), (b'"shape":[3,4]', b'"shape":[4,3]'),
                     (b'"<f4"', b'"<i4"')):
        assert old in raw and len(old) == len(new)
        edited = raw.replace(old, new, 1)
        expect_error(tmp_path, edited, "the header fails its checksum")
        load(io.BytesIO(join_file(*split_file(edited))))  # only the checksum tells them apart


def test_every_flipped_byte_of_a_small_file_is_an_error():
    """Magic, version, sizes, checksums, header, padding and data: no byte can change unseen."""
    raw = checkpoint_bytes()
    for position in range(len(raw)):
        for mask in (0x01, 0x80, 0xFF):
            damaged = bytearray(raw)
            damaged[position] ^= mask
            with pytest.raises(CheckpointError):
                load(io.BytesIO(bytes(damaged)))


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
    # a zip is read as PyTorch's format (tests/test_torch_checkpoint.py), which this is not
    assert "zip" in expect_error(tmp_path, zipped.getvalue(), "not a PyTorch checkpoint")
    expect_error(tmp_path, np.lib.format.magic(1, 0) + raw, "wrong magic")


def test_unsupported_version(tmp_path):
    header, data = split_file(checkpoint_bytes())
    expect_error(tmp_path, join_file(header, data, version=99), "version 99")


def test_version_1_files_without_a_header_checksum_are_refused_with_a_reason(tmp_path):
    header, data = split_file(checkpoint_bytes())
    text = json.dumps(header).encode()
    head = MAGIC + struct.pack("<IQ", 1, len(text)) + text  # version 1: no checksum field
    raw = head + b"\0" * (-len(head) % ALIGN) + data
    assert "no header checksum" in expect_error(tmp_path, raw, "version 1")


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
    (lambda h: h.update(data_size=10 ** 12), r"bytes 80\.\.1000000000000 .* not used"),
    (lambda h: h.update(root={"$pickle": "cos\nsystem\n"}), "unknown node"),
    (lambda h: h.update(root={"$dict": [[1.5, None]]}), "malformed dict entry"),
    (lambda h: h["root"]["$dict"].append(["again", {"$tensor": 0, "requires_grad": 1}]),
     "requires_grad must be true or false"),
    (lambda h: h["root"]["$dict"].append(["x", {"$ndarray": 0, "extra": 1}]), "unexpected keys"),
    (lambda h: h.update(format="something else"), "does not describe"),
    (lambda h: h.pop("arrays"), "no 'arrays'"),
])
def test_tampered_headers(tmp_path, tamper, match):
    header, data = split_file(checkpoint_bytes())
    tamper(header)
    expect_error(tmp_path, join_file(header, data), match)


def big_checkpoint(size):
    """A checkpoint holding one float32 array of ``size`` elements; its bytes and parts."""
    buffer = io.BytesIO()
    save({"w": np.ones(size, np.float32)}, buffer)
    return buffer.getvalue()


def test_a_data_region_listed_many_times_is_rejected_before_allocating(tmp_path):
    import tracemalloc
    header, data = split_file(big_checkpoint(250_000))  # 1 MB of data
    for i in range(1, 1000):
        header["arrays"].append(dict(header["arrays"][0]))
        header["root"]["$dict"].append([f"w{i}", {"$ndarray": i}])
    raw = join_file(header, data)
    tracemalloc.start()
    try:
        expect_error(tmp_path, raw, "array 1: bytes 0..1000000 overlap array 0")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * len(raw)  # the 1 GB copy the header asked for was never made


def test_loading_allocates_about_the_file_size():
    import tracemalloc
    raw = big_checkpoint(1_000_000)
    tracemalloc.start()
    try:
        load(io.BytesIO(raw))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2.5 * len(raw)  # the data buffer, and the arrays copied out of it


@pytest.mark.parametrize("tamper, extra_data, match", [
    (lambda h: h["arrays"][1].update(offset=128) or h.update(data_size=144), 64,
     r"array 1: starts at byte 128.* bytes 48\.\.128 would be unused"),
    (lambda h: h["arrays"][1].update(offset=32), 0, "array 1: bytes 32..48 overlap array 0"),
    (lambda h: h.update(data_size=h["data_size"] + 64), 64,
     r"bytes 80\.\.144 of the data are not used by any array"),
    (lambda h: h["root"]["$dict"].pop(1), 0, "array 1 is not used by the structure"),
])
def test_overlapping_or_unused_regions_are_rejected(tmp_path, tamper, extra_data, match):
    header, data = split_file(checkpoint_bytes())
    tamper(header)
    expect_error(tmp_path, join_file(header, data + b"\0" * extra_data), match)


def test_nonzero_padding_is_corruption(tmp_path):
    header, data = split_file(checkpoint_bytes())
    data = bytearray(data)
    data[50] = 1  # between array 0 (48 bytes) and array 1 (at 64)
    expect_error(tmp_path, join_file(header, bytes(data)), "padding before array 1 is not zeros")


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
    raw = MAGIC + struct.pack("<IQI", 2, 2 ** 60, 0)
    expect_error(tmp_path, raw, "implausible")
    raw = MAGIC + struct.pack("<IQI", 2, 2 ** 29, 0) + b"{}"  # plausible, but not in the file
    expect_error(tmp_path, raw, "truncated")


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
    with pytest.raises(CheckpointError, match="truncated"):
        load(io.BufferedReader(_Unseekable(raw[:-10])))
    header, data = split_file(raw)
    header["arrays"][1].update(shape=[10 ** 12], nbytes=4 * 10 ** 12)
    header["data_size"] = 64 + 4 * 10 ** 12  # must fail as truncation, not as a 4 TB allocation
    with pytest.raises(CheckpointError, match="truncated"):
        load(io.BufferedReader(_Unseekable(join_file(header, data))))


# -- whole objects and allowed globals (torch.save(model) / torch.serialization.safe_globals) ---
def _lstm_model():
    graphc.manual_seed(0)
    return graphc.nn.Sequential(graphc.nn.Embedding(10, 4), graphc.nn.LSTM(4, 5))


def test_a_whole_module_loads_back_when_its_classes_are_allowed(tmp_path):
    from graphc.serialization import safe_globals
    model = _lstm_model()
    graphc.save(model, tmp_path / "model.pt")
    with safe_globals([graphc.nn.Sequential, graphc.nn.Embedding, graphc.nn.LSTM]):
        loaded = graphc.load(tmp_path / "model.pt")
    assert type(loaded) is graphc.nn.Sequential
    assert [type(m).__name__ for m in loaded] == ["Embedding", "LSTM"]
    tokens = graphc.tensor([[1, 2, 3]])
    out, _ = loaded(tokens)
    expected, _ = model(tokens)
    np.testing.assert_array_equal(out.numpy(), expected.numpy())
    assert all(isinstance(p, graphc.nn.Parameter) for p in loaded.parameters())
    assert [n for n, _ in loaded.named_parameters()] == [n for n, _ in model.named_parameters()]


def test_loading_an_object_whose_class_is_not_allowed_names_the_class(tmp_path):
    graphc.save(_lstm_model(), tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match=r"graphc\.nn\.container\.Sequential, which is "
                                              r"not an allowed global.*add_safe_globals"):
        graphc.load(tmp_path / "model.pt")


def test_a_module_holding_a_function_needs_the_function_allowed_too(tmp_path):
    from graphc.serialization import safe_globals
    layer = graphc.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0)
    layer.activation = graphc.nn.functional.relu
    graphc.save(layer, tmp_path / "layer.pt")
    classes = [type(m) for m in layer.modules()]
    with safe_globals(classes), pytest.raises(CheckpointError, match="relu"):
        graphc.load(tmp_path / "layer.pt")
    with safe_globals(classes + [graphc.nn.functional.relu]):
        loaded = graphc.load(tmp_path / "layer.pt")
    assert loaded.activation is graphc.nn.functional.relu


def test_safe_globals_context_restores_the_allow_list_on_exit(tmp_path):
    from graphc.serialization import (
        add_safe_globals,
        clear_safe_globals,
        get_safe_globals,
        safe_globals,
    )
    before = get_safe_globals()
    with safe_globals([graphc.nn.Linear]):
        assert graphc.nn.Linear in get_safe_globals()
    assert get_safe_globals() == before
    add_safe_globals([graphc.nn.Linear])
    try:
        graphc.save(graphc.nn.Linear(2, 2), tmp_path / "l.pt")
        assert type(graphc.load(tmp_path / "l.pt")) is graphc.nn.Linear
    finally:
        clear_safe_globals()
    assert graphc.nn.Linear not in get_safe_globals()


def test_weights_only_false_imports_the_classes_a_trusted_file_names(tmp_path):
    graphc.save(_lstm_model(), tmp_path / "model.pt")
    loaded = graphc.load(tmp_path / "model.pt", weights_only=False)
    assert type(loaded[1]) is graphc.nn.LSTM


def test_lambdas_and_local_classes_cannot_be_saved(tmp_path):
    class Local(graphc.nn.Module):
        pass
    with pytest.raises(TypeError, match="no importable name"):
        graphc.save(Local(), tmp_path / "x.pt")
    with pytest.raises(TypeError, match="no importable name"):
        graphc.save({"f": lambda x: x}, tmp_path / "x.pt")


def test_tied_parameters_stay_one_parameter_after_loading(tmp_path):
    from graphc.serialization import safe_globals
    graphc.manual_seed(0)
    emb, out = graphc.nn.Embedding(6, 3), graphc.nn.Linear(3, 6, bias=False)
    out.weight = emb.weight
    model = graphc.nn.Sequential(emb, out)
    graphc.save(model, tmp_path / "tied.pt")
    with safe_globals([graphc.nn.Sequential, graphc.nn.Embedding, graphc.nn.Linear]):
        loaded = graphc.load(tmp_path / "tied.pt")
    assert loaded[0].weight is loaded[1].weight


def test_dtypes_and_devices_save_and_load_back():
    buffer = io.BytesIO()
    config = {"dtype": graphc.bfloat16, "accumulate": graphc.float64, "where": graphc.device("cpu")}
    graphc.save(config, buffer)
    buffer.seek(0)
    assert graphc.load(buffer) == config
