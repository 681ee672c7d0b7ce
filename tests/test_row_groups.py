"""Row groups (backends/kernel/rows.py): kernels over the same leading loops run one row at a
time on the llvm backend, with buffers nothing after the group reads kept one row long.

Running rows through the kernels must compute what running the kernels one after another
computes, bit for bit (every element is the same expression folded in the same order), so the
grouped executables are checked against ones compiled with grouping turned off, and against the
interpreter within the dtype's tolerance (tests/conftest.py).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_registry import assert_same_bits

import backends
import graphc
import ir
import passes
from backends.kernel import Gemm, Kernel, RowGroup, build_program, rows
from backends.kernel.rows import group_rows
from backends.llvm import backend as llvm_backend
from backends.llvm import call
from backends.llvm.backend import LLVMBackend
from conftest import assert_close

INTERPRETER = backends.get("interpreter")

SOFTMAX = '''func @softmax(%x: f32[6,5,40]) -> (f32[6,5,40]) {
  %0: f32[6,5,1] = max %x {axes=[2], keepdim=true}
  %1: f32[6,5,40] = sub %x, %0
  %2: f32[6,5,40] = exp %1
  %3: f32[6,5,1] = sum %2 {axes=[2], keepdim=true}
  %4: f32[6,5,40] = div %2, %3
  return %4
}'''


def compiled_both_ways(graph, monkeypatch):
    """``graph`` compiled with row groups, and with them turned off."""
    grouped = LLVMBackend(disk=None).compile(graph)
    with monkeypatch.context() as patch:
        patch.setattr(llvm_backend, "group_rows", lambda program: None)
        plain = LLVMBackend(disk=None).compile(graph)
    return grouped, plain


def assert_grouping_changes_no_bit(graph, arrays, monkeypatch) -> list[RowGroup]:
    """``graph`` gives the same bits with and without row groups, and the interpreter's values
    within tolerance; returns the grouped executable's row groups."""
    grouped, plain = compiled_both_ways(graph, monkeypatch)
    got, want = grouped(*arrays), plain(*arrays)
    for i, (g, w) in enumerate(zip(got, want)):
        assert_same_bits(g, w, lambda i=i: f"output {i} of\n{grouped.program}")
    for g, w in zip(got, INTERPRETER.compile(graph)(*arrays)):
        assert_close(g, w)
    return [s for s in grouped.program.steps if isinstance(s, RowGroup)]


def inputs(graph, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(v.type.shape).astype(v.type.dtype.numpy) for v in graph.inputs]


def test_a_softmax_runs_as_one_row_group_with_its_max_and_sum_one_row_long():
    program = build_program(ir.parse(SOFTMAX))
    group_rows(program)
    (group,) = program.steps
    assert isinstance(group, RowGroup) and group.shape == (6, 5)
    assert [k.name for k in group.kernels] == ["k0", "k1", "k2", "k3", "k4"]
    # what only the group reads lives one row at a time; the result is the program's
    assert {b.name: b.type.shape for b in group.local} == \
        {"t0": (), "t1": (40,), "t2": (40,), "t3": ()}
    assert [b.name for b in group.outputs] == ["t4"]
    assert "row by row over [6,5] as r0" in str(program)


def test_a_softmax_row_group_matches_the_kernels_one_by_one(monkeypatch):
    graph = ir.parse(SOFTMAX)
    assert len(assert_grouping_changes_no_bit(graph, inputs(graph), monkeypatch)) == 1


def test_a_kernel_reading_other_rows_stays_out_of_the_group(monkeypatch):
    # the column sum reads every row of exp's result: it cannot run inside a row
    graph = ir.parse('''func @f(%x: f32[8,32]) -> (f32[8,32]) {
  %0: f32[8,1] = max %x {axes=[1], keepdim=true}
  %1: f32[8,32] = sub %x, %0
  %2: f32[8,32] = exp %1
  %3: f32[1,32] = sum %2 {axes=[0], keepdim=true}
  %4: f32[8,32] = div %2, %3
  return %4
}''')
    program = build_program(graph)
    group_rows(program)
    group, column_sum, division = program.steps
    assert isinstance(group, RowGroup) and [k.name for k in group.kernels] == ["k0", "k1", "k2"]
    assert isinstance(column_sum, Kernel) and column_sum.reduce_shape == (8,)
    assert [b.name for b in group.outputs] == ["t2"]  # read by the later steps: not row-local
    assert_grouping_changes_no_bit(graph, inputs(graph), monkeypatch)


def test_a_kernel_moves_up_past_a_step_it_does_not_depend_on():
    program = build_program(ir.parse('''func @f(%x: f32[16,32], %a: f32[16,16]) -> (f32[16,32], f32[16,32]) {
  %0: f32[16,1] = max %x {axes=[1], keepdim=true}
  %1: f32[16,32] = sub %x, %0
  %2: f32[16,32] = matmul %a, %1
  %3: f32[16,32] = exp %1
  %4: f32[16,32] = add %3, %2
  return %3, %4
}'''))
    group_rows(program)
    group, gemm, last = program.steps
    # exp moved above the GEMM (which only reads what the group wrote); the add reads the
    # GEMM's product, so it stays after it
    assert isinstance(group, RowGroup) and [k.name for k in group.kernels] == ["k0", "k1", "k2"]
    assert isinstance(gemm, Gemm) and isinstance(last, Kernel)


def traced(fn, *shapes, dtype=graphc.float32):
    args = [graphc.randn(*shape, dtype=dtype) for shape in shapes]
    return passes.run(graphc.trace(fn, *args), "dce,cse,fold,simplify,dce,fuse")


@pytest.mark.parametrize("dtype", [graphc.float32, graphc.float64])
def test_layer_norm_and_softmax_steps_with_gradients_keep_their_bits(dtype, monkeypatch):
    weight = graphc.randn(48, dtype=dtype, requires_grad=True)

    def step(x):
        y = graphc.nn.functional.layer_norm(x, [48], weight)
        loss = (y * y.softmax(-1)).sum()
        loss.backward()
        return loss, weight.grad

    graph = traced(step, (4, 8, 48), dtype=dtype)
    groups = assert_grouping_changes_no_bit(graph, inputs(graph), monkeypatch)
    assert groups and all(g.local for g in groups)


def test_row_groups_split_across_threads_keep_their_bits(monkeypatch):
    graph = ir.parse(SOFTMAX)
    monkeypatch.setattr(call, "PARALLEL_MIN_ELEMENTS", 16)
    executable = LLVMBackend(disk=None).compile(graph)
    assert any(isinstance(s, call.ParallelKernel) and isinstance(s.kernel, RowGroup)
               for s in executable.plan)
    x = inputs(graph)
    previous = graphc.get_num_threads()
    try:
        graphc.set_num_threads(1)
        (one,) = executable(*x)
        graphc.set_num_threads(2)
        (two,) = executable(*x)
    finally:
        graphc.set_num_threads(previous)
    assert_same_bits(one, two, lambda: str(executable.program))


# a chain of reductions along random axes, each read back broadcast: rows of every length,
# readers that stay in a row and readers that cross rows (rows of any work may group here:
# about half the chains form groups)
@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 9), min_size=2, max_size=4),
       plan=st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["max", "sum"])),
                     min_size=1, max_size=4),
       seed=st.integers(0, 2**16))
def test_chains_of_reductions_read_back_keep_their_bits(shape, plan, seed):
    def chain(x):
        y = x
        for axis, kind in plan:
            axis %= len(shape)
            if kind == "max":
                y = (y - graphc.amax(y, axis, keepdim=True)).exp()
            else:
                y = y / (graphc.sum(y, axis, keepdim=True) + 1.0)
        return y

    graph = traced(chain, tuple(shape))
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(rows, "MIN_ROW_WORK", 1)
        assert_grouping_changes_no_bit(graph, inputs(graph, seed), monkeypatch)


def test_explain_says_what_runs_row_by_row():
    compiled = graphc.compile(lambda x: x.softmax(-1), backend="llvm")
    compiled(graphc.randn(64, 128))
    steps = [line for line in compiled.explain().splitlines() if line.startswith("  steps: ")]
    (program,) = [e.executable.program for e in compiled.entries]
    (group,) = [s for s in program.steps if isinstance(s, RowGroup)]
    assert steps == [f"  steps: {len(program.kernels)} kernels ({len(group.kernels)} of them "
                     f"row by row, in 1 row group), 0 GEMMs, 0 library calls"]
