"""``graphc.onnx.export``: a model or function, traced and optimized as ``graphc.compile`` does,
written as an ONNX model (see :mod:`graphc.onnx` for the user's view)."""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Optional

import numpy as np

import ir
from graphc import autograd, pytree, tracing
from graphc.compile import CompiledFunction
from graphc.device import host_array
from graphc.onnx import dynamic
from graphc.onnx.builder import OnnxBuilder, onnx_dtype, require_onnx
from graphc.onnx.errors import OnnxExportError
from graphc.onnx.lowering import Lowerer
from graphc.tensor import Tensor

DEFAULT_OPSET = 17  # what torch.onnx.export writes by default; 18+ adds integer bitwise ops
MIN_OPSET = 17


def _call_arguments(args, kwargs) -> tuple[tuple, dict]:
    """torch.onnx.export's ``args``: one tensor, or a tuple whose last item may be a dict of
    keyword arguments."""
    if not isinstance(args, tuple):
        args = (args,)
    kwargs = dict(kwargs or {})
    if args and isinstance(args[-1], dict):
        kwargs.update(args[-1])
        args = args[:-1]
    # one tensor passed as several arguments (self-attention's mha(x, x, x)) is several model
    # inputs, as in torch.onnx.export: a copy for each repeat, so the trace sees them apart
    seen: set[int] = set()
    distinct = []
    for arg in args:
        if isinstance(arg, Tensor) and id(arg) in seen:
            arg = Tensor._wrap(arg.numpy().copy())
        seen.add(id(arg))
        distinct.append(arg)
    return tuple(distinct), kwargs


def _trace(fn, args: tuple, kwargs: dict):
    """The optimized graph of ``fn(*args, **kwargs)`` and its cache entry (interpreter backend:
    the default pipeline and nothing fused, so each op maps onto ONNX's operators)."""
    compiled = CompiledFunction(fn, backend="interpreter")
    with autograd.no_grad():
        graph = compiled.graph_for(*args, **kwargs)
    return graph, compiled.entries[-1]


def _state_names(model) -> dict[int, str]:
    """The ``state_dict`` name of each parameter and buffer of a module, by tensor ``id``."""
    names: dict[int, str] = {}
    for getter in ("named_parameters", "named_buffers"):
        for name, tensor in getattr(model, getter, lambda: [])():
            names.setdefault(id(tensor), name)
    return names


def _numpy(tensor: Tensor) -> np.ndarray:
    return np.array(host_array(tensor._data))  # a copy: the file must not change with the model


def _dynamic_axes(dynamic_axes, input_names: list[str], output_names: list[str]
                  ) -> tuple[dict[str, dict[int, str]], dict[str, dict[int, str]]]:
    """torch's ``dynamic_axes`` ({name: {axis: symbol}} or {name: [axes]}) split into inputs'
    and outputs' axes."""
    inputs: dict[str, dict[int, str]] = {}
    outputs: dict[str, dict[int, str]] = {}
    for name, axes in (dynamic_axes or {}).items():
        if isinstance(axes, Mapping):
            named = {int(axis): str(symbol) for axis, symbol in axes.items()}
        elif isinstance(axes, Sequence) and not isinstance(axes, str):
            named = {int(axis): f"{name}_dynamic_axes_{k + 1}" for k, axis in enumerate(axes)}
        else:
            raise OnnxExportError(f"graphc.onnx.export: dynamic_axes['{name}'] must be a dict "
                                  f"{{axis: name}} or a list of axes, got {axes!r}")
        if name in input_names:
            inputs[name] = named
        elif name in output_names:
            outputs[name] = named
        else:
            raise OnnxExportError(
                f"graphc.onnx.export: dynamic_axes names '{name}', which is neither an input "
                f"({', '.join(input_names) or 'none'}) nor an output "
                f"({', '.join(output_names)})")
    return inputs, outputs


def _symbols(axes_of_inputs: dict[str, dict[int, str]], input_names: list[str],
             graph: ir.Graph) -> list[dynamic.Symbol]:
    symbols: dict[str, dynamic.Symbol] = {}
    for name, axes in axes_of_inputs.items():
        index = input_names.index(name)
        shape = graph.inputs[index].type.shape
        for axis, symbol in axes.items():
            if not -len(shape) <= axis < len(shape):
                raise OnnxExportError(f"graphc.onnx.export: dynamic_axes['{name}'] names axis "
                                      f"{axis}, but input '{name}' has shape {list(shape)}")
            axis %= len(shape)
            size = shape[axis]
            if size == 0:
                raise OnnxExportError(f"graphc.onnx.export: dynamic axis {axis} of input "
                                      f"'{name}' has size 0 in the example; give a size of "
                                      f"at least 2")
            entry = symbols.setdefault(symbol, dynamic.Symbol(symbol, size))
            if entry.size != size:
                raise OnnxExportError(
                    f"graphc.onnx.export: dynamic dimension '{symbol}' has size {entry.size} "
                    f"and {size} in the example inputs; one name must be one size")
            entry.places.append((index, axis))
    return list(symbols.values())


def _grown(args: tuple, kwargs: dict, input_leaves: list[int], symbols: list[dynamic.Symbol],
           growth: list[int]) -> tuple[tuple, dict]:
    """The example arguments with each symbol's axes grown by ``growth`` (its elements
    repeated cyclically, so indices stay valid)."""
    leaves, tree = pytree.flatten((args, kwargs))
    dynamic_positions = [i for i, leaf in enumerate(leaves)
                         if isinstance(leaf, (Tensor, np.ndarray))]
    for symbol, extra in zip(symbols, growth):
        if not extra:
            continue
        for input_index, axis in symbol.places:
            position = dynamic_positions[input_leaves[input_index]]
            leaf = leaves[position]
            array = _numpy(leaf) if isinstance(leaf, Tensor) else leaf
            picks = np.arange(symbol.size + extra) % symbol.size
            grown = np.take(array, picks, axis=axis)
            leaves[position] = Tensor._wrap(grown) if isinstance(leaf, Tensor) else grown
    return pytree.unflatten(tree, leaves)


def _value_info(onnx, name: str, type: ir.TensorType, dims: Sequence[Any]):
    return onnx.helper.make_tensor_value_info(name, onnx_dtype(type.dtype), list(dims))


def build_model(graph: ir.Graph, n_outputs: int, input_names: list[str],
                output_names: list[str], initializers: dict[int, tuple[str, np.ndarray]],
                opset: int, symbols: Sequence[dynamic.Symbol] = (),
                forms: Optional[dict] = None, output_dims: Optional[list] = None,
                skipped: Sequence[int] = ()):
    """The ONNX model of ``graph``: its first ``len(input_names)`` inputs are the model's
    inputs, the inputs listed in ``initializers`` (by position: (name, array)) its
    initializers, inputs in ``skipped`` (random seeds) feed nothing, and its first
    ``n_outputs`` outputs are the model's outputs."""
    onnx = require_onnx()
    builder = OnnxBuilder(opset)
    input_dims = {}
    for symbol in symbols:
        for index, axis in symbol.places:
            input_dims[(index, axis)] = symbol.name
    sizes: dict[str, str] = {}

    def dim_size(symbol_name: str) -> str:
        if symbol_name not in sizes:
            index, axis = next(s for s in symbols if s.name == symbol_name).places[0]
            sizes[symbol_name] = builder.node("Shape", [input_names[index]], start=axis,
                                              end=axis + 1)
        return sizes[symbol_name]

    lowerer = Lowerer(builder, forms, dim_size)
    inputs = []
    for index, value in enumerate(graph.inputs):
        if index < len(input_names):
            name = builder.reserve(input_names[index])
            dims = [input_dims.get((index, axis), size)
                    for axis, size in enumerate(value.type.shape)]
            inputs.append(_value_info(onnx, name, value.type, dims))
        elif index in initializers:
            name, array = initializers[index]
            builder.initializer(name, array)
        elif index in skipped:
            name = ""
        else:
            raise OnnxExportError(f"graphc.onnx.export: graph input %{value.name} is neither "
                                  f"a model input nor a parameter")
        lowerer.names[id(value)] = name
    for name in output_names:
        builder.reserve(name)
    results = lowerer.lower_graph(graph)[:n_outputs]
    outputs = []
    for index, (result, name) in enumerate(zip(results, output_names)):
        builder.node("Identity", [result], [name])
        value = graph.outputs[index]
        forms_here = (output_dims or [[None] * len(value.type.shape)] * n_outputs)[index]
        dims = [size if form is None else (form if isinstance(form, str)
                                           else dynamic.describe(form, f"{name}_dim{axis}"))
                for axis, (size, form) in enumerate(zip(value.type.shape, forms_here))]
        outputs.append(_value_info(onnx, name, value.type, dims))
    onnx_graph = onnx.helper.make_graph(builder.nodes, graph.name, inputs, outputs,
                                        initializer=builder.initializers)
    model = onnx.helper.make_model(onnx_graph, producer_name="graphc",
                                   opset_imports=[onnx.helper.make_opsetid("", opset)])
    model.ir_version = _ir_version(onnx, opset)
    return model


def _ir_version(onnx, opset: int) -> int:
    """The ONNX IR version released with ``opset`` (onnx's own table), so that runtimes of that
    time read the file."""
    for _release, ir_version, default_opset, *_ in onnx.helper.VERSION_TABLE:
        if default_opset >= opset:
            return ir_version
    return onnx.IR_VERSION


def check_opset(opset_version: Optional[int]) -> int:
    onnx = require_onnx()
    opset = DEFAULT_OPSET if opset_version is None else opset_version
    newest = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or isinstance(opset, bool) or not MIN_OPSET <= opset <= newest:
        raise OnnxExportError(f"graphc.onnx.export: opset_version must be an int from "
                              f"{MIN_OPSET} to {newest} (the installed onnx's newest), got "
                              f"{opset_version!r}")
    return opset


def _names(given: Optional[Sequence[str]], defaults: list[str], what: str) -> list[str]:
    given = list(given or [])
    if len(given) > len(defaults):
        raise OnnxExportError(f"graphc.onnx.export: {len(given)} {what}_names for "
                              f"{len(defaults)} {what}s")
    names = [str(n) for n in given] + defaults[len(given):]
    if len(set(names)) != len(names):
        raise OnnxExportError(f"graphc.onnx.export: {what} names must differ, got {names}")
    return names


def export_program(model, args, f=None, *, kwargs=None, input_names=None, output_names=None,
                   dynamic_axes=None, opset_version=None, export_params=True):
    """Traces ``model`` on ``args``, lowers its graph to ONNX and writes it to ``f``."""
    opset = check_opset(opset_version)
    args, kwargs = _call_arguments(args, kwargs)
    while isinstance(model, CompiledFunction):  # graphc.compile(model): the model it compiles
        model = model.fn
    modes = [(module, module.training) for module in getattr(model, "modules", list)()]
    if hasattr(model, "eval"):
        model.eval()  # torch.onnx.export's default: the model as it runs for inference
    try:
        graph, entry = _trace(model, args, kwargs)
        _check_pure(entry)
        n_inputs, n_outputs = len(entry.input_leaves), entry.n_user_outputs
        default_inputs = [v.name or f"input{i}" for i, v in enumerate(graph.inputs[:n_inputs])]
        in_names = _names(input_names, default_inputs, "input")
        out_names = _names(output_names, ["output"] if n_outputs == 1 else
                           [f"output{i}" for i in range(n_outputs)], "output")
        axes_in, axes_out = _dynamic_axes(dynamic_axes, in_names, out_names)
        symbols = _symbols(axes_in, in_names, graph)
        forms, output_dims = None, None
        if symbols:  # traced again at other sizes: which sizes follow them (dynamic.py)
            growths = [[1 if k == j else 0 for k in range(len(symbols))]
                       for j in range(len(symbols))] + [[2] * len(symbols)]
            graphs = [graph] + [_trace(model, *_grown(args, kwargs, entry.input_leaves,
                                                      symbols, growth))[0]
                                for growth in growths]
            forms, output_dims = dynamic.size_forms(graphs, symbols)
        if axes_out:
            output_dims = _name_output_axes(output_dims or [[None] * len(v.type.shape)
                                                            for v in graph.outputs],
                                            axes_out, out_names)
        initializers, skipped = _initializers(entry, n_inputs, _state_names(model))
        if not export_params:  # parameters become inputs, as in torch
            in_names += [initializers[i][0] for i in sorted(initializers)]
            initializers = {}
        onnx_model = build_model(graph, n_outputs, in_names, out_names, initializers, opset,
                                 symbols, forms, output_dims, skipped)
    finally:
        for module, training in modes:  # each module's own mode back, as it was
            module.training = training
    if f is not None:
        save(onnx_model, f)
    return onnx_model


def _check_pure(entry) -> None:
    """ONNX graphs compute tensors from tensors: no state written back, no Python outputs."""
    if entry.write_backs:
        written = ", ".join(wb.name for wb in entry.write_backs)
        raise OnnxExportError(f"graphc.onnx.export: the program writes state ({written}); "
                              f"an ONNX graph is a pure function of its inputs. Export "
                              f"the model in eval mode, without updates")
    for static in entry.out_static:
        if static is not None and not isinstance(static, tracing.ArgRef):
            raise OnnxExportError(f"graphc.onnx.export: the program returns the Python "
                                  f"value {static[0]!r}; ONNX outputs are tensors")


def _name_output_axes(output_dims: list, axes_out: dict[str, dict[int, str]],
                      out_names: list[str]) -> list:
    """The output dimensions with the names ``dynamic_axes`` gives them."""
    for index, name in enumerate(out_names):
        for axis, symbol in axes_out.get(name, {}).items():
            rank = len(output_dims[index])
            if not -rank <= axis < rank:
                raise OnnxExportError(f"graphc.onnx.export: dynamic_axes['{name}'] names "
                                      f"axis {axis} of an output of rank {rank}")
            output_dims[index][axis % rank] = symbol
    return output_dims


def _initializers(entry, n_inputs: int, state: dict[int, str]
                  ) -> tuple[dict[int, tuple[str, np.ndarray]], list[int]]:
    """The initializer (name, values) of each graph input that is lifted state, by input
    position, and the positions of random seeds (which the ONNX random ops do without)."""
    initializers, skipped = {}, []
    for offset, lifted in enumerate(entry.lifted):
        index = n_inputs + offset
        if lifted.kind == "rng":
            skipped.append(index)
        elif lifted.kind == "tensor":
            initializers[index] = (state.get(id(lifted.tensor), lifted.name),
                                   _numpy(lifted.tensor))
        elif lifted.kind == "grad":
            name = state.get(id(lifted.tensor), lifted.name) + ".grad"
            initializers[index] = (name, _numpy(lifted.tensor.grad))
        else:  # a Python number or a NumPy array read by the program: its value now
            array = np.asarray(lifted.getter(), dtype=lifted.value.type.dtype.numpy)
            initializers[index] = (lifted.name, array)
    return initializers, skipped


def save(onnx_model, f) -> None:
    """Writes ``onnx_model`` to a path or a binary file object."""
    data = onnx_model.SerializeToString()
    if hasattr(f, "write"):
        f.write(data)
        return
    with open(os.fspath(f), "wb") as out:
        out.write(data)
