"""PyTorch's top-level forms of functions graphc has elsewhere, with PyTorch's top-level
signatures (which are ATen's, and sometimes differ from ``torch.nn.functional``'s):
``torch.conv2d``, ``torch.dropout(input, p, train)``, ``torch.batch_norm(input, weight, bias,
running_mean, running_var, training, momentum, eps, cudnn_enabled)``, losses taking
``reduction`` as ATen's int (0 none, 1 mean, 2 sum), ...; the top-level in-place forms
(``torch.exp_(t)`` is ``t.exp_()``) and the ``*_copy`` forms of view ops (the op, then a copy).

Each is an alias of, or a thin call into, the one implementation graphc has (``graphc.nn
.functional``, the Tensor methods), so they trace and differentiate as those do. The
``cudnn_enabled`` flags are accepted and ignored (graphc has no cuDNN).

    >>> import graphc
    >>> x = graphc.tensor([-1.0, 2.0])
    >>> graphc.threshold(x, 0.0, 5.0).tolist(), graphc.exp_(graphc.zeros(2)).tolist()
    ([5.0, 2.0], [1.0, 1.0])
    >>> graphc.permute_copy(graphc.zeros(2, 3), (1, 0)).shape
    (3, 2)
"""
from __future__ import annotations

from typing import Optional

from graphc import functions as F
from graphc.arg_checks import require_tensor
from graphc.errors import ArgumentError
from graphc.nn import functional as NF
from graphc.tensor import Tensor

# -- identical signatures: the same functions -----------------------------------------------------
conv1d = NF.conv1d
conv2d = NF.conv2d
conv3d = NF.conv3d
conv_transpose1d = NF.conv_transpose1d
conv_transpose2d = NF.conv_transpose2d
bilinear = NF.bilinear
pixel_shuffle = NF.pixel_shuffle
pixel_unshuffle = NF.pixel_unshuffle
channel_shuffle = NF.channel_shuffle
prelu = NF.prelu
hardshrink = NF.hardshrink
avg_pool1d = NF.avg_pool1d
adaptive_avg_pool1d = NF.adaptive_avg_pool1d
rms_norm = NF.rms_norm

_REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}


def _reduction(reduction) -> str:
    """ATen's int reduction (0 none, 1 mean, 2 sum) as ``nn.functional``'s name."""
    if isinstance(reduction, str):
        return reduction
    if reduction not in _REDUCTIONS:
        raise ArgumentError(f"reduction must be 0 (none), 1 (mean) or 2 (sum), got "
                            f"{reduction!r}")
    return _REDUCTIONS[reduction]


# -- activations and dropout --------------------------------------------------------------------
def selu(input: Tensor) -> Tensor:
    return NF.selu(input)


def celu(input: Tensor, alpha: float = 1.0) -> Tensor:
    return NF.celu(input, alpha)


def threshold(input: Tensor, threshold: float, value: float) -> Tensor:
    return NF.threshold(input, threshold, value)


def _no_generator(name: str, generator) -> None:
    if generator is not None:
        raise ArgumentError(f"{name}: generator= is not supported (graphc's dropout-like ops "
                            f"draw from the global generator, graphc.manual_seed)")


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
          training: bool = False, generator=None) -> Tensor:
    _no_generator("rrelu", generator)
    return NF.rrelu(input, lower, upper, training)


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
           training: bool = False, generator=None) -> Tensor:
    _no_generator("rrelu_", generator)
    return NF.rrelu_(input, lower, upper, training)


selu_ = NF.selu_
celu_ = NF.celu_
threshold_ = NF.threshold_
relu_ = NF.relu_


def dropout(input: Tensor, p: float, train: bool) -> Tensor:
    """``torch.dropout(input, p, train)``: ``train`` positional and required, as in ATen."""
    return NF.dropout(input, p, train)


def alpha_dropout(input: Tensor, p: float, train: bool) -> Tensor:
    return NF.alpha_dropout(input, p, train)


def feature_alpha_dropout(input: Tensor, p: float, train: bool) -> Tensor:
    return NF.feature_alpha_dropout(input, p, train)


def feature_dropout(input: Tensor, p: float, train: bool) -> Tensor:
    """Drops whole channels (dim 1 of ``[N, C, ...]``) with probability ``p``, scaling the
    rest by ``1 / (1 - p)`` (``torch.feature_dropout``): a dropout of ones of shape
    ``[N, C, 1, ...]``, broadcast."""
    if not train or p == 0:
        return input
    if input.ndim < 2:
        raise ArgumentError(f"feature_dropout: expected input of at least 2 dims [N, C, ...], "
                            f"got shape {list(input.shape)}")
    from graphc.factories import ones
    shape = list(input.shape[:2]) + [1] * (input.ndim - 2)
    return F.mul(input, NF.dropout(ones(shape, dtype=input.dtype), p, True))


def _inplace_of(fn):
    def method(input: Tensor, p: float, train: bool) -> Tensor:
        return input._assign(lambda old: fn(old, p, train))
    method.__name__ = fn.__name__ + "_"
    method.__doc__ = f"In-place :func:`{fn.__name__}`."
    return method


dropout_ = _inplace_of(dropout)
alpha_dropout_ = _inplace_of(alpha_dropout)
feature_alpha_dropout_ = _inplace_of(feature_alpha_dropout)
feature_dropout_ = _inplace_of(feature_dropout)


# -- normalization and embedding ----------------------------------------------------------------
def batch_norm(input: Tensor, weight: Optional[Tensor], bias: Optional[Tensor],
               running_mean: Optional[Tensor], running_var: Optional[Tensor], training: bool,
               momentum: float, eps: float, cudnn_enabled: bool) -> Tensor:
    """``torch.batch_norm``: ATen's argument order (weight and bias first), all required."""
    return NF.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def instance_norm(input: Tensor, weight: Optional[Tensor], bias: Optional[Tensor],
                  running_mean: Optional[Tensor], running_var: Optional[Tensor],
                  use_input_stats: bool, momentum: float, eps: float,
                  cudnn_enabled: bool) -> Tensor:
    """``torch.instance_norm``: ATen's argument order (weight and bias first), all required."""
    return NF.instance_norm(input, running_mean, running_var, weight, bias, use_input_stats,
                            momentum, eps)


def layer_norm(input: Tensor, normalized_shape, weight: Optional[Tensor] = None,
               bias: Optional[Tensor] = None, eps: float = 1e-5,
               cudnn_enable: bool = True) -> Tensor:
    return NF.layer_norm(input, normalized_shape, weight, bias, eps)


def group_norm(input: Tensor, num_groups: int, weight: Optional[Tensor] = None,
               bias: Optional[Tensor] = None, eps: float = 1e-5,
               cudnn_enabled: bool = True) -> Tensor:
    return NF.group_norm(input, num_groups, weight, bias, eps)


def embedding(weight: Tensor, indices: Tensor, padding_idx: int = -1,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """``torch.embedding(weight, indices, ...)``: the table first, as in ATen, where
    ``padding_idx=-1`` means no padding row."""
    return NF.embedding(indices, weight, None if padding_idx == -1 else padding_idx,
                        scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


# -- losses (reduction as ATen's int) -----------------------------------------------------------
def kl_div(input: Tensor, target: Tensor, reduction=1, *, log_target: bool = False) -> Tensor:
    return NF.kl_div(input, target, reduction=_reduction(reduction), log_target=log_target)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                        reduction=1) -> Tensor:
    return NF.margin_ranking_loss(input1, input2, target, margin,
                                  reduction=_reduction(reduction))


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0,
                         reduction=1) -> Tensor:
    return NF.hinge_embedding_loss(input, target, margin, reduction=_reduction(reduction))


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                          reduction=1) -> Tensor:
    return NF.cosine_embedding_loss(input1, input2, target, margin,
                                    reduction=_reduction(reduction))


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor,
                        margin: float = 1.0, p: float = 2.0, eps: float = 1e-6,
                        swap: bool = False, reduction=1) -> Tensor:
    return NF.triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap,
                                  reduction=_reduction(reduction))


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool, full: bool, eps: float,
                     reduction) -> Tensor:
    """``torch.poisson_nll_loss``: every argument required, as in ATen."""
    return NF.poisson_nll_loss(input, target, log_input, full, eps=eps,
                               reduction=_reduction(reduction))


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,
                                     weight: Optional[Tensor] = None,
                                     pos_weight: Optional[Tensor] = None,
                                     reduction=1) -> Tensor:
    return NF.binary_cross_entropy_with_logits(input, target, weight,
                                               reduction=_reduction(reduction),
                                               pos_weight=pos_weight)


def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths, target_lengths,
             blank: int = 0, reduction=1, zero_infinity: bool = False) -> Tensor:
    return NF.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank,
                       _reduction(reduction), zero_infinity)


# -- pooling, padding, sampling -----------------------------------------------------------------
def _stride(stride):
    """ATen's default stride ``[]`` (the kernel size) as ``nn.functional``'s None."""
    return None if stride is None or (isinstance(stride, (list, tuple)) and not stride) else stride


def max_pool1d(input: Tensor, kernel_size, stride=(), padding=0, dilation=1,
               ceil_mode: bool = False) -> Tensor:
    return NF.max_pool1d(input, kernel_size, _stride(stride), padding, dilation, ceil_mode)


def max_pool1d_with_indices(input: Tensor, kernel_size, stride=(), padding=0, dilation=1,
                            ceil_mode: bool = False):
    """``(values, indices)`` of :func:`max_pool1d`."""
    return NF.max_pool1d(input, kernel_size, _stride(stride), padding, dilation, ceil_mode,
                         return_indices=True)


def max_pool2d(input: Tensor, kernel_size, stride=(), padding=0, dilation=1,
               ceil_mode: bool = False) -> Tensor:
    return NF.max_pool2d(input, kernel_size, _stride(stride), padding, dilation, ceil_mode)


def max_pool3d(input: Tensor, kernel_size, stride=(), padding=0, dilation=1,
               ceil_mode: bool = False) -> Tensor:
    return NF.max_pool3d(input, kernel_size, _stride(stride), padding, dilation, ceil_mode)


def adaptive_max_pool1d(input: Tensor, output_size):
    """``(values, indices)``, as ``torch.adaptive_max_pool1d`` answers."""
    return NF.adaptive_max_pool1d(input, output_size, return_indices=True)


def constant_pad_nd(input: Tensor, pad, value=0) -> Tensor:
    """``torch.constant_pad_nd``: ``nn.functional.pad`` in constant mode."""
    return NF.pad(input, list(pad), "constant", value)


_INTERPOLATIONS = ("bilinear", "nearest", "bicubic")
_PADDINGS = ("zeros", "border", "reflection")


def grid_sampler(input: Tensor, grid: Tensor, interpolation_mode: int, padding_mode: int,
                 align_corners: bool) -> Tensor:
    """``torch.grid_sampler``: ``nn.functional.grid_sample`` with ATen's int modes
    (interpolation 0 bilinear, 1 nearest, 2 bicubic; padding 0 zeros, 1 border,
    2 reflection)."""
    if interpolation_mode not in (0, 1, 2) or padding_mode not in (0, 1, 2):
        raise ArgumentError(f"grid_sampler: interpolation_mode and padding_mode must be 0, 1 "
                            f"or 2, got {interpolation_mode!r} and {padding_mode!r}")
    return NF.grid_sample(input, grid, _INTERPOLATIONS[interpolation_mode],
                          _PADDINGS[padding_mode], align_corners)


# -- top-level in-place forms: torch.X_(t, ...) is t.X_(...) -----------------------------------
_INPLACE_METHODS = """
abs_ acos_ acosh_ addmv_ arccos_ arccosh_ arcsin_ arcsinh_ arctan_ arctanh_ asin_ asinh_ atan_
atanh_ ceil_ clamp_ clamp_max_ clamp_min_ clip_ cos_ cosh_ deg2rad_ detach_ erf_ erfc_ exp2_ exp_
expm1_ fill_ fix_ floor_ frac_ gcd_ i0_ index_put_ lcm_ ldexp_ log10_ log1p_ log2_ log_ logit_
nan_to_num_ neg_ negative_ rad2deg_ reciprocal_ round_ rsqrt_ sigmoid_ sin_ sinc_ sinh_ sqrt_
square_ tan_ tanh_ trunc_ xlogy_ zero_
""".split()


def _top_level_inplace(name: str):
    def fn(input: Tensor, *args, **kwargs) -> Tensor:
        return getattr(require_tensor(input, "input", name), name)(*args, **kwargs)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``graphc.{name}(t, ...)`` is ``t.{name}(...)``: in place."
    return fn


for _name in _INPLACE_METHODS:
    globals()[_name] = _top_level_inplace(_name)


# -- the *_copy forms of view ops: the op, then a copy ------------------------------------------
def _copy(t: Tensor) -> Tensor:
    return t.clone()


def permute_copy(input: Tensor, dims) -> Tensor:
    return _copy(F.permute(input, list(dims)))


def transpose_copy(input: Tensor, dim0: int, dim1: int) -> Tensor:
    return _copy(F.transpose(input, dim0, dim1))


def t_copy(input: Tensor) -> Tensor:
    return _copy(input.t())


def view_copy(input: Tensor, size) -> Tensor:
    return _copy(F.reshape(input, list(size)))


def expand_copy(input: Tensor, size, *, implicit: bool = False) -> Tensor:
    return _copy(F.expand(input, list(size)))


def squeeze_copy(input: Tensor, dim=None) -> Tensor:
    return _copy(F.squeeze(input, dim))


def unsqueeze_copy(input: Tensor, dim: int) -> Tensor:
    return _copy(F.unsqueeze(input, dim))


def diagonal_copy(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    from graphc.diagonals import diagonal
    return _copy(diagonal(input, offset, dim1, dim2))


def select_copy(input: Tensor, dim: int, index: int) -> Tensor:
    from graphc.torch_functions import select
    return _copy(select(input, dim, index))


def slice_copy(input: Tensor, dim: int = 0, start: Optional[int] = None,
               end: Optional[int] = None, step: int = 1) -> Tensor:
    """``input`` sliced ``start:end:step`` along ``dim`` (``torch.slice_copy``)."""
    from ir.types import wrap_dim
    axis = wrap_dim(dim, input.ndim)
    return _copy(input[(slice(None),) * axis + (slice(start, end, step),)])


def narrow_copy(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    return _copy(F.narrow(input, dim, start, length))


def split_copy(input: Tensor, split_size: int, dim: int = 0) -> list:
    return [_copy(p) for p in F.split(input, split_size, dim)]


def split_with_sizes_copy(input: Tensor, split_sizes, dim: int = 0) -> list:
    return [_copy(p) for p in split_with_sizes(input, split_sizes, dim)]


def unbind_copy(input: Tensor, dim: int = 0) -> list:
    from graphc.composites import unbind
    return [_copy(p) for p in unbind(input, dim)]


def unfold_copy(input: Tensor, dimension: int, size: int, step: int) -> Tensor:
    from graphc.windows import unfold_dim
    return _copy(unfold_dim(input, dimension, size, step))


def detach_copy(input: Tensor) -> Tensor:
    return _copy(input.detach())


def alias_copy(input: Tensor) -> Tensor:
    return _copy(input)


def split_with_sizes(input: Tensor, split_sizes, dim: int = 0) -> list:
    """Pieces of the given sizes along ``dim``, which must add up to its length
    (``torch.split_with_sizes``)."""
    sizes = [int(s) for s in split_sizes]
    from ir.types import wrap_dim
    length = input.shape[wrap_dim(dim, input.ndim)]
    if sum(sizes) != length or any(s < 0 for s in sizes):
        raise ArgumentError(f"split_with_sizes expects split_sizes to sum exactly to {length} "
                            f"(input tensor's size at dimension {dim}), but got "
                            f"split_sizes={sizes}")
    return F.split(input, sizes, dim)


unsafe_split = F.split
unsafe_chunk = F.chunk
unsafe_split_with_sizes = split_with_sizes

__all__ = [
    "adaptive_avg_pool1d", "adaptive_max_pool1d", "alias_copy", "alpha_dropout",
    "alpha_dropout_", "avg_pool1d", "batch_norm", "bilinear", "binary_cross_entropy_with_logits",
    "celu", "celu_", "channel_shuffle", "constant_pad_nd", "conv1d", "conv2d", "conv3d",
    "conv_transpose1d", "conv_transpose2d", "cosine_embedding_loss", "ctc_loss",
    "detach_copy", "diagonal_copy", "dropout", "dropout_", "embedding", "expand_copy",
    "feature_alpha_dropout", "feature_alpha_dropout_", "feature_dropout", "feature_dropout_",
    "grid_sampler", "group_norm", "hardshrink", "hinge_embedding_loss", "instance_norm",
    "kl_div", "layer_norm", "margin_ranking_loss", "max_pool1d", "max_pool1d_with_indices",
    "max_pool2d", "max_pool3d", "narrow_copy", "permute_copy", "pixel_shuffle",
    "pixel_unshuffle", "poisson_nll_loss", "prelu", "relu_", "rms_norm", "rrelu", "rrelu_",
    "select_copy", "selu", "selu_", "slice_copy", "split_copy", "split_with_sizes",
    "split_with_sizes_copy", "squeeze_copy", "t_copy", "threshold", "threshold_",
    "transpose_copy", "triplet_margin_loss", "unbind_copy", "unfold_copy", "unsafe_chunk",
    "unsafe_split", "unsafe_split_with_sizes", "unsqueeze_copy", "view_copy",
] + _INPLACE_METHODS
