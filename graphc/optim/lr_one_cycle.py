"""``OneCycleLR``: the 1cycle policy (warm up to ``max_lr``, then anneal far below the start).

    >>> import graphc
    >>> from graphc.optim.lr_scheduler import OneCycleLR
    >>> opt = graphc.optim.SGD([graphc.nn.Parameter(graphc.zeros(1))], lr=0.1, momentum=0.9)
    >>> sched = OneCycleLR(opt, max_lr=1.0, total_steps=10, anneal_strategy="linear")
    >>> lrs = []
    >>> for _ in range(10):
    ...     lrs.append(sched.get_last_lr()[0]); opt.step(); sched.step()
    >>> [round(lr, 8) for lr in lrs[:4] + lrs[-1:]]   # up from 1/25 for 30%, down to 1/25/1e4
    [0.04, 0.52, 1.0, 0.85714343, 4e-06]
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Optional, Union

from graphc.errors import ArgumentError, ArgumentTypeError
from graphc.optim.lr_scheduler import LRScheduler
from graphc.optim.optimizer import Optimizer

Number = Union[float, Sequence[float]]


class OneCycleLR(LRScheduler):
    """``torch.optim.lr_scheduler.OneCycleLR``; call ``step()`` after every batch.

    The rate starts at ``max_lr / div_factor``, rises to ``max_lr`` over the first
    ``pct_start`` of ``total_steps`` (or ``epochs * steps_per_epoch``), then falls to
    ``initial_lr / final_div_factor``; ``three_phase`` comes back down to the start first and
    only then falls. Each phase interpolates with a cosine (``anneal_strategy='cos'``) or a
    line (``'linear'``). With ``cycle_momentum`` the momentum (SGD's ``momentum``, or
    ``betas[0]`` for Adam-like optimizers) moves the opposite way, between ``max_momentum``
    and ``base_momentum``. A compiled training step reads the cycled momentum as a graph
    input, like the learning rate, so it does not retrace at every step.
    """

    def __init__(self, optimizer: Optimizer, max_lr: Number, total_steps: Optional[int] = None,
                 epochs: Optional[int] = None, steps_per_epoch: Optional[int] = None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum: Number = 0.85,
                 max_momentum: Number = 0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise ArgumentTypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        self.total_steps = _total_steps(total_steps, epochs, steps_per_epoch)
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ArgumentError(f"expected a float pct_start between 0 and 1, got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ArgumentError(f"anneal_strategy must be 'cos' or 'linear', got "
                                f"{anneal_strategy!r}")
        self._anneal_func_type = anneal_strategy
        up_end = float(pct_start * self.total_steps) - 1
        # (last step of the phase, lr from, lr to, momentum from, momentum to)
        if three_phase:
            self._schedule_phases = [
                _phase(up_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                _phase(float(2 * pct_start * self.total_steps) - 2, "max_lr", "initial_lr",
                       "base_momentum", "max_momentum"),
                _phase(self.total_steps - 1, "initial_lr", "min_lr", "max_momentum",
                       "max_momentum")]
        else:
            self._schedule_phases = [
                _phase(up_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                _phase(self.total_steps - 1, "max_lr", "min_lr", "base_momentum",
                       "max_momentum")]

        max_lrs = _per_group("max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for group, group_max in zip(optimizer.param_groups, max_lrs):
                group["initial_lr"] = group_max / div_factor
                group["max_lr"] = group_max
                group["min_lr"] = group["initial_lr"] / final_div_factor

        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = cycles_momentum(optimizer)
            max_momentums = _per_group("max_momentum", optimizer, max_momentum)
            base_momentums = _per_group("base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                for group, top, base in zip(optimizer.param_groups, max_momentums,
                                            base_momentums):
                    _set_momentum(group, top, self.use_beta1)
                    group["max_momentum"] = top
                    group["base_momentum"] = base
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if step > self.total_steps:
            raise ArgumentError(f"tried to step {step} times; OneCycleLR was given total_steps="
                                f"{self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step <= end_step or i == len(self._schedule_phases) - 1:
                    pct = (step - start_step) / (end_step - start_step)
                    lrs.append(self._anneal(group[phase["start_lr"]], group[phase["end_lr"]],
                                            pct))
                    if self.cycle_momentum:
                        momentum = self._anneal(group[phase["start_momentum"]],
                                                group[phase["end_momentum"]], pct)
                        _set_momentum(group, momentum, self.use_beta1)
                    break
                start_step = end_step
        return lrs


def cycles_momentum(optimizer: Optimizer) -> bool:
    """Prepares ``optimizer`` for a schedule that cycles its momentum (SGD's ``momentum``, or
    ``betas[0]``: a graph input of compiled steps from now on); whether it is ``betas[0]``."""
    if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
        raise ArgumentError("optimizer must support momentum or beta1 with the cycle_momentum "
                            "option enabled")
    use_beta1 = "betas" in optimizer.defaults
    optimizer._scheduled_hyperparameters.add("betas" if use_beta1 else "momentum")
    return use_beta1


def _phase(end_step, start_lr, end_lr, start_momentum, end_momentum) -> dict:
    return dict(end_step=end_step, start_lr=start_lr, end_lr=end_lr,
                start_momentum=start_momentum, end_momentum=end_momentum)


def _set_momentum(group: dict, value: float, use_beta1: bool) -> None:
    if use_beta1:
        group["betas"] = (value, *group["betas"][1:])
    else:
        group["momentum"] = value


def _total_steps(total_steps, epochs, steps_per_epoch) -> int:
    if total_steps is not None:
        if not isinstance(total_steps, int) or total_steps <= 0:
            raise ArgumentError(f"expected a positive integer total_steps, got {total_steps!r}")
        return total_steps
    if epochs is None or steps_per_epoch is None:
        raise ArgumentError("OneCycleLR needs total_steps, or epochs and steps_per_epoch")
    for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
        if not isinstance(value, int) or value <= 0:
            raise ArgumentError(f"expected a positive integer {name}, got {value!r}")
    return epochs * steps_per_epoch


def _per_group(name: str, optimizer: Optimizer, value: Number) -> list:
    groups = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != groups:
            raise ArgumentError(f"expected {groups} values for {name} (one per parameter group), "
                                f"got {len(value)}")
        return list(value)
    return [value] * groups
