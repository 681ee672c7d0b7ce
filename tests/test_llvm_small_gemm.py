"""Small float32 GEMMs on llvm run as generated tiled loops (backends/llvm/small_gemm.py):
every tile shape, remainder, operand orientation and stride, against float64 NumPy."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from backends.llvm import small_gemm

LANES = small_gemm.vector_lanes()


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
    assert "# tiled loop (small_gemm)" in executable.source()
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


@pytest.mark.parametrize("shape", [(8, 10, 4), (4, LANES, 20000 // LANES + 1),
                                   (small_gemm.PRODUCT_MACS // (LANES * 8) + 1, LANES, 8)])
def test_other_products_keep_blas(shape):
    """n not a multiple of the vector, a panel over 64 KB, or more multiply-adds than one
    thread should take on: not taken."""
    m, n, k = shape
    assert not small_gemm.suits("float32", m, n, k)
    a = np.ones((m, k), np.float32)
    compiled = graphc.compile(lambda x, y: x @ y, backend="llvm")
    got = compiled(graphc.from_numpy(a), graphc.from_numpy(np.ones((k, n), np.float32)))
    np.testing.assert_array_equal(got.numpy(), np.full((m, n), k, np.float32))
    assert not compiled.entries[0].executable._tiled_gemms


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
    assert first.compile_info.seconds["GEMM loops"] > 0
    assert "GEMM loops" not in second.compile_info.seconds
    a, b = np.ones((8, 4), np.float32), np.ones((4, LANES), np.float32)
    np.testing.assert_array_equal(second(a, b)[0], np.full((8, LANES), 4, np.float32))
