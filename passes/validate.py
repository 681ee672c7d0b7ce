"""Numeric validation of passes: domain-aware seeded inputs, comparison, reproducers.

The pass manager runs the reference interpreter on the same inputs before and after each pass
(``PassManager(..., validate=True)``). This module holds the pieces:

* :data:`OPERAND_DOMAINS`, the one table of what values an op's operands must take for the
  reference to be meaningful (positive bases for ``log``, probabilities for
  ``binary_cross_entropy``, in-range indices for ``gather``), and :func:`input_domains`, which
  carries those requirements back through ops that pass values along unchanged (reshape,
  transpose, broadcast, slice, concat, pad, cast, ``where``'s branches) to the graph inputs;
* :func:`make_inputs`: seeded arrays in those domains;
* :func:`compare`: outputs equal bitwise (ints, bools) or within :data:`TOLERANCES` (floats);
* :func:`write_reproducer`: ``before.gir``, ``inputs.npz``, ``pipeline.txt``, ``README.txt``.

    >>> import ir
    >>> g = ir.parse('''func @f(%x: f32[4], %i: i64[2]) -> (f32[2]) {
    ...   %0: f32[4] = log %x
    ...   %1: f32[2] = gather %0, %i {axis=0}
    ...   return %1
    ... }''')
    >>> input_domains(g)
    {'x': Domain(low=0.25, high=4.0), 'i': Domain(low=0, high=4)}
    >>> x, i = make_inputs(g, seed=0).values()
    >>> bool(x.min() >= 0.25 and i.max() < 4)
    True
"""
from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ir.dtypes import from_numpy
from ir.graph import Graph, Node, Value
from ir.printer import value_names


@dataclass(frozen=True)
class Domain:
    """Values in ``[low, high)``; None is unbounded. Integers are drawn from the integers in it."""

    low: float | None = None
    high: float | None = None

    def __and__(self, other: Domain) -> Domain:
        """The intersection (an empty one keeps the tighter bound that was declared first)."""
        low = _pick(max, self.low, other.low)
        high = _pick(min, self.high, other.high)
        if low is not None and high is not None and low >= high:
            return self
        return Domain(low, high)


def _pick(choose, a, b):
    if a is None or b is None:
        return b if a is None else a
    return choose(a, b)


POSITIVE = Domain(0.25, 4.0)  # away from 0 too: divisors, log/sqrt/rsqrt arguments, pow bases
PROBABILITY = Domain(0.05, 0.95)  # strictly inside (0, 1): BCE's clamps never decide a result
UNIT = Domain(0.0, 1.0)  # BCE targets
ABOVE_ONE = Domain(1.25, 4.0)  # acosh's arguments


def _index_range(data_operand: int):
    """Indices valid for ``node.inputs[data_operand]`` along ``axis``."""
    def domain(node: Node) -> Domain:
        shape = node.inputs[data_operand].type.shape
        axis = node.attrs["axis"] % len(shape) if shape else 0
        return Domain(0, shape[axis] if shape else 1)
    return domain


# What each op needs of its operands: op -> {operand index: Domain, or node -> Domain}.
OPERAND_DOMAINS: dict[str, dict[int, Domain | Callable[[Node], Domain]]] = {
    "log": {0: POSITIVE},
    "log1p": {0: POSITIVE},
    "sqrt": {0: POSITIVE},
    "rsqrt": {0: POSITIVE},
    "reciprocal": {0: POSITIVE},
    "div": {1: POSITIVE},
    "pow": {0: POSITIVE},
    "binary_cross_entropy": {0: PROBABILITY, 1: UNIT},
    # integer division by zero raises; the inverse functions' real domains
    "floor_divide": {1: POSITIVE}, "trunc_divide": {1: POSITIVE}, "remainder": {1: POSITIVE},
    "fmod": {1: POSITIVE}, "log2": {0: POSITIVE}, "log10": {0: POSITIVE}, "xlogy": {1: POSITIVE},
    "asin": {0: PROBABILITY}, "acos": {0: PROBABILITY}, "atanh": {0: PROBABILITY},
    "acosh": {0: ABOVE_ONE},
    "gather": {1: _index_range(0)},
    "scatter_add": {1: _index_range(0)},
    "scatter": {1: _index_range(0)},
    "scatter_reduce": {1: _index_range(0)},
}

# Ops whose result elements are copies of operand elements: a requirement on the result is one
# on these operands (None: all of them).
_PASS_THROUGH: dict[str, tuple[int, ...] | None] = {
    "reshape": None, "transpose": None, "broadcast_to": None, "slice": None, "concat": None,
    "pad": (0,), "cast": None, "stop_gradient": None, "where": (1, 2),
}


def input_domains(graph: Graph) -> dict[str, Domain]:
    """The domain each graph input must be drawn from (inputs without requirements are absent)."""
    required: dict[int, Domain] = {}

    def require(value: Value, domain: Domain) -> None:
        previous = required.get(id(value))
        required[id(value)] = domain if previous is None else previous & domain

    for node in reversed(graph.nodes):  # users before producers
        for index, rule in OPERAND_DOMAINS.get(node.op, {}).items():
            if index < len(node.inputs):
                require(node.inputs[index], rule(node) if callable(rule) else rule)
        if node.op in _PASS_THROUGH and id(node.output) in required:
            indices = _PASS_THROUGH[node.op]
            for index in range(len(node.inputs)) if indices is None else indices:
                require(node.inputs[index], required[id(node.output)])
    return {input_name(v): required[id(v)] for v in graph.inputs if id(v) in required}


def input_name(value: Value) -> str:
    """A graph input's name (the verifier makes sure every input has one)."""
    return value.name or ""


def make_inputs(graph: Graph, seed: int = 0,
                given: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Seeded arrays for the graph's inputs, by name, each in its :func:`input_domains` domain.

    Unconstrained floats are standard normal, integers uniform in [0, 10), bools fair coin
    flips. Arrays in ``given`` are used as they are. Each input's array depends only on the
    seed and the input's name, so inputs a pass appends get arrays without disturbing others.
    """
    domains = input_domains(graph)
    arrays = {}
    for value in graph.inputs:
        name = input_name(value)
        if given is not None and name in given:
            arrays[name] = np.asarray(given[name])
            continue
        rng = np.random.default_rng([seed, *name.encode()])
        arrays[name] = _random(value, domains.get(name, Domain()), rng)
    return arrays


def _random(value: Value, domain: Domain, rng: np.random.Generator) -> np.ndarray:
    dtype, shape = value.type.dtype, value.type.shape
    if dtype.is_float:
        if domain.low is None and domain.high is None:
            array = rng.standard_normal(shape)
        else:
            low = domain.low if domain.low is not None else domain.high - 4.0  # type: ignore
            high = domain.high if domain.high is not None else low + 4.0
            array = rng.uniform(low, high, shape)
        return array.astype(dtype.numpy)
    if dtype.is_int:
        low = 0 if domain.low is None else math.ceil(domain.low)
        high = low + 10 if domain.high is None else math.ceil(domain.high)
        return rng.integers(low, max(high, low + 1), size=shape).astype(dtype.numpy)
    return rng.integers(0, 2, size=shape).astype(np.bool_)


class ReferenceFailed(Exception):
    """The reference interpreter could not run the graph (the message says why)."""


def run_reference(graph: Graph, arrays: Mapping[str, np.ndarray]) -> tuple:
    """The graph's outputs under the reference interpreter, inputs taken by name."""
    # The oracle lives in backends (which may call passes for lowering): import it late.
    from backends.interpreter import ExecutionError, InterpretedGraph
    try:
        return InterpretedGraph(graph)(*(arrays[input_name(v)] for v in graph.inputs))
    except (ExecutionError, ZeroDivisionError) as exc:  # (integer division by zero)
        raise ReferenceFailed(str(exc)) from exc


# -- comparison ----------------------------------------------------------------------------------

# A pass may reorder float arithmetic (reassociate, fuse, fold constants), so results may differ
# by rounding: about a thousand ulps in f32, a few hundred thousand in f64 (long reductions).
TOLERANCES = {"f32": {"rtol": 1e-4, "atol": 1e-5}, "f64": {"rtol": 1e-9, "atol": 1e-12},
              # a pass may move one f16/bf16 rounding: a few ulps of their precision
              "f16": {"rtol": 4e-3, "atol": 1e-4}, "bf16": {"rtol": 3e-2, "atol": 1e-4}}


@dataclass
class Mismatch:
    """How one output differs: which output, and a readable description."""

    output: int
    description: str
    max_error: float = math.nan


def compare(before: Sequence[np.ndarray], after: Sequence[np.ndarray],
            labels: Sequence[str]) -> Mismatch | None:
    """The first output of ``after`` that differs from ``before`` (outputs ``after`` appended are
    not compared), or None. Integers and bools must be equal; floats within
    :data:`TOLERANCES` of their dtype, NaN where NaN was, infinities of the same sign."""
    if len(after) < len(before):
        return Mismatch(len(after), f"the graph has {len(after)} output(s) after the pass, "
                                    f"{len(before)} before")
    for index, (old, new, label) in enumerate(zip(before, after, labels)):
        old, new = np.asarray(old), np.asarray(new)
        if old.shape != new.shape or old.dtype != new.dtype:
            return Mismatch(index, f"output {index} ({label}) was {old.dtype}{list(old.shape)}, "
                                   f"is {new.dtype}{list(new.shape)}")
        dtype = from_numpy(old.dtype)
        if not dtype.is_float:
            if not np.array_equal(old, new):
                differ = int(np.count_nonzero(old != new))
                return Mismatch(index, f"output {index} ({label}) differs in {differ} of "
                                       f"{old.size} element(s) (must be equal)")
            continue
        tol = TOLERANCES[dtype.name]
        close = np.isclose(new.astype(np.float64), old.astype(np.float64), equal_nan=True, **tol)
        if close.all():
            continue
        with np.errstate(invalid="ignore", over="ignore"):
            error = np.abs(new.astype(np.float64) - old.astype(np.float64))
        error = np.where(close, 0.0, np.nan_to_num(error, nan=np.inf))
        where = np.unravel_index(int(np.argmax(error)), old.shape)
        worst = float(error[where])
        return Mismatch(index, f"output {index} ({label}) changed: max abs error {worst:.3g} at "
                               f"index {list(map(int, where))} ({old[where]!r} -> "
                               f"{new[where]!r}); allowed for {old.dtype}: rtol={tol['rtol']}, "
                               f"atol={tol['atol']}", worst)
    return None


# -- reproducers ---------------------------------------------------------------------------------

def write_reproducer(graph_text: str, inputs: Mapping[str, np.ndarray], pass_text: str,
                     reason: str, directory: str | None = None,
                     plugin: str | None = None) -> str:
    """Writes ``before.gir``, ``inputs.npz``, ``pipeline.txt`` and ``README.txt`` into
    ``directory`` (a new temporary directory if None) and returns its path."""
    if directory is None:
        directory = tempfile.mkdtemp(prefix="graphc-reproducer-")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "before.gir"), "w", encoding="utf-8") as f:
        f.write(graph_text + "\n")
    np.savez(os.path.join(directory, "inputs.npz"), **dict(inputs))  # type: ignore[arg-type]
    with open(os.path.join(directory, "pipeline.txt"), "w", encoding="utf-8") as f:
        f.write(pass_text + "\n")
    with open(os.path.join(directory, "README.txt"), "w", encoding="utf-8") as f:
        f.write(readme(pass_text, reason, plugin))
    return directory


def replay_command(pass_text: str, plugin: str | None = None) -> str:
    """The command line that replays a reproducer from inside its directory."""
    quoted = "'" + pass_text.replace("'", "'\\''") + "'"
    command = f"graphc opt before.gir -p {quoted} --validate --inputs inputs.npz"
    if plugin is not None:
        command += f" --plugin {plugin}"
    return command


def readme(pass_text: str, reason: str, plugin: str | None = None) -> str:
    return (f"graphc pass validation failure\n\n"
            f"The pass `{pass_text}` changed the results of the graph in before.gir (the graph\n"
            f"the pass received) on the inputs in inputs.npz:\n\n    {reason}\n\n"
            f"Replay it from this directory (it fails again the same way):\n\n"
            f"    {replay_command(pass_text, plugin)}\n\n"
            f"pipeline.txt holds the pass with its options.\n")


def label_outputs(graph: Graph) -> list[str]:
    """``%3: f32[4]`` for each output, as the IR text names it."""
    names = value_names(graph)  # results of multi-result nodes numbered as printed
    return [f"{names.get(id(v), '?')}: {v.type}" for v in graph.outputs]

