"""Custom autograd functions (``graphc.autograd.Function``), as PyTorch's ``torch.autograd.Function``:
a ``forward`` that computes outputs and a ``backward`` that says what their gradients are.

    >>> import graphc
    >>> class Clip(graphc.autograd.Function):   # the straight-through estimator
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         return x.clamp(-1.0, 1.0)
    ...     @staticmethod
    ...     def backward(ctx, grad):
    ...         return grad                      # as if forward were the identity
    >>> x = graphc.tensor([-3.0, 0.5], requires_grad=True)
    >>> Clip.apply(x).sum().backward()
    >>> x.grad.tolist()
    [1.0, 1.0]

``forward`` runs without recording history (its ops are not differentiated); each output that
needs a gradient gets one node that calls ``backward`` with the gradients of the outputs (zeros
for outputs the loss does not use, unless ``ctx.set_materialize_grads(False)``: then None).
``backward`` returns one gradient per ``forward`` argument (None for non-tensors or where
there is none); a gradient of a broadcast shape is summed to its input's, as PyTorch does.
Both styles are accepted: ``forward(ctx, *args)``, and ``forward(*args)`` with a
``setup_context(ctx, inputs, output)``. ``backward`` runs with grad mode on under
``create_graph=True``, so a ``backward`` made of differentiable ops has second derivatives.

Inside a compiled function a custom function that needs a gradient is refused: the compiled
backward is derived from the traced forward's ops, which would silently ignore ``backward``
(a straight-through estimator would get the clamp's zero gradient). Under ``no_grad`` (or
with inputs that need no gradient) it compiles: only ``forward`` matters there.
"""
from __future__ import annotations

import functools
from typing import Any, Optional

from graphc import autograd, tracing
from graphc.errors import AutogradError
from graphc.tensor import Tensor
from ir.emitter import unbroadcast
from ir.types import broadcasts_to


class FunctionCtx:
    """The ``ctx`` of a custom function: what ``forward`` leaves for ``backward``."""

    def __init__(self, inputs: tuple):
        self.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in inputs)
        self.materialize_grads = True
        self._saved: tuple = ()
        self._saved_versions: tuple = ()
        self._non_differentiable: set[int] = set()

    def save_for_backward(self, *tensors) -> None:
        """Keeps ``tensors`` (or None) for ``backward`` as ``ctx.saved_tensors``; changing one
        in place before backward is an error there, as in PyTorch."""
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward takes tensors or None, got "
                                f"{type(t).__name__}; keep other values as attributes of ctx")
        self._saved = tensors
        self._saved_versions = tuple(None if t is None else t._version for t in tensors)

    @property
    def saved_tensors(self) -> tuple:
        for i, (t, version) in enumerate(zip(self._saved, self._saved_versions)):
            if t is not None and t._version != version:
                raise AutogradError(
                    f"saved tensor {i} of a custom Function (shape {list(t.shape)}) was "
                    f"modified by an in-place operation after save_for_backward (version "
                    f"{t._version}, expected {version})")
        return self._saved

    def mark_non_differentiable(self, *outputs) -> None:
        """These outputs get no gradient (integer indices, masks)."""
        self._non_differentiable.update(id(t) for t in outputs)

    def set_materialize_grads(self, value: bool) -> None:
        """With False, ``backward`` gets None (not zeros) for outputs without a gradient."""
        self.materialize_grads = bool(value)

    def mark_dirty(self, *tensors) -> None:
        raise NotImplementedError("mark_dirty (a custom Function that changes its inputs in "
                                  "place) is not supported; return a new tensor instead")


class _FunctionBackward:
    """The "op" an output of a custom function records: its gradient rule calls the user's
    ``backward`` with this output's gradient and zeros (or None) for the other outputs."""

    needs_values = False  # (the saved tensors are checked by ctx.saved_tensors)
    needs_output = False
    differentiable = True

    def __init__(self, cls: type, ctx: FunctionCtx, outputs: list, index: int,
                 positions: list[int], n_args: int):
        self.cls, self.ctx, self.outputs, self.index = cls, ctx, outputs, index
        self.positions, self.n_args = positions, n_args
        self.name = f"{cls.__name__}Backward"

    def vjp(self, em, inputs, output, grad, attrs):
        from graphc.factories import zeros_like
        grads: list[Optional[Tensor]] = []
        for k, out in enumerate(self.outputs):
            if k == self.index:
                grads.append(grad)
            elif self.ctx.materialize_grads:
                grads.append(zeros_like(out))
            else:
                grads.append(None)
        result = self.cls.backward(self.ctx, *grads)
        if not isinstance(result, tuple):
            result = (result,)
        if len(result) < self.n_args:
            raise AutogradError(
                f"{self.cls.__name__}.backward returned {len(result)} gradients, but forward "
                f"took {self.n_args} arguments: return one per argument (None for those "
                "without a gradient)")
        wanted = [result[p] for p in self.positions]
        return [_fitted(g, x, self.cls.__name__, p)
                for g, x, p in zip(wanted, inputs, self.positions)]


def _fitted(g, x: Tensor, name: str, position: int) -> Optional[Tensor]:
    """A gradient ``backward`` returned for argument ``position`` (``x``), summed to its shape
    when it is a broadcast of it, as PyTorch's engine does; another shape is an error."""
    if g is None:
        return None
    if not isinstance(g, Tensor):
        raise AutogradError(f"{name}.backward returned a {type(g).__name__} for argument "
                            f"{position}: expected a tensor or None")
    if g.shape != x.shape:
        if not broadcasts_to(x.shape, g.shape):
            raise AutogradError(
                f"{name}.backward returned a gradient of shape {list(g.shape)} for argument "
                f"{position}, which has shape {list(x.shape)}")
        g = unbroadcast(autograd.TensorEmitter(), g, x.shape)
    return g


class _FunctionMeta(type):
    def __call__(cls, *args, **kwargs):
        if args or kwargs:  # Function(x): the legacy style PyTorch removed too
            raise RuntimeError(f"{cls.__name__}(...) with arguments: call "
                               f"{cls.__name__}.apply(...) instead")
        return super().__call__()


class Function(metaclass=_FunctionMeta):
    """Base class of custom autograd functions: subclass it, define the static methods
    ``forward`` and ``backward``, and call ``apply`` (see the module docstring)."""

    @staticmethod
    def forward(*args, **kwargs):
        raise NotImplementedError("a custom Function must define forward()")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("a custom Function must define backward() to be "
                                  "differentiated")

    @classmethod
    def apply(cls, *args, **kwargs) -> Any:
        ctx = FunctionCtx(args)
        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        needs_grad = autograd.is_grad_enabled() and any(args[i].requires_grad
                                                        for i in positions)
        if needs_grad and tracing.current() is not None:
            raise tracing.TraceError(
                f"{cls.__name__}.apply inside a compiled function or a traced transform (vmap, "
                f"jacfwd), on inputs that need a gradient: a traced backward is derived from "
                f"the forward's ops, which would silently ignore {cls.__name__}.backward. Call "
                f"it outside, under no_grad, or with grad/jacrev (eager)")
        with autograd.no_grad():
            if _overrides_setup_context(cls):
                output = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, output)
            else:
                output = cls.forward(ctx, *args, **kwargs)
        if not needs_grad:
            return output
        outputs = list(output) if isinstance(output, tuple) else [output]
        tensors = [o for o in outputs if isinstance(o, Tensor)]
        tensor_args = [args[i] for i in positions]
        for k, out in enumerate(tensors):
            if id(out) in ctx._non_differentiable or not out.dtype.is_float:
                continue
            if out._grad_fn is not None or any(out is a for a in tensor_args):
                # an input returned as it is (or a view PyTorch would track): give the caller
                # a node of its own, so the input's history is not overwritten
                out = _new_node_for(out)
                tensors[k] = out
            out.requires_grad = True
            out._grad_fn = autograd.GradFn(
                _FunctionBackward(cls, ctx, tensors, k, positions, len(args)), {},
                tensor_args, out)
        rebuilt = iter(tensors)
        outputs = [next(rebuilt) if isinstance(o, Tensor) else o for o in outputs]
        return tuple(outputs) if isinstance(output, tuple) else outputs[0]

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        """PyTorch 2's style: ``forward(*args)`` without ctx, and this fills ``ctx``."""


def _overrides_setup_context(cls) -> bool:
    return getattr(cls.setup_context, "__func__", cls.setup_context) is not \
        Function.__dict__["setup_context"].__func__


def _new_node_for(t: Tensor) -> Tensor:
    """Another tensor object with ``t``'s value and no history."""
    return Tensor._wrap(t._data)


def once_differentiable(backward):
    """Decorates a ``backward`` that is not differentiable itself: it runs without recording
    history, as under PyTorch's decorator, so its results are not differentiated again."""
    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        with autograd.no_grad():
            return backward(ctx, *grads)
    return wrapper


__all__ = ["Function", "FunctionCtx", "once_differentiable"]
