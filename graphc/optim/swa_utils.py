"""Weight averaging (``torch.optim.swa_utils``): ``AveragedModel`` keeps a running average
(SWA) or an exponential moving average (EMA) of a model's parameters, ``SWALR`` anneals the
learning rate to a constant for SWA, and ``update_bn`` recomputes BatchNorm statistics for the
averaged weights.

    >>> import graphc
    >>> from graphc import nn
    >>> model = nn.Linear(2, 1)
    >>> swa = AveragedModel(model)
    >>> with graphc.no_grad():
    ...     _ = model.weight.fill_(1.0); swa.update_parameters(model)
    ...     _ = model.weight.fill_(3.0); swa.update_parameters(model)
    >>> swa.module.weight.tolist(), swa.n_averaged.item()
    ([[2.0, 2.0]], 2)
"""
from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Iterable
from typing import Optional, Union

from graphc import autograd, factories
from graphc.errors import ArgumentError
from graphc.nn.module import Module
from graphc.nn.normalization import _BatchNorm
from graphc.optim.lr_one_cycle import _per_group
from graphc.optim.lr_scheduler import LRScheduler
from graphc.optim.optimizer import Optimizer
from graphc.tensor import Tensor
from ir import dtypes

__all__ = ["AveragedModel", "SWALR", "update_bn", "get_ema_avg_fn", "get_swa_avg_fn",
           "get_ema_multi_avg_fn", "get_swa_multi_avg_fn"]


def get_swa_avg_fn() -> Callable:
    """``averaged + (current - averaged) / (n + 1)``: the mean of every model seen."""
    def swa_update(averaged, current, num_averaged):
        return averaged + (current - averaged) / (num_averaged + 1)
    return swa_update


def get_ema_avg_fn(decay: float = 0.999) -> Callable:
    """``decay * averaged + (1 - decay) * current``."""
    def ema_update(averaged, current, num_averaged):
        return decay * averaged + (1 - decay) * current
    return ema_update


def get_swa_multi_avg_fn() -> Callable:
    """The SWA update of lists of tensors, in place (PyTorch's foreach form)."""
    def swa_update(averaged_list, current_list, num_averaged):
        for averaged, current in zip(averaged_list, current_list):
            averaged.copy_(averaged + (current - averaged) / (num_averaged + 1))
    return swa_update


def get_ema_multi_avg_fn(decay: float = 0.999) -> Callable:
    """The EMA update of lists of tensors, in place: ``averaged += (1 - decay) * (current -
    averaged)`` (PyTorch's lerp)."""
    def ema_update(averaged_list, current_list, num_averaged):
        for averaged, current in zip(averaged_list, current_list):
            averaged.copy_(averaged + (current - averaged) * (1 - decay))
    return ema_update


class AveragedModel(Module):
    """A copy of ``model`` whose parameters (and, with ``use_buffers``, buffers) are the
    average of those :meth:`update_parameters` is given (``torch.optim.swa_utils.
    AveragedModel``): the equal-weight mean by default, or ``avg_fn(averaged, current,
    n_averaged)`` / ``multi_avg_fn(averaged_list, current_list, n_averaged)``. Without
    ``use_buffers`` the buffers are copied from the model at each update. Calling it calls the
    averaged copy. ``device`` is accepted for PyTorch compatibility."""

    def __init__(self, model: Module, device=None, avg_fn: Optional[Callable] = None,
                 multi_avg_fn: Optional[Callable] = None, use_buffers: bool = False):
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", factories.tensor(0, dtype=dtypes.i64))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def _averaged_tensors(self, model: Module) -> tuple[list, list]:
        if self.use_buffers:
            mine = itertools.chain(self.module.parameters(), self.module.buffers())
            theirs = itertools.chain(model.parameters(), model.buffers())
        else:
            mine, theirs = self.parameters(), model.parameters()
        return list(mine), list(theirs)

    def update_parameters(self, model: Module) -> None:
        """Adds ``model``'s current parameters to the average."""
        mine, theirs = self._averaged_tensors(model)
        with autograd.no_grad():
            current = [t.detach().to(a.device) for a, t in zip(mine, theirs)]
            n = int(self.n_averaged.item())
            if n == 0:
                for averaged, value in zip(mine, current):
                    averaged.copy_(value)
            elif self.multi_avg_fn is not None:
                self.multi_avg_fn(mine, current, self.n_averaged)
            else:
                update = self.avg_fn or get_swa_avg_fn()
                for averaged, value in zip(mine, current):
                    # (an integer buffer too, with use_buffers: averaged, then truncated by
                    # copy_, as PyTorch does)
                    averaged.copy_(update(averaged.detach(), value, self.n_averaged))
            if not self.use_buffers:  # the buffers follow the model's
                for mine_buffer, their_buffer in zip(self.module.buffers(), model.buffers()):
                    mine_buffer.copy_(their_buffer.detach().to(mine_buffer.device))
            self.n_averaged.add_(1)


@autograd.no_grad()
def update_bn(loader: Iterable, model: Module, device=None) -> None:
    """Recomputes the running statistics of ``model``'s BatchNorm layers over one pass of
    ``loader`` (an equal average over the batches: momentum None), as
    ``torch.optim.swa_utils.update_bn``; a batch that is a list or tuple uses its first item."""
    momenta = {}
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    for batch in loader:
        if isinstance(batch, (list, tuple)):
            batch = batch[0]
        if device is not None and isinstance(batch, Tensor):
            batch = batch.to(device)
        model(batch)
    for module, momentum in momenta.items():
        module.momentum = momentum
    model.train(was_training)


class SWALR(LRScheduler):
    """Anneals each group's learning rate to ``swa_lr`` over ``anneal_epochs`` epochs (cosine
    or linear) and keeps it there (``torch.optim.swa_utils.SWALR``)."""

    def __init__(self, optimizer: Optimizer, swa_lr: Union[float, list], anneal_epochs: int = 10,
                 anneal_strategy: str = "cos", last_epoch: int = -1):
        for swa, group in zip(_per_group("swa_lr", optimizer, swa_lr), optimizer.param_groups):
            group["swa_lr"] = swa
        if anneal_strategy not in ("cos", "linear"):
            raise ArgumentError(f"anneal_strategy must by one of 'cos' or 'linear', instead got "
                                f"{anneal_strategy}")
        self.anneal_func = self._cosine_anneal if anneal_strategy == "cos" \
            else self._linear_anneal
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ArgumentError(f"anneal_epochs must be equal or greater than 0, got "
                                f"{anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _linear_anneal(t: float) -> float:
        return t

    @staticmethod
    def _cosine_anneal(t: float) -> float:
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr: float, swa_lr: float, alpha: float) -> float:
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def get_lr(self) -> list[float]:
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_t = max(0, min(1, (step - 1) / max(1, self.anneal_epochs)))
        prev_alpha = self.anneal_func(prev_t)
        prev_lrs = [self._get_initial_lr(group["lr"], group["swa_lr"], prev_alpha)
                    for group in self.optimizer.param_groups]
        t = max(0, min(1, step / max(1, self.anneal_epochs)))
        alpha = self.anneal_func(t)
        return [group["swa_lr"] * alpha + lr * (1 - alpha)
                for group, lr in zip(self.optimizer.param_groups, prev_lrs)]

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "anneal_func")}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(state_dict)
