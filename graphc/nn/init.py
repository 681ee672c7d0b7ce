"""``graphc.nn.init``: in-place parameter initializations with PyTorch's names and formulas.

Every function fills its tensor in place under ``graphc.no_grad()`` and returns it. Random ones
draw from graphc's global generator (``graphc.rand`` / ``graphc.randn``), so
``graphc.manual_seed(n)`` makes model construction reproducible.

    >>> import graphc
    >>> from graphc import nn
    >>> w = graphc.empty(3, 5)
    >>> _ = nn.init.xavier_uniform_(w)
    >>> bool((w.abs() <= (6 / 8) ** 0.5).all())
    True
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from graphc import factories
from graphc.autograd import no_grad
from graphc.functions import where
from graphc.tensor import Tensor

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_", "eye_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
           "trunc_normal_", "orthogonal_", "sparse_", "dirac_"]


def calculate_gain(nonlinearity: str, param: Optional[float] = None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table).

        >>> round(calculate_gain("relu"), 4), calculate_gain("tanh")
        (1.4142, 1.6666666666666667)
    """
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"negative_slope {param} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel)."""
    if tensor.ndim < 2:
        raise ValueError("fan in and fan out can not be computed for tensor with fewer than 2 "
                         f"dimensions (got shape {list(tensor.shape)})")
    receptive = 1
    for d in tensor.shape[2:]:
        receptive *= d
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _fill(tensor: Tensor, values: Tensor) -> Tensor:
    with no_grad():
        tensor.copy_(values)
    return tensor


def _float_dtype(tensor: Tensor):
    if not tensor.dtype.is_float:
        raise TypeError(f"random initialization needs a floating point tensor, got "
                        f"{tensor.dtype}")
    return tensor.dtype


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    """Fills with samples of U(a, b) (from ``generator``, or graphc's global one)."""
    return _fill(tensor, factories.uniform(tensor.shape, a, b, dtype=_float_dtype(tensor),
                                           generator=generator))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    """Fills with samples of N(mean, std^2)."""
    return _fill(tensor, factories.normal(mean, std, tensor.shape, dtype=_float_dtype(tensor),
                                          generator=generator))


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator=None) -> Tensor:
    """N(mean, std^2) restricted to [a, b]: out-of-range samples are redrawn (a few rounds)."""
    dtype = _float_dtype(tensor)
    values = factories.normal(mean, std, tensor.shape, dtype=dtype, generator=generator)
    for _ in range(64):
        outside = (values < a) | (values > b)
        if not bool(outside.any()):
            break
        redrawn = factories.normal(mean, std, tensor.shape, dtype=dtype, generator=generator)
        values = where(outside, redrawn, values)
    return _fill(tensor, values.clamp(a, b))


def constant_(tensor: Tensor, val: float) -> Tensor:
    return _fill(tensor, factories.full(tensor.shape, val, dtype=tensor.dtype))


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1)


def eye_(tensor: Tensor) -> Tensor:
    """The identity matrix (2-D tensors only)."""
    if tensor.ndim != 2:
        raise ValueError(f"eye_ needs a 2-D tensor, got shape {list(tensor.shape)}")
    return _fill(tensor, factories.eye(*tensor.shape, dtype=tensor.dtype))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """The Dirac delta of a convolution weight (3-D, 4-D or 5-D: out, in, *kernel): a 1 at
    the kernel's center linking output channel ``d`` of each group to input channel ``d``, so
    the convolution passes as many of its input channels through as it can.

        >>> import graphc
        >>> w = dirac_(graphc.empty(2, 3, 3))
        >>> w[:, :, 1].tolist(), float(w.sum())
        ([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], 2.0)
    """
    if tensor.ndim not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = tensor.shape
    if sizes[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    per_group = sizes[0] // groups
    values = np.zeros(sizes, dtype=tensor.dtype.numpy)
    center = tuple(size // 2 for size in sizes[2:])
    for g in range(groups):
        for d in range(min(per_group, sizes[1])):
            values[(g * per_group + d, d) + center] = 1
    return _fill(tensor, factories.tensor(values, dtype=tensor.dtype))


def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01, generator=None) -> Tensor:
    """A sparse 2-D matrix (Martens, 2010): N(0, std^2) samples (from ``generator``), with
    ``ceil(sparsity * rows)`` random entries of each column set to 0 (the rows drawn from the
    global generator, as PyTorch draws them).

        >>> import graphc
        >>> w = sparse_(graphc.empty(4, 3), sparsity=0.5)
        >>> (w == 0).sum(0).tolist()
        [2, 2, 2]
    """
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rows, cols = tensor.shape
    num_zeros = math.ceil(sparsity * rows)
    values = factories.normal(0.0, std, tensor.shape, dtype=_float_dtype(tensor),
                              generator=generator).numpy().copy()
    for col in range(cols):
        values[factories.randperm(rows).numpy()[:num_zeros], col] = 0
    return _fill(tensor, factories.tensor(values, dtype=tensor.dtype))


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """A (semi-)orthogonal matrix (Saxe et al., 2013), as PyTorch makes it: the Q of the QR
    decomposition of a normal sample, its columns' signs fixed by R's diagonal, times ``gain``;
    dimensions after the first are flattened. Rows are orthonormal when there are fewer rows
    than columns, else columns.

        >>> import graphc
        >>> w = orthogonal_(graphc.empty(3, 5))
        >>> bool(((w @ w.T - graphc.eye(3)).abs() < 1e-5).all())
        True
    """
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: only tensors with 2 or more dimensions are supported, "
                         f"got shape {list(tensor.shape)}")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    sample = factories.normal(0.0, 1.0, (rows, cols), dtype=factories.float64,
                              generator=generator).numpy()
    if rows < cols:
        sample = sample.T
    q, r = np.linalg.qr(sample)
    q = q * np.sign(np.diag(r))  # a uniform (Haar) distribution over orthogonal matrices
    if rows < cols:
        q = q.T
    values = factories.tensor(q.reshape(tensor.shape) * gain, dtype=_float_dtype(tensor))
    return _fill(tensor, values)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    """U(-bound, bound) with bound = gain * sqrt(3 / fan) (He et al., 2015).

    ``Linear`` and ``Conv`` weights use ``a=sqrt(5)``: bound = 1 / sqrt(fan_in).
    """
    if 0 in tensor.shape:
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return uniform_(tensor, -bound, bound, generator)


def default_weight_and_bias_(weight: Tensor, bias: Optional[Tensor]) -> None:
    """PyTorch's default init of Linear and Conv layers: kaiming_uniform_(a=sqrt(5)) weights and
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) biases."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = _calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    """N(0, std^2) with std = gain / sqrt(fan)."""
    if 0 in tensor.shape:
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan), generator)
