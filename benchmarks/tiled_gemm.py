"""float32 GEMMs: the llvm backend's tiled loops (backends/llvm/tiled_gemm.py) against
OpenBLAS's sgemm (the one NumPy bundles, as the backend calls it) and, when installed,
PyTorch's ``bmm`` (MKL), one thread each, in one process, rounds alternated; every result
checked against float64 within ``(k+1) 2^-24 |A||B|``.

Shapes: attention's head products (32 matrices of 128x128x64 and 128x64x128; B contiguous, B
strided as a head of a [.., 768] projection, B transposed), one small product, and the MLP
step's large ones (784-512-512-10, batch 256: a forward product with B transposed, a weight
gradient with A transposed), and the attention block's in-projection weight gradient (A
transposed, 1024 deep). The tiled loop runs on every shape; ``*`` marks the contender
the llvm backend picks on this machine (``tiled_gemm.suits`` with OpenBLAS's kernel width).

    python benchmarks/tiled_gemm.py [--repeats 7]
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

from backends.llvm import blas as blas_library
from backends.llvm import tiled_gemm
from backends.llvm.compiler import CachingCompiler

# (label, batch, m, n, k, b layout): "rows" B[k, n] row-major, "strided" rows 768 apart,
# "transposed" B stored [n, k], "a transposed" A stored [k, m] (B row-major)
CASES = [
    ("heads q @ k^T (B transposed)", 32, 128, 128, 64, "transposed"),
    ("heads p @ v (B strided)", 32, 128, 64, 128, "strided"),
    ("heads p @ v (B contiguous)", 32, 128, 64, 128, "rows"),
    ("128x128x64, one matrix", 1, 128, 128, 64, "rows"),
    ("256x512x512, one matrix", 1, 256, 512, 512, "rows"),
    ("MLP x @ W1^T, 256x512x784", 1, 256, 512, 784, "transposed"),
    ("MLP dW1 = g^T @ x, 512x784x256", 1, 512, 784, 256, "a transposed"),
    ("attention dW_in = g^T @ x, 768x256x1024", 1, 768, 256, 1024, "a transposed"),
]


def operands(batch: int, m: int, n: int, k: int, layout: str, rng):
    if layout == "a transposed":
        a = rng.standard_normal((batch, k, m)).astype(np.float32).swapaxes(1, 2)
    else:
        a = rng.standard_normal((batch, m, k)).astype(np.float32)
    if layout == "transposed":
        b = rng.standard_normal((batch, n, k)).astype(np.float32)
        view = b.swapaxes(1, 2)
    elif layout == "strided":
        b = rng.standard_normal((batch, k, 768)).astype(np.float32)
        view = b[:, :, :n]
    else:
        b = rng.standard_normal((batch, k, n)).astype(np.float32)
        view = b
    return a, b, view


def contenders(batch, m, n, k, layout, a, b, view):
    c = np.empty((batch, m, n), np.float32)
    ldb = {"transposed": k, "strided": 768, "rows": n, "a transposed": n}[layout]
    b_strides = (1, ldb) if layout == "transposed" else (ldb, 1)
    a_transposed = layout == "a transposed"
    lda = m if a_transposed else k
    a_strides = (1, lda) if a_transposed else (lda, 1)
    offsets = np.array([[i * a[0].nbytes, i * b[0].nbytes, i * c[0].nbytes]
                        for i in range(batch)], np.int64)
    runs = {}
    loop = tiled_gemm.tiled_loop(CachingCompiler(None))
    depth, width = tiled_gemm.blocks(n, k)
    scratch = np.empty(tiled_gemm.scratch_floats(m, depth), np.float32)  # a transposed A's

    def tiled():
        loop(m, n, k, depth, width, a.ctypes.data, *a_strides, b.ctypes.data, *b_strides,
             c.ctypes.data, n, batch, offsets.ctypes.data, scratch.ctypes.data)
        return c
    runs["tiled loop"] = tiled
    library = blas_library.find_blas()
    if library is not None:
        sgemm = library.gemm_for(np.float32)
        flag_a = blas_library.TRANS if a_transposed else blas_library.NO_TRANS
        flag_b = blas_library.TRANS if layout == "transposed" else blas_library.NO_TRANS
        c2 = np.empty_like(c)

        def openblas():
            for i in range(batch):
                sgemm(blas_library.ROW_MAJOR, flag_a, flag_b, m, n, k, 1.0, a[i].ctypes.data,
                      lda, b[i].ctypes.data, ldb, 0.0, c2[i].ctypes.data, n)
            return c2
        runs["OpenBLAS sgemm"] = openblas
        picked = "tiled loop" if tiled_gemm.suits("float32", m, n, k,
                                                  library.kernel_vector_bits) else "OpenBLAS sgemm"
        runs[picked + "*"] = runs.pop(picked)
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(1)
        ta, tb = torch.from_numpy(a), torch.from_numpy(view)  # the same strides
        runs["torch bmm"] = lambda: torch.bmm(ta, tb).numpy()
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    library = blas_library.find_blas()
    core = library.core if library is not None else None
    print(f"one thread each; ms per batched product, median of rounds; GFLOP/s; OpenBLAS's "
          f"kernels: {core}; the tiled loop's vectors: {tiled_gemm.vector_lanes()} floats")
    for label, batch, m, n, k, layout in CASES:
        a, b, view = operands(batch, m, n, k, layout, rng)
        runs = contenders(batch, m, n, k, layout, a, b, view)
        want = np.matmul(a.astype(np.float64), view.astype(np.float64))
        bound = (k + 1) * 2.0 ** -24 * (np.abs(a.astype(np.float64)) @ np.abs(view))
        times: dict[str, list[float]] = {name: [] for name in runs}
        for name, run in runs.items():  # warm up and check
            got = run()
            assert np.all(np.abs(got - want) <= bound), f"{name} is wrong on {label}"
        calls = max(1, int(2e8 / (2 * batch * m * n * k)))
        for _ in range(args.repeats):
            for name, run in runs.items():
                start = time.perf_counter()
                for _ in range(calls):
                    run()
                times[name].append((time.perf_counter() - start) / calls)
        flops = 2 * batch * m * n * k
        row = "  ".join(f"{name} {statistics.median(t) * 1e3:.3f} ms "
                        f"({flops / statistics.median(t) / 1e9:.0f})"
                        for name, t in times.items())
        print(f"{label:36} {row}")


if __name__ == "__main__":
    main()
