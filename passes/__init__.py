"""Graph -> Graph passes, a registry of them, and pipelines written as strings.

    >>> import ir, passes
    >>> g = ir.parse('''func @f(%x: f32[2]) -> (f32[2]) {
    ...   %0: f32[2] = exp %x
    ...   %1: f32[2] = neg %x
    ...   return %1
    ... }''')
    >>> len(passes.run(g, "dce").nodes)
    1
"""
from __future__ import annotations

import inspect
from typing import Callable

from ir.graph import Graph

PASSES: dict[str, Callable[..., Graph]] = {}


class PassError(Exception):
    """An unknown pass or a malformed pipeline string."""


def register(name: str):
    """Decorator adding a ``Graph -> Graph`` function to the pass table under ``name``."""
    def wrap(fn):
        PASSES[name] = fn
        return fn
    return wrap


def parse_pipeline(text: str) -> list[tuple[str, dict]]:
    """``"dce,fuse{max-ops=32}"`` -> ``[("dce", {}), ("fuse", {"max-ops": 32})]``."""
    result = []
    for item in filter(None, (s.strip() for s in _split_top(text))):
        name, _, rest = item.partition("{")
        options = {}
        if rest:
            if not rest.endswith("}"):
                raise PassError(f"pass options of {name!r} must end with '}}': {item!r}")
            for opt in filter(None, rest[:-1].split(",")):
                key, _, value = opt.partition("=")
                options[key.strip()] = _option_value(value.strip())
        if name not in PASSES:
            raise PassError(f"unknown pass {name!r}; known passes: {', '.join(sorted(PASSES))}")
        _check_options(name, options)
        result.append((name, options))
    return result


def _check_options(name: str, options: dict) -> None:
    """Rejects options the pass function does not take, naming the ones it does."""
    parameters = list(inspect.signature(PASSES[name]).parameters)[1:]
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        raise PassError(f"pass {name!r} does not take option(s) {', '.join(unknown)}; "
                        f"its options: {', '.join(parameters) or 'none'}")


def _split_top(text):
    depth, start = 0, 0
    for i, c in enumerate(text):
        depth += (c == "{") - (c == "}")
        if c == "," and depth == 0:
            yield text[start:i]
            start = i + 1
    yield text[start:]


def _option_value(text: str):
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text, text)


def run(graph: Graph, pipeline: str) -> Graph:
    """Runs the passes of ``pipeline`` in order."""
    for name, options in parse_pipeline(pipeline):
        graph = PASSES[name](graph, **options)
    return graph


@register("dce")
def dce(graph: Graph) -> Graph:
    """Dead code elimination: drops nodes whose results nothing uses (in place; returns graph)."""
    live = {id(v) for v in graph.outputs}
    for node in reversed(graph.nodes):
        if id(node.output) in live:
            live.update(id(v) for v in node.inputs)
    dead = {id(n) for n in graph.nodes if id(n.output) not in live}
    if not dead:
        return graph
    # one pass over nodes and use lists (removing nodes one by one is quadratic)
    touched = {id(v): v for n in graph.nodes if id(n) in dead for v in n.inputs}
    for value in touched.values():
        value.users = [u for u in value.users if id(u) not in dead]
    graph.nodes = [n for n in graph.nodes if id(n) not in dead]
    return graph


from passes import autodiff  # noqa: E402,F401  (registers the autodiff pass)
