"""Datasets and batching (``graphc.data``), with the names of ``torch.utils.data``.

    >>> import graphc
    >>> from graphc.data import TensorDataset, DataLoader
    >>> ds = TensorDataset(graphc.arange(10).float().reshape(5, 2), graphc.arange(5))
    >>> loader = DataLoader(ds, batch_size=2)
    >>> [tuple(y.tolist()) for _, y in loader], len(loader)
    ([(0, 1), (2, 3), (4,)], 3)

Batches are graphc Tensors. When the dataset is a :class:`TensorDataset` (or a :class:`Subset`
of one) and the default collation is used, a batch is cut from the arrays with one fancy-index
per tensor instead of stacking samples one by one.
"""
from __future__ import annotations

import collections.abc
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Optional, Union

import ml_dtypes
import numpy as np

from graphc import random as grandom
from graphc.tensor import Tensor

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader",
           "default_collate", "default_convert"]


class Dataset:
    """A map-style dataset: ``__getitem__(index)`` returns one sample, ``__len__`` the count."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} does not implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} does not implement __len__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Samples are tuples ``(t[i] for t in tensors)``; all tensors share their first dimension.

        >>> import graphc
        >>> ds = TensorDataset(graphc.zeros(3, 2), graphc.ones(3))
        >>> len(ds), [t.shape for t in ds[0]]
        (3, [(2,), ()])
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        converted = []
        for i, t in enumerate(tensors):
            if isinstance(t, np.ndarray):
                from graphc.factories import from_numpy
                t = from_numpy(t)
            if not isinstance(t, Tensor):
                raise TypeError(f"TensorDataset: argument {i} is a {type(t).__name__}, "
                                "expected a Tensor (or a NumPy array)")
            if t.is_traced:
                raise TypeError("TensorDataset needs concrete tensors, not traced ones")
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: argument {i} is a 0-d tensor; every tensor "
                                 "needs a first (sample) dimension")
            converted.append(t)
        sizes = [t.shape[0] for t in converted]
        if len(set(sizes)) != 1:
            listed = ", ".join(f"argument {i}: {list(t.shape)}" for i, t in enumerate(converted))
            raise ValueError(f"size mismatch between tensors: all tensors of a TensorDataset "
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
            raise ValueError("ConcatDataset needs at least one dataset")
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


def _take(t: Tensor, index) -> Tensor:
    if t.requires_grad:
        return t[index]  # keeps the autograd history, like torch
    return Tensor._wrap(np.asarray(t.numpy()[index]))  # an int index gives a NumPy scalar


# -- randomness ---------------------------------------------------------------------------------
GeneratorLike = Union[None, int, grandom.Generator, np.random.Generator]


def _permutation(n: int, generator: GeneratorLike) -> np.ndarray:
    """A random permutation of 0..n-1 drawn from ``generator`` (graphc's global one if None)."""
    if isinstance(generator, np.random.Generator):
        return generator.permutation(n)
    if generator is None:
        seed = grandom.next_seed()
    elif isinstance(generator, grandom.Generator):
        seed = generator.next_seed()
    elif isinstance(generator, (int, np.integer)):
        seed = int(generator)
    else:
        raise TypeError(f"generator must be a graphc.random.Generator, a NumPy Generator, an int "
                        f"seed or None, got {type(generator).__name__}")
    return np.random.default_rng(seed & 0xFFFFFFFFFFFFFFFF).permutation(n)


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
            raise ValueError(f"fractions must lie in [0, 1], got {lengths}")
        counts = [int(math.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if any(int(x) != x or x < 0 for x in lengths):
        raise ValueError(f"lengths must be non-negative integers or fractions summing to 1, "
                         f"got {lengths}")
    lengths = [int(x) for x in lengths]
    if sum(lengths) != n:
        raise ValueError(f"sum of input lengths ({sum(lengths)}) does not equal the length of "
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
    tensor, ints an int64 tensor, bools a bool tensor; strings stay a list; dicts and named
    tuples are collated field by field, tuples and lists column by column into a list.

    NumPy data keeps its dtype (uint8 images stay uint8, as in PyTorch); the unsigned types
    graphc tensors lack, uint16 and uint32, are widened to int64. Other dtypes (uint64, complex,
    float128, ...) raise a TypeError naming the dtype.

        >>> default_collate([(1, {"x": 1.5}), (2, {"x": 2.5})])
        [tensor([1, 2]), {'x': tensor([1.5, 2.5], dtype=f64)}]
    """
    if len(batch) == 0:
        raise ValueError("default_collate got an empty batch")
    first = batch[0]
    if isinstance(first, Tensor):
        return _stack_tensors(batch)
    if isinstance(first, np.ndarray):
        _tensor_array(first, "default_collate")  # a bad dtype fails before any stacking
        return Tensor._wrap(_tensor_array(_stack_arrays([np.asarray(b) for b in batch]),
                                          "default_collate"))
    if isinstance(first, np.generic):
        return Tensor._wrap(_tensor_array(np.array(batch), "default_collate"))
    if isinstance(first, bool):
        return Tensor._wrap(np.array(batch, dtype=np.bool_))
    if isinstance(first, int):
        return Tensor._wrap(np.array(batch, dtype=np.int64))
    if isinstance(first, float):
        return Tensor._wrap(np.array(batch, dtype=np.float64))
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, collections.abc.Mapping):
        return {key: default_collate([sample[key] for sample in batch]) for key in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):  # namedtuple
        return type(first)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(first, collections.abc.Sequence):
        size = len(first)
        if any(len(sample) != size for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        # a list for tuples too, as in PyTorch (TensorDataset batches unpack the same way)
        return [default_collate(list(column)) for column in zip(*batch)]
    raise TypeError(f"default_collate: batch must contain tensors, NumPy arrays, numbers, "
                    f"strings, dicts or lists; found {type(first).__name__}")


def default_convert(data: Any) -> Any:
    """Turns NumPy arrays (inside tuples, lists, dicts) into tensors; used with batch_size=None.

    Dtypes graphc lacks are widened as in :func:`default_collate`; arrays of strings or objects
    are left as they are."""
    if isinstance(data, np.ndarray) and (data.dtype.kind not in "OSUV"
                                         or data.dtype == np.dtype(ml_dtypes.bfloat16)):
        return Tensor._wrap(_tensor_array(data, "default_convert"))
    if isinstance(data, collections.abc.Mapping):
        return {key: default_convert(value) for key, value in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (list, tuple)):
        return type(data)(default_convert(d) for d in data)
    return data


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
        raise TypeError(f"{who}: NumPy arrays of dtype {array.dtype} cannot be made into "
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
class DataLoader:
    """Iterates over ``dataset`` in batches, like ``torch.utils.data.DataLoader``.

    ``shuffle`` draws a new order at the start of every epoch from ``generator``: a
    :class:`graphc.random.Generator`, an int seed (a private generator seeded once, so epochs
    differ but runs repeat), a NumPy Generator, or None for graphc's global generator (so
    ``graphc.manual_seed`` makes runs reproducible). ``batch_size=None`` yields single samples.
    ``sampler`` (an iterable of indices with a length, such as
    :class:`graphc.distributed.DistributedSampler`) gives the order instead, and excludes
    ``shuffle``. Loading happens in the calling process: ``num_workers`` and ``pin_memory`` are
    accepted for compatibility and ignored.

        >>> import graphc
        >>> ds = TensorDataset(graphc.arange(6))
        >>> [b[0].tolist() for b in DataLoader(ds, batch_size=4, shuffle=True, generator=0)]
        [[0, 4, 1, 5], [2, 3]]
    """

    def __init__(self, dataset: Dataset, batch_size: Optional[int] = 1, shuffle: bool = False,
                 drop_last: bool = False, collate_fn: Optional[Callable] = None,
                 generator: GeneratorLike = None, num_workers: int = 0,
                 pin_memory: bool = False, sampler: Optional[Iterable[int]] = None):
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_size is not None and (int(batch_size) != batch_size or batch_size <= 0):
            raise ValueError(f"batch_size must be a positive integer or None, got {batch_size}")
        if batch_size is None and drop_last:
            raise ValueError("batch_size=None (no batching) cannot be combined with drop_last")
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.sampler = sampler
        if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
            generator = grandom.Generator(int(generator))
        self.generator = generator

    def __len__(self) -> int:
        n = len(self.dataset) if self.sampler is None else len(self.sampler)  # type: ignore
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self) -> np.ndarray:
        if self.sampler is not None:
            return np.fromiter(self.sampler, dtype=np.int64)
        n = len(self.dataset)
        return _permutation(n, self.generator) if self.shuffle else np.arange(n)

    def __iter__(self) -> Iterator:
        order = self._order()
        if self.batch_size is None:
            convert = self.collate_fn or default_convert
            for i in order.tolist():
                yield convert(self.dataset[i])
            return
        fast = None if self.collate_fn is not None else _array_source(self.dataset)
        collate = self.collate_fn or default_collate
        stop = len(order) - (len(order) % self.batch_size if self.drop_last else 0)
        for start in range(0, stop, self.batch_size):
            indices = order[start:start + self.batch_size]
            if fast is not None:
                arrays, mapping = fast
                rows = indices if mapping is None else mapping[indices]
                yield [Tensor._wrap(a[rows]) for a in arrays]
            else:
                yield collate([self.dataset[i] for i in indices.tolist()])

    def __repr__(self) -> str:
        return (f"DataLoader(dataset of {len(self.dataset)}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last})")


def _array_source(dataset) -> Optional[tuple]:
    """(arrays, index map or None) when batches can be cut straight from a TensorDataset's
    arrays: a TensorDataset of tensors without autograd, possibly behind Subsets."""
    mapping = None
    while isinstance(dataset, Subset) and type(dataset) is Subset:
        indices = np.asarray(dataset.indices, dtype=np.int64)
        mapping = indices if mapping is None else indices[mapping]
        dataset = dataset.dataset
    if type(dataset) is not TensorDataset or any(t.requires_grad for t in dataset.tensors):
        return None
    return [t.numpy() for t in dataset.tensors], mapping
