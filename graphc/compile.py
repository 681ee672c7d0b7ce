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
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

import ir
import backends
import passes
from ir.dtypes import from_numpy
from graphc import pytree, tracing
from graphc.naming import state_namer
from graphc.random import next_seed
from graphc.tensor import Tensor

DEFAULT_PIPELINE = "dce"


def _is_dynamic(leaf) -> bool:
    return isinstance(leaf, (Tensor, np.ndarray))


def _leaf_spec(leaf):
    """What a leaf contributes to the cache key: the type of a tensor, the value of the rest."""
    if isinstance(leaf, Tensor):
        if leaf.is_traced:
            raise tracing.TraceError("a traced tensor was passed to a compiled function from "
                                     "outside its trace")
        return ("tensor", leaf.type, leaf.requires_grad)
    if isinstance(leaf, np.ndarray):
        return ("array", ir.TensorType(from_numpy(leaf.dtype), leaf.shape))
    try:
        hash(leaf)
        return ("static", type(leaf), leaf)
    except TypeError:
        return ("object", id(leaf))


def _describe_spec(spec) -> str:
    if spec[0] in ("tensor", "array"):
        return str(spec[1]) + (" requiring grad" if spec[0] == "tensor" and spec[2] else "")
    if spec[0] == "static":
        return repr(spec[2])
    return f"object at {spec[1]:#x}"


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
    out_tree: Any
    out_static: list  # per output leaf: None (a graph output) or the Python value returned
    n_user_outputs: int
    arg_grad_slots: list  # (leaf index, output index) for .grad of tensor arguments
    reason: str
    call_number: int
    trace_seconds: float
    compile_seconds: float
    hits: int = 0

    def failed_guard(self) -> Optional[tracing.Guard]:
        """The first guard that no longer holds, or None when the entry can run."""
        for guard in self.guards:
            if not guard.holds():
                return guard
        return None

    def run(self, dynamic_leaves: list):
        arrays = [leaf._data if isinstance(leaf, Tensor) else leaf for leaf in dynamic_leaves]
        for lifted in self.lifted:
            if lifted.kind == "tensor":
                arrays.append(lifted.tensor._data)
            elif lifted.kind == "grad":
                arrays.append(lifted.tensor._grad._data)
            elif lifted.kind == "scalar":
                arrays.append(np.asarray(lifted.getter(), dtype=lifted.value.type.dtype.numpy))
            else:  # rng
                arrays.append(np.asarray(next_seed(), dtype=np.int64))
        outputs = self.executable(*arrays)
        cursor = self.n_user_outputs
        for wb in self.write_backs:
            if wb.value is None:
                wb.tensor._grad = None
                continue
            array = outputs[cursor]
            cursor += 1
            if wb.kind == "data":
                wb.tensor._data = array
                wb.tensor._version += 1
            elif wb.tensor._grad is not None and wb.tensor._grad._value is None:
                wb.tensor._grad._data = array
            else:
                wb.tensor._grad = Tensor._wrap(array)
        for leaf_index, out_index in self.arg_grad_slots:
            dynamic_leaves[leaf_index]._grad = Tensor._wrap(outputs[out_index])
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
        self.calls = 0
        self._namer = None
        self._params = _positional_names(fn)
        functools.update_wrapper(self, fn, updated=())

    # -- calling --------------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if tracing.current() is not None:
            return self.fn(*args, **kwargs)  # called from traced code: trace through it inline
        self.calls += 1
        leaves, tree = pytree.flatten((args, kwargs))
        key = (tree, tuple(_leaf_spec(leaf) for leaf in leaves))
        entry, reason = self._lookup(key)
        if entry is None:
            entry = self._trace(args, kwargs, key, reason)
        entry.hits += 1
        dynamic = [leaf for leaf in leaves if _is_dynamic(leaf)]
        return entry.run(dynamic)

    def _lookup(self, key):
        failed = None
        for entry in self.entries:
            if entry.key != key:
                continue
            guard = entry.failed_guard()
            if guard is None:
                return entry, None
            failed = failed or guard
        if failed is not None:
            return None, f"guard failed: {failed.description} (now {_safe(failed.check)})"
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
        return "; ".join(best)

    # -- tracing --------------------------------------------------------------------------------
    def _arg_paths(self, args, kwargs) -> list[str]:
        paths: list[str] = []
        for i, arg in enumerate(args):
            name = self._params[i] if i < len(self._params) else f"arg{i}"
            pytree.flatten(arg, name, paths)
        for k, v in kwargs.items():
            pytree.flatten(v, k, paths)
        return paths

    def _trace(self, args, kwargs, key, reason) -> CacheEntry:
        start = time.perf_counter()
        paths = self._arg_paths(args, kwargs)
        if self._namer is None:
            self._namer = state_namer(self.fn)
        ctx = tracing.TraceContext(ir.Graph(_identifier(self.name)), name_of=self._namer)
        leaves, tree = pytree.flatten((args, kwargs))
        traced_leaves, arg_tensors = [], []
        with tracing.tracing_into(ctx):
            for leaf, path in zip(leaves, paths):
                if _is_dynamic(leaf):
                    t = leaf if isinstance(leaf, Tensor) else Tensor._wrap(leaf)
                    value = ctx.add_input(path or "arg", t.type)
                    wrapper = Tensor._traced(value, ctx)
                    wrapper.requires_grad = t.requires_grad
                    traced_leaves.append(wrapper)
                    arg_tensors.append(wrapper)
                else:
                    traced_leaves.append(leaf)
            t_args, t_kwargs = pytree.unflatten(tree, traced_leaves)
            result = self.fn(*t_args, **t_kwargs)
            out_leaves, out_tree = pytree.flatten(result)
            outputs, out_static = [], []
            for leaf in out_leaves:
                if isinstance(leaf, Tensor):
                    outputs.append(ctx.value_of(leaf))
                    out_static.append(None)
                else:
                    out_static.append((leaf,))
            write_backs = ctx.write_backs()
            extra = [wb.value for wb in write_backs if wb.value is not None]
            arg_grad_slots = []
            for index, wrapper in enumerate(arg_tensors):
                if wrapper._grad is not None:
                    arg_grad_slots.append((index, len(outputs) + len(extra)))
                    extra.append(ctx.value_of(wrapper._grad))
        ctx.graph.set_outputs(outputs + extra)
        graph = passes.run(ctx.graph, self.pipeline) if self.pipeline else ctx.graph
        ir.verify(graph)
        traced = time.perf_counter()
        executable = backends.get(self.backend).compile(graph)
        entry = CacheEntry(
            key=key, arg_paths=paths, graph=graph, executable=executable, lifted=ctx.lifted,
            write_backs=write_backs, guards=ctx.guards, out_tree=out_tree, out_static=out_static,
            n_user_outputs=len(outputs), arg_grad_slots=arg_grad_slots, reason=reason,
            call_number=self.calls, trace_seconds=traced - start,
            compile_seconds=time.perf_counter() - traced)
        self.entries.append(entry)
        return entry

    # -- inspection -----------------------------------------------------------------------------
    def graph_for(self, *args, **kwargs) -> ir.Graph:
        """The graph that a call with these arguments runs (traced now if not cached)."""
        leaves, tree = pytree.flatten((args, kwargs))
        key = (tree, tuple(_leaf_spec(leaf) for leaf in leaves))
        entry, reason = self._lookup(key)
        if entry is None:
            entry = self._trace(args, kwargs, key, reason + " (graph_for)")
        return entry.graph

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
            for path, spec in zip(e.arg_paths, e.key[1]):
                lines.append(f"    argument {path}: {_describe_spec(spec)}")
            for guard in e.guards:
                lines.append(f"    {guard.description}")
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


def _positional_names(fn) -> list[str]:
    """Names for positional arguments, from ``forward`` for modules; ``*args`` stops the list."""
    target = fn.forward if hasattr(fn, "forward") and hasattr(fn, "named_parameters") else fn
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return []
    names = []
    for p in parameters:
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            break
        names.append(p.name)
    return names


def _safe(check):
    try:
        return check()
    except Exception as exc:  # the guard's subject is gone or broken: say so in the report
        return f"<error: {exc}>"


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
