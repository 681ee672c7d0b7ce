"""Adversarial checks of row groups (backends/kernel/rows.py), from an independent review: the
same bits as the kernels one by one on slices, flips, scans, arg-reductions, broadcasts, size-0
and size-1 dims, every dtype, donated inputs, optimizer steps and threads; a group's stack
scratch is bounded; the cache key names each group's row-local buffers."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_registry import assert_same_bits
from test_row_groups import (
    INTERPRETER,
    SOFTMAX,
    assert_grouping_changes_no_bit,
    compiled_both_ways,
    inputs,
    traced,
)

import graphc
import ir
import passes
from backends.kernel import RowGroup, build_program, rows
from backends.kernel.rows import group_rows
from backends.llvm import backend as llvm_backend
from backends.llvm import call
from backends.llvm.assemble import module_source
from backends.llvm.backend import LLVMBackend
from conftest import assert_close

F = graphc.nn.functional


@pytest.fixture
def small_rows(monkeypatch):
    """Groups form at any row length."""
    monkeypatch.setattr(rows, "MIN_ROW_WORK", 1)
    return monkeypatch


def _graph(text: str) -> ir.Graph:
    return passes.run(ir.parse(text), "dce,cse,fold,simplify,dce,fuse")


IR_CASES = {
    "keepdim_false": '''func @f(%x: f32[6,40]) -> (f32[6,40]) {
  %0: f32[6] = max %x {axes=[1]}
  %1: f32[6,1] = reshape %0 {shape=[6,1]}
  %2: f32[6,40] = sub %x, %1
  %3: f32[6,40] = exp %2
  %4: f32[6] = sum %3 {axes=[1]}
  %5: f32[6,1] = reshape %4 {shape=[6,1]}
  %6: f32[6,40] = div %3, %5
  return %6
}''',
    "scan_in_the_middle": '''func @f(%x: f32[6,40]) -> (f32[6,40]) {
  %0: f32[6,1] = max %x {axes=[1], keepdim=true}
  %1: f32[6,40] = sub %x, %0
  %2: f32[6,40] = cumsum %1 {axis=1, reverse=true}
  %3: f32[6,1] = sum %2 {axes=[1], keepdim=true}
  %4: f32[6,40] = div %2, %3
  return %4
}''',
    "cummax_and_argmax": '''func @f(%x: f32[6,40]) -> (i64[6,40], i64[6], f32[6,40]) {
  %1: f32[6,40] = exp %x
  %2: i64[6,40] = cummax_indices %1 {axis=1}
  %3: i64[6] = argmax %1 {axis=1}
  %4: f32[6,1] = sum %1 {axes=[1], keepdim=true}
  %5: f32[6,40] = div %1, %4
  return %2, %3, %5
}''',
    "slice_of_the_row": '''func @f(%x: f32[6,40]) -> (f32[6,20]) {
  %0: f32[6,40] = exp %x
  %1: f32[6,20] = slice %0 {starts=[0,20], stops=[6,40], steps=[1,1]}
  %2: f32[6,1] = sum %1 {axes=[1], keepdim=true}
  %3: f32[6,20] = div %1, %2
  return %3
}''',
    "slice_of_the_rows": '''func @f(%x: f32[6,40]) -> (f32[5,40]) {
  %0: f32[6,1] = max %x {axes=[1], keepdim=true}
  %1: f32[6,40] = sub %x, %0
  %2: f32[5,40] = slice %1 {starts=[1,0], stops=[6,40], steps=[1,1]}
  %3: f32[5,1] = sum %2 {axes=[1], keepdim=true}
  %4: f32[5,40] = div %2, %3
  return %4
}''',
    "strided_slice": '''func @f(%x: f32[6,40]) -> (f32[6,20]) {
  %0: f32[6,1] = max %x {axes=[1], keepdim=true}
  %1: f32[6,40] = sub %x, %0
  %2: f32[6,20] = slice %1 {starts=[0,1], stops=[6,40], steps=[1,2]}
  %3: f32[6,1] = sum %2 {axes=[1], keepdim=true}
  %4: f32[6,20] = div %2, %3
  return %4
}''',
    "transposed_reader": '''func @f(%x: f32[40,40]) -> (f32[40,40]) {
  %0: f32[40,1] = max %x {axes=[1], keepdim=true}
  %1: f32[40,40] = sub %x, %0
  %2: f32[40,40] = transpose %1 {perm=[1,0]}
  %3: f32[40,1] = sum %2 {axes=[1], keepdim=true}
  %4: f32[40,40] = div %2, %3
  return %4
}''',
    "rows_reshaped_finer": '''func @f(%x: f32[6,40]) -> (f32[12,20]) {
  %0: f32[6,1] = max %x {axes=[1], keepdim=true}
  %1: f32[6,40] = sub %x, %0
  %2: f32[12,20] = reshape %1 {shape=[12,20]}
  %3: f32[12,1] = sum %2 {axes=[1], keepdim=true}
  %4: f32[12,20] = div %2, %3
  return %4
}''',
    "rows_reshaped_coarser": '''func @f(%x: f32[6,4,10]) -> (f32[6,40]) {
  %0: f32[6,4,1] = max %x {axes=[2], keepdim=true}
  %1: f32[6,4,10] = sub %x, %0
  %2: f32[6,40] = reshape %1 {shape=[6,40]}
  %3: f32[6,1] = sum %2 {axes=[1], keepdim=true}
  %4: f32[6,40] = div %2, %3
  return %4
}''',
    "rows_of_one": '''func @f(%x: f32[6,1]) -> (f32[6,1]) {
  %0: f32[6,1] = max %x {axes=[1], keepdim=true}
  %1: f32[6,1] = sub %x, %0
  %2: f32[6,1] = exp %1
  %3: f32[6,1] = sum %2 {axes=[1], keepdim=true}
  %4: f32[6,1] = div %2, %3
  return %4
}''',
    "no_rows": '''func @f(%x: f32[0,40]) -> (f32[0,40]) {
  %0: f32[0,1] = max %x {axes=[1], keepdim=true}
  %1: f32[0,40] = sub %x, %0
  %2: f32[0,40] = exp %1
  %3: f32[0,1] = sum %2 {axes=[1], keepdim=true}
  %4: f32[0,40] = div %2, %3
  return %4
}''',
    "empty_rows": '''func @f(%x: f32[6,0]) -> (f32[6,1], f32[6,0]) {
  %0: f32[6,1] = sum %x {axes=[1], keepdim=true}
  %1: f32[6,0] = sub %x, %0
  %2: f32[6,0] = exp %1
  %3: f32[6,1] = sum %2 {axes=[1], keepdim=true}
  %4: f32[6,1] = add %3, %0
  return %4, %2
}''',
    "a_row_local_candidate_returned": '''func @f(%x: f32[6,40]) -> (f32[6,1], f32[6,40]) {
  %0: f32[6,1] = max %x {axes=[1], keepdim=true}
  %1: f32[6,40] = sub %x, %0
  %2: f32[6,40] = exp %1
  %3: f32[6,1] = sum %2 {axes=[1], keepdim=true}
  %4: f32[6,40] = div %2, %3
  return %0, %4
}''',
    "concat_along_the_row": '''func @f(%x: f32[6,40]) -> (f32[6,80]) {
  %0: f32[6,1] = max %x {axes=[1], keepdim=true}
  %1: f32[6,40] = sub %x, %0
  %2: f32[6,40] = exp %1
  %3: f32[6,80] = concat %1, %2 {axis=1}
  %4: f32[6,1] = sum %3 {axes=[1], keepdim=true}
  %5: f32[6,80] = div %3, %4
  return %5
}''',
    "a_donated_input_updated_then_read": '''func @f(%w: f32[6,40], %g: f32[6,40]) ->
      (f32[6,40] aliases %w, f32[6,40]) {
  %0: f32[6,1] = sum %g {axes=[1], keepdim=true}
  %1: f32[6,40] = div %g, %0
  %2: f32[6,40] = sub %w, %1
  %3: f32[6,1] = max %2 {axes=[1], keepdim=true}
  %4: f32[6,40] = sub %2, %3
  return %2, %4
}''',
    "a_donated_input_written_without_reading_it": '''func @f(%m: f32[6,40], %g: f32[6,40]) ->
      (f32[6,40] aliases %m, f32[6,40]) {
  %0: f32[6,1] = sum %g {axes=[1], keepdim=true}
  %1: f32[6,40] = div %g, %0
  %2: f32[6,1] = max %1 {axes=[1], keepdim=true}
  %3: f32[6,40] = sub %1, %2
  return %1, %3
}''',
}


@pytest.mark.parametrize("name", list(IR_CASES))
def test_ir_graphs_keep_their_bits(name, small_rows):
    graph = _graph(IR_CASES[name])
    arrays = inputs(graph)
    grouped, plain = compiled_both_ways(graph, small_rows)
    # fresh copies for each: a donated input is updated in place
    got, want = grouped(*[a.copy() for a in arrays]), plain(*[a.copy() for a in arrays])
    for g, w in zip(got, want):
        assert_same_bits(g, w, lambda: str(grouped.program))
    for g, w in zip(got, INTERPRETER.compile(graph)(*[a.copy() for a in arrays])):
        assert_close(g, w)


DTYPES = [graphc.float16, graphc.bfloat16, graphc.float32, graphc.float64]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("fn", [
    lambda x: x.softmax(-1),
    lambda x: F.log_softmax(x, -1),
    lambda x: F.layer_norm(x, [x.shape[-1]]),
    lambda x: graphc.cumsum(x.softmax(-1), -1).softmax(-1),
    lambda x: (graphc.argmax(x.softmax(-1), -1), x.softmax(-1)),
    lambda x: graphc.flip((x - x.amax(-1, keepdim=True)).exp(), [-1]) / x.sum(-1, keepdim=True),
    lambda x: x.var(-1, keepdim=True) * x - x.std(-1, keepdim=True),
], ids=["softmax", "log_softmax", "layer_norm", "cumsum", "argmax", "flip", "var_std"])
def test_traced_functions_keep_their_bits_in_every_float_dtype(fn, dtype, small_rows):
    graph = traced(fn, (5, 3, 33), dtype=dtype)
    assert assert_grouping_changes_no_bit(graph, inputs(graph), small_rows)


@pytest.mark.parametrize("fn", [
    lambda x: ((x * 10).to(graphc.int32)
               - (x * 10).to(graphc.int32).amax(-1, keepdim=True)).sum(-1, keepdim=True)
    * (x * 3).to(graphc.int32),
    lambda x: ((x > x.mean(-1, keepdim=True)).sum(-1, keepdim=True) > 3) & (x > 0),
], ids=["int32", "bool"])
def test_integer_and_bool_rows_keep_their_bits(fn, small_rows):
    graph = traced(fn, (6, 40))
    assert assert_grouping_changes_no_bit(graph, inputs(graph), small_rows)


def _chain(ops: list[tuple[int, int, float]], ndim: int):
    def fn(x):
        values = [x]
        for op, axis, pick in ops:
            y, other = values[-1], values[int(pick * len(values))]
            axis %= ndim
            z = [lambda: y - graphc.amax(y, axis, keepdim=True),
                 lambda: y / (graphc.sum(y.abs(), axis, keepdim=True) + 1.0),
                 lambda: (y * 0.5).exp(),
                 lambda: y * other,
                 lambda: graphc.flip(y, [axis]),
                 lambda: graphc.cumsum(y, axis),
                 lambda: graphc.roll(y, 1, axis),
                 lambda: y + graphc.mean(other, axis, keepdim=True),
                 lambda: graphc.where(y > 0, other, y * 2),
                 lambda: y.softmax(axis),
                 lambda: graphc.cat([y, other], axis).sum(axis, keepdim=True) + y,
                 lambda: graphc.logsumexp(y, axis, keepdim=True) - y][op]()
            values.append(z)
        return values[-1], values[len(values) // 2]
    return fn


# random chains of row and column reductions, scans, flips, rolls, concats and elementwise ops
# reading earlier values, two of them returned; threads split the groups' rows
@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 7), min_size=2, max_size=3),
       ops=st.lists(st.tuples(st.integers(0, 11), st.integers(0, 2), st.floats(0, 0.999)),
                    min_size=2, max_size=6),
       seed=st.integers(0, 2**16))
def test_random_op_chains_keep_their_bits_with_threads(shape, ops, seed):
    graph = traced(_chain(ops, len(shape)), tuple(shape))
    previous = graphc.get_num_threads()
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(rows, "MIN_ROW_WORK", 1)
        monkeypatch.setattr(call, "PARALLEL_MIN_ELEMENTS", 4)
        try:
            graphc.set_num_threads(2)
            assert_grouping_changes_no_bit(graph, inputs(graph, seed), monkeypatch)
        finally:
            graphc.set_num_threads(previous)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_training_steps_with_layer_norms_keep_their_bits(optimizer, small_rows):
    rng = np.random.default_rng(0)
    data = [(graphc.tensor(rng.standard_normal((7, 6)).astype(np.float32)),
             graphc.tensor(rng.integers(0, 5, size=7))) for _ in range(3)]

    def run() -> tuple[list[np.ndarray], list[np.ndarray], list[RowGroup]]:
        graphc.manual_seed(0)
        model = graphc.nn.Sequential(graphc.nn.Linear(6, 24), graphc.nn.LayerNorm(24),
                                     graphc.nn.ReLU(), graphc.nn.Linear(24, 5))
        opt = (graphc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
               if optimizer == "sgd" else graphc.optim.Adam(model.parameters(), lr=0.01))

        def step(x, y):
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad()
            return loss
        compiled = graphc.compile(step, backend="llvm")
        losses = [compiled(x, y).numpy().copy() for x, y in data]
        groups = [s for e in compiled.entries for s in e.executable.program.steps
                  if isinstance(s, RowGroup)]
        return losses, [p.numpy().copy() for p in model.parameters()], groups

    losses, params, groups = run()
    with small_rows.context() as patch:
        patch.setattr(llvm_backend, "group_rows", lambda program: None)
        plain_losses, plain_params, _ = run()
    assert groups
    for got, want in zip(losses + params, plain_losses + plain_params):
        assert_same_bits(got, want, lambda: "a training step")


def _reduction_chain(steps: int):
    def chain(x):
        y = x
        for _ in range(steps):
            y = (y - graphc.amax(y, -1, keepdim=True)).exp()
        return y.sum(-1)
    return chain


def test_a_groups_stack_scratch_is_bounded(monkeypatch):
    # 40 softmax-like steps over rows of 4096 floats: 16 KB a row-local buffer, 1.3 MB of
    # stack in all without a bound on the group
    graph = traced(_reduction_chain(40), (4, 4096))
    assert assert_grouping_changes_no_bit(graph, inputs(graph), monkeypatch)
    program = build_program(graph, update_inputs=True, strided_gemms=True)
    group_rows(program)
    scratch = [sum(math.prod(b.type.shape) * b.dtype.numpy.itemsize for b in s.local)
               for s in program.steps if isinstance(s, RowGroup)]
    assert scratch and max(scratch) <= rows.MAX_GROUP_LOCAL_BYTES


def test_the_module_source_says_which_buffers_a_parallel_group_keeps_row_local(monkeypatch):
    graph = ir.parse(SOFTMAX)
    monkeypatch.setattr(call, "PARALLEL_MIN_ELEMENTS", 16)
    local = LLVMBackend(disk=None).compile(graph)
    monkeypatch.setattr(rows, "MAX_ROW_LOCAL_BYTES", 0)
    in_memory = LLVMBackend(disk=None).compile(graph)
    assert [len(s.local) for s in local.program.steps] != \
        [len(s.local) for s in in_memory.program.steps]
    assert module_source(graph, local.plan, True) != module_source(graph, in_memory.plan, True)
