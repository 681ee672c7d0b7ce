"""``apply(op, inputs, **attrs)``: the one entry point of every tensor computation.

Eagerly it evaluates the op's registry reference on the inputs' arrays; while a trace is active
(:func:`graphc.tracing.current`) it appends an IR node instead. Either way, when autograd is on
and an input requires grad, the result records a :class:`~graphc.autograd.GradFn`.

    >>> import graphc
    >>> from graphc.dispatch import apply
    >>> apply("add", [graphc.tensor([1.0, 2.0]), graphc.tensor([3.0, 4.0])]).tolist()
    [4.0, 6.0]
"""
from __future__ import annotations

import numpy as np

from graphc import autograd, tracing
from graphc.device import CPU, common_device, run_on_device
from graphc.errors import TraceError
from graphc.profiler import recording as profiler_recording
from graphc.tensor import Tensor
from ir.evaluate import evaluate, quiet_float_errors
from ir.registry import get as get_op


def apply(op: str, inputs, **attrs) -> Tensor:
    """Applies primitive ``op`` to tensors: the one entry point of every tensor computation."""
    opdef = get_op(op)
    attrs = opdef.check_attrs(attrs)
    out_type = opdef.infer([t.ir_type for t in inputs], attrs)
    ctx = tracing.current()
    if ctx is None:
        on_host = True
        for t in inputs:
            if t._value is not None:
                raise TraceError(f"a traced tensor ({t._value.type}) escaped from a compiled "
                                 "function and was used outside it; return it instead")
            on_host = on_host and type(t._data) is np.ndarray
        arrays = [t._data for t in inputs]
        if not on_host and common_device(op, inputs) is not CPU:
            out = Tensor._wrap(run_on_device(opdef, arrays, attrs, out_type))  # one CUDA kernel
        elif profiler_recording.ACTIVE is not None:  # under graphc.profiler: timed
            out = Tensor._wrap(profiler_recording.eager_op(opdef, arrays, attrs, out_type))
        else:
            with quiet_float_errors():
                out = Tensor._wrap(evaluate(opdef, arrays, attrs, out_type))
    else:
        value = ctx.emit(op, [ctx.value_of(t) for t in inputs], attrs)
        if (ctx.differentiable and opdef.differentiable and not autograd.is_grad_enabled()
                and any(t.requires_grad for t in inputs)):
            # computed under no_grad: a constant to autograd, so also to the backward graph
            # that passes.autodiff derives from this trace (graphc.compiled_grad)
            value = ctx.emit("stop_gradient", [value], {})
        out = Tensor._traced(value, ctx)
    if (opdef.differentiable and autograd.is_grad_enabled()
            and any(t.requires_grad for t in inputs) and out.dtype.is_float):
        # (an integer or bool result has no gradient, as in PyTorch: x.long() cuts the graph)
        out.requires_grad = True
        out._grad_fn = autograd.GradFn(opdef, attrs, inputs, out)
    return out
