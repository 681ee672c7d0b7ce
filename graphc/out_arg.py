"""The ``out=`` keyword of PyTorch's top-level functions (``graphc.add(x, y, out=t)``).

Each listed function is wrapped once: it computes its result as usual, then writes it into
``out`` in place (``out._assign``: version counter, write-back by compiled functions) and
returns ``out``, with PyTorch's rules:

- the result must be castable to ``out``'s dtype (:func:`graphc.can_cast`: float into an
  integer ``out`` is a :class:`DTypeError`); int results go into float ``out``;
- an ``out`` of another shape is resized: silently when it has no elements, with PyTorch's
  ``UserWarning`` otherwise (eager only: a compiled function cannot resize its state);
- functions that return ``(values, indices)`` (``max``/``min`` with ``dim``, ``sort``,
  ``topk``, ...) take a tuple of two tensors of exactly the result's dtypes, and return
  PyTorch's named tuple of them;
- ``out=`` does not differentiate: an input that requires grad, with grad mode on, is an
  :class:`AutogradError` (``torch.no_grad()`` makes it a plain write, as in PyTorch).

    >>> import graphc
    >>> x = graphc.tensor([1.0, 2.0])
    >>> t = graphc.empty(0)
    >>> graphc.add(x, x, out=t) is t, t.tolist()
    (True, [2.0, 4.0])
    >>> v, i = graphc.empty(0), graphc.empty(0, dtype=graphc.int64)
    >>> graphc.max(graphc.tensor([[1.0, 3.0]]), 1, out=(v, i)).indices.tolist()
    [1]
"""
from __future__ import annotations

import functools
import warnings

from graphc import autograd, tracing
from graphc.errors import AutogradError, DTypeError, TraceError
from graphc.tensor import Tensor
from ir import dtypes

__all__ = ["with_out"]

# the top-level functions that take ``out=`` (the ones of PyTorch's that graphc has)
OUT_FUNCTIONS = """
add sub subtract mul multiply div divide true_divide floor_divide remainder fmod pow
matmul mm bmm mv dot addmm addmv addbmm baddbmm outer cross kron tensordot
cat concat concatenate stack hstack vstack dstack column_stack
max min amax amin aminmax argmax argmin sum nansum prod mean nanmean std var logsumexp
cumsum cumprod cummax cummin sort topk kthvalue median mode msort
clamp clip clamp_min clamp_max where maximum minimum fmax fmin
exp exp2 expm1 log log2 log10 log1p sqrt rsqrt sin cos tan asin acos atan sinh cosh tanh
asinh acosh atanh atan2 sigmoid abs absolute neg negative sign sgn signbit floor ceil round
trunc fix frac reciprocal square erf erfc erfinv lgamma digamma hypot xlogy lerp logaddexp
eq ne lt le gt ge greater less greater_equal less_equal not_equal logical_and logical_or
logical_not logical_xor bitwise_and bitwise_or bitwise_xor bitwise_not isnan isinf
nan_to_num diff cumulative_trapezoid tril triu gather index_select masked_select take
""".split()


def _check_target(t, name: str, what: str) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}(): argument 'out' must be a Tensor{what}, not "
                        f"{type(t).__name__}")
    return t


def _write(out: Tensor, result: Tensor, name: str, exact_dtype: bool) -> None:
    if exact_dtype and result.dtype != out.dtype:
        raise DTypeError(f"{name}(): expected out tensor to have dtype {result.dtype}, but got "
                         f"{out.dtype} instead")
    if not dtypes.can_cast(result.dtype, out.dtype):
        raise DTypeError(f"{name}(): result type {result.dtype} can't be cast to the desired "
                         f"output type {out.dtype} (argument 'out')")
    resizes = None
    if out.shape != result.shape:
        if out._value is not None or tracing.current() is not None:
            raise TraceError(f"{name}(): out= of shape {list(out.shape)} would be resized to "
                             f"{list(result.shape)}, which a compiled function cannot do; "
                             f"pass an out of the result's shape")
        if out.numel() != 0:
            warnings.warn(f"An output with one or more elements was resized since it had shape "
                          f"{list(out.shape)}, which does not match the required output shape "
                          f"{list(result.shape)}. This behavior is deprecated, and in a future "
                          f"PyTorch release outputs will not be resized unless they have zero "
                          f"elements.", UserWarning, stacklevel=3)
        resizes = "resize_"
    value = result.detach()
    out._assign(lambda old: value, resizes=resizes)


def with_out(fn, name=None):
    """``fn`` taking PyTorch's ``out=`` keyword as well (see the module's docstring); without
    ``out`` (or ``out=None``) the call is ``fn``'s own."""
    name = name or fn.__name__

    @functools.wraps(fn)
    def wrapper(*args, out=None, **kwargs):
        if out is None:
            return fn(*args, **kwargs)
        result = fn(*args, **kwargs)
        if autograd.is_grad_enabled() and (
                any(isinstance(r, Tensor) and r.requires_grad
                    for r in (result if isinstance(result, tuple) else (result,)))
                or (isinstance(out, Tensor) and out.requires_grad)):
            raise AutogradError(f"{name}(): functions with out=... arguments don't support "
                                f"automatic differentiation, but one of the arguments requires "
                                f"grad")
        if isinstance(result, tuple):
            if not isinstance(out, (tuple, list)) or len(out) != len(result):
                raise TypeError(f"{name}(): argument 'out' must be a tuple of {len(result)} "
                                f"tensors, not {type(out).__name__}")
            outs = [_check_target(o, name, " in a tuple") for o in out]
            for o, r in zip(outs, result):
                _write(o, r, name, exact_dtype=True)
            return type(result)(*outs) if hasattr(result, "_fields") else tuple(outs)
        _write(_check_target(out, name, ""), result, name, exact_dtype=False)
        return out
    wrapper._graphc_out = True  # type: ignore[attr-defined]
    return wrapper


def install(namespace: dict, *others: dict) -> None:
    """Wraps the :data:`OUT_FUNCTIONS` that ``namespace`` (``graphc``'s) has, each function once:
    its aliases there and in ``others`` (``arcsin`` of ``asin``; ``graphc.special.erf`` of
    ``graphc.erf``) get the same wrapper, so they stay the same object and take ``out=`` too."""
    wrappers: dict = {}
    for name in OUT_FUNCTIONS:
        fn = namespace.get(name)
        if fn is not None and not getattr(fn, "_graphc_out", False) and id(fn) not in wrappers:
            wrappers[id(fn)] = (fn, with_out(fn, name))
    for space in (namespace,) + others:
        for name, value in list(space.items()):
            entry = wrappers.get(id(value))
            if entry is not None and entry[0] is value and not name.startswith("_"):
                space[name] = entry[1]
