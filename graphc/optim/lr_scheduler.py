"""Learning-rate schedulers (``graphc.optim.lr_scheduler``), following PyTorch.

A scheduler writes ``group['lr']`` of its optimizer's groups; call ``scheduler.step()`` once per
epoch, after ``optimizer.step()``. A compiled training step reads the learning rate as a graph
input at every call, so schedules never cause a retrace.

    >>> import graphc
    >>> from graphc.nn import Parameter
    >>> opt = graphc.optim.SGD([Parameter(graphc.zeros(1))], lr=1.0)
    >>> sched = graphc.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    >>> lrs = []
    >>> for epoch in range(5):
    ...     lrs.append(sched.get_last_lr()[0]); opt.step(); sched.step()
    >>> lrs
    [1.0, 1.0, 0.5, 0.5, 0.25]
"""
from __future__ import annotations

import bisect
import functools
import math
import types
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Optional, Union

from graphc.autograd import no_grad
from graphc.optim.optimizer import Optimizer
from graphc.tensor import Tensor


def set_group_value(group: dict, key: str, value) -> None:
    """``group[key] = value``; a tensor there (``SGD(params, lr=graphc.tensor(0.1))``) is
    filled in place instead, as PyTorch's schedulers do, so the tensor the user holds follows
    the schedule."""
    held = group[key]
    if isinstance(held, Tensor):
        with no_grad():
            held.fill_(float(value))
    else:
        group[key] = value


def refuse_in_trace(scheduler) -> None:
    """A scheduler's step changes the learning rate by Python code that a compiled call does
    not run again (the rate is a graph input, read before each call): refused while tracing,
    at its first step, not at the first step that changes the rate (StepLR's 1000th)."""
    from graphc import tracing
    if tracing.current() is not None:
        raise tracing.TraceError(
            f"{type(scheduler).__name__}.step() inside a compiled function: a compiled call "
            f"does not run it again, and reads the learning rate before it runs. Step the "
            f"scheduler after the call, outside the compiled function")


class LRScheduler:
    """Base class: ``base_lrs`` are the groups' initial learning rates, ``last_epoch`` counts
    calls to :meth:`step` (0 right after construction, which applies the epoch-0 rate).

    Subclasses define :meth:`get_lr` (the rates for ``last_epoch``, possibly from the current
    ones) and may define :meth:`_get_closed_form_lr` (used by ``step(epoch)``).
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:  # (a copy of a tensor lr, which is filled)
                lr = group["lr"]
                group.setdefault("initial_lr", lr.clone() if isinstance(lr, Tensor) else lr)
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] "
                                   "when resuming a scheduler (last_epoch != -1)")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        """The step construction makes: applies the epoch-0 rate (``_is_initial`` while it runs,
        which recursive schedules use to leave the starting rate alone, as PyTorch's do)."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        raise NotImplementedError(f"{type(self).__name__} does not implement get_lr()")

    def get_last_lr(self) -> list[float]:
        """The learning rates the last :meth:`step` set, one per parameter group."""
        return list(self._last_lr)

    def step(self, epoch: Optional[int] = None) -> None:
        """Advances one epoch (or jumps to ``epoch``) and writes the new rates to the optimizer."""
        refuse_in_trace(self)
        self._step_count += 1
        self._update_lr(epoch)

    def _update_lr(self, epoch: Optional[int] = None) -> None:
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            closed = getattr(self, "_get_closed_form_lr", None)
            values = closed() if closed is not None else self.get_lr()
        self._apply_lrs(values)

    def _apply_lrs(self, values) -> None:
        """Sets each group's learning rate (a tensor one filled in place), and notes them."""
        for group, lr in zip(self.optimizer.param_groups, values):
            set_group_value(group, "lr", lr)
        self._last_lr = self._snapshot_lrs()

    def _current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def _snapshot_lrs(self) -> list:
        """The current rates for ``get_last_lr()``: a tensor rate copied, since the schedule
        fills that tensor in place at the next step (PyTorch copies it too)."""
        return [lr.clone() if isinstance(lr, Tensor) else lr for lr in self._current_lrs()]

    def state_dict(self) -> dict:
        """Everything but the optimizer (and functions, which cannot be saved)."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(state_dict)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, last_lr={self._last_lr})"


_LRScheduler = LRScheduler  # PyTorch's old name


class StepLR(LRScheduler):
    """Multiplies the rate by ``gamma`` every ``step_size`` epochs:
    ``lr = base_lr * gamma ** (epoch // step_size)``."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1):
        if int(step_size) != step_size or step_size <= 0:
            raise ValueError(f"step_size must be a positive integer, got {step_size}")
        self.step_size = int(step_size)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        # recursive like PyTorch, so that chained schedulers and manual changes compose
        current = [group["lr"] for group in self.optimizer.param_groups]
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return current
        return [lr * self.gamma for lr in current]

    def _get_closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiplies the rate by ``gamma`` at each milestone epoch (by ``gamma ** n`` at a
    milestone listed ``n`` times): ``lr = base_lr * gamma ** (milestones passed)``.

        >>> import graphc
        >>> opt = graphc.optim.SGD([graphc.nn.Parameter(graphc.zeros(1))], lr=1.0)
        >>> sched = graphc.optim.lr_scheduler.MultiStepLR(opt, milestones=[1, 3], gamma=0.5)
        >>> lrs = []
        >>> for epoch in range(4):
        ...     lrs.append(sched.get_last_lr()[0]); opt.step(); sched.step()
        >>> lrs
        [1.0, 0.5, 0.5, 0.25]
    """

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1):
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch not in self.milestones:
            return self._current_lrs()
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [lr * factor for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        passed = bisect.bisect_right(sorted(self.milestones.elements()), self.last_epoch)
        return [base * self.gamma ** passed for base in self.base_lrs]


class ConstantLR(LRScheduler):
    """Multiplies the rate by ``factor`` until epoch ``total_iters``, then restores it."""

    def __init__(self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5,
                 last_epoch: int = -1):
        if not 0 <= factor <= 1.0:
            raise ValueError(f"ConstantLR factor must be between 0 and 1, got {factor}")
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [lr * self.factor for lr in self._current_lrs()]
        if self.last_epoch != self.total_iters:
            return self._current_lrs()
        return [lr * (1.0 / self.factor) for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        reached = self.last_epoch >= self.total_iters
        return [base * (self.factor + reached * (1 - self.factor)) for base in self.base_lrs]


class LinearLR(LRScheduler):
    """Scales the rate by a factor going linearly from ``start_factor`` (epoch 0) to
    ``end_factor`` (epoch ``total_iters`` and after)::

        lr = base_lr * (start + (end - start) * min(epoch, total_iters) / total_iters)

    Applied recursively (each step multiplies the current rate), as PyTorch does, so that it
    chains with other schedulers.
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3,
                 end_factor: float = 1.0, total_iters: int = 5, last_epoch: int = -1):
        if not 0 < start_factor <= 1.0:
            raise ValueError(f"LinearLR start_factor must be in (0, 1], got {start_factor}")
        if not 0 <= end_factor <= 1.0:
            raise ValueError(f"LinearLR end_factor must be in [0, 1], got {end_factor}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._current_lrs()]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current_lrs()
        change = self.end_factor - self.start_factor
        # the ratio of this epoch's factor to the previous one's
        ratio = 1.0 + change / (self.total_iters * self.start_factor
                                + (self.last_epoch - 1) * change)
        return [lr * ratio for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        fraction = min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * (self.start_factor + (self.end_factor - self.start_factor) * fraction)
                for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiplies the rate by ``gamma`` every epoch: ``lr = base_lr * gamma ** epoch``."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    """Decays the rate to 0 over ``total_iters`` epochs with a polynomial of degree ``power``:
    ``lr = base_lr * (1 - min(epoch, total_iters) / total_iters) ** power`` (applied
    recursively, as PyTorch does)."""

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0,
                 last_epoch: int = -1):
        self.total_iters = total_iters
        self.power = power
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current_lrs()
        decay = ((1.0 - self.last_epoch / self.total_iters)
                 / (1.0 - (self.last_epoch - 1) / self.total_iters)) ** self.power
        return [lr * decay for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        remaining = 1.0 - min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * remaining ** self.power for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from the base rate down to ``eta_min`` over ``T_max`` epochs::

        lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2

    Applied recursively (each step rescales the current rate by the ratio of two consecutive
    cosine factors), as PyTorch does: equal to the closed form, to rounding, when nothing else
    changes the rate, and composing with other schedulers when something does. Past ``T_max``
    the cosine continues (the rate rises again).
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1):
        if T_max <= 0:
            raise ValueError(f"T_max must be positive, got {T_max}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        epoch, t_max, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if self._step_count == 1 and epoch > 0:  # resumed: nothing to rescale yet
            return self._get_closed_form_lr()
        if (epoch - 1 - t_max) % (2 * t_max) == 0:  # the bottom of the cosine: the ratio is 0/0
            return [lr + (base - eta_min) * (1 - math.cos(math.pi / t_max)) / 2
                    for base, lr in zip(self.base_lrs, self._current_lrs())]
        ratio = (1 + math.cos(math.pi * epoch / t_max)) / (1 + math.cos(math.pi * (epoch - 1) / t_max))
        return [ratio * (lr - eta_min) + eta_min for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        factor = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [self.eta_min + (base - self.eta_min) * factor for base in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing restarted every cycle (SGDR): the first cycle lasts ``T_0`` epochs, each
    next one ``T_mult`` times longer::

        lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2

    with ``T_cur`` the epochs since the last restart. ``step(epoch)`` accepts fractional epochs
    (``scheduler.step(epoch + i / iters_per_epoch)`` inside an epoch).

        >>> import graphc
        >>> opt = graphc.optim.SGD([graphc.nn.Parameter(graphc.zeros(1))], lr=1.0)
        >>> sched = graphc.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2)
        >>> lrs = []
        >>> for epoch in range(5):
        ...     lrs.append(round(sched.get_last_lr()[0], 3)); opt.step(); sched.step()
        >>> lrs
        [1.0, 0.5, 1.0, 0.5, 1.0]
    """

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0,
                 last_epoch: int = -1):
        if not isinstance(T_0, int) or T_0 <= 0:
            raise ValueError(f"expected a positive integer T_0, got {T_0!r}")
        if not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"expected an integer T_mult >= 1, got {T_mult!r}")
        if not isinstance(eta_min, (float, int)):
            raise ValueError(f"expected a float eta_min, got {type(eta_min).__name__}")
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur: float = last_epoch  # epochs since the last restart (fractional with step(epoch))
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        factor = (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
        return [self.eta_min + (base - self.eta_min) * factor for base in self.base_lrs]

    def step(self, epoch: Optional[float] = None) -> None:
        """One epoch further, or to ``epoch`` (fractional epochs allowed)."""
        refuse_in_trace(self)
        self._step_count += 1
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        elif epoch < 0:
            raise ValueError(f"expected a non-negative epoch, got {epoch}")
        elif epoch < self.T_0:
            self.T_i = self.T_0
            self.T_cur = epoch
        elif self.T_mult == 1:
            self.T_cur = epoch % self.T_0
        else:
            # cycles before this one: T_0 * (1 + T_mult + ... + T_mult**(n-1)) <= epoch
            n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
            self.T_cur = epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1)
            self.T_i = self.T_0 * self.T_mult ** n
        self.last_epoch = math.floor(epoch)
        self._apply_lrs(self.get_lr())


class LambdaLR(LRScheduler):
    """``lr = base_lr * lr_lambda(epoch)``; ``lr_lambda`` is one function or one per group."""

    def __init__(self, optimizer: Optimizer,
                 lr_lambda: Union[Callable[[int], float], Sequence[Callable[[int], float]]],
                 last_epoch: int = -1):
        groups = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != groups:
                raise ValueError(f"expected {groups} lr_lambdas (one per parameter group), "
                                 f"got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * groups
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * fn(self.last_epoch) for base, fn in zip(self.base_lrs, self.lr_lambdas)]

    def state_dict(self) -> dict:
        """Like the base class; plain functions are left out (saved as None), callable objects
        contribute their attributes, as in PyTorch."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [None if _is_function(fn) else dict(vars(fn))
                               for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state = dict(state_dict)
        saved = state.pop("lr_lambdas", None) or []
        self.__dict__.update(state)
        for fn, attrs in zip(self.lr_lambdas, saved):
            if attrs is not None:
                vars(fn).update(attrs)


class MultiplicativeLR(LambdaLR):
    """Multiplies the current rate by ``lr_lambda(epoch)`` at every step (epoch 0 excepted);
    ``lr_lambda`` is one function or one per group."""

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._current_lrs()
        return [lr * fn(self.last_epoch) for lr, fn in zip(self._current_lrs(), self.lr_lambdas)]


class SequentialLR(LRScheduler):
    """Runs ``schedulers`` one after another: the ``i``-th from epoch ``milestones[i - 1]`` on,
    restarted there (its epoch 0). ``len(milestones) == len(schedulers) - 1``.

        >>> import graphc
        >>> from graphc.optim import lr_scheduler
        >>> opt = graphc.optim.SGD([graphc.nn.Parameter(graphc.zeros(1))], lr=1.0)
        >>> warmup = lr_scheduler.LinearLR(opt, start_factor=0.25, total_iters=2)
        >>> decay = lr_scheduler.ExponentialLR(opt, gamma=0.5)
        >>> sched = lr_scheduler.SequentialLR(opt, [warmup, decay], milestones=[2])
        >>> lrs = []
        >>> for epoch in range(5):
        ...     lrs.append(sched.get_last_lr()[0]); opt.step(); sched.step()
        >>> lrs
        [0.25, 0.625, 1.0, 0.5, 0.25]
    """

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler],
                 milestones: Sequence[int], last_epoch: int = -1):
        _check_same_optimizer(type(self).__name__, optimizer, schedulers)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR needs one milestone fewer than schedulers, got "
                             f"{len(schedulers)} schedulers and {len(milestones)} milestones")
        self._schedulers = list(schedulers)
        self._milestones = list(milestones)
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        # the schedulers' constructors each took a step: undo them and start the first one
        for group in optimizer.param_groups:
            set_group_value(group, "lr", group["initial_lr"])
        for scheduler in self._schedulers:
            _undo_step(scheduler)
        first = self._schedulers[bisect.bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self) -> None:  # type: ignore[override]
        refuse_in_trace(self)
        self.last_epoch += 1
        index = bisect.bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[index]
        if index > 0 and self._milestones[index - 1] == self.last_epoch:
            scheduler._update_lr(0)  # the scheduler's own epoch 0, in closed form
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self) -> dict:
        return _with_children_state(self)

    def load_state_dict(self, state_dict: dict) -> None:
        _load_with_children_state(self, state_dict)


class ChainedScheduler(LRScheduler):
    """Steps several schedulers together, so that their changes compose (e.g. a constant
    warm-up factor on top of an exponential decay)."""

    def __init__(self, schedulers: Sequence[LRScheduler], optimizer: Optional[Optimizer] = None):
        if len(schedulers) < 1:
            raise ValueError("ChainedScheduler needs at least one scheduler")
        optimizer = optimizer or schedulers[0].optimizer
        _check_same_optimizer(type(self).__name__, optimizer, schedulers)
        self._schedulers = list(schedulers)
        self.optimizer = optimizer
        self._last_lr = self._snapshot_lrs()

    def step(self) -> None:  # type: ignore[override]
        refuse_in_trace(self)
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = self._snapshot_lrs()

    def state_dict(self) -> dict:
        return _with_children_state(self)

    def load_state_dict(self, state_dict: dict) -> None:
        _load_with_children_state(self, state_dict)


def _check_same_optimizer(owner: str, optimizer, schedulers) -> None:
    from graphc.optim.lr_plateau import ReduceLROnPlateau
    if len(schedulers) < 1:
        raise ValueError(f"{owner} needs at least one scheduler")
    for i, scheduler in enumerate(schedulers):
        if not hasattr(scheduler, "optimizer"):
            raise TypeError(f"{owner}: schedulers[{i}] is a {type(scheduler).__name__}, not a "
                            "learning-rate scheduler")
        if isinstance(scheduler, ReduceLROnPlateau):
            raise ValueError(f"{owner} does not support ReduceLROnPlateau (schedulers[{i}]): "
                             "its step needs the metric")
        if scheduler.optimizer is not optimizer:
            raise ValueError(f"{owner}: schedulers[{i}] ({type(scheduler).__name__}) belongs to "
                             "another optimizer")


def _undo_step(scheduler) -> None:
    children = getattr(scheduler, "_schedulers", None)
    if children is not None:
        for child in children:
            _undo_step(child)
    elif hasattr(scheduler, "last_epoch"):
        scheduler.last_epoch -= 1


def _with_children_state(scheduler) -> dict:
    state = {k: v for k, v in scheduler.__dict__.items() if k not in ("optimizer", "_schedulers")}
    state["_schedulers"] = [child.state_dict() for child in scheduler._schedulers]
    return state


def _load_with_children_state(scheduler, state_dict: dict) -> None:
    state = dict(state_dict)
    children = state.pop("_schedulers")
    scheduler.__dict__.update(state)
    for child, child_state in zip(scheduler._schedulers, children):
        child.load_state_dict(child_state)


def _is_function(fn) -> bool:
    """Plain functions, lambdas, methods and partials: their state is code, not data."""
    return (isinstance(fn, (types.FunctionType, types.MethodType, types.BuiltinFunctionType,
                            functools.partial)) or not hasattr(fn, "__dict__"))


# schedules with their own module, importable from here as in PyTorch
from graphc.optim.lr_cyclic import CyclicLR  # noqa: E402
from graphc.optim.lr_one_cycle import OneCycleLR  # noqa: E402
from graphc.optim.lr_plateau import ReduceLROnPlateau  # noqa: E402

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR", "ExponentialLR",
           "PolynomialLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "LambdaLR",
           "MultiplicativeLR", "SequentialLR", "ChainedScheduler", "OneCycleLR",
           "CyclicLR", "ReduceLROnPlateau"]
