"""graphc's cuda backend against PyTorch on CUDA, on a real GPU: an elementwise chain and an MLP
training step (784-256-10, batch 128, SGD with momentum), milliseconds per call, medians of
repeats, every call synchronized. Prints plainly that there is no GPU when there is none (the
simulator is no place for timings).

    python benchmarks/gpu.py [--repeats 20] [--size 4194304]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import graphc

BATCH, IN, HIDDEN, OUT = 128, 784, 256, 10


def median_ms(fn, synchronize, repeats: int, calls: int = 10) -> float:
    """Median over ``repeats`` of the mean time of ``calls`` synchronized calls, in ms."""
    for _ in range(3):
        fn()
    synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        synchronize()
        times.append((time.perf_counter() - start) / calls * 1e3)
    return statistics.median(times)


def chain(t, lib):
    return lib.tanh(t * 2.0 + 1.0).relu() * t - 0.5


def graphc_contenders(size: int, data) -> dict:
    x = graphc.tensor(np.random.default_rng(0).standard_normal(size).astype(np.float32),
                      device="cuda")
    elementwise = graphc.compile(lambda t: chain(t, graphc), backend="cuda")
    eager = lambda: chain(x, graphc)  # noqa: E731  (one cached kernel per op)
    graphc.manual_seed(0)
    model = graphc.nn.Sequential(graphc.nn.Linear(IN, HIDDEN), graphc.nn.ReLU(),
                                 graphc.nn.Linear(HIDDEN, OUT)).cuda()
    opt = graphc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xs, ys = (graphc.tensor(a, device="cuda") for a in data)

    def step(x, y):
        opt.zero_grad()
        loss = graphc.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    start = time.perf_counter()
    train = graphc.compile(step, backend="cuda")
    train(xs, ys)
    graphc.cuda.synchronize()
    print(f"graphc MLP step: trace + compile + first call {time.perf_counter() - start:.2f} s")
    return {"elementwise chain": {"graphc.compile(cuda)": lambda: elementwise(x),
                                  "graphc eager on cuda": eager},
            "MLP train step": {"graphc.compile(cuda)": lambda: train(xs, ys)}}


def torch_contenders(size: int, data) -> dict:
    import torch
    x = torch.from_numpy(np.random.default_rng(0).standard_normal(size).astype(np.float32)).cuda()
    compiled = None
    try:
        compiled = torch.compile(lambda t: chain(t, torch))
        compiled(x)
    except Exception as exc:  # noqa: BLE001  (no compiler toolchain: leave torch.compile out)
        print(f"torch.compile unavailable: {exc}")
        compiled = None
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(IN, HIDDEN), torch.nn.ReLU(),
                                torch.nn.Linear(HIDDEN, OUT)).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xs, ys = (torch.from_numpy(a).cuda() for a in data)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xs), ys)
        loss.backward()
        opt.step()
        return loss

    found = {"elementwise chain": {"torch eager": lambda: chain(x, torch)},
             "MLP train step": {"torch eager": step}}
    if compiled is not None:
        found["elementwise chain"]["torch.compile"] = lambda: compiled(x)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--size", type=int, default=1 << 22, help="elements of the chain")
    args = parser.parse_args()
    if graphc.cuda.is_simulated():
        print("No GPU: NUMBA_ENABLE_CUDASIM is on, and the simulator is no place for timings. "
              "Run this on a machine with a CUDA GPU.")
        return
    if not graphc.cuda.is_available():
        print("No GPU: CUDA is not available here (no CUDA GPU or driver, or numba-cuda missing); "
              "nothing to measure. Run this on a machine with a CUDA GPU.")
        return
    rng = np.random.default_rng(0)
    data = (rng.standard_normal((BATCH, IN)).astype(np.float32),
            rng.integers(0, OUT, size=BATCH).astype(np.int64))
    results = graphc_contenders(args.size, data)
    try:
        import torch
        if torch.cuda.is_available():
            for workload, found in torch_contenders(args.size, data).items():
                results[workload].update(found)
            torch_sync = torch.cuda.synchronize
        else:
            print("torch is installed without CUDA: graphc alone")
            torch_sync = None
    except ImportError:
        print("torch is not installed: graphc alone")
        torch_sync = None
    print(f"elementwise chain on {args.size} float32 values; MLP {IN}-{HIDDEN}-{OUT}, batch "
          f"{BATCH}; median of {args.repeats} repeats")
    for workload, found in results.items():
        print(f"\n{workload}")
        times = {}
        for name, fn in found.items():
            sync = torch_sync if name.startswith("torch") else graphc.cuda.synchronize
            times[name] = median_ms(fn, sync, args.repeats)
        fastest = min(times.values())
        for name, ms in times.items():
            print(f"  {name:28s} {ms:9.3f} ms  {ms / fastest:6.2f}x the fastest")


if __name__ == "__main__":
    main()
