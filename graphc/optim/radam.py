"""RAdam: Adam with a rectified adaptive learning rate.

    >>> import graphc
    >>> from graphc.nn import Parameter
    >>> w = Parameter(graphc.tensor([1.0, -1.0]))
    >>> opt = graphc.optim.RAdam([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> [round(v, 4) for v in w.tolist()]   # early steps are SGD with momentum: p - lr * m_hat
    [0.8, -0.8]
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Optional

from graphc import autograd
from graphc.factories import zeros_like
from graphc.functions import where
from graphc.optim.adam import _check_adam_args, adam_family_parameters
from graphc.optim.optimizer import Optimizer


class RAdam(Optimizer):
    """``torch.optim.RAdam``: for each parameter with a gradient ``g``, at step ``t``::

        g = -g if maximize else g
        p = p * (1 - lr * weight_decay)                 (decoupled_weight_decay)
        g = g + weight_decay * p                        (otherwise, if weight_decay != 0)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
        if rho_t > 5:
            r = sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            p = p - lr * m_hat * r * sqrt(1 - beta2**t) / (sqrt(v) + eps)
        else:
            p = p - lr * m_hat

    The branch on ``rho_t`` is a ``where`` on the tensor step count, so a compiled training
    step traces one graph for the early (SGD-like) and the later (rectified) steps.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled_weight_decay: bool = False, *,
                 foreach: Optional[bool] = None, maximize: bool = False):
        _check_adam_args(type(self).__name__, lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      foreach=foreach, maximize=maximize))

    def step(self, closure: Optional[Callable] = None):
        loss = self._closure_loss(closure)
        with autograd.no_grad():
            for p, g, h in adam_family_parameters(self, "decoupled_weight_decay"):
                state = self._state(p, {"step": self._step_tensor,
                                        "exp_avg": lambda p=p: zeros_like(p),
                                        "exp_avg_sq": lambda p=p: zeros_like(p)})
                t = self._exact(state["step"].add_(1))
                beta2 = h.beta2
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.copy_(m + (1 - h.beta1) * (g - m))
                v.copy_(beta2 * v + (1 - beta2) * (g * g))
                m_hat = m / (1 - h.beta1 ** t)
                bias_correction2 = 1 - beta2 ** t
                rho_inf = 2 / (1 - beta2) - 1
                rho_t = rho_inf - 2 * t * beta2 ** t / bias_correction2
                rectified = rho_t > 5.0
                # the radicand is negative for some early steps: keep it off the unused branch
                radicand = where(rectified, (rho_t - 4) * (rho_t - 2) * rho_inf
                                 / ((rho_inf - 4) * (rho_inf - 2) * rho_t), 1.0)
                adaptive = radicand.sqrt() * bias_correction2.sqrt() / (v.sqrt() + h.eps)
                p.sub_(m_hat * h.lr * where(rectified, adaptive, 1.0))
        return loss
