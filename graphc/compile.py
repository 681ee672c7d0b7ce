"""``graphc.compile`` and ``graphc.trace``: Python functions -> cached, compiled IR graphs.

    >>> import graphc
    >>> @graphc.compile
    ... def f(x, n=2):
    ...     return (x ** n).sum()
    >>> f(graphc.ones(3)).item(), f(graphc.ones(4)).item(), f(graphc.ones(3), n=3).item()
    (3.0, 4.0, 3.0)
    >>> print(f.explain().splitlines()[0])  # doctest: +ELLIPSIS
    compiled function 'f', backend ...: 3 cache entries, 0 hits, 3 traces

Without ``backend=``, each cache entry runs where its inputs are (tensor arguments and lifted
state; :mod:`graphc.compile_device`): on ``cuda`` for tensors on ``cuda:0``, else on
:func:`backends.default_backend`'s choice: ``llvm`` where llvmlite can generate code for this
machine, else the interpreter (``explain()`` says which and why; ``GRAPHC_BACKEND`` overrides).
The device is part of the cache key and of the guards on lifted state, so moving a model with
``Module.to`` retraces for the new device.
"""
from __future__ import annotations

import collections
import copy
import functools
import inspect
import logging
import sys
import time
import warnings
import weakref
from builtins import compile as compile_source  # this module defines its own compile()
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

import backends
import ir
import passes
from backends.kernel import KernelProgram
from backends.profiling import StepInfo
from graphc import autograd, compiled_grad, guards, impure_reads, pytree, tracing, views
from graphc.amp import autocast_mode as amp_mode
from graphc.compile_device import follow_inputs
from graphc.device import copy as copy_data
from graphc.device import is_on_device
from graphc.naming import state_namer
from graphc.profiler import recording as profiler_recording
from graphc.random import next_seed
from graphc.tensor import Tensor
from ir import dtypes
from ir.dtypes import from_numpy

DEFAULT_PIPELINE = "dce,cse,fold,simplify,dce"
DEFAULT_CACHE_SIZE = 64  # compiled entries kept per function (least recently used go first)
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
    """What a leaf contributes to the cache key: a tensor's type and device (and which earlier
    argument it is, if the same tensor is passed twice), a static value's type and value."""
    if isinstance(leaf, Tensor):
        if leaf.is_traced:
            raise tracing.TraceError("a traced tensor was passed to a compiled function from "
                                     "outside its trace")
        # (its class and whether it is a leaf too: code may branch on isinstance(x, Parameter),
        # x.is_leaf or x.grad_fn, and a trace made for one gave the other its branch)
        return ("tensor", leaf.ir_type, leaf.requires_grad, first_index, leaf.device,
                type(leaf), leaf._grad_fn is None, _attributes_spec(leaf))
    if isinstance(leaf, np.ndarray):
        return ("array", ir.TensorType(from_numpy(leaf.dtype), leaf.shape), first_index)
    if isinstance(leaf, float):
        return ("static", float, repr(leaf))  # repr: -0.0 differs from 0.0, nan equals nan
    try:
        hash(leaf)
        return ("static", type(leaf), leaf)
    except TypeError:
        return ("object", _ByIdentity(leaf))


def _attributes_spec(tensor: Tensor):
    """A tensor argument's Python attributes (``x.scale = 2.0``), which the traced code may
    read: by value (a number or string), else by identity, as a leaf of that kind would be; so
    a call with another value traces again instead of using the first call's. None (the common
    case) without any."""
    fields = tensor.__dict__
    if not fields:
        return None
    return tuple(sorted((name, _attribute_spec(value)) for name, value in fields.items()))


def _attribute_spec(value):
    """One attribute's part of the key: lists, tuples and dicts by their contents (mutating
    ``x.cfg["s"]`` between calls must trace again, not reuse the first call's value), tensors
    by identity, the rest as leaves of a call are."""
    if isinstance(value, Tensor):
        return ("object", _ByIdentity(value))
    if isinstance(value, (dict, list, tuple)):
        leaves, tree = pytree.flatten(value)
        return ("tree", tree, tuple(_attribute_spec(leaf) for leaf in leaves))
    return _leaf_spec(value, -1)


def _cache_key(leaves, tree) -> tuple:
    first_seen: dict[int, int] = {}
    specs = []
    for i, leaf in enumerate(leaves):
        first = first_seen.setdefault(id(leaf), i) if _is_dynamic(leaf) else i
        specs.append(_leaf_spec(leaf, first))
    return (tree, tuple(specs))


_NON_LEAF = "non-leaf"  # a positional key's requires_grad for a tensor with history


def _positional_key(args: tuple) -> Optional[tuple]:
    """A cheap stand-in for the cache key of a call made only of concrete tensors and NumPy
    arrays passed positionally: their dtypes, shapes, devices, ``requires_grad`` (None for an
    array, which is how the fast runner tells them apart; ``_NON_LEAF`` for a tensor with
    autograd history) and which are the same object (the
    last item of each spec: the fast runner reads it there). None for any other call (it takes
    the full path: signature binding, pytree, :func:`_cache_key`)."""
    specs = []
    for index, arg in enumerate(args):
        kind = type(arg)
        if kind is Tensor and arg._value is None:
            if arg.__dict__:  # Python attributes: keyed by _attributes_spec on the full path
                return None
            data, on_device = arg._data, is_on_device(arg._data)
            requires_grad = arg.requires_grad if arg._grad_fn is None else _NON_LEAF
        elif kind is np.ndarray:  # exactly: subclasses (np.matrix, masked) take the full path
            data, requires_grad, on_device = arg, None, False
        else:
            return None
        first = index
        for earlier in range(index):
            if args[earlier] is arg:
                first = earlier
                break
        specs.append((data.dtype, data.shape, requires_grad, on_device, first))
    return tuple(specs)


def _describe_spec(spec) -> str:
    if spec[0] in ("tensor", "array"):
        text = str(spec[1])
        if spec[0] == "tensor" and spec[2]:
            text += " requiring grad"
        if spec[0] == "tensor" and spec[4].type != "cpu":
            text += f" on {spec[4]}"
        if spec[0] == "tensor" and spec[5] is not Tensor:
            text += f" ({spec[5].__name__})"
        if spec[0] == "tensor" and not spec[6]:
            text += " (not a leaf)"
        if spec[0] == "tensor" and spec[7]:
            text += " with " + ", ".join(f".{name}={_describe_spec(attribute)}"
                                         for name, attribute in spec[7])
        return text
    if spec[0] == "static":
        return spec[2] if spec[1] is float else repr(spec[2])
    if spec[0] == "tree":  # a container attribute (_attribute_spec): rebuilt with its leaves
        return repr(pytree.unflatten(spec[1], [_Described(_describe_spec(leaf))
                                               for leaf in spec[2]]))
    return f"the object {spec[1].obj!r}"


class _Described(str):
    """A leaf's description, shown unquoted inside a rebuilt container."""

    def __repr__(self) -> str:
        return str(self)


_KIND_NAMES = {"tensor": "tensor", "array": "NumPy array"}


def _describe_change(old, new, paths: list, position: int) -> str:
    """How the cache-key spec of leaf ``position`` changed, in words: its types, else (the same
    type) a tensor that became a NumPy array or the reverse, or another argument it is now (or
    no longer) the same object as."""
    before, after = _describe_spec(old), _describe_spec(new)
    if before != after or old[0] not in _KIND_NAMES or new[0] not in _KIND_NAMES:
        return f"{before} -> {after}"
    if old[0] != new[0]:
        return f"{before}, a {_KIND_NAMES[old[0]]} -> a {_KIND_NAMES[new[0]]}"
    first = 3 if old[0] == "tensor" else 2  # where the spec says which leaf it first was

    def identity(spec) -> str:
        index = spec[first]
        return "its own object" if index == position else f"the same object as {paths[index]}"
    if identity(old) == identity(new):
        return f"{before} -> {after}"
    return f"{before}, {identity(old)} -> {identity(new)}"


_NOT_MADE = object()
_MISSED = object()  # what a fast runner returns for a call it does not cover


@dataclass
class CacheEntry:
    """One traced and compiled specialization of the function.

    It holds no argument tensors: guards and write-backs name arguments by position
    (:class:`tracing.ArgRef`), so a caller's inputs are freed when the caller drops them.
    """

    key: tuple
    arg_paths: list
    graph: ir.Graph
    executable: Any
    lifted: list
    write_backs: list
    guards: list
    input_leaves: list  # dynamic leaf indices that are graph inputs (a repeated tensor is one)
    out_tree: Any
    out_static: list  # per output leaf: None (a graph output), ArgRef (that argument itself),
    #                   _SameOutput / _Held (an earlier output / a state tensor, itself), or
    #                   (the Python value returned, whether the call made it: copied then)
    n_user_outputs: int
    reason: str
    call_number: int
    trace_seconds: float
    compile_seconds: float
    passes_seconds: float = 0.0
    number: int = 0  # the how-many-th trace of the function this entry came from
    hits: int = 0
    last_used: int = 0
    fast_runner: Any = _NOT_MADE  # see _fast_runner; made on first use
    differentiable: Optional[compiled_grad.DifferentiableEntry] = None  # outputs get history
    fallback: str = ""  # why the default backend left this entry to the interpreter, if it did
    backend: Optional[backends.BackendChoice] = None  # what compiled it, and why that one
    checks: list = field(default_factory=list)  # (error, message) per last graph output

    @staticmethod
    def resolver(dynamic_leaves: list, leaves: Optional[list] = None) -> Callable[[Any], Any]:
        """Maps what the entry recorded to what to use now: an :class:`tracing.ArgRef` to this
        call's argument, a :class:`tracing.StaticRef` to its static argument (of ``leaves``,
        all of the call's), state tensors to themselves."""
        def resolve(tensor):
            if isinstance(tensor, tracing.ArgRef):
                return dynamic_leaves[tensor.index]
            if isinstance(tensor, tracing.StaticRef):
                if leaves is None:
                    raise LookupError("this call's static arguments were not given")
                return leaves[tensor.index]
            return tensor
        return resolve

    def failed_guard(self, resolve) -> Optional[tracing.Guard]:
        """The first guard that no longer holds, or None when the entry can run."""
        for guard in self.guards:
            if not guard.holds(resolve):
                return guard
        return None

    def run(self, dynamic_leaves: list, resolve, record=None):
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
            elif lifted.kind == "array":
                arrays.append(lifted.getter())
            else:  # rng
                draw = next_seed if lifted.getter is None else lifted.getter
                arrays.append(np.asarray(draw(), dtype=np.int64))
        recording = self.differentiable is not None and autograd.is_grad_enabled()
        saved = list(arrays) if recording else None  # the inputs' values, for backward
        # A call is all-or-nothing for state: the executable writes donated arrays as it
        # runs, so one that a failing check (tested after the run) or a step that raises later
        # (an index out of range) would leave half-updated is given a copy; so is one someone
        # else holds (never written)
        fails_after = getattr(self.executable, "donated_before_failure", ())
        for index in getattr(self.executable, "donated_inputs", ()):
            # (no local name for the array: _owned_by_its_tensor_alone counts its references;
            # a device array shared with another argument is copied by the executable)
            if (recording or self.checks or index in fails_after
                    or not (is_on_device(arrays[index])
                            or _owned_by_its_tensor_alone(arrays[index]))):
                arrays[index] = copy_data(arrays[index])
        try:
            if record is None:
                outputs = self.executable(*arrays)
            else:  # under graphc.profiler: each kernel timed
                outputs = self.executable.run_profiled(arrays, record)
            if self.checks:
                _raise_failed_checks(self.checks, outputs[len(outputs) - len(self.checks):])
        except Exception as exc:
            if self.write_backs:
                note_state_kept(exc, self.graph.name, "ran")
            raise
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
                if target._views:  # its views (taken eagerly) see the new values
                    views.refresh(target)
            elif wb.kind == "new":  # state the trace created: the placeholder becomes concrete
                target._init(array, None, None)
            elif wb.in_place and target._grad is not None:  # updated in place: the same tensor
                held = target._grad
                if held._view_info is not None:  # a view (p.grad = flat[1:4]): write through
                    with autograd.no_grad():
                        held.copy_(Tensor._wrap(array))
                else:
                    held._data = array
                    held._version += 1
                    if held._views:
                        views.refresh(held)
            else:  # a new grad tensor: one the user holds from an earlier step stays unchanged
                target._grad = None if array is None else Tensor._wrap(array)
            if wb.had_history:
                StoredWithoutHistory.mark(target, wb.name, self.graph.name)
        user = iter(outputs[:self.n_user_outputs])
        leaves, graph_outputs = [], []
        for static in self.out_static:
            if isinstance(static, (_SameOutput, _Held)):
                array = next(user)
                same = (leaves[static.place] if isinstance(static, _SameOutput)
                        else static.tensor())
                leaves.append(same if same is not None else Tensor._wrap(array))
                graph_outputs.append(None if same is not None else leaves[-1])
            elif isinstance(static, _ViewOutput):  # a view of state or of an argument
                leaves.append(static.attach(Tensor._wrap(next(user)), resolve))
                graph_outputs.append(leaves[-1])
            elif static is None or isinstance(static, tracing.ArgRef):
                array = next(user)
                same = None if static is None else resolve(static)
                leaves.append(same if isinstance(same, Tensor) else Tensor._wrap(array))
                graph_outputs.append(None if same is not None else leaves[-1])
            else:  # an object each eager call makes anew is a new copy per call too
                leaves.append(copy.copy(static[0]) if static[1] else static[0])
        if recording:
            compiled_grad.attach(self.differentiable, saved, self._grad_tensors(dynamic_leaves),
                                 graph_outputs, self.graph.name)
        return pytree.unflatten(self.out_tree, leaves)

    def _grad_tensors(self, dynamic_leaves: list) -> list[Tensor]:
        """The tensors behind the graph inputs that require grad, in graph input order."""
        n_args = len(self.input_leaves)
        assert self.differentiable is not None
        return [dynamic_leaves[self.input_leaves[i]] if i < n_args
                else self.lifted[i - n_args].tensor for i in self.differentiable.inputs]


class BoundCompiledFunction:
    """A compiled method read from an instance: calls, ``graph_for`` and the rest of
    :class:`CompiledFunction` (``explain()``, ``entries``) with the instance passed first."""

    def __init__(self, compiled: CompiledFunction, instance):
        self.__func__, self.__self__ = compiled, instance

    def __call__(self, *args, **kwargs):
        return self.__func__(self.__self__, *args, **kwargs)

    def graph_for(self, *args, **kwargs) -> ir.Graph:
        return self.__func__.graph_for(self.__self__, *args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.__func__, name)


def note_state_kept(exc: BaseException, name: str, stage: str) -> None:
    """Adds to ``exc`` (raised inside a compiled call that updates state in place) the note
    that no state was written: a compiled call is all-or-nothing for the tensors it updates,
    where eager code keeps the in-place changes made before an error (as PyTorch's does)."""
    exc.add_note(f"graphc.compile: @{name} raised as it {stage}, before writing its state back: "
                 "the tensors it updates in place (parameters, buffers, optimizer state, "
                 ".grad) keep their values from before the call (eagerly, in-place changes "
                 "made before the error would have stayed)")


def _raise_failed_checks(checks: list, flags) -> None:
    """Raises the error of the first :func:`graphc.tracing.check` whose flag the graph set."""
    for (error, message), flag in zip(checks, flags):
        if bool(np.asarray(flag.copy_to_host() if hasattr(flag, "copy_to_host") else flag)):
            raise error(message)


def _fast_runner(entry: CacheEntry, positional: tuple) -> Optional[Callable[[tuple], Any]]:
    """A runner of ``entry`` specialized to calls whose positional key is ``positional``.

    It is Python source generated for this entry (``run.source``), straight-line code with no
    loops: each argument a concrete tensor with the key's ``requires_grad`` on the key's
    device, or a NumPy array (exactly ``ndarray``) where the key has one, no two the same
    object, every guard of the entry, one call into the executable, the outputs wrapped. The
    dtypes and shapes of the key are checked by the backend's generated wrapper
    (``Executable.fast_call``, which declines other arrays), or here when there is none.
    State tensors the graph reads (parameters) are passed as they are at each call.
    A call it does not cover returns ``_MISSED`` and takes the full path, which also explains a
    miss. Under grad mode, an entry whose outputs get autograd history always misses. None
    where :meth:`CacheEntry.run` has work to do besides: other lifted state
    (gradients, learning rates, arrays, seeds), write-backs, arguments the executable writes
    in place (run copies them), non-tensor outputs, arguments
    returned, repeated arguments, guards that look at an argument."""
    executable = entry.executable
    if (entry.write_backs or entry.checks
            or any(lifted.kind != "tensor" for lifted in entry.lifted)
            or any(s is not None for s in entry.out_static)
            or any(isinstance(getattr(g, "subject", None), tracing.ArgRef)
                   or getattr(g, "refs", None) for g in entry.guards)
            or any(first != index for index, (*_, first) in enumerate(positional))
            # an argument the executable writes in place: run() copies it first
            or any(i < len(entry.input_leaves)
                   for i in getattr(executable, "donated_inputs", ()))):
        return None
    native = getattr(executable, "fast_call", None)
    names = [f"a{index}" for index in range(len(positional))]
    scope: dict[str, Any] = {"MISSED": _MISSED, "Tensor": Tensor, "wrap": Tensor._from_result,
                             "native": native, "executable": executable,
                             "unflatten": pytree.unflatten, "out_tree": entry.out_tree}
    lines = ["def run(args):",
             f"    if len(args) != {len(names)}:",
             "        return MISSED"]
    if entry.differentiable is not None:  # outputs that need history take the full path
        scope["grad_enabled"] = autograd.is_grad_enabled
        lines += ["    if grad_enabled():", "        return MISSED"]
    if names:
        lines.append(f"    {''.join(name + ', ' for name in names)}= args")
    scope["ndarray"] = np.ndarray
    data = {}  # argument -> the expression of its array
    for name, (dtype, shape, requires_grad, on_device, _) in zip(names, positional):
        if requires_grad is None:  # a NumPy array, passed as it is
            data[name] = name
            lines += [f"    if type({name}) is not ndarray:", "        return MISSED"]
        else:
            data[name] = f"{name}._data"
            history = (f"{name}._grad_fn is None" if requires_grad == _NON_LEAF else
                       f"{name}.requires_grad != {requires_grad!r} or "
                       f"{name}._grad_fn is not None")
            lines += [f"    if type({name}) is not Tensor or {name}._value is not None or "
                      f"{history}:",
                      "        return MISSED",
                      # a tensor moved to another device takes the full path (another entry)
                      f"    if isinstance({name}._data, ndarray) is {on_device!r}:",
                      "        return MISSED"]
        if native is None:
            scope[f"{name}_dtype"], scope[f"{name}_shape"] = dtype, shape
            lines += [f"    if {data[name]}.shape != {name}_shape or {data[name]}.dtype != "
                      f"{name}_dtype:",
                      "        return MISSED"]
    distinct = " or ".join(f"{a} is {b}" for i, a in enumerate(names) for b in names[i + 1:])
    if distinct:
        lines += [f"    if {distinct}:", "        return MISSED"]
    for index, guard in enumerate(entry.guards):
        quick = getattr(guard, "check_identities", None)
        scope[f"holds{index}"], scope[f"quick{index}"] = guard.holds, quick
        test = f"holds{index}()" if quick is None else f"(quick{index}() or holds{index}())"
        lines += [f"    if not {test}:", "        return MISSED"]
    arrays = [data[names[index]] for index in entry.input_leaves]
    for index, lifted in enumerate(entry.lifted):
        scope[f"state{index}"] = lifted.tensor
        arrays.append(f"state{index}._data")
    operands = ", ".join(arrays)
    if native is not None:
        lines += [f"    out = native({operands})",
                  "    if out is None:  # arrays its wrapper was not made for (strided, ...)",
                  "        return MISSED"]
    else:
        lines.append(f"    out = executable({operands})")
    if entry.out_tree.kind == "leaf":
        lines.append("    return wrap(out[0])")
    else:
        lines.append("    return unflatten(out_tree, [wrap(array) for array in out])")
    source = "\n".join(lines) + "\n"
    exec(compile_source(source, f"<graphc fast runner of {entry.graph.name}>", "exec"), scope)
    run = scope["run"]
    run.source = source
    return run


def _references(array: np.ndarray) -> int:
    return sys.getrefcount(array)


def _references_of_an_array_held_by_one_tensor() -> int:
    """What :func:`_references` says, called as ``CacheEntry.run`` calls it (through
    :func:`_owned_by_its_tensor_alone`), of an array that only one tensor's ``_data`` and the
    list of the call's arrays hold."""
    def owned(array):  # the frame _owned_by_its_tensor_alone adds
        return _references(array)

    holder = Tensor._wrap(np.empty(1))
    arrays = [holder._data]
    return owned(arrays[0])


_SOLE_OWNER_REFERENCES = _references_of_an_array_held_by_one_tensor()


def _owned_by_its_tensor_alone(array: np.ndarray) -> bool:
    """Whether the executable may write ``array`` (a state tensor's ``_data``, an input it
    donates) in place: nothing else refers to it (no other tensor, no view from ``.numpy()``,
    no saved value of autograd: each would hold a reference), it owns its memory and is
    writable. graphc never writes an array someone else can see."""
    return (array.flags.owndata and array.flags.writeable
            and _references(array) <= _SOLE_OWNER_REFERENCES)


def _state_aliases(ctx: tracing.TraceContext, write_backs: list, first: int) -> dict[int, int]:
    """Output index -> input index for the write-backs that rebind a lifted tensor (parameter,
    buffer, optimizer state) in place: the output overwrites the state its input fed in, so a
    backend may update that buffer in place (``Graph.output_aliases``). ``first`` is the index
    of the first write-back output."""
    position = {id(v): i for i, v in enumerate(ctx.graph.inputs)}
    lifted = {id(read.tensor): read.value for read in ctx.lifted if read.kind == "tensor"}
    aliases, index = {}, first
    for wb in write_backs:
        if wb.value is None:
            continue
        source = lifted.get(id(wb.tensor))
        if wb.kind == "data" and source is not None and source.type == wb.value.type:
            aliases[index] = position[id(source)]
        index += 1
    return aliases


class CompiledFunction:
    """A function traced once per input signature into IR, compiled, and cached.

    Created by :func:`compile`. Calling it checks the cache (argument types, static values,
    guards on Python state); a miss traces again and records why.
    """

    def __init__(self, fn: Callable, backend: Optional[str] = None,
                 pipeline: str = DEFAULT_PIPELINE, name: Optional[str] = None,
                 cache_size: int = DEFAULT_CACHE_SIZE):
        if not isinstance(cache_size, int) or isinstance(cache_size, bool) or cache_size < 1:
            raise ValueError(f"graphc.compile: cache_size must be a positive int, got "
                             f"{cache_size!r}")
        self.fn = fn
        self.cache_size = cache_size
        self.traces = 0
        self.evicted: list[str] = []  # what eviction dropped, for explain()
        self._evicted_keys: collections.deque = collections.deque(maxlen=64)
        # None: the default backend, chosen at the first compile (or the first look at .backend)
        self._backend_choice = None if backend is None else backends.BackendChoice(backend, "")
        self._backend_named = backend is not None  # else a dtype it refuses falls back
        self.pipeline = pipeline
        self.name = name or getattr(fn, "__name__", None) or type(fn).__name__
        self.entries: list[CacheEntry] = []
        self._by_key: dict[tuple, list[CacheEntry]] = {}
        # positional-tensor calls: _positional_key(args) -> the entries of the full cache key
        # it stands for (the same list as in _by_key, so eviction empties it here too)
        self._positional_entries: dict[tuple, list[CacheEntry]] = {}
        # the entry the last positional call ran, with its fast runner: tried first
        self._fast: Optional[tuple[CacheEntry, Callable[[tuple], Any]]] = None
        self.calls = 0
        self._namer = None
        self._signature = _signature(fn)
        self._defaults = _current_defaults(fn)
        functools.update_wrapper(self, fn, updated=())

    def __get__(self, instance, owner=None):
        """``@graphc.compile`` on a method: read from an instance, the compiled function
        bound to it (the instance is its first argument, a static one whose state the guards
        walk, as a module passed to a compiled function: each instance has entries of its
        own)."""
        return self if instance is None else BoundCompiledFunction(self, instance)

    @property
    def backend(self) -> str:
        """The name of the backend entries are compiled with: the one passed to
        :func:`compile`, else the default (:func:`backends.default_backend`) for entries whose
        inputs are on the cpu (entries with inputs on ``cuda:0`` use ``cuda``)."""
        return self._backend().name

    def _backend(self) -> backends.BackendChoice:
        if self._backend_choice is None:
            self._backend_choice = backends.default_backend()
        return self._backend_choice

    # -- calling --------------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if tracing.current() is not None:
            return self.fn(*args, **kwargs)  # called from traced code: trace through it inline
        self.calls += 1
        if profiler_recording.ACTIVE is not None:  # the only work profiling adds when off
            return profiler_recording.compiled_call(self, args, kwargs)
        if not kwargs:  # the fast paths: no binding, no pytree, the same guards
            fast = self._fast
            if fast is not None:
                result = fast[1](args)
                if result is not _MISSED:
                    fast[0].hits += 1
                    fast[0].last_used = self.calls
                    return result
            positional = _positional_key(args)
            for entry in self._positional_entries.get(positional, ()):  # type: ignore[arg-type]
                dynamic = list(args)
                resolve = entry.resolver(dynamic)
                if entry.failed_guard(resolve) is None:
                    entry.last_used = self.calls
                    entry.hits += 1
                    self._remember_fast(entry, positional)  # type: ignore[arg-type]
                    return entry.run(dynamic, resolve)
            # a miss or a failed guard: the full path says why and retraces
        return self._entry_and_run(args, kwargs, run=True)

    def _remember_fast(self, entry: CacheEntry, positional: tuple) -> None:
        """Makes ``entry`` the one the next positional call tries first, if it has a fast
        runner (:func:`_fast_runner`)."""
        if entry.fast_runner is _NOT_MADE:
            entry.fast_runner = _fast_runner(entry, positional)
        if entry.fast_runner is not None:
            self._fast = (entry, entry.fast_runner)

    def _arguments(self, args, kwargs):
        """The call's arguments as (names, values) in parameter order, defaults filled in, so
        that f(x), f(x, n=2) and f(n=2, x=x) share one cache entry."""
        if self._signature is None:
            return ["args", "kwargs"], [tuple(args), dict(kwargs)]
        defaults = _current_defaults(self.fn)
        if not _same_objects(defaults, self._defaults):
            # f.__defaults__ = (3.0,): Python calls use the new defaults, and so must we
            self._signature, self._defaults = _signature(self.fn), defaults
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

    def _entry_and_run(self, args, kwargs, run: bool, note: str = "", record=None):
        """The entry for this call (traced now on a miss), run unless ``run`` is False;
        ``record`` (a profiler's ``backends.profiling.StepRecorder``) runs it step by step,
        timing each."""
        names, values = self._arguments(args, kwargs)
        leaves, tree = pytree.flatten(values)
        key = _cache_key(leaves, tree)
        dynamic = [leaf for leaf in leaves if _is_dynamic(leaf)]
        entry, reason = self._lookup(key, dynamic, leaves)
        traced = entry is None
        if traced:
            start = time.perf_counter_ns()
            entry = self._trace(names, values, key, reason + note)
            if record is not None:  # a profiler shows the trace and compile inside the call
                record(StepInfo(f"{self.name}::trace and compile", "compile", 0, 0,
                                detail=reason + note), start, time.perf_counter_ns())
        if not kwargs and len(values) == len(args) and all(
                v is a for v, a in zip(values, args)):
            # every parameter was passed positionally (no default, no *args): the next such
            # call with tensors and arrays of the same types can find this key without binding
            positional = _positional_key(args)
            if positional is not None:
                self._positional_entries[positional] = self._by_key[key]
                if run:
                    self._remember_fast(entry, positional)
        entry.last_used = self.calls
        if not run:
            return entry
        if not traced:  # the call that traced the entry is its miss, not a hit
            entry.hits += 1
        return entry.run(dynamic, entry.resolver(dynamic, leaves), record)

    def _lookup(self, key, dynamic, leaves):
        failed = None
        for entry in self._by_key.get(key, ()):
            resolve = entry.resolver(dynamic, leaves)
            guard = entry.failed_guard(resolve)
            if guard is None:
                return entry, None
            # the reason given is the most recently used entry's: what changed since the last
            # call (the oldest entry's failure named a change made calls ago)
            if failed is None or entry.last_used >= failed[2]:
                failed = (guard, resolve, entry.last_used)
        if failed is not None:
            guard, resolve, _ = failed
            return None, f"guard failed: {guard.failure(resolve)}"
        if key in self._evicted_keys:
            return None, (f"its entry was evicted earlier (the cache holds "
                          f"{self.cache_size} entries; see compile(cache_size=...))")
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
            changes = [f"argument {path}: {_describe_change(old, new, entry.arg_paths, i)}"
                       for i, (path, old, new) in enumerate(zip(entry.arg_paths, old_specs, specs))
                       if old != new]
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
        ctx = tracing.TraceContext(ir.Graph(_identifier(self.name)), name_of=self._namer,
                                   differentiable=autograd.is_grad_enabled())
        leaves, tree = pytree.flatten(values)
        # static arguments that are objects (configs, modules) are read like globals: guard them
        object_args = [(path, leaf) for leaf, path in zip(leaves, paths)
                       if not _is_dynamic(leaf) and guards.opens(leaf)]
        object_refs = [tracing.StaticRef(index) for index, leaf in enumerate(leaves)
                       if not _is_dynamic(leaf) and guards.opens(leaf)]
        generators: list = []
        items_before: dict = {}
        iterators: list = []
        impure_sources: list = []
        before = guards.snapshot(self.fn, object_args, generators=generators,
                                 items=items_before, iterators=iterators,
                                 impure_sources=impure_sources)
        positions = [(path, it, guards.iterator_position(it)) for path, it in iterators]
        grad_mode = _grad_mode_guard()
        autocast_mode = _autocast_guard()
        traced_leaves, input_leaves = [], []
        n_dynamic = 0
        with tracing.tracing_into(ctx):
            for leaf, path in zip(leaves, paths):
                if _is_dynamic(leaf):
                    t = leaf if isinstance(leaf, Tensor) else Tensor._wrap(leaf)
                    if not isinstance(leaf, Tensor):
                        ctx.array_arguments.add(id(t))  # graphc.from_numpy(a) gives it back
                    if id(t) not in ctx.arguments:
                        input_leaves.append(n_dynamic)
                    ctx.bind_argument(t, path or "arg", n_dynamic)
                    n_dynamic += 1
                    traced_leaves.append(t)
                else:
                    traced_leaves.append(leaf)
            call_values = pytree.unflatten(tree, traced_leaves)
            contents = [pytree.flatten(value) for value in call_values]
            try:
                with impure_reads.refused(self.name, watch=bool(impure_sources)):  # time.time()
                    result = self._call_with(names, call_values)
            except Exception as exc:
                if ctx.write_backs():
                    note_state_kept(exc, self.name, "was traced")
                raise
            _reject_mutated_containers(names, call_values, contents)
            out_leaves, out_tree = pytree.flatten(result)
            _refuse_history_made_under_no_grad(self.name, ctx, out_leaves)
            outputs, out_static = [], []
            first_place: dict[int, int] = {}
            for place, leaf in enumerate(out_leaves):
                if isinstance(leaf, Tensor):
                    outputs.append(ctx.value_of(leaf))
                    index = ctx.arguments.get(id(leaf))
                    if index is not None:
                        out_static.append(tracing.ArgRef(index))
                    elif id(leaf) in first_place:  # `return y, y`: the same object twice
                        out_static.append(_SameOutput(first_place[id(leaf)]))
                    elif leaf._value is None:  # state (a buffer) returned as it is: itself
                        out_static.append(_Held(weakref.ref(leaf)))
                    else:
                        out_static.append(_view_output(ctx, leaf))
                    first_place.setdefault(id(leaf), place)
                else:
                    _reject_hidden_tensors(leaf)
                    out_static.append((leaf, False))
            created: dict[int, tuple[str, Tensor]] = {}
            reached: set[int] = set()
            kept_iterators: list = []
            after = guards.snapshot(
                self.fn, object_args, ctx.lifted_sources(), ctx.lifted_ids(),
                on_tensor=lambda path, t: created.setdefault(id(t), (path, t))
                if t._trace is ctx and t._value is not None else None, reached=reached,
                iterators=kept_iterators)
            out_static = [_made_by_the_call(static, reached)
                          for static in out_static]
            write_backs = ctx.write_backs() + [
                tracing.WriteBack("new", t, guards.render(path), ctx.value_of(t))
                for path, t in created.values()]
            for wb in write_backs:
                wb.had_history = wb.kind in ("data", "new") and wb.tensor._grad_fn is not None
            if write_backs:
                ctx.guards.extend(_arguments_are_not_state(ctx, leaves, paths))
            _refuse_moved_tensors(self.name, before, after)
            _refuse_iterators(self.name, positions, kept_iterators)
            _refuse_kept_generators(self.name, self.fn, object_args, ctx.made_generators)
            _refuse_foreign_draws(self.name, generators)
            _refuse_written_inputs(self.name, ctx.lifted, items_before)
            _refuse_grad_mode_switch(self.name, grad_mode)
            _refuse_autocast_switch(self.name, autocast_mode)
        ctx.guards.append(_default_dtype_guard())
        ctx.guards.append(grad_mode)
        ctx.guards.append(autocast_mode)
        ctx.guards.append(guards.StateGuard(
            self.fn, object_args, guards.merge_read_values(before, after, ctx.lifted_ids()),
            ctx.lifted_sources(), ctx.lifted_ids(), object_refs))
        ctx.graph.set_outputs(outputs + [wb.value for wb in write_backs if wb.value is not None]
                              + [value for value, *_ in ctx.checks],
                              aliases=_state_aliases(ctx, write_backs, len(outputs)))
        grad_inputs = _grad_inputs(traced_leaves, input_leaves, ctx.lifted, write_backs)
        forward_text = str(ctx.graph) if grad_inputs else ""
        rebound = _rebound_values(traced_leaves, input_leaves, ctx.lifted, grad_inputs,
                                  ctx.rebound, ctx.graph)
        ctx.detach_arguments(ctx.lifted + write_backs)
        if _graph_log.isEnabledFor(logging.INFO):
            _graph_log.info("traced '%s' (%s):\n%s", self.name, reason, ctx.graph)
        choice = self._entry_backend(leaves, input_leaves, paths, ctx.lifted)
        backend = backends.get(choice.name)
        may_fall_back = not self._backend_named and choice.name != "cuda"
        pipeline = ",".join(p for p in (self.pipeline, getattr(backend, "lowering", "")) if p)

        def build(backward: ir.Graph):  # the backward of compiled_grad: the same backend
            optimized = passes.PassManager(pipeline).run(backward) if pipeline else backward
            ir.verify(optimized)
            return self._compile_graph(backend, optimized, may_fall_back)[0]
        differentiable = compiled_grad.plan(ctx.graph, len(outputs), grad_inputs, forward_text,
                                            build, rebound)
        recorded = time.perf_counter()
        graph = passes.PassManager(pipeline).run(ctx.graph) if pipeline else ctx.graph
        ir.verify(graph)
        if pipeline and _graph_log.isEnabledFor(logging.INFO):
            _graph_log.info("'%s' after -p %s:\n%s", self.name, pipeline, graph)
        traced = time.perf_counter()
        executable, fallback = self._compile_graph(backend, graph, may_fall_back)
        self.traces += 1

        entry = CacheEntry(
            key=key, arg_paths=paths, graph=graph, executable=executable, lifted=ctx.lifted,
            write_backs=write_backs, guards=ctx.guards, input_leaves=input_leaves,
            checks=[(error, f"{message} (checked as the compiled graph ran; from {where})")
                    for _, error, message, where in ctx.checks],
            out_tree=out_tree, out_static=out_static,
            n_user_outputs=len(outputs), reason=reason, call_number=self.calls,
            trace_seconds=recorded - start, passes_seconds=traced - recorded,
            compile_seconds=time.perf_counter() - traced,
            number=self.traces, last_used=self.calls, differentiable=differentiable,
            fallback=fallback, backend=choice)
        self.entries.append(entry)
        self._by_key.setdefault(key, []).append(entry)
        self._evict_beyond(self.cache_size)
        if _guard_log.isEnabledFor(logging.INFO):
            _guard_log.info("traced '%s' at call %d because %s; guards:\n%s", self.name,
                            self.calls, reason, "\n".join(_entry_guards(entry)) or "  (none)")
        if self.traces == _MANY_ENTRIES:
            warnings.warn(f"graphc.compile: '{self.name}' has been traced {_MANY_ENTRIES} times; "
                          f"see .explain() for why (a Python number that changes every call "
                          f"is a common cause: pass it as a tensor)", stacklevel=4)
        return entry

    def _entry_backend(self, leaves: list, input_leaves: list, paths: list,
                       lifted: list) -> backends.BackendChoice:
        """The backend of a new entry: the named one, else where its inputs are
        (:func:`graphc.compile_device.follow_inputs`: the default CPU backend or cuda)."""
        if self._backend_named:
            return self._backend()
        dynamic = [(leaf, path) for leaf, path in zip(leaves, paths) if _is_dynamic(leaf)]
        resolve = CacheEntry.resolver([leaf for leaf, _ in dynamic])  # ArgRefs -> arguments
        inputs = []
        for index in input_leaves:
            leaf, path = dynamic[index]
            inputs.append((f"argument {path}", leaf._data if isinstance(leaf, Tensor) else leaf))
        for state in lifted:
            if state.kind == "tensor":
                inputs.append((f"state %{state.name}", resolve(state.tensor)._data))
            elif state.kind == "grad":
                inputs.append((f"state %{state.name}", resolve(state.tensor)._grad._data))
            elif state.kind == "array":
                inputs.append((f"NumPy array %{state.name}", state.tensor))
        return follow_inputs(self._backend(), inputs)

    def _compile_graph(self, backend: backends.Backend, graph: ir.Graph,
                       may_fall_back: bool) -> tuple[Any, str]:
        """The executable of ``graph``, and why it runs on the interpreter if the default CPU
        backend refused a dtype of it (a backend named by the user, or cuda chosen for device
        inputs, refuses loudly)."""
        try:
            return backend.compile(graph), ""
        except backends.UnsupportedDTypeError as refusal:
            if not may_fall_back:
                raise
            return backends.get("interpreter").compile(graph), str(refusal)

    def _evict_beyond(self, limit: int) -> None:
        """Drops least recently used entries until at most ``limit`` remain, noting each."""
        while len(self.entries) > limit:
            victim = min(self.entries, key=lambda e: (e.last_used, e.number))
            self.entries.remove(victim)
            if self._fast is not None and self._fast[0] is victim:
                self._fast = None
            self._by_key[victim.key].remove(victim)
            if not self._by_key[victim.key]:
                del self._by_key[victim.key]
                self._positional_entries = {k: v for k, v in self._positional_entries.items()
                                            if v}
            self.evicted.append(f"entry {victim.number} (traced at call {victim.call_number}, "
                                f"{victim.hits} hits) evicted at call {self.calls}: least "
                                f"recently used, cache_size={self.cache_size}")
            self._evicted_keys.append(victim.key)

    # -- inspection -----------------------------------------------------------------------------
    def graph_for(self, *args, **kwargs) -> ir.Graph:
        """The graph that a call with these arguments runs (traced now if not cached), less
        the flags of its value checks (:func:`graphc.tracing.check`), outputs that only the
        compiled call reads."""
        entry = self._entry_and_run(args, kwargs, run=False, note=" (graph_for)")
        if not entry.checks:
            return entry.graph
        graph = ir.parse(str(entry.graph))
        graph.set_outputs(graph.outputs[:len(graph.outputs) - len(entry.checks)])
        return passes.dce(graph)

    def explain(self) -> str:
        """A readable report of the cache: entries, their guards, hits, why each was traced, and
        which entries were evicted."""
        hits = sum(e.hits for e in self.entries)
        lines = [f"compiled function '{self.name}', backend {self._backend().describe()}: "
                 f"{len(self.entries)} cache entr{'y' if len(self.entries) == 1 else 'ies'}, "
                 f"{hits} hits, {self.traces} traces"]
        for e in self.entries:
            lines.append(f"entry {e.number - 1}: traced at call {e.call_number} because "
                         f"{e.reason}; {e.hits} hits; trace {e.trace_seconds * 1e3:.1f} ms, "
                         f"passes {e.passes_seconds * 1e3:.1f} ms, "
                         f"compile {e.compile_seconds * 1e3:.1f} ms; "
                         f"{len(e.graph.nodes)} nodes")
            if e.backend is not None and e.backend != self._backend():
                lines.append(f"  backend {e.backend.name}: {e.backend.reason}")
            if e.fallback:
                lines.append(f"  runs on the interpreter: {e.fallback}")
            info = getattr(e.executable, "compile_info", None)
            if info is not None:  # code-generating backends say where the code came from
                lines.append(f"  code: {info.describe()}")
            program = getattr(e.executable, "program", None)
            if isinstance(program, KernelProgram):  # and what it runs (source() shows it all)
                lines.append(f"  steps: {program.describe()}")
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
        lines.extend(self.evicted)
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
    for guard in entry.guards:
        lines.append(f"    {guard.description}")
        lines.extend(f"      {line}" for line in getattr(guard, "details", lambda: [])())
    return lines


def _current_defaults(fn) -> tuple:
    """The objects calls are bound with now, flattened: ``__defaults__``, ``__kwdefaults__``,
    and a ``functools.partial``'s arguments (which act as defaults)."""
    target = fn.forward if hasattr(fn, "forward") and hasattr(fn, "named_parameters") else fn
    target = getattr(target, "__func__", target)
    if isinstance(target, functools.partial):
        keywords = target.keywords
        return (*target.args, len(target.args), *keywords, *keywords.values(),
                *_current_defaults(target.func))
    keywords = getattr(target, "__kwdefaults__", None) or {}
    positional = getattr(target, "__defaults__", None) or ()
    return (*positional, len(positional), *keywords, *keywords.values())


def _same_objects(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(u is v or (type(u) is int and u == v)
                                    for u, v in zip(a, b))


def _signature(fn) -> Optional[inspect.Signature]:
    """The signature calls are bound against (``forward``'s for modules), or None."""
    target = fn.forward if hasattr(fn, "forward") and hasattr(fn, "named_parameters") else fn
    try:
        return inspect.signature(target)
    except (TypeError, ValueError):
        return None


def _reject_mutated_containers(names, values, contents) -> None:
    """The function receives copies of the lists and dicts it is passed (their leaves become
    graph inputs and static values), so changing one would silently not reach the caller's."""
    for name, value, (leaves, tree) in zip(names, values, contents):
        now_leaves, now_tree = pytree.flatten(value)
        if now_tree != tree or any(a is not b for a, b in zip(now_leaves, leaves)):
            raise tracing.TraceError(
                f"the compiled function changed the contents of its argument '{name}' (a "
                f"{type(value).__name__}); changes to lists and dicts passed as arguments "
                f"are not carried back to the caller: return the new values instead")


@dataclass(frozen=True)
class _SameOutput:
    """An output that is the same tensor object as the output leaf at ``place`` (eagerly,
    ``return y, y`` gives one object twice: an in-place op on one shows in the other)."""

    place: int


@dataclass(frozen=True)
class _Held:
    """An output that is a tensor the function's state holds, returned as it is (a buffer):
    that tensor itself, as eagerly (after the call's write-backs), while it lives."""

    tensor: Any  # a weakref.ref to it


@dataclass(frozen=True)
class _ViewOutput:
    """An output that is a view of a concrete tensor (``return p[0]``, ``return x.t()``: state,
    or an argument, an ArgRef): returned as a view of it, as eagerly, so that writing into it
    (or into its root) shows in the other (graphc.views)."""

    root: Any  # an ArgRef, or a weakref.ref to the state tensor (the entry keeps neither alive)
    ops: tuple  # the traced view's, from its root's value (graphc.views.ViewInfo)
    strides: tuple
    offset: Optional[int]
    detached: bool

    def attach(self, out: Tensor, resolve) -> Tensor:
        root = (resolve(self.root) if isinstance(self.root, tracing.ArgRef)
                else self.root())
        if isinstance(root, Tensor):  # (not an argument passed as a NumPy array, nor dead)
            views.attach(out, views.ViewInfo(root, self.ops, self.strides, self.offset,
                                             self.detached))
        return out


def _view_output(ctx: tracing.TraceContext, leaf: Tensor) -> Optional[_ViewOutput]:
    """What to return for the traced output ``leaf``: None (a new tensor), or a view of the
    concrete tensor it views."""
    info = leaf._view_info
    root = None if info is None else info.root()
    if root is None or root._value is not None:
        return None
    if info.offset is None:
        # selected by a traced index tensor (p[i]): its ops hold this trace's index, so a view
        # rebuilt from them would follow the first call's row; a new tensor instead
        return None
    if _through_a_view_argument(ctx, info):
        # a view of an argument that is itself a view (`f(b[1:])` returning `x.t()`): its root
        # is that argument's root, which a later call need not pass (a view of it would show,
        # and take the writes into the output of, the first call's tensor, or another
        # argument that was that root then: `f(a, a[1:])`, then `f(a2, b2[1:])`): a new tensor
        return None
    index = ctx.arguments.get(id(root))
    return _ViewOutput(weakref.ref(root) if index is None else tracing.ArgRef(index),
                       info.ops, info.strides, info.offset, info.detached)


def _through_a_view_argument(ctx: tracing.TraceContext, info) -> bool:
    """Whether the view ``info`` describes was taken of a tensor argument that is a view (its
    ops start with the argument's, from the same root)."""
    for argument in ctx.argument_tensors():
        arg_info = argument._view_info
        if (arg_info is not None and arg_info.root() is info.root()
                and info.ops[:len(arg_info.ops)] == arg_info.ops):
            return True
    return False


def _made_by_the_call(static, reached: set):
    """A non-tensor output ``(value, False)`` marked ``(value, True)`` when the call made it (a
    NumPy array, set or bytearray the function creates and returns): each compiled call returns
    a copy of it, as each eager call makes a new one; the same object every time would carry
    what the caller wrote into it to the next call. (Lists, tuples and dicts are taken apart
    by pytree and built anew at every call already.) Objects the function's state or arguments
    hold are returned as themselves, as eagerly, and so are other objects (a user class's
    instance)."""
    if static is None or isinstance(static, (tracing.ArgRef, _SameOutput, _Held, _ViewOutput)):
        return static
    value = static[0]
    if not isinstance(value, (set, np.ndarray, bytearray)) or id(value) in reached:
        return static
    return (value, True)


def _reject_hidden_tensors(leaf) -> None:
    """Tensors inside objects pytree does not open (dataclasses, ...) would escape the trace."""
    fields = getattr(leaf, "__dict__", None)
    if isinstance(fields, dict) and any(isinstance(v, Tensor) for v in fields.values()):
        raise tracing.TraceError(
            f"the compiled function returned a {type(leaf).__name__} holding tensors; return "
            "tensors in tuples, lists, dicts or namedtuples so they become graph outputs")


def _current_default_float():
    return dtypes.DEFAULT_FLOAT


def _arguments_are_not_state(ctx, leaves: list, paths: list) -> list[tracing.Guard]:
    """Guards that no tensor argument is one of the state tensors the graph reads. The graph
    reads them as separate inputs, so with an argument that is one of them (``f(bn.running_mean,
    x)`` after a trace with another tensor) a write to the argument would not reach the read
    of the state. Only entries that write something need them (reads of one value agree)."""
    state = frozenset(id(lifted.tensor) for lifted in ctx.lifted if lifted.kind == "tensor")
    if not state:
        return []
    result = []
    index = 0
    for leaf, path in zip(leaves, paths):
        if not _is_dynamic(leaf):
            continue
        if isinstance(leaf, Tensor):
            result.append(tracing.Guard(
                f"argument {path or 'arg'} is none of the state tensors the graph reads",
                lambda t, state=state: id(t) in state, False, subject=tracing.ArgRef(index),
                show=lambda found: "it is one" if found else "it is none"))
        index += 1
    return result


def _default_dtype_guard() -> tracing.Guard:
    """Factories and int-to-float promotion read ``graphc.get_default_dtype()`` while tracing:
    a later ``set_default_dtype`` must retrace, never run the old graph."""
    traced_with = dtypes.DEFAULT_FLOAT
    guard = tracing.Guard(f"graphc.get_default_dtype() is {traced_with}", _current_default_float,
                          traced_with)
    guard.check_identities = lambda: dtypes.DEFAULT_FLOAT is traced_with  # type: ignore[attr-defined]
    return guard


def _refuse_kept_generators(name: str, fn, object_args: list, made: dict) -> None:
    """A generator made during the trace draws constant seeds there (every eager call would
    make it anew); one the trace kept in the function's state (``self.gen = Generator()``,
    made lazily) is drawn from again by the next call, which the graph cannot do."""
    kept = guards.paths_to(fn, object_args, made) if made else {}
    if kept:
        raise tracing.TraceError(
            f"compile({name}): the random generator at {next(iter(kept.values()))} was made "
            "while tracing and is kept after the call; a compiled call does not run the code "
            "that made it again, so its numbers would repeat at every call. Make the "
            "generator before the first call (outside the compiled function)")


def _refuse_iterators(name: str, positions: list, kept: list) -> None:
    """An iterator of the state the trace advanced (``next(batches)``, a generator,
    ``itertools.count``), or one it made and kept: the item the trace took is a constant of the
    graph, and a compiled call does not advance it, so every later call saw the first item (a
    training step on batch 0 forever). Iterators it only holds are fine."""
    for path, iterator, position in positions:
        if position is not None and guards.iterator_position(iterator) != position:
            raise tracing.TraceError(
                f"compile({name}): the function takes items from the iterator {path} (a "
                f"{type(iterator).__name__}); a compiled call does not advance it, so every "
                f"call would see the item the trace took. Take the item outside the compiled "
                f"function and pass it in (for batch in loader: step(batch))")
    known = {id(iterator) for _, iterator, _ in positions}
    for path, iterator in kept:
        if id(iterator) not in known:
            raise tracing.TraceError(
                f"compile({name}): the function makes an iterator and keeps it in {path} (a "
                f"{type(iterator).__name__}); a compiled call would not advance it. Make it "
                f"outside the compiled function and pass its items in")


def _refuse_moved_tensors(name: str, before: list, after: list) -> None:
    """State tensors the function moves between places (``self.front, self.back = self.back,
    self.front``): a compiled call reads them where the trace left them and does not move
    them again, so every later call was stale."""
    moved = guards.moved_tensors(before, after)
    if moved:
        path, source = moved[0]
        raise tracing.TraceError(
            f"compile({name}): the function moves a tensor of its state from {source} to "
            f"{path} (a swap, or a rotated list); a compiled call does not run the Python code "
            f"that moves it, so later calls would read it where this trace left it. Move them "
            f"outside the compiled function, or copy values instead (dst.copy_(src))")


def _refuse_foreign_draws(name: str, generators: list) -> None:
    """NumPy's and Python's random numbers are drawn by Python code, which a compiled call does
    not run: the numbers drawn while tracing would be constants of the graph, the same at every
    call, where eager calls draw new ones."""
    drawn = guards.drawn_from(generators)
    refused = [generator for generator, walked in drawn if walked]
    if refused:
        raise tracing.TraceError(
            f"compile({name}): the function drew random numbers from {refused[0]} while it "
            f"was traced; the compiled graph would hold them as constants, the same at every "
            f"call, where eager calls draw new ones. Draw them with graphc's random functions "
            f"(graphc.rand, randn, randint, randperm, bernoulli: new numbers at every call), or "
            f"outside the compiled function and pass them in")
    if drawn:  # a global one, by code the walk does not see (a library's) or another thread
        warnings.warn(f"compile({name}): {drawn[0][0]} was drawn from while the function was "
                      f"traced, by code it calls or by another thread; a number the function "
                      f"draws from it is a constant of the compiled graph", stacklevel=4)


def _refuse_written_inputs(name: str, lifted: list, items_before: dict) -> None:
    """A number read as a graph input at every call (a learning rate, so that a scheduler
    stepped between calls needs no retrace) must not be changed by the function itself: a
    compiled call does not run the Python code that changes it, and reads it before it runs."""
    for item in lifted:
        if item.kind != "scalar" or item.source is None:
            continue
        container, key = item.source
        if item.getter() != item.read or guards.number_changed(items_before, container, key):
            raise tracing.TraceError(
                f"compile({name}): the function changes the optimizer's '{key}' (graph input "
                f"'{item.name}') while it is traced, by Python code (a scheduler's step() or "
                f"param_group['{key}'] = ...) that a compiled call does not run again; each call "
                f"reads '{key}' as an input before it runs, so the function would use another "
                f"value than eagerly. Change it outside the compiled function (step the "
                f"scheduler after the call)")


def _refuse_grad_mode_switch(name: str, traced_with: tracing.Guard) -> None:
    """``graphc.set_grad_enabled(False)`` called (not entered) inside the function leaves the
    mode switched after an eager call; a compiled call would not switch it again."""
    if autograd.is_grad_enabled() != traced_with.expected:
        autograd.set_grad_enabled(traced_with.expected)  # as it was before the trace
        raise tracing.TraceError(
            f"compile({name}): the function switched grad mode (set_grad_enabled called, not "
            f"entered with `with`) and left it switched; a compiled call does not run that "
            f"again. Use `with graphc.no_grad():` (or set_grad_enabled outside the function)")


class StoredWithoutHistory:
    """The "op" of a tensor a compiled call stored in Python state whose traced value had
    autograd history (``self.h = x * 2`` with x requiring grad; a pruning pre-hook's
    ``module.weight = orig * mask``): a compiled call stores the value only, so a later
    ``backward()`` through it raises, naming it, where it would otherwise silently give the
    function's inputs no gradient."""

    needs_values = False
    needs_output = False
    differentiable = True

    def __init__(self, name: str, function: str):
        self.name, self.function = name, function

    @classmethod
    def mark(cls, tensor: Tensor, name: str, function: str) -> None:
        tensor.requires_grad = True
        tensor._grad_fn = autograd.GradFn(cls(name, function), {}, [], tensor)

    def vjp(self, em, inputs, output, grad, attrs):
        from graphc.errors import AutogradError
        raise AutogradError(
            f"backward through {self.name}, which a call of the compiled function "
            f"'{self.function}' stored: eagerly it would carry autograd history back to the "
            f"function's inputs, but a compiled call stores its value only, so that gradient "
            f"would be missing. Return it from the function instead (outputs keep their "
            f"history), store it detached (.detach()), or call the function uncompiled")


def _refuse_autocast_switch(name: str, traced_with: tracing.Guard) -> None:
    """``graphc.set_autocast_enabled`` called (not entered) inside the function leaves autocast
    switched after an eager call; a compiled call would not switch it again."""
    if amp_mode.autocast_state() != traced_with.expected:
        amp_mode.restore_autocast_state(traced_with.expected)  # as it was before the trace
        raise tracing.TraceError(
            f"compile({name}): the function switched autocast (set_autocast_enabled or "
            f"set_autocast_dtype called, not entered with `with`) and left it switched; a "
            f"compiled call does not run that again. Use `with graphc.autocast(...):` (or "
            f"switch it outside the function)")


def _refuse_history_made_under_no_grad(name: str, ctx, out_leaves: list) -> None:
    """A function called under ``no_grad`` that returns results recorded inside its own
    ``enable_grad``: eagerly they require grad and ``backward()`` works; the trace, begun
    under ``no_grad``, cannot differentiate its graph, so compiled they would have none."""
    if ctx.differentiable:
        return
    for leaf in out_leaves:
        # results this trace made (an argument or state returned as it is keeps its history)
        made_here = leaf._value is not None and id(leaf) not in ctx.arguments \
            if isinstance(leaf, Tensor) else False
        if made_here and leaf._grad_fn is not None:
            raise tracing.TraceError(
                f"compile({name}): called under no_grad, the function returns a result it "
                f"recorded for backward inside enable_grad(); a compiled call cannot give it "
                f"that history. Call it with grad enabled, or return a detached result")


def _grad_mode_guard() -> tracing.Guard:
    """A trace records what autograd does in the grad mode of its call: which values are
    constants (computed under ``no_grad``), whether ``backward()`` may run, what
    ``is_grad_enabled()`` returned. A call in the other mode must retrace."""
    traced_with = autograd.is_grad_enabled()
    guard = tracing.Guard(f"graphc.is_grad_enabled() is {traced_with}", autograd.is_grad_enabled,
                          traced_with)
    guard.check_identities = lambda: autograd.is_grad_enabled() is traced_with  # type: ignore[attr-defined]
    return guard


def _autocast_guard() -> tracing.Guard:
    """Under ``graphc.autocast`` a trace records the casts of its ops (matmuls in bfloat16,
    losses in float32): a call with other autocast settings must retrace."""
    traced_with = amp_mode.autocast_state()
    guard = tracing.Guard(f"autocast is {_describe_autocast(traced_with)}",
                          amp_mode.autocast_state, traced_with, show=_describe_autocast)
    state = amp_mode.thread_state()  # (read directly: this check runs on every call)
    guard.check_identities = lambda: state.key == traced_with  # type: ignore[attr-defined]
    return guard


def _describe_autocast(state: tuple) -> str:
    return "on for " + ", ".join(f"{device} {dtype}" for device, dtype in state) if state \
        else "off"


def _grad_inputs(traced_leaves: list, input_leaves: list, lifted: list,
                 write_backs: list) -> list[int]:
    """Graph input indices (arguments first, then lifted state) of float tensors that require
    grad, when the trace computed no gradients itself (a whole training step writes its
    gradients back and its outputs need no history)."""
    if any(wb.kind == "grad" for wb in write_backs):
        return []
    dynamic = [leaf for leaf in traced_leaves if isinstance(leaf, Tensor)]
    tensors = [dynamic[i] for i in input_leaves]
    tensors += [state.tensor if state.kind == "tensor" else None for state in lifted]
    return [i for i, t in enumerate(tensors)
            if t is not None and t.requires_grad and t.dtype.is_float]


def _rebound_values(traced_leaves: list, input_leaves: list, lifted: list,
                    grad_inputs: list[int], rebound: dict, graph: ir.Graph
                    ) -> dict[int, list[tuple[int, int]]]:
    """Graph input index -> where the values its tensor was updated to under no_grad are
    (:attr:`tracing.TraceContext.rebound`): (index of the producing node, of its result),
    which the graph's text keeps; for the inputs whose gradients compiled_grad takes."""
    if not rebound:
        return {}
    dynamic = [leaf for leaf in traced_leaves if isinstance(leaf, Tensor)]
    tensors = [dynamic[i] for i in input_leaves]
    tensors += [state.tensor if state.kind == "tensor" else None for state in lifted]
    at = {id(v): (n, k) for n, node in enumerate(graph.nodes) for k, v in enumerate(node.outputs)}
    return {i: [at[id(value)] for value in rebound[id(tensors[i])]]
            for i in grad_inputs if id(tensors[i]) in rebound}


def _identifier(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in name.strip("<>"))
    return cleaned if cleaned and not cleaned[0].isdigit() else f"f_{cleaned}"


def _check_options(backend, pipeline, name) -> None:
    """compile()'s options, each checked when given (a wrong one names itself)."""
    if backend is not None:
        if not isinstance(backend, str):
            raise TypeError(f"graphc.compile: backend must be a backend's name (a str), got "
                            f"{backend!r}")
        backends.get(backend)  # an unknown backend
    if not isinstance(pipeline, str):
        raise TypeError(f"graphc.compile: passes must be a pipeline text such as "
                        f"'simplify,fuse', got {pipeline!r}")
    if pipeline:
        passes.parse_pipeline(pipeline)  # an unknown pass or a bad option
    if name is not None and not isinstance(name, str):
        raise TypeError(f"graphc.compile: name must be a str, got {name!r}")


def compile(fn: Optional[Callable] = None, *, backend: Optional[str] = None,
            passes: str = DEFAULT_PIPELINE, name: Optional[str] = None,
            cache_size: int = DEFAULT_CACHE_SIZE):
    """Compiles ``fn`` (a function or an ``nn.Module``) through the IR, like ``torch.compile``.

    Usable bare (``@graphc.compile``) or with options (``@graphc.compile(passes="dce")``).
    Tensor arguments (and NumPy arrays) are graph inputs; other arguments are static and part of
    the cache key. Tensors read from closures, globals or modules are lifted to graph inputs;
    Python values the function can read (numbers, flags, strings, which tensor a variable,
    attribute, dict or list holds) are guards: changing one retraces, and ``explain()`` names it.
    At most ``cache_size`` compiled entries are kept; the least recently used is evicted first.
    ``backend`` names a registered backend; None (the default) means: where the entry's inputs
    are, as ``torch.compile``: ``cuda`` for tensors on ``cuda:0``, else
    :func:`backends.default_backend` (``llvm`` where llvmlite can generate code for this
    machine, else the interpreter, decided at the first compile); tensors on both are PyTorch's
    same-device :class:`graphc.DeviceError`. ``explain()`` says which backend and why.
    """
    _check_options(backend, passes, name)  # here, not at the first call

    def wrap(f):
        if inspect.isgeneratorfunction(f) or inspect.isasyncgenfunction(f) \
                or inspect.iscoroutinefunction(f):
            # a trace runs the body once: later calls gave an exhausted generator (no values)
            raise TypeError(f"graphc.compile: {getattr(f, '__qualname__', f)!r} is a generator "
                            "or async function, which cannot be compiled: compile the function "
                            "that computes each value, and yield its results outside")
        return CompiledFunction(f, backend=backend, pipeline=passes, name=name,
                                cache_size=cache_size)

    return wrap if fn is None else wrap(fn)


def trace(fn: Callable, *example_args, **example_kwargs) -> ir.Graph:
    """Traces ``fn`` on example arguments and returns the IR graph (no passes are run).

        >>> import graphc
        >>> print(graphc.trace(lambda x: x.exp(), graphc.zeros(2)))
        func @lambda(%x: f32[2]) -> (f32[2]) {
          %0: f32[2] = exp %x
          return %0
        }

    Called with a tensor instead of a function it is ``torch.trace``, the sum of a matrix's
    diagonal (:func:`graphc.diagonals.trace`), so that PyTorch programs run unchanged.
    """
    if isinstance(fn, Tensor):
        from graphc.diagonals import trace as matrix_trace
        return matrix_trace(fn, *example_args, **example_kwargs)
    # the interpreter lowers nothing and compiles nothing: the graph comes back as traced
    compiled = CompiledFunction(fn, backend="interpreter", pipeline="")
    return compiled.graph_for(*example_args, **example_kwargs)
