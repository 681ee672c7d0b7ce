"""Adagrad.

    >>> import graphc
    >>> from graphc.nn import Parameter
    >>> w = Parameter(graphc.tensor([1.0]))
    >>> opt = graphc.optim.Adagrad([w], lr=0.5)
    >>> (w * 4.0).sum().backward(); opt.step()
    >>> round(w.item(), 6)   # first step: lr * g / sqrt(g**2)
    0.5
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Optional

from graphc import autograd
from graphc.errors import ArgumentError
from graphc.factories import full_like
from graphc.optim.optimizer import Optimizer, check_numbers, implementation_switches


class Adagrad(Optimizer):
    """``torch.optim.Adagrad``: for each parameter with a gradient ``g``, at step ``t``::

        g = -g if maximize else g
        lr_t = lr / (1 + (t - 1) * lr_decay)
        g = g + weight_decay * p                        (if weight_decay != 0)
        s = s + g**2                                    (s starts at initial_accumulator_value)
        p = p - lr_t * g / (sqrt(s) + eps)

    As in PyTorch, the state (``step``, ``sum``) is created with the optimizer.
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10,
                 foreach: Optional[bool] = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: Optional[bool] = None):
        check_numbers("Adagrad", lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                      initial_accumulator_value=initial_accumulator_value, eps=eps)
        for name, value in (("learning rate", lr), ("lr_decay", lr_decay),
                            ("weight_decay value", weight_decay),
                            ("initial_accumulator_value", initial_accumulator_value),
                            ("epsilon value", eps)):
            if value < 0.0:
                raise ArgumentError(f"invalid {name}: {value}")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize,
                                      **implementation_switches("Adagrad", foreach=foreach,
                                                                differentiable=differentiable,
                                                                fused=fused)))
        for group in self.param_groups:
            for p in group["params"]:
                self._state(p, self._init(group, p))

    def _init(self, group: dict, p) -> dict:
        value = group["initial_accumulator_value"]
        return {"step": self._step_tensor, "sum": lambda: full_like(p, value)}

    def step(self, closure: Optional[Callable] = None):
        loss = self._closure_loss(closure)
        with autograd.no_grad():
            for i, group in enumerate(self.param_groups):
                lr_decay = self._hyper(i, "lr_decay")
                weight_decay = self._hyper(i, "weight_decay")
                eps = self._hyper(i, "eps")
                maximize = self._hyper(i, "maximize")
                for p, g in self._params_with_grad(group):
                    lr = self._lr(i, p)
                    if p not in self.state or "sum" not in self.state[p]:
                        self._hyper(i, "initial_accumulator_value")
                    state = self._state(p, self._init(group, p))
                    step = state["step"].add_(1)
                    if maximize:
                        g = -g
                    if weight_decay != 0:
                        g = g + weight_decay * p
                    clr = lr / (1 + (self._exact(step) - 1) * lr_decay)
                    total = state["sum"]
                    total.copy_(total + g * g)
                    p.sub_(clr * g / (total.sqrt() + eps))
        return loss
