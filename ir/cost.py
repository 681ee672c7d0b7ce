"""What an op costs: floating-point operations and bytes moved, from types alone.

The profiler (``graphc.profiler``) divides these by measured times to report achieved
GFLOP/s and GB/s. The model is the usual back-of-the-envelope one, not a count of machine
instructions:

- ``matmul``: ``2*M*N*K`` per product (a multiply and an add per term), batch axes included;
- ``conv2d`` and its two gradients: ``2`` per multiply-add of the direct convolution they
  amount to (``2 * N*O*Ho*Wo * C/groups*kh*kw``);
- elementwise ops: one per output element (``sigmoid`` is one, as in PyTorch's counters);
- reductions and scans: one per input element;
- movement, indexing, sources and sorts: none (they move data, which the bytes count);
- a ``fused`` node: the sum of its body.

Bytes moved are the sizes of the operands plus the sizes of the results (each value once).

    >>> import ir
    >>> g = ir.parse('''func @f(%a: f32[8,4], %b: f32[4,3]) -> (f32[8,3]) {
    ...   %0: f32[8,3] = matmul %a, %b
    ...   %1: f32[8,3] = relu %0
    ...   return %1
    ... }''')
    >>> [node_flops(n) for n in g.nodes]
    [192, 24]
    >>> node_bytes(g.nodes[0])  # (32 + 12 + 24) floats of 4 bytes
    272
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from ir.graph import Node, Value
from ir.registry import get as get_op
from ir.types import TensorType

_CONVOLUTIONS = ("conv2d", "conv2d_input_grad", "conv2d_weight_grad")


def tensor_bytes(type: TensorType) -> int:
    """Bytes of one value of ``type`` stored densely."""
    return math.prod(type.shape) * type.dtype.numpy.itemsize


def op_flops(op: str, inputs: Sequence[TensorType], outputs: Sequence[TensorType]) -> int:
    """Floating-point operations of one application of primitive ``op`` (see the module doc).

        >>> from ir import TensorType, f32
        >>> op_flops("matmul", [TensorType(f32, (2, 5, 3)), TensorType(f32, (3, 4))],
        ...          [TensorType(f32, (2, 5, 4))])
        240
    """
    kind = get_op(op).kind
    if kind == "matmul":
        a = inputs[0].shape
        inner = a[-1] if a else 1
        return 2 * math.prod(outputs[0].shape) * inner
    if op in _CONVOLUTIONS:
        # the direct convolution's output [N, O, Ho, Wo] times one window C/groups*kh*kw
        if op == "conv2d":
            points, window = outputs[0].shape, inputs[1].shape[1:]
        elif op == "conv2d_input_grad":  # (grad of the output, weight)
            points, window = inputs[0].shape, inputs[1].shape[1:]
        else:  # conv2d_weight_grad: (input, grad of the output) -> a weight
            points, window = inputs[1].shape, outputs[0].shape[1:]
        return 2 * math.prod(points) * math.prod(window)
    if kind == "elementwise":
        return math.prod(outputs[0].shape)
    if kind in ("reduce", "scan"):
        return math.prod(inputs[0].shape)
    return 0


def node_flops(node: Node) -> int:
    """Floating-point operations of ``node`` (a ``fused`` node: its body's)."""
    if node.body is not None:
        return sum(node_flops(inner) for inner in node.body.nodes)
    return op_flops(node.op, [v.type for v in node.inputs], [v.type for v in node.outputs])


def values_bytes(values: Iterable[Value | TensorType]) -> int:
    """Bytes of the distinct values (or types) given: an operand read twice counts once."""
    seen: dict[int, TensorType] = {}
    for value in values:
        seen.setdefault(id(value), value if isinstance(value, TensorType) else value.type)
    return sum(tensor_bytes(t) for t in seen.values())


def node_bytes(node: Node) -> int:
    """Bytes ``node`` reads and writes: its operands and its results, each once."""
    return values_bytes([*node.inputs, *node.outputs])


__all__ = ["node_bytes", "node_flops", "op_flops", "tensor_bytes", "values_bytes"]
