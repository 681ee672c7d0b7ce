"""What an eager optimizer step needs to update parameters and state on their NumPy arrays.

An optimizer's step is written in tensor ops (so a compiled training step traces it); eagerly,
on a small model, each of those ops costs more in dispatch than in arithmetic. A step may
instead run the same NumPy operations on the arrays, in the same order and dtypes (a Python
number as a scalar of the tensor's dtype, as :func:`graphc.functions.scalar_like` makes it), so
every bit stays (``benchmarks/eager_bits_check.py`` compares checkouts), when
:func:`host_pairs` says the group allows it: no trace, every parameter, gradient and state
tensor a host float32/float64 array of one dtype and none of them a view or viewed.

    >>> import graphc
    >>> w = graphc.nn.Parameter(graphc.tensor([1.0, 2.0]))
    >>> w.grad = graphc.tensor([0.5, 0.5])
    >>> [p is w for p, g in host_pairs({"params": [w]})]
    [True]
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from graphc import tracing
from graphc.tensor import Tensor

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def plain(t: Tensor, dtype) -> bool:
    """Whether ``t`` is a host array of ``dtype`` that an eager step may rebind: not traced,
    not a view of another tensor, and without views of its own (those follow in-place ops)."""
    return (type(t._data) is np.ndarray and t._data.dtype == dtype and t._value is None
            and t._view_info is None and not t._views)


def host_pairs(group: dict) -> Optional[list[tuple[Tensor, Tensor]]]:
    """The (parameter, gradient) pairs of ``group`` (parameters with a gradient) if an eager
    step may run on their arrays, else None (a trace, a device tensor, half precision, mixed
    dtypes, a view)."""
    if tracing.current() is not None:
        return None
    pairs = []
    for p in group["params"]:
        g = p._grad
        if g is None:
            continue
        dtype = p._data.dtype if type(p._data) is np.ndarray else None
        if dtype not in _FLOATS or not plain(p, dtype) or type(g._data) is not np.ndarray \
                or g._data.dtype != dtype or g._value is not None:
            return None
        pairs.append((p, g))
    return pairs


def number(value) -> bool:
    """Whether a hyperparameter is a plain Python number (a tensor learning rate is not)."""
    return type(value) in (float, int)


def rebind(t: Tensor, array) -> None:
    """``t`` holds ``array`` now, as after an in-place op under no_grad on a leaf or a state
    tensor (``t.copy_(...)``, ``t.sub_(...)``): its version moves on."""
    t._data = array if type(array) is np.ndarray else np.asarray(array)
    t._version += 1


__all__ = ["host_pairs", "number", "plain", "rebind"]
