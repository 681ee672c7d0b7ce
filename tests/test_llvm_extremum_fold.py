"""Float max/min reductions on llvm fold on interleaved accumulators (vector code) and still
give the bits of one running fold in index order: where the order shows (equal zeros of both
signs, NaN), the slice is folded again in order (backends/llvm/render.py,
``_rescanned_where_order_shows``).

The running fold is ``acc = acc if acc > x or acc is NaN else x`` (``np.maximum``'s rule, for
max; ``<`` for min): the last of equal zeros wins, the first NaN stays. NumPy's own ``np.max``
gives either zero depending on the length of the row, so the reference here is that fold,
written out in Python, and results are compared bit for bit.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from backends.llvm.render import LANES

pytestmark = pytest.mark.skipif("llvm" not in __import__("backends").available(),
                                reason="llvmlite cannot generate code for this machine")


def running_fold(rows: np.ndarray, op: str) -> np.ndarray:
    out = []
    for row in rows:
        acc = row.dtype.type(-np.inf if op == "max" else np.inf)
        for x in row:
            wins = acc > x if op == "max" else acc < x
            acc = acc if wins or np.isnan(acc) else x
        out.append(acc)
    return np.array(out, dtype=rows.dtype)


def same_bits(got: np.ndarray, want: np.ndarray) -> bool:
    return got.dtype == want.dtype and got.tobytes() == want.tobytes()


def tricky_rows(dtype, length: int, seed: int) -> np.ndarray:
    """Rows whose max or min is a zero of either sign at different places, NaNs with
    payloads, infinities, and plain rows."""
    rng = np.random.default_rng(seed)
    rows = [rng.standard_normal(length).astype(dtype) for _ in range(4)]
    for sign_first in (0.0, -0.0):
        for where in (0, 3, length // 2, length - 1):
            below = -np.abs(rng.standard_normal(length)).astype(dtype) - 1
            row = below.copy()
            row[where] = sign_first
            row[(where + 7) % length] = -sign_first if sign_first == 0.0 else 0.0
            rows += [row, -row]  # a max of zeros, and a min of zeros
    zeros = np.zeros(length, dtype)
    zeros[rng.random(length) < 0.5] = -0.0
    rows += [zeros, np.full(length, -0.0, dtype), np.full(length, -np.inf, dtype),
             np.full(length, np.inf, dtype)]
    nans = rng.standard_normal(length).astype(dtype)
    bits = nans.view(np.uint32 if dtype == np.float32 else np.uint64)
    quiet = 0x7FC00000 if dtype == np.float32 else 0x7FF8000000000000
    bits[5], bits[length - 2] = quiet | 1, quiet | 2  # two NaNs told apart by their payload
    rows.append(nans)
    return np.stack(rows)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("length", [16, 37, 128])
def test_bits_of_the_running_fold(dtype, op, length):
    rows = tricky_rows(dtype, length, seed=length)
    reduce = (lambda t: t.amax(dim=-1)) if op == "max" else (lambda t: t.amin(dim=-1))
    got = graphc.compile(reduce, backend="llvm")(rows).numpy()
    want = running_fold(rows, op)
    assert same_bits(got, want), np.flatnonzero(got.view(np.uint8) != want.view(np.uint8))


def test_folds_on_interleaved_accumulators():
    """The max over rows of 128 (a softmax's) runs LANES independent select chains, not one
    (whose latency bound it: rows of 128 took 1.8x as long)."""
    compiled = graphc.compile(lambda t: t.amax(dim=-1), backend="llvm")
    rows = np.random.default_rng(0).standard_normal((64, 128)).astype(np.float32)
    np.testing.assert_array_equal(compiled(rows).numpy(), rows.max(-1))
    assert compiled.entries[0].executable.jit.optimized_ir.count(" select ") >= LANES


def test_threads_give_the_same_bits():
    rows = tricky_rows(np.float32, 128, seed=3)
    rows = np.concatenate([rows] * 64)  # enough rows for the threaded variant
    reduce = graphc.compile(lambda t: t.amax(dim=-1), backend="llvm")
    previous = graphc.get_num_threads()
    try:
        graphc.set_num_threads(2)
        threaded = reduce(rows).numpy()
    finally:
        graphc.set_num_threads(previous)
    assert same_bits(threaded, running_fold(rows, "max"))


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8])
def test_integer_rows(dtype):
    """Integers fold on the same interleaved accumulators (exact in any order, no rescan)."""
    info = np.iinfo(dtype)
    rows = np.random.default_rng(4).integers(info.min, info.max, (9, 40), dtype=dtype,
                                             endpoint=True)
    rows[0], rows[1] = info.min, info.max
    for reduce, want in ((lambda t: t.amax(dim=-1), rows.max(-1)),
                         (lambda t: t.amin(dim=-1), rows.min(-1))):
        got = graphc.compile(reduce, backend="llvm")(rows).numpy()
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_rows(dtype):
    """f16 and bf16 keep one running fold (their values are rendered through f32)."""
    import ml_dtypes  # noqa: F401  (registers bfloat16 with NumPy)
    rows = tricky_rows(np.float32, 40, seed=5)[:-1].astype(dtype)  # the NaN row: payloads
    for reduce, op in ((lambda t: t.amax(dim=-1), "max"), (lambda t: t.amin(dim=-1), "min")):
        got = graphc.compile(reduce, backend="llvm")(rows).numpy()
        assert same_bits(got, running_fold(rows.astype(np.float32), op).astype(dtype))
