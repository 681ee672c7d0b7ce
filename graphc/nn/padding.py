"""Padding layers, like ``torch.nn.modules.padding``: ``ZeroPad1d/2d/3d ConstantPad1d/2d/3d
ReflectionPad1d/2d/3d ReplicationPad1d/2d/3d CircularPad1d/2d/3d``, each a call of
:func:`graphc.nn.functional.pad` with its mode. ``padding`` is an int (every side) or a tuple
(left, right[, top, bottom[, front, back]]).

    >>> import graphc
    >>> from graphc import nn
    >>> nn.ReflectionPad1d(2)(graphc.tensor([[[0.0, 1.0, 2.0, 3.0]]])).tolist()
    [[[2.0, 1.0, 0.0, 1.0, 2.0, 3.0, 2.0, 1.0]]]
    >>> nn.ConstantPad2d((1, 0, 0, 1), 3.5)
    ConstantPad2d(padding=(1, 0, 0, 1), value=3.5)
"""
from __future__ import annotations

from graphc.nn import functional as F
from graphc.nn.module import Module
from graphc.tensor import Tensor


class _Pad(Module):
    _mode = "constant"
    _dims = 1

    def __init__(self, padding):
        super().__init__()
        if isinstance(padding, (list, tuple)):
            if len(padding) != 2 * self._dims:
                raise ValueError(f"{type(self).__name__}: padding must be an int or "
                                 f"{2 * self._dims} values, got {tuple(padding)}")
            self.padding = tuple(int(p) for p in padding)
        else:
            self.padding = (int(padding),) * (2 * self._dims)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in (self._dims + 1, self._dims + 2):
            raise ValueError(f"{type(self).__name__}: expected {self._dims + 1}D or "
                             f"{self._dims + 2}D input, got shape {list(input.shape)}")
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPad(_Pad):
    def __init__(self, padding, value: float):
        super().__init__(padding)
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPad):
    _dims = 1


class ConstantPad2d(_ConstantPad):
    _dims = 2


class ConstantPad3d(_ConstantPad):
    _dims = 3


class _ZeroPad(_ConstantPad):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad1d(_ZeroPad):
    _dims = 1


class ZeroPad2d(_ZeroPad):
    _dims = 2


class ZeroPad3d(_ZeroPad):
    _dims = 3


class ReflectionPad1d(_Pad):
    _mode, _dims = "reflect", 1


class ReflectionPad2d(_Pad):
    _mode, _dims = "reflect", 2


class ReflectionPad3d(_Pad):
    _mode, _dims = "reflect", 3


class ReplicationPad1d(_Pad):
    _mode, _dims = "replicate", 1


class ReplicationPad2d(_Pad):
    _mode, _dims = "replicate", 2


class ReplicationPad3d(_Pad):
    _mode, _dims = "replicate", 3


class CircularPad1d(_Pad):
    _mode, _dims = "circular", 1


class CircularPad2d(_Pad):
    _mode, _dims = "circular", 2


class CircularPad3d(_Pad):
    _mode, _dims = "circular", 3
