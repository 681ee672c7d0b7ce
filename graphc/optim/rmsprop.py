"""RMSprop, optionally centered and with momentum.

    >>> import graphc
    >>> from graphc.nn import Parameter
    >>> w = Parameter(graphc.tensor([1.0]))
    >>> opt = graphc.optim.RMSprop([w], lr=0.01, alpha=0.0)
    >>> (w * 3.0).sum().backward(); opt.step()
    >>> round(w.item(), 6)   # with alpha=0 the step is lr * g / |g|
    0.99
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Optional

from graphc import autograd
from graphc.errors import ArgumentError
from graphc.factories import zeros_like
from graphc.optim.optimizer import Optimizer, check_numbers, implementation_switches


class RMSprop(Optimizer):
    """``torch.optim.RMSprop``: for each parameter with a gradient ``g``::

        g = -g if maximize else g
        g = g + weight_decay * p                        (if weight_decay != 0)
        v = alpha * v + (1 - alpha) * g**2
        avg = v - g_avg**2  with  g_avg = alpha * g_avg + (1 - alpha) * g   (centered), else v
        b = momentum * b + g / (sqrt(avg) + eps);  p = p - lr * b   (momentum > 0)
        p = p - lr * g / (sqrt(avg) + eps)                          (momentum == 0)

    All buffers start at zero, so there is no first-step special case.
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False,
                 capturable: bool = False, foreach: Optional[bool] = None, *,
                 maximize: bool = False, differentiable: bool = False):
        check_numbers("RMSprop", lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                      momentum=momentum)
        for name, value in (("learning rate", lr), ("epsilon value", eps),
                            ("momentum value", momentum), ("weight_decay value", weight_decay),
                            ("alpha value", alpha)):
            if value < 0.0:
                raise ArgumentError(f"invalid {name}: {value}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize,
                                      **implementation_switches(
                                          "RMSprop", capturable=capturable, foreach=foreach,
                                          differentiable=differentiable)))

    def step(self, closure: Optional[Callable] = None):
        loss = self._closure_loss(closure)
        with autograd.no_grad():
            for i, group in enumerate(self.param_groups):
                alpha = self._hyper(i, "alpha")
                eps = self._hyper(i, "eps")
                weight_decay = self._hyper(i, "weight_decay")
                momentum = self._hyper(i, "momentum")
                centered = self._hyper(i, "centered")
                maximize = self._hyper(i, "maximize")
                for p, g in self._params_with_grad(group):
                    lr = self._lr(i, p)
                    init = {"step": self._step_tensor, "square_avg": lambda p=p: zeros_like(p)}
                    if momentum > 0:
                        init["momentum_buffer"] = lambda p=p: zeros_like(p)
                    if centered:
                        init["grad_avg"] = lambda p=p: zeros_like(p)
                    state = self._state(p, init)
                    state["step"].add_(1)
                    if maximize:
                        g = -g
                    if weight_decay != 0:
                        g = g + weight_decay * p
                    square_avg = state["square_avg"]
                    square_avg.copy_(alpha * square_avg + (1 - alpha) * (g * g))
                    avg = square_avg
                    if centered:
                        grad_avg = state["grad_avg"]
                        grad_avg.copy_(alpha * grad_avg + (1 - alpha) * g)
                        avg = avg - grad_avg * grad_avg
                    denom = avg.sqrt() + eps
                    if momentum > 0:
                        buf = state["momentum_buffer"]
                        momentum_now = self._cycled(i, "momentum", p)  # OneCycleLR cycles it
                        buf.copy_(momentum_now * buf + g / denom)
                        p.sub_(lr * buf)
                    else:
                        p.sub_(lr * g / denom)
        return loss
