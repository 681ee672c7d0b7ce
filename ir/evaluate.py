"""Runs ops' reference semantics: the single place the interpreter and eager mode share."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ir import dtypes
from ir.registry import OpDef
from ir.types import TensorType

if TYPE_CHECKING:
    from ir.graph import Graph


def quiet_float_errors():
    """inf and nan are legitimate results (log(0), 0/0) with IEEE semantics, as in PyTorch;
    NumPy's warnings about them would only be noise. A context manager: ``np.errstate(all=
    "ignore")``, entered in a quarter of its time (see :func:`silence_float_errors`)."""
    return _QuietFloatErrors() if _EXTOBJ is not None else np.errstate(all="ignore")


# NumPy >= 2 keeps its floating-point error state in a context variable holding one opaque
# object (the four policies, the callback and the buffer size); np.errstate(all="ignore") makes a
# new such object from the current one and sets it, which costs about 1 us, as much as the add
# of two small arrays. The object it makes depends only on the current one, so it is made once
# per state met and remembered: entering is then a dict lookup and a ContextVar.set. NumPy 1.x
# (no such variable) falls back to np.errstate itself.
try:
    from numpy._core import _ufunc_config
    _EXTOBJ = getattr(_ufunc_config, "_extobj_contextvar", None)
except ImportError:  # pragma: no cover  (NumPy 1.x)
    _EXTOBJ = None
_QUIET_STATES: dict = {}  # a state -> the same state with every error ignored (held, not ids)


def silence_float_errors():
    """Ignores NumPy's floating-point errors in this thread until :func:`restore_float_errors`
    gets what this returned: ``with quiet_float_errors():`` without the ``with`` (dispatch's hot
    path pairs them in a ``try``/``finally``)."""
    if _EXTOBJ is None:  # pragma: no cover  (NumPy 1.x)
        state = np.errstate(all="ignore")
        state.__enter__()
        return state
    current = _EXTOBJ.get()
    quiet = _QUIET_STATES.get(current)
    if quiet is None:
        with np.errstate(all="ignore"):
            quiet = _EXTOBJ.get()
        if len(_QUIET_STATES) >= 64:  # (states made by np.seterr in a loop: start afresh)
            _QUIET_STATES.clear()
        _QUIET_STATES[current] = quiet
        _QUIET_STATES[quiet] = quiet  # (already quiet: nested dispatch stays as it is)
    return _EXTOBJ.set(quiet)


def restore_float_errors(token) -> None:
    """Puts back the error state :func:`silence_float_errors` found."""
    if _EXTOBJ is None:  # pragma: no cover  (NumPy 1.x)
        token.__exit__(None, None, None)
    else:
        _EXTOBJ.reset(token)


class _QuietFloatErrors:
    __slots__ = ("_token",)

    def __enter__(self):
        self._token = silence_float_errors()

    def __exit__(self, *exc) -> None:
        restore_float_errors(self._token)


def evaluate(opdef: OpDef, arrays, attrs: dict,
             out_type: TensorType | Sequence[TensorType]):
    """Applies ``opdef.reference`` and returns an array of exactly ``out_type``.

    ``out_type`` may be a sequence of types (an op with several results, or any op through
    :func:`evaluate_results`): the result is then a tuple of arrays, one per type.
    The type rule is the contract: a reference result of another shape is a bug in graphc, and is
    reported as one rather than silently broadcast. Callers run it under ``quiet_float_errors``.
    """
    if isinstance(out_type, TensorType):  # (the single result of an eager op: no tuples)
        return _conform(opdef, _reference_result(opdef, arrays, attrs), out_type)
    return evaluate_results(opdef, arrays, attrs, tuple(out_type))


def evaluate_results(opdef: OpDef, arrays, attrs: dict,
                     out_types: tuple[TensorType, ...]) -> tuple[np.ndarray, ...]:
    """Like :func:`evaluate`, always returning a tuple (one array per result type)."""
    raw = _reference_result(opdef, arrays, attrs)
    results = (raw,) if len(out_types) == 1 else tuple(raw)
    if len(results) != len(out_types):
        raise AssertionError(f"internal error: {opdef.name} produced {len(results)} results, "
                             f"its type rule says {len(out_types)}")
    return tuple([_conform(opdef, r, t) for r, t in zip(results, out_types)])


def _reference_result(opdef: OpDef, arrays, attrs: dict):
    """What ``opdef.reference`` answers on ``arrays``, laid out and converted as it expects."""
    ready, narrow = [], False
    for a in arrays:
        if type(a) is not np.ndarray or not a.flags.c_contiguous:
            a = _row_major(a)
        if a.itemsize == 2:  # (float16 and bfloat16 among them: worth a closer look)
            narrow = True
        ready.append(a)
    if narrow and opdef.kind in COMPUTES_IN_F32 and opdef.name != "cast":
        ready = computing_in_f32(ready)
    return opdef.reference(*ready, **attrs)


# Kinds of ops that compute, rather than move, values: on float16 and bfloat16 operands they
# compute in float32 and round the result once to the result dtype (``_conform``), as PyTorch's
# CPU kernels do; sums accumulate in float32. (NumPy's float16 sum accumulates in float16, and
# ml_dtypes' bfloat16 matmul answers in float32.)
COMPUTES_IN_F32 = frozenset(("elementwise", "reduce", "matmul", "conv"))


_LOW_PRECISION = frozenset(d.numpy for d in dtypes.ALL if d.is_low_precision_float)


def computing_in_f32(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """The operands as the op computes with them: if their common dtype is float16 or bfloat16,
    each (but a bool, such as ``where``'s condition) is converted to it first, as PyTorch
    converts operands to the common dtype; then float16 and bfloat16 become float32."""
    for a in arrays:
        if a.dtype in _LOW_PRECISION:
            break
    else:  # the common case, quickly
        return arrays
    kinds = [dtypes.from_numpy(a.dtype) for a in arrays]
    common = dtypes.result_type(*((d, a.ndim) for d, a in zip(kinds, arrays)))
    if common.is_low_precision_float:
        arrays = [a if d.is_bool else a.astype(common.numpy, copy=False)
                  for d, a in zip(kinds, arrays)]
    return [a.astype(np.float32) if dtypes.from_numpy(a.dtype).is_low_precision_float else a
            for a in arrays]


def _row_major(array) -> np.ndarray:
    """``array`` laid out contiguously in row-major order (copied only if it is not).

    NumPy's float reductions (and its matmul kernels) add in an order that follows the memory
    layout, so ``sum`` of a transposed view and of the same values stored row-major can differ
    in the last bits. References therefore always see row-major operands: a value's bits depend
    only on the values it is computed from, never on whether an earlier op returned a view, so
    passes that materialize or drop movement ops (``fold``, ``simplify``) keep every bit.
    """
    if type(array) is not np.ndarray:
        array = np.asarray(array)
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


def _conform(opdef: OpDef, result, out_type: TensorType) -> np.ndarray:
    if type(result) is not np.ndarray:  # (a NumPy scalar, from a reduction to rank 0)
        result = np.asarray(result)
    want = out_type.dtype.numpy
    if result.dtype is not want and result.dtype != want:  # ("is": builtin dtypes are shared)
        result = result.astype(want)
    if result.shape != out_type.shape:
        raise AssertionError(f"internal error: {opdef.name} produced shape {list(result.shape)}, "
                             f"its type rule says {out_type}")
    return result


def run_graph(graph: Graph, arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    """Runs ``graph`` on ``arrays`` node by node with the references; returns its outputs.

    The plain evaluator behind the ``fused`` op's reference (eager mode). Backends use
    ``backends.interpreter``, which also checks inputs, frees dead values and names the node
    that failed. Callers run it under ``quiet_float_errors``.
    """
    env = {id(v): a for v, a in zip(graph.inputs, arrays)}
    for node in graph.nodes:
        results = evaluate_results(node.opdef, [env[id(v)] for v in node.inputs], node.attrs,
                                   node.result_types)
        env.update((id(v), r) for v, r in zip(node.outputs, results))
    return tuple(env[id(v)] for v in graph.outputs)
