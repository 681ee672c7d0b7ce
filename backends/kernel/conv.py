"""Convolution and max pooling as kernels and GEMMs, so that code generators run them natively.

A :class:`NativeLowering` belongs to one program builder (``build.py``), which asks it first
about every node; it answers False for what it leaves to the op's NumPy reference.

- ``conv2d`` (``groups=1``): an **im2col** kernel ``cols[(n, ho, wo), (c, i, j)]`` (padding is a
  guarded load reading 0), the weight as a matrix ``[O, C*kh*kw]``, then one :class:`Gemm`
  ``product[(n, ho, wo), o] = cols @ weight^T``. A ``fused`` body starting with the
  convolution (the ``fuse`` pass's epilogues: bias add, ReLU, ...) becomes ONE kernel over
  ``[N, O, Ho, Wo]`` reading the product through its layout; a lone convolution gets a copy
  kernel doing that;
- ``conv2d_weight_grad``: ``dw[o, (c, i, j)] = g_rows^T @ cols`` where ``g_rows[(n, ho, wo), o]``
  is the output gradient as rows (a copy kernel) and ``cols`` the input's im2col (shared with
  the forward convolution of the same input);
- ``conv2d_input_grad``: ``dcols = g_rows @ weight`` (a GEMM), then **col2im** as a gather: each
  input element sums the ``dcols`` entries of the windows that cover it. A stride ``s`` makes
  which kernel taps cover an element depend on its position modulo ``s``, so there is one
  kernel per stride phase, each writing its part of the result (no atomics, no scatter);
- ``max_pool2d_indices``: an arg-reduction kernel over each window's ``[kh, kw]`` taps (padding
  reads ``-inf`` and is never chosen), recording the flat ``h * W + w`` index;
- max pooling's ``gather`` (``x[n, c, index[n, c, q]]``, an indirect load: indices from
  ``max_pool2d_indices`` are in range by construction) and its gradient ``scatter_add`` (each
  input element sums the gradients of the windows covering it whose index is that element,
  phase by phase as col2im). Other gathers and scatters stay library calls: their reference
  raises ``IndexError`` on an index out of range, which a kernel cannot.

Sums add their terms in the order the NumPy references do, starting from the same value.

    >>> import ir
    >>> from backends.kernel import build_program
    >>> g = ir.parse('''func @f(%x: f32[1,1,3,3], %w: f32[2,1,2,2]) -> (f32[1,2,2,2]) {
    ...   %0: f32[1,2,2,2] = conv2d %x, %w
    ...   return %0
    ... }''')
    >>> [type(step).__name__ for step in build_program(g).steps]
    ['Kernel', 'Kernel', 'Gemm', 'Kernel']
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from backends.kernel.program import (
    Bound,
    Buffer,
    Gemm,
    IndexMap,
    Indirect,
    Kernel,
    Load,
    Store,
    contiguous_strides,
    counter,
)
from ir import scalar as S
from ir.dtypes import DType, i64
from ir.graph import Node, Value
from ir.registry import get as get_op
from ir.types import TensorType, normalize_axis

if TYPE_CHECKING:
    from backends.kernel.build import _ProgramBuilder

class NativeLowering:
    """Lowers one builder's convolution and pooling nodes; caches the im2col, row and
    weight-matrix buffers it made, so the forward and backward passes share them."""

    def __init__(self, builder: _ProgramBuilder):
        self.builder = builder
        self.cols: dict[tuple, Buffer] = {}
        self.rows: dict[tuple, Buffer] = {}
        self.matrices: dict[tuple, Buffer] = {}

    # -- hooks --------------------------------------------------------------------------------
    def add_node(self, node: Node, operands: list[Buffer]) -> bool:
        """Adds ``node``'s steps and returns True, or returns False (a library call then)."""
        b = self.builder
        if node.op in ("conv2d", "conv2d_weight_grad") and _lowerable_conv(node):
            product, layout = self._product(node, operands)
            b._append(self._relayout(node.output, product, layout), node.outputs)
            return True
        if node.op == "conv2d_input_grad" and _lowerable_conv(node) \
                and 0 not in node.output.type.shape[2:]:
            self._input_grad(node, operands)
            return True
        if node.op == "max_pool2d_indices" and _windows_reach_input(node):
            b._append(self._pool_indices(node, operands[0]), node.outputs)
            return True
        if node.op == "gather" and _pool_index_fits(node, node.inputs[0]):
            b._append(self._pool_gather(node, operands), node.outputs)
            return True
        if node.op == "scatter_add" and _pool_index_fits(node, node.inputs[0]) \
                and all(node.inputs[k].type.dtype.is_float for k in (0, 2)):
            self._pool_scatter(node, operands)
            return True
        return False

    def add_fused(self, node: Node, operands: list[Buffer]) -> bool:
        """A fused body ``conv2d | conv2d_weight_grad, epilogue...``: the GEMM, then one kernel
        for the epilogue reading the product through its layout (or, when the epilogue is no
        loop nest, the convolution copied out and the epilogue's nodes as steps)."""
        body = node.body
        assert body is not None
        if not body.nodes or body.nodes[0].op not in ("conv2d", "conv2d_weight_grad") \
                or not _lowerable_conv(body.nodes[0]):
            return False
        b = self.builder
        for argument, buffer in zip(body.inputs, operands):
            b.buffers[id(argument)] = buffer
        conv, *epilogue = body.nodes
        ops = ", ".join(n.op for n in body.nodes)
        product, layout = self._product(conv, [b._operand(v) for v in conv.inputs])
        kernel = None
        if epilogue:
            operands = [b.buffers[id(a)] for a in body.inputs]  # views the GEMM copied
            before = dict(b.layouts)
            b.layouts[id(conv.output)] = layout
            kernel = b._loop_nest(epilogue, list(body.inputs) + [conv.output],
                                  operands + [product], body.outputs,
                                  origin=f"epilogue of {product} ({ops})")
            b.layouts.clear()  # (and the layouts of the reshapes of the product it read)
            b.layouts.update(before)
        if kernel is not None:
            b._append(kernel, body.outputs)
        else:
            b._append(self._relayout(conv.output, product, layout), conv.outputs)
            if epilogue:
                b.program.notes.append(f"the epilogue of {product} ({ops}) is not one loop "
                                       f"nest; its nodes run as separate steps")
            for epilogue_node in epilogue:
                b._add_node(epilogue_node)
        for result, inner in zip(node.outputs, body.outputs):
            b._alias(result, inner)
        return True

    # -- steps --------------------------------------------------------------------------------
    def _kernel(self, shape, loads, value, output: Buffer, store: IndexMap | None = None,
                origin: str = "", partial: bool = False) -> Kernel:
        """A pointwise kernel over ``shape`` storing ``value`` (contiguously unless ``store``
        says where), appended to the program."""
        b = self.builder
        index = store or IndexMap(0, contiguous_strides(tuple(shape)))
        kernel = Kernel(b._kernel_name(), tuple(shape), loads, value,
                        [Store(output, index, value)], origin=origin, partial=partial)
        b.program.steps.append(kernel)
        return kernel

    def _product(self, node: Node, operands: list[Buffer]) -> tuple[Buffer, tuple[int, ...]]:
        """The GEMM computing a ``conv2d`` or ``conv2d_weight_grad`` node, and the element
        strides of the node's result inside its product."""
        g = _Geometry.of(node)
        dtype = node.output.type.dtype
        b = self.builder
        if node.op == "conv2d":
            cols = self._im2col(operands[0], g, dtype)
            weight = self._matrix(operands[1], dtype)
            product = b._new_buffer(TensorType(dtype, (g.rows, g.o)))
            b.program.steps.append(Gemm(cols, weight, product, transpose_b=True,
                                        origin="conv2d: im2col @ weight^T"))
            # result[n, o, h, w] is product[(n*Ho + h)*Wo + w, o]
            return product, (g.ho * g.wo * g.o, 1, g.wo * g.o, g.o)
        cols = self._im2col(operands[0], g, dtype)
        rows = self._rows(operands[1], g, dtype)
        product = b._new_buffer(TensorType(dtype, (g.o, g.depth)))
        b.program.steps.append(Gemm(rows, cols, product, transpose_a=True,
                                    origin="conv2d_weight_grad: g_rows^T @ im2col"))
        return product, contiguous_strides(node.output.type.shape)

    def _relayout(self, value: Value, product: Buffer, layout: tuple[int, ...]) -> Kernel:
        """A kernel copying ``value`` out of its product into its own contiguous buffer."""
        shape = value.type.shape
        x = S.var("x0", product.dtype)
        kernel = Kernel(self.builder._kernel_name(), shape,
                        [Load("x0", product, IndexMap(0, layout))], x,
                        [Store(self.builder._new_buffer(value.type),
                               IndexMap(0, contiguous_strides(shape)), x)],
                        origin=f"{value.producer.op if value.producer else 'result'} "
                               f"out of {product}")
        return kernel

    def _im2col(self, x: Buffer, g: _Geometry, dtype: DType) -> Buffer:
        """``cols[(n, ho, wo), (c, i, j)] = x[n, c, ho*s + i*d - p, wo*s + j*d - p]`` (0 in the
        padding), in ``dtype``; one per input and geometry."""
        key = (id(x), g.window, dtype)
        if key not in self.cols:
            b = self.builder
            cols = b._new_buffer(TensorType(dtype, (g.rows, g.depth)))
            h, w = g.h, g.w
            loops = (g.n, g.ho, g.wo, g.c, g.kh, g.kw)
            index = IndexMap(-g.ph * w - g.pw, (g.c * h * w, g.sh * w, g.sw, h * w,
                                                g.dh * w, g.dw))
            bounds = _needed((Bound(IndexMap(-g.ph, (0, g.sh, 0, 0, g.dh, 0)), h),
                              Bound(IndexMap(-g.pw, (0, 0, g.sw, 0, 0, g.dw)), w)), loops)
            load = Load("x0", x, index, bounds, S.const(0, x.dtype) if bounds else None)
            self._kernel(loops, [load], S.cast(S.var("x0", x.dtype), dtype), cols,
                         origin="im2col")
            self.cols[key] = cols
        return self.cols[key]

    def _matrix(self, weight: Buffer, dtype: DType) -> Buffer:
        """The weight ``[O, C, kh, kw]`` as a ``[O, C*kh*kw]`` matrix in ``dtype``."""
        key = (id(weight), dtype)
        if key not in self.matrices:
            o, *rest = weight.type.shape
            depth = math.prod(rest)
            matrix = self.builder._new_buffer(TensorType(dtype, (o, depth)))
            self._kernel((o, depth), [Load("x0", weight, IndexMap(0, (depth, 1)))],
                         S.cast(S.var("x0", weight.dtype), dtype), matrix,
                         origin="weight as a matrix")
            self.matrices[key] = matrix
        return self.matrices[key]

    def _rows(self, grad: Buffer, g: _Geometry, dtype: DType) -> Buffer:
        """The output gradient ``[N, O, Ho, Wo]`` as rows ``[(n, ho, wo), o]`` in ``dtype``."""
        key = (id(grad), dtype)
        if key not in self.rows:
            rows = self.builder._new_buffer(TensorType(dtype, (g.rows, g.o)))
            plane = g.ho * g.wo
            load = Load("x0", grad, IndexMap(0, (g.o * plane, g.wo, 1, plane)))
            self._kernel((g.n, g.ho, g.wo, g.o), [load],
                         S.cast(S.var("x0", grad.dtype), dtype), rows,
                         origin="output gradient as rows")
            self.rows[key] = rows
        return self.rows[key]

    def _input_grad(self, node: Node, operands: list[Buffer]) -> None:
        """``dx`` = col2im(g_rows @ weight): one kernel per stride phase."""
        builder = self.builder
        g = _Geometry.of(node)
        dtype = node.output.type.dtype
        rows = self._rows(operands[0], g, dtype)
        weight = self._matrix(operands[1], dtype)
        dcols = builder._new_buffer(TensorType(dtype, (g.rows, g.depth)))
        builder.program.steps.append(Gemm(rows, weight, dcols,
                                          origin="conv2d_input_grad: g_rows @ weight"))
        output = builder._new_buffer(node.output.type)
        taps = g.kh * g.kw
        for phase, (loops, store, row_taps, col_taps) in enumerate(_phases(g)):
            loads: list[Load] = []
            terms: list[S.ScalarExpr] = []
            for i, a in row_taps:
                for j, b in col_taps:
                    # x[n, ch, y, x'] takes dcols[(n, yq + a, xq + b), (ch, i, j)]
                    index = IndexMap((a * g.wo + b) * g.depth + i * g.kw + j,
                                     (g.ho * g.wo * g.depth, taps, g.wo * g.depth, g.depth))
                    bounds = _needed((Bound(IndexMap(a, (0, 0, 1, 0)), g.ho),
                                      Bound(IndexMap(b, (0, 0, 0, 1)), g.wo)), loops)
                    name = f"x{len(loads)}"
                    loads.append(Load(name, dcols, index, bounds, S.const(-0.0, dtype)))
                    terms.append(S.var(name, dtype))
            # the reference adds each tap's columns into zeros, in (i, j) order; -0.0 (an
            # absent tap) adds nothing
            value = S.const(0, dtype)
            for term in terms:
                value = S.add(value, term)
            self._kernel(loops, loads, value, output, store,
                         origin=f"col2im, stride phase {phase}", partial=phase > 0)
        builder.buffers[id(node.output)] = output

    # -- max pooling --------------------------------------------------------------------------
    def _pool_indices(self, node: Node, x: Buffer) -> Kernel:
        """The first maximum of each window: an arg-reduction over its ``[kh, kw]`` taps."""
        g = _Geometry.of_pool(node)
        dtype = x.dtype
        h, w = g.h, g.w
        loops = (g.n, g.c, g.ho, g.wo, g.kh, g.kw)
        index = IndexMap(-g.ph * w - g.pw, (g.c * h * w, h * w, g.sh * w, g.sw, g.dh * w, g.dw))
        bounds = _needed((Bound(IndexMap(-g.ph, (0, 0, g.sh, 0, g.dh, 0)), h),
                          Bound(IndexMap(-g.pw, (0, 0, 0, g.sw, 0, g.dw)), w)), loops)
        load = Load("x0", x, index, bounds, S.lowest(dtype) if bounds else None)
        fold = get_op("argmax").reduction(dtype)  # type: ignore[misc]
        # the flat position of tap (i, j) of window (ho, wo)
        row = _affine(-g.ph, ((2, g.sh), (4, g.dh)))
        col = _affine(-g.pw, ((3, g.sw), (5, g.dw)))
        at = S.add(S.mul(row, w), col)
        # padding (-inf) never beats an element; when every element is -inf the reference
        # picks the first one that is no padding: start there
        start = S.add(S.mul(_first_inside(2, g.sh, g.ph, g.dh, g.kh), w),
                      _first_inside(3, g.sw, g.pw, g.dw, g.kw))
        output = self.builder._new_buffer(node.output.type)
        return Kernel(self.builder._kernel_name(), loops[:4], [load], S.var("x0", dtype),
                      [Store(output, IndexMap(0, contiguous_strides(loops[:4])),
                             S.var("index", i64))],
                      reduce_shape=loops[4:], reduction=fold, origin="max_pool2d_indices",
                      arg_index=at, arg_start=start)

    def _pool_gather(self, node: Node, operands: list[Buffer]) -> Kernel:
        """``out[n, c, q] = x[n, c, index[n, c, q]]``: indices of pooling windows are in
        range."""
        x, index = operands
        shape = node.output.type.shape
        xs = contiguous_strides(x.type.shape)
        loads = [Load("x0", index, IndexMap(0, contiguous_strides(shape))),
                 Load("x1", x, IndexMap(0, (xs[0], xs[1], 0)), indirect=Indirect("x0", xs[2]))]
        value = S.var("x1", x.dtype)
        return Kernel(self.builder._kernel_name(), shape, loads, value,
                      [Store(self.builder._new_buffer(node.output.type),
                             IndexMap(0, contiguous_strides(shape)), value)],
                      origin="gather at max_pool2d_indices")

    def _pool_scatter(self, node: Node, operands: list[Buffer]) -> None:
        """``out = x`` plus, at each element, the ``src`` of every window covering it whose
        index chose it: one kernel per stride phase, like col2im."""
        x, index, src = operands
        pool = _pool_of(node.inputs[1])
        assert pool is not None
        g = _Geometry.of_pool(pool)
        dtype = x.dtype
        output = self.builder._new_buffer(node.output.type)
        plane = g.ho * g.wo
        for phase, (loops, store, row_taps, col_taps) in enumerate(_phases(g)):
            loads = [Load("x0", x, store)]
            value = S.var("x0", dtype)
            # the element's flat position y * W + x'
            here = _affine(store.offset, ((2, g.sh * g.w), (3, g.sw)))
            # np.add.at adds in the order of the windows, by ho then wo: taps sorted so
            for _, a in _by_window(row_taps):
                for _, b in _by_window(col_taps):
                    where = IndexMap(a * g.wo + b, (g.c * plane, plane, g.wo, 1))
                    bounds = _needed((Bound(IndexMap(a, (0, 0, 1, 0)), g.ho),
                                      Bound(IndexMap(b, (0, 0, 0, 1)), g.wo)), loops)
                    k = len(loads)
                    # outside the windows: index -1 (no position) and source -0.0
                    loads.append(Load(f"x{k}", index, where, bounds,
                                      S.const(-1, index.dtype) if bounds else None))
                    loads.append(Load(f"x{k + 1}", src, where, bounds,
                                      S.const(-0.0, src.dtype) if bounds else None))
                    chosen = S.eq(S.cast(S.var(f"x{k}", index.dtype), i64), here)
                    term = S.select(chosen, S.cast(S.var(f"x{k + 1}", src.dtype), dtype),
                                    S.const(-0.0, dtype))
                    value = S.add(value, term)  # + -0.0 leaves every value as it is
            self._kernel(loops, loads, value, output, store,
                         origin=f"scatter_add at max_pool2d_indices, stride phase {phase}",
                         partial=phase > 0)
        self.builder.buffers[id(node.output)] = output


# -- geometry -------------------------------------------------------------------------------------
class _Geometry:
    """Sizes of a convolution or pooling window: input ``[n, c, h, w]``, output ``[.., ho, wo]``,
    ``o`` output channels, window ``[kh, kw]``, strides, paddings, dilations."""

    def __init__(self, x_shape, o, kh, kw, stride, padding, dilation, ho, wo):
        self.n, self.c, self.h, self.w = x_shape
        self.o, self.kh, self.kw = o, kh, kw
        (self.sh, self.sw), (self.ph, self.pw), (self.dh, self.dw) = stride, padding, dilation
        self.ho, self.wo = ho, wo
        self.rows = self.n * ho * wo       # GEMM rows: one per output position
        self.depth = self.c * kh * kw      # GEMM depth: one per (channel, tap)
        self.window = (kh, kw, tuple(stride), tuple(padding), tuple(dilation), ho, wo)

    @staticmethod
    def of(node: Node) -> _Geometry:
        attrs = node.attrs
        if node.op == "conv2d":
            x_shape, w_shape = node.inputs[0].type.shape, node.inputs[1].type.shape
            out = node.output.type.shape
        elif node.op == "conv2d_weight_grad":
            x_shape, w_shape = node.inputs[0].type.shape, tuple(attrs["weight_shape"])
            out = node.inputs[1].type.shape
        else:  # conv2d_input_grad
            x_shape, w_shape = tuple(attrs["input_shape"]), node.inputs[1].type.shape
            out = node.inputs[0].type.shape
        return _Geometry(x_shape, w_shape[0], w_shape[2], w_shape[3], attrs["stride"],
                         attrs["padding"], attrs["dilation"], out[2], out[3])

    @staticmethod
    def of_pool(node: Node) -> _Geometry:
        attrs = node.attrs
        x_shape, out = node.inputs[0].type.shape, node.output.type.shape
        kh, kw = attrs["kernel_size"]
        return _Geometry(x_shape, x_shape[1], kh, kw, attrs["stride"], attrs["padding"],
                         attrs["dilation"], out[2], out[3])


def _lowerable_conv(node: Node) -> bool:
    """groups=1 with f32/f64 operands (other groups keep the NumPy reference, and so do f16
    and bf16: the reference computes them in f32 and rounds once, where an im2col GEMM in
    their dtype would round every partial sum)."""
    return node.attrs["groups"] == 1 and all(
        v.type.dtype.is_float and not v.type.dtype.is_low_precision_float for v in node.inputs)


def _needed(bounds: tuple[Bound, ...], loops: tuple[int, ...]) -> tuple[Bound, ...]:
    """The bounds that can fail somewhere in the loop nest (the others are dropped)."""
    kept = []
    for bound in bounds:
        low = high = bound.index.offset
        for stride, extent in zip(bound.index.strides, loops):
            span = stride * max(extent - 1, 0)
            low, high = low + min(span, 0), high + max(span, 0)
        if low < 0 or high >= bound.extent:
            kept.append(bound)
    return tuple(kept)


def _affine(offset: int, terms) -> S.ScalarExpr:
    """``offset + sum(counter(k) * stride)`` as an i64 expression."""
    value = S.const(offset, i64)
    for k, stride in terms:
        value = S.add(value, S.mul(counter(k), stride))
    return value


def _first_inside(loop: int, stride: int, padding: int, dilation: int, taps: int
                  ) -> S.ScalarExpr:
    """The first coordinate of window ``counter(loop)``'s taps that is inside the input
    (``start + i*dilation >= 0``): the taps before it are counted, no division needed."""
    start = _affine(-padding, ((loop, stride),))
    if padding == 0:
        return start
    value = start
    for i in range(taps):
        if i * dilation >= padding:  # start >= -padding: this tap and later ones are inside
            break
        below = S.cast(S.lt(S.add(start, i * dilation), 0), i64)
        value = S.add(value, S.mul(below, dilation))
    return value


def _phases(g: _Geometry):
    """For col2im and max pooling's scatter: per stride phase ``(rh, rw)`` of the input rows
    and columns, the loops ``[n, c, hq, wq]`` over the elements ``y = hq*sh + rh``,
    ``x = wq*sw + rw``, where they are stored, and the taps covering them: ``(i, a)`` pairs
    saying tap ``i`` covers row ``y`` from window row ``hq + a`` (likewise for columns)."""
    for rh in range(min(g.sh, g.h)):
        for rw in range(min(g.sw, g.w)):
            hq, wq = -(-(g.h - rh) // g.sh), -(-(g.w - rw) // g.sw)
            loops = (g.n, g.c, hq, wq)
            store = IndexMap(rh * g.w + rw, (g.c * g.h * g.w, g.h * g.w, g.sh * g.w, g.sw))
            yield (loops, store, _taps(rh, g.sh, g.ph, g.dh, g.kh),
                   _taps(rw, g.sw, g.pw, g.dw, g.kw))


def _taps(phase: int, stride: int, padding: int, dilation: int, taps: int):
    """Tap ``i`` covers ``y = hq*stride + phase`` from window ``(y + padding - i*dilation) /
    stride`` when that divides: ``hq + a`` with a static ``a``."""
    found = []
    for i in range(taps):
        shift = phase + padding - i * dilation
        if shift % stride == 0:
            found.append((i, shift // stride))
    return found


def _by_window(taps):
    """Taps ordered by the window they come from (ascending ``a``)."""
    return sorted(taps, key=lambda tap: tap[1])


def _windows_reach_input(pool: Node) -> bool:
    """Whether every pooling window has a tap inside the input along each axis (else its
    index, in the reference, is a position outside the input: left to the reference)."""
    g = _Geometry.of_pool(pool)
    for out, size, stride, padding, dilation, taps in ((g.ho, g.h, g.sh, g.ph, g.dh, g.kh),
                                                       (g.wo, g.w, g.sw, g.pw, g.dw, g.kw)):
        for window in range(out):
            start = window * stride - padding
            if not any(0 <= start + i * dilation < size for i in range(taps)):
                return False
    return True


def _pool_of(index: Value) -> Node | None:
    """The ``max_pool2d_indices`` node whose result ``index`` is (through reshapes), when its
    indices are positions inside its input."""
    producer = index.producer
    while producer is not None and producer.op == "reshape":
        producer = producer.inputs[0].producer
    if producer is None or producer.op != "max_pool2d_indices":
        return None
    return producer if _windows_reach_input(producer) else None


def _pool_index_fits(node: Node, x: Value) -> bool:
    """Whether ``node`` (a gather or scatter_add) reads ``x [N, C, H*W]`` along its last axis
    at ``max_pool2d_indices`` of an ``[N, C, H, W]`` input, reshaped to ``[N, C, Ho*Wo]``:
    every index is then a position inside ``x``. (A scatter also needs ``x``'s shape to be
    exactly that, its source the index's shape.)"""
    index = node.inputs[1]
    pool = _pool_of(index)
    if pool is None or x.type.ndim != 3 or normalize_axis(node.attrs["axis"], 3) != 2:
        return False
    n, c, h, w = pool.inputs[0].type.shape
    _, _, ho, wo = pool.output.type.shape
    if index.type.shape != (n, c, ho * wo) or x.type.shape[2] != h * w:
        return False
    if node.op == "scatter_add":
        return x.type.shape == (n, c, h * w)
    return True


__all__ = ["NativeLowering"]
