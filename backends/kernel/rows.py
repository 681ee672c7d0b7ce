"""Row groups: consecutive kernels over the same leading loops, run one row at a time.

A fused body that is not one loop nest (softmax, LayerNorm, their gradients) becomes several
kernels (``split.py``), each a pass over whole buffers: a softmax over 8x4x128x128 scores
reads or writes 2 MB four times. Run row by row (:class:`~backends.kernel.program.RowGroup`),
each row of 128 scores goes through the max, the ``exp``, the sum and the division while it is
in L1. :func:`group_rows` forms such groups in a built program, for renderers that render them
(the llvm backend).

A kernel joins a group when, for some ``r >= 1``, every kernel of the group and it start with
the same ``r`` loops, and every buffer a member writes that a later member reads is read
within its rows: the writer stores its loop space contiguously (``store[i] = ...`` over all of
its kept loops, covering the buffer once) and the reader, at row ``p``, reads only elements of
row ``p``'s block. Then running each row through all members computes what running the members
one after another does, bit for bit. A member must also not write what another member reads
or writes otherwise (no kernel reads its own output), and walk its innermost loop contiguously
(stride 0 or 1 everywhere: a column sum is better run rows-first, see
``render.folds_row_by_row``). A kernel may move up past steps it is independent of to join (a
softmax gradient's GEMM that the fuse pass placed between its kernels).

Buffers that the group writes and nothing after it touches become *row-local*: one row of
scratch on the stack of the group's function (``RowGroup.local``), reused by the next row, so
they never reach memory (the softmax's max and sum, LayerNorm's centred values).

    >>> import ir
    >>> from backends.kernel import build_program
    >>> program = build_program(ir.parse('''func @softmax(%x: f32[64,128]) -> (f32[64,128]) {
    ...   %0: f32[64,1] = max %x {axes=[1], keepdim=true}
    ...   %1: f32[64,128] = sub %x, %0
    ...   %2: f32[64,128] = exp %1
    ...   %3: f32[64,1] = sum %2 {axes=[1], keepdim=true}
    ...   %4: f32[64,128] = div %2, %3
    ...   return %4
    ... }'''))
    >>> group_rows(program)
    >>> [(s.name, s.shape, [k.name for k in s.kernels]) for s in program.steps]
    [('r0', (64,), ['k0', 'k1', 'k2', 'k3', 'k4'])]
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable

from backends.kernel.program import (
    Buffer,
    IndexMap,
    Kernel,
    KernelProgram,
    Load,
    RowGroup,
    Step,
    Store,
    contiguous_strides,
    step_buffers,
)
from ir.types import TensorType

# A group's rows must give some member at least this many iterations: shorter rows leave the
# loops little to vectorize, and reading whole buffers is cheap at such sizes anyway.
MIN_ROW_WORK = 16
# How many unrelated steps a kernel may move up past to join a group.
MAX_STEPS_PASSED = 4
# The most bytes of one row of a row-local buffer, and of all of a group's together: they are
# on the stack of the group's function (of each thread's call), and a row beyond L1 gains little.
MAX_ROW_LOCAL_BYTES = 16 * 1024
MAX_GROUP_LOCAL_BYTES = 64 * 1024


def group_rows(program: KernelProgram) -> None:
    """Replaces runs of ``program``'s kernels that can run row by row (module docstring) by
    :class:`RowGroup` steps, in place, and notes each group in ``program.notes``."""
    steps = list(program.steps)
    result: list[Step] = []
    joined: set[int] = set()  # ids of the kernels already in a group
    groups = 0
    for position, first in enumerate(steps):
        if id(first) in joined:
            continue
        members = _members_from(first, (steps[i] for i in range(position + 1, len(steps))
                                        if id(steps[i]) not in joined))
        if members is None:
            result.append(first)
            continue
        kernels, rows = members
        joined.update(id(k) for k in kernels)
        group = RowGroup(f"r{groups}", kernels[0].shape[:rows], kernels)
        groups += 1
        touched_later = {id(b) for s in steps[position + 1:] if id(s) not in joined
                         for b in step_buffers(s)}
        _make_row_local(group, touched_later | {id(b) for b in program.outputs})
        result.append(group)
        program.notes.append(
            f"{', '.join(k.name for k in kernels)} run row by row over "
            f"[{','.join(map(str, group.shape))}] as {group.name}: each row stays in cache")
    program.steps = result


def _make_row_local(group: RowGroup, needed: set[int]) -> None:
    """Makes the buffers that ``group``'s kernels write and nothing after the group touches
    (ids not in ``needed``) row-local: one row of scratch each instead of memory the whole
    group's rows fill, within :data:`MAX_ROW_LOCAL_BYTES` a buffer and
    :data:`MAX_GROUP_LOCAL_BYTES` in all."""
    rows = len(group.shape)
    replaced: dict[int, Buffer] = {}
    total = 0
    for kernel in group.kernels:
        for store in kernel.stores:
            buffer = store.buffer
            row_shape = kernel.shape[rows:]
            size = math.prod(row_shape) * buffer.dtype.numpy.itemsize
            if (id(buffer) in needed or buffer.role != "temp" or id(buffer) in replaced
                    or not _stores_whole_rows(kernel, store) or size > MAX_ROW_LOCAL_BYTES
                    or total + size > MAX_GROUP_LOCAL_BYTES):
                continue
            total += size
            replaced[id(buffer)] = Buffer(buffer.name, TensorType(buffer.dtype, row_shape), "row")
    if not replaced:
        return

    def within_row(index: IndexMap) -> IndexMap:
        return IndexMap(index.offset, (0,) * rows + index.strides[rows:])

    for kernel in group.kernels:
        kernel.loads = [dataclasses.replace(ld, buffer=replaced[id(ld.buffer)],
                                            index=within_row(ld.index))
                        if id(ld.buffer) in replaced else ld for ld in kernel.loads]
        kernel.stores = [Store(replaced[id(st.buffer)], within_row(st.index), st.value)
                         if id(st.buffer) in replaced else st for st in kernel.stores]
    group.local = list(replaced.values())


def _members_from(first: Step, later: Iterable[Step]) -> tuple[list[Kernel], int] | None:
    """The kernels of a group that starts at ``first`` and the number of loops they share, or
    None when ``first`` starts none."""
    if not isinstance(first, Kernel) or not _can_join(first):
        return None
    members, rows = [first], len(first.shape)
    passed: list[Step] = []
    for step in later:
        if isinstance(step, Kernel) and _can_join(step):
            joined = _rows_with(members, rows, step)
            if joined and _independent(step, passed):
                members.append(step)
                rows = joined
                continue
        passed.append(step)
        if len(passed) > MAX_STEPS_PASSED:
            break
    if len(members) == 1 or max(_row_work(k, rows) for k in members) < MIN_ROW_WORK:
        return None
    return members, rows


def _can_join(step: Kernel) -> bool:
    """A kernel that may be a member: it has kept loops, is no sort and no partial fill, reads
    none of its outputs, and walks its innermost loop contiguously."""
    if step.sort is not None or step.partial or not step.shape or step.in_place:
        return False
    loops = len(step.shape) + len(step.reduce_shape)
    maps = [ld.index for ld in step.loads] + [st.index for st in step.stores]
    return all(_strides(m, loops)[-1] in (0, 1) for m in maps) and \
        not any(ld.bounds or ld.indirect for ld in step.loads)


def _strides(index: IndexMap, loops: int) -> tuple[int, ...]:
    """``index``'s stride along each of ``loops`` loops (a reduction's stores name only the
    kept ones: the rest are 0)."""
    return index.strides + (0,) * (loops - len(index.strides))


def _row_work(kernel: Kernel, rows: int) -> int:
    return math.prod(kernel.shape[rows:]) * math.prod(kernel.reduce_shape)


def _rows_with(members: list[Kernel], rows: int, candidate: Kernel) -> int:
    """How many leading loops ``members`` and ``candidate`` share as a group (0: they cannot be
    one, or ``candidate`` reads nothing the members wrote, so gains nothing by joining)."""
    written = {id(b) for k in members for b in k.outputs}
    touched = {id(b) for k in members for b in k.buffers}
    if not any(id(ld.buffer) in written for ld in candidate.loads):
        return 0
    if any(id(b) in touched for b in candidate.outputs):
        return 0
    shared = 0
    while (shared < min(rows, len(candidate.shape))
           and candidate.shape[shared] == members[0].shape[shared]):
        shared += 1
    # the members' own pairs hold at ``rows`` loops, so at fewer too (a row of fewer loops
    # is a run of whole rows of more): only the candidate's are checked
    for r in range(shared, 0, -1):
        if all(_row_local(writer, candidate, r) for writer in members):
            return r
    return 0


def _row_local(writer: Kernel, reader: Kernel, rows: int) -> bool:
    """Whether every load of ``reader`` from a buffer ``writer`` stores reads, at each point of
    the first ``rows`` loops, only what ``writer`` stored at that point."""
    stored = {id(st.buffer) for st in writer.stores}
    loads = [ld for ld in reader.loads if id(ld.buffer) in stored]
    read = {id(ld.buffer) for ld in loads}
    if not all(_stores_whole_rows(writer, st) for st in writer.stores if id(st.buffer) in read):
        return False
    row_strides = contiguous_strides(writer.shape)[:rows]
    block = math.prod(writer.shape[rows:])
    return all(_reads_within(ld, row_strides, block, reader.shape + reader.reduce_shape, rows)
               for ld in loads)


def _stores_whole_rows(writer: Kernel, store: Store) -> bool:
    """Whether ``store`` writes its buffer once over, in the order of ``writer``'s kept loops
    (so each point of the leading loops writes one contiguous block)."""
    loops = len(writer.shape) + len(writer.reduce_shape)
    in_order = contiguous_strides(writer.shape) + (0,) * len(writer.reduce_shape)
    return (store.index.offset == 0 and _strides(store.index, loops) == in_order
            and math.prod(store.buffer.type.shape) == math.prod(writer.shape))


def _reads_within(load: Load, row_strides: tuple[int, ...], block: int,
                  loops: tuple[int, ...], rows: int) -> bool:
    """Whether ``load`` steps through rows as the writer does and, within a row, stays in the
    row's ``block`` elements."""
    strides = _strides(load.index, len(loops))
    if strides[:rows] != row_strides:
        return False
    inner = list(zip(strides[rows:], loops[rows:]))
    lowest = load.index.offset + sum(min(s, 0) * (n - 1) for s, n in inner)
    highest = load.index.offset + sum(max(s, 0) * (n - 1) for s, n in inner)
    return 0 <= lowest and highest < block


def _independent(step: Kernel, passed: list[Step]) -> bool:
    """Whether ``step`` may run before ``passed`` (steps it would move up past): it reads
    nothing they write and writes nothing they touch."""
    written = {id(b) for s in passed for b in s.outputs}
    touched = {id(b) for s in passed for b in step_buffers(s)}
    return not any(id(b) in written for b in step.buffers) and \
        not any(id(b) in touched for b in step.outputs)


__all__ = ["MIN_ROW_WORK", "group_rows"]

