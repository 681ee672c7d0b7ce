"""``ZeroRedundancyOptimizer``: optimizer state sharded over the ranks (ZeRO stage 1), as
``torch.distributed.optim.ZeroRedundancyOptimizer``.

Each parameter belongs to one rank (the largest parameters first, each to the rank holding the
fewest elements so far, the same on every rank): that rank alone keeps its optimizer state
(Adam's two moments: 1/N of them per rank) and updates it; then every parameter is broadcast
from its owner, so all ranks hold the same weights again. With gradients averaged by
:class:`graphc.nn.parallel.DistributedDataParallel`, training follows the unsharded optimizer.

``param_groups`` holds every parameter, as PyTorch's does, so schedulers and ``zero_grad``
work on it; hyperparameters changed there reach the rank's own optimizer at the next step.
``state_dict`` is not there yet (PyTorch gathers the shards first: ``consolidate_state_dict``).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Optional

from graphc import autograd
from graphc.distributed.collectives import broadcast
from graphc.distributed.process_group import _check_group, require_world
from graphc.optim.optimizer import Optimizer


class ZeroRedundancyOptimizer(Optimizer):
    """``optimizer_class(params of this rank, **defaults)`` on each rank, parameters broadcast
    from their owners after each step. ``parameters_as_bucket_view`` and ``overlap_with_ddp``
    are accepted for PyTorch's signature."""

    def __init__(self, params: Iterable, optimizer_class: type, process_group: Any = None,
                 parameters_as_bucket_view: bool = False, overlap_with_ddp: bool = False,
                 **defaults: Any):
        _check_group(process_group, "ZeroRedundancyOptimizer")
        world = require_world("ZeroRedundancyOptimizer")
        super().__init__(params, defaults)
        self.optimizer_class = optimizer_class
        self.owner = _partition([p for g in self.param_groups for p in g["params"]], world.size)
        self.rank = world.rank
        # the local groups, paired with the global group each mirrors
        self._mirrored: list = []
        local_groups = []
        for group in self.param_groups:
            mine = [p for p in group["params"] if self.owner[id(p)] == self.rank]
            if mine:
                local_groups.append({**group, "params": mine})
                self._mirrored.append(group)
        self.optim: Optional[Optimizer] = (optimizer_class(local_groups, **defaults)
                                           if local_groups else None)

    def step(self, closure: Optional[Callable[[], Any]] = None):
        """Updates this rank's parameters with its optimizer, then broadcasts every parameter
        from its owner."""
        loss = self._closure_loss(closure)
        if self.optim is not None:
            for local, group in zip(self.optim.param_groups, self._mirrored):
                local.update({k: v for k, v in group.items() if k != "params"})
            self.optim.step()
        with autograd.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    broadcast(p, src=self.owner[id(p)])
        return loss

    def state_dict(self) -> dict:
        raise NotImplementedError("ZeroRedundancyOptimizer.state_dict: each rank holds only its "
                                  "shard of the state; gathering it (consolidate_state_dict) "
                                  "is not implemented yet")

    def load_state_dict(self, state_dict: dict) -> None:
        raise NotImplementedError("ZeroRedundancyOptimizer.load_state_dict: not implemented "
                                  "yet (the state is sharded over the ranks)")


def _partition(params: list, ranks: int) -> dict:
    """id(parameter) -> the rank that owns it: largest first, each to the least-loaded rank
    (ties: the lower rank), so every rank computes the same partition.

        >>> import graphc
        >>> ps = [graphc.zeros(n) for n in (3, 10, 4, 2)]
        >>> [_partition(ps, 2)[id(p)] for p in ps]
        [1, 0, 1, 1]
    """
    load = [0] * ranks
    owner = {}
    for p in sorted(params, key=lambda p: -p.numel()):  # stable: equal sizes keep their order
        rank = min(range(ranks), key=lambda r: (load[r], r))
        owner[id(p)] = rank
        load[rank] += p.numel()
    return owner
