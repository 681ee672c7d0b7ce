"""PyTorch's official example programs, run unchanged but for their import lines and data sets.

``examples/pytorch/`` holds ten programs of https://github.com/pytorch/examples (mnist, vae,
word_language_model, time_sequence_prediction, regression, mnist_rnn, siamese_network, dcgan,
mnist_forward_forward, gcn) with ``import torch`` turned into ``import graphc as torch`` and
their downloads replaced by offline data (scikit-learn's digits as MNIST, a synthetic Cora, text
that ships with Python, the sine waves the program's own generator would write). Each runs here
as a user runs it, in its own process, for a few steps, and must train: its printed loss falls.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = ROOT / "examples" / "pytorch"

def run_program(script: Path, args: list[str], cwd: Path, timeout: float = 600,
                mnist_limit: int = 0) -> str:
    """Runs ``script`` as ``python script args`` in ``cwd`` and returns its output
    (``mnist_limit``: how many images of each split the offline MNIST serves; 0, all)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(PROGRAMS), str(ROOT), os.environ.get("PYTHONPATH", "")]), MPLBACKEND="Agg",
        OFFLINE_MNIST_LIMIT=str(mnist_limit or ""))
    result = subprocess.run([sys.executable, str(script), *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (
        f"{script.name} {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result.stdout


def numbers_after(label: str, output: str) -> list[float]:
    return [float(x) for x in re.findall(label + r"\s*([-+0-9.eE]+)", output)]


def assert_falls(losses: list[float], what: str) -> None:
    """The loss at the end is below the loss at the start: the program trained."""
    assert len(losses) >= 2, f"{what}: too few losses printed: {losses}"
    assert np.isfinite(losses).all(), f"{what}: non-finite loss: {losses}"
    head, tail = np.mean(losses[: max(1, len(losses) // 4)]), np.mean(losses[-max(1, len(losses) // 4):])
    assert tail < head, f"{what}: loss did not fall: {losses}"


def test_mnist_trains(tmp_path):
    # 12 steps of 64, each logged: Adadelta at lr=1 is noisy step to step, so the quarters
    # assert_falls compares are three losses each, not one
    out = run_program(PROGRAMS / "mnist.py", ["--epochs", "1", "--log-interval", "1"], tmp_path,
                      mnist_limit=768)
    assert_falls(numbers_after(r"Loss:", out), "mnist")
    assert "Test set: Average loss" in out


def test_mnist_rnn_trains(tmp_path):
    out = run_program(PROGRAMS / "mnist_rnn.py", ["--epochs", "1", "--log-interval", "4"],
                      tmp_path)
    assert_falls(numbers_after(r"Loss:", out), "mnist_rnn")


def test_vae_trains_and_writes_its_pictures(tmp_path):
    (tmp_path / "results").mkdir()
    out = run_program(PROGRAMS / "vae.py", ["--epochs", "2", "--log-interval", "4"], tmp_path)
    assert_falls(numbers_after(r"Average loss:", out), "vae")
    assert (tmp_path / "results" / "sample_2.png").read_bytes().startswith(b"\x89PNG")


def test_regression_fits_its_polynomial(tmp_path):
    out = run_program(PROGRAMS / "regression.py", [], tmp_path)
    loss = numbers_after(r"Loss:", out)
    assert loss and loss[0] < 1e-3, out


def test_siamese_network_trains(tmp_path):
    # ResNet-18 twice per pair: 12 steps of 16 pairs, and a test pass over 192 pairs. The
    # program draws its pairs with Python's unseeded `random` and starts with Adadelta at lr=1,
    # so a 12-step loss curve is too noisy to test for a fall (seen: 0.87 5.43 1.18 0.65 0.70
    # 0.94); that it trains right is checked step by step against eager, in float64, by
    # tests/test_pytorch_examples_compiled.py
    out = run_program(PROGRAMS / "siamese_network.py",
                      ["--epochs", "1", "--batch-size", "16", "--log-interval", "2"], tmp_path,
                      mnist_limit=192)
    losses = numbers_after(r"Loss:", out)
    assert len(losses) == 6 and np.isfinite(losses).all(), out
    assert numbers_after(r"Accuracy:", out), out


def test_dcgan_runs_a_training_cycle(tmp_path):
    out = run_program(PROGRAMS / "dcgan.py", ["--dataset", "mnist", "--dataroot", str(tmp_path),
                                              "--dry-run", "--batchSize", "16", "--workers", "0",
                                              "--manualSeed", "1", "--outf", str(tmp_path)],
                      tmp_path)
    assert numbers_after(r"Loss_D:", out) and numbers_after(r"Loss_G:", out)
    assert (tmp_path / "netG_epoch_0.pth").exists()


def test_mnist_forward_forward_trains(tmp_path):
    out = run_program(PROGRAMS / "mnist_forward_forward.py",
                      ["--epochs", "40", "--log-interval", "5", "--train_size", "500",
                       "--test_size", "200"], tmp_path)
    assert_falls(numbers_after(r"Loss:", out)[:8], "mnist_forward_forward, first layer")
    error = numbers_after(r"train error:", out)
    assert error and error[0] < 0.9


def test_gcn_trains(tmp_path):
    out = run_program(PROGRAMS / "gcn.py", ["--epochs", "40", "--val-every", "5"], tmp_path)
    assert_falls(numbers_after(r"loss_train:", out), "gcn")


@pytest.mark.parametrize("model,lr", [("LSTM", "20"), ("Transformer", "5")])  # the README's lrs
def test_word_language_model_trains(tmp_path, model, lr):
    sys.path.insert(0, str(PROGRAMS))
    try:
        from offline_text import write_corpus
    finally:
        sys.path.remove(str(PROGRAMS))
    write_corpus(str(tmp_path / "text"))
    out = run_program(PROGRAMS / "word_language_model" / "main.py",
                      ["--data", str(tmp_path / "text"), "--model", model, "--lr", lr, "--epochs", "2",
                       "--log-interval", "4", "--emsize", "64", "--nhid", "64",
                       "--save", str(tmp_path / "model.pt")], tmp_path)
    assert_falls(numbers_after(r"valid loss", out), f"word_language_model {model}")
    assert numbers_after(r"test loss", out)


def test_time_sequence_prediction_trains(tmp_path):
    # the program's own data generator writes 100 sine waves of 1000 steps; a smaller set (same
    # formula, 20 waves of 60 steps) keeps the test short: LBFGS runs the LSTM over every step
    # 20 times
    import graphc
    rng = np.random.RandomState(2)
    t, length, n = 20, 60, 20
    x = np.empty((n, length), "int64")
    x[:] = np.array(range(length)) + rng.randint(-4 * t, 4 * t, n).reshape(n, 1)
    graphc.save(np.sin(x / 1.0 / t).astype("float64"), str(tmp_path / "traindata.pt"))
    out = run_program(PROGRAMS / "time_sequence_prediction" / "train.py", ["--steps", "1"],
                      tmp_path)
    assert_falls(numbers_after(r"(?m)^loss:", out), "time_sequence_prediction")  # LBFGS's evals
    assert (tmp_path / "predict0.pdf").exists()
