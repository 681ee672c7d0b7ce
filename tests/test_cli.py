"""The ``graphc`` command line, run as a user runs it: ``python -m graphc ...`` in a subprocess.

The contract: success exits 0; every user error exits 1 with one message on stderr (parse errors
as ``file:line:col: error: ...`` plus the source line and a caret, others as
``graphc: error: ...``) and no Python traceback unless ``--traceback`` is given.
Each subprocess costs about half a second, so each test makes one call and checks a lot.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `import ir` without installing the package

import numpy as np
import pytest

import ir
from graphc.cli import CLIError, check_pipeline, parse_type, random_array, summarize

FIXTURES = Path("tests") / "cli_fixtures"  # relative to ROOT, the subprocesses' cwd
MODELS = FIXTURES / "models.py"


def graphc(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "graphc", *map(str, args)], cwd=ROOT,
                          input=stdin, capture_output=True, text=True, timeout=120)


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit status 1, no traceback, and every fragment in the message on stderr."""
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    return result.stderr


def line_of(path: Path, needle: str) -> int:
    """1-based number of the first line of ``path`` containing ``needle``."""
    lines = (ROOT / path).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def mlp_reference(x, w, b):
    h = np.maximum(x @ w.T + b, 0)
    return h, h.sum()


# -- graphc dump --------------------------------------------------------------------------------

def test_dump_traces_a_function_into_ir_that_parses_back():
    result = graphc("dump", f"{MODELS}:mlp", "--arg", "f32[4,8]", "--arg", "f32[16,8]",
                    "--arg", "f32[16]")
    assert result.returncode == 0, result.stderr
    graph = ir.parse(result.stdout)
    ir.verify(graph)
    assert [(v.name, str(v.type)) for v in graph.inputs] == [
        ("x", "f32[4,8]"), ("w", "f32[16,8]"), ("b", "f32[16]")]
    assert [str(v.type) for v in graph.outputs] == ["f32[4,16]"]
    assert [n.op for n in graph.nodes] == ["transpose", "matmul", "add", "relu"]
    assert "loc(" not in result.stdout


def test_dump_of_an_object_path_with_passes_debug_info_and_output_file(tmp_path):
    out = tmp_path / "scaler.gir"
    result = graphc("dump", f"{MODELS}:nets.scaler", "--arg", "f32[]", "-p", "dce",
                    "--debug-info", "-o", out)
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    graph = ir.parse(text)
    assert [str(v.type) for v in graph.inputs] == ["f32[]"]
    assert "mul" in [n.op for n in graph.nodes]
    assert f'models.py":{line_of(MODELS, "return x * self.factor")})' in text
    assert "must not run" not in result.stderr  # the module's __main__ block did not run


def test_dump_with_a_malformed_arg_type_names_the_argument_and_the_expected_form():
    result = graphc("dump", f"{MODELS}:mlp", "--arg", "f32[4,8]", "--arg", "f32[16,x]",
                    "--arg", "f32[16]")
    assert_user_error(result, "graphc: error: --arg #2", "'f32[16,x]'", "f32[32,784]")


def test_dump_of_code_that_cannot_be_traced_points_at_the_users_line():
    result = graphc("dump", f"{MODELS}:data_dependent", "--arg", "f32[3]")
    where = f"models.py:{line_of(MODELS, 'if x.sum() > 0')}"
    assert_user_error(result, "graphc: error:", where, "graphc.where")


def test_dump_of_an_unknown_function_suggests_a_close_name():
    result = graphc("dump", f"{MODELS}:mlpp", "--arg", "f32[2]")
    assert_user_error(result, "graphc: error:", "has no attribute 'mlpp'", "did you mean 'mlp'")


# -- graphc run ---------------------------------------------------------------------------------

def test_run_with_npz_inputs_writes_outputs_that_match_numpy(tmp_path):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 8)).astype(np.float32)
    w = rng.standard_normal((16, 8)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    np.savez(tmp_path / "in.npz", x=x, w=w, b=b)
    result = graphc("run", FIXTURES / "mlp.gir", "--inputs", tmp_path / "in.npz",
                    "--out", tmp_path / "out.npz")
    assert result.returncode == 0, result.stderr
    h, total = mlp_reference(x, w, b)
    with np.load(tmp_path / "out.npz") as out:
        assert sorted(out.files) == ["out0", "out1"]
        assert out["out0"].dtype == np.float32 and out["out0"].shape == (4, 16)
        np.testing.assert_allclose(out["out0"], h, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(out["out1"], total, rtol=1e-5)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("out0 (%3): f32[4,16]  min=")
    assert f"max={h.max():.6g}" in lines[0] and "mean=" in lines[0]
    assert lines[1].startswith("out1 (%4): f32[]")


def test_run_out_names_the_file_it_writes_and_refuses_a_directory(tmp_path):
    result = graphc("run", FIXTURES / "mlp.gir", "--out", tmp_path / "results")
    assert result.returncode == 0, result.stderr
    assert f"outputs written to {tmp_path / 'results.npz'}" in result.stdout
    assert (tmp_path / "results.npz").exists()
    (tmp_path / "adir").mkdir()
    result = graphc("run", FIXTURES / "mlp.gir", "--out", tmp_path / "adir")
    assert_user_error(result, "is a directory; give a file name")
    assert not (tmp_path / "adir.npz").exists()


def test_run_without_inputs_uses_seeded_random_inputs_of_the_declared_types(tmp_path):
    result = graphc("run", FIXTURES / "mlp.gir", "--seed", "5", "--out", tmp_path / "out.npz")
    assert result.returncode == 0, result.stderr
    assert "random (seed 5)" in result.stdout
    rng = np.random.default_rng(5)  # the documented recipe: one generator, inputs in order
    x, w, b = (random_array(ir.TensorType(ir.f32, shape), rng)
               for shape in [(4, 8), (16, 8), (16,)])
    with np.load(tmp_path / "out.npz") as out:
        np.testing.assert_allclose(out["out0"], mlp_reference(x, w, b)[0], rtol=1e-5, atol=1e-5)


MALFORMED = [  # file, line of the error, words the message must contain
    ("truncated.gir", 3, "end of input"),
    ("unknown_op.gir", 2, "unknown op 'tanhh'"),
    ("wrong_arity.gir", 2, "add takes 2 operand"),
    ("type_mismatch.gir", 2, "f32[2,4]"),
    ("undefined_value.gir", 3, "undefined value %z"),
    ("duplicate_name.gir", 3, "redefinition of value %0"),
]


@pytest.mark.parametrize("name, line, words", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_run_of_malformed_ir_reports_file_line_column_and_a_caret(name, line, words):
    path = FIXTURES / name
    stderr = assert_user_error(graphc("run", path), words)
    header, source, caret = stderr.rstrip("\n").split("\n")
    match = re.fullmatch(rf"{re.escape(str(path))}:(\d+):(\d+): error: .+", header)
    assert match, header
    assert int(match.group(1)) == line
    assert source == (ROOT / path).read_text().splitlines()[line - 1]
    assert caret == " " * (int(match.group(2)) - 1) + "^"


def test_traceback_flag_shows_the_python_traceback():
    result = graphc("run", FIXTURES / "unknown_op.gir", "--traceback")
    assert result.returncode != 0
    assert "Traceback (most recent call last)" in result.stderr
    assert "ParseError" in result.stderr


def test_run_reads_ir_from_stdin():
    text = (ROOT / FIXTURES / "unknown_op.gir").read_text()
    assert_user_error(graphc("run", "-", stdin=text), "<stdin>:2:16: error: unknown op")


def test_run_with_an_unknown_backend_lists_the_available_ones():
    result = graphc("run", FIXTURES / "mlp.gir", "--backend", "tpu")
    assert_user_error(result, "graphc: error: unknown backend 'tpu'", "interpreter")


def test_run_names_missing_extra_and_mismatched_inputs(tmp_path):
    np.savez(tmp_path / "in.npz", x=np.zeros((4, 8)),  # f64, not f32
             w=np.zeros((16, 7), np.float32), bias=np.zeros(16, np.float32))
    result = graphc("run", FIXTURES / "mlp.gir", "--inputs", tmp_path / "in.npz")
    assert_user_error(result, "graphc: error:", "missing input %b: f32[16]",
                      "unexpected array 'bias'", "%x expects f32[4,8], got dtype f64[4,8]",
                      "%w expects f32[16,8], got shape f32[16,7]")


def test_run_reports_execution_errors_with_the_op():
    result = graphc("run", FIXTURES / "gather.gir", "--seed", "1")
    assert_user_error(result, "graphc: error: gather failed", "out of range")


# -- graphc opt ---------------------------------------------------------------------------------

def test_dump_stage_traced_is_the_raw_trace_and_optimized_runs_the_default_pipeline():
    traced = graphc("dump", f"{MODELS}:with_dead_code", "--arg", "f32[4]", "--stage", "traced")
    optimized = graphc("dump", f"{MODELS}:with_dead_code", "--arg", "f32[4]",
                       "--stage", "optimized")
    assert traced.returncode == 0 and optimized.returncode == 0, traced.stderr + optimized.stderr
    assert [n.op for n in ir.parse(traced.stdout).nodes] == ["exp", "relu"]
    # dce; then the default backend's lowering (llvm: fuse, which leaves a lone op as it is)
    assert [n.op for n in ir.parse(optimized.stdout).nodes] == ["relu"]


def test_dump_pipeline_replaces_the_default_pipeline_and_is_the_long_form_of_p():
    # the interpreter's lowering is empty, so plan is the whole pipeline (llvm's fuse would
    # run after it and leave the plan stale)
    result = graphc("dump", f"{MODELS}:with_dead_code", "--arg", "f32[4]", "--stage",
                    "optimized", "--pipeline", "plan", "--backend", "interpreter")
    assert result.returncode == 0, result.stderr
    graph = ir.parse(result.stdout)
    assert [n.op for n in graph.nodes] == ["exp", "relu"]  # no dce: plan instead of it
    assert graph.plan is not None and "mem(" in result.stdout
    bad = graphc("dump", f"{MODELS}:with_dead_code", "--arg", "f32[4]", "--pipeline", "nope")
    assert_user_error(bad, "unknown pass 'nope'")


def test_opt_report_prints_what_remat_and_plan_did(tmp_path):
    result = graphc("opt", "tests/golden/remat_broadcast.gir", "-p", "remat,plan", "--report",
                    "-o", tmp_path / "out.gir")
    assert result.returncode == 0, result.stderr
    assert ("remat: kept 256 -> 4 bytes of activations across forward->backward by "
            "recomputing 1 op(s)") in result.stderr
    assert "plan: arena 640 B" in result.stderr
    ir.verify(ir.parse((tmp_path / "out.gir").read_text()))


def test_opt_runs_the_pipeline_and_writes_the_ir(tmp_path):
    out = tmp_path / "out.gir"
    result = graphc("opt", FIXTURES / "dead_code.gir", "-p", "dce", "-o", out)
    assert result.returncode == 0, result.stderr
    assert [n.op for n in ir.parse(out.read_text()).nodes] == ["neg"]


# -- pieces, in process ---------------------------------------------------------------------------

def test_type_syntax_is_the_irs():
    assert parse_type("f32[32,784]") == ir.TensorType(ir.f32, (32, 784))
    assert parse_type("f32[]") == ir.TensorType(ir.f32, ())
    assert parse_type(" bool[ 2 , 3 ] ") == ir.TensorType(ir.bool_, (2, 3))
    for bad in ["f32", "f32[2", "f32[-1]", "f32[2.5]", "[2]", "u16[2]"]:
        with pytest.raises(CLIError, match="--arg #1"):
            parse_type(bad, "--arg #1")


def test_random_inputs_cover_every_dtype_in_the_documented_ranges():
    rng = np.random.default_rng(0)
    ints = random_array(ir.TensorType(ir.i64, (1000,)), rng)
    assert ints.dtype == np.int64 and ints.min() >= 0 and ints.max() < 10
    assert random_array(ir.TensorType(ir.bool_, (4,)), rng).dtype == np.bool_
    assert random_array(ir.TensorType(ir.f64, ()), rng).dtype == np.float64


def test_bad_pipelines_are_user_errors():
    import passes
    with pytest.raises(passes.PassError, match="unknown pass"):
        check_pipeline("dce,nope")
    with pytest.raises(passes.PassError, match="does not take option"):
        check_pipeline("dce{bogus=1}")


def test_summary_shows_statistics_and_leading_values():
    line = summarize("out0 (%0)", np.array([1.0, np.nan, 3.0], np.float32))
    assert line == "out0 (%0): f32[3]  min=1 max=3 mean=2  nan=1 inf=0  [1, nan, 3]"
    assert summarize("out1", np.arange(10)).endswith("min=0 max=9  [0, 1, 2, 3, 4, 5, ...]")


def test_run_of_a_fused_graph_with_a_multi_result_node(tmp_path):
    # `graphc opt -p fuse` writes such nodes; run's size check read node.output of them
    source = tmp_path / "softmax.gir"
    source.write_text("""func @f(%x: f32[4,3]) -> (f32[4,3]) {
  %0: f32[4,1] = max %x {axes=[1], keepdim=true}
  %1: f32[4,1] = stop_gradient %0
  %2: f32[4,3] = sub %x, %1
  %3: f32[4,3] = exp %2
  %4: f32[4,1] = sum %3 {axes=[1], keepdim=true}
  %5: f32[4,3] = div %3, %4
  return %5
}
""")
    fused = tmp_path / "fused.gir"
    assert graphc("opt", source, "-p", "fuse", "-o", fused).returncode == 0
    result = graphc("run", fused, "--backend", "interpreter")
    assert result.returncode == 0, result.stderr
    assert "out0" in result.stdout


def test_profile_with_an_output_in_a_missing_folder_says_so_before_running(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("print('ran')\n")
    result = graphc("profile", "-o", tmp_path / "missing" / "t.json", script)
    assert "ran" not in assert_user_error(result, "cannot write", "no such folder") + result.stdout


def test_launch_with_a_missing_host_file_says_so(tmp_path):
    pytest.importorskip("mpi4py")
    script = tmp_path / "s.py"
    script.write_text("print('ran')\n")
    assert_user_error(graphc("launch", "-n", "2", "--hostfile", tmp_path / "none", script),
                      "no such host file")


def test_bfloat16_outputs_print_as_floats_and_cross_npz_files(tmp_path):
    # printed as integers (NaN as the int64 minimum), and a .npz of bfloat16 was refused
    import ml_dtypes
    program = tmp_path / "bf.gir"
    program.write_text("func @f(%x: bf16[3]) -> (bf16[3]) {\n  %0: bf16[3] = neg %x\n"
                       "  return %0\n}\n")
    np.savez(tmp_path / "in.npz", x=np.array([1.5, np.nan, np.inf], dtype=ml_dtypes.bfloat16))
    result = graphc("run", program, "--inputs", tmp_path / "in.npz", "--out",
                    tmp_path / "out.npz")
    assert result.returncode == 0, result.stderr
    assert "[-1.5, nan, -inf]" in result.stdout and "nan=1 inf=1" in result.stdout
    with np.load(tmp_path / "out.npz") as out:  # (NumPy keeps bfloat16 as raw 2-byte items)
        assert out["out0"].view(ml_dtypes.bfloat16).astype(np.float32)[0] == -1.5
    again = graphc("run", program, "--inputs", tmp_path / "in.npz")  # read back as bfloat16
    assert again.returncode == 0 and "[-1.5, nan, -inf]" in again.stdout


def test_a_large_integer_constant_fills_bfloat16(tmp_path):
    program = tmp_path / "big.gir"
    program.write_text("func @f() -> (bf16[2]) {\n  %0: bf16[2] = const "
                       "{value=1180591620717411303424, dtype=bf16, shape=[2]}\n  return %0\n}\n")
    result = graphc("run", program)
    assert result.returncode == 0, result.stderr
    assert "1.18059e+21" in result.stdout


def test_sys_exit_in_the_users_file_is_an_error_not_a_silent_success(tmp_path):
    (tmp_path / "quits.py").write_text("import sys\n\ndef f(x):\n    sys.exit(0)\n")
    assert_user_error(graphc("dump", f"{tmp_path / 'quits.py'}:f", "--arg", "f32[2]"),
                      "tracing", "SystemExit")


def test_a_plugin_pass_that_raises_or_returns_a_graph_is_named(tmp_path):
    plugin = tmp_path / "plug.py"
    plugin.write_text(
        "from passes.registry import Pass, register\n\n\n@register\nclass Raiser(Pass):\n"
        "    \"\"\"Raises.\"\"\"\n    name = 'raiser'\n\n    def apply(self, graph):\n"
        "        raise KeyError('oops')\n\n\n@register\nclass Plain(Pass):\n"
        "    \"\"\"Returns the graph alone.\"\"\"\n    name = 'plain'\n\n"
        "    def apply(self, graph):\n        return graph\n")
    assert_user_error(graphc("opt", FIXTURES / "mlp.gir", "--plugin", plugin, "-p", "raiser"),
                      "pass raiser (1 of 1), from a plugin, failed: KeyError")
    assert_user_error(graphc("opt", FIXTURES / "mlp.gir", "--plugin", plugin, "-p", "plain"),
                      "returned Graph", "PassResult")


def test_compile_options_are_checked_when_given():
    import graphc as library
    import passes
    with pytest.raises(TypeError, match="passes must be a pipeline text"):
        library.compile(lambda x: x, passes=["dce"])
    with pytest.raises(passes.PassError, match="unknown pass 'nope'"):
        library.compile(lambda x: x, passes="nope")
    with pytest.raises(TypeError, match="name must be a str"):
        library.compile(lambda x: x, name=1)
    with pytest.raises(TypeError, match="backend must be"):
        library.compile(lambda x: x, backend=["llvm"])
    with pytest.raises(passes.PassError, match="item 0 of the pipeline is 'dce'"):
        passes.PassManager(["dce", "cse"])
