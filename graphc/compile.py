"""``graphc.compile`` and ``graphc.trace``: Python functions -> cached, compiled IR graphs.

    >>> import graphc
    >>> @graphc.compile
    ... def f(x, n=2):
    ...     return (x ** n).sum()
    >>> f(graphc.ones(3)).item(), f(graphc.ones(4)).item(), f(graphc.ones(3), n=3).item()
    (3.0, 4.0, 3.0)
    >>> print(f.explain().splitlines()[0])
    compiled function 'f' (backend interpreter): 3 cache entries, 3 hits, 3 traces
"""
from __future__ import annotations

import functools
import inspect
import logging
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

import ir
import backends
import passes
from ir.dtypes import from_numpy
from graphc import pytree, tracing
from graphc.naming import identity_guards, state_namer
from graphc.random import next_seed
from graphc.tensor import Tensor

DEFAULT_PIPELINE = "dce"
_graph_log = logging.getLogger("graphc.graph")
_guard_log = logging.getLogger("graphc.guards")
_MANY_ENTRIES = 16  # warn once a function has been traced this often


def _is_dynamic(leaf) -> bool:
    return isinstance(leaf, (Tensor, np.ndarray))


class _ByIdentity:
    """Cache-key stand-in for an unhashable static argument: equal only to the same object,
    which it keeps alive (so its id cannot be reused by another object)."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __eq__(self, other):
        return isinstance(other, _ByIdentity) and other.obj is self.obj

    def __hash__(self):
        return id(self.obj)


def _leaf_spec(leaf, first_index: int):
    """What a leaf contributes to the cache key: a tensor's type (and which earlier argument it
    is, if the same tensor is passed twice), a static value's type and value."""
    if isinstance(leaf, Tensor):
        if leaf.is_traced:
            raise tracing.TraceError("a traced tensor was passed to a compiled function from "
                                     "outside its trace")
        return ("tensor", leaf.type, leaf.requires_grad, first_index)
    if isinstance(leaf, np.ndarray):
        return ("array", ir.TensorType(from_numpy(leaf.dtype), leaf.shape), first_index)
    if isinstance(leaf, float):
        return ("static", float, repr(leaf))  # repr: -0.0 differs from 0.0, nan equals nan
    try:
        hash(leaf)
        return ("static", type(leaf), leaf)
    except TypeError:
        return ("object", _ByIdentity(leaf))


def _cache_key(leaves, tree) -> tuple:
    first_seen: dict[int, int] = {}
    specs = []
    for i, leaf in enumerate(leaves):
        first = first_seen.setdefault(id(leaf), i) if _is_dynamic(leaf) else i
        specs.append(_leaf_spec(leaf, first))
    return (tree, tuple(specs))


def _describe_spec(spec) -> str:
    if spec[0] in ("tensor", "array"):
        text = str(spec[1])
        if spec[0] == "tensor" and spec[2]:
            text += " requiring grad"
        return text
    if spec[0] == "static":
        return spec[2] if spec[1] is float else repr(spec[2])
    return f"the object {spec[1].obj!r}"


@dataclass
class CacheEntry:
    """One traced and compiled specialization of the function."""

    key: tuple
    arg_paths: list
    graph: ir.Graph
    executable: Any
    lifted: list
    write_backs: list
    guards: list
    arguments: dict  # id(tensor seen as argument while tracing) -> dynamic leaf index
    argument_tensors: list  # those tensors, kept alive so their ids stay unique
    input_leaves: list  # dynamic leaf indices that are graph inputs (a repeated tensor is one)
    out_tree: Any
    out_static: list  # per output leaf: None (a graph output) or (the Python value returned,)
    n_user_outputs: int
    reason: str
    call_number: int
    trace_seconds: float
    compile_seconds: float
    hits: int = 0

    def resolver(self, dynamic_leaves: list) -> Callable[[Any], Any]:
        """Maps a tensor seen while tracing to the one to use now: arguments are replaced by
        this call's arguments, state tensors are themselves."""
        def resolve(tensor):
            index = self.arguments.get(id(tensor))
            return tensor if index is None else dynamic_leaves[index]
        return resolve

    def failed_guard(self, resolve) -> Optional[tracing.Guard]:
        """The first guard that no longer holds, or None when the entry can run."""
        for guard in self.guards:
            if not guard.holds(resolve):
                return guard
        return None

    def run(self, dynamic_leaves: list, resolve):
        arrays = []
        for index in self.input_leaves:
            leaf = dynamic_leaves[index]
            arrays.append(leaf._data if isinstance(leaf, Tensor) else leaf)
        for lifted in self.lifted:
            if lifted.kind == "tensor":
                arrays.append(lifted.tensor._data)
            elif lifted.kind == "grad":
                arrays.append(resolve(lifted.tensor)._grad._data)
            elif lifted.kind == "scalar":
                arrays.append(np.asarray(lifted.getter(), dtype=lifted.value.type.dtype.numpy))
            else:  # rng
                arrays.append(np.asarray(next_seed(), dtype=np.int64))
        outputs = self.executable(*arrays)
        cursor = self.n_user_outputs
        for wb in self.write_backs:
            target = resolve(wb.tensor)
            array = None
            if wb.value is not None:
                array = outputs[cursor]
                cursor += 1
            if not isinstance(target, Tensor):
                continue  # a NumPy array argument: graphc never writes into user arrays
            if wb.kind == "data":
                target._data = array
                target._version += 1
            else:  # a new grad tensor: one the user holds from an earlier step stays unchanged
                target._grad = None if array is None else Tensor._wrap(array)
        user = iter(outputs[:self.n_user_outputs])
        leaves = [Tensor._wrap(next(user)) if static is None else static[0]
                  for static in self.out_static]
        return pytree.unflatten(self.out_tree, leaves)


class CompiledFunction:
    """A function traced once per input signature into IR, compiled, and cached.

    Created by :func:`compile`. Calling it checks the cache (argument types, static values,
    guards on Python state); a miss traces again and records why.
    """

    def __init__(self, fn: Callable, backend: str = "interpreter",
                 pipeline: str = DEFAULT_PIPELINE, name: Optional[str] = None):
        self.fn = fn
        self.backend = backend
        self.pipeline = pipeline
        self.name = name or getattr(fn, "__name__", None) or type(fn).__name__
        self.entries: list[CacheEntry] = []
        self._by_key: dict[tuple, list[CacheEntry]] = {}
        self.calls = 0
        self._namer = None
        self._signature = _signature(fn)
        functools.update_wrapper(self, fn, updated=())

    # -- calling --------------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if tracing.current() is not None:
            return self.fn(*args, **kwargs)  # called from traced code: trace through it inline
        self.calls += 1
        return self._entry_and_run(args, kwargs, run=True)

    def _arguments(self, args, kwargs):
        """The call's arguments as (names, values) in parameter order, defaults filled in, so
        that f(x), f(x, n=2) and f(n=2, x=x) share one cache entry."""
        if self._signature is None:
            return ["args", "kwargs"], [tuple(args), dict(kwargs)]
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.name}(): {exc}") from None
        bound.apply_defaults()
        return list(bound.arguments), list(bound.arguments.values())

    def _call_with(self, names, values):
        if self._signature is None:
            return self.fn(*values[0], **values[1])
        bound = inspect.BoundArguments(self._signature, dict(zip(names, values)))
        return self.fn(*bound.args, **bound.kwargs)

    def _entry_and_run(self, args, kwargs, run: bool, note: str = ""):
        names, values = self._arguments(args, kwargs)
        leaves, tree = pytree.flatten(values)
        key = _cache_key(leaves, tree)
        dynamic = [leaf for leaf in leaves if _is_dynamic(leaf)]
        entry, reason = self._lookup(key, dynamic)
        if entry is None:
            entry = self._trace(names, values, key, reason + note)
        if not run:
            return entry
        entry.hits += 1
        return entry.run(dynamic, entry.resolver(dynamic))

    def _lookup(self, key, dynamic):
        failed = None
        for entry in self._by_key.get(key, ()):
            resolve = entry.resolver(dynamic)
            guard = entry.failed_guard(resolve)
            if guard is None:
                return entry, None
            failed = failed or (guard, resolve)
        if failed is not None:
            guard, resolve = failed
            return None, f"guard failed: {guard.description} (now {guard.current(resolve)})"
        if not self.entries:
            return None, "first call"
        return None, self._key_difference(key)

    def _key_difference(self, key) -> str:
        """How ``key`` differs from the closest cached entry (the one with fewest changes)."""
        tree, specs = key
        best = None
        for entry in self.entries:
            old_tree, old_specs = entry.key
            if old_tree != tree or len(old_specs) != len(specs):
                continue
            changes = [f"argument {path}: {_describe_spec(old)} -> {_describe_spec(new)}"
                       for path, old, new in zip(entry.arg_paths, old_specs, specs) if old != new]
            if best is None or len(changes) < len(best):
                best = changes
        if best is None:
            return f"argument structure changed: {self.entries[-1].key[0]} -> {tree}"
        return "; ".join(best) or "the same tensor now passed as two arguments (or vice versa)"

    # -- tracing --------------------------------------------------------------------------------
    def _trace(self, names, values, key, reason) -> CacheEntry:
        start = time.perf_counter()
        paths: list[str] = []
        for name, value in zip(names, values):
            pytree.flatten(value, name, paths)
        if self._namer is None:
            self._namer = state_namer(self.fn)
        ctx = tracing.TraceContext(ir.Graph(_identifier(self.name)), name_of=self._namer)
        leaves, tree = pytree.flatten(values)
        traced_leaves, argument_tensors, input_leaves = [], [], []
        with tracing.tracing_into(ctx):
            for leaf, path in zip(leaves, paths):
                if _is_dynamic(leaf):
                    t = leaf if isinstance(leaf, Tensor) else Tensor._wrap(leaf)
                    if id(t) not in ctx.arguments:
                        input_leaves.append(len(argument_tensors))
                    ctx.bind_argument(t, path or "arg", len(argument_tensors))
                    argument_tensors.append(t)
                    traced_leaves.append(t)
                else:
                    traced_leaves.append(leaf)
            result = self._call_with(names, pytree.unflatten(tree, traced_leaves))
            out_leaves, out_tree = pytree.flatten(result)
            outputs, out_static = [], []
            for leaf in out_leaves:
                if isinstance(leaf, Tensor):
                    outputs.append(ctx.value_of(leaf))
                    out_static.append(None)
                else:
                    _reject_hidden_tensors(leaf)
                    out_static.append((leaf,))
            write_backs = ctx.write_backs()
        ctx.guards.extend(identity_guards(self.fn, {id(l.tensor) for l in ctx.lifted
                                                    if l.kind == "tensor"}))
        ctx.graph.set_outputs(outputs + [wb.value for wb in write_backs if wb.value is not None])
        if _graph_log.isEnabledFor(logging.INFO):
            _graph_log.info("traced '%s' (%s):\n%s", self.name, reason, ctx.graph)
        backend = backends.get(self.backend)
        pipeline = ",".join(p for p in (self.pipeline, getattr(backend, "lowering", "")) if p)
        graph = passes.PassManager(pipeline).run(ctx.graph) if pipeline else ctx.graph
        ir.verify(graph)
        if pipeline and _graph_log.isEnabledFor(logging.INFO):
            _graph_log.info("'%s' after -p %s:\n%s", self.name, pipeline, graph)
        traced = time.perf_counter()
        executable = backend.compile(graph)
        entry = CacheEntry(
            key=key, arg_paths=paths, graph=graph, executable=executable, lifted=ctx.lifted,
            write_backs=write_backs, guards=ctx.guards, arguments=dict(ctx.arguments),
            argument_tensors=argument_tensors, input_leaves=input_leaves, out_tree=out_tree,
            out_static=out_static,
            n_user_outputs=len(outputs), reason=reason, call_number=self.calls,
            trace_seconds=traced - start, compile_seconds=time.perf_counter() - traced)
        self.entries.append(entry)
        self._by_key.setdefault(key, []).append(entry)
        if _guard_log.isEnabledFor(logging.INFO):
            _guard_log.info("traced '%s' at call %d because %s; guards:\n%s", self.name,
                            self.calls, reason, "\n".join(_entry_guards(entry)) or "  (none)")
        if len(self.entries) == _MANY_ENTRIES:
            warnings.warn(f"graphc.compile: '{self.name}' has been traced {_MANY_ENTRIES} times; "
                          f"see .explain() for why (a Python number that changes every call "
                          f"is a common cause: pass it as a tensor)", stacklevel=4)
        return entry

    # -- inspection -----------------------------------------------------------------------------
    def graph_for(self, *args, **kwargs) -> ir.Graph:
        """The graph that a call with these arguments runs (traced now if not cached)."""
        return self._entry_and_run(args, kwargs, run=False, note=" (graph_for)").graph

    def explain(self) -> str:
        """A readable report of the cache: entries, their guards, hits, and why each was traced."""
        hits = sum(e.hits for e in self.entries)
        lines = [f"compiled function '{self.name}' (backend {self.backend}): "
                 f"{len(self.entries)} cache entr{'y' if len(self.entries) == 1 else 'ies'}, "
                 f"{hits} hits, {len(self.entries)} traces"]
        for i, e in enumerate(self.entries):
            lines.append(f"entry {i}: traced at call {e.call_number} because {e.reason}; "
                         f"{e.hits} hits; trace {e.trace_seconds * 1e3:.1f} ms, "
                         f"compile {e.compile_seconds * 1e3:.1f} ms; "
                         f"{len(e.graph.nodes)} nodes")
            lines.append("  guards:")
            lines.extend(_entry_guards(e))
            if e.lifted:
                lines.append("  state lifted to graph inputs (read at every call):")
                for lifted in e.lifted:
                    lines.append(f"    %{lifted.name}: {lifted.value.type} ({lifted.kind})")
            if e.write_backs:
                lines.append("  state written back after every call:")
                for wb in e.write_backs:
                    what = "set to None" if wb.value is None else wb.kind
                    lines.append(f"    {wb.name} ({what})")
        return "\n".join(lines)

    def __getattr__(self, name):
        # compile(model) stands in for the model: model attributes (parameters(), train(), ...)
        # are reached through it, as with torch.compile's wrapper.
        if name == "fn" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.fn, name)

    def __repr__(self) -> str:
        return f"<graphc.compile of {self.name}: {len(self.entries)} cache entries>"


def _entry_guards(entry: CacheEntry) -> list[str]:
    """The guards of a cache entry, one indented line each (as ``explain()`` shows them)."""
    lines = [f"    argument {path}: {_describe_spec(spec)}"
             for path, spec in zip(entry.arg_paths, entry.key[1])]
    return lines + [f"    {guard.description}" for guard in entry.guards]


def _signature(fn) -> Optional[inspect.Signature]:
    """The signature calls are bound against (``forward``'s for modules), or None."""
    target = fn.forward if hasattr(fn, "forward") and hasattr(fn, "named_parameters") else fn
    try:
        return inspect.signature(target)
    except (TypeError, ValueError):
        return None


def _reject_hidden_tensors(leaf) -> None:
    """Tensors inside objects pytree does not open (dataclasses, ...) would escape the trace."""
    fields = getattr(leaf, "__dict__", None)
    if isinstance(fields, dict) and any(isinstance(v, Tensor) for v in fields.values()):
        raise tracing.TraceError(
            f"the compiled function returned a {type(leaf).__name__} holding tensors; return "
            "tensors in tuples, lists, dicts or namedtuples so they become graph outputs")


def _identifier(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in name.strip("<>"))
    return cleaned if cleaned and not cleaned[0].isdigit() else f"f_{cleaned}"


def compile(fn: Optional[Callable] = None, *, backend: str = "interpreter",
            passes: str = DEFAULT_PIPELINE, name: Optional[str] = None):
    """Compiles ``fn`` (a function or an ``nn.Module``) through the IR, like ``torch.compile``.

    Usable bare (``@graphc.compile``) or with options (``@graphc.compile(backend="numba")``).
    Tensor arguments (and NumPy arrays) are graph inputs; other arguments are static and part of
    the cache key. Tensors read from closures, globals or modules are lifted to graph inputs.
    """
    backends.get(backend)  # fail early on an unknown backend

    def wrap(f):
        return CompiledFunction(f, backend=backend, pipeline=passes, name=name)

    return wrap if fn is None else wrap(fn)


def trace(fn: Callable, *example_args, **example_kwargs) -> ir.Graph:
    """Traces ``fn`` on example arguments and returns the IR graph (no passes are run).

        >>> import graphc
        >>> print(graphc.trace(lambda x: x.exp(), graphc.zeros(2)))
        func @lambda(%x: f32[2]) -> (f32[2]) {
          %0: f32[2] = exp %x
          return %0
        }
    """
    compiled = CompiledFunction(fn, pipeline="")
    return compiled.graph_for(*example_args, **example_kwargs)
