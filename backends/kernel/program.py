"""The kernel IR: a program of steps over buffers, shared by every code generator.

A :class:`KernelProgram` is what a graph becomes once each node is decided to be a loop nest or a
call into a library. It is target independent (no LLVM, no Python source): the llvm backend
renders it to LLVM IR, and later renderers (numba, CUDA) read the same structure.

- a :class:`Buffer` is one tensor's memory, C-contiguous, ``dtype`` elements; its ``role`` says
  whether the caller provides it (``input``) or the program allocates it (``temp``);
- a :class:`Kernel` is one loop nest: it iterates over ``shape`` (its output's shape), and for a
  reduction also over ``reduce_shape`` (innermost loops); each :class:`Load` reads one element
  of a buffer through an :class:`IndexMap` (an offset plus one stride per loop, 0 for a
  broadcast axis; a load may be guarded by :class:`Bound` checks, reading ``pad`` where one
  fails (a convolution's zero padding), or :class:`Indirect`, adding an index it read from
  another buffer (a gather)); ``body`` is the typed scalar expression of one point
  (``ir.scalar``), which may also read the loop counters (:func:`counter`); each
  :class:`Store` writes an expression to a buffer. Without a reduction a store's expression reads
  the loads' variables; with one, the kernel folds ``body`` over the reduced loops into the
  accumulator ``acc`` (``index`` for an argmax-like fold) and the store reads that;
- a :class:`Gemm` is a (batched) matrix product of float buffers of one dtype, each operand
  maybe transposed (a ``transpose`` of the last two axes feeding the matmul becomes a flag, not
  a copy); renderers call BLAS for it. A matmul's epilogue (bias add, activation, ...) is the
  next step: one kernel over the product that writes its result in place;
- a :class:`LibraryCall` runs an op's NumPy reference on whole buffers (conv, gather, integer
  matmul, ...: everything that is not a scalar body yet), and says so in the program's text;
- a :class:`RowGroup` runs consecutive kernels one row at a time (``rows.py`` forms them, for
  the llvm backend; the programs ``build_program`` makes have none).

Buffers get their memory from a :class:`BufferPlan`: :func:`own_buffers` gives each buffer its
own array, :func:`arena_buffers` places the temporaries in one arena by liveness over the steps.

    >>> import ir
    >>> from backends.kernel import build_program
    >>> g = ir.parse('''func @f(%x: f32[2,3], %b: f32[3]) -> (f32[2]) {
    ...   %0: f32[2,3] = add %x, %b
    ...   %1: f32[2] = sum %0 {axes=[1]}
    ...   return %1
    ... }''')
    >>> print(build_program(g))
    kernel program @f(%x: f32[2,3], %b: f32[3]) -> (%t1)
      %t0: f32[2,3] = kernel k0 over [2,3] {
        x0 = load %x[3*i0 + i1]
        x1 = load %b[i1]
        store %t0[3*i0 + i1] = add(x0, x1)
      }
      %t1: f32[2] = kernel k1 over [2] reduce [3] {
        x0 = load %t0[3*i0 + i1]
        acc = add(acc, x) from 0.0:f32, x = x0
        store %t1[i0] = acc
      }
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ir.dtypes import DType, i64
from ir.scalar import ArgReduction, Reduction, ScalarExpr, var
from ir.types import TensorType


@dataclass(eq=False)
class Buffer:
    """One tensor's memory: C-contiguous elements of ``type``. ``role`` is ``input`` (the
    caller's array), ``temp`` (allocated by the program, through the buffer plan) or ``row``
    (one row of a :class:`RowGroup`'s scratch)."""

    name: str
    type: TensorType
    role: str = "temp"

    @property
    def dtype(self) -> DType:
        return self.type.dtype

    def __str__(self) -> str:
        return f"%{self.name}"


def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Element strides of a C-contiguous array of ``shape``."""
    strides, step = [], 1
    for extent in reversed(shape):
        strides.append(step)
        step *= max(extent, 1)
    return tuple(reversed(strides))


@dataclass(frozen=True)
class IndexMap:
    """Which element a loop point touches: ``offset + sum(i_k * strides[k])`` over the loops
    (output loops first, then reduced loops); a stride of 0 broadcasts along that loop."""

    offset: int
    strides: tuple[int, ...]

    def __str__(self) -> str:
        terms = [f"{s}*i{k}" if s != 1 else f"i{k}" for k, s in enumerate(self.strides) if s]
        if self.offset or not terms:
            terms.append(str(self.offset))
        return " + ".join(terms)


@dataclass(frozen=True)
class Bound:
    """``0 <= index(loop point) < extent``: a guard on a :class:`Load` (``index`` is an affine
    map of the loop counters, like an :class:`IndexMap`, read as a coordinate, not an
    address)."""

    index: IndexMap
    extent: int

    def __str__(self) -> str:
        return f"0 <= {self.index} < {self.extent}"


@dataclass(frozen=True)
class Indirect:
    """Adds ``stride * var`` to a load's element index, where ``var`` is an integer an earlier
    load of the same kernel read: ``x[n, c, idx[n, c, q]]``. Whoever builds one guarantees
    the index is in range (kernels cannot raise errors)."""

    var: str
    stride: int


@dataclass(frozen=True)
class Load:
    """``var = buffer[index]``: one element of an operand, named ``var`` in the body.

    With ``bounds``, the element is read only where every bound holds, and is ``pad`` (a
    constant of the buffer's dtype) elsewhere: out-of-range addresses are never touched. With
    ``indirect``, the element index also adds a value read by an earlier load."""

    var: str
    buffer: Buffer
    index: IndexMap
    bounds: tuple[Bound, ...] = ()
    pad: ScalarExpr | None = None
    indirect: Indirect | None = None

    def __str__(self) -> str:
        index = str(self.index)
        if self.indirect is not None:
            step = self.indirect.stride
            index += f" + {step}*{self.indirect.var}" if step != 1 else f" + {self.indirect.var}"
        text = f"{self.var} = load {self.buffer}[{index}]"
        if self.bounds:
            text += f" if {' and '.join(map(str, self.bounds))} else {self.pad}"
        return text


@dataclass(frozen=True)
class Store:
    """``buffer[index] = value``, once per output point (after the fold, for a reduction)."""

    buffer: Buffer
    index: IndexMap
    value: ScalarExpr


@dataclass(frozen=True)
class Sort:
    """What makes a kernel a per-row sort: ``precedes`` (a bool expression of the variables
    ``a`` and ``b``, two keys of the row's dtype) says key ``a`` sorts strictly before key
    ``b``. Renderers sort stably: insertion sort of runs of :data:`SORT_RUN`, then merges with
    a scratch row; ``descending`` is for humans (``precedes`` already says it)."""

    precedes: ScalarExpr
    descending: bool = False

    def __str__(self) -> str:
        return f"{'descending' if self.descending else 'ascending'}, a before b: {self.precedes}"


SORT_RUN = 16  # rows up to this long are insertion-sorted; longer ones sorted in runs, merged
SORT_A, SORT_B = "a", "b"  # the keys ``Sort.precedes`` compares

ACC = "acc"      # the accumulator a reduction kernel's stores read
INDEX = "index"  # the chosen index an arg-reduction kernel's stores read


def counter(k: int) -> ScalarExpr:
    """Loop counter ``k`` (i64; output loops first, then reduced loops) as a variable a
    kernel's body and stores may read, e.g. to compute a flat position."""
    return var(f"i{k}", i64)


@dataclass(eq=False)
class Kernel:
    """One loop nest over ``shape`` (and ``reduce_shape`` inside it, when ``reduction`` is set).

    ``body`` computes one point from the loads; for a reduction it is the element folded with
    ``reduction`` (a :class:`~ir.scalar.Reduction`, or an :class:`~ir.scalar.ArgReduction`
    over the single reduced loop), and ``stores`` read ``acc`` (``index``) instead.
    ``origin`` says which graph node(s) it came from, for humans. ``partial``: the stores
    cover only some points of the outputs, which earlier steps allocated (and wrote the rest
    of): several kernels fill one buffer, e.g. one per stride phase of a transposed
    convolution.
    """

    name: str
    shape: tuple[int, ...]
    loads: list[Load]
    body: ScalarExpr
    stores: list[Store]
    reduce_shape: tuple[int, ...] = ()
    reduction: Reduction | ArgReduction | None = None
    origin: str = ""
    partial: bool = False
    # an arg-reduction over several reduced loops (a pooling window): the index it records at
    # the chosen point (an i64 expression of the counters) and before any element is chosen
    # (of the kept counters); None: the single reduced loop's counter, from 0
    arg_index: ScalarExpr | None = None
    arg_start: ScalarExpr | None = None
    # a scan: the fold runs along the single reduced loop as for a reduction, but the stores
    # run at every step of it, writing the running ``acc``/``index`` (cumsum, cummax)
    scan: bool = False
    # a per-row sort along the single reduced loop: ``body`` is the key at a loop point and
    # each store writes, at row position ``j``, the index (``index``) of the row's ``j``-th key
    sort: Sort | None = None

    @property
    def outputs(self) -> list[Buffer]:
        return [s.buffer for s in self.stores]

    @property
    def in_place(self) -> list[Buffer]:
        """Outputs the kernel also loads: it overwrites them point by point (a matmul's
        epilogue rewriting the product) or fills in part (``partial``), so they are not
        allocated again."""
        if self.partial:
            return self.outputs
        loaded = {id(ld.buffer) for ld in self.loads}
        return [b for b in self.outputs if id(b) in loaded]

    @property
    def buffers(self) -> list[Buffer]:
        """Every buffer the kernel touches, each once: its parameters, in a fixed order."""
        seen: dict[int, Buffer] = {}
        for b in [ld.buffer for ld in self.loads] + self.outputs:
            seen.setdefault(id(b), b)
        return list(seen.values())

    def to_text(self) -> str:
        outs = ", ".join(f"{b}: {b.type}" for b in self.outputs)
        space = f"over [{','.join(map(str, self.shape))}]"
        along = "sort" if self.sort else "scan" if self.scan else "reduce"
        if self.reduction is not None or self.sort is not None:
            space += f" {along} [{','.join(map(str, self.reduce_shape))}]"
        partial = " (part of)" if self.partial else ""
        lines = [f"{outs} = kernel {self.name} {space}{partial} {{"]
        lines += [f"  {ld}" for ld in self.loads]
        if isinstance(self.reduction, Reduction):
            lines.append(f"  acc = {self.reduction.combine} from {self.reduction.identity}, "
                         f"x = {self.body}")
        elif isinstance(self.reduction, ArgReduction):
            at = "i" if self.arg_index is None else str(self.arg_index)
            start = "" if self.arg_start is None else f" (index {self.arg_start})"
            which = "last" if self.scan else "first"
            lines.append(f"  index = {which} {at} where {self.reduction.better} from "
                         f"{self.reduction.identity}{start}, x = {self.body}")
        if self.sort is not None:
            lines.append(f"  index = stable sort of x = {self.body}: {self.sort}")
        for s in self.stores:
            shown = self.body if self.reduction is None and s.value is self.body else s.value
            lines.append(f"  store {s.buffer}[{s.index}] = {shown}")
        return "\n".join(lines) + "\n}"


@dataclass(eq=False)
class LibraryCall:
    """Runs ``op``'s NumPy reference on whole buffers: for ops with no scalar body (matmul,
    conv, gather, ...) until a renderer calls a real library (BLAS) for them."""

    op: str
    attrs: dict
    inputs: list[Buffer]
    outputs: list[Buffer]
    origin: str = ""
    loc: str = ""  # the user's source location of the node, for error messages

    def to_text(self) -> str:
        outs = ", ".join(f"{b}: {b.type}" for b in self.outputs)
        args = ", ".join(map(str, self.inputs))
        shown = {k: v for k, v in self.attrs.items() if k != "body"}
        attrs = f" {shown}" if shown else ""
        return f"{outs} = library call {self.op}({args}){attrs}  # NumPy reference"


@dataclass(frozen=True)
class Strided:
    """A GEMM operand read in place from part of a buffer (a view of it: a slice, the heads of
    a reshaped and permuted projection): element ``c`` of its ``shape`` is the buffer's
    element ``offset + sum(c_k * strides[k])``. Within each matrix one of the last two axes
    has stride 1 and the other a stride BLAS takes as the leading dimension."""

    shape: tuple[int, ...]
    offset: int
    strides: tuple[int, ...]

    def __str__(self) -> str:
        return f"[{self.offset}; {','.join(map(str, self.strides))}]"


@dataclass(eq=False)
class Gemm:
    """``output = op(a) @ op(b)`` over the last two axes, batch axes broadcast as ``matmul``
    does; ``op`` transposes the last two axes of the stored operand when its flag is set (so
    ``a`` is stored ``[..., k, m]`` when ``transpose_a``). All three buffers share one float
    dtype. ``a_strided``/``b_strided``, when set, say how an operand is read from its buffer
    (:class:`Strided`; only for renderers that asked for them, see ``build_program``);
    otherwise the operand is its whole buffer, C-contiguous."""

    a: Buffer
    b: Buffer
    output: Buffer
    transpose_a: bool = False
    transpose_b: bool = False
    origin: str = ""
    a_strided: Strided | None = None
    b_strided: Strided | None = None

    @property
    def inputs(self) -> list[Buffer]:
        return [self.a, self.b]

    @property
    def outputs(self) -> list[Buffer]:
        return [self.output]

    @property
    def a_shape(self) -> tuple[int, ...]:
        return self.a.type.shape if self.a_strided is None else self.a_strided.shape

    @property
    def b_shape(self) -> tuple[int, ...]:
        return self.b.type.shape if self.b_strided is None else self.b_strided.shape

    @property
    def inner(self) -> int:
        """k: the length of the contracted axis."""
        shape = self.a_shape
        return shape[-2] if self.transpose_a else shape[-1]

    def to_text(self) -> str:
        a = f"{self.a}{self.a_strided or ''}{'^T' if self.transpose_a else ''}"
        b = f"{self.b}{self.b_strided or ''}{'^T' if self.transpose_b else ''}"
        return f"{self.output}: {self.output.type} = gemm {a}, {b}  # BLAS"


@dataclass(eq=False)
class RowGroup:
    """Kernels run row by row: for each point of ``shape`` (the leading loops every one of
    them starts with: the *rows*), each kernel's remaining loops, in order. A row a kernel
    writes is read by the later ones while it is still in cache, where run one after the
    other each kernel would stream whole buffers through memory again (softmax: a row max, an
    ``exp``, a sum and a division over the same scores). Every element is computed as by the
    kernels alone, in the same order: the same bits. :func:`backends.kernel.rows.group_rows`
    forms groups where that is safe (a row reads only what the earlier kernels wrote of that
    row)."""

    name: str
    shape: tuple[int, ...]
    kernels: list[Kernel]
    # buffers that live one row at a time (role ``row``, typed as one row): written and read
    # only inside the group, each row's part is stored in a scratch of the row's size, which
    # the next row reuses (the kernels' index maps into them skip the rows' loops)
    local: list[Buffer] = field(default_factory=list)

    @property
    def outputs(self) -> list[Buffer]:
        return [b for k in self.kernels for b in k.outputs if b.role != "row"]

    @property
    def in_place(self) -> list[Buffer]:
        return [b for k in self.kernels for b in k.in_place]

    @property
    def buffers(self) -> list[Buffer]:
        """Every buffer the group's kernels touch but its row-local ones, each once, in a
        fixed order."""
        seen: dict[int, Buffer] = {}
        for kernel in self.kernels:
            for b in kernel.buffers:
                if b.role != "row":
                    seen.setdefault(id(b), b)
        return list(seen.values())

    @property
    def origin(self) -> str:
        return "; ".join(k.origin for k in self.kernels)

    def summary(self) -> str:
        """One line: the rows, the kernels, the row-local buffers."""
        local = f"; row-local {', '.join(f'{b}: {b.type}' for b in self.local)}" \
            if self.local else ""
        return (f"rows {self.name} over [{','.join(map(str, self.shape))}]: each row through "
                f"{', '.join(k.name for k in self.kernels)}{local}")

    def to_text(self) -> str:
        lines = [self.summary() + " {"]
        lines += ["  " + line for k in self.kernels for line in k.to_text().splitlines()]
        return "\n".join(lines) + "\n}"


Step = Kernel | RowGroup | Gemm | LibraryCall


def step_reads(step: Step) -> list[Buffer]:
    """The buffers ``step`` reads (a kernel: those it loads)."""
    if isinstance(step, Kernel):
        return [ld.buffer for ld in step.loads]
    if isinstance(step, RowGroup):
        return [ld.buffer for k in step.kernels for ld in k.loads]
    return list(step.inputs)


def step_buffers(step: Step) -> list[Buffer]:
    """Every buffer ``step`` reads or writes, each once."""
    if isinstance(step, (Kernel, RowGroup)):
        return step.buffers
    return list({id(b): b for b in step.inputs + step.outputs}.values())


@dataclass(eq=False)
class KernelProgram:
    """A graph as steps over buffers: run ``steps`` in order, then ``outputs`` are the results
    (an output may be an input buffer, or appear twice). ``notes`` explain decisions a reader
    should know about (a fused body that runs as several steps)."""

    name: str
    inputs: list[Buffer]
    outputs: list[Buffer]
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def kernels(self) -> list[Kernel]:
        """The kernels, in order, those of row groups included."""
        return [k for s in self.steps
                for k in (s.kernels if isinstance(s, RowGroup) else [s] if isinstance(s, Kernel)
                          else [])]

    def describe(self) -> str:
        """What the program runs, in one line (``explain()`` shows it), e.g. ``5 kernels (4 of
        them row by row, in 1 row group), 2 GEMMs, 1 library call``."""
        def counted(n: int, what: str) -> str:
            return f"{n} {what}{'' if n == 1 else 's'}"
        groups = [s for s in self.steps if isinstance(s, RowGroup)]
        kernels = counted(len(self.kernels), "kernel")
        if groups:
            grouped = sum(len(g.kernels) for g in groups)
            kernels += f" ({grouped} of them row by row, in {counted(len(groups), 'row group')})"
        gemms = sum(isinstance(s, Gemm) for s in self.steps)
        calls = sum(isinstance(s, LibraryCall) and s.op != "const" for s in self.steps)
        return ", ".join([kernels, counted(gemms, "GEMM"), counted(calls, "library call")])

    def inputs_written_before_failure(self, written: tuple[int, ...]) -> tuple[int, ...]:
        """Those of the input indices ``written`` (inputs some step stores into: donated
        state) that a step stores into before a later step that may raise at run time:
        library calls can (``gather`` with an index out of range, a NumPy reference's
        ``ValueError``), kernels and GEMMs cannot. A caller that keeps state whole when a call
        fails passes copies of these; a training step's optimizer update usually comes after
        its gathers, so it has none."""
        calls = [i for i, step in enumerate(self.steps)
                 if isinstance(step, LibraryCall) and step.op != "const"]
        if not calls or not written:
            return ()
        first_store: dict[int, int] = {}
        for i, step in enumerate(self.steps):
            for buffer in step.outputs:
                first_store.setdefault(id(buffer), i)
        return tuple(index for index in written
                     if first_store.get(id(self.inputs[index]), len(self.steps)) < calls[-1])

    @property
    def temps(self) -> list[Buffer]:
        """The buffers the program allocates, in the order steps produce them."""
        made: dict[int, Buffer] = {}
        for step in self.steps:
            for buffer in step.outputs:
                made.setdefault(id(buffer), buffer)
        return list(made.values())

    def __str__(self) -> str:
        ins = ", ".join(f"{b}: {b.type}" for b in self.inputs)
        outs = ", ".join(map(str, self.outputs))
        lines = [f"kernel program @{self.name}({ins}) -> ({outs})"]
        lines += [f"  # {note}" for note in self.notes]
        for step in self.steps:
            lines += ["  " + line for line in step.to_text().splitlines()]
        return "\n".join(lines)


@dataclass(frozen=True)
class BufferPlan:
    """Where each temp buffer lives. ``offsets`` maps a buffer (by ``id``: two buffers may
    share a name) to its byte offset in one arena of ``arena_bytes``; a buffer without an
    offset gets its own allocation."""

    offsets: dict[int, int] = field(default_factory=dict)
    arena_bytes: int = 0

    def offset(self, buffer: Buffer) -> int | None:
        return self.offsets.get(id(buffer))


def own_buffers(program: KernelProgram) -> BufferPlan:
    """The simplest plan: every temp buffer is allocated on its own (no arena)."""
    return BufferPlan()


def arena_buffers(program: KernelProgram, alignment: int = 64) -> BufferPlan:
    """One arena for the temporaries kernels and GEMMs write, by liveness over the steps: a
    buffer lives from the step that first writes it to the last step that touches it, and two
    buffers share bytes only when their lives do not overlap (greedy by size, best fit: the
    ``plan`` pass's placement). Program outputs (the caller keeps them), inputs and library
    calls' results (NumPy allocates them) are not in it.

        >>> import ir
        >>> from backends.kernel import build_program
        >>> program = build_program(ir.parse('''func @f(%x: f32[16]) -> (f32[16]) {
        ...   %0: f32[16] = exp %x
        ...   %1: f32[16] = neg %0
        ...   %2: f32[16] = abs %1
        ...   return %2
        ... }'''))
        >>> plan = arena_buffers(program)
        >>> [plan.offset(b) for b in program.temps], plan.arena_bytes
        ([0, 64, None], 128)
    """
    from passes.plan import place_in_arena  # passes import no backend: no cycle
    excluded = {id(b) for b in program.inputs + program.outputs}
    for step in program.steps:
        if isinstance(step, LibraryCall):
            excluded.update(id(b) for b in step.outputs)
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    buffers: dict[int, Buffer] = {}
    for position, step in enumerate(program.steps):
        for buffer in step_buffers(step):
            if id(buffer) in excluded:
                continue
            buffers.setdefault(id(buffer), buffer)
            first.setdefault(id(buffer), position)
            last[id(buffer)] = position
    keys = list(buffers)
    sizes = [buffers[k].dtype.numpy.itemsize * math.prod(buffers[k].type.shape) for k in keys]
    offsets, arena_bytes = place_in_arena(
        [(size, first[k], last[k]) for size, k in zip(sizes, keys)], alignment)
    return BufferPlan(dict(zip(keys, offsets)), arena_bytes)
