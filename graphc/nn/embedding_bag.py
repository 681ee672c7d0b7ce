"""``EmbeddingBag`` and ``F.embedding_bag``: sums, means or maxima of bags of embedding rows,
without materializing the per-index embeddings' layout, as PyTorch's.

Bags are the rows of a 2-D ``input``, or, for 1-D ``input``, the runs starting at
``offsets``. Each index's row is sent to its bag with ``scatter_add``; for ``mode='max'`` only
the first maximal entry of each bag and column is sent (PyTorch's kernel: the first of tied
maxima gets the whole gradient, and a NaN counts only as a bag's first entry). Indices equal
to ``padding_idx`` go to a discarded extra bag, so they count in no sum, mean or maximum.
Empty bags are zero. With ``include_last_offset`` the last offset only closes the last bag:
entries past it (when it is not ``len(input)``) belong to the last bag, as in PyTorch. Bag
membership is computed from the offsets with tensor ops, so it traces: the offsets are data of
the compiled graph, not constants.

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
from graphc.errors import ArgumentDTypeError, ArgumentTypeError, ShapeError
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
        raise ShapeError(f"embedding_bag: input has to be 1D or 2D Tensor, but got Tensor of "
                         f"dimension {input.ndim}")
    if offsets is None:
        raise ArgumentTypeError("embedding_bag: offsets has to be a 1D Tensor but got None")
    if offsets.ndim != 1 or not offsets.dtype.is_int:
        raise ArgumentDTypeError(f"embedding_bag: offsets has to be a 1D integer Tensor, got shape "
                                 f"{list(offsets.shape)} of {offsets.dtype}")
    _check_offsets(offsets.detach(), input.shape[0])
    if include_last_offset:
        # offsets[-1] closes the last bag; like PyTorch's kernel, membership reads only the
        # starts, so entries past offsets[-1] (when it is not len(input)) join the last bag
        offsets = offsets[:-1]
    bags = offsets.shape[0]
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
        out = G.scatter_add(zeros, 0, target, _bag_maxima(rows, ids, target, bags))
    else:
        out = G.scatter_add(zeros, 0, target, rows)
        if mode == "mean":
            with no_grad():
                counts = G.scatter_add(factories.zeros(bags + 1, dtype=weight.dtype), 0, ids,
                                       factories.ones(ids.shape[0], dtype=weight.dtype))
            out = G.div(out, G.unsqueeze(G.maximum(counts, G.scalar_like(1.0, counts)), 1))
    return G.narrow(out, 0, 0, bags)


def _bag_maxima(rows: Tensor, ids: Tensor, target: Tensor, bags: int) -> Tensor:
    """``rows`` where an entry is its bag's maximum in that column, else 0, with PyTorch's
    kernel's choice among ties and NaNs: it scans each bag in order and keeps an entry that is
    strictly greater, so the first of tied maxima wins (and alone gets the gradient, where
    ``scatter_reduce``'s ``amax`` would share it), and a NaN wins only as the bag's first
    entry. Scattering the result with ``scatter_add`` gives the maxima (one term per column)."""
    from graphc.index_ops import scatter_reduce
    length, dim = rows.shape
    with no_grad():
        position = factories.arange(length)
        first = scatter_reduce(factories.full((bags + 1,), length, dtype=dtypes.i64), 0, ids,
                               position, "amin", include_self=False)
        leads = G.unsqueeze(G.eq(position, G.gather(first, 0, ids)), 1)
        values = rows.detach()
        values = G.where(G.logical_and(G.isnan(values), G.logical_not(leads)),
                         G.scalar_like(float("-inf"), values), values)
        best = scatter_reduce(factories.zeros(bags + 1, dim, dtype=values.dtype), 0, target,
                              values, "amax", include_self=False)
        reached = G.gather(best, 0, target)
        maximal = G.logical_or(G.eq(values, reached),
                               G.logical_and(G.isnan(values), G.isnan(reached)))
        columns = G.broadcast_to(G.unsqueeze(position, 1), (length, dim))
        candidates = G.where(maximal, columns, G.scalar_like(length, columns))
        winner = scatter_reduce(factories.full((bags + 1, dim), length, dtype=dtypes.i64), 0,
                                target, candidates, "amin", include_self=False)
        wins = G.eq(columns, G.gather(winner, 0, target))
    return G.where(wins, rows, G.scalar_like(0.0, rows))


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
