"""The backend ``graphc.compile`` and the CLI use when none is named (``backends/default.py``).

The contract: llvm where llvmlite can generate code for this machine (probed once per process,
at the first compile, never at import), else the interpreter; ``explain()`` says which and why;
``GRAPHC_BACKEND`` overrides the default; an explicit ``backend=`` overrides everything.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import backends
import graphc
from backends import default
from graphc.cli import chosen_backend
from graphc.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def no_backend_override(monkeypatch):
    """Each test sees the machine's own default, whatever the environment running the suite
    asks for."""
    monkeypatch.delenv(default.ENVIRONMENT_VARIABLE, raising=False)


@pytest.fixture
def llvm_unavailable(monkeypatch):
    reason = "llvmlite cannot be imported (No module named 'llvmlite')"
    monkeypatch.setattr(default, "llvm_unavailable_reason", lambda: reason)
    return reason


def relu_2x_plus_1(x):
    return graphc.relu(2 * x + 1)


def test_llvm_can_generate_code_on_the_machine_running_the_suite():
    # the dependencies declare llvmlite: a machine running the suite has it, so the default
    # must be llvm here; a failure prints what the probe found
    assert default.llvm_unavailable_reason() is None


def test_compile_without_a_backend_uses_llvm_and_explain_says_it_is_the_default():
    f = graphc.compile(relu_2x_plus_1)
    x = np.array([-2.0, -0.5, 0.0, 3.0], np.float32)
    assert np.array_equal(f(graphc.tensor(x)).numpy(), np.maximum(2 * x + 1, 0))
    assert f.backend == "llvm"
    assert f.explain().splitlines()[0].startswith(
        "compiled function 'relu_2x_plus_1', backend llvm (default): 1 cache entry")
    assert "code: freshly compiled" in f.explain() or "code: from the" in f.explain()


def test_compile_falls_back_to_the_interpreter_and_explain_says_why_llvm_is_unavailable(
        llvm_unavailable):
    f = graphc.compile(relu_2x_plus_1)
    x = np.array([-2.0, 0.25], np.float32)
    assert np.array_equal(f(graphc.tensor(x)).numpy(), np.array([0.0, 1.5], np.float32))
    assert f.backend == "interpreter"
    assert (f"backend interpreter (default: llvm unavailable: {llvm_unavailable})"
            in f.explain().splitlines()[0])


def test_an_explicit_backend_is_used_even_where_the_default_would_differ(llvm_unavailable):
    f = graphc.compile(relu_2x_plus_1, backend="llvm")
    f(graphc.ones(3))
    assert f.backend == "llvm"
    assert f.explain().splitlines()[0].startswith("compiled function 'relu_2x_plus_1', "
                                                  "backend llvm: ")


def test_graphc_backend_environment_variable_overrides_the_default(monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "interpreter")
    f = graphc.compile(relu_2x_plus_1)
    assert np.array_equal(f(graphc.tensor([-1.0, 1.0])).numpy(), np.array([0.0, 3.0], np.float32))
    assert f.backend == "interpreter"
    assert "backend interpreter (GRAPHC_BACKEND): " in f.explain().splitlines()[0]


def test_graphc_backend_naming_no_backend_is_an_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv("GRAPHC_BACKEND", "llvmm")
    f = graphc.compile(relu_2x_plus_1)
    with pytest.raises(backends.BackendError, match=r"GRAPHC_BACKEND='llvmm' names no backend; "
                                                    r"registered: .*interpreter.*llvm"):
        f(graphc.ones(2))


def test_an_unknown_explicit_backend_still_fails_when_compile_is_called():
    with pytest.raises(backends.BackendError, match="llvmm"):
        graphc.compile(relu_2x_plus_1, backend="llvmm")


def test_the_default_is_chosen_per_compiled_function_at_its_first_compile(monkeypatch):
    f = graphc.compile(relu_2x_plus_1)  # nothing chosen yet: the environment can still change
    monkeypatch.setenv("GRAPHC_BACKEND", "interpreter")
    f(graphc.ones(2))
    monkeypatch.delenv("GRAPHC_BACKEND")
    f(graphc.ones(3))  # a second entry of the same function keeps the backend chosen first
    assert f.backend == "interpreter"
    assert [type(e.executable).__module__ for e in f.entries] == ["backends.interpreter"] * 2


def test_probe_says_llvmlite_cannot_be_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "backends.llvm.jit", None)  # makes the import fail
    reason = default.llvm_unavailable_reason.__wrapped__()
    assert reason is not None and reason.startswith("llvmlite cannot be imported")


def test_probe_says_llvmlite_cannot_generate_code_for_the_machine(monkeypatch):
    from backends.llvm import jit

    def no_target(*_args, **_kwargs):
        raise RuntimeError("No available targets are compatible with triple 'toaster-unknown'")

    monkeypatch.setattr(jit, "compile_module", no_target)
    reason = default.llvm_unavailable_reason.__wrapped__()
    assert reason == ("llvmlite cannot generate code for this machine (RuntimeError: No "
                      "available targets are compatible with triple 'toaster-unknown')")


def test_probe_runs_once_per_process():
    assert default.llvm_unavailable_reason() is default.llvm_unavailable_reason()
    assert default.llvm_unavailable_reason.cache_info().misses <= 1


def test_importing_graphc_and_decorating_a_function_do_not_load_llvmlite():
    code = ("import sys, graphc\n"
            "f = graphc.compile(lambda x: x + 1)\n"
            "assert 'llvmlite' not in sys.modules, 'loaded before the first compile'\n"
            "f(graphc.ones(2))\n"
            "assert 'llvmlite' in sys.modules, 'the first compile should probe llvm'\n"
            "print(f.explain().splitlines()[0])\n")
    env = {k: v for k, v in os.environ.items() if k != "GRAPHC_BACKEND"}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "backend llvm (default)" in result.stdout


def cli_arguments(backend=None) -> argparse.Namespace:
    return argparse.Namespace(backend=backend)


def test_cli_backend_option_defaults_to_the_default_backend(llvm_unavailable):
    assert chosen_backend(cli_arguments()).name == "interpreter"
    assert chosen_backend(cli_arguments("llvm")).name == "llvm"


def test_cli_dump_code_uses_the_default_backend_when_none_is_named(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    status = cli_main(["dump", "tests/cli_fixtures/models.py:mlp", "--arg", "f32[4,8]",
                       "--arg", "f32[16,8]", "--arg", "f32[16]", "--stage", "optimized",
                       "--code"])
    out = capsys.readouterr().out
    assert status == 0
    assert "; code generated by backend llvm\n" in out
    assert "fused" in out  # the llvm backend's lowering ran
    monkeypatch.setenv("GRAPHC_BACKEND", "interpreter")
    assert cli_main(["dump", "tests/cli_fixtures/models.py:mlp", "--arg", "f32[4,8]", "--arg",
                     "f32[16,8]", "--arg", "f32[16]", "--stage", "optimized", "--code"]) == 0
    assert "; code generated by backend interpreter\n" in capsys.readouterr().out
