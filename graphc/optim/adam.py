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

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Optional

import numpy as np

from graphc import autograd
from graphc.errors import ArgumentError
from graphc.factories import zeros_like
from graphc.functions import maximum
from graphc.optim.eager_arrays import host_pairs, number, plain, rebind
from graphc.optim.optimizer import Optimizer, check_numbers, implementation_switches
from graphc.tensor import Tensor
from ir.scalar.evaluate import power


class Adam(Optimizer):
    """``torch.optim.Adam``: for each parameter with a gradient ``g``, at step ``t``::

        g = -g if maximize else g
        g = g + weight_decay * p                        (Adam; AdamW, or Adam with
                                                         decoupled_weight_decay, decays p)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        v_max = max(v_max, v)                           (amsgrad: v_max replaces v below)
        p = p - lr * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps)

    ``t`` is ``state['step']``, a float32 scalar tensor, so the bias corrections are tensor ops
    (in float64, as PyTorch's Python floats) and a compiled training step traces one graph for
    all steps.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *,
                 foreach: Optional[bool] = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False,
                 fused: Optional[bool] = None, decoupled_weight_decay: bool = False):
        owner = type(self).__name__
        _check_adam_args(owner, lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize,
                                      **implementation_switches(
                                          owner, foreach=foreach, capturable=capturable,
                                          differentiable=differentiable, fused=fused),
                                      decoupled_weight_decay=bool(decoupled_weight_decay)))

    def step(self, closure: Optional[Callable] = None):
        loss = self._closure_loss(closure)
        with autograd.no_grad():
            if self._eager_step():
                return loss
            for p, g, h in adam_family_parameters(self, "decoupled_weight_decay",
                                                  extra=("amsgrad",)):
                init = {"step": self._step_tensor,
                        "exp_avg": lambda p=p: zeros_like(p),
                        "exp_avg_sq": lambda p=p: zeros_like(p)}
                if h.amsgrad:
                    init["max_exp_avg_sq"] = lambda p=p: zeros_like(p)
                state = self._state(p, init)
                step = state["step"].add_(1)
                m, v = state["exp_avg"], state["exp_avg_sq"]
                # the order of PyTorch's operations (m by lerp), so that float32 rounds alike
                m.copy_(m + (1 - h.beta1) * (g - m))
                v.copy_(v * h.beta2 + (1 - h.beta2) * (g * g))
                t = self._exact(step)
                step_size = h.lr / (1 - h.beta1 ** t)
                if h.amsgrad:
                    v_max = state["max_exp_avg_sq"]
                    v_max.copy_(maximum(v_max, v))
                    v = v_max
                denom = v.sqrt() / (1 - h.beta2 ** t).sqrt() + h.eps
                p.sub_(step_size * (m / denom))
        return loss


    def _eager_step(self) -> bool:
        """:meth:`step`'s loop (and :func:`adam_family_parameters`') on the NumPy arrays, with
        the same operations, so the same bits (:mod:`graphc.optim.eager_arrays`), if every group
        allows it; False if one does not (nothing changed then)."""
        groups = []
        for group in self.param_groups:
            pairs = host_pairs(group)
            if pairs is None or any(p.ndim == 0 for p, _ in pairs) or not all(
                    number(v) for v in (group["lr"], *group["betas"], group["eps"],
                                        group["weight_decay"])):
                return False  # (a 0-d parameter: its 0-d bias corrections promote it)
            states = []
            for p, _ in pairs:
                init = {"step": self._step_tensor,
                        "exp_avg": lambda p=p: zeros_like(p),
                        "exp_avg_sq": lambda p=p: zeros_like(p)}
                if group["amsgrad"]:
                    init["max_exp_avg_sq"] = lambda p=p: zeros_like(p)
                state = self._state(p, init)
                dtype = p._data.dtype
                if not (plain(state["step"], np.float32) and state["step"].ndim == 0 and all(
                        plain(state[k], dtype) for k in init if k != "step")):
                    return False
                states.append(state)
            groups.append((group, pairs, states))
        for group, pairs, states in groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            weight_decay = group["weight_decay"]
            beta1_, beta2_ = np.asarray(beta1, np.float64), np.asarray(beta2, np.float64)
            for (p, g), state in zip(pairs, states):
                scalar = p._data.dtype.type  # (a Python number meets a tensor in its dtype)
                g = np.negative(g._data) if group["maximize"] else g._data
                if weight_decay != 0:
                    if group["decoupled_weight_decay"]:
                        rebind(p, p._data * scalar(1 - lr * weight_decay))
                    else:
                        g = g + scalar(weight_decay) * p._data
                step = state["step"]
                rebind(step, step._data + np.float32(1))
                m, v = state["exp_avg"], state["exp_avg_sq"]
                rebind(m, m._data + scalar(1 - beta1) * (g - m._data))
                rebind(v, v._data * scalar(beta2) + scalar(1 - beta2) * (g * g))
                t = step._data.astype(np.float64)  # (float64 bias corrections, as _exact)
                step_size = np.float64(lr) / (np.float64(1) - power(beta1_, t))
                v = v._data
                if group["amsgrad"]:
                    v_max = state["max_exp_avg_sq"]
                    rebind(v_max, np.maximum(v_max._data, v))
                    v = v_max._data
                correction = np.sqrt(np.float64(1) - power(beta2_, t))
                denom = np.sqrt(v) / scalar(correction) + scalar(eps)
                rebind(p, p._data - scalar(step_size) * (m._data / denom))
        return True


class AdamW(Adam):
    """``torch.optim.AdamW``: Adam with decoupled weight decay (default 1e-2).

    The decay shrinks the parameter directly, ``p = p * (1 - lr * weight_decay)``, before the
    Adam update, instead of being added to the gradient.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 foreach: Optional[bool] = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False,
                 fused: Optional[bool] = None):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)


def adam_family_parameters(optimizer: Optimizer, decoupled: bool | str = False,
                           extra: tuple[str, ...] = ()) -> Iterator[tuple[Tensor, Tensor,
                                                                          SimpleNamespace]]:
    """``(p, g, h)`` for each parameter with a gradient, group by group, as the steps of Adam,
    AdamW, Adamax, NAdam and RAdam visit them.

    ``g`` is the gradient the update uses: negated under ``maximize``, plus
    ``weight_decay * p``; or, with decoupled weight decay (``decoupled`` True, or the name of
    the group's flag for it), ``g`` unchanged and ``p`` shrunk by ``1 - lr * weight_decay``
    first, as AdamW. ``h`` holds the numbers of the step: ``lr`` and ``beta1`` (as
    :meth:`Optimizer._cycled` reads them: schedulers change them without a retrace),
    ``beta2``, ``eps``, and the group's ``extra`` hyperparameters by name.

        >>> import graphc
        >>> w = graphc.nn.Parameter(graphc.tensor([2.0]))
        >>> opt = graphc.optim.Adam([w], weight_decay=0.5, maximize=True)
        >>> w.grad = graphc.tensor([1.0])
        >>> [(g.tolist(), h.beta2) for _, g, h in adam_family_parameters(opt)]
        [([0.0], 0.999)]
    """
    for i, group in enumerate(optimizer.param_groups):
        _, beta2 = optimizer._hyper(i, "betas")
        eps = optimizer._hyper(i, "eps")
        weight_decay = optimizer._hyper(i, "weight_decay")
        maximize = optimizer._hyper(i, "maximize")
        decays_p = optimizer._hyper(i, decoupled) if isinstance(decoupled, str) else decoupled
        extras = {name: optimizer._hyper(i, name) for name in extra}
        for p, g in optimizer._params_with_grad(group):
            lr = optimizer._lr(i, p)
            beta1 = optimizer._cycled(i, "betas", p, item=0)  # OneCycleLR cycles it
            if maximize:
                g = -g
            if weight_decay != 0:
                if decays_p:
                    p.mul_(1 - lr * weight_decay)
                else:
                    g = g + weight_decay * p
            yield p, g, SimpleNamespace(lr=lr, beta1=beta1, beta2=beta2, eps=eps, **extras)


def _check_adam_args(owner: str, lr, betas, eps, weight_decay) -> None:
    check_numbers(owner, lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas,
                  eps=eps, weight_decay=weight_decay)
    if lr < 0.0:
        raise ArgumentError(f"invalid learning rate: {lr}")
    if eps < 0.0:
        raise ArgumentError(f"invalid epsilon value: {eps}")
    if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
        raise ArgumentError(f"invalid betas {betas}: need two values in [0, 1)")
    if weight_decay < 0.0:
        raise ArgumentError(f"invalid weight_decay value: {weight_decay}")
