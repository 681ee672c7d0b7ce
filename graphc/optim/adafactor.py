"""Adafactor (``torch.optim.Adafactor``, PyTorch 2.5+): Adam-like steps whose second-moment
estimate of a matrix (or of each matrix in the last two dims of a tensor) is factored into a
row and a column vector, so the state is O(rows + cols) instead of O(rows * cols).

    >>> import graphc
    >>> from graphc.nn import Parameter
    >>> w = Parameter(graphc.ones(2, 3))
    >>> opt = graphc.optim.Adafactor([w])
    >>> (w * w).sum().backward(); opt.step()
    >>> sorted(opt.state[w]), opt.state[w]["row_var"].shape, opt.state[w]["col_var"].shape
    (['col_var', 'row_var', 'step'], (2, 1), (1, 3))
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import numpy as np

from graphc import autograd
from graphc import functions as F
from graphc.factories import zeros, zeros_like
from graphc.optim.optimizer import Optimizer

__all__ = ["Adafactor"]


def _rms(x):
    """``||x||_2 / sqrt(numel)`` as a 0-d tensor."""
    return F.div(F.sqrt(F.sum(F.mul(x, x))), float(np.sqrt(max(x.numel(), 1))))


class Adafactor(Optimizer):
    """``torch.optim.Adafactor``: for each parameter ``p`` with a gradient ``g``, at step
    ``t`` (``eps1`` None: the machine epsilon of ``p``'s dtype)::

        g = -g if maximize else g
        beta2_t = 1 - t ** beta2_decay
        rho = min(lr, 1 / sqrt(t))
        alpha = max(eps2, rms(p)) * rho
        p = p * (1 - lr * weight_decay)                 (if weight_decay != 0)
        p.ndim > 1:  R = lerp(R, mean(g**2, -1), 1 - beta2_t)      (state 'row_var')
                     C = lerp(C, mean(g**2, -2), 1 - beta2_t)      (state 'col_var')
                     v = R @ C / max(mean(R, -2), eps1)
        else:        v = lerp(v, g**2, 1 - beta2_t)                (state 'variance')
        u = g / sqrt(max(v, eps1**2))
        p = p - alpha / max(1, rms(u) / d) * u

    PyTorch reads ``t``, ``rms(p)`` and ``rms(u)`` as Python numbers (``.item()``); here they
    stay tensors, so a compiled training step runs the whole update in its graph.
    ``foreach`` is accepted for PyTorch compatibility and ignored.
    """

    def __init__(self, params, lr: float = 1e-2, beta2_decay: float = -0.8,
                 eps: tuple = (None, 1e-3), d: float = 1.0, weight_decay: float = 0.0, *,
                 foreach: Optional[bool] = None, maximize: bool = False):
        if not 0.0 <= lr:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 >= beta2_decay:
            raise ValueError(f"beta2_decay should be <= 0 but is: {beta2_decay}")
        if eps[0] is not None and not 0.0 <= eps[0]:
            raise ValueError(f"epsilon1 should be >= 0 but is: {eps[0]}")
        if not 0.0 <= eps[1]:
            raise ValueError(f"epsilon2 should be >= 0 but is: {eps[1]}")
        if not 1.0 <= d:
            raise ValueError(f"Clipping threshold d should be >= 1 but is: {d}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight_decay should be >= 0 but is: {weight_decay}")
        super().__init__(params, dict(lr=lr, beta2_decay=beta2_decay, eps=tuple(eps), d=d,
                                      weight_decay=weight_decay, foreach=foreach,
                                      maximize=maximize))

    def _init(self, g) -> dict:
        if g.ndim > 1:
            rows, cols = list(g.shape), list(g.shape)
            rows[-1], cols[-2] = 1, 1
            return {"step": self._step_tensor,
                    "row_var": lambda: zeros(*rows, dtype=g.dtype),
                    "col_var": lambda: zeros(*cols, dtype=g.dtype)}
        return {"step": self._step_tensor, "variance": lambda: zeros_like(g)}

    def step(self, closure: Optional[Callable] = None):
        loss = self._closure_loss(closure)
        with autograd.no_grad():
            for i, group in enumerate(self.param_groups):
                beta2_decay = self._hyper(i, "beta2_decay")
                eps1, eps2 = self._hyper(i, "eps")
                d = self._hyper(i, "d")
                weight_decay = self._hyper(i, "weight_decay")
                maximize = self._hyper(i, "maximize")
                for p, g in self._params_with_grad(group):
                    lr = self._lr(i, p)
                    g = F.neg(g) if maximize else g
                    state = self._state(p, self._init(g))
                    t = self._exact(state["step"].add_(1))
                    floor = float(np.finfo(p.dtype.numpy).eps) if eps1 is None else eps1
                    one_minus_beta2 = F.pow(t, float(beta2_decay))
                    rho = F.minimum(F.rsqrt(t), lr)
                    alpha = F.mul(F.clamp(_rms(p), min=float(eps2)), rho)
                    if weight_decay != 0:
                        p.mul_(1 - lr * weight_decay)
                    square = F.mul(g, g)
                    if g.ndim > 1:
                        row, col = state["row_var"], state["col_var"]
                        row.lerp_(F.mean(square, -1, keepdim=True), one_minus_beta2)
                        col.lerp_(F.mean(square, -2, keepdim=True), one_minus_beta2)
                        estimate = F.div(F.matmul(row, col),
                                         F.clamp(F.mean(row, -2, keepdim=True), min=floor))
                    else:
                        variance = state["variance"]
                        variance.lerp_(square, one_minus_beta2)
                        estimate = variance
                    update = F.mul(F.rsqrt(F.clamp(estimate, min=floor * floor)), g)
                    denom = F.clamp(F.div(_rms(update), float(d)), min=1.0)
                    p.sub_(F.mul(update, F.div(alpha, denom)))
        return loss
