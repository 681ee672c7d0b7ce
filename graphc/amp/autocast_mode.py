"""``graphc.autocast``: automatic mixed precision, as ``torch.autocast``.

Inside ``with graphc.autocast("cpu"):`` the ops of :mod:`graphc.amp.policy` cast their
floating inputs on that device type: matrix products and convolutions to bfloat16 (float16 on
cuda), losses to float32; other ops run in their inputs' dtypes (mixing float32 and bfloat16
promotes to float32). Only float32, float16 and bfloat16 tensors on the autocast's device type
are cast ("eligible", as in PyTorch): float64, integer and bool tensors never are. The casts are
ops like any other, so autograd carries gradients back through them: a float32 parameter gets a
float32 gradient. The state is per thread (as grad mode is), ``autocast(..., enabled=False)``
inside switches it off for a block, and ``@graphc.compile`` guards on it: a compiled function
called inside and outside autocast traces once for each.

    >>> import graphc
    >>> x, w = graphc.randn(2, 3), graphc.randn(4, 3)
    >>> with graphc.autocast("cpu"):
    ...     y = graphc.nn.functional.linear(x, w)
    ...     graphc.is_autocast_enabled("cpu"), y.dtype == graphc.bfloat16
    (True, True)
    >>> graphc.is_autocast_enabled("cpu")
    False
"""
from __future__ import annotations

import functools
import threading
from typing import Any, Optional

from graphc.amp.policy import policy
from graphc.dispatch import apply
from graphc.tensor import Tensor
from graphc.user_warnings import warn
from ir import dtypes

DEVICE_TYPES = ("cpu", "cuda")
_DEFAULT_DTYPES = {"cpu": dtypes.bf16, "cuda": dtypes.f16}
_ELIGIBLE = (dtypes.f32, dtypes.f16, dtypes.bf16)  # float64 is never cast


class _AutocastState(threading.local):
    active = False  # autocast on for some device type and not inside an autocast op's body
    excluded = False  # inside an autocast op (PyTorch excludes its autocast dispatch key there)
    cache_enabled = True
    key: tuple = ()  # ((device, dtype), ...) of the device types it is on for: the compile guard


    def __init__(self):
        self.enabled = {device: False for device in DEVICE_TYPES}
        self.dtype = dict(_DEFAULT_DTYPES)
        self.saved: list = []  # what each entered `autocast` found, innermost last

    def refresh(self) -> None:
        self.active = any(self.enabled.values()) and not self.excluded
        self.key = tuple((d, self.dtype[d]) for d in DEVICE_TYPES if self.enabled[d])


_state = _AutocastState()


def _device_type(device_type: Any) -> str:
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if device_type not in DEVICE_TYPES:
        raise RuntimeError(f"User specified an unsupported autocast device_type "
                           f"'{device_type}' (graphc has 'cpu' and 'cuda')")
    return device_type


def is_autocast_enabled(device_type: str = "cuda") -> bool:
    """Whether autocast is on for ``device_type`` in this thread (``torch.is_autocast_enabled``;
    without an argument it answers for cuda, as PyTorch's deprecated form does)."""
    return _state.enabled[_device_type(device_type)]


def set_autocast_enabled(device_type: str, enabled: bool) -> None:
    """Switches autocast for ``device_type`` on or off in this thread (prefer ``autocast``)."""
    _state.enabled[_device_type(device_type)] = bool(enabled)
    _state.refresh()


def get_autocast_dtype(device_type: str) -> dtypes.DType:
    """The dtype autocast casts to on ``device_type`` (bfloat16 on cpu, float16 on cuda unless
    an ``autocast(dtype=...)`` says otherwise)."""
    return _state.dtype[_device_type(device_type)]


def set_autocast_dtype(device_type: str, dtype) -> None:
    from graphc.factories import as_dtype
    _state.dtype[_device_type(device_type)] = as_dtype(dtype)
    _state.refresh()


def is_autocast_cache_enabled() -> bool:
    """Whether autocast may cache casts of weights (graphc casts each time: same results)."""
    return _state.cache_enabled


def set_autocast_cache_enabled(enabled: bool) -> None:
    _state.cache_enabled = bool(enabled)


def clear_autocast_cache() -> None:
    """PyTorch frees its cached weight casts here; graphc keeps none."""


def thread_state() -> _AutocastState:
    """The per-thread autocast state object (its ``key`` is :func:`autocast_state`)."""
    return _state


def restore_autocast_state(key: tuple) -> None:
    """Sets this thread's autocast to what :func:`autocast_state` answered (on for exactly the
    device types of ``key``, with their dtypes)."""
    on = dict(key)
    for device in DEVICE_TYPES:
        _state.enabled[device] = device in on
        if device in on:
            _state.dtype[device] = on[device]
    _state.refresh()


def autocast_state() -> tuple:
    """This thread's autocast settings as one comparable value, ``()`` when it is off: the
    device types it is on for, with their dtypes (the compile guard reads it on every call, so
    it is kept up to date by every change rather than built here)."""
    return _state.key


class autocast:  # noqa: N801  (torch.autocast)
    """Mixed precision for ``device_type`` inside a ``with`` block or a decorated function.

    ``dtype`` defaults to :func:`get_autocast_dtype` (bfloat16 on cpu, float16 on cuda); a
    dtype other than float16 and bfloat16 warns and disables autocast, as PyTorch does.
    ``cache_enabled`` is accepted for PyTorch's signature (graphc keeps no cast cache).

        >>> import graphc
        >>> @graphc.autocast("cpu")
        ... def product(a, b):
        ...     return a @ b
        >>> product(graphc.ones(2, 2), graphc.ones(2, 2)).dtype == graphc.bfloat16
        True
    """

    def __init__(self, device_type: str, dtype=None, enabled: bool = True,
                 cache_enabled: Optional[bool] = None):
        self.device = _device_type(device_type)
        if dtype is None:
            self.fast_dtype = get_autocast_dtype(self.device)
        else:
            from graphc.factories import as_dtype
            self.fast_dtype = as_dtype(dtype)
        self._cache_enabled = is_autocast_cache_enabled() if cache_enabled is None \
            else bool(cache_enabled)
        enabled = bool(enabled)
        if enabled and self.fast_dtype not in (dtypes.bf16, dtypes.f16):
            warn(f"In {self.device.upper()} autocast, but the target dtype is not "
                 f"supported. Disabling autocast.\n{self.device.upper()} Autocast "
                 f"only supports dtypes of bfloat16, float16 currently.")
            enabled = False
        self._enabled = enabled

    def __enter__(self) -> autocast:
        _state.saved.append((_state.enabled[self.device], _state.dtype[self.device],
                             _state.cache_enabled))
        _state.enabled[self.device] = self._enabled
        _state.dtype[self.device] = self.fast_dtype
        _state.cache_enabled = self._cache_enabled
        _state.refresh()
        return self

    def __exit__(self, *exc) -> bool:
        enabled, dtype, cache_enabled = _state.saved.pop()
        _state.enabled[self.device], _state.dtype[self.device] = enabled, dtype
        _state.cache_enabled = cache_enabled
        _state.refresh()
        return False

    def __call__(self, func):
        if not callable(func):
            raise TypeError(f"autocast()(func) requires a callable, but got "
                            f"{type(func).__name__}. Did you mean to use autocast as a context "
                            f"manager? For example:\n    with graphc.autocast(device_type=...):"
                            f"\n        output = model(input)")

        @functools.wraps(func)
        def in_autocast(*args, **kwargs):
            with self:
                return func(*args, **kwargs)
        return in_autocast


# -- the casts of autocast ops -----------------------------------------------------------------
def _eligible(value) -> bool:
    return (isinstance(value, Tensor) and value.dtype in _ELIGIBLE
            and _state.enabled.get(value.device.type, False))


def _tensors(values):
    for value in values:
        if isinstance(value, (list, tuple)):
            yield from (item for item in value if isinstance(item, Tensor))
        elif isinstance(value, Tensor):
            yield value


def _cast_all(values, target_of):
    """``values`` (arguments; lists and tuples of tensors one level down) with each eligible
    tensor cast to ``target_of(tensor)`` (None: left as it is)."""
    def one(value):
        if not _eligible(value):
            return value
        target = target_of(value)
        if target is None or value.dtype is target:
            return value
        return apply("cast", [value], dtype=target)

    def each(value):
        if isinstance(value, list):
            return [one(item) for item in value]
        if isinstance(value, tuple) and not hasattr(value, "_fields"):
            return tuple(one(item) for item in value)
        return one(value)
    return [each(value) for value in values]


def _targets(op: str, args: tuple, kwargs: dict):
    """How the eligible tensors of a call of ``op`` are cast: tensor -> dtype (or None)."""
    def target(tensor: Tensor):
        device = tensor.device.type
        kind = policy(op, device)
        if kind == "lower":
            return _state.dtype[device]
        if kind == "fp32" or (kind == "fp32_opt_dtype" and kwargs.get("dtype") is None):
            return dtypes.f32
        if kind == "promote":
            found = {t.dtype for t in _tensors(list(args) + list(kwargs.values()))
                     if _eligible(t) and t.device.type == device}
            # one dtype stays; any two of float32, float16 and bfloat16 promote to float32
            return found.pop() if len(found) == 1 else dtypes.f32
        return None
    return target


def autocast_op(op: str):
    """Decorates the graphc function of PyTorch op ``op``: under autocast its eligible tensor
    arguments are cast as :mod:`graphc.amp.policy` says for their device type, and its body
    runs with autocast off (what it calls inside is not cast again, as in PyTorch)."""
    def decorate(fn):
        @functools.wraps(fn)
        def autocasting(*args, **kwargs):
            if not _state.active:  # the fast path: one attribute read
                return fn(*args, **kwargs)
            target = _targets(op, args, kwargs)
            args = tuple(_cast_all(args, target))
            kwargs = dict(zip(kwargs, _cast_all(kwargs.values(), target)))
            _state.excluded, _state.active = True, False
            try:
                return fn(*args, **kwargs)
            finally:
                _state.excluded = False
                _state.refresh()
        autocasting.autocast_op = op  # type: ignore[attr-defined]
        return autocasting
    return decorate


__all__ = ["autocast", "autocast_op", "autocast_state", "clear_autocast_cache",
           "get_autocast_dtype", "is_autocast_cache_enabled", "is_autocast_enabled",
           "set_autocast_cache_enabled", "set_autocast_dtype", "set_autocast_enabled"]
