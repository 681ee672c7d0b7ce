"""DataLoader(num_workers=N): worker processes with PyTorch's semantics.

Order, determinism, per-worker seeds, errors and crashes, persistent workers, prefetching,
IterableDataset sharding. Every test runs under a watchdog (faulthandler) that dumps the
stacks and ends the run if it hangs: a hang is the failure these tests exist to catch."""
import faulthandler
import os
import random
import signal
import time
from collections import namedtuple

import numpy as np
import pytest

import graphc
from graphc.data import (
    DataLoader,
    Dataset,
    IterableDataset,
    TensorDataset,
    get_worker_info,
)
from graphc.random import Generator

HANG_LIMIT_S = 60


@pytest.fixture(autouse=True)
def watchdog():
    faulthandler.dump_traceback_later(HANG_LIMIT_S, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


class Numbers(Dataset):
    """Sample i is i; the first ``slow`` samples take ``delay`` seconds (so a later batch can
    arrive before an earlier one)."""

    def __init__(self, n, slow=0, delay=0.0):
        self.n, self.slow, self.delay = n, slow, delay

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i < self.slow:
            time.sleep(self.delay)
        return i


class Draws(Dataset):
    """Sample i: which worker loaded it, its seed and its first draws of each generator."""

    def __len__(self):
        return 4

    def __getitem__(self, i):
        info = get_worker_info()
        try:
            info.id = 5
            read_only = False
        except RuntimeError:  # as PyTorch's WorkerInfo
            read_only = True
        return {"read_only": read_only, "worker": info.id, "workers": info.num_workers, "seed": info.seed,
                "random": random.random(), "numpy": float(np.random.random()),
                "graphc": float(graphc.rand(1).item())}


class Failing(Dataset):
    def __init__(self, exc):
        self.exc = exc

    def __len__(self):
        return 10

    def __getitem__(self, i):
        if i == 7:
            raise self.exc
        return i


class Dies(Dataset):
    def __init__(self, how):
        self.how = how

    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == 3:
            if self.how == "exit":
                os._exit(3)
            os.kill(os.getpid(), signal.SIGKILL)
        return i


class Sharded(IterableDataset):
    """range(n), each worker taking every num_workers-th element from its id (PyTorch's
    documented get_worker_info recipe)."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))


def batches(loader):
    return [b.tolist() for b in loader]


def test_workers_yield_batches_in_sampler_order_even_when_a_later_one_is_ready_first():
    ds = Numbers(10, slow=2, delay=0.2)  # worker 0's first batch is the slowest
    assert batches(DataLoader(ds, batch_size=2, num_workers=2)) == \
        [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert batches(DataLoader(ds, batch_sampler=[[5, 0], [9], [1, 7, 3]], num_workers=2)) == \
        [[5, 0], [9], [1, 7, 3]]


def test_workers_give_the_same_shuffled_order_as_one_process_under_a_seed():
    def order(workers):
        loader = DataLoader(Numbers(11), batch_size=3, shuffle=True, num_workers=workers,
                            generator=Generator(9))
        return [batches(loader) for _ in range(2)]  # two epochs

    in_process = order(0)
    assert sorted(sum(in_process[0], [])) == list(range(11))
    assert in_process[0] != in_process[1]
    assert order(2) == in_process and order(2) == in_process


def test_each_new_loader_iterator_draws_its_workers_seed_from_the_generator_as_pytorchs():
    """A loader made again each epoch (or a train and a val loader) must not give its workers
    the seeds of the last one: every random augmentation would repeat. One draw per iterator,
    with or without workers, so both see the same numbers afterwards."""
    graphc.manual_seed(0)
    first, second = [[s["seed"] for s in DataLoader(Draws(), batch_size=None, num_workers=2)]
                     for _ in range(2)]
    assert first != second  # a new loader, new seeds
    after_workers = graphc.rand(3).tolist()
    graphc.manual_seed(0)
    for _ in range(2):
        list(DataLoader(Numbers(4), num_workers=0))
    assert graphc.rand(3).tolist() == after_workers
    graphc.manual_seed(0)
    assert graphc.rand(3).tolist() != after_workers  # the loaders drew


def test_worker_seeds_are_base_seed_plus_worker_id_and_seed_every_generator():
    def run():
        loader = DataLoader(Draws(), batch_size=None, num_workers=2, generator=Generator(3))
        return list(loader)

    samples = run()
    assert [s["worker"] for s in samples] == [0, 1, 0, 1]  # round-robin
    assert all(s["workers"] == 2 for s in samples)
    assert all(s["read_only"] for s in samples)
    seeds = {s["worker"]: s["seed"] for s in samples}
    assert seeds[1] == seeds[0] + 1
    for s in samples[:2]:  # each worker's first draws, recomputed from its seed here
        random.seed(s["seed"])
        graphc.manual_seed(s["seed"])
        assert s["random"] == random.random()
        assert s["graphc"] == float(graphc.rand(1).item())
    assert samples[0]["numpy"] != samples[1]["numpy"]
    assert run() == samples  # the same generator seed: the same draws
    again = DataLoader(Draws(), batch_size=None, num_workers=2, generator=Generator(4))
    assert [s["seed"] for s in again] != [s["seed"] for s in samples]


def init_tags_worker(worker_id):
    os.environ["GRAPHC_TEST_WORKER_TAG"] = f"tagged {worker_id}"


class Tag(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return os.environ.get("GRAPHC_TEST_WORKER_TAG", "untagged")


def test_worker_init_fn_runs_in_each_worker_with_its_id():
    tags = list(DataLoader(Tag(), batch_size=None, num_workers=2,
                           worker_init_fn=init_tags_worker))
    assert tags == ["tagged 0", "tagged 1", "tagged 0", "tagged 1"]
    assert "GRAPHC_TEST_WORKER_TAG" not in os.environ  # it ran in the workers only


def test_worker_exception_is_reraised_with_its_type_worker_and_sample_index():
    with pytest.raises(ValueError) as caught:
        list(DataLoader(Failing(ValueError("bad sample")), batch_size=2, num_workers=2))
    message = str(caught.value)
    assert "Caught ValueError in DataLoader worker process 1 while loading sample 7" in message
    assert "bad sample" in message and "Traceback" in message and "__getitem__" in message
    with pytest.raises(KeyError, match="worker process 1 while loading sample 7"):
        list(DataLoader(Failing(KeyError("k")), batch_size=2, num_workers=2))


class NeedsTwoArguments(Exception):
    def __init__(self, a, b):
        super().__init__(a, b)


def test_worker_exception_that_cannot_be_rebuilt_becomes_a_runtime_error():
    with pytest.raises(RuntimeError, match="Caught NeedsTwoArguments in DataLoader worker"):
        list(DataLoader(Failing(NeedsTwoArguments(1, 2)), batch_size=2, num_workers=2))


def failing_collate(samples):
    raise TypeError("cannot collate these")


def test_collate_error_in_a_worker_names_the_batch():
    with pytest.raises(TypeError, match=r"worker process 0 while collating the batch of "
                                        r"samples \[0, 1\]"):
        list(DataLoader(Numbers(4), batch_size=2, num_workers=1, collate_fn=failing_collate))


def failing_init(worker_id):
    raise OSError(f"no device for worker {worker_id}")


def test_worker_init_fn_error_is_reraised():
    with pytest.raises(OSError, match="no device for worker 0"):
        list(DataLoader(Numbers(4), num_workers=1, worker_init_fn=failing_init))


@pytest.mark.parametrize("how, expected", [("exit", "exited unexpectedly with exit code 3"),
                                           ("kill", "was killed by signal 9")])
def test_crashed_worker_is_a_runtime_error_not_a_hang(how, expected):
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=f"DataLoader worker 1 \\(pid \\d+\\) {expected}"):
        list(DataLoader(Dies(how), batch_size=1, num_workers=2))
    assert time.monotonic() - start < 10


def test_timeout_bounds_the_wait_for_a_batch():
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.3 seconds"):
        list(DataLoader(Numbers(2, slow=2, delay=5.0), num_workers=1, timeout=0.3))
    assert time.monotonic() - start < 4


def test_iterator_deleted_early_shuts_its_workers_down():
    iterator = iter(DataLoader(Numbers(100), batch_size=1, num_workers=2))
    assert next(iterator).tolist() == [0] and len(iterator) == 100
    workers = list(iterator._workers)
    assert all(w.is_alive() for w in workers)
    del iterator
    assert not any(w.is_alive() for w in workers)


def test_persistent_workers_survive_epochs_and_drop_an_abandoned_epochs_batches():
    loader = DataLoader(Numbers(9), batch_size=2, num_workers=2, persistent_workers=True,
                        shuffle=True, generator=Generator(2))
    first = batches(loader)
    pids = [w.pid for w in loader._iterator._workers]
    for _ in loader:  # abandon an epoch with batches still in flight
        break
    second = batches(loader)
    assert [w.pid for w in loader._iterator._workers] == pids
    assert all(w.is_alive() for w in loader._iterator._workers)
    for epoch in (first, second):
        assert sorted(sum(epoch, [])) == list(range(9)) and [len(b) for b in epoch][-1] == 1
    assert first != second
    loader._iterator._shutdown()


class Counted(Dataset):
    def __init__(self, counter):
        self.counter = counter

    def __len__(self):
        return 20

    def __getitem__(self, i):
        with self.counter.get_lock():
            self.counter.value += 1
        return i


def test_prefetch_factor_bounds_the_batches_loaded_ahead():
    import multiprocessing
    counter = multiprocessing.get_context("fork").Value("i", 0)
    loader = DataLoader(Counted(counter), batch_size=1, num_workers=2, prefetch_factor=1,
                        multiprocessing_context="fork")
    iterator = iter(loader)
    next(iterator)
    time.sleep(0.3)  # let the workers load all they are allowed to
    assert counter.value <= 3  # the one yielded + 1 in flight per worker
    del iterator


def test_iterable_dataset_shards_with_get_worker_info_in_pytorchs_interleaved_order():
    # worker 0 yields 0 2 4 6 8, worker 1 yields 1 3 5 7 9; batches alternate between them
    assert batches(DataLoader(Sharded(10), batch_size=2, num_workers=2)) == \
        [[0, 2], [1, 3], [4, 6], [5, 7], [8], [9]]
    # worker 1 runs out first: its turn is skipped, worker 0 goes on
    assert batches(DataLoader(Sharded(5), batch_size=2, num_workers=2)) == [[0, 2], [1, 3], [4]]


def test_iterable_dataset_without_sharding_is_read_by_every_worker():
    class Whole(IterableDataset):
        def __iter__(self):
            return iter(range(3))

    assert [int(x) for x in DataLoader(Whole(), batch_size=None, num_workers=2)] == \
        [0, 0, 1, 1, 2, 2]


Pair = namedtuple("Pair", "image label")


class Structured(Dataset):
    def __len__(self):
        return 3

    def __getitem__(self, i):
        image = graphc.full((2,), float(i)).to(graphc.bfloat16)
        return {"pair": Pair(image, i), "name": f"s{i}"}


def test_batches_cross_processes_as_tensors_with_structure_and_dtype():
    (batch,) = list(DataLoader(Structured(), batch_size=3, num_workers=1))
    images, labels = batch["pair"]
    assert isinstance(batch["pair"], Pair) and batch["name"] == ["s0", "s1", "s2"]
    assert isinstance(images, graphc.Tensor) and images.dtype == graphc.bfloat16
    assert images.float().tolist() == [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]
    assert labels.tolist() == [0, 1, 2]


def test_spawn_start_method_loads_a_picklable_dataset():
    ds = TensorDataset(graphc.arange(5))
    loader = DataLoader(ds, batch_size=2, num_workers=1, multiprocessing_context="spawn")
    assert [b[0].tolist() for b in loader] == [[0, 1], [2, 3], [4]]


def test_compiled_step_fed_by_workers_trains_as_in_process():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -1.0, 2.0])).astype(np.float32)
    ds = TensorDataset(graphc.from_numpy(x), graphc.from_numpy(y))

    def train(workers):
        w = graphc.nn.Parameter(graphc.zeros(3))
        opt = graphc.optim.SGD([w], lr=0.1)

        @graphc.compile
        def step(xb, yb):
            opt.zero_grad()
            loss = ((xb @ w - yb) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        loader = DataLoader(ds, batch_size=8, shuffle=True, generator=5, num_workers=workers,
                            persistent_workers=workers > 0)
        for _ in range(3):
            for xb, yb in loader:
                step(xb, yb)
        return w.numpy()

    np.testing.assert_array_equal(train(2), train(0))


class UsesThreadPool(Dataset):
    """Each sample runs two parts on graphc's kernel thread pool (as a big compiled kernel)."""

    def __len__(self):
        return 2

    def __getitem__(self, i):
        from backends import threads
        done = []
        threads.run_parts([lambda: done.append("caller"), lambda: done.append("pool")])
        return sorted(done)


def test_forked_worker_can_use_the_thread_pool_its_parent_had_started():
    from backends import threads
    threads.run_parts([lambda: None, lambda: None])  # the parent's pool has a thread now
    loader = DataLoader(UsesThreadPool(), batch_size=None, num_workers=1, timeout=10)
    assert list(loader) == [["caller", "pool"], ["caller", "pool"]]


class Unpicklable(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        return lambda: i  # a local function: cannot cross to the main process


def test_batch_that_cannot_be_pickled_is_an_error_not_a_hang():
    loader = DataLoader(Unpicklable(), batch_size=None, num_workers=1, timeout=10,
                        collate_fn=lambda sample: sample)
    with pytest.raises(Exception, match="worker process 0 while sending a batch to the main "
                                        "process"):
        list(loader)


class GilFree(Dataset):
    """Samples made in NumPy (which releases the GIL): loaded by worker threads."""
    releases_gil = True

    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 6 and getattr(self, "fail", False):
            raise IndexError("no sample 6")
        info = get_worker_info()
        return np.full(3, i, dtype=np.float32), info.id, info.num_workers, os.getpid()


def test_dataset_that_releases_the_gil_is_loaded_by_worker_threads():
    import threading
    loader = DataLoader(GilFree(), batch_size=2, num_workers=2)
    iterator = iter(loader)
    assert all(isinstance(w._thread, threading.Thread) for w in iterator._workers)
    assert get_worker_info() is None  # per thread: the main thread is no worker
    out = [next(iterator) for _ in range(4)]
    assert [x.tolist() for x, *_ in out] == [[[2.0 * b] * 3, [2.0 * b + 1] * 3]
                                             for b in range(4)]
    assert [ids.tolist() for _, ids, _, _ in out] == [[0, 0], [1, 1], [0, 0], [1, 1]]
    assert all(n.tolist() == [2, 2] and pid.tolist() == [os.getpid()] * 2
               for _, _, n, pid in out)
    workers = iterator._workers
    with pytest.raises(StopIteration):
        next(iterator)
    assert not any(w.is_alive() for w in workers)


def test_worker_thread_exception_is_reraised_with_the_sample_index():
    dataset = GilFree()
    dataset.fail = True
    with pytest.raises(IndexError, match="Caught IndexError in DataLoader worker thread 1 while loading sample 6"):
        list(DataLoader(dataset, batch_size=2, num_workers=2))
