"""``graphc.nn.functional``: the functions behind the layers, like ``torch.nn.functional``.

Everything here is written from graphc primitives (registry ops such as ``conv2d``, ``gather``,
``max_pool2d_indices``, and the composites of :mod:`graphc.functions`), so it runs eagerly,
differentiates, and traces inside ``@graphc.compile``. Shapes, argument names and defaults
follow PyTorch.

    >>> import graphc
    >>> import graphc.nn.functional as F
    >>> x = graphc.tensor([[1.0, -2.0, 3.0]])
    >>> F.relu(x).tolist()
    [[1.0, 0.0, 3.0]]
    >>> round(F.cross_entropy(x, graphc.tensor([2])).item(), 4)
    0.1328
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Optional, Union

import numpy as np

import graphc.functions as G
from graphc import factories, tracing
from graphc.amp.autocast_mode import autocast_op
from graphc.arg_checks import require_integer, require_tensor, torch_dtype_name
from graphc.autograd import no_grad
from graphc.dispatch import apply
from graphc.errors import ArgumentDTypeError, ArgumentError, ShapeError, UnsupportedArgumentError
from graphc.nn.interpolation import (  # noqa: F401  (re-exported: F.interpolate, ...)
    interpolate,
    pixel_shuffle,
    pixel_unshuffle,
    upsample,
    upsample_bilinear,
    upsample_nearest,
)
from graphc.nn.losses import (  # noqa: F401  (re-exported: F.cross_entropy, ...)
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from graphc.tensor import Tensor
from graphc.user_warnings import warn
from graphc.windows import fold, unfold  # noqa: F401  (F.fold, F.unfold: im2col and col2im)
from ir import dtypes
from ir.errors import IndexRangeError
from ir.ops.conv import conv_output_size

# activations that are graphc functions already (the same objects: checkpoints of modules
# holding F.relu name graphc.functions.relu); relu and silu take inplace= there
relu = G.relu
tanh = G.tanh
sigmoid = G.sigmoid
gelu = G.gelu
silu = G.silu


# -- helpers --------------------------------------------------------------------------------------
def _tuple(value, n: int, name: str) -> tuple:
    """An int or a sequence of ``n`` ints as an ``n``-tuple (PyTorch's ``_pair``/``_single``)."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ArgumentError(f"{name} needs {n} values, got {tuple(value)}")
        return tuple(int(v) for v in value)
    return (int(value),) * n


def _batched(x: Tensor, rank: int, name: str):
    """``x`` with a batch axis (added for unbatched input) and whether one was added."""
    if x.ndim == rank:
        return x, False
    if x.ndim == rank - 1:
        return G.unsqueeze(x, 0), True
    raise ShapeError(f"{name}: expected a {rank - 1}-D (unbatched) or {rank}-D (batched) input, "
                     f"got shape {list(x.shape)}")


# -- activations ----------------------------------------------------------------------------------
def relu6(x: Tensor, inplace: bool = False) -> Tensor:
    return hardtanh(x, 0.0, 6.0, inplace)


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """``x`` limited to [min_val, max_val]; unlike ``clamp``, the gradient is 0 *at* the bounds
    (PyTorch's hardtanh_backward excludes them)."""
    if inplace:
        return x._assign(lambda t: hardtanh(t, min_val, max_val))
    x = G.where(G.le(x, min_val), G.scalar_like(float(min_val), x), x)
    return G.where(G.ge(x, max_val), G.scalar_like(float(max_val), x), x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``x`` for x > 0, else ``negative_slope * x``."""
    if inplace:
        return x._assign(lambda t: leaky_relu(t, negative_slope))
    return G.where(G.gt(x, 0), x, G.mul(x, float(negative_slope)))


def elu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    if inplace:
        return x._assign(lambda t: elu(t, alpha))
    # where, not minimum(x, 0): the gradient at x = 0 is alpha, not split between two branches
    negative = G.mul(G.expm1(G.where(G.gt(x, 0), G.scalar_like(0.0, x), x)), float(alpha))
    return G.where(G.gt(x, 0), x, negative)


@autocast_op("softplus")
def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: F811
    """``log(1 + exp(beta x)) / beta``, linear above ``threshold`` (as PyTorch)."""
    z = G.mul(x, float(beta))
    return G.where(G.gt(z, threshold), x, G.div(G.log1p_exp(z), float(beta)))


def logsigmoid(x: Tensor) -> Tensor:
    """``log(sigmoid(x)) = -softplus(-x)``, stable for large |x|."""
    return G.neg(softplus(G.neg(x)))


def _softmax_dim(ndim: int) -> int:
    # PyTorch's legacy choice for dim=None
    return 0 if ndim in (0, 1, 3) else 1


def softmax(x: Tensor, dim: Optional[int] = None, dtype=None) -> Tensor:
    return G.softmax(x, _softmax_dim(x.ndim) if dim is None else dim, dtype=dtype)


def log_softmax(x: Tensor, dim: Optional[int] = None, dtype=None) -> Tensor:
    return G.log_softmax(x, _softmax_dim(x.ndim) if dim is None else dim, dtype=dtype)


def softmin(x: Tensor, dim: Optional[int] = None, dtype=None) -> Tensor:
    return softmax(G.neg(x), dim, dtype)


def gumbel_softmax(logits: Tensor, tau: float = 1.0, hard: bool = False, eps: float = 1e-10,
                   dim: int = -1) -> Tensor:
    """A sample of the Gumbel-softmax distribution over ``dim``, as ``F.gumbel_softmax``:
    ``softmax((logits + g) / tau)`` with standard Gumbel noise ``g`` (fresh at every call,
    compiled too). ``hard`` gives the one-hot of its argmax in the forward pass with the soft
    sample's gradient (the straight-through estimator)."""
    from graphc.factories import rand, zeros_like
    from graphc.index_ops import scatter
    # Gumbel noise -log(E), E ~ Exp(1) = -log(U) with U in (0, 1]
    exponential = G.neg(G.log(G.sub(1.0, rand(*logits.shape, dtype=logits.dtype))))
    soft = G.softmax(G.div(G.add(logits, G.neg(G.log(exponential))), float(tau)), dim)
    if not hard:
        return soft
    index = G.argmax(soft, dim, keepdim=True)
    one_hot = scatter(zeros_like(soft), dim, index, 1.0)
    return G.add(G.sub(one_hot, soft.detach()), soft)


@autocast_op("normalize")
@G.half_in_float32
def normalize(x: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """``x / max(||x||_p, eps)`` along ``dim``; a zero vector stays zero with gradient
    ``1 / eps`` (the norm's gradient there is 0, as PyTorch's)."""
    from graphc.linalg import vector_norm  # imports graphc.functions, which is loaded by now
    return G.div(x, G.clamp(vector_norm(x, p, dim, keepdim=True), min=eps))


# -- linear ---------------------------------------------------------------------------------------
@autocast_op("linear")
def linear(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    """``input @ weight.T + bias`` with ``weight`` of shape (out_features, in_features).

    An integer ``input`` with a floating point ``weight`` is refused, as PyTorch refuses it
    ("mat1 and mat2 must have the same dtype"): an index tensor passed by mistake would
    otherwise be promoted and multiplied."""
    require_tensor(input, "input", "linear")
    require_tensor(weight, "weight", "linear")
    if weight.dtype.is_float and not input.dtype.is_float:
        raise ArgumentDTypeError(f"linear(): input and weight must have the same dtype, but got "
                                 f"{torch_dtype_name(input.dtype)} input and "
                                 f"{torch_dtype_name(weight.dtype)} weight")
    if weight.ndim == 2 and input.ndim >= 2 and isinstance(bias, (Tensor, type(None))) \
            and not getattr(input, "is_sparse", False):
        # (the ops G.matmul and G.add apply here, without their checks for other cases)
        out = apply("matmul", [input, apply("transpose", [weight], perm=[1, 0])])
        return out if bias is None else apply("add", [out, bias])
    out = G.matmul(input, G.transpose(weight, 0, 1) if weight.ndim == 2 else weight)
    return out if bias is None else G.add(out, bias)


# -- convolution ----------------------------------------------------------------------------------
def _same_padding(kernel, dilation, stride, name):
    if any(s != 1 for s in stride):
        raise ArgumentError(f"{name}: padding='same' is not supported for strided convolutions")
    total = [d * (k - 1) for k, d in zip(kernel, dilation)]
    return [(t // 2, t - t // 2) for t in total]


@autocast_op("conv2d")
def conv2d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride=1,
           padding: Union[int, Sequence[int], str] = 0, dilation=1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation) of ``input`` (N, C, H, W) or (C, H, W) with
    ``weight`` (O, C/groups, kh, kw); ``padding`` may be an int, a pair, 'valid' or 'same'."""
    x, unbatched = _batched(input, 4, "conv2d")
    stride, dilation = _tuple(stride, 2, "stride"), _tuple(dilation, 2, "dilation")
    if isinstance(padding, str):
        if padding == "valid":
            pads = [(0, 0), (0, 0)]
        elif padding == "same":
            pads = _same_padding(weight.shape[2:], dilation, stride, "conv2d")
        else:
            raise ArgumentError(f"conv2d: padding must be 'valid', 'same' or numbers, got {padding!r}")
        symmetric = [lo for lo, _ in pads]
        extra = [hi - lo for lo, hi in pads]
        if any(extra):  # 'same' with an even kernel: one more on the high side, as PyTorch
            x = G.pad(x, [0, extra[1], 0, extra[0]])
    else:
        symmetric = list(_tuple(padding, 2, "padding"))
    out = apply("conv2d", [x, weight], stride=list(stride), padding=symmetric,
                dilation=list(dilation), groups=int(groups))
    if bias is not None:
        out = G.add(out, G.reshape(bias, (1, -1, 1, 1)))
    return G.squeeze(out, 0) if unbatched else out


@autocast_op("conv1d")
def conv1d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride=1,
           padding: Union[int, Sequence[int], str] = 0, dilation=1, groups: int = 1) -> Tensor:
    """1-D convolution of ``input`` (N, C, L) or (C, L) with ``weight`` (O, C/groups, k): a
    ``conv2d`` on a height-1 view."""
    x, unbatched = _batched(input, 3, "conv1d")
    if weight.ndim != 3:
        raise ShapeError(f"conv1d: weight must be 3-D (out, in/groups, k), got "
                         f"{list(weight.shape)}")
    (stride,), (dilation,) = _tuple(stride, 1, "stride"), _tuple(dilation, 1, "dilation")
    if not isinstance(padding, str):
        (padding,) = _tuple(padding, 1, "padding")
        padding = (0, padding)
    out = conv2d(G.unsqueeze(x, 2), G.unsqueeze(weight, 2), None, (1, stride), padding,
                 (1, dilation), groups)
    out = G.squeeze(out, 2)
    if bias is not None:
        out = G.add(out, G.reshape(bias, (1, -1, 1)))
    return G.squeeze(out, 0) if unbatched else out


def _transposed_size(size: int, kernel: int, stride: int, padding: int, dilation: int,
                     output_padding: int) -> int:
    """Output length of a transposed convolution along one axis (PyTorch's formula)."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def _transposed_geometry(name: str, x: Tensor, weight: Tensor, input_shape, stride, padding,
                         output_padding, groups: int, dilation):
    """The checked arguments of an ``n``-D transposed convolution of batched ``x`` (``n`` =
    ``x.ndim - 2``) and the output's spatial size: ``(stride, padding, output_padding,
    dilation, size)``, each an ``n``-tuple, or a ValueError/TypeError naming the argument."""
    dims = x.ndim - 2
    if weight.ndim != dims + 2:
        axes = ("k",) if dims == 1 else ("kh", "kw") if dims == 2 else ("kd", "kh", "kw")
        raise ShapeError(f"{name}: weight must be {dims + 2}-D (in, out/groups, "
                         f"{', '.join(axes)}), got shape {list(weight.shape)}")
    if not x.dtype.is_float or not weight.dtype.is_float:
        raise ArgumentDTypeError(f"{name}: input and weight must be floating point, got "
                        f"{x.dtype} and {weight.dtype}")
    stride, padding = _tuple(stride, dims, "stride"), _tuple(padding, dims, "padding")
    dilation = _tuple(dilation, dims, "dilation")
    output_padding = _tuple(output_padding, dims, "output_padding")
    cin = x.shape[1]
    if groups < 1 or cin % groups:
        raise ArgumentError(f"{name}: groups={groups} must be positive and divide the "
                         f"{cin} input channels")
    if weight.shape[0] != cin:
        raise ShapeError(f"{name}: weight of shape {list(weight.shape)} expects "
                         f"{weight.shape[0]} input channels, but input of shape "
                         f"{list(input_shape)} has {cin}")
    if any(s < 1 for s in stride) or any(d < 1 for d in dilation) or min(padding) < 0:
        raise ArgumentError(f"{name}: stride {stride} and dilation {dilation} must be "
                         f"positive, padding {padding} non-negative")
    for op, s, d in zip(output_padding, stride, dilation):
        if not 0 <= op < max(s, d):
            raise ShapeError(f"{name}: output_padding {output_padding} must be "
                             f"smaller than either stride {stride} or dilation {dilation}")
    kernel = weight.shape[2:]
    size = tuple(_transposed_size(*args) for args in
                 zip(x.shape[2:], kernel, stride, padding, dilation, output_padding))
    if min(size) < 1:
        raise ShapeError(f"{name}: the output size {list(size)} of input "
                         f"{list(input_shape)} with kernel {list(kernel)} is too small")
    return stride, padding, output_padding, dilation, size


@autocast_op("conv_transpose2d")
def conv_transpose2d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """2-D transposed convolution of ``input`` (N, Cin, H, W) or (Cin, H, W) with ``weight``
    (Cin, Cout/groups, kh, kw), like ``torch.nn.functional.conv_transpose2d``.

    It is the input gradient of the convolution with the same weight and geometry, so it runs
    as the registry op ``conv2d_input_grad`` (a GEMM and col2im kernels when compiled):
    out = (H - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1.

        >>> import graphc
        >>> conv_transpose2d(graphc.ones(1, 1, 2, 2), graphc.ones(1, 1, 2, 2), stride=2).tolist()
        [[[[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]]]
    """
    x, unbatched = _batched(input, 4, "conv_transpose2d")
    stride, padding, output_padding, dilation, size = _transposed_geometry(
        "conv_transpose2d", x, weight, input.shape, stride, padding, output_padding, groups,
        dilation)
    n, _, h, w = x.shape
    kernel = weight.shape[2:]
    cout = weight.shape[1] * groups
    geometry = dict(stride=list(stride), dilation=list(dilation), groups=int(groups))
    if all(op < s for op, s in zip(output_padding, stride)):
        # output_padding < stride: the convolution of the output maps back to input's size
        out = apply("conv2d_input_grad", [x, weight], padding=list(padding),
                    input_shape=[n, cout, *size], **geometry)
    else:  # output_padding >= stride (allowed below dilation): full output, then cropped
        full = [_transposed_size(size_in, k, s, 0, d, 0)
                for size_in, k, s, d in zip((h, w), kernel, stride, dilation)]
        out = apply("conv2d_input_grad", [x, weight], padding=[0, 0],
                    input_shape=[n, cout, *full], **geometry)
        extra = [max(0, p + s - f) for p, s, f in zip(padding, size, full)]
        if any(extra):
            out = G.pad(out, [0, extra[1], 0, extra[0]])
        out = G.narrow(G.narrow(out, 2, padding[0], size[0]), 3, padding[1], size[1])
    if bias is not None:
        out = G.add(out, G.reshape(bias, (1, -1, 1, 1)))
    return G.squeeze(out, 0) if unbatched else out


@autocast_op("conv_transpose1d")
def conv_transpose1d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """1-D transposed convolution of ``input`` (N, Cin, L) or (Cin, L) with ``weight``
    (Cin, Cout/groups, k): a ``conv_transpose2d`` on a height-1 view."""
    x, unbatched = _batched(input, 3, "conv_transpose1d")
    if weight.ndim != 3:
        raise ShapeError(f"conv_transpose1d: weight must be 3-D (in, out/groups, k), got "
                         f"shape {list(weight.shape)}")
    (stride,), (padding,) = _tuple(stride, 1, "stride"), _tuple(padding, 1, "padding")
    (dilation,) = _tuple(dilation, 1, "dilation")
    (output_padding,) = _tuple(output_padding, 1, "output_padding")
    out = conv_transpose2d(G.unsqueeze(x, 2), G.unsqueeze(weight, 2), None, (1, stride),
                           (0, padding), (0, output_padding), groups, (1, dilation))
    out = G.squeeze(out, 2)
    if bias is not None:
        out = G.add(out, G.reshape(bias, (1, -1, 1)))
    return G.squeeze(out, 0) if unbatched else out


# -- pooling --------------------------------------------------------------------------------------
def _pool_args(kernel_size, stride, padding, dilation=1):
    kernel = _tuple(kernel_size, 2, "kernel_size")
    stride = kernel if stride is None or (isinstance(stride, (list, tuple)) and not stride) \
        else _tuple(stride, 2, "stride")
    return kernel, stride, _tuple(padding, 2, "padding"), _tuple(dilation, 2, "dilation")


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """Max over windows; ``return_indices`` also gives flat (h*W + w) argmax indices (i64).

    The maximum is a ``gather`` at ``max_pool2d_indices``, so its gradient is ``scatter_add``
    (the first maximum of each window receives the gradient, as in PyTorch).
    """
    x, unbatched = _batched(input, 4, "max_pool2d")
    kernel, stride, padding, dilation = _pool_args(kernel_size, stride, padding, dilation)
    index = apply("max_pool2d_indices", [x], kernel_size=list(kernel), stride=list(stride),
                  padding=list(padding), dilation=list(dilation), ceil_mode=bool(ceil_mode))
    n, c, h, w = x.shape
    ho, wo = index.shape[2:]
    flat = G.gather(G.reshape(x, (n, c, h * w)), 2, G.reshape(index, (n, c, ho * wo)))
    out = G.reshape(flat, (n, c, ho, wo))
    if unbatched:
        out, index = G.squeeze(out, 0), G.squeeze(index, 0)
    return (out, index) if return_indices else out


def _window_sum(x: Tensor, kernel, stride, out_size) -> Tensor:
    """Sum over (kh, kw) windows of an already padded x, from kh*kw strided slices."""
    n, c = x.shape[:2]
    if (tuple(kernel) == tuple(stride) and x.shape[2] == out_size[0] * kernel[0]
            and x.shape[3] == out_size[1] * kernel[1]):  # non-overlapping tiles: one reshape
        tiles = G.reshape(x, (n, c, out_size[0], kernel[0], out_size[1], kernel[1]))
        return G.sum(tiles, (3, 5))
    total = None
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            part = apply("slice", [x], starts=[0, 0, i, j],
                         stops=[n, c, i + stride[0] * (out_size[0] - 1) + 1,
                                j + stride[1] * (out_size[1] - 1) + 1],
                         steps=[1, 1, stride[0], stride[1]])
            total = part if total is None else G.add(total, part)
    return total


def _window_counts(size, kernel, stride, padding, out, include_pad):
    """How many elements each window divides by along one axis (PyTorch's avg_pool rule)."""
    starts = np.arange(out) * stride - padding
    ends = np.minimum(starts + kernel, size + padding)
    if not include_pad:
        starts, ends = np.maximum(starts, 0), np.minimum(ends, size)
    return ends - starts


@G.half_in_float32  # (window sums of float16 overflow where their means do not)
def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: Optional[int] = None) -> Tensor:
    """Mean over windows (zero padding counted in the divisor unless ``count_include_pad`` is
    False), built from strided slices so that it traces and differentiates."""
    x, unbatched = _batched(input, 4, "avg_pool2d")
    kernel, stride, padding, _ = _pool_args(kernel_size, stride, padding)
    for k, p in zip(kernel, padding):
        if 2 * p > k:
            raise ShapeError(f"avg_pool2d: padding {padding} must be at most half of the kernel "
                             f"size {kernel}")
    h, w = x.shape[2:]
    out = [conv_output_size(s, k, st, p, 1, ceil_mode)
           for s, k, st, p in zip((h, w), kernel, stride, padding)]
    if min(out) < 1:
        raise ShapeError(f"avg_pool2d: kernel {kernel} does not fit the padded input of shape "
                         f"{list(x.shape)}")
    extra = [max(0, (o - 1) * st + k - (s + 2 * p))
             for o, st, k, s, p in zip(out, stride, kernel, (h, w), padding)]
    if any(padding) or any(extra):
        x = G.pad(x, [padding[1], padding[1] + extra[1], padding[0], padding[0] + extra[0]])
    total = _window_sum(x, kernel, stride, out)
    if divisor_override is not None:
        return _squeeze_if(G.div(total, float(divisor_override)), unbatched)
    counts = np.outer(*(_window_counts(s, k, st, p, o, count_include_pad)
                        for s, k, st, p, o in zip((h, w), kernel, stride, padding, out)))
    if np.all(counts == counts.flat[0]):
        result = G.div(total, float(counts.flat[0]))
    else:
        result = G.div(total, factories.tensor(counts.astype(total.dtype.numpy)))
    return _squeeze_if(result, unbatched)


def _squeeze_if(x: Tensor, unbatched: bool) -> Tensor:
    return G.squeeze(x, 0) if unbatched else x


def _adaptive_bounds(size: int, out: int):
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


def _adaptive_mean(x: Tensor, axis: int, out: int) -> Tensor:
    size = x.shape[axis]
    if out < 0:
        raise ArgumentError(f"adaptive_avg_pool: elements of output_size must be greater than or "
                         f"equal to 0, got {out}")
    if size == out:
        return x
    if out == 0:  # an empty output, as PyTorch gives
        return G.narrow(x, axis, 0, 0)
    if size == 0:
        raise ShapeError(f"adaptive_avg_pool: an input of size 0 on axis {axis} has no window to "
                         f"average into {out} outputs")
    if size % out == 0:
        k = size // out
        shape = list(x.shape[:axis]) + [out, k] + list(x.shape[axis + 1:])
        return G.mean(G.reshape(x, shape), axis + 1)
    pieces = [G.mean(G.narrow(x, axis, lo, hi - lo), axis, keepdim=True)
              for lo, hi in _adaptive_bounds(size, out)]
    return G.cat(pieces, axis)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Averages over PyTorch's adaptive windows [floor(i*H/Ho), ceil((i+1)*H/Ho)); an entry of
    ``output_size`` that is None keeps that input size."""
    x, unbatched = _batched(input, 4, "adaptive_avg_pool2d")
    sizes = output_size if isinstance(output_size, (list, tuple)) else (output_size,) * 2
    sizes = [x.shape[2 + a] if s is None else int(s) for a, s in enumerate(sizes)]
    x = _adaptive_mean(_adaptive_mean(x, 2, sizes[0]), 3, sizes[1])
    return _squeeze_if(x, unbatched)


def adaptive_avg_pool1d(input: Tensor, output_size: int) -> Tensor:
    (size,) = _tuple(output_size, 1, "output_size")
    return _adaptive_mean(input, input.ndim - 1, size)


# -- normalization --------------------------------------------------------------------------------
@G.half_in_float32
def batch_norm(input: Tensor, running_mean: Optional[Tensor], running_var: Optional[Tensor],
               weight: Optional[Tensor] = None, bias: Optional[Tensor] = None,
               training: bool = False, momentum=0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalization over every axis but 1 (channels).

    In training mode the batch statistics normalize, and ``running_mean`` / ``running_var``
    (when given) are updated in place under ``no_grad``: ``r = (1 - m) r + m stat``, with the
    unbiased batch variance, as PyTorch does. ``momentum`` may be a tensor (cumulative average).
    """
    if input.ndim < 2:
        raise ShapeError(f"batch_norm: expected at least 2-D input (N, C, ...), got "
                         f"{list(input.shape)}")
    channels = input.shape[1]
    axes = [0] + list(range(2, input.ndim))
    view = [1, channels] + [1] * (input.ndim - 2)
    if training:
        count = input.numel() // channels
        if count <= 1:
            raise ShapeError(f"batch_norm: expected more than 1 value per channel when "
                             f"training, got input of shape {list(input.shape)}")
        mean = G.mean(input, axes)
        var = G.var(input, axes, unbiased=False)
        if running_mean is not None and running_var is not None:
            with no_grad():
                m = momentum
                keep = G.sub(1.0, m) if isinstance(m, Tensor) else 1.0 - m
                unbiased = G.mul(var.detach(), count / (count - 1))
                # (in the buffers' dtype: float32 statistics of a float16 input)
                running_mean.mul_(keep).add_(G.cast(G.mul(mean.detach(), m), running_mean.dtype))
                running_var.mul_(keep).add_(G.cast(G.mul(unbiased, m), running_var.dtype))
    else:
        if running_mean is None or running_var is None:
            raise ArgumentError("batch_norm: running_mean and running_var are needed in eval mode")
        mean, var = running_mean, running_var
    scale = G.rsqrt(G.add(var, float(eps)))
    if weight is not None:
        scale = G.mul(scale, weight)
    out = G.mul(G.sub(input, G.reshape(mean, view)), G.reshape(scale, view))
    if bias is not None:
        out = G.add(out, G.reshape(bias, view))
    return out


@autocast_op("layer_norm")
@G.half_in_float32
def layer_norm(input: Tensor, normalized_shape, weight: Optional[Tensor] = None,
               bias: Optional[Tensor] = None, eps: float = 1e-5) -> Tensor:
    """Normalizes over the trailing ``normalized_shape`` axes (biased variance)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape:  # it would normalize over no axis (an empty dim reduces every axis)
        raise ShapeError("layer_norm: normalized_shape must name at least one trailing dimension, "
                         "got []")
    if tuple(input.shape[input.ndim - len(shape):]) != shape:
        raise ShapeError(f"layer_norm: normalized_shape {list(shape)} does not match the "
                         f"trailing dimensions of input of shape {list(input.shape)}")
    axes = list(range(input.ndim - len(shape), input.ndim))
    mean = G.mean(input, axes, keepdim=True)
    centered = G.sub(input, mean)
    var = G.mean(G.mul(centered, centered), axes, keepdim=True)
    out = G.mul(centered, G.rsqrt(G.add(var, float(eps))))
    if weight is not None:
        out = G.mul(out, weight)
    if bias is not None:
        out = G.add(out, bias)
    return out


# -- dropout and embedding ------------------------------------------------------------------------
def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zeroes elements with probability ``p`` and scales the rest by 1/(1-p) in training.

    The mask comes from ``graphc.rand``: a fresh mask per call, also in compiled code, and the
    same sequence after ``graphc.manual_seed``.
    """
    if not 0.0 <= p <= 1.0:
        raise ArgumentError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input

    def drop(x: Tensor) -> Tensor:
        if p == 1.0:
            return G.mul(x, 0.0)
        keep = G.lt(factories.rand(*x.shape, dtype=x.dtype), 1.0 - p)
        return G.mul(x, G.mul(G.cast(keep, x.dtype), 1.0 / (1.0 - p)))

    return input._assign(drop) if inplace else drop(input)


def _feature_dropout(x: Tensor, p: float, training: bool, inplace: bool) -> Tensor:
    """Drops whole feature maps: one keep/drop draw per (x.shape[0], x.shape[1]) entry, the
    same for every element of the trailing axes (PyTorch's ``feature_dropout``)."""
    if not training or p == 0.0:
        return x
    if x.ndim < 2:
        raise RuntimeError(f"feature dropout needs at least 2-D input (N, C, ...), got shape "
                           f"{list(x.shape)}")

    def drop(t: Tensor) -> Tensor:
        if p == 1.0:
            return G.mul(t, 0.0)
        noise_shape = tuple(t.shape[:2]) + (1,) * (t.ndim - 2)
        keep = G.lt(factories.rand(*noise_shape, dtype=t.dtype), 1.0 - p)
        return G.mul(t, G.mul(G.cast(keep, t.dtype), 1.0 / (1.0 - p)))

    return x._assign(drop) if inplace else drop(x)


def _check_p(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ArgumentError(f"dropout probability has to be between 0 and 1, but got {p}")


def _channel_dropout(input: Tensor, p: float, training: bool, inplace: bool,
                     spatial: int) -> Tensor:
    """``feature_dropout`` over (N, C, *spatial) input, or unbatched (C, *spatial) input."""
    if input.ndim != spatial + 1:
        return _feature_dropout(input, p, training, inplace)

    def unbatched(t: Tensor) -> Tensor:  # a batch axis of 1 for the draw
        return G.squeeze(_feature_dropout(G.unsqueeze(t, 0), p, training, False), 0)

    return input._assign(unbatched) if inplace else unbatched(input)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zeroes whole channels of (N, C, L) or (C, L) input with probability ``p`` (scaling the
    rest by 1/(1-p)), like ``torch.nn.functional.dropout1d``.

        >>> import graphc
        >>> dropout1d(graphc.ones(2, 3, 4), 0.5, training=False).shape
        (2, 3, 4)
    """
    _check_p(p)
    if input.ndim not in (2, 3):
        raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D "
                           "input. Note that dropout1d exists to provide channel-wise dropout "
                           "on inputs with 1 spatial dimension, a channel dimension, and an "
                           "optional batch dimension (i.e. 2D or 3D inputs).")
    return _channel_dropout(input, p, training, inplace, 1)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zeroes whole channels of (N, C, H, W) input with probability ``p``, like
    ``torch.nn.functional.dropout2d``, PyTorch's quirks included: 3-D input is taken as
    (N, C, L) (with PyTorch's warning), and other ranks drop (dim 0, dim 1) entries with a
    deprecation warning.

        >>> import graphc
        >>> dropout2d(graphc.ones(2, 3, 4, 4), 0.5, training=False).shape
        (2, 3, 4, 4)
    """
    _check_p(p)
    if input.ndim not in (3, 4):
        warn(f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is "
             "deprecated and will result in an error in a future release. To retain "
             "the behavior and silence this warning, please use dropout instead. Note "
             "that dropout2d exists to provide channel-wise dropout on inputs with 2 "
             "spatial dimensions, a channel dimension, and an optional batch dimension "
             "(i.e. 3D or 4D inputs).")
    if input.ndim == 3:
        warn("dropout2d: Received a 3D input to dropout2d and assuming that "
             "channel-wise 1D dropout behavior is desired - input is interpreted as "
             "shape (N, C, L), where C is the channel dim. This behavior will change in "
             "a future release to interpret the input as one without a batch "
             "dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise dropout "
             "behavior, please switch to using dropout1d instead.")
    return _feature_dropout(input, p, training, inplace)


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zeroes whole channels of (N, C, D, H, W) or (C, D, H, W) input with probability ``p``,
    like ``torch.nn.functional.dropout3d`` (other ranks warn, as PyTorch)."""
    _check_p(p)
    if input.ndim not in (4, 5):
        warn(f"dropout3d: Received a {input.ndim}-D input to dropout3d, which is "
             "deprecated and will result in an error in a future release. To retain "
             "the behavior and silence this warning, please use dropout instead. Note "
             "that dropout3d exists to provide channel-wise dropout on inputs with 3 "
             "spatial dimensions, a channel dimension, and an optional batch dimension "
             "(i.e. 4D or 5D inputs).")
        return _feature_dropout(input, p, training, inplace)
    return _channel_dropout(input, p, training, inplace, 3)


_SELU_ALPHA = 1.7580993408473766  # -scale * alpha of SELU: where SELU saturates


def _alpha_dropout(x: Tensor, p: float, training: bool, noise_shape) -> Tensor:
    """Dropped entries become SELU's saturation value, then an affine map restores zero mean
    and unit variance: ``out = a * (x * keep + alpha' * (1 - keep)) + b`` with
    ``a = ((1 - p) (1 + p alpha'^2))^-1/2`` and ``b = -a alpha' p`` (PyTorch's formula)."""
    _check_p(p)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return G.mul(x, 0.0)
    a = 1.0 / math.sqrt((_SELU_ALPHA ** 2 * p + 1) * (1 - p))
    keep = G.cast(G.lt(factories.rand(*noise_shape, dtype=x.dtype), 1.0 - p), x.dtype)
    shift = G.add(G.mul(G.sub(keep, 1.0), _SELU_ALPHA * a), _SELU_ALPHA * a * p)
    return G.add(G.mul(x, G.mul(keep, a)), shift)


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                  inplace: bool = False) -> Tensor:
    """Dropout that keeps the mean and variance of SELU activations, like
    ``torch.nn.functional.alpha_dropout`` (note the default ``training=False``, as PyTorch).

        >>> import graphc
        >>> alpha_dropout(graphc.ones(3), 0.5).tolist()
        [1.0, 1.0, 1.0]
    """
    if inplace:
        return input._assign(lambda t: _alpha_dropout(t, p, training, t.shape))
    return _alpha_dropout(input, p, training, input.shape)


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                          inplace: bool = False) -> Tensor:
    """``alpha_dropout`` with one draw per (dim 0, dim 1) entry (whole channels)."""
    if input.ndim < 2:
        raise RuntimeError(f"feature_alpha_dropout needs at least 2-D input (N, C, ...), got "
                           f"shape {list(input.shape)}")

    def drop(t: Tensor) -> Tensor:
        return _alpha_dropout(t, p, training, tuple(t.shape[:2]) + (1,) * (t.ndim - 2))

    return input._assign(drop) if inplace else drop(input)


def _renorm_rows_(weight: Tensor, indices: Tensor, max_norm: float, norm_type: float) -> None:
    """Rescales, in place, the rows of ``weight`` that ``indices`` look up and whose
    ``norm_type``-norm exceeds ``max_norm`` to norm ``max_norm`` (PyTorch's
    ``embedding_renorm_``, which divides by ``norm + 1e-7``)."""
    with no_grad():
        rows = weight.shape[0]
        flat = G.reshape(indices, (-1,))
        hits = G.scatter_add(factories.zeros(rows, dtype=weight.dtype), 0, flat,
                             factories.ones(flat.shape[0], dtype=weight.dtype))
        magnitude = G.abs(weight)
        if norm_type == math.inf:
            norms = G.amax(magnitude, 1)
        else:
            norms = G.pow(G.sum(G.pow(magnitude, float(norm_type)), 1), 1.0 / norm_type)
        too_long = G.logical_and(G.gt(hits, 0.0), G.gt(norms, float(max_norm)))
        scale = G.where(too_long, G.div(float(max_norm), G.add(norms, 1e-7)),
                        G.scalar_like(1.0, norms))
        weight.mul_(G.unsqueeze(scale, 1))


def embedding(input: Tensor, weight: Tensor, padding_idx: Optional[int] = None,
              max_norm: Optional[float] = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` at the integer positions in ``input``: shape ``input.shape + (dim,)``.

    As ``torch.nn.functional.embedding``: entries equal to ``padding_idx`` read their row but
    send no gradient to it; with ``max_norm`` the looked-up rows whose ``norm_type``-norm is
    larger are first rescaled to ``max_norm`` *in place* in ``weight``; with
    ``scale_grad_by_freq`` each row's gradient is divided by how often the row occurs in
    ``input``. ``sparse=True`` is accepted, but the gradient of ``weight`` stays dense (graphc
    has no sparse gradients; dense ones work with every optimizer).

        >>> import graphc
        >>> w = graphc.tensor([[3.0, 4.0], [0.6, 0.8]])
        >>> embedding(graphc.tensor([0]), w, max_norm=1.0).tolist()
        [[0.6000000238418579, 0.800000011920929]]
    """
    require_integer(input, "input", "embedding")
    if weight.ndim != 2:
        raise ShapeError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got "
                         f"shape {list(weight.shape)}")
    if padding_idx is not None:
        if not -weight.shape[0] <= padding_idx < weight.shape[0]:
            raise ArgumentError(f"embedding: padding_idx {padding_idx} must be within "
                             f"num_embeddings ({weight.shape[0]})")
        if padding_idx < 0:
            padding_idx += weight.shape[0]
    if max_norm is not None:
        _renorm_rows_(weight, input, max_norm, norm_type)
    out = G.index_select(weight, 0, input)
    if scale_grad_by_freq:
        flat = G.reshape(input, (-1,))
        counts = G.scatter_add(factories.zeros(weight.shape[0], dtype=weight.dtype), 0, flat,
                               factories.ones(flat.shape[0], dtype=weight.dtype))
        per_entry = G.unsqueeze(G.index_select(counts, 0, input), -1)
        # same value, gradient divided by the row's count
        out = G.add(out.detach(), G.div(G.sub(out, out.detach()), per_entry))
    if padding_idx is not None:
        is_pad = G.unsqueeze(G.eq(input, padding_idx), -1)
        out = G.where(is_pad, out.detach(), out)
    return out


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """(…,) integer classes -> (…, num_classes) int64 one-hot; ``num_classes=-1`` reads the
    largest class, so it needs a concrete (eager) tensor."""
    if not tensor.dtype.is_int:
        raise ArgumentDTypeError(f"one_hot is only applicable to index tensors (Long or Int), "
                                 f"got {torch_dtype_name(tensor.dtype)}")
    if num_classes == -1:
        num_classes = int(G.amax(tensor).item()) + 1 if tensor.numel() else 0
    elif num_classes < 0:
        raise ArgumentError(f"one_hot: num_classes must be -1 (read from the classes) or >= 0, got "
                         f"{num_classes}")
    elif tracing.current() is None and tensor.numel():
        low, high = int(G.amin(tensor).item()), int(G.amax(tensor).item())
        if low < 0 or high >= num_classes:
            raise IndexRangeError(f"one_hot: class values must be in [0, {num_classes}), "
                             f"got values from {low} to {high}")
    if tracing.current() is not None:
        # a compiled call checks the values as it runs (tracing.check), and reads rows of an
        # identity matrix at classes clamped into range until then
        G.check_range(tensor, 0, num_classes - 1, IndexRangeError,
                      f"one_hot: class values must be in [0, {num_classes})")
        rows = G.clamp(tensor, 0, max(num_classes - 1, 0))
        picked = G.index_select(factories.eye(num_classes, dtype=dtypes.i64), 0,
                                G.reshape(rows, [-1]))
        return G.reshape(picked, list(tensor.shape) + [num_classes])
    classes = factories.arange(num_classes)
    return G.cast(G.eq(G.unsqueeze(tensor, -1), classes), dtypes.i64)


def _circular_index(size: int, lo: int, hi: int) -> np.ndarray:
    """Source positions of circular padding by (lo, hi) along an axis of ``size``.

    As in PyTorch, negative padding crops first, and the wrapped elements then come from the
    cropped axis: ``arange(5)`` padded by (1, -2) is ``[2, 0, 1, 2]``.
    """
    if lo > size or hi > size:
        raise ShapeError(f"pad: circular padding {lo, hi} is larger than the axis ({size}): "
                         "it would wrap around more than once")
    start, stop = max(-lo, 0), size - max(-hi, 0)  # the part that stays after cropping
    kept = stop - start
    if kept < 0:
        raise ShapeError(f"pad: circular padding {lo, hi} crops more than the whole axis "
                         f"({size})")
    if max(lo, 0) > kept or max(hi, 0) > kept:
        raise ShapeError(f"pad: circular padding {lo, hi} wraps around the cropped axis "
                         f"({kept} elements) more than once")
    return start + np.arange(-max(lo, 0), kept + max(hi, 0)) % max(kept, 1)


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: Optional[float] = None
        ) -> Tensor:
    """Pads trailing axes; ``pad`` lists (left, right) pairs starting from the last axis.

    ``mode`` is 'constant' (with ``value``), 'reflect', 'replicate' or 'circular'; the last
    three gather with precomputed indices, so they trace and differentiate.
    """
    if mode == "constant":
        return G.pad(input, list(pad), 0.0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise UnsupportedArgumentError(f"pad: mode must be 'constant', 'reflect', 'replicate' "
                                       f"or 'circular', got {mode!r}")
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ShapeError(f"pad: needs (left, right) pairs for at most {input.ndim} axes, got "
                         f"{list(pad)}")
    out = input
    for i in range(len(pad) // 2):
        axis = input.ndim - 1 - i
        lo, hi = pad[2 * i], pad[2 * i + 1]
        if lo == hi == 0:
            continue
        size = input.shape[axis]
        positions = np.arange(-lo, size + hi)
        if mode == "replicate":
            index = np.clip(positions, 0, size - 1)
        elif mode == "circular":
            index = _circular_index(size, lo, hi)
        else:
            if lo >= size or hi >= size:
                raise ShapeError(f"pad: reflect padding {lo, hi} must be smaller than the axis "
                                 f"({size})")
            period = 2 * (size - 1)
            index = np.abs(positions) % period if period else np.zeros_like(positions)
            index = np.where(index >= size, period - index, index)
        out = G.index_select(out, axis, factories.tensor(index.astype(np.int64)))
    return out


@autocast_op("scaled_dot_product_attention")
def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Optional[Tensor] = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: Optional[float] = None,
                                 enable_gqa: bool = False) -> Tensor:
    """``softmax(query @ key^T * scale + mask) @ value``, like PyTorch's function of that name;
    see :func:`graphc.nn.transformer.scaled_dot_product_attention`.

        >>> import graphc
        >>> q = graphc.randn(2, 4, 8)
        >>> scaled_dot_product_attention(q, q, q, is_causal=True).shape
        (2, 4, 8)
    """
    from graphc.nn.transformer import scaled_dot_product_attention as attention  # imports us
    return attention(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)


# families in modules of their own, re-exported: they import this one lazily where they need it
# (volumetric: 3-D convolution and pooling, written from the 2-D functions above)
from graphc.nn.activation_functional import (  # noqa: E402, F401  (re-exported: F.selu, ...)
    celu,
    celu_,
    elu_,
    glu,
    hardshrink,
    hardsigmoid,
    hardswish,
    hardtanh_,
    leaky_relu_,
    mish,
    prelu,
    relu_,
    rrelu,
    rrelu_,
    selu,
    selu_,
    softmax2d,
    softshrink,
    softsign,
    tanhshrink,
    threshold,
    threshold_,
)
from graphc.nn.bilinear import bilinear, channel_shuffle  # noqa: E402, F401
from graphc.nn.ctc import ctc_loss  # noqa: E402, F401
from graphc.nn.distance import cosine_similarity, pairwise_distance, pdist  # noqa: E402, F401
from graphc.nn.embedding_bag import embedding_bag  # noqa: E402, F401
from graphc.nn.grid_sampling import affine_grid, grid_sample  # noqa: E402, F401
from graphc.nn.losses_more import (  # noqa: E402, F401  (re-exported: F.soft_margin_loss, ...)
    cosine_embedding_loss,
    gaussian_nll_loss,
    hinge_embedding_loss,
    margin_ranking_loss,
    multi_margin_loss,
    multilabel_margin_loss,
    multilabel_soft_margin_loss,
    poisson_nll_loss,
    soft_margin_loss,
    triplet_margin_loss,
    triplet_margin_with_distance_loss,
)
from graphc.nn.normalization_functional import (  # noqa: E402, F401
    group_norm,
    instance_norm,
    local_response_norm,
    rms_norm,
)
from graphc.nn.pooling_functional import (  # noqa: E402, F401  (re-exported: F.max_pool1d, ...)
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    adaptive_max_pool3d,
    avg_pool1d,
    lp_pool1d,
    lp_pool2d,
    max_pool1d,
    max_unpool1d,
    max_unpool2d,
)
from graphc.nn.volumetric import (  # noqa: E402, F401  (re-exported: F.conv3d, ...)
    adaptive_avg_pool3d,
    avg_pool3d,
    conv3d,
    conv_transpose3d,
    max_pool3d,
)

__all__ = [name for name in dir() if not name.startswith("_") and name not in
           ("annotations", "math", "warnings", "np", "G", "factories", "no_grad", "Tensor",
            "apply", "dtypes", "conv_output_size", "Optional", "Sequence", "Union")]
