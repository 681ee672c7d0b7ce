"""IR nodes -> ONNX nodes: one lowering per registry op that ONNX's standard operators express.

Elementwise ops are lowered from their scalar body (``OpDef.scalar_body``, through
:mod:`graphc.onnx.scalars`), the same typed expression the code generators render, so the ONNX
graph computes what graphc computes: operand promotion, float16/bfloat16 computed in float32
and rounded once, PyTorch's floor division and remainder, NaN-propagating maximum. Common ops
whose ONNX operator means exactly the same (``Add``, ``MatMul``, ``Exp``, ...) map straight
onto it. Every other kind has one function here.

Ops no ONNX operator expresses (``cumprod``, ``logcumsumexp``, ``cummax_indices``,
``cummin_indices``, ``conv2d_weight_grad``, interior padding) raise
:class:`UnsupportedOperatorError` naming the op and its IR line.

Shapes baked into attributes (``reshape``'s target, ``broadcast_to``, ``slice`` bounds) follow
the dynamic dimensions of the export (:mod:`graphc.onnx.dynamic`): each size that changes with
one is an affine expression of it, computed in the graph from ``Shape`` of the input.

    >>> from graphc.onnx.builder import OnnxBuilder
    >>> graph = ir.Graph("f")
    >>> x = graph.add_input("x", ir.TensorType(ir.i32, (3,)))
    >>> graph.set_outputs([graph.add_node("neg", [x]).output])
    >>> lowerer = Lowerer(OnnxBuilder(opset=17))
    >>> lowerer.names[id(x)] = "x"
    >>> lowerer.lower_graph(graph)
    ['Neg_1']
    >>> try:
    ...     lowerer.lower_node(graph.add_node("cumprod", [x], {"axis": 0}))
    ... except UnsupportedOperatorError as exc:
    ...     print(str(exc).split("; ")[-1])
    IR line: %1: i64[3] = cumprod %x {axis=0}
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

import ir
from graphc.onnx.builder import OnnxBuilder, onnx_dtype
from graphc.onnx.errors import OnnxExportError, UnsupportedOperatorError
from graphc.onnx.scalars import COMPARISONS, ScalarLowering, narrow
from ir import dtypes
from ir.printer import format_node, value_names

# what a size in an attribute is when it follows dynamic dimensions: constant + sum(coef * dim)
Affine = tuple[int, dict[str, int]]


@dataclass(frozen=True)
class NotAffine:
    """A size that changes with dynamic dimensions, but not as an affine function of them (the
    product of two): only a reshape with no other such entry can leave it to ONNX (-1)."""

    where: str
    values: tuple[int, ...]


SizeForm = Union[Affine, NotAffine, None]


# ops ONNX cannot express, and why (what the error says)
NOT_EXPRESSIBLE = {
    "cumprod": "ONNX has CumSum but no cumulative product",
    "logcumsumexp": "ONNX has no cumulative log-sum-exp (exp, CumSum, log underflows)",
    "cummax_indices": "ONNX has no cumulative maximum",
    "cummin_indices": "ONNX has no cumulative minimum",
    "conv2d_weight_grad": "ONNX has no convolution weight gradient operator",
    # graphc.distributed's collectives: a deployed ONNX model runs in one process
    "all_reduce": "ONNX has no collective communication operators",
    "all_gather": "ONNX has no collective communication operators",
    "reduce_scatter": "ONNX has no collective communication operators",
}

# elementwise ops whose ONNX operator means the same when every operand has the result's dtype
_DIRECT_FLOAT = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "neg": "Neg",
                 "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "tanh": "Tanh",
                 "sigmoid": "Sigmoid", "abs": "Abs", "sin": "Sin", "cos": "Cos", "erf": "Erf",
                 "reciprocal": "Reciprocal", "stop_gradient": "Identity", "floor": "Floor",
                 "ceil": "Ceil", "tan": "Tan", "asin": "Asin", "acos": "Acos", "atan": "Atan",
                 "sinh": "Sinh", "cosh": "Cosh", "asinh": "Asinh", "acosh": "Acosh",
                 "atanh": "Atanh", "maximum": "Max", "minimum": "Min"}
# (float pow is not direct: an exponent of 0.5 is sqrt in graphc, not ONNX Pow's C pow; its
# scalar body is lowered with that choice, graphc/onnx/scalars.py)
_DIRECT_INT = {"add": "Add", "sub": "Sub", "mul": "Mul", "neg": "Neg", "abs": "Abs",
               "stop_gradient": "Identity"}
def ir_line(node: ir.Node) -> str:
    """The node as the IR printer shows it, with its source location when known."""
    graph = node.graph
    names = value_names(graph) if graph is not None else {}
    text = format_node(node, names)
    if node.body is not None:
        text = text.split(" {\n")[0] + " {...}"
    if node.loc is not None:
        text += f" (from {node.loc})"
    return text


class Lowerer:
    """Writes the nodes of IR graphs into an :class:`OnnxBuilder`.

    ``names`` maps each IR value (by ``id``) to its ONNX name; the caller binds the graph's
    inputs first. ``dynamic`` gives, per node (by ``id``), the attributes whose sizes follow
    dynamic dimensions, and ``dim_size(symbol)`` the ONNX name of that size (an int64[1]).
    """

    def __init__(self, builder: OnnxBuilder,
                 dynamic: Optional[dict[int, dict[str, list[SizeForm]]]] = None,
                 dim_size: Optional[Callable[[str], str]] = None):
        self.b = builder
        self.scalars = ScalarLowering(builder)
        self.names: dict[int, str] = {}
        self.dynamic = dynamic or {}
        self.dim_size = dim_size

    # -- graphs ---------------------------------------------------------------------------------
    def lower_graph(self, graph: ir.Graph) -> list[str]:
        """Lowers every node of ``graph`` (inputs already bound); the names of its outputs."""
        for node in graph.nodes:
            self.lower_node(node)
        return [self.names[id(v)] for v in graph.outputs]

    def lower_node(self, node: ir.Node) -> None:
        lowering = lowering_of(node.op)
        if lowering is None:
            why = NOT_EXPRESSIBLE.get(node.op, "graphc has no ONNX lowering for it")
            raise UnsupportedOperatorError(
                f"graphc.onnx.export: op '{node.op}' cannot be exported to ONNX ({why}); "
                f"IR line: {ir_line(node)}")
        inputs = [self.names[id(v)] for v in node.inputs]
        results = lowering(self, node, inputs)
        results = [results] if isinstance(results, str) else results
        for value, name in zip(node.outputs, results):
            self.names[id(value)] = name

    def unsupported(self, node: ir.Node, why: str) -> UnsupportedOperatorError:
        return UnsupportedOperatorError(
            f"graphc.onnx.export: op '{node.op}' cannot be exported to ONNX here ({why}); "
            f"IR line: {ir_line(node)}")

    # -- sizes in attributes --------------------------------------------------------------------
    def static_ints(self, node: ir.Node, attr: str) -> list[int]:
        """The ints of attribute ``attr``, which must not follow a dynamic dimension."""
        if self.dynamic.get(id(node), {}).get(attr):
            raise OnnxExportError(
                f"graphc.onnx.export: attribute '{attr}' of op '{node.op}' changes with a "
                f"dynamic dimension, which ONNX's {node.op} cannot follow; export without "
                f"that dynamic axis. IR line: {ir_line(node)}")
        return list(node.attrs[attr])

    def size_tensor(self, node: ir.Node, attr: str, values: list[int],
                    minus_one: bool = False, fixed: frozenset[int] = frozenset()) -> str:
        """A 1-d int64 tensor of attribute ``attr``'s sizes: a constant, or computed from the
        dynamic dimensions it follows. ``minus_one``: one dynamic entry may be written -1
        (Reshape infers it); ``fixed``: positions whose given value serves every size."""
        forms = self.dynamic.get(id(node), {}).get(attr)
        if forms:
            forms = [None if i in fixed else form for i, form in enumerate(forms)]
        if not forms or not any(forms):
            return self.b.ints(values)
        if minus_one and 0 not in values:
            # Reshape infers one entry: the one no sum of sizes gives, else a lone dynamic one
            dynamic = [i for i, form in enumerate(forms) if form]
            odd = [i for i, form in enumerate(forms) if isinstance(form, NotAffine)]
            inferred = odd if len(odd) == 1 else dynamic if len(dynamic) == 1 and not odd else []
            for i in inferred:
                values, forms = list(values), list(forms)
                values[i], forms[i] = -1, None
        pieces, run = [], []
        for value, form in zip(values, forms):
            if not form:
                run.append(value)
                continue
            if isinstance(form, NotAffine):
                raise OnnxExportError(
                    f"graphc.onnx.export: {form.where} changes with the dynamic dimensions as "
                    f"no sum of them does (sizes {list(form.values)} in the traces: a product of "
                    f"two dynamic sizes, or a size halved by pooling?); the shape arithmetic of "
                    f"graphc's export follows sums of sizes, and a reshape can infer one other "
                    f"size. Export with fewer dynamic axes")
            if run:
                pieces.append(self.b.ints(run))
                run = []
            pieces.append(self._affine(form))
        if run:
            pieces.append(self.b.ints(run))
        return pieces[0] if len(pieces) == 1 else self.b.node("Concat", pieces, axis=0)

    def _affine(self, form: Affine) -> str:
        constant, coefficients = form
        assert self.dim_size is not None
        total = None
        for symbol, coefficient in sorted(coefficients.items()):
            term = self.dim_size(symbol)
            if coefficient != 1:
                term = self.b.node("Mul", [term, self.b.ints([coefficient])])
            total = term if total is None else self.b.node("Add", [total, term])
        assert total is not None
        if constant:
            total = self.b.node("Add", [total, self.b.ints([constant])])
        return total

_LOWERINGS: dict[str, Callable[[Lowerer, ir.Node, list[str]], str | list[str]]] = {}


def lowering(*ops: str):
    """Registers the decorated function as the lowering of ``ops``."""
    def register(fn):
        for op in ops:
            _LOWERINGS[op] = fn
        return fn
    return register


def lowering_of(op: str) -> Optional[Callable[[Lowerer, ir.Node, list[str]], str | list[str]]]:
    """The lowering of IR op ``op``, or None. Elementwise ops (those registered later too)
    lower through their scalar bodies unless one is registered for them."""
    found = _LOWERINGS.get(op)
    if found is None and ir.registry.exists(op):
        opdef = ir.get_op(op)
        if opdef.kind == "elementwise" and opdef.scalar is not None:
            return _elementwise
    return found


def has_lowering(op: str) -> bool:
    """Whether graphc can write the IR op ``op`` as ONNX."""
    return lowering_of(op) is not None


def _out_dtype(node: ir.Node) -> dtypes.DType:
    return node.outputs[0].type.dtype


def compute_dtype(dtype: dtypes.DType) -> dtypes.DType:
    """What a reduction, matmul, convolution or scan of ``dtype`` computes in: float16 and
    bfloat16 accumulate in float32 (as graphc and PyTorch's CPU do), 8/16-bit integers and bools
    in int32 (kernels ONNX runtimes have); the result is rounded or wrapped back once."""
    if dtype.is_low_precision_float:
        return dtypes.f32
    return dtypes.i32 if dtype.is_bool or narrow(dtype) else dtype


# -- elementwise ---------------------------------------------------------------------------------
_PLAIN = (dtypes.f32, dtypes.f64, dtypes.i32, dtypes.i64)  # dtypes ONNX runtimes cover fully


def _elementwise(lw: Lowerer, node: ir.Node, inputs: list[str]) -> str:
    out = _out_dtype(node)
    in_dtypes = [v.type.dtype for v in node.inputs]
    plain = all(d in _PLAIN for d in in_dtypes) and (out in _PLAIN or out.is_bool)
    if plain and all(d == out for d in in_dtypes):
        direct = (_DIRECT_FLOAT if out.is_float else _DIRECT_INT).get(node.op)
        if direct is not None:
            return lw.b.node(direct, inputs)
    if plain and node.op in COMPARISONS and len(set(in_dtypes)) == 1:
        return lw.b.node(COMPARISONS[node.op], inputs)
    if node.op == "where" and in_dtypes[1] == in_dtypes[2] == out in _PLAIN:
        return lw.b.node("Where", inputs)
    names = [f"x{i}" for i in range(len(inputs))]
    _, body = node.opdef.scalar_body([v.type for v in node.inputs], node.attrs, names)
    return lw.scalars.lower(body, dict(zip(names, inputs)))


# -- sources -------------------------------------------------------------------------------------
@lowering("const")
def _const(lw: Lowerer, node: ir.Node, inputs: list[str]) -> str:
    out = node.outputs[0].type
    value = node.attrs["value"]
    changes = lw.dynamic.get(id(node))
    if not changes:
        array = ir.get_op("const").reference(**node.attrs)
        return lw.b.constant(np.asarray(array, dtype=out.dtype.numpy).reshape(out.shape))
    if isinstance(value, (list, tuple)):
        raise lw.unsupported(node, "its values change with a dynamic dimension")
    if "value" in changes:  # a size the program computed (the count a mean divides by)
        size = lw.size_tensor(node, "value", [int(value)])
        number = lw.b.node("Cast", [lw.b.node("Reshape", [size, lw.b.ints([])])],
                           to=onnx_dtype(out.dtype))
        if not out.shape:
            return number
        return lw.b.node("Expand", [number, lw.size_tensor(node, "shape", list(out.shape))])
    # a filled tensor whose shape follows a dynamic dimension
    shape = lw.size_tensor(node, "shape", list(out.shape))
    fill = lw.b.onnx.numpy_helper.from_array(np.array([value], dtype=out.dtype.numpy))
    return lw.b.node("ConstantOfShape", [shape], value=fill)


@lowering("random_uniform", "random_normal")
def _random(lw: Lowerer, node: ir.Node, inputs: list[str]) -> str:
    # graphc's seeds are its own stream: the ONNX runtime draws other numbers of the same law
    a, out = node.attrs, node.outputs[0].type
    shape = lw.static_ints(node, "shape")
    if node.op == "random_uniform":
        return lw.b.node("RandomUniform", [], dtype=onnx_dtype(out.dtype), shape=shape,
                         low=float(a["low"]), high=float(a["high"]))
    return lw.b.node("RandomNormal", [], dtype=onnx_dtype(out.dtype), shape=shape,
                     mean=float(a["mean"]), scale=float(a["std"]))


# -- reductions ------------------------------------------------------------------------------------
def _reduce(lw: Lowerer, onnx_op: str, x: str, axes: Optional[list[int]], keepdim: bool) -> str:
    b = lw.b
    axes_as_input = onnx_op == "ReduceSum" or b.opset >= 18
    if axes is None:
        return b.node(onnx_op, [x], keepdims=int(keepdim))
    if axes_as_input:
        return b.node(onnx_op, [x, b.ints(axes)], keepdims=int(keepdim))
    return b.node(onnx_op, [x], axes=list(axes), keepdims=int(keepdim))


@lowering("sum", "prod", "max", "min")
def _reduction(lw: Lowerer, node: ir.Node, inputs: list[str]) -> str:
    b = lw.b
    source, out = node.inputs[0].type.dtype, _out_dtype(node)
    compute = compute_dtype(out)
    x = b.cast(inputs[0], source, compute)
    axes, keepdim = node.attrs["axes"], bool(node.attrs["keepdim"])
    if axes is not None and len(axes) == 0:  # reduces nothing
        return b.cast(x, compute, out)
    onnx_op = {"sum": "ReduceSum", "prod": "ReduceProd", "max": "ReduceMax",
               "min": "ReduceMin"}[node.op]
    result = _reduce(lw, onnx_op, x, axes, keepdim)
    if node.op in ("max", "min") and compute.is_float:
        # PyTorch's max/min are NaN where any reduced element is; ONNX runtimes may drop NaN
        zero = lw.b.number(0, compute)
        nans = b.node("Where", [b.node("IsNaN", [x]), x, zero])
        any_nan = _reduce(lw, "ReduceSum", nans, axes, keepdim)
        result = b.node("Where", [b.node("IsNaN", [any_nan]), any_nan, result])
    return b.cast(result, compute, out)


@lowering("argmax", "argmin")
def _arg_reduction(lw: Lowerer, node: ir.Node, inputs: list[str]) -> str:
    b = lw.b
    onnx_op = "ArgMax" if node.op == "argmax" else "ArgMin"
    source = node.inputs[0].type.dtype
    x = b.cast(inputs[0], source, dtypes.i32) if source.is_bool or narrow(source) else inputs[0]
    axis, keepdim = node.attrs["axis"], bool(node.attrs["keepdim"])
    if axis is None:  # over the flattened tensor; keepdim keeps every axis at size 1
        flat = b.node("Reshape", [x, b.ints([-1])])
        index = b.node(onnx_op, [flat], axis=0, keepdims=0, select_last_index=0)
        shape = list(node.outputs[0].type.shape)
        return b.node("Reshape", [index, b.ints(shape)]) if shape else index
    return b.node(onnx_op, [x], axis=axis, keepdims=int(keepdim), select_last_index=0)


# -- movement --------------------------------------------------------------------------------------
@lowering("reshape")
def _reshape(lw: Lowerer, node: ir.Node, inputs: list[str]) -> str:
    shape = list(node.attrs["shape"])
    target = lw.size_tensor(node, "shape", shape, minus_one=True)
    if 0 in shape:  # a zero in ONNX's shape copies the input's size unless allowzero
        return lw.b.node("Reshape", [inputs[0], target], allowzero=1)
    return lw.b.node("Reshape", [inputs[0], target])


@lowering("transpose")
def _transpose(lw: Lowerer, node: ir.Node, inputs: list[str]) -> str:
    return lw.b.node("Transpose", inputs, perm=list(node.attrs["perm"]))


@lowering("broadcast_to")
def _broadcast_to(lw: Lowerer, node: ir.Node, inputs: list[str]) -> str:
    # Expand broadcasts both ways: where the input already has the size, 1 keeps it, whatever
    # the size is at run time (no shape arithmetic needed there)
    shape = list(node.attrs["shape"])
    source = node.inputs[0].type.shape
    offset = len(shape) - len(source)
    forms = lw.dynamic.get(id(node), {}).get("shape") or [None] * len(shape)
    kept = frozenset(axis for axis in range(offset, len(shape))  # (a 1 that grows broadcasts)
                     if source[axis - offset] == shape[axis] and (shape[axis] != 1
                                                                  or not forms[axis]))
    values = [1 if axis in kept else size for axis, size in enumerate(shape)]
    return lw.b.node("Expand", [inputs[0], lw.size_tensor(node, "shape", values, fixed=kept)])


@lowering("slice")
def _slice(lw: Lowerer, node: ir.Node, inputs: list[str]) -> str:
    a = node.attrs
    starts, stops = lw.size_tensor(node, "starts", list(a["starts"])), lw.size_tensor(
        node, "stops", list(a["stops"]))
    steps = lw.static_ints(node, "steps")
    axes = lw.b.ints(range(len(steps)))
    return lw.b.node("Slice", [inputs[0], starts, stops, axes, lw.b.ints(steps)])


@lowering("pad")
def _pad(lw: Lowerer, node: ir.Node, inputs: list[str]) -> str:
    pads = [list(p) for p in node.attrs["pads"]]
    if any(p[2] for p in pads):
        raise lw.unsupported(node, "interior padding: ONNX's Pad pads only the edges")
    if lw.dynamic.get(id(node)):
        raise lw.unsupported(node, "its padding changes with a dynamic dimension")
    dtype = node.inputs[0].type.dtype
    value = lw.b.constant(np.array(node.attrs["value"], dtype=dtype.numpy))
    widths = lw.b.ints([p[0] for p in pads] + [p[1] for p in pads])
    return lw.b.node("Pad", [inputs[0], widths, value], mode="constant")


@lowering("concat")
def _concat(lw: Lowerer, node: ir.Node, inputs: list[str]) -> str:
    out = _out_dtype(node)
    parts = [lw.b.cast(name, v.type.dtype, out) for name, v in zip(inputs, node.inputs)]
    return lw.b.node("Concat", parts, axis=node.attrs["axis"])


# -- matmul, index ops -----------------------------------------------------------------------------
@lowering("matmul")
def _matmul(lw: Lowerer, node: ir.Node, inputs: list[str]) -> str:
    out = _out_dtype(node)
    compute = compute_dtype(out)
    a, b = (lw.b.cast(name, v.type.dtype, compute) for name, v in zip(inputs, node.inputs))
    return lw.b.cast(lw.b.node("MatMul", [a, b]), compute, out)


@lowering("gather")
def _gather(lw: Lowerer, node: ir.Node, inputs: list[str]) -> str:
    return lw.b.node("GatherElements", inputs, axis=node.attrs["axis"])


@lowering("scatter", "scatter_add", "scatter_reduce")
def _scatter(lw: Lowerer, node: ir.Node, inputs: list[str]) -> str:
    # ONNX applies duplicate indices in order, so the last write wins as in graphc's scatter
    out = _out_dtype(node)
    x, index, src = inputs
    src = lw.b.cast(src, node.inputs[2].type.dtype, out)
    reduction = {"scatter": "none", "scatter_add": "add"}.get(node.op)
    if reduction is None:
        reduction = {"sum": "add", "prod": "mul", "amax": "max", "amin": "min"}[
            node.attrs["reduce"]]
    if reduction in ("max", "min") and lw.b.opset < 18:
        raise lw.unsupported(node, f"ScatterElements reduction '{reduction}' needs opset 18: "
                                   f"pass opset_version=18")
    if reduction == "none":
        return lw.b.node("ScatterElements", [x, index, src], axis=node.attrs["axis"])
    return lw.b.node("ScatterElements", [x, index, src], axis=node.attrs["axis"],
                     reduction=reduction)


# -- convolution and pooling -------------------------------------------------------------------------
def _conv_attrs(lw: Lowerer, node: ir.Node) -> dict:
    pad_h, pad_w = lw.static_ints(node, "padding")
    return {"strides": lw.static_ints(node, "stride"), "pads": [pad_h, pad_w, pad_h, pad_w],
            "dilations": lw.static_ints(node, "dilation"), "group": int(node.attrs["groups"])}


@lowering("conv2d")
def _conv2d(lw: Lowerer, node: ir.Node, inputs: list[str]) -> str:
    out = _out_dtype(node)
    compute = compute_dtype(out)
    x, w = (lw.b.cast(name, v.type.dtype, compute) for name, v in zip(inputs, node.inputs))
    kernel = list(node.inputs[1].type.shape[2:])
    result = lw.b.node("Conv", [x, w], kernel_shape=kernel, **_conv_attrs(lw, node))
    return lw.b.cast(result, compute, out)


@lowering("conv2d_input_grad")
def _conv2d_input_grad(lw: Lowerer, node: ir.Node, inputs: list[str]) -> str:
    # the gradient of a convolution with respect to its input is the transposed convolution
    # of the output gradient with the same weight (ConvTranspose's weight layout is conv's)
    out = _out_dtype(node)
    compute = compute_dtype(out)
    g, w = (lw.b.cast(name, v.type.dtype, compute) for name, v in zip(inputs, node.inputs))
    attrs = _conv_attrs(lw, node)
    input_shape = lw.static_ints(node, "input_shape")
    kernel = list(node.inputs[1].type.shape[2:])
    grad_size = node.inputs[0].type.shape[2:]
    extra = []
    for axis in range(2):
        stride, dilation = attrs["strides"][axis], attrs["dilations"][axis]
        pad = attrs["pads"][axis]
        reached = (grad_size[axis] - 1) * stride - 2 * pad + dilation * (kernel[axis] - 1) + 1
        extra.append(input_shape[2 + axis] - reached)
    result = lw.b.node("ConvTranspose", [g, w], kernel_shape=kernel, output_padding=extra,
                       **attrs)
    return lw.b.cast(result, compute, out)


@lowering("max_pool2d_indices")
def _max_pool2d_indices(lw: Lowerer, node: ir.Node, inputs: list[str]) -> str:
    b, a = lw.b, node.attrs
    kernel = lw.static_ints(node, "kernel_size")
    stride = lw.static_ints(node, "stride")
    pad_h, pad_w = lw.static_ints(node, "padding")
    _, indices = b.node("MaxPool", inputs, 2, kernel_shape=kernel, strides=stride,
                        pads=[pad_h, pad_w, pad_h, pad_w],
                        dilations=lw.static_ints(node, "dilation"),
                        ceil_mode=int(bool(a["ceil_mode"])))
    # ONNX numbers positions across the whole tensor, PyTorch (and graphc) within each plane
    # (its size read at run time: height and width may be dynamic)
    plane = b.node("ReduceProd", [b.node("Shape", inputs, start=2)], keepdims=1)
    return b.node("Mod", [indices, plane])


# -- scans and sorts -------------------------------------------------------------------------------
@lowering("cumsum")
def _cumsum(lw: Lowerer, node: ir.Node, inputs: list[str]) -> str:
    out = _out_dtype(node)
    compute = compute_dtype(out)
    x = lw.b.cast(inputs[0], node.inputs[0].type.dtype, compute)
    axis = lw.b.constant(np.array(node.attrs["axis"], dtype=np.int64))
    total = lw.b.node("CumSum", [x, axis], reverse=int(bool(node.attrs["reverse"])))
    return lw.b.cast(total, compute, out)


@lowering("argsort")
def _argsort(lw: Lowerer, node: ir.Node, inputs: list[str]) -> str:
    # TopK of every element is a sort; ONNX keeps equal elements in index order (stable)
    b = lw.b
    axis = ir.types.normalize_axis(node.attrs["axis"], len(node.inputs[0].type.shape))
    source = node.inputs[0].type.dtype
    x = b.cast(inputs[0], source, dtypes.i32) if source.is_bool or narrow(source) else inputs[0]
    count = b.node("Shape", [x], start=axis, end=axis + 1)
    _, indices = b.node("TopK", [x, count], 2, axis=axis,
                        largest=int(bool(node.attrs["descending"])), sorted=1)
    return indices


# -- fused nodes -----------------------------------------------------------------------------------
@lowering("fused")
def _fused(lw: Lowerer, node: ir.Node, inputs: list[str]) -> list[str]:
    # a fused node's body is ordinary IR: inlined, ONNX runtimes fuse on their own
    body = node.body
    assert body is not None
    for value, name in zip(body.inputs, inputs):
        lw.names[id(value)] = name
    return lw.lower_graph(body)
