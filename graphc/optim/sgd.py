"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay.

    >>> import graphc
    >>> from graphc.nn import Parameter
    >>> w = Parameter(graphc.tensor([1.0]))
    >>> opt = graphc.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.zero_grad(); (w * 2.0).sum().backward(); opt.step()
    >>> round(w.item(), 6)   # 1 - 0.1*2 - 0.1*(0.9*2 + 2)
    0.42
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import numpy as np

from graphc import autograd
from graphc.errors import ArgumentError
from graphc.factories import zeros_like
from graphc.functions import where
from graphc.optim.eager_arrays import host_pairs, number, plain, rebind
from graphc.optim.optimizer import Optimizer, check_numbers, implementation_switches


class SGD(Optimizer):
    """``torch.optim.SGD``: for each parameter with a gradient ``g`` (PyTorch's algorithm)::

        g = -g if maximize else g
        g = g + weight_decay * p                        (if weight_decay != 0)
        b = g on the first step, else momentum * b + (1 - dampening) * g   (if momentum != 0)
        g = g + momentum * b if nesterov else b         (if momentum != 0)
        p = p - lr * g

    ``maximize`` negates the gradient first, as PyTorch's implementation does (its documented
    pseudo-code flips the sign of the final update instead; the two differ only together with
    weight decay). The first-step rule is branch-free (a ``where`` on the tensor step count
    ``state['step']``), so a compiled training step traces one graph for every step.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: Optional[bool] = None, differentiable: bool = False,
                 fused: Optional[bool] = None):
        check_numbers("SGD", lr=lr, momentum=momentum, dampening=dampening,
                      weight_decay=weight_decay)
        if lr < 0.0:
            raise ArgumentError(f"invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ArgumentError(f"invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ArgumentError(f"invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ArgumentError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize,
                                      **implementation_switches("SGD", foreach=foreach,
                                                                differentiable=differentiable,
                                                                fused=fused)))

    def step(self, closure: Optional[Callable] = None):
        loss = self._closure_loss(closure)
        with autograd.no_grad():
            for i, group in enumerate(self.param_groups):
                momentum = self._hyper(i, "momentum")
                dampening = self._hyper(i, "dampening")
                weight_decay = self._hyper(i, "weight_decay")
                nesterov = self._hyper(i, "nesterov")
                maximize = self._hyper(i, "maximize")
                if self._eager_step(i, group, momentum, dampening, weight_decay, nesterov,
                                    maximize):
                    continue
                for p, g in self._params_with_grad(group):
                    lr = self._lr(i, p)
                    if maximize:
                        g = -g
                    if weight_decay != 0:
                        g = g + weight_decay * p
                    if momentum != 0:
                        # a graph input under OneCycleLR, which cycles it (the guarded number
                        # `momentum` stays for the next parameter's test)
                        cycled = self._cycled(i, "momentum", p)
                        state = self._state(p, {
                            "step": self._step_tensor,
                            "momentum_buffer": lambda p=p: zeros_like(p)})
                        buf, step = state["momentum_buffer"], state["step"]
                        blended = cycled * buf + (1 - dampening) * g
                        buf.copy_(where(step == 0, g, blended))
                        step.add_(1)
                        g = g + cycled * buf if nesterov else buf
                    p.sub_(lr * g)
        return loss

    def _eager_step(self, i: int, group: dict, momentum, dampening, weight_decay, nesterov,
                    maximize) -> bool:
        """The loop of :meth:`step` on the group's NumPy arrays (:mod:`graphc.optim.eager_arrays`:
        the same operations, so the same bits), if the group allows it; False if it does not
        (nothing changed then)."""
        pairs = host_pairs(group)  # (None while tracing: the group is not read then)
        if pairs is None:
            return False
        lr, cycled = group["lr"], group["momentum"]
        if not all(number(v) for v in (lr, cycled, dampening, weight_decay)):
            return False
        states = []
        if momentum != 0:
            for p, _ in pairs:
                state = self._state(p, {"step": self._step_tensor,
                                        "momentum_buffer": lambda p=p: zeros_like(p)})
                buf, step = state["momentum_buffer"], state["step"]
                if not (plain(buf, p._data.dtype) and plain(step, np.float32) and not step.ndim):
                    return False
                states.append((buf, step))
        for k, (p, g) in enumerate(pairs):
            scalar = p._data.dtype.type  # (a Python number meets a tensor in its dtype)
            g = g._data
            if maximize:
                g = np.negative(g)
            if weight_decay != 0:
                g = g + scalar(weight_decay) * p._data
            if momentum != 0:
                buf, step = states[k]
                blended = scalar(cycled) * buf._data + scalar(1 - dampening) * g
                rebind(buf, np.where(step._data == 0, g, blended))
                rebind(step, step._data + np.float32(1))
                g = g + scalar(cycled) * buf._data if nesterov else buf._data
            rebind(p, p._data - scalar(lr) * g)
        return True

    def _complete_loaded_state(self, state: dict) -> None:
        # PyTorch's SGD keeps no step count: a saved buffer means the first step is behind us
        if "step" not in state and state.get("momentum_buffer") is not None:
            state["step"] = self._step_tensor().add_(1)
        if state.get("momentum_buffer", 0) is None:
            del state["momentum_buffer"]
