"""Malformed or extreme input gives a clear error of the documented kind, never a raw exception.

Covers the IR parser (huge literals, deep nesting, tabs under the caret), the ``const`` and random
type rules, pipeline strings, the command line, checkpoints and batching of NumPy data.
"""
from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

import backends
import graphc
import ir
import passes
from graphc.cli import main
from graphc.data import DataLoader, default_collate, default_convert
from graphc.dispatch import apply
from graphc.errors import CheckpointError
from graphc.serialization import ALIGN, MAGIC, load, save
from ir import ParseError, ShapeError, f32, i32, i64

ROOT = Path(__file__).resolve().parents[1]


def parse_error(text: str) -> ParseError:
    with pytest.raises(ParseError) as info:
        ir.parse(text)
    return info.value


# -- the IR parser ---------------------------------------------------------------------------------
def test_integer_literals_too_long_for_int_are_parse_errors_at_their_position():
    digits = "9" * 5000
    error = parse_error(f"func @f() -> (f32[{digits}]) {{\n  return\n}}")
    assert (error.line, error.column) == (1, 19)
    assert "too long (5000 digits)" in error.message
    error = parse_error(f"func @f(%x: f32[2]) -> (f32[]) {{\n"
                        f"  %0: f32[] = sum %x {{axes=[-{digits}]}}\n  return %0\n}}")
    assert (error.line, error.column) == (2, 29)
    assert "too long" in error.message


def test_deeply_nested_attribute_lists_are_parse_errors():
    for depth in (65, 5000):
        text = (f"func @f(%x: f32[2]) -> (f32[2]) {{\n  %0: f32[2] = sum %x "
                f"{{axes={'[' * depth}{']' * depth}}}\n  return %0\n}}")
        error = parse_error(text)
        assert "nesting too deep" in error.message
        first = text.splitlines()[1].index("axes=") + len("axes=") + 1
        assert (error.line, error.column) == (2, first + 64)  # the 65th '['


def test_nesting_up_to_the_limit_still_parses():
    # a const of rank 64 (NumPy's maximum) needs 64 levels of lists
    shape = [1] * 64
    text = (f"func @f() -> (f32[{','.join('1' * 64)}]) {{\n  %0: f32[{','.join('1' * 64)}] = "
            f"const {{value={'[' * 64}2.0{']' * 64}, dtype=f32, shape={shape}}}\n"
            f"  return %0\n}}").replace(", ", ",")
    graph = ir.parse(text)
    assert graph.outputs[0].type.shape == tuple(shape)


def test_caret_lines_up_under_tabs():
    text = "func @f(%x: f32[2]) -> (f32[2]) {\n\t%0: f32[2] =\ttanhh %x\n  return %0\n}"
    error = parse_error(text)
    assert error.column == 15
    source, caret = str(error).splitlines()[1:3]
    assert source == "\t%0: f32[2] =\ttanhh %x"
    assert caret == "\t" + " " * 12 + "\t^"
    # expanded with any tab width, the caret sits under the 't' of 'tanhh'
    for width in (4, 8):
        assert source.expandtabs(width)[len(caret.expandtabs(width)) - 1] == "t"


def test_an_empty_ir_text_gets_the_position_and_a_caret():
    expected = "<string>:1:1: error: unexpected end of input, expected 'func'"
    assert str(parse_error("")) == expected + "\n\n^"  # an empty line, and the caret under it
    assert str(parse_error("  \n")).endswith(":1:1: error: unexpected end of input, expected "
                                           "'func'\n  \n^")


def test_a_utf8_byte_order_mark_before_the_ir_is_skipped():
    text = "func @f(%x: f32[2]) -> (f32[2]) {\n  %0: f32[2] = exp %x\n  return %0\n}"
    assert ir.to_text(ir.parse("\ufeff" + text)) == text
    error = parse_error("\ufefffunc @f(%x: f33[2]) -> () {\n  return\n}")
    assert (error.line, error.column) == (1, 13)  # columns as an editor shows them: after the mark
    assert "\ufeff" not in str(error)


# -- const and random type rules -------------------------------------------------------------------
def const(value, dtype, shape):
    graph = ir.Graph("f")
    graph.add_node("const", [], {"value": value, "dtype": dtype, "shape": shape})
    return graph


@pytest.mark.parametrize("value, dtype, shape", [
    (2147483648, i32, []), (-2147483649, i32, []), ([1, 2**63], i64, [2]), (10**30, i64, []),
    (float("nan"), i32, []), ([float("inf")], i64, [1]), (1e10, i32, []),
    (2, ir.bool_, []), (-1, ir.bool_, []), (0.5, ir.bool_, []), (10**400, f32, []),
])
def test_const_values_must_fit_the_dtype(value, dtype, shape):
    with pytest.raises(ShapeError, match=f"does not fit dtype {dtype}"):
        const(value, dtype, shape)


@pytest.mark.parametrize("value, dtype", [
    (2147483647, i32), (-2**63, i64), (2**63 - 1, i64), (1.9, i32), (True, i32),
    (True, ir.bool_), (0, ir.bool_), (1, ir.bool_), (0.0, ir.bool_), (1e300, f32), (2**80, f32),
    (np.float64(0.5), f32), (np.int64(3), i32), (np.bool_(True), ir.bool_),
])
def test_const_values_that_fit_are_accepted(value, dtype):
    const(value, dtype, [2])
    const([value, value], dtype, [2])


def test_const_value_errors_in_ir_text_point_at_the_node():
    error = parse_error("func @f() -> (i32[]) {\n"
                        "  %0: i32[] = const {value=2147483648, dtype=i32, shape=[]}\n"
                        "  return %0\n}")
    assert "value 2147483648 does not fit dtype i32" in error.message
    assert (error.line, error.column) == (2, 15)


ZERO_SIZE = [([], [0]), ([], [0, 3]), ([[], []], [2, 0, 3]), ([[], []], [2, 0]),
             ([[[]]], [1, 1, 0, 5])]


@pytest.mark.parametrize("value, shape", ZERO_SIZE)
def test_zero_size_consts_round_trip(value, shape):
    # eager
    tensor = apply("const", [], value=value, dtype=f32, shape=shape)
    assert tensor.shape == tuple(shape) and tensor.dtype == graphc.float32
    # traced, printed, parsed back and run
    graph = graphc.trace(lambda x: (x, apply("const", [], value=value, dtype=f32, shape=shape)),
                         graphc.ones(2))
    text = ir.to_text(graph)
    assert f"value={json.dumps(value).replace(' ', '')}" in text
    parsed = ir.parse(text)
    ir.verify(parsed)
    assert ir.to_text(parsed) == text
    outputs = backends.get("interpreter").compile(parsed)(np.ones(2, np.float32))
    assert np.asarray(outputs[1]).shape == tuple(shape)


@pytest.mark.parametrize("value, shape", [([], []), ([], [3, 0]), ([[], []], [3, 0]),
                                          ([[], []], [2, 1, 0])])
def test_zero_size_consts_with_the_wrong_shape_are_rejected(value, shape):
    with pytest.raises(ShapeError, match="declared shape"):
        const(value, f32, shape)


def test_compiled_function_with_a_zero_size_constant():
    fn = graphc.compile(lambda x: x + graphc.tensor(np.zeros((0, 3), np.float32)).sum())
    assert fn(graphc.ones(2)).tolist() == [1.0, 1.0]


@pytest.mark.parametrize("stream", [-1, 2**63, 2**64 - 1, 10**30])
def test_random_streams_must_be_in_range(stream):
    graph = ir.Graph("f")
    seed = graph.add_input("s", ir.TensorType(i64, ()))
    with pytest.raises(ShapeError, match=r"0 <= stream < 2\*\*63"):
        graph.add_node("random_uniform", [seed], {"shape": [2], "stream": stream})
    graph.add_node("random_normal", [seed], {"shape": [2], "stream": 2**63 - 1})


def test_random_ops_with_more_elements_than_int64_fail_cleanly():
    graph = ir.Graph("f")
    seed = graph.add_input("s", ir.TensorType(i64, ()))
    graph.set_outputs([graph.add_node("random_normal", [seed], {"shape": [2**32, 2**32]}).output])
    with pytest.raises(Exception) as info:
        backends.get("interpreter").compile(graph)(np.array(0, np.int64))
    assert "reshape" not in str(info.value)  # not a wrapped-around element count


# -- pipelines -------------------------------------------------------------------------------------
@pytest.mark.parametrize("pipeline, fragments", [
    ("autodiff{output=0", ["unterminated '{'"]),
    ("dce,autodiff{output=0,wrt=1", ["unterminated '{'"]),
    ("autodiff{output}", ["'autodiff'", "key=value"]),
    ("autodiff{=1}", ["key=value"]),
    ("autodiff{output=}", ["key=value"]),
    ("autodiff{cotangent=yes}", ["'autodiff'", "'cotangent'", "true or false"]),
    ("autodiff{cotangent=1}", ["'cotangent'", "true or false"]),
    ("autodiff{output=1.5}", ["'autodiff'", "'output'", "an int"]),
    ("autodiff{output=x}", ["'output'", "an int"]),
    ("autodiff{output=0,output=1}", ["given twice"]),
    ("autodiff{output=0}}", ["cannot read pipeline item"]),
    ("dce autodiff", ["cannot read pipeline item"]),
])
def test_malformed_pipelines_are_pass_errors(pipeline, fragments):
    with pytest.raises(passes.PassError) as info:
        passes.parse_pipeline(pipeline)
    for fragment in fragments:
        assert fragment in str(info.value)


def scalar_graph():
    return ir.parse("func @f(%x: f32[3], %y: f32[3]) -> (f32[]) {\n"
                    "  %0: f32[3] = mul %x, %y\n  %1: f32[] = sum %0 {axes=[0]}\n"
                    "  return %1\n}")


@pytest.mark.parametrize("pipeline, fragment", [
    ("autodiff{wrt=x}", "option 'wrt' expects a list of ints"),
    ("autodiff{wrt=0:2}", "option 'wrt' expects a list of ints"),
    ("autodiff{wrt=[0,y]}", "option 'wrt' expects a list of ints"),
    ("autodiff{wrt=[0,7]}", "wrt index 7 is not a floating point input"),
    ("autodiff{output=1.5}", "option 'output' expects an int"),
    ("autodiff{output=7}", "output 7 does not exist"),
])
def test_pass_options_of_the_wrong_type_are_pass_errors(pipeline, fragment):
    with pytest.raises(passes.PassError, match="autodiff") as info:
        passes.run(scalar_graph(), pipeline)
    assert fragment in str(info.value)


def test_well_formed_pipelines_convert_options_by_annotation():
    assert passes.parse_pipeline(" dce , autodiff{ output = 0 , wrt = 1 , cotangent=false }") == [
        passes.get("dce")(), passes.get("autodiff")(output=0, wrt=(1,), cotangent=False)]
    graph = passes.run(scalar_graph(), "autodiff{wrt=1}")
    assert [str(v.type) for v in graph.outputs] == ["f32[]", "f32[3]"]
    with pytest.raises(passes.PassError, match="option 'output' expects an int"):
        passes.autodiff.differentiate(scalar_graph(), output=1.5)


# -- the command line ------------------------------------------------------------------------------
MLP = ROOT / "tests" / "cli_fixtures" / "mlp.gir"


def run_cli(args, capsys):
    """``main(args)`` in this process: (status, stderr)."""
    status = main([str(a) for a in args])
    return status, capsys.readouterr().err


def assert_cli_error(args, capsys, *fragments):
    status, err = run_cli(args, capsys)
    assert status == 1, err
    assert err.startswith("graphc: error: ") and "internal error" not in err, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_seed_must_be_a_non_negative_int(capsys):
    for seed in ("-1", "abc", "1.5"):
        with pytest.raises(SystemExit) as info:
            main(["run", str(MLP), "--seed", seed])
        assert info.value.code == 2
        assert "--seed: expected a non-negative integer" in capsys.readouterr().err
    status, _ = run_cli(["run", MLP, "--seed", 2**70], capsys)
    assert status == 0


def test_invalid_npz_files_are_user_errors(tmp_path, capsys):
    good = tmp_path / "good.npz"
    np.savez(good, x=np.zeros((4, 8), np.float32))
    raw = good.read_bytes()
    cases = {
        "pk.npz": b"PK\x03\x04garbage",
        "random.npz": np.random.default_rng(0).bytes(300),
        "truncated.npz": raw[:len(raw) // 2],
        "flipped.npz": raw[:60] + bytes([raw[60] ^ 0xFF]) + raw[61:],
    }
    import zipfile
    with zipfile.ZipFile(tmp_path / "member.npz", "w") as z:
        z.writestr("x.npy", b"not an npy file")
    cases["member.npz"] = (tmp_path / "member.npz").read_bytes()
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        assert_cli_error(["run", MLP, "--inputs", path], capsys, name)


def test_inputs_too_large_to_create_are_user_errors(tmp_path, capsys):
    models = ROOT / "tests" / "cli_fixtures" / "models.py"
    err = assert_cli_error(["dump", f"{models}:mlp", "--arg", "f32[100000000000,100000000000]",
                            "--arg", "f32[16,8]", "--arg", "f32[16]"], capsys,
                           "--arg #1", "f32[100000000000,100000000000]")
    assert "EiB" in err or "PiB" in err or "TiB" in err
    huge = tmp_path / "huge.gir"
    huge.write_text("func @f(%x: f32[99999999999999,99999999999]) -> "
                    "(f32[99999999999999,99999999999]) {\n  return %x\n}\n")
    assert_cli_error(["run", huge], capsys, "%x", "f32[99999999999999,99999999999]")
    assert_cli_error(["dump", f"{models}:mlp", "--arg", f"f32[{'9' * 5000}]"], capsys,
                     "--arg #1")


def test_malformed_ir_files_are_user_errors(tmp_path, capsys):
    texts = {
        "hugeint.gir": f"func @f() -> (f32[{'9' * 5000}]) {{\n  return\n}}",
        "deep.gir": ("func @f() -> (f32[1]) {\n  %0: f32[1] = const {value="
                     + "[" * 3000 + "1.0" + "]" * 3000 + ", dtype=f32, shape=[1]}\n  return %0\n}"),
        "c32.gir": ("func @f() -> (i32[]) {\n"
                    "  %0: i32[] = const {value=2147483648, dtype=i32, shape=[]}\n  return %0\n}"),
        "stream.gir": ("func @f(%s: i64[]) -> (f32[2]) {\n  %0: f32[2] = random_uniform %s "
                       "{shape=[2], stream=-1}\n  return %0\n}"),
    }
    for name, text in texts.items():
        path = tmp_path / name
        path.write_text(text)
        status, err = run_cli(["run", path], capsys)
        assert status == 1 and err.startswith(f"{path}:"), err
        assert "internal error" not in err and "Traceback" not in err
    big = tmp_path / "big.gir"
    big.write_text("func @f(%x: f32[1]) -> (f32[100000,100000,1000]) {\n  %0: f32[100000,100000,"
                   "1000] = broadcast_to %x {shape=[100000,100000,1000]}\n  return %0\n}")
    assert_cli_error(["run", big], capsys, "out of memory")
    status, err = run_cli(["opt", MLP, "-p", "autodiff{wrt=x}"], capsys)
    assert status == 1 and "graphc: error: pass 'autodiff': option 'wrt'" in err


def test_run_reports_an_empty_ir_file_with_position_and_caret(tmp_path, capsys):
    empty = tmp_path / "empty.gir"
    empty.write_bytes(b"")
    status, err = run_cli(["run", empty], capsys)
    assert status == 1
    assert err == f"{empty}:1:1: error: unexpected end of input, expected 'func'\n\n^\n"


def test_run_and_opt_accept_a_file_that_starts_with_a_byte_order_mark(tmp_path, capsys):
    text = "func @f(%x: f32[2]) -> (f32[2]) {\n  %0: f32[2] = neg %x\n  return %0\n}\n"
    path = tmp_path / "bom.gir"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    np.savez(tmp_path / "x.npz", x=np.array([1.5, -2.0], np.float32))
    assert main(["run", str(path), "--inputs", str(tmp_path / "x.npz"),
                 "--out", str(tmp_path / "y.npz")]) == 0
    with np.load(tmp_path / "y.npz") as out:
        assert out["out0"].tolist() == [-1.5, 2.0]
    capsys.readouterr()
    assert main(["opt", str(path)]) == 0
    assert capsys.readouterr().out == text


REDUCE_A_BROADCAST = """func @f(%x: f32[1]) -> (f32[]) {
  %0: f32[1000000,1000000] = broadcast_to %x {shape=[1000000,1000000]}
  %1: f32[] = sum %0 {axes=[0,1]}
  return %1
}"""


def test_run_refuses_a_reduction_over_an_enormous_broadcast(tmp_path, capsys):
    """The view costs no memory, but summing it would read 10**12 elements for many minutes."""
    path = tmp_path / "sum.gir"
    path.write_text(REDUCE_A_BROADCAST)
    assert_cli_error(["run", path], capsys, str(path),
                     "node 1 (%1: f32[] = sum %0 {axes=[0,1]})",
                     "read 1,000,000,000,000 elements", f"{2 ** 36:,}")


def test_run_refuses_a_matmul_over_an_enormous_broadcast_batch(tmp_path, capsys):
    path = tmp_path / "matmul.gir"
    path.write_text("""func @f(%a: f32[1,100,100], %b: f32[100,100]) -> (f32[100000000,100,100]) {
  %0: f32[100000000,100,100] = broadcast_to %a {shape=[100000000,100,100]}
  %1: f32[100000000,100,100] = matmul %0, %b
  return %1
}""")
    assert_cli_error(["run", path], capsys, "node 1 (%1: f32[100000000,100,100] = matmul %0, %b)",
                     f"read {10 ** 8 * (100 * 100 + 100 * 100):,} elements")


def test_elements_read_counts_what_reductions_and_matmul_read():
    from graphc.cli import MAX_ELEMENTS_READ, elements_read
    graph = ir.parse(REDUCE_A_BROADCAST)
    assert [elements_read(n) for n in graph.nodes] == [0, 10 ** 12]
    big_matmul = ir.parse("""func @f(%a: f32[8192,8192], %b: f32[8192,8192]) -> (f32[8192,8192]) {
  %0: f32[8192,8192] = matmul %a, %b
  return %0
}""")
    assert elements_read(big_matmul.nodes[0]) == 2 * 8192 ** 2 < MAX_ELEMENTS_READ  # allowed
    batched = ir.parse("""func @f(%a: f32[4,2,5], %b: f32[3,1,5,7]) -> (f32[3,4,2,7]) {
  %0: f32[3,4,2,7] = matmul %a, %b
  return %0
}""")
    assert elements_read(batched.nodes[0]) == 3 * 4 * (2 * 5 + 5 * 7)  # a 2x5 and a 5x7 per batch


def test_cli_subprocess_reports_a_bad_npz_without_traceback(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04garbage")
    result = subprocess.run([sys.executable, "-m", "graphc", "run", str(MLP), "--inputs",
                             str(bad)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.startswith("graphc: error: ") and str(bad) in result.stderr
    assert "Traceback" not in result.stderr


# -- checkpoints -----------------------------------------------------------------------------------
def crafted_checkpoint(shape, dtype="<f4"):
    """A checkpoint holding one zero-byte array whose header claims ``shape``."""
    header = {"format": "graphc-checkpoint", "root": {"$ndarray": 0},
              "arrays": [{"dtype": dtype, "shape": shape, "offset": 0, "nbytes": 0,
                          "crc32": 0}], "data_size": 0}
    text = json.dumps(header, separators=(",", ":")).encode()
    head = MAGIC + struct.pack("<IQI", 2, len(text), zlib.crc32(text)) + text
    return head + b"\0" * (-len(head) % ALIGN)


@pytest.mark.parametrize("shape", [[0, 10**30], [0] + [2**40] * 3, [0, 2**63], [0, 2**62, 2**62],
                                   [2**63 - 1, 0, 2]])
def test_checkpoints_with_absurd_shapes_are_checkpoint_errors(tmp_path, shape):
    raw = crafted_checkpoint(shape)
    with pytest.raises(CheckpointError, match="array 0"):
        load(io.BytesIO(raw))
    path = tmp_path / "ck"
    path.write_bytes(raw)
    with pytest.raises(CheckpointError, match=str(path)):
        load(path)


def test_crafted_zero_size_checkpoint_with_sane_shape_loads():
    assert load(io.BytesIO(crafted_checkpoint([0, 3]))).shape == (0, 3)


def test_save_respects_the_umask_and_keeps_an_existing_mode(tmp_path):
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    old = os.umask(0o027)
    try:
        path = tmp_path / "ck"
        save({"a": 1}, path)
        assert os.stat(path).st_mode & 0o777 == 0o640
        os.chmod(path, 0o604)
        save({"a": 2}, path)
        assert os.stat(path).st_mode & 0o777 == 0o604
        assert load(path) == {"a": 2}
        assert [p.name for p in tmp_path.iterdir()] == ["ck"]  # no temporary file left over
    finally:
        os.umask(old)


def test_save_into_a_missing_folder_names_the_target(tmp_path):
    target = tmp_path / "missing" / "ck"
    with pytest.raises(FileNotFoundError) as info:
        save({}, target)
    assert info.value.filename == str(target)
    assert str(target) in str(info.value) and ".tmp" not in str(info.value)


# -- batching NumPy data -------------------------------------------------------------------------
@pytest.mark.parametrize("np_dtype, expected", [
    (np.uint8, graphc.uint8), (np.int8, graphc.int8), (np.int16, graphc.int16),
    (np.uint16, graphc.int64), (np.uint32, graphc.int64), (np.float16, graphc.float16),
    (np.dtype(">f4"), graphc.float32), (np.int32, graphc.int32), (np.float64, graphc.float64),
])
def test_collate_keeps_dtypes_graphc_has_and_widens_those_it_lacks(np_dtype, expected):
    samples = [np.array([0, 1, 100], dtype=np_dtype)] * 3
    batch = next(iter(DataLoader(samples, batch_size=2)))
    assert batch.dtype == expected and batch.numpy().dtype == expected.numpy
    assert batch.tolist() == [[0, 1, 100]] * 2
    assert batch.float().sum().item() == 202.0
    scalars = default_collate([np.array(3, dtype=np_dtype).reshape(())[()]] * 2)
    assert scalars.dtype == expected
    assert default_convert({"x": samples[0]})["x"].dtype == expected
    assert next(iter(DataLoader(samples, batch_size=None))).dtype == expected


@pytest.mark.parametrize("np_dtype", [np.uint64, np.complex64, np.dtype("U3")])
def test_collate_rejects_other_dtypes_by_name(np_dtype):
    with pytest.raises(TypeError, match=str(np.dtype(np_dtype))):
        default_collate([np.zeros(2, dtype=np_dtype)] * 2)
