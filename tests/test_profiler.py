"""``graphc.profiler``: a compiled training step seen kernel by kernel, as PyTorch's profiler.

- every kernel, GEMM and library call of the compiled program is a row of the table, called
  once per step; a GEMM's FLOPs are ``2*M*N*K``; the profiled step computes what the
  unprofiled one does;
- the Chrome trace is JSON whose kernels lie inside their compiled call, and calls inside the
  user's ``record_function`` ranges;
- the interpreter is profiled node by node, numba kernel by kernel, eager ops one by one;
- ``graphc profile script.py`` runs a script under the profiler;
- with no profiler, compiled calls and eager ops never reach the recording code.
"""
from __future__ import annotations

import json
import math
import textwrap

import numpy as np
import pytest

import graphc
import ir
from backends.kernel import Gemm, Kernel, LibraryCall, RowGroup
from graphc import nn
from graphc.cli import main
from graphc.profiler import recording
from ir.cost import op_flops

BATCH, IN, HIDDEN, OUT = 6, 8, 16, 4


def sgd_training_step(model, backend: str | None):
    """A compiled SGD step of ``model`` with cross-entropy."""
    optimizer = graphc.optim.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss
    return graphc.compile(step, backend=backend)


def mlp_training_step(seed: int = 0, backend: str | None = None):
    """A compiled SGD step of a two-layer MLP with cross-entropy, and its model and batch."""
    graphc.manual_seed(seed)
    model = nn.Sequential(nn.Linear(IN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, OUT))
    step = sgd_training_step(model, backend)
    rng = np.random.default_rng(seed)
    x = graphc.tensor(rng.standard_normal((BATCH, IN)).astype(np.float32))
    y = graphc.tensor(rng.integers(0, OUT, BATCH))
    return step, model, x, y


def run_steps(step, x, y, n: int) -> list[float]:
    return [step(x, y).item() for _ in range(n)]


@pytest.fixture(scope="module")
def profiled_llvm_step():
    """Two llvm training steps under the profiler (after one unprofiled step that compiles)."""
    step, model, x, y = mlp_training_step(backend="llvm")
    step(x, y)
    with graphc.profiler.profile(record_shapes=True) as prof:
        for _ in range(2):
            with graphc.profiler.record_function("train step"):
                step(x, y)
    (entry,) = step.entries
    return prof, entry.executable


# -- the table -----------------------------------------------------------------------------
def test_the_table_lists_every_kernel_gemm_and_library_call_of_the_compiled_step(
        profiled_llvm_step):
    prof, executable = profiled_llvm_step
    program = executable.program
    rows = {row.key: row for row in prof.key_averages()}
    kernels = [f"{program.name}::{s.name}" for s in program.steps
               if isinstance(s, (Kernel, RowGroup))]
    gemms = [f"{program.name}::gemm{i}"
             for i in range(sum(isinstance(s, Gemm) for s in program.steps))]
    library = [s.op for s in program.steps if isinstance(s, LibraryCall) and s.op != "const"]
    assert kernels and len(gemms) == 5 and "gather" in library  # the step is what we think
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=-1)
    for name in kernels + gemms:
        assert rows[name].count == 2, name  # once per step
        assert f" {name} " in table
    for op in set(library):
        calls = sum(row.count for key, row in rows.items() if key.startswith(f"step::{op}"))
        assert calls == 2 * library.count(op)
    assert rows["step"].count == 2 and rows["step"].kind == "compiled call"
    assert not any(row.kind == "segment" for row in rows.values())  # split into kernels


def test_a_gemm_does_2_m_n_k_flops(profiled_llvm_step):
    prof, _ = profiled_llvm_step
    per_call = sorted(row.flops // row.count for row in prof.key_averages()
                      if row.kind == "gemm")
    # forward x W1^T and h W2^T; backward dh = g W2, dW2 = g^T h, dW1 = g1^T x
    expected = sorted([2 * BATCH * HIDDEN * IN, 2 * BATCH * OUT * HIDDEN,
                       2 * BATCH * HIDDEN * OUT, 2 * OUT * HIDDEN * BATCH,
                       2 * HIDDEN * IN * BATCH])
    assert per_call == expected


def test_rates_are_flops_and_bytes_over_the_rows_total_time(profiled_llvm_step):
    prof, _ = profiled_llvm_step
    first_layer = 2 * BATCH * HIDDEN * IN  # x W1^T, and dW1 = g1^T x: the same sizes
    rows = [r for r in prof.key_averages()
            if r.kind == "gemm" and r.flops == r.count * first_layer]
    assert len(rows) == 2
    for row in rows:
        assert row.bytes == row.count * 4 * (BATCH * IN + HIDDEN * IN + BATCH * HIDDEN)
        seconds = row.cpu_time_total * 1e-6
        assert row.gflops_per_second == pytest.approx(row.flops / seconds / 1e9)
        assert row.gigabytes_per_second == pytest.approx(row.bytes / seconds / 1e9)


def test_the_table_has_pytorchs_columns_and_sorts_by_self_time(profiled_llvm_step):
    prof, _ = profiled_llvm_step
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10)
    lines = table.splitlines()
    header = lines[1].split("  ")
    header = [cell.strip() for cell in header if cell.strip()]
    assert header == ["Name", "Self CPU %", "Self CPU", "CPU total %", "CPU total",
                      "CPU time avg", "# of Calls", "GFLOP/s", "GB/s"]
    body = lines[3:-2]
    assert len(body) == 10
    selfs = [r.self_cpu_time_total for r in sorted(prof.key_averages(),
                                                    key=lambda r: -r.self_cpu_time_total)]
    assert body[0].split()[0] == max(prof.key_averages(),
                                     key=lambda r: r.self_cpu_time_total).key
    assert selfs == sorted(selfs, reverse=True)
    assert lines[-1].startswith("Self CPU time total: ")


def test_a_table_sorted_by_an_unknown_key_names_the_known_ones(profiled_llvm_step):
    prof, _ = profiled_llvm_step
    with pytest.raises(ValueError, match="sort_by must be one of .*self_cpu_time_total"):
        prof.key_averages().table(sort_by="cuda_time")


def test_self_time_of_a_call_excludes_its_kernels(profiled_llvm_step):
    prof, _ = profiled_llvm_step
    events = prof.events()
    call = next(e for e in events if e.kind == "compiled call")
    inside = [e for e in events if e.thread == call.thread and e is not call
              and call.start_ns <= e.start_ns and e.end_ns <= call.end_ns]
    assert inside and call.self_ns == call.duration_ns - sum(e.duration_ns for e in inside)


def test_rows_grouped_by_input_shape_need_record_shapes():
    with graphc.profiler.profile() as prof:
        graphc.ones(2) + graphc.ones(2)
    with pytest.raises(RuntimeError, match="record_shapes=True"):
        prof.key_averages(group_by_input_shape=True)
    with graphc.profiler.profile(record_shapes=True) as prof:
        graphc.ones(2) + graphc.ones(2)
        graphc.ones(3) + graphc.ones(3)
    shapes = [r.input_shapes for r in prof.key_averages(group_by_input_shape=True)
              if r.key == "eager::add"]
    assert shapes == [((2,), (2,)), ((3,), (3,))]


# -- the chrome trace ----------------------------------------------------------------------
def test_the_chrome_trace_is_json_with_kernels_inside_their_call_inside_the_user_range(
        profiled_llvm_step, tmp_path):
    prof, executable = profiled_llvm_step
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(path)
    trace = json.loads(path.read_text())
    complete = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    for event in complete:
        assert {"name", "ts", "dur", "pid", "tid", "args", "cat"} <= set(event)
        assert event["dur"] >= 0
    ranges = [e for e in complete if e["cat"] == "user"]
    calls = [e for e in complete if e["cat"] == "compiled call"]
    kernels = [e for e in complete if e["cat"] in ("kernel", "gemm", "library call")]
    assert [e["name"] for e in ranges] == ["train step"] * 2 and len(calls) == 2
    n_steps = sum(not (isinstance(s, LibraryCall) and s.op == "const")
                  for s in executable.program.steps)
    assert len(kernels) == 2 * n_steps

    def within(inner, outer) -> bool:
        slack = 1e-3  # microseconds: one nanosecond of float rounding
        return (inner["tid"] == outer["tid"] and outer["ts"] - slack <= inner["ts"]
                and inner["ts"] + inner["dur"] <= outer["ts"] + outer["dur"] + slack)
    for kernel in kernels:
        assert sum(within(kernel, call) for call in calls) == 1
    for call in calls:
        assert sum(within(call, r) for r in ranges) == 1
    gemm = next(e for e in kernels if e["cat"] == "gemm")
    assert gemm["args"]["flops"] > 0 and gemm["args"]["bytes"] > 0
    assert "Input Dims" in gemm["args"] and "origin" in gemm["args"]


# -- results and backends ------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["llvm", "interpreter"])
def test_a_profiled_training_step_computes_what_an_unprofiled_one_does(backend):
    plain, plain_model, x, y = mlp_training_step(seed=3, backend=backend)
    profiled, profiled_model, _, _ = mlp_training_step(seed=3, backend=backend)
    expected = run_steps(plain, x, y, 3)
    profiled(x, y)  # compiled outside, then profiled
    with graphc.profiler.profile():
        got = [expected[0]] + run_steps(profiled, x, y, 2)
    assert got == expected
    for p, q in zip(plain_model.parameters(), profiled_model.parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_the_interpreter_is_profiled_node_by_node():
    @graphc.compile(backend="interpreter")
    def layer(a, b):
        return (a @ b).relu()
    a, b = graphc.ones(5, 3), graphc.ones(3, 7)
    with graphc.profiler.profile() as prof:
        out = layer(a, b)
    np.testing.assert_array_equal(out.numpy(), np.full((5, 7), 3.0, np.float32))
    rows = {r.key: r for r in prof.key_averages()}
    assert rows["layer::matmul"].flops == 2 * 5 * 7 * 3
    assert rows["layer::relu"].flops == 5 * 7
    assert rows["layer::matmul"].bytes == 4 * (5 * 3 + 3 * 7 + 5 * 7)


def test_numba_kernels_are_profiled_one_by_one():
    pytest.importorskip("numba")

    @graphc.compile(backend="numba")
    def scaled_sum(x):
        return (x.exp() * 2.0).sum(dim=1)
    x = graphc.tensor(np.arange(12, dtype=np.float32).reshape(3, 4) / 10)
    expected = scaled_sum(x).numpy()
    with graphc.profiler.profile() as prof:
        got = scaled_sum(x).numpy()
    np.testing.assert_array_equal(got, expected)
    (entry,) = scaled_sum.entries
    names = {r.key for r in prof.key_averages()}
    assert {f"{entry.executable.program.name}::{k.name}"
            for k in entry.executable.program.kernels} <= names


def test_eager_ops_are_events_with_their_flops():
    a = graphc.ones(4, 5)
    with graphc.profiler.profile() as prof:
        (a * 3.0).sum()
    rows = {r.key: r for r in prof.key_averages()}
    assert rows["eager::mul"].flops == 20 and rows["eager::mul"].kind == "eager op"
    assert rows["eager::sum"].flops == 20


def test_record_function_marks_ranges_and_decorates_functions():
    @graphc.profiler.record_function("prepare")
    def prepare():
        return graphc.ones(2) * 2.0

    with graphc.profiler.profile() as prof:
        with graphc.profiler.record_function("outer"):
            prepare()
        prepare()
    counts = {r.key: r.count for r in prof.key_averages()}
    assert counts["outer"] == 1 and counts["prepare"] == 2
    events = prof.events()
    outer = next(e for e in events if e.name == "outer")
    first = next(e for e in events if e.name == "prepare")
    assert outer.start_ns <= first.start_ns and first.end_ns <= outer.end_ns
    with graphc.profiler.record_function("nobody listens"):  # no profiler: nothing happens
        pass
    with pytest.raises(TypeError, match="name must be a str"):
        graphc.profiler.record_function(3)


def test_profilers_do_not_nest_and_stop_on_errors():
    with graphc.profiler.profile():
        with pytest.raises(RuntimeError, match="already recording"):
            graphc.profiler.profile().start()
    with pytest.raises(ZeroDivisionError):
        with graphc.profiler.profile():
            1 / 0
    assert recording.ACTIVE is None
    with pytest.raises(ValueError, match="unknown activities"):
        graphc.profiler.profile(activities=["TPU"])
    with pytest.raises(TypeError):
        graphc.profiler.profile(record_shape=True)  # a misspelt option is not ignored


def test_on_trace_ready_gets_the_profiler_when_it_stops(tmp_path):
    ready = []
    activities = [graphc.profiler.ProfilerActivity.CPU]
    with graphc.profiler.profile(activities=activities, on_trace_ready=ready.append) as prof:
        graphc.ones(2) * 2.0
        prof.step()  # PyTorch programs call it once per step
        assert ready == []
    assert ready == [prof] and "eager::mul" in [e.name for e in prof.events()]


def test_first_call_shows_its_trace_and_compile_inside_the_call():
    double = graphc.compile(lambda x: x * 2.0, backend="interpreter")
    with graphc.profiler.profile() as prof:
        double(graphc.ones(3))
        double(graphc.ones(3))
    rows = {r.key: r for r in prof.key_averages()}
    assert rows["<lambda>::trace and compile"].count == 1
    assert rows["<lambda>"].count == 2


# -- off means off -------------------------------------------------------------------------
def test_without_a_profiler_compiled_calls_and_eager_ops_skip_the_recording_path(monkeypatch):
    step, _, x, y = mlp_training_step(backend="llvm")
    fast = graphc.compile(lambda a: (a * 2.0).relu(), backend="llvm")
    a = graphc.ones(16)

    def must_not_run(*args, **kwargs):
        raise AssertionError("the profiler's recording path ran with no profiler active")
    monkeypatch.setattr(recording, "compiled_call", must_not_run)
    monkeypatch.setattr(recording, "eager_op", must_not_run)
    for _ in range(3):
        step(x, y)
        fast(a)
        a + a
    for function in (step, fast):
        monkeypatch.setattr(type(function.entries[0].executable), "run_profiled", must_not_run)
    step(x, y)
    fast(a)
    with pytest.raises(AssertionError, match="recording path ran"):  # and on, it does
        with graphc.profiler.profile():
            fast(a)


# -- the cost model ------------------------------------------------------------------------
def test_convolutions_cost_two_flops_per_multiply_add_of_the_direct_convolution():
    f32 = ir.f32
    x, w = ir.TensorType(f32, (2, 3, 8, 8)), ir.TensorType(f32, (5, 3, 3, 3))
    out = ir.TensorType(f32, (2, 5, 6, 6))
    direct = 2 * math.prod(out.shape) * 3 * 3 * 3
    assert op_flops("conv2d", [x, w], [out]) == direct
    assert op_flops("conv2d_input_grad", [out, w], [x]) == direct
    assert op_flops("conv2d_weight_grad", [x, out], [w]) == direct
    # grouped: each output point sees C/groups channels of its window
    x, w = ir.TensorType(f32, (1, 4, 6, 7)), ir.TensorType(f32, (6, 2, 3, 2))
    out = ir.registry.get("conv2d").infer([x, w], ir.registry.get("conv2d").check_attrs(
        {"groups": 2}))
    assert op_flops("conv2d", [x, w], [out]) == 2 * math.prod(out.shape) * (4 // 2) * 3 * 2
    assert op_flops("transpose", [x], [x]) == 0
    assert op_flops("sum", [x], [ir.TensorType(f32, ())]) == math.prod(x.shape)


def test_a_kernels_flops_count_its_float_arithmetic_at_every_point():
    from backends.kernel import build_program
    from backends.kernel.cost import kernel_flops
    graph = ir.parse("""func @f(%x: f32[4,6], %b: f32[6]) -> (f32[4]) {
      %0: f32[4,6] = mul %x, %b
      %1: f32[4,6] = add %0, %b
      %2: f32[4] = sum %1 {axes=[1]}
      return %2
    }""")
    import passes
    program = build_program(passes.PassManager("fuse").run(graph))
    (kernel,) = [s for s in program.steps if isinstance(s, Kernel)]
    assert kernel_flops(kernel) == 4 * 6 * 3  # mul, add and the sum's add per element


# -- the command line ----------------------------------------------------------------------
def test_graphc_profile_runs_a_script_prints_the_table_and_writes_the_trace(tmp_path, capsys):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""
        import sys
        import graphc
        layer = graphc.compile(lambda a, b: (a @ b).relu(), backend="llvm")
        a, b = graphc.ones(4, 3), graphc.ones(3, 5)
        for _ in range(int(sys.argv[1])):
            layer(a, b)
        print("ran with", sys.argv[1:], "as", __name__)
    """))
    trace = tmp_path / "trace.json"
    assert main(["profile", "-o", str(trace), "--row-limit", "-1", str(script), "3"]) == 0
    out = capsys.readouterr().out
    assert "ran with ['3'] as __main__" in out
    assert "Self CPU time total:" in out and "lambda::gemm0" in out
    row = next(line for line in out.splitlines() if line.strip().startswith("<lambda> "))
    assert row.split()[-3] == "3"  # calls
    events = json.loads(trace.read_text())["traceEvents"]
    assert sum(e["cat"] == "compiled call" for e in events if e["ph"] == "X") == 3


def test_graphc_profile_reports_a_failing_script_and_a_missing_one(tmp_path, capsys):
    script = tmp_path / "fails.py"
    script.write_text("import graphc\ngraphc.ones(2) + graphc.ones(2)\nraise SystemExit(3)\n")
    assert main(["profile", str(script)]) == 3
    assert "eager::add" in capsys.readouterr().out
    assert main(["profile", str(tmp_path / "nowhere.py")]) == 1
    assert "no such script" in capsys.readouterr().err


def test_a_profiled_convolution_step_computes_what_an_unprofiled_one_does():
    def training(seed):
        graphc.manual_seed(seed)
        model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(3 * 3 * 3, 4))
        return sgd_training_step(model, "llvm"), model
    rng = np.random.default_rng(5)
    x = graphc.tensor(rng.standard_normal((2, 2, 6, 6)).astype(np.float32))
    y = graphc.tensor(np.array([1, 3]))
    (plain, plain_model), (profiled, profiled_model) = training(7), training(7)
    expected = run_steps(plain, x, y, 2)
    with graphc.profiler.profile() as prof:
        got = run_steps(profiled, x, y, 2)
    assert got == expected
    for p, q in zip(plain_model.parameters(), profiled_model.parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    (entry,) = profiled.entries
    names = {r.key for r in prof.key_averages()}
    # each kernel and row group of the program (a group's kernels run inside its one call)
    assert {f"step::{s.name}" for s in entry.executable.program.steps
            if isinstance(s, (Kernel, RowGroup))} <= names
