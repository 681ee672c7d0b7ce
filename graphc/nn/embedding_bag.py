"""``EmbeddingBag`` and ``F.embedding_bag``: sums, means or maxima of bags of embedding rows,
without materializing the per-index embeddings' layout, as PyTorch's.

Bags are the rows of a 2-D ``input``, or, for 1-D ``input``, the runs starting at
``offsets``. Each index's row is sent to its bag with ``scatter_add`` (``scatter_reduce amax``
for ``mode='max'``); indices equal to ``padding_idx`` go to a discarded extra bag, so they count
in no sum, mean or maximum. Empty bags are zero. Bag membership is computed from the offsets
with tensor ops, so it traces: the offsets are data of the compiled graph, not constants.

    >>> import graphc
    >>> w = graphc.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    >>> embedding_bag(graphc.tensor([0, 1, 2]), w, graphc.tensor([0, 2]), mode="sum").tolist()
    [[4.0, 6.0], [5.0, 6.0]]
"""
from __future__ import annotations

from typing import Optional

from graphc import factories, tracing
from graphc import functions as G
from graphc.autograd import no_grad
from graphc.device import host_array
from graphc.nn import init
from graphc.nn.module import Module, Parameter
from graphc.tensor import Tensor
from ir import dtypes


def _bag_ids(input: Tensor, offsets: Optional[Tensor], include_last_offset: bool):
    """(flat indices, bag of each, number of bags); entries past the last bag get id ``bags``."""
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError("embedding_bag: if input is 2D, then offsets has to be None, as "
                             "input is treated is a mini-batch of fixed length sequences.")
        bags, length = input.shape
        ids = G.reshape(G.broadcast_to(G.unsqueeze(factories.arange(bags), 1), (bags, length)),
                        (-1,))
        return G.reshape(input, (-1,)), ids, bags
    if input.ndim != 1:
        raise ValueError(f"embedding_bag: input has to be 1D or 2D Tensor, but got Tensor of "
                         f"dimension {input.ndim}")
    if offsets is None:
        raise ValueError("embedding_bag: offsets has to be a 1D Tensor but got None")
    if offsets.ndim != 1 or not offsets.dtype.is_int:
        raise ValueError(f"embedding_bag: offsets has to be a 1D integer Tensor, got shape "
                         f"{list(offsets.shape)} of {offsets.dtype}")
    bags = offsets.shape[0] - (1 if include_last_offset else 0)
    _check_offsets(offsets.detach(), input.shape[0])
    # bag of entry k: how many offsets are <= k, minus one
    started = G.ge(G.unsqueeze(factories.arange(input.shape[0]), 1), G.unsqueeze(offsets, 0))
    ids = G.sub(G.sum(G.cast(started, factories.int64), 1), 1)
    return input, G.clamp(ids, min=0), bags


def _check_offsets(offsets: Tensor, length: int) -> None:
    """PyTorch's checks of the offsets (eagerly at once, in NumPy; compiled as the graph runs):
    bags read from an offset past the input or out of order would silently be empty or lose
    rows."""
    if offsets.shape[0] == 0:
        return
    problems = [("embedding_bag: offsets[0] has to be 0, i.e., the first sequence in the "
                 "mini-batch has to start from position 0"),
                f"embedding_bag: offsets can not be greater than input's length {length}",
                "embedding_bag: offsets must be non-decreasing"]
    if tracing.current() is None:
        values = host_array(offsets._data)
        found = [values[0] != 0, (values > length).any(), (values[1:] < values[:-1]).any()]
        for failed, message in zip(found, problems):
            if failed:
                raise RuntimeError(message)
        return
    flags = [G.ne(offsets[0], 0), G.any(G.gt(offsets, length)),
             G.any(G.lt(offsets[1:], offsets[:-1]))]
    for flag, message in zip(flags, problems):
        tracing.check(flag, RuntimeError, message)


def embedding_bag(input: Tensor, weight: Tensor, offsets: Optional[Tensor] = None,
                  max_norm: Optional[float] = None, norm_type: float = 2,
                  scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Optional[Tensor] = None,
                  include_last_offset: bool = False,
                  padding_idx: Optional[int] = None) -> Tensor:
    """(bags, embedding_dim): per bag, the ``mode`` ('sum', 'mean', 'max') of the rows of
    ``weight`` its indices name; ``per_sample_weights`` (mode 'sum' only) scale each row."""
    from graphc.nn.functional import _renorm_rows_, embedding
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"embedding_bag: mode has to be one of sum, mean or max, got {mode!r}")
    if not input.dtype.is_int:
        raise TypeError(f"embedding_bag: input must be an integer tensor, got {input.dtype}")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(f"embedding_bag: per_sample_weights was not None. "
                                      f"per_sample_weights is only supported for mode='sum' "
                                      f"(got mode='{mode}'). Please open a feature request on "
                                      f"GitHub.")
        if tuple(per_sample_weights.shape) != tuple(input.shape):
            raise ValueError(f"embedding_bag: per_sample_weights of shape "
                             f"{list(per_sample_weights.shape)} must have input's shape "
                             f"{list(input.shape)}")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += weight.shape[0]
    flat, ids, bags = _bag_ids(input, offsets, include_last_offset)
    if max_norm is not None:
        _renorm_rows_(weight, flat, max_norm, norm_type)
    rows = embedding(flat, weight, scale_grad_by_freq=scale_grad_by_freq)
    if per_sample_weights is not None:
        rows = G.mul(rows, G.unsqueeze(G.reshape(per_sample_weights, (-1,)), 1))
    if padding_idx is not None:  # padding entries go to the discarded bag
        ids = G.where(G.eq(flat, padding_idx), G.scalar_like(bags, ids), ids)
    dim = weight.shape[1]
    target = G.broadcast_to(G.unsqueeze(ids, 1), (ids.shape[0], dim))
    zeros = factories.zeros(bags + 1, dim, dtype=weight.dtype)
    if mode == "max":
        from graphc.index_ops import scatter_reduce
        out = scatter_reduce(zeros, 0, target, rows, "amax", include_self=False)
    else:
        out = G.scatter_add(zeros, 0, target, rows)
        if mode == "mean":
            with no_grad():
                counts = G.scatter_add(factories.zeros(bags + 1, dtype=weight.dtype), 0, ids,
                                       factories.ones(ids.shape[0], dtype=weight.dtype))
            out = G.div(out, G.unsqueeze(G.maximum(counts, G.scalar_like(1.0, counts)), 1))
    return G.narrow(out, 0, 0, bags)


class EmbeddingBag(Module):
    """Bags of ``num_embeddings`` vectors of size ``embedding_dim`` reduced by ``mode``;
    ``weight`` ~ N(0, 1) with the ``padding_idx`` row zero, as PyTorch's."""

    def __init__(self, num_embeddings: int, embedding_dim: int,
                 max_norm: Optional[float] = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                 _weight: Optional[Tensor] = None, include_last_offset: bool = False,
                 padding_idx: Optional[int] = None, device=None, dtype=None):
        super().__init__()
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"padding_idx {padding_idx} must be within num_embeddings "
                                 f"({num_embeddings})")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.mode, self.sparse = scale_grad_by_freq, mode, sparse
        self.include_last_offset, self.padding_idx = include_last_offset, padding_idx
        if _weight is None:
            self.weight = Parameter(factories.empty(num_embeddings, embedding_dim,
                                                    dtype=dtype or dtypes.DEFAULT_FLOAT))
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"_weight has shape {list(_weight.shape)}, expected "
                                 f"{[num_embeddings, embedding_dim]}")
            self.weight = Parameter(_weight)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    def forward(self, input: Tensor, offsets: Optional[Tensor] = None,
                per_sample_weights: Optional[Tensor] = None) -> Tensor:
        return embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type,
                             self.scale_grad_by_freq, self.mode, self.sparse,
                             per_sample_weights, self.include_last_offset, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += ", scale_grad_by_freq=True"
        s += f", mode={self.mode}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s
