"""Operators and methods of :class:`graphc.Tensor`, each a thin call into ``graphc.functions``.

Kept apart from ``tensor.py`` so that the class body stays about what a tensor *is*.
"""
from __future__ import annotations

from graphc import functions as F
from graphc import indexing, tracing
from graphc.tensor import Tensor


def _reflected(fn):
    return lambda self, other: fn(other, self)


def _inplace(fn):
    def method(self, other):
        return self._assign(lambda old: fn(old, other))
    return method


_OPERATORS = {
    "__add__": F.add, "__radd__": _reflected(F.add),
    "__sub__": F.sub, "__rsub__": _reflected(F.sub),
    "__mul__": F.mul, "__rmul__": _reflected(F.mul),
    "__truediv__": F.div, "__rtruediv__": _reflected(F.div),
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
    "__iadd__": _inplace(F.add), "__isub__": _inplace(F.sub), "__imul__": _inplace(F.mul),
    "__itruediv__": _inplace(F.div), "__iand__": _inplace(F.bitwise_and),
    "__ior__": _inplace(F.bitwise_or), "__ixor__": _inplace(F.bitwise_xor),
    "__getitem__": indexing.getitem, "__setitem__": indexing.setitem,
}

# Methods that forward to the function of the same name with the tensor as first argument.
_FORWARDED = """
add sub mul div pow maximum minimum eq ne lt le gt ge neg exp log sqrt rsqrt tanh sigmoid relu
abs sin cos erf sign reciprocal where masked_fill square log1p expm1 log2 tan logical_not
logical_and logical_or bitwise_and bitwise_or bitwise_xor bitwise_not isnan isinf isfinite
clamp clip sum mean var std amax amin argmax argmin max min all
any logsumexp softmax log_softmax matmul mm bmm dot reshape transpose permute unsqueeze squeeze
flatten broadcast_to expand narrow split chunk gather scatter_add index_select outer tril triu
""".split()


def _install():
    for name, fn in _OPERATORS.items():
        setattr(Tensor, name, fn)
    for name in _FORWARDED:
        setattr(Tensor, name, getattr(F, name))
    for name in ("add", "sub", "mul", "div", "pow", "clamp", "masked_fill", "bitwise_and",
                 "bitwise_or", "bitwise_xor"):
        fn = getattr(F, name)
        setattr(Tensor, name + "_", lambda self, *a, _fn=fn, **k: self._assign(
            lambda old: _fn(old, *a, **k)))
    for name in ("exp", "log", "sqrt", "tanh", "sigmoid", "relu", "neg", "abs", "bitwise_not"):
        fn = getattr(F, name)
        setattr(Tensor, name + "_", lambda self, _fn=fn: self._assign(_fn))


_install()


def _where(self, condition, other):
    """``x.where(cond, y)`` is ``graphc.where(cond, x, y)`` (PyTorch's method form)."""
    return F.where(condition, self, other)


def _view(self, *shape):
    return F.reshape(self, *shape)


def _to(self, *args, **kwargs):
    """``x.to(dtype)``, ``x.to(device, dtype)``, ``x.to(other_tensor)``; devices ('cpu') are
    accepted and ignored, the first dtype given wins."""
    dtype = kwargs.get("dtype")
    for arg in args:
        if dtype is None and isinstance(arg, Tensor):
            dtype = arg.dtype
        elif dtype is None and not (isinstance(arg, str) and arg.startswith("cpu")):
            dtype = arg
    return self if dtype is None else F.cast(self, dtype)


def _overwrite(old: Tensor, new) -> Tensor:
    """``new`` (cast and broadcast to ``old``) as the replacement of ``old`` in an in-place op.

    When ``old`` is part of a recorded computation the result stays connected to it (with zero
    gradient) through ``where``, so the tensor remains a non-leaf whose gradient reaches both
    ``old``'s inputs (zeros) and ``new``'s, as in PyTorch, instead of becoming a stray leaf.
    """
    from graphc.autograd import is_grad_enabled
    from graphc.factories import full
    new = F.broadcast_to(F.cast(F.to_tensor(new, old), old.dtype), old.shape)
    if old.requires_grad and is_grad_enabled():
        new = F.where(full(old.shape, True), new, old)
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
        return Tensor._wrap(self._data.copy())  # the data may be a user's array (from_numpy)
    return F.add(self, 0)


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


Tensor.__format__ = _format
Tensor.where = _where
Tensor.view = _view
Tensor.view_as = lambda self, other: F.reshape(self, other.shape)
Tensor.reshape_as = Tensor.view_as
Tensor.expand_as = lambda self, other: F.broadcast_to(self, other.shape)
Tensor.type_as = lambda self, other: F.cast(self, other.dtype)
Tensor.to = _to
Tensor.float = lambda self: F.cast(self, "float32")
Tensor.double = lambda self: F.cast(self, "float64")
Tensor.long = lambda self: F.cast(self, "int64")
Tensor.int = lambda self: F.cast(self, "int32")
Tensor.bool = lambda self: F.cast(self, "bool")
Tensor.cpu = lambda self: self
Tensor.contiguous = lambda self: self
Tensor.clone = _clone
Tensor.zero_ = _zero_
Tensor.fill_ = _fill_
Tensor.copy_ = _copy_
Tensor.add_ = _add_
Tensor.sub_ = _sub_
Tensor.T = property(_T)
Tensor.mT = property(_mT)
