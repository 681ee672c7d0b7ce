"""Collectives on tensors: every rank calls them in the same order with matching shapes.

Each call hands the tensor's NumPy buffer to mpi4py's buffer API (``Allreduce``,
``Bcast``, ``Allgather``, ``Reduce_scatter_block``), so values travel as raw arrays, never
pickled. Results are written into the tensors in place, as PyTorch's are: the tensor is
rebound to a new array (graphc never writes a shared array in place) and its version counter
moves on, so autograd notices if backward still needed the old value.

float16 and bfloat16 travel and reduce as float32 (MPI has no half types) and are rounded
once at the end; bool tensors reduce as bytes (SUM and MAX are logical or, PRODUCT and MIN
logical and, as in PyTorch).

Inside ``graphc.compile`` each call becomes an op of the graph (``all_reduce``,
``all_gather``, ``reduce_scatter``: :mod:`ir.ops.collective`; ``broadcast`` is an
``all_gather`` indexed at ``src``), which the backends run through :class:`MPICommunicator`,
so the communication shows in ``graphc dump`` and is differentiated like any other op.

    >>> import graphc
    >>> import graphc.distributed as dist
    >>> dist.all_reduce(graphc.ones(2))  # before init_process_group
    Traceback (most recent call last):
    ...
    graphc.distributed.process_group.NotInitializedError: all_reduce: the default process group \
has not been initialized; call graphc.distributed.init_process_group(backend='mpi') first
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import ml_dtypes
import numpy as np

from graphc import tracing, views
from graphc.device import host_array, is_on_device, move
from graphc.distributed.process_group import ReduceOp, _check_group, _World, require_world
from graphc.errors import ArgumentError, ShapeError, TraceError
from graphc.tensor import Tensor

_HALF_TYPES = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))


class Work:
    """What a collective with ``async_op=True`` returns. graphc's collectives complete before
    they return, so ``wait()`` has nothing left to wait for."""

    def wait(self, timeout: Any = None) -> bool:
        return True

    def is_completed(self) -> bool:
        return True


def _done(async_op: bool) -> Optional[Work]:
    return Work() if async_op else None


def _world_for(who: str, group: Any) -> _World:
    _check_group(group, who)
    return require_world(who)


def _traced(*tensors: Any) -> bool:
    """Whether the call is part of a trace (``graphc.compile``): then it emits graph ops."""
    return tracing.current() is not None or any(
        isinstance(t, Tensor) and t.is_traced for t in tensors)


class MPICommunicator:
    """The communicator of :mod:`ir.ops.collective` for the default group: what compiled
    graphs' collective ops call, on the same MPI calls as the eager collectives."""

    def __init__(self, world: _World):
        self.world = world
        self.size = world.size

    def all_reduce(self, array: np.ndarray, reduce: str) -> np.ndarray:
        return reduce_array(self.world, np.asarray(array, order="C"), ReduceOp(reduce),
                            "all_reduce")

    def all_gather(self, array: np.ndarray) -> np.ndarray:
        return gather_array(self.world, np.asarray(array, order="C"))

    def reduce_scatter(self, array: np.ndarray, reduce: str) -> np.ndarray:
        return scatter_array(self.world, np.asarray(array, order="C"), ReduceOp(reduce),
                             "reduce_scatter")


def _check_tensor(tensor: Any, who: str, argument: str) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{who}: {argument} must be a Tensor, got {type(tensor).__name__}")


def _host(tensor: Any, who: str, argument: str) -> np.ndarray:
    _check_tensor(tensor, who, argument)
    return np.asarray(host_array(tensor._data), order="C")


def store(tensor: Tensor, array: np.ndarray) -> None:
    """Writes ``array`` (same shape, any dtype) into ``tensor`` in place, on its device."""
    array = np.asarray(array.astype(tensor._data.dtype, copy=False), order="C")
    if is_on_device(tensor._data):
        array = move(array, tensor.device)
    tensor._data = array
    tensor._version += 1
    views.data_replaced(tensor)


def _wire(array: np.ndarray) -> np.ndarray:
    """A fresh array MPI can send and reduce: half types widened, bools as bytes."""
    if array.dtype in _HALF_TYPES:
        return array.astype(np.float32)
    if array.dtype == np.bool_:
        return array.astype(np.uint8)
    return array.copy()


def _mpi_op(world: _World, op: Any, dtype: np.dtype, who: str) -> Any:
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{who}: op must be a graphc.distributed.ReduceOp, got {op!r}")
    kind = dtype.kind
    if op is ReduceOp.AVG and kind not in "fcV":
        raise ArgumentError(f"{who}: ReduceOp.AVG needs a floating-point tensor, got {dtype}")
    if op in (ReduceOp.MAX, ReduceOp.MIN) and kind == "c":
        raise ArgumentError(f"{who}: ReduceOp.{op.name} is not defined on complex tensors")
    if kind == "b":  # logical or / and, computed on bytes
        op = {ReduceOp.SUM: ReduceOp.MAX, ReduceOp.PRODUCT: ReduceOp.MIN}.get(op, op)
    mpi = world.mpi
    return {ReduceOp.SUM: mpi.SUM, ReduceOp.AVG: mpi.SUM, ReduceOp.PRODUCT: mpi.PROD,
            ReduceOp.MAX: mpi.MAX, ReduceOp.MIN: mpi.MIN}[op]


def reduce_array(world: _World, array: np.ndarray, op: ReduceOp, who: str) -> np.ndarray:
    """The element-wise reduction over all ranks of ``array`` (same shape and dtype on every
    rank), as a new array of its dtype."""
    mpi_op = _mpi_op(world, op, array.dtype, who)
    buffer = _wire(array)
    if world.size > 1:
        world.comm.Allreduce(world.mpi.IN_PLACE, buffer, op=mpi_op)
    if op is ReduceOp.AVG:
        buffer /= world.size
    return buffer.astype(array.dtype, copy=False)


def broadcast_array(world: _World, array: np.ndarray, src: int) -> np.ndarray:
    """Rank ``src``'s ``array`` on every rank (a new array; same shape and dtype everywhere)."""
    buffer = _wire(array)
    if world.size > 1:
        world.comm.Bcast(buffer, root=src)
    return buffer.astype(array.dtype, copy=False)


def gather_array(world: _World, array: np.ndarray) -> np.ndarray:
    """Every rank's ``array`` stacked along a new leading axis, rank ``r``'s at ``r``."""
    buffer = _wire(array)
    gathered = np.empty((world.size,) + buffer.shape, buffer.dtype)
    if world.size > 1:
        world.comm.Allgather(buffer, gathered)
    else:
        gathered[0] = buffer
    return gathered.astype(array.dtype, copy=False)


def scatter_array(world: _World, array: np.ndarray, op: ReduceOp, who: str) -> np.ndarray:
    """Of ``array`` (``[size, ...]``), rank ``r`` gets the reduction over ranks of ``[r]``."""
    mpi_op = _mpi_op(world, op, array.dtype, who)
    send = _wire(array)
    mine = np.empty_like(send[0])
    if world.size > 1:
        world.comm.Reduce_scatter_block(send, mine, op=mpi_op)
    else:
        mine[...] = send[0]
    if op is ReduceOp.AVG:
        mine /= world.size
    return mine.astype(array.dtype, copy=False)


def _emit(op: str, tensor: Tensor, **attrs: Any) -> Tensor:
    from graphc.dispatch import apply  # dispatch sits above this module's imports
    return apply(op, [tensor], **attrs)


def all_reduce(tensor: Tensor, op: ReduceOp = ReduceOp.SUM, group: Any = None,
               async_op: bool = False) -> Optional[Work]:
    """Reduces ``tensor`` over all ranks with ``op`` and writes the result into ``tensor`` on
    every rank (``torch.distributed.all_reduce``)."""
    world = _world_for("all_reduce", group)
    if _traced(tensor):
        _check_tensor(tensor, "all_reduce", "tensor")
        _mpi_op(world, op, np.dtype(tensor.dtype.numpy), "all_reduce")
        tensor._assign(lambda old: _emit("all_reduce", old, reduce=op.value, world=world.size))
        return _done(async_op)
    store(tensor, reduce_array(world, _host(tensor, "all_reduce", "tensor"), op, "all_reduce"))
    return _done(async_op)


def broadcast(tensor: Tensor, src: int, group: Any = None, async_op: bool = False,
              group_src: Optional[int] = None) -> Optional[Work]:
    """Copies rank ``src``'s ``tensor`` into ``tensor`` on every other rank."""
    world = _world_for("broadcast", group)
    src = group_src if group_src is not None else src
    _check_rank(world, src, "broadcast", "src")
    if _traced(tensor):
        _check_tensor(tensor, "broadcast", "tensor")
        tensor._assign(lambda old: _emit("all_gather", old, world=world.size)[int(src)])
        return _done(async_op)
    store(tensor, broadcast_array(world, _host(tensor, "broadcast", "tensor"), int(src)))
    return _done(async_op)


def all_gather(tensor_list: list, tensor: Tensor, group: Any = None,
               async_op: bool = False) -> Optional[Work]:
    """Writes every rank's ``tensor`` into ``tensor_list``: ``tensor_list[i]`` gets rank
    ``i``'s. The list has one tensor per rank, each of ``tensor``'s shape and dtype."""
    world = _world_for("all_gather", group)
    if _traced(tensor, *(tensor_list if isinstance(tensor_list, (list, tuple)) else ())):
        _check_tensor(tensor, "all_gather", "tensor")
        _check_outputs(world, tensor_list, tensor, "all_gather", "tensor_list")
        gathered = _emit("all_gather", tensor, world=world.size)
        for i, out in enumerate(tensor_list):
            out._assign(lambda old, i=i: gathered[i])
        return _done(async_op)
    mine = _host(tensor, "all_gather", "tensor")
    _check_outputs(world, tensor_list, Tensor._wrap(mine), "all_gather", "tensor_list")
    for out, piece in zip(tensor_list, gather_array(world, mine)):
        store(out, piece)
    return _done(async_op)


def reduce_scatter(output: Tensor, input_list: list, op: ReduceOp = ReduceOp.SUM,
                   group: Any = None, async_op: bool = False) -> Optional[Work]:
    """Reduces ``input_list`` element-wise over all ranks and writes its ``i``-th entry into
    rank ``i``'s ``output``. The list has one tensor per rank, each of ``output``'s shape."""
    world = _world_for("reduce_scatter", group)
    _check_tensor(output, "reduce_scatter", "output")
    _check_outputs(world, input_list, output, "reduce_scatter", "input_list")
    _mpi_op(world, op, np.dtype(output.dtype.numpy), "reduce_scatter")
    if _traced(output, *input_list):
        from graphc.functions import stack  # functions sit above this module's imports
        stacked = stack(list(input_list))
        output._assign(lambda old: _emit("reduce_scatter", stacked, reduce=op.value,
                                         world=world.size))
        return _done(async_op)
    pieces = np.stack([_host(t, "reduce_scatter", "input_list") for t in input_list])
    store(output, scatter_array(world, pieces, op, "reduce_scatter"))
    return _done(async_op)


def barrier(group: Any = None, async_op: bool = False,
            device_ids: Optional[Sequence[int]] = None) -> Optional[Work]:
    """Returns once every rank has called it. Not inside ``graphc.compile`` (a graph has no
    op that waits without data, and a cached call would skip it): a TraceError there."""
    world = _world_for("barrier", group)
    if tracing.current() is not None:
        raise TraceError("graphc.distributed.barrier inside graphc.compile: a compiled call "
                         "would not wait; call barrier() outside the compiled function")
    if world.size > 1:
        world.comm.Barrier()
    return _done(async_op)


def _check_rank(world: _World, rank: Any, who: str, argument: str) -> None:
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) \
            or not 0 <= rank < world.size:
        raise ArgumentError(f"{who}: {argument}={rank!r} is not a rank of this group of "
                            f"{world.size} (0 to {world.size - 1})")


def _check_outputs(world: _World, tensors: Any, like: Tensor, who: str,
                   argument: str) -> None:
    if not isinstance(tensors, (list, tuple)) or len(tensors) != world.size:
        count = len(tensors) if isinstance(tensors, (list, tuple)) else type(tensors).__name__
        raise ArgumentError(f"{who}: {argument} must be a list of one tensor per rank "
                            f"({world.size}), got {count}")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{who}: {argument}[{i}] must be a Tensor, got {type(t).__name__}")
        if t.ir_type != like.ir_type:
            raise ShapeError(f"{who}: {argument}[{i}] is {t.ir_type}, but every entry must "
                             f"match the rank's tensor: {like.ir_type}")
