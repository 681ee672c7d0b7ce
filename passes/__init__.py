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
import re
import typing
from typing import Callable

from ir.graph import Graph

PASSES: dict[str, Callable[..., Graph]] = {}


class PassError(Exception):
    """An unknown pass, a malformed pipeline string, or options a pass cannot use."""


def register(name: str):
    """Decorator adding a ``Graph -> Graph`` function to the pass table under ``name``."""
    def wrap(fn):
        PASSES[name] = fn
        return fn
    return wrap


def parse_pipeline(text: str) -> list[tuple[str, dict]]:
    """Reads a pipeline: passes separated by commas, each ``NAME`` or ``NAME{key=value,...}``.

    Option values are converted to the types the pass function annotates (``int``, ``float``,
    ``str``, and ``bool``, written ``true`` or ``false``); anything malformed, an unknown pass
    or option, or a value of the wrong type is a :class:`PassError`::

        >>> parse_pipeline("dce, autodiff{output=0, wrt=0:2, cotangent=true}")
        [('dce', {}), ('autodiff', {'output': 0, 'wrt': '0:2', 'cotangent': True})]
        >>> parse_pipeline("autodiff{output=1.5}")
        Traceback (most recent call last):
        ...
        passes.PassError: pass 'autodiff': option 'output' expects an int, got '1.5'
    """
    result = []
    for item in filter(None, (s.strip() for s in _split_top(text))):
        match = _ITEM.fullmatch(item)
        if match is None:
            if item.count("{") > item.count("}"):
                raise PassError(f"unterminated '{{' in pipeline item {item!r} "
                                f"(options end with '}}')")
            raise PassError(f"cannot read pipeline item {item!r}; expected NAME or "
                            f"NAME{{key=value,...}}")
        name, body = match.group(1), match.group(2) or ""
        if name not in PASSES:
            raise PassError(f"unknown pass {name!r}; known passes: {', '.join(sorted(PASSES))}")
        raw: dict[str, str] = {}
        for opt in filter(None, (o.strip() for o in body.split(","))):
            key, eq, value = (part.strip() for part in opt.partition("="))
            if not key or not eq or not value:
                raise PassError(f"pass {name!r}: option {opt!r} must be written key=value")
            if key in raw:
                raise PassError(f"pass {name!r}: option {key!r} is given twice")
            raw[key] = value
        _check_options(name, raw)
        result.append((name, _convert_options(name, raw)))
    return result


# NAME or NAME{...}; the braces hold no braces (an unterminated '{' fails to match)
_ITEM = re.compile(r"([^\s{},=]+)\s*(?:\{([^{}]*)\})?")


def _check_options(name: str, options: dict) -> None:
    """Rejects options the pass function does not take, naming the ones it does."""
    parameters = list(inspect.signature(PASSES[name]).parameters)[1:]
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        raise PassError(f"pass {name!r} does not take option(s) {', '.join(unknown)}; "
                        f"its options: {', '.join(parameters) or 'none'}")


def _convert_options(name: str, raw: dict[str, str]) -> dict:
    """Converts option texts to the pass function's annotated types (unannotated: guessed)."""
    try:
        hints = typing.get_type_hints(PASSES[name])
    except Exception:  # annotations that do not resolve: fall back to guessing
        hints = {}
    options = {}
    for key, text in raw.items():
        kind = hints.get(key)
        if typing.get_origin(kind) is typing.Union:  # Optional[X] -> X
            kind = next((a for a in typing.get_args(kind) if a is not type(None)), None)
        if kind not in _CONVERTERS:
            options[key] = _option_value(text)
            continue
        what, convert = _CONVERTERS[kind]
        try:
            options[key] = convert(text)
        except ValueError:
            raise PassError(f"pass {name!r}: option {key!r} expects {what}, "
                            f"got {text!r}") from None
    return options


def _to_bool(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError(text)
    return text == "true"


def _to_int(text: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError(text)
    return int(text)  # more than 4300 digits is a ValueError too


_CONVERTERS = {bool: ("true or false", _to_bool), int: ("an int", _to_int),
               float: ("a number", float), str: ("a string", str)}


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
    """Dead code elimination: drops nodes none of whose results is used, in bodies too (in
    place; returns graph)."""
    live = {id(v) for v in graph.outputs}
    for node in reversed(graph.nodes):
        if any(id(v) in live for v in node.outputs):
            live.update(id(v) for v in node.inputs)
    dead = {id(n) for n in graph.nodes if not any(id(v) in live for v in n.outputs)}
    for node in graph.nodes:
        if node.body is not None and id(node) not in dead:
            dce(node.body)
    if not dead:
        return graph
    # one pass over nodes and use lists (removing nodes one by one is quadratic)
    touched = {id(v): v for n in graph.nodes if id(n) in dead for v in n.inputs}
    for value in touched.values():
        value.users = [u for u in value.users if id(u) not in dead]
    graph.nodes = [n for n in graph.nodes if id(n) not in dead]
    return graph


from passes import autodiff  # noqa: E402,F401  (registers the autodiff pass)
