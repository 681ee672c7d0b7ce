"""A small writer of ONNX graphs: fresh value names, nodes, constants and initializers.

    >>> import numpy as np
    >>> from graphc.onnx.builder import OnnxBuilder
    >>> b = OnnxBuilder(opset=17)
    >>> two = b.constant(np.array(2.0, np.float32))
    >>> b.node("Mul", ["x", two])
    'Mul_2'
    >>> [n.op_type for n in b.nodes]
    ['Constant', 'Mul']

It knows nothing about graphc's IR (that is :mod:`graphc.onnx.lowering`); it imports ``onnx``
only when made, so ``import graphc.onnx`` works without the optional package.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ir import dtypes


def require_onnx():
    """The ``onnx`` module, or an ImportError saying how to install it."""
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - the test extra installs onnx
        raise ImportError("graphc.onnx.export needs the 'onnx' package: pip install "
                          "'graphc[onnx]' (or pip install onnx)") from exc
    return onnx


def onnx_dtype(dtype: dtypes.DType) -> int:
    """The ``onnx.TensorProto`` element type of a graphc dtype."""
    tp = require_onnx().TensorProto
    return {"bool": tp.BOOL, "u8": tp.UINT8, "i8": tp.INT8, "i16": tp.INT16, "i32": tp.INT32,
            "i64": tp.INT64, "f16": tp.FLOAT16, "bf16": tp.BFLOAT16, "f32": tp.FLOAT,
            "f64": tp.DOUBLE}[dtype.name]


class OnnxBuilder:
    """Collects the nodes and initializers of one ONNX graph, naming every value once."""

    def __init__(self, opset: int):
        self.onnx = require_onnx()
        self.opset = opset
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._taken: set[str] = set()
        self._counter = 0

    def reserve(self, name: str) -> str:
        """Claims ``name`` (a graph input, output or initializer) so no node result takes it."""
        if name in self._taken:
            raise ValueError(f"the ONNX name {name!r} is used twice")
        self._taken.add(name)
        return name

    def fresh(self, hint: str) -> str:
        """A new value name starting with ``hint``."""
        while True:
            self._counter += 1
            name = f"{hint}_{self._counter}"
            if name not in self._taken:
                self._taken.add(name)
                return name

    def node(self, op_type: str, inputs: list[str], outputs: int | list[str] = 1,
             **attrs) -> Any:
        """Appends a node; returns its result name (a list of names when ``outputs`` is a
        count above one or a list of names)."""
        names = outputs if isinstance(outputs, list) else [
            self.fresh(op_type) for _ in range(outputs)]
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, names, **attrs))
        return names[0] if isinstance(outputs, int) and outputs == 1 else names

    def constant(self, array: np.ndarray) -> str:
        """A ``Constant`` node holding ``array`` (kept with its dtype)."""
        name = self.fresh("const")
        tensor = self.onnx.numpy_helper.from_array(np.asarray(array), name)
        self.nodes.append(self.onnx.helper.make_node("Constant", [], [name], value=tensor))
        return name

    def number(self, value, dtype: dtypes.DType) -> str:
        """A 0-d constant of ``dtype``."""
        return self.constant(np.array(value, dtype=dtype.numpy))

    def ints(self, values) -> str:
        """A 1-d int64 constant (shapes, axes, starts and stops)."""
        return self.constant(np.asarray(list(values), dtype=np.int64).reshape(-1))

    def initializer(self, name: str, array: np.ndarray) -> str:
        """Stores ``array`` as the initializer ``name`` (a parameter or buffer)."""
        self.reserve(name)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(array), name))
        return name

    def cast(self, name: str, source: dtypes.DType, target: dtypes.DType) -> str:
        """``name`` converted to ``target``, or ``name`` itself when it already is."""
        if source == target:
            return name
        return self.node("Cast", [name], to=onnx_dtype(target))
