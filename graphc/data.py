"""Datasets and batching (``graphc.data``), with the names of ``torch.utils.data``.

    >>> import graphc
    >>> from graphc.data import TensorDataset, DataLoader
    >>> ds = TensorDataset(graphc.arange(10).float().reshape(5, 2), graphc.arange(5))
    >>> loader = DataLoader(ds, batch_size=2)
    >>> [tuple(y.tolist()) for _, y in loader], len(loader)
    ([(0, 1), (2, 3), (4,)], 3)

Batches are graphc Tensors. When the dataset is a :class:`TensorDataset` (or a :class:`Subset`
of one) and the default collation is used, a batch is cut from the arrays with one fancy-index
per tensor instead of stacking samples one by one. Samplers live in :mod:`graphc.data_sampler`,
loading in worker processes (``num_workers=N``) in :mod:`graphc.data_workers`.
"""
from __future__ import annotations

import collections.abc
import copy
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Optional, Union

import ml_dtypes
import numpy as np

from graphc import random as grandom
from graphc.data_sampler import (
    BatchSampler,
    GeneratorLike,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
    draw_seed,
    numpy_rng,
)
from graphc.data_workers import MultiProcessIterator, WorkerInfo, get_worker_info, resolve_context
from graphc.errors import ArgumentError, ArgumentTypeError
from graphc.tensor import Tensor

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "StackDataset", "random_split",
           "DataLoader", "default_collate", "default_convert",
           "IterableDataset", "ChainDataset", "Sampler", "SequentialSampler", "RandomSampler",
           "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler", "WorkerInfo",
           "get_worker_info"]


class Dataset:
    """A map-style dataset: ``__getitem__(index)`` returns one sample, ``__len__`` the count.

    ``releases_gil = True`` (a graphc extension) says making a sample spends its time in code
    that releases the GIL (NumPy on large arrays, file reads): ``DataLoader(num_workers=N)``
    then loads in N threads of this process, sharing the dataset, instead of N processes.
    Threads share the process's random generators (no per-worker seeding) and
    ``get_worker_info()`` answers per thread."""

    releases_gil: bool = False

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} does not implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} does not implement __len__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A dataset read as a stream: ``__iter__`` yields its samples (``torch.utils.data``'s).

    With ``num_workers=N`` every worker iterates its own copy; to split the data rather than
    repeat it N times, ``__iter__`` reads :func:`get_worker_info` (None in the main process):

        >>> class Range(IterableDataset):
        ...     def __init__(self, n): self.n = n
        ...     def __iter__(self):
        ...         info = get_worker_info()
        ...         first, step = (0, 1) if info is None else (info.id, info.num_workers)
        ...         return iter(range(first, self.n, step))
        >>> [b.tolist() for b in DataLoader(Range(5), batch_size=2)]
        [[0, 1], [2, 3], [4]]
        >>> sorted(x for b in DataLoader(Range(5), batch_size=2, num_workers=2) for x in b.tolist())
        [0, 1, 2, 3, 4]
    """

    def __iter__(self) -> Iterator:
        raise NotImplementedError(f"{type(self).__name__} does not implement __iter__")

    def __getitem__(self, index):
        raise ArgumentTypeError(f"{type(self).__name__} is an IterableDataset: iterate it, it has no "
                                f"__getitem__")

    def __len__(self) -> int:
        raise ArgumentTypeError(f"object of type '{type(self).__name__}' has no len() (an "
                                f"IterableDataset has a length only when it defines __len__)")

    def __add__(self, other) -> ChainDataset:  # type: ignore[override]
        return ChainDataset([self, other])


class ChainDataset(IterableDataset):
    """The samples of several iterable datasets one after the other."""

    def __init__(self, datasets: Iterable[IterableDataset]):
        self.datasets = list(datasets)

    def __iter__(self) -> Iterator:
        for dataset in self.datasets:
            yield from dataset

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)


class TensorDataset(Dataset):
    """Samples are tuples ``(t[i] for t in tensors)``; all tensors share their first dimension.

        >>> import graphc
        >>> ds = TensorDataset(graphc.zeros(3, 2), graphc.ones(3))
        >>> len(ds), [t.shape for t in ds[0]]
        (3, [(2,), ()])
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ArgumentError("TensorDataset needs at least one tensor")
        converted = []
        for i, t in enumerate(tensors):
            if isinstance(t, np.ndarray):
                from graphc.factories import from_numpy
                t = from_numpy(t)
            if not isinstance(t, Tensor):
                raise ArgumentTypeError(f"TensorDataset: argument {i} is a {type(t).__name__}, "
                                        "expected a Tensor (or a NumPy array)")
            if t.is_traced:
                raise ArgumentTypeError("TensorDataset needs concrete tensors, not traced ones")
            if t.ndim == 0:
                raise ArgumentError(f"TensorDataset: argument {i} is a 0-d tensor; every tensor "
                                    "needs a first (sample) dimension")
            converted.append(t)
        sizes = [t.shape[0] for t in converted]
        if len(set(sizes)) != 1:
            listed = ", ".join(f"argument {i}: {list(t.shape)}" for i, t in enumerate(converted))
            raise ArgumentError(f"size mismatch between tensors: all tensors of a TensorDataset "
                                f"need the same first dimension, got {listed}")
        self.tensors = tuple(converted)

    def __getitem__(self, index):
        return tuple(_take(t, index) for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = list(indices) if not isinstance(indices, np.ndarray) else indices.tolist()

    def __getitem__(self, index):
        if isinstance(index, (list, tuple, np.ndarray)):
            return [self.dataset[self.indices[i]] for i in index]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """The samples of several datasets one after the other (``ds1 + ds2``)."""

    def __init__(self, datasets: Sequence[Dataset]):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ArgumentError("ConcatDataset needs at least one dataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int):
        if index < 0:
            if -index > len(self):
                raise IndexError(f"index {index} out of range for a dataset of {len(self)}")
            index += len(self)
        which = int(np.searchsorted(self.cumulative_sizes, index, side="right"))
        if which >= len(self.datasets):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)}")
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]


class StackDataset(Dataset):
    """Samples of several datasets of one length side by side, as ``torch.utils.data.
    StackDataset``: ``StackDataset(images, labels)[i]`` is ``(images[i], labels[i])``, and with
    keywords, ``StackDataset(image=images, label=labels)[i]`` is a dict.

        >>> StackDataset([1, 2], ["a", "b"])[1], StackDataset(x=[1, 2], y=[3, 4])[0]
        ((2, 'b'), {'x': 1, 'y': 3})
    """

    def __init__(self, *args: Dataset, **kwargs: Dataset):
        if args and kwargs:
            raise ArgumentError("StackDataset takes datasets as positional arguments or as "
                                "keyword arguments, not both")
        if not args and not kwargs:
            raise ArgumentError("StackDataset needs at least one dataset")
        self.datasets: Union[tuple, dict] = args if args else kwargs
        lengths = {name: len(d) for name, d in
                   (enumerate(args) if args else kwargs.items())}  # type: ignore[arg-type]
        if len(set(lengths.values())) != 1:
            raise ArgumentError(f"StackDataset: the datasets differ in length: {lengths}")
        self._length = next(iter(lengths.values()))

    def __getitem__(self, index):
        if isinstance(self.datasets, dict):
            return {name: d[index] for name, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __len__(self) -> int:
        return self._length


def _take(t: Tensor, index) -> Tensor:
    if t.requires_grad:
        return t[index]  # keeps the autograd history, like torch
    return Tensor._wrap(np.asarray(t.numpy()[index]))  # an int index gives a NumPy scalar


# -- randomness ---------------------------------------------------------------------------------
def _permutation(n: int, generator: GeneratorLike) -> np.ndarray:
    """A random permutation of 0..n-1 drawn from ``generator`` (graphc's global one if None)."""
    return numpy_rng(generator).permutation(n)


def random_split(dataset: Dataset, lengths: Sequence[Union[int, float]],
                 generator: GeneratorLike = None) -> list[Subset]:
    """Splits ``dataset`` into non-overlapping random :class:`Subset` s of the given lengths.

    ``lengths`` are counts summing to ``len(dataset)``, or fractions summing to 1 (floored, the
    remainder handed out one by one from the first split, as in PyTorch).

        >>> import graphc
        >>> train, val = random_split(range(10), [0.8, 0.2], generator=graphc.random.Generator(0))
        >>> len(train), len(val), sorted(list(train) + list(val)) == list(range(10))
        (8, 2, True)
    """
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(x, float) for x in lengths) and math.isclose(sum(lengths), 1.0):
        if any(not 0.0 <= x <= 1.0 for x in lengths):
            raise ArgumentError(f"fractions must lie in [0, 1], got {lengths}")
        counts = [int(math.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if any(int(x) != x or x < 0 for x in lengths):
        raise ArgumentError(f"lengths must be non-negative integers or fractions summing to 1, "
                            f"got {lengths}")
    lengths = [int(x) for x in lengths]
    if sum(lengths) != n:
        raise ArgumentError(f"sum of input lengths ({sum(lengths)}) does not equal the length of "
                            f"the input dataset ({n})")
    order = _permutation(n, generator).tolist()
    splits, start = [], 0
    for length in lengths:
        splits.append(Subset(dataset, order[start:start + length]))
        start += length
    return splits


# -- collation ----------------------------------------------------------------------------------
def default_collate(batch: Sequence) -> Any:
    """Combines a list of samples into a batch, like ``torch.utils.data.default_collate``.

    Tensors and NumPy arrays are stacked on a new first axis; Python floats become a float64
    tensor; ints and bools a tensor whose dtype fits them all, as ``graphc.tensor`` infers it
    (int64, bool, or float32 if a float is among them); strings stay as given; dicts and
    named tuples are collated field by field, tuples and lists column by column into a list.

    NumPy data keeps its dtype (uint8 images stay uint8, as in PyTorch); the unsigned types
    graphc tensors lack, uint16 and uint32, are widened to int64. Other dtypes (uint64, complex,
    float128, ...) raise a TypeError naming the dtype.

        >>> default_collate([(1, {"x": 1.5}), (2, {"x": 2.5})])
        [tensor([1, 2]), {'x': tensor([1.5, 2.5], dtype=f64)}]
    """
    if len(batch) == 0:
        raise ArgumentError("default_collate got an empty batch")
    first = batch[0]
    if isinstance(first, Tensor):
        return _stack_tensors(batch)
    if isinstance(first, np.ndarray):
        _tensor_array(first, "default_collate")  # a bad dtype fails before any stacking
        return Tensor._wrap(_tensor_array(_stack_arrays([np.asarray(b) for b in batch]),
                                          "default_collate"))
    if isinstance(first, np.generic):
        return Tensor._wrap(_tensor_array(np.array(batch), "default_collate"))
    if isinstance(first, int):  # (bool too) the dtype of all: [1, 2.5] is float, as torch's
        from graphc.factories import tensor

        return tensor(list(batch))
    if isinstance(first, float):
        return Tensor._wrap(np.array(batch, dtype=np.float64))
    if isinstance(first, (str, bytes)):
        return batch
    if isinstance(first, collections.abc.Mapping):
        return _same_mapping(first, {key: default_collate([sample[key] for sample in batch])
                                     for key in first})
    if isinstance(first, tuple) and hasattr(first, "_fields"):  # namedtuple
        return type(first)(*(default_collate(field) for field in zip(*batch)))
    if isinstance(first, collections.abc.Sequence):
        size = len(first)
        if any(len(sample) != size for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        # a list for tuples too, as in PyTorch (TensorDataset batches unpack the same way)
        # (each column a tuple, as PyTorch's: a column of strings comes back a tuple)
        return [default_collate(column) for column in zip(*batch)]
    raise ArgumentTypeError(f"default_collate: batch must contain tensors, NumPy arrays, numbers, "
                            f"strings, dicts or lists; found {type(first).__name__}")


def default_convert(data: Any) -> Any:
    """Turns NumPy arrays (inside tuples, lists, dicts) into tensors; used with batch_size=None.

    Dtypes graphc lacks are widened as in :func:`default_collate`; arrays of strings or objects
    are left as they are."""
    if isinstance(data, np.generic) and data.dtype.kind not in "OSUV":  # a NumPy scalar
        data = np.asarray(data)
    if isinstance(data, np.ndarray) and (data.dtype.kind not in "OSUV"
                                         or data.dtype == np.dtype(ml_dtypes.bfloat16)):
        return Tensor._wrap(_tensor_array(data, "default_convert"))
    if isinstance(data, collections.abc.Mapping):
        return _same_mapping(data, {key: default_convert(value) for key, value in data.items()})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (list, tuple)):
        return type(data)(default_convert(d) for d in data)
    return data


def _same_mapping(like, items: dict):
    """``items`` in a mapping of ``like``'s type where one can be made so (an OrderedDict, a
    defaultdict stay what they were, as PyTorch's collate keeps them), else a dict."""
    if type(like) is dict:
        return items
    try:
        clone = copy.copy(like)
        clone.update(items)
        return clone
    except (TypeError, AttributeError):  # an immutable or unusual mapping: a plain dict
        return items


# NumPy dtypes graphc tensors lack, and the wider graphc dtype batches hold them in.
_WIDENED = {np.dtype(t): np.dtype(np.int64) for t in (np.uint16, np.uint32)}


def _tensor_array(array: np.ndarray, who: str) -> np.ndarray:
    """``array`` in a dtype graphc tensors have (see :func:`default_collate`), else TypeError."""
    from ir import dtypes
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    if array.dtype in _WIDENED:
        return array.astype(_WIDENED[array.dtype])
    try:
        dtypes.from_numpy(array.dtype)
    except TypeError:
        raise ArgumentTypeError(f"{who}: NumPy arrays of dtype {array.dtype} cannot be made into "
                                f"tensors (graphc has bool, uint8, int8, int16, int32, int64, float16, "
                                f"bfloat16, float32 and float64; uint16/uint32 become int64)") from None
    return array


def _stack_arrays(arrays: list) -> np.ndarray:
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise RuntimeError(f"stack expects each sample to have the same shape, got "
                           f"{sorted(list(s) for s in shapes)}")
    return np.stack(arrays)


def _stack_tensors(batch: Sequence[Tensor]) -> Tensor:
    if any(t.requires_grad for t in batch):
        from graphc.functions import stack
        return stack(list(batch))
    return Tensor._wrap(_stack_arrays([t.numpy() for t in batch]))


# -- the loader ---------------------------------------------------------------------------------
class _Fetcher:
    """Turns a batch of indices into a batch, in the main process or a worker (where it is a
    copy: it holds the dataset and is pickled for ``spawn``)."""

    def __init__(self, dataset, iterable: bool, auto_collation: bool, collate_fn: Callable,
                 drop_last: bool):
        self.dataset = dataset
        self.iterable = iterable
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.current: Any = None  # the sample being loaded: named when loading it fails

    def start(self) -> None:
        """Starts an epoch: a new iterator over an iterable dataset."""
        self._iterator: Iterator = iter(self.dataset) if self.iterable else iter(())
        self._ended = False
        self._fast = (_array_source(self.dataset) if not self.iterable and self.auto_collation
                      and self.collate_fn is default_collate else None)
        self._hosted: dict[int, tuple] = {}  # id(tensor) -> (its array, that array on the host)

    def _host(self, t: Tensor) -> np.ndarray:
        held = self._hosted.get(id(t))
        if held is None or held[0] is not t._data:
            held = self._hosted[id(t)] = (t._data, t.numpy())
        return held[1]

    def fetch(self, indices) -> Any:
        """The batch of the samples at ``indices`` (a list or int array; one index without
        auto-collation). An exhausted iterable dataset raises StopIteration."""
        if self.iterable:
            return self._fetch_iterable(indices)
        if not self.auto_collation:
            self.current = indices
            sample = self.dataset[indices]
            self.current = None
            return self.collate_fn(sample)
        if self._fast is not None:
            tensors_of, mapping = self._fast
            rows = np.asarray(indices, dtype=np.int64)
            rows = rows if mapping is None else mapping[rows]
            # the arrays as they are now (the dataset's tensors may change during the epoch:
            # an in-place op gives a tensor a new array), copied to the host once per array
            return [Tensor._wrap(self._host(t)[rows]) for t in tensors_of.tensors]
        samples = []
        for index in (indices.tolist() if isinstance(indices, np.ndarray) else indices):
            self.current = index
            samples.append(self.dataset[index])
        self.current = None
        return self.collate_fn(samples)

    def _fetch_iterable(self, indices) -> Any:
        if self._ended:
            raise StopIteration
        if not self.auto_collation:
            return self.collate_fn(next(self._iterator))
        samples = []
        for _ in indices:
            try:
                samples.append(next(self._iterator))
            except StopIteration:
                self._ended = True
                break
        if not samples or (self.drop_last and len(samples) < len(indices)):
            raise StopIteration
        return self.collate_fn(samples)


class _InfiniteConstantSampler(Sampler):
    """An IterableDataset's "indices": None forever (its iterator decides what comes next)."""

    def __iter__(self) -> Iterator[None]:
        while True:
            yield None


class DataLoader:
    """Iterates over ``dataset`` in batches, like ``torch.utils.data.DataLoader``.

    The order comes from ``sampler`` (default: :class:`SequentialSampler`, or a
    :class:`RandomSampler` with ``shuffle=True``), grouped by ``batch_size``/``drop_last``,
    or from a ``batch_sampler`` yielding lists of indices; ``collate_fn`` makes a batch of a
    list of samples (:func:`default_collate`). ``batch_size=None`` yields single samples
    (through :func:`default_convert`). An :class:`IterableDataset` is iterated instead.

    ``shuffle`` draws a new order at every epoch from ``generator``: a
    :class:`graphc.random.Generator`, an int seed (a private generator seeded once, so epochs
    differ but runs repeat), a NumPy Generator, or None for graphc's global generator (so
    ``graphc.manual_seed`` makes runs reproducible). The workers' base seed is derived from
    the generator's state and the epoch's number without advancing it (PyTorch draws it), so
    ``num_workers`` changes neither the order nor any number the rest of the program draws.

    ``num_workers=N`` loads batches in N worker processes (see :mod:`graphc.data_workers`),
    ``prefetch_factor`` batches ahead per worker (default 2), keeping them across epochs with
    ``persistent_workers``; ``worker_init_fn(worker_id)`` runs first in each;
    ``timeout`` (seconds, 0 = none) bounds the wait for a batch; ``multiprocessing_context``
    is a start method or context. ``pin_memory`` is accepted and ignored (batches are host
    arrays). With ``num_workers=0`` a TensorDataset's batches are cut straight from its arrays.

        >>> import graphc
        >>> ds = TensorDataset(graphc.arange(6))
        >>> def epoch(workers):
        ...     loader = DataLoader(ds, batch_size=4, shuffle=True, generator=0,
        ...                         num_workers=workers)
        ...     return [b[0].tolist() for b in loader]
        >>> [len(b) for b in epoch(0)], sorted(sum(epoch(0), [])), epoch(0) == epoch(2)
        ([4, 2], [0, 1, 2, 3, 4, 5], True)
    """

    def __init__(self, dataset: Dataset, batch_size: Optional[int] = 1,
                 shuffle: Optional[bool] = None, sampler: Union[Sampler, Iterable, None] = None,
                 batch_sampler: Union[Sampler, Iterable, None] = None, num_workers: int = 0,
                 collate_fn: Optional[Callable] = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Optional[Callable[[int], None]] = None,
                 multiprocessing_context=None, generator: GeneratorLike = None, *,
                 prefetch_factor: Optional[int] = None, persistent_workers: bool = False,
                 pin_memory_device: str = ""):
        # PyTorch's checks, in its order and with its messages
        if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)):
            raise ArgumentTypeError(f"num_workers must be an int, got {type(num_workers).__name__}")
        if num_workers < 0:
            raise ArgumentError("num_workers option should be non-negative; use num_workers=0 to "
                                "disable multiprocessing.")
        if timeout < 0:
            raise ArgumentError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ArgumentError("prefetch_factor option could only be specified in "
                                "multiprocessing.let num_workers > 0 to enable multiprocessing, "
                                "otherwise set prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ArgumentError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ArgumentError("persistent_workers option needs num_workers > 0")
        if multiprocessing_context is not None:
            if num_workers == 0:
                raise ArgumentError(f"multiprocessing_context can only be used with multi-process "
                                    f"loading (num_workers > 0), but got num_workers={num_workers}")
            resolve_context(multiprocessing_context)  # a bad one fails here, not at iter()

        self._is_iterable = isinstance(dataset, IterableDataset)
        if self._is_iterable:
            if shuffle not in (None, False):
                raise ArgumentError(f"DataLoader with IterableDataset: expected unspecified shuffle "
                                    f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ArgumentError(f"DataLoader with IterableDataset: expected unspecified sampler "
                                    f"option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ArgumentError(f"DataLoader with IterableDataset: expected unspecified "
                                    f"batch_sampler option, but got batch_sampler={batch_sampler}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ArgumentError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ArgumentError("batch_sampler option is mutually exclusive with batch_size, "
                                    "shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None:
            if drop_last:
                raise ArgumentError("batch_size=None option disables auto-batching and is mutually "
                                    "exclusive with drop_last")
        elif isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size <= 0:
            raise ArgumentError(f"batch_size should be a positive integer value, but got "
                                f"batch_size={batch_size}")

        if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
            generator = grandom.Generator(int(generator))
        if sampler is None:
            if self._is_iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, int(batch_size), bool(drop_last))

        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = shuffle
        self.drop_last = bool(drop_last)
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        self.collate_fn = collate_fn or (default_collate if batch_sampler is not None
                                         else default_convert)
        self.num_workers = int(num_workers)
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = bool(persistent_workers)
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.timeout = timeout
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self._iterator: Any = None  # the persistent workers' iterator
        self._epochs_started = 0
        self._initialized = True

    # what the samplers were built from: changing it afterwards would leave them stale
    _FIXED_AFTER_INIT = frozenset({"batch_size", "batch_sampler", "sampler", "drop_last",
                                   "dataset", "persistent_workers"})

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._FIXED_AFTER_INIT and getattr(self, "_initialized", False):
            raise ArgumentError(f"{name} attribute should not be set after "
                                f"{type(self).__name__} is initialized")
        super().__setattr__(name, value)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self) -> int:
        if self._is_iterable:
            n = len(self.dataset)  # a TypeError when the dataset has no length, as PyTorch
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self._index_sampler)

    def _fetcher(self) -> _Fetcher:
        return _Fetcher(self.dataset, self._is_iterable, self._auto_collation, self.collate_fn,
                        self.drop_last)

    def _draw_base_seed(self) -> int:
        """The workers' base seed of a new iterator: one draw from the loader's generator (the
        global one by default), as PyTorch's, so that a loader made again, or a second loader,
        gives its workers other seeds (the same ones would repeat every random augmentation);
        salted with the epoch count, since an int seed as generator draws the same number."""
        self._epochs_started += 1
        return draw_seed(self.generator, self._epochs_started)

    def _index_batches(self) -> Iterator:
        """One epoch's batches of indices (single indices without auto-collation)."""
        if isinstance(self._index_sampler, BatchSampler):
            return self._index_sampler.index_batches()
        return iter(self._index_sampler)

    def __iter__(self) -> Iterator:
        if self.num_workers == 0:
            # the seed workers would get is drawn here too: one process and workers then
            # draw the same shuffled order from the generator, as in PyTorch
            self._draw_base_seed()
            return self._single_process_batches()
        if not self.persistent_workers:
            return MultiProcessIterator(self)
        if self._iterator is None or self._iterator._shut_down:
            self._iterator = MultiProcessIterator(self)
        else:
            self._iterator._reset()
        return self._iterator

    def _single_process_batches(self) -> Iterator:
        fetcher = self._fetcher()
        fetcher.start()
        for indices in self._index_batches():
            try:
                batch = fetcher.fetch(indices)
            except StopIteration:  # an iterable dataset ran out
                return
            yield batch

    def __repr__(self) -> str:
        try:
            size = f"dataset of {len(self.dataset)}"
        except (TypeError, NotImplementedError):
            size = type(self.dataset).__name__
        return (f"DataLoader({size}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, num_workers={self.num_workers})")


def _array_source(dataset) -> Optional[tuple]:
    """(the TensorDataset, index map or None) when batches can be cut straight from a
    TensorDataset's arrays: a TensorDataset of tensors without autograd, possibly behind
    Subsets."""
    mapping = None
    while isinstance(dataset, Subset) and type(dataset) is Subset:
        indices = np.asarray(dataset.indices, dtype=np.int64)
        mapping = indices if mapping is None else indices[mapping]
        dataset = dataset.dataset
    if type(dataset) is not TensorDataset or any(t.requires_grad for t in dataset.tensors):
        return None
    return dataset, mapping
