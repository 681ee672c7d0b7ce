"""The cuda backend computes what the interpreter (the NumPy oracle) computes.

Run on numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1 python -m pytest -q tests/cuda``), or on
a GPU. The checks are the numba CPU backend's (tests/test_backend_numba.py, whose helpers and
those of tests/test_backend_llvm.py these tests import): every registry op on its samples, every
elementwise op on special values, reductions in both of their layouts (a block per point with
warp shuffles, a thread per point), tiled GEMMs with their epilogues, fused graphs and random
graphs, and a compiled training step. Sizes are small: the simulator runs each CUDA thread as a
Python thread.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the helpers in tests/

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_backend_llvm import (
    ELEMENTWISE_FUSED,
    FUSED_FILES,
    NOT_ONE_LOOP_NEST,
    REDUCTION_FUSED,
    _graphs_in,
    _inputs_for,
    assert_pow_of_halves_is_a_root,
    assert_refuses_dtypes,
    assert_same_as_interpreter,
    assert_training_matches_interpreter,
    exact_random_graphs,
    is_exact,
    one_node_graph,
    small_batch,
    small_mlp,
)
from test_backend_numba import _combinations
from test_registry import DOMAINS, SAMPLES, assert_same_bits, case_dtypes, special_values

import backends
import ir
from backends.cuda import memory
from backends.cuda.backend import SUPPORTED_DTYPES as CUDA_DTYPES
from backends.cuda.render import uses_block_reduction
from backends.kernel import Gemm, build_program
from conftest import TOLERANCES, assert_close
from ir import dtypes
from ir.errors import IntegerDivisionByZero
from ir.graph import Graph
from ir.types import TensorType

# Float errors the kernels make on purpose (1/0 = inf, log(-1) = NaN, int32 wrap-around) warn on
# the simulator: its threads run NumPy scalars outside graphc's errstate, which is per thread.
pytestmark = pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")
CUDA = backends.get("cuda")
INTERPRETER = backends.get("interpreter")
F = np.float32


def same_as_interpreter(graph: Graph, arrays, **kwargs) -> None:
    """Programs without GEMMs: the interpreter's results (bit for bit where exact). With GEMMs
    (convolutions are GEMMs too): the float64 results of the same graph in f64 within the f32
    tolerance, since the tiled kernel rounds each f32 product once where NumPy's f32 BLAS
    rounds along its sums."""
    steps = build_program(graph).steps
    if not any(isinstance(s, Gemm) for s in steps):
        assert_same_as_interpreter(graph, arrays, backend=CUDA, **kwargs)
        return
    ir.verify(graph)
    wide = ir.parse(str(graph).replace("f32", "f64"))
    want = INTERPRETER.compile(wide)(*[a.astype(np.float64) if a.dtype == F else a
                                       for a in arrays])
    got = CUDA.compile(graph)(*arrays)
    for g, w, value in zip(got, want, graph.outputs):
        assert g.shape == w.shape and g.dtype == value.type.dtype.numpy
        assert_close(g, w, dtype=value.type.dtype.name)


# -- every registry op, on the registry walk's samples (one graph per op) ------------------------
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_registry_op_matches_the_interpreter_on_its_samples(name):
    """... in the dtypes the backend runs; a sample in another dtype is refused at compile time."""
    graph, arrays, outputs = Graph(name), [], []
    for case in SAMPLES[name]:
        refused = case_dtypes(name, case) - CUDA_DTYPES
        if refused:
            arrays_of_case = [np.asarray(a) for a in case.inputs]
            assert_refuses_dtypes(CUDA, one_node_graph(name, arrays_of_case, case.attrs), refused)
            continue
        inputs = []
        for a in case.inputs:
            a = np.asarray(a)
            arrays.append(a)
            inputs.append(graph.add_input(f"a{len(arrays) - 1}",
                                          TensorType(dtypes.from_numpy(a.dtype), a.shape)))
        outputs += graph.add_node(name, inputs, case.attrs).outputs
    graph.set_outputs(outputs)
    same_as_interpreter(graph, arrays)


def test_every_registry_op_has_samples():
    assert {op.name for op in ir.all_ops()} <= set(SAMPLES)


# -- elementwise ops on special values -----------------------------------------------------------
SWEEP_OPS = sorted({name for name in SAMPLES if ir.get_op(name).kind == "elementwise"
                    and ir.get_op(name).scalar is not None})


@pytest.mark.parametrize("name", SWEEP_OPS)
def test_elementwise_op_matches_the_interpreter_on_special_values(name):
    from test_backend_llvm import INEXACT_OPS, _unspecified
    graph, arrays, checks = Graph(name), [], []
    for operand_dtypes, attrs in _combinations(name, CUDA_DTYPES):
        out = ir.get_op(name).infer([TensorType(d, (2,)) for d in operand_dtypes], attrs).dtype
        columns = [DOMAINS.get((name, k), lambda v, out: v)(special_values(d), out)
                   for k, d in enumerate(operand_dtypes)]
        operands = []
        for column in np.meshgrid(*columns, indexing="ij"):
            arrays.append(column.ravel())
            operands.append(graph.add_input(f"a{len(arrays) - 1}", TensorType(
                dtypes.from_numpy(column.dtype), (column.size,))))
        graph.add_node(name, operands, attrs)
        checks.append((len(arrays) - len(operands), operand_dtypes, attrs,
                       name not in INEXACT_OPS or not out.is_float))
    graph.set_outputs([n.output for n in graph.nodes])
    got, want = CUDA.compile(graph)(*arrays), INTERPRETER.compile(graph)(*arrays)
    for (first, operand_dtypes, attrs, exact), g, w in zip(checks, got, want):
        operands = arrays[first:first + len(operand_dtypes)]
        skip = _unspecified(name, operand_dtypes, attrs, operands)
        if skip is not None:
            g, w = np.where(skip, 0, g).astype(g.dtype), np.where(skip, 0, w).astype(w.dtype)
        label = f"{name} on {', '.join(str(a.dtype) for a in operands)}"
        if exact:
            assert_same_bits(g, w, lambda label=label: label)
        else:
            assert_close(g, w)


def test_integer_arithmetic_wraps_around_like_numpy():
    big = np.array([2**31 - 1, -2**31, 7], np.int32)
    graph = Graph("wrap")
    a, b = graph.add_input("a", TensorType(dtypes.i32, (3,))), graph.add_input(
        "b", TensorType(dtypes.i32, (3,)))
    graph.set_outputs([graph.add_node(op, [a, b]).output for op in ("add", "mul", "sub")]
                      + [graph.add_node(op, [a]).output for op in ("neg", "abs")])
    same_as_interpreter(graph, [big, big], exact=True)


def test_float_division_by_zero_gives_inf_and_nan_not_an_exception():
    x, y = np.array([1, -1, 0], F), np.zeros(3, F)
    (got,) = CUDA.compile(one_node_graph("div", [x, y], {}))(x, y)
    np.testing.assert_array_equal(got, np.array([np.inf, -np.inf, np.nan], F))


def test_pow_of_halves_is_a_root_as_in_the_reference():
    assert_pow_of_halves_is_a_root(CUDA)


# -- reductions: a block per point (warp shuffles) and a thread per point -------------------------
REDUCTIONS = ir.parse("""func @f(%x: f32[3,70], %n: i32[3,70], %b: bool[3,70], %y: f64[2,5,40])
    -> (f32[3], f32[70], i32[3], i64[3], bool[3], bool[3], f64[5], f64[2,1,40], i64[3], i64[70],
        f32[3]) {
  %0: f32[3] = sum %x {axes=[1]}
  %1: f32[70] = max %x {axes=[0]}
  %2: i32[3] = min %n {axes=[1]}
  %3: i64[3] = sum %n {axes=[1]}
  %4: bool[3] = max %b {axes=[1]}
  %5: bool[3] = min %b {axes=[1]}
  %6: f64[5] = sum %y {axes=[0, 2]}
  %7: f64[2,1,40] = sum %y {axes=[1], keepdim=true}
  %8: i64[3] = argmax %x {axis=1}
  %9: i64[70] = argmin %n {axis=0}
  %10: f32[3] = max %x {axes=[1]}
  return %0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10
}""")


def test_reductions_in_both_layouts_match_the_interpreter_on_every_dtype():
    program = build_program(REDUCTIONS)
    layouts = {uses_block_reduction(k) for k in program.kernels}
    assert layouts == {True, False}  # both layouts are exercised
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 70)).astype(F)
    x[1, 17] = np.nan  # max and argmax keep the first NaN
    x[2, 5] = x[2, 60] = 9.0  # a tie: argmax keeps the first
    n = rng.integers(-50, 50, size=(3, 70)).astype(np.int32)
    b = rng.integers(0, 2, size=(3, 70)).astype(bool)
    b[0] = False
    b[1] = True
    y = rng.standard_normal((2, 5, 40))
    same_as_interpreter(REDUCTIONS, [x, n, b, y])


def test_reductions_of_nothing_give_the_identity():
    graph = ir.parse("""func @f(%e: f32[3,0]) -> (f32[3], f32[0]) {
  %0: f32[3] = sum %e {axes=[1]}
  %1: f32[0] = sum %e {axes=[0]}
  return %0, %1
}""")
    same_as_interpreter(graph, [np.zeros((3, 0), F)])


# -- GEMMs ----------------------------------------------------------------------------------------
GEMMS = ir.parse("""func @f(%x: f32[20,18], %w: f32[17,18], %b: f32[17], %p: f64[2,3,5,4],
                          %q: f64[3,4,6]) -> (f32[20,17], f32[20,17], f64[2,3,5,6]) {
  %0: f32[18,17] = transpose %w {perm=[1,0]}
  %1: f32[20,17] = fused %x, %0, %b {
    (%a: f32[20,18], %c: f32[18,17], %d: f32[17]):
    %0: f32[20,17] = matmul %a, %c
    %1: f32[20,17] = add %0, %d
    %2: f32[20,17] = tanh %1
    yield %2
  }
  %2: f32[20,17] = matmul %x, %0
  %3: f64[2,3,5,6] = matmul %p, %q
  return %1, %2, %3
}""")


def test_tiled_gemms_with_epilogues_batches_and_transposes_match_the_interpreter():
    compiled = CUDA.compile(GEMMS)
    source = compiled.source()
    assert "cuda.shared.array((16, 16), np.float32)" in source
    assert "# epilogue (" in source  # the bias and tanh are applied on the accumulator
    assert "[(2, 2, 1), (16, 16)]" in source  # 20x17 outputs: 2x2 tiles of 16x16
    same_as_interpreter(GEMMS, _inputs_for(GEMMS))


# -- fused graphs --------------------------------------------------------------------------------
@pytest.mark.parametrize("path", FUSED_FILES, ids=lambda p: p.name)
def test_fused_graph_files_match_the_interpreter(path):
    for graph in _graphs_in(path):
        same_as_interpreter(graph, _inputs_for(graph))


@pytest.mark.parametrize("graph", [ELEMENTWISE_FUSED, REDUCTION_FUSED, NOT_ONE_LOOP_NEST],
                         ids=["elementwise", "reduction", "not-one-loop-nest"])
def test_fused_bodies_match_the_interpreter(graph):
    same_as_interpreter(graph, _inputs_for(graph))


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much])
@given(graph=exact_random_graphs(), seed=st.integers(0, 3))
def test_random_graphs_match_the_interpreter_bit_for_bit(graph, seed):
    assume(is_exact(build_program(graph)))  # float sums: another summation order
    arrays = _inputs_for(graph, seed)
    try:
        INTERPRETER.compile(graph)(*arrays)
    except (backends.ExecutionError, IntegerDivisionByZero) as error:  # an index out of range
        with pytest.raises(type(error), match=re.escape(str(error))):
            CUDA.compile(graph)(*arrays)
        return
    same_as_interpreter(graph, arrays, exact=True)


# -- launch configuration, inputs and outputs ----------------------------------------------------
def test_the_launch_configuration_is_chosen_from_sizes_and_written_in_the_source():
    small = CUDA.compile(one_node_graph("exp", [np.ones(5, F)], {})).source()
    big = CUDA.compile(one_node_graph("exp", [np.ones(5000, F)], {})).source()
    assert "k0[1, 32](" in small and "k0[20, 256](" in big
    assert "for p in range(cuda.grid(1), 5000, cuda.gridsize(1)):" in big  # grid-stride


def test_device_arrays_in_give_device_arrays_out_and_host_arrays_give_host_arrays():
    compiled = CUDA.compile(one_node_graph("neg", [np.ones(3, F)], {}))
    (host,) = compiled(np.array([1, 2, 3], F))
    assert isinstance(host, np.ndarray)
    (device,) = compiled(memory.to_device(np.array([1, 2, 3], F)))
    assert memory.is_device_array(device)
    np.testing.assert_array_equal(memory.to_host(device), [-1, -2, -3])


def test_wrong_inputs_get_the_backends_clear_error():
    compiled = CUDA.compile(one_node_graph("neg", [np.ones(3, F)], {}))
    with pytest.raises(backends.ExecutionError, match=r"input %a0 expects f32\[3\], got f32\[4\]"):
        compiled(np.ones(4, F))
    with pytest.raises(backends.ExecutionError,
                       match=r"input %a0 expects f32\[3\], got a device array of float64\[3\]"):
        compiled(memory.to_device(np.ones(3)))


def test_compiled_modules_are_reused_from_memory():
    graph = one_node_graph("tanh", [np.ones(5, F)], {})
    CUDA.compile(graph)
    assert CUDA.compile(graph).compile_info.source == "memory"


# -- a compiled training step --------------------------------------------------------------------
def test_a_compiled_training_step_on_cuda_matches_the_interpreter():
    assert_training_matches_interpreter("cuda", small_mlp, *small_batch(), lr=0.1)


# -- outputs aliasing inputs: state updated in place ----------------------------------------------
SGD_UPDATE = ir.parse("""func @f(%p: f32[40], %g: f32[40], %lr: f32[]) -> (f32[40] aliases %p,
                                                                    f32[]) {
  %0: f32[] = sum %p {axes=[0]}
  %1: f32[40] = mul %g, %lr
  %2: f32[40] = sub %p, %1
  return %2, %0
}""")
READ_AFTER_UPDATE = ir.parse("""func @f(%p: f32[40], %g: f32[40]) -> (f32[40] aliases %p,
                                                               f32[]) {
  %0: f32[40] = sub %p, %g
  %1: f32[] = sum %p {axes=[0]}
  return %0, %1
}""")


def test_an_aliased_output_is_written_into_the_donated_device_array():
    rng = np.random.default_rng(0)
    p, g = rng.standard_normal(40).astype(F), rng.standard_normal(40).astype(F)
    compiled = CUDA.compile(SGD_UPDATE)
    assert compiled.in_place == {0}
    p_device = memory.to_device(p)
    updated, total = compiled(p_device, memory.to_device(g), np.float32(0.5))
    assert updated is p_device  # the same device memory, now holding the update
    np.testing.assert_allclose(memory.to_host(p_device), p - g * F(0.5), **TOLERANCES["f32"])
    np.testing.assert_allclose(memory.to_host(total), p.astype(np.float64).sum(),
                               **TOLERANCES["f32"])  # read before the update


def test_host_inputs_are_never_written_even_when_aliased():
    p, g = np.ones(40, F), np.full(40, 0.25, F)
    updated, _ = CUDA.compile(SGD_UPDATE)(p, g, np.float32(2))
    np.testing.assert_array_equal(p, np.ones(40, F))
    np.testing.assert_array_equal(updated, np.full(40, 0.5, F))


def test_an_aliased_input_read_after_the_update_is_not_overwritten():
    compiled = CUDA.compile(READ_AFTER_UPDATE)
    assert compiled.in_place == set()
    p = memory.to_device(np.ones(40, F))
    updated, total = compiled(p, memory.to_device(np.full(40, 0.25, F)))
    np.testing.assert_array_equal(memory.to_host(p), np.ones(40, F))
    np.testing.assert_array_equal(memory.to_host(updated), np.full(40, 0.75, F))
    assert memory.to_host(total) == 40


def test_buffer_names_that_clash_with_the_kernels_own_names_are_renamed():
    graph = ir.parse("""func @f(%p: f32[2,40], %row: f32[40], %lane: f32[2,40], %tile_a: f32[40,3])
    -> (f32[2], f32[2,3]) {
  %0: f32[2,40] = add %p, %row
  %1: f32[2,40] = mul %0, %lane
  %2: f32[2] = sum %1 {axes=[1]}
  %3: f32[2,3] = matmul %1, %tile_a
  return %2, %3
}""")
    source = CUDA.compile(graph).source()
    assert "def run(in0, in1, in2, in3, library):" in source
    same_as_interpreter(graph, _inputs_for(graph))


# -- convolutions: im2col kernels + the tiled GEMM ------------------------------------------------
CONVS = ir.parse("""func @f(%x: f32[2,3,9,8], %w: f32[4,3,3,2], %v: f64[1,2,5,5], %u: f64[3,2,2,2])
    -> (f32[2,4,7,7], f32[2,4,5,6], f64[1,3,2,5]) {
  %0: f32[2,4,7,7] = conv2d %x, %w
  %1: f32[2,4,5,6] = conv2d %x, %w {stride=[2, 2], padding=[1, 2], dilation=[1, 1]}
  %2: f64[1,3,2,5] = conv2d %v, %u {stride=[2, 1], padding=[0, 1], dilation=[2, 2]}
  return %0, %1, %2
}""")


def test_convolutions_run_as_im2col_and_the_tiled_gemm_and_match_the_interpreter():
    source = CUDA.compile(CONVS).source()
    assert "def gemm" in source  # im2col kernels, then the tiled GEMM
    assert "library.conv2d" not in source  # on the device, not a library call
    same_as_interpreter(CONVS, _inputs_for(CONVS))


def test_a_donated_array_passed_twice_is_copied_before_it_is_written():
    # two tensors sharing one device array (p and p.detach()): the update must not reach the
    # other argument, which the sum reads
    graph = ir.parse("""func @f(%p: f32[40], %q: f32[40]) -> (f32[40] aliases %p, f32[]) {
  %0: f32[40] = neg %p
  %1: f32[] = sum %q {axes=[0]}
  return %0, %1
}""")
    compiled = CUDA.compile(graph)
    assert compiled.in_place == {0}
    shared = memory.to_device(np.ones(40, F))
    updated, total = compiled(shared, shared)
    assert updated is not shared
    np.testing.assert_array_equal(memory.to_host(shared), np.ones(40, F))
    np.testing.assert_array_equal(memory.to_host(updated), -np.ones(40, F))
    assert memory.to_host(total) == 40


def test_float_products_are_rounded_on_their_own_not_contracted_into_fmas():
    # libNVVM contracts a*b + c into one FMA by default: on an H200, binary_cross_entropy's
    # cancellations then gave +-6e291 where the reference gives -0.0. Products go through
    # __nv_fmul_rn/__nv_dmul_rn, which are never contracted; integer products stay infix.
    graph = ir.parse("""func @f(%a: f32[4], %b: f64[4], %n: i32[4]) -> (f32[4], f64[4], i32[4]) {
  %0: f32[4] = mul %a, %a
  %1: f32[4] = add %0, %a
  %2: f64[4] = mul %b, %b
  %3: f64[4] = sub %2, %b
  %4: i32[4] = mul %n, %n
  return %1, %3, %4
}""")
    source = CUDA.compile(graph).source()
    assert "libdevice.fmul_rn(" in source and "libdevice.dmul_rn(" in source, source
    same_as_interpreter(graph, _inputs_for(graph))
