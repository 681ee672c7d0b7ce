"""``graphc launch -n N script.py [args...]``: runs a script as N MPI processes.

A thin wrapper over the MPI launcher: it finds ``mpiexec`` (beside the running Python first,
where ``pip install graphc[distributed]`` puts the mpich wheel's, then on ``PATH``) and runs
``mpiexec -n N [-hostfile FILE] python -m mpi4py script.py args...``. ``python -m mpi4py``
aborts the whole job when any rank ends with an uncaught exception, even before the script's
``init_process_group``, so a failing rank never leaves the others waiting. The exit status is
mpiexec's: non-zero when a rank failed.

    >>> command = launch_command(2, "train.py", ["--epochs", "3"], mpiexec="mpiexec",
    ...                          python="python")
    >>> " ".join(command)
    'mpiexec -n 2 python -m mpi4py train.py --epochs 3'
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from typing import Optional

from graphc.distributed.process_group import INSTALL_HINT, DistributedError, import_mpi


def find_mpiexec() -> str:
    """The path of ``mpiexec``, or a :class:`DistributedError` saying how to install one."""
    beside_python = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if os.access(beside_python, os.X_OK):
        return beside_python
    found = shutil.which("mpiexec")
    if found is None:
        raise DistributedError(f"graphc launch: no MPI launcher (mpiexec) found beside "
                               f"{sys.executable} or on PATH; install one with: {INSTALL_HINT}"
                               " (or your system's MPI, e.g. apt-get install mpich)")
    return found


def launch_command(processes: int, script: str, arguments: Sequence[str] = (),
                   hostfile: Optional[str] = None, mpiexec: Optional[str] = None,
                   python: Optional[str] = None) -> list:
    """The command line that runs ``script`` as ``processes`` MPI ranks."""
    if processes < 1:
        raise DistributedError(f"graphc launch: -n must be at least 1, got {processes}")
    command = [mpiexec or find_mpiexec(), "-n", str(processes)]
    if hostfile is not None:
        command += ["-hostfile", hostfile]  # understood by MPICH's and Open MPI's mpiexec
    return command + [python or sys.executable, "-m", "mpi4py", script, *arguments]


def launch(processes: int, script: str, arguments: Sequence[str] = (),
           hostfile: Optional[str] = None) -> int:
    """Runs ``script`` as ``processes`` MPI ranks and returns mpiexec's exit status."""
    if not os.path.isfile(script):
        raise DistributedError(f"graphc launch: no such script: {script}")
    if hostfile is not None and not os.path.isfile(hostfile):
        raise DistributedError(f"graphc launch: no such host file: {hostfile}")
    import_mpi()  # ranks run `python -m mpi4py`: say how to install it before starting them
    command = launch_command(processes, script, arguments, hostfile)
    return subprocess.call(command)
