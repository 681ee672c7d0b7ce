"""Declaring passes, the table of them, and pipelines written as text.

A pass is declared once, as a small class with a one-line docstring (its doc), a ``name`` and
typed options (dataclass fields), and registered with :func:`register`::

    @register
    class Fuse(Pass):
        '''Groups elementwise chains into fused nodes.'''
        name = "fuse"
        max_ops: int = option(32, "largest group to form")

        def apply(self, graph: Graph) -> PassResult:
            ...

**The contract.** ``apply(graph)`` returns ``PassResult(graph, changed)``: the graph to use from
now on (a new graph, or the one it was given, rewritten in place) and whether anything changed.
A pass may mutate its input, so the caller must use the returned graph and never the input again
(:class:`passes.manager.PassManager` snapshots what it needs beforehand). A pass keeps the
graph's meaning; it may only *append* inputs and outputs (``autodiff`` does).

**Pipeline text.** Passes separated by commas, each ``NAME`` or ``NAME{key=value,...}``.
Option names are the field names with ``_`` written ``-`` (``max_ops`` is ``max-ops``). Values:
``true``/``false`` for bools, decimal integers, floats as Python writes them (``1e-05``,
``inf``), strings bare (letters, digits and ``_ . + - / :``) or double-quoted with backslash
escapes, and lists in brackets: ``autodiff{wrt=[0,2]}`` (a single value is a one-element list,
``wrt=1``). A pass prints itself back in that form, with only the options that differ from their
defaults, so ``parse_pipeline(str(p)) == p``::

    >>> p = parse_pipeline("dce, autodiff{ wrt=[0, 2], cotangent=true }")
    >>> str(p)
    'dce,autodiff{wrt=[0,2],cotangent=true}'
    >>> parse_pipeline(str(p)) == p
    True
    >>> parse_pipeline("autodiff{output=1.5}")
    Traceback (most recent call last):
    ...
    passes.registry.PassError: pass 'autodiff': option 'output' expects an int, got '1.5'
"""
from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import json
import os
import re
import sys
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal, NamedTuple, Union

from ir.graph import Graph


class PassError(Exception):
    """An unknown pass, a malformed pipeline, options a pass cannot use, or a pass that failed."""


class PassResult(NamedTuple):
    """What a pass returns: the graph to use from now on, and whether the pass changed it."""

    graph: Graph
    changed: bool


def option(default: Any = None, doc: str = "") -> Any:
    """Declares a pass option with its default and a short description (shown by
    ``graphc passes``); a plain default (``max_ops: int = 32``) works too."""
    return dataclasses.field(default=default, metadata={"doc": doc})


class Pass:
    """Base class of every pass; subclasses are frozen dataclasses made by :func:`register`."""

    name: ClassVar[str] = ""
    doc: ClassVar[str] = ""

    def apply(self, graph: Graph) -> PassResult:
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        """The option values, keyed by field name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore

    def __str__(self) -> str:
        """The pass as pipeline text, naming only options that differ from their defaults."""
        parts = [f"{_text_name(spec.name)}={format_value(getattr(self, spec.name))}"
                 for spec in option_specs(type(self))
                 if getattr(self, spec.name) != spec.default]
        return f"{self.name}{{{','.join(parts)}}}" if parts else self.name

    def __post_init__(self) -> None:
        # Options set from Python get the same checks as options read from text.
        for spec in option_specs(type(self)):
            value = getattr(self, spec.name)
            object.__setattr__(self, spec.name, spec.check(self.name, value))


# -- option types --------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class OptionSpec:
    """One declared option: field name, type, default and doc."""

    name: str
    type: Any
    default: Any
    doc: str

    @property
    def text_name(self) -> str:
        return _text_name(self.name)

    @property
    def type_name(self) -> str:
        """``int``, ``list of int``, ``one of a|b``, ``float or none``..."""
        return _type_name(self.type)

    def check(self, pass_name: str, value: Any) -> Any:
        """``value`` converted to the declared type (lists to tuples), or a :class:`PassError`."""
        try:
            return _check_value(self.type, value)
        except ValueError:
            raise PassError(f"pass {pass_name!r}: option {self.text_name!r} expects "
                            f"{_expectation(self.type)}, got {value!r}") from None

    def parse(self, pass_name: str, text: str | list) -> Any:
        """Converts an option's text (a list of texts for ``[...]``) to the declared type."""
        try:
            return _parse_value(self.type, text)
        except ValueError:
            shown = text if isinstance(text, str) else f"[{','.join(text)}]"
            raise PassError(f"pass {pass_name!r}: option {self.text_name!r} expects "
                            f"{_expectation(self.type)}, got {shown!r}") from None


def option_specs(cls: type) -> list[OptionSpec]:
    """The options a pass class declares, in declaration order."""
    hints = typing.get_type_hints(cls)
    return [OptionSpec(f.name, hints[f.name], f.default, f.metadata.get("doc", ""))
            for f in dataclasses.fields(cls)]


def _text_name(field_name: str) -> str:
    return field_name.replace("_", "-")


def _optional_of(kind) -> Any:
    """``X`` for ``Optional[X]``, else None."""
    if typing.get_origin(kind) in (Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(kind)) == 2:
            return args[0]
    return None


def _list_item(kind) -> Any:
    """``T`` for ``tuple[T, ...]``, else None."""
    if typing.get_origin(kind) is tuple:
        args = typing.get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return args[0]
    return None


def _type_name(kind) -> str:
    inner = _optional_of(kind)
    if inner is not None:
        return f"{_type_name(inner)} (optional)"
    item = _list_item(kind)
    if item is not None:
        return f"list of {_type_name(item)}"
    if typing.get_origin(kind) is Literal:
        return "one of " + "|".join(str(a) for a in typing.get_args(kind))
    return getattr(kind, "__name__", str(kind))


def _expectation(kind) -> str:
    """How an error message says what a value of ``kind`` looks like."""
    inner = _optional_of(kind)
    if inner is not None:
        return _expectation(inner)
    item = _list_item(kind)
    if item is not None:
        example = "[0,2]" if item is int else "[a,b]"
        return f"a list of {_type_name(item)}s such as {example}"
    if typing.get_origin(kind) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(kind))
    return {bool: "true or false", int: "an int", float: "a number",
            str: "a string"}.get(kind, _type_name(kind))


def _check_value(kind, value):
    """Python-side type check; raises ValueError when ``value`` is not of ``kind``."""
    inner = _optional_of(kind)
    if inner is not None:
        return None if value is None else _check_value(inner, value)
    item = _list_item(kind)
    if item is not None:
        if not isinstance(value, (list, tuple)):
            raise ValueError(value)
        return tuple(_check_value(item, v) for v in value)
    if typing.get_origin(kind) is Literal:
        if value not in typing.get_args(kind):
            raise ValueError(value)
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(value)
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(value)
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(value)
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(value)
        return value
    raise TypeError(f"unsupported pass option type {kind!r}")


_INT = re.compile(r"[+-]?\d{1,18}")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf|nan)")


def _parse_value(kind, text):
    """Text-side conversion; ``text`` is a string, or a list of strings for ``[...]``."""
    inner = _optional_of(kind)
    if inner is not None:
        return _parse_value(inner, text)
    item = _list_item(kind)
    if item is not None:
        texts = text if isinstance(text, list) else [text]
        return tuple(_parse_value(item, t) for t in texts)
    if isinstance(text, list):
        raise ValueError(text)  # noqa: TRY004  (ValueError is this module's "cannot convert")
    if typing.get_origin(kind) is Literal:
        if text not in typing.get_args(kind):
            raise ValueError(text)
        return text
    if kind is bool:
        if text not in ("true", "false"):
            raise ValueError(text)
        return text == "true"
    if kind is int:
        if not _INT.fullmatch(text):
            raise ValueError(text)
        return int(text)
    if kind is float:
        if not _FLOAT.fullmatch(text):
            raise ValueError(text)
        return float(text)
    return text


_BARE = re.compile(r"[A-Za-z0-9_.+\-/:]+")


def format_value(value: Any) -> str:
    """An option value as pipeline text: `true`, `3`, `1e-05`, `[0,2]`, `"a b"`."""
    if isinstance(value, tuple):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str) and not _BARE.fullmatch(value):
        return json.dumps(value)
    return str(value)


# -- the table -----------------------------------------------------------------------------------

PASSES: dict[str, type[Pass]] = {}


def register(cls_or_name: type | str) -> Any:
    """Registers a pass class (made a frozen dataclass; its options are its fields).

    ``@register("name")`` on a plain function ``f(graph, **options) -> Graph`` is the older form,
    kept so that function passes still plug in: options come from the keyword parameters'
    annotations, and ``changed`` is judged by whether the node list changed.
    """
    if isinstance(cls_or_name, str):
        return lambda fn: register(_function_pass(cls_or_name, fn))
    cls = cls_or_name
    name = cls.__dict__.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_\-]*", name):
        raise ValueError(f"pass class {cls.__qualname__} needs a name such as 'dce' "
                         f"(lowercase letters, digits, '-' and '_')")
    doc = inspect.getdoc(cls) or ""
    if not doc or doc == inspect.getdoc(Pass):
        raise ValueError(f"pass {name!r} needs a docstring (its first line is its doc)")
    cls.doc = doc.splitlines()[0]  # type: ignore[attr-defined]
    cls = dataclasses.dataclass(frozen=True)(cls)
    option_specs(cls)  # annotations must resolve now, not when a pipeline is read
    previous = PASSES.get(name)
    if previous is not None and (previous.__module__, previous.__qualname__) != (
            cls.__module__, cls.__qualname__):
        raise ValueError(f"pass {name!r} is registered twice ({previous.__module__} and "
                         f"{cls.__module__})")
    PASSES[name] = cls
    return cls


def _function_pass(name: str, fn: Callable[..., Graph]) -> type:
    """A pass class wrapping a function pass ``fn(graph, **options) -> Graph``."""
    hints = typing.get_type_hints(fn)
    annotations, defaults = {}, {}
    for parameter in list(inspect.signature(fn).parameters.values())[1:]:
        kind = hints.get(parameter.name, str)
        default = None if parameter.default is inspect.Parameter.empty else parameter.default
        if default is None and _optional_of(kind) is None:
            kind = kind | None
        annotations[parameter.name] = kind
        defaults[parameter.name] = default

    def apply(self, graph: Graph) -> PassResult:
        before = [id(n) for n in graph.nodes]
        result = fn(graph, **self.options())
        return PassResult(result, result is not graph or [id(n) for n in result.nodes] != before)

    doc = (fn.__doc__ or name).strip().splitlines()[0]
    namespace = {"name": name, "apply": apply, "__doc__": doc, "__annotations__": annotations,
                 "__module__": fn.__module__, **defaults}
    return type(f"FunctionPass_{name.replace('-', '_')}", (Pass,), namespace)


def get(name: str) -> type[Pass]:
    """The pass class called ``name``; an unknown name lists the known ones."""
    if name not in PASSES:
        raise PassError(f"unknown pass {name!r}; known passes: {', '.join(sorted(PASSES))}")
    return PASSES[name]


_PLUGINS: dict[str, Any] = {}


def load_plugin(path: str) -> None:
    """Imports a Python file that registers passes (``graphc opt --plugin FILE.py``), once."""
    key = os.path.abspath(path)
    if key in _PLUGINS:
        return
    if not os.path.isfile(key):
        raise PassError(f"cannot load pass plugin {path!r}: no such file")
    module_name = "graphc_pass_plugin_" + re.sub(r"\W", "_", key)
    spec = importlib.util.spec_from_file_location(module_name, key)
    if spec is None or spec.loader is None:
        raise PassError(f"cannot load pass plugin {path!r}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit, GeneratorExit) as exc:  # sys.exit() in it too
        del sys.modules[module_name]
        raise PassError(f"loading pass plugin {path!r} failed: {type(exc).__name__}: "
                        f"{exc}") from exc
    _PLUGINS[key] = module


# -- pipelines -----------------------------------------------------------------------------------

class Pipeline(list):
    """A list of configured passes; ``str()`` gives its pipeline text."""

    def __str__(self) -> str:
        return ",".join(str(p) for p in self)


def parse_pipeline(text: str | Sequence[Pass]) -> Pipeline:
    """Reads pipeline text (see the module docstring) into configured passes.

    Anything malformed, an unknown pass or option, or a value of the wrong type is a
    :class:`PassError` that says what exists. A sequence of passes is accepted as it is.
    """
    if not isinstance(text, str):
        items = list(text)
        for i, item in enumerate(items):
            if not isinstance(item, Pass):
                raise PassError(f"item {i} of the pipeline is {item!r}, not a configured pass "
                                f"(a Pass instance such as passes.get('dce')()); or give the "
                                f"pipeline as text, 'dce,cse'")
        return Pipeline(items)
    result = Pipeline()
    for item in filter(None, (s.strip() for s in _split_top(text, "pipeline"))):
        match = _ITEM.fullmatch(item)
        if match is None:
            if _unclosed(item):
                raise PassError(f"unterminated '{{' in pipeline item {item!r} "
                                f"(options end with '}}')")
            raise PassError(f"cannot read pipeline item {item!r}; expected NAME or "
                            f"NAME{{key=value,...}}")
        name, body = match.group(1), match.group(2) or ""
        cls = get(name)
        result.append(cls(**_read_options(cls, body)))  # type: ignore[call-arg]
    return result


# NAME or NAME{...}; the body is checked by _read_options
_ITEM = re.compile(r'([^\s{},=\[\]"]+)\s*(?:\{((?:[^{}"]|"(?:[^"\\]|\\.)*")*)\})?', re.DOTALL)


def _read_options(cls: type[Pass], body: str) -> dict[str, Any]:
    specs = {spec.text_name: spec for spec in option_specs(cls)}
    options: dict[str, Any] = {}
    seen: set[str] = set()
    for opt in filter(None, (o.strip() for o in _split_top(body, f"pass {cls.name!r}"))):
        key, eq, value = (part.strip() for part in opt.partition("="))
        if not key or not eq or not value:
            raise PassError(f"pass {cls.name!r}: option {opt!r} must be written key=value")
        if key in seen:
            raise PassError(f"pass {cls.name!r}: option {key!r} is given twice")
        seen.add(key)
        if key not in specs:
            raise PassError(f"pass {cls.name!r} does not take option {key!r}; its options: "
                            f"{', '.join(specs) or 'none'}")
        spec = specs[key]
        options[spec.name] = spec.parse(cls.name, _read_value(value, cls.name, key))
    return options


def _read_value(text: str, pass_name: str, key: str) -> str | list:
    """A scalar text, or a list of scalar texts for ``[a,b]``; quoted strings are unquoted."""
    if text.startswith("["):
        if not text.endswith("]"):
            raise PassError(f"pass {pass_name!r}: option {key!r}: unterminated '[' in {text!r}")
        inner = text[1:-1].strip()
        items = [s.strip() for s in _split_top(inner, f"pass {pass_name!r}")] if inner else []
        if any(not s or s.startswith("[") for s in items):
            raise PassError(f"pass {pass_name!r}: option {key!r}: cannot read list {text!r}")
        return [_read_scalar(s, pass_name, key) for s in items]
    return _read_scalar(text, pass_name, key)


def _read_scalar(text: str, pass_name: str, key: str) -> str:
    if text.startswith('"'):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, str):
            raise PassError(f"pass {pass_name!r}: option {key!r}: cannot read quoted string "
                            f"{text!r}")
        return value
    if re.search(r"[\s{}\[\]\"=]", text):
        raise PassError(f"pass {pass_name!r}: option {key!r}: cannot read value {text!r} "
                        f"(quote strings with spaces or punctuation: \"...\")")
    return text


def _unclosed(item: str) -> bool:
    return item.count("{") > item.count("}")


def _split_top(text: str, where: str):
    """Splits at commas outside braces, brackets and double quotes."""
    depth, start, quoted, escaped = 0, 0, False, False
    for i, c in enumerate(text):
        if quoted:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
        elif c == "," and depth == 0:
            yield text[start:i]
            start = i + 1
    if quoted:
        raise PassError(f"{where}: unterminated '\"' in {text!r}")
    yield text[start:]
