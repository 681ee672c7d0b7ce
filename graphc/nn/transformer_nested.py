"""What PyTorch's ``TransformerEncoder`` does on its nested-tensor path, and when.

With ``enable_nested_tensor=True`` (the default), PyTorch runs an encoder in inference
(eval mode, no gradient needed) with a ``src_key_padding_mask`` on a nested tensor of the
unpadded sequences and pads the result with exact zeros: the padded positions of its output are
0 (or ``norm(0)`` with a final ``norm``) where the ordinary path computes values there. Users
compare outputs (and pool over positions) against PyTorch, so graphc gives the same: the
conditions are PyTorch's own list (``TransformerEncoder.__init__`` and ``forward``, torch 2.13),
the layers run with the padding mask as a bool mask (what the nested path computes for the
other positions) and the padded positions are set to 0 before ``norm``.

    >>> import graphc
    >>> from graphc import nn
    >>> layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
    >>> encoder = nn.TransformerEncoder(layer, 1).eval()
    >>> pad = graphc.tensor([[False, False, True]])
    >>> with graphc.no_grad():
    ...     out = encoder(graphc.randn(1, 3, 8), src_key_padding_mask=pad)
    >>> out[0, 2].abs().max().item()
    0.0
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from graphc import autograd, tracing
from graphc import functions as F
from graphc.tensor import Tensor
from ir import dtypes

__all__ = ["why_not_nested", "nested_padding"]


def _relu_or_gelu(activation) -> bool:
    """PyTorch's ``activation_relu_or_gelu``: F.relu/F.gelu or a ReLU/GELU module."""
    from graphc.nn import GELU, ReLU
    return activation is F.relu or activation is F.gelu or isinstance(activation, (ReLU, GELU))


def why_not_nested(encoder_layer) -> str:
    """Why an encoder built from ``encoder_layer`` cannot take the nested path ('' if it can):
    the checks of PyTorch's ``TransformerEncoder.__init__``."""
    from graphc.nn.transformer import TransformerEncoderLayer
    if not isinstance(encoder_layer, TransformerEncoderLayer):
        return "encoder_layer was not TransformerEncoderLayer"
    attention = encoder_layer.self_attn
    if encoder_layer.norm_first:
        return "encoder_layer.norm_first was True"
    if not attention.batch_first:
        return "encoder_layer.self_attn.batch_first was not True"
    if not attention._qkv_same_embed_dim:
        return "encoder_layer.self_attn._qkv_same_embed_dim was not True"
    if attention.in_proj_bias is None:
        return "encoder_layer.self_attn was passed bias=False"
    if not _relu_or_gelu(encoder_layer.activation):
        return "encoder_layer.activation_relu_or_gelu was not True"
    if encoder_layer.norm1.eps != encoder_layer.norm2.eps:
        return "encoder_layer.norm1.eps was not equal to encoder_layer.norm2.eps"
    if attention.num_heads % 2 == 1:
        return "encoder_layer.self_attn.num_heads is odd"
    return ""


def _first_layer_tensors(layer) -> list[Any]:
    attention = layer.self_attn
    return [attention.in_proj_weight, attention.in_proj_bias, attention.out_proj.weight,
            attention.out_proj.bias, layer.norm1.weight, layer.norm1.bias, layer.norm2.weight,
            layer.norm2.bias, layer.linear1.weight, layer.linear1.bias, layer.linear2.weight,
            layer.linear2.bias]


def _left_aligned(padded: Tensor) -> bool:
    """Whether each sequence's kept positions come first (no kept position after a padded one)."""
    keep = ~padded._concrete("check the padding mask")
    return bool(np.all(keep[:, :-1] >= keep[:, 1:])) if keep.shape[1] > 1 else True


def nested_padding(encoder, src: Tensor, mask: Optional[Tensor],
                   src_key_padding_mask: Optional[Tensor]) -> Optional[Tensor]:
    """The bool (N, S) mask of padded positions if PyTorch's ``TransformerEncoder.forward``
    takes its nested-tensor path for this call, else None. (A float mask pads where it is not
    0, as PyTorch's ``mask.logical_not()`` reads it.)"""
    from graphc.amp.autocast_mode import is_autocast_enabled  # (it imports graphc.nn)
    if src_key_padding_mask is None or not getattr(encoder, "use_nested_tensor", False):
        return None
    first = encoder.layers[0]
    if first.training or src.dim() != 3 or mask is not None:
        return None
    padded = src_key_padding_mask
    if padded.dtype != dtypes.bool_:
        padded = padded != 0
    check = getattr(encoder, "mask_check", True)
    if check and (tracing.current() is not None or not _left_aligned(padded)):
        return None  # (PyTorch: not under torch.compile with mask_check)
    if is_autocast_enabled():
        return None
    if autograd.is_grad_enabled() and any(
            t is not None and t.requires_grad for t in [src] + _first_layer_tensors(first)):
        return None
    return padded
