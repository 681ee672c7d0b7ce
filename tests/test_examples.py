"""The repository's own training examples, run small as users run them, and their pictures.

``examples/char_lstm.py`` runs in a subprocess whose stderr is a pipe (as under CI or
``2>log``): its progress must be one line per epoch with no carriage return, and its plot a PNG
in the current directory. ``examples/digits_classifier.py`` runs in this process (it imports
scikit-learn and matplotlib, which the suite has loaded already; pytest's captured stderr is
not a terminal either): its printed metrics must hold. The helpers of ``examples/_common.py``
are checked directly for what a run cannot show cheaply (a terminal, a missing matplotlib).
``docs/examples.md``'s commands must draw the same graphs as ``docs/make_pictures.py``, and
every picture it shows must exist.
"""
from __future__ import annotations

import importlib.util
import io
import os
import re
import runpy
import shlex
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_example(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Runs ``examples/<name>.py`` in ``cwd`` with stdout and stderr as pipes."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), *args], cwd=cwd,
                            env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{name} {args} failed:\n{result.stdout}\n{result.stderr}"
    return result


def assert_png(path: Path) -> None:
    """``path`` is a PNG image of a plausible plot size that matplotlib reads back."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG: starts with {data[:8]!r}"
    length, chunk, width, height = struct.unpack(">I4sII", data[8:24])
    assert chunk == b"IHDR" and length == 13
    assert 200 <= width <= 4000 and 200 <= height <= 4000, (width, height)
    import matplotlib.image
    assert matplotlib.image.imread(str(path)).shape[:2] == (height, width)


def epoch_lines(stderr: str, label: str) -> list[re.Match]:
    return list(re.finditer(rf"^{label} epoch (\d+)/(\d+): (.*) \((\d+) steps?, [\d.]+ s\)$",
                            stderr, re.MULTILINE))


@pytest.fixture
def examples_importable(monkeypatch):
    """``examples/`` first on sys.path, as for a script run from there; sys.path and the
    modules the examples and docs scripts import are restored afterwards."""
    monkeypatch.setattr(sys, "path", [str(EXAMPLES), *sys.path])
    for name in ("_common", "quickstart", "make_pictures"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    yield
    for name in ("_common", "quickstart", "make_pictures"):
        sys.modules.pop(name, None)


def test_digits_example_prints_equal_eager_and_compiled_metrics_one_line_per_epoch_and_a_png(
        tmp_path, monkeypatch, capsys, examples_importable):
    plot = tmp_path / "plots" / "digits.png"  # a folder that does not exist yet
    monkeypatch.setattr(sys, "argv", ["digits_classifier.py", "--epochs", "1",
                                      "--plot", str(plot)])
    runpy.run_path(str(EXAMPLES / "digits_classifier.py"), run_name="__main__")
    stdout, stderr = capsys.readouterr()

    accuracy = re.search(r"^test accuracy \(mlp\): eager ([\d.]+)%, compiled ([\d.]+)%$",
                         stdout, re.MULTILINE)
    assert accuracy, stdout
    assert accuracy[1] == accuracy[2]  # same weights, same data order, same steps
    assert float(accuracy[1]) > 50  # one epoch: far above chance (10%)
    drift = re.search(r"max \|loss eager - loss compiled\| over (\d+) steps: (\S+)$",
                      stdout, re.MULTILINE)
    assert drift and int(drift[1]) == 22 and float(drift[2]) < 1e-4, stdout

    assert "\r" not in stderr + stdout
    for label in ("eager", "compiled"):
        [line] = epoch_lines(stderr, label)
        assert line.group(1, 2, 4) == ("1", "1", "22")
        shown = re.fullmatch(r"loss=\d\.\d{4} test_acc=([\d.]+)%", line[3])
        assert shown, line[0]
        # the same accuracy, rounded to one decimal there and to two here (re-rounding 78.55
        # to one decimal gives 78.5, where the fraction itself gives 78.6)
        assert abs(float(shown[1]) - float(accuracy[1])) <= 0.05 + 1e-9, (line[0], accuracy[0])

    assert f"plot: {plot}" in stdout.splitlines()
    assert_png(plot)


def test_char_lstm_example_saves_its_plot_in_the_current_directory_by_default(tmp_path):
    result = run_example("char_lstm", "--steps", "7", "--steps-per-epoch", "3", "--seq", "4",
                         "--batch", "4", cwd=tmp_path)
    assert "\r" not in result.stderr + result.stdout
    lines = epoch_lines(result.stderr, "train")
    assert [(m[1], m[2], m[4]) for m in lines] == [("1", "3", "3"), ("2", "3", "3"),
                                                   ("3", "3", "1")]
    assert all(re.fullmatch(r"loss=\d\.\d{4}", m[3]) for m in lines), result.stderr
    final = re.search(r"final loss (\S+) \(uniform guess: (\S+)\)", result.stdout)
    assert final and float(final[1]) < float(final[2]), result.stdout  # it learned something
    assert f"plot: {tmp_path / 'char_lstm_curves.png'}" in result.stdout.splitlines()
    assert_png(tmp_path / "char_lstm_curves.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["char_lstm_curves.png"]


# -- the helpers of examples/_common.py ---------------------------------------------------------
@pytest.fixture
def common(examples_importable):
    import _common
    return _common


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run_progress(common, stream) -> None:
    progress = common.TrainingProgress("eager", [3, 2], stream=stream)
    for epoch in progress.epochs():
        for step in range(3 if epoch == 1 else 2):
            progress.step(loss=1.0 / (epoch + step))
        progress.report(loss=0.5 / epoch, test_acc=f"{80 + epoch}.0%")


def test_training_progress_draws_a_tqdm_bar_per_epoch_on_a_terminal(common):
    pytest.importorskip("tqdm")  # the examples run without it (lines instead of bars)
    stream = Terminal()
    run_progress(common, stream)
    text = stream.getvalue()
    assert "\r" in text  # redrawn in place
    finished = [line.rsplit("\r", 1)[-1] for line in text.split("\n") if line]
    assert len(finished) == 2
    assert finished[0].startswith("eager epoch 1/2: 100%") and "3/3" in finished[0]
    assert finished[0].endswith("loss=0.5000 test_acc=81.0%]")
    assert finished[1].startswith("eager epoch 2/2: 100%") and "2/2" in finished[1]
    assert finished[1].endswith("loss=0.2500 test_acc=82.0%]")


def test_training_progress_writes_one_plain_line_per_epoch_when_not_a_terminal(common):
    stream = io.StringIO()
    run_progress(common, stream)
    text = stream.getvalue()
    assert "\r" not in text
    assert [m[0].split(" (")[0] for m in epoch_lines(text, "eager")] == [
        "eager epoch 1/2: loss=0.5000 test_acc=81.0%",
        "eager epoch 2/2: loss=0.2500 test_acc=82.0%"]
    assert len(text.splitlines()) == 2


def test_training_progress_without_tqdm_writes_lines_on_a_terminal_too_and_says_why(
        common, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm: ImportError
    stream = Terminal()
    run_progress(common, stream)
    first, *lines = stream.getvalue().split("\n")
    assert first == "(progress bars need tqdm: pip install -e '.[examples]')"
    assert "\r" not in stream.getvalue() and len(epoch_lines("\n".join(lines), "eager")) == 2


def test_plot_options_default_to_the_current_directory_and_no_plot_saves_none(common, tmp_path,
                                                                               monkeypatch, capsys):
    import argparse
    parser = argparse.ArgumentParser()
    common.add_plot_options(parser, "demo")
    assert parser.parse_args([]).plot == "demo_curves.png"
    assert parser.parse_args(["--plot", "x/y.png"]).plot == "x/y.png"
    assert parser.parse_args(["--no-plot"]).plot is None
    with pytest.raises(SystemExit):
        parser.parse_args(["--plot", "a.png", "--no-plot"])  # one or the other
    monkeypatch.chdir(tmp_path)
    assert common.save_curves(None, "t", [("loss", {"a": ([1, 2], [3, 4])})]) is None
    assert list(tmp_path.iterdir()) == [] and capsys.readouterr().out == ""


def test_without_matplotlib_save_curves_draws_nothing_and_says_how_to_install_it(
        common, tmp_path, monkeypatch, capsys):
    for name in [n for n in sys.modules if n == "matplotlib" or n.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib: ImportError
    path = tmp_path / "curves.png"
    assert common.save_curves(str(path), "t", [("loss", {"a": ([1, 2], [3, 4])})]) is None
    assert not path.exists()
    out = capsys.readouterr().out
    assert "matplotlib is not installed" in out and "pip install -e '.[examples]'" in out


def test_save_curves_names_a_path_it_cannot_write(common, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SystemExit, match=r"cannot save the plot to '.*file/curves\.png'"):
        common.save_curves(str(blocker / "curves.png"), "t", [("loss", {"a": ([1], [2])})])


# -- docs/examples.md -------------------------------------------------------------------------
def test_docs_examples_commands_draw_the_graphs_make_pictures_draws(tmp_path, monkeypatch,
                                                                     capsys, examples_importable):
    from graphc.cli import main
    markdown = (ROOT / "docs" / "examples.md").read_text(encoding="utf-8")
    [commands] = re.findall(r"^```bash\n(.*?)^```", markdown, re.DOTALL | re.MULTILINE)
    (tmp_path / "examples").mkdir()
    shutil.copy(EXAMPLES / "quickstart.py", tmp_path / "examples")  # commands read it there
    monkeypatch.chdir(tmp_path)
    for command in commands.splitlines():
        # DOT text instead of SVG: the same graph, drawn without needing Graphviz
        words = shlex.split(command.replace(".svg", ".dot"))
        assert words[0] == "graphc" and main(words[1:]) == 0, command
    spec = importlib.util.spec_from_file_location("make_pictures", ROOT / "docs" / "make_pictures.py")
    assert spec is not None and spec.loader is not None
    make_pictures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_pictures)
    make_pictures.main(["--format", "dot", "--out", "pictures"])
    assert len(capsys.readouterr().out.splitlines()) == 3  # a line per picture written

    for name in ("quickstart_mlp_forward", "quickstart_mlp_forward_fused"):
        assert (tmp_path / f"{name}.dot").read_text() == (tmp_path / "pictures" / f"{name}.dot"
                                                          ).read_text(), name
    step = (tmp_path / "pictures" / "quickstart_mlp_training_step_fused.dot").read_text()
    assert step.count("subgraph \"cluster_") >= 5  # forward, backward and update kernels
    for name in ("%x", "%labels", "%w1", "%b1", "%w2", "%b2", "%lr"):
        assert f'label="{name}\\n' in step, name  # parameters named as in the code
    assert "aliases %w1" in step  # the SGD update writes w1 back


def test_every_picture_docs_examples_shows_exists():
    markdown = (ROOT / "docs" / "examples.md").read_text(encoding="utf-8")
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert len(pictures) == 4
    for picture in pictures:
        path = ROOT / "docs" / picture
        assert path.is_file(), picture
        if path.suffix == ".png":
            assert_png(path)
        else:
            assert path.read_text(encoding="utf-8").lstrip().startswith("<?xml")
