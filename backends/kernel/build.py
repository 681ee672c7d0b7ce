"""Builds a :class:`KernelProgram` from a graph: each top-level node becomes one step.

- an elementwise node becomes a one-op kernel over its output shape, its body the op's
  ``scalar_body``; each operand is loaded through an index map that broadcasts it;
- ``sum max min argmax argmin`` become reduction kernels: the kept axes are the outer loops, the
  reduced axes the inner ones, folded as the op's ``reduction`` declares;
- ``reshape transpose broadcast_to slice``, ``pad`` (without interior padding) and
  ``stop_gradient`` become *views* (:mod:`backends.kernel.views`): no step; kernels that read
  the result load the source's buffer through the composed index map (guarded loads for a
  pad; a kernel guarded along one loop only is cut into unguarded pieces). A viewed value
  that must be a buffer of its own (a library call operand, a program output, a GEMM operand
  unless ``strided_gemms`` lets the GEMM read it in place) is copied out by one copy kernel
  where it is first needed, and later readers read that copy;
- a ``fused`` node becomes ONE kernel over its body when the body is a loop nest: elementwise
  nodes whose results broadcast to one shape, optionally ending in one reduction; the nodes'
  bodies are composed into one scalar expression. Any other body runs as several steps (said
  in the program's notes): one kernel per group of pointwise nodes over one shape, every
  other node a step of its own, so every graph still builds;
- a float ``matmul`` whose operands share its dtype becomes a :class:`Gemm`; a ``transpose`` of
  the last two axes feeding only such matmuls becomes the GEMM's transpose flag instead of a
  copy, and one of a GEMM's product read by nothing else swaps the GEMM's operands
  (``(A B)^T = B^T A^T``: a weight gradient computed as ``x^T @ g`` then transposed). A
  ``fused`` node whose body starts with one (the ``fuse`` pass's matmul epilogues) becomes
  the GEMM and ONE kernel over its product for the rest of the body, writing its result over
  the product in place when the product is not needed afterwards;
- ``conv2d`` and its gradients (``groups=1``) become im2col kernels and GEMMs, a convolution's
  epilogue one kernel over its GEMM's product; ``max_pool2d_indices`` an arg-reduction kernel
  over each window, and the ``gather``/``scatter_add`` of max pooling kernels
  (:mod:`backends.kernel.conv`);
- a scan (``cumsum cumprod logcumsumexp cummax_indices cummin_indices``) becomes a scan
  kernel: the other axes are the outer loops, the scanned axis one sequential inner loop that
  carries the op's fold and stores the running value at every step; ``argsort`` a sort
  kernel: per row, a stable sort of indices by the op's ``precedes`` order;
- everything else (gather, interior pad, concat, const, random, integer matmul, ...) is a
  library call of the op's NumPy reference;
- with ``update_inputs``, an output that aliases an input (``graph.output_aliases``:
  parameters, optimizer state) is stored by its kernel straight into that input's buffer when
  no later step reads the input's old value (through any view) and the input is not returned
  as well; the program's output is then the input buffer (callers donate such inputs).

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

import dataclasses
import heapq
import math
from collections.abc import Sequence

import numpy as np

from backends.kernel.conv import NativeLowering
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
    RowGroup,
    Sort,
    Step,
    Store,
    Strided,
    contiguous_strides,
    counter,
    step_reads,
)
from backends.kernel.split import (
    REDUCTION_OPS,
    Run,
    is_filled_constant,
    is_pointwise,
    is_reindexing,
    split_body,
)
from backends.kernel.views import (
    View,
    broadcast,
    matrix_layout,
    padded,
    reshape_linear,
    reshaped,
    sliced,
    split_at_guards,
    transposed,
)
from ir import dtypes
from ir.dtypes import i64
from ir.graph import Graph, Node, Value
from ir.ops.movement import is_unit_reshape
from ir.ops.reduce import normalize_axes
from ir.ops.sort import precedes
from ir.scalar import ArgReduction, Reduction, ScalarExpr, cast, const, sub, var
from ir.types import TensorType, broadcast_shapes, normalize_axis

COPY_OPS = frozenset(("reshape", "transpose", "broadcast_to", "slice"))
# ops whose result is their operand (values are immutable): the operand's buffer, read as it is
IDENTITY_OPS = frozenset(("stop_gradient",))
# ops NativeLowering may lower (backends.kernel.conv): their operands are contiguous buffers
NATIVE_OPS = frozenset(("conv2d", "conv2d_weight_grad", "conv2d_input_grad",
                        "max_pool2d_indices", "gather", "scatter_add"))


def build_program(graph: Graph, update_inputs: bool = False,
                  strided_gemms: bool = False) -> KernelProgram:
    """The kernel program that computes ``graph``: one step per node (see the module doc).
    ``update_inputs``: store outputs that alias an input into that input's buffer where safe
    (for renderers whose callers donate those inputs). ``strided_gemms``: a GEMM reads an
    operand that is a view in place (``Gemm.a_strided``) when BLAS can, instead of a copy (for
    renderers that read them)."""
    return _ProgramBuilder(graph, update_inputs, strided_gemms).program


class _ProgramBuilder:
    def __init__(self, graph: Graph, update_inputs: bool = False, strided_gemms: bool = False):
        self.strided_gemms = strided_gemms
        self.buffers: dict[int, Buffer] = {}
        # values read as a GEMM operand through a transpose flag: their buffer is the
        # transpose's source, stored [..., k, m] instead of [..., m, k]
        self.absorbed_transposes = _transposes_into_gemms(graph)
        self.transposed: set[int] = set()
        # buffers handed out so far: a step's outputs are all made before it joins the program,
        # so counting the program's temps would give them one name
        self.buffers_made = 0
        # values whose buffer is not laid out C-contiguously in their own shape (a convolution
        # read straight from its GEMM's [rows, channels] product): id -> element strides
        self.layouts: dict[int, tuple[int, ...]] = {}
        # values that are views of another value's buffer (``self.buffers`` holds that base
        # buffer): id -> how to read them; see backends.kernel.views
        self.views: dict[int, View] = {}
        self.native = NativeLowering(self)
        self.results = {id(v) for v in graph.outputs}
        inputs = [Buffer(v.name or f"in{i}", v.type, "input") for i, v in enumerate(graph.inputs)]
        for value, buffer in zip(graph.inputs, inputs):
            self.buffers[id(value)] = buffer
        self.program = KernelProgram(graph.name, inputs, [])
        self._add_nodes(graph)
        self.program.outputs = [self._operand(v) for v in graph.outputs]
        for out_index, in_index in sorted(graph.output_aliases.items()) if update_inputs else ():
            _write_into_input(self.program, out_index, in_index)

    # -- naming ---------------------------------------------------------------------------------
    def _new_buffer(self, type: TensorType) -> Buffer:
        self.buffers_made += 1
        return Buffer(f"t{self.buffers_made - 1}", type)

    def _kernel_name(self) -> str:
        return f"k{len(self.program.kernels)}"

    # -- steps ----------------------------------------------------------------------------------
    def _add_nodes(self, graph: Graph) -> None:
        self.results |= {id(v) for v in graph.outputs}  # a fused body's too: read after it
        for node in graph.nodes:
            self._add_node(node)

    def _add_node(self, node: Node) -> None:
        # the operands' own buffers: loop nests read views through their index maps, every
        # other step gets contiguous buffers from _operand
        operands = [self.buffers[id(v)] for v in node.inputs]
        if node.op == "fused":
            self._add_fused(node, operands)
            return
        if node.op == "transpose" and id(node.output) in self.absorbed_transposes and not (
                self.strided_gemms and id(node.inputs[0]) in self.views):
            # read by GEMMs through a transpose flag: no copy (a view's strides do it when
            # GEMMs read views in place)
            self.buffers[id(node.output)] = self._operand(node.inputs[0])
            self.transposed.add(id(node.output))
            return
        if _is_gemm(node):
            self._append(self._gemm(node, "matmul"), node.outputs)
            return
        if node.op in NATIVE_OPS:
            operands = [self._operand(v) for v in node.inputs]
            if self.native.add_node(node, operands):  # conv, pooling: kernels and GEMMs
                return
        if node.op == "transpose" and id(node.inputs[0]) not in self.views \
                and self._transpose_gemm_output(node, operands[0]):
            return
        if self._add_view(node):
            return
        origin = node.op
        step: Kernel | LibraryCall | None = None
        if node.opdef.kind in ("scan", "sort"):
            step = self._along_axis_kernel(node, self._operand(node.inputs[0]), origin)
        elif node.op != "const":  # a top-level constant is evaluated once, by its reference
            # a number it reads (``x ** 2``'s exponent) is inlined as in fused bodies, where
            # renderers specialize it (pow by multiplication, ...)
            numbers = [v.producer for v in node.inputs
                       if v.producer is not None and _is_filled_number(v)]
            arguments = [v for v in node.inputs if not _is_filled_number(v)]
            operands = [self.buffers[id(v)] for v in arguments]
            step = self._loop_nest(numbers + [node], arguments, operands, node.outputs, origin)
        if step is None:
            operands = [self._operand(v) for v in node.inputs]
            outputs = [self._new_buffer(t) for t in node.result_types]
            step = LibraryCall(node.op, dict(node.attrs), operands, outputs, origin,
                               loc=str(node.loc) if node.loc else "")
        self._append(step, node.outputs)

    # -- views ----------------------------------------------------------------------------------
    def _view(self, value: Value) -> View:
        """How ``value`` is read from ``self.buffers[id(value)]``."""
        view = self.views.get(id(value))
        return View.contiguous(value.type.shape) if view is None else view

    def _add_view(self, node: Node) -> bool:
        """A movement node (``COPY_OPS``, ``pad``) as a view of its operand's buffer, an identity
        (``IDENTITY_OPS``) as its operand itself: no step. Returns False for nodes that are no
        view (other ops, a pad with interior padding)."""
        if node.op not in COPY_OPS and node.op not in IDENTITY_OPS and node.op != "pad":
            return False
        (source,) = node.inputs
        view = _view_after(node, self._view(source))
        if view is None and node.op == "reshape" and id(source) in self.views \
                and len(source.users) == 1:
            # no strides express it: copy the elements out in order, as the reshape's buffer
            # (when others read the source, they share one copy of it: below)
            self.buffers[id(node.output)] = self._copy_of_view(source, node.output.type)
            self.views.pop(id(node.output), None)
            return True
        if view is None and id(source) in self.views:  # not expressible over the base: copy
            self._operand(source)
            view = _view_after(node, self._view(source))
        if view is None:
            return False
        self.buffers[id(node.output)] = self.buffers[id(source)]
        if view.is_contiguous(node.output.type.shape) \
                and self.buffers[id(source)].type.shape == node.output.type.shape:
            self.views.pop(id(node.output), None)  # the buffer itself, as it is laid out
        else:
            self.views[id(node.output)] = view
        return True

    def _alias(self, value: Value, other: Value) -> None:
        """``value`` is read exactly as ``other`` (a fused node's result and its body's)."""
        self.buffers[id(value)] = self.buffers[id(other)]
        if id(other) in self.views:
            self.views[id(value)] = self.views[id(other)]
        else:
            self.views.pop(id(value), None)

    def _operand(self, value: Value) -> Buffer:
        """``value``'s elements as one C-contiguous buffer of its type: its own buffer, or, for
        a view, a copy made now (once: later readers read the copy)."""
        if id(value) not in self.views:
            return self.buffers[id(value)]
        buffer = self._copy_of_view(value, value.type)
        self.buffers[id(value)] = buffer
        del self.views[id(value)]
        return buffer

    def _copy_of_view(self, value: Value, type: TensorType) -> Buffer:
        """A new buffer of ``type`` (``value``'s elements, or a reshape of them) holding
        ``value``'s elements in C order, copied from its view by one kernel."""
        view, shape = self.views[id(value)], value.type.shape
        x = var("x0", value.type.dtype)
        loops = tuple(range(len(shape)))
        load = Load("x0", self.buffers[id(value)], view.index(shape, shape, loops),
                    view.bounds(shape, shape, loops), view.pad)
        buffer = self._new_buffer(type)
        store = Store(buffer, IndexMap(0, contiguous_strides(shape)), x)
        origin = f"{value.producer.op}, a view copied" if value.producer else "a view copied"
        self._append_kernel(Kernel(self._kernel_name(), shape, [load], x, [store],
                                   origin=origin))
        return buffer

    def _append(self, step: Kernel | Gemm | LibraryCall, values: Sequence[Value]) -> None:
        if isinstance(step, Kernel):
            self._append_kernel(step)
        else:
            self.program.steps.append(step)
        for value, buffer in zip(values, step.outputs):
            self.buffers[id(value)] = buffer
            # its own buffer, laid out in C order: no longer a view of what it was computed
            # from (a fused body's reshape of a slice, yielded: read at the slice's offset in
            # the new buffer, it read another element, or past the end)
            self.views.pop(id(value), None)

    def _append_kernel(self, kernel: Kernel) -> None:
        """Appends ``kernel``, as one kernel per stretch of a loop along which its guarded
        loads (padded views) are known to read or not (:func:`_split_at_guards`)."""
        pieces = split_at_guards(kernel)
        self.program.steps.append(pieces[0])
        for piece in pieces[1:]:
            piece.name = self._kernel_name()
            self.program.steps.append(piece)

    def _add_fused(self, node: Node, operands: list[Buffer]) -> None:
        body = node.body
        assert body is not None
        for argument, value in zip(body.inputs, node.inputs):
            if id(value) in self.transposed:
                self.transposed.add(id(argument))
            self._alias(argument, value)
        self._add_body(node, operands)
        for argument, value in zip(body.inputs, node.inputs):
            if id(value) in self.views and id(argument) not in self.views:
                # the body copied the view out (a GEMM operand): later readers read the copy
                self._alias(value, argument)

    def _add_body(self, node: Node, operands: list[Buffer]) -> None:
        body = node.body
        assert body is not None
        if body.nodes and _is_gemm(body.nodes[0]):
            self._add_gemm_with_epilogue(node, operands)
            return
        if self.native.add_fused(node, operands):  # a convolution and its epilogue
            return
        kernel = self._loop_nest(list(body.nodes), body.inputs, operands, body.outputs,
                                 origin=f"fused ({', '.join(n.op for n in body.nodes)})")
        if kernel is not None:
            self._append(kernel, node.outputs)
            return
        # not one loop nest: run the body as several steps, on the same buffers, cut in one of
        # two ways, whichever makes fewer steps: groups of pointwise nodes over one shape, in
        # any order the data flow allows (an optimizer step over several parameters), or
        # consecutive runs ending in a reduction (LayerNorm, softmax: split.py)
        self.results |= {id(v) for v in body.outputs}
        what = f"a fused body ({', '.join(n.op for n in body.nodes)})"
        groups = _pointwise_groups(body)
        runs = split_body(list(body.nodes), body.outputs)
        per_call = [g for g in groups if not (len(g) == 1 and g[0].op == "const")]  # once
        if len(runs) < len(per_call):
            self._add_split(list(body.nodes), body.outputs, what, runs)
        else:
            self.program.notes.append(
                f"{what} is not one loop nest; it runs as {_describe_groups(groups)}")
            self._add_groups(body, groups)
        for result, inner in zip(node.outputs, body.outputs):
            self._alias(result, inner)

    def _add_groups(self, body: Graph, groups: list[list[Node]]) -> None:
        """The body's nodes as steps: each group of pointwise nodes over one shape
        (:func:`_pointwise_groups`) is one kernel storing what later steps read, every other
        node a step of its own."""
        needed_after: dict[int, int] = {}  # id(value) -> index of the last group reading it
        for index, group in enumerate(groups):
            for n in group:
                for v in n.inputs:
                    needed_after[id(v)] = index
        for v in body.outputs:
            needed_after[id(v)] = len(groups)
        # filled constants are immediates in the kernels that read them; a step of its own
        # only for a step that reads them from memory (a whole array of one number, else)
        filled = {id(n.output): n for n in body.nodes
                  if is_filled_constant(n) and all(v is not n.output for v in body.outputs)}
        for index, group in enumerate(groups):
            if len(group) == 1 and id(group[0].output) in filled:
                continue
            if (len(group) == 1 and not _is_pointwise(group[0])) \
                    or all(n.op in IDENTITY_OPS for n in group):
                for node in group:
                    for value in node.inputs:
                        if id(value) in filled and id(value) not in self.buffers:
                            self._add_node(filled[id(value)])
                    self._add_node(node)
                continue
            inside = {id(v) for n in group for v in n.outputs}
            read = list({id(v): v for n in group for v in n.inputs
                         if id(v) not in inside}.values())
            constants = [filled[id(v)] for v in read if id(v) in filled]
            arguments = [v for v in read if id(v) not in filled]
            results = [v for n in group for v in n.outputs if needed_after.get(id(v), -1) > index]
            if not results:
                continue
            kernel = self._loop_nest(constants + group, arguments,
                                     [self.buffers[id(v)] for v in arguments], results,
                                     origin=f"fused ({', '.join(n.op for n in group)})")
            assert kernel is not None, "a pointwise group is one loop nest"
            self._append(kernel, results)

    def _add_split(self, nodes: list[Node], yielded: Sequence[Value], what: str,
                   runs: list[Run] | None = None) -> None:
        """``nodes`` of a body that is not one loop nest (their operands already have buffers),
        as the fewest loop nests :func:`split_body` finds; nodes that are no loop nest are
        lowered as top-level nodes."""
        runs = split_body(nodes, yielded) if runs is None else runs
        self.program.notes.append(
            f"{what} is not one loop nest; it runs as {len(runs)} step(s): "
            + " | ".join(", ".join(n.op for n in run.nodes) for run in runs))
        constants = {id(n.output): n for n in nodes if n.op == "const"}
        for run in runs:
            kernel = None
            if run.loop_nest and not all(n.op in IDENTITY_OPS for n in run.nodes):
                kernel = self._loop_nest(run.nodes, run.arguments,
                                         [self.buffers[id(a)] for a in run.arguments],
                                         run.results, origin=f"part of {what}")
            if kernel is not None:
                self._append(kernel, run.results)
                continue
            for node in run.nodes:  # each on its own, constants it reads first (evaluated once)
                for value in node.inputs:
                    if id(value) in constants and id(value) not in self.buffers:
                        self._add_node(constants[id(value)])
                if node.op != "const" or id(node.output) not in self.buffers:
                    self._add_node(node)

    # -- matrix products -------------------------------------------------------------------------
    def _gemm(self, node: Node, origin: str) -> Gemm:
        a, b = node.inputs
        (a_buffer, a_strided), (b_buffer, b_strided) = self._gemm_operand(a), self._gemm_operand(b)
        if a_strided is not None and b.type.ndim == 2 and a.type.ndim > 2 \
                and id(a) not in self.transposed and not _rows_evenly_spaced(a_strided):
            # contiguous, a's matrices would stack into one tall GEMM; read in place, they
            # would be one small GEMM each: a copy is cheaper
            a_buffer, a_strided = self._operand(a), None
        return Gemm(a_buffer, b_buffer, self._new_buffer(node.output.type),
                    id(a) in self.transposed, id(b) in self.transposed, origin,
                    a_strided, b_strided)

    def _gemm_operand(self, value: Value) -> tuple[Buffer, Strided | None]:
        """A GEMM operand's buffer, and how to read it when it is read in place as a view."""
        view = self.views.get(id(value))
        shape = value.type.shape
        if (view is not None and self.strided_gemms and not view.guards
                and matrix_layout(shape, view.strides) is not None):
            return self.buffers[id(value)], Strided(shape, view.offset, view.strides)
        return self._operand(value), None

    def _transpose_gemm_output(self, node: Node, product: Buffer) -> bool:
        """A transpose of the last two axes of a GEMM's product that nothing else reads:
        ``(op(a) @ op(b))^T = op(b)^T @ op(a)^T``, so the GEMM swaps its operands and flips
        their flags, writing the transposed result directly (no copy kernel). Returns whether
        it did."""
        (source,) = node.inputs
        producer = source.producer
        if (not _swaps_last_two_axes(node) or producer is None or not _is_gemm(producer)
                or len(source.users) != 1 or id(source) in self.results):
            return False
        gemm = next((s for s in reversed(self.program.steps)
                     if isinstance(s, Gemm) and s.output is product), None)
        if gemm is None:
            return False
        gemm.a, gemm.b = gemm.b, gemm.a
        gemm.a_strided, gemm.b_strided = gemm.b_strided, gemm.a_strided
        gemm.transpose_a, gemm.transpose_b = not gemm.transpose_b, not gemm.transpose_a
        gemm.output = Buffer(product.name, node.output.type)
        gemm.origin = f"{gemm.origin}, transposed"
        self.buffers[id(node.output)] = gemm.output
        return True

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
            operands = [self.buffers[id(a)] for a in body.inputs]  # views the GEMM copied
            kernel = self._loop_nest(epilogue, list(body.inputs) + [product.output],
                                     operands + [gemm.output], body.outputs,
                                     origin=f"epilogue of {gemm.output} ({ops})")
            if kernel is None:
                self._add_split(epilogue, body.outputs, f"the epilogue of {gemm.output} ({ops})")
            else:
                _write_over_product(kernel, gemm.output, product.output, body.outputs)
                self._append(kernel, body.outputs)
        for result, inner in zip(node.outputs, body.outputs):
            self._alias(result, inner)

    # -- loop nests -----------------------------------------------------------------------------
    def _loop_nest(self, nodes: list[Node], arguments: Sequence[Value], operands: list[Buffer],
                   results: Sequence[Value], origin: str) -> Kernel | None:
        """One kernel computing ``results`` from ``arguments`` (bound to ``operands``) through
        ``nodes``, or None when they are not elementwise nodes ending in at most one
        reduction."""
        if not nodes or not all(is_pointwise(n) or is_reindexing(n) for n in nodes[:-1]):
            return None
        if all(is_reindexing(n) or n.op in IDENTITY_OPS for n in nodes):
            return None  # nothing to compute: views of the operands (see _add_view)
        made = {id(v) for n in nodes for v in n.outputs}
        for node in nodes:
            if is_unit_reshape(node):
                if id(node.inputs[0]) in made:
                    return None  # a computed value cannot be re-read at another alignment
                # read the operand's buffer at the reshaped shape: same elements, same order
                source = operands[[id(a) for a in arguments].index(id(node.inputs[0]))]
                arguments, operands = list(arguments) + [node.output], operands + [source]
                if id(node.inputs[0]) in self.views:  # a view stays one at the new shape
                    view = _view_after(node, self.views[id(node.inputs[0])])
                    assert view is not None, "a unit reshape is a view of any view"
                    self.views[id(node.output)] = view
                else:
                    self.views.pop(id(node.output), None)
                layout = self.layouts.get(id(node.inputs[0]))
                if layout is not None:
                    # an operand read through a layout (a convolution's product, by an
                    # epilogue): the reshaped value is read through the same elements' strides
                    # (read contiguously, conv1d's [N,O,1,L] -> [N,O,L] mixed up its outputs)
                    moved = reshape_linear(layout, node.inputs[0].type.shape,
                                           node.output.type.shape)
                    if moved is None:
                        return None
                    self.layouts[id(node.output)] = moved
        last = nodes[-1]
        if last.op in REDUCTION_OPS and last.opdef.reduction is not None:
            if len(results) != 1 or results[0] is not last.output:
                return None
            return self._reduction_kernel(nodes, arguments, operands, origin)
        if not (is_pointwise(last) or is_reindexing(last)):
            return None
        shape = results[0].type.shape
        if any(r.type.shape != shape for r in results):
            return None
        if any(broadcast_shapes(v.type.shape, shape) != shape
               for n in nodes for v in n.outputs):
            return None
        loads = _Loads(arguments, operands, shape, tuple(range(len(shape))), self.layouts,
                       self.views)
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
        loads = _Loads(arguments, operands, domain, kept + reduced, self.layouts, self.views)
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

    def _along_axis_kernel(self, node: Node, source: Buffer, origin: str) -> Kernel:
        """A scan or a sort along one axis: the other axes are the outer loops (one row each),
        the axis the single inner loop, walked backwards for a ``reverse`` scan (its index
        maps start at the row's end with a negated stride, and a running index counts from
        the end). Input and output share a shape, so they share index maps."""
        shape = source.type.shape
        axis = normalize_axis(node.attrs["axis"], len(shape))
        kept = tuple(a for a in range(len(shape)) if a != axis)
        strides = contiguous_strides(shape)
        n, step = shape[axis], strides[axis]
        reverse = bool(node.attrs.get("reverse"))
        index = IndexMap((n - 1) * step if reverse and n else 0,
                         tuple(strides[a] for a in kept) + (-step if reverse else step,))
        key = var("x0", source.dtype)
        result = node.output
        buffer = self._new_buffer(result.type)
        rows = tuple(shape[a] for a in kept)
        if node.opdef.kind == "sort":
            order = Sort(precedes(source.dtype, node.attrs["descending"]),
                         node.attrs["descending"])
            return Kernel(self._kernel_name(), rows, [Load("x0", source, index)], key,
                          [Store(buffer, index, var(INDEX, result.type.dtype))],
                          reduce_shape=(n,), sort=order, origin=origin)
        fold = node.opdef.reduction(source.dtype)  # type: ignore[misc]
        arg_index = None
        if isinstance(fold, ArgReduction):
            value = var(INDEX, result.type.dtype)
            if reverse:
                arg_index = sub(const(n - 1, i64), counter(len(kept)))
        else:
            value = cast(var(ACC, fold.accumulator), fold.result)
        return Kernel(self._kernel_name(), rows, [Load("x0", source, index)], key,
                      [Store(buffer, index, value)], reduce_shape=(n,), reduction=fold,
                      origin=origin, arg_index=arg_index, scan=True)


def _view_after(node: Node, source: View) -> View | None:
    """The view of a movement node's result, given the view of its operand (None: no view)."""
    attrs = node.attrs
    shape, target = node.inputs[0].type.shape, node.output.type.shape
    if node.op in IDENTITY_OPS:
        return source
    if node.op == "reshape":
        return reshaped(source, shape, target)
    if node.op == "transpose":
        return transposed(source, attrs["perm"])
    if node.op == "broadcast_to":
        return broadcast(source, shape, target)
    if node.op == "slice":
        return sliced(source, attrs["starts"], attrs["steps"])
    assert node.op == "pad"
    return padded(source, shape, attrs["pads"], _constant_expr(node))


def _rows_evenly_spaced(operand: Strided) -> bool:
    """Whether the rows of all of a strided operand's matrices are evenly spaced (row-major,
    one stride between consecutive rows across the batch): BLAS reads them as one matrix."""
    layout = matrix_layout(operand.shape, operand.strides)
    rows = reshape_linear(operand.strides[:-1], operand.shape[:-1],
                          (math.prod(operand.shape[:-1]),))
    return layout is not None and not layout[0] and rows is not None


def _is_gemm(node: Node) -> bool:
    """A matmul BLAS computes: f32 or f64 operands of the result's dtype (mixed and integer
    matmuls keep the NumPy reference, which promotes; so do f16 and bf16, whose reference
    upcasts to f32, runs NumPy's f32 GEMM and rounds once, as PyTorch's CPU)."""
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


def _is_filled_number(value: Value) -> bool:
    """Whether ``value`` is a 0-d constant whose one number ``_constant_expr`` can inline."""
    producer = value.producer
    return (producer is not None and producer.op == "const" and value.type.shape == ()
            and isinstance(producer.attrs.get("value"), (bool, int, float, np.generic)))


def _constant_expr(node: Node) -> ScalarExpr:
    """A filled constant's number as the ``const`` reference stores it (ints truncated, ...)."""
    dtype = node.output.type.dtype
    number = dtypes.filled((), node.attrs["value"], dtype).item()
    return const(number, dtype)


def _pointwise_groups(body: Graph) -> list[list[Node]]:
    """The body's nodes in groups that each run as one step, in an order that respects the
    data flow: a pointwise node joins the latest group of pointwise nodes over its output's
    shape when everything it reads is computed by then (by that group or an earlier one);
    any other node (a reduction, a copy, a library call) is a group of its own. An optimizer
    step fused over several parameters becomes one kernel per parameter shape (and one for
    the 0-d step counters) instead of a kernel per node."""
    groups: list[list[Node]] = []
    made_by: dict[int, int] = {}  # id(value) -> index of the group computing it
    latest: dict[tuple[int, ...], int] = {}  # output shape -> latest pointwise group over it
    for node in _scalars_first(body):
        index = None
        if _is_pointwise(node):
            shape = node.output.type.shape
            candidate = latest.get(shape)
            if candidate is not None and all(made_by.get(id(v), -1) <= candidate
                                             for v in node.inputs):
                index = candidate
        if index is None:
            index = len(groups)
            groups.append([])
            if _is_pointwise(node):
                latest[node.output.type.shape] = index
        groups[index].append(node)
        for v in node.outputs:
            made_by[id(v)] = index
    return groups


def _scalars_first(body: Graph) -> list[Node]:
    """The body's nodes in a topological order that computes constants first, then
    one-element values (a step counter's ``eq``) as soon as their operands allow, so that they
    do not split the pointwise nodes around them into several groups; otherwise in the body's
    order."""
    nodes = list(body.nodes)
    position = {id(n): i for i, n in enumerate(nodes)}
    waiting = {id(n): len({id(v.producer) for v in n.inputs
                           if v.producer is not None and id(v.producer) in position})
               for n in nodes}
    def key(n: Node) -> tuple[bool, bool, int]:  # constants, then one-element values
        return (bool(n.inputs), any(math.prod(v.type.shape) > 1 for v in n.outputs),
                position[id(n)])

    ready = [key(n) for n in nodes if waiting[id(n)] == 0]
    heapq.heapify(ready)
    order: list[Node] = []
    while ready:
        *_, i = heapq.heappop(ready)
        node = nodes[i]
        order.append(node)
        for user in {id(u): u for v in node.outputs for u in v.users}.values():
            if id(user) in waiting:
                waiting[id(user)] -= 1
                if waiting[id(user)] == 0:
                    heapq.heappush(ready, key(user))
    assert len(order) == len(nodes), "a fused body is acyclic"
    return order


def _describe_groups(groups: list[list[Node]]) -> str:
    steps = [g for g in groups if not (len(g) == 1 and is_filled_constant(g[0]))]
    kernels = sum(len(g) > 1 or _is_pointwise(g[0]) for g in steps)
    return f"{len(steps)} steps ({kernels} pointwise kernels)"


def _write_into_input(program: KernelProgram, out_index: int, in_index: int) -> bool:
    """Makes the kernel that computes output ``out_index`` store it straight into input
    ``in_index``'s buffer (an output that aliases that input: a parameter or optimizer state
    updated in place), when that is safe: the kernel is pointwise over the input's shape, reads
    the input (if at all) at the element it writes, and no later step reads the input's old
    value. Later readers of the output then read the input's buffer. Returns whether it did."""
    result, target = program.outputs[out_index], program.inputs[in_index]
    if (result.role == "input" or result.type != target.type
            or sum(b is result for b in program.outputs) != 1
            or any(b is target for b in program.outputs)  # the old value is returned too
            or any(s.buffer is target for k in program.kernels for s in k.stores)):
        return False
    producers = [i for i, step in enumerate(program.steps)
                 if any(b is result for b in step.outputs)]
    if len(producers) != 1:
        return False
    (position,) = producers
    kernel = program.steps[position]
    contiguous = IndexMap(0, contiguous_strides(target.type.shape))
    if (not isinstance(kernel, Kernel) or kernel.reduction is not None
            or kernel.shape != target.type.shape
            or any(s.buffer is result and s.index != contiguous for s in kernel.stores)
            or any(ld.buffer is target and ld.index != contiguous for ld in kernel.loads)):
        return False
    later = program.steps[position + 1:]
    if any(b is target for step in later for b in step_reads(step)):
        return False
    kernel.stores[:] = [Store(target, s.index, s.value) if s.buffer is result else s
                        for s in kernel.stores]
    for step in later:
        _replace_reads(step, result, target)
    program.outputs[out_index] = target
    return True


def _replace_reads(step: Step, old: Buffer, new: Buffer) -> None:
    if isinstance(step, RowGroup):
        for kernel in step.kernels:
            _replace_reads(kernel, old, new)
    elif isinstance(step, Kernel):
        step.loads[:] = [dataclasses.replace(ld, buffer=new) if ld.buffer is old else ld
                         for ld in step.loads]
    elif isinstance(step, Gemm):
        step.a = new if step.a is old else step.a
        step.b = new if step.b is old else step.b
    else:
        step.inputs[:] = [new if b is old else b for b in step.inputs]


def _is_pointwise(node: Node) -> bool:
    """A node that joins a pointwise group (:func:`_pointwise_groups`): elementwise with a
    scalar body (constants are computed first, once, and read by the groups)."""
    return node.op != "const" and is_pointwise(node)


def _broadcast_index(shape: tuple[int, ...], domain: tuple[int, ...],
                     loop_axes: Sequence[int], strides: tuple[int, ...] | None = None
                     ) -> IndexMap:
    """How an array of ``shape`` (C-contiguous unless its element ``strides`` are given),
    broadcast (right-aligned) to ``domain``, is read when loop ``k`` runs along domain axis
    ``loop_axes[k]``."""
    strides = contiguous_strides(shape) if strides is None else strides
    lead = len(domain) - len(shape)
    per_axis = [0 if a < lead or shape[a - lead] == 1 else strides[a - lead]
                for a in range(len(domain))]
    return IndexMap(0, tuple(per_axis[a] for a in loop_axes))


class _Loads:
    """The loads of a kernel: one per distinct argument read, each broadcast to the domain."""

    def __init__(self, arguments: Sequence[Value], operands: list[Buffer],
                 domain: tuple[int, ...], loop_axes: tuple[int, ...],
                 layouts: dict[int, tuple[int, ...]] | None = None,
                 views: dict[int, View] | None = None):
        self.buffer_of = {id(v): b for v, b in zip(arguments, operands)}
        self.layouts = layouts or {}
        self.views = views or {}
        self.domain, self.loop_axes = domain, loop_axes
        self.loads: list[Load] = []
        self.exprs: dict[int, ScalarExpr] = {}

    def of(self, value: Value) -> ScalarExpr:
        if id(value) not in self.exprs:
            name = f"x{len(self.loads)}"
            view = self.views.get(id(value))
            if view is None:
                index = _broadcast_index(value.type.shape, self.domain, self.loop_axes,
                                         self.layouts.get(id(value)))
                load = Load(name, self.buffer_of[id(value)], index)
            else:  # a view of another value's buffer (backends.kernel.views)
                shape = value.type.shape
                load = Load(name, self.buffer_of[id(value)],
                            view.index(shape, self.domain, self.loop_axes),
                            view.bounds(shape, self.domain, self.loop_axes), view.pad)
            self.loads.append(load)
            self.exprs[id(value)] = var(name, value.type.dtype)
        return self.exprs[id(value)]


def _compose(nodes: list[Node], loads: _Loads) -> dict[int, ScalarExpr]:
    """Each value's scalar expression: arguments are loads, nodes substitute their operands'
    expressions into their ``scalar_body``."""
    exprs: dict[int, ScalarExpr] = {}

    def expr_of(value: Value) -> ScalarExpr:
        return exprs[id(value)] if id(value) in exprs else loads.of(value)

    for node in nodes:
        if node.op == "const":
            exprs[id(node.output)] = _constant_expr(node)
            continue
        if node.op == "broadcast_to":  # loads broadcast right-aligned, as broadcast_to does
            exprs[id(node.output)] = expr_of(node.inputs[0])
            continue
        if node.op == "reshape":  # a unit reshape: a load at its own shape (see _loop_nest)
            continue
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
