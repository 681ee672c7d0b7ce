"""graphc.distributed: collectives, DistributedDataParallel and DistributedSampler, run as two
MPI processes (``mpiexec -n 2``, and ``graphc launch -n 2``) that check themselves against
NumPy and against one-process training, eagerly and compiled (the _worker_*.py scripts beside
this file); ``graphc dump`` of a DDP training step; plus what needs no MPI processes: DistributedSampler's shards, the error without mpi4py, the launcher's
command and its message when mpiexec is missing."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the helpers in tests/

import graphc
import graphc.distributed as dist
from graphc.cli import main as cli_main
from graphc.distributed import launch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TIMEOUT = 120  # seconds: far above the few a run takes, far below a CI hang


def _mpiexec() -> str:
    pytest.importorskip("mpi4py", reason="graphc.distributed needs mpi4py: "
                                         "pip install graphc[distributed]")
    return launch.find_mpiexec()


def _run(command: list) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)


def _ran_ok(result: subprocess.CompletedProcess, marker: str, ranks: int) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    for rank in range(ranks):
        assert f"rank {rank} of {ranks}: {marker}" in result.stdout, result.stdout


# -- two MPI processes ---------------------------------------------------------------------------
def test_collectives_on_two_ranks_match_numpy_and_sampler_covers_data_once_per_epoch():
    result = _run([_mpiexec(), "-n", "2", sys.executable,
                   str(HERE / "_worker_collectives.py")])
    _ran_ok(result, "collectives ok", 2)


def test_started_without_mpiexec_is_a_world_of_one():
    _mpiexec()
    result = _run([sys.executable, str(HERE / "_worker_collectives.py"), "--eager-only"])
    _ran_ok(result, "collectives ok", 1)


def test_ddp_syncbatchnorm_and_zero_on_two_ranks_with_half_batches_match_one_process():
    """SGD and Adam, eager and compiled, no_sync, bucketing: see _worker_ddp.py's checks."""
    _mpiexec()
    result = _run([sys.executable, "-m", "graphc", "launch", "-n", "2",
                   str(HERE / "_worker_ddp.py")])
    _ran_ok(result, "ddp ok", 2)


def test_a_rank_that_raises_ends_the_job_with_its_error_instead_of_hanging():
    result = _run([_mpiexec(), "-n", "2", sys.executable, str(HERE / "_worker_raise.py")])
    everything = f"exit status {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode != 0, everything
    assert "ValueError: rank 1 failed on purpose" in result.stderr, everything
    assert "rank 0 finished" not in result.stdout, everything


DDP_STEP = """
import graphc
import graphc.distributed as dist
import graphc.nn.functional as F
from graphc import nn, optim
from graphc.nn.parallel import DistributedDataParallel

dist.init_process_group("mpi")  # started without mpiexec: a world of one
model = DistributedDataParallel(nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 10)),
                                bucket_cap_mb=4e-4)  # 419 bytes: buckets [b2, w2, b1], [w1]
opt = optim.SGD(model.parameters(), lr=0.1)


def train_step(x, y):
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss
"""


def test_graphc_dump_of_a_ddp_training_step_shows_one_all_reduce_per_bucket(tmp_path):
    _mpiexec()
    (tmp_path / "ddp_step.py").write_text(DDP_STEP)
    result = _run([sys.executable, "-m", "graphc", "dump", f"{tmp_path}/ddp_step.py:train_step",
                   "--arg", "f32[4,5]", "--arg", "i64[4]"])
    assert result.returncode == 0, result.stderr
    reduces = [line for line in result.stdout.splitlines() if "= all_reduce " in line]
    assert len(reduces) == 2, result.stdout
    assert all('{reduce="avg", world=1}' in line for line in reduces)


# -- no MPI processes ----------------------------------------------------------------------------
def test_sampler_pads_by_repeating_the_first_indices_and_strides_by_rank():
    # PyTorch: 10 indices over 4 replicas -> 3 each, total 12: [0..9, 0, 1], rank r takes r::4
    shards = [list(dist.DistributedSampler(range(10), num_replicas=4, rank=r, shuffle=False))
              for r in range(4)]
    assert shards == [[0, 4, 8], [1, 5, 9], [2, 6, 0], [3, 7, 1]]


def test_sampler_drop_last_leaves_out_the_uneven_tail():
    # PyTorch: ceil((10 - 4) / 4) = 2 each, the first 8 indices
    shards = [list(dist.DistributedSampler(range(10), num_replicas=4, rank=r, shuffle=False,
                                           drop_last=True)) for r in range(4)]
    assert shards == [[0, 4], [1, 5], [2, 6], [3, 7]]
    assert len(dist.DistributedSampler(range(10), num_replicas=4, rank=0, drop_last=True)) == 2


def test_sampler_shuffles_alike_on_every_rank_and_anew_with_set_epoch():
    def shards(epoch, seed=0):
        samplers = [dist.DistributedSampler(range(12), num_replicas=3, rank=r, seed=seed)
                    for r in range(3)]
        for s in samplers:
            s.set_epoch(epoch)
        return [list(s) for s in samplers]

    first = shards(0)
    assert sorted(sum(first, [])) == list(range(12))  # disjoint shards that cover the data
    assert first == shards(0) and first != shards(1) and first != shards(0, seed=1)


def test_sampler_rejects_a_rank_outside_the_replicas_and_needs_a_group_without_them():
    with pytest.raises(ValueError, match=r"Invalid rank 4, rank should be in the interval \[0, 3\]"):
        dist.DistributedSampler(range(10), num_replicas=4, rank=4)
    with pytest.raises(RuntimeError, match="process group has not been initialized"):
        dist.DistributedSampler(range(10))


def test_dataloader_takes_its_order_from_a_sampler_and_refuses_shuffle_with_it():
    data = graphc.data.TensorDataset(graphc.arange(10))
    sampler = dist.DistributedSampler(data, num_replicas=2, rank=1, shuffle=False)
    loader = graphc.data.DataLoader(data, batch_size=2, sampler=sampler)
    assert [b[0].tolist() for b in loader] == [[1, 3], [5, 7], [9]] and len(loader) == 3
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        graphc.data.DataLoader(data, sampler=sampler, shuffle=True)


def test_init_without_mpi4py_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # `import mpi4py` now fails
    with pytest.raises(RuntimeError, match=r"pip install graphc\[distributed\]"):
        dist.init_process_group(backend="mpi")
    assert not dist.is_initialized() and not dist.is_available()


def test_init_names_the_backend_it_does_not_have():
    with pytest.raises(ValueError, match="backend 'nccl' is not available.*backend='mpi'"):
        dist.init_process_group(backend="nccl")


def test_collectives_and_ddp_before_init_say_to_initialize():
    with pytest.raises(RuntimeError, match="all_reduce: the default process group has not"):
        dist.all_reduce(graphc.ones(2))
    with pytest.raises(ValueError, match="get_rank: the default process group has not"):
        dist.get_rank()  # PyTorch 2 raises a ValueError here
    with pytest.raises(RuntimeError, match="DistributedDataParallel: the default process"):
        graphc.nn.parallel.DistributedDataParallel(graphc.nn.Linear(2, 2))


def test_launch_runs_the_script_under_mpi4py_with_its_arguments():
    command = launch.launch_command(3, "train.py", ["--lr", "0.1"], hostfile="hosts",
                                    mpiexec="/opt/mpi/bin/mpiexec", python="/usr/bin/python3")
    assert command == ["/opt/mpi/bin/mpiexec", "-n", "3", "-hostfile", "hosts",
                       "/usr/bin/python3", "-m", "mpi4py", "train.py", "--lr", "0.1"]


def test_launch_without_mpiexec_says_how_to_install_one(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))  # no mpiexec beside it
    monkeypatch.setenv("PATH", str(tmp_path))
    script = tmp_path / "train.py"
    script.write_text("print('never runs')\n")
    monkeypatch.setattr(launch, "import_mpi", lambda: None)  # as if mpi4py were there
    assert cli_main(["launch", "-n", "2", str(script)]) == 1
    message = capsys.readouterr().err
    assert "no MPI launcher (mpiexec) found" in message
    assert "pip install graphc[distributed]" in message
