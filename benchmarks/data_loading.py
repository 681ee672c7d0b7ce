"""A compiled training step fed by a data set slower than the step: DataLoader with
num_workers=0 against num_workers=2 (persistent workers), side by side in one process.

A third contender loads with two worker threads (a dataset with ``releases_gil = True``).
The step is an MLP 784-2048-2048-10 training step (SGD, batch 64) compiled with graphc.compile.
Each sample of the data set costs ``--ratio`` times the step's time divided by the batch size,
so loading one batch in one process takes ``ratio`` steps: ``--kind sleep`` waits (I/O, as
reading files), ``--kind cpu`` computes (a CPU-heavy transform: a NumPy loop). Per epoch it
reports the wall time, the time in the steps and the fraction of the epoch spent waiting for
the next batch (``next(iterator)``), of the epoch of median length after the first (which
starts the workers); then the epoch time of the loaders alone, without the step.

    python benchmarks/data_loading.py [--kind sleep|cpu] [--ratio 1.5] [--epochs 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import graphc
from graphc import nn, optim
from graphc.data import DataLoader, Dataset

BATCH = 64
FEATURES = 784
# 2048 wide: a ~35 ms step, so a sample's share of 1.5 steps (~0.8 ms) is well above what
# time.sleep overshoots by (~0.06 ms a call here; with 512 wide that floor alone was a step)
HIDDEN = 2048


class SlowImages(Dataset):
    """``n`` random 784-float images with labels; every sample costs ``seconds``: slept
    (``kind="sleep"``) or spent computing (``kind="cpu"``)."""

    def __init__(self, n: int, seconds: float, kind: str):
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal((n, FEATURES)).astype(np.float32)
        self.y = rng.integers(0, 10, n)
        self.seconds, self.kind = seconds, kind

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        if self.kind == "sleep":
            time.sleep(self.seconds)
        else:
            deadline = time.thread_time() + self.seconds
            row = self.x[i]
            while time.thread_time() < deadline:  # a transform: busy on this core
                row = np.tanh(row * 0.5 + 0.1)
        return self.x[i], int(self.y[i])


class SlowImagesReleasingTheGil(SlowImages):
    """The same samples, loaded by worker threads (``releases_gil``): a sleep releases the
    GIL; the cpu transform only partly (NumPy releases it inside each tanh)."""
    releases_gil = True


def make_step():
    graphc.manual_seed(0)
    model = nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN),
                          nn.ReLU(), nn.Linear(HIDDEN, 10))
    opt = optim.SGD(model.parameters(), lr=0.01)

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def step_seconds(step, repeats: int = 30) -> float:
    rng = np.random.default_rng(1)
    x = graphc.from_numpy(rng.standard_normal((BATCH, FEATURES)).astype(np.float32))
    y = graphc.from_numpy(rng.integers(0, 10, BATCH))
    for _ in range(5):
        step(x, y)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step(x, y)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def batch_seconds(dataset, batches: int = 5) -> float:
    """Median seconds to load one batch in this process."""
    loader = DataLoader(dataset, BATCH)
    times, iterator = [], iter(loader)
    for _ in range(batches):
        start = time.perf_counter()
        next(iterator)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def epoch(loader, step) -> tuple[float, float]:
    """(wall seconds, seconds waiting for batches) of one pass over ``loader``."""
    waited = 0.0
    start = time.perf_counter()
    iterator = iter(loader)
    while True:
        asked = time.perf_counter()
        try:
            x, y = next(iterator)
        except StopIteration:
            break
        waited += time.perf_counter() - asked
        step(x, y)
    return time.perf_counter() - start, waited


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=["sleep", "cpu"], default="sleep")
    parser.add_argument("--ratio", type=float, default=1.5,
                        help="time to load a batch in one process / time of one step")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batches", type=int, default=40, help="batches per epoch")
    args = parser.parse_args()

    graphc.set_num_threads(1)
    step = make_step()
    per_step = step_seconds(step)
    dataset = SlowImages(args.batches * BATCH, args.ratio * per_step / BATCH, args.kind)
    for _ in range(3):  # a sleep overshoots: scale the cost to what a batch really takes
        dataset.seconds *= args.ratio * per_step / batch_seconds(dataset)
    per_batch = batch_seconds(dataset)
    threaded = SlowImagesReleasingTheGil(len(dataset), dataset.seconds, args.kind)
    print(f"step {per_step * 1e3:.2f} ms; data ({args.kind}): {per_batch * 1e3:.2f} ms per batch "
          f"in one process = {per_batch / per_step:.2f} steps; {args.batches} batches of {BATCH} "
          f"per epoch; medians of {args.epochs - 1} epochs after the first")
    loaders = {
        "num_workers=0": DataLoader(dataset, BATCH, shuffle=True, generator=0),
        "num_workers=2": DataLoader(dataset, BATCH, shuffle=True, generator=0, num_workers=2,
                                    persistent_workers=True),
        "2 threads": DataLoader(threaded, BATCH, shuffle=True, generator=0, num_workers=2,
                                persistent_workers=True),
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in loaders}
    for _ in range(args.epochs):  # alternate, so both see the same machine load
        for name, loader in loaders.items():
            results[name].append(epoch(loader, step))
    print(f"{'loader':<15} {'epoch (ms)':>11} {'steps (ms)':>11} {'waiting for data':>17}")
    medians = {}
    for name, runs in results.items():
        wall, waited = sorted(runs[1:])[(len(runs) - 2) // 2]  # the epoch of median length
        medians[name] = wall
        print(f"{name:<15} {wall * 1e3:>11.1f} {(wall - waited) * 1e3:>11.1f} "
              f"{waited / wall:>16.0%}")
    for name in ("num_workers=2", "2 threads"):
        print(f"{name} is {medians['num_workers=0'] / medians[name]:.2f}x faster per epoch "
              f"than num_workers=0")
    alone = {name: statistics.median(epoch(loader, lambda x, y: None)[0] for _ in range(3))
             for name, loader in loaders.items()}
    print("loading alone, no step: " + ", ".join(f"{name} {t * 1e3:.0f} ms per epoch"
                                                 for name, t in alone.items())
          + f" ({alone['num_workers=0'] / alone['num_workers=2']:.2f}x for num_workers=2)")


if __name__ == "__main__":
    main()
