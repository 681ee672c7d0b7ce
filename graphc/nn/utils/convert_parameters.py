"""Parameters as one flat vector and back (``parameters_to_vector``, ``vector_to_parameters``).

    >>> import graphc
    >>> from graphc.nn.utils import parameters_to_vector, vector_to_parameters
    >>> a, b = graphc.zeros(2, 2), graphc.zeros(3)
    >>> vector_to_parameters(graphc.arange(7.0), [a, b])
    >>> a.tolist(), b.tolist()
    ([[0.0, 1.0], [2.0, 3.0]], [4.0, 5.0, 6.0])
    >>> parameters_to_vector([a, b]).tolist()
    [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
"""
from __future__ import annotations

from collections.abc import Iterable

from graphc import autograd
from graphc import functions as F
from graphc.tensor import Tensor
from ir.errors import ShapeError


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """The parameters flattened and concatenated into one vector (differentiable)."""
    return F.cat([F.reshape(p, -1) for p in _tensors(parameters, "parameters")])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copies consecutive slices of ``vec`` into ``parameters`` (in place, not recorded for
    autograd, like PyTorch's ``param.data = ...``)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"vec must be a Tensor, but got: {type(vec).__name__}")
    params = _tensors(parameters, "parameters")
    total = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.shape[0] != total:
        raise ShapeError(f"vec must be a vector of {total} elements (the parameters' total), "
                         f"got shape {list(vec.shape)}")
    offset = 0
    with autograd.no_grad():
        for p in params:
            n = p.numel()
            p.copy_(F.reshape(vec[offset:offset + n], *p.shape))
            offset += n


def _tensors(parameters, name: str) -> list[Tensor]:
    items = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for item in items:
        if not isinstance(item, Tensor):
            raise TypeError(f"expected {name} to be Tensors, but got: {type(item).__name__}")
    return items
