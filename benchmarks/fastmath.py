"""GELU(x) * sigmoid(x) on 4M float32 values through the llvm backend: libm calls vs fast
float32 math (backends/llvm/fastmath.py), one thread, median of repeats, and the ratio.

    python benchmarks/fastmath.py [--n 4194304] [--repeats 15]
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

import ir
import passes
from backends.llvm.backend import LLVMBackend


def gelu_times_sigmoid(n: int) -> ir.Graph:
    """``0.5 * x * (1 + erf(x / sqrt 2)) * sigmoid(x)``, fused into one kernel (the constants
    are 0-d inputs: see ``CONSTANTS``)."""
    t = f"f32[{n}]"
    graph = ir.parse(f"""func @gelu_sigmoid(%x: {t}, %r: f32[], %one: f32[], %half: f32[])
    -> ({t}) {{
  %0: {t} = mul %x, %r
  %1: {t} = erf %0
  %2: {t} = add %1, %one
  %3: {t} = mul %x, %half
  %4: {t} = mul %3, %2
  %5: {t} = sigmoid %x
  %6: {t} = mul %4, %5
  return %6
}}""")
    return passes.run(graph, "fuse")


CONSTANTS = [np.float32(2 ** -0.5), np.float32(1.0), np.float32(0.5)]


def median_seconds(run, x: np.ndarray, repeats: int) -> float:
    run(x, *CONSTANTS)  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(x, *CONSTANTS)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1 << 22)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    x = np.random.default_rng(0).standard_normal(args.n).astype(np.float32)
    graph = gelu_times_sigmoid(args.n)
    results = {}
    for label, fast in (("libm", False), ("fast", True)):
        run = LLVMBackend(fast_math=fast).compile(graph)
        results[label] = median_seconds(run, x, args.repeats)
        print(f"{label:5s} {results[label] * 1e3:8.2f} ms (median of {args.repeats})")
    print(f"fast math is {results['libm'] / results['fast']:.1f}x faster than libm calls")


if __name__ == "__main__":
    main()
