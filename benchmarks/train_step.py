"""Training-step benchmark: graphc eager vs graphc compiled (per backend) vs PyTorch eager.

Run: python benchmarks/train_step.py [--repeats N]

Every contender runs the same MLP (784-256-10, batch 128, SGD with momentum) for the same
number of steps in one process; we report the median step time over repeats, the ratio to
PyTorch (when installed) and graphc's trace + compile time. Results go into BENCHMARKS.md by hand.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np

import backends
import graphc
import graphc.nn.functional as F
from graphc import nn, optim

BATCH, IN, HIDDEN, OUT = 128, 784, 256, 10


def graphc_step(compiled: bool, backend: str = "interpreter"):
    graphc.manual_seed(0)
    model = nn.Sequential(nn.Linear(IN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, OUT))
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = graphc.compile(step, backend=backend) if compiled else step
    return lambda x, y: fn(graphc.from_numpy(x), graphc.from_numpy(y)).item(), fn


def torch_step():
    import torch
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = torch.nn.Sequential(torch.nn.Linear(IN, HIDDEN), torch.nn.ReLU(),
                                torch.nn.Linear(HIDDEN, OUT))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        opt.step()
        return loss.item()

    return step


def median_step_ms(step, data, repeats: int) -> float:
    step(*data[0])  # warm-up (and trace + compile)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for x, y in data:
            step(x, y)
        times.append((time.perf_counter() - start) / len(data) * 1e3)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    data = [(rng.normal(size=(BATCH, IN)).astype(np.float32),
             rng.integers(0, OUT, size=BATCH).astype(np.int64)) for _ in range(args.steps)]

    rows = []
    eager, _ = graphc_step(compiled=False)
    rows.append(("graphc eager", median_step_ms(eager, data, args.repeats), None))
    for backend in backends.available():
        step, compiled = graphc_step(compiled=True, backend=backend)
        start = time.perf_counter()
        step(*data[0])
        first = (time.perf_counter() - start) * 1e3
        rows.append((f"graphc compiled ({backend})", median_step_ms(step, data, args.repeats),
                     first))
    try:
        rows.append(("torch eager (1 thread)", median_step_ms(torch_step(), data, args.repeats),
                     None))
    except ImportError:
        print("(PyTorch not installed: pip install torch==2.13.0 to compare)")

    reference = rows[-1][1] if rows[-1][0].startswith("torch") else None
    print(f"MLP {IN}-{HIDDEN}-{OUT}, batch {BATCH}, SGD momentum; median of {args.repeats} "
          f"repeats x {args.steps} steps; {platform.processor() or platform.machine()}")
    print(f"{'contender':30} {'ms/step':>9} {'vs torch':>9} {'first call ms':>14}")
    for name, ms, first in rows:
        ratio = f"{ms / reference:.2f}x" if reference else "-"
        print(f"{name:30} {ms:9.3f} {ratio:>9} {first if first is None else round(first, 1)!s:>14}")


if __name__ == "__main__":
    main()
