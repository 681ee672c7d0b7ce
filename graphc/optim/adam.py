"""Adam and AdamW.

    >>> import graphc
    >>> from graphc.nn import Parameter
    >>> w = Parameter(graphc.tensor([1.0, -1.0]))
    >>> opt = graphc.optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> [round(v, 4) for v in w.tolist()]   # the first Adam step moves by lr * sign(g)
    [0.9, -0.9]
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Optional

from graphc import autograd
from graphc.factories import zeros_like
from graphc.functions import maximum
from graphc.optim.optimizer import Optimizer


class Adam(Optimizer):
    """``torch.optim.Adam``: for each parameter with a gradient ``g``, at step ``t``::

        g = -g if maximize else g
        g = g + weight_decay * p                        (Adam; AdamW decays p instead)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        v_max = max(v_max, v)                           (amsgrad: v_max replaces v below)
        p = p - lr * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps)

    ``t`` is ``state['step']``, a float32 scalar tensor, so the bias corrections are tensor ops
    and a compiled training step traces one graph for all steps.
    """

    _decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False):
        _check_adam_args(lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize))

    def step(self, closure: Optional[Callable] = None):
        loss = self._closure_loss(closure)
        with autograd.no_grad():
            for i, group in enumerate(self.param_groups):
                beta1, beta2 = self._hyper(i, "betas")
                eps = self._hyper(i, "eps")
                weight_decay = self._hyper(i, "weight_decay")
                amsgrad = self._hyper(i, "amsgrad")
                maximize = self._hyper(i, "maximize")
                for p, g in self._params_with_grad(group):
                    lr = self._lr(i, p)
                    beta1 = self._cycled(i, "betas", p, item=0)  # OneCycleLR cycles it
                    init = {"step": self._step_tensor,
                            "exp_avg": lambda p=p: zeros_like(p),
                            "exp_avg_sq": lambda p=p: zeros_like(p)}
                    if amsgrad:
                        init["max_exp_avg_sq"] = lambda p=p: zeros_like(p)
                    state = self._state(p, init)
                    if maximize:
                        g = -g
                    if weight_decay != 0:
                        if self._decoupled:
                            p.mul_(1 - lr * weight_decay)
                        else:
                            g = g + weight_decay * p
                    step = state["step"].add_(1)
                    m, v = state["exp_avg"], state["exp_avg_sq"]
                    m.copy_(beta1 * m + (1 - beta1) * g)
                    v.copy_(beta2 * v + (1 - beta2) * (g * g))
                    t = step.to(p.dtype)
                    bias_correction1 = 1 - beta1 ** t
                    bias_correction2 = 1 - beta2 ** t
                    if amsgrad:
                        v_max = state["max_exp_avg_sq"]
                        v_max.copy_(maximum(v_max, v))
                        v = v_max
                    denom = (v / bias_correction2).sqrt() + eps
                    p.sub_(lr * (m / bias_correction1) / denom)
        return loss


class AdamW(Adam):
    """``torch.optim.AdamW``: Adam with decoupled weight decay (default 1e-2).

    The decay shrinks the parameter directly, ``p = p * (1 - lr * weight_decay)``, before the
    Adam update, instead of being added to the gradient.
    """

    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)


def _check_adam_args(lr, betas, eps, weight_decay) -> None:
    if lr < 0.0:
        raise ValueError(f"invalid learning rate: {lr}")
    if eps < 0.0:
        raise ValueError(f"invalid epsilon value: {eps}")
    if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
        raise ValueError(f"invalid betas {betas}: need two values in [0, 1)")
    if weight_decay < 0.0:
        raise ValueError(f"invalid weight_decay value: {weight_decay}")
