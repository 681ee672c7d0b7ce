"""The llvm backend computes what the interpreter (the NumPy oracle) computes.

Kernels built only from exact scalar primitives (arithmetic, comparisons, select, casts, sqrt,
floor, ...) must match the interpreter bit for bit: NaN positions, signs of zero, integer
wrap-around. Kernels that call libm (exp, log, tanh, sin, erf, float pow) and float sums (whose
order NumPy chooses: pairwise, by blocks) match within the float32/float64 tolerances of
tests/conftest.py. Under fast math (the default), f32 exp/expm1/log/log1p/tanh/sigmoid/erf are
checked against float64 within their documented ulp bounds, and special values bit for bit.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_ir_text import DTYPES, Builder, identifiers
from test_registry import (
    DOMAINS,
    SAMPLES,
    _body_params,
    assert_same_bits,
    case_dtypes,
    special_values,
)
from ulp import reference, ulp_errors

import backends
import graphc
import ir
import passes
from backends.kernel import Gemm, Kernel, KernelProgram, LibraryCall, build_program
from backends.llvm.backend import SUPPORTED_DTYPES as LLVM_DTYPES
from backends.llvm.backend import LLVMBackend
from backends.llvm.fastmath import FUNCTIONS as FAST_FUNCTIONS
from backends.llvm.fastmath import ULP_BOUNDS as FAST_ULP_BOUNDS
from backends.llvm.scalar import EXACT
from conftest import TOLERANCES, assert_close, float32_dot_tolerance
from ir import dtypes
from ir.errors import IntegerDivisionByZero
from ir.graph import Graph
from ir.scalar import Reduction, ScalarExpr
from ir.types import TensorType

HERE = Path(__file__).parent
LLVM = backends.get("llvm")
INTERPRETER = backends.get("interpreter")


# -- helpers -------------------------------------------------------------------------------------
def _primitives(expr: ScalarExpr) -> set[str]:
    seen = {expr.op}
    for arg in expr.args:
        seen |= _primitives(arg)
    return seen


def is_exact(program: KernelProgram) -> bool:
    """Whether every kernel of ``program`` computes bit for bit what NumPy computes."""
    if any(isinstance(step, Gemm) for step in program.steps):
        return False  # BLAS picks its summation order by shape (gemv for one row, blocking)
    for kernel in program.kernels:
        used = _primitives(kernel.body)
        for store in kernel.stores:
            used |= _primitives(store.value)
        fold = kernel.reduction
        if isinstance(fold, Reduction):
            used |= _primitives(fold.combine)
            if fold.accumulator.is_float and fold.combine.op == "add":
                return False  # NumPy sums floats pairwise, in blocks: another rounding order
        if not used - {"var"} <= EXACT:
            return False
    return True


def assert_same_as_interpreter(graph: Graph, arrays, *, exact: bool | None = None,
                               backend=LLVM, tol: dict | None = None) -> None:
    """``backend`` (llvm) and the interpreter give the same results on ``arrays``: bit for bit
    where the program is exact, else within ``tol`` (default: the result dtype's tolerance)."""
    ir.verify(graph)
    compiled = backend.compile(graph)
    if exact is None:
        exact = is_exact(compiled.program)
    want = INTERPRETER.compile(graph)(*arrays)
    got = compiled(*arrays)  # after the interpreter: aliased inputs are donated, updated in place
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape and g.dtype == w.dtype, f"output {i}: {g.dtype}{g.shape} " \
            f"!= {w.dtype}{w.shape}"
        if exact or not dtypes.from_numpy(g.dtype).is_float:
            assert_same_bits(g, w, lambda i=i: f"output {i} of\n{graph}")
        else:
            assert_close(g, w, **(tol or {}))


def one_node_graph(op: str, arrays, attrs: dict) -> Graph:
    graph = Graph(op)
    inputs = [graph.add_input(f"a{i}", TensorType(dtypes.from_numpy(a.dtype), a.shape))
              for i, a in enumerate(arrays)]
    node = graph.add_node(op, inputs, attrs)
    graph.set_outputs(node.outputs)
    return graph


def assert_pow_of_halves_is_a_root(backend) -> None:
    """``x ** 0.5`` and ``x ** -0.5``, with a constant exponent and with an input exponent
    holding +-0.5, give ``np.sqrt``'s and ``1 / np.sqrt``'s bits on ``backend``: -0.0 gives -0.0
    and -inf, -inf gives NaN, where C's pow gives +0.0, +inf, +inf and +0.0 (the reference,
    ``ir.scalar.evaluate.power``, and PyTorch; numba and cuda tests call this too)."""
    for dtype in ("f32", "f64"):
        x = np.array([-0.0, -np.inf, np.inf, 4.0, -1.0, np.nan, 2.0, 0.0, -0.0],
                     np.float32 if dtype == "f32" else np.float64)
        y = np.array([0.5, 0.5, 2.0, 0.5, 3.0, -0.5, 0.5, -0.5, -0.5], x.dtype)
        (mixed,) = backend.compile(one_node_graph("pow", [x, y], {}))(x, y)
        with np.errstate(invalid="ignore", divide="ignore"):
            roots = {0.5: np.sqrt(x), -0.5: np.divide(x.dtype.type(1), np.sqrt(x))}
            want_mixed = np.where(y == 0.5, roots[0.5],
                                  np.where(y == -0.5, roots[-0.5], np.power(x, y)))
        assert mixed.tobytes() == want_mixed.tobytes(), (mixed, want_mixed)
        for exponent, want in roots.items():
            constant = ir.parse(f"""func @f(%x: {dtype}[9]) -> ({dtype}[9]) {{
  %0: {dtype}[] = const {{value={exponent}, dtype={dtype}, shape=[]}}
  %1: {dtype}[9] = pow %x, %0
  return %1
}}""")
            (got,) = backend.compile(constant)(x)
            assert got.tobytes() == want.tobytes(), (exponent, got, want)


def test_pow_of_halves_is_a_root_as_in_the_reference():
    assert_pow_of_halves_is_a_root(LLVM)


# -- every registry op, on the registry walk's samples --------------------------------------------
SAMPLE_PARAMS = [pytest.param(name, i, id=f"{name}-{case.id or i}")
                 for name, cases in SAMPLES.items() for i, case in enumerate(cases)]


def assert_refuses_dtypes(backend, graph: Graph, refused) -> None:
    """``backend`` refuses ``graph`` at compile time, naming one of the ``refused`` dtypes."""
    with pytest.raises(backends.UnsupportedDTypeError) as refusal:
        backend.compile(graph)
    assert any(f"dtype {d}" in str(refusal.value) for d in refused), str(refusal.value)


@pytest.mark.parametrize("name,i", SAMPLE_PARAMS)
def test_every_registry_op_matches_the_interpreter_on_its_samples(name, i):
    """... or, in a dtype llvm does not run, is refused at compile time."""
    case = SAMPLES[name][i]
    arrays = [np.asarray(a) for a in case.inputs]
    graph = one_node_graph(name, arrays, case.attrs)
    refused = case_dtypes(name, case) - LLVM_DTYPES
    if refused:
        assert_refuses_dtypes(LLVM, graph, refused)
    else:
        assert_same_as_interpreter(graph, arrays)


def test_every_registry_op_has_llvm_samples():
    assert {op.name for op in ir.all_ops()} <= set(SAMPLES)


# -- every elementwise op in every dtype it accepts, on special values ---------------------------
# One graph per op holds every dtype combination it accepts (one module to compile, not dozens):
# each combination on every pair of special values, and, where all operands share a dtype, each
# operand as a 0-d tensor against the others.
# f16/bf16 go through every cast, and through each other op in one of the two (alternately),
# unmixed (bools aside): both compute every primitive through the same f32 wrapper
# (ScalarRenderer._in_f32) and differ only in their conversions, which the cast sweep covers;
# mixed with other dtypes they only add casts to a body (OpDef.scalar_body). All combinations
# would double the file's time.
SWEEP: dict[str, list] = {}


def _swept(name: str, operand_dtypes, half: dtypes.DType) -> bool:
    numbers = {d for d in operand_dtypes if not d.is_bool}
    halves = {d for d in numbers if d.is_low_precision_float}
    return name == "cast" or not halves or numbers == {half}


_PARAMS = [p.values for p in _body_params(sorted(LLVM_DTYPES, key=lambda d: d.rank))]
_HALF_OF = {name: (dtypes.f16, dtypes.bf16)[k % 2]
            for k, name in enumerate(sorted({name for name, _, _ in _PARAMS}))}
for _name, _dtypes, _attrs in _PARAMS:
    if _swept(_name, _dtypes, _HALF_OF[_name]):
        SWEEP.setdefault(_name, []).append((_dtypes, ir.get_op(_name).check_attrs(_attrs)))


def _unspecified(name, operand_dtypes, attrs, arrays):
    """Elements whose value no spec fixes, left out of the comparison: float -> int casts of
    NaN, inf or out-of-range values (ir.scalar.expr), and -inf to a 0-d exponent 0.5, which NumPy
    computes as sqrt (NaN) where libm's pow gives +inf."""
    if name == "cast" and attrs["dtype"].is_int and operand_dtypes[0].is_float:
        info = np.iinfo(attrs["dtype"].numpy)
        x = arrays[0].astype(np.float64)
        return ~(np.isfinite(x) & (x >= info.min) & (x < float(info.max) + 1))
    if name == "pow" and arrays[1].ndim == 0 and arrays[1] == 0.5:
        return np.broadcast_to(arrays[0] == -np.inf, np.broadcast_shapes(*(a.shape for a in arrays)))
    return None


@pytest.mark.parametrize("name", sorted(SWEEP))
def test_elementwise_op_matches_the_interpreter_in_every_dtype_on_special_values(name):
    graph = Graph(name)
    arrays, scalars, checks = [], [], []  # scalars: (input index, values it takes)

    def add_input(array):
        arrays.append(array)
        return graph.add_input(f"a{len(arrays) - 1}",
                               TensorType(dtypes.from_numpy(array.dtype), array.shape))

    for operand_dtypes, attrs in SWEEP[name]:
        out = ir.get_op(name).infer([TensorType(d, (2,)) for d in operand_dtypes], attrs).dtype
        columns = [DOMAINS.get((name, k), lambda v, out: v)(special_values(d), out)
                   for k, d in enumerate(operand_dtypes)]
        n = len(columns)
        layouts = [[None] * n]
        if n > 1 and len(set(operand_dtypes)) == 1:  # (mixed 0-d promotion: test_registry)
            layouts += [[k if j == k else None for j in range(n)] for k in range(n)]
        for zero_d in layouts:  # which operand (if any) is 0-d
            flat = [m.ravel() for m in np.meshgrid(
                *[c for k, c in enumerate(columns) if k not in zero_d], indexing="ij")]
            operands = []
            for k in range(n):
                if k in zero_d:
                    operands.append(add_input(np.array(columns[k][0])))
                    scalars.append((len(arrays) - 1, columns[k]))
                else:
                    operands.append(add_input(flat.pop(0)))
            node = graph.add_node(name, operands, attrs)
            exact = name not in INEXACT_OPS or not out.is_float
            checks.append((node.output, [len(arrays) - n + k for k in range(n)],
                           operand_dtypes, attrs, exact))
    graph.set_outputs([c[0] for c in checks])
    fast, oracle = LLVM.compile(graph), INTERPRETER.compile(graph)
    for j in range(max((len(v) for _, v in scalars), default=1)):
        for index, values in scalars:
            arrays[index] = np.array(values[j % len(values)])
        got, want = fast(*arrays), oracle(*arrays)
        for (_value, operands, operand_dtypes, attrs, exact), g, w in zip(checks, got, want):
            skip = _unspecified(name, operand_dtypes, attrs, [arrays[i] for i in operands])
            if skip is not None:
                g, w = np.where(skip, 0, g).astype(g.dtype), np.where(skip, 0, w).astype(w.dtype)
            shown = ", ".join(f"{arrays[i].dtype}{list(arrays[i].shape)}" for i in operands)
            label = f"{name} on {shown}"
            if exact:
                assert_same_bits(g, w, lambda label=label: label)
            elif name in FAST_FUNCTIONS and g.dtype == np.float32:
                assert_within_fast_math_bound(name, arrays[operands[0]], g, label)
            else:
                assert_close(g, w)


def assert_within_fast_math_bound(name: str, x: np.ndarray, got: np.ndarray, label: str) -> None:
    """An f32 result of fast math: within the function's documented ulp bound of float64, and
    bit for bit the float32 rounding of it where that is special (+-0, +-inf, NaN)."""
    x = x.astype(np.float32)  # what the op computes on (the interpreter casts the same way)
    want = reference(name, x)
    errors = ulp_errors(got, want)
    assert errors.max() <= FAST_ULP_BOUNDS[name], f"{label}: {errors.max():.2f} ulp at " \
        f"{x.ravel()[np.argmax(errors)]!r}"
    with np.errstate(over="ignore"):
        rounded = np.asarray(want).astype(np.float32)
    special = (rounded == 0) | np.isinf(rounded) | np.isnan(rounded)
    assert_same_bits(got[special], rounded[special], lambda: f"{label} on special values")


# -- shapes: broadcasting, 0-d, empty, strides ---------------------------------------------------
F = np.float32


@pytest.mark.parametrize("x_shape,y_shape", [((), ()), ((0,), ()), ((0, 3), (3,)), ((2, 0), (2, 1)),
                                             ((3, 1), (1, 4)), ((2, 3, 4), (3, 1))])
def test_broadcasting_elementwise_kernels_on_empty_and_0d_shapes(x_shape, y_shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(F)
    y = rng.standard_normal(y_shape).astype(F)
    assert_same_as_interpreter(one_node_graph("mul", [x, y], {}), [x, y])


@pytest.mark.parametrize("op", ["sum", "max", "min"])
@pytest.mark.parametrize("shape,axes,keepdim", [((2, 3, 4), [1], False), ((2, 3, 4), [0, 2], True),
                                                ((3,), [0], False), ((2, 3), [], False),
                                                ((0, 3), [1], True), ((4, 0), [0], False)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.bool_])
def test_reductions_fold_like_the_interpreter_on_every_dtype_and_empty_tensors(
        op, shape, axes, keepdim, dtype):
    x = np.random.default_rng(1).integers(-3, 4, size=shape).astype(dtype)
    assert_same_as_interpreter(one_node_graph(op, [x], {"axes": axes, "keepdim": keepdim}), [x])


def test_sum_of_an_empty_axis_is_zero_and_of_nothing_is_the_input():
    x = np.zeros((3, 0), F)
    (got,) = LLVM.compile(one_node_graph("sum", [x], {"axes": [1]}))(x)
    np.testing.assert_array_equal(got, np.zeros(3, F))


@pytest.mark.parametrize("op", ["argmax", "argmin"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.bool_])
def test_arg_reductions_pick_the_first_extremum_and_the_first_nan(op, dtype):
    x = np.array([[1, 3, 3, 0], [2, 2, 0, 2], [0, 0, 0, 0]], dtype)
    if np.dtype(dtype).kind == "f":
        x[1, 2] = np.nan
        x[1, 3] = np.nan
    for axis, keepdim in [(1, False), (0, True), (-1, True)]:
        assert_same_as_interpreter(one_node_graph(op, [x], {"axis": axis, "keepdim": keepdim}),
                                   [x], exact=True)


@pytest.mark.parametrize("op,attrs", [
    ("transpose", {"perm": [2, 0, 1]}), ("reshape", {"shape": [6, 4]}),
    ("broadcast_to", {"shape": [5, 2, 3, 4]}),
    ("slice", {"starts": [1, 0, 1], "stops": [2, 3, 4], "steps": [1, 2, 2]}),
    ("slice", {"starts": [0, 3, 0], "stops": [2, 3, 4], "steps": [1, 1, 1]}),  # empty
])
def test_movement_ops_are_copy_kernels_with_strided_index_maps(op, attrs):
    x = np.arange(24, dtype=np.int64).reshape(2, 3, 4)
    graph = one_node_graph(op, [x], attrs)
    assert isinstance(build_program(graph).steps[0], Kernel)
    assert_same_as_interpreter(graph, [x])


def test_integer_arithmetic_wraps_around_like_numpy():
    big = np.array([2**31 - 1, -2**31, 7], np.int32)
    for op in ("add", "mul", "sub"):
        assert_same_as_interpreter(one_node_graph(op, [big, big], {}), [big, big], exact=True)
    assert_same_as_interpreter(one_node_graph("neg", [big], {}), [big], exact=True)
    assert_same_as_interpreter(one_node_graph("abs", [big], {}), [big], exact=True)


def test_inputs_that_are_not_contiguous_are_read_correctly():
    x = np.arange(12, dtype=F).reshape(3, 4).T  # a transposed view
    graph = one_node_graph("neg", [np.ascontiguousarray(x)], {})
    (got,) = LLVM.compile(graph)(x)
    np.testing.assert_array_equal(got, -x)


# -- library calls and what source() says -------------------------------------------------------
def test_ops_without_a_scalar_body_are_library_calls_named_in_the_source():
    # integer matmul: BLAS has none, so it stays NumPy's reference (float ones are GEMMs)
    x, w = np.ones((2, 3), np.int32), np.ones((3, 4), np.int32)
    graph = one_node_graph("matmul", [x, w], {})
    compiled = LLVM.compile(graph)
    assert isinstance(compiled.program.steps[0], LibraryCall)
    assert "library call matmul(%a0, %a1)" in compiled.source()
    assert "NumPy reference" in compiled.source()


def test_source_shows_the_kernel_program_and_the_llvm_ir():
    x = np.ones(4, F)
    source = LLVMBackend(fast_math=False).compile(one_node_graph("exp", [x], {})).source()
    assert "kernel k0 over [4]" in source
    assert 'define void @"k0"' in source
    assert "llvm.exp.f32" in source  # without fast math: libm through an intrinsic


def test_wrong_inputs_get_the_backends_clear_error():
    compiled = LLVM.compile(one_node_graph("neg", [np.ones(3, F)], {}))
    with pytest.raises(backends.ExecutionError, match=r"input %a0 expects f32\[3\], got f32\[4\]"):
        compiled(np.ones(4, F))


# -- fused graphs --------------------------------------------------------------------------------
FUSED_FILES = sorted((HERE / "ir_cases").glob("fused*.gir")) + sorted(
    p for p in (HERE / "golden").glob("*.gir") if "fused" in p.read_text())


INPUT_BOUND = 2.0  # float inputs of the graph files are uniform in [-2, 2]


def _inputs_for(graph: Graph, seed: int = 0):
    rng = np.random.default_rng(seed)
    arrays = []
    for v in graph.inputs:
        t = v.type
        if t.dtype.is_float:
            arrays.append(rng.uniform(-INPUT_BOUND, INPUT_BOUND, size=t.shape)
                          .astype(t.dtype.numpy))
        else:
            arrays.append(rng.integers(0, 3, size=t.shape).astype(t.dtype.numpy))
    return arrays


def _graphs_in(path: Path) -> list[Graph]:
    """The graph of a .gir file (golden files: the part before the CHECK lines)."""
    text = "\n".join(line for line in path.read_text().splitlines()
                     if not line.lstrip().startswith("//"))
    return [ir.parse(text)]


@pytest.mark.parametrize("path", FUSED_FILES, ids=lambda p: p.name)
def test_fused_graph_files_match_the_interpreter(path):
    for graph in _graphs_in(path):
        # a float32 product's sums may be added in another order than the interpreter's BLAS
        # (graphc's tiled loop): their tolerance grows with their length (the products of the
        # graph files multiply inputs, within INPUT_BOUND)
        depths = [node.inputs[0].type.shape[-1] for node in graph.nodes if node.op == "matmul"
                  and node.outputs[0].type.dtype.name == "f32"]
        tol = float32_dot_tolerance(max(depths), INPUT_BOUND) if depths else None
        assert_same_as_interpreter(graph, _inputs_for(graph), tol=tol)


ELEMENTWISE_FUSED = ir.parse("""func @f(%x: f32[2,3], %b: f32[3]) -> (f32[2,3], f32[2,3]) {
  %0, %1: f32[2,3], f32[2,3] = fused %x, %b {
    (%a: f32[2,3], %c: f32[3]):
    %0: f32[2,3] = add %a, %c
    %1: f32[2,3] = relu %0
    %2: f32[2,3] = mul %1, %0
    yield %1, %2
  }
  return %0, %1
}""")
REDUCTION_FUSED = ir.parse("""func @f(%x: f32[2,3], %y: f32[2,3]) -> (f32[2,1]) {
  %0: f32[2,1] = fused %x, %y {
    (%a: f32[2,3], %b: f32[2,3]):
    %0: f32[2,3] = exp %a
    %1: f32[2,3] = mul %0, %b
    %2: f32[2,1] = max %1 {axes=[1], keepdim=true}
    yield %2
  }
  return %0
}""")
NOT_ONE_LOOP_NEST = ir.parse("""func @f(%x: f32[2,3], %w: f32[3,2]) -> (f32[2,2]) {
  %0: f32[2,2] = fused %x, %w {
    (%a: f32[2,3], %b: f32[3,2]):
    %0: f32[2,3] = neg %a
    %1: f32[2,2] = matmul %0, %b
    %2: f32[2,2] = tanh %1
    yield %2
  }
  return %0
}""")


def test_an_elementwise_fused_body_is_one_kernel_with_one_store_per_result():
    program = build_program(ELEMENTWISE_FUSED)
    assert len(program.steps) == 1 and len(program.kernels[0].stores) == 2
    assert_same_as_interpreter(ELEMENTWISE_FUSED, _inputs_for(ELEMENTWISE_FUSED))


def test_a_fused_body_ending_in_a_reduction_is_one_reduction_kernel():
    program = build_program(REDUCTION_FUSED)
    assert len(program.steps) == 1 and program.kernels[0].reduce_shape == (3,)
    assert_same_as_interpreter(REDUCTION_FUSED, _inputs_for(REDUCTION_FUSED))


CONSTANTS_FUSED = ir.parse("""func @f(%x: f32[2,3], %n: i32[2,3]) -> (f32[2,3], i32[2,3]) {
  %0, %1: f32[2,3], i32[2,3] = fused %x, %n {
    (%a: f32[2,3], %b: i32[2,3]):
    %0: f32[] = const {value=0.5, dtype=f32, shape=[]}
    %1: f32[2,3] = mul %a, %0
    %2: f32[2,3] = const {value=1.0, dtype=f32, shape=[2,3]}
    %3: f32[2,3] = add %1, %2
    %4: i32[] = const {value=2.75, dtype=i32, shape=[]}
    %5: i32[2,3] = mul %b, %4
    yield %3, %5
  }
  return %0, %1
}""")


def test_filled_constants_in_a_fused_body_are_immediates_of_one_kernel():
    # GELU's 0.5 and 1/sqrt(2) must not split the chain into one kernel per op; an int
    # constant written as 2.75 is truncated to 2, as the const reference stores it
    program = build_program(CONSTANTS_FUSED)
    assert len(program.steps) == 1 and "2:i32" in str(program), str(program)
    assert_same_as_interpreter(CONSTANTS_FUSED, _inputs_for(CONSTANTS_FUSED))


def test_a_fused_body_that_is_no_loop_nest_runs_as_steps_and_says_so():
    program = build_program(NOT_ONE_LOOP_NEST)
    assert [type(s).__name__ for s in program.steps] == ["Kernel", "Gemm", "Kernel"]
    assert "not one loop nest" in str(program)
    assert_same_as_interpreter(NOT_ONE_LOOP_NEST, _inputs_for(NOT_ONE_LOOP_NEST))


@pytest.mark.parametrize("dtype", [graphc.float32, graphc.float64])
def test_a_layer_norm_step_body_is_cut_into_few_loop_nests_matching_the_interpreter(dtype):
    # LayerNorm forward and backward fuse into bodies with a reduction read back broadcast
    # (not one loop nest): they must run as a few kernels, not one per node, with the same values
    weight = graphc.randn(16, dtype=dtype, requires_grad=True)

    def step(x):
        y = graphc.nn.functional.layer_norm(x, [16], weight)
        loss = (y * y.softmax(-1)).sum()
        loss.backward()
        return loss, weight.grad

    graph = passes.run(graphc.trace(step, graphc.randn(4, 8, 16, dtype=dtype)),
                       "dce,cse,fold,simplify,dce,fuse")
    program = build_program(graph)
    split = [note for note in program.notes if "not one loop nest" in note]
    nodes = sum(len(n.body.nodes) for n in graph.nodes if n.op == "fused")
    assert split and len(program.steps) < nodes / 2, str(program)
    assert_same_as_interpreter(graph, _inputs_for(graph))


# -- random graphs (the text round-trip's builder) -----------------------------------------------
def _calls_libm_on_floats(op) -> bool:
    """Whether ``op``'s body on f32 operands uses a primitive the backend computes with libm."""
    try:
        _, body = op.scalar_body([TensorType(dtypes.f32, ())] * (op.arity or 1),
                                 {"dtype": dtypes.f32} if op.name == "cast" else {})
    except (ir.ShapeError, TypeError):  # takes no floats (bitwise ops, where's condition)
        return False
    return not _primitives(body) - {"var"} <= EXACT


INEXACT_OPS = {op.name for op in ir.all_ops()
               if op.kind == "elementwise" and op.scalar and _calls_libm_on_floats(op)}


class ExactBuilder(Builder):
    """Random graphs of ops the llvm backend computes bit for bit as NumPy does."""

    def typed_op(self, names, inputs):
        return super().typed_op([n for n in names if n not in INEXACT_OPS], inputs)


@st.composite
def exact_random_graphs(draw):
    graph = Graph(draw(identifiers))
    for name in draw(st.lists(identifiers, min_size=1, max_size=3, unique=True)):
        shape = draw(st.lists(st.integers(1, 4), max_size=3))
        graph.add_input(name, TensorType(draw(st.sampled_from(DTYPES)), tuple(shape)))
    builder = ExactBuilder(draw, graph)
    for _ in range(draw(st.integers(1, 8))):
        getattr(builder, draw(st.sampled_from(Builder.STEPS)))()
    graph.set_outputs(draw(st.lists(st.sampled_from(builder.pool), min_size=1, max_size=3)))
    return graph


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much])
@given(graph=exact_random_graphs(), seed=st.integers(0, 3))
def test_random_graphs_match_the_interpreter_bit_for_bit(graph, seed):
    program = build_program(graph)
    assume(is_exact(program))  # float sums: NumPy's summation order differs
    arrays = _inputs_for(graph, seed)
    try:
        INTERPRETER.compile(graph)(*arrays)
    except (backends.ExecutionError, IntegerDivisionByZero) as error:  # an index out of range
        with pytest.raises(type(error), match=re.escape(str(error))):
            LLVM.compile(graph)(*arrays)
        return
    assert_same_as_interpreter(graph, arrays, exact=True)


# -- float sums ------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [65536, 65536 + 5, 1 << 20])  # blocks of 8, and a tail of 5
def test_long_float32_sums_are_cascaded(n):
    # 0.1f added n times. Chunks of CHUNK_BLOCKS blocks of 8 added pairwise: each term passes
    # through at most CHUNK_BLOCKS + log2(n) + 3 roundings, the bound (relative to the exact
    # sum of positive terms); eight running sums of n/8 terms drifted 6.5e-5 at 2^16 (1e-3 at
    # 2^20), one running sum 6e-4 at 2^16
    from backends.llvm.render import CHUNK_BLOCKS
    x = np.full((2, n), 0.1, np.float32)
    exact = x.astype(np.float64).sum(axis=1)
    bound = (CHUNK_BLOCKS + np.log2(n) + 3) * 2.0 ** -24
    eight_running = interleaved_sum(x[:1])[0]
    assert abs(eight_running - exact[0]) / exact[0] > bound  # the bound below can fail
    (got,) = LLVM.compile(one_node_graph("sum", [x], {"axes": [1]}))(x)
    np.testing.assert_allclose(got, exact, rtol=bound)


def interleaved_sum(rows: np.ndarray) -> np.ndarray:
    """Row sums in the order of the llvm backend's interleaved fold: element ``j`` into
    accumulator ``j % 8`` for the whole blocks of 8, the tail into accumulator 0, then
    ``((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))``; each addition in the rows' dtype."""
    n = rows.shape[1] // 8 * 8
    acc = np.zeros((rows.shape[0], 8), rows.dtype)
    for start in range(0, n, 8):
        acc = acc + rows[:, start:start + 8]
    for j in range(n, rows.shape[1]):
        acc[:, 0] = acc[:, 0] + rows[:, j]
    while acc.shape[1] > 1:
        acc = acc[:, 0::2] + acc[:, 1::2]
    return acc[:, 0]


def cascaded_sum(rows: np.ndarray, runs: int = 1) -> np.ndarray:
    """Row sums in the order of the llvm backend's fold of more than ``CASCADE_BLOCKS``
    blocks of 8, each row ``runs`` runs of the innermost reduced loop: each run in chunks of
    ``CHUNK_BLOCKS`` blocks (its last one shorter, with the run's tail in accumulator 0),
    each chunk on fresh accumulators, the chunks' accumulators added as a binary counter adds
    ones, the levels left added from the lowest up, then the eight accumulators pairwise."""
    from backends.llvm.render import CASCADE_BLOCKS, CHUNK_BLOCKS
    n = rows.shape[1] // runs
    blocks = n // 8
    if runs * blocks <= CASCADE_BLOCKS:
        assert runs == 1
        return interleaved_sum(rows)
    zero = np.zeros((rows.shape[0], 8), rows.dtype)
    levels: dict[int, np.ndarray] = {}
    count = 0
    for run in np.split(rows, runs, axis=1):
        whole = blocks // CHUNK_BLOCKS * CHUNK_BLOCKS
        chunks = [range(c, c + CHUNK_BLOCKS) for c in range(0, whole, CHUNK_BLOCKS)]
        if whole < blocks or blocks * 8 < n:
            chunks.append(range(whole, blocks))  # and the tail
        for chunk in chunks:
            acc = zero.copy()
            for block in chunk:
                acc = acc + run[:, 8 * block:8 * block + 8]
            if chunk.stop == blocks and chunk is chunks[-1]:
                for j in range(blocks * 8, n):
                    acc[:, 0] = acc[:, 0] + run[:, j]
            level = 0
            while count >> level & 1:  # level k holds 2^k chunks: add equal-sized sums
                acc = levels.pop(level) + acc
                level += 1
            levels[level] = acc
            count += 1
    total = zero
    for level in sorted(levels):
        total = levels[level] + total
    while total.shape[1] > 1:
        total = total[:, 0::2] + total[:, 1::2]
    return total[:, 0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [16, 37, 128, 133, 4096, 4104, 4109, 3 * 4096 + 517])
def test_float_sums_are_the_interleaved_order_bit_for_bit(dtype, n):
    """The accumulators are one vector register (vector code), in the same order as eight
    scalar ones: the bits of the emulations above (a row of 4096 is the longest summed
    without chunks)."""
    rows = np.random.default_rng(n).standard_normal((16, n)).astype(dtype)
    (got,) = LLVM.compile(one_node_graph("sum", [rows], {"axes": [1]}))(rows)
    np.testing.assert_array_equal(got, cascaded_sum(rows))


@pytest.mark.parametrize("n", [1000, 1003])
def test_a_cascaded_sum_over_two_axes_chunks_each_run_of_the_inner_axis(n):
    """The outer reduced axis's runs each end their own last chunk; the count of chunks,
    and so the pairwise order, runs on across them."""
    x = np.random.default_rng(5).standard_normal((3, 8, n)).astype(np.float32)
    (got,) = LLVM.compile(one_node_graph("sum", [x], {"axes": [1, 2]}))(x)
    np.testing.assert_array_equal(got, cascaded_sum(x.reshape(3, 8 * n), runs=8))


# -- a compiled training step --------------------------------------------------------------------
def sgd_training_run(backend, make_model, x, y, *, lr, steps=3, **compile_options):
    """Losses and final parameters after ``steps`` compiled SGD (momentum 0.9) steps of cross
    entropy on ``make_model()``, built after ``graphc.manual_seed(0)``."""
    graphc.manual_seed(0)
    model = make_model()
    opt = graphc.optim.SGD(model.parameters(), lr=lr, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        loss = graphc.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    compiled = graphc.compile(step, backend=backend, **compile_options)
    losses = [compiled(x, y).numpy() for _ in range(steps)]
    return losses, [p.numpy().copy() for p in model.parameters()]


def assert_training_matches_interpreter(backend, make_model, x, y, *, lr, **compile_options):
    """The losses and parameters of :func:`sgd_training_run` on ``backend`` (compiled with
    ``compile_options``) match the interpreter's within the f32 tolerance."""
    want_losses, want_params = sgd_training_run("interpreter", make_model, x, y, lr=lr)
    got_losses, got_params = sgd_training_run(backend, make_model, x, y, lr=lr,
                                              **compile_options)
    for got, want in zip(got_losses + got_params, want_losses + want_params):
        np.testing.assert_allclose(got, want, **TOLERANCES["f32"])


def small_mlp():
    return graphc.nn.Sequential(graphc.nn.Linear(6, 8), graphc.nn.Tanh(), graphc.nn.Linear(8, 3))


def small_batch():
    rng = np.random.default_rng(0)
    x = graphc.tensor(rng.standard_normal((5, 6)).astype(F))
    y = graphc.tensor(rng.integers(0, 3, size=5))
    return x, y


def test_a_compiled_training_step_on_llvm_matches_the_interpreter():
    assert_training_matches_interpreter("llvm", small_mlp, *small_batch(), lr=0.1)




def test_a_view_yielded_by_a_split_fused_body_is_read_from_its_own_buffer():
    # the fused body is not one loop nest; its first kernel stores the reshaped slices of
    # %v into buffers of their own, which later steps read at the slices' offsets in %v
    # (they read 0.0, or past the end of the buffer)
    def f(v, w):
        s = v.detach()
        b, c = s[1:2].reshape(()), s[2:3].reshape(())
        return b, c, (b * c).exp(), w * b

    v, w = graphc.tensor([0.3, -0.5, 0.7]), graphc.tensor([1.0, 2.0])
    want = [t.numpy() for t in graphc.compile(f, backend="interpreter")(v, w)]
    got = [t.numpy() for t in graphc.compile(f, backend="llvm")(v, w)]
    for g, e in zip(got, want):
        np.testing.assert_allclose(g, e, **TOLERANCES["f32"])  # exp: fast math in llvm


def test_each_result_of_a_multi_result_kernel_is_its_own_named_buffer():
    # a fused body yielding three values is one kernel with three stores: its source must name
    # three buffers (they were all printed as the same %t, though written separately)
    graph = ir.parse('''func @f(%x: f32[3], %b: f32[3]) -> (f32[3], f32[3], f32[3]) {
      %0, %1, %2: f32[3], f32[3], f32[3] = fused %x, %b {
        (%arg0: f32[3], %arg1: f32[3]):
        %0: f32[3] = add %arg0, %arg1
        %1: f32[3] = mul %arg0, %arg1
        %2: f32[3] = sub %arg0, %arg1
        yield %0, %1, %2
      }
      return %0, %1, %2
    }''')
    program = build_program(graph)
    (kernel,) = program.kernels
    assert len({str(buffer) for buffer in kernel.outputs}) == 3
    assert len({str(buffer) for buffer in program.temps}) == len(program.temps)
    x, b = np.array([1, 2, 3], F), np.array([0.5, -1, 4], F)
    outputs = LLVM.compile(graph)(x, b)
    for got, expected in zip(outputs, (x + b, x * b, x - b)):
        np.testing.assert_array_equal(got, expected)
