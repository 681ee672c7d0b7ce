"""What graphc.profiler costs when it records: an MLP 784-512-512-10 training step (batch 64,
SGD) compiled with the llvm backend, per step, with and without a profiler recording, in
alternated rounds (one thread, CPU time of the calling thread, medians); then the profiler's
table of the last profiled round. The cost when no profiler records is in call_overhead.py.

    python benchmarks/profiler_overhead.py [--steps 10] [--rounds 15]
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
from graphc import nn  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    graphc.set_num_threads(1)
    graphc.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                          nn.Linear(512, 10))
    optimizer = graphc.optim.SGD(model.parameters(), lr=0.01)

    @graphc.compile(backend="llvm")
    def step(x, y):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss
    x, y = graphc.randn(64, 784), graphc.randint(0, 10, (64,))
    for _ in range(5):
        step(x, y)
    with graphc.profiler.profile():
        step(x, y)  # the first profiled call prepares the kernel-by-kernel runners
    times: dict[str, list[float]] = {"off": [], "on": []}
    prof = None
    for round_ in range(args.rounds):
        for mode in ("off", "on") if round_ % 2 else ("on", "off"):
            profiler = graphc.profiler.profile() if mode == "on" else None
            if profiler is not None:
                profiler.start()
            start = time.thread_time()
            for _ in range(args.steps):
                step(x, y)
            times[mode].append((time.thread_time() - start) / args.steps)
            if profiler is not None:
                profiler.stop()
                prof = profiler
    off, on = statistics.median(times["off"]), statistics.median(times["on"])
    print(f"MLP 784-512-512-10 step, batch 64, llvm, one thread, median of {args.rounds} "
          f"rounds of {args.steps} steps, CPU ms/step")
    print(f"no profiler {off * 1e3:.3f}, profiler recording {on * 1e3:.3f} ({on / off:.2f}x)")
    assert prof is not None
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
