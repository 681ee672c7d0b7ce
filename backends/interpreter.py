"""The NumPy reference interpreter: the semantic oracle every other backend is tested against.

    >>> import ir, numpy as np, backends
    >>> g = ir.parse('''func @f(%x: f32[2]) -> (f32[2]) {
    ...   %0: f32[2] = mul %x, %x
    ...   return %0
    ... }''')
    >>> backends.get("interpreter").compile(g)(np.array([1, 2], np.float32))
    (array([1., 4.], dtype=float32),)
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ir.dtypes import from_numpy
from ir.evaluate import evaluate, quiet_float_errors
from ir.graph import Graph
from ir.types import TensorType
from ir.registry import get as get_op


class ExecutionError(Exception):
    """Inputs that do not match the graph's signature, or an op that failed at run time."""


def check_inputs(graph: Graph, arrays: Sequence) -> list[np.ndarray]:
    """Converts and checks run-time inputs against the graph's typed signature."""
    if len(arrays) != len(graph.inputs):
        raise ExecutionError(f"@{graph.name} takes {len(graph.inputs)} input(s), got {len(arrays)}")
    checked = []
    for value, array in zip(graph.inputs, arrays):
        array = np.asarray(array)
        if array.shape == value.type.shape and array.dtype == value.type.dtype.numpy:
            checked.append(array)
            continue
        try:
            got = str(TensorType(from_numpy(array.dtype), array.shape))
        except TypeError:
            got = f"{array.dtype}{list(array.shape)}"
        if got != str(value.type):
            raise ExecutionError(f"input %{value.name} expects {value.type}, got {got}")
        checked.append(array)
    return checked


class InterpretedGraph:
    """Executable form of a graph: call it with NumPy arrays, get a tuple of arrays back."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self._steps = []
        last_use: dict[int, int] = {}
        for index, node in enumerate(graph.nodes):
            for v in node.inputs:
                last_use[id(v)] = index
        keep = {id(v) for v in graph.outputs}
        for index, node in enumerate(graph.nodes):
            # values whose last reader is this node are dropped right after it runs
            dead = [id(v) for v in set(node.inputs)
                    if last_use[id(v)] == index and id(v) not in keep]
            self._steps.append((node, get_op(node.op), dead))

    def __call__(self, *arrays):
        env: dict[int, np.ndarray] = {}
        for value, array in zip(self.graph.inputs, check_inputs(self.graph, arrays)):
            env[id(value)] = array
        with quiet_float_errors():
            for node, opdef, dead in self._steps:
                try:
                    env[id(node.output)] = evaluate(opdef, [env[id(v)] for v in node.inputs],
                                                    node.attrs, node.output.type)
                except (IndexError, ValueError, FloatingPointError) as exc:
                    where = f" (from {node.loc})" if node.loc else ""
                    raise ExecutionError(f"{node.op} failed{where}: {exc}") from exc
                for key in dead:
                    del env[key]
        return tuple(env[id(v)] for v in self.graph.outputs)

    def source(self) -> str:
        """The interpreter runs the IR itself, so its 'source' is the IR text."""
        return str(self.graph)


class InterpreterBackend:
    name = "interpreter"
    lowering = ""  # the pipeline this backend needs after the default one: none

    def compile(self, graph: Graph) -> InterpretedGraph:
        return InterpretedGraph(graph)
