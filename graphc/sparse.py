"""Sparse COO tensors with what graph networks use: ``graphc.sparse_coo_tensor``,
``Tensor.to_sparse()``, ``.to_dense()``, ``.coalesce()``, ``.indices()``/``.values()`` and the
sparse-dense product ``graphc.sparse.mm`` (also ``graphc.spmm``, ``graphc.mm`` and ``@``).

A :class:`SparseCOOTensor` is a pair of ordinary tensors, ``indices`` (int64, ``[sparse_dim,
nnz]``) and ``values`` (``[nnz, *dense_dims]``), with a shape. Everything on it is written from
primitives, so it has gradients for the values and for the dense operand, and it traces:
``A @ X`` is ``index_add(zeros, 0, rows, values[:, None] * X[cols])``. Passed to a compiled
function, its indices and values are graph inputs (the pattern is not baked into the graph), so a
new pattern with the same number of nonzeros reuses the compiled graph with the new values.

    >>> import graphc
    >>> a = graphc.sparse_coo_tensor([[0, 1, 1], [2, 0, 2]], [3.0, 4.0, 5.0], (2, 3))
    >>> a.to_dense().tolist()
    [[0.0, 0.0, 3.0], [4.0, 0.0, 5.0]]
    >>> graphc.sparse.mm(a, graphc.ones(3, 1)).tolist()
    [[3.0], [9.0]]
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from graphc import functions as F
from graphc import tracing
from graphc.errors import GraphcError, ShapeError
from graphc.tensor import Tensor
from ir import dtypes


class SparseError(GraphcError, RuntimeError):
    """A sparse tensor used in a way its layout does not allow (a RuntimeError, as in PyTorch)."""


class SparseCOOTensor:
    """A sparse tensor in coordinate (COO) format: ``values[k]`` sits at ``indices[:, k]``;
    duplicates add up (``coalesce()`` sums them)."""

    is_sparse = True
    layout = "sparse_coo"

    def __init__(self, indices: Tensor, values: Tensor, size, coalesced: bool = False):
        self._indices_tensor = indices
        self._values_tensor = values
        self._shape = tuple(int(s) for s in size)
        self._coalesced = coalesced

    # -- what it is -----------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self._shape

    def size(self, dim: Optional[int] = None):
        return self._shape if dim is None else self._shape[dim]

    def dim(self) -> int:
        return len(self._shape)

    ndim = property(dim)

    @property
    def dtype(self):
        return self._values_tensor.dtype

    @property
    def device(self):
        return self._values_tensor.device

    @property
    def requires_grad(self) -> bool:
        return self._values_tensor.requires_grad

    @property
    def grad(self):
        return self._values_tensor.grad

    def requires_grad_(self, requires_grad: bool = True) -> SparseCOOTensor:
        self._values_tensor.requires_grad_(requires_grad)
        return self

    def sparse_dim(self) -> int:
        return self._indices_tensor.shape[0]

    def dense_dim(self) -> int:
        return self.dim() - self.sparse_dim()

    def _nnz(self) -> int:
        return self._indices_tensor.shape[1]

    def _indices(self) -> Tensor:
        return self._indices_tensor

    def _values(self) -> Tensor:
        return self._values_tensor

    def indices(self) -> Tensor:
        """The indices of a coalesced tensor (PyTorch refuses them before ``coalesce()``)."""
        self._require_coalesced("indices")
        return self._indices_tensor

    def values(self) -> Tensor:
        """The values of a coalesced tensor (PyTorch refuses them before ``coalesce()``)."""
        self._require_coalesced("values")
        return self._values_tensor

    def _require_coalesced(self, what: str) -> None:
        if not self._coalesced:
            raise SparseError(f"Cannot get {what} on an uncoalesced tensor, please call "
                              ".coalesce() first (or use ._" + what + "())")

    def is_coalesced(self) -> bool:
        return self._coalesced

    def __repr__(self) -> str:
        return (f"tensor(indices={self._indices_tensor!r},\n       values={self._values_tensor!r},"
                f"\n       size={self._shape}, nnz={self._nnz()}, layout=graphc.sparse_coo)")

    # -- conversions ----------------------------------------------------------------------------
    def _linear_positions(self) -> Tensor:
        """Each nonzero's position in the flattened sparse dims (row-major)."""
        sizes = self._shape[:self.sparse_dim()]
        linear = None
        for d, size in enumerate(sizes):
            row = F.reshape(F.narrow(self._indices_tensor, 0, d, 1), [-1])
            linear = row if linear is None else F.add(F.mul(linear, size), row)
        return linear

    def to_dense(self) -> Tensor:
        """The dense tensor (duplicates summed); differentiable with respect to the values."""
        sparse_sizes = list(self._shape[:self.sparse_dim()])
        dense_sizes = list(self._shape[self.sparse_dim():])
        from graphc.factories import zeros
        flat = zeros([math.prod(sparse_sizes)] + dense_sizes, dtype=self.dtype)
        if self._nnz() == 0:
            return F.reshape(flat, list(self._shape))
        from graphc.index_ops import index_add
        flat = index_add(flat, 0, self._linear_positions(), self._values_tensor)
        return F.reshape(flat, list(self._shape))

    def coalesce(self) -> SparseCOOTensor:
        """Sorted, unique indices with the values of duplicates summed (eager only: the number of
        unique indices depends on the data). Differentiable with respect to the values."""
        if self._coalesced:
            return self
        indices = self._indices_tensor._concrete("coalesce() (the number of unique indices)")
        sizes = self._shape[:self.sparse_dim()]
        linear = np.ravel_multi_index(tuple(indices), sizes) if indices.size else \
            np.zeros(0, np.int64)
        unique, inverse = np.unique(linear, return_inverse=True)
        from graphc.factories import tensor, zeros
        from graphc.index_ops import index_add
        summed = index_add(zeros([len(unique)] + list(self._values_tensor.shape[1:]),
                                 dtype=self.dtype), 0, tensor(inverse.reshape(-1)),
                           self._values_tensor)
        new_indices = np.array(np.unravel_index(unique, sizes), dtype=np.int64).reshape(
            len(sizes), len(unique))
        return SparseCOOTensor(tensor(new_indices), summed, self._shape, coalesced=True)

    def to(self, *args, **kwargs) -> SparseCOOTensor:
        """Casts the values (``.to(dtype)``); devices other than the values' own are refused."""
        values = self._values_tensor.to(*args, **kwargs)
        return SparseCOOTensor(self._indices_tensor, values, self._shape, self._coalesced)

    def cpu(self) -> SparseCOOTensor:
        return self

    def float(self) -> SparseCOOTensor:
        return self.to(dtypes.f32)

    def double(self) -> SparseCOOTensor:
        return self.to(dtypes.f64)

    def detach(self) -> SparseCOOTensor:
        return SparseCOOTensor(self._indices_tensor, self._values_tensor.detach(), self._shape,
                               self._coalesced)

    def t(self) -> SparseCOOTensor:
        """The transpose of a 2-d sparse tensor (its index rows swapped)."""
        if self.sparse_dim() != 2 or self.dense_dim():
            raise SparseError(f"t(): expects a 2-d sparse matrix, got shape {list(self._shape)}")
        swapped = F.cat([F.narrow(self._indices_tensor, 0, 1, 1),
                         F.narrow(self._indices_tensor, 0, 0, 1)], 0)
        return SparseCOOTensor(swapped, self._values_tensor, self._shape[::-1])

    # -- arithmetic -----------------------------------------------------------------------------
    def __matmul__(self, other):
        return mm(self, other)

    def mm(self, other):
        return mm(self, other)

    def matmul(self, other):
        return mm(self, other)

    def __mul__(self, other):
        if isinstance(other, (int, float)) or (isinstance(other, Tensor) and other.ndim == 0):
            return SparseCOOTensor(self._indices_tensor, F.mul(self._values_tensor, other),
                                   self._shape, self._coalesced)
        raise SparseError("sparse * tensor: only a number or a 0-d tensor is supported; use "
                          "to_dense() for elementwise products")

    __rmul__ = __mul__

    def __neg__(self):
        return self * -1

    # -- compile: indices and values are graph inputs, the shape a guard ------------------------
    def _tree_flatten(self):
        return (self._indices_tensor, self._values_tensor), (self._shape, self._coalesced)

    @classmethod
    def _tree_unflatten(cls, meta, children) -> SparseCOOTensor:
        shape, coalesced = meta
        return cls(children[0], children[1], shape, coalesced)


def sparse_coo_tensor(indices, values, size=None, *, dtype=None, device=None,
                      requires_grad: bool = False, is_coalesced: bool = False) -> SparseCOOTensor:
    """A sparse COO tensor with ``values[k]`` at ``indices[:, k]``, like
    ``torch.sparse_coo_tensor``; without ``size``, each dimension is one past the largest index.

        >>> import graphc
        >>> graphc.sparse_coo_tensor([[0, 2]], [1.0, 2.0]).shape
        (3,)
    """
    from graphc.factories import tensor
    indices = indices if isinstance(indices, Tensor) else tensor(indices, dtype=dtypes.i64)
    values = values if isinstance(values, Tensor) else tensor(values, dtype=dtype, device=device)
    if not indices.dtype.is_int:
        raise SparseError(f"sparse_coo_tensor(): indices must be an integer tensor, got "
                          f"{indices.dtype}")
    if indices.ndim != 2:
        raise SparseError(f"sparse_coo_tensor(): indices must be 2-d [sparse_dim, nnz], got "
                          f"shape {list(indices.shape)}")
    if indices.dtype != dtypes.i64:
        indices = F.cast(indices, dtypes.i64)
    if values.ndim == 0 or values.shape[0] != indices.shape[1]:
        raise SparseError(f"sparse_coo_tensor(): values of shape {list(values.shape)} must have "
                          f"one entry (first dimension) per index column ({indices.shape[1]})")
    if dtype is not None and values.dtype != dtype:
        values = values.to(dtype)
    concrete = tracing.current() is None and indices._value is None
    if concrete:
        found = indices._concrete("sparse_coo_tensor()")
        if found.size and found.min() < 0:
            raise SparseError("sparse_coo_tensor(): found a negative index")
    if size is None:
        if not concrete:
            raise SparseError("sparse_coo_tensor(): give size= inside a compiled function (it "
                              "cannot be inferred from traced indices)")
        largest = found.max(axis=1) + 1 if found.size else np.zeros(indices.shape[0], np.int64)
        size = [int(n) for n in largest] + list(values.shape[1:])
    size = tuple(int(s) for s in size)
    if len(size) != indices.shape[0] + values.ndim - 1:
        raise SparseError(f"sparse_coo_tensor(): size {list(size)} must have sparse_dim "
                          f"({indices.shape[0]}) + dense_dim ({values.ndim - 1}) dimensions")
    if tuple(values.shape[1:]) != size[indices.shape[0]:]:
        raise SparseError(f"sparse_coo_tensor(): values' dense shape {list(values.shape[1:])} "
                          f"must equal the dense part of size {list(size[indices.shape[0]:])}")
    if concrete and found.size:
        limits = np.array(size[:indices.shape[0]]).reshape(-1, 1)
        if (found >= limits).any():
            d = int(np.nonzero((found >= limits).any(axis=1))[0][0])
            raise SparseError(f"sparse_coo_tensor(): size is inconsistent with indices: for "
                              f"dimension {d}, size is {size[d]} but found index "
                              f"{int(found[d].max())}")
    if requires_grad:
        values.requires_grad_(True)
    return SparseCOOTensor(indices, values, size, coalesced=is_coalesced)


def to_sparse(x: Tensor, sparse_dim: Optional[int] = None) -> SparseCOOTensor:
    """``Tensor.to_sparse()``: the nonzeros of ``x`` as a coalesced COO tensor (eager only: the
    number of nonzeros depends on the data); differentiable with respect to ``x``."""
    array = x._concrete("to_sparse() (the number of nonzeros)")
    sparse_dim = x.ndim if sparse_dim is None else sparse_dim
    if not 0 < sparse_dim <= max(x.ndim, 1):
        raise SparseError(f"to_sparse(): sparse_dim must be in [1, {x.ndim}], got {sparse_dim}")
    sparse_shape = array.shape[:sparse_dim]
    blocks = array.reshape(sparse_shape + (-1,)) if x.ndim else array.reshape(1, 1)
    present = np.nonzero(blocks.reshape(blocks.shape[:sparse_dim] + (-1,)).any(axis=-1))
    positions = np.ravel_multi_index(present, sparse_shape) if x.ndim else np.zeros(1, np.int64)
    from graphc.factories import tensor
    flat = F.reshape(x, [math.prod(sparse_shape)] + list(x.shape[sparse_dim:]))
    values = F.index_select(flat, 0, tensor(np.asarray(positions, np.int64)))
    indices = np.array(present, dtype=np.int64).reshape(len(sparse_shape), -1)
    return SparseCOOTensor(tensor(indices), values, x.shape, coalesced=True)


def mm(sparse: SparseCOOTensor, dense: Tensor) -> Tensor:
    """``sparse @ dense`` for a 2-d sparse matrix ``[n, m]`` and a dense ``[m, f]`` (or ``[m]``),
    like ``torch.sparse.mm``: every nonzero scales a gathered row of ``dense`` and adds it into
    its output row. Gradients reach ``dense`` and the sparse values."""
    if not isinstance(sparse, SparseCOOTensor):
        if isinstance(dense, SparseCOOTensor):
            raise SparseError("sparse.mm(dense, sparse) is not supported; compute "
                              "(sparse.t() @ dense.t()).t()")
        return F.matmul(sparse, dense)
    if sparse.sparse_dim() != 2 or sparse.dense_dim():
        raise SparseError(f"sparse.mm(): the sparse operand must be a 2-d matrix, got shape "
                          f"{list(sparse.shape)} with {sparse.dense_dim()} dense dims")
    dense = F.to_tensor(dense)
    if dense.ndim not in (1, 2) or dense.shape[0] != sparse.shape[1]:
        raise ShapeError(f"sparse.mm(): shapes {list(sparse.shape)} and {list(dense.shape)} "
                         f"cannot be multiplied ({sparse.shape[1]} != "
                         f"{dense.shape[0] if dense.ndim else 'a 0-d tensor'})")
    rows = F.reshape(F.narrow(sparse._indices(), 0, 0, 1), [-1])
    cols = F.reshape(F.narrow(sparse._indices(), 0, 1, 1), [-1])
    values = sparse._values()
    picked = F.index_select(dense, 0, cols)  # [nnz, f]
    weighted = F.mul(picked, F.reshape(values, [-1] + [1] * (dense.ndim - 1)))
    from graphc.factories import zeros
    from graphc.index_ops import index_add
    out = zeros([sparse.shape[0]] + list(dense.shape[1:]), dtype=weighted.dtype)
    return index_add(out, 0, rows, weighted)


def sum(input: SparseCOOTensor, dim=None) -> Tensor:
    """``torch.sparse.sum``: the sum of the (dense) tensor, over ``dim`` if given (dense result)."""
    dense = input.to_dense()
    return F.sum(dense) if dim is None else F.sum(dense, dim)


spmm = mm
Tensor.to_sparse = to_sparse
Tensor.is_sparse = False
