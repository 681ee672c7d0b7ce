"""``ReduceLROnPlateau``: lowers the learning rate when a metric stops improving.

    >>> import graphc
    >>> from graphc.optim.lr_scheduler import ReduceLROnPlateau
    >>> opt = graphc.optim.SGD([graphc.nn.Parameter(graphc.zeros(1))], lr=1.0)
    >>> sched = ReduceLROnPlateau(opt, factor=0.5, patience=1)
    >>> for val_loss in [3.0, 2.0, 2.0, 2.0, 2.0, 2.0]:
    ...     sched.step(val_loss)
    >>> sched.get_last_lr()
    [0.25]
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Union

from graphc.errors import ArgumentError, ArgumentTypeError
from graphc.optim.lr_scheduler import LRScheduler, refuse_in_trace, set_group_value
from graphc.optim.optimizer import Optimizer


class ReduceLROnPlateau(LRScheduler):
    """``torch.optim.lr_scheduler.ReduceLROnPlateau``: call ``step(metric)`` once per epoch.

    A metric is an improvement when it beats the best one so far by more than ``threshold``
    (``mode='min'``: ``metric < best * (1 - threshold)`` with ``threshold_mode='rel'``,
    ``metric < best - threshold`` with ``'abs'``; mirrored for ``'max'``). After more than
    ``patience`` epochs without one, each group's rate becomes ``max(lr * factor, min_lr)``
    (unless that changes it by ``eps`` or less), then ``cooldown`` epochs pass before bad
    epochs count again.
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: Union[float, Sequence[float]] = 0,
                 eps: float = 1e-8):
        if factor >= 1.0:
            raise ArgumentError(f"ReduceLROnPlateau factor must be < 1.0, got {factor}")
        if not isinstance(optimizer, Optimizer):
            raise ArgumentTypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.factor = factor
        self.optimizer = optimizer
        groups = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != groups:
                raise ArgumentError(f"expected {groups} min_lrs (one per parameter group), "
                                    f"got {len(min_lr)}")
            self.default_min_lr: Optional[float] = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = float(min_lr)
            self.min_lrs = [min_lr] * groups
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = self._snapshot_lrs()
        self._init_is_better(mode, threshold, threshold_mode)
        self._reset()

    def _init_is_better(self, mode: str, threshold: float, threshold_mode: str) -> None:
        if mode not in ("min", "max"):
            raise ArgumentError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ArgumentError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.mode_worse = float("inf") if mode == "min" else float("-inf")

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def is_better(self, a: float, best: float) -> bool:
        """Whether metric ``a`` improves on ``best`` by more than the threshold."""
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return a < best * (1.0 - self.threshold)
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, metrics, epoch: Optional[int] = None) -> None:  # type: ignore[override]
        """Records this epoch's ``metrics`` (a number or a one-element tensor)."""
        refuse_in_trace(self)
        current = float(metrics)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._snapshot_lrs()

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(f"the optimizer has {len(groups)} parameter groups but "
                                   f"ReduceLROnPlateau was given {len(self.min_lrs)} min_lrs; "
                                   "set its min_lrs to one per group")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                set_group_value(group, "lr", new_lr)

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(state_dict)
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)
