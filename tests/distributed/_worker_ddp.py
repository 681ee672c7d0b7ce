"""Run as ``mpiexec -n N python tests/distributed/_worker_ddp.py`` by
tests/distributed/test_distributed.py: N ranks training a DistributedDataParallel model on
per-rank batches of B/N end with the parameters of one process training on batches of B
(SGD with momentum, and Adam), eagerly and with the whole step compiled (the bucketed
all-reduces are ops of its graph), gradients are averaged in buckets, ``no_sync`` accumulates
locally, SyncBatchNorm normalizes by the global batch, ZeroRedundancyOptimizer trains as Adam
with each rank keeping part of its state. Each rank also trains the one-process reference itself, so no rank needs another's
results to check. Any failed check raises; the last line printed is ``ddp ok``."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # graphc from this checkout
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the helpers in tests/

import numpy as np

import graphc
import graphc.distributed as dist
import graphc.nn.functional as F
from conftest import assert_close
from graphc import nn, optim
from graphc.distributed.optim import ZeroRedundancyOptimizer
from graphc.nn.parallel import DistributedDataParallel

GLOBAL_BATCH = 8
STEPS = 3


def make_model(seed: int) -> nn.Module:
    graphc.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))


def batches() -> list:
    """The global batches, the same on every rank."""
    rng = np.random.default_rng(42)
    return [(graphc.tensor(rng.standard_normal((GLOBAL_BATCH, 5)).astype(np.float32)),
             graphc.tensor(rng.integers(0, 3, GLOBAL_BATCH)))
            for _ in range(STEPS)]


def train(model, make_optimizer, data, rank: int = 0, size: int = 1) -> None:
    opt = make_optimizer(model.parameters())
    share = GLOBAL_BATCH // size
    for x, y in data:
        opt.zero_grad()
        mine = slice(rank * share, (rank + 1) * share)
        F.cross_entropy(model(x[mine]), y[mine]).backward()
        opt.step()


def parameters_of(model) -> list:
    return [p.numpy().copy() for p in model.parameters()]


def check_same_parameters_as_one_process(rank: int, size: int, make_optimizer,
                                         **ddp_options) -> None:
    reference = make_model(seed=0)
    train(reference, make_optimizer, batches())
    # each rank starts from other weights: the wrapper must broadcast rank 0's
    ddp = DistributedDataParallel(make_model(seed=rank), **ddp_options)
    train(ddp, make_optimizer, batches(), rank, size)
    for got, expected in zip(parameters_of(ddp.module), parameters_of(reference)):
        assert_close(got, expected, "f32")  # float32 reduction order differs, nothing more


def check_no_sync_accumulates_locally(rank: int, size: int) -> None:
    x, y = batches()[0]
    reference = make_model(seed=0)
    F.cross_entropy(reference(x), y).backward()

    ddp = DistributedDataParallel(make_model(seed=0))
    share = GLOBAL_BATCH // size
    half = share // 2
    first = slice(rank * share, rank * share + half)
    second = slice(rank * share + half, (rank + 1) * share)
    with ddp.no_sync():
        (F.cross_entropy(ddp(x[first]), y[first]) / 2).backward()
    local = ddp.module[0].weight.grad.numpy().copy()
    everyone = [graphc.zeros(*local.shape) for _ in range(size)]
    dist.all_gather(everyone, graphc.tensor(local))
    if size > 1:  # each rank saw other samples, and nothing was averaged yet
        assert not np.allclose(everyone[0].numpy(), everyone[1].numpy())
    (F.cross_entropy(ddp(x[second]), y[second]) / 2).backward()
    for got, expected in zip(ddp.module.parameters(), reference.parameters()):
        assert_close(got.grad, expected.grad.numpy(), "f32")


def check_compiled_forward_averages_and_no_sync_stays_local_on_cached_calls(
        rank: int, size: int) -> None:
    # graphc.compile replays a cached forward without running DDP's Python: the backward
    # must still average, and a backward inside no_sync must still not
    ddp = DistributedDataParallel(nn.Linear(3, 2))
    forward = graphc.compile(ddp, backend="interpreter")  # the hooks matter, not the code
    x = graphc.full((2, 3), rank + 1.0)  # d sum(Wx + b) / dW = column sums of x: 2 (rank + 1)
    averaged = 2 * (size + 1) / 2
    for _ in range(2):
        ddp.zero_grad()
        with ddp.no_sync():
            forward(x).sum().backward()
        assert_close(ddp.module.weight.grad, np.full((2, 3), 2.0 * (rank + 1), np.float32))
        ddp.zero_grad()
        forward(x).sum().backward()
        assert_close(ddp.module.weight.grad, np.full((2, 3), averaged, np.float32))


def check_sync_batchnorm_normalizes_by_the_global_batch(rank: int, size: int,
                                                        compiled: bool) -> None:
    # the ranks' halves of one batch through SyncBatchNorm give the rows, gradients and running
    # statistics of one BatchNorm1d over the whole batch (loss: the sum of the ranks' losses)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((GLOBAL_BATCH, 3, 4)).astype(np.float32) * 2 + 1
    cotangent = rng.standard_normal(x.shape).astype(np.float32)
    reference = nn.BatchNorm1d(3)
    whole = graphc.tensor(x, requires_grad=True)
    (reference(whole) * graphc.tensor(cotangent)).sum().backward()

    synced = nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(nn.BatchNorm1d(3)))
    assert isinstance(synced[0], nn.SyncBatchNorm)
    share = GLOBAL_BATCH // size
    mine = slice(rank * share, (rank + 1) * share)
    part = graphc.tensor(x[mine], requires_grad=True)

    def loss(part, cotangent):
        return (synced(part) * cotangent).sum()

    run = graphc.compile(loss, backend="interpreter") if compiled else loss
    run(part, graphc.tensor(cotangent[mine])).backward()
    assert_close(part.grad, whole.grad.numpy()[mine], "f32")
    for name in ("weight", "bias"):
        summed = getattr(synced[0], name).grad.clone()
        dist.all_reduce(summed)  # each rank has the gradient of its own loss
        assert_close(summed, getattr(reference, name).grad.numpy(), "f32")
    for name in ("running_mean", "running_var"):
        assert_close(getattr(synced[0], name), getattr(reference, name).numpy(), "f32")


def check_zero_keeps_a_shard_of_adam_state_and_matches_one_process(rank: int,
                                                                   size: int) -> None:
    reference = make_model(seed=0)
    train(reference, lambda params: optim.Adam(params, lr=0.01), batches())
    ddp = DistributedDataParallel(make_model(seed=rank))
    zero = ZeroRedundancyOptimizer(ddp.parameters(), optim.Adam, lr=0.01)
    train(ddp, lambda params: zero, batches(), rank, size)
    for got, expected in zip(parameters_of(ddp.module), parameters_of(reference)):
        assert_close(got, expected, "f32")
    kept = graphc.tensor(len(zero.optim.state) if zero.optim is not None else 0)
    dist.all_reduce(kept)  # every parameter's state on exactly one rank
    assert kept.item() == 4 and (size == 1 or len(zero.optim.state) < 4)


def check_compiled_step_has_the_all_reduces_and_matches_one_process(
        rank: int, size: int, make_optimizer, **ddp_options) -> None:
    reference = make_model(seed=0)
    train(reference, make_optimizer, batches())
    ddp = DistributedDataParallel(make_model(seed=rank), **ddp_options)
    opt = make_optimizer(ddp.parameters())

    @graphc.compile(backend="interpreter")
    def step(x, y):
        opt.zero_grad()
        F.cross_entropy(ddp(x), y).backward()
        opt.step()

    share = GLOBAL_BATCH // size
    mine = slice(rank * share, (rank + 1) * share)
    for x, y in batches():
        step(x[mine], y[mine])
    for got, expected in zip(parameters_of(ddp.module), parameters_of(reference)):
        assert_close(got, expected, "f32")
    assert len(step.entries) == 1  # traced once, replayed for every batch
    text = str(step.graph_for(x[mine], y[mine]))
    assert text.count("= all_reduce ") == len(ddp._buckets), text


def main() -> None:
    dist.init_process_group("mpi")
    rank, size = dist.get_rank(), dist.get_world_size()
    assert GLOBAL_BATCH % (2 * size) == 0
    sgd = lambda params: optim.SGD(params, lr=0.1, momentum=0.9)
    adam = lambda params: optim.Adam(params, lr=0.01)
    # about 50 bytes a bucket: every parameter (12 to 140 bytes) gets one of its own
    small = DistributedDataParallel(make_model(seed=0), bucket_cap_mb=5e-5)
    assert len(small._buckets) == 4
    assert len(DistributedDataParallel(make_model(seed=0))._buckets) == 1
    check_same_parameters_as_one_process(rank, size, sgd, bucket_cap_mb=5e-5)
    check_same_parameters_as_one_process(rank, size, adam)
    check_no_sync_accumulates_locally(rank, size)
    check_compiled_forward_averages_and_no_sync_stays_local_on_cached_calls(rank, size)
    check_zero_keeps_a_shard_of_adam_state_and_matches_one_process(rank, size)
    check_sync_batchnorm_normalizes_by_the_global_batch(rank, size, compiled=False)
    check_sync_batchnorm_normalizes_by_the_global_batch(rank, size, compiled=True)
    # on the interpreter, quick to compile (_worker_collectives runs collectives on llvm)
    check_compiled_step_has_the_all_reduces_and_matches_one_process(rank, size, sgd,
                                                                    bucket_cap_mb=5e-5)
    check_compiled_step_has_the_all_reduces_and_matches_one_process(rank, size, adam)
    print(f"rank {rank} of {size}: ddp ok", flush=True)


if __name__ == "__main__":
    main()
