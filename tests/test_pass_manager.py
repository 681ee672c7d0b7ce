"""The pass manager: pass declarations, pipeline text, verify/print/timing flags, numeric
validation with reproducers, the ``graphc opt``/``graphc passes`` commands and ``GRAPHC_LOG``.

Test-only passes (a deliberate miscompiler, a pass that breaks the IR, one with an option of
every kind) live in ``tests/cli_fixtures/extra_passes.py`` and are loaded as a plugin for this
module only, so the pass table other tests see is unchanged.
"""
from __future__ import annotations

import io
import logging
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backends
import graphc
import ir
import passes
from graphc import logs, nn, optim
from graphc.cli import main
from passes import validate as validation
from passes.validate import Domain

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "tests" / "cli_fixtures" / "extra_passes.py"
MLP = ROOT / "tests" / "cli_fixtures" / "mlp.gir"


@pytest.fixture(scope="module", autouse=True)
def extra_passes():
    """Registers the test-only passes for this module, and removes them afterwards."""
    saved = dict(passes.PASSES)
    passes.load_plugin(str(PLUGIN))
    module = sys.modules[next(name for name in sys.modules
                              if name.startswith("graphc_pass_plugin_") and "extra_passes" in name)]
    yield module
    passes.PASSES.clear()
    passes.PASSES.update(saved)
    passes.registry._PLUGINS.clear()


def add_graph() -> ir.Graph:
    """out = sum(log(x) + y): one add, inputs that need a domain (log wants x > 0)."""
    return ir.parse("func @f(%x: f32[3], %y: f32[3]) -> (f32[], f32[3]) {\n"
                    "  %0: f32[3] = log %x\n  %1: f32[3] = add %0, %y\n"
                    "  %2: f32[] = sum %1 {axes=[0]}\n  %3: f32[3] = exp %y\n"
                    "  return %2, %1\n}")


def graphc_cli(*args, env=None, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "graphc", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


# -- declaring passes and pipeline text -------------------------------------------------------------

ZOO_VALUES = st.fixed_dictionaries({}, optional={
    "max_ops": st.integers(-10**18 + 1, 10**18 - 1),
    "ratio": st.floats(allow_nan=False),
    "fast": st.booleans(),
    "label": st.text(max_size=12),
    "mode": st.sampled_from(["greedy", "optimal"]),
    "sizes": st.lists(st.integers(-1000, 1000), max_size=4).map(tuple),
    "names": st.lists(st.text(max_size=6), max_size=3).map(tuple),
    "limit": st.integers(0, 99),
})


@settings(max_examples=150, deadline=None)
@given(options=st.lists(ZOO_VALUES, min_size=1, max_size=3))
def test_pipeline_text_round_trips_for_any_option_values(options):
    zoo = passes.get("option-zoo")
    pipeline = passes.Pipeline([passes.get("dce")()] + [zoo(**o) for o in options])
    text = str(pipeline)
    assert passes.parse_pipeline(text) == pipeline
    assert str(passes.parse_pipeline(text)) == text


def test_a_pass_prints_only_the_options_that_differ_from_their_defaults():
    zoo = passes.get("option-zoo")
    assert str(zoo()) == "option-zoo"
    assert str(zoo(max_ops=8, sizes=[1, 2], label="two words", fast=True)) == \
        'option-zoo{max-ops=8,fast=true,label="two words",sizes=[1,2]}'
    assert str(passes.get("autodiff")(wrt=[0, 2])) == "autodiff{wrt=[0,2]}"


def test_list_options_read_brackets_and_a_single_value_as_a_one_element_list():
    [zoo] = passes.parse_pipeline('option-zoo{sizes=[3, -1], names=[x, "a,b"], limit=4}')
    assert zoo.sizes == (3, -1) and zoo.names == ("x", "a,b") and zoo.limit == 4
    [autodiff] = passes.parse_pipeline("autodiff{wrt=2}")
    assert autodiff.wrt == (2,)
    [empty] = passes.parse_pipeline("option-zoo{names=[]}")
    assert empty.names == ()


@pytest.mark.parametrize("pipeline, fragments", [
    ("dce,no-such-pass", ["unknown pass 'no-such-pass'", "known passes: ", "autodiff", "dce"]),
    ("option-zoo{max_ops=3}", ["does not take option 'max_ops'", "max-ops, ratio, fast"]),
    ("option-zoo{max-ops=3.0}", ["'max-ops' expects an int, got '3.0'"]),
    ("option-zoo{ratio=fast}", ["'ratio' expects a number"]),
    ("option-zoo{fast=1}", ["'fast' expects true or false"]),
    ("option-zoo{mode=best}", ["'mode' expects one of 'greedy', 'optimal', got 'best'"]),
    ("option-zoo{sizes=[1,x]}", ["'sizes' expects a list of ints such as [0,2]"]),
    ("option-zoo{sizes=[1,2}", ["unterminated '['"]),
    ("option-zoo{label=a b}", ["quote strings"]),
    ('option-zoo{label="a}', ["unterminated '\"'"]),
    ("option-zoo{limit=[1]}", ["'limit' expects an int"]),
])
def test_unknown_passes_and_bad_options_are_pass_errors_that_say_what_exists(pipeline,
                                                                             fragments):
    with pytest.raises(passes.PassError) as info:
        passes.parse_pipeline(pipeline)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_options_set_from_python_are_checked_like_options_from_text():
    with pytest.raises(passes.PassError, match="'max-ops' expects an int, got 1.5"):
        passes.get("option-zoo")(max_ops=1.5)
    with pytest.raises(passes.PassError, match="'wrt' expects a list of ints"):
        passes.get("autodiff")(wrt=[0, "1"])
    assert passes.get("option-zoo")(ratio=2).ratio == 2.0


def test_function_passes_still_register_with_typed_options():
    @passes.register("scale-test")
    def scale(graph: ir.Graph, times: int = 1) -> ir.Graph:
        """Runs dce `times` times."""
        for _ in range(times):
            graph = passes.dce(graph)
        return graph
    try:
        [p] = passes.parse_pipeline("scale-test{times=2}")
        assert str(p) == "scale-test{times=2}" and p.doc == "Runs dce `times` times."
        result = p.apply(add_graph())
        assert result.changed and [n.op for n in result.graph.nodes] == ["log", "add", "sum"]
        with pytest.raises(passes.PassError, match="'times' expects an int"):
            passes.parse_pipeline("scale-test{times=x}")
    finally:
        del passes.PASSES["scale-test"]


def test_a_pass_reports_whether_it_changed_the_graph():
    graph = add_graph()
    first = passes.get("dce")().apply(graph)
    assert first.changed and first.graph is graph
    assert not passes.get("dce")().apply(first.graph).changed


# -- verify, print, timing ------------------------------------------------------------------------

def test_verify_each_names_the_pass_that_broke_the_ir():
    with pytest.raises(passes.PassVerifyError,
                       match=r"invalid after pass break-types \(2 of 3\): node 0"):
        passes.PassManager("dce,break-types,dce", verify_each=True).run(add_graph())
    passes.PassManager("dce,break-types", verify_each=False).run(add_graph())  # unchecked


def test_print_after_all_named_or_changed_passes():
    def printed(print_after):
        stream = io.StringIO()
        passes.PassManager("count-runs,dce,count-runs,dce", print_after=print_after,
                           stream=stream).run(add_graph())
        return [line for line in stream.getvalue().splitlines() if line.startswith("//")]

    assert printed("all") == [f"// ----- IR after {name} ({i} of 4) ----- //" for i, name in
                              enumerate(["count-runs", "dce", "count-runs", "dce"], 1)]
    assert printed(["dce"]) == ["// ----- IR after dce (2 of 4) ----- //",
                                "// ----- IR after dce (4 of 4) ----- //"]
    assert printed("changed") == ["// ----- IR after dce (2 of 4) ----- //"]  # only the first dce
    stream = io.StringIO()
    result = passes.PassManager("dce", print_after="all", stream=stream).run(add_graph())
    assert stream.getvalue().split("\n", 1)[1] == str(result) + "\n"
    with pytest.raises(passes.PassError, match="unknown pass.*no-such-pass.*known passes"):
        passes.PassManager("dce", print_after=["no-such-pass"])


def test_timing_table_counts_calls_per_pass_and_shares_of_the_total():
    manager = passes.PassManager("dce,count-runs,dce", timing=True)
    manager.run(add_graph())
    lines = manager.timing_table().splitlines()
    assert lines[0].split() == ["pass", "calls", "seconds", "%"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {"dce", "count-runs", "total"}
    assert rows["dce"][1] == "2" and rows["count-runs"][1] == "1" and rows["total"][1] == "3"
    shares = [float(rows[name][3].rstrip("%")) for name in ("dce", "count-runs")]
    assert sum(shares) == pytest.approx(100.0, abs=0.2)
    assert rows["total"][3] == "100.0%"


# -- numeric validation -----------------------------------------------------------------------------

def test_validation_catches_a_miscompiling_pass_names_it_and_writes_a_reproducer(tmp_path):
    graph = add_graph()
    with pytest.raises(passes.ValidationError) as info:
        passes.PassManager("dce,swap-add-sub,dce", validate=True,
                           reproducer_dir=str(tmp_path / "repro")).run(graph)
    error = info.value
    message = str(error)
    assert "pass swap-add-sub (2 of 3) changed the results" in message
    assert "output 0 (%2: f32[])" in message and "max abs error" in message
    assert error.pass_text == "swap-add-sub" and error.output == 0 and error.max_error > 0
    repro = Path(error.reproducer)
    assert sorted(p.name for p in repro.iterdir()) == ["README.txt", "before.gir", "inputs.npz",
                                                       "pipeline.txt"]
    assert (repro / "pipeline.txt").read_text() == "swap-add-sub\n"
    before = ir.parse((repro / "before.gir").read_text())
    assert [n.op for n in before.nodes] == ["log", "add", "sum"]  # what the pass received
    inputs = dict(np.load(repro / "inputs.npz"))
    assert inputs["x"].min() > 0  # log's domain
    # the saved inputs show the miscompile independently of graphc: sum(log x + y) vs log x - y
    x, y = inputs["x"].astype(np.float64), inputs["y"].astype(np.float64)
    assert abs(np.sum(np.log(x) + y) - np.sum(np.log(x) - y)) == pytest.approx(
        error.max_error, rel=1e-4)
    readme = (repro / "README.txt").read_text()
    assert f"--plugin {PLUGIN}" in readme and "--validate --inputs inputs.npz" in readme

    # replayed as the README says, in a fresh process, it fails again the same way
    replay = graphc_cli("opt", "before.gir", "-p", "swap-add-sub", "--validate", "--inputs",
                        "inputs.npz", "--plugin", PLUGIN, "--reproducer-dir", tmp_path / "again",
                        cwd=repro)
    assert replay.returncode == 1 and "Traceback" not in replay.stderr
    assert "graphc: error: pass swap-add-sub (1 of 1) changed the results: output 0 (%2: f32[])" \
        in replay.stderr
    assert f"max abs error {error.max_error:.3g}" in replay.stderr


def test_validation_accepts_correct_passes_and_appended_outputs():
    graph = passes.PassManager("dce,autodiff{wrt=[0]},dce", validate=True,
                               verify_each=True).run(add_graph())
    assert len(graph.outputs) == 3


def test_validation_stops_when_a_pass_makes_the_graph_fail_to_run(tmp_path):
    graph = ir.parse("func @f(%x: f32[3]) -> (f32[2]) {\n"
                     "  %0: i64[2] = const {value=[0, 2], dtype=i64, shape=[2]}\n"
                     "  %1: f32[2] = gather %x, %0 {axis=0}\n  return %1\n}")

    class OutOfRange(passes.Pass):
        """Rewrites the gather's constant indices out of range."""
        name = "out-of-range-test"

        def apply(self, g):
            g.nodes[0].attrs["value"] = [0, 5]
            return passes.PassResult(g, True)

    out_of_range = passes.register(OutOfRange)
    try:
        with pytest.raises(passes.ValidationError,
                           match=r"out-of-range-test \(1 of 1\).*no longer runs.*out of range"):
            passes.PassManager([out_of_range()], validate=True,
                               reproducer_dir=str(tmp_path)).run(graph)
    finally:
        del passes.PASSES["out-of-range-test"]


def test_validation_inputs_respect_the_domains_of_the_ops_that_read_them():
    graph = ir.parse("""func @f(%p: f32[2,3], %t: f32[6], %i: i64[4], %d: f32[3], %z: f32[3]) -> (f32[2,3], f32[4], f32[3]) {
  %0: f32[6] = reshape %p {shape=[6]}
  %1: f32[6] = binary_cross_entropy %0, %t
  %2: f32[2,3] = reshape %1 {shape=[2,3]}
  %3: i64[4] = const {value=0, dtype=i64, shape=[4]}
  %4: bool[4] = gt %i, %3
  %5: i64[4] = where %4, %i, %3
  %6: f32[4] = gather %z, %5 {axis=0}
  %7: f32[3] = div %z, %d
  %8: f32[3] = sqrt %d
  %9: f32[3] = add %7, %8
  return %2, %6, %9
}""")
    domains = validation.input_domains(graph)
    assert domains == {"p": validation.PROBABILITY, "t": validation.UNIT,
                       "i": Domain(0, 3), "d": validation.POSITIVE}
    arrays = validation.make_inputs(graph, seed=3)
    assert 0 < arrays["p"].min() and arrays["p"].max() < 1
    assert arrays["i"].min() >= 0 and arrays["i"].max() < 3 and arrays["i"].dtype == np.int64
    assert arrays["d"].min() >= 0.25
    assert "z" not in domains and arrays["z"].dtype == np.float32  # unconstrained: normal
    again = validation.make_inputs(graph, seed=3)
    assert all(np.array_equal(arrays[k], again[k]) for k in arrays)  # seeded
    passes.PassManager("dce", validate=True).run(graph)  # runs: every gather index is in range


def test_comparison_is_bitwise_for_integers_and_per_dtype_tolerant_for_floats():
    f32 = np.array([1.0, np.nan, np.inf], np.float32)
    assert validation.compare([f32], [f32 * np.float32(1 + 5e-5)], ["a"]) is None
    worse = validation.compare([f32], [f32 * np.float32(1 + 1e-3)], ["a"])
    assert worse is not None and worse.max_error == pytest.approx(1e-3, rel=1e-3)
    assert validation.compare([f32], [np.array([1.0, 0.0, np.inf], np.float32)], ["a"]) \
        .max_error == math.inf  # nan -> number
    f64 = np.array([1.0])
    assert validation.compare([f64], [f64 + 1e-8], ["a"]) is not None  # tighter in f64
    ints = np.array([1, 2], np.int64)
    assert "differs in 1 of 2" in validation.compare([ints], [ints + [0, 1]], ["a"]).description
    assert "was float32[3], is float64[3]" in validation.compare([f32], [f32.astype(np.float64)],
                                                                 ["a"]).description


# the training steps of the examples: digits MLP and CNN with Adam, the char-LSTM
def _training_step_graph(model: nn.Module, x: graphc.Tensor, y: graphc.Tensor) -> ir.Graph:
    opt = optim.Adam(model.parameters(), lr=1e-2)

    def train_step(x, y):
        opt.zero_grad()
        out = model(x)
        logits = out[0] if isinstance(out, tuple) else out
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        loss.backward()
        opt.step()
        return loss

    # the interpreter lowers nothing: this is the graph as traced
    return graphc.compile(train_step, passes="", backend="interpreter").graph_for(x, y)


def _example_models():
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from char_lstm import CharModel
        from digits_classifier import make_model
    finally:
        sys.path.remove(str(ROOT / "examples"))
    graphc.manual_seed(0)
    digits = graphc.randn(8, 1, 8, 8)
    labels = graphc.randint(0, 10, (8,))
    return {"mlp": (make_model("mlp"), digits, labels),
            "cnn": (make_model("cnn"), digits, labels),
            "char_lstm": (CharModel(30, embed=8, hidden=16), graphc.randint(0, 30, (2, 5)),
                          graphc.randint(0, 30, (2, 5)))}


def test_correct_pipelines_pass_validation_on_the_examples_training_steps():
    for name, (model, x, y) in _example_models().items():
        graph = _training_step_graph(model, x, y)
        domains = validation.input_domains(graph)
        classes = 30 if name == "char_lstm" else 10
        assert domains[graph.inputs[1].name] == Domain(0, classes), name  # labels in range
        if name == "char_lstm":
            assert domains[graph.inputs[0].name] == Domain(0, 30)  # embedding rows
        result = passes.PassManager("dce,autodiff{output=0},dce", validate=True,
                                    verify_each=True).run(graph)
        assert len(result.outputs) > len(graph.inputs), name


def test_validation_catches_the_miscompile_in_a_training_step(tmp_path):
    model, x, y = _example_models()["mlp"]
    graph = _training_step_graph(model, x, y)
    with pytest.raises(passes.ValidationError, match=r"swap-add-sub \(2 of 2\)"):
        passes.PassManager("dce,swap-add-sub", validate=True,
                           reproducer_dir=str(tmp_path)).run(graph)


# -- graphc.compile runs its pipeline through the manager -----------------------------------------

def test_compile_runs_the_default_pipeline_then_the_backends_lowering(monkeypatch, extra_passes):
    backend = backends.get("interpreter")
    assert backend.lowering == ""
    monkeypatch.setattr(backend, "lowering", "count-runs")
    extra_passes.SEEN.clear()

    @graphc.compile(backend="interpreter")  # the backend whose lowering is patched
    def f(x):
        graphc.exp(x)  # dead: dce removes it before the lowering sees the graph
        return x * 2

    assert f(graphc.ones(3)).tolist() == [2.0, 2.0, 2.0]
    assert extra_passes.SEEN == [("count-runs", 2)]  # const 2 and mul: exp is gone
    f(graphc.ones(3))
    assert len(extra_passes.SEEN) == 1  # cached: no second trace, no second pipeline run


# -- the command line -------------------------------------------------------------------------------

def test_graphc_passes_lists_every_pass_with_its_doc_and_typed_options(capsys):
    assert main(["passes"]) == 0
    out = capsys.readouterr().out
    assert "dce          Drops nodes none of whose results is used" in out
    assert "    output: int = 0  index of the output to differentiate" in out
    assert "    wrt: list of int (optional)" in out
    assert "    mode: one of greedy|optimal = greedy  one of two choices" in out
    assert '    names: list of str = [a,b]' in out


def test_graphc_opt_prints_ir_after_passes_and_timing_on_stderr(tmp_path):
    out = tmp_path / "out.gir"
    result = graphc_cli("opt", MLP, "-p", "autodiff{output=1},dce", "--verify-each",
                        "--validate", "--print-after=dce", "--timing", "-o", out)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("// ----- IR after") == 1
    assert "// ----- IR after dce (2 of 2) ----- //" in result.stderr
    assert "autodiff " in result.stderr and "total " in result.stderr  # the timing table
    assert len(ir.parse(out.read_text()).outputs) == 5
    changed = graphc_cli("opt", MLP, "-p", "dce,autodiff{output=1}", "--print-changed",
                         "--plugin", PLUGIN)
    assert changed.returncode == 0, changed.stderr
    assert changed.stderr.count("// ----- IR after") == 1 and "autodiff{output=1} (2 of 2)" in \
        changed.stderr


@pytest.mark.parametrize("args, fragment", [
    (["-p", "dce,nope"], "unknown pass 'nope'; known passes: autodiff, "),
    (["-p", "dce", "--print-after", "nope"], "cannot print after unknown pass(es) nope"),
    (["-p", "dce", "--inputs", "x.npz"], "--inputs is used by --validate"),
    (["-p", "autodiff", "--plugin", "missing.py"], "cannot load pass plugin 'missing.py'"),
])
def test_graphc_opt_user_errors_exit_1_with_one_message(args, fragment, capsys):
    assert main(["opt", str(MLP), *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("graphc: error: ") and fragment in err and "Traceback" not in err


def test_print_flags_are_mutually_exclusive():
    result = graphc_cli("opt", MLP, "--print-changed", "--print-after-all")
    assert result.returncode == 2 and "not allowed with" in result.stderr


# -- GRAPHC_LOG -------------------------------------------------------------------------------------

def test_graphc_log_prints_the_graph_the_passes_and_why_each_trace_happened():
    script = ("import graphc\n"
              "f = graphc.compile(lambda x: (x * 2).sum(), passes='dce', "
              "backend='interpreter')\n"  # no lowering: the pipeline is exactly -p dce
              "f(graphc.ones(3)); f(graphc.ones(3)); f(graphc.ones(4))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, check=False,
                            env={**os.environ, "PYTHONPATH": str(ROOT),
                                 "GRAPHC_LOG": "graph,passes,guards"})
    assert result.returncode == 0, result.stderr
    err = result.stderr
    assert "[graphc.graph] traced '<lambda>' (first call):\nfunc @lambda(%x: f32[3])" in err
    assert "[graphc.graph] '<lambda>' after -p dce:" in err
    assert err.count("[graphc.passes] dce: ") == 2 and "unchanged, 3 -> 3 nodes" in err
    assert "[graphc.guards] traced '<lambda>' at call 1 because first call; guards:" in err
    assert "[graphc.guards] traced '<lambda>' at call 3 because argument x: f32[3] -> f32[4]" in err
    quiet = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                           text=True, timeout=120, check=False, env={**os.environ, "PYTHONPATH": str(ROOT),
                                                        "GRAPHC_LOG": ""})
    assert quiet.stderr == ""


def test_log_topics_configure_standard_loggers_and_reject_unknown_ones():
    stream = io.StringIO()
    try:
        assert logs.configure("all", stream) == ["graph", "passes", "guards"]
        passes.run(add_graph(), "dce")
        assert "[graphc.passes] dce: " in stream.getvalue()
        assert logs.configure(" Passes ", stream) == ["passes"]
        assert logging.getLogger("graphc.graph").level == logging.NOTSET
        with pytest.raises(ValueError, match="unknown topic.*nope.*graph, passes, guards, all"):
            logs.configure("passes,nope")
    finally:
        logs.configure("")
    assert not [h for h in logging.getLogger("graphc.passes").handlers
                if getattr(h, "_graphc_log_handler", False)]
