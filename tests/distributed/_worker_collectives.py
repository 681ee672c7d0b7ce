"""Run as ``mpiexec -n N python tests/distributed/_worker_collectives.py`` (or alone, as a
world of one) by tests/distributed/test_distributed.py: every collective against NumPy, eager
and as ops of compiled graphs (with a gradient through one), the errors of bad arguments, and DistributedSampler covering the data once per epoch. Any failed
check raises, so the job exits non-zero; the last line printed is ``collectives ok``."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # graphc from this checkout
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the helpers in tests/

import ml_dtypes
import numpy as np
import pytest

import graphc
import graphc.distributed as dist
from conftest import assert_close
from graphc.data import DataLoader, TensorDataset
from graphc.errors import ArgumentError, ShapeError, TraceError

SHAPE = (3, 4)
FLOAT_TYPES = {"f32": np.float32, "f64": np.float64, "f16": np.float16,
               "bf16": ml_dtypes.bfloat16}


def values_of(rank: int, dtype, shape=SHAPE) -> np.ndarray:
    """What rank ``rank`` contributes: known to every rank, so each computes the oracle."""
    rng = np.random.default_rng(100 + rank)
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-5, 6, size=shape).astype(dtype)
    if np.dtype(dtype).kind == "b":
        return rng.random(shape) < 0.3
    return rng.uniform(0.5, 1.5, size=shape).astype(dtype)


def oracle(op, contributions: list) -> np.ndarray:
    stacked = np.stack([c.astype(np.float64) for c in contributions])
    return {"SUM": stacked.sum(0), "AVG": stacked.mean(0), "PRODUCT": stacked.prod(0),
            "MAX": stacked.max(0), "MIN": stacked.min(0)}[op.name]


def check_all_reduce(rank: int, size: int) -> None:
    for name, dtype in FLOAT_TYPES.items():
        for op in dist.ReduceOp:
            tensor = graphc.tensor(values_of(rank, dtype))
            before = tensor._version
            assert dist.all_reduce(tensor, op) is None
            expected = oracle(op, [values_of(k, dtype) for k in range(size)])
            assert tensor.dtype.name == name and tensor._version == before + 1
            assert_close(tensor, expected.astype(dtype), name)
    for op in (dist.ReduceOp.SUM, dist.ReduceOp.MAX, dist.ReduceOp.MIN, dist.ReduceOp.PRODUCT):
        tensor = graphc.tensor(values_of(rank, np.int64))
        dist.all_reduce(tensor, op=op)
        expected = oracle(op, [values_of(k, np.int64) for k in range(size)])
        np.testing.assert_array_equal(tensor.numpy(), expected.astype(np.int64))
    scalar = graphc.tensor(float(rank + 1))  # a 0-d tensor stays 0-d
    dist.all_reduce(scalar)
    assert scalar.shape == () and scalar.item() == size * (size + 1) / 2
    flags = graphc.tensor(values_of(rank, np.bool_))
    dist.all_reduce(flags)  # PyTorch: a sum of bools is their logical or
    expected = np.logical_or.reduce([values_of(k, np.bool_) for k in range(size)])
    np.testing.assert_array_equal(flags.numpy(), expected)


def check_broadcast_gather_scatter(rank: int, size: int) -> None:
    tensor = graphc.tensor(values_of(rank, np.float32))
    dist.broadcast(tensor, src=size - 1)
    np.testing.assert_array_equal(tensor.numpy(), values_of(size - 1, np.float32))

    gathered = [graphc.zeros(*SHAPE) for _ in range(size)]
    dist.all_gather(gathered, graphc.tensor(values_of(rank, np.float32)))
    for k, piece in enumerate(gathered):
        np.testing.assert_array_equal(piece.numpy(), values_of(k, np.float32))

    for op in (dist.ReduceOp.SUM, dist.ReduceOp.AVG, dist.ReduceOp.MAX):
        # rank k sends values_of(10 k + i) to rank i
        inputs = [graphc.tensor(values_of(10 * rank + i, np.float32)) for i in range(size)]
        output = graphc.zeros(*SHAPE)
        dist.reduce_scatter(output, inputs, op=op)
        expected = oracle(op, [values_of(10 * k + rank, np.float32) for k in range(size)])
        assert_close(output, expected.astype(np.float32), "f32")


def check_bad_arguments(rank: int, size: int) -> None:
    with pytest.raises(RuntimeError, match="initialize the default process group twice"):
        dist.init_process_group("mpi")
    with pytest.raises(ArgumentError, match="list of one tensor per rank"):
        dist.all_gather([graphc.zeros(2)] * (size + 1), graphc.zeros(2))
    with pytest.raises(ShapeError, match=r"tensor_list\[0\] is f32\[3\]"):
        dist.all_gather([graphc.zeros(3)] * size, graphc.zeros(2))
    with pytest.raises(ArgumentError, match="AVG needs a floating-point tensor"):
        dist.all_reduce(graphc.tensor([1, 2]), dist.ReduceOp.AVG)
    with pytest.raises(TypeError, match="op must be a graphc.distributed.ReduceOp"):
        dist.all_reduce(graphc.ones(2), "sum")
    with pytest.raises(TypeError, match="tensor must be a Tensor, got ndarray"):
        dist.all_reduce(np.ones(2))
    with pytest.raises(ArgumentError, match=f"src={size} is not a rank"):
        dist.broadcast(graphc.ones(2), src=size)
    with pytest.raises(ArgumentError, match="only the default process group"):
        dist.barrier(group="pipeline")
    with pytest.raises(TraceError, match="barrier inside graphc.compile"):
        graphc.compile(lambda x: dist.barrier() or x + 1, backend="interpreter")(graphc.ones(2))



def check_compiled_collectives_are_graph_ops_that_match_numpy(rank: int, size: int) -> None:
    @graphc.compile
    def exchange(x):
        mean = x.clone()
        dist.all_reduce(mean, dist.ReduceOp.AVG)
        gathered = [graphc.zeros_like(x) for _ in range(size)]
        dist.all_gather(gathered, x)
        last = x.clone()
        dist.broadcast(last, src=size - 1)
        part = graphc.zeros_like(x)
        dist.reduce_scatter(part, [x * (i + 1) for i in range(size)])  # rank i gets (i+1) sum
        return mean, graphc.stack(gathered), last, part

    x = graphc.tensor(values_of(rank, np.float32))
    everyone = [values_of(k, np.float32) for k in range(size)]
    for _ in range(2):  # the second call runs the cached graph
        mean, gathered, last, part = exchange(x)
        assert_close(mean, oracle(dist.ReduceOp.AVG, everyone).astype(np.float32), "f32")
        np.testing.assert_array_equal(gathered.numpy(), np.stack(everyone))
        np.testing.assert_array_equal(last.numpy(), everyone[-1])
        expected = (rank + 1) * oracle(dist.ReduceOp.SUM, everyone)
        assert_close(part, expected.astype(np.float32), "f32")
    assert len(exchange.entries) == 1
    text = str(exchange.graph_for(x))
    for op in ("all_reduce", "all_gather", "reduce_scatter"):
        assert f"= {op} " in text, text


def check_gradient_through_a_compiled_all_reduce_sums_the_ranks_cotangents(
        rank: int, size: int) -> None:
    # loss_r = sum(c_r * all_reduce(x_r)): d loss_r / d x_k = c_r on every rank k, so the
    # gradient each rank's x gets is the sum of every rank's cotangent, sum_r c_r
    @graphc.compile(backend="interpreter")  # the rule matters here, not the code
    def loss(x, c):
        total = x.clone()
        dist.all_reduce(total)
        return (total * c).sum()

    x = graphc.tensor(values_of(rank, np.float32), requires_grad=True)
    c = graphc.full(SHAPE, rank + 1.0)
    loss(x, c).backward()
    assert_close(x.grad, np.full(SHAPE, size * (size + 1) / 2, np.float32), "f32")


def check_sampler_covers_data_once_per_epoch(rank: int, size: int) -> None:
    length = 4 * size + 3  # does not divide evenly: padded with repeats from the start
    orders = []
    for epoch in range(2):
        sampler = dist.DistributedSampler(range(length), shuffle=True, seed=7)
        sampler.set_epoch(epoch)
        mine = graphc.tensor(list(sampler))
        everyone = [graphc.zeros(len(sampler), dtype=graphc.int64) for _ in range(size)]
        dist.all_gather(everyone, mine)
        indices = np.concatenate([t.numpy() for t in everyone])
        assert len(indices) == size * len(sampler) == size * -(-length // size)
        assert sorted(set(indices.tolist())) == list(range(length))
        orders.append(indices)
    if length > 1:
        assert not np.array_equal(orders[0], orders[1]), "set_epoch did not reshuffle"

    # through a DataLoader: every sample once, drop_last leaves the uneven tail out
    data = TensorDataset(graphc.arange(length))
    sampler = dist.DistributedSampler(data, drop_last=True, seed=3)
    seen = np.concatenate([b[0].numpy() for b in DataLoader(data, batch_size=2,
                                                             sampler=sampler)])
    everyone = [graphc.zeros(len(seen), dtype=graphc.int64) for _ in range(size)]
    dist.all_gather(everyone, graphc.tensor(seen))
    union = np.concatenate([t.numpy() for t in everyone])
    assert len(union) == len(set(union.tolist())) == length - length % size


def main() -> None:
    dist.init_process_group(backend="mpi")
    rank, size = dist.get_rank(), dist.get_world_size()
    assert dist.is_initialized() and 0 <= rank < size
    check_all_reduce(rank, size)
    check_broadcast_gather_scatter(rank, size)
    check_bad_arguments(rank, size)
    if "--eager-only" not in sys.argv:  # (a world of one: the registry tests run the ops)
        check_compiled_collectives_are_graph_ops_that_match_numpy(rank, size)
        check_gradient_through_a_compiled_all_reduce_sums_the_ranks_cotangents(rank, size)
    check_sampler_covers_data_once_per_epoch(rank, size)
    dist.barrier()
    dist.destroy_process_group()
    assert not dist.is_initialized()
    print(f"rank {rank} of {size}: collectives ok", flush=True)


if __name__ == "__main__":
    main()
