"""``graphc.cuda.amp``: PyTorch's older CUDA-only spellings, ``torch.cuda.amp.autocast`` and
``torch.cuda.amp.GradScaler``, the device fixed to cuda.

    >>> import graphc
    >>> graphc.cuda.amp.autocast(enabled=False).device
    'cuda'
"""
from __future__ import annotations

from typing import Optional

from graphc.amp.autocast_mode import autocast as _autocast
from graphc.amp.grad_scaler import GradScaler as _GradScaler
from ir import dtypes


class autocast(_autocast):  # noqa: N801  (torch.cuda.amp.autocast)
    """``graphc.autocast("cuda", dtype, enabled, cache_enabled)``."""

    def __init__(self, enabled: bool = True, dtype=dtypes.f16,
                 cache_enabled: Optional[bool] = True):
        super().__init__("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


class GradScaler(_GradScaler):
    """``graphc.amp.GradScaler("cuda", ...)``."""

    def __init__(self, init_scale: float = 2.0**16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000,
                 enabled: bool = True) -> None:
        super().__init__("cuda", init_scale, growth_factor, backoff_factor, growth_interval,
                         enabled)


__all__ = ["GradScaler", "autocast"]
