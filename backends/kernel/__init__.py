"""The kernel IR: graphs as programs of loop nests and library calls over buffers.

Target independent; code generators (``backends.llvm``) render it. See
:mod:`backends.kernel.program` for the structure and :mod:`backends.kernel.build` for how a graph
becomes one.
"""
from backends.kernel.build import build_program, substitute
from backends.kernel.program import (
    ACC,
    INDEX,
    SORT_A,
    SORT_B,
    SORT_RUN,
    Bound,
    Buffer,
    BufferPlan,
    Gemm,
    IndexMap,
    Indirect,
    Kernel,
    KernelProgram,
    LibraryCall,
    Load,
    RowGroup,
    Sort,
    Step,
    Store,
    Strided,
    arena_buffers,
    contiguous_strides,
    counter,
    own_buffers,
    step_buffers,
    step_reads,
)

__all__ = ["ACC", "INDEX", "Bound", "Buffer", "BufferPlan", "Gemm", "IndexMap", "Indirect",
           "Kernel", "KernelProgram", "LibraryCall", "Load", "RowGroup", "SORT_A", "SORT_B",
           "SORT_RUN", "Sort", "Step", "Store", "Strided", "arena_buffers", "build_program",
           "contiguous_strides", "counter", "own_buffers", "step_buffers", "step_reads",
           "substitute"]
