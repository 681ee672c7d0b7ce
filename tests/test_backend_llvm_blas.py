"""The llvm backend's matrix products: GEMMs through the BLAS NumPy ships, transpose flags,
matmul epilogues as one in-place kernel, the NumPy fallback, and the thread setting.

Expected values are float64 NumPy products (``a.astype(f64) @ b.astype(f64)``), checked within
the result dtype's tolerance, and the interpreter's results.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_backend_llvm import (
    _inputs_for,
    assert_same_as_interpreter,
    assert_training_matches_interpreter,
    one_node_graph,
)

import backends
import graphc
import ir
import passes
from backends import threads
from backends.kernel import Gemm, Kernel, LibraryCall, build_program
from backends.llvm import blas
from backends.llvm.backend import LLVMBackend
from conftest import TOLERANCES, assert_close

ROOT = Path(__file__).resolve().parents[1]

HERE = Path(__file__).parent
LLVM = backends.get("llvm")
NUMPY_GEMM = LLVMBackend(use_blas=False)
F32, F64 = np.float32, np.float64

SHAPES = [
    ((3, 4), (4, 5)),
    ((1, 7), (7, 3)),          # one row
    ((5, 1), (1, 6)),          # outer product (k = 1)
    ((2, 3, 4), (2, 4, 5)),    # batched
    ((1, 3, 4), (2, 4, 5)),    # a broadcast along the batch
    ((2, 3, 4), (4, 5)),       # b shared by the batch: one tall GEMM
    ((3, 4), (2, 2, 4, 5)),    # a shared, two batch axes
    ((0, 4), (4, 3)),          # no rows
    ((3, 0), (0, 4)),          # empty inner axis: zeros
    ((0, 3, 4), (4, 2)),       # empty batch
]


def _operands(a_shape, b_shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(-2, 2, a_shape).astype(dtype), rng.uniform(-2, 2, b_shape).astype(dtype))


def _f64_product(a, b, dtype):
    return np.matmul(a.astype(F64), b.astype(F64)).astype(dtype)


def blas_found() -> bool:
    return blas.find_blas() is not None


needs_blas = pytest.mark.skipif("not blas_found()", reason="NumPy ships no BLAS we can bind")


# -- GEMM results ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("a_shape,b_shape", SHAPES)
def test_float_matmul_is_a_gemm_equal_to_the_float64_product(dtype, a_shape, b_shape):
    a, b = _operands(a_shape, b_shape, dtype)
    graph = one_node_graph("matmul", [a, b], {})
    compiled = LLVM.compile(graph)
    assert [type(s) for s in compiled.program.steps] == [Gemm]
    (got,) = compiled(a, b)
    want = _f64_product(a, b, dtype)
    assert got.shape == want.shape and got.dtype == dtype
    assert_close(got, want)
    assert_same_as_interpreter(graph, [a, b])


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("a_shape,b_shape", SHAPES)
def test_numpy_fallback_gives_the_same_products(dtype, a_shape, b_shape):
    a, b = _operands(a_shape, b_shape, dtype)
    graph = one_node_graph("matmul", [a, b], {})
    (fallback,) = NUMPY_GEMM.compile(graph)(a, b)
    (with_blas,) = LLVM.compile(graph)(a, b)
    assert_close(fallback, _f64_product(a, b, dtype))
    assert_close(fallback, with_blas, **TOLERANCES[np.dtype(dtype).name.replace("float", "f")])


def test_graphc_blas_numpy_forces_the_fallback_and_source_says_so(monkeypatch):
    a, b = _operands((3, 4), (4, 2), F32)
    graph = one_node_graph("matmul", [a, b], {})
    monkeypatch.setenv("GRAPHC_BLAS", "numpy")
    compiled = LLVM.compile(graph)
    assert compiled.blas is None
    assert "GEMM: NumPy's matmul (GRAPHC_BLAS=numpy)" in compiled.source()
    assert_close(compiled(a, b)[0], _f64_product(a, b, F32))


@needs_blas
def test_source_names_the_bundled_blas_library():
    a, b = _operands((3, 4), (4, 2), F32)
    source = LLVM.compile(one_node_graph("matmul", [a, b], {})).source()
    assert "GEMM: cblas from" in source and "openblas" in source.lower()
    assert "gemm %a0, %a1  # BLAS" in source


def test_a_library_that_cannot_be_opened_is_no_blas(tmp_path):
    not_a_library = tmp_path / "libopenblas_fake.so"
    not_a_library.write_bytes(b"not an ELF file")
    assert blas._bind(str(not_a_library)) is None


def test_matmul_of_non_contiguous_inputs_reads_the_values_not_the_memory_order():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 3)).astype(F32).T      # (3, 4), Fortran order
    b = rng.standard_normal((5, 8)).astype(F32)[:, ::2]  # (5, 4) strided
    b = np.ascontiguousarray(b).T                      # (4, 5) transposed view
    graph = one_node_graph("matmul", [a, b], {})
    (got,) = LLVM.compile(graph)(a, b)
    assert_close(got, _f64_product(a, b, F32))


@pytest.mark.parametrize("a_dtype,b_dtype", [(F32, F64), (np.int32, np.int32),
                                             (np.int64, F32)])
def test_mixed_and_integer_matmuls_stay_numpy_references(a_dtype, b_dtype):
    a = np.arange(6).reshape(2, 3).astype(a_dtype)
    b = np.arange(12).reshape(3, 4).astype(b_dtype)
    graph = one_node_graph("matmul", [a, b], {})
    compiled = LLVM.compile(graph)
    assert [type(s) for s in compiled.program.steps] == [LibraryCall]
    want = np.matmul(a.astype(F64), b.astype(F64))  # small integers: exact
    np.testing.assert_array_equal(compiled(a, b)[0], want.astype(compiled(a, b)[0].dtype))


# -- transposes as GEMM flags ------------------------------------------------------------------
LINEAR_T = """func @f(%x: f32[4,3], %w: f32[5,3]) -> (f32[4,5]) {
  %0: f32[3,5] = transpose %w {perm=[1,0]}
  %1: f32[4,5] = matmul %x, %0
  return %1
}"""
GRAD_T = """func @f(%x: f64[2,6,3], %g: f64[2,6,4]) -> (f64[2,3,4]) {
  %0: f64[2,3,6] = transpose %x {perm=[0,2,1]}
  %1: f64[2,3,4] = matmul %0, %g
  return %1
}"""
TRANSPOSE_ALSO_RETURNED = """func @f(%x: f32[4,3], %w: f32[5,3]) -> (f32[4,5], f32[3,5]) {
  %0: f32[3,5] = transpose %w {perm=[1,0]}
  %1: f32[4,5] = matmul %x, %0
  return %1, %0
}"""


@pytest.mark.parametrize("text,flags", [(LINEAR_T, (False, True)), (GRAD_T, (True, False))])
def test_a_transpose_feeding_a_matmul_becomes_a_gemm_flag_not_a_copy(text, flags):
    graph = ir.parse(text)
    program = build_program(graph)
    (gemm,) = program.steps
    assert isinstance(gemm, Gemm) and (gemm.transpose_a, gemm.transpose_b) == flags
    arrays = _inputs_for(graph)
    a, b = arrays
    if flags[0]:
        a = a.swapaxes(-1, -2)
    else:
        b = b.swapaxes(-1, -2)
    dtype = arrays[0].dtype
    assert_close(LLVM.compile(graph)(*arrays)[0], _f64_product(a, b, dtype))
    assert_close(NUMPY_GEMM.compile(graph)(*arrays)[0], _f64_product(a, b, dtype))
    assert_same_as_interpreter(graph, arrays)


def test_a_transpose_used_elsewhere_keeps_its_copy():
    graph = ir.parse(TRANSPOSE_ALSO_RETURNED)
    program = build_program(graph)
    assert [type(s) for s in program.steps] == [Kernel, Gemm]
    assert not program.steps[1].transpose_b
    assert_same_as_interpreter(graph, _inputs_for(graph))


PRODUCT_THEN_TRANSPOSE = [
    # a weight gradient as autodiff writes it: (x^T @ g)^T
    ("""func @f(%x: f32[6,3], %g: f32[6,4]) -> (f32[4,3]) {
      %0: f32[3,6] = transpose %x {perm=[1,0]}
      %1: f32[3,4] = matmul %0, %g
      %2: f32[4,3] = transpose %1 {perm=[1,0]}
      return %2
    }""", lambda x, g: (x.T @ g).T),
    ("""func @f(%a: f64[2,3,5], %b: f64[2,4,5]) -> (f64[2,4,3]) {
      %0: f64[2,5,4] = transpose %b {perm=[0,2,1]}
      %1: f64[2,3,4] = matmul %a, %0
      %2: f64[2,4,3] = transpose %1 {perm=[0,2,1]}
      return %2
    }""", lambda a, b: (a @ b.swapaxes(1, 2)).swapaxes(1, 2)),
    ("""func @f(%a: f32[3,5], %b: f32[2,5,4]) -> (f32[2,4,3]) {
      %0: f32[2,3,4] = matmul %a, %b
      %1: f32[2,4,3] = transpose %0 {perm=[0,2,1]}
      return %1
    }""", lambda a, b: (a @ b).swapaxes(1, 2)),
]


@pytest.mark.parametrize("text,product", PRODUCT_THEN_TRANSPOSE)
def test_a_transposed_gemm_product_swaps_the_operands_instead_of_copying(text, product):
    graph = ir.parse(text)
    program = build_program(graph)
    (gemm,) = program.steps  # no copy kernel for the transpose
    assert isinstance(gemm, Gemm) and gemm.output.type == graph.outputs[0].type
    arrays = _inputs_for(graph)
    want = product(*[a.astype(F64) for a in arrays]).astype(arrays[0].dtype)
    assert_close(LLVM.compile(graph)(*arrays)[0], want)
    assert_close(NUMPY_GEMM.compile(graph)(*arrays)[0], want)
    assert_same_as_interpreter(graph, arrays)


def test_a_gemm_product_read_after_its_transpose_keeps_the_copy():
    graph = ir.parse("""func @f(%a: f32[3,5], %b: f32[5,4]) -> (f32[4,3], f32[3,4]) {
      %0: f32[3,4] = matmul %a, %b
      %1: f32[4,3] = transpose %0 {perm=[1,0]}
      return %1, %0
    }""")
    program = build_program(graph)
    assert [type(s) for s in program.steps] == [Gemm, Kernel]
    assert_same_as_interpreter(graph, _inputs_for(graph))


# -- matmul epilogues --------------------------------------------------------------------------
def _golden(name: str) -> ir.Graph:
    text = "\n".join(line for line in (HERE / "golden" / name).read_text().splitlines()
                     if not line.lstrip().startswith("//"))
    return passes.run(ir.parse(text), "fuse")


def test_matmul_bias_relu_is_one_gemm_and_one_in_place_epilogue_kernel():
    graph = _golden("fuse_matmul_epilogue.gir")
    compiled = LLVM.compile(graph)
    steps = compiled.program.steps
    assert [type(s) for s in steps] == [Gemm, Kernel]
    gemm, epilogue = steps
    assert gemm.transpose_b  # the transpose of %w feeding the fused matmul is a flag
    assert epilogue.outputs == [gemm.output] and epilogue.in_place == [gemm.output]
    program = compiled.source().split("; native calls")[0]  # the kernel program part
    assert program.count("gemm ") == 1 and program.count("= kernel ") == 1
    x, w, b = _inputs_for(graph)
    want = np.maximum(x.astype(F64) @ w.astype(F64).T + b, 0).astype(F32)
    assert_close(compiled(x, w, b)[0], want)
    assert_same_as_interpreter(graph, [x, w, b])


def test_an_epilogue_that_reduces_keeps_the_product_and_matches_the_interpreter():
    graph = _golden("fuse_bias_grad_epilogue.gir")
    program = build_program(graph)
    assert sum(isinstance(s, Gemm) for s in program.steps) == 2
    pre, g, w, xt = _inputs_for(graph)
    masked = np.where(pre <= 0, 0, g.astype(F64) @ w.astype(F64))
    bias_grad, weight_grad = LLVM.compile(graph)(pre, g, w, xt)
    assert_close(bias_grad, masked.sum(0).astype(F32))
    assert_close(weight_grad, (xt.astype(F64) @ masked).astype(F32))
    assert_same_as_interpreter(graph, [pre, g, w, xt])


def test_a_fused_matmul_whose_product_is_also_a_result_is_not_overwritten():
    graph = ir.parse("""func @f(%x: f32[2,3], %w: f32[3,4]) -> (f32[2,4], f32[2,4]) {
      %0, %1: f32[2,4], f32[2,4] = fused %x, %w {
        (%a: f32[2,3], %b: f32[3,4]):
        %0: f32[2,4] = matmul %a, %b
        %1: f32[2,4] = tanh %0
        yield %0, %1
      }
      return %0, %1
    }""")
    program = build_program(graph)
    assert [type(s) for s in program.steps] == [Gemm, Kernel]
    assert program.kernels[0].in_place == []
    x, w = _inputs_for(graph)
    product, activation = LLVM.compile(graph)(x, w)
    want = x.astype(F64) @ w.astype(F64)
    assert_close(product, want.astype(F32))
    assert_close(activation, np.tanh(want).astype(F32))


def test_a_fused_mlp_training_step_on_llvm_matches_the_interpreter():
    def mlp():
        return graphc.nn.Sequential(graphc.nn.Linear(12, 16), graphc.nn.ReLU(),
                                    graphc.nn.Linear(16, 16), graphc.nn.Tanh(),
                                    graphc.nn.Linear(16, 4))

    rng = np.random.default_rng(0)
    x = graphc.tensor(rng.standard_normal((9, 12)).astype(F32))
    y = graphc.tensor(rng.integers(0, 4, size=9))
    assert_training_matches_interpreter("llvm", mlp, x, y, lr=0.05,
                                        passes="dce,cse,fold,simplify,dce,fuse")


# -- threads -----------------------------------------------------------------------------------
@pytest.fixture
def restore_threads():
    before = threads.get_num_threads()
    yield
    threads.set_num_threads(before)


@needs_blas
def test_set_num_threads_sets_the_blas_threads_and_results_agree(restore_threads):
    a, b = _operands((96, 64), (64, 80), F32)
    compiled = LLVM.compile(one_node_graph("matmul", [a, b], {}))
    results = []
    for n in (1, 2):
        graphc.set_num_threads(n)
        assert graphc.get_num_threads() == n
        assert blas.blas_threads() == n  # read back from openblas_get_num_threads
        results.append(compiled(a, b)[0])
    assert_close(results[1], results[0])
    # k = 64 sums cancel more than f32's tolerance allows against f64: compare with NumPy's
    # own float32 product (the interpreter's reference)
    assert_close(results[0], np.matmul(a, b))


def test_default_threads_are_one_on_two_cores_or_fewer(monkeypatch):
    monkeypatch.delenv("GRAPHC_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    assert threads.default_num_threads() == 1
    monkeypatch.setattr(threads, "usable_cores", lambda: 8)
    assert threads.default_num_threads() == 8


@needs_blas
@pytest.mark.parametrize("n", ["1", "2"])
def test_importing_graphc_sets_the_blas_threads_eager_matmul_uses(n):
    # a new process: eager matmul (NumPy's, on the same bundled BLAS) runs with graphc's
    # thread count even when nothing was compiled
    code = ("import graphc\n"
            "from backends.llvm import blas\n"
            "x = graphc.randn(64, 64)\n"
            "_ = x @ x\n"
            "library = blas._bind(blas.library_candidates()[0])\n"
            "print(library.get_threads())\n")
    env = dict(os.environ, GRAPHC_NUM_THREADS=n)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=ROOT, check=True).stdout
    assert out.split() == [n]


def test_graphc_num_threads_environment_sets_the_default(monkeypatch):
    monkeypatch.setenv("GRAPHC_NUM_THREADS", "3")
    assert threads.default_num_threads() == 3
    monkeypatch.setenv("GRAPHC_NUM_THREADS", "zero")
    with pytest.raises(ValueError, match="GRAPHC_NUM_THREADS must be a positive integer"):
        threads.default_num_threads()


@pytest.mark.parametrize("n,error", [(0, ValueError), (-2, ValueError), (1.5, TypeError),
                                     (True, TypeError)])
def test_set_num_threads_rejects_what_is_no_positive_int(n, error, restore_threads):
    with pytest.raises(error, match="set_num_threads: n must"):
        graphc.set_num_threads(n)
