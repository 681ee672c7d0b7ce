"""Loading batches in worker processes: ``DataLoader(num_workers=N)``, as PyTorch does it.

Each worker process holds a copy of the dataset and its own index queue; the main process
hands out batches of indices round-robin, keeps ``prefetch_factor`` batches in flight per
worker, and yields results in the sampler's order (out-of-order arrivals wait in a buffer).

- **Start method**: ``fork`` where the platform has it (Linux, PyTorch's default there): the
  dataset and ``collate_fn`` need not be picklable and workers start in milliseconds. A forked
  child keeps only the forking thread, so a worker first drops graphc to one thread (as PyTorch
  calls ``torch.set_num_threads(1)``) and ``backends.threads`` forgets its thread pool after a
  fork; a worker never waits on a thread that exists only in the parent. ``spawn`` and
  ``forkserver`` (``multiprocessing_context=``) need a picklable dataset.
- **Seeds**: each worker seeds Python's ``random`` and graphc's generator with
  ``base_seed + worker_id`` and NumPy's global generator with a state derived from both,
  (PyTorch's scheme), where ``base_seed`` comes from the loader's generator for every epoch
  (derived from its state, not drawn: see ``DataLoader``): workers differ from each other and
  runs repeat under a seed.
- **Transport**: a batch crosses back through a ``multiprocessing`` queue (a pipe), its tensors
  as NumPy arrays, pickled. Shared memory saved 0.3 ms per 200 KB batch when measured, but
  leaves segments behind when a process dies and needs the resource tracker worked around.
- **Threads**: a dataset whose ``releases_gil`` is True is loaded by worker threads instead
  (:class:`ThreadContext`), the same protocol over ``queue.Queue``: no process start, no copy.
- **Errors**: an exception in a worker comes back as the same exception type, its message
  naming the worker, the sample index and the worker's traceback; a worker that dies
  (``os._exit``, a signal) is a RuntimeError naming it and its exit code, found by polling, so
  the main process never hangs; ``timeout=`` bounds the wait for one batch.

    >>> import graphc
    >>> from graphc.data import DataLoader, TensorDataset
    >>> ds = TensorDataset(graphc.arange(10))
    >>> [b[0].tolist() for b in DataLoader(ds, batch_size=4, num_workers=2)]
    [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
"""
from __future__ import annotations

import copy
import itertools
import os
import queue
import random
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

if TYPE_CHECKING:  # multiprocessing is imported when workers start: import graphc stays fast
    import multiprocessing.context

__all__ = ["WorkerInfo", "get_worker_info"]

# How often a waiting main process checks that its workers are alive, and a worker that its
# parent is: short, so a crash is reported at once; waiting costs nothing when data is ready.
POLL_INTERVAL_S = 0.05
# How long shutting down waits for a worker to exit before terminating it.
JOIN_TIMEOUT_S = 0.5


class WorkerInfo:
    """What a worker knows of itself (``torch.utils.data.get_worker_info()``): ``id`` in
    ``range(num_workers)``, ``seed`` (``base_seed + id``) and its copy of the ``dataset``.
    Read-only, as PyTorch's (assigning is a RuntimeError)."""
    id: int
    num_workers: int
    seed: int
    dataset: Any

    def __init__(self, *, id: int, num_workers: int, seed: int, dataset: Any) -> None:
        for name, value in (("id", id), ("num_workers", num_workers), ("seed", seed),
                            ("dataset", dataset)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise RuntimeError(f"Cannot assign attributes to {type(self).__name__} objects")

    def __repr__(self) -> str:
        return (f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed}, "
                f"dataset={type(self.dataset).__name__})")


_worker_info: Optional[WorkerInfo] = None  # in a worker process
_thread_worker = threading.local()  # in a worker thread (``Dataset.releases_gil``)


def get_worker_info() -> Optional[WorkerInfo]:
    """In a DataLoader worker process, its :class:`WorkerInfo`; None in the main process.

    An ``IterableDataset`` uses it to give each worker its share of the data (each worker
    iterates its own copy of the dataset):

        >>> get_worker_info() is None
        True
    """
    return getattr(_thread_worker, "info", None) or _worker_info


def default_context() -> multiprocessing.context.BaseContext:
    """``fork`` where the platform has it (see the module docstring), else its default."""
    import multiprocessing
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def resolve_context(context) -> multiprocessing.context.BaseContext:
    """A multiprocessing context from ``multiprocessing_context=`` (None, a start method's
    name, or a context), with PyTorch's errors."""
    import multiprocessing
    import multiprocessing.context
    if context is None:
        return default_context()
    if isinstance(context, str):
        methods = multiprocessing.get_all_start_methods()
        if context not in methods:
            raise ValueError(f"multiprocessing_context option should specify a valid start "
                             f"method in {methods!r}, but got "
                             f"multiprocessing_context={context!r}")
        return multiprocessing.get_context(context)
    if not isinstance(context, multiprocessing.context.BaseContext):
        raise TypeError(f"multiprocessing_context option should be a valid context object or "
                        f"a string specifying the start method, but got "
                        f"multiprocessing_context={context}")
    return context


# -- messages between the processes --------------------------------------------------------------
class ExceptionWrapper:
    """An exception raised in a worker, carried to the main process and re-raised there."""

    def __init__(self, exc: BaseException, where: str) -> None:
        self.exc_type: Optional[type] = type(exc)
        try:  # a class the main process cannot unpickle (a local one) becomes a RuntimeError
            import pickle
            pickle.dumps(self.exc_type)
        except Exception:
            self.exc_type = None
        self.type_name = type(exc).__name__
        self.message = (f"Caught {self.type_name} {where}.\nOriginal "
                        + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))

    def reraise(self) -> None:
        exc_type = self.exc_type or RuntimeError
        message = self.message
        if exc_type is KeyError:  # KeyError quotes its message: keep the traceback readable
            message = _KeyErrorMessage(message)
        try:
            exception = exc_type(message)
        except Exception:  # an exception class whose constructor wants other arguments
            raise RuntimeError(message) from None
        raise exception


class _KeyErrorMessage(str):
    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True)
class _ResumeIteration:
    """Tells a persistent worker a new epoch starts (it restarts an iterable dataset)."""
    epoch: int


@dataclass(frozen=True)
class _IterationEnd:
    """A worker's iterable dataset is exhausted."""
    worker_id: int


class _ArrayOf:
    """A tensor on its way from a worker: its array, made a Tensor again in the main process."""
    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __reduce__(self):
        return (_ArrayOf, (self.array,))


def _map_nested(leaf, data: Any) -> Any:
    """``data`` with ``leaf`` applied to everything but its tuples, lists, dicts and
    namedtuples, which are walked and rebuilt with their own types."""
    if isinstance(data, dict):
        return {k: _map_nested(leaf, v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(_map_nested(leaf, d) for d in data))
    if isinstance(data, (list, tuple)):
        return type(data)(_map_nested(leaf, d) for d in data)
    return leaf(data)


def to_wire(data: Any) -> Any:
    """``data`` with its tensors replaced by their arrays (tuples, lists, dicts walked)."""
    from graphc.tensor import Tensor
    # autograd history stays behind, as in PyTorch
    return _map_nested(lambda d: _ArrayOf(d.numpy()) if isinstance(d, Tensor) else d, data)


def from_wire(data: Any) -> Any:
    """The inverse of :func:`to_wire`, in the main process."""
    from graphc.tensor import Tensor
    return _map_nested(lambda d: Tensor._wrap(d.array) if isinstance(d, _ArrayOf) else d, data)


# -- the worker process ---------------------------------------------------------------------------
def _seed_worker(base_seed: int, worker_id: int) -> int:
    seed = base_seed + worker_id
    random.seed(seed)
    from graphc import random as grandom
    grandom.manual_seed(seed)
    state = np.random.SeedSequence([worker_id, base_seed]).generate_state(4)
    np.random.seed(state)
    return seed


def _worker_loop(fetcher, index_queue, result_queue, done_event, base_seed: int,
                 init_fn, worker_id: int, num_workers: int, in_thread: bool = False) -> None:
    """A worker: fetch the batches whose indices arrive on ``index_queue`` until told to stop
    (None), the main process is gone, or ``done_event`` is set."""
    global _worker_info
    kind = "thread" if in_thread else "process"
    try:
        if in_thread:  # the process's generators and thread settings are not ours to change
            fetcher = copy.copy(fetcher)  # its own epoch state, the dataset shared
            _thread_worker.info = WorkerInfo(id=worker_id, num_workers=num_workers,
                                             seed=base_seed + worker_id, dataset=fetcher.dataset)
        else:
            from backends.threads import set_num_threads
            set_num_threads(1)  # as PyTorch's workers: N workers x M threads would oversubscribe
            seed = _seed_worker(base_seed, worker_id)
            _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed,
                                      dataset=fetcher.dataset)
        parent = os.getppid()

        def unpicklable(exc: Exception, message: Any) -> None:
            # the queue pickles on its feeder thread and by default only prints the error: the
            # main process would wait forever for that batch; send the error in its place
            task_id = message[0] if isinstance(message, tuple) and message else None
            where = (f"in DataLoader worker process {worker_id} while sending a batch to the "
                     f"main process (batches must pickle)")
            result_queue.put((task_id, ExceptionWrapper(exc, where)))

        result_queue._on_queue_feeder_error = unpicklable
        init_error: Optional[ExceptionWrapper] = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher.start()
        except Exception as exc:
            init_error = ExceptionWrapper(exc, f"in DataLoader worker {kind} {worker_id}")
        exhausted = False
        while True:
            try:
                task = index_queue.get(timeout=POLL_INTERVAL_S)
            except queue.Empty:
                if os.getppid() != parent:  # the main process died: nobody wants our data
                    return
                continue
            if task is None:
                return
            if isinstance(task, _ResumeIteration):
                exhausted = False
                try:
                    fetcher.start()
                except Exception as exc:
                    init_error = ExceptionWrapper(exc, f"in DataLoader worker {kind} "
                                                       f"{worker_id}")
                result_queue.put((task, None))
                continue
            if done_event.is_set() or exhausted:
                continue
            task_id, indices = task
            if init_error is not None:
                data: Any = init_error
                init_error = None
            else:
                try:
                    data = to_wire(fetcher.fetch(indices))
                except StopIteration:
                    data, exhausted = _IterationEnd(worker_id), True
                except Exception as exc:
                    data = ExceptionWrapper(exc, _where(f"{kind} {worker_id}", fetcher, indices))
            result_queue.put((task_id, data))
            del data
    except KeyboardInterrupt:
        pass  # the main process gets it too and shuts us down
    finally:
        if done_event.is_set():
            result_queue.cancel_join_thread()
            result_queue.close()


def _where(worker: str, fetcher, indices) -> str:
    where = f"in DataLoader worker {worker}"
    sample = getattr(fetcher, "current", None)
    if sample is not None:
        return f"{where} while loading sample {sample!r}"
    if indices is not None and not all(i is None for i in _as_list(indices)):
        return f"{where} while collating the batch of samples {_as_list(indices)!r}"
    return where


def _as_list(indices) -> list:
    if isinstance(indices, np.ndarray):
        return indices.tolist()
    return list(indices) if isinstance(indices, (list, tuple)) else [indices]


# -- worker threads ----------------------------------------------------------------------------
class ThreadContext:
    """The parts of a multiprocessing context the iterator uses, made of threads: workers for a
    dataset whose ``releases_gil`` is True (its samples are made in code that releases the
    GIL, so threads load in parallel without a process start or a copy of each batch)."""

    @staticmethod
    def Queue() -> _ThreadQueue:
        return _ThreadQueue()

    @staticmethod
    def Event() -> threading.Event:
        return threading.Event()

    @staticmethod
    def Process(target, args, daemon: bool = True) -> _WorkerThread:
        return _WorkerThread(target, args)


class _ThreadQueue(queue.Queue):
    def cancel_join_thread(self) -> None:
        pass

    def close(self) -> None:
        pass


class _WorkerThread:
    """A worker thread with the parts of ``multiprocessing.Process`` the iterator uses."""

    def __init__(self, target, args) -> None:
        self.pid = os.getpid()
        self.exitcode: Optional[int] = None
        self._thread = threading.Thread(target=self._run, args=(target, args), daemon=True,
                                        name=f"DataLoader worker {args[6]}")

    def _run(self, target, args) -> None:
        self.exitcode = 1  # until it returns: an escaping exception leaves 1
        target(*args)
        self.exitcode = 0

    def start(self) -> None:
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: Optional[float] = None) -> None:
        self._thread.join(timeout)

    def terminate(self) -> None:
        pass  # a thread cannot be stopped from outside: it ends at its next task or poll


# -- the main process's side ---------------------------------------------------------------------
class MultiProcessIterator:
    """Iterates a DataLoader's batches, loaded by ``loader.num_workers`` worker processes (or
    threads: :class:`ThreadContext`)."""

    def __init__(self, loader) -> None:
        self._loader = loader
        self._fetcher = loader._fetcher()
        self._num_workers = loader.num_workers
        # prefetch_factor is None when num_workers was set after the loader was made: the default
        prefetch = 2 if loader.prefetch_factor is None else loader.prefetch_factor
        self._prefetch = max(1, prefetch * loader.num_workers)  # 0 in flight would never end
        self._timeout = loader.timeout
        self._persistent = loader.persistent_workers
        self._iterable = loader._is_iterable
        in_thread = (loader.multiprocessing_context is None
                     and getattr(loader.dataset, "releases_gil", False) is True)
        context: Any = (ThreadContext() if in_thread
                        else resolve_context(loader.multiprocessing_context))
        self._base_seed = loader._draw_base_seed()
        self._done_event = context.Event()
        self._result_queue = context.Queue()
        self._index_queues: list = []
        self._workers: list = []
        self._shut_down = False
        try:
            for worker_id in range(self._num_workers):
                index_queue = context.Queue()
                index_queue.cancel_join_thread()  # a queue of small tasks: never block exit
                worker = context.Process(
                    target=_worker_loop, daemon=True,
                    args=(self._fetcher, index_queue, self._result_queue, self._done_event,
                          self._base_seed, loader.worker_init_fn, worker_id,
                          self._num_workers, in_thread))
                worker.start()
                self._index_queues.append(index_queue)
                self._workers.append(worker)
        except BaseException:
            self._shutdown()
            raise
        self._epoch = 0
        self._reset(first=True)

    # an epoch ------------------------------------------------------------------------------------
    def _reset(self, first: bool = False) -> None:
        self._batches = iter(self._loader._index_batches())
        self._send_idx = 0  # the next task to hand out
        self._rcvd_idx = 0  # the next task to yield
        self._task_info: dict[int, tuple] = {}  # task -> (worker,) or (worker, data)
        self._outstanding = 0
        self._active = [True] * self._num_workers
        self._worker_cycle = itertools.cycle(range(self._num_workers))
        if not first:  # persistent workers: start a new epoch, drop the last one's stragglers
            # (the draw a new iterator makes for its workers' seed, though these keep theirs:
            # the generator then moves as without workers, and so does the shuffled order)
            self._loader._draw_base_seed()
            self._epoch += 1
            for index_queue in self._index_queues:
                index_queue.put(_ResumeIteration(self._epoch))
            waiting = self._num_workers
            while waiting:
                task_id, _ = self._get_data()
                if task_id == _ResumeIteration(self._epoch):
                    waiting -= 1
        for _ in range(self._prefetch):
            self._try_put_index()

    def _try_put_index(self) -> None:
        try:
            indices = next(self._batches)
        except StopIteration:
            return
        for _ in range(self._num_workers):  # the next worker still active
            worker_id = next(self._worker_cycle)
            if self._active[worker_id]:
                break
        else:
            return  # every worker's iterable dataset is exhausted
        self._index_queues[worker_id].put((self._send_idx, indices))
        self._task_info[self._send_idx] = (worker_id,)
        self._outstanding += 1
        self._send_idx += 1

    def __iter__(self) -> MultiProcessIterator:
        return self

    def __len__(self) -> int:
        return len(self._loader)

    def __next__(self) -> Any:
        while True:
            while self._rcvd_idx < self._send_idx:  # skip tasks of exhausted workers
                info = self._task_info[self._rcvd_idx]
                if len(info) == 2 or self._active[info[0]]:
                    break
                del self._task_info[self._rcvd_idx]
                self._rcvd_idx += 1
            else:
                if not self._persistent:
                    self._shutdown()
                raise StopIteration
            if len(self._task_info[self._rcvd_idx]) == 2:  # arrived earlier, out of order
                return self._process(self._task_info.pop(self._rcvd_idx)[1])
            task_id, data = self._get_data()
            self._outstanding -= 1
            if isinstance(data, _IterationEnd):
                self._active[data.worker_id] = False
                self._try_put_index()
                continue
            if task_id != self._rcvd_idx:
                self._task_info[task_id] += (data,)
                continue
            del self._task_info[task_id]
            return self._process(data)

    def _process(self, data: Any) -> Any:
        self._rcvd_idx += 1
        self._try_put_index()
        if isinstance(data, ExceptionWrapper):
            self._shutdown()
            data.reraise()
        return from_wire(data)

    def _get_data(self) -> tuple:
        """The next result from any worker; a RuntimeError when a worker died or ``timeout``
        passed, instead of waiting forever."""
        start = time.monotonic()
        while True:
            try:
                return self._result_queue.get(timeout=POLL_INTERVAL_S)
            except queue.Empty:
                pass
            for worker_id, worker in enumerate(self._workers):
                if not worker.is_alive():
                    code = worker.exitcode
                    self._shutdown()
                    how = (f"was killed by signal {-code}" if code is not None and code < 0
                           else f"exited unexpectedly with exit code {code}")
                    raise RuntimeError(f"DataLoader worker {worker_id} (pid {worker.pid}) "
                                       f"{how}") from None
            if self._timeout > 0 and time.monotonic() - start > self._timeout:
                self._shutdown()
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")

    # shutting down ---------------------------------------------------------------------------------
    def _shutdown(self) -> None:
        if self._shut_down:
            return
        self._shut_down = True
        self._done_event.set()
        for index_queue in self._index_queues:
            try:
                index_queue.put(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
            if worker.is_alive():
                worker.terminate()
                worker.join(JOIN_TIMEOUT_S)
            if worker.is_alive() and hasattr(worker, "kill"):  # a process ignoring SIGTERM
                worker.kill()
                worker.join()
        for index_queue in self._index_queues:
            index_queue.close()
        self._result_queue.cancel_join_thread()
        self._result_queue.close()

    def __del__(self) -> None:
        if sys.is_finalizing():
            return
        try:
            self._shutdown()
        except Exception:
            pass
