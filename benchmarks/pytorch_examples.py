"""PyTorch's example programs (``examples/pytorch/``) on graphc and on PyTorch, same weights.

For each program whose model classes import without running it, the program's source is loaded
twice: as ported (``import graphc as torch``) and with its import lines turned back into
PyTorch's. The two models get the same weights (graphc's ``state_dict`` copied into torch's by
name), then run the same training steps on the same batches, dropout off, one thread each: the
losses and final parameters must agree (float32, ``rtol=1e-4``), and the time per step of graphc
eager, graphc with the model compiled, and torch eager is reported side by side (medians).

    python benchmarks/pytorch_examples.py [--steps 5]
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
import types
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = ROOT / "examples" / "pytorch"
sys.path[:0] = [str(ROOT), str(PROGRAMS)]

import graphc  # noqa: E402

# the ported programs' import lines, mapped back to PyTorch's
TO_TORCH = [(r"^import graphc as torch$", "import torch"),
            (r"^import graphc\.", "import torch."),
            (r"^from graphc\.", "from torch."),
            (r"^from graphc import", "from torch import"),
            (r"^import offline_torchvision.*$", ""),
            (r"^from offline_torchvision.*$", ""),
            (r"^from offline_cora.*$", "")]


def load(relative: str, torch_version: bool) -> types.ModuleType:
    source = (PROGRAMS / relative).read_text()
    if torch_version:
        for pattern, replacement in TO_TORCH:
            source = re.sub(pattern, replacement, source, flags=re.M)
        source = source.replace("torchvision.models.resnet18", "__resnet18__")
    module = types.ModuleType(relative.replace("/", "_").removesuffix(".py"))
    module.__file__ = str(PROGRAMS / relative)
    saved = sys.argv
    sys.argv = [relative]
    try:
        exec(compile(source, str(PROGRAMS / relative), "exec"), module.__dict__)
    finally:
        sys.argv = saved
    return module


def no_dropout(model):
    for m in model.modules():
        if "Dropout" in type(m).__name__:
            m.p = 0.0
        if isinstance(getattr(m, "dropout", None), float):  # MultiheadAttention's
            m.dropout = 0.0
    return model


def copy_weights(graphc_model, torch_model, torch) -> None:
    state = {k: torch.from_numpy(np.array(v.numpy())) for k, v in graphc_model.state_dict().items()}
    torch_model.load_state_dict(state)


def batches(n: int, size: int):
    from offline_torchvision import datasets, transforms
    data = datasets.MNIST(train=True, transform=transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))]))
    images = np.stack([data[i][0].numpy() for i in range(n * size)])
    labels = data.targets.numpy()[: n * size]
    return [(images[i * size:(i + 1) * size], labels[i * size:(i + 1) * size]) for i in range(n)]


def train(lib, model, optimizer, loss_fn, data, compiled=False):
    runner = graphc.compile(model) if compiled else model
    losses, times = [], []
    for x, y in data:
        x, y = lib.from_numpy(x), lib.from_numpy(y)
        start = time.perf_counter()
        optimizer.zero_grad()
        loss = loss_fn(runner(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        times.append(time.perf_counter() - start)
    return losses, times


def compare(name: str, relative: str, make_model, make_optimizer, loss_name: str, steps: int):
    import torch
    torch.set_num_threads(1)
    ours, theirs = load(relative, False), load(relative, True)
    data = batches(steps, 32)
    graphc.manual_seed(0)
    reference = no_dropout(make_model(ours))
    rows = {}
    for label, lib, module, compiled in (("graphc eager", graphc, ours, False),
                                         ("graphc compiled", graphc, ours, True),
                                         ("torch eager", torch, theirs, False)):
        model = no_dropout(make_model(module))
        if lib is torch:
            copy_weights(reference, model, torch)
        else:
            model.load_state_dict(reference.state_dict())
        optimizer = make_optimizer(module, model)
        loss_fn = getattr(module.F, loss_name)
        rows[label] = (train(lib, model, optimizer, loss_fn, data, compiled), model)
    torch_losses = rows["torch eager"][0][0]
    print(f"\n{name}: {steps} steps of batch 32, one thread each")
    torch_median = float(np.median(rows["torch eager"][0][1][1:]))
    for label, ((losses, times), _model) in rows.items():
        diff = np.max(np.abs(np.array(losses) - torch_losses) / np.maximum(1e-6, np.abs(torch_losses)))
        median = float(np.median(times[1:]))
        print(f"  {label:16s} median step {median * 1e3:8.2f} ms  ({median / torch_median:5.2f}x torch)"
              f"  max rel. loss difference vs torch {diff:.1e}")
        assert diff < 1e-4, f"{name} {label}: losses differ from torch: {losses} vs {torch_losses}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    steps = parser.parse_args().steps
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.exit("PyTorch is not installed: pip install torch==2.13.0")
    compare("mnist", "mnist.py", lambda m: m.Net(),
            lambda m, model: m.optim.Adadelta(model.parameters(), lr=1.0), "nll_loss", steps)
    compare("mnist_rnn", "mnist_rnn.py", lambda m: m.Net(),
            lambda m, model: m.optim.Adadelta(model.parameters(), lr=1.0), "nll_loss", steps)


if __name__ == "__main__":
    main()
