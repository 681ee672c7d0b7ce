"""Where the time of the compiled llvm attention step goes (issue 8's "attention" workload).

The step of ``benchmarks/workloads.py --only attention`` (``LayerNorm(x + MHA(x, x, x))``, x of
8x128x256, 4 heads, loss ``mean(y ** 2)``, backward), compiled on llvm, profiled with
``graphc.profiler``: each GEMM, kernel and library call of its executable, grouped by kind
(copy kernels: one load stored as it is), with Python and the rest (guards, argument handling,
the runners) as what the call took beyond its steps. Medians of the per-step totals, one thread.

    python benchmarks/attention_profile.py [--steps 20] [--kernels] [--program]

``--kernels`` lists each step's mean time; ``--program`` prints the kernel program.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from workloads import BATCH, EMBED, SEQ, attention_block

import graphc
from backends.kernel import Gemm, Kernel, LibraryCall, RowGroup


def micros(event) -> float:
    return (event.end_ns - event.start_ns) / 1e3


def kind_of(step) -> str:
    if isinstance(step, Gemm):
        return "GEMMs"
    if isinstance(step, LibraryCall):
        return f"library calls ({step.op})"
    if isinstance(step, RowGroup):
        return "row groups"
    copies = (len(step.loads) == 1 and step.reduction is None
              and all(s.value.op == "var" for s in step.stores))
    return "copy kernels" if copies else "reductions" if step.reduction else "other kernels"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--kernels", action="store_true")
    parser.add_argument("--program", action="store_true")
    args = parser.parse_args()
    graphc.set_num_threads(1)
    x = graphc.from_numpy(
        np.random.default_rng(1).standard_normal((BATCH, SEQ, EMBED)).astype(np.float32))
    fn = graphc.compile(attention_block()[1], backend="llvm")
    fn(x)
    executable = fn.entries[-1].executable
    if args.program:
        print(executable.source().split("; LLVM IR")[0])
    names = {}  # profiler event name -> step
    counts: dict[str, int] = {}
    for step in executable.program.steps:
        if isinstance(step, (Kernel, RowGroup)):
            names[f"step::{step.name}"] = step
            continue
        key = "gemm" if isinstance(step, Gemm) else step.op
        names[f"step::{key}{counts.get(key, 0)}"] = step
        counts[key] = counts.get(key, 0) + 1
    per_kind: dict[str, list[float]] = {}
    per_step: dict[str, list[float]] = {}
    totals = []
    for _ in range(args.steps):
        with graphc.profiler.profile() as prof:
            fn(x)
        spent: dict[str, float] = {}
        for event in prof.events():
            if event.name in names:
                kind = kind_of(names[event.name])
                spent[kind] = spent.get(kind, 0.0) + micros(event)
                per_step.setdefault(event.name, []).append(micros(event))
            elif event.name == "step":
                totals.append(micros(event))
        spent["Python and the rest"] = totals[-1] - sum(spent.values())
        for kind, us in spent.items():
            per_kind.setdefault(kind, []).append(us)
    number = {k: sum(kind_of(s) == k for s in names.values()) for k in per_kind}
    print(f"llvm attention step, median of {args.steps} profiled steps (ms):")
    for kind, us in sorted(per_kind.items(), key=lambda kv: -statistics.median(kv[1])):
        steps = f"  ({number[kind]} steps)" if number.get(kind) else ""
        print(f"  {kind:28} {statistics.median(us) / 1e3:8.3f}{steps}")
    print(f"  {'total':28} {statistics.median(totals) / 1e3:8.3f}")
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    print(f"unprofiled step: {statistics.median(times) * 1e3:.3f} ms")
    if args.kernels:
        for name, us in per_step.items():
            print(f"  {statistics.mean(us) / 1e3:7.3f} ms  {names[name].to_text().splitlines()[0]}")


if __name__ == "__main__":
    main()
