"""``graphc.load`` of PyTorch ``.pt`` files (torch.save's zip format) and of hostile ones.

The PyTorch-made files in tests/fixtures/ were written by tests/fixtures/make_torch_checkpoints.py
(the tests do not import torch); their expected outputs were computed by PyTorch in float64.
Hostile archives are built here, byte by byte, with a tiny pickle writer: nothing they name
may run, and nothing unbounded may be allocated.
"""
import fractions
import io
import os
import pickle
import struct
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest

import graphc
from conftest import assert_close
from graphc import nn
from graphc.errors import CheckpointError

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def fixture(name: str) -> str:
    return os.path.join(FIXTURES, name)


def make_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def make_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                         nn.Linear(32, 3))


# -- a small pickle writer: the opcodes torch.save writes, without torch -----------------------
class Global:
    def __init__(self, module: str, name: str):
        self.module, self.name = module, name


class Call:
    def __init__(self, func, *args):
        self.func, self.args = func, args


class Build:
    """Pickle's BUILD: ``obj.__setstate__(state)``, or its attributes set from ``state``."""

    def __init__(self, obj, state):
        self.obj, self.state = obj, state


class NewObj:
    """Pickle's NEWOBJ: ``cls.__new__(cls, *args)``."""

    def __init__(self, cls, *args):
        self.cls, self.args = cls, args


class PersistentId:
    def __init__(self, pid: tuple):
        self.pid = pid


def _ops(obj) -> bytes:
    if isinstance(obj, Global):
        return b"c" + obj.module.encode() + b"\n" + obj.name.encode() + b"\n"
    if isinstance(obj, Call):
        return _ops(obj.func) + _ops(tuple(obj.args)) + b"R"
    if isinstance(obj, Build):
        return _ops(obj.obj) + _ops(obj.state) + b"b"
    if isinstance(obj, NewObj):
        return _ops(obj.cls) + _ops(tuple(obj.args)) + b"\x81"
    if isinstance(obj, PersistentId):
        return _ops(obj.pid) + b"Q"
    if obj is None:
        return b"N"
    if isinstance(obj, bool):
        return b"\x88" if obj else b"\x89"
    if isinstance(obj, int):
        raw = obj.to_bytes((obj.bit_length() + 8) // 8, "little", signed=True)
        return b"\x8a" + bytes([len(raw)]) + raw  # LONG1
    if isinstance(obj, str):
        data = obj.encode()
        return b"X" + struct.pack("<I", len(data)) + data
    if isinstance(obj, tuple):
        return b"(" + b"".join(_ops(x) for x in obj) + b"t"
    if isinstance(obj, dict):
        return b"}(" + b"".join(_ops(k) + _ops(v) for k, v in obj.items()) + b"u"
    raise TypeError(obj)


def pickle_of(obj) -> bytes:
    return b"\x80\x02" + _ops(obj) + b"."


def tensor_call(key: str, numel: int, offset: int, size: tuple, stride: tuple,
                storage: str = "FloatStorage") -> Call:
    """What torch.save writes for a tensor: _rebuild_tensor_v2 over a persistent storage."""
    pid = PersistentId(("storage", Global("torch", storage), key, "cpu", numel))
    return Call(Global("torch._utils", "_rebuild_tensor_v2"), pid, offset, size, stride, False,
                Call(Global("collections", "OrderedDict")))


def torch_zip(data_pkl: bytes, storages: dict = (), compression=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        archive.writestr("archive/byteorder", "little")
        for key, raw in dict(storages).items():
            archive.writestr(f"archive/data/{key}", raw)
        archive.writestr("archive/version", "3\n")
    return buffer.getvalue()


def load_bytes(data: bytes, **kwargs):
    return graphc.load(io.BytesIO(data), **kwargs)


# -- files written by PyTorch --------------------------------------------------------------------
@pytest.mark.parametrize("name, make", [("mlp", make_mlp), ("cnn", make_cnn)])
def test_pytorch_state_dict_loads_into_the_matching_model_and_gives_pytorchs_outputs(name, make):
    model = make()
    result = model.load_state_dict(graphc.load(fixture(f"{name}.pt")))
    assert not result.missing_keys and not result.unexpected_keys
    model.eval()
    x = graphc.tensor(np.load(fixture(f"{name}_input.npy")))
    expected = np.load(fixture(f"{name}_expected.npy"))  # PyTorch's, in float64
    assert_close(model(x), expected)
    assert_close(graphc.compile(model)(x), expected)


def test_pytorch_batchnorm_buffers_load_with_their_dtypes():
    state = graphc.load(fixture("cnn.pt"))
    assert state["1.num_batches_tracked"].dtype == graphc.int64
    assert state["1.num_batches_tracked"].item() == 1  # one training forward before saving
    assert isinstance(state, dict) and list(state)[:2] == ["0.weight", "0.bias"]


def test_pt_tensors_of_every_dtype_load_with_their_values():
    state = graphc.load(fixture("dtypes.pt"))
    values = [0.5, -1.25, 3.0, 1024.0]  # exact in float16 and bfloat16
    for key, dtype in (("f16", graphc.float16), ("bf16", graphc.bfloat16),
                       ("f64", graphc.float64)):
        assert state[key].dtype == dtype
        assert state[key].float().tolist() == values
    assert state["i64"].tolist() == [-3, 0, 2**40] and state["i64"].dtype == graphc.int64
    assert state["i32"].tolist() == [1, -2] and state["i32"].dtype == graphc.int32
    assert state["u8"].tolist() == [0, 255] and state["u8"].dtype == graphc.uint8
    assert state["b"].tolist() == [True, False] and state["b"].dtype == graphc.bool
    assert state["scalar"].shape == () and state["scalar"].item() == 2.5
    assert state["empty"].shape == (0, 3)


def test_pt_views_of_one_storage_load_with_their_own_values():
    state = graphc.load(fixture("views.pt"))
    base = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(state["base"].numpy(), base)
    np.testing.assert_array_equal(state["row"].numpy(), base[1])
    np.testing.assert_array_equal(state["t"].numpy(), base.T)
    np.testing.assert_array_equal(state["tail"].numpy(), base.reshape(-1)[5:9])
    assert state["again"] is state["base"]  # one tensor saved under two names
    # contiguous pieces share their storage's bytes; the transpose is a row-major copy
    assert np.shares_memory(state["row"].numpy(), state["base"].numpy())
    assert state["t"].numpy().flags.c_contiguous


def test_pt_parameters_and_plain_values_load_as_saved():
    state = graphc.load(fixture("nested.pt"))
    params = state["params"]
    assert sorted(params) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in params.values())
    np.testing.assert_array_equal(params["0.weight"].numpy(),
                                  graphc.load(fixture("mlp.pt"))["0.weight"].numpy())
    assert (state["epoch"], state["lr"], state["names"], state["pair"], state["flag"]) == (
        7, 0.5, ["a", "b"], (1, None), True)


def test_numpy_arrays_saved_by_torch_load_as_numpy_arrays():
    state = graphc.load(fixture("numpy_arrays.pt"))
    assert type(state["array"]) is np.ndarray and state["array"].dtype == np.float64
    np.testing.assert_array_equal(state["array"], np.arange(6).reshape(2, 3) / 4)
    np.testing.assert_array_equal(state["ints"], np.array([1, 2, 3], dtype=np.int32))
    assert state["array"].flags.writeable


def test_numpy_arrays_pickled_with_protocol_2_load_but_object_arrays_are_refused():
    numeric = np.array([[1.5, -2.0]], dtype=">f8")  # big-endian comes back native
    loaded = load_bytes(torch_zip(pickle.dumps({"a": numeric, "s": np.float32(3.5)},
                                               protocol=2)))
    np.testing.assert_array_equal(loaded["a"], numeric)
    assert loaded["a"].dtype == np.float64 and loaded["s"] == np.float32(3.5)
    hostile = pickle.dumps(np.array([1, "a"], dtype=object), protocol=2)
    with pytest.raises(CheckpointError, match="not numeric"):
        load_bytes(torch_zip(hostile))


def test_torch_dtypes_and_sizes_load_as_graphc_dtypes_and_tuples():
    data = torch_zip(pickle_of({"dtypes": (Global("torch", "bfloat16"), Global("torch", "long")),
                                "size": Call(Global("torch", "Size"), (2, 3))}))
    assert load_bytes(data) == {"dtypes": (graphc.bfloat16, graphc.int64), "size": (2, 3)}


def test_tensor_with_python_attributes_and_devices_load():
    state = graphc.load(fixture("extras.pt"))
    assert type(state["tagged"]) is graphc.Tensor and state["tagged"].tolist() == [1.0, 2.0]
    assert (str(state["cpu"]), str(state["gpu"])) == ("cpu", "cuda:0")


def test_rebuild_from_type_is_allowed_for_tensor_types_only():
    call = Call(Global("torch._tensor", "_rebuild_from_type_v2"), Global("builtins", "set"),
                Global("collections", "OrderedDict"), ((1, 2),), {})
    with pytest.raises(CheckpointError, match="allowed for torch.Tensor and torch.nn.Parameter"):
        load_bytes(torch_zip(pickle_of(call)))


def test_map_location_is_accepted():
    state = graphc.load(fixture("mlp.pt"), map_location="cpu")
    assert state["0.weight"].shape == (8, 4)


def test_whole_pytorch_module_is_refused_naming_its_class_and_imports_nothing():
    before = set(sys.modules)
    with pytest.raises(CheckpointError, match=r"global 'torch\.nn\.modules\.container\."
                                              r"Sequential' is not allowed.*add_safe_globals"):
        graphc.load(fixture("whole_module.pt"))
    assert not {m for m in set(sys.modules) - before if m.split(".")[0] == "torch"}


def test_legacy_pytorch_format_says_to_resave_with_a_recent_pytorch():
    with pytest.raises(CheckpointError, match="legacy.*re-save it with a recent PyTorch"):
        graphc.load(fixture("legacy.pt"))


# -- hostile files: nothing runs, nothing unbounded is allocated -------------------------------
class _RunsShell:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class _WritesFile:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return subprocess.call, (["touch", self.path],)


@pytest.mark.parametrize("make", [lambda marker: _RunsShell(f"touch {marker}"),
                                  lambda marker: _WritesFile(str(marker))])
def test_pickle_whose_reduce_would_run_code_runs_nothing(tmp_path, make):
    marker = tmp_path / "marker"
    data = torch_zip(pickle.dumps({"w": make(marker)}, protocol=2))
    with pytest.raises(CheckpointError, match=r"global '(posix|os|subprocess)\.\w+' is not "
                                              "allowed"):
        load_bytes(data)
    assert not marker.exists()
    path = tmp_path / "evil.pt"
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match=str(path)):
        graphc.load(path)
    assert not marker.exists()


@pytest.mark.parametrize("dtype", ["uint16", "float8_e4m3fn"])
def test_tensors_and_dtypes_graphc_lacks_are_named_with_advice_that_works(dtype):
    # what torch.save writes for a uint16 tensor: _rebuild_tensor_v3 over an untyped storage,
    # its dtype an argument (add_safe_globals cannot help: graphc has no such dtype)
    pid = PersistentId(("storage", Global("torch", "UntypedStorage"), "0", "cpu", 6))
    tensor = Call(Global("torch._utils", "_rebuild_tensor_v3"), pid, 0, (3,), (1,), False,
                  Call(Global("collections", "OrderedDict")), Global("torch", dtype))
    as_dtype = {"dtype": Global("torch", dtype)}
    for data in (torch_zip(pickle_of({"a": tensor}), {"0": bytes(6)}),
                 torch_zip(pickle_of(as_dtype))):
        with pytest.raises(CheckpointError, match=rf"torch\.{dtype}, which graphc has no dtype "
                                                  r"for .*convert it in PyTorch before saving"):
            load_bytes(data)
    assert load_bytes(torch_zip(pickle_of({"dtype": Global("torch", "int16")}))) == {
        "dtype": graphc.int16}


def test_builtin_eval_is_not_allowed():
    data = torch_zip(pickle_of(Call(Global("builtins", "eval"), "1 + 1")))
    with pytest.raises(CheckpointError, match="global 'builtins.eval' is not allowed"):
        load_bytes(data)


def test_unknown_global_is_refused_naming_it_until_add_safe_globals_allows_it():
    data = torch_zip(pickle_of({"x": Call(Global("fractions", "Fraction"), 1, 3)}))
    with pytest.raises(CheckpointError, match="global 'fractions.Fraction' is not allowed; "
                                              "add it with graphc.serialization.add_safe_globals"):
        load_bytes(data)
    with graphc.serialization.safe_globals([fractions.Fraction]):
        assert load_bytes(data) == {"x": fractions.Fraction(1, 3)}
    with pytest.raises(CheckpointError, match="fractions.Fraction"):
        load_bytes(data)  # the context manager's allowance ended


@pytest.mark.parametrize("target", [Global("torch", "float32"), Global("numpy", "dtype"),
                                    Global("torch._utils", "_rebuild_tensor_v2"),
                                    Global("torch", "FloatStorage"),
                                    Global("numpy.core.multiarray", "_reconstruct")])
def test_build_cannot_change_graphcs_shared_objects(target):
    # BUILD with (None, {attribute: value}) sets attributes of the object on the stack
    for state in ({"name": "evil", "__init__": "evil"}, (None, {"name": "evil", "dtype": 1})):
        try:
            load_bytes(torch_zip(pickle_of({"x": Build(target, state)})))
        except CheckpointError:
            pass
    assert graphc.float32.name == "f32" and graphc.ones(2).dtype == graphc.float32
    assert graphc.load(fixture("numpy_arrays.pt"))["array"].dtype == np.float64
    assert graphc.load(fixture("mlp.pt"))["0.weight"].shape == (8, 4)


def test_build_on_a_loaded_tensor_is_refused():
    data = torch_zip(pickle_of({"w": Build(tensor_call("0", 12, 0, (12,), (1,)),
                                           (None, {"_data": "not an array"}))}),
                     {"0": bytes(48)})
    with pytest.raises(CheckpointError, match="BUILD on a PendingTensor is not allowed"):
        load_bytes(data)


def test_numpy_ndarray_cannot_be_called_to_allocate():
    data = torch_zip(pickle_of(NewObj(Global("numpy", "ndarray"), (2**40,))))
    with pytest.raises(CheckpointError, match="malformed"):
        load_bytes(data)
    data = torch_zip(pickle_of(Call(Global("numpy", "ndarray"), (2**40,))))
    with pytest.raises(CheckpointError, match="malformed"):
        load_bytes(data)


def test_an_expanded_view_copied_beyond_a_bound_relative_to_the_file_is_refused():
    # one element seen through stride 0 as 2**30 elements: its copy would take 4 GiB
    data = torch_zip(pickle_of({"w": tensor_call("0", 1, 0, (2**15, 2**15), (0, 0))}),
                     {"0": bytes(4)})

    def load():
        with pytest.raises(CheckpointError, match="strided tensor .* would be copied"):
            load_bytes(data)
    assert _peak_bytes(load) < 2**20
    small = torch_zip(pickle_of({"w": tensor_call("0", 1, 0, (3, 2), (0, 0))}),
                      {"0": np.float32(1.5).tobytes()})
    assert load_bytes(small)["w"].tolist() == [[1.5, 1.5]] * 3


def test_weights_only_false_imports_what_a_trusted_file_names():
    data = torch_zip(pickle_of({"x": Call(Global("fractions", "Fraction"), 1, 3)}))
    assert load_bytes(data, weights_only=False) == {"x": fractions.Fraction(1, 3)}


def test_weights_only_none_means_pytorchs_default_true():
    data = torch_zip(pickle_of({"x": Call(Global("fractions", "Fraction"), 1, 3)}))
    with pytest.raises(CheckpointError, match="fractions.Fraction' is not allowed"):
        load_bytes(data, weights_only=None, mmap=True)
    buffer = io.BytesIO()
    graphc.save(nn.Linear(2, 1), buffer)  # graphc's format: the same default
    buffer.seek(0)
    with pytest.raises(CheckpointError, match="not an allowed global"):
        graphc.load(buffer, weights_only=None)


class Settings:
    """A class a user allows with add_safe_globals: its attributes hold a tensor."""


def test_allowed_objects_get_their_tensors_not_placeholders():
    raw = np.arange(3, dtype="<f4").tobytes()
    obj = Build(Call(Global("copyreg", "_reconstructor"), Global(__name__, "Settings"),
                     Global("builtins", "object"), None),
                {"w": tensor_call("0", 3, 0, (3,), (1,)), "name": "run"})
    data = torch_zip(pickle_of({"settings": obj}), {"0": raw})
    import copyreg
    with graphc.serialization.safe_globals([Settings, (copyreg._reconstructor,
                                                       "copyreg._reconstructor"),
                                            (object, "builtins.object")]):
        settings = load_bytes(data)["settings"]
    assert isinstance(settings, Settings) and settings.name == "run"
    assert type(settings.w) is graphc.Tensor and settings.w.tolist() == [0.0, 1.0, 2.0]


def test_a_bare_storage_is_refused():
    pid = PersistentId(("storage", Global("torch", "FloatStorage"), "0", "cpu", 1))
    with pytest.raises(CheckpointError, match="a bare Storage"):
        load_bytes(torch_zip(pickle_of({"s": pid}), {"0": bytes(4)}))


def test_codecs_encode_is_allowed_only_for_protocol_2_bytes():
    data = torch_zip(pickle_of(Call(Global("_codecs", "encode"), "abc", "rot13")))
    with pytest.raises(CheckpointError, match="_codecs.encode is allowed only"):
        load_bytes(data)


def test_truncated_pt_zip_is_a_checkpoint_error():
    whole = open(fixture("mlp.pt"), "rb").read()
    for cut in (len(whole) - 1, len(whole) - 30, len(whole) // 2, 100, 5):
        with pytest.raises(CheckpointError):
            load_bytes(whole[:cut])


def test_corrupted_storage_bytes_fail_the_zip_checksum():
    whole = bytearray(open(fixture("mlp.pt"), "rb").read())
    archive = zipfile.ZipFile(io.BytesIO(bytes(whole)))
    info = archive.getinfo("mlp/data/0")
    # the data follows the 30-byte local header, its name and its extra field (padding)
    name_length, extra_length = struct.unpack_from("<HH", whole, info.header_offset + 26)
    start = info.header_offset + 30 + name_length + extra_length
    whole[start + 3] ^= 0xFF
    with pytest.raises(CheckpointError, match="CRC|corrupt"):
        load_bytes(bytes(whole))


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_storage_claiming_a_huge_size_is_refused_before_allocating():
    huge = 2**40
    data = torch_zip(pickle_of({"w": tensor_call("0", huge, 0, (huge,), (1,))}),
                     {"0": b"\0" * 48})

    def load():
        with pytest.raises(CheckpointError, match=r"holds 48 bytes, but the checkpoint says "
                                                  rf"it holds {huge * 4}"):
            load_bytes(data)
    assert _peak_bytes(load) < 2**20


def test_tensor_reaching_past_its_storage_is_refused():
    data = torch_zip(pickle_of({"w": tensor_call("0", 12, 0, (4,), (5,))}), {"0": b"\0" * 48})
    with pytest.raises(CheckpointError, match=r"reaches element 15 of a storage of 12"):
        load_bytes(data)
    data = torch_zip(pickle_of({"w": tensor_call("0", 12, 10, (3,), (1,))}), {"0": b"\0" * 48})
    with pytest.raises(CheckpointError, match=r"reaches element 12 of a storage of 12"):
        load_bytes(data)


def test_a_valid_hand_written_tensor_loads():
    raw = np.arange(12, dtype="<f4").tobytes()
    data = torch_zip(pickle_of({"w": tensor_call("0", 12, 2, (2, 3), (1, 2))}), {"0": raw})
    expected = np.lib.stride_tricks.as_strided(np.arange(12, dtype=np.float32)[2:], (2, 3),
                                               (4, 8))
    np.testing.assert_array_equal(load_bytes(data)["w"].numpy(), expected)


def test_zip_entry_claiming_a_huge_uncompressed_size_is_refused():
    # a deflated zip bomb: 16 MiB of zeros in a few KB
    bomb = torch_zip(pickle_of({"w": tensor_call("0", 2**22, 0, (2**22,), (1,))}),
                     {"0": bytes(2**24)}, compression=zipfile.ZIP_DEFLATED)
    assert len(bomb) < 2**20

    def load():
        with pytest.raises(CheckpointError, match="zip bomb"):
            load_bytes(bomb)
    assert _peak_bytes(load) < 2**22
    # a stored entry whose central directory claims 4 GiB, as the pickle does
    numel = 0xFFFFFFF0 // 4
    data = bytearray(torch_zip(pickle_of({"w": tensor_call("0", numel, 0, (numel,), (1,))}),
                               {"0": b"\0" * 48}))
    record = _central_record(data, b"archive/data/0")
    data[record + 24:record + 28] = struct.pack("<I", 0xFFFFFFF0)
    with pytest.raises(CheckpointError, match="zip bomb"):
        load_bytes(bytes(data))


def _central_record(data: bytearray, name: bytes) -> int:
    """Where the zip's central-directory record of entry ``name`` starts."""
    record = data.index(b"PK\x01\x02")
    while data[record + 46:record + 46 + len(name)] != name:
        record = data.index(b"PK\x01\x02", record + 4)
    return record


def test_damaged_zip_directory_fields_are_checkpoint_errors():
    whole = torch_zip(pickle_of({"w": tensor_call("0", 12, 0, (12,), (1,))}), {"0": bytes(48)})
    for field, value in ((6, struct.pack("<H", 72)),  # needs zip version 7.2
                         (42, struct.pack("<I", 0xFFFFFFF0))):  # local header past the end
        data = bytearray(whole)
        record = _central_record(data, b"archive/data.pkl")
        data[record + field:record + field + len(value)] = value
        with pytest.raises(CheckpointError):
            load_bytes(bytes(data))


def test_randomly_damaged_checkpoints_load_or_raise_checkpoint_errors_only():
    rng = np.random.default_rng(0)
    whole = open(fixture("views.pt"), "rb").read()
    archive = zipfile.ZipFile(io.BytesIO(whole))
    entries = {info.filename: archive.read(info.filename) for info in archive.infolist()}
    for trial in range(300):
        if trial % 2:  # damage the pickle only, in a well-formed zip
            pkl = bytearray(entries["views/data.pkl"])
            pkl[rng.integers(len(pkl))] = rng.integers(256)
            data = torch_zip(bytes(pkl), {"0": entries["views/data/0"]})
        else:
            raw = bytearray(whole)
            raw[rng.integers(len(raw))] = rng.integers(256)
            data = bytes(raw)
        try:
            load_bytes(data)
        except CheckpointError:
            pass


def test_huge_pickle_memo_index_is_refused_before_unpickling():
    data = torch_zip(b"\x80\x02}r\xf0\xff\xff\xff.")  # EMPTY_DICT, LONG_BINPUT 2**32 - 16
    with pytest.raises(CheckpointError, match="memo index 4294967280"):
        load_bytes(data)


def test_zip_without_data_pkl_is_not_a_pytorch_checkpoint():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_bytes(buffer.getvalue())


class _Unseekable(io.BytesIO):
    def seekable(self):
        return False


def test_pt_from_a_stream_that_cannot_seek_says_to_pass_a_path_or_seekable_file():
    with pytest.raises(CheckpointError, match="PyTorch checkpoint, which graphc reads from a "
                                              "path or a seekable file"):
        graphc.load(_Unseekable(open(fixture("mlp.pt"), "rb").read()))


def test_graphc_save_still_writes_graphcs_own_format(tmp_path):
    path = tmp_path / "model.pt"
    graphc.save({"w": graphc.ones(2)}, path)
    assert path.read_bytes().startswith(graphc.serialization.MAGIC)
    assert graphc.load(path)["w"].tolist() == [1.0, 1.0]
