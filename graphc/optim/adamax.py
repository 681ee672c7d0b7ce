"""Adamax: Adam with the infinity norm.

    >>> import graphc
    >>> from graphc.nn import Parameter
    >>> w = Parameter(graphc.tensor([1.0, -1.0]))
    >>> opt = graphc.optim.Adamax([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> [round(v, 4) for v in w.tolist()]   # the first step moves by lr * g / (|g| + eps)
    [0.9, -0.9]
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Optional

from graphc import autograd
from graphc.factories import zeros_like
from graphc.functions import maximum
from graphc.optim.adam import _check_adam_args, adam_family_parameters
from graphc.optim.optimizer import Optimizer


class Adamax(Optimizer):
    """``torch.optim.Adamax``: for each parameter with a gradient ``g``, at step ``t``::

        g = -g if maximize else g
        g = g + weight_decay * p                        (if weight_decay != 0)
        m = beta1 * m + (1 - beta1) * g                 (state 'exp_avg')
        u = max(beta2 * u, |g| + eps)                   (state 'exp_inf')
        p = p - lr / (1 - beta1**t) * m / u

    ``foreach`` is accepted for PyTorch compatibility and ignored.
    """

    def __init__(self, params, lr: float = 2e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, foreach: Optional[bool] = None, *,
                 maximize: bool = False):
        _check_adam_args(type(self).__name__, lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, foreach=foreach,
                                      maximize=maximize))

    def step(self, closure: Optional[Callable] = None):
        loss = self._closure_loss(closure)
        with autograd.no_grad():
            for p, g, h in adam_family_parameters(self):
                state = self._state(p, {"step": self._step_tensor,
                                        "exp_avg": lambda p=p: zeros_like(p),
                                        "exp_inf": lambda p=p: zeros_like(p)})
                t = self._exact(state["step"].add_(1))
                m, u = state["exp_avg"], state["exp_inf"]
                m.copy_(m + (1 - h.beta1) * (g - m))
                u.copy_(maximum(h.beta2 * u, g.abs() + h.eps))
                p.sub_(h.lr / (1 - h.beta1 ** t) * m / u)
        return loss
