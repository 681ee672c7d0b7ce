"""Rprop: resilient backpropagation, a step size per element driven by the gradient's sign.

    >>> import graphc
    >>> from graphc.nn import Parameter
    >>> w = Parameter(graphc.tensor([1.0, -1.0]))
    >>> opt = graphc.optim.Rprop([w], lr=0.1)
    >>> for _ in range(2):
    ...     opt.zero_grad(); (w * w).sum().backward(); opt.step()
    >>> [round(v, 4) for v in w.tolist()]   # steps of 0.1, then 0.1 * 1.2 (the same sign)
    [0.78, -0.78]
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Optional

from graphc import autograd
from graphc.errors import ArgumentError
from graphc.factories import full_like, zeros_like
from graphc.functions import where
from graphc.optim.optimizer import Optimizer, check_numbers, implementation_switches


class Rprop(Optimizer):
    """``torch.optim.Rprop``: for each parameter with a gradient ``g``::

        g = -g if maximize else g
        s = g * g_prev                                    (g_prev: state 'prev', zeros at first)
        eta = etaplus if s > 0, etaminus if s < 0, else 1
        step_size = clamp(step_size * eta, *step_sizes)   (state 'step_size', lr at first)
        g = 0 where s < 0                                 (a sign change skips this update)
        p = p - sign(g) * step_size
        g_prev = g

    As in PyTorch, ``lr`` only sets the first step size: a scheduler changing it later has no
    effect. The branches are ``where`` on tensors, so a compiled step traces one graph.
    """

    def __init__(self, params, lr: float = 1e-2, etas: tuple = (0.5, 1.2),
                 step_sizes: tuple = (1e-6, 50), *, capturable: bool = False,
                 foreach: Optional[bool] = None, maximize: bool = False,
                 differentiable: bool = False):
        check_numbers("Rprop", lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes))
        if lr < 0.0:
            raise ArgumentError(f"invalid learning rate: {lr}")
        etaminus, etaplus = etas
        if not 0.0 < etaminus < 1.0 < etaplus:
            raise ArgumentError(f"invalid eta values: {etaminus}, {etaplus} "
                                "(need 0 < etaminus < 1 < etaplus)")
        super().__init__(params, dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes),
                                      maximize=maximize,
                                      **implementation_switches("Rprop", foreach=foreach,
                                                                capturable=capturable,
                                                                differentiable=differentiable)))

    def step(self, closure: Optional[Callable] = None):
        loss = self._closure_loss(closure)
        with autograd.no_grad():
            for i, group in enumerate(self.param_groups):
                etaminus, etaplus = self._hyper(i, "etas")
                smallest, largest = self._hyper(i, "step_sizes")
                maximize = self._hyper(i, "maximize")
                for p, g in self._params_with_grad(group):
                    # the first step size is the lr of that moment, read eagerly (as PyTorch)
                    first_size = dict.__getitem__(group, "lr")
                    state = self._state(p, {
                        "step": self._step_tensor,
                        "prev": lambda p=p: zeros_like(p),
                        "step_size": lambda p=p, lr=first_size: full_like(p, lr)})
                    state["step"].add_(1)
                    if maximize:
                        g = -g
                    prev, step_size = state["prev"], state["step_size"]
                    agreement = g * prev
                    # (scaled in step_size's dtype: a `where` of two Python floats is float32)
                    scaled = where(agreement > 0, step_size * etaplus,
                                   where(agreement < 0, step_size * etaminus, step_size))
                    step_size.copy_(scaled.clamp(smallest, largest))
                    g = where(agreement < 0, 0.0, g)
                    p.sub_(g.sign() * step_size)
                    prev.copy_(g)
        return loss
