"""Batched GEMMs on llvm run as one native loop over BLAS calls (backends/llvm/gemm_batch.py)
instead of one ctypes call per matrix: the same calls in the same order, so the same bits."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from backends.llvm import blas
from backends.llvm.backend import LLVMExecutable

pytestmark = pytest.mark.skipif(blas.find_blas() is None, reason="no BLAS library found")


def executables(fn, *arrays):
    """Three twins of the llvm executable of ``fn``, built from its code, whose GEMMs all run
    in BLAS (not in the tiled loop, whose sums may round otherwise): one with the batch loop,
    one that makes a ctypes call per matrix, one whose batch loops are counted."""
    compiled = graphc.compile(fn, backend="llvm")
    compiled(*arrays)
    made = compiled.entries[0].executable
    loops = []

    def counting(dtype, integer):
        loop = made._batch_loop(dtype, integer)

        def call(*args):
            loops.append(args[-2])  # the batch's matrix count
            return loop(*args)
        return call

    def twin(batch_loop):
        return LLVMExecutable(made.graph, made.program, made.llvm_ir, made.jit, None, made.plan,
                              made.blas, made.buffers, batch_loop)
    return twin(made._batch_loop), twin(None), twin(counting), loops


CASES = {
    "heads": (lambda q, k: q @ k.transpose(-1, -2), [(2, 3, 16, 8), (2, 3, 16, 8)]),
    "broadcast batch": (lambda a, b: a @ b, [(4, 1, 5, 6), (3, 6, 7)]),
    "permuted views": (lambda a, b: a.permute(1, 0, 2) @ b, [(5, 4, 6), (4, 6, 3)]),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", list(CASES))
def test_same_bits_as_a_call_per_matrix(case, dtype):
    fn, shapes = CASES[case]
    rng = np.random.default_rng(len(case))
    arrays = [rng.standard_normal(shape).astype(dtype) for shape in shapes]
    made, per_matrix, counted, loops = executables(fn, *arrays)
    # memory freed since the runners were made comes back filled with other values: a runner
    # that read its offsets from a freed table would go wrong (it did, in an attention step)
    refill = [np.full(n, -(1 << 40), np.int64) for n in range(1, 200) for _ in range(3)]
    got = made(*arrays)
    del refill
    for twin in (per_matrix, counted):
        for a, b in zip(got, twin(*arrays)):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    assert loops, "the batched GEMM did not run as one loop"
    want = fn(*[graphc.from_numpy(a.astype(np.float64)) for a in arrays]).numpy()
    tolerance = {np.float32: 1e-5, np.float64: 1e-12}[dtype]  # sums of 6-8 products
    np.testing.assert_allclose(got[0], want, rtol=tolerance, atol=tolerance)


def test_a_single_matrix_keeps_the_plain_call():
    a = np.ones((4, 5), np.float32)
    made, _, counted, loops = executables(lambda x, y: x @ y, a, a.T.copy())
    counted(a, a.T.copy())
    assert not loops
