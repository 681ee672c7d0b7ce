"""Distances between vectors, like ``torch.nn.functional``'s and ``torch.nn.modules.distance``:
``cosine_similarity``, ``pairwise_distance``, ``pdist`` and the layers ``CosineSimilarity``,
``PairwiseDistance``.

Norms are :func:`graphc.linalg.vector_norm`, whose gradient at a zero vector is 0 (PyTorch's).

    >>> import graphc
    >>> from graphc.nn.distance import cosine_similarity, pdist
    >>> cosine_similarity(graphc.tensor([[1.0, 0.0]]), graphc.tensor([[1.0, 1.0]])).tolist()
    [0.7071067690849304]
    >>> pdist(graphc.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])).tolist()
    [5.0, 1.0, 4.242640495300293]
"""
from __future__ import annotations

import numpy as np

import graphc.functions as G
from graphc import factories
from graphc.amp.autocast_mode import autocast_op
from graphc.linalg import vector_norm
from graphc.nn.module import Module
from graphc.tensor import Tensor


@autocast_op("cosine_similarity")
@G.half_in_float32
def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """``sum(x1 / max(||x1||, eps) * x2 / max(||x2||, eps))`` along ``dim`` (the operands
    broadcast), PyTorch's formula: each is divided by its norm first, so the result stays in
    [-1, 1]."""
    x1, x2 = G.to_tensor(x1), G.to_tensor(x2)
    ndim = max(x1.ndim, x2.ndim)
    dim = G.wrap_dim(dim, ndim)
    x1n = G.div(x1, G.clamp(vector_norm(x1, 2, dim - ndim, keepdim=True), min=eps))
    x2n = G.div(x2, G.clamp(vector_norm(x2, 2, dim - ndim, keepdim=True), min=eps))
    return G.sum(G.mul(x1n, x2n), dim - ndim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """``||x1 - x2 + eps||_p`` over the last dim (PyTorch adds ``eps`` to the difference)."""
    x1, x2 = G.to_tensor(x1), G.to_tensor(x2)
    diff = G.add(G.sub(x1, x2), float(eps))
    if diff.ndim == 0:
        raise RuntimeError("pairwise_distance: inputs must have at least 1 dimension")
    return vector_norm(diff, p, -1, keepdim)


@autocast_op("pdist")
def pdist(input: Tensor, p: float = 2.0) -> Tensor:
    """The ``p``-norm distances between the rows of an (N, M) input, for every pair i < j in
    row-major order: N * (N - 1) / 2 values."""
    if input.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D")
    if p < 0:
        raise RuntimeError(f"pdist only supports non-negative p values, got {p}")
    rows, cols = np.triu_indices(input.shape[0], k=1)
    first = G.index_select(input, 0, factories.tensor(rows.astype(np.int64)))
    second = G.index_select(input, 0, factories.tensor(cols.astype(np.int64)))
    return vector_norm(G.sub(first, second), p, 1)


class CosineSimilarity(Module):
    def __init__(self, dim: int = 1, eps: float = 1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)
