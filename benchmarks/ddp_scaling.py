"""Data-parallel scaling over MPI: 1 process vs N processes (one thread each) training the
same MLP on the same global batch (strong scaling) with DistributedDataParallel, eagerly and
with the whole step compiled (the all-reduces inside the graph).

    python benchmarks/ddp_scaling.py [--processes 2] [--batch 256] [--steps 30] [--rounds 3]

Runs ``mpiexec -n 1`` and ``mpiexec -n N`` of this script in turn, ``--rounds`` times each
(alternating, so both see the same machine load), and prints per configuration the median
time per step, samples per second, the scaling efficiency ``t1 / (N * tN)`` (1.0: N processes
take 1/N of the time) and the bytes each rank all-reduces per step (every gradient once, in
DDP's buckets). Needs ``pip install -e .[distributed]``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np

import graphc


def worker(batch: int, steps: int, compiled: bool) -> None:
    """One rank: time ``steps`` DDP training steps on its share of a global batch."""
    import graphc.distributed as dist
    import graphc.nn.functional as F
    from graphc import nn, optim
    from graphc.nn.parallel import DistributedDataParallel

    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    share = batch // world
    rng = np.random.default_rng(rank)
    x = graphc.tensor(rng.standard_normal((share, 784)).astype(np.float32))
    y = graphc.tensor(rng.integers(0, 10, share))
    graphc.manual_seed(0)
    model = DistributedDataParallel(nn.Sequential(nn.Linear(784, 256), nn.ReLU(),
                                                  nn.Linear(256, 10)))
    opt = optim.SGD(model.parameters(), lr=0.01)

    def step(x, y):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    run = graphc.compile(step) if compiled else step
    times = []
    for _ in range(steps + 3):  # the first three warm up (and compile)
        dist.barrier()
        start = time.perf_counter()
        run(x, y)
        times.append(time.perf_counter() - start)
    step = statistics.median(times[3:])
    slowest = [graphc.tensor([step])]
    dist.all_reduce(slowest[0], dist.ReduceOp.MAX)  # a step lasts as long as its slowest rank
    reduced = sum(p.numel() * p.numpy().dtype.itemsize for p in model.parameters())
    if rank == 0:
        print(json.dumps({"processes": world, "step_s": slowest[0].item(),
                          "bytes_per_step": reduced if world > 1 else 0}), flush=True)
    dist.destroy_process_group()


def run(processes: int, batch: int, steps: int, compiled: bool) -> dict:
    from graphc.distributed.launch import find_mpiexec
    command = [find_mpiexec(), "-n", str(processes), sys.executable, "-m", "mpi4py",
               __file__, "--worker", "--batch", str(batch), "--steps", str(steps)]
    command += ["--compiled"] if compiled else []
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--batch", type=int, default=256, help="the global batch")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--compiled", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.batch, args.steps, args.compiled)
        return
    configurations = [(mode, n) for mode in ("eager", "compiled") for n in (1, args.processes)]
    results: dict = {c: [] for c in configurations}
    for _ in range(args.rounds):
        for mode, n in configurations:
            results[mode, n].append(run(n, args.batch, args.steps, mode == "compiled"))
    print(f"MLP 784-256-10, SGD, global batch {args.batch}, one thread per process; "
          f"median of {args.rounds} runs of {args.steps} steps")
    print(f"{'mode':>8} {'processes':>9} {'ms/step':>9} {'samples/s':>10} {'efficiency':>10} "
          f"{'bytes all-reduced/step':>23}")
    for (mode, n), runs in results.items():
        single = statistics.median(r["step_s"] for r in results[mode, 1])
        step = statistics.median(r["step_s"] for r in runs)
        print(f"{mode:>8} {n:>9} {step * 1e3:>9.2f} {args.batch / step:>10.0f} "
              f"{single / (n * step):>10.2f} {runs[0]['bytes_per_step']:>23,}")


if __name__ == "__main__":
    main()
