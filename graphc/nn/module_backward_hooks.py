"""Backward hooks of :class:`graphc.nn.Module`, as PyTorch's ``register_full_backward_hook``
and ``register_full_backward_pre_hook``: they see the gradients of a module's outputs
(``grad_output``) and of its positional tensor arguments (``grad_input``), and may replace
them.

    >>> import graphc
    >>> layer = graphc.nn.Linear(3, 2)
    >>> seen = []
    >>> _ = layer.register_full_backward_hook(
    ...     lambda m, grad_input, grad_output: seen.append((grad_input[0].shape,
    ...                                                     grad_output[0].shape)))
    >>> layer(graphc.ones(4, 3, requires_grad=True)).sum().backward()
    >>> seen
    [((4, 3), (4, 2))]

How: a module call with backward hooks passes its tensor arguments, and then its tensor
outputs, through one identity node each side (the tensors are concatenated, flattened, into one
row, then sliced back out: PyTorch's ``BackwardHookFunction``). The gradient that reaches that
node is every tensor's gradient at once, so the hooks are called once per backward pass with
all of them, and what they return becomes the gradient that flows on. Inside a compiled
function, where backward is a graph derived before any gradient exists, they are refused.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Optional

from graphc import autograd, tracing
from graphc.pytree import flatten, unflatten
from graphc.tensor import Tensor
from ir import dtypes

PRE_HOOKS, HOOKS = "_backward_pre_hooks", "_backward_hooks"


def has_backward_hooks(module) -> bool:
    state = module.__dict__
    return bool(state.get(PRE_HOOKS) or state.get(HOOKS))


def hooked_call(module, args: tuple) -> Optional[_HookedCall]:
    """For a call of ``module`` with positional ``args`` (after its forward pre-hooks): None if
    its backward hooks have nothing to do (there are none, or grad mode is off), else the
    call's record, whose ``wrapped_args`` go to ``forward`` and whose ``wrap_output`` takes
    the result (after the forward hooks)."""
    if not has_backward_hooks(module) or not autograd.is_grad_enabled():
        return None
    if tracing.current() is not None:
        raise tracing.TraceError(
            f"{type(module).__name__} has a backward hook (register_full_backward_hook or "
            "register_full_backward_pre_hook), which a compiled function cannot run: its "
            "backward pass is a graph made before any gradient exists. Remove the hook, or "
            "call the module outside the compiled function")
    return _HookedCall(module, args)


class _HookedCall:
    """One module call's gradients: what reached its outputs, then its inputs."""

    def __init__(self, module, args: tuple):
        self.module = module
        self.n_args = len(args)
        self.arg_positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.grad_output: Optional[tuple] = None
        # (PyTorch's grad_input has zeros for arguments that got no gradient, or need none)
        self.input_side = _Junction([args[i] for i in self.arg_positions], self._inputs_reached,
                                    zeros_for_missing=True)
        wrapped = list(args)
        for i, t in zip(self.arg_positions, self.input_side.outputs):
            wrapped[i] = t
        self.wrapped_args = tuple(wrapped)
        self.versions = [(i, t, t._version) for i, t in enumerate(wrapped)
                         if isinstance(t, Tensor) and t is not args[i]]

    def wrap_output(self, output):
        for i, t, version in self.versions:
            if t._version != version:
                # forward would change a copy, not the caller's tensor (PyTorch refuses it too)
                raise RuntimeError(
                    f"{type(self.module).__name__}.forward changed its argument {i} in place, "
                    f"but the module has backward hooks, whose gradient node stands between "
                    f"the argument and forward; change a copy (x = x * 2), or remove the hooks")
        leaves, tree = flatten(output)
        positions = [i for i, leaf in enumerate(leaves) if isinstance(leaf, Tensor)]
        side = _Junction([leaves[i] for i in positions], self._outputs_reached)
        for i, t in zip(positions, side.outputs):
            leaves[i] = t
        return unflatten(tree, leaves)

    def _outputs_reached(self, grad_output: tuple) -> tuple:
        for hook, _ in list(self.module.__dict__.get(PRE_HOOKS, {}).values()):
            result = hook(self.module, grad_output)
            if result is not None:
                grad_output = _checked(result, grad_output, "a backward pre-hook", "grad_output")
        self.grad_output = grad_output
        if not self.input_side.requires_grad:
            # no argument needs a gradient: the hooks get grad_input of Nones now, as PyTorch's
            self._call_hooks((None,) * self.n_args)
        return grad_output

    def _inputs_reached(self, tensor_grads: tuple) -> tuple:
        """One gradient per positional argument (None for those that are no tensor), as
        PyTorch's grad_input, and back to one per tensor argument for what flows on."""
        grad_input: list = [None] * self.n_args
        for position, g in zip(self.arg_positions, tensor_grads):
            grad_input[position] = g
        result = self._call_hooks(tuple(grad_input))
        return tuple(result[position] for position in self.arg_positions)

    def _call_hooks(self, grad_input: tuple) -> tuple:
        grad_output = self.grad_output if self.grad_output is not None else ()
        for hook, _ in list(self.module.__dict__.get(HOOKS, {}).values()):
            result = hook(self.module, grad_input, grad_output)
            if result is not None:
                grad_input = _checked(result, grad_input, "a full backward hook", "grad_input")
        return grad_input


class _Junction:
    """Tensors passed through one identity node: ``outputs`` are the same values, and
    ``reached(grads)`` is called with the gradient of each (None for one that got none, or
    that does not require grad) when backward reaches the node; the tuple it returns is the
    gradient that flows on."""

    def __init__(self, tensors: list, reached: Callable[[tuple], tuple],
                 zeros_for_missing: bool = False):
        self.tensors = tensors
        self.reached = reached
        self.zeros_for_missing = zeros_for_missing
        self.requiring = [i for i, t in enumerate(tensors) if t.requires_grad]
        self.requires_grad = bool(self.requiring)
        self.outputs = list(tensors)
        if not self.requires_grad:
            return
        from graphc.functions import cat

        self.common = dtypes.promote(*(tensors[i].dtype for i in self.requiring))
        pieces = [tensors[i].reshape(-1).to(self.common) for i in self.requiring]
        # one row: (1, n) is never the shape of a piece, so this is always a node of its own
        self.row = cat(pieces).reshape(1, -1)
        self.arrived = [False] * len(tensors)
        self.bounds = []
        start = 0
        for i in self.requiring:
            t = tensors[i]
            stop = start + t.numel()
            out = self.row[0, start:stop].reshape(t.shape).to(t.dtype)
            autograd.register_tensor_hook(out, lambda g, i=i: self._arrive(i))
            self.outputs[i] = out
            self.bounds.append((start, stop))
            start = stop
        autograd.register_tensor_hook(self.row, self._gather)

    def _arrive(self, i: int) -> None:
        self.arrived[i] = True

    def _gather(self, row_grad: Tensor) -> Tensor:
        from graphc.factories import zeros, zeros_like

        grads: list = [None] * len(self.tensors)
        for i, (start, stop) in zip(self.requiring, self.bounds):
            if self.arrived[i]:
                t = self.tensors[i]
                grads[i] = row_grad[0, start:stop].reshape(t.shape).to(t.dtype)
        if self.zeros_for_missing:
            grads = [zeros_like(t) if g is None else g for g, t in zip(grads, self.tensors)]
        self.arrived = [False] * len(self.tensors)  # (the next backward pass, retain_graph)
        replaced = self.reached(tuple(grads))
        if all(a is b for a, b in zip(replaced, grads)):  # nothing replaced
            return row_grad
        from graphc.functions import cat

        pieces = []
        for i in self.requiring:
            g, t = replaced[i], self.tensors[i]
            pieces.append(zeros(t.numel(), dtype=self.common) if g is None
                          else g.reshape(-1).to(self.common))
        return cat(pieces).reshape(1, -1)


def _checked(result, previous: tuple, who: str, what: str) -> tuple:
    """A hook's replacement gradients: a tuple (or list) as long as ``previous``, each None or
    a tensor of the shape of the gradient it replaces."""
    if isinstance(result, Tensor):
        result = (result,)
    if not isinstance(result, (tuple, list)) or len(result) != len(previous):
        raise RuntimeError(f"{who} must return None or a tuple of {len(previous)} gradients "
                           f"({what}), got {_describe(result)}")
    for k, (new, old) in enumerate(zip(result, previous)):
        if new is None:
            continue
        if not isinstance(new, Tensor):
            raise TypeError(f"{who} returned {_describe(new)} for {what}[{k}]: expected a "
                            "tensor or None")
        if old is not None and new.shape != old.shape:
            raise RuntimeError(f"{who} returned a gradient of shape {list(new.shape)} for "
                               f"{what}[{k}], which has shape {list(old.shape)}")
    return tuple(result)


def _describe(value) -> str:
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return type(value).__name__
