"""The numba backend computes what the interpreter (the NumPy oracle) computes.

The same checks as the llvm backend's (tests/test_backend_llvm.py, whose helpers these tests
import): kernels built from exact scalar primitives match the interpreter bit for bit; those
calling libm (exp, log, tanh, sin, erf, float pow) and float sums match within the
tests/conftest.py tolerances. numba compiles each kernel in about 0.1 s, so checks are batched
into few graphs: one per op for the registry samples, a handful of dtype combinations per op on
special values (every combination for ``cast``).
"""
from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_backend_llvm import (
    ELEMENTWISE_FUSED,
    FUSED_FILES,
    INEXACT_OPS,
    NOT_ONE_LOOP_NEST,
    REDUCTION_FUSED,
    SWEEP,
    _graphs_in,
    _inputs_for,
    _unspecified,
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
from test_registry import DOMAINS, SAMPLES, assert_same_bits, case_dtypes, special_values

import backends
import graphc
import ir
from backends.kernel import build_program
from backends.llvm.scalar import EXACT as LLVM_EXACT
from backends.numba.backend import SUPPORTED_DTYPES as NUMBA_DTYPES
from backends.numba.backend import NumbaBackend
from backends.numba.scalar import EXACT
from conftest import assert_close
from ir import dtypes
from ir.errors import IntegerDivisionByZero
from ir.graph import Graph
from ir.types import TensorType

NUMBA = backends.get("numba")
INTERPRETER = backends.get("interpreter")
F = np.float32


def same_as_interpreter(graph: Graph, arrays, **kwargs) -> None:
    assert_same_as_interpreter(graph, arrays, backend=NUMBA, **kwargs)


def test_numba_computes_the_same_primitives_exactly_as_llvm():
    # the llvm tests' notion of an exact program (is_exact, INEXACT_OPS) is reused here
    assert EXACT == LLVM_EXACT


# -- every registry op, on the registry walk's samples (one graph per op) ------------------------
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_registry_op_matches_the_interpreter_on_its_samples(name):
    """... in the dtypes the backend runs; a sample in another dtype is refused at compile time."""
    graph, arrays, outputs = Graph(name), [], []
    for case in SAMPLES[name]:
        refused = case_dtypes(name, case) - NUMBA_DTYPES
        if refused:
            arrays_of_case = [np.asarray(a) for a in case.inputs]
            assert_refuses_dtypes(NUMBA, one_node_graph(name, arrays_of_case, case.attrs), refused)
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


# -- elementwise ops on special values -----------------------------------------------------------
def _combinations(name: str, supported=NUMBA_DTYPES) -> list:
    """The dtype combinations checked for ``name``: one per first operand dtype (all for cast),
    among the ``supported`` dtypes (the backend's)."""
    def runs(combo):
        operand_dtypes, attrs = combo
        out = ir.get_op(name).infer([TensorType(d, (2,)) for d in operand_dtypes], attrs).dtype
        return {*operand_dtypes, out, *(v for v in attrs.values()
                                        if isinstance(v, dtypes.DType))} <= supported
    combos = [c for c in SWEEP[name] if runs(c)
              and (not _has_half(c) or _half_swept(name, c))
              and (not _has_narrow_int(c) or _narrow_int_swept(name, c))]
    if name == "cast":
        return combos
    return list({combo[0][0].name: combo for combo in combos}.values())


# f16/bf16 are swept on a few ops and on their casts to and from f32 and f64 (numba compiles
# slowly): they run every primitive through one wrapper (computed in f32, rounded back:
# ScalarRenderer.in_f32); the registry samples above and the llvm sweep (the same conversions'
# IR: backends.llvm.half) cover the rest
HALF_SWEEP = frozenset(("add", "maximum", "lt", "exp"))


def _dtypes_of(combo) -> set:
    operand_dtypes, attrs = combo
    return {*operand_dtypes, *(v for v in attrs.values() if isinstance(v, dtypes.DType))}


def _has_half(combo) -> bool:
    return any(d.is_low_precision_float for d in _dtypes_of(combo))


def _half_swept(name: str, combo) -> bool:
    if name == "cast":
        return _dtypes_of(combo) - {dtypes.f32, dtypes.f64} in ({dtypes.f16}, {dtypes.bf16})
    return name in HALF_SWEEP


# u8, i8 and i16 likewise (numba compiles slowly: sweeping them on every op took 2.4 minutes):
# a few ops where their wrap-around and signedness show, and their casts to and from the wide
# types; every primitive on them is the same rule as on i32 (computed in i64, wrapped back:
# backends.numba.scalar.NARROW_INTS), and the registry samples above run every op on them
NARROW_INT_SWEEP = frozenset(("add", "mul", "neg", "abs", "maximum", "lt", "bitwise_not"))
NARROW_INTS = frozenset((dtypes.u8, dtypes.i8, dtypes.i16))
WIDE = frozenset((dtypes.i32, dtypes.i64, dtypes.f32, dtypes.f64, dtypes.bool_))


def _has_narrow_int(combo) -> bool:
    return bool(_dtypes_of(combo) & NARROW_INTS)


def _narrow_int_swept(name: str, combo) -> bool:
    if name == "cast":
        return len(_dtypes_of(combo) - WIDE) == 1
    return name in NARROW_INT_SWEEP


@pytest.mark.parametrize("name", sorted(SWEEP))
def test_elementwise_op_matches_the_interpreter_on_special_values(name):
    graph, arrays, checks = Graph(name), [], []
    for operand_dtypes, attrs in _combinations(name):
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
    got, want = NUMBA.compile(graph)(*arrays), INTERPRETER.compile(graph)(*arrays)
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


def test_integer_arithmetic_wraps_around_like_numpy_although_numba_widens_int32():
    big = np.array([2**31 - 1, -2**31, 7], np.int32)
    graph = Graph("wrap")
    a, b = graph.add_input("a", TensorType(dtypes.i32, (3,))), graph.add_input(
        "b", TensorType(dtypes.i32, (3,)))
    graph.set_outputs([graph.add_node(op, [a, b]).output for op in ("add", "mul", "sub")]
                      + [graph.add_node(op, [a]).output for op in ("neg", "abs")])
    same_as_interpreter(graph, [big, big], exact=True)


def test_float_division_by_zero_gives_inf_and_nan_not_an_exception():
    x, y = np.array([1, -1, 0], F), np.zeros(3, F)
    (got,) = NUMBA.compile(one_node_graph("div", [x, y], {}))(x, y)
    np.testing.assert_array_equal(got, np.array([np.inf, -np.inf, np.nan], F))


def test_pow_of_halves_is_a_root_as_in_the_reference():
    assert_pow_of_halves_is_a_root(NUMBA)


def test_float32_sums_add_in_float64():
    # a numba fold is one running sum: in float32, 2^20 copies of 0.1 summed to 1% off; in
    # float64 the total is float32's nearest to the exact sum
    x = np.full((2, 1 << 20), 0.1, np.float32)
    (got,) = NUMBA.compile(one_node_graph("sum", [x], {"axes": [1]}))(x)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, x.astype(np.float64).sum(axis=1).astype(np.float32))


# -- shapes and reductions -----------------------------------------------------------------------
def test_broadcasting_reductions_and_movement_on_empty_and_0d_shapes():
    rng = np.random.default_rng(0)
    graph = ir.parse("""func @f(%x: f32[2,3,4], %y: f32[3,1], %s: f32[], %e: f32[0,3],
                               %n: i32[2,3,4]) -> (f32[2,3,4], f32[2,1,4], f32[3], i32[3,4],
                               i64[2,4], f32[4,2,3], f32[1,3,2], f32[], bool[3,4]) {
  %0: f32[2,3,4] = mul %x, %y
  %1: f32[2,3,4] = add %0, %s
  %2: f32[2,1,4] = sum %1 {axes=[1], keepdim=true}
  %3: f32[3] = sum %e {axes=[0]}
  %4: i32[3,4] = max %n {axes=[0]}
  %5: i64[2,4] = argmin %x {axis=1}
  %6: f32[4,2,3] = transpose %x {perm=[2,0,1]}
  %7: f32[1,3,2] = slice %x {starts=[1,0,1], stops=[2,3,4], steps=[1,1,2]}
  %8: f32[] = neg %s
  %9: bool[3,4] = min %n {axes=[0]}
  return %1, %2, %3, %4, %5, %6, %7, %8, %9
}""".replace("%9: bool[3,4] = min %n {axes=[0]}",
             "%10: bool[2,3,4] = gt %n, %n\n  %9: bool[3,4] = max %10 {axes=[0]}"))
    arrays = [rng.standard_normal(s).astype(F) for s in [(2, 3, 4), (3, 1), (), (0, 3)]]
    arrays.append(rng.integers(-5, 5, size=(2, 3, 4)).astype(np.int32))
    same_as_interpreter(graph, arrays)


# -- the generated source ------------------------------------------------------------------------
def test_source_is_python_loops_with_typed_f32_constants_and_named_library_calls():
    x, w = np.ones((2, 3), F), np.ones((3, 4), F)
    graph = ir.parse("""func @f(%x: f32[2,3], %w: f32[3,4]) -> (f32[2,4]) {
  %0: f32[2,4] = matmul %x, %w
  %1: f32[2,4] = relu %0
  return %1
}""")
    compiled = NUMBA.compile(graph)
    source = compiled.source()
    assert '@njit("void(float32[::1], float32[::1])", cache=True, error_model="numpy")' in source
    assert "def k0(t0, t1):" in source and "for i1 in range(4):" in source
    assert "np.float32(0.0)" in source  # relu's zero is an f32 constant: the kernel stays f32
    assert "library.gemm_0(x, w)  # library call: GEMM, NumPy matmul" in source
    (got,) = compiled(x, w)
    np.testing.assert_array_equal(got, np.maximum(x @ w, 0))
    ints = NUMBA.compile(ir.parse("""func @g(%x: i32[2,3], %w: i32[3,4]) -> (i32[2,4]) {
  %0: i32[2,4] = matmul %x, %w
  return %0
}"""))  # integer matmuls promote: they stay the op's NumPy reference
    assert "library.matmul_0(x, w)  # library call: matmul, NumPy reference" in ints.source()


def test_a_transposed_gemm_operand_is_read_transposed():
    x, w = np.arange(6, dtype=F).reshape(2, 3), np.arange(12, dtype=F).reshape(4, 3)
    graph = ir.parse("""func @f(%x: f32[2,3], %w: f32[4,3]) -> (f32[2,4]) {
  %0: f32[3,4] = transpose %w {perm=[1,0]}
  %1: f32[2,4] = matmul %x, %0
  return %1
}""")
    compiled = NUMBA.compile(graph)
    assert "GEMM (b transposed)" in compiled.source()
    (got,) = compiled(x, w)
    np.testing.assert_array_equal(got, x @ w.T)  # small integers: exact in f32


def test_buffer_names_that_clash_with_generated_names_are_renamed():
    graph = ir.parse("""func @f(%t0: f32[2], %np: f32[2], %x0: f32[2], %acc: f32[2]) -> (f32[2]) {
  %0: f32[2] = add %t0, %np
  %1: f32[2] = mul %0, %x0
  %2: f32[2] = sub %1, %acc
  return %2
}""")
    arrays = [np.array([1, 2], F), np.array([3, 4], F), np.array([5, 6], F), np.array([1, 1], F)]
    same_as_interpreter(graph, arrays, exact=True)
    assert "def run(in0, in1, in2, in3, library):" in NUMBA.compile(graph).source()


def test_generated_modules_are_cached_on_disk_and_reloaded_by_numba(tmp_path):
    graph = one_node_graph("tanh", [np.ones(5, F)], {})
    first = NumbaBackend(folder=tmp_path).compile(graph)
    assert first.compile_info.source == "fresh"
    (path,) = tmp_path.glob("*.py")
    assert path.read_text() == first.source()
    assert NumbaBackend(folder=tmp_path).compile(graph).compile_info.source == "disk"


def test_the_default_module_folder_is_the_numba_folder_of_graphcs_cache_dir():
    from backends.llvm.cache import cache_dir
    graph = one_node_graph("exp", [np.ones(7, F)], {})
    compiled = NUMBA.compile(graph)
    assert (cache_dir() / "numba" / f"g{compiled.compile_info.key}.py").read_text() == \
        compiled.source()


def test_graphc_cache_info_and_clear_count_the_generated_modules(tmp_path):
    """A module and what numba caches for it are one entry; files graphc did not write stay."""
    from backends.llvm import cache
    compiled = NumbaBackend(folder=tmp_path / "numba").compile(
        one_node_graph("sin", [np.ones(6, F)], {}))
    compiled(np.ones(6, F))
    machine_code = list((tmp_path / "numba" / "__pycache__").glob("*.nbc"))
    assert machine_code
    theirs = [tmp_path / "numba" / "notes.py", tmp_path / "numba" / "__pycache__" / "x.pyc"]
    for path in theirs:
        path.write_text("not graphc's")
    found = cache.summary(tmp_path)
    written = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    assert (found.entries, found.total_bytes) == (1, written - 2 * len("not graphc's"))
    assert cache.clear(tmp_path) == 1
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == sorted(theirs)
    assert cache.summary(tmp_path).entries == 0


def test_a_module_folder_that_cannot_be_written_is_a_clear_error(tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(backends.BackendError, match="cannot write its generated module to .*"
                                                    "file.*GRAPHC_CACHE_DIR"):
        NumbaBackend(folder=not_a_folder).compile(one_node_graph("cos", [np.ones(6, F)], {}))


def test_wrong_inputs_get_the_backends_clear_error():
    compiled = NUMBA.compile(one_node_graph("neg", [np.ones(3, F)], {}))
    with pytest.raises(backends.ExecutionError, match=r"input %a0 expects f32\[3\], got f32\[4\]"):
        compiled(np.ones(4, F))


def test_inputs_that_are_not_contiguous_are_read_correctly():
    x = np.arange(12, dtype=F).reshape(3, 4).T
    (got,) = NUMBA.compile(one_node_graph("neg", [np.ascontiguousarray(x)], {}))(x)
    np.testing.assert_array_equal(got, -x)


def test_read_only_inputs_are_read():
    # a one-element broadcast view (what a fill_ under no_grad leaves) is read-only: numba types
    # it apart, and it matched no kernel signature (TypeError: No matching definition)
    x = np.broadcast_to(np.array([2.0], F), (1,))
    assert not x.flags.writeable
    (got,) = NUMBA.compile(one_node_graph("neg", [np.ones(1, F)], {}))(x)
    np.testing.assert_array_equal(got, [-2.0])
    layer = graphc.nn.Linear(2, 1)
    compiled = graphc.compile(layer, backend="numba")
    with graphc.no_grad():
        layer.bias.fill_(100.0)
    np.testing.assert_allclose(compiled(graphc.ones(1, 2)).detach().numpy(),
                               layer(graphc.ones(1, 2)).detach().numpy(), rtol=1e-6)


# -- fused graphs --------------------------------------------------------------------------------
@pytest.mark.parametrize("path", FUSED_FILES, ids=lambda p: p.name)
def test_fused_graph_files_match_the_interpreter(path):
    for graph in _graphs_in(path):
        same_as_interpreter(graph, _inputs_for(graph))


@pytest.mark.parametrize("graph", [ELEMENTWISE_FUSED, REDUCTION_FUSED, NOT_ONE_LOOP_NEST],
                         ids=["elementwise", "reduction", "not-one-loop-nest"])
def test_fused_bodies_match_the_interpreter(graph):
    same_as_interpreter(graph, _inputs_for(graph))


# -- random graphs -------------------------------------------------------------------------------
@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much])
@given(graph=exact_random_graphs(), seed=st.integers(0, 3))
def test_random_graphs_match_the_interpreter_bit_for_bit(graph, seed):
    assume(is_exact(build_program(graph)))  # float sums: NumPy's summation order differs
    arrays = _inputs_for(graph, seed)
    try:
        INTERPRETER.compile(graph)(*arrays)
    except (backends.ExecutionError, IntegerDivisionByZero) as error:  # an index out of range
        with pytest.raises(type(error), match=re.escape(str(error))):
            NUMBA.compile(graph)(*arrays)
        return
    same_as_interpreter(graph, arrays, exact=True)


# -- a compiled training step --------------------------------------------------------------------
def test_a_compiled_training_step_on_numba_matches_the_interpreter():
    assert_training_matches_interpreter("numba", small_mlp, *small_batch(), lr=0.1)
