"""Convolution and max-pooling ops over NCHW tensors.

Three ops form a family closed under differentiation (each one's gradient is built from the
family again, so double backward through a convolution works):

``conv2d(x, w) {stride, padding, dilation, groups}``
    ``x: [N, C, H, W]``, ``w: [O, C/groups, kh, kw]`` -> ``[N, O, Ho, Wo]`` (cross-correlation,
    zero padding of ``padding = [ph, pw]`` on both sides, like ``torch.nn.functional.conv2d``).
``conv2d_input_grad(g, w) {stride, padding, dilation, groups, input_shape}``
    The transpose of ``conv2d`` in ``x``: for ``y = conv2d(x, w)``, ``dL/dx =
    conv2d_input_grad(dL/dy, w)``. ``input_shape`` is the full shape of ``x`` (several input
    sizes give the same output size when the stride is > 1).
``conv2d_weight_grad(x, g) {stride, padding, dilation, groups, weight_shape}``
    The derivative in ``w``: ``dL/dw = conv2d_weight_grad(x, dL/dy)``.

All three are bilinear, so their gradients are the other members with operands swapped.

``max_pool2d_indices(x) {kernel_size, stride, padding, dilation, ceil_mode}`` returns, for every
pooling window, the flat ``h * W + w`` index (i64) of the window's first maximum, with padding
counting as ``-inf`` (PyTorch's ``return_indices`` convention). It has no gradient: max pooling
itself is ``gather`` with these indices, whose gradient is ``scatter_add``.

The NumPy references use im2col: ``sliding_window_view`` + ``tensordot``.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ir import dtypes
from ir.errors import ShapeError
from ir.ops.elementwise import _promoted
from ir.registry import Attr, OpDef, register
from ir.types import TensorType

CONV_ATTRS = (Attr("stride", "ints", [1, 1], required=False),
              Attr("padding", "ints", [0, 0], required=False),
              Attr("dilation", "ints", [1, 1], required=False),
              Attr("groups", "int", 1, required=False))


# -- geometry ---------------------------------------------------------------------------------
def _pair(op: str, name: str, value, minimum: int) -> tuple[int, int]:
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise ShapeError(f"{op}: attribute {name} must be a list of two ints [h, w], "
                         f"got {value!r}")
    if min(value) < minimum:
        raise ShapeError(f"{op}: attribute {name} = {list(value)} must be >= {minimum}")
    return int(value[0]), int(value[1])


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int,
                     ceil_mode: bool = False) -> int:
    """Output length of a convolution or pooling window along one axis (PyTorch's formula)."""
    if kernel < 1:
        raise ShapeError(f"kernel size should be greater than zero, got {kernel}")
    if stride < 1:
        raise ShapeError(f"stride should be greater than zero, got {stride}")
    if dilation < 1:
        raise ShapeError(f"dilation should be greater than zero, got {dilation}")
    if padding < 0:
        raise ShapeError(f"padding should not be negative, got {padding}")
    span = dilation * (kernel - 1) + 1
    room = size + 2 * padding - span
    if room < 0:
        return 0
    if not ceil_mode:
        return room // stride + 1
    out = -(-room // stride) + 1
    if (out - 1) * stride >= size + padding:  # the last window must start inside the input
        out -= 1
    return out


def _geometry(op, attrs):
    stride = _pair(op, "stride", attrs["stride"], 1)
    padding = _pair(op, "padding", attrs["padding"], 0)
    dilation = _pair(op, "dilation", attrs["dilation"], 1)
    groups = attrs["groups"]
    if not isinstance(groups, int) or groups < 1:
        raise ShapeError(f"{op}: attribute groups must be a positive int, got {groups!r}")
    return stride, padding, dilation, groups


def _check_float(op, role, t):
    if not t.dtype.is_float:
        raise ShapeError(f"{op}: {role} must be floating point, got {t.dtype}")


def _conv_output_type(op, x_shape, w_shape, attrs, x_role="input x", w_role="weight w"):
    """Checks x [N, C, H, W] against w [O, C/groups, kh, kw]; returns [N, O, Ho, Wo]."""
    stride, padding, dilation, groups = _geometry(op, attrs)
    if len(x_shape) != 4:
        raise ShapeError(f"{op}: {x_role} must be 4-D [N, C, H, W], got shape {list(x_shape)}")
    if len(w_shape) != 4:
        raise ShapeError(f"{op}: {w_role} must be 4-D [O, C/groups, kh, kw], got shape "
                         f"{list(w_shape)}")
    n, c, h, w = x_shape
    o, cg, kh, kw = w_shape
    if c % groups or cg * groups != c:
        raise ShapeError(f"{op}: {w_role} of shape {list(w_shape)} expects {cg * groups} input "
                         f"channels ({cg} per group x {groups} groups), but {x_role} of shape "
                         f"{list(x_shape)} has {c}")
    if o % groups:
        raise ShapeError(f"{op}: {w_role} has {o} output channels, not divisible by "
                         f"groups={groups}")
    ho = conv_output_size(h, kh, stride[0], padding[0], dilation[0])
    wo = conv_output_size(w, kw, stride[1], padding[1], dilation[1])
    if ho < 1 or wo < 1:
        raise ShapeError(f"{op}: kernel [{kh}, {kw}] (dilation {list(dilation)}) is larger than "
                         f"the padded input [{h + 2 * padding[0]}, {w + 2 * padding[1]}] of "
                         f"{x_role} with shape {list(x_shape)}")
    return (n, o, ho, wo)


def _full_shape(op, name, value):
    if (not isinstance(value, (list, tuple)) or len(value) != 4
            or not all(isinstance(v, int) and v >= 0 for v in value)):
        raise ShapeError(f"{op}: attribute {name} must be a list of four non-negative ints, "
                         f"got {value!r}")
    return tuple(int(v) for v in value)


# -- im2col helpers ---------------------------------------------------------------------------
def _windows(xp, kh, kw, stride, dilation, ho, wo):
    """[N, C, Ho, Wo, kh, kw] view of the windows of padded ``xp`` (no copy)."""
    span_h, span_w = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    view = sliding_window_view(xp, (span_h, span_w), axis=(2, 3))
    return view[:, :, ::stride[0], ::stride[1], ::dilation[0], ::dilation[1]][:, :, :ho, :wo]


def _pad_hw(x, padding, value=0.0, extra=(0, 0)):
    ph, pw = padding
    if ph == pw == 0 and extra == (0, 0):
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph + extra[0]), (pw, pw + extra[1])),
                  constant_values=value)


def _conv2d_ref(x, w, stride, padding, dilation, groups):
    x, w = _promoted(x, w)
    n, c, _, _ = x.shape
    o, cg, kh, kw = w.shape
    xp = _pad_hw(x, padding)
    ho = conv_output_size(x.shape[2], kh, stride[0], padding[0], dilation[0])
    wo = conv_output_size(x.shape[3], kw, stride[1], padding[1], dilation[1])
    cols = _windows(xp, kh, kw, stride, dilation, ho, wo)
    og = o // groups
    out = np.empty((n, o, ho, wo), dtype=x.dtype)
    for g in range(groups):
        part = cols[:, g * cg:(g + 1) * cg]                        # N, Cg, Ho, Wo, kh, kw
        kernel = w[g * og:(g + 1) * og]                            # Og, Cg, kh, kw
        res = np.tensordot(part, kernel, axes=([1, 4, 5], [1, 2, 3]))  # N, Ho, Wo, Og
        out[:, g * og:(g + 1) * og] = res.transpose(0, 3, 1, 2)
    return out


def _conv2d_input_grad_ref(g, w, stride, padding, dilation, groups, input_shape):
    g, w = _promoted(g, w)
    n, c, h, wd = input_shape
    o, cg, kh, kw = w.shape
    _, _, ho, wo = g.shape
    og = o // groups
    ph, pw = padding
    grad = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), dtype=g.dtype)
    for grp in range(groups):
        gg = g[:, grp * og:(grp + 1) * og]                         # N, Og, Ho, Wo
        kernel = w[grp * og:(grp + 1) * og]                        # Og, Cg, kh, kw
        cols = np.tensordot(gg, kernel, axes=([1], [0]))           # N, Ho, Wo, Cg, kh, kw
        cols = cols.transpose(0, 3, 1, 2, 4, 5)                    # N, Cg, Ho, Wo, kh, kw
        target = grad[:, grp * cg:(grp + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                r0, c0 = i * dilation[0], j * dilation[1]
                target[:, :, r0:r0 + stride[0] * (ho - 1) + 1:stride[0],
                       c0:c0 + stride[1] * (wo - 1) + 1:stride[1]] += cols[..., i, j]
    return grad[:, :, ph:ph + h, pw:pw + wd]


def _conv2d_weight_grad_ref(x, g, stride, padding, dilation, groups, weight_shape):
    x, g = _promoted(x, g)
    o, cg, kh, kw = weight_shape
    _, _, ho, wo = g.shape
    cols = _windows(_pad_hw(x, padding), kh, kw, stride, dilation, ho, wo)
    og = o // groups
    out = np.empty(weight_shape, dtype=x.dtype)
    for grp in range(groups):
        part = cols[:, grp * cg:(grp + 1) * cg]                    # N, Cg, Ho, Wo, kh, kw
        gg = g[:, grp * og:(grp + 1) * og]                         # N, Og, Ho, Wo
        out[grp * og:(grp + 1) * og] = np.tensordot(gg, part, axes=([0, 2, 3], [0, 2, 3]))
    return out


# -- type rules -------------------------------------------------------------------------------
def _conv2d_type(types, attrs):
    x, w = types
    _check_float("conv2d", "input x", x)
    _check_float("conv2d", "weight w", w)
    shape = _conv_output_type("conv2d", x.shape, w.shape, attrs)
    return TensorType(dtypes.promote(x.dtype, w.dtype), shape)


def _conv2d_input_grad_type(types, attrs):
    op = "conv2d_input_grad"
    g, w = types
    _check_float(op, "gradient g", g)
    _check_float(op, "weight w", w)
    input_shape = _full_shape(op, "input_shape", attrs["input_shape"])
    expected = _conv_output_type(op, input_shape, w.shape, attrs,
                                 x_role="attribute input_shape")
    if tuple(g.shape) != expected:
        raise ShapeError(f"{op}: gradient g must have the convolution's output shape "
                         f"{list(expected)} (for input_shape {list(input_shape)} and weight "
                         f"{list(w.shape)}), got {list(g.shape)}")
    return TensorType(dtypes.promote(g.dtype, w.dtype), input_shape)


def _conv2d_weight_grad_type(types, attrs):
    op = "conv2d_weight_grad"
    x, g = types
    _check_float(op, "input x", x)
    _check_float(op, "gradient g", g)
    weight_shape = _full_shape(op, "weight_shape", attrs["weight_shape"])
    expected = _conv_output_type(op, x.shape, weight_shape, attrs,
                                 w_role="attribute weight_shape")
    if tuple(g.shape) != expected:
        raise ShapeError(f"{op}: gradient g must have the convolution's output shape "
                         f"{list(expected)} (for input {list(x.shape)} and weight_shape "
                         f"{list(weight_shape)}), got {list(g.shape)}")
    return TensorType(dtypes.promote(x.dtype, g.dtype), weight_shape)


# -- gradient rules: the family differentiates into itself ---------------------------------------
def _geometry_attrs(attrs):
    return {k: attrs[k] for k in ("stride", "padding", "dilation", "groups")}


def _cast_like(em, value, like):
    return value if em.dtype(value) == em.dtype(like) else em.cast(value, dtype=em.dtype(like))


def _conv2d_vjp(em, xs, out, g, attrs):
    x, w = xs
    geo = _geometry_attrs(attrs)
    gx = gw = None
    if em.wants(x):
        gx = _cast_like(em, em.conv2d_input_grad(g, w, input_shape=list(em.shape(x)), **geo), x)
    if em.wants(w):
        gw = _cast_like(em, em.conv2d_weight_grad(x, g, weight_shape=list(em.shape(w)), **geo), w)
    return [gx, gw]


def _conv2d_input_grad_vjp(em, xs, out, z_bar, attrs):
    # z = A_w^T g  =>  dg = A_w z_bar = conv2d(z_bar, w);  dw = conv2d_weight_grad(z_bar, g)
    g, w = xs
    geo = _geometry_attrs(attrs)
    dg = dw = None
    if em.wants(g):
        dg = _cast_like(em, em.conv2d(z_bar, w, **geo), g)
    if em.wants(w):
        dw = _cast_like(em, em.conv2d_weight_grad(z_bar, g, weight_shape=list(em.shape(w)),
                                                  **geo), w)
    return [dg, dw]


def _conv2d_weight_grad_vjp(em, xs, out, z_bar, attrs):
    # <z_bar, z(x, g)> = <conv2d(x, z_bar), g>  =>  dx = conv2d_input_grad(g, z_bar),
    # dg = conv2d(x, z_bar)
    x, g = xs
    geo = _geometry_attrs(attrs)
    dx = dg = None
    if em.wants(x):
        dx = _cast_like(em, em.conv2d_input_grad(g, z_bar, input_shape=list(em.shape(x)),
                                                 **geo), x)
    if em.wants(g):
        dg = _cast_like(em, em.conv2d(x, z_bar, **geo), g)
    return [dx, dg]


register(OpDef("conv2d", "conv", 2, _conv2d_type, _conv2d_ref, attrs=CONV_ATTRS,
               vjp=_conv2d_vjp, doc="2-D cross-correlation of x [N,C,H,W] with w [O,C/g,kh,kw]."))
register(OpDef("conv2d_input_grad", "conv", 2, _conv2d_input_grad_type, _conv2d_input_grad_ref,
               attrs=CONV_ATTRS + (Attr("input_shape", "shape"),), vjp=_conv2d_input_grad_vjp,
               doc="Gradient of conv2d with respect to its input (a transposed convolution)."))
register(OpDef("conv2d_weight_grad", "conv", 2, _conv2d_weight_grad_type,
               _conv2d_weight_grad_ref, attrs=CONV_ATTRS + (Attr("weight_shape", "shape"),),
               vjp=_conv2d_weight_grad_vjp,
               doc="Gradient of conv2d with respect to its weight."))


# -- max pooling indices ------------------------------------------------------------------------
POOL_ATTRS = (Attr("kernel_size", "ints"),
              Attr("stride", "ints"),
              Attr("padding", "ints", [0, 0], required=False),
              Attr("dilation", "ints", [1, 1], required=False),
              Attr("ceil_mode", "bool", False, required=False))


def _pool_geometry(op, attrs):
    kernel = _pair(op, "kernel_size", attrs["kernel_size"], 1)
    stride = _pair(op, "stride", attrs["stride"], 1)
    padding = _pair(op, "padding", attrs["padding"], 0)
    dilation = _pair(op, "dilation", attrs["dilation"], 1)
    for axis in range(2):
        span = dilation[axis] * (kernel[axis] - 1) + 1
        if 2 * padding[axis] > span:
            raise ShapeError(f"{op}: padding {list(padding)} must be at most half of the "
                             f"(dilated) kernel size {list(kernel)}")
    if not isinstance(attrs["ceil_mode"], bool):
        raise ShapeError(f"{op}: attribute ceil_mode must be a bool, got {attrs['ceil_mode']!r}")
    return kernel, stride, padding, dilation


def pool_output_shape(op: str, shape, attrs) -> tuple[int, int]:
    kernel, stride, padding, dilation = _pool_geometry(op, attrs)
    sizes = (conv_output_size(shape[2], kernel[0], stride[0], padding[0], dilation[0],
                              attrs["ceil_mode"]),
             conv_output_size(shape[3], kernel[1], stride[1], padding[1], dilation[1],
                              attrs["ceil_mode"]))
    if min(sizes) < 1:
        raise ShapeError(f"{op}: kernel {list(kernel)} (dilation {list(dilation)}) does not fit "
                         f"the padded input of shape {list(shape)} (padding {list(padding)})")
    return sizes


def _max_pool2d_indices_type(types, attrs):
    (x,) = types
    op = "max_pool2d_indices"
    if x.ndim != 4:
        raise ShapeError(f"{op}: input x must be 4-D [N, C, H, W], got shape {list(x.shape)}")
    if not x.dtype.is_float:
        raise ShapeError(f"{op}: input x must be floating point, got {x.dtype}")
    ho, wo = pool_output_shape(op, x.shape, attrs)
    return TensorType(dtypes.i64, (x.shape[0], x.shape[1], ho, wo))


def _max_pool2d_indices_ref(x, kernel_size, stride, padding, dilation, ceil_mode):
    n, c, h, w = x.shape
    kh, kw = kernel_size
    ho, wo = (conv_output_size(size, k, s, p, d, ceil_mode) for size, k, s, p, d in
              zip((h, w), kernel_size, stride, padding, dilation))
    # room on the bottom/right for the last (ceil_mode) windows
    extra = tuple(max(0, (o - 1) * s + d * (k - 1) + 1 - (size + 2 * p)) for o, s, d, k, size, p
                  in zip((ho, wo), stride, dilation, kernel_size, (h, w), padding))
    xp = _pad_hw(x, padding, value=-np.inf, extra=extra)
    cols = _windows(xp, kh, kw, stride, dilation, ho, wo).reshape(n, c, ho, wo, kh * kw)
    local = np.argmax(cols, axis=-1)                                # first maximum (or NaN)
    # window-local (i, j) -> row and column in the unpadded input
    row = (np.arange(ho) * stride[0] - padding[0])[:, None] + (local // kw) * dilation[0]
    col = np.arange(wo) * stride[1] - padding[1] + (local % kw) * dilation[1]
    if any(padding) or any(extra):
        # a window whose real elements are all -inf may pick padding: take its first real one
        outside = (row < 0) | (row >= h) | (col < 0) | (col >= w)
        if outside.any():
            r = (np.arange(ho) * stride[0] - padding[0])[:, None] + np.arange(kh) * dilation[0]
            q = (np.arange(wo) * stride[1] - padding[1])[:, None] + np.arange(kw) * dilation[1]
            first_r = r[np.arange(ho), np.argmax((r >= 0) & (r < h), axis=1)]     # [Ho]
            first_q = q[np.arange(wo), np.argmax((q >= 0) & (q < w), axis=1)]     # [Wo]
            row = np.where(outside, first_r[:, None], row)
            col = np.where(outside, first_q, col)
    index = row * w + col
    return index.astype(np.int64)


register(OpDef("max_pool2d_indices", "conv", 1, _max_pool2d_indices_type,
               _max_pool2d_indices_ref, attrs=POOL_ATTRS,
               doc="Flat h*W+w index of each pooling window's first maximum (padding is -inf)."))
