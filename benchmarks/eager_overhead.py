"""What one eager op costs in graphc, in microseconds: the dispatch around NumPy, which on tensors
this small is nearly all of it. Ops on a 16x32 float32 tensor (``x + x``, ``x * 1.01`` with its
Python number, ``x.relu()``), a ``Linear(32, 64)`` forward, one eager training step of a small
MLP (32-64-10, cross entropy, backward, SGD), and tracing that step's loss (``graphc.trace``, the
front half of ``graphc.compile``'s compile time); torch eager alongside when it is installed.
Each figure is the median of ``--repeats`` timed loops, in the calling thread's CPU time (little
changed by other processes on a busy machine) and in wall time.

    python benchmarks/eager_overhead.py [--repeats 9] [--scale 1.0]

Compare two checkouts by running it in each, alternately (one process cannot hold both).
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

import graphc  # noqa: E402


def per_call(fn, calls: int, repeats: int) -> tuple[float, float]:
    """Median microseconds per call over ``repeats`` loops of ``calls``: CPU time, wall time."""
    for _ in range(max(calls // 10, 1)):
        fn()
    cpu, wall = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.thread_time()
        for _ in range(calls):
            fn()
        cpu.append((time.thread_time() - start_cpu) / calls * 1e6)
        wall.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(cpu), statistics.median(wall)


def graphc_cases() -> dict:
    graphc.manual_seed(0)
    x = graphc.randn(16, 32)
    linear = graphc.nn.Linear(32, 64)
    model = graphc.nn.Sequential(graphc.nn.Linear(32, 64), graphc.nn.ReLU(),
                                 graphc.nn.Linear(64, 10))
    opt = graphc.optim.SGD(model.parameters(), lr=0.01)
    target = graphc.randint(0, 10, (16,))

    def loss_of(inputs):
        return graphc.nn.functional.cross_entropy(model(inputs), target)

    def step():
        opt.zero_grad()
        loss_of(x).backward()
        opt.step()

    return {"x + x": (lambda: x + x, 2000), "x * 1.01": (lambda: x * 1.01, 2000),
            "x.relu()": (lambda: x.relu(), 2000), "Linear forward": (lambda: linear(x), 1000),
            "MLP train step": (step, 200), "trace MLP loss": (lambda: graphc.trace(loss_of, x), 20)}


def torch_cases() -> dict:
    try:
        import torch
    except ImportError:
        return {}
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.randn(16, 32)
    linear = torch.nn.Linear(32, 64)
    model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    target = torch.randint(0, 10, (16,))

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), target).backward()
        opt.step()

    return {"x + x": (lambda: x + x, 2000), "x * 1.01": (lambda: x * 1.01, 2000),
            "x.relu()": (lambda: x.relu(), 2000), "Linear forward": (lambda: linear(x), 1000),
            "MLP train step": (step, 200)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the loop lengths")
    args = parser.parse_args(argv)
    ours, theirs = graphc_cases(), torch_cases()
    print(f"{'case':16s} {'graphc cpu us':>14s} {'wall us':>9s} {'torch cpu us':>13s}")
    for name, (fn, calls) in ours.items():
        calls = max(int(calls * args.scale), 1)
        cpu, wall = per_call(fn, calls, args.repeats)
        torch_cpu = ""
        if name in theirs:
            torch_fn, _ = theirs[name]
            torch_cpu = f"{per_call(torch_fn, calls, args.repeats)[0]:13.2f}"
        print(f"{name:16s} {cpu:14.2f} {wall:9.2f} {torch_cpu:>13s}")


if __name__ == "__main__":
    main()
