"""Folding an eval-mode batch norm into the convolution or linear layer before it
(``torch.nn.utils.fusion``): ``bn(conv(x)) == fused(x)``, with one layer fewer to run.

    >>> import graphc
    >>> from graphc import nn
    >>> conv, bn = nn.Conv2d(2, 3, 3).eval(), nn.BatchNorm2d(3).eval()
    >>> with graphc.no_grad():
    ...     _ = bn.running_var.fill_(4.0)
    >>> x = graphc.randn(1, 2, 5, 5)
    >>> fused = fuse_conv_bn_eval(conv, bn)
    >>> bool(((fused(x) - bn(conv(x))).abs() < 1e-5).all())
    True
"""
from __future__ import annotations

import copy
from typing import Optional

from graphc import autograd
from graphc.factories import ones_like, zeros_like
from graphc.nn.module import Module, Parameter
from graphc.tensor import Tensor

__all__ = ["fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval",
           "fuse_linear_bn_weights"]


def fuse_conv_bn_eval(conv: Module, bn: Module, transpose: bool = False) -> Module:
    """A copy of ``conv`` (in eval mode, as ``bn``) with ``bn`` folded into its weight and
    bias; ``transpose=True`` for a transposed convolution (its output channels are the weight's
    dimension 1)."""
    if conv.training or bn.training:
        raise AssertionError("Fusion only for eval!")
    fused = copy.deepcopy(conv)
    if bn.running_mean is None or bn.running_var is None:
        raise AssertionError("bn.running_mean and bn.running_var must not be None")
    fused.weight, fused.bias = fuse_conv_bn_weights(
        fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias,
        transpose)
    return fused


def fuse_conv_bn_weights(conv_w: Tensor, conv_b: Optional[Tensor], bn_rm: Tensor, bn_rv: Tensor,
                         bn_eps: float, bn_w: Optional[Tensor], bn_b: Optional[Tensor],
                         transpose: bool = False) -> tuple[Parameter, Parameter]:
    """The convolution weight and bias that compute ``bn(conv(x))`` in eval mode: the weight
    scaled per output channel by ``bn_w / sqrt(bn_rv + eps)``, the bias
    ``(conv_b - bn_rm) * that + bn_b``; new Parameters in the convolution's dtypes."""
    weight_dtype = conv_w.dtype
    bias_dtype = conv_b.dtype if conv_b is not None else weight_dtype
    with autograd.no_grad():
        conv_b = zeros_like(bn_rm) if conv_b is None else conv_b
        bn_w = ones_like(bn_rm) if bn_w is None else bn_w
        bn_b = zeros_like(bn_rm) if bn_b is None else bn_b
        rsqrt = (bn_rv + bn_eps).rsqrt()
        shape = ([1, -1] if transpose else [-1, 1]) + [1] * (conv_w.ndim - 2)
        weight = (conv_w * (bn_w * rsqrt).reshape(shape)).to(weight_dtype)
        bias = ((conv_b - bn_rm) * rsqrt * bn_w + bn_b).to(bias_dtype)
    return (Parameter(weight, conv_w.requires_grad), Parameter(bias, conv_b.requires_grad))


def fuse_linear_bn_eval(linear: Module, bn: Module) -> Module:
    """A copy of ``linear`` (in eval mode, as ``bn``) with ``bn`` (a ``BatchNorm1d`` of its
    output features, or of one feature) folded into its weight and bias."""
    if linear.training or bn.training:
        raise AssertionError("Fusion only for eval!")
    fused = copy.deepcopy(linear)
    if linear.out_features != bn.num_features and bn.num_features != 1:
        raise AssertionError("To fuse, linear.out_features == bn.num_features or "
                             f"bn.num_features == 1, got linear.out_features="
                             f"{linear.out_features} and bn.num_features={bn.num_features}")
    if bn.running_mean is None or bn.running_var is None:
        raise AssertionError("bn.running_mean and bn.running_var must not be None")
    fused.weight, fused.bias = fuse_linear_bn_weights(
        fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)
    return fused


def fuse_linear_bn_weights(linear_w: Tensor, linear_b: Optional[Tensor], bn_rm: Tensor,
                           bn_rv: Tensor, bn_eps: float, bn_w: Tensor,
                           bn_b: Tensor) -> tuple[Parameter, Parameter]:
    """The linear weight and bias that compute ``bn(linear(x))`` in eval mode."""
    weight_dtype = linear_w.dtype
    bias_dtype = linear_b.dtype if linear_b is not None else weight_dtype
    with autograd.no_grad():
        linear_b = zeros_like(bn_rm) if linear_b is None else linear_b
        scale = bn_w * (bn_rv + bn_eps).rsqrt()
        weight = linear_w * scale.unsqueeze(-1).to(weight_dtype)
        bias = ((linear_b - bn_rm) * scale + bn_b).to(bias_dtype)
    return (Parameter(weight, linear_w.requires_grad), Parameter(bias, linear_b.requires_grad))
