"""The NumPy reference interpreter: the semantic oracle every other backend is tested against.

    >>> import ir, numpy as np, backends
    >>> g = ir.parse('''func @f(%x: f32[2]) -> (f32[2]) {
    ...   %0: f32[2] = mul %x, %x
    ...   return %0
    ... }''')
    >>> backends.get("interpreter").compile(g)(np.array([1, 2], np.float32))
    (array([1., 4.], dtype=float32),)

It runs every node's registry reference in order, and a ``fused`` node by running its body
the same way, so any graph an optimization produces stays executable by the oracle.
"""
from __future__ import annotations

import functools

import numpy as np

from backends.base import Backend, Executable, ExecutionError, check_inputs
from backends.profiling import StepInfo, StepRecorder, node_info, timed_steps
from ir.evaluate import evaluate_results, quiet_float_errors
from ir.graph import Graph, Node
from ir.registry import OpDef
from ir.registry import get as get_op

__all__ = ["ExecutionError", "InterpretedGraph", "InterpreterBackend", "check_inputs"]


class _Step:
    """One node to run, its compiled body (fused nodes) and the values dead after it."""

    __slots__ = ("body", "dead", "node", "opdef")

    def __init__(self, node: Node, opdef: OpDef, body: InterpretedGraph | None,
                 dead: list[int]):
        self.node, self.opdef, self.body, self.dead = node, opdef, body, dead


class InterpretedGraph(Executable):
    """Executable form of a graph: call it with NumPy arrays, get a tuple of arrays back.

    Aliased outputs are returned as new arrays: the interpreter never writes into its inputs.
    """

    def __init__(self, graph: Graph):
        self.graph = graph
        self._steps: list[_Step] = []
        last_use: dict[int, int] = {}
        for index, node in enumerate(graph.nodes):
            for v in node.inputs:
                last_use[id(v)] = index
        keep = {id(v) for v in graph.outputs}
        for index, node in enumerate(graph.nodes):
            # values whose last reader is this node, and results nobody reads, are dropped
            # right after it runs
            dead = [id(v) for v in set(node.inputs)
                    if last_use[id(v)] == index and id(v) not in keep]
            dead += [id(v) for v in node.outputs if id(v) not in last_use and id(v) not in keep]
            body = InterpretedGraph(node.body) if node.body is not None else None
            self._steps.append(_Step(node, get_op(node.op), body, dead))
        self._step_infos: list[StepInfo] | None = None  # made when first profiled

    def __call__(self, *arrays):
        with quiet_float_errors():
            return self._run(check_inputs(self.graph, arrays))

    def _run(self, arrays) -> tuple:
        env: dict[int, np.ndarray] = {}
        for value, array in zip(self.graph.inputs, arrays):
            env[id(value)] = array
        for step in self._steps:
            self._run_step(step, env)
        return tuple(env[id(v)] for v in self.graph.outputs)

    def _run_step(self, step: _Step, env: dict[int, np.ndarray]) -> None:
        node = step.node
        operands = [env[id(v)] for v in node.inputs]
        if step.body is not None:
            results = step.body._run(operands)
        else:
            try:
                results = evaluate_results(step.opdef, operands, node.attrs, node.result_types)
            except (IndexError, ValueError, FloatingPointError) as exc:
                where = f" (from {node.loc})" if node.loc else ""
                raise ExecutionError(f"{node.op} failed{where}: {exc}") from exc
        for value, result in zip(node.outputs, results):
            env[id(value)] = result
        for key in step.dead:
            del env[key]

    def run_profiled(self, arrays, record: StepRecorder) -> tuple:
        """Runs as a call does, recording each top-level node (a fused node as one step)."""
        checked = check_inputs(self.graph, arrays)
        if self._step_infos is None:
            self._step_infos = [node_info(step.node, self.graph.name) for step in self._steps]
        env: dict[int, np.ndarray] = {}
        for value, array in zip(self.graph.inputs, checked):
            env[id(value)] = array
        with quiet_float_errors():
            timed_steps([(info, functools.partial(self._run_step, step, env))
                         for info, step in zip(self._step_infos, self._steps)], record)
        return tuple(env[id(v)] for v in self.graph.outputs)

    def source(self) -> str:
        """The interpreter runs the IR itself, so its 'source' is the IR text."""
        return str(self.graph)


class InterpreterBackend(Backend):
    """Runs graphs with the NumPy references; needs no lowering."""

    name = "interpreter"
    lowering = ""  # the pipeline this backend needs after the default one: none

    def compile(self, graph: Graph) -> InterpretedGraph:
        return InterpretedGraph(graph)
