"""Operators and methods of :class:`graphc.Tensor` that trace, record or run ops.

Most are thin calls into ``graphc.functions``; the rest are the methods that need the active
trace, autograd or op dispatch (``.grad``, ``.backward()``, ``.detach()``,
in-place rebinding, the no-value-while-tracing check of conversions). Kept apart from
``tensor.py`` so that the class body stays about what a tensor *is*, and so that ``tensor.py``
imports nothing that imports it back. Importing ``graphc`` loads this module.
"""
from __future__ import annotations

import weakref
from typing import Optional

import numpy as np

from graphc import autograd, factories, indexing, tracing, views
from graphc import device as devices
from graphc import functions as F
from graphc import math_functions as M
from graphc.errors import AutogradError, TraceError
from graphc.tensor import Tensor
from ir import dtypes


# -- methods that need the trace, autograd or dispatch -----------------------------------------
def _get_grad(self) -> Optional[Tensor]:
    ctx = tracing.current()
    if ctx is not None and self._value is None:
        return ctx.read_grad(self)
    return self._grad


def _set_grad(self, value: Optional[Tensor]) -> None:
    if value is not None and not isinstance(value, Tensor):
        raise TypeError(f"grad must be a Tensor or None, got {type(value).__name__}")
    if value is not None and value.shape != self.shape:
        raise AutogradError(f"assigned grad has shape {list(value.shape)}, "
                            f"but the tensor has shape {list(self.shape)}")
    if value is not None and value.dtype != self.dtype:
        # (as PyTorch: an optimizer would step a float32 parameter by a float64 gradient)
        raise AutogradError(f"assigned grad has dtype {value.dtype}, but the tensor has dtype "
                            f"{self.dtype}")
    ctx = tracing.current()
    if ctx is not None and self._value is None:
        ctx.write_grad(self, value)
    else:
        self._grad = value


def backward(self, gradient: Optional[Tensor] = None, retain_graph: Optional[bool] = None,
             create_graph: bool = False, inputs=None) -> None:
    """Accumulates d(self)/d(leaf) into the ``.grad`` of every leaf that requires grad (only
    of ``inputs``, leaves or not, when given), with PyTorch's checks: ``gradient`` (a tensor of
    ``self``'s shape) may be left out only for a one-element tensor; ``self`` must require
    grad. Unlike PyTorch, a Python number or list is taken as ``gradient`` too."""
    if gradient is not None and not isinstance(gradient, Tensor):
        gradient = factories.tensor(gradient, dtype=self.dtype)
    autograd.backward([self], None if gradient is None else [gradient], retain_graph,
                      create_graph, inputs)


def _assign(self, compute, resizes: Optional[str] = None) -> Tensor:
    """Runs ``compute(old_self) -> new`` and rebinds this tensor to ``new`` (in-place ops).

    ``resizes`` names an in-place op that may change the shape (``t_``, ``squeeze_``): allowed
    eagerly, as in PyTorch, while a compiled function refuses it (state keeps its shape).

    A view (``x[0]``) is written through its root, which is rebound; rebinding a tensor that
    has views recomputes them (:mod:`graphc.views`)."""
    if self._view_info is not None:
        return views.assign_view(self, compute, resizes)
    if resizes is not None and self._views and views.has_live_views(self):
        compute = views.keeping_layout(compute, resizes, "a tensor that has views")
    if self.requires_grad and self._grad_fn is None and autograd.is_grad_enabled():
        raise AutogradError("a leaf tensor that requires grad is used in an in-place "
                            "operation; wrap the update in `with graphc.no_grad():`")
    ctx = tracing.current()
    # a leaf that requires grad, updated under no_grad in a trace that compiled_grad may
    # differentiate: it stays a leaf at its new value (below)
    rebinds_leaf = (ctx is not None and self._value is None and ctx.differentiable
                    and self.requires_grad and self._grad_fn is None
                    and not autograd.is_grad_enabled())
    if ctx is not None and self._value is None:
        # a concrete tensor written inside a trace: its old value is the lifted graph input
        old = Tensor._traced(ctx.value_of(self), ctx)
        old.requires_grad, old._grad_fn = self.requires_grad, self._grad_fn
    else:
        old = self._alias()
    new = compute(old)
    if new.shape != self.shape and resizes and (ctx is not None or self._value is not None):
        raise TraceError(f"{resizes}() changes the shape of a tensor in place ({list(self.shape)}"
                         f" to {list(new.shape)}), which a compiled function cannot do; use "
                         f"{resizes[:-1]}() instead")
    if new.shape != self.shape and not resizes:
        raise AutogradError(f"in-place result has shape {list(new.shape)}, but the tensor "
                            f"being written has shape {list(self.shape)}")
    if new.dtype != self.dtype:
        if not dtypes.can_cast(new.dtype, self.dtype):
            raise AutogradError(f"in-place result of dtype {new.dtype} cannot be stored in a "
                                f"tensor of dtype {self.dtype}")
        new = new.to(self.dtype)
    if rebinds_leaf and new._value is not None:
        # eagerly, later uses are differentiated with respect to the leaf's new value, not
        # through the update (w.clamp_(-c, c) under no_grad): the new value is cut from the
        # old one and compiled_grad takes the leaf's gradient at it (TraceContext.rebound)
        value = new._value
        if value.producer is None or value.producer.op != "stop_gradient":
            value = ctx.emit("stop_gradient", [value], {})
            new = Tensor._traced(value, ctx)
        ctx.rebound.setdefault(id(self), []).append(value)
    if ctx is not None and self._value is None:
        ctx.record_mutation(self, new)
    elif new._value is not None:
        self._value, self._trace = new._value, new._trace
    else:
        self._data = new._data
    if new._grad_fn is not None or self._grad_fn is None or autograd.is_grad_enabled():
        self._grad_fn = new._grad_fn
    # else: a result of autograd written under no_grad keeps its history, as in PyTorch (the
    # straight-through estimator: `with no_grad(): y.copy_(y.round())`, then y's gradient
    # still flows to what made it; a leaf here lost every gradient before y)
    self.requires_grad = self.requires_grad or new.requires_grad
    self._version += 1
    if new._grad_fn is not None:
        new._grad_fn._out_ref = weakref.ref(self)
        new._grad_fn._out_version = self._version
    if self._views:
        views.refresh(self)
    return self


def _concrete(self, what: str) -> np.ndarray:
    # While tracing, even a concrete (closure) tensor's value must not be baked into the
    # graph: it may change before the next call.
    if self._value is not None or tracing.current() is not None:
        raise tracing.value_needed_error(what)
    return devices.host_array(self._data)  # values on the GPU are copied to the host


Tensor.grad = property(_get_grad, _set_grad)
Tensor.backward = backward
Tensor.detach = views.detached_copy  # (a view once graphc.views.install has run)
Tensor._assign = _assign
Tensor._concrete = _concrete


def _reflected(fn):
    return lambda self, other: fn(other, self)


def inplace_method(fn, name: Optional[str] = None):
    """The in-place method ``x.<name>(...)`` (default: ``fn``'s name and ``_``) that makes
    ``x`` ``fn(x, ...)`` through :func:`_assign` (version counter, autograd of the rebinding,
    the leaf-requires-grad error, write-back by compiled functions)."""
    def method(self, *args, **kwargs):
        return self._assign(lambda old: fn(old, *args, **kwargs))
    method.__name__ = name or fn.__name__ + "_"
    method.__doc__ = f"In-place :func:`{fn.__name__}`."
    return method


_OPERATORS = {
    "__add__": F.add, "__radd__": _reflected(F.add),
    "__sub__": F.sub, "__rsub__": _reflected(F.sub),
    "__mul__": F.mul, "__rmul__": _reflected(F.mul),
    "__truediv__": F.div, "__rtruediv__": _reflected(F.div),
    "__floordiv__": M.floor_divide, "__rfloordiv__": _reflected(M.floor_divide),
    "__mod__": M.remainder, "__rmod__": _reflected(M.remainder),
    "__pow__": F.pow, "__rpow__": _reflected(F.pow),
    "__matmul__": F.matmul, "__rmatmul__": _reflected(F.matmul),
    "__eq__": lambda self, other: False if other is None else F.eq(self, other),
    "__ne__": lambda self, other: True if other is None else F.ne(self, other),
    "__lt__": F.lt, "__le__": F.le, "__gt__": F.gt,
    "__ge__": F.ge,
    # bitwise on integers, logical on bool, as in PyTorch
    "__and__": F.bitwise_and, "__rand__": _reflected(F.bitwise_and),
    "__or__": F.bitwise_or, "__ror__": _reflected(F.bitwise_or),
    "__xor__": F.bitwise_xor, "__rxor__": _reflected(F.bitwise_xor),
    "__neg__": F.neg, "__abs__": F.abs,
    "__invert__": F.bitwise_not,
    "__iadd__": inplace_method(F.add), "__isub__": inplace_method(F.sub),
    "__imul__": inplace_method(F.mul),
    "__itruediv__": inplace_method(F.div), "__iand__": inplace_method(F.bitwise_and),
    "__ifloordiv__": inplace_method(M.floor_divide), "__imod__": inplace_method(M.remainder),
    "__ior__": inplace_method(F.bitwise_or), "__ixor__": inplace_method(F.bitwise_xor),
    # (without it, `t **= 2` rebound the name to a new tensor: a parameter stayed as it was)
    "__ipow__": inplace_method(F.pow),
    "__getitem__": indexing.getitem, "__setitem__": indexing.setitem,
}

# Methods that forward to the function of the same name with the tensor as first argument.
_FORWARDED = """
add sub mul pow maximum minimum eq ne lt le gt ge neg exp log sqrt rsqrt tanh sigmoid relu
abs sin cos erf sign reciprocal where masked_fill square log1p expm1 logical_not
logical_and logical_or bitwise_and bitwise_or bitwise_xor bitwise_not isnan isinf isfinite
clamp clip sum mean var std amax amin argmax argmin max min all
any logsumexp softmax log_softmax matmul mm bmm dot reshape transpose permute unsqueeze squeeze
flatten broadcast_to expand narrow split chunk gather scatter_add outer tril triu
""".split()


# ... and those of graphc.math_functions (rounding, division modes, trigonometry)
_FORWARDED_MATH = """
div divide true_divide floor ceil round trunc fix frac floor_divide remainder fmod tan asin acos
atan sinh cosh asinh acosh atanh arcsin arccos arctan arcsinh arccosh arctanh atan2 arctan2
hypot xlogy log2 log10 exp2 logaddexp lerp clamp_min clamp_max
""".split()


def _install():
    for name, fn in _OPERATORS.items():
        setattr(Tensor, name, fn)
    for name in _FORWARDED:
        setattr(Tensor, name, getattr(F, name))
    for name in _FORWARDED_MATH:
        setattr(Tensor, name, getattr(M, name))
    for name in ("add", "sub", "mul", "div", "pow", "clamp", "masked_fill", "bitwise_and",
                 "bitwise_or", "bitwise_xor", "floor_divide", "remainder", "fmod", "lerp",
                 "xlogy", "atan2", "hypot", "clamp_min", "clamp_max", "true_divide", "round"):
        fn = getattr(M if name in _FORWARDED_MATH else F, name)
        setattr(Tensor, name + "_", lambda self, *a, _fn=fn, **k: self._assign(
            lambda old: _fn(old, *a, **k)))
    for name in ("exp", "log", "sqrt", "tanh", "sigmoid", "relu", "neg", "abs", "bitwise_not",
                 "floor", "ceil", "trunc", "frac", "tan", "asin", "acos", "atan", "sinh", "cosh",
                 "asinh", "acosh", "atanh", "log2", "log10", "exp2", "square", "sin", "cos"):
        fn = getattr(M if name in _FORWARDED_MATH else F, name)
        setattr(Tensor, name + "_", lambda self, _fn=fn: self._assign(_fn))


_install()


def _install_scans_sorts():
    from graphc import scans_sorts
    for name in scans_sorts.METHODS:
        setattr(Tensor, name, getattr(scans_sorts, name))


_install_scans_sorts()


def _where(self, condition, other):
    """``x.where(cond, y)`` is ``graphc.where(cond, x, y)`` (PyTorch's method form)."""
    return F.where(condition, self, other)


def _view(self, *shape):
    return F.reshape(self, *shape)


def _to(self, *args, non_blocking: bool = False, copy: bool = False, **kwargs):
    """``x.to(dtype)``, ``x.to(device)``, ``x.to(device, dtype)``, ``x.to(other_tensor)`` (its
    device and dtype), as in PyTorch; the first dtype and device given win. A string always
    names a device, as in PyTorch (``x.to("tpu")`` is a DeviceError, not a dtype lookup).
    ``non_blocking`` is accepted and has no effect: copies here complete before returning.
    Inside a compiled function devices are ignored: a graph runs where its backend runs."""
    dtype, where = kwargs.pop("dtype", None), kwargs.pop("device", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for arg in args:
        if isinstance(arg, Tensor):
            dtype = dtype or arg.dtype
            where = where or arg.device
        elif isinstance(arg, (str, int, devices.device)) and not isinstance(arg, bool):
            where = where or arg
        elif dtype is None:
            dtype = arg
    target = None if where is None else devices.as_device(where)  # checked while tracing too
    result = self if dtype is None else F.cast(self, dtype)
    if copy and result is self:
        result = self.clone()
    if target is None or tracing.current() is not None or result._value is not None:
        return result
    return _to_device(result, target)


def _to_device(self, target) -> Tensor:
    """This tensor on ``target``: itself when already there, else a copy (a new leaf)."""
    if self.device == target:
        return self
    if self.requires_grad and autograd.is_grad_enabled():
        raise AutogradError(f"moving a tensor that requires grad from {self.device} to {target} "
                            f"is not differentiable in graphc; create it there (device=...) or "
                            f"move it before requires_grad_()")
    return Tensor._wrap(devices.move(self._data, target))


def _overwrite(old: Tensor, new) -> Tensor:
    """``new`` (cast and broadcast to ``old``) as the replacement of ``old`` in an in-place op.

    When ``old`` is part of a recorded computation the result stays connected to it (with zero
    gradient) through ``where``, so the tensor remains a non-leaf whose gradient reaches both
    ``old``'s inputs (zeros) and ``new``'s, as in PyTorch, instead of becoming a stray leaf.
    """
    new = F.broadcast_to(F.cast(F.to_tensor(new, old), old.dtype), old.shape)
    if old.requires_grad and autograd.is_grad_enabled():
        new = F.where(factories.full(old.shape, True, device=old.device), new, old)
    return new


def _zero_(self):
    return self._assign(lambda old: _overwrite(old, 0))


def _fill_(self, value):
    return self._assign(lambda old: _overwrite(old, value))


def _copy_(self, src):
    """Copies ``src`` (broadcast, and converted to this tensor's dtype) into this tensor."""
    return self._assign(lambda old: _overwrite(old, src))


def _clone(self):
    """A copy; arrays are never written in place, so a concrete tensor without grad shares data."""
    if tracing.current() is None and not self.requires_grad:
        return Tensor._wrap(devices.copy(self._data))  # the data may be a user's array (from_numpy)
    # a new value with the same bits and dtype: times one (+ 0 made a bool clone int64, and
    # -0.0 + 0 is +0.0)
    return F.mul(self, True if self.dtype.is_bool else 1)


def _add_(self, other, alpha=1):
    return self._assign(lambda old: F.add(old, other if alpha == 1 else F.mul(other, alpha)))


def _sub_(self, other, alpha=1):
    return self._assign(lambda old: F.sub(old, other if alpha == 1 else F.mul(other, alpha)))


def _T(self):
    return F.permute(self, list(reversed(range(self.ndim))))


def _mT(self):
    return F.transpose(self, -2, -1)


def _format(self, spec: str) -> str:
    """``f"{loss:.4f}"`` formats the number of a one-element tensor, as PyTorch does."""
    if spec and self.numel() == 1:
        return format(self.item(), spec)
    return format(repr(self), spec)


def _tensor_argument(method: str, other):
    """``other`` where a method needs a tensor (``x.type_as(y)``), as PyTorch checks it."""
    if not isinstance(other, Tensor):
        raise TypeError(f"{method}(): argument 'other' (position 1) must be Tensor, not "
                        f"{type(other).__name__}")
    return other


Tensor.__format__ = _format
Tensor.where = _where
Tensor.view = _view
Tensor.view_as = lambda self, other: F.reshape(self, _tensor_argument("view_as", other).shape)
Tensor.reshape_as = Tensor.view_as
Tensor.expand_as = lambda self, other: F.broadcast_to(self,
                                                      _tensor_argument("expand_as", other).shape)
Tensor.type_as = lambda self, other: F.cast(self, _tensor_argument("type_as", other).dtype)
Tensor.to = _to
Tensor.float = lambda self: F.cast(self, "float32")
Tensor.double = lambda self: F.cast(self, "float64")
Tensor.long = lambda self: F.cast(self, "int64")
Tensor.int = lambda self: F.cast(self, "int32")
Tensor.bool = lambda self: F.cast(self, "bool")
Tensor.half = lambda self: F.cast(self, "float16")
Tensor.bfloat16 = lambda self: F.cast(self, "bfloat16")
Tensor.byte = lambda self: F.cast(self, "uint8")
Tensor.char = lambda self: F.cast(self, "int8")
Tensor.short = lambda self: F.cast(self, "int16")
Tensor.cpu = lambda self: _to_device(self, devices.CPU)
Tensor.cuda = lambda self, device=None: _to_device(self, devices.as_device(
    "cuda" if device is None else device))
Tensor.clone = _clone
Tensor.zero_ = _zero_
Tensor.fill_ = _fill_
Tensor.copy_ = _copy_
Tensor.add_ = _add_
Tensor.sub_ = _sub_
Tensor.T = property(_T)
Tensor.mT = property(_mT)
