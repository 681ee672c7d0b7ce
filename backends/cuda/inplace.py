"""Aliased outputs written into their input's device buffer: state updated in place.

A graph may declare that output ``o`` overwrites input ``i`` (``Graph.output_aliases``: a
parameter, a momentum buffer, a step count that the compiled function rebinds after the call).
:func:`write_aliases_in_place` makes the kernel that computes such an output store straight into
the input's buffer, so the state keeps its device memory from step to step and nothing is
allocated for it. It does so only where that cannot change a result:

- the output is stored by a pointwise kernel (not a reduction, GEMM or library call) at its
  plain row-major position, once;
- that kernel reads the input, if at all, only at the same position it writes (each thread
  reads its element before overwriting it), and no later step reads the input;
- the input is not itself returned, and the output is returned once.

Later steps that read the output read the input's buffer instead. Callers donate aliased inputs
(``backends.base.Executable``): the caller's device array holds the new value afterwards.
"""
from __future__ import annotations

from backends.kernel import (
    Buffer,
    Gemm,
    IndexMap,
    Kernel,
    KernelProgram,
    Load,
    RowGroup,
    Store,
    step_reads,
)
from backends.kernel.program import contiguous_strides


def write_aliases_in_place(program: KernelProgram, aliases: dict[int, int]) -> list[int]:
    """Rewrites ``program`` so that each aliased output it can (see the module doc) is stored
    into its input's buffer; returns the output indices now written in place."""
    done = []
    for output, input_ in sorted(aliases.items()):
        target, source = program.outputs[output], program.inputs[input_]
        if _can_write_in_place(program, target, source):
            _redirect(program, target, source)
            program.outputs[output] = source
            done.append(output)
    return done


def _can_write_in_place(program: KernelProgram, target: Buffer, source: Buffer) -> bool:
    if target.role == "input" or target.type != source.type \
            or sum(b is target for b in program.outputs) != 1 \
            or any(b is source for b in program.outputs):
        return False
    writers = [i for i, s in enumerate(program.steps) if any(b is target for b in s.outputs)]
    if len(writers) != 1:
        return False
    index = writers[0]
    kernel = program.steps[index]
    if not isinstance(kernel, Kernel) or kernel.reduction is not None:
        return False
    plain = IndexMap(0, contiguous_strides(target.type.shape))
    stores = [s for s in kernel.stores if s.buffer is target]
    if kernel.shape != target.type.shape or len(stores) != 1 or stores[0].index != plain:
        return False
    if any(ld.buffer is source and ld.index != plain for ld in kernel.loads):
        return False
    return not any(b is source for step in program.steps[index + 1:] for b in step_reads(step))


def _redirect(program: KernelProgram, target: Buffer, source: Buffer) -> None:
    """Every store into and read of ``target`` uses ``source`` instead."""
    for step in program.steps:
        assert not isinstance(step, RowGroup), "CUDA programs have no row groups"
        if isinstance(step, Kernel):
            step.loads = [Load(ld.var, source, ld.index) if ld.buffer is target else ld
                          for ld in step.loads]
            step.stores = [Store(source, s.index, s.value) if s.buffer is target else s
                           for s in step.stores]
        elif isinstance(step, Gemm):
            step.a = source if step.a is target else step.a
            step.b = source if step.b is target else step.b
        else:
            step.inputs = [source if b is target else b for b in step.inputs]
