"""``DistributedDataParallel``: one model replica per process, gradients averaged over ranks.

Wrapping a module broadcasts its parameters and buffers from rank 0, so every replica starts
from the same weights. Each backward pass through the wrapper's output then ends, on every
rank, with the gradients replaced by their average over the ranks (the same gradient one
process would get from the whole global batch, when each rank's loss is a mean over an equal
share of it), so identical optimizer steps keep the replicas identical.

How it hooks in, as PyTorch's does: a hook on each parameter's gradient queues one callback
(:func:`graphc.autograd.queue_callback`) that runs when backward has accumulated every
``.grad``; it averages the gradients in buckets of about ``bucket_cap_mb`` megabytes, one MPI
all-reduce per bucket, with the parameters taken in reverse order (about the order backward
produces them). graphc's backward writes the leaves' gradients at its end, so the all-reduces
run after it instead of overlapping with it. Backward passes run inside
:meth:`~DistributedDataParallel.no_sync` only accumulate locally, and the first backward outside
averages the accumulated gradients. (PyTorch decides by where the *forward* ran; graphc by where
the backward runs, which is the same for the usual ``with model.no_sync(): model(x).backward()``
and stays right when ``graphc.compile(model)`` replays a cached forward without running its
Python.)

Parameters a rank's graph did not use count as zero gradients in the average. With
``broadcast_buffers`` (the default) every forward first copies rank 0's buffers to the others,
as PyTorch does; BatchNorm still normalizes each rank's batch by its own statistics.

A training step compiled whole (``graphc.compile`` around forward, ``backward()`` and the
optimizer step) gets the same buckets as ``all_reduce`` ops in its graph, between the backward
ops and the update (``graphc dump`` shows them); a forward compiled alone averages in the
eager backward as above.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Optional

import numpy as np

from graphc import autograd, tracing
from graphc.device import host_array
from graphc.dispatch import apply
from graphc.distributed import collectives
from graphc.distributed.process_group import ReduceOp, _check_group, require_world
from graphc.factories import zeros_like
from graphc.nn.module import Module, Parameter

_MB = 1024 * 1024


class DistributedDataParallel(Module):
    """Data-parallel training of ``module`` over the ranks of the default process group, as
    ``torch.nn.parallel.DistributedDataParallel`` (parameters under ``module.`` in the state
    dict, as PyTorch's).

    ``bucket_cap_mb`` bounds the size of each gradient all-reduce; ``broadcast_buffers`` copies
    rank 0's buffers to every rank before each forward. ``device_ids``, ``output_device``,
    ``dim``, ``find_unused_parameters`` (unused parameters always count as zero gradients),
    ``gradient_as_bucket_view`` and ``static_graph`` are accepted for PyTorch's signature.
    """

    def __init__(self, module: Module, device_ids: Optional[list] = None,
                 output_device: Any = None, dim: int = 0, broadcast_buffers: bool = True,
                 process_group: Any = None, bucket_cap_mb: Optional[float] = None,
                 find_unused_parameters: bool = False, check_reduction: bool = False,
                 gradient_as_bucket_view: bool = False, static_graph: bool = False,
                 **kwargs: Any):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps an nn.Module, got "
                            f"{type(module).__name__}")
        _check_group(process_group, "DistributedDataParallel")
        self._world = require_world("DistributedDataParallel")
        if bucket_cap_mb is None:
            bucket_cap_mb = 25.0  # PyTorch's default
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got "
                             f"{bucket_cap_mb}")
        self.module = module
        self.device_ids = device_ids
        self.output_device = output_device
        self.dim = dim
        self.broadcast_buffers = bool(broadcast_buffers)
        self.bucket_cap_mb = float(bucket_cap_mb)
        self.find_unused_parameters = find_unused_parameters
        self.require_backward_grad_sync = True
        self._sync_module_states()
        self._trained = [p for p in _unique(module.parameters()) if p.requires_grad]
        self._buckets = _buckets(self._trained, int(self.bucket_cap_mb * _MB))
        for parameter in self._trained:
            autograd.register_tensor_hook(parameter, self._gradient_ready)

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        if self.broadcast_buffers and self._world.size > 1:
            for buffer in self.module.buffers():
                collectives.broadcast(buffer, 0)
        return self.module(*inputs, **kwargs)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes run inside accumulate gradients on each rank without averaging
        them; the first backward after it averages what accumulated.

            >>> from graphc.nn.parallel import DistributedDataParallel
            >>> DistributedDataParallel.no_sync.__name__
            'no_sync'
        """
        before = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = before

    # -- what backward runs --------------------------------------------------------------------
    def _gradient_ready(self, grad: Any) -> None:
        if self.require_backward_grad_sync:
            autograd.queue_callback(self._average_gradients)

    def _average_gradients(self) -> None:
        if tracing.current() is not None:
            self._emit_averaging()
            return
        for bucket in self._buckets:
            grads = [_host_grad(p) for p in bucket]
            flat = np.concatenate([g.reshape(-1) for g in grads])
            averaged = collectives.reduce_array(self._world, flat, ReduceOp.AVG,
                                                "DistributedDataParallel")
            start = 0
            for parameter, grad in zip(bucket, grads):
                piece = averaged[start:start + grad.size].reshape(grad.shape)
                start += grad.size
                if parameter.grad is None:
                    parameter.grad = zeros_like(parameter)
                collectives.store(parameter.grad, piece)

    def _emit_averaging(self) -> None:
        """In a traced training step: the same buckets as graph ops, one ``all_reduce`` per
        bucket over its gradients flattened and concatenated, between backward and whatever
        the step does next (the optimizer update)."""
        from graphc.functions import cat  # functions sit above the nn modules' imports
        with autograd.no_grad():
            for bucket in self._buckets:
                grads = [p.grad if p.grad is not None else zeros_like(p) for p in bucket]
                flat = cat([g.reshape(-1) for g in grads])
                averaged = apply("all_reduce", [flat], reduce="avg", world=self._world.size)
                start = 0
                for parameter, grad in zip(bucket, grads):
                    parameter.grad = averaged[start:start + grad.numel()].reshape(grad.shape)
                    start += grad.numel()

    def _sync_module_states(self) -> None:
        """Rank 0's parameters and buffers on every rank."""
        if self._world.size == 1:
            return
        for tensor in list(self.module.parameters()) + list(self.module.buffers()):
            array = host_array(tensor._data)
            collectives.store(tensor, collectives.broadcast_array(self._world, array, 0))


def _unique(parameters: Iterator[Parameter]) -> list:
    """Each parameter once (a weight tied to two layers has one gradient to average)."""
    unique: dict = {}
    for parameter in parameters:
        unique.setdefault(id(parameter), parameter)
    return list(unique.values())


def _host_grad(parameter: Parameter) -> np.ndarray:
    if parameter.grad is None:
        return np.zeros(parameter.shape, host_array(parameter._data).dtype)
    return host_array(parameter.grad._data)


def _buckets(parameters: list, cap_bytes: int) -> list:
    """Parameters in reverse order, cut into runs of one dtype of at most ``cap_bytes`` (a
    parameter larger than that gets a bucket of its own)."""
    buckets: list = []
    size = 0
    for parameter in reversed(parameters):
        nbytes = parameter._data.dtype.itemsize * parameter.numel()
        last = buckets[-1] if buckets else None
        if last is None or size + nbytes > cap_bytes or \
                last[0]._data.dtype != parameter._data.dtype:
            buckets.append([parameter])
            size = nbytes
        else:
            last.append(parameter)
            size += nbytes
    return buckets
