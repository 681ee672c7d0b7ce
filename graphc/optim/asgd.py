"""ASGD: averaged stochastic gradient descent.

    >>> import graphc
    >>> from graphc.nn import Parameter
    >>> w = Parameter(graphc.tensor([1.0], dtype=graphc.float64))
    >>> opt = graphc.optim.ASGD([w], lr=0.1)
    >>> (w * 2.0).sum().backward(); opt.step()
    >>> round(w.item(), 6)   # 1 * (1 - lambd * lr) - lr * 2
    0.79999
    >>> round(opt.state[w]["ax"].item(), 6)   # the running average (mu = 1 until step t0)
    0.79999
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import numpy as np

from graphc import autograd
from graphc.errors import ArgumentError
from graphc.factories import zeros_like
from graphc.functions import maximum, where
from graphc.optim.optimizer import Optimizer, check_numbers, implementation_switches
from graphc.tensor import Tensor
from ir import dtypes


class ASGD(Optimizer):
    """``torch.optim.ASGD``: for each parameter with a gradient ``g``, at step ``t``::

        g = -g if maximize else g
        g = g + weight_decay * p                          (if weight_decay != 0)
        p = p * (1 - lambd * eta) - eta * g               (state 'eta', lr at first)
        ax = p if mu == 1 else ax + mu * (p - ax)         (state 'ax', the average; 'mu', 1)
        eta = lr / (1 + lambd * lr * t) ** alpha
        mu = 1 / max(1, t - t0)

    ``eta`` and ``mu`` are float32 scalars as in PyTorch (the float64 default dtype makes
    them float64), computed from the step count in float64 as PyTorch's Python floats are.
    """

    _scalar_state = ("step", "eta", "mu")

    def __init__(self, params, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75,
                 t0: float = 1e6, weight_decay: float = 0.0, foreach: Optional[bool] = None,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False):
        check_numbers("ASGD", lr=lr, lambd=lambd, alpha=alpha, t0=t0,
                      weight_decay=weight_decay)
        if lr < 0.0:
            raise ArgumentError(f"invalid learning rate: {lr}")
        if weight_decay < 0.0:
            raise ArgumentError(f"invalid weight_decay value: {weight_decay}")
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0,
                                      weight_decay=weight_decay, maximize=maximize,
                                      **implementation_switches("ASGD", foreach=foreach,
                                                                capturable=capturable,
                                                                differentiable=differentiable)))

    def step(self, closure: Optional[Callable] = None):
        loss = self._closure_loss(closure)
        with autograd.no_grad():
            for i, group in enumerate(self.param_groups):
                lambd = self._hyper(i, "lambd")
                alpha = self._hyper(i, "alpha")
                t0 = self._hyper(i, "t0")
                weight_decay = self._hyper(i, "weight_decay")
                maximize = self._hyper(i, "maximize")
                for p, g in self._params_with_grad(group):
                    first_eta = dict.__getitem__(group, "lr")
                    state = self._state(p, {
                        "step": self._step_tensor,
                        "eta": lambda lr=first_eta: _scalar(lr),
                        "mu": lambda: _scalar(1.0),
                        "ax": lambda p=p: zeros_like(p)})
                    t = self._exact(state["step"].add_(1))
                    if maximize:
                        g = -g
                    if weight_decay != 0:
                        g = g + weight_decay * p
                    eta, mu, ax = state["eta"], state["mu"], state["ax"]
                    eta_now = self._exact(eta)
                    p.mul_(1 - lambd * eta_now)
                    p.sub_(eta_now * g)
                    ax.copy_(where(mu == 1, p, ax + (p - ax) * mu))
                    lr = self._lr(i, t)
                    eta.copy_(lr / (1 + lambd * lr * t) ** alpha)
                    mu.copy_(1 / maximum(t - t0, 1.0))
        return loss


def _scalar(value: float) -> Tensor:
    """A scalar state entry in PyTorch's scalar dtype (float32; float64 by default dtype)."""
    dtype = np.float64 if dtypes.DEFAULT_FLOAT == dtypes.f64 else np.float32
    return Tensor._wrap(np.asarray(value, dtype=dtype))
