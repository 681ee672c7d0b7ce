"""Anomaly mode (``torch.autograd.detect_anomaly`` / ``set_detect_anomaly`` and the top-level
``torch.is_anomaly_enabled``, ``set_anomaly_enabled``, ``is_anomaly_check_nan_enabled``).

With anomaly mode on and ``check_nan`` (the default), an eager backward pass raises
``RuntimeError`` at the first op whose gradient holds NaN, naming the op, as PyTorch does. graphc
records no forward stack traces, so that part of PyTorch's anomaly mode has no counterpart, and
compiled backward passes are not checked (their values exist only at run time).

    >>> import graphc
    >>> x = graphc.tensor([0.0, 1.0], requires_grad=True)
    >>> with graphc.autograd.detect_anomaly():
    ...     graphc.sqrt(x * -1.0).sum().backward()
    Traceback (most recent call last):
    ...
    RuntimeError: Function 'sqrt' returned nan values in its 0th output.
    >>> graphc.is_anomaly_enabled()
    False
"""
from __future__ import annotations

import contextlib

from graphc import autograd


def is_anomaly_enabled() -> bool:
    """Whether anomaly mode is on (``torch.is_anomaly_enabled``)."""
    return autograd.anomaly_mode[0]


def is_anomaly_check_nan_enabled() -> bool:
    """Whether anomaly mode checks gradients for NaN (``torch.is_anomaly_check_nan_enabled``)."""
    return autograd.anomaly_mode[1]


def set_anomaly_enabled(enabled: bool, check_nan: bool = True) -> None:
    """Turns anomaly mode on or off (``torch.set_anomaly_enabled``)."""
    autograd.anomaly_mode[:] = [bool(enabled), bool(check_nan)]


class detect_anomaly(contextlib.ContextDecorator):  # noqa: N801  (torch's name)
    """Anomaly mode inside a ``with`` block or a decorated function
    (``torch.autograd.detect_anomaly(check_nan=True)``)."""

    def __init__(self, check_nan: bool = True):
        self.check_nan = check_nan
        self._saved: list = []

    def __enter__(self):
        self._saved.append(list(autograd.anomaly_mode))
        set_anomaly_enabled(True, self.check_nan)
        return self

    def __exit__(self, *exc) -> bool:
        autograd.anomaly_mode[:] = self._saved.pop()
        return False


class set_detect_anomaly(detect_anomaly):  # noqa: N801  (torch's name)
    """Sets anomaly mode at once (``torch.autograd.set_detect_anomaly(mode, check_nan=True)``);
    used as a context manager it restores the previous mode on exit."""

    def __init__(self, mode: bool, check_nan: bool = True):
        super().__init__(check_nan)
        self._saved.append(list(autograd.anomaly_mode))
        set_anomaly_enabled(mode, check_nan)

    def __enter__(self):
        return self


__all__ = ["detect_anomaly", "is_anomaly_check_nan_enabled", "is_anomaly_enabled",
           "set_anomaly_enabled", "set_detect_anomaly"]
