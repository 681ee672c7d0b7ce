"""PyTorch's global switches that graphc records and answers: deterministic algorithms,
float32 matmul precision, inter-op threads, warn-always, flush-denormal and the default device.

graphc computes deterministically (every eager op and every compiled kernel gives the same bits
for the same inputs and seed, with no atomics and no autotuning), so
``use_deterministic_algorithms`` only records its flag; its matmuls accumulate in full float32
(float64 for float64), so ``set_float32_matmul_precision`` only records what was asked. Ops
run one after another, so there is no inter-op pool: its size is recorded. Flushing denormals
is not supported: ``set_flush_denormal`` answers False, as PyTorch does on CPUs without it.

    >>> import graphc
    >>> graphc.use_deterministic_algorithms(True); graphc.are_deterministic_algorithms_enabled()
    True
    >>> graphc.use_deterministic_algorithms(False)
    >>> graphc.get_float32_matmul_precision()
    'highest'
"""
from __future__ import annotations

import importlib
from typing import Optional

# the module graphc/device.py (once graphc is loaded, the attribute graphc.device is the class)
devices = importlib.import_module("graphc.device")

_settings = {"deterministic": False, "warn_only": False, "matmul_precision": "highest",
             "interop_threads": 1, "warn_always": False}


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Records the flag (``torch.use_deterministic_algorithms``): graphc's ops are
    deterministic whether it is set or not."""
    if not isinstance(mode, bool):
        raise TypeError(f"use_deterministic_algorithms(): argument 'mode' must be bool, not "
                        f"{type(mode).__name__}")
    _settings["deterministic"], _settings["warn_only"] = mode, bool(warn_only)


def are_deterministic_algorithms_enabled() -> bool:
    return _settings["deterministic"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _settings["warn_only"]


_DEBUG_MODES = {"default": 0, "warn": 1, "error": 2}


def set_deterministic_debug_mode(debug_mode) -> None:
    """``torch.set_deterministic_debug_mode``: 0/"default" (off), 1/"warn" (deterministic, warn
    only), 2/"error" (deterministic)."""
    if isinstance(debug_mode, str):
        if debug_mode not in _DEBUG_MODES:
            raise RuntimeError(f"invalid value of debug_mode, expected one of `default`, `warn`, "
                               f"`error`, but got {debug_mode}")
        debug_mode = _DEBUG_MODES[debug_mode]
    if debug_mode not in (0, 1, 2):
        raise RuntimeError(f"invalid value of debug_mode, expected 0, 1, or 2, but got "
                           f"{debug_mode}")
    use_deterministic_algorithms(debug_mode != 0, warn_only=debug_mode == 1)


def get_deterministic_debug_mode() -> int:
    if not _settings["deterministic"]:
        return 0
    return 1 if _settings["warn_only"] else 2


def set_float32_matmul_precision(precision: str) -> None:
    """Records ``"highest"``, ``"high"`` or ``"medium"`` (``torch.set_float32_matmul_precision``);
    graphc's float32 matmuls are full float32 at every setting."""
    if precision not in ("highest", "high", "medium"):
        raise RuntimeError(f"Invalid precision {precision!r}: expected 'highest', 'high' or "
                           f"'medium'")
    _settings["matmul_precision"] = precision


def get_float32_matmul_precision() -> str:
    return _settings["matmul_precision"]


def set_num_interop_threads(num: int) -> None:
    """Records the size of the inter-op pool (``torch.set_num_interop_threads``): graphc runs
    ops one after another (intra-op threads: ``graphc.set_num_threads``)."""
    if not isinstance(num, int) or isinstance(num, bool) or num <= 0:
        raise RuntimeError(f"Expected positive number of threads, got {num!r}")
    _settings["interop_threads"] = num


def get_num_interop_threads() -> int:
    return _settings["interop_threads"]


def set_warn_always(b: bool) -> None:
    """Records ``torch.set_warn_always``: graphc's warnings go through Python's ``warnings``
    module, whose filters decide how often they show."""
    _settings["warn_always"] = bool(b)


def is_warn_always_enabled() -> bool:
    return _settings["warn_always"]


def set_flush_denormal(mode: bool) -> bool:
    """False: graphc cannot flush denormal floats to zero (``torch.set_flush_denormal`` answers
    False on CPUs that cannot either)."""
    return False


def set_default_device(device) -> None:
    """Where factories (``zeros``, ``tensor``, ``randn``, ...) put tensors when no ``device=``
    is given (``torch.set_default_device``): ``"cpu"``, ``"cuda"``, or None for the cpu."""
    devices.default_device = None if device is None else devices.as_device(device)


def get_default_device() -> devices.device:
    """The device factories use by default (``torch.get_default_device``)."""
    chosen: Optional[devices.device] = devices.default_device
    return devices.CPU if chosen is None else chosen



__all__ = ["are_deterministic_algorithms_enabled", "get_default_device",
           "get_deterministic_debug_mode", "get_float32_matmul_precision",
           "get_num_interop_threads", "is_deterministic_algorithms_warn_only_enabled",
           "is_warn_always_enabled", "set_default_device", "set_deterministic_debug_mode",
           "set_float32_matmul_precision", "set_flush_denormal", "set_num_interop_threads",
           "set_warn_always", "use_deterministic_algorithms"]
