"""Kernel program -> one LLVM module: a function per kernel, loops over its iteration space.

Each kernel ``kN`` becomes ``void @kN(ptr, ptr, ...)``, one pointer per buffer it touches (in
``Kernel.buffers`` order). Its body is a loop nest over ``shape`` then ``reduce_shape``, with
``i64`` loop counters; each load and store computes its element from the counters and the
index map's constant strides, so LLVM sees static trip counts and can vectorize. A guarded load
(convolution padding) branches around the load and reads its pad value outside the bounds; an
indirect one adds an index loaded before; bodies may read the counters as ``i0, i1, ...``.
A row group ``rN`` (``backends.kernel.rows``) is one function too: loops over its rows, and in
each row its kernels' remaining loops, one after another; its row-local buffers are stack
scratch. Library calls are not in the module: the executable runs them between kernels.

Compile time grows with the code LLVM optimizes and generates, so each loop nest is generated
once: kernels are ``noinline`` (a segment's entry calls them instead of getting a copy of
each), and a kernel or row group identical to an earlier one but for its buffers (the same
optimizer update of two parameters of one shape, the LayerNorms of a transformer's layers)
becomes a one-line ``alwaysinline`` function that calls the earlier one.

    >>> import ir
    >>> from backends.kernel import build_program
    >>> g = ir.parse('''func @f(%x: f32[4]) -> (f32[4]) {
    ...   %0: f32[4] = relu %x
    ...   return %0
    ... }''')
    >>> text = str(render_module(build_program(g)))
    >>> print(text[text.index("define"):text.index("{")])
    define void @"k0"(ptr %"x", ptr noalias %"t0") noinline optnone
    <BLANKLINE>
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from llvmlite import ir  # type: ignore[import-untyped]

from backends.kernel import (
    ACC,
    INDEX,
    Buffer,
    IndexMap,
    Kernel,
    KernelProgram,
    RowGroup,
)
from backends.kernel.cost import count_ops
from backends.llvm.call import kernel_work
from backends.llvm.scalar import I64, ScalarRenderer, memory_type, value_type
from ir.dtypes import i64
from ir.scalar import ArgReduction, Reduction, cast
from ir.scalar.reduction import X

# Float sums and max/min fold into this many interleaved accumulators (see _interleaved_fold),
# one vector: eight float32 lanes fill one AVX2 register.
LANES = 8
# A fold of more than CASCADE_BLOCKS blocks of LANES elements sums chunks of CHUNK_BLOCKS
# blocks (512 elements) on fresh accumulators and adds the chunks' sums pairwise (_Cascade): its
# rounding error grows with log2(n) instead of n / LANES. Shorter folds (rows of up to 4096
# floats) keep LANES running sums: chunked, rows of 1024 floats summed 1.4x slower.
CASCADE_BLOCKS = 512
CHUNK_BLOCKS = 64

# Kernels of less work than this are not optimized (``optnone``, which LLVM also compiles with
# its fast instruction selector): on an MLP training step they are two thirds of the kernels
# and took half of the time LLVM spent, yet run for microseconds. LLVM's IEEE semantics make
# their results the same bits either way. Work is loop iterations, each weighing 1 plus
# COSTLY_WEIGHT per costly function its body computes (:func:`optimizing_pays`): unoptimized,
# ``exp`` of 2560 floats (a 10-class softmax of a batch of 256) took 11.4 us, one element at a
# time through the inlined polynomial, where optimized code took 2.6 us on 4096 floats; an
# ``x * 2 + 1`` 2.9 us, against 1.6 us optimized on 4096 (Sapphire Rapids, call included).
OPTIMIZE_MIN_WORK = 4096
SCRATCH_ALIGNMENT = 64  # bytes: a row-local buffer's, as the arena's buffers
COSTLY_WEIGHT = 16
COSTLY_FUNCTIONS = frozenset(
    "exp log log1p expm1 tanh erf sin cos tan asin acos atan sinh cosh asinh acosh atanh log2 "
    "log10 exp2 atan2 hypot pow fmod".split())


def _is_extremum(fold: Reduction) -> bool:
    """A max or min fold (``np.maximum``/``np.minimum`` semantics, :mod:`backends.llvm.scalar`)
    of f32, f64 or integers (f16/bf16 values are rendered through f32 and keep one running
    fold)."""
    return (fold.combine.op in ("maximum", "minimum")
            and not fold.accumulator.is_low_precision_float)


def optimizing_pays(kernel: Kernel) -> bool:
    """Whether LLVM optimizes ``kernel``: its iterations, weighted by the costly functions
    (:data:`COSTLY_FUNCTIONS`) each computes, reach :data:`OPTIMIZE_MIN_WORK`."""
    costly = count_ops([kernel.body, *(store.value for store in kernel.stores)],
                       lambda expr: expr.op in COSTLY_FUNCTIONS)
    return kernel_work(kernel) * (1 + COSTLY_WEIGHT * costly) >= OPTIMIZE_MIN_WORK


def render_module(program: KernelProgram, fast_math: bool = False) -> ir.Module:
    """The LLVM module of ``program``'s kernels and row groups (library calls run outside it);
    ``fast_math``: f32 transcendentals as inlined approximations
    (:mod:`backends.llvm.fastmath`)."""
    module = ir.Module(name=program.name)
    rendered: dict[str, ir.Function] = {}  # kernel_structure -> its function
    for step in program.steps:
        if not isinstance(step, (Kernel, RowGroup)):
            continue
        structure = kernel_structure(step)
        same = rendered.get(structure)
        if same is not None:
            _render_call_to(module, step, same)
        elif isinstance(step, RowGroup):
            rendered[structure] = render_group(module, step, fast_math)
        else:
            rendered[structure] = render_kernel(module, step, fast_math)
    return module


def render_kernel(module: ir.Module, kernel: Kernel, fast_math: bool = False,
                  ranged: bool = False) -> ir.Function:
    """Adds ``kernel``'s function to ``module``; ``ranged``: its ``_range`` variant, which runs
    only the iterations ``lo <= i < hi`` of the outermost kept loop, so that threads can share
    the kernel (reduced axes are never split, so every element is summed in the same order)."""
    name = range_function_name(kernel) if ranged else kernel.name
    frame = _Frame(module, name, kernel.buffers, kernel.outputs, fast_math, ranged,
                   optimize=optimizing_pays(kernel))
    return _KernelRenderer(frame, kernel).render()


def render_group(module: ir.Module, group: RowGroup, fast_math: bool = False,
                 ranged: bool = False) -> ir.Function:
    """Adds ``group``'s function to ``module``: loops over its rows (``ranged``: the rows
    ``lo <= i < hi`` of the outermost loop), and in each row every kernel's remaining loops,
    in order."""
    name = range_function_name(group) if ranged else group.name
    frame = _Frame(module, name, group.buffers, group.outputs, fast_math, ranged,
                   optimize=any(optimizing_pays(k) for k in group.kernels))
    frame.add_scratch(group.local)
    renderers = [_KernelRenderer(frame, kernel) for kernel in group.kernels]

    def row(outer: list[ir.Value]) -> None:
        for renderer in renderers:
            renderer.render_row(outer)

    frame.loops(list(group.shape), [], row, frame.bounds)
    frame.builder.ret_void()
    return frame.function


def kernel_structure(step: Kernel | RowGroup) -> str:
    """Everything of ``step`` (a kernel or a row group) that its LLVM function depends on, with
    names left out (buffers appear by position and type): steps with the same structure
    compile to the same code.

        >>> import ir
        >>> from backends.kernel import build_program
        >>> g = ir.parse('''func @f(%x: f32[4], %y: f32[4]) -> (f32[4], f32[4]) {
        ...   %0: f32[4] = relu %x
        ...   %1: f32[4] = relu %y
        ...   return %0, %1
        ... }''')
        >>> first, second = build_program(g).kernels
        >>> kernel_structure(first) == kernel_structure(second)
        True
    """
    kernels, buffers = ([step], step.buffers) if isinstance(step, Kernel) else \
        (step.kernels, step.buffers + step.local)
    renamed = {id(b): Buffer(f"b{i}", b.type, b.role) for i, b in enumerate(buffers)}
    # to_text shows the outputs' types but not the inputs'; the reduction's dtypes come with
    # its repr; a load keeps its guards, pad and indirection (only its buffer is renamed)
    lines = [", ".join(f"{b}: {b.type}" for b in renamed.values())]
    if isinstance(step, RowGroup):
        lines.append(f"rows {step.shape}")
    for kernel in kernels:
        anonymous = dataclasses.replace(
            kernel, name="k", origin="",
            loads=[dataclasses.replace(ld, buffer=renamed[id(ld.buffer)]) for ld in kernel.loads],
            stores=[dataclasses.replace(st, buffer=renamed[id(st.buffer)])
                    for st in kernel.stores])
        lines += [anonymous.to_text(), repr(kernel.reduction)]
    return "\n".join(lines)


def _render_call_to(module: ir.Module, kernel: Kernel | RowGroup, same: ir.Function) -> None:
    """``kernel`` as a function that calls ``same`` (a kernel of the same structure); inlined
    into its callers, so a segment calls ``same`` directly."""
    function = ir.Function(module, same.function_type, kernel.name)
    function.attributes.add("alwaysinline")
    for argument, buffer in zip(function.args, kernel.buffers):
        argument.name = buffer.name
    builder = ir.IRBuilder(function.append_basic_block("entry"))
    builder.call(same, function.args)
    builder.ret_void()


def range_function_name(step: Kernel | RowGroup) -> str:
    """The name of ``step``'s variant over part of its outermost loop (see ``ranged``)."""
    return f"{step.name}_range"


class _Frame:
    """A function being rendered, ``void @name(ptr..., [i64 lo, i64 hi])``, one pointer per
    buffer (``ranged``: the outermost loop runs ``range(lo, hi)``), with its builder at the
    entry block. ``optimize``: else ``optnone`` (:func:`optimizing_pays`)."""

    def __init__(self, module: ir.Module, name: str, buffers: list[Buffer],
                 written: list[Buffer], fast_math: bool, ranged: bool, optimize: bool):
        bounds = [I64, I64] if ranged else []
        signature = ir.FunctionType(ir.VoidType(), [ir.PointerType()] * len(buffers) + bounds)
        self.function = ir.Function(module, signature, name)
        # one copy of the loop nest, called from the segments (see the module's docstring)
        self.function.attributes.add("noinline")
        if not optimize:
            self.function.attributes.add("optnone")
        self.bounds = tuple(self.function.args[len(buffers):]) if ranged else None
        self.pointers: dict[int, ir.Argument] = {}
        outputs = {id(b) for b in written}
        for argument, buffer in zip(self.function.args, buffers):
            argument.name = buffer.name
            self.pointers[id(buffer)] = argument
            if id(buffer) in outputs:
                # a kernel's outputs are fresh buffers: no other argument overlaps them, so
                # LLVM needs no run-time overlap checks to vectorize
                argument.add_attribute("noalias")
        self.entry = self.function.append_basic_block("entry")
        self.builder = ir.IRBuilder(self.entry)
        self.scalars = ScalarRenderer(self.builder, fast_math)

    def loops(self, extents: list[int], counters: list[ir.Value],
              body: Callable[[list[ir.Value]], None],
              bounds: tuple[ir.Value, ir.Value] | None = None) -> None:
        """``for i in range(extent)`` nested over ``extents``; ``body(counters)`` innermost.
        ``bounds``: the outermost loop runs ``range(lo, hi)`` instead."""
        if not extents:
            body(counters)
            return
        b = self.builder
        before = b.block
        header = b.append_basic_block(f"loop{len(counters)}")
        inside = b.append_basic_block(f"body{len(counters)}")
        after = b.append_basic_block(f"done{len(counters)}")
        b.branch(header)
        b.position_at_end(header)
        i = b.phi(I64, name=f"i{len(counters)}")
        start, stop = bounds or (ir.Constant(I64, 0), ir.Constant(I64, extents[0]))
        i.add_incoming(start, before)
        b.cbranch(b.icmp_signed("<", i, stop), inside, after)
        b.position_at_end(inside)
        self.loops(extents[1:], counters + [i], body)
        i.add_incoming(b.add(i, ir.Constant(I64, 1)), b.block)
        b.branch(header)
        b.position_at_end(after)

    def add_scratch(self, buffers: list[Buffer]) -> None:
        """``buffers`` live on the function's stack (a row group's row-local buffers)."""
        for buffer in buffers:
            size = ir.Constant(I64, max(math.prod(buffer.type.shape), 1))
            scratch = self.builder.alloca(memory_type(buffer.dtype), size=size, name=buffer.name)
            scratch.align = SCRATCH_ALIGNMENT
            self.pointers[id(buffer)] = scratch


class _KernelRenderer:
    """Renders one kernel's loops into ``frame``'s function: all of them (:meth:`render`), or
    those inside a row of a row group (:meth:`render_row`)."""

    def __init__(self, frame: _Frame, kernel: Kernel):
        self.kernel = kernel
        # the frame's parts by name: this class and SortRenderer read them often
        self.function, self.entry, self.builder = frame.function, frame.entry, frame.builder
        self.scalars, self.pointers, self.bounds = frame.scalars, frame.pointers, frame.bounds
        self._loops = frame.loops

    def render(self) -> ir.Function:
        kernel = self.kernel
        if kernel.sort is not None:
            from backends.llvm.sort import SortRenderer
            SortRenderer(self).render()
            return self.function
        if self.bounds is None and folds_row_by_row(kernel):
            self.render_rows_first()
            return self.function
        body = self._pointwise if kernel.reduction is None else self._reduce
        self._loops(list(kernel.shape), [], body, self.bounds)
        self.builder.ret_void()
        return self.function

    def render_row(self, outer: list[ir.Value]) -> None:
        """The kernel's loops inside one row: its first ``len(outer)`` loops are at ``outer``."""
        body = self._pointwise if self.kernel.reduction is None else self._reduce
        self._loops(list(self.kernel.shape[len(outer):]), outer, body)

    # -- memory ------------------------------------------------------------------------------
    def _address(self, buffer, index: IndexMap, counters: list[ir.Value],
                 base: ir.Value | None = None) -> ir.Value:
        offset = self._affine(index, counters)
        if base is not None:
            offset = self.builder.add(offset, base)
        return self.builder.gep(self.pointers[id(buffer)], [offset],
                                source_etype=memory_type(buffer.dtype))

    def _load_all(self, counters: list[ir.Value]) -> dict[str, ir.Value]:
        """The loads' values at one loop point, and the counters as ``i0, i1, ...``."""
        b = self.builder
        values: dict[str, ir.Value] = {f"i{k}": c for k, c in enumerate(counters)}
        for load in self.kernel.loads:
            dtype = load.buffer.dtype
            index = load.index
            if load.indirect is not None:  # offset + stride * an index loaded before
                extra = values[load.indirect.var]
                if extra.type != I64:
                    extra = b.sext(extra, I64)
                index = IndexMap(0, index.strides)
                base = b.add(ir.Constant(I64, load.index.offset),
                             b.mul(extra, ir.Constant(I64, load.indirect.stride)))
            else:
                base = None
            if load.bounds:
                value = self._guarded_load(load, index, base, counters)
            else:
                value = b.load(self._address(load.buffer, index, counters, base),
                               typ=memory_type(dtype))
            if dtype.is_bool:
                value = b.icmp_unsigned("!=", value, ir.Constant(value.type, 0))
            values[load.var] = value
        return values

    def _guarded_load(self, load, index: IndexMap, base, counters: list[ir.Value]) -> ir.Value:
        """``buffer[index]`` where every bound holds, else ``pad``: a branch around the load
        (never a select over an out-of-range address: that memory may not exist)."""
        b = self.builder
        inside: ir.Value = ir.Constant(ir.IntType(1), 1)
        for bound in load.bounds:
            coordinate = self._affine(bound.index, counters)
            # one unsigned compare checks 0 <= c < extent
            inside = b.and_(inside, b.icmp_unsigned("<", coordinate,
                                                   ir.Constant(I64, bound.extent)))
        typ = memory_type(load.buffer.dtype)
        pad = self.scalars.render(load.pad, {})
        if load.buffer.dtype.is_bool:
            pad = b.zext(pad, typ)
        before = b.block
        read = b.append_basic_block(f"{load.var}.read")
        joined = b.append_basic_block(f"{load.var}.joined")
        b.cbranch(inside, read, joined)
        b.position_at_end(read)
        loaded = b.load(self._address(load.buffer, index, counters, base), typ=typ)
        b.branch(joined)
        b.position_at_end(joined)
        value = b.phi(typ)
        value.add_incoming(loaded, read)
        value.add_incoming(pad, before)
        return value

    def _affine(self, index: IndexMap, counters: list[ir.Value]) -> ir.Value:
        b = self.builder
        offset: ir.Value = ir.Constant(I64, index.offset)
        for counter, stride in zip(counters, index.strides):
            if stride:
                offset = b.add(offset, b.mul(counter, ir.Constant(I64, stride)))
        return offset

    def _store_all(self, env: dict[str, ir.Value], counters: list[ir.Value]) -> None:
        b = self.builder
        env = {**{f"i{k}": c for k, c in enumerate(counters)}, **env}
        for store in self.kernel.stores:
            value = self.scalars.render(store.value, env)
            if store.buffer.dtype.is_bool:
                value = b.zext(value, memory_type(store.buffer.dtype))
            b.store(value, self._address(store.buffer, store.index, counters))

    # -- kernel bodies -------------------------------------------------------------------------
    def _pointwise(self, counters: list[ir.Value]) -> None:
        self._store_all(self._load_all(counters), counters)

    def render_rows_first(self) -> None:
        """A reduction that :func:`folds_row_by_row`: the output starts at the identity, then
        the reduced loops run outside the kept ones and fold each element into its output in
        place, so the innermost loop walks memory contiguously (and vectorizes). Every output
        element folds its elements in the same order as :meth:`_fold`, so the bits agree."""
        b, kernel = self.builder, self.kernel
        fold = kernel.reduction
        assert isinstance(fold, Reduction)
        (store,) = kernel.stores
        accumulator = value_type(fold.accumulator)
        identity = self.scalars.render(fold.identity, {})
        element = cast(kernel.body, fold.accumulator)

        def start(kept):
            b.store(identity, self._address(store.buffer, store.index, kept))

        def step(kept, reduced):
            address = self._address(store.buffer, store.index, kept + reduced)
            x = self.scalars.render(element, self._load_all(kept + reduced))
            current = b.load(address, typ=accumulator)
            b.store(self.scalars.render(fold.combine, {ACC: current, X: x}), address)

        kept_shape = list(kernel.shape)
        self._loops(kept_shape, [], start)
        self._loops(list(kernel.reduce_shape), [],
                    lambda reduced: self._loops(kept_shape, [], lambda kept: step(kept, reduced)))
        b.ret_void()

    def _reduce(self, outer: list[ir.Value]) -> None:
        fold = self.kernel.reduction
        if isinstance(fold, Reduction):
            self._fold(outer, fold)
        else:
            assert isinstance(fold, ArgReduction)
            self._arg_fold(outer, fold)

    def _slot(self, dtype) -> ir.AllocaInstr:
        """A stack slot in the entry block (promoted to a register by LLVM's mem2reg)."""
        with self.builder.goto_block(self.entry):
            return self.builder.alloca(value_type(dtype))

    def _slot_i64(self, name: str) -> ir.AllocaInstr:
        with self.builder.goto_block(self.entry):
            return self.builder.alloca(I64, name=name)

    def _fold(self, outer: list[ir.Value], fold: Reduction) -> None:
        if self._interleaves(fold):
            total = self._interleaved_fold(outer, fold)
            if fold.accumulator.is_float and _is_extremum(fold):
                total = self._rescanned_where_order_shows(outer, fold, total)
        else:
            total = self._running_fold(outer, fold)
        if not self.kernel.scan:
            self._store_all({ACC: total}, outer)

    def _running_fold(self, outer: list[ir.Value], fold: Reduction) -> ir.Value:
        """One running accumulator over the reduced loops, in index order (a scan stores it at
        every step); returns its final value."""
        b, kernel = self.builder, self.kernel
        acc = self._slot(fold.accumulator)
        b.store(self.scalars.render(fold.identity, {}), acc)
        element = cast(kernel.body, fold.accumulator)

        def step(counters):
            x = self.scalars.render(element, self._load_all(counters))
            current = b.load(acc, typ=value_type(fold.accumulator))
            combined = self.scalars.render(fold.combine, {ACC: current, X: x})
            b.store(combined, acc)
            if kernel.scan:  # a scan stores the running value at every step
                self._store_all({ACC: combined}, counters)

        self._loops(list(kernel.reduce_shape), outer, step)
        return b.load(acc, typ=value_type(fold.accumulator))

    def _rescanned_where_order_shows(self, outer: list[ir.Value], fold: Reduction,
                                     total: ir.Value) -> ir.Value:
        """A float max/min folded on interleaved accumulators equals the running fold's,
        except where the order decides: which of equal zeros (+0.0 or -0.0) and which NaN it
        keeps. Only then (a result of zero or NaN, rare) is the slice folded again in index
        order, so the bits are always those of :meth:`_running_fold` (and of the rows-first
        and threaded variants, which fold in that order)."""
        b = self.builder
        result = self._slot(fold.accumulator)
        b.store(total, result)
        order_shows = b.or_(b.fcmp_ordered("==", total, ir.Constant(total.type, 0.0)),
                            b.fcmp_unordered("uno", total, total))
        with b.if_then(order_shows, likely=False):
            b.store(self._running_fold(outer, fold), result)
        return b.load(result, typ=value_type(fold.accumulator))

    def _interleaves(self, fold: Reduction) -> bool:
        """Whether this fold runs on :data:`LANES` interleaved accumulators: a float sum the
        reference adds pairwise (``order="pairwise"``) or a max/min (exact in any order, but for
        what :meth:`_rescanned_where_order_shows` mends), not a scan, whose innermost reduced
        loop fills every accumulator twice and walks every operand contiguously. (A strided
        one, a column sum, may be rendered rows-first, whose order the threaded variant, which
        always folds here, must repeat: it keeps one running sum.)"""
        kernel = self.kernel
        pairwise_sum = fold.order == "pairwise" and fold.accumulator.is_float
        if (not (pairwise_sum or _is_extremum(fold)) or kernel.scan
                or not kernel.reduce_shape or kernel.reduce_shape[-1] < 2 * LANES):
            return False
        last = len(kernel.shape) + len(kernel.reduce_shape) - 1
        return all(load.index.strides[last] in (0, 1) for load in kernel.loads)

    def _interleaved_fold(self, outer: list[ir.Value], fold: Reduction) -> ir.Value:
        """A float sum (or a max/min) on :data:`LANES` accumulators, returned: element ``j``
        of the innermost reduced loop goes to accumulator ``j % LANES`` (the rest after the
        last full block to the first), and the accumulators are combined pairwise at the end.
        A fold of more than :data:`CHUNK_BLOCKS` blocks runs them in chunks of that many, each
        on fresh accumulators, and adds the chunks' sums pairwise (:class:`_Cascade`). Either
        way a sum's rounding error grows far slower than one running sum's (NumPy's pairwise
        sum and PyTorch's cascade sum are of this kind): on 2^20 float32 copies of 0.1 the
        mean was 0.0998964 with LANES running sums, 0.1 within 2^-24 chunked. Measured
        on rows of 3136
        float32 normals: 3.9x closer to the float64 sum than one running sum (NumPy's pairwise
        sum is 3.8x closer still), and rows of 4096 summed 3.2x faster. The order is fixed, so
        results are the same on every run and every thread count."""
        b, kernel = self.builder, self.kernel
        # the accumulators are one vector (of floats or integers: :meth:`_interleaves` takes
        # no f16/bf16): each block's LANES elements are gathered into a vector (LLVM's SLP
        # vectorizer turns consecutive loads into one vector load) and combined in one vector
        # instruction; kept as LANES scalars, LLVM left them scalar (a sum over rows of 128
        # floats ran at 23 GB/s, in L2)
        accumulators = ir.VectorType(value_type(fold.accumulator), LANES)
        with b.goto_block(self.entry):
            slot = b.alloca(accumulators)
        identity = self.scalars.render(fold.identity, {})
        start_value = ir.Constant(accumulators, ir.Undefined)
        for lane in range(LANES):
            start_value = b.insert_element(start_value, identity, ir.Constant(I64, lane))
        b.store(start_value, slot)
        element = cast(kernel.body, fold.accumulator)
        *outer_reduced, extent = kernel.reduce_shape
        blocks = extent // LANES
        chunked = math.prod(outer_reduced) * blocks > CASCADE_BLOCKS

        def combine(acc: ir.Value, x: ir.Value) -> ir.Value:
            return self.scalars.render(fold.combine, {ACC: acc, X: x})

        cascade = _Cascade(self, accumulators, start_value, combine) if chunked else None

        def block(counters: list[ir.Value], index: ir.Value) -> None:
            start = b.mul(index, ir.Constant(I64, LANES))
            elements = ir.Constant(accumulators, ir.Undefined)
            for lane in range(LANES):
                at = counters + [b.add(start, ir.Constant(I64, lane))]
                x = self.scalars.render(element, self._load_all(at))
                elements = b.insert_element(elements, x, ir.Constant(I64, lane))
            b.store(combine(b.load(slot, typ=accumulators), elements), slot)

        def into_first(at):  # an element after the last whole block: accumulator 0
            x = self.scalars.render(element, self._load_all(at))
            current = b.load(slot, typ=accumulators)
            first = combine(b.extract_element(current, ir.Constant(I64, 0)), x)
            b.store(b.insert_element(current, first, ir.Constant(I64, 0)), slot)

        def blocks_from(counters: list[ir.Value], first: int, stop: int) -> None:
            self._loops([stop], counters, lambda at: block(counters, at[-1]),
                        (ir.Constant(I64, first), ir.Constant(I64, stop)))

        def innermost(counters):
            if cascade is None:
                blocks_from(counters, 0, blocks)
            else:
                whole = blocks // CHUNK_BLOCKS * CHUNK_BLOCKS

                def chunk(at):
                    b.store(start_value, slot)
                    first = b.mul(at[-1], ir.Constant(I64, CHUNK_BLOCKS))
                    self._loops([CHUNK_BLOCKS], counters,
                                lambda inner: block(counters, b.add(first, inner[-1])))
                    cascade.push(b.load(slot, typ=accumulators))
                self._loops([blocks // CHUNK_BLOCKS], counters, chunk)
                if whole == blocks and blocks * LANES == extent:
                    return
                b.store(start_value, slot)  # the last, shorter chunk
                blocks_from(counters, whole, blocks)
            if blocks * LANES < extent:
                self._loops([extent], counters, into_first,
                            (ir.Constant(I64, blocks * LANES), ir.Constant(I64, extent)))
            if cascade is not None:
                cascade.push(b.load(slot, typ=accumulators))

        self._loops(list(outer_reduced), outer, innermost)
        total = b.load(slot, typ=accumulators) if cascade is None else cascade.total()
        partial = [b.extract_element(total, ir.Constant(I64, lane)) for lane in range(LANES)]
        while len(partial) > 1:  # ((a0 + a1) + (a2 + a3)) + ...
            partial = [combine(left, right) for left, right in zip(partial[::2], partial[1::2])]
        return partial[0]

    def _arg_fold(self, outer: list[ir.Value], fold: ArgReduction) -> None:
        """The first index whose element ``better`` beats the best so far (one reduced loop)."""
        b, kernel = self.builder, self.kernel
        best, index = self._slot(fold.value), self._slot(i64)
        b.store(self.scalars.render(fold.identity, {}), best)
        start = (ir.Constant(I64, 0) if kernel.arg_start is None else
                 self.scalars.render(kernel.arg_start, {f"i{k}": c for k, c in enumerate(outer)}))
        b.store(start, index)

        def step(counters):
            env = self._load_all(counters)
            x = self.scalars.render(kernel.body, env)
            current = b.load(best, typ=value_type(fold.value))
            take = self.scalars.render(fold.better, {ACC: current, X: x})
            b.store(b.select(take, x, current), best)
            chosen = b.load(index, typ=I64)
            at = (counters[-1] if kernel.arg_index is None else
                  self.scalars.render(kernel.arg_index, env))
            now = b.select(take, at, chosen)
            b.store(now, index)
            if kernel.scan:  # a scan stores the running index at every step
                self._store_all({INDEX: now}, counters)

        self._loops(list(kernel.reduce_shape), outer, step)
        if not kernel.scan:
            self._store_all({INDEX: b.load(index, typ=I64)}, outer)



class _Cascade:
    """Sums of chunks added pairwise, as a binary counter adds ones: ``level[k]`` holds the
    sum of the last ``2^k`` chunks pushed where bit ``k`` of the count is set, and a push adds
    equal-sized sums (``level[k]`` and the carry) until it reaches an empty level. So every
    chunk's sum passes through at most log2(chunks) additions, each of two sums of about the
    same number of elements, in an order fixed by the shape alone."""

    LEVELS = 64  # the count is an i64

    def __init__(self, renderer: _KernelRenderer, vector: ir.VectorType, empty: ir.Value,
                 combine: Callable[[ir.Value, ir.Value], ir.Value]):
        b = self.builder = renderer.builder
        self.vector, self.empty, self.combine = vector, empty, combine
        with b.goto_block(renderer.entry):
            self.levels = b.alloca(vector, size=ir.Constant(I64, self.LEVELS), name="levels")
            self.count = b.alloca(I64, name="chunks")
            self.carry = b.alloca(vector, name="carry")
            self.bits = b.alloca(I64, name="bits")
            self.level = b.alloca(I64, name="level")
        b.store(ir.Constant(I64, 0), self.count)

    def _at(self, level: ir.Value) -> ir.Value:
        return self.builder.gep(self.levels, [level], source_etype=self.vector)

    def push(self, chunk: ir.Value) -> None:
        """Adds one chunk's sum."""
        b, one = self.builder, ir.Constant(I64, 1)
        b.store(chunk, self.carry)
        b.store(b.load(self.count, typ=I64), self.bits)
        b.store(ir.Constant(I64, 0), self.level)
        header, merge, done = (b.append_basic_block(name)
                               for name in ("carry_test", "carry_merge", "carry_done"))
        b.branch(header)
        b.position_at_end(header)
        odd = b.trunc(b.and_(b.load(self.bits, typ=I64), one), ir.IntType(1))
        b.cbranch(odd, merge, done)
        b.position_at_end(merge)  # level[k] + carry: the older sum first
        level = b.load(self.level, typ=I64)
        older = b.load(self._at(level), typ=self.vector)
        b.store(self.combine(older, b.load(self.carry, typ=self.vector)), self.carry)
        b.store(b.lshr(b.load(self.bits, typ=I64), one), self.bits)
        b.store(b.add(level, one), self.level)
        b.branch(header)
        b.position_at_end(done)
        b.store(b.load(self.carry, typ=self.vector), self._at(b.load(self.level, typ=I64)))
        b.store(b.add(b.load(self.count, typ=I64), one), self.count)

    def total(self) -> ir.Value:
        """The sum of every chunk pushed: the levels the count's bits select, from the
        lowest (the newest chunks) up, as long as bits remain."""
        b, one = self.builder, ir.Constant(I64, 1)
        total = self.carry  # reused: the pushes are done
        b.store(self.empty, total)
        b.store(b.load(self.count, typ=I64), self.bits)
        b.store(ir.Constant(I64, 0), self.level)
        header, inside, done = (b.append_basic_block(name)
                                for name in ("levels_test", "levels_add", "levels_done"))
        b.branch(header)
        b.position_at_end(header)
        bits = b.load(self.bits, typ=I64)
        b.cbranch(b.icmp_unsigned("!=", bits, ir.Constant(I64, 0)), inside, done)
        b.position_at_end(inside)
        level = b.load(self.level, typ=I64)
        with b.if_then(b.trunc(b.and_(bits, one), ir.IntType(1))):
            older = b.load(self._at(level), typ=self.vector)
            b.store(self.combine(older, b.load(total, typ=self.vector)), total)
        b.store(b.lshr(bits, one), self.bits)
        b.store(b.add(level, one), self.level)
        b.branch(header)
        b.position_at_end(done)
        return b.load(total, typ=self.vector)


def folds_row_by_row(kernel: Kernel) -> bool:
    """Whether ``kernel`` reduces across rows (a column sum: ``[512] reduce [256]`` over a
    ``[256, 512]`` array): its innermost kept loop walks every operand contiguously and its
    innermost reduced loop does not. Such a kernel is better run with the reduced loops outside,
    folding into the output as it goes; that needs the output to hold the accumulator itself
    (same dtype, one store of ``acc``)."""
    fold = kernel.reduction
    if (not isinstance(fold, Reduction) or kernel.scan or not kernel.shape
            or len(kernel.stores) != 1):
        return False
    (store,) = kernel.stores
    if (store.buffer.dtype != fold.accumulator or fold.accumulator.is_bool
            or store.value.op != "var" or store.value.value != ACC):
        return False
    kept, last_reduced = len(kernel.shape) - 1, len(kernel.shape) + len(kernel.reduce_shape) - 1
    if store.index.strides[kept] != 1:
        return False
    contiguous_rows = all(ld.index.strides[kept] in (0, 1) for ld in kernel.loads)
    strided_reduction = any(ld.index.strides[last_reduced] not in (0, 1) for ld in kernel.loads)
    return contiguous_rows and strided_reduction


def render_range_kernel(module: ir.Module, step: Kernel | RowGroup,
                        fast_math: bool = False) -> None:
    """Adds ``step``'s ``_range`` variant (its outermost loop over ``[lo, hi)``) to ``module``,
    for threads to share it."""
    if isinstance(step, RowGroup):
        render_group(module, step, fast_math, ranged=True)
    else:
        render_kernel(module, step, fast_math, ranged=True)
