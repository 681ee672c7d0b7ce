"""Tracing Python code into an IR graph.

While a :class:`TraceContext` is active, :func:`graphc.dispatch.apply` appends IR nodes instead of
computing. Concrete tensors that traced code reads (closures, globals, module parameters,
optimizer state) are *lifted*: they become graph inputs, read afresh at every call. Tensors the
code mutates in place, and ``.grad`` fields it assigns, become extra graph outputs that the
compiled function writes back after each call.

    >>> import graphc
    >>> w = graphc.ones(3)
    >>> g = graphc.trace(lambda x: (x * w).sum(), graphc.zeros(3))
    >>> [v.name for v in g.inputs]
    ['x', 'w']
"""
from __future__ import annotations

import itertools
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

import ir
from graphc.device import CUDA0, is_on_device
from graphc.errors import TraceError
from graphc.tensor import Tensor
from ir import dtypes
from ir.graph import SourceLoc


class _TraceState(threading.local):
    ctx: Optional[TraceContext] = None  # the active trace (a class default: read without a miss)


_local = _TraceState()

# Frames from these directories are graphc's own; user locations are the first frame outside.
_OWN_DIRS = tuple(
    os.path.dirname(os.path.abspath(m)) + os.sep
    for m in (__file__, ir.__file__)
) + (os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep + "passes" + os.sep,
     os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep + "backends" + os.sep,
     os.path.dirname(np.__file__) + os.sep)


_TRACE_NUMBERS = itertools.count(1)


def current() -> Optional[TraceContext]:
    """The active trace, or None when running eagerly."""
    return _local.ctx


def user_location() -> Optional[SourceLoc]:
    """The innermost frame of user code (outside graphc, ir, passes, backends and NumPy)."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(_OWN_DIRS) and not filename.startswith("<frozen"):
            return SourceLoc(filename, frame.f_lineno)
        frame = frame.f_back
    return None


def check(failed, error: type, message: str) -> None:
    """Raises ``error(message)`` where the 0-d bool tensor ``failed`` is true: at once for a
    concrete tensor (eagerly); for a traced one, when the compiled graph runs: ``failed`` is
    one of its outputs, which the compiled call tests before it writes state back or returns.
    So a value check PyTorch makes (probabilities in [0, 1]) holds compiled too.

        >>> import graphc
        >>> from graphc import tracing
        >>> def positive(x):
        ...     tracing.check((x <= 0).any(), ValueError, "x must be positive")
        ...     return x.log()
        >>> graphc.compile(positive)(graphc.tensor([-1.0]))
        Traceback (most recent call last):
        ...
        ValueError: x must be positive (checked as the compiled graph ran; from ...)
    """
    trace = current()
    if trace is None:
        if bool(failed.item()):
            raise error(message)
        return
    trace.checks.append((trace.value_of(failed), error, message, user_location()))


def value_needed_error(what: str) -> TraceError:
    loc = user_location()
    where = f"{loc.file}:{loc.line}: " if loc else ""
    return TraceError(
        f"{where}cannot {what} inside a compiled function: a traced tensor has no value until "
        "the compiled graph runs. For a data-dependent choice use graphc.where(cond, a, b); "
        "branching on shapes and Python values is fine.")


@dataclass
class Lifted:
    """A concrete tensor (or its .grad, or a Python number) read by traced code: a graph input."""

    kind: str  # "tensor", "grad", "scalar", "array", "rng"
    name: str
    value: ir.Value
    tensor: Any = None  # the concrete Tensor (kind tensor/grad), the generator (kind rng)
    # kind scalar/array: reads the value at call time; kind rng: draws the seed (None: the
    # global generator's)
    getter: Optional[Callable[[], Any]] = None
    # kind scalar: the (container, key) it is read from, and what it held when the trace read it
    source: Optional[tuple] = None
    read: Any = None


@dataclass(frozen=True)
class ArgRef:
    """Stands for "the tensor passed as dynamic argument ``index``" in a cache entry's guards and
    write-backs, so that entries keep no argument tensors alive."""

    index: int


@dataclass(frozen=True)
class StaticRef:
    """Stands for "the static argument at leaf ``index``" (a config object, a module passed as
    an argument): the state guard walks the object passed to this call, not the one the
    trace saw, since an argument equal to that one may hold other values."""

    index: int


@dataclass
class WriteBack:
    """A graph output copied into Python state after each call."""

    kind: str  # "data" (tensor rebinds), "grad", or "new" (state the trace created)
    tensor: Any
    name: str
    value: Optional[ir.Value]  # None means: set .grad to None
    # a value with autograd history while tracing (``self.h = x * 2``, x requiring grad): the
    # stored tensor's backward raises (graphc.compile.StoredWithoutHistory) rather than
    # silently give no gradient
    had_history: bool = False
    # a "grad" that is the tensor .grad held when the call began, updated in place (backward
    # accumulating, zero_grad(set_to_none=False)): written into that tensor, as eagerly
    in_place: bool = False


@dataclass
class Guard:
    """A condition on Python state that must still hold for a traced graph to be reused.

    ``check()`` reads the state; with a ``subject`` (a tensor seen while tracing) it is
    ``check(subject)``, where an argument tensor is replaced by the one passed to this call.
    """

    description: str
    check: Callable[..., Any]
    expected: Any
    subject: Any = None
    show: Optional[Callable[[Any], str]] = None  # what check() read, as failure() says it

    def _read(self, resolve: Callable[[Any], Any]):
        return self.check() if self.subject is None else self.check(resolve(self.subject))

    def holds(self, resolve: Callable[[Any], Any] = lambda t: t) -> bool:
        try:
            return self._read(resolve) == self.expected
        except Exception:  # state that vanished or changed type fails the guard
            return False

    def failure(self, resolve: Callable[[Any], Any] = lambda t: t) -> str:
        """Why the guard fails now, for ``explain()``."""
        now = self.current(resolve)
        if self.show is not None and not isinstance(now, str):
            now = self.show(now)
        return f"{self.description} (now {now})"

    def current(self, resolve: Callable[[Any], Any] = lambda t: t):
        """What the checked state is now (for explaining a failed guard)."""
        try:
            return self._read(resolve)
        except Exception as exc:  # the guard's subject is gone or broken: say so
            return f"<error: {exc}>"


def _dtype_and_shape(tensor) -> tuple:
    """``tensor.ir_type`` as a plain pair: read at every call by guards, where building the
    TensorType cost most of a guard's 5 us."""
    value = tensor._value
    if value is not None:
        return value.type.dtype, value.type.shape
    data = tensor._data
    return dtypes.from_numpy(data.dtype), data.shape


def _type_and_grad_mode(tensor):
    # the device too: Module.to moves parameters in place (the same tensors), and an entry
    # compiled for one device must not run on arrays of another
    # (whether it is on the device: is_on_device is cheaper than Tensor.device, per call)
    return (_dtype_and_shape(tensor), tensor.requires_grad, is_on_device(tensor._data))


def _grad_type(tensor):
    grad = tensor._grad
    return None if grad is None else (_dtype_and_shape(grad), is_on_device(grad._data))


def _show_type_and_grad_mode(read) -> str:
    (dtype, shape), requires_grad, on_device = read
    return (f"{ir.TensorType(dtype, shape)}{f' on {CUDA0}' if on_device else ''}"
            f"{', requires grad' if requires_grad else ''}")


def _show_grad_type(read) -> str:
    return "None" if read is None else _show_type_and_grad_mode((read[0], False, read[1]))


def _on_device(tensor) -> str:
    """`` on cuda:0`` for a tensor on the device (guard descriptions), else nothing."""
    where = tensor.device
    return "" if where.type == "cpu" else f" on {where}"


@dataclass
class TraceContext:
    """The state of one trace: the graph being built and the Python state it touched."""

    graph: ir.Graph
    lifted: list = field(default_factory=list)
    guards: list = field(default_factory=list)
    _current: dict = field(default_factory=dict)    # id(concrete tensor) -> latest Value
    _owners: dict = field(default_factory=dict)     # id -> tensor (keeps ids stable)
    _saved: dict = field(default_factory=dict)      # id -> state to restore after the trace
    _grads: dict = field(default_factory=dict)      # id -> traced grad Tensor or None
    _grad_proxies: dict = field(default_factory=dict)  # id -> the traced .grad it held at first
    _names: set = field(default_factory=set)
    _guarded: set = field(default_factory=set)  # (description, id(owner)) of each guard()
    # the trace began with grad enabled, so graphc.compiled_grad may differentiate its graph:
    # what it computes under no_grad is marked a constant there (graphc.dispatch.apply)
    differentiable: bool = False
    number: int = field(default_factory=lambda: next(_TRACE_NUMBERS))  # which trace this is
    made_generators: dict = field(default_factory=dict)  # id -> generator made and drawn from
    # id(leaf that requires grad) -> the values it was updated to under no_grad: its gradient
    # is taken at each of them (graphc.tensor_methods._assign, graphc.compiled_grad)
    rebound: dict = field(default_factory=dict)
    _seeds: dict = field(default_factory=dict)  # id(generator) (None: global) -> seed input
    _streams: int = 0
    arguments: dict = field(default_factory=dict)  # id(argument tensor) -> dynamic leaf index
    array_arguments: set = field(default_factory=set)  # ids of those passed as NumPy arrays
    # (id(container), key) of numbers the traced code read itself (optimizer.ParamGroup):
    # guarded by value even where lifted as graph inputs
    read_by_code: set = field(default_factory=set)
    scratch: dict = field(default_factory=dict)  # per-trace notes of code built on the tracer
    _arg_names: dict = field(default_factory=dict)
    # what check() asked to test when the graph runs: (its bool Value, error class, message,
    # the user's line that asked)
    checks: list = field(default_factory=list)
    # id(concrete view read by the trace) -> (its root's Value it was computed from, its Value,
    # the view): a view of state is computed from the state's current value (value_of)
    _view_values: dict = field(default_factory=dict)
    name_of: Callable[[Any], Optional[str]] = lambda t: None

    # -- names ----------------------------------------------------------------------------------
    def unique_name(self, base: str) -> str:
        base = "".join(c if c.isalnum() or c in "_." else "_" for c in base) or "v"
        if not (base[0].isalpha() or base[0] == "_"):
            base = "v" + base
        name, n = base, 1
        while name in self._names:
            n += 1
            name = f"{base}_{n}"
        self._names.add(name)
        return name

    def add_input(self, name: str, type: ir.TensorType) -> ir.Value:
        return self.graph.add_input(self.unique_name(name), type)

    def label(self, tensor) -> str:
        """How reports name a concrete tensor: its argument or state name, else a hint."""
        if id(tensor) in self.arguments:
            return self._arg_names[id(tensor)]
        return self.name_of(tensor) or tensor._name_hint or "lifted"


    def bind_argument(self, tensor, name: str, index: int) -> None:
        """Makes a tensor argument a graph input. The traced code sees the caller's own tensor,
        so in-place updates and ``.grad`` of arguments behave as in eager mode."""
        if id(tensor) in self.arguments:
            return  # the same tensor passed twice is one input (the cache key records that)
        value = self.add_input(name, tensor.ir_type)
        self._current[id(tensor)] = value
        self._owners[id(tensor)] = tensor
        self.arguments[id(tensor)] = index
        self._arg_names[id(tensor)] = value.name
        state_name = self.name_of(tensor)
        if state_name is not None:
            # the argument is also state the function may read directly: specialize on identity
            self.guards.append(Guard(f"argument {name} is {state_name}",
                                     lambda current, t=tensor: current is t, True, subject=tensor))

    def argument_tensors(self) -> list:
        """The tensors bound as arguments (:meth:`bind_argument`)."""
        return [self._owners[key] for key in self.arguments]

    # -- building ---------------------------------------------------------------------------------
    def emit(self, op: str, values, attrs) -> ir.Value:
        return self.graph.add_node(op, values, attrs, loc=user_location()).output

    def value_of(self, tensor) -> ir.Value:
        if tensor._value is not None:
            if tensor._trace is not self:
                raise TraceError("a tensor traced in another compiled function (or an earlier "
                                 "trace) was used here; pass it as an argument instead")
            return tensor._value
        key = id(tensor)
        if tensor._view_info is not None and key not in self.arguments:
            return self._view_value(tensor)
        if key not in self._current:
            value = self.add_input(self.label(tensor), tensor.ir_type)
            self._current[key] = value
            self._owners[key] = tensor
            self.lifted.append(Lifted("tensor", value.name, value, tensor=tensor))
            grad_mode = ", requires grad" if tensor.requires_grad else ""
            self.guards.append(Guard(f"{value.name} has type {tensor.ir_type}"
                                     f"{_on_device(tensor)}{grad_mode}",
                                     _type_and_grad_mode, _type_and_grad_mode(tensor),
                                     subject=tensor, show=_show_type_and_grad_mode))
        return self._current[key]

    def _view_value(self, view) -> ir.Value:
        """A concrete view (``w[0]`` taken eagerly, of a parameter) read by the trace: computed
        from its root's current value, so that writes to either inside the trace are seen
        (graphc.views); once per value of the root."""
        info = view._view_info
        root = info.root()
        if id(root) in self.arguments:
            raise TraceError(f"a view of argument {self.label(root)!r} taken outside the compiled "
                             f"function is read inside it; take the view inside the function "
                             f"(or pass the view as an argument)")
        root_value = self.value_of(root)
        seen = self._view_values.get(id(view))
        if seen is not None and seen[0] is root_value:
            return seen[1]
        value = Tensor._traced(root_value, self)
        value.requires_grad, value._grad_fn = root.requires_grad, root._grad_fn
        for op in info.ops:
            value = op(value)
        self._view_values[id(view)] = (root_value, value._value, view)
        return value._value

    def record_mutation(self, tensor, new) -> None:
        """An in-place op on a concrete tensor: later reads see ``new``; written back after."""
        key = id(tensor)
        self.value_of(tensor)  # lift first, so the graph reads the old value where needed
        if key not in self._saved:
            self._saved[key] = (tensor._grad_fn, tensor.requires_grad, tensor._version)
        self._current[key] = self.value_of(new)

    def read_grad(self, tensor):
        key = id(tensor)
        if key in self._grads:
            return self._grads[key]
        real = tensor._grad
        name = self.label(tensor) + ".grad"
        described = "None" if real is None else f"{real.ir_type}{_on_device(real)}"
        self.guards.append(Guard(f"{name} is {described}",
                                 _grad_type, _grad_type(tensor), subject=tensor,
                                 show=_show_grad_type))
        if real is None:
            self._grads[key] = None
            return None
        value = self.add_input(name, real.ir_type)
        self.lifted.append(Lifted("grad", value.name, value, tensor=tensor))
        self._owners[key] = tensor
        traced = Tensor._traced(value, self)
        self._grads[key] = self._grad_proxies[key] = traced
        return traced

    def write_grad(self, tensor, grad) -> None:
        if grad is not None and grad._value is None:
            # a concrete tensor assigned as grad: lift it by identity, so each call reads it anew
            grad = Tensor._traced(self.value_of(grad), self)
        self._owners[id(tensor)] = tensor
        self._grads[id(tensor)] = grad

    def lift_scalar(self, name: str, getter: Callable[[], float], dtype=ir.f32,
                    source: Optional[tuple] = None):
        """A Python number read at every call (learning rates): a rank-0 graph input.

        ``source`` is the ``(container, key)`` it is read from, which the guards on Python state
        then leave alone (a scheduler changing the learning rate must not retrace)."""
        value = self.add_input(name, ir.TensorType(dtype, ()))
        self.lifted.append(Lifted("scalar", value.name, value, getter=getter, source=source,
                                  read=getter()))
        return Tensor._traced(value, self)

    def lift_array(self, array: np.ndarray, dtype: ir.DType):
        """A NumPy array read while tracing (``x * weights_array``): a graph input read afresh at
        every call, converted to ``dtype``, so changing the array in place is seen."""
        for lifted in self.lifted:
            if lifted.kind == "array" and lifted.tensor is array and lifted.value.dtype == dtype:
                return Tensor._traced(lifted.value, self)
        value = self.add_input("array", ir.TensorType(dtype, array.shape))
        self.lifted.append(Lifted("array", value.name, value, tensor=array,
                                  getter=lambda: dtypes.asarray(array, dtype)))
        return Tensor._traced(value, self)

    def lifted_sources(self) -> frozenset:
        """The ``(id(container), key)`` of the numbers read as inputs at every call."""
        sources = frozenset((id(lifted.source[0]), lifted.source[1]) for lifted in self.lifted
                            if lifted.kind == "scalar" and lifted.source is not None)
        return sources - self.read_by_code

    def lifted_ids(self) -> frozenset:
        """The ids of the NumPy arrays and tensors the graph reads as inputs at every call."""
        return frozenset(id(lifted.tensor) for lifted in self.lifted
                         if lifted.kind in ("array", "tensor"))

    def guard(self, description: str, check: Callable[[], Any], expected: Any,
              owner: Any = None) -> None:
        """Records Python state of ``owner`` the trace depended on (module.training,
        hyperparameters), once per owner: two modules that the namer cannot name may share a
        description ("Dropout.training == True") and still each need their guard."""
        key = (description, id(owner))
        if key not in self._guarded:
            self._guarded.add(key)
            self.guards.append(Guard(description, check, expected))

    def rng_seed(self, generator=None):
        """The seed of one random op and its stream number. The seed is a graph input drawn
        at every call from the global generator, or from ``generator`` (one the function
        reads: ``randn(3, generator=g)``); a generator made during this trace is made anew
        by every call, as eagerly, so its seeds are the same every call: constants."""
        if generator is not None and getattr(generator, "made_in_trace", None) == self.number:
            self.made_generators[id(generator)] = generator  # it must not outlive the call
            return Tensor._wrap(np.array(generator.next_seed(), dtype=np.int64)), 0
        key = None if generator is None else id(generator)
        seed = self._seeds.get(key)
        if seed is None:
            seed = self._seeds[key] = self.add_input("rng_seed", ir.TensorType(ir.i64, ()))
            self.lifted.append(Lifted("rng", seed.name, seed, tensor=generator,
                                      getter=None if generator is None
                                      else generator.next_seed))
        self._streams += 1
        return Tensor._traced(seed, self), self._streams - 1

    # -- results --------------------------------------------------------------------------------
    def write_backs(self) -> list:
        """Mutated tensors and assigned grads, as (kind, tensor, value-or-None)."""
        result = []
        for key, value in self._current.items():
            tensor = self._owners[key]
            if key in self._saved:
                result.append(WriteBack("data", tensor, self.label(tensor), value))
        for key, grad in self._grads.items():
            tensor = self._owners.get(key)
            if tensor is None:
                continue
            lifted_read = grad is not None and any(
                read.kind == "grad" and read.tensor is tensor and read.value is grad._value
                for read in self.lifted)
            if lifted_read:
                continue  # read but never reassigned
            value = None if grad is None else self.value_of(grad)
            in_place = grad is not None and self._grad_proxies.get(key) is grad
            result.append(WriteBack("grad", tensor, self.label(tensor) + ".grad", value,
                                    in_place=in_place))
        return result

    def restore(self) -> None:
        """Undoes the trace's marks on concrete tensors (their autograd state and versions)."""
        for key, (grad_fn, requires_grad, version) in self._saved.items():
            tensor = self._owners[key]
            tensor._grad_fn, tensor.requires_grad, tensor._version = grad_fn, requires_grad, version

    def detach_arguments(self, items) -> None:
        """Replaces argument tensors in guards, lifted reads and write-backs by :class:`ArgRef`,
        and forgets the trace's per-tensor tables, so that nothing a cache entry holds keeps the
        caller's arguments alive."""
        def ref(tensor):
            index = self.arguments.get(id(tensor))
            return tensor if index is None else ArgRef(index)
        for guard in self.guards:
            if isinstance(guard, Guard) and guard.subject is not None:
                guard.subject = ref(guard.subject)
        for item in items:
            if getattr(item, "tensor", None) is not None:
                item.tensor = ref(item.tensor)
        for table in (self._current, self._owners, self._saved, self._grads,
                      self._grad_proxies, self._view_values):
            table.clear()


class tracing_into:
    """``with tracing_into(ctx):`` makes ``ctx`` the active trace (nesting is not allowed)."""

    def __init__(self, ctx: TraceContext):
        self.ctx = ctx

    def __enter__(self):
        if current() is not None:
            raise TraceError("graphc.compile / graphc.trace called while already tracing: "
                             "call the inner function directly (it is traced inline)")
        _local.ctx = self.ctx
        return self.ctx

    def __exit__(self, *exc):
        _local.ctx = None
        self.ctx.restore()
        return False


class suspended:
    """``with suspended():`` runs eagerly inside a trace (used to create optimizer state)."""

    def __enter__(self):
        self.saved = current()
        _local.ctx = None

    def __exit__(self, *exc):
        _local.ctx = self.saved
        return False


class nested_trace:
    """``with nested_trace(ctx):`` makes ``ctx`` the active trace for a while, inside whatever
    trace is active (vmap traces one example of a function, even while ``graphc.compile``
    traces the code around it); the enclosing trace is active again afterwards."""

    def __init__(self, ctx: TraceContext):
        self.ctx = ctx

    def __enter__(self):
        self.saved = current()
        _local.ctx = self.ctx
        return self.ctx

    def __exit__(self, *exc):
        _local.ctx = self.saved
        self.ctx.restore()
        return False
