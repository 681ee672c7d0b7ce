"""``Embedding``: a lookup table of ``num_embeddings`` vectors of size ``embedding_dim``.

``weight`` is (num_embeddings, embedding_dim) ~ N(0, 1); the ``padding_idx`` row starts at zero
and receives no gradient. ``max_norm`` renormalizes looked-up rows in place and
``scale_grad_by_freq`` divides each row's gradient by its count in the batch, as PyTorch;
``sparse=True`` is accepted but gives a dense gradient (graphc has no sparse gradients).

    >>> import graphc
    >>> from graphc import nn
    >>> emb = nn.Embedding(10, 3, padding_idx=0)
    >>> emb
    Embedding(10, 3, padding_idx=0)
    >>> emb(graphc.tensor([[0, 2], [4, 9]])).shape
    (2, 2, 3)
"""
from __future__ import annotations

from typing import Optional

from graphc import factories
from graphc.autograd import no_grad
from graphc.errors import ArgumentError
from graphc.nn import functional as F
from graphc.nn import init
from graphc.nn.module import Module, Parameter
from graphc.tensor import Tensor
from ir import dtypes


class Embedding(Module):
    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: Optional[int] = None,
                 max_norm: Optional[float] = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False,
                 _weight: Optional[Tensor] = None, _freeze: bool = False, device=None,
                 dtype=None):
        super().__init__()
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ArgumentError(f"padding_idx {padding_idx} must be within num_embeddings "
                                    f"({num_embeddings})")
            if padding_idx < 0:
                padding_idx += num_embeddings
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        if _weight is None:
            self.weight = Parameter(factories.empty(num_embeddings, embedding_dim,
                                                    dtype=dtype or dtypes.DEFAULT_FLOAT),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ArgumentError(f"_weight has shape {list(_weight.shape)}, expected "
                                    f"{[num_embeddings, embedding_dim]}")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        self._fill_padding_idx_with_zero()

    def _fill_padding_idx_with_zero(self) -> None:
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    def forward(self, input: Tensor) -> Tensor:
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += ", scale_grad_by_freq=True"
        if self.sparse:
            s += ", sparse=True"
        return s

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True,
                        padding_idx: Optional[int] = None, **kwargs) -> Embedding:
        """An Embedding holding a copy of the 2-D ``embeddings`` (frozen by default)."""
        if embeddings.ndim != 2:
            raise ArgumentError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx=padding_idx, _weight=embeddings, _freeze=freeze,
                   **kwargs)
