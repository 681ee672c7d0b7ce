"""The command lines the docs show work as shown, so they cannot drift from the code.

The README's command-line section and the examples at the end of ``graphc --help`` are run by
bash, line continuations and quoting included, in a temporary directory that holds a copy of
``examples/`` (the commands are written for the repository root). ``graphc`` there is
``python -m graphc`` on this checkout. Docstring examples are run by pytest's doctest collection.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ir
import passes
from graphc.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


def readme_command_line_section() -> str:
    """The fenced ``bash`` blocks of the README's "## Command line" section, joined."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Command line\n(.*?)(?=^## |\Z)", readme, re.DOTALL | re.MULTILINE)
    assert match, "README.md has no '## Command line' section"
    blocks = re.findall(r"^```bash\n(.*?)^```", match.group(1), re.DOTALL | re.MULTILINE)
    return "\n".join(blocks)


def help_examples() -> str:
    """The example commands at the end of ``graphc --help``, as the user sees them."""
    result = subprocess.run([sys.executable, "-m", "graphc", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    match = re.search(r"^examples[^\n]*:\n((?:  [^\n]*\n)+)", result.stdout, re.MULTILINE)
    assert match, f"no examples in graphc --help:\n{result.stdout}"
    return textwrap.dedent(match.group(1))


def run_in_bash(script: str, tmp_path: Path) -> subprocess.CompletedProcess:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    # `python` is the Python graphc is installed in (with its dependencies), as for a user
    prelude = ('set -euo pipefail\ngraphc() { "$GRAPHC_PYTHON" -m graphc "$@"; }\n'
               'python() { "$GRAPHC_PYTHON" "$@"; }\n')
    env = dict(os.environ, GRAPHC_PYTHON=sys.executable,
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run(["bash", "-c", prelude + script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def commands(script: str) -> list[str]:
    """The subcommand of each ``graphc`` command in ``script``."""
    return re.findall(r"^graphc (\w+)", script, re.MULTILINE)


def assert_gradient_graph(path: Path) -> None:
    """The quickstart MLP differentiated with a cotangent: one more input, and the gradient
    of each of its five inputs as outputs after the original one."""
    graph = ir.parse(path.read_text(encoding="utf-8"), str(path))
    ir.verify(graph)
    assert [v.name for v in graph.inputs] == ["x", "w1", "b1", "w2", "b2", "d_out"]
    assert [str(v.type) for v in graph.outputs] == [
        "f32[32,10]", "f32[32,784]", "f32[128,784]", "f32[128]", "f32[10,128]", "f32[10]"]


def test_readme_command_line_section_runs_as_shown(tmp_path):
    script = readme_command_line_section()
    assert {"dump", "run", "opt"} <= set(commands(script)), script
    result = run_in_bash(script, tmp_path)
    assert result.returncode == 0, f"{script}\nfailed:\n{result.stderr}"
    assert "graphc: error" not in result.stderr
    assert (tmp_path / "outputs.npz").exists()
    assert_gradient_graph(tmp_path / "model_with_grads.gir")


def test_help_examples_run_as_shown(tmp_path):
    script = help_examples()
    assert {"dump", "run", "opt"} <= set(commands(script)), script
    result = run_in_bash(script, tmp_path)
    assert result.returncode == 0, f"{script}\nfailed:\n{result.stderr}"
    assert_gradient_graph(tmp_path / "grads.gir")
    assert re.search(r'loc\("[^"]*quickstart\.py":\d+\)', result.stdout)  # --debug-info


def pipeline_examples() -> list[tuple[str, str]]:
    """(option, pipeline) for every ``e.g. PIPELINE`` in the help of a -p/--passes option."""
    found = []
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for name, command in subparsers.items():
        for action in command._actions:
            if action.dest == "passes":
                for shown in re.findall(r"e\.g\. ('[^']*'|\S+)", action.help):
                    pipeline = shown.strip("'") if shown.startswith("'") else shown.rstrip(",;.)")
                    found.append((f"graphc {name} --passes", pipeline))
    return found


def test_help_texts_show_pipelines_of_existing_passes():
    examples = pipeline_examples()
    assert {option for option, _ in examples} == {"graphc dump --passes", "graphc opt --passes",
                                                  "graphc viz --passes"}
    for option, pipeline in examples:
        try:
            passes.parse_pipeline(pipeline)
        except passes.PassError as exc:
            pytest.fail(f"{option} help shows {pipeline!r}: {exc}")
