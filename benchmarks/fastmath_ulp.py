"""Measures the max ulp error of the llvm backend's fast float32 math against float64.

Sweeps float32 bit patterns (all 2**32 with ``--stride 1``; a stride samples them evenly) in
chunks through one compiled kernel per function, and prints, per function, the largest error
in float32 ulps of the float64 reference and the input where it happens. The table in
docs/DESIGN-NOTES.md ("Fast float32 math") comes from ``--stride 1``.

    python benchmarks/fastmath_ulp.py --stride 4099          # ~1M patterns, seconds
    python benchmarks/fastmath_ulp.py --stride 1             # all of them, an hour or so
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from ulp import reference, ulp_errors, unary_graph

from backends.llvm.backend import LLVMBackend
from backends.llvm.fastmath import FUNCTIONS


def sweep(op: str, stride: int, chunk: int = 1 << 22) -> tuple[float, float]:
    """(max ulp error, the float32 input where it happens) over every ``stride``-th pattern."""
    count = -(-(1 << 32) // stride)
    run = None
    worst, where = 0.0, float("nan")
    for start in range(0, count, chunk):
        patterns = np.arange(start, min(start + chunk, count), dtype=np.uint64) * stride
        x = patterns.astype(np.uint32).view(np.float32)
        if run is None or x.size != chunk:
            run = LLVMBackend(fast_math=True).compile(unary_graph(op, "f32", x.size))
        err = ulp_errors(run(x)[0], reference(op, x))
        k = int(np.argmax(err))
        if err[k] > worst:
            worst, where = float(err[k]), float(x[k])
    return worst, where


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stride", type=int, default=4099)
    parser.add_argument("ops", nargs="*", default=sorted(FUNCTIONS))
    args = parser.parse_args()
    for op in args.ops:
        start = time.perf_counter()
        worst, where = sweep(op, args.stride)
        print(f"{op:8s} max {worst:.3f} ulp at x = {where!r}  "
              f"({time.perf_counter() - start:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
