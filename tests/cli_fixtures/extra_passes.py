"""Passes that exist only for tests, loaded as a plugin (``graphc opt --plugin FILE.py``).

``swap-add-sub`` miscompiles on purpose (every ``add`` becomes ``sub``), ``break-types``
returns a graph that does not verify, ``count-runs`` records each graph it sees, and
``option-zoo`` declares an option of every supported kind. Not collected by pytest (see
tests/conftest.py): importing it registers the passes.
"""
from __future__ import annotations

from typing import Literal

from ir.graph import Graph
from ir.types import TensorType
from passes import Pass, PassResult, option, register

SEEN: list = []  # (pass name, number of nodes) per run of count-runs


@register
class SwapAddSub(Pass):
    """Miscompiles on purpose: rewrites every add into sub."""

    name = "swap-add-sub"

    def apply(self, graph: Graph) -> PassResult:
        adds = [node for node in graph.nodes if node.op == "add"]
        for node in adds:
            node.op = "sub"
        return PassResult(graph, bool(adds))


@register
class BreakTypes(Pass):
    """Returns a graph that does not verify: the first node's result type is wrong."""

    name = "break-types"

    def apply(self, graph: Graph) -> PassResult:
        value = graph.nodes[0].output
        value.type = TensorType(value.type.dtype, value.type.shape + (7,))
        return PassResult(graph, True)


@register
class CountRuns(Pass):
    """Changes nothing; records the node count of each graph it sees in SEEN."""

    name = "count-runs"

    def apply(self, graph: Graph) -> PassResult:
        SEEN.append((self.name, len(graph.nodes)))
        return PassResult(graph, False)


@register
class OptionZoo(Pass):
    """Changes nothing; declares one option of every kind a pass may take."""

    name = "option-zoo"
    max_ops: int = option(32, "an int")
    ratio: float = option(0.5, "a float")
    fast: bool = option(False, "a bool")
    label: str = option("x", "a string")
    mode: Literal["greedy", "optimal"] = option("greedy", "one of two choices")
    sizes: tuple[int, ...] = option((), "a list of ints")
    names: tuple[str, ...] = option(("a", "b"), "a list of strings")
    limit: int | None = option(None, "an optional int")

    def apply(self, graph: Graph) -> PassResult:
        return PassResult(graph, False)
