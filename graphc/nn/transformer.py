"""Attention layers: ``MultiheadAttention``, ``TransformerEncoderLayer``, ``TransformerEncoder``
and the functional ``scaled_dot_product_attention``, with PyTorch's names, shapes, masks and
initialization.

Masks follow PyTorch. For ``MultiheadAttention`` a boolean ``attn_mask`` or ``key_padding_mask``
marks with True the positions that may *not* be attended to; a float mask is added to the
scores. (``scaled_dot_product_attention`` follows ``torch.nn.functional``: there a boolean mask
marks the positions that *may* be attended to.) Masked scores become -inf, so a query row with
every key masked gives NaN, as in PyTorch.

Everything is written with graphc tensor ops, so the layers run eagerly with autograd and trace
under ``@graphc.compile``.

    >>> import graphc
    >>> from graphc import nn
    >>> mha = nn.MultiheadAttention(embed_dim=8, num_heads=2, batch_first=True)
    >>> x = graphc.randn(3, 5, 8)                            # (batch, seq, embed)
    >>> out, weights = mha(x, x, x)
    >>> out.shape, weights.shape
    ((3, 5, 8), (3, 5, 5))
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Optional, Union

from graphc import composites
from graphc import functions as F
from graphc.errors import ArgumentError, ArgumentTypeError, ShapeError
from graphc.factories import arange, zeros
from graphc.nn import functional, init
from graphc.nn.container import ModuleList
from graphc.nn.dropout import Dropout
from graphc.nn.linear import Linear
from graphc.nn.module import Module, Parameter
from graphc.nn.normalization import LayerNorm
from graphc.nn.transformer_nested import nested_padding, why_not_nested
from graphc.tensor import Tensor
from ir import dtypes
from ir.errors import DTypeError


def _linear(x: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
    out = F.matmul(x, F.transpose(weight, 0, 1))
    return out if bias is None else F.add(out, bias)


def _causal_mask(length: int, source_length: int) -> Tensor:
    """Bool (length, source_length): True above the diagonal (the future, which is masked)."""
    rows = F.unsqueeze(arange(length), 1)
    cols = F.unsqueeze(arange(source_length), 0)
    return F.gt(cols, rows)


def _mask_scores(scores: Tensor, mask: Optional[Tensor]) -> Tensor:
    """Applies a PyTorch-style mask: bool True -> -inf, float -> added (broadcast)."""
    if mask is None:
        return scores
    if _check_mask_dtype(mask) == dtypes.bool_:
        return F.where(mask, -math.inf, scores)
    return F.add(scores, F.cast(mask, scores.dtype))


def _check_mask_dtype(mask: Tensor) -> dtypes.DType:
    """A mask's dtype, if it is bool or floating point, as PyTorch's attention takes."""
    if mask.dtype != dtypes.bool_ and not mask.dtype.is_float:
        raise ArgumentTypeError(f"attention masks must be bool or floating point, got {mask.dtype}")
    return mask.dtype


def _attend(q: Tensor, k: Tensor, v: Tensor, masks, dropout_p: float, scale: float,
            safe_softmax: bool = False):
    """softmax(q k^T * scale + masks) v over the last two axes; returns (output, weights).

    ``safe_softmax`` (``scaled_dot_product_attention``'s, as PyTorch's): a query whose every
    key is masked out (-inf) attends to nothing, weights 0, instead of NaN, whose gradient made
    all of ``v``'s gradient NaN. MultiheadAttention uses it when it need not return the
    weights, since PyTorch's then runs ``scaled_dot_product_attention`` (so a fully padded
    sequence trains instead of making the loss NaN), and keeps the NaN when it returns them."""
    scores = F.matmul(F.mul(q, scale), F.transpose(k, -2, -1))
    for mask in masks:
        scores = _mask_scores(scores, mask)
    if safe_softmax and masks:
        dead = F.all(F.eq(scores, -math.inf), dim=-1, keepdim=True)
        weights = F.where(dead, 0.0, F.softmax(F.where(dead, 0.0, scores), dim=-1))
    else:
        weights = F.softmax(scores, dim=-1)
    if dropout_p > 0.0:
        weights = functional.dropout(weights, dropout_p, training=True)
    return F.matmul(weights, v), weights


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Optional[Tensor] = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: Optional[float] = None,
                                 enable_gqa: bool = False) -> Tensor:
    """``softmax(query @ key^T * scale + mask) @ value``, like ``F.scaled_dot_product_attention``.

    Shapes: query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev). A boolean
    ``attn_mask`` is True where attention is *allowed* (PyTorch's functional convention); a float
    mask is added. ``is_causal`` lets query i attend to keys j <= i (the top-left triangle, also
    when L != S) and excludes ``attn_mask``. ``scale`` defaults to 1/sqrt(E). Dropout is applied
    whenever ``dropout_p > 0``, as in torch. With ``enable_gqa`` the heads (axis -3) of key and
    value may be fewer than the query's: each key/value head serves ``Hq / Hkv`` consecutive
    query heads (grouped-query attention).

        >>> import graphc
        >>> q = graphc.randn(2, 4, 8)
        >>> scaled_dot_product_attention(q, q, q, is_causal=True).shape
        (2, 4, 8)
    """
    if is_causal and attn_mask is not None:
        raise RuntimeError("scaled_dot_product_attention: Explicit attn_mask should not be set "
                           "when is_causal=True")
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise ShapeError(f"scaled_dot_product_attention: query, key and value need at least 2 "
                         f"dimensions, got {list(query.shape)}, {list(key.shape)}, "
                         f"{list(value.shape)}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ShapeError(f"scaled_dot_product_attention: query (..., L, E) {list(query.shape)}, "
                         f"key (..., S, E) {list(key.shape)} and value (..., S, Ev) "
                         f"{list(value.shape)} do not agree")
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        key, value = _repeat_heads(key, query.shape[-3]), _repeat_heads(value, query.shape[-3])
    masks = []
    if is_causal:
        masks.append(_causal_mask(query.shape[-2], key.shape[-2]))
    elif attn_mask is not None:
        if _check_mask_dtype(attn_mask) not in (dtypes.bool_, dtypes.f32, query.dtype):
            # (PyTorch's rule: bool, float32 or the query's dtype; a float64 mask on float32
            # scores is a mistake, not a cast)
            raise DTypeError(f"scaled_dot_product_attention: expected attn_mask dtype to be "
                             f"bool or float32 or to match query dtype, but got attn_mask.dtype: "
                             f"{attn_mask.dtype} and query.dtype: {query.dtype}")
        masks.append(F.logical_not(attn_mask) if attn_mask.dtype == dtypes.bool_ else attn_mask)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    half = query.dtype if query.dtype in (dtypes.f16, dtypes.bf16) else None
    if half is not None:  # scores, softmax and sums in float32, rounded once (as PyTorch's CPU
        # kernels; rounding each step in bfloat16 was 3x further from float64)
        query, key, value = (F.cast(t, dtypes.f32) for t in (query, key, value))
        # checked before the cast: cast to float32, an integer mask was silently added
        masks = [m if _check_mask_dtype(m) == dtypes.bool_ else F.cast(m, dtypes.f32)
                 for m in masks]
    out = _attend(query, key, value, masks, float(dropout_p), scale, safe_softmax=True)[0]
    return out if half is None else F.cast(out, half)


def _repeat_heads(x: Tensor, heads: int) -> Tensor:
    """(..., Hkv, S, E) -> (..., heads, S, E), each head repeated heads/Hkv times in a row
    (``repeat_interleave`` on axis -3, as PyTorch's grouped-query attention)."""
    kv_heads = x.shape[-3]
    if heads % kv_heads:
        raise ArgumentError(f"scaled_dot_product_attention: with enable_gqa the query's {heads} "
                            f"heads must be a multiple of the key/value heads ({kv_heads})")
    lead, (s, e) = tuple(x.shape[:-3]), tuple(x.shape[-2:])
    grouped = F.expand(F.unsqueeze(x, -3), (*lead, kv_heads, heads // kv_heads, s, e))
    return F.reshape(grouped, (*lead, heads, s, e))


class MultiheadAttention(Module):
    """Multi-head attention, like ``torch.nn.MultiheadAttention``.

    Parameters: ``in_proj_weight`` (3E, E) holding the query, key and value projections stacked
    (xavier-uniform), ``in_proj_bias`` (3E,) (zeros), and ``out_proj`` (a ``Linear``, bias
    zeroed). With ``kdim``/``vdim`` different from ``embed_dim`` the projections are separate:
    ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim).

    ``forward(query, key, value)`` takes (L, N, E) / (S, N, kdim) / (S, N, vdim), or (N, L, E)
    ... with ``batch_first``, or unbatched (L, E) ..., and returns ``(attn_output,
    attn_weights)``; the weights are (N, L, S) averaged over heads, (N, num_heads, L, S) with
    ``average_attn_weights=False``, or None with ``need_weights=False``.

        >>> import graphc
        >>> mha = graphc.nn.MultiheadAttention(8, 2)
        >>> q = graphc.randn(5, 3, 8)                          # (seq, batch, embed)
        >>> out, w = mha(q, q, q, attn_mask=graphc.ones(5, 5).triu(1).bool())
        >>> out.shape, w.shape
        ((5, 3, 8), (3, 5, 5))
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False,
                 kdim: Optional[int] = None, vdim: Optional[int] = None,
                 batch_first: bool = False):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ArgumentError(f"embed_dim and num_heads must be greater than 0, got "
                                f"embed_dim={embed_dim} and num_heads={num_heads}")
        if embed_dim % num_heads:
            raise ArgumentError(f"embed_dim ({embed_dim}) must be divisible by num_heads "
                                f"({num_heads})")
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = float(dropout)
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(zeros(3 * embed_dim, embed_dim))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = Parameter(zeros(embed_dim, embed_dim))
            self.k_proj_weight = Parameter(zeros(embed_dim, self.kdim))
            self.v_proj_weight = Parameter(zeros(embed_dim, self.vdim))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(zeros(3 * embed_dim))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias)
        if add_bias_kv:  # one more key and value, learned, appended to every sequence
            self.bias_k = Parameter(zeros(1, 1, embed_dim))
            self.bias_v = Parameter(zeros(1, 1, embed_dim))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = bool(add_zero_attn)  # ... and a key and value of zeros after it
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """Xavier-uniform projection weights and zero biases (``out_proj.weight`` is Linear's)."""
        weights = ([self.in_proj_weight] if self._qkv_same_embed_dim else
                   [self.q_proj_weight, self.k_proj_weight, self.v_proj_weight])
        for w in weights:
            init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
        if self.out_proj.bias is not None:
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def _projections(self):
        """(weight, bias) for query, key and value."""
        if self._qkv_same_embed_dim:
            weights = F.chunk(self.in_proj_weight, 3, dim=0)
        else:
            weights = [self.q_proj_weight, self.k_proj_weight, self.v_proj_weight]
        biases = ([None] * 3 if self.in_proj_bias is None else
                  F.chunk(self.in_proj_bias, 3, dim=0))
        return list(zip(weights, biases))

    def _extra_keys(self, k: Tensor, v: Tensor, masks: list):
        """``add_bias_kv`` appends ``bias_k``/``bias_v`` to the keys and values of every
        sequence, then ``add_zero_attn`` a key and value of zeros, as PyTorch; the masks get a
        column for each that masks nothing. ``k``, ``v``: (N, heads, S, head_dim)."""
        extra = []
        if self.bias_k is not None:
            shape = (k.shape[0], self.num_heads, 1, self.head_dim)
            extra.append((F.expand(F.reshape(self.bias_k, (1, self.num_heads, 1, self.head_dim)),
                                   shape),
                          F.expand(F.reshape(self.bias_v, (1, self.num_heads, 1, self.head_dim)),
                                   shape)))
        if self.add_zero_attn:
            zero = zeros(k.shape[0], self.num_heads, 1, self.head_dim, dtype=k.dtype)
            extra.append((zero, zero))
        if not extra:
            return k, v, masks
        k = F.concat([k] + [e[0] for e in extra], 2)
        v = F.concat([v] + [e[1] for e in extra], 2)
        return k, v, [F.pad(m, [0, len(extra)]) for m in masks]

    def _check_inputs(self, query, key, value, key_padding_mask, attn_mask):
        batched = query.ndim == 3
        if query.ndim not in (2, 3):
            raise ArgumentError(f"MultiheadAttention: query should be 2-D (unbatched) or 3-D "
                                f"(batched), got shape {list(query.shape)}")
        if key.ndim != query.ndim or value.ndim != query.ndim:
            raise ArgumentError(f"MultiheadAttention: query, key and value must have the same rank,"
                                f" got {list(query.shape)}, {list(key.shape)}, {list(value.shape)}")
        for name, t, dim in (("query", query, self.embed_dim), ("key", key, self.kdim),
                             ("value", value, self.vdim)):
            if t.shape[-1] != dim:
                raise ShapeError(f"MultiheadAttention: {name} has {t.shape[-1]} features, "
                                 f"expected {dim}")
        if key.shape[:-1] != value.shape[:-1]:
            raise ShapeError(f"MultiheadAttention: key shape {list(key.shape)} does not match "
                             f"value shape {list(value.shape)}")
        if key_padding_mask is not None and key_padding_mask.ndim != (2 if batched else 1):
            raise ShapeError(f"MultiheadAttention: key_padding_mask should be "
                             f"{'2' if batched else '1'}-D, got shape "
                             f"{list(key_padding_mask.shape)}")
        if attn_mask is not None and attn_mask.ndim not in (2, 3):
            raise ArgumentError(f"MultiheadAttention: attn_mask should be 2-D or 3-D, got shape "
                                f"{list(attn_mask.shape)}")
        return batched

    def forward(self, query: Tensor, key: Tensor, value: Tensor,
                key_padding_mask: Optional[Tensor] = None, need_weights: bool = True,
                attn_mask: Optional[Tensor] = None, average_attn_weights: bool = True,
                is_causal: bool = False):
        """Attends ``query`` to ``key``/``value``; returns ``(attn_output, attn_weights)``.

        ``key_padding_mask`` (N, S): True (or -inf) for keys to ignore. ``attn_mask`` (L, S) or
        (N * num_heads, L, S): True (or -inf) for pairs that may not attend. ``is_causal``
        without an ``attn_mask`` masks the future (with one, the mask is taken as the causal
        mask, as PyTorch's hint).
        """
        batched = self._check_inputs(query, key, value, key_padding_mask, attn_mask)
        # Self-attention projects once through the stacked (3E, E) weight, as PyTorch does: one
        # GEMM forward and one per gradient instead of three each.
        one_projection = self._qkv_same_embed_dim and query is key and key is value
        # batch_first inputs stay (N, T, E): the heads are views of the projections either way,
        # and transposing to PyTorch's internal (T, N, E) would copy the inputs, the output and
        # their gradients for nothing
        batch_major = batched and self.batch_first
        if not batched:
            query, key, value = (F.unsqueeze(t, 1) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = F.unsqueeze(key_padding_mask, 0)
        if batch_major:
            batch, length, embed = query.shape
            source_length = key.shape[1]
        else:
            length, batch, embed = query.shape
            source_length = key.shape[0]
        heads, head_dim = self.num_heads, self.head_dim

        def split_heads(x: Tensor, steps: int) -> Tensor:  # (T, N, E) or (N, T, E) -> (N, heads, T, hd)
            if batch_major:
                return F.permute(F.reshape(x, (batch, steps, heads, head_dim)), (0, 2, 1, 3))
            return F.permute(F.reshape(x, (steps, batch, heads, head_dim)), (1, 2, 0, 3))

        if one_projection:
            projected = _linear(query, self.in_proj_weight, self.in_proj_bias)
            if batch_major:
                projected = F.permute(F.reshape(projected, (batch, length, 3, heads, head_dim)),
                                      (2, 0, 3, 1, 4))
            else:
                projected = F.permute(F.reshape(projected, (length, batch, 3, heads, head_dim)),
                                      (2, 1, 3, 0, 4))
            q, k, v = composites.unbind(projected, 0)
        else:
            (w_q, b_q), (w_k, b_k), (w_v, b_v) = self._projections()
            q = split_heads(_linear(query, w_q, b_q), length)
            k = split_heads(_linear(key, w_k, b_k), source_length)
            v = split_heads(_linear(value, w_v, b_v), source_length)

        masks = []
        if attn_mask is not None:
            if attn_mask.ndim == 2:
                expected = (length, source_length)
            else:
                expected = (batch * heads, length, source_length)
            if tuple(attn_mask.shape) != expected:
                raise ArgumentError(f"MultiheadAttention: attn_mask should have shape "
                                    f"{list(expected)}, got {list(attn_mask.shape)}")
            if attn_mask.ndim == 3:
                attn_mask = F.reshape(attn_mask, (batch, heads, length, source_length))
            masks.append(attn_mask)
        elif is_causal:
            masks.append(_causal_mask(length, source_length))
        if key_padding_mask is not None:
            if tuple(key_padding_mask.shape) != (batch, source_length):
                raise ArgumentError(f"MultiheadAttention: key_padding_mask should have shape "
                                    f"{[batch, source_length]}, got "
                                    f"{list(key_padding_mask.shape)}")
            masks.append(F.reshape(key_padding_mask, (batch, 1, 1, source_length)))

        k, v, masks = self._extra_keys(k, v, masks)
        dropout_p = self.dropout if self.dropout > 0.0 and self.training else 0.0
        out, weights = _attend(q, k, v, masks, dropout_p, 1.0 / math.sqrt(head_dim),
                               safe_softmax=not need_weights)
        if batch_major:
            out = F.reshape(F.permute(out, (0, 2, 1, 3)), (batch, length, embed))
        else:
            out = F.reshape(F.permute(out, (2, 0, 1, 3)), (length, batch, embed))
        out = self.out_proj(out)
        if not batched:
            out = F.squeeze(out, 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = F.mean(weights, dim=1)
        return out, (weights if batched else F.squeeze(weights, 0))


_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


def _activation(activation: Union[str, Callable]) -> Callable:
    """The feed-forward activation: 'relu', 'gelu' or any callable (RuntimeError otherwise,
    as PyTorch)."""
    if isinstance(activation, str):
        if activation not in _ACTIVATIONS:
            raise ArgumentError(f"activation should be relu/gelu, not {activation}")
        return _ACTIVATIONS[activation]
    return activation


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward block, each with a residual connection and LayerNorm,
    like ``torch.nn.TransformerEncoderLayer`` (same submodule names, so state dicts match).

    ``norm_first=False`` (post-norm): ``x = norm1(x + sa(x)); x = norm2(x + ff(x))``.
    ``norm_first=True`` (pre-norm): ``x = x + sa(norm1(x)); x = x + ff(norm2(x))``.

        >>> import graphc
        >>> layer = graphc.nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16)
        >>> layer(graphc.randn(5, 3, 8)).shape
        (5, 3, 8)
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: Union[str, Callable] = "relu",
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation(activation)

    def forward(self, src: Tensor, src_mask: Optional[Tensor] = None,
                src_key_padding_mask: Optional[Tensor] = None, is_causal: bool = False) -> Tensor:
        """``src`` is (S, N, E), (N, S, E) with ``batch_first``, or unbatched (S, E)."""
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x: Tensor, attn_mask, key_padding_mask, is_causal: bool) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout2(x)


class TransformerEncoder(Module):
    """A stack of ``num_layers`` deep copies of ``encoder_layer`` and an optional final ``norm``,
    like ``torch.nn.TransformerEncoder`` (state-dict keys ``layers.{i}.…`` and ``norm.…``).

        >>> import graphc
        >>> from graphc import nn
        >>> layer = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16)
        >>> encoder = nn.TransformerEncoder(layer, num_layers=3, norm=nn.LayerNorm(8))
        >>> encoder(graphc.randn(5, 2, 8)).shape
        (5, 2, 8)
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int,
                 norm: Optional[Module] = None, enable_nested_tensor: bool = True,
                 mask_check: bool = True):
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = enable_nested_tensor and not why_not_nested(encoder_layer)
        self.mask_check = mask_check

    def forward(self, src: Tensor, mask: Optional[Tensor] = None,
                src_key_padding_mask: Optional[Tensor] = None,
                is_causal: Optional[bool] = None) -> Tensor:
        """Runs the layers in order with the same masks, then ``norm``.

        Where PyTorch takes its nested-tensor path (``use_nested_tensor``, set from
        ``enable_nested_tensor`` and the layer's configuration; eval mode; no gradient needed;
        a ``src_key_padding_mask`` whose padding comes last in each sequence, and no ``mask``;
        not inside ``@graphc.compile`` unless ``mask_check=False``), the padded positions of
        the output are exact zeros before ``norm``, as PyTorch's are
        (:mod:`graphc.nn.transformer_nested`). With ``mask_check=False`` and padding that is
        not at the end, PyTorch computes sequences out of the wrong positions; graphc zeros the
        padded positions and computes the others from the kept ones."""
        padded = nested_padding(self, src, mask, src_key_padding_mask)
        if padded is not None:
            src_key_padding_mask = padded  # what the nested path computes for the kept positions
        output = src
        for layer in self.layers:
            output = layer(output, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                           is_causal=bool(is_causal))
        if padded is not None:
            output = F.where(padded.unsqueeze(-1), zeros((), dtype=output.dtype), output)
        if self.norm is not None:
            output = self.norm(output)
        return output
