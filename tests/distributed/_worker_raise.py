"""Run as ``mpiexec -n 2 python tests/distributed/_worker_raise.py`` by
tests/distributed/test_distributed.py: rank 1 raises while rank 0 waits in an all-reduce for
it. The job must end (non-zero, with rank 1's traceback), not hang."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # graphc from this checkout

import graphc
import graphc.distributed as dist


def main() -> None:
    dist.init_process_group("mpi")
    if dist.get_rank() == 1:
        raise ValueError("rank 1 failed on purpose")
    dist.all_reduce(graphc.ones(3))  # never completes: rank 1 is gone
    print("rank 0 finished the all-reduce", flush=True)


if __name__ == "__main__":
    main()
