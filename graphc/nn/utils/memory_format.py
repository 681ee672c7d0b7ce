"""``convert_conv2d_weight_memory_format`` and ``convert_conv3d_weight_memory_format``: no-ops
in graphc, which keep them so PyTorch code runs unchanged.

PyTorch lays a convolution weight out channels-last for NHWC kernels (cuDNN, fp16). graphc's
tensors are always row-major arrays with no strides of their own (eager mode on NumPy) and the
compiler chooses the loop order of each convolution kernel itself, so there is no layout to
convert: the functions return the module as it is.

    >>> import graphc
    >>> conv = graphc.nn.Conv2d(1, 1, 3)
    >>> convert_conv2d_weight_memory_format(conv, "channels_last") is conv
    True
"""
from __future__ import annotations

from graphc.nn.module import Module

__all__ = ["convert_conv2d_weight_memory_format", "convert_conv3d_weight_memory_format"]


def convert_conv2d_weight_memory_format(module: Module, memory_format) -> Module:
    """Returns ``module`` unchanged (graphc has one memory layout: see the module's doc)."""
    return module


def convert_conv3d_weight_memory_format(module: Module, memory_format) -> Module:
    """Returns ``module`` unchanged (graphc has one memory layout: see the module's doc)."""
    return module
