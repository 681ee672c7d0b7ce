"""``graphc.onnx``: models and functions written as ONNX files, as ``torch.onnx.export`` does.

    >>> import graphc, graphc.onnx
    >>> model = graphc.nn.Sequential(graphc.nn.Linear(4, 3), graphc.nn.ReLU())
    >>> proto = graphc.onnx.export(model, graphc.ones(2, 4), None, input_names=["x"],
    ...                            output_names=["y"], dynamic_axes={"x": {0: "batch"}})
    >>> [n.op_type for n in proto.graph.node if n.op_type != "Constant"]
    ['Transpose', 'MatMul', 'Add', 'Max', 'Identity']
    >>> sorted(i.name for i in proto.graph.initializer)
    ['0.bias', '0.weight']
    >>> proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param
    'batch'

The program is traced and optimized as :func:`graphc.compile` traces it (a module in eval mode,
without gradients), and each IR op is lowered to ONNX's standard operators
(:mod:`graphc.onnx.lowering`); parameters and buffers become initializers named as in the
module's ``state_dict``. Ops ONNX cannot express raise
:class:`UnsupportedOperatorError` naming the op and its IR line. Needs the ``onnx`` package
(``pip install 'graphc[onnx]'``).
"""
from __future__ import annotations

from graphc.onnx.errors import OnnxExportError, UnsupportedOperatorError


def export(model, args=(), f=None, *, kwargs=None, input_names=None, output_names=None,
           dynamic_axes=None, opset_version=None, export_params=True, verbose=None,
           do_constant_folding=True):
    """Writes ``model`` (an ``nn.Module`` or a function of tensors) run on ``args`` as an ONNX
    model to ``f`` (a path or a binary file; None writes nothing) and returns the
    ``onnx.ModelProto``.

    As in ``torch.onnx.export``: ``args`` is one tensor or a tuple of arguments (a dict as its
    last item holds keyword arguments); ``input_names``/``output_names`` name the graph's
    inputs and outputs in order (defaults: the argument names, ``output``/``output0, ...``);
    ``dynamic_axes`` maps an input or output name to ``{axis: "symbol"}`` (or a list of axes)
    to make those dimensions symbolic: sizes the program derives from them (a
    ``reshape(x.shape[0], -1)``) are computed in the graph, and a program whose graph changes
    with them is refused. ``opset_version`` defaults to 17. ``export_params=False`` makes the
    parameters graph inputs. ``verbose`` and ``do_constant_folding`` are accepted for
    compatibility (graphc always folds constants).
    """
    from graphc.onnx.exporter import export_program
    return export_program(model, args, f, kwargs=kwargs, input_names=input_names,
                          output_names=output_names, dynamic_axes=dynamic_axes,
                          opset_version=opset_version, export_params=export_params)


def is_in_onnx_export() -> bool:
    """False: graphc traces, it never runs a model for an ONNX export."""
    return False


__all__ = ["OnnxExportError", "UnsupportedOperatorError", "export", "is_in_onnx_export"]
