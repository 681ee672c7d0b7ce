"""``CyclicLR``: the learning rate goes back and forth between two bounds (Smith's cyclical
learning rates), optionally with the momentum moving the opposite way.

    >>> import graphc
    >>> from graphc.optim.lr_scheduler import CyclicLR
    >>> opt = graphc.optim.SGD([graphc.nn.Parameter(graphc.zeros(1))], lr=0.1, momentum=0.9)
    >>> sched = CyclicLR(opt, base_lr=0.1, max_lr=0.5, step_size_up=2)
    >>> lrs = []
    >>> for _ in range(6):
    ...     lrs.append(round(sched.get_last_lr()[0], 6)); opt.step(); sched.step()
    >>> lrs   # up in two steps, down in two, and again
    [0.1, 0.3, 0.5, 0.3, 0.1, 0.3]
"""
from __future__ import annotations

import math
import types
from collections.abc import Callable
from typing import Optional

from graphc.errors import ArgumentError, ArgumentTypeError
from graphc.optim.lr_one_cycle import Number, _per_group, _set_momentum, cycles_momentum
from graphc.optim.lr_scheduler import LRScheduler, set_group_value
from graphc.optim.optimizer import Optimizer

_MODES = ("triangular", "triangular2", "exp_range")


class CyclicLR(LRScheduler):
    """``torch.optim.lr_scheduler.CyclicLR``; call ``step()`` after every batch.

    A cycle rises from ``base_lr`` to ``max_lr`` in ``step_size_up`` steps and falls back in
    ``step_size_down`` (default: as many). The height of each cycle is scaled by
    ``scale_fn(cycle)`` (``scale_mode='cycle'``) or ``scale_fn(step)`` (``'iterations'``):
    ``'triangular'`` keeps it, ``'triangular2'`` halves it every cycle, ``'exp_range'``
    multiplies it by ``gamma**step``. With ``cycle_momentum`` the momentum (SGD's
    ``momentum``, or ``betas[0]``) goes from ``max_momentum`` down while the rate goes up; a
    compiled step reads it as a graph input, so the cycle never retraces.
    """

    def __init__(self, optimizer: Optimizer, base_lr: Number, max_lr: Number,
                 step_size_up: int = 2000, step_size_down: Optional[int] = None,
                 mode: str = "triangular", gamma: float = 1.0,
                 scale_fn: Optional[Callable[[float], float]] = None,
                 scale_mode: str = "cycle", cycle_momentum: bool = True,
                 base_momentum: Number = 0.8, max_momentum: Number = 0.9,
                 last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise ArgumentTypeError(f"{type(optimizer).__name__} is not an Optimizer")
        base_lrs = _per_group("base_lr", optimizer, base_lr)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                set_group_value(group, "lr", lr)
        self.max_lrs = _per_group("max_lr", optimizer, max_lr)
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        if up <= 0 or down <= 0:
            raise ArgumentError(f"step_size_up and step_size_down must be positive, got "
                                f"{step_size_up!r} and {step_size_down!r}")
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        if mode not in _MODES and scale_fn is None:
            raise ArgumentError(f"mode must be one of {', '.join(map(repr, _MODES))} (or give a "
                                f"scale_fn), got {mode!r}")
        if scale_mode not in ("cycle", "iterations"):
            raise ArgumentError(f"scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}")
        self.mode = mode
        self.gamma = gamma
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode
        self._init_scale_fn()
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = cycles_momentum(optimizer)
            self.base_momentums = _per_group("base_momentum", optimizer, base_momentum)
            self.max_momentums = _per_group("max_momentum", optimizer, max_momentum)
            if last_epoch == -1:
                for top, base, group in zip(self.max_momentums, self.base_momentums,
                                            optimizer.param_groups):
                    _set_momentum(group, top, self.use_beta1)
                    group["max_momentum"] = top
                    group["base_momentum"] = base
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def _init_scale_fn(self) -> None:
        """The built-in modes' scale function (not saved: rebuilt from ``mode``/``gamma``)."""
        if self._scale_fn_custom is not None:
            return
        if self.mode == "triangular":
            self._scale_fn_ref: Callable[[float], float] = _flat
            self.scale_mode = "cycle"
        elif self.mode == "triangular2":
            self._scale_fn_ref = _halving
            self.scale_mode = "cycle"
        else:
            gamma = self.gamma
            self._scale_fn_ref = lambda x: gamma ** x
            self.scale_mode = "iterations"

    def scale_fn(self, x: float) -> float:
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        return self._scale_fn_ref(x)

    def get_lr(self) -> list[float]:
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        if x <= self.step_ratio:
            scale_factor = x / self.step_ratio
        else:
            scale_factor = (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        lrs = [base + (top - base) * scale_factor * scale
               for base, top in zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            for group, base, top in zip(self.optimizer.param_groups, self.base_momentums,
                                        self.max_momentums):
                _set_momentum(group, top - (top - base) * scale_factor * scale, self.use_beta1)
        return lrs

    def state_dict(self) -> dict:
        """Like the base class; the scale function is rebuilt on load, and a custom one is
        saved as its attributes (None for a plain function), as in PyTorch."""
        state = {k: v for k, v in self.__dict__.items()
                 if k not in ("optimizer", "_scale_fn_ref", "_scale_fn_custom")}
        fn = self._scale_fn_custom
        state["_scale_fn_custom"] = (None if fn is None or isinstance(fn, types.FunctionType)
                                     else dict(vars(fn)))
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state = dict(state_dict)
        saved_fn = state.pop("_scale_fn_custom", None)
        self.__dict__.update(state)
        if saved_fn is not None and self._scale_fn_custom is not None:
            vars(self._scale_fn_custom).update(saved_fn)
        self._init_scale_fn()


def _flat(x: float) -> float:
    return 1.0


def _halving(x: float) -> float:
    return 1 / (2.0 ** (x - 1))
