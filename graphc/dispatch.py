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
from ir.evaluate import evaluate, quiet_float_errors, restore_float_errors, silence_float_errors
from ir.registry import get as get_op

_grad_mode = autograd._state  # this thread's grad mode (``.enabled``), read once per op
_trace_state = tracing._local  # this thread's active trace (``.ctx``), read once per op


def apply(op: str, inputs, **attrs) -> Tensor:
    """Applies primitive ``op`` to tensors: the one entry point of every tensor computation."""
    opdef = get_op(op)
    if attrs or opdef.attrs:  # (an op without attributes called without any: nothing to check)
        attrs = opdef.check_attrs(attrs)
    ctx = _trace_state.ctx
    if ctx is not None:
        out = _traced(opdef, op, inputs, attrs, ctx)
    else:
        arrays = []
        on_host = True
        for t in inputs:
            if t._value is not None:
                raise TraceError(f"a traced tensor ({t._value.type}) escaped from a compiled "
                                 "function and was used outside it; return it instead")
            data = t._data
            if type(data) is not np.ndarray:
                on_host = False
            arrays.append(data)
        if on_host and profiler_recording.ACTIVE is None:
            # The common case, tested once: host arrays and no profiler. (A device operand
            # or a profiler recording takes the general path below, which checks each.)
            out_type = opdef.infer_arrays(arrays, attrs)
            quiet = silence_float_errors()  # (``with quiet_float_errors()``, faster)
            try:
                out = Tensor._wrap(evaluate(opdef, arrays, attrs, out_type))
            finally:
                restore_float_errors(quiet)
        else:
            out = _eager_general(opdef, op, inputs, arrays, attrs, on_host)
    if opdef.vjp is not None and _grad_mode.enabled:  # (``opdef.differentiable``, inlined)
        for t in inputs:
            if t.requires_grad:
                # (an integer or bool result has no gradient, as in PyTorch: x.long() cuts the
                # graph)
                if out.dtype.is_float:
                    out.requires_grad = True
                    out._grad_fn = autograd.GradFn(opdef, attrs, inputs, out)
                break
    return out


def _eager_general(opdef, op: str, inputs, arrays: list, attrs: dict, on_host: bool) -> Tensor:
    """An eager op with a device operand, or while the profiler records."""
    out_type = opdef.infer([t.ir_type for t in inputs], attrs)
    if not on_host and common_device(op, inputs) is not CPU:
        return Tensor._wrap(run_on_device(opdef, arrays, attrs, out_type))  # one CUDA kernel
    if profiler_recording.ACTIVE is not None:  # under graphc.profiler: timed
        return Tensor._wrap(profiler_recording.eager_op(opdef, arrays, attrs, out_type))
    with quiet_float_errors():
        return Tensor._wrap(evaluate(opdef, arrays, attrs, out_type))


def _traced(opdef, op: str, inputs, attrs: dict, ctx) -> Tensor:
    """Appends the op to the active trace ``ctx``: a traced tensor."""
    opdef.infer([t.ir_type for t in inputs], attrs)  # (errors are raised at the call, as eagerly)
    value = ctx.emit(op, [ctx.value_of(t) for t in inputs], attrs)
    if (ctx.differentiable and opdef.differentiable and not autograd.is_grad_enabled()
            and any(t.requires_grad for t in inputs)):
        # computed under no_grad: a constant to autograd, so also to the backward graph
        # that passes.autodiff derives from this trace (graphc.compiled_grad)
        value = ctx.emit("stop_gradient", [value], {})
    return Tensor._traced(value, ctx)
