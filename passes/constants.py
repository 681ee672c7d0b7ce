"""Reading ``const`` nodes as arrays and writing arrays back as ``const`` nodes, exactly.

``fold`` and ``simplify`` reason about constant operands. :class:`Constants` gives the array a
``const`` value holds (computed once, with the op's reference, so it is exactly what the
interpreter would compute) and builds a ``const`` node holding a given array. An array is written
as a single number when all its elements have the same bits (``{value=0.5, shape=[64,64]}``
rather than 4096 copies), else as a nested list; every number is the Python ``int``, ``float``
or ``bool`` that reads back to the same bits in the const's dtype (an f32 element becomes the
float64 of equal value, which the const turns back into the same f32). -0.0 keeps its sign
through the text form; NaN keeps it in memory only (the printer writes every NaN as ``nan``).

    >>> import numpy as np, ir
    >>> g = ir.Graph("f")
    >>> consts = Constants()
    >>> c = consts.add(g, np.array([[-0.0, -0.0]], np.float32))
    >>> g.set_outputs([c.output])
    >>> print(g)
    func @f() -> (f32[1,2]) {
      %0: f32[1,2] = const {value=-0.0, dtype=f32, shape=[1,2]}
      return %0
    }
    >>> consts.array(c.output).tolist()
    [[-0.0, -0.0]]
"""
from __future__ import annotations

import numpy as np

from ir import dtypes
from ir.evaluate import evaluate, quiet_float_errors
from ir.graph import Graph, Node, SourceLoc, Value


def is_constant(value: Value) -> bool:
    """Whether ``value`` is the result of a ``const`` node."""
    return value.producer is not None and value.producer.op == "const"


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays of one dtype and shape hold identical bits (so -0.0 != 0.0, and a
    NaN equals only a NaN with the same sign and payload)."""
    return a.shape == b.shape and np.array_equal(_bits(a), _bits(b))


def is_uniform(array: np.ndarray) -> bool:
    """Whether every element has the bits of the first (true for empty arrays)."""
    bits = _bits(array).reshape(-1)
    return bits.size == 0 or bool(np.all(bits == bits[0]))


def _bits(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    return array.view(np.dtype(f"u{array.dtype.itemsize}"))


def const_value(array: np.ndarray):
    """The ``value`` attribute of a const holding ``array``: one number if it is uniform,
    else a nested list."""
    if array.size == 0:
        return array.dtype.type(0).item()  # any number will do: there are no elements
    if is_uniform(array):
        return array.reshape(-1)[0].item()
    return array.tolist()


class Constants:
    """The arrays of ``const`` values, computed once each (the cache keeps its values alive,
    so ``id`` keys stay unique), and the building of new ``const`` nodes."""

    def __init__(self) -> None:
        self._arrays: dict[int, tuple[Value, np.ndarray]] = {}

    def array(self, value: Value) -> np.ndarray:
        """The array a const value holds (read-only: it may be shared)."""
        cached = self._arrays.get(id(value))
        if cached is None:
            node = value.producer
            if node is None or node.op != "const":
                raise ValueError(f"{value!r} is not the result of a const node")
            with quiet_float_errors():
                array = evaluate(node.opdef, [], node.attrs, value.type)
            array.flags.writeable = False
            cached = self._arrays[id(value)] = (value, array)
        return cached[1]

    def add(self, graph: Graph, array: np.ndarray, *, before: Node | None = None,
            loc: SourceLoc | None = None, fill=None) -> Node:
        """A new const node holding ``array`` (inserted ``before`` a node, or appended).

        ``fill``, when given, is the number to write for a uniform array (a const's original
        attribute, so that ``0.1`` stays ``0.1`` rather than the float64 of its f32 value).
        """
        value = fill if fill is not None and is_uniform(array) else const_value(array)
        attrs = {"value": value, "dtype": dtypes.from_numpy(array.dtype),
                 "shape": list(array.shape)}
        return graph.add_node("const", [], attrs, loc, before=before)
