"""``graphc.distributed``: data-parallel training over MPI, with ``torch.distributed``'s names.

Start one process per replica with ``mpiexec -n 2 python train.py`` (or
``graphc launch -n 2 train.py``); in each, ``init_process_group(backend="mpi")`` joins the
default group, collectives exchange tensors, and
:class:`graphc.nn.parallel.DistributedDataParallel` averages gradients after backward;
``optim.ZeroRedundancyOptimizer`` shards optimizer state over the ranks.
Needs mpi4py and an MPI library: ``pip install graphc[distributed]``.

    >>> import graphc.distributed as dist
    >>> dist.is_initialized(), dist.ReduceOp.MAX.name
    (False, 'MAX')
    >>> dist.get_rank()
    Traceback (most recent call last):
    ...
    graphc.distributed.process_group.NotInitializedError: get_rank: the default process group \
has not been initialized; call graphc.distributed.init_process_group(backend='mpi') first
"""
import importlib

from graphc.distributed.collectives import (
    Work,
    all_gather,
    all_reduce,
    barrier,
    broadcast,
    reduce_scatter,
)
from graphc.distributed.process_group import (
    DistributedError,
    ReduceOp,
    destroy_process_group,
    get_backend,
    get_rank,
    get_world_size,
    group,
    init_process_group,
    is_available,
    is_initialized,
    is_mpi_available,
)

__all__ = ["DistributedError", "DistributedSampler", "ReduceOp", "Work", "all_gather",
           "all_reduce", "barrier", "broadcast", "destroy_process_group", "get_backend",
           "get_rank", "get_world_size", "group", "init_process_group", "is_available",
           "is_initialized", "is_mpi_available", "optim", "reduce_scatter"]


# Imported on first use (PEP 562; docs/DESIGN-NOTES.md, "Lazy loading"), so that ``graphc.nn``
# (whose DistributedDataParallel and SyncBatchNorm need this package) loads neither graphc.optim
# nor graphc.data: name -> (module, attribute or None for the module itself)
_LAZY = {"optim": ("graphc.distributed.optim", None),  # ZeroRedundancyOptimizer
         "sampler": ("graphc.distributed.sampler", None),
         "DistributedSampler": ("graphc.distributed.sampler", "DistributedSampler")}


def __getattr__(name: str):
    if name in _LAZY:
        module_name, attribute = _LAZY[name]
        module = importlib.import_module(module_name)
        return module if attribute is None else getattr(module, attribute)
    raise AttributeError(f"module 'graphc.distributed' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
