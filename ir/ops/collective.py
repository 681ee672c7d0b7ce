"""Collectives: ops whose result combines the values of every process of a data-parallel job.

- ``all_reduce(x) {reduce, world}``: the element-wise reduction of ``x`` over the ranks
  (``reduce``: ``sum avg product max min``; ``avg`` is the sum divided by ``world``); the type
  of ``x``;
- ``all_gather(x) {world}``: every rank's ``x`` stacked along a new leading axis, rank ``r``'s
  at index ``r``: ``[world, *x.shape]``;
- ``reduce_scatter(x) {reduce, world}``: ``x`` is ``[world, *s]``; rank ``r`` gets the
  reduction over the ranks of their ``x[r]``: ``[*s]``.

``world`` is the number of ranks the graph was traced for (the types of ``all_gather`` and
``reduce_scatter`` depend on it); running the graph in a world of another size is an error.

The references hand the arrays to the process's :data:`communicator`, which
``graphc.distributed.init_process_group`` sets (MPI through mpi4py); until then it is a world of
one, where each collective gives back its rank's own values. ``ir`` knows nothing of MPI: the
communicator is the only door. The gradients: ``all_reduce`` with ``sum`` or ``avg`` is linear
and its own transpose (each rank's result depends on every rank's input, so an input's
gradient sums, or averages, the ranks' cotangents); the transpose of ``all_gather`` is
``reduce_scatter`` with ``sum``, and that of ``reduce_scatter`` (``sum``/``avg``) is
``all_gather`` (divided by ``world`` for ``avg``). ``max``, ``min`` and ``product`` have no
gradient rule here: differentiating through them raises.

    >>> import numpy as np
    >>> import ir
    >>> x = ir.TensorType(ir.f32, (2, 3))
    >>> print(ir.get_op("all_gather").infer([x], {"world": 4}))
    f32[4,2,3]
    >>> ir.get_op("all_reduce").reference(np.ones(2, np.float32), reduce="avg", world=1)
    array([1., 1.], dtype=float32)
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from ir.errors import DTypeError, ShapeError
from ir.registry import Attr, OpDef, register

REDUCTIONS = ("sum", "avg", "product", "max", "min")


class Communicator(Protocol):
    """What the collective ops need from the processes' transport (MPI, in graphc)."""

    size: int

    def all_reduce(self, array: np.ndarray, reduce: str) -> np.ndarray: ...

    def all_gather(self, array: np.ndarray) -> np.ndarray: ...

    def reduce_scatter(self, array: np.ndarray, reduce: str) -> np.ndarray: ...


class WorldOfOne:
    """The communicator of a process that is not part of a job: every rank is this one."""

    size = 1

    def all_reduce(self, array: np.ndarray, reduce: str) -> np.ndarray:
        return array.copy()

    def all_gather(self, array: np.ndarray) -> np.ndarray:
        return array[None].copy()

    def reduce_scatter(self, array: np.ndarray, reduce: str) -> np.ndarray:
        return array[0].copy()


communicator: Communicator = WorldOfOne()


def set_communicator(new: Communicator | None) -> Communicator:
    """Makes ``new`` (None: a world of one) the communicator the references use; returns the
    previous one."""
    global communicator
    previous, communicator = communicator, (new if new is not None else WorldOfOne())
    return previous


def _world_of(op: str, world: int) -> Communicator:
    if communicator.size != world:
        raise ShapeError(f"{op}: the graph was traced for a world of {world} process(es), but "
                         f"this process runs in a world of {communicator.size}")
    return communicator


def _check(op: str, attrs: dict, x) -> None:
    if int(attrs["world"]) < 1:
        raise ShapeError(f"{op}: world must be at least 1, got {attrs['world']}")
    reduce = attrs.get("reduce")
    if reduce is not None and reduce not in REDUCTIONS:
        raise ShapeError(f"{op}: reduce must be one of {', '.join(REDUCTIONS)}, got {reduce!r}")
    if reduce == "avg" and not x.dtype.is_float:
        raise DTypeError(f"{op}: reduce=avg needs a floating-point operand, got {x.dtype}")


def _same_type(types, attrs):
    (x,) = types
    _check("all_reduce", attrs, x)
    return x


def _gathered_type(types, attrs):
    (x,) = types
    _check("all_gather", attrs, x)
    return x.with_shape((int(attrs["world"]),) + tuple(x.shape))


def _scattered_type(types, attrs):
    (x,) = types
    _check("reduce_scatter", attrs, x)
    if x.ndim == 0 or x.shape[0] != int(attrs["world"]):
        raise ShapeError(f"reduce_scatter: the operand's leading axis holds one part per rank: "
                         f"expected [{attrs['world']}, ...], got {x}")
    return x.with_shape(tuple(x.shape[1:]))


def _linear(op: str, reduce: str) -> None:
    if reduce not in ("sum", "avg"):
        raise ShapeError(f"{op} with reduce={reduce} has no gradient rule (only sum and avg)")


def _all_reduce_vjp(em, xs, out, g, attrs):
    _linear("all_reduce", attrs["reduce"])
    return [em.emit("all_reduce", [g], dict(attrs))]


def _all_gather_vjp(em, xs, out, g, attrs):
    return [em.emit("reduce_scatter", [g], {"reduce": "sum", "world": attrs["world"]})]


def _reduce_scatter_vjp(em, xs, out, g, attrs):
    _linear("reduce_scatter", attrs["reduce"])
    gathered = em.emit("all_gather", [g], {"world": attrs["world"]})
    if attrs["reduce"] == "avg":
        gathered = em.div(gathered, em.scalar(float(attrs["world"]), gathered))
    return [gathered]


WORLD = Attr("world", "int")
REDUCE = Attr("reduce", "str")

register(OpDef(
    "all_reduce", "collective", 1, _same_type,
    lambda x, reduce, world: _world_of("all_reduce", world).all_reduce(x, reduce),
    attrs=(REDUCE, WORLD), vjp=_all_reduce_vjp, needs_values=False,
    doc="element-wise reduction over the ranks of a data-parallel job"))
register(OpDef(
    "all_gather", "collective", 1, _gathered_type,
    lambda x, world: _world_of("all_gather", world).all_gather(x),
    attrs=(WORLD,), vjp=_all_gather_vjp, needs_values=False,
    doc="every rank's operand, stacked along a new leading axis"))
register(OpDef(
    "reduce_scatter", "collective", 1, _scattered_type,
    lambda x, reduce, world: _world_of("reduce_scatter", world).reduce_scatter(x, reduce),
    attrs=(REDUCE, WORLD), vjp=_reduce_scatter_vjp, needs_values=False,
    doc="rank r's part of the reduction over the ranks of their operands' parts"))
