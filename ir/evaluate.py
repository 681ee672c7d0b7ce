"""Runs one op's reference semantics: the single place the interpreter and eager mode share."""
from __future__ import annotations

import numpy as np

from ir.registry import OpDef
from ir.types import TensorType


def quiet_float_errors():
    """inf and nan are legitimate results (log(0), 0/0) with IEEE semantics, as in PyTorch;
    NumPy's warnings about them would only be noise."""
    return np.errstate(all="ignore")


def evaluate(opdef: OpDef, arrays, attrs: dict, out_type: TensorType) -> np.ndarray:
    """Applies ``opdef.reference`` and returns an array of exactly ``out_type``.

    The type rule is the contract: a reference result of another shape is a bug in graphc, and is
    reported as one rather than silently broadcast. Callers run it under ``quiet_float_errors``.
    """
    result = np.asarray(opdef.reference(*arrays, **attrs))
    if result.dtype != out_type.dtype.numpy:
        result = result.astype(out_type.dtype.numpy)
    if result.shape != out_type.shape:
        raise AssertionError(f"internal error: {opdef.name} produced shape {list(result.shape)}, "
                             f"its type rule says {out_type}")
    return result
