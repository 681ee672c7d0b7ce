"""The LLVM IR of a sort kernel (``Kernel.sort``): each row's indices sorted stably by key.

Per row of ``n`` keys (read through the kernel's load, at any stride): the indices ``0..n-1``
are written to a work row, runs of :data:`~backends.kernel.SORT_RUN` are insertion-sorted,
then merged pairwise into a scratch row and back, doubling the run length (``n`` is known when
rendering, so the merge passes are unrolled and each knows its source and target); the
sorted indices are stored through the kernel's store. Both rows come from one ``malloc`` per
call (a large row would overflow the stack), freed at the end. Comparisons are the kernel's
``Sort.precedes``: a merge takes from the right run only when its key strictly precedes the
left one's, and insertion stops at an equal key, so equal keys keep their order.
"""
from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir  # type: ignore[import-untyped]

from backends.kernel import INDEX, SORT_A, SORT_B, SORT_RUN
from backends.llvm.loops import counted_loop
from backends.llvm.scalar import I64

_PTR = ir.PointerType()


def _declared(module: ir.Module, name: str, signature: ir.FunctionType) -> ir.Function:
    existing = module.globals.get(name)
    return existing if existing is not None else ir.Function(module, signature, name)


class SortRenderer:
    """Renders a sort kernel's body into ``renderer`` (a ``_KernelRenderer``: its builder,
    loads, stores and scalar renderer)."""

    def __init__(self, renderer) -> None:
        self.r = renderer
        self.b: ir.IRBuilder = renderer.builder
        self.kernel = renderer.kernel
        self.n = self.kernel.reduce_shape[0]

    def render(self) -> None:
        b, r = self.b, self.r
        if self.n == 0:
            b.ret_void()
            return
        module = b.module
        malloc = _declared(module, "malloc", ir.FunctionType(_PTR, [I64]))
        free = _declared(module, "free", ir.FunctionType(ir.VoidType(), [_PTR]))
        self.work = b.call(malloc, [ir.Constant(I64, 16 * self.n)], name="work")
        self.scratch = b.gep(self.work, [ir.Constant(I64, self.n)], source_etype=I64)
        self.slots = {name: r._slot_i64(name) for name in ("k", "i", "j")}
        r._loops(list(self.kernel.shape), [], self._row, r.bounds)
        b.call(free, [self.work])
        b.ret_void()

    # -- helpers -------------------------------------------------------------------------------
    def _const(self, value: int) -> ir.Constant:
        return ir.Constant(I64, value)

    def _at(self, row: ir.Value, position: ir.Value) -> ir.Value:
        return self.b.gep(row, [position], source_etype=I64)

    def _get(self, row: ir.Value, position: ir.Value) -> ir.Value:
        return self.b.load(self._at(row, position), typ=I64)

    def _put(self, row: ir.Value, position: ir.Value, value: ir.Value) -> None:
        self.b.store(value, self._at(row, position))

    def _key(self, outer: list[ir.Value], index: ir.Value) -> ir.Value:
        """The key of row element ``index``: the kernel's body at loop point (outer, index)."""
        env = self.r._load_all(outer + [index])
        return self.r.scalars.render(self.kernel.body, env)

    def _precedes(self, a: ir.Value, b: ir.Value) -> ir.Value:
        order = self.kernel.sort
        assert order is not None
        return self.r.scalars.render(order.precedes, {SORT_A: a, SORT_B: b})

    def _for(self, start: ir.Value, stop: ir.Value, body: Callable[[ir.Value], None],
             step: int = 1) -> None:
        counted_loop(self.b, start, stop, body, step, "sort")

    # -- one row -------------------------------------------------------------------------------
    def _row(self, outer: list[ir.Value]) -> None:
        n, work = self.n, self.work
        self._for(self._const(0), self._const(n), lambda j: self._put(work, j, j))
        self._for(self._const(0), self._const(n),
                  lambda lo: self._insertion_sort(outer, lo), step=SORT_RUN)
        source, target = work, self.scratch
        width = SORT_RUN
        while width < n:
            self._merge_pass(outer, source, target, width)
            source, target = target, source
            width *= 2

        def write(j):
            env = {**{f"i{k}": c for k, c in enumerate(outer + [j])},
                   INDEX: self._get(source, j)}
            self.r._store_all(env, outer + [j])
        self._for(self._const(0), self._const(n), write)

    def _merge_pass(self, outer: list[ir.Value], source: ir.Value, target: ir.Value,
                    width: int) -> None:
        """Merges each pair of sorted runs of ``width`` in ``source`` into ``target``."""
        self._for(self._const(0), self._const(self.n),
                  lambda lo: self._merge(outer, source, target, lo, width), step=2 * width)

    def _min(self, a: ir.Value, limit: int) -> ir.Value:
        c = self._const(limit)
        return self.b.select(self.b.icmp_signed("<", a, c), a, c)

    def _insertion_sort(self, outer: list[ir.Value], lo: ir.Value) -> None:
        """Sorts work[lo : min(lo + SORT_RUN, n)]: each element moves left past the elements
        its key strictly precedes (so never past an equal key)."""
        b, work, k_slot = self.b, self.work, self.slots["k"]
        hi = self._min(b.add(lo, self._const(SORT_RUN)), self.n)

        def insert(i):
            moving = self._get(work, i)
            key = self._key(outer, moving)
            b.store(i, k_slot)
            head, check, shift, done = (b.append_basic_block(f"insert.{w}")
                                        for w in ("head", "check", "shift", "done"))
            b.branch(head)
            b.position_at_end(head)
            k = b.load(k_slot, typ=I64)
            b.cbranch(b.icmp_signed(">", k, lo), check, done)
            b.position_at_end(check)
            previous = self._get(work, b.sub(k, self._const(1)))
            b.cbranch(self._precedes(key, self._key(outer, previous)), shift, done)
            b.position_at_end(shift)
            self._put(work, k, previous)
            b.store(b.sub(k, self._const(1)), k_slot)
            b.branch(head)
            b.position_at_end(done)
            self._put(work, b.load(k_slot, typ=I64), moving)

        self._for(b.add(lo, self._const(1)), hi, insert)

    def _merge(self, outer: list[ir.Value], source: ir.Value, target: ir.Value, lo: ir.Value,
               width: int) -> None:
        """Merges the sorted runs source[lo:mid] and source[mid:hi] into target[lo:hi]; the
        right run's element goes first only when its key strictly precedes the left one's.
        Positions past a run's end are clamped to ``lo`` before loading (never read outside
        the rows) and then not taken."""
        b, i_slot, j_slot = self.b, self.slots["i"], self.slots["j"]
        mid = self._min(b.add(lo, self._const(width)), self.n)
        hi = self._min(b.add(lo, self._const(2 * width)), self.n)
        b.store(lo, i_slot)
        b.store(mid, j_slot)

        def take(k):
            i, j = b.load(i_slot, typ=I64), b.load(j_slot, typ=I64)
            left_open, right_open = b.icmp_signed("<", i, mid), b.icmp_signed("<", j, hi)
            left = self._get(source, b.select(left_open, i, lo))
            right = self._get(source, b.select(right_open, j, lo))
            right_first = self._precedes(self._key(outer, right), self._key(outer, left))
            take_left = b.and_(left_open, b.or_(b.not_(right_open), b.not_(right_first)))
            self._put(target, k, b.select(take_left, left, right))
            b.store(b.add(i, b.zext(take_left, I64)), i_slot)
            b.store(b.add(j, b.zext(b.not_(take_left), I64)), j_slot)

        self._for(lo, hi, take)
