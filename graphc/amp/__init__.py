"""``graphc.amp``: automatic mixed precision, PyTorch's ``torch.amp``.

:class:`autocast` casts the inputs of matrix products and convolutions to a 16-bit dtype and
those of losses to float32 (:mod:`graphc.amp.policy`); :class:`GradScaler` scales a float16
loss so that small gradients do not flush to zero, and skips the optimizer steps whose
gradients overflowed.

    >>> import graphc
    >>> graphc.amp.autocast is graphc.autocast
    True
"""
from graphc.amp.autocast_mode import (
    autocast,
    autocast_op,
    clear_autocast_cache,
    get_autocast_dtype,
    is_autocast_cache_enabled,
    is_autocast_enabled,
    set_autocast_cache_enabled,
    set_autocast_dtype,
    set_autocast_enabled,
)
from graphc.amp.grad_scaler import GradScaler, OptState

__all__ = ["GradScaler", "OptState", "autocast", "autocast_op", "clear_autocast_cache",
           "get_autocast_dtype", "is_autocast_cache_enabled", "is_autocast_enabled",
           "set_autocast_cache_enabled", "set_autocast_dtype", "set_autocast_enabled"]
