"""Reverse-mode autograd over a dynamic tape, driven by the op registry's gradient rules.

Every differentiable op applied to a tensor that requires grad records a :class:`GradFn`.
``backward`` walks them in reverse topological order and calls each op's registry ``vjp`` with
a tensor emitter, so the gradient computation is itself made of ordinary tensor ops: recorded
again when ``create_graph=True`` (double backward), and emitted as IR nodes while tracing.

    >>> import graphc
    >>> x = graphc.tensor([1.0, 2.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad.numpy().tolist()
    [2.0, 4.0]
"""
from __future__ import annotations

import functools
import inspect
import threading
import weakref
from collections.abc import Sequence
from typing import Optional

import numpy as np

from graphc.device import move
from graphc.errors import AutogradError
from graphc.tensor import Tensor
from ir.emitter import Emitter, input_gradients


class _GradMode(threading.local):
    """A thread's autograd state: grad mode, and the checkpointed calls recording on it."""
    enabled = True  # every thread starts with grad enabled (read without a failed lookup)

    def __init__(self):
        self.saved: list = []  # the modes `with` blocks found, innermost last
        # The ids of the GradFns made while a checkpointed function runs its forward pass
        # (graphc.utils.checkpoint) on this thread, one set per call, innermost last. They
        # tell the nodes that call made, whose saved values it drops, from those it only
        # reads (its inputs' history, parameters). Per thread: another thread's nodes are
        # not the call's.
        self.recorders: list[set] = []
        # what queue_callback adds while this thread's backward pass runs (below)
        self.completion_callbacks: list = []


_state = _GradMode()


def is_grad_enabled() -> bool:
    return _state.enabled


class _GradModeSwitch:
    """Grad mode ``mode`` inside a ``with`` block or a decorated function, the mode before it
    after. Each entry saves the mode it found on its thread's stack (``with`` blocks nest
    within a thread), so one instance may be entered again, recursively, or by two threads."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)

    def __enter__(self) -> None:
        _state.saved.append(is_grad_enabled())
        _state.enabled = self.mode

    def __exit__(self, *exc) -> bool:
        _state.enabled = _state.saved.pop()
        return False

    def __call__(self, fn):
        """As a decorator: ``fn`` runs in this mode (``@graphc.no_grad()``); a generator
        function runs in it each time it is resumed, the caller's mode coming back at each
        ``yield``."""
        mode = self.mode
        if inspect.isgeneratorfunction(fn):
            return _generator_in_mode(fn, mode)

        @functools.wraps(fn)
        def in_mode(*args, **kwargs):
            previous = is_grad_enabled()
            _state.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                _state.enabled = previous
        return in_mode


def _generator_in_mode(fn, mode: bool):
    """Decorates generator function ``fn``: its body runs in ``mode`` (calling ``fn`` only
    makes the generator; the body runs at each ``next``, ``send`` or ``throw``)."""
    @functools.wraps(fn)
    def generator_in_mode(*args, **kwargs):
        generator = fn(*args, **kwargs)
        resume = functools.partial(generator.send, None)
        while True:
            previous = is_grad_enabled()
            _state.enabled = mode
            try:
                item = resume()
            except StopIteration as stop:
                return stop.value
            finally:
                _state.enabled = previous
            try:
                sent = yield item
            except GeneratorExit:
                with _GradModeSwitch(mode):
                    generator.close()
                raise
            except BaseException as error:  # thrown in by the caller: the body may catch it
                resume = functools.partial(generator.throw, error)
            else:
                resume = functools.partial(generator.send, sent)
    return generator_in_mode


class set_grad_enabled(_GradModeSwitch):
    """Turns gradient recording on or off (``torch.set_grad_enabled``): at once, so that a plain
    call ``graphc.set_grad_enabled(False)`` switches it; used as a context manager or a
    decorator, the mode before it comes back after.

        >>> import graphc
        >>> with graphc.set_grad_enabled(False):
        ...     graphc.is_grad_enabled()
        False
        >>> _ = graphc.set_grad_enabled(False); graphc.is_grad_enabled()
        False
        >>> _ = graphc.set_grad_enabled(True)
    """

    def __init__(self, mode: bool):
        super().__init__(mode)
        self._before_call: Optional[bool] = is_grad_enabled()
        _state.enabled = self.mode

    def __enter__(self) -> None:
        before, self._before_call = self._before_call, None
        super().__enter__()
        if before is not None:  # the call switched already: restore what it found
            _state.saved[-1] = before

    def __call__(self, fn):
        if self._before_call is not None:  # @set_grad_enabled(False): undo the call's switch
            _state.enabled, self._before_call = self._before_call, None
        return super().__call__(fn)


class _FixedGradMode(_GradModeSwitch):
    """A switch to the class's ``MODE``; a decorator with or without parentheses
    (``@graphc.no_grad()``, ``@graphc.no_grad``)."""

    MODE: bool

    def __new__(cls, fn=None):
        return super().__new__(cls) if fn is None else cls()(fn)

    def __init__(self, fn=None):
        super().__init__(self.MODE)


class no_grad(_FixedGradMode):
    """``with graphc.no_grad():`` ops inside record nothing for backward."""

    MODE = False


class enable_grad(_FixedGradMode):
    """``with graphc.enable_grad():`` records for backward again, inside ``no_grad``."""

    MODE = True


class TensorEmitter(Emitter):
    """Runs gradient rules on tensors: each emitted op is an ordinary (recorded) tensor op.

    ``wanted`` holds the ids of the operands whose gradient is routed somewhere (recorded when
    the op ran), so rules skip the rest; None means every operand that requires grad.
    """

    def __init__(self, wanted=None, device=None):
        self.wanted = wanted
        self.device = device  # where the gradients live: a rule's constants are made there

    def emit(self, op, inputs, attrs):
        result = (_apply or _load_apply())(op, inputs, **attrs)
        if op == "const" and self.device is not None and self.device.type != "cpu" \
                and result._value is None and result.ndim:
            result = Tensor._wrap(move(result._data, self.device))  # e.g. gather's zeros
        return result

    def type_of(self, handle):
        return handle.ir_type

    # (rules ask for shapes and dtypes all the time: read without building the TensorType)
    def shape(self, handle):
        data = handle._data
        if type(data) is np.ndarray and handle._value is None:
            return data.shape
        return handle.ir_type.shape

    def dtype(self, handle):
        return handle.dtype

    def wants(self, handle) -> bool:
        if self.wanted is None:
            return handle.requires_grad
        return id(handle) in self.wanted

    def differentiated_again(self) -> bool:
        return is_grad_enabled()  # backward records its ops only under create_graph


_apply = None  # graphc.dispatch.apply, once loaded (dispatch imports this module)


def _load_apply():
    global _apply
    from graphc.dispatch import apply
    _apply = apply
    return apply


def recorders() -> list:
    """This thread's stack of sets recording the ids of the GradFns made (see ``_GradMode``):
    ``graphc.utils.checkpoint`` pushes one around a call, every GradFn made meanwhile on this
    thread adds its id to the innermost."""
    return _state.recorders


class GradFn:
    """The record of one op application that backward will differentiate.

    ``edges[i]`` is where input i's gradient goes: the GradFn that produced it when the op ran,
    or the leaf tensor itself. Recording it at creation keeps routing right even if the input
    tensor is later rebound by an in-place op.
    """

    __slots__ = ("opdef", "attrs", "inputs", "versions", "shapes", "edges", "output",
                 "_out_ref", "_out_version", "__weakref__")

    def __init__(self, opdef, attrs, inputs: Sequence, output):
        self.opdef = opdef
        self.attrs = attrs
        self.inputs = inputs = list(inputs)
        # (one pass over the inputs: this runs at every recorded op)
        self.versions = versions = []
        self.edges = edges = []
        for t in inputs:
            versions.append(t._version)
            if t.requires_grad:
                fn = t._grad_fn
                edges.append(t if fn is None else fn)
            else:
                edges.append(None)
        # (for the ops whose rule may skip an input's value: that input's shape at this call)
        self.shapes = ([t.shape for t in inputs] if getattr(opdef, "name", None)
                       in _VALUE_NEEDED_BY else None)
        # A private alias of the result for rules that use it (exp, tanh, ...). Its link back to
        # this GradFn is made only when a backward records (create_graph), so that the forward
        # pass builds no reference cycles and activations are freed as soon as they are unused.
        self.output = output._alias()
        self._out_ref = weakref.ref(output)
        self._out_version = output._version
        if _state.recorders:  # (one thread-local lookup when no checkpoint records)
            _state.recorders[-1].add(id(self))

    @property
    def name(self) -> str:
        return self.opdef.name

    def check_versions(self) -> None:
        """Raises if a tensor this op's gradient rule reads was changed in place since."""
        if self.opdef.needs_values:
            for i, (t, version) in enumerate(zip(self.inputs, self.versions)):
                if t._version != version and self._value_needed(i):
                    raise AutogradError(
                        f"input {i} of {self.name} (a tensor of shape {list(t.shape)}) was "
                        f"modified by an in-place operation after {self.name} used it (version "
                        f"{t._version}, expected {version}); backward needs its original value. "
                        "Use an out-of-place op (e.g. x = x + y instead of x += y).")
        out = self._out_ref()
        if self.opdef.needs_output and out is not None and out._version != self._out_version:
            raise AutogradError(
                f"the result of {self.name} (shape {list(out.shape)}) was modified by an in-place "
                f"operation, but backward needs it; use an out-of-place op instead.")

    def _value_needed(self, i: int) -> bool:
        """Whether the gradient rule reads input ``i``'s value: ``y * 3`` and ``y / 3`` need
        only the 3 for ``y``'s gradient, so changing ``y`` in place afterwards is fine (as in
        PyTorch); other ops read all their inputs."""
        needed_by = _VALUE_NEEDED_BY.get(self.opdef.name)
        if needed_by is None or self.shapes is None or self.inputs[i].shape != self.shapes[i]:
            return True  # (an in-place op that changed its shape, t_(): refused as before)
        return any(self.edges[k] is not None for k in needed_by[i])

    def __repr__(self) -> str:
        return f"<GradFn {self.name}>"


# input i's value is read by the gradients of the inputs listed: d(a*b)/da = b, d(a/b)/da = 1/b,
# d(a/b)/db = -a/b^2
_VALUE_NEEDED_BY = {"mul": ((1,), (0,)), "div": ((1,), (0, 1))}


def _topological_order(roots, stop=()):
    """GradFns reachable from ``roots`` without passing the ids in ``stop``, each after every
    GradFn that feeds it a gradient."""
    order, seen = [], set(stop)
    for root in roots:
        if root is None or id(root) in seen:
            continue
        stack = [(root, False)]
        while stack:
            fn, expanded = stack.pop()
            if expanded:
                order.append(fn)
                continue
            if id(fn) in seen:
                continue
            seen.add(id(fn))
            stack.append((fn, True))
            for edge in fn.edges:
                if isinstance(edge, GradFn) and id(edge) not in seen:
                    stack.append((edge, False))
    order.reverse()
    return order


def _accumulate(table: dict, key, grad, owners: dict):
    owners[id(key)] = key
    previous = table.get(id(key))
    table[id(key)] = grad if previous is None else previous + grad


def _add_stopped(stopped: list, i: int, grad) -> None:
    stopped[i] = grad if stopped[i] is None else stopped[i] + grad


# Hooks of Tensor.register_hook: on the GradFn that made a non-leaf tensor, or by id on a
# leaf (Tensor and GradFn have __slots__, so they cannot carry the list themselves).
_fn_hooks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_leaf_hooks: dict[int, tuple] = {}


# How many times a hook was registered on or removed from a leaf tensor (the state compiled
# functions read: parameters, buffers), or a Parameter got a new Python attribute: compiled
# functions' guards compare it first, and look at those of the tensors they read only when it
# moved. Hooks on intermediate results (retain_grad) do not move it.
tensor_state_changes = [0]


def tensor_hooks(tensor) -> Optional[list]:
    """The hooks registered on ``tensor`` (None if it has none yet)."""
    if tensor._grad_fn is not None:
        return _fn_hooks.get(tensor._grad_fn)
    ref, hooks = _leaf_hooks.get(id(tensor), (None, None))
    return hooks if ref is not None and ref() is tensor else None


class HookHandle:
    """What ``register_hook`` answers: ``remove()`` unregisters the hook."""

    def __init__(self, hooks: list, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)
            tensor_state_changes[0] += 1


def register_tensor_hook(tensor, hook) -> HookHandle:
    """Calls ``hook(grad)`` when backward computes ``tensor``'s gradient; a tensor it returns
    replaces that gradient."""
    if tensor._grad_fn is not None:
        hooks = _fn_hooks.setdefault(tensor._grad_fn, [])
    else:
        key = id(tensor)
        ref, hooks = _leaf_hooks.get(key, (None, None))
        if ref is None or ref() is not tensor:
            hooks = []
            # the table is bound, not looked up: at interpreter exit the global may be None
            forget = lambda _, k=key, table=_leaf_hooks: table.pop(k, None)
            _leaf_hooks[key] = (weakref.ref(tensor, forget), hooks)
    hooks.append(hook)
    if tensor._grad_fn is None:
        tensor_state_changes[0] += 1
    return HookHandle(hooks, hook)


def _hooked(hooks, g):
    # retain_grad's hook runs after the others, so .grad holds the gradient they made
    ordered = sorted(hooks or (), key=lambda h: getattr(h, "runs_last", False))
    for hook in ordered:
        replaced = hook(g)
        if replaced is not None:
            if not isinstance(replaced, Tensor) or replaced.shape != g.shape \
                    or replaced.dtype != g.dtype:
                # (as PyTorch; another shape failed deep inside, another dtype went through)
                got = (f"a {type(replaced).__name__}" if not isinstance(replaced, Tensor) else
                       f"shape {list(replaced.shape)} and dtype {replaced.dtype}")
                raise AutogradError(
                    f"hook {getattr(hook, '__name__', hook)!r} changed the gradient: it got "
                    f"shape {list(g.shape)} and dtype {g.dtype}, and returned {got}")
            g = replaced
    return g


def _leaf_hooked(leaf, g):
    ref, hooks = _leaf_hooks.get(id(leaf), (None, None))
    return _hooked(hooks, g) if ref is not None and ref() is leaf else g


# Callbacks queue_callback adds while a backward pass runs; they run once, after it has
# written the leaves' .grad (DistributedDataParallel averages the gradients there). Per thread
# (``_state.completion_callbacks``): two threads' backward passes keep their own.
def completion_callbacks() -> list:
    """This thread's queued completion callbacks (the list itself)."""
    return _state.completion_callbacks


def queue_callback(callback) -> None:
    """Runs ``callback()`` once the backward pass now running has accumulated every leaf's
    ``.grad`` (PyTorch's ``Variable._execution_engine.queue_callback``). Call it from a tensor
    hook (a callback already queued is not queued twice); a pass that only returns gradients
    (:func:`grad`) drops its callbacks."""
    queued = _state.completion_callbacks
    if callback not in queued:
        queued.append(callback)


def _run_completion_callbacks(run: bool) -> None:
    queued = _state.completion_callbacks
    callbacks = list(queued)
    queued.clear()
    for callback in callbacks if run else ():
        callback()


def run_backward(roots: Sequence, grads: Sequence, *, create_graph: bool = False,
                 retain_graph: Optional[bool] = None, inputs: Optional[Sequence] = None,
                 boundary: Optional[Sequence] = None):
    """The engine behind ``Tensor.backward`` and :func:`grad`.

    With ``inputs=None`` gradients accumulate into the ``.grad`` of every leaf reached; otherwise
    the gradients of exactly ``inputs`` are returned (None where unreachable) and ``.grad`` is
    left alone. ``boundary`` (for ``graphc.utils.checkpoint``'s backward through a
    recomputation) is a list of groups of edges, GradFns or leaf tensors: the pass stops at
    them and returns, per group, the sum of the gradients that reached its edges (None where
    none did), without running their hooks or touching any ``.grad``.
    """
    if retain_graph is None:
        retain_graph = create_graph
    _state.completion_callbacks.clear()  # left by a backward pass that raised
    pending: dict[int, object] = {}
    owners: dict[int, object] = {}
    leaf_grads: dict[int, object] = {}
    # Non-leaf inputs of grad(): their gradient is what reaches the GradFn that produced them.
    wanted_fns = {} if inputs is None else {id(t._grad_fn): t for t in inputs
                                            if t._grad_fn is not None}
    stop = {id(edge): i for i, group in enumerate(boundary or ()) for edge in group}
    stopped: list = [None] * len(boundary or ())

    with set_grad_enabled(create_graph):
        for i, (root, g) in enumerate(zip(roots, grads)):
            if not root.requires_grad:
                raise AutogradError(f"element {i} of tensors does not require grad and does not "
                                    f"have a grad_fn (a tensor of shape {list(root.shape)}: "
                                    "nothing to differentiate)")
            edge = root if root._grad_fn is None else root._grad_fn
            if stop and id(edge) in stop:
                _add_stopped(stopped, stop[id(edge)], g)
            elif root._grad_fn is None:
                _accumulate(leaf_grads, root, g, owners)
            else:
                _accumulate(pending, root._grad_fn, g, owners)
        for fn in _topological_order([r._grad_fn for r in roots], stop):
            g = pending.pop(id(fn), None)
            if g is None:
                continue
            if _fn_hooks.data and fn in _fn_hooks:  # (a plain dict's test when none has hooks)
                g = _hooked(_fn_hooks[fn], g)
            if id(fn) in wanted_fns:
                leaf_grads[id(wanted_fns[id(fn)])] = g
            if fn.output is None:
                raise AutogradError(
                    f"trying to backward through {fn.name} a second time, after its saved values "
                    "were freed; pass retain_graph=True to the first backward()")
            opdef = fn.opdef
            if opdef.needs_values or opdef.needs_output:  # (else nothing to check)
                fn.check_versions()
            if create_graph:
                fn.output._grad_fn = fn  # double backward sees the result's own history
            # (a host gradient's device is the cpu, which the emitter treats as None)
            emitter = TensorEmitter({id(t) for t, edge in zip(fn.inputs, fn.edges)
                                     if edge is not None},
                                    device=None if type(g._data) is np.ndarray else g.device)
            input_grads = input_gradients(emitter, fn.opdef, fn.inputs, fn.output, g, fn.attrs)
            if anomaly_mode[0] and anomaly_mode[1]:
                _refuse_nan(fn, input_grads)
            if create_graph:
                input_grads = [_depending_on_saved(ig, fn) for ig in input_grads]
            for edge, ig in zip(fn.edges, input_grads):
                if edge is None or ig is None:
                    continue
                if stop and id(edge) in stop:
                    _add_stopped(stopped, stop[id(edge)], ig)
                elif isinstance(edge, GradFn):
                    _accumulate(pending, edge, ig, owners)
                else:
                    _accumulate(leaf_grads, edge, ig, owners)
            if not retain_graph:
                _free_saved(fn)

        if boundary is not None:  # (leaves outside it: reached by no deterministic run)
            _run_completion_callbacks(False)
            return stopped
        for key in list(leaf_grads):
            if key in _leaf_hooks and key in owners:
                leaf_grads[key] = _leaf_hooked(owners[key], leaf_grads[key])
        if inputs is not None:
            _run_completion_callbacks(False)
            return [_grad_for(t, leaf_grads, create_graph) for t in inputs]
        for key, g in leaf_grads.items():  # still under create_graph's grad mode
            leaf = owners[key]
            if not create_graph:
                g = _cut(g)
            accumulate_grad(leaf, g, create_graph)
    _run_completion_callbacks(True)
    return None


def _free_saved(fn: GradFn) -> None:
    """Drops what ``fn`` keeps for backward, as PyTorch frees saved tensors after a backward
    pass. A rule that reads only its operands' shapes and dtypes (add, sum, reshape...) saves
    nothing in PyTorch, so a second backward through it works there: it keeps stand-ins here
    (zero-stride arrays of the same shapes, no memory). Any other is marked freed."""
    opdef = fn.opdef
    # (the result's need first: it answers without looking at the inputs)
    keeps_nothing = not getattr(opdef, "needs_output", True) and not (
        getattr(opdef, "needs_values", True)
        and any(fn._value_needed(i) for i in range(len(fn.inputs))))  # (y * 3 reads the 3)
    saved = [*fn.inputs, fn.output]
    if keeps_nothing and all(t._value is None and type(t._data) is np.ndarray for t in saved):
        fn.inputs = [_stand_in(t) for t in fn.inputs]
        fn.output = _stand_in(fn.output)
    else:
        fn.output = None
        fn.inputs = []


def _stand_in(t: Tensor) -> Tensor:
    """A tensor of ``t``'s shape and dtype whose values nobody reads (all one zero)."""
    data = t._data
    key = (data.dtype, data.shape)
    array = _STAND_INS.get(key)
    if array is None:  # (np.broadcast_to costs more than the op it frees, so they are kept)
        if len(_STAND_INS) >= 512:
            _STAND_INS.clear()
        array = _STAND_INS[key] = np.broadcast_to(np.zeros((), data.dtype), data.shape)
    return Tensor._wrap(array)


# stand-in arrays by (dtype, shape): read-only zero-stride views, shared by every stand-in
_STAND_INS: dict = {}


def accumulate_grad(leaf, g, create_graph: bool) -> None:
    """``leaf.grad += g``: in place, as PyTorch (a reference to ``.grad`` sees the sum; a
    compiled call writes its result into the same tensor), a new tensor under ``create_graph``
    (its history); then the leaf's post-accumulate-grad hooks run (``hook(leaf)``)."""
    held = leaf.grad
    if held is None:
        leaf.grad = g
    elif create_graph or held.requires_grad:
        leaf.grad = held + g
    else:
        with no_grad():
            held.add_(g)
    for hook in list(post_accumulate_hooks(leaf) or ()):
        hook(leaf)


# Tensor.register_post_accumulate_grad_hook: hooks by id of the leaf (weakly held)
_post_accumulate_hooks: dict[int, tuple] = {}


def post_accumulate_hooks(tensor) -> Optional[list]:
    """The post-accumulate-grad hooks registered on the leaf ``tensor`` (None if none yet)."""
    ref, hooks = _post_accumulate_hooks.get(id(tensor), (None, None))
    return hooks if ref is not None and ref() is tensor else None


def register_post_accumulate_grad_hook(tensor, hook) -> HookHandle:
    """Calls ``hook(tensor)`` after backward has accumulated the leaf ``tensor``'s ``.grad``
    (``Tensor.register_post_accumulate_grad_hook``: an optimizer step per parameter inside
    backward). Answers a handle whose ``remove()`` unregisters it."""
    if not tensor.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if tensor._grad_fn is not None:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
    key = id(tensor)
    ref, hooks = _post_accumulate_hooks.get(key, (None, None))
    if ref is None or ref() is not tensor:
        hooks = []
        forget = lambda _, k=key, table=_post_accumulate_hooks: table.pop(k, None)  # noqa: E731
        _post_accumulate_hooks[key] = (weakref.ref(tensor, forget), hooks)
    hooks.append(hook)
    tensor_state_changes[0] += 1  # compiled functions that ran backward retrace
    return HookHandle(hooks, hook)


# torch.autograd's anomaly mode: [enabled, check_nan] (graphc/autograd_anomaly.py sets it);
# with both on, a backward op whose gradient holds NaN raises, naming the op
anomaly_mode = [False, True]


def _refuse_nan(fn, input_grads) -> None:
    import numpy as np

    from graphc.device import host_array
    for i, ig in enumerate(input_grads):
        if ig is None or ig._value is not None or not ig.dtype.is_float:
            continue
        if np.isnan(host_array(ig._data)).any():
            raise RuntimeError(f"Function '{fn.name}' returned nan values in its {i}th output.")


# ops whose gradient reads their input only through a mask or a sign (PyTorch's backward of
# relu, leaky_relu, abs, max/min takes the saved input, so its result requires grad)
_MASKING_OPS = frozenset(("relu", "where", "abs", "max", "min"))


class _ZeroDerivative:
    """The "op" of a gradient computed from saved values only through a mask (relu's,
    leaky_relu's): it depends on them, with derivative zero, as in PyTorch, where such a
    gradient requires grad and a penalty on it gives zeros (not an error)."""

    name = "zero_derivative"
    needs_values = False
    needs_output = False
    differentiable = True

    def vjp(self, em, inputs, output, grad, attrs):
        from graphc.factories import zeros_like
        return [zeros_like(t) for t in inputs]


def _depending_on_saved(ig, fn: GradFn):
    """Under create_graph, a gradient of a masking op (``_MASKING_OPS``) that does not require
    grad although the mask came from values that do: given history of derivative zero."""
    if ig is None or ig.requires_grad or ig.is_traced or fn.name not in _MASKING_OPS:
        return ig
    sources = [t for t in fn.inputs if t.requires_grad]
    if not sources:
        return ig
    out = Tensor._wrap(ig._data)
    out.requires_grad = True
    out._grad_fn = GradFn(_ZeroDerivative(), {}, sources, out)
    return out


def _grad_for(t, leaf_grads, create_graph):
    g = leaf_grads.get(id(t))
    if g is None:
        return None
    return g if create_graph else _cut(g)


def _cut(g):
    """``g`` without history, as a tensor of its own: ``Tensor.detach`` would make it a view of
    backward's internal gradient, and a compiled step that writes ``.grad`` in place would then
    update the view but not what it views (the next eager update read the old values)."""
    from graphc.views import detached_copy  # (views sit above this module)
    return detached_copy(g)


def _checked_grad_outputs(outputs: list, grad_outputs, ones_like) -> list:
    """One gradient per output, as PyTorch's: None (or none given) is ones for a
    one-element output; the count and each shape must match (zip dropped outputs, and a
    gradient of another shape was broadcast into a wrong result, silently)."""
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    else:
        grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise AutogradError(f"grad_outputs has {len(grad_outputs)} gradients for "
                            f"{len(outputs)} outputs: give one per output (None for ones)")
    checked = []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if g is None:
            if out.numel() != 1:
                raise AutogradError(f"grad can be implicitly created only for scalar outputs "
                                    f"(output {i} has shape {list(out.shape)}: pass its "
                                    f"gradient)")
            data = out._data
            # (a host value's ones directly: ones_like's checks and dispatch cost more than
            # the rest of backward() on a small model)
            g = Tensor._wrap(np.ones(data.shape, data.dtype)) if (
                type(data) is np.ndarray and out._value is None) else ones_like(out)
        elif not isinstance(g, Tensor):
            raise TypeError(f"grad_outputs[{i}] must be a tensor or None, got "
                            f"{type(g).__name__}")
        elif g.shape != out.shape:
            raise AutogradError(f"Mismatch in shape: grad_output[{i}] has a shape of "
                                f"{list(g.shape)} and output[{i}] has a shape of "
                                f"{list(out.shape)}: the gradient must have the output's shape")
        checked.append(g)
    return checked


def grad(outputs, inputs, grad_outputs=None, *, retain_graph=None, create_graph=False,
         allow_unused=None, is_grads_batched: bool = False, materialize_grads: bool = False):
    """Gradients of ``outputs`` w.r.t. ``inputs``, like ``torch.autograd.grad``.

    ``inputs`` are tensors that require grad, leaves or intermediate results. An input the
    outputs do not depend on is an error, as in PyTorch, or gives ``None`` with
    ``allow_unused=True`` (zeros with ``materialize_grads=True``). ``grad_outputs`` has one
    gradient per output, of its shape (None: ones, for a one-element output).
    ``is_grads_batched=True``: each ``grad_outputs[k]`` has a leading batch dim, and the result
    is the stack of the vector-Jacobian products of its slices (one backward pass per slice;
    PyTorch uses vmap, with the same values).

        >>> import graphc
        >>> x = graphc.tensor(3.0, requires_grad=True)
        >>> (g,) = graphc.autograd.grad(x ** 3, [x], create_graph=True)
        >>> graphc.autograd.grad(g, [x])[0].item()   # d2/dx2 x^3 = 6x
        18.0
    """
    from graphc.factories import ones_like, zeros_like  # (factories sit above this module)
    if is_grads_batched:
        return _batched_grad(outputs, inputs, grad_outputs, retain_graph, create_graph,
                             allow_unused, materialize_grads)
    single_out = isinstance(outputs, Tensor)
    outputs = [outputs] if single_out else list(outputs)
    single_in = isinstance(inputs, Tensor)
    inputs = [inputs] if single_in else list(inputs)
    grad_outputs = _checked_grad_outputs(outputs, grad_outputs, ones_like)
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise AutogradError(f"input {i} of grad() does not require grad; call "
                                "requires_grad_() on it before computing the outputs")
    result = run_backward(outputs, grad_outputs, create_graph=create_graph,
                          retain_graph=retain_graph, inputs=inputs)
    if materialize_grads:  # zeros for the inputs the outputs do not depend on
        if allow_unused is False:
            raise ValueError("grad: materialize_grads=True needs allow_unused=True (or not "
                             "given)")
        return [zeros_like(t) if r is None else r for t, r in zip(inputs, result)]
    if not allow_unused and any(r is None for r in result):
        raise AutogradError("one of the inputs is not used to compute the outputs "
                            "(pass allow_unused=True to get None for it)")
    return result


def _batched_grad(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused,
                  materialize_grads):
    """``grad(..., is_grads_batched=True)``: one ``grad`` per slice of the batched
    ``grad_outputs``, the results stacked (None stays None, for an unused input)."""
    from graphc.functions import stack  # (functions sit above this module)
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    if grad_outputs is None:
        raise AutogradError("grad: is_grads_batched=True needs grad_outputs (each with a "
                            "leading batch dim)")
    grad_outputs = [grad_outputs] if isinstance(grad_outputs, Tensor) else list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise AutogradError(f"grad: got {len(grad_outputs)} grad_outputs for {len(outputs)} "
                            f"outputs")
    sizes = set()
    for k, (o, g) in enumerate(zip(outputs, grad_outputs)):
        if not isinstance(g, Tensor) or g.ndim == 0 or tuple(g.shape[1:]) != tuple(o.shape):
            got = list(g.shape) if isinstance(g, Tensor) else type(g).__name__
            raise AutogradError(f"grad: with is_grads_batched=True, grad_outputs[{k}] must have "
                                f"shape [B, {', '.join(map(str, o.shape))}] (a batch of "
                                f"gradients of output {k}), got {got}")
        sizes.add(g.shape[0])
    if len(sizes) != 1:
        raise AutogradError(f"grad: the grad_outputs' batch sizes differ: {sorted(sizes)}")
    (batch,) = sizes
    keep = create_graph if retain_graph is None else retain_graph
    rows = [grad(outputs, inputs, [g[b] for g in grad_outputs],
                 retain_graph=True if b < batch - 1 else keep, create_graph=create_graph,
                 allow_unused=allow_unused, materialize_grads=materialize_grads)
            for b in range(batch)]
    return tuple(None if rows[0][i] is None else stack([r[i] for r in rows])
                 for i in range(len(rows[0])))


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph: bool = False,
             inputs=None) -> None:
    """Accumulates the gradients of ``tensors`` into ``.grad`` (``torch.autograd.backward``):
    of every leaf that requires grad, or only of ``inputs`` (leaves or not)."""
    from graphc.factories import ones_like
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    grads = _checked_grad_outputs(tensors, grad_tensors, ones_like)
    if inputs is None:
        run_backward(tensors, grads, create_graph=create_graph, retain_graph=retain_graph)
        return
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if not inputs:
        raise AutogradError("backward: inputs= was given but is empty")
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise AutogradError(f"backward: input {i} does not require grad")
    results = run_backward(tensors, grads, create_graph=create_graph,
                           retain_graph=retain_graph, inputs=inputs)
    for t, g in zip(inputs, results):
        if g is not None:
            accumulate_grad(t, g, create_graph)


# custom functions (torch.autograd.Function), in a module of their own, importable by
# PyTorch's path too (from torch.autograd.function import once_differentiable)
import sys as _sys  # noqa: E402

from graphc import autograd_function as function  # noqa: E402
from graphc.autograd_function import Function, FunctionCtx, once_differentiable  # noqa: E402,F401

_sys.modules[f"{__name__}.function"] = function

# anomaly mode (torch.autograd.detect_anomaly, set_detect_anomaly)
from graphc.autograd_anomaly import detect_anomaly, set_detect_anomaly  # noqa: E402,F401
