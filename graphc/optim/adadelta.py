"""Adadelta.

    >>> import graphc
    >>> from graphc.nn import Parameter
    >>> w = Parameter(graphc.tensor([1.0], dtype=graphc.float64))
    >>> opt = graphc.optim.Adadelta([w])
    >>> (w * 4.0).sum().backward(); opt.step()
    >>> round(w.item(), 6)   # 1 - sqrt(1e-6) / sqrt(0.1 * 16 + 1e-6) * 4
    0.996838
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Optional

from graphc import autograd
from graphc.errors import ArgumentError
from graphc.factories import zeros_like
from graphc.optim.optimizer import Optimizer, check_numbers


class Adadelta(Optimizer):
    """``torch.optim.Adadelta``: for each parameter with a gradient ``g``::

        g = -g if maximize else g
        g = g + weight_decay * p                        (if weight_decay != 0)
        v = rho * v + (1 - rho) * g**2                  (state 'square_avg')
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta**2              (state 'acc_delta')
        p = p - lr * delta

    ``foreach`` is accepted for PyTorch compatibility and ignored (a compiled step fuses the
    updates of all parameters anyway).
    """

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, foreach: Optional[bool] = None, *,
                 maximize: bool = False):
        check_numbers("Adadelta", lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)
        if lr < 0.0:
            raise ArgumentError(f"invalid learning rate: {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ArgumentError(f"invalid rho value: {rho} (need 0 <= rho <= 1)")
        if eps < 0.0:
            raise ArgumentError(f"invalid epsilon value: {eps}")
        if weight_decay < 0.0:
            raise ArgumentError(f"invalid weight_decay value: {weight_decay}")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      foreach=foreach, maximize=maximize))

    def step(self, closure: Optional[Callable] = None):
        loss = self._closure_loss(closure)
        with autograd.no_grad():
            for i, group in enumerate(self.param_groups):
                rho = self._hyper(i, "rho")
                eps = self._hyper(i, "eps")
                weight_decay = self._hyper(i, "weight_decay")
                maximize = self._hyper(i, "maximize")
                for p, g in self._params_with_grad(group):
                    lr = self._lr(i, p)
                    state = self._state(p, {"step": self._step_tensor,
                                            "square_avg": lambda p=p: zeros_like(p),
                                            "acc_delta": lambda p=p: zeros_like(p)})
                    state["step"].add_(1)
                    if maximize:
                        g = -g
                    if weight_decay != 0:
                        g = g + weight_decay * p
                    square_avg, acc_delta = state["square_avg"], state["acc_delta"]
                    square_avg.copy_(rho * square_avg + (1 - rho) * (g * g))
                    delta = (acc_delta + eps).sqrt() / (square_avg + eps).sqrt() * g
                    acc_delta.copy_(rho * acc_delta + (1 - rho) * (delta * delta))
                    p.sub_(lr * delta)
        return loss
