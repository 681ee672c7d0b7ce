"""``nn.Module`` and ``nn.Parameter``: containers of parameters, buffers and submodules.

Parameter names, registration rules, ``state_dict`` keys and ``repr`` follow PyTorch, so code
and checkpoints (as NumPy arrays) move between the two unchanged.

    >>> from graphc import nn
    >>> model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    >>> [name for name, _ in model.named_parameters()]
    ['0.weight', '0.bias']
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator, Mapping
from typing import Optional

import numpy as np

from graphc import device as devices
from graphc import tracing, views
from graphc.autograd import no_grad, tensor_state_changes
from graphc.factories import as_dtype
from graphc.nn.module_backward_hooks import HOOKS as BACKWARD_HOOKS
from graphc.nn.module_backward_hooks import PRE_HOOKS as BACKWARD_PRE_HOOKS
from graphc.nn.module_hooks import (
    HOOKS,
    PRE_HOOKS,
    RemovableHandle,
    add_hook,
    call_with_hooks,
    has_hooks,
)
from graphc.tensor import Tensor
from ir import dtypes


class IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns: the keys the module has that the state dict lacks,
    and the keys it has that the module lacks."""

    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()


_EXTRA_STATE = "_extra_state"  # the key of get_extra_state()'s value in a state dict


class Parameter(Tensor):
    """A tensor that is a module parameter: registered automatically, requires grad by default."""

    def __init__(self, data: Optional[Tensor] = None, requires_grad: bool = True):
        if data is None:
            array = np.zeros((0,), dtype=dtypes.DEFAULT_FLOAT.numpy)
        elif isinstance(data, Tensor):
            array = data._concrete("make a Parameter from a traced tensor")
        else:
            array = np.asarray(data)
        self._init(array, None, None)
        self.requires_grad = bool(requires_grad)

    def __setattr__(self, name: str, value) -> None:
        if not hasattr(Tensor, name) and name not in self.__dict__:
            # a new Python attribute (w.lr_scale): compiled functions' guards look again
            tensor_state_changes[0] += 1
        object.__setattr__(self, name, value)

    def __deepcopy__(self, memo: dict) -> Parameter:
        """A new parameter of copied values and the same ``requires_grad``, and nothing else:
        no ``.grad``, hooks or Python attributes, as PyTorch's ``Parameter.__deepcopy__`` (a
        ``copy.deepcopy(model)`` starts with no gradients: a kept one was accumulated into by
        the copy's first backward)."""
        if id(self) not in memo:
            with no_grad():
                values = self.detach().clone()
            copied = type(self)(values, self.requires_grad)
            copied._data = values._data  # where the values are (the constructor takes the host's)
            memo[id(self)] = copied
        return memo[id(self)]

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of all layers and models, like ``torch.nn.Module``.

    Subclasses set attributes in ``__init__`` (parameters, buffers, submodules are registered
    by type) and define ``forward``; calling the module calls ``forward``.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_training", True)

    # -- attribute registration (PyTorch's rules) ----------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        """Parameters and modules are registered by type; a registered name keeps its kind.

        A parameter name takes a Parameter or None, a submodule name a Module or None (the name
        stays registered, holding None), a buffer name a Tensor or None.
        """
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign attributes before Module.__init__() is called")
        if isinstance(getattr(type(self), name, None), property):
            object.__setattr__(self, name, value)  # its setter (a parametrized tensor's)
            return
        params, buffers, modules = self._parameters, self._buffers, self._modules
        if isinstance(value, Parameter):
            self._unregister(name, keep=params)
            params[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter '{name}' "
                                "(a graphc.nn.Parameter or None is expected); to change its "
                                f"value in place use `with graphc.no_grad(): "
                                f"module.{name}.copy_(...)`")
            params[name] = None
        elif isinstance(value, Module):
            self._unregister(name, keep=modules)
            modules[name] = value
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module "
                                f"'{name}' (a graphc.nn.Module or None is expected)")
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} to buffer '{name}' "
                                "(a Tensor or None is expected)")
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _unregister(self, name: str, keep) -> None:
        """Drops ``name`` from every table but ``keep`` (so its position there is kept)."""
        for table in (self.__dict__, self._parameters, self._buffers, self._modules):
            if table is not keep:
                table.pop(name, None)
        self._non_persistent.discard(name)

    def __getattr__(self, name: str):
        for table in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(table)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __dir__(self):
        """Attributes, parameters, buffers and submodules (for completion), as PyTorch's."""
        return sorted({*super().__dir__(), *self._parameters, *self._buffers, *self._modules})

    def __delattr__(self, name: str) -> None:
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def _check_new_name(self, name, kind: str, table) -> None:
        """PyTorch's checks on a parameter, buffer or submodule name before it is registered."""
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')
        if "." in name:
            raise KeyError(f"{kind} name can't contain \".\", got: {name}")
        taken = (name in self.__dict__ or name in self._parameters or name in self._buffers
                 or name in self._modules or hasattr(type(self), name))
        if taken and name not in table:
            raise KeyError(f"attribute '{name}' already exists")

    def register_parameter(self, name: str, param: Optional[Parameter]) -> None:
        self._check_new_name(name, "parameter", self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter('{name}') needs a Parameter or None, "
                            f"got {type(param).__name__}")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Optional[Tensor], persistent: bool = True) -> None:
        """Adds a tensor that is state but not a parameter (BatchNorm's running mean, ...)."""
        self._check_new_name(name, "buffer", self._buffers)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer('{name}') needs a Tensor or None")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Optional[Module]) -> None:
        """Registers ``module`` (or None) as the child ``name``, as ``self.name = module`` would."""
        _check_module(module)
        self._check_new_name(name, "module", self._modules)
        self._modules[name] = module

    register_module = add_module

    # -- train / eval (a guard when read during tracing) ---------------------------------------
    @property
    def training(self) -> bool:
        value = self.__dict__["_training"]
        ctx = tracing.current()
        if ctx is not None:
            name = ctx.name_of(self) or type(self).__name__
            ctx.guard(f"{name}.training == {value}", lambda: self.__dict__["_training"], value,
                      owner=self)
        return value

    @training.setter
    def training(self, mode: bool) -> None:
        object.__setattr__(self, "_training", bool(mode))

    def train(self, mode: bool = True) -> Module:
        if not isinstance(mode, bool):  # train('no') would be True
            raise ValueError(f"training mode is expected to be boolean, got {mode!r}")
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    # -- calling -------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        if has_hooks(self):
            return call_with_hooks(self, args, kwargs)
        return self.forward(*args, **kwargs)

    # -- hooks (graphc.nn.module_hooks) ---------------------------------------------------------
    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """``hook(module, args)`` runs before ``forward``; a result that is not None replaces
        the arguments (a tuple, or one value). With ``with_kwargs``: ``hook(module, args,
        kwargs)`` returning None or ``(args, kwargs)``."""
        return add_hook(self, PRE_HOOKS, hook, prepend, with_kwargs=with_kwargs)

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False,
                              with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """``hook(module, args, output)`` runs after ``forward``; a result that is not None
        replaces the output (``with_kwargs``: ``hook(module, args, kwargs, output)``).
        ``always_call`` runs it (with output None) also when ``forward`` raised.

            >>> import graphc
            >>> layer = graphc.nn.Identity()
            >>> _ = layer.register_forward_hook(lambda m, args, out: out * 2)
            >>> layer(graphc.tensor([1.0])).tolist()
            [2.0]
        """
        return add_hook(self, HOOKS, hook, prepend, with_kwargs=with_kwargs,
                        always_call=always_call)

    def register_full_backward_hook(self, hook: Callable,
                                    prepend: bool = False) -> RemovableHandle:
        """``hook(module, grad_input, grad_output)`` runs once per backward pass through a call
        of this module, with the gradients of its positional tensor arguments (None for one
        that does not require grad) and of its outputs; a tuple it returns replaces
        ``grad_input`` (a None in it sends a zero gradient; PyTorch leaves a leaf's ``.grad``
        None then). Eager only: a compiled function refuses modules with backward hooks.

            >>> import graphc
            >>> layer = graphc.nn.Linear(2, 1)
            >>> _ = layer.register_full_backward_hook(
            ...     lambda m, gin, gout: (graphc.zeros_like(gin[0]),))
            >>> x = graphc.ones(1, 2, requires_grad=True)
            >>> layer(x).sum().backward()
            >>> x.grad.tolist()
            [[0.0, 0.0]]
        """
        return add_hook(self, BACKWARD_HOOKS, hook, prepend)

    def register_full_backward_pre_hook(self, hook: Callable,
                                        prepend: bool = False) -> RemovableHandle:
        """``hook(module, grad_output)`` runs when the gradients of this module's outputs are
        known, before those of its arguments; a tuple it returns replaces ``grad_output``."""
        return add_hook(self, BACKWARD_PRE_HOOKS, hook, prepend)

    def register_backward_hook(self, hook: Callable):
        raise NotImplementedError(
            "register_backward_hook (deprecated in PyTorch: it saw the gradients of the last op "
            "of forward only) is not supported; use register_full_backward_hook")

    # -- lookup by dotted name -----------------------------------------------------------------
    def get_submodule(self, target: str) -> Module:
        """The submodule at dotted path ``target`` (``"encoder.layers.0"``); ``""`` is self."""
        module = self
        for i, name in enumerate(target.split(".") if target else []):
            child = module._modules.get(name)
            if child is None:
                where = ".".join(target.split(".")[:i]) or type(self).__name__
                raise AttributeError(f"{where} has no submodule '{name}' (looking up "
                                     f"'{target}')")
            module = child
        return module

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at dotted path ``target`` (``"encoder.layers.0.weight"``)."""
        return self._get_entry(target, "_parameters", "parameter")

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at dotted path ``target`` (``"bn.running_mean"``)."""
        return self._get_entry(target, "_buffers", "buffer")

    def _get_entry(self, target: str, table: str, kind: str):
        path, _, name = target.rpartition(".")
        module = self.get_submodule(path)
        entries = getattr(module, table)
        if name not in entries:
            raise AttributeError(f"{path or type(self).__name__} has no {kind} '{name}' "
                                 f"(looking up '{target}')")
        return entries[name]

    # -- traversal -----------------------------------------------------------------------------
    def named_modules(self, memo: Optional[set] = None, prefix: str = "",
                      remove_duplicate: bool = True):
        """``(dotted name, module)`` for this module and every submodule; one used in two
        places is yielded once unless ``remove_duplicate`` is False."""
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, f"{prefix}.{name}" if prefix else name,
                                                remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        """The direct submodules by name; one used under two names is yielded once."""
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def _named_members(self, table: str, prefix: str, recurse: bool,
                       remove_duplicate: bool = True):
        seen = set()
        modules = (self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
                   if recurse else [(prefix, self)])
        for module_prefix, module in modules:
            for name, value in getattr(module, table).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True):
        """``(dotted name, parameter)``; a parameter shared by two modules (tied weights) is
        yielded once unless ``remove_duplicate`` is False."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Calls ``fn`` on every submodule (children first) and then on this module."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # -- gradients and dtypes ------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Sets every parameter's ``.grad`` to None (default) or to exact zeros."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                with no_grad():  # in place, as PyTorch: a reference to it sees the zeros
                    p.grad.zero_()

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def to(self, *args, **kwargs) -> Module:
        """Moves parameters and buffers (and their gradients) to a device and/or casts the
        floating point ones to a dtype, in place, as PyTorch does: ``model.to("cuda")``,
        ``model.to(graphc.float64)``, ``model.to("cuda", graphc.float64)``; the same tensor
        objects stay registered, so optimizers built before the move keep working."""
        dtype, where = kwargs.get("dtype"), kwargs.get("device")
        for arg in args:
            if isinstance(arg, Tensor):
                dtype, where = dtype or arg.dtype, where or arg.device
            elif isinstance(arg, (str, int, devices.device)) and not isinstance(arg, bool):
                where = where or arg  # strings name devices, as in PyTorch
            elif dtype is None:
                dtype = arg
        if dtype is not None and not as_dtype(dtype).is_float:
            # (as PyTorch: weights cast to an integer dtype were truncated, silently)
            raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got "
                            f"desired dtype={as_dtype(dtype)}")
        target = None if where is None else devices.as_device(where)
        tensors = list(self.parameters()) + list(self.buffers())
        for t in tensors + [t._grad for t in tensors if t._grad is not None]:
            changed = False
            if dtype is not None and t.dtype.is_float:
                if devices.is_on_device(t._data):  # cast on the device: an eager op there
                    t._data = t.detach().to(dtype)._data
                else:
                    t._data = t._data.astype(as_dtype(dtype).numpy)
                changed = True
            if target is not None and t.device != target:
                t._data = devices.move(t._data, target)
                changed = True
            if changed:
                t._version += 1
        return self

    def cuda(self, device=None) -> Module:
        """Moves parameters and buffers to the GPU (``self.to("cuda")``)."""
        return self.to("cuda" if device is None else devices.as_device(device))

    def float(self) -> Module:
        return self.to(dtypes.f32)

    def double(self) -> Module:
        return self.to(dtypes.f64)

    def half(self) -> Module:
        """Casts the floating point parameters and buffers to float16, in place.

            >>> import graphc
            >>> graphc.nn.Linear(2, 1).half().weight.dtype
            f16
        """
        return self.to(dtypes.f16)

    def bfloat16(self) -> Module:
        """Casts the floating point parameters and buffers to bfloat16, in place."""
        return self.to(dtypes.bf16)

    def cpu(self) -> Module:
        """Moves parameters and buffers to the host (``self.to("cpu")``)."""
        return self.to("cpu")

    # -- state dicts ---------------------------------------------------------------------------
    def state_dict(self, *args, destination=None, prefix: str = "",
                   keep_vars: bool = False) -> OrderedDict[str, Tensor]:
        """Parameters and persistent buffers by dotted name: without ``keep_vars``, each as its
        ``.data``, which shares the values both ways, as PyTorch's share storage (an EMA that
        writes ``ema.state_dict()`` values in place updates ``ema``; a snapshot is a
        ``copy.deepcopy`` of it, as in PyTorch). ``destination`` (a dict) is filled and
        returned; PyTorch's old positional form ``(destination, prefix, keep_vars)`` works too.

        A submodule used in two places appears under both names, as in PyTorch.
        """
        if args:
            if len(args) > 3:
                raise TypeError(f"state_dict() takes at most 3 positional arguments "
                                f"(destination, prefix, keep_vars), got {len(args)}")
            destination = args[0]
            prefix = args[1] if len(args) > 1 else prefix
            keep_vars = args[2] if len(args) > 2 else keep_vars
        prefix = prefix or ""
        result: OrderedDict = OrderedDict() if destination is None else destination
        for name, p in self._parameters.items():
            if p is not None:
                result[prefix + name] = p if keep_vars else p.data
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                result[prefix + name] = b if keep_vars else b.data
        if type(self).get_extra_state is not Module.get_extra_state:
            result[prefix + _EXTRA_STATE] = self.get_extra_state()
        for name, module in self._modules.items():
            if module is not None:  # (an override taking only prefix and keep_vars works too)
                result.update(module.state_dict(prefix=f"{prefix}{name}.", keep_vars=keep_vars))
        return result

    def get_extra_state(self):
        """State besides parameters and buffers that ``state_dict`` should hold (under
        ``'_extra_state'``): override it with :meth:`set_extra_state`, as in PyTorch."""
        raise RuntimeError(f"{type(self).__name__} does not override get_extra_state")

    def set_extra_state(self, state) -> None:
        """Restores what :meth:`get_extra_state` returned (``load_state_dict`` calls it)."""
        raise RuntimeError(f"{type(self).__name__} returns extra state but does not override "
                           "set_extra_state to load it")

    def _state_entries(self, prefix: str = ""):
        """``(key, module, table, name)`` of each state_dict entry (table ``None``: extra
        state)."""
        for table in ("_parameters", "_buffers"):
            for name, value in getattr(self, table).items():
                if value is not None and name not in self._non_persistent:
                    yield prefix + name, self, table, name
        if type(self).get_extra_state is not Module.get_extra_state:
            yield prefix + _EXTRA_STATE, self, None, _EXTRA_STATE
        for name, module in self._modules.items():
            if module is not None:
                yield from module._state_entries(f"{prefix}{name}.")

    def load_state_dict(self, state_dict, strict: bool = True,
                        assign: bool = False) -> IncompatibleKeys:
        """Copies values (tensors or NumPy arrays) into this module's parameters and buffers
        (``assign``: makes the state dict's tensors the module's own, each parameter keeping
        its ``requires_grad``), and hands extra state to ``set_extra_state``.

        Shapes must match; with ``strict`` (the default) missing and unexpected keys are errors
        too. The ``RuntimeError`` names every missing, unexpected and mis-shaped key at once,
        and nothing is loaded then. Returns ``(missing_keys, unexpected_keys)``.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"expected state_dict to be dict-like, got {type(state_dict).__name__}")
        for name, module in self.named_modules():  # lazy modules take the checkpoint's shapes
            materialize = getattr(module, "materialize_from_state_dict", None)
            if materialize is not None:
                materialize(state_dict, f"{name}." if name else "")
        entries = {key: (module, table, name)
                   for key, module, table, name in self._state_entries()}
        own = {key: getattr(module, table)[name] for key, (module, table, name)
               in entries.items() if table is not None}
        # (entries a checkpoint from before they existed lacks, which keep their value:
        # BatchNorm's num_batches_tracked, as PyTorch fills it for old checkpoints)
        missing = [k for k, (module, _, name) in entries.items() if k not in state_dict
                   and name not in getattr(module, "_kept_when_missing", ())]
        unexpected = [k for k in state_dict if k not in entries]
        mismatched = []
        for key, target in own.items():
            if key not in state_dict:
                continue
            source = state_dict[key]
            if not isinstance(source, (Tensor, np.ndarray, np.generic, int, float, bool)):
                mismatched.append(f"{key}: checkpoint holds a {type(source).__name__}, not a "
                                  f"tensor")
                continue
            array = source.numpy() if isinstance(source, Tensor) else np.asarray(source)
            if tuple(array.shape) != tuple(target.shape):
                mismatched.append(f"{key}: checkpoint has shape {list(array.shape)}, "
                                  f"the model has {list(target.shape)}")
        problems = []
        if mismatched:
            problems.append("size mismatch for " + "; ".join(mismatched))
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if problems:
            raise RuntimeError(f"error(s) in loading state_dict for {type(self).__name__}: "
                               + ". ".join(problems))
        for key, (module, table, name) in entries.items():
            if key not in state_dict:
                continue
            source = state_dict[key]
            if table is None:
                module.set_extra_state(source)
                continue
            target = getattr(module, table)[name]
            if assign:  # (a view of another module's state, as state_dict() gives: its values)
                value = (source.detach() if isinstance(source, Tensor)
                         else Tensor._wrap(np.asarray(source)))
                if table == "_parameters":
                    value = Parameter(value.detach(), requires_grad=target.requires_grad)
                getattr(module, table)[name] = value
                continue
            array = source.numpy() if isinstance(source, Tensor) else np.asarray(source)
            target._data = np.array(array, dtype=target._data.dtype)
            target._version += 1
            views.data_replaced(target)  # copied in, as PyTorch's copy_: its views see it
        return IncompatibleKeys(missing, unexpected)

    # -- printing ------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        """PyTorch's layout: ``Name(extra)``, or the extra_repr lines then ``(child): repr``
        lines, indented by two."""
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for name, module in self._modules.items():
            lines.append(f"({name}): " + repr(module).replace("\n", "\n  "))
        head = type(self).__name__ + "("
        if not lines:
            return head + ")"
        if len(lines) == 1 and not self._modules:
            return head + lines[0] + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


def _check_module(value) -> None:
    """Only modules (or None) can be registered as submodules, as in PyTorch."""
    if value is not None and not isinstance(value, Module):
        raise TypeError(f"{type(value).__name__} is not a Module subclass")
