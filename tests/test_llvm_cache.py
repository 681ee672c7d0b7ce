"""The llvm backend's cache of compiled code: in memory, on disk, and what it refuses to load.

Every test gets its own cache folder (``tmp_path``); the session's ``GRAPHC_CACHE_DIR`` (set
by the root conftest.py) keeps everything else away from the user's cache too. Results of
code loaded from the cache are checked against values computed here with NumPy.
"""
from __future__ import annotations

import ctypes
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import graphc
import ir
from backends.llvm import assemble, cache, call, compiler
from backends.llvm.backend import LLVMBackend
from backends.llvm.cache import CachedObject, ObjectCache, cache_key, decode_entry
from backends.llvm.compiler import CachingCompiler
from conftest import TOLERANCES

ROOT = Path(__file__).resolve().parents[1]
F = np.float32
GRAPH = '''func @f(%x: f32[4], %b: f32[]) -> (f32[4]) {
  %0: f32[4] = mul %x, %b
  %1: f32[4] = exp %0
  return %1
}'''
X = np.array([0.5, -1.0, 2.0, 0.0], F)
B = F(1.5)
EXPECTED = np.exp(X.astype(np.float64) * 1.5)  # exp calls libm: the entry imports expf


def compile_with(store: ObjectCache, text: str = GRAPH):
    return LLVMBackend(disk=store).compile(ir.parse(text))


def assert_computes_f(executable) -> None:
    (got,) = executable(X, B)
    np.testing.assert_allclose(got, EXPECTED, **TOLERANCES["f32"])


def assert_rebuilt_because(store: ObjectCache, reason: str):
    """Compiling GRAPH again ignores its stored entry (the note says ``reason``), compiles the
    code afresh, and the result computes f; returns that executable."""
    rebuilt = compile_with(store)
    assert rebuilt.compile_info.source == "fresh"
    assert reason in rebuilt.compile_info.note
    assert_computes_f(rebuilt)
    return rebuilt


def the_entry(store: ObjectCache) -> Path:
    (path,) = store.entry_paths()
    return path


@pytest.fixture
def store(tmp_path) -> ObjectCache:
    return ObjectCache(tmp_path / "llvm")


def forbid_codegen(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("codegen ran although the code was cached")
    monkeypatch.setattr(compiler, "compile_module", refuse)


# -- hits ----------------------------------------------------------------------------------------
def test_a_new_backend_loads_the_code_from_disk_without_running_codegen(store, monkeypatch):
    first = compile_with(store)
    assert first.compile_info.source == "fresh"
    assert {"optimize", "codegen", "cache write"} <= set(first.compile_info.seconds)
    assert_computes_f(first)

    forbid_codegen(monkeypatch)
    second = compile_with(store)
    assert second.compile_info.source == "disk"
    assert "cache load" in second.compile_info.seconds
    assert "codegen" not in second.compile_info.seconds
    assert second.compile_info.key == first.compile_info.key
    assert_computes_f(second)


def test_the_same_backend_reuses_code_from_memory(store, monkeypatch):
    backend = LLVMBackend(disk=store)
    backend.compile(ir.parse(GRAPH))
    forbid_codegen(monkeypatch)
    again = backend.compile(ir.parse(GRAPH))
    assert again.compile_info.source == "memory"
    assert_computes_f(again)


def test_code_loaded_from_disk_shows_the_same_source(store):
    first, second = compile_with(store), compile_with(store)
    assert second.compile_info.source == "disk"
    assert second.source() == first.source()
    assert second.jit.optimized_ir == first.jit.optimized_ir


def test_without_a_disk_cache_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    executable = LLVMBackend(disk=None).compile(ir.parse(GRAPH))
    assert executable.compile_info.source == "fresh"
    assert "cache write" not in executable.compile_info.seconds
    assert list(tmp_path.iterdir()) == []


# -- misses --------------------------------------------------------------------------------------
def test_a_different_graph_is_a_miss(store):
    compile_with(store)
    other = compile_with(store, GRAPH.replace("mul", "add"))
    assert other.compile_info.source == "fresh"
    (got,) = other(X, B)
    np.testing.assert_allclose(got, np.exp(X.astype(np.float64) + 1.5), **TOLERANCES["f32"])
    assert len(store.entry_paths()) == 2


def test_a_different_optimization_level_is_a_miss(store):
    graph = ir.parse(GRAPH)
    first = LLVMBackend(disk=store).compile(graph)
    backend = LLVMBackend(disk=store)
    backend.compiler.speed_level = 1
    other = backend.compile(graph)
    assert (first.compile_info.source, other.compile_info.source) == ("fresh", "fresh")
    assert first.compile_info.key != other.compile_info.key
    assert_computes_f(other)


@pytest.mark.parametrize("changed", ["source", "options", "target", "graphc", "llvmlite",
                                     "numpy"])
def test_the_key_changes_with_everything_that_decides_the_code(changed, monkeypatch):
    parts = {"source": "define void @k0() { ret void }", "options": {"speed_level": 2},
             "target": {"triple": "x86_64-unknown-linux-gnu", "cpu": "znver3",
                        "features": "+avx2", "llvm": "15.0.7"}}
    before = cache_key(**parts)
    if changed == "source":
        parts["source"] += " "
    elif changed == "options":
        parts["options"] = {"speed_level": 3}
    elif changed == "target":
        parts["target"] = {**parts["target"], "features": "+avx2,+avx512f"}
    else:
        real = cache._version
        monkeypatch.setattr(cache, "_version",
                            lambda name: "9.9.9" if name == changed else real(name))
    assert cache_key(**parts) != before


def test_the_key_names_the_host_target(store):
    from backends.llvm.jit import codegen_settings
    settings = codegen_settings()
    assert {"triple", "cpu", "features", "llvm"} <= set(settings)
    assert settings["cpu"] and settings["triple"]


# -- the key of a graph's code: its text, call plan, options and the renderer's source ----------
def forbid_rendering(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the LLVM module was rendered although its code was cached")
    monkeypatch.setattr(assemble, "render_module", refuse)


def test_code_found_by_the_graph_text_renders_no_llvm_ir(store, monkeypatch):
    first = compile_with(store)
    forbid_rendering(monkeypatch)
    second = compile_with(store)
    assert second.compile_info.source == "disk"
    assert "render" not in second.compile_info.seconds
    assert second.compile_info.key == first.compile_info.key
    assert_computes_f(second)


def test_code_from_the_cache_still_shows_its_llvm_ir(store):
    first = compile_with(store)
    second = compile_with(store)
    assert second.compile_info.source == "disk"
    assert second.llvm_ir == first.llvm_ir  # rendered when asked for, identical
    assert "define void @" in second.source()


def test_a_changed_code_generator_is_a_miss(store, monkeypatch):
    first = compile_with(store)
    monkeypatch.setattr(assemble, "code_fingerprint", lambda: "0" * 64)
    other = compile_with(store)
    assert other.compile_info.source == "fresh"
    assert other.compile_info.key != first.compile_info.key
    assert_computes_f(other)


def test_fast_math_on_and_off_are_different_entries(store):
    on = LLVMBackend(disk=store, fast_math=True).compile(ir.parse(GRAPH))
    off = LLVMBackend(disk=store, fast_math=False).compile(ir.parse(GRAPH))
    assert (on.compile_info.source, off.compile_info.source) == ("fresh", "fresh")
    assert on.compile_info.key != off.compile_info.key
    assert on.llvm_ir != off.llvm_ir
    assert_computes_f(off)


TWO_KERNELS = '''func @g(%x: f32[64,8]) -> (f32[64,8], f32[]) {
  %0: f32[64,8] = neg %x
  %1: f32[] = sum %x {axes=[0,1]}
  return %0, %1
}'''


def test_a_changed_parallel_threshold_is_a_miss_and_runs_the_new_plan(store, monkeypatch):
    """The call plan (which kernels run alone, split across threads) is not in the graph's
    text. Code made for one plan exports every function another plan here calls (``seg0``),
    but its ``seg0`` runs only the second kernel: it must not be reused."""
    x = np.arange(64 * 8, dtype=F).reshape(64, 8)
    with monkeypatch.context() as patched:
        patched.setattr(call, "PARALLEL_MIN_ELEMENTS", 100)
        split = LLVMBackend(disk=store).compile(ir.parse(TWO_KERNELS))
    assert [type(step).__name__ for step in split.plan] == ["ParallelKernel", "Segment"]
    together = LLVMBackend(disk=store).compile(ir.parse(TWO_KERNELS))
    assert [type(step).__name__ for step in together.plan] == ["Segment"]
    assert together.compile_info.source == "fresh"
    assert together.compile_info.key != split.compile_info.key
    for executable in (split, together):
        negated, total = executable(x)
        np.testing.assert_array_equal(negated, -x)
        assert total == x.astype(np.float64).sum()  # integers: exact in f32


def test_loop_unrolling_is_part_of_the_key(store):
    first = compile_with(store)
    backend = LLVMBackend(disk=store)
    backend.compiler.loop_unrolling = True
    other = backend.compile(ir.parse(GRAPH))
    assert other.compile_info.source == "fresh"
    assert other.compile_info.key != first.compile_info.key
    assert_computes_f(other)


def test_the_source_digest_changes_with_any_file_of_the_code(tmp_path):
    package = tmp_path / "renderer"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("X = 1\n")
    (package / "sub" / "b.py").write_text("Y = 2\n")
    before = cache.source_digest(tmp_path, ("renderer",))
    (package / "sub" / "b.py").write_text("Y = 3\n")
    changed = cache.source_digest(tmp_path, ("renderer",))
    (package / "sub" / "c.py").write_text("")
    added = cache.source_digest(tmp_path, ("renderer",))
    assert len({before, changed, added}) == 3


def test_the_code_fingerprint_covers_the_kernel_ir_and_the_renderers():
    assert {"ir", "backends"} <= set(cache.CODE_PACKAGES)


# -- entries that must not be loaded -------------------------------------------------------------
def _flip_payload_byte(data: bytes) -> bytes:
    at = len(data) - 100  # inside the object code
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


def _flip_checksum_byte(data: bytes) -> bytes:
    at = cache._HEADER.size - 1
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def _newer_format(data: bytes) -> bytes:
    return data[:8] + struct.pack("<I", cache.FORMAT_VERSION + 1) + data[12:]


CORRUPTIONS = {
    "a flipped byte in the object code": (_flip_payload_byte, "checksum mismatch"),
    "a flipped byte in the checksum": (_flip_checksum_byte, "checksum mismatch"),
    "truncated to half": (lambda data: data[:len(data) // 2], "truncated"),
    "truncated inside the header": (lambda data: data[:20], "truncated"),
    "an empty file": (lambda data: b"", "truncated"),
    "a foreign file with the same name": (lambda data: b"#!/bin/sh\necho hi\n" * 20,
                                          "wrong magic"),
    "another format version": (_newer_format, "format version"),
}


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=list(CORRUPTIONS))
def test_a_damaged_entry_is_ignored_and_rebuilt(store, corrupt):
    damage, reason = corrupt
    compile_with(store)
    path = the_entry(store)
    path.write_bytes(damage(path.read_bytes()))

    rebuilt = assert_rebuilt_because(store, reason)
    decode_entry(rebuilt.compile_info.key, path.read_bytes())  # valid again
    assert compile_with(store).compile_info.source == "disk"


def test_an_entry_written_for_another_key_is_ignored(store):
    first = compile_with(store)
    other = compile_with(store, GRAPH.replace("mul", "add"))
    # the other graph's entry, copied under the first graph's name
    store.path(first.compile_info.key).write_bytes(
        store.path(other.compile_info.key).read_bytes())
    assert_rebuilt_because(store, "another key")


def test_an_entry_whose_symbols_this_process_lacks_is_not_linked(store):
    key = compile_with(store).compile_info.key
    entry, _ = store.load(key)
    store.store(key, CachedObject(entry.object_code, entry.exports,
                                  entry.imports + ("graphc_no_such_symbol",), entry.optimized_ir))
    assert_rebuilt_because(store, "graphc_no_such_symbol")


def test_an_entry_lacking_a_kernel_the_program_calls_is_not_used(store):
    key = compile_with(store).compile_info.key
    entry, _ = store.load(key)
    store.store(key, CachedObject(entry.object_code, (), entry.imports, entry.optimized_ir))
    assert_rebuilt_because(store, "lacks functions")


def test_the_entry_records_the_external_functions_its_code_calls(store):
    from llvmlite import ir as llvm_ir
    module = llvm_ir.Module(name="calls_expf")
    f32 = llvm_ir.FloatType()
    expf = llvm_ir.Function(module, llvm_ir.FunctionType(f32, [f32]), "expf")
    k0 = llvm_ir.Function(module, llvm_ir.FunctionType(f32, [f32]), "k0")
    builder = llvm_ir.IRBuilder(k0.append_basic_block())
    builder.ret(builder.call(expf, [k0.args[0]]))

    compiled = CachingCompiler(store).compile(module, exports=["k0"])
    entry, why_not = store.load(compiled.info.key)
    assert why_not == ""
    assert (entry.imports, entry.exports) == (("expf",), ("k0",))
    loaded = CachingCompiler(store).compile(module, exports=["k0"])
    assert loaded.info.source == "disk"
    native = ctypes.CFUNCTYPE(ctypes.c_float, ctypes.c_float)(loaded.jit.address("k0"))
    assert native(1.0) == pytest.approx(np.e, rel=1e-6)


def test_an_unwritable_cache_folder_does_not_stop_compiling(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be")
    executable = compile_with(ObjectCache(blocker / "llvm"))
    assert executable.compile_info.source == "fresh"
    assert_computes_f(executable)


# -- location, size bound, atomic writes ---------------------------------------------------------
def test_graphc_cache_dir_decides_where_entries_go(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "mine"))
    compile_with(ObjectCache())
    assert len(list((tmp_path / "mine" / "llvm").glob("*.gobj"))) == 1


def test_without_graphc_cache_dir_the_xdg_cache_home_is_used(tmp_path, monkeypatch):
    monkeypatch.delenv("GRAPHC_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "graphc"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "graphc"


def test_the_least_recently_used_entries_go_when_the_folder_is_full(tmp_path):
    store = ObjectCache(tmp_path, max_bytes=2500)
    entry = CachedObject(b"\x00" * 1000, ("k0",), (), "")
    keys = [cache_key(f"ir {i}", {}, {}) for i in range(3)]
    for age, key in enumerate(keys[:2]):
        store.store(key, entry)
        os.utime(store.path(key), (1000 + age, 1000 + age))
    store.load(keys[0])  # used now: keys[1] is the least recently used
    store.store(keys[2], entry)
    assert sorted(store.entry_paths()) == sorted([store.path(keys[0]), store.path(keys[2])])


def test_a_write_leaves_no_temporary_files(store):
    compile_with(store)
    assert [p.name.startswith(cache.TEMP_PREFIX) for p in store.directory.iterdir()] == [False]


CONCURRENT_WRITER = textwrap.dedent('''
    import sys, time
    import numpy as np
    import ir
    from backends.llvm.backend import LLVMBackend
    from backends.llvm.cache import ObjectCache
    from pathlib import Path
    graph = ir.parse(sys.stdin.read())
    while time.time() < float(sys.argv[2]):  # start together
        time.sleep(0.001)
    run = LLVMBackend(disk=ObjectCache(Path(sys.argv[1]))).compile(graph)
    (y,) = run(np.array([0.5, -1.0, 2.0, 0.0], np.float32), np.float32(1.5))
    print(run.compile_info.source, *y.tolist())
''')


def test_two_processes_compiling_the_same_graph_at_once_both_succeed(tmp_path):
    import time
    start_at = str(time.time() + 2.0)
    writers = [subprocess.Popen([sys.executable, "-c", CONCURRENT_WRITER, str(tmp_path), start_at],
                                cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [w.communicate(GRAPH, timeout=120) for w in writers]
    for writer, (out, err) in zip(writers, outputs):
        assert writer.returncode == 0, err
        source, *values = out.split()
        assert source in ("fresh", "disk")
        np.testing.assert_allclose(np.array(values, np.float64), EXPECTED, **TOLERANCES["f32"])
    store = ObjectCache(tmp_path)
    path = the_entry(store)
    decode_entry(path.stem, path.read_bytes())
    assert compile_with(store).compile_info.source == "disk"


# -- explain() and the command line --------------------------------------------------------------
def test_explain_says_where_each_entry_code_came_from_and_how_long_each_stage_took(
        tmp_path, monkeypatch):
    import backends
    monkeypatch.setitem(backends.base._INSTANCES, "llvm",
                        LLVMBackend(disk=ObjectCache(tmp_path)))

    def f(x):
        return (x * 2 + 1).relu().sum()

    reports = []
    for _ in range(2):  # the second compile of the same graph reuses the first one's code
        compiled = graphc.compile(f, backend="llvm")
        assert compiled(graphc.ones(7)).item() == 21.0
        reports.append(compiled.explain())
    monkeypatch.setitem(backends.base._INSTANCES, "llvm",
                        LLVMBackend(disk=ObjectCache(tmp_path)))  # as a new process would
    compiled = graphc.compile(f, backend="llvm")
    assert compiled(graphc.ones(7)).item() == 21.0
    reports.append(compiled.explain())

    fresh, memory, disk = (report.splitlines()[1:3] for report in reports)
    for entry_line, _ in (fresh, memory, disk):
        assert "; trace " in entry_line and ", passes " in entry_line
        assert ", compile " in entry_line
    assert fresh[1].startswith("  code: freshly compiled: kernel program ")
    assert all(f"{stage} " in fresh[1] for stage in ("render", "key", "optimize", "codegen",
                                                      "cache write"))
    assert memory[1].startswith("  code: from the in-memory cache: kernel program ")
    assert "codegen" not in memory[1]
    assert disk[1].startswith("  code: from the disk cache: kernel program ")
    assert "cache load " in disk[1] and "codegen" not in disk[1]


def test_the_interpreter_entries_report_no_generated_code():
    compiled = graphc.compile(lambda x: x + 1, backend="interpreter")
    compiled(graphc.ones(2))
    assert "code:" not in compiled.explain()


def graphc_cli(*args: str, cache_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "GRAPHC_CACHE_DIR": str(cache_dir)}
    return subprocess.run([sys.executable, "-m", "graphc", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_graphc_cache_info_and_clear(tmp_path):
    store = ObjectCache(tmp_path / "llvm")
    compile_with(store)
    compile_with(store, GRAPH.replace("mul", "add"))
    (tmp_path / "notes.txt").write_text("not ours: clear leaves it")
    size = sum(p.stat().st_size for p in store.entry_paths())

    info = graphc_cli("cache", "info", cache_dir=tmp_path)
    assert info.returncode == 0, info.stderr
    assert f"location: {tmp_path}" in info.stdout
    assert "entries: 2" in info.stdout
    assert f"size: {size / 1024:.3g} KiB" in info.stdout

    cleared = graphc_cli("cache", "clear", cache_dir=tmp_path)
    assert cleared.returncode == 0, cleared.stderr
    assert "removed 2 entries" in cleared.stdout
    assert store.entry_paths() == []
    assert (tmp_path / "notes.txt").exists()
    assert "entries: 0" in graphc_cli("cache", "info", cache_dir=tmp_path).stdout


def test_graphc_dump_code_prints_the_kernel_program_and_llvm_ir(capsys, monkeypatch):
    from graphc.cli import main
    monkeypatch.chdir(ROOT)
    status = main(["dump", "tests/cli_fixtures/models.py:mlp", "--arg", "f32[2,3]",
                   "--arg", "f32[4,3]", "--arg", "f32[4]", "--stage", "optimized",
                   "--backend", "llvm", "--code"])
    out = capsys.readouterr().out
    assert status == 0
    graph_text, code = out.split("\n\n; code generated by backend llvm\n")
    assert graph_text.startswith("func @mlp(")
    assert code.startswith("kernel program @mlp(")
    assert "; LLVM IR of the kernels" in code and "define void @" in code


# -- a warm cache in a new process ---------------------------------------------------------------
MLP_STEP = textwrap.dedent('''
    import numpy as np
    import graphc
    graphc.manual_seed(0)
    model = graphc.nn.Sequential(graphc.nn.Linear(20, 32), graphc.nn.ReLU(),
                                 graphc.nn.Linear(32, 4))
    opt = graphc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        loss = graphc.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    rng = np.random.default_rng(0)
    x = graphc.tensor(rng.standard_normal((16, 20)).astype(np.float32))
    y = graphc.tensor(rng.integers(0, 4, size=16))
    compiled = graphc.compile(step, backend="llvm")
    losses = [float(compiled(x, y).numpy()) for _ in range(2)]
    (entry,) = compiled.entries
    info = entry.executable.compile_info
    print(info.source, int("codegen" in info.seconds), *losses)
    print(compiled.explain())
''')


def test_a_new_process_with_a_warm_cache_skips_codegen_for_the_mlp_step(tmp_path):
    env = {**os.environ, "GRAPHC_CACHE_DIR": str(tmp_path)}
    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", MLP_STEP], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        runs.append(done.stdout.splitlines())
    (cold, *_), (warm, *warm_explain) = runs
    cold_source, cold_codegen, *cold_losses = cold.split()
    warm_source, warm_codegen, *warm_losses = warm.split()
    assert (cold_source, cold_codegen) == ("fresh", "1")
    assert (warm_source, warm_codegen) == ("disk", "0")
    assert warm_losses == cold_losses  # the same machine code: the same bits
    assert float(warm_losses[1]) < float(warm_losses[0])  # it trains
    assert any("code: from the disk cache" in line for line in warm_explain)
