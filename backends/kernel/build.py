"""Builds a :class:`KernelProgram` from a graph: each top-level node becomes one step.

- an elementwise node becomes a one-op kernel over its output shape, its body the op's
  ``scalar_body``; each operand is loaded through an index map that broadcasts it;
- ``sum max min argmax argmin`` become reduction kernels: the kept axes are the outer loops, the
  reduced axes the inner ones, folded as the op's ``reduction`` declares;
- ``reshape transpose broadcast_to slice`` become copy kernels whose index map does the work;
- a ``fused`` node becomes ONE kernel over its body when the body is a loop nest: elementwise
  nodes whose results broadcast to one shape, optionally ending in one reduction; the nodes'
  bodies are composed into one scalar expression. Any other body runs as the steps of its own
  nodes (said in the program's notes), so every graph still builds;
- a float ``matmul`` whose operands share its dtype becomes a :class:`Gemm`; a ``transpose`` of
  the last two axes feeding only such matmuls becomes the GEMM's transpose flag instead of a
  copy. A ``fused`` node whose body starts with one (the ``fuse`` pass's matmul epilogues)
  becomes the GEMM and ONE kernel over its product for the rest of the body, writing its
  result over the product in place when the product is not needed afterwards;
- everything else (conv, gather, pad, concat, const, random, integer matmul, ...) is a library
  call of the op's NumPy reference.

No grouping is decided here: which nodes share a kernel is the ``fuse`` pass's job.

    >>> import ir
    >>> g = ir.parse('''func @f(%x: f32[2,3]) -> (f32[3,2]) {
    ...   %0: f32[3,2] = transpose %x {perm=[1,0]}
    ...   return %0
    ... }''')
    >>> print(build_program(g).steps[0].loads[0].index)  # out[i0, i1] = x[i1, i0]
    i0 + 3*i1
"""
from __future__ import annotations

from collections.abc import Sequence

from backends.kernel.program import (
    ACC,
    INDEX,
    Buffer,
    Gemm,
    IndexMap,
    Kernel,
    KernelProgram,
    LibraryCall,
    Load,
    Store,
    contiguous_strides,
)
from ir.graph import Graph, Node, Value
from ir.ops.reduce import normalize_axes
from ir.scalar import ArgReduction, Reduction, ScalarExpr, cast, var
from ir.types import TensorType, broadcast_shapes, normalize_axis

REDUCTION_OPS = frozenset(("sum", "max", "min", "argmax", "argmin"))
COPY_OPS = frozenset(("reshape", "transpose", "broadcast_to", "slice"))


def build_program(graph: Graph) -> KernelProgram:
    """The kernel program that computes ``graph``: one step per node (see the module doc)."""
    return _ProgramBuilder(graph).program


class _ProgramBuilder:
    def __init__(self, graph: Graph):
        self.buffers: dict[int, Buffer] = {}
        # values read as a GEMM operand through a transpose flag: their buffer is the
        # transpose's source, stored [..., k, m] instead of [..., m, k]
        self.absorbed_transposes = _transposes_into_gemms(graph)
        self.transposed: set[int] = set()
        # buffers handed out so far: a step's outputs are all made before it joins the program,
        # so counting the program's temps would give them one name
        self.buffers_made = 0
        inputs = [Buffer(v.name or f"in{i}", v.type, "input") for i, v in enumerate(graph.inputs)]
        for value, buffer in zip(graph.inputs, inputs):
            self.buffers[id(value)] = buffer
        self.program = KernelProgram(graph.name, inputs, [])
        self._add_nodes(graph)
        self.program.outputs = [self.buffers[id(v)] for v in graph.outputs]

    # -- naming ---------------------------------------------------------------------------------
    def _new_buffer(self, type: TensorType) -> Buffer:
        self.buffers_made += 1
        return Buffer(f"t{self.buffers_made - 1}", type)

    def _kernel_name(self) -> str:
        return f"k{len(self.program.kernels)}"

    # -- steps ----------------------------------------------------------------------------------
    def _add_nodes(self, graph: Graph) -> None:
        for node in graph.nodes:
            self._add_node(node)

    def _add_node(self, node: Node) -> None:
        operands = [self.buffers[id(v)] for v in node.inputs]
        if node.op == "fused":
            self._add_fused(node, operands)
            return
        if node.op == "transpose" and id(node.output) in self.absorbed_transposes:
            # read by GEMMs through a transpose flag: no copy
            self.buffers[id(node.output)] = operands[0]
            self.transposed.add(id(node.output))
            return
        if _is_gemm(node):
            self._append(self._gemm(node, "matmul"), node.outputs)
            return
        origin = node.op
        if node.op in COPY_OPS:
            step: Kernel | LibraryCall | None = self._copy_kernel(node, operands, origin)
        else:
            step = self._loop_nest([node], node.inputs, operands, node.outputs, origin)
        if step is None:
            outputs = [self._new_buffer(t) for t in node.result_types]
            step = LibraryCall(node.op, dict(node.attrs), operands, outputs, origin,
                               loc=str(node.loc) if node.loc else "")
        self._append(step, node.outputs)

    def _append(self, step: Kernel | Gemm | LibraryCall, values: Sequence[Value]) -> None:
        self.program.steps.append(step)
        for value, buffer in zip(values, step.outputs):
            self.buffers[id(value)] = buffer

    def _add_fused(self, node: Node, operands: list[Buffer]) -> None:
        body = node.body
        assert body is not None
        for argument, value in zip(body.inputs, node.inputs):
            if id(value) in self.transposed:
                self.transposed.add(id(argument))
        if body.nodes and _is_gemm(body.nodes[0]):
            self._add_gemm_with_epilogue(node, operands)
            return
        kernel = self._loop_nest(list(body.nodes), body.inputs, operands, body.outputs,
                                 origin=f"fused ({', '.join(n.op for n in body.nodes)})")
        if kernel is not None:
            self._append(kernel, node.outputs)
            return
        # not one loop nest: run the body's nodes as steps of their own, on the same buffers
        self.program.notes.append(
            f"a fused body ({', '.join(n.op for n in body.nodes)}) is not one loop nest; "
            f"its nodes run as separate steps")
        for argument, buffer in zip(body.inputs, operands):
            self.buffers[id(argument)] = buffer
        self._add_nodes(body)
        for result, inner in zip(node.outputs, body.outputs):
            self.buffers[id(result)] = self.buffers[id(inner)]

    # -- matrix products -------------------------------------------------------------------------
    def _gemm(self, node: Node, origin: str) -> Gemm:
        a, b = node.inputs
        return Gemm(self.buffers[id(a)], self.buffers[id(b)], self._new_buffer(node.output.type),
                    id(a) in self.transposed, id(b) in self.transposed, origin)

    def _add_gemm_with_epilogue(self, node: Node, operands: list[Buffer]) -> None:
        """A fused body ``matmul, epilogue...``: the GEMM, then one kernel for the epilogue
        (or, when the epilogue is no loop nest, its nodes as steps of their own)."""
        body = node.body
        assert body is not None
        for argument, buffer in zip(body.inputs, operands):
            self.buffers[id(argument)] = buffer
        product, *epilogue = body.nodes
        ops = ", ".join(n.op for n in body.nodes)
        gemm = self._gemm(product, f"fused ({ops})")
        self._append(gemm, product.outputs)
        if epilogue:
            kernel = self._loop_nest(epilogue, list(body.inputs) + [product.output],
                                     operands + [gemm.output], body.outputs,
                                     origin=f"epilogue of {gemm.output} ({ops})")
            if kernel is None:
                self.program.notes.append(
                    f"the epilogue of {gemm.output} ({ops}) is not one loop nest; its nodes run "
                    f"as separate steps")
                for epilogue_node in epilogue:
                    self._add_node(epilogue_node)
            else:
                _write_over_product(kernel, gemm.output, product.output, body.outputs)
                self._append(kernel, body.outputs)
        for result, inner in zip(node.outputs, body.outputs):
            self.buffers[id(result)] = self.buffers[id(inner)]

    # -- loop nests -----------------------------------------------------------------------------
    def _loop_nest(self, nodes: list[Node], arguments: Sequence[Value], operands: list[Buffer],
                   results: Sequence[Value], origin: str) -> Kernel | None:
        """One kernel computing ``results`` from ``arguments`` (bound to ``operands``) through
        ``nodes``, or None when they are not elementwise nodes ending in at most one
        reduction."""
        if not nodes or not all(_is_pointwise(n) for n in nodes[:-1]):
            return None
        last = nodes[-1]
        if last.op in REDUCTION_OPS and last.opdef.reduction is not None:
            if len(results) != 1 or results[0] is not last.output:
                return None
            return self._reduction_kernel(nodes, arguments, operands, origin)
        if not _is_pointwise(last):
            return None
        shape = results[0].type.shape
        if any(r.type.shape != shape for r in results):
            return None
        if any(broadcast_shapes(v.type.shape, shape) != shape
               for n in nodes for v in n.outputs):
            return None
        loads = _Loads(arguments, operands, shape, tuple(range(len(shape))))
        exprs = _compose(nodes, loads)
        stores = []
        for result in results:
            buffer = self._new_buffer(result.type)
            value = exprs[id(result)] if id(result) in exprs else loads.of(result)
            stores.append(Store(buffer, IndexMap(0, contiguous_strides(shape)), value))
        return Kernel(self._kernel_name(), shape, loads.loads, stores[0].value, stores,
                      origin=origin)

    def _reduction_kernel(self, nodes: list[Node], arguments: Sequence[Value],
                          operands: list[Buffer], origin: str) -> Kernel | None:
        reduce = nodes[-1]
        (source,) = reduce.inputs
        domain = source.type.shape
        if any(broadcast_shapes(v.type.shape, domain) != domain
               for n in nodes[:-1] for v in n.outputs):
            return None
        ndim = len(domain)
        if reduce.op in ("argmax", "argmin"):
            reduced: tuple[int, ...] = (normalize_axis(reduce.attrs["axis"], ndim),)
        else:
            reduced = normalize_axes(reduce.op, reduce.attrs["axes"], ndim)
        kept = tuple(a for a in range(ndim) if a not in reduced)
        loads = _Loads(arguments, operands, domain, kept + reduced)
        exprs = _compose(nodes[:-1], loads)
        element = exprs[id(source)] if id(source) in exprs else loads.of(source)
        fold = reduce.opdef.reduction(source.type.dtype)  # type: ignore[misc]
        result = reduce.output
        buffer = self._new_buffer(result.type)
        # the output's strides along the kept axes (keepdim leaves size-1 axes that never move)
        out_strides = contiguous_strides(result.type.shape)
        if reduce.attrs.get("keepdim"):
            out_strides = tuple(out_strides[a] for a in kept)
        store_index = IndexMap(0, out_strides + (0,) * len(reduced))
        if isinstance(fold, ArgReduction):
            value = var(INDEX, result.type.dtype)
        else:
            assert isinstance(fold, Reduction)
            value = cast(var(ACC, fold.accumulator), fold.result)
        return Kernel(self._kernel_name(), tuple(domain[a] for a in kept), loads.loads, element,
                      [Store(buffer, store_index, value)],
                      reduce_shape=tuple(domain[a] for a in reduced), reduction=fold,
                      origin=origin)

    def _copy_kernel(self, node: Node, operands: list[Buffer], origin: str) -> Kernel:
        """``reshape transpose broadcast_to slice``: out[i] = x[index map(i)]."""
        (source,) = operands
        out_type = node.output.type
        in_strides = contiguous_strides(source.type.shape)
        attrs = node.attrs
        if node.op == "reshape":  # both contiguous: the same flat position
            index = IndexMap(0, contiguous_strides(out_type.shape))
        elif node.op == "transpose":
            index = IndexMap(0, tuple(in_strides[p] for p in attrs["perm"]))
        elif node.op == "broadcast_to":
            index = _broadcast_index(source.type.shape, out_type.shape, range(out_type.ndim))
        else:  # slice
            offset = sum(start * s for start, s in zip(attrs["starts"], in_strides))
            index = IndexMap(offset, tuple(step * s for step, s in zip(attrs["steps"],
                                                                       in_strides)))
        x = var("x0", source.dtype)
        buffer = self._new_buffer(out_type)
        store = Store(buffer, IndexMap(0, contiguous_strides(out_type.shape)), x)
        return Kernel(self._kernel_name(), out_type.shape, [Load("x0", source, index)], x,
                      [store], origin=origin)


def _is_gemm(node: Node) -> bool:
    """A matmul BLAS computes: f32 or f64 operands of the result's dtype (mixed and integer
    matmuls keep the NumPy reference, which promotes)."""
    if node.op != "matmul":
        return False
    dtype = node.output.type.dtype
    return dtype.name in ("f32", "f64") and all(v.type.dtype == dtype for v in node.inputs)


def _swaps_last_two_axes(node: Node) -> bool:
    if node.op != "transpose":
        return False
    rank = node.output.type.ndim
    return rank >= 2 and list(node.attrs["perm"]) == list(range(rank - 2)) + [rank - 1, rank - 2]


def _transposes_into_gemms(graph: Graph) -> set[int]:
    """The results of ``transpose`` nodes (of the last two axes) whose every user reads them
    as a GEMM operand, directly or as the operand of the matmul starting a fused body: those
    GEMMs read the transpose's source with a flag, and the copy is never made."""
    results = {id(v) for v in graph.outputs}
    absorbed = set()
    for node in graph.nodes:
        if not _swaps_last_two_axes(node) or id(node.output) in results:
            continue
        users = list(node.output.users)
        if users and all(_reads_as_gemm_operand(u, node.output) for u in users):
            absorbed.add(id(node.output))
    return absorbed


def _reads_as_gemm_operand(user: Node, value: Value) -> bool:
    if _is_gemm(user):
        return True
    body = user.body if user.op == "fused" else None
    if body is None or not body.nodes or not _is_gemm(body.nodes[0]):
        return False
    product = body.nodes[0]
    body_results = {id(v) for v in body.outputs}
    for argument, operand in zip(body.inputs, user.inputs):
        if operand is value and (id(argument) in body_results
                                 or any(u is not product for u in argument.users)):
            return False
    return True


def _write_over_product(kernel: Kernel, product: Buffer, product_value: Value,
                        results: Sequence[Value]) -> None:
    """Makes an epilogue kernel store one result of the product's type over the product itself
    (each point reads its product element before writing it), so the epilogue allocates
    nothing; only when the product is not itself a result and the kernel is pointwise over
    it."""
    if kernel.reduction is not None or kernel.shape != product.type.shape \
            or any(r is product_value for r in results):
        return
    for i, store in enumerate(kernel.stores):
        if store.buffer.type == product.type:
            kernel.stores[i] = Store(product, store.index, store.value)
            return


def _is_pointwise(node: Node) -> bool:
    """An elementwise node with a scalar body a kernel can compute. Integer ``pow`` is not one
    yet: its reference rejects negative exponents with an error a kernel cannot raise, so it
    stays a library call until the scalar IR defines that case."""
    if node.op == "pow" and not node.output.type.dtype.is_float:
        return False
    return node.opdef.kind == "elementwise" and node.opdef.scalar is not None


def _broadcast_index(shape: tuple[int, ...], domain: tuple[int, ...],
                     loop_axes: Sequence[int]) -> IndexMap:
    """How a contiguous array of ``shape``, broadcast (right-aligned) to ``domain``, is read
    when loop ``k`` runs along domain axis ``loop_axes[k]``."""
    strides = contiguous_strides(shape)
    lead = len(domain) - len(shape)
    per_axis = [0 if a < lead or shape[a - lead] == 1 else strides[a - lead]
                for a in range(len(domain))]
    return IndexMap(0, tuple(per_axis[a] for a in loop_axes))


class _Loads:
    """The loads of a kernel: one per distinct argument read, each broadcast to the domain."""

    def __init__(self, arguments: Sequence[Value], operands: list[Buffer],
                 domain: tuple[int, ...], loop_axes: tuple[int, ...]):
        self.buffer_of = {id(v): b for v, b in zip(arguments, operands)}
        self.domain, self.loop_axes = domain, loop_axes
        self.loads: list[Load] = []
        self.exprs: dict[int, ScalarExpr] = {}

    def of(self, value: Value) -> ScalarExpr:
        if id(value) not in self.exprs:
            name = f"x{len(self.loads)}"
            index = _broadcast_index(value.type.shape, self.domain, self.loop_axes)
            self.loads.append(Load(name, self.buffer_of[id(value)], index))
            self.exprs[id(value)] = var(name, value.type.dtype)
        return self.exprs[id(value)]


def _compose(nodes: list[Node], loads: _Loads) -> dict[int, ScalarExpr]:
    """Each value's scalar expression: arguments are loads, nodes substitute their operands'
    expressions into their ``scalar_body``."""
    exprs: dict[int, ScalarExpr] = {}

    def expr_of(value: Value) -> ScalarExpr:
        return exprs[id(value)] if id(value) in exprs else loads.of(value)

    for node in nodes:
        types = [v.type for v in node.inputs]
        names = [f"v{i}" for i in range(len(types))]
        _, body = node.opdef.scalar_body(types, node.attrs, names)
        exprs[id(node.output)] = substitute(body, {n: expr_of(v)
                                                   for n, v in zip(names, node.inputs)})
    return exprs


def substitute(expr: ScalarExpr, env: dict[str, ScalarExpr]) -> ScalarExpr:
    """``expr`` with each variable named in ``env`` replaced by its expression (same dtype)."""
    done: dict[int, ScalarExpr] = {}

    def walk(e: ScalarExpr) -> ScalarExpr:
        if id(e) in done:
            return done[id(e)]
        if e.op == "var" and e.value in env:
            new = env[e.value]
            if new.dtype != e.dtype:
                raise AssertionError(f"internal error: {e.value} is {e.dtype}, "
                                     f"its substitute {new.dtype}")
        elif e.args:
            args = tuple(walk(a) for a in e.args)
            new = e if all(a is b for a, b in zip(args, e.args)) else ScalarExpr(
                e.op, args, e.dtype, e.value)
        else:
            new = e
        done[id(e)] = new
        return new

    return walk(expr)
