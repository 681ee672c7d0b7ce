"""``graphc.nn.utils``: gradient clipping, flat parameter vectors, padded or packed batches
of sequences (``rnn``), parametrizations (``parametrize``, ``parametrizations``), pruning
(``prune``), batch-norm fusion and ``stateless.functional_call``, as ``torch.nn.utils``.

    >>> import graphc
    >>> from graphc import nn
    >>> model = nn.Linear(3, 1)
    >>> model(graphc.ones(2, 3)).sum().backward()
    >>> norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)
    >>> bool(norm > 0.5), round(nn.utils.parameters_to_vector(
    ...     [p.grad for p in model.parameters()]).square().sum().sqrt().item(), 4)
    (True, 0.5)
"""
from graphc.nn.utils import parametrizations, parametrize, prune, rnn, stateless
from graphc.nn.utils.clip_grad import (
    clip_grad_norm,
    clip_grad_norm_,
    clip_grad_value_,
    clip_grads_with_norm_,
    get_total_norm,
)
from graphc.nn.utils.convert_parameters import parameters_to_vector, vector_to_parameters
from graphc.nn.utils.fusion import (
    fuse_conv_bn_eval,
    fuse_conv_bn_weights,
    fuse_linear_bn_eval,
    fuse_linear_bn_weights,
)
from graphc.nn.utils.memory_format import (
    convert_conv2d_weight_memory_format,
    convert_conv3d_weight_memory_format,
)
from graphc.nn.utils.spectral_norm import remove_spectral_norm, spectral_norm
from graphc.nn.utils.weight_norm import remove_weight_norm, weight_norm

__all__ = ["clip_grad_norm", "clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_",
           "convert_conv2d_weight_memory_format", "convert_conv3d_weight_memory_format",
           "fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval",
           "fuse_linear_bn_weights", "get_total_norm", "parameters_to_vector",
           "parametrizations", "parametrize", "prune", "remove_spectral_norm",
           "remove_weight_norm", "rnn", "spectral_norm", "stateless", "vector_to_parameters", "weight_norm"]
