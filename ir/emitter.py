"""Emitters: the small interface gradient rules (and composites) are written against.

A gradient rule calls ops by name on an emitter (``em.mul(g, out)``, ``em.sum(g, axes=[0])``).
:class:`GraphEmitter` appends IR nodes to a graph (symbolic autodiff); graphc's tensor emitter
runs the same calls eagerly on tensors (eager autograd). One rule, two uses.

    >>> from ir import Graph, TensorType, f32
    >>> from ir.emitter import GraphEmitter
    >>> g = Graph(); x = g.add_input("x", TensorType(f32, (2, 3)))
    >>> em = GraphEmitter(g)
    >>> em.shape(em.sum(x, axes=[1], keepdim=False))
    (2,)
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ir import registry
from ir.dtypes import DType
from ir.types import Shape


class Emitter:
    """Base class: subclasses implement ``emit``, ``type_of`` and ``constant``."""

    def emit(self, op: str, inputs: Sequence[Any], attrs: dict) -> Any:
        raise NotImplementedError

    def type_of(self, handle: Any):
        raise NotImplementedError

    def constant(self, value, dtype: DType, shape: Shape = ()) -> Any:
        """A constant tensor filled with (or equal to) ``value``."""
        return self.emit("const", [], {"value": value, "dtype": dtype, "shape": list(shape)})

    def wants(self, handle) -> bool:
        """Whether a gradient rule should build the gradient of operand ``handle`` (rules skip
        work for operands nobody differentiates, e.g. the constant exponent of ``x ** 2``)."""
        return True

    def differentiated_again(self) -> bool:
        """Whether what a rule emits may itself be differentiated (a Hessian, a symbolic backward
        graph). A rule whose cheap form has the right values but wrong derivatives (``cumprod``
        at a zero) emits its exact form only then."""
        return True

    # -- conveniences used by gradient rules --------------------------------------------------
    def shape(self, handle) -> Shape:
        return self.type_of(handle).shape

    def dtype(self, handle) -> DType:
        return self.type_of(handle).dtype

    def scalar(self, value: float, like) -> Any:
        """A rank-0 constant with the dtype of ``like``, for arithmetic with broadcasting."""
        return self.constant(value, self.dtype(like), ())

    def zeros(self, shape: Shape, dtype: DType) -> Any:
        return self.constant(0, dtype, shape)

    def __getattr__(self, op: str):
        """``em.<op>(*inputs, **attrs)`` emits registry op ``op``. The method is made once and
        kept on the class (a closure per call cost more than some ops): later lookups find
        it without coming here. An attribute of an emitter or of its class is found first, as
        before."""
        if op.startswith("_") or not registry.exists(op):
            raise AttributeError(op)

        def call(self, *inputs, **attrs):
            return self.emit(op, list(inputs), attrs)

        call.__name__ = call.__qualname__ = op
        setattr(Emitter, op, call)
        return getattr(self, op)


class GraphEmitter(Emitter):
    """Appends nodes to ``graph``; handles are :class:`ir.Value` objects."""

    def __init__(self, graph, loc=None):
        self.graph = graph
        self.loc = loc

    def emit(self, op, inputs, attrs):
        return self.graph.add_node(op, inputs, attrs, loc=self.loc).output

    def type_of(self, handle):
        return handle.type


def unbroadcast(em: Emitter, grad, shape: Shape):
    """Sums ``grad`` down to ``shape``, undoing NumPy broadcasting: the one place that does so."""
    gshape = em.shape(grad)
    if tuple(gshape) == tuple(shape):
        return grad
    lead = len(gshape) - len(shape)
    axes = list(range(lead))
    axes += [lead + i for i, d in enumerate(shape) if d == 1 and gshape[lead + i] != 1]
    if axes:
        grad = em.sum(grad, axes=axes, keepdim=False)
    if tuple(em.shape(grad)) != tuple(shape):
        grad = em.reshape(grad, shape=list(shape))
    return grad


def input_gradients(em: Emitter, opdef, inputs: Sequence[Any], output, grad, attrs: dict) -> list:
    """The gradients ``opdef``'s rule gives ``inputs``, each cast to its input's dtype.

    A rule computes in the result's dtype, so the f32 operand of ``f32 * f64`` would get an f64
    gradient; PyTorch's engine casts every gradient to its input's dtype, and so do both of our
    backward engines (eager autograd and the autodiff pass) through this one function.
    """
    grads = opdef.vjp(em, inputs, output, grad, attrs)
    typed = []
    for value, g in zip(inputs, grads):
        if g is not None and em.dtype(g) != em.dtype(value) and em.dtype(value).is_float:
            g = em.cast(g, dtype=em.dtype(value))
        typed.append(g)
    return typed
