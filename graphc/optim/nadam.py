"""NAdam: Adam with Nesterov momentum.

    >>> import graphc
    >>> from graphc.nn import Parameter
    >>> w = Parameter(graphc.tensor([1.0, -1.0]))
    >>> opt = graphc.optim.NAdam([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> [round(v, 3) for v in w.tolist()]   # lr * sign(g) plus a Nesterov look-ahead of m
    [0.894, -0.894]
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import numpy as np

from graphc import autograd
from graphc.errors import ArgumentError
from graphc.factories import zeros_like
from graphc.optim.adam import _check_adam_args, adam_family_parameters
from graphc.optim.optimizer import Optimizer, check_numbers
from graphc.tensor import Tensor


class NAdam(Optimizer):
    """``torch.optim.NAdam``: for each parameter with a gradient ``g``, at step ``t``::

        g = -g if maximize else g
        p = p * (1 - lr * weight_decay)                 (decoupled_weight_decay)
        g = g + weight_decay * p                        (otherwise, if weight_decay != 0)
        mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        mu_product = mu_product * mu_t                  (state 'mu_product', starts at 1)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        denom = sqrt(v / (1 - beta2**t)) + eps
        p = p - lr * (1 - mu_t) / (1 - mu_product) * g / denom
              - lr * mu_next / (1 - mu_product * mu_next) * m / denom

    As in PyTorch, ``mu_product`` is a float32 scalar tensor (like ``step``) whatever the
    parameter's dtype, and ``mu_product * mu_t`` is rounded to float32.
    """

    _scalar_state = ("step", "mu_product")

    def __init__(self, params, lr: float = 2e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: Optional[bool] = None,
                 maximize: bool = False):
        _check_adam_args(type(self).__name__, lr, betas, eps, weight_decay)
        check_numbers("NAdam", momentum_decay=momentum_decay)
        if momentum_decay < 0.0:
            raise ArgumentError(f"invalid momentum_decay value: {momentum_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      foreach=foreach, maximize=maximize))

    def step(self, closure: Optional[Callable] = None):
        loss = self._closure_loss(closure)
        with autograd.no_grad():
            for p, g, h in adam_family_parameters(self, "decoupled_weight_decay",
                                                  extra=("momentum_decay",)):
                state = self._state(p, {"step": self._step_tensor,
                                        "mu_product": _float32_one,
                                        "exp_avg": lambda p=p: zeros_like(p),
                                        "exp_avg_sq": lambda p=p: zeros_like(p)})
                t = self._exact(state["step"].add_(1))
                beta1, lr, eps = h.beta1, h.lr, h.eps
                mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * h.momentum_decay))
                mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * h.momentum_decay))
                mu_product = state["mu_product"]
                mu_product.copy_(mu_product * mu.to(mu_product.dtype))
                mu_product_now = self._exact(mu_product)
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.copy_(m + (1 - beta1) * (g - m))
                v.copy_(h.beta2 * v + (1 - h.beta2) * (g * g))
                denom = (v / (1 - h.beta2 ** t)).sqrt() + eps
                p.sub_(lr * (1.0 - mu) / (1.0 - mu_product_now) * g / denom)
                p.sub_(lr * mu_next / (1.0 - mu_product_now * mu_next) * m / denom)
        return loss


def _float32_one() -> Tensor:
    return Tensor._wrap(np.ones((), dtype=np.float32))
