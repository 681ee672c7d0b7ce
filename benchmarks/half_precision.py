"""float16 and bfloat16 compiled by the llvm backend, against the interpreter (what
``graphc.compile`` fell back to before they ran natively) and against float32: a fused
elementwise chain with a row sum, and a GEMM with a ReLU epilogue. One thread, medians of
repeats, side by side in one process, and ratios.

    python benchmarks/half_precision.py [--rows 512] [--repeats 15]
"""
from __future__ import annotations

import argparse
import functools
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
from ir.dtypes import bf16, f16, f32


def gelu_row_sums(x, y):
    return graphc.nn.functional.gelu(x * y + 1.0).sum(dim=1)


def relu_gemm(a, b):
    return graphc.relu(a @ b)


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    graphc.set_num_threads(1)
    rng = np.random.default_rng(0)
    n = args.rows
    shapes = {"chain": [(n, 2 * n), (n, 2 * n)], "gemm": [(n // 2, n), (n, n)]}
    functions = {"chain": gelu_row_sums, "gemm": relu_gemm}
    times: dict[tuple, float] = {}
    for dtype in (f32, f16, bf16):
        for name, fn in functions.items():
            inputs = [graphc.tensor(rng.standard_normal(s)).to(dtype) for s in shapes[name]]
            for backend in ("llvm", "interpreter"):
                compiled = graphc.compile(fn, backend=backend)
                compiled(*inputs)  # compile outside the timing
                times[dtype, name, backend] = median_seconds(
                    functools.partial(compiled, *inputs), args.repeats)
    for name in functions:
        print(f"{name} {shapes[name]}:")
        for dtype in (f32, f16, bf16):
            native, interpreted = times[dtype, name, "llvm"], times[dtype, name, "interpreter"]
            print(f"  {dtype.name:>4}: llvm {native * 1e3:7.2f} ms, interpreter "
                  f"{interpreted * 1e3:7.2f} ms ({interpreted / native:4.1f}x), "
                  f"{native / times[f32, name, 'llvm']:4.2f}x llvm f32")


if __name__ == "__main__":
    main()
