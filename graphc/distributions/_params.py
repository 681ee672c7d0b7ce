"""The construction and ``expand`` every distribution with broadcast tensor parameters shares."""
from __future__ import annotations

from graphc.distributions.distribution import Distribution
from graphc.distributions.utils import broadcast_all, is_number


def init_broadcast(dist: Distribution, names: tuple, values: tuple, validate_args) -> None:
    """Set the parameters ``names`` of ``dist`` to ``values`` broadcast together; numbers only
    give an empty batch shape, as PyTorch."""
    tensors = broadcast_all(*values)
    for name, tensor in zip(names, tensors):
        setattr(dist, name, tensor)
    batch_shape = () if all(is_number(v) for v in values) else tensors[0].shape
    Distribution.__init__(dist, batch_shape, validate_args=validate_args)


def expand_broadcast(dist: Distribution, cls, names: tuple, batch_shape, _instance=None):
    """``dist`` with its parameters ``names`` expanded to ``batch_shape`` (no new checks)."""
    new = dist._get_checked_instance(cls, _instance)
    batch_shape = tuple(batch_shape)
    for name in names:
        setattr(new, name, getattr(dist, name).expand(batch_shape))
    Distribution.__init__(new, batch_shape, validate_args=False)
    new._validate_args = dist._validate_args
    return new
