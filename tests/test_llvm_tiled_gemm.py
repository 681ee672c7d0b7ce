"""float32 GEMMs on llvm run as generated tiled loops (backends/llvm/tiled_gemm.py): every
tile shape, remainder, block of B, operand orientation and stride, against float64 NumPy;
which products run there; and splitting over threads."""
from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest

import graphc
from backends import threads
from backends.llvm import blas as blas_library
from backends.llvm import tiled_gemm
from backends.llvm.compiler import CachingCompiler

LANES = tiled_gemm.vector_lanes()
# an OpenBLAS core whose kernels are as wide as the loop's vectors, and one narrower
AS_WIDE = "SkylakeX" if LANES == 16 else "Haswell"


def error_bound(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A float32 sum of k products, each rounded once (fma), is within k * 2^-24 * sum |a b|
    of the exact value; the operands are exact float32 values, so float64 |a| @ |b| bounds
    that sum (plus the exact result's own rounding to float32)."""
    k = a.shape[-1]
    return (k + 1) * 2.0 ** -24 * (np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64)))


def check(fn, *arrays):
    compiled = graphc.compile(fn, backend="llvm")
    got = compiled(*[graphc.from_numpy(a) for a in arrays]).numpy()
    executable = compiled.entries[0].executable
    assert executable._tiled_gemms, "the product did not run as a tiled loop"
    assert "# tiled loop (tiled_gemm)" in executable.source()
    return got


# (m, n, k): full 8-row tiles, leftover rows, a one-vector column of tiles, k of 1
SHAPES = [(16, 2 * LANES, 8), (13, 3 * LANES, 5), (1, LANES, 1), (9, 4 * LANES, 64)]


@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
def test_products_match_float64(m, n, k, transpose_a, transpose_b):
    rng = np.random.default_rng(m * 1000 + n * 10 + k)
    a = rng.standard_normal((k, m) if transpose_a else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if transpose_b else (k, n)).astype(np.float32)

    def product(x, y):
        return (x.T if transpose_a else x) @ (y.T if transpose_b else y)
    got = check(product, a, b)
    a_op, b_op = (a.T if transpose_a else a), (b.T if transpose_b else b)
    want = a_op.astype(np.float64) @ b_op.astype(np.float64)
    assert got.dtype == np.float32
    assert np.all(np.abs(got - want) <= error_bound(a_op, b_op))


def test_batched_heads_read_in_place():
    """Attention's shape: per head, a strided slice of a wider projection on both sides."""
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 24, 3 * LANES * 2)).astype(np.float32)  # [batch, seq, 3*E]

    def scores(t):
        heads = t.reshape(2, 24, 3, 2, LANES).permute(2, 0, 3, 1, 4)  # [3, batch, head, seq, d]
        return heads[0] @ heads[1].transpose(-1, -2) @ heads[2]
    got = check(scores, q)
    h = q.astype(np.float64).reshape(2, 24, 3, 2, LANES).transpose(2, 0, 3, 1, 4)
    want = h[0] @ h[1].swapaxes(-1, -2) @ h[2]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)  # two products, f32, k <= 24


def test_special_values_propagate():
    a = np.ones((8, 4), np.float32)
    b = np.ones((4, LANES), np.float32)
    a[1, 2], a[3, 0], b[0, 5] = np.inf, np.nan, -np.inf
    got = check(lambda x, y: x @ y, a, b)
    with np.errstate(invalid="ignore"):  # inf - inf is nan, as in IEEE
        want = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)])
    np.testing.assert_array_equal(got[finite], want[finite])


def with_blas_core(monkeypatch, core):
    """Compiles from here on as if NumPy's OpenBLAS had chosen ``core``'s kernels."""
    found = blas_library.find_blas()
    if found is None:
        pytest.skip("no bundled BLAS: every product runs in NumPy's matmul")
    monkeypatch.setattr(blas_library, "find_blas", lambda: replace(found, core=core))


def multiply_ones(m, n, k):
    """``ones(m, k) @ ones(k, n)`` through graphc.compile, checked; its executable."""
    compiled = graphc.compile(lambda x, y: x @ y, backend="llvm")
    got = compiled(graphc.from_numpy(np.ones((m, k), np.float32)),
                   graphc.from_numpy(np.ones((k, n), np.float32)))
    np.testing.assert_array_equal(got.numpy(), np.full((m, n), k, np.float32))
    return compiled.entries[0].executable


@pytest.mark.parametrize("shape", [(8, 10, 4), (4, LANES, 20000 // LANES + 1)])
def test_other_products_keep_blas(shape, monkeypatch):
    """n not a multiple of the vector, or a large product of too few rows to repay packing
    B, where BLAS's kernels are as wide: not taken."""
    m, n, k = shape
    assert not tiled_gemm.suits("float32", m, n, k, blas_library.kernel_vector_bits(AS_WIDE))
    with_blas_core(monkeypatch, AS_WIDE)
    assert not multiply_ones(m, n, k)._tiled_gemms


@pytest.mark.parametrize("shape", [(tiled_gemm.SMALL_MACS // (LANES * 8) + 1, LANES, 8),
                                   (64, 4 * LANES, 20000 // LANES + 1)])
def test_large_products_where_blas_is_as_wide(shape, monkeypatch):
    """A product over the small limits (more multiply-adds than one thread should take on, a
    B over 64 KB) where BLAS's kernels are as wide as the loop's: tiled with AVX-512 (ahead
    of OpenBLAS's SkylakeX kernels), left to BLAS with AVX2 (not measured against Haswell's)."""
    m, n, k = shape
    taken = LANES == 16
    assert tiled_gemm.suits("float32", m, n, k,
                            blas_library.kernel_vector_bits(AS_WIDE)) == taken
    with_blas_core(monkeypatch, AS_WIDE)
    assert bool(multiply_ones(m, n, k)._tiled_gemms) == taken


def test_attention_step_gradients_agree_with_the_interpreter():
    """End to end: MultiheadAttention's forward and backward, whose head products run here."""
    from graphc import nn
    graphc.manual_seed(0)
    mha = nn.MultiheadAttention(2 * LANES, 2, batch_first=True)
    x = graphc.from_numpy(np.random.default_rng(1).standard_normal((2, 16, 2 * LANES))
                          .astype(np.float32))

    def step(t):
        mha.zero_grad()
        loss = (mha(t, t, t, need_weights=False)[0] ** 2).mean()
        loss.backward()
        return loss
    results = {}
    for backend in ("interpreter", "llvm"):
        compiled = graphc.compile(step, backend=backend)
        loss = compiled(x).item()
        results[backend] = (loss, [p.grad.numpy().copy() for p in mha.parameters()])
    assert compiled.entries[0].executable._tiled_gemms
    (loss_i, grads_i), (loss_l, grads_l) = results["interpreter"], results["llvm"]
    assert loss_l == pytest.approx(loss_i, rel=1e-5)
    for gi, gl in zip(grads_i, grads_l):
        np.testing.assert_allclose(gl, gi, rtol=1e-4, atol=1e-6)  # f32 sums in other orders


def test_compile_info_counts_making_the_loop_once():
    """The loop's module is compiled once per backend: the first executable that uses it says
    how long that took (explain() shows compile_info), later ones have nothing to add."""
    import ir
    from backends.llvm.backend import LLVMBackend
    backend = LLVMBackend(disk=None)
    graph = ir.parse(f"""func @f(%a: f32[8,4], %b: f32[4,{LANES}]) -> (f32[8,{LANES}]) {{
      %0: f32[8,{LANES}] = matmul %a, %b
      return %0
    }}""")
    first, second = backend.compile(graph), backend.compile(graph)
    assert first._tiled_gemms and second._tiled_gemms
    assert first.compile_info.seconds["native loops"] > 0
    assert "native loops" not in second.compile_info.seconds
    a, b = np.ones((8, 4), np.float32), np.ones((4, LANES), np.float32)
    np.testing.assert_array_equal(second(a, b)[0], np.full((8, LANES), 4, np.float32))


def run_loop(a_op, b_op, depth, width, b_in_place=False, lanes=LANES, pack_a=True):
    """``a_op @ b_op`` through the loop of ``lanes`` called directly, blocked as asked; the
    operands may be transposed views (the loop reads them through their strides; a transposed
    A is packed into a scratch, unless ``pack_a`` is False)."""
    (m, k), n = a_op.shape, b_op.shape[1]
    loop = tiled_gemm.tiled_loop(CachingCompiler(None), lanes)
    c = np.full((m, n), np.nan, np.float32)
    offsets = np.zeros((1, 3), np.int64)
    a_strides = [s // 4 for s in a_op.strides]
    b_strides = [s // 4 for s in b_op.strides]
    assert not b_in_place or (b_strides == [n, 1] and (depth, width) == (k, n))
    scratch = np.full(tiled_gemm.scratch_floats(m, depth), np.nan, np.float32)
    loop(m, n, k, depth, width, a_op.ctypes.data, *a_strides, b_op.ctypes.data, *b_strides,
         c.ctypes.data, n, 1, offsets.ctypes.data, scratch.ctypes.data if pack_a else None)
    return c


def blocked(lanes):
    """(m, n, k, depth, width) for vectors of ``lanes``: several blocks of k with a shorter
    last one, several of n with a narrower last one, one-vector tiles, leftover rows, one
    whole block; and the blocks blocks() picks for the MLP."""
    return [(19, 5 * lanes, 37, 16, 2 * lanes), (8, 3 * lanes, 9, 4, lanes),
            (3, 2 * lanes, 33, 32, 4 * lanes), (13, 3 * lanes, 5, 5, 3 * lanes),
            (40, 784, 600, *tiled_gemm.blocks(784, 600))]


# this host's width, and the other one (8 lanes on an AVX-512 host, 16 elsewhere: LLVM splits
# wider vectors), the module other machines run
@pytest.mark.parametrize("lanes,m,n,k,depth,width",
                         [(lanes, *case) for lanes in (LANES, 24 - LANES)
                          for case in blocked(lanes)])
@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
def test_blocked_products_match_float64_and_the_unblocked_loop(lanes, m, n, k, depth, width,
                                                               transpose_a, transpose_b):
    """Each block of k continues the sums stored in C: the same sums in the same order as
    without blocks (bit for bit), within the float32 bound of float64's product."""
    rng = np.random.default_rng(m + n + k + depth)
    a = rng.standard_normal((k, m) if transpose_a else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if transpose_b else (k, n)).astype(np.float32)
    a_op, b_op = (a.T if transpose_a else a), (b.T if transpose_b else b)
    got = run_loop(a_op, b_op, depth, width, lanes=lanes)
    want = a_op.astype(np.float64) @ b_op.astype(np.float64)
    assert np.all(np.abs(got - want) <= error_bound(a_op, b_op))
    unblocked = run_loop(a_op, np.ascontiguousarray(b_op), k, n, b_in_place=True, lanes=lanes)
    np.testing.assert_array_equal(got, unblocked)
    if transpose_a:  # packed into the scratch, or read in place: the same sums
        np.testing.assert_array_equal(got, run_loop(a_op, b_op, depth, width, lanes=lanes,
                                                    pack_a=False))


def test_an_a_with_no_contiguous_axis_is_packed_element_by_element():
    rng = np.random.default_rng(5)
    m, n, k = 21, 2 * LANES, 37
    a_op = rng.standard_normal((2 * k, 3 * m)).astype(np.float32).T[::3, ::2]  # both strided
    b_op = rng.standard_normal((k, n)).astype(np.float32)
    got = run_loop(a_op, b_op, 16, n)
    assert np.all(np.abs(got - a_op.astype(np.float64) @ b_op) <= error_bound(a_op, b_op))
    np.testing.assert_array_equal(got, run_loop(a_op, b_op, 16, n, pack_a=False))


def test_large_products_run_tiled_where_blas_is_narrower(monkeypatch):
    """The MLP's first layer (256x784 @ (512x784)^T, a transposed B packed block by block)
    where OpenBLAS's kernels are narrower than the loop's vectors."""
    narrower = {16: "Haswell", 8: None}[LANES]
    if narrower is None:
        pytest.skip("no OpenBLAS core has narrower float kernels than AVX2's")
    with_blas_core(monkeypatch, narrower)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((256, 784)).astype(np.float32)
    w = rng.standard_normal((512, 784)).astype(np.float32)
    got = check(lambda a, b: a @ b.T, x, w)
    assert np.all(np.abs(got - x.astype(np.float64) @ w.T.astype(np.float64))
                  <= error_bound(x, w.T))


@pytest.mark.parametrize("rows,transpose_a", [(128, False), (131, True)])
def test_split_over_threads_gives_the_same_bits(rows, transpose_a, monkeypatch):
    """Batched products like attention's heads (32 matrices) split by rows over three threads,
    with rows left over and a transposed A too: each element is the same sum as on one."""
    splits = []
    run_parts = threads.run_parts
    monkeypatch.setattr(threads, "run_parts",
                        lambda parts: (splits.append(len(parts)), run_parts(parts)))
    rng = np.random.default_rng(4)
    q = rng.standard_normal((32, 64, rows) if transpose_a else (32, rows, 64)).astype(np.float32)
    k = rng.standard_normal((32, 128, 64)).astype(np.float32)

    def product(x, y):
        return (x.transpose(-1, -2) if transpose_a else x) @ y.transpose(-1, -2)
    before = threads.get_num_threads()
    results = []
    try:
        for count in (1, 3):
            threads.set_num_threads(count)
            results.append(check(product, q, k))
    finally:
        threads.set_num_threads(before)
    assert splits == [3]  # one threaded call (on three threads), none on one
    np.testing.assert_array_equal(results[0], results[1])
    q_op = q.swapaxes(-1, -2) if transpose_a else q
    want = q_op.astype(np.float64) @ k.astype(np.float64).swapaxes(-1, -2)
    assert np.all(np.abs(results[1] - want) <= error_bound(q_op, k.swapaxes(-1, -2)))



def test_two_callers_at_once_keep_their_own_scratch():
    """Two Python threads run one executable whose product packs a transposed A: each packs
    into a scratch of its own (a shared one gave wrong results), so each gets its own bits."""
    rng = np.random.default_rng(6)
    compiled = graphc.compile(lambda x, y: x.transpose(0, 1) @ y, backend="llvm")
    pairs = [(rng.standard_normal((64, 256)).astype(np.float32),
              rng.standard_normal((64, 16 * LANES)).astype(np.float32)) for _ in range(2)]
    alone = [compiled(graphc.from_numpy(x), graphc.from_numpy(y)).numpy() for x, y in pairs]
    assert compiled.entries[0].executable._tiled_gemms
    mismatches = []

    def caller(index):
        x, y = (graphc.from_numpy(a) for a in pairs[index])
        for _ in range(200):
            if not np.array_equal(compiled(x, y).numpy(), alone[index]):
                mismatches.append(index)
    callers = [threading.Thread(target=caller, args=(i,)) for i in range(2)]
    for thread in callers:
        thread.start()
    for thread in callers:
        thread.join()
    assert not mismatches
