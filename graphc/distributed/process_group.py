"""The default process group: which process this is (rank) among how many (world size).

graphc's processes talk through MPI (``mpi4py``), the message passing library HPC clusters
already run: ``mpiexec -n 4 python train.py`` starts four processes, and each one's
``init_process_group(backend="mpi")`` learns its rank and the world size from MPI. A script
started without ``mpiexec`` is a world of one, so the same script runs alone unchanged.

mpi4py is an optional dependency (``pip install graphc[distributed]`` brings it with the
``mpich`` wheel, which has ``mpiexec``); it is imported only when a process group is created.
"""
from __future__ import annotations

import enum
import importlib.util
import sys
import time
from datetime import timedelta
from typing import Any, Optional

from graphc.errors import ArgumentError, GraphcError
from ir.ops import collective

INSTALL_HINT = "pip install graphc[distributed]  (mpi4py, and the mpich wheel with mpiexec)"
# seconds a rank that raised waits between printing its traceback and MPI_Abort: mpiexec kills
# every process of the job on an abort, and output still on its way from the rank (in the pipe
# to mpiexec's proxy) can be lost with them (MPI_Abort's known failing, in MPICH as elsewhere)
ABORT_GRACE_S = 0.5


class DistributedError(GraphcError, RuntimeError):
    """Misuse of ``graphc.distributed`` (no process group, a missing MPI library): a
    RuntimeError, as PyTorch's ``torch.distributed`` raises it."""


class NotInitializedError(DistributedError, ValueError):
    """A call that needs the default process group before :func:`init_process_group`: a
    ValueError, as PyTorch 2 raises it, and a RuntimeError, as earlier versions did."""


class ReduceOp(enum.Enum):
    """How a collective combines the ranks' values, as ``torch.distributed.ReduceOp``.

    ``AVG`` is the sum divided by the world size (floating-point tensors only).

        >>> ReduceOp.SUM, ReduceOp.AVG.name
        (<ReduceOp.SUM: 'sum'>, 'AVG')
    """
    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MAX = "max"
    MIN = "min"


class _World:
    """The state of the default group: the MPI communicator, and the excepthook it replaced."""

    def __init__(self, comm: Any, mpi: Any):
        self.comm = comm
        self.mpi = mpi
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.previous_excepthook = sys.excepthook


_world: Optional[_World] = None


def import_mpi() -> Any:
    """``mpi4py.MPI``, or a :class:`DistributedError` that says how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise DistributedError(
            f"graphc.distributed runs on MPI through mpi4py, which is not installed here "
            f"({e}); install it with: {INSTALL_HINT}") from None
    return MPI


def init_process_group(backend: Optional[str] = "mpi", init_method: Optional[str] = None,
                       timeout: Optional[timedelta] = None, world_size: int = -1,
                       rank: int = -1, store: Any = None, group_name: str = "",
                       pg_options: Any = None, device_id: Any = None) -> None:
    """Joins this process to the default process group, as ``torch.distributed``'s function.

    ``backend`` is ``"mpi"`` (or None): ranks and the world size come from MPI, so
    ``world_size`` and ``rank``, if given, must agree with them; ``init_method``, ``store`` and
    ``timeout`` are accepted for PyTorch's signature and not needed by MPI. Started without
    ``mpiexec``, the process is a world of one. From here on, an exception that no one catches
    in any rank prints its traceback and aborts the whole job (``MPI_Abort``) instead of leaving
    the other ranks waiting forever in their next collective.

        >>> import graphc.distributed as dist
        >>> dist.is_initialized()
        False
    """
    global _world
    if backend is not None and str(backend).lower() != "mpi":
        raise ArgumentError(f"init_process_group: backend {backend!r} is not available; "
                            "graphc's processes communicate through MPI: backend='mpi' (start "
                            "them with mpiexec or graphc launch)")
    if _world is not None:
        raise DistributedError("trying to initialize the default process group twice "
                               "(call destroy_process_group() first)")
    mpi = import_mpi()
    world = _World(mpi.COMM_WORLD, mpi)
    for name, given, actual in (("world_size", world_size, world.size), ("rank", rank, world.rank)):
        if given is not None and given != -1 and int(given) != actual:
            raise ArgumentError(f"init_process_group: {name}={given}, but MPI started this "
                                f"process with {name} {actual}; leave {name} out (MPI sets it)")
    if world.size > 1:
        sys.excepthook = _abort_on_uncaught
    _world = world
    from graphc.distributed.collectives import MPICommunicator  # it imports this module
    collective.set_communicator(MPICommunicator(world))  # for collective ops in graphs


def _abort_on_uncaught(kind, value, tb) -> None:
    # Without this, a rank that raises exits while the others wait in a collective for ever.
    sys.__excepthook__(kind, value, tb)
    sys.stderr.flush()
    world = _world
    if world is not None:
        print(f"graphc.distributed: rank {world.rank} raised {kind.__name__}; aborting the job",
              file=sys.stderr, flush=True)
        time.sleep(ABORT_GRACE_S)
        world.comm.Abort(1)


def destroy_process_group(group: Any = None) -> None:
    """Leaves the default process group (MPI itself stays initialized until the process
    exits, as MPI allows only one initialization per process)."""
    global _world
    world = require_world("destroy_process_group")
    _check_group(group, "destroy_process_group")
    if sys.excepthook is _abort_on_uncaught:
        sys.excepthook = world.previous_excepthook
    _world = None
    collective.set_communicator(None)


def is_initialized() -> bool:
    """Whether :func:`init_process_group` has run (and no :func:`destroy_process_group` since)."""
    return _world is not None


def is_available() -> bool:
    """Whether distributed training can run here: mpi4py is installed (as
    ``torch.distributed``'s ``is_available``). It looks without importing: importing mpi4py
    starts MPI."""
    try:
        return importlib.util.find_spec("mpi4py") is not None
    except (ImportError, ValueError):
        return False


def is_mpi_available() -> bool:
    """The same as :func:`is_available`: MPI is graphc's only backend."""
    return is_available()


def get_rank(group: Any = None) -> int:
    """This process's rank in the default group, from 0 to ``get_world_size() - 1``."""
    _check_group(group, "get_rank")
    return require_world("get_rank").rank


def get_world_size(group: Any = None) -> int:
    """How many processes the default group has."""
    _check_group(group, "get_world_size")
    return require_world("get_world_size").size


def get_backend(group: Any = None) -> str:
    """``"mpi"``: the backend of the default group."""
    _check_group(group, "get_backend")
    require_world("get_backend")
    return "mpi"


def require_world(who: str) -> _World:
    """The default group, or the error PyTorch gives when it was not created."""
    if _world is None:
        raise NotInitializedError(f"{who}: the default process group has not been initialized; "
                                  "call graphc.distributed.init_process_group(backend='mpi') first")
    return _world


class _GroupMember:
    """``group.WORLD``: the name PyTorch programs pass for the default group."""
    WORLD = None


group = _GroupMember


def _check_group(group_arg: Any, who: str) -> None:
    if group_arg is not None:
        raise ArgumentError(f"{who}: group={group_arg!r}: graphc has only the default process "
                            "group (pass group=None)")
