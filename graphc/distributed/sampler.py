"""``DistributedSampler``: each rank's share of a data set, as ``torch.utils.data``'s.

The data set's indices (shuffled with the same seed on every rank, freshly each epoch after
``set_epoch``) are padded by repeating the first ones until they divide evenly, or cut down with
``drop_last``, and rank ``r`` takes every ``num_replicas``-th index from position ``r``. So in
one epoch the ranks together see every sample once (a few twice when padded), in equal
numbers of batches, which keeps their collectives in step.

    >>> sampler = DistributedSampler(range(10), num_replicas=4, rank=1, shuffle=False)
    >>> list(sampler), len(sampler)
    ([1, 5, 9], 3)
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sized
from typing import Optional

import numpy as np

from graphc import random as grandom
from graphc.data import _permutation
from graphc.distributed import process_group


class DistributedSampler:
    """Indices of ``dataset`` for rank ``rank`` of ``num_replicas``, as PyTorch's sampler.

    ``num_replicas`` and ``rank`` default to the default process group's. ``shuffle`` orders the
    indices by a permutation drawn from ``seed + epoch`` (call :meth:`set_epoch` before each
    epoch, or every epoch repeats the same order); ``drop_last`` drops the tail that does not
    divide evenly instead of padding with repeated indices. Pass it to a DataLoader as
    ``sampler=``.
    """

    def __init__(self, dataset: Sized, num_replicas: Optional[int] = None,
                 rank: Optional[int] = None, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False):
        if num_replicas is None:
            num_replicas = process_group.get_world_size()
        if rank is None:
            rank = process_group.get_rank()
        if int(num_replicas) != num_replicas or num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be a positive integer, "
                             f"got {num_replicas}")
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.epoch = 0
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        length = len(dataset)
        if self.drop_last and length % self.num_replicas != 0:
            self.num_samples = math.ceil((length - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(length / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def __iter__(self) -> Iterator[int]:
        length = len(self.dataset)
        if self.shuffle:
            # the same generator state on every rank, so the shards are disjoint
            indices = _permutation(length, grandom.Generator(self.seed + self.epoch))
        else:
            indices = np.arange(length)
        if self.drop_last:
            indices = indices[:self.total_size]
        elif self.total_size > length:
            indices = np.resize(indices, self.total_size)  # repeats the order from its start
        return iter(indices[self.rank:self.total_size:self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch that, with ``seed``, draws the next shuffled order."""
        self.epoch = int(epoch)
