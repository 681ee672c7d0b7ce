"""``Optimizer``: the base class of graphc's optimizers, with PyTorch's API and state format.

Every optimizer is written once, with tensor ops, and runs both eagerly and inside
``@graphc.compile``. While a training step is traced:

* parameters and optimizer state are updated with in-place ops (``p.sub_``, ``buf.copy_``), which
  the tracer turns into graph outputs written back after every call;
* missing state is created *concretely* (``tracing.suspended``), so it exists, with its initial
  value, before the compiled graph first runs and reads it;
* the step count is a tensor (``state['step']``), so the graph is the same on every step;
* each group's learning rate is a graph input read at every call (:meth:`Optimizer._lr`), so a
  scheduler changing ``group['lr']`` does not retrace;
* other hyperparameters are constants of the graph, guarded (:meth:`Optimizer._hyper`): changing
  ``momentum`` retraces and ``explain()`` says why.

    >>> import graphc
    >>> from graphc.nn import Parameter
    >>> w = Parameter(graphc.ones(2))
    >>> opt = graphc.optim.SGD([w], lr=0.5)
    >>> (w * w).sum().backward(); opt.step()
    >>> w.tolist()
    [0.0, 0.0]
"""
from __future__ import annotations

import numbers
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, Optional

import numpy as np

from graphc import autograd, guards, tracing
from graphc.errors import ArgumentError, ArgumentTypeError
from graphc.optim import optimizer_hooks as hooks
from graphc.optim.optimizer_hooks import (  # noqa: F401  (torch.optim.optimizer's names)
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)
from graphc.tensor import Tensor


class _Required:
    """Marks a hyperparameter without a default (``SGD(params)`` must then name ``lr``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


class ParamGroup(dict):
    """A parameter group: a plain dict to its users. While a compiled function is traced, the
    learning rate (and a cycled momentum) is a graph input read at every call, and the guards
    leave it alone, so that a schedule does not retrace; but a value the function's own code
    reads (``x * opt.param_groups[0]['lr']``, ``if group['lr'] < 1e-3:``) is baked into the
    trace. Such reads are noted here, and that entry is guarded by value instead."""

    __slots__ = ()

    def _read(self, keys) -> None:
        ctx = tracing.current()
        if ctx is not None and not guards.walking():
            ctx.read_by_code.update((id(self), key) for key in keys)

    def __getitem__(self, key):
        self._read((key,))
        return dict.__getitem__(self, key)

    def get(self, key, default=None):
        return self[key] if key in self else default

    def items(self):
        self._read(dict.keys(self))
        return dict.items(self)

    def values(self):
        self._read(dict.keys(self))
        return dict.values(self)

    def copy(self) -> dict:
        self._read(dict.keys(self))
        return dict(dict.items(self))

    def __iter__(self):  # (an own __iter__ makes dict(group) and {**group} read through [])
        return dict.__iter__(self)

    def __reduce__(self):  # (the default would pickle the items twice)
        return ParamGroup, (dict(self),)


def check_numbers(owner: str, **values) -> None:
    """Raises a TypeError naming a hyperparameter that is not a real number (or a tuple of
    them, as ``betas``), before a comparison with it fails less clearly.

        >>> check_numbers("SGD", lr="0.1")
        Traceback (most recent call last):
        graphc.errors.ArgumentTypeError: SGD: lr must be a number, got '0.1' (str)
    """
    for name, value in values.items():
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, bool) or not isinstance(item, (numbers.Real, Tensor)):
                raise ArgumentTypeError(f"{owner}: {name} must be a number, got {item!r} "
                                        f"({type(item).__name__})")


def implementation_switches(owner: str, **switches) -> dict:
    """PyTorch's switches of how a step runs (``foreach``, ``fused``, ``capturable``,
    ``differentiable``), accepted so that PyTorch code constructs its optimizers unchanged, and
    kept in the defaults as PyTorch keeps them (its state dicts carry them). They do not change
    the numbers, and a compiled graphc step fuses the whole update whatever they say.
    ``differentiable=True`` (autograd through the step) is refused: graphc's steps run under
    ``no_grad``.

        >>> implementation_switches("SGD", foreach=True, differentiable=False)
        {'foreach': True, 'differentiable': False}
    """
    if switches.get("differentiable"):
        raise NotImplementedError(f"{owner}: differentiable=True (autograd through the "
                                  "optimizer step) is not supported; graphc's steps run "
                                  "under no_grad")
    return switches


def _is_number_or_numbers(value) -> bool:
    items = value if isinstance(value, tuple) else (value,)
    return bool(items) and all(isinstance(item, numbers.Real) and not isinstance(item, bool)
                               for item in items)


_UNORDERED = ("optimizer parameters need to be organized in ordered collections, but the ordering "
              "of tensors in sets changes between runs; use a list")

class Optimizer:
    """Base class of all optimizers, like ``torch.optim.Optimizer``.

    ``params`` is an iterable of tensors or of dicts (parameter groups: ``{'params': [...],
    'lr': 0.1}``); ``defaults`` fills the hyperparameters a group does not set. ``state`` is,
    as in PyTorch, a ``defaultdict(dict)`` mapping each parameter tensor to a dict of its state,
    so optimizers written for PyTorch (``state = self.state[p]; if len(state) == 0: ...``) port
    unchanged. Subclasses implement :meth:`step` with tensor ops (see the module docstring for
    why); Python numbers kept in the state (``state['step'] += 1``) work too, but a compiled
    step then retraces whenever they change.

        >>> import graphc
        >>> class SignSGD(graphc.optim.Optimizer):
        ...     def __init__(self, params, lr=0.1):
        ...         super().__init__(params, dict(lr=lr))
        ...     @graphc.no_grad()
        ...     def step(self, closure=None):
        ...         for group in self.param_groups:
        ...             for p in group["params"]:
        ...                 state = self.state[p]
        ...                 if len(state) == 0:
        ...                     state["steps"] = graphc.zeros(())
        ...                 state["steps"].add_(1)
        ...                 p.sub_(group["lr"] * p.grad.sign())
        >>> w = graphc.nn.Parameter(graphc.tensor([1.0, -1.0]))
        >>> opt = SignSGD([w])
        >>> (w * 3.0).sum().backward(); opt.step()
        >>> w.tolist(), opt.state[w]["steps"].item()
        ([0.8999999761581421, -1.100000023841858], 1.0)
    """

    # state entries kept as float32 scalar tensors whatever the parameter's dtype (PyTorch's
    # layout): a loaded state dict must give one number for each
    _scalar_state: tuple = ("step",)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "_runs_step_hooks", False):
            cls.step = hooks.running_step_hooks(step)  # (the step hooks run around it)

    # -- hooks (graphc.optim.optimizer_hooks) ---------------------------------------------------
    def register_step_pre_hook(self, hook: Callable):
        """``hook(optimizer, args, kwargs)`` before each ``step``; it may return new
        ``(args, kwargs)``. Returns a handle whose ``remove()`` unregisters it."""
        return hooks._add(hooks.own_table(self, "_optimizer_step_pre_hooks"), hook)

    def register_step_post_hook(self, hook: Callable):
        """``hook(optimizer, args, kwargs)`` after each ``step``."""
        return hooks._add(hooks.own_table(self, "_optimizer_step_post_hooks"), hook)

    def register_state_dict_pre_hook(self, hook: Callable, prepend: bool = False):
        """``hook(optimizer)`` before :meth:`state_dict` builds the dict."""
        return hooks._add(hooks.own_table(self, "_optimizer_state_dict_pre_hooks"), hook,
                          prepend)

    def register_state_dict_post_hook(self, hook: Callable, prepend: bool = False):
        """``hook(optimizer, state_dict)`` after; a dict it returns is the result."""
        return hooks._add(hooks.own_table(self, "_optimizer_state_dict_post_hooks"), hook,
                          prepend)

    def register_load_state_dict_pre_hook(self, hook: Callable, prepend: bool = False):
        """``hook(optimizer, state_dict)`` before :meth:`load_state_dict`; a dict it returns
        is loaded instead."""
        return hooks._add(hooks.own_table(self, "_optimizer_load_state_dict_pre_hooks"), hook,
                          prepend)

    def register_load_state_dict_post_hook(self, hook: Callable, prepend: bool = False):
        """``hook(optimizer)`` after :meth:`load_state_dict`."""
        return hooks._add(hooks.own_table(self, "_optimizer_load_state_dict_post_hooks"), hook,
                          prepend)

    def __init__(self, params: Iterable, defaults: dict):
        self.defaults = dict(defaults)
        self.state: defaultdict = defaultdict(dict)
        # hyperparameters a scheduler changes at every step besides 'lr' (OneCycleLR cycles
        # 'momentum' or 'betas'): a compiled step reads them as graph inputs, see _cycled
        self._scheduled_hyperparameters: set = set()
        self.param_groups: list[dict] = []
        if isinstance(params, Tensor):
            raise ArgumentTypeError("params argument given to the optimizer should be an iterable of "
                                    f"Tensors or dicts, but got {type(params).__name__}")
        if isinstance(params, (set, frozenset)):
            raise ArgumentTypeError(_UNORDERED)
        groups = list(params)
        if not groups:
            raise ArgumentError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # -- parameter groups ------------------------------------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        """Adds a group of parameters with its own hyperparameters (e.g. when unfreezing layers)."""
        if not isinstance(param_group, dict):
            raise ArgumentTypeError(f"a parameter group must be a dict, got {type(param_group).__name__}")
        group = ParamGroup(param_group)
        if "params" not in group:
            raise KeyError(f"a parameter group needs its tensors under 'params'; got the keys "
                           f"{sorted(map(str, group))}")
        params = group.get("params")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise ArgumentTypeError(_UNORDERED)
        params = list(params or [])
        named = [isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in params]
        if any(named):  # model.named_parameters(), as PyTorch 2.6 takes them
            if not all(named):
                raise ArgumentError("all parameters of a group must be named (name, tensor) pairs "
                                    "or none of them; some names are missing")
            group["param_names"] = [name for name, _ in params]
            params = [p for _, p in params]
        for p in params:
            if not isinstance(p, Tensor):
                raise ArgumentTypeError(f"optimizer can only optimize Tensors, got {type(p).__name__}")
            if p.is_traced:
                raise ArgumentTypeError("optimizer parameters must be concrete tensors, not tensors traced "
                                        "inside a compiled function; create the optimizer outside it")
            if p.grad_fn is not None:
                raise ArgumentError("can't optimize a non-leaf Tensor (it has a grad_fn); optimize "
                                    "the leaf tensors it was computed from")
        if len({id(p) for p in params}) != len(params):
            raise ArgumentError("a parameter group contains the same parameter more than once")
        group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ArgumentError(f"parameter group didn't specify a value of required "
                                    f"optimization parameter {name}")
            group.setdefault(name, default)
        check_numbers(type(self).__name__, **{
            name: group[name] for name, default in self.defaults.items()
            if default is not required and name in group and _is_number_or_numbers(default)})
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ArgumentError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    # -- gradients -------------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clears the ``.grad`` of every parameter: to None (default) or to zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                    continue
                g = p.grad
                if g is None:
                    continue
                with autograd.no_grad():  # in place: a reference to it sees the zeros
                    g.detach_()
                    g.zero_()

    def step(self, closure: Optional[Callable[[], Any]] = None):
        """Updates the parameters from their ``.grad``; ``closure`` re-evaluates the loss."""
        raise NotImplementedError(f"{type(self).__name__} does not implement step()")

    def _closure_loss(self, closure):
        if closure is None:
            return None
        with autograd.enable_grad():
            return closure()

    def _params_with_grad(self, group: dict):
        """(parameter, gradient) pairs of a group; parameters without a gradient are skipped."""
        ctx = tracing.current()
        if ctx is not None:
            self._guard_structure(ctx)
        for p in group["params"]:
            g = p.grad
            if g is not None:
                yield p, g

    # -- state -----------------------------------------------------------------------------------
    def _state(self, p: Tensor, init: dict) -> dict:
        """The state dict of ``p``, creating missing entries from ``init`` (name -> factory).

        Factories run eagerly even inside a trace, so that new state is a concrete tensor with
        its initial value, which the compiled graph then reads and updates like any other state.
        """
        state = self.state.setdefault(p, {})
        missing = [name for name in init if name not in state]
        if missing:
            with tracing.suspended(), autograd.no_grad():
                for name in missing:
                    state[name] = init[name]()
        ctx = tracing.current()
        if ctx is not None:
            # the graph read these very tensors: load_state_dict (which replaces them) retraces
            ids = _tensor_ids(state)
            label = self._label(ctx)
            index = self._param_index(p)
            ctx.guard(f"{label}.state[param {index}] holds the traced state tensors",
                      lambda: _tensor_ids(self.state.get(p, {})), ids, owner=self)
        return state

    @staticmethod
    def _step_tensor() -> Tensor:
        """A float32 scalar step counter (a tensor, so the traced graph is the same every step)."""
        return Tensor._wrap(np.zeros((), dtype=np.float32))

    @staticmethod
    def _exact(scalar_state: Tensor) -> Tensor:
        """A scalar state entry (``step``, ``mu_product``) in float64, for the step's scalar
        arithmetic (bias corrections, decays): PyTorch does it in Python floats. In the
        parameter's dtype, bfloat16 rounds 0.999 to 1, so Adam's ``1 - beta2 ** t`` was 0 and
        no bfloat16 parameter ever moved. The result still combines with the parameter's
        tensors in their dtype (a 0-d tensor does not promote them)."""
        return scalar_state.double()

    # -- tracing support -------------------------------------------------------------------------
    def _scope(self, ctx) -> dict:
        """Per-trace bookkeeping shared by all optimizers: labels and lifted learning rates."""
        return ctx.scratch.setdefault("optim", {"labels": {}, "lr": {}})

    def _label(self, ctx) -> str:
        """This optimizer's name in guard descriptions (``opt`` or ``Adam``), unique per trace."""
        labels = self._scope(ctx)["labels"]
        for label, owner in labels.items():
            if owner is self:
                return label
        base = ctx.name_of(self) or type(self).__name__
        label, n = base, 1
        while label in labels:
            n += 1
            label = f"{base}#{n}"
        labels[label] = self
        return label

    def _param_index(self, p: Tensor) -> int:
        index = 0
        for group in self.param_groups:
            for q in group["params"]:
                if q is p:
                    return index
                index += 1
        return -1

    def _hyper(self, group_index: int, key: str):
        """``param_groups[group_index][key]``, guarded when read inside a trace.

        A hyperparameter a scheduler cycles (``_scheduled_hyperparameters``) is read as a
        number through :meth:`_cycled` instead; here only what shapes the graph is guarded:
        whether a number is nonzero, or the items after the first of a tuple (``betas``,
        whose ``beta1`` is cycled).
        """
        value = dict.__getitem__(self.param_groups[group_index], key)  # guarded here
        ctx = tracing.current()
        if ctx is None:
            return value
        label = self._label(ctx)
        where = f"{label}.param_groups[{group_index}][{key!r}]"
        if key not in self._scheduled_hyperparameters:
            ctx.guard(f"{where} == {value!r}", lambda: self.param_groups[group_index][key],
                      value, owner=self)
        elif isinstance(value, tuple):
            ctx.guard(f"{where}[1:] == {value[1:]!r}",
                      lambda: tuple(self.param_groups[group_index][key][1:]), value[1:],
                      owner=self)
        else:
            ctx.guard(f"{where} != 0 is {value != 0}",
                      lambda: self.param_groups[group_index][key] != 0, value != 0, owner=self)
        return value

    def _lr(self, group_index: int, like: Tensor):
        """The learning rate of a group: the float eagerly, a graph input read at every call
        while tracing (so that schedulers change it without retracing)."""
        return self._cycled(group_index, "lr", like)

    def _cycled(self, group_index: int, key: str, like: Tensor, item: Optional[int] = None):
        """A hyperparameter used as a number in the update (``item`` picks from a tuple).

        Eagerly the number. While tracing, a graph input read at every call (dtype of
        ``like``) if a scheduler changes it every step (the learning rate; ``momentum`` or
        ``betas[0]`` under OneCycleLR), so that the schedule never retraces; otherwise the
        number, guarded by :meth:`_hyper`.
        """
        group = self.param_groups[group_index]
        value = dict.__getitem__(group, key)  # (not a read ParamGroup notes)
        if item is not None:
            value = value[item]
        ctx = tracing.current()
        if ctx is None:
            return value
        if key != "lr" and key not in self._scheduled_hyperparameters:
            self._hyper(group_index, key)
            return value
        cache = self._scope(ctx)["lr"]
        cache_key = (id(self), group_index, key, item, like.dtype)
        if cache_key not in cache:
            name = key if item is None else f"{key}{item}"
            if group_index:
                name += f"_group{group_index}"

            def read() -> float:
                current = dict.__getitem__(self.param_groups[group_index], key)
                return float(current if item is None else current[item])

            cache[cache_key] = ctx.lift_scalar(name, read, dtype=like.dtype,
                                               source=(group, key))
        return cache[cache_key]

    def _guard_structure(self, ctx) -> None:
        """The traced step unrolled over the groups and their parameters: guard both."""
        label = self._label(ctx)
        ids = tuple(tuple(id(p) for p in g["params"]) for g in self.param_groups)
        ctx.guard(f"{label}.param_groups hold the same {sum(map(len, ids))} parameters in "
                  f"{len(ids)} group(s)",
                  lambda: tuple(tuple(id(p) for p in g["params"]) for g in self.param_groups), ids,
                  owner=self)

    # -- state dicts -----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The optimizer's state in PyTorch's format.

        ``{'state': {index: {name: tensor}}, 'param_groups': [{..hyperparameters..,
        'params': [indices]}]}`` where parameters are numbered in group order. Tensors are
        snapshots: later steps do not change a state dict already taken.
        """
        for hook in list(self.__dict__.get("_optimizer_state_dict_pre_hooks", {}).values()):
            hook(self)
        index_of: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index_of.setdefault(id(p), len(index_of))
                packed["params"].append(index_of[id(p)])
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index_of[id(p)]] = {k: _snapshot(v) for k, v in self.state[p].items()}
        result = {"state": state, "param_groups": groups}
        for hook in list(self.__dict__.get("_optimizer_state_dict_post_hooks", {}).values()):
            replaced = hook(self, result)
            if replaced is not None:
                result = replaced
        return result

    def load_state_dict(self, state_dict: dict) -> None:
        """Restores hyperparameters and state saved by :meth:`state_dict` (or loaded from disk).

        Groups must match in number and size. Floating point state is cast to its parameter's
        dtype (``step`` counters excepted), as PyTorch does. State that could not work is
        rejected here, before anything changes, rather than at the next :meth:`step`: tensors
        must have their parameter's shape (a floating point dtype for floating point
        parameters), and ``step`` must be one number.

            >>> import graphc
            >>> from graphc import optim
            >>> w = graphc.nn.Parameter(graphc.zeros(3))
            >>> opt = optim.SGD([w], lr=0.1, momentum=0.9)
            >>> state = {"state": {0: {"momentum_buffer": graphc.zeros(4)}},
            ...          "param_groups": opt.state_dict()["param_groups"]}
            >>> opt.load_state_dict(state)  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            graphc.errors.ArgumentError: loaded state dict: state 'momentum_buffer' of parameter 0 ...
        """
        for hook in list(self.__dict__.get("_optimizer_load_state_dict_pre_hooks",
                                           {}).values()):
            replaced = hook(self, state_dict)
            if replaced is not None:
                state_dict = replaced
        if not isinstance(state_dict, dict) or "param_groups" not in state_dict:
            raise ArgumentError("optimizer state dict must be a dict with 'state' and 'param_groups'")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ArgumentError(f"loaded state dict has {len(saved_groups)} parameter groups, but "
                                f"the optimizer has {len(self.param_groups)}")
        for i, (own, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(own["params"]) != len(saved["params"]):
                raise ArgumentError(f"loaded state dict contains a parameter group {i} with "
                                    f"{len(saved['params'])} parameters, but the optimizer's group "
                                    f"has {len(own['params'])}")
        id_map = {}
        for own, saved in zip(self.param_groups, saved_groups):
            for index, p in zip(saved["params"], own["params"]):
                id_map[int(index)] = p
        saved_state = {int(k): v for k, v in state_dict.get("state", {}).items()}
        new_state: dict = {}
        for index, values in saved_state.items():
            if index not in id_map:
                continue  # state of a parameter the optimizer does not know (PyTorch skips it too)
            p = id_map[index]
            new_state[p] = {name: self._restore_state(name, value, p,
                                                      f"state {name!r} of parameter {index}")
                            for name, value in values.items()}
            self._complete_loaded_state(new_state[p])
        self.state = defaultdict(dict, new_state)
        for own, saved in zip(self.param_groups, saved_groups):
            params = own["params"]
            own.clear()
            own.update({k: v for k, v in saved.items() if k != "params"})
            own["params"] = params
            for key, default in self.defaults.items():
                # a checkpoint from before a hyperparameter existed (decoupled_weight_decay,
                # foreach): the default, as PyTorch's __setstate__ fills it in
                own.setdefault(key, default)
        for hook in list(self.__dict__.get("_optimizer_load_state_dict_post_hooks",
                                           {}).values()):
            hook(self)

    def _restore_state(self, name: str, value, param: Tensor, where: str):
        """One loaded state value as this optimizer keeps it (ValueError if it cannot fit)."""
        return _restore(name, value, param, where, scalar=name in self._scalar_state)

    def _complete_loaded_state(self, state: dict) -> None:
        """Hook for subclasses: fix up state saved in another layout (e.g. by PyTorch)."""

    # -- printing --------------------------------------------------------------------------------
    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def _tensor_ids(state: dict) -> tuple:
    return tuple((name, id(v)) for name, v in state.items() if isinstance(v, Tensor))


def _snapshot(value):
    if isinstance(value, Tensor):
        return Tensor._wrap(value.numpy())  # arrays are never written in place: a free snapshot
    return value


def _restore(name: str, value, param: Tensor, where: str, scalar: bool = False):
    """A loaded state value as the optimizer keeps it; ValueError if it cannot fit ``param``.

    ``scalar`` state (``step``, NAdam's ``mu_product``) is one number, kept as float32."""
    if isinstance(value, np.ndarray):
        value = Tensor._wrap(np.array(value))
    if scalar and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = Tensor._wrap(np.array(value))  # PyTorch before 1.12 saved a Python number
    if not isinstance(value, Tensor):
        return value
    array = value.numpy()
    if scalar:
        if array.size != 1 or array.dtype.kind not in "iuf":
            raise ArgumentError(f"loaded state dict: {where} must be one number, got a tensor "
                                f"of shape {list(array.shape)} and dtype {array.dtype}")
        return Tensor._wrap(np.array(array.reshape(()), dtype=np.float32))
    if array.shape != param.shape:
        raise ArgumentError(f"loaded state dict: {where} has shape {list(array.shape)}, but the "
                            f"parameter has shape {list(param.shape)}")
    if param.dtype.is_float:
        if array.dtype.kind != "f":
            raise ArgumentError(f"loaded state dict: {where} has dtype {array.dtype}, but the "
                                f"parameter is floating point ({param.dtype})")
        array = array.astype(param.dtype.numpy)
    return Tensor._wrap(np.array(array))
