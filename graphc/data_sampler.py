"""Samplers: the order in which a :class:`graphc.data.DataLoader` visits a map-style dataset,
with the names and semantics of ``torch.utils.data.sampler``.

A sampler is an iterable of dataset indices (a :class:`BatchSampler` one of lists of indices).
Random samplers draw a fresh order at every ``iter()`` from their ``generator``: a
:class:`graphc.random.Generator` (``graphc.Generator``), an int seed, a NumPy Generator, or None
for graphc's global generator (so ``graphc.manual_seed`` makes runs repeat).

    >>> import graphc
    >>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
    [[0, 1], [2, 3], [4]]
    >>> sorted(RandomSampler(range(4), generator=graphc.Generator().manual_seed(0)))
    [0, 1, 2, 3]
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Optional, Union

import numpy as np

from graphc import random as grandom

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler"]

GeneratorLike = Union[None, int, grandom.Generator, np.random.Generator]


def numpy_rng(generator: GeneratorLike) -> np.random.Generator:
    """A NumPy generator for one draw: seeded by the next seed of ``generator`` (graphc's global
    one if None; an int is a seed), or ``generator`` itself when it is a NumPy Generator."""
    if isinstance(generator, np.random.Generator):
        return generator
    if generator is None:
        seed = grandom.next_seed()
    elif isinstance(generator, grandom.Generator):
        seed = generator.next_seed()
    elif isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        seed = int(generator)
    else:
        raise TypeError(f"generator must be a graphc.random.Generator, a NumPy Generator, an int "
                        f"seed or None, got {type(generator).__name__}")
    return np.random.default_rng(seed & 0xFFFFFFFFFFFFFFFF)


def draw_seed(generator: GeneratorLike, *salt: int) -> int:
    """A non-negative 63-bit seed: one draw from ``generator`` (graphc's global one if None),
    mixed with ``salt``.

        >>> import graphc
        >>> g = graphc.random.Generator(5)
        >>> draw_seed(g, 1) != draw_seed(g, 1)   # the generator moved on
        True
    """
    state = numpy_rng(generator).integers(0, 2 ** 63 - 1)
    mixed = np.random.SeedSequence([int(state), *salt]).generate_state(1, np.uint64)[0]
    return int(mixed >> np.uint64(1))


def sampler_rng(sampler) -> np.random.Generator:
    """The NumPy generator for one draw of a random sampler, from its ``generator``. An int
    seed seeds a graphc Generator once (kept on the sampler), so that each ``iter()`` draws a
    new order, as with any generator, and runs still repeat."""
    generator = sampler.generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        seeded = sampler.__dict__.get("_seeded")
        if seeded is None or seeded[0] != generator:
            seeded = sampler._seeded = (generator, grandom.Generator(int(generator)))
        generator = seeded[1]
    return numpy_rng(generator)


def uses_index_array(sampler) -> bool:
    """Whether ``sampler.index_array()`` gives what iterating it gives: it has one, and its
    class does not define ``__iter__`` below the class that defines ``index_array`` (a
    subclass of RandomSampler with its own ``__iter__`` is iterated)."""
    if not hasattr(sampler, "index_array"):
        return False
    mro = type(sampler).__mro__
    iter_owner = next(c for c in mro if "__iter__" in c.__dict__)
    array_owner = next((c for c in mro if "index_array" in c.__dict__), None)
    return array_owner is not None and issubclass(array_owner, iter_owner)


class Sampler:
    """Base class of samplers: subclasses define ``__iter__`` (indices) and usually ``__len__``.

    ``data_source`` is accepted and ignored, as in PyTorch."""

    def __init__(self, data_source: Optional[Sized] = None) -> None:
        pass

    def __iter__(self) -> Iterator:
        raise NotImplementedError(f"{type(self).__name__} does not implement __iter__")


class SequentialSampler(Sampler):
    """Indices ``0, 1, ..., len(data_source) - 1`` in order.

        >>> list(SequentialSampler("abc"))
        [0, 1, 2]
    """

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def index_array(self) -> np.ndarray:
        """One epoch's indices as an int64 array (lets batches be cut without a Python loop)."""
        return np.arange(len(self.data_source), dtype=np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """Indices in random order: a permutation per epoch, or ``num_samples`` of them.

    Without replacement, ``num_samples`` larger than the dataset chains whole permutations and
    then the start of one more (as PyTorch); with ``replacement=True`` each index is drawn
    uniformly and independently. ``num_samples`` defaults to ``len(data_source)``.

        >>> import graphc
        >>> s = RandomSampler(range(3), num_samples=7, generator=graphc.Generator().manual_seed(1))
        >>> drawn = list(s)
        >>> len(s), len(drawn), sorted(drawn[:3]) == sorted(drawn[3:6]) == [0, 1, 2]
        (7, 7, True)
    """

    def __init__(self, data_source: Sized, replacement: bool = False,
                 num_samples: Optional[int] = None, generator: GeneratorLike = None) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(self.replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got "
                            f"replacement={self.replacement}")
        _check_positive_int("num_samples", self.num_samples)

    @property
    def num_samples(self) -> int:
        # the dataset may change size after construction: read it at each use, as PyTorch
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def index_array(self) -> np.ndarray:
        """One epoch's indices as an int64 array, drawn from ``generator``."""
        n, count = len(self.data_source), self.num_samples
        rng = sampler_rng(self)
        if self.replacement:
            return rng.integers(0, n, size=count, dtype=np.int64)
        whole, rest = divmod(count, n) if n else (0, 0)
        parts = [rng.permutation(n) for _ in range(whole)]
        if rest:
            parts.append(rng.permutation(n)[:rest])
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def __iter__(self) -> Iterator[int]:
        return iter(self.index_array().tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order, a new one per epoch.

        >>> sorted(SubsetRandomSampler([7, 3, 9], generator=0))
        [3, 7, 9]
    """

    def __init__(self, indices: Sequence[int], generator: GeneratorLike = None) -> None:
        self.indices = indices
        self.generator = generator

    def __iter__(self) -> Iterator:
        for i in sampler_rng(self).permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices in ``[0, len(weights))``, index ``i`` drawn with probability
    proportional to ``weights[i]`` (``torch.multinomial``'s draw): independently with
    ``replacement=True`` (the default), else one by one, each drawn index removed.

        >>> list(WeightedRandomSampler([0.0, 0.0, 1.0], 4, generator=0))
        [2, 2, 2, 2]
    """

    def __init__(self, weights: Iterable[float], num_samples: int, replacement: bool = True,
                 generator: GeneratorLike = None) -> None:
        _check_positive_int("num_samples", num_samples)
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got "
                             f"replacement={replacement}")
        values = weights.numpy() if hasattr(weights, "numpy") else weights
        weights_array = np.asarray(values, dtype=np.float64)
        if weights_array.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape "
                             f"{tuple(weights_array.shape)}")
        self.weights = weights_array
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        w = self.weights
        if not np.isfinite(w).all() or (w < 0).any():
            raise RuntimeError("WeightedRandomSampler: probability tensor contains either "
                               "`inf`, `nan` or element < 0")
        positive = int((w > 0).sum())
        if positive == 0:
            raise RuntimeError("WeightedRandomSampler: invalid multinomial distribution "
                               "(sum of probabilities <= 0)")
        if not self.replacement and self.num_samples > positive:
            raise RuntimeError(f"WeightedRandomSampler: cannot sample {self.num_samples} "
                               f"indices without replacement from {positive} nonzero weights")
        drawn = sampler_rng(self).choice(len(w), size=self.num_samples,
                                                 replace=self.replacement, p=w / w.sum())
        return iter(drawn.tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size``; the last, shorter list
    is dropped when ``drop_last``.

        >>> list(BatchSampler(range(5), batch_size=2, drop_last=True))
        [[0, 1], [2, 3]]
    """

    def __init__(self, sampler: Union[Sampler, Iterable[int]], batch_size: int,
                 drop_last: bool) -> None:
        _check_positive_int("batch_size", batch_size)
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got "
                             f"drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def index_batches(self) -> Iterator:
        """The batches: int64 arrays cut from the sampler's ``index_array()`` when it has one
        (no Python loop per sample), else the lists that iterating yields."""
        if uses_index_array(self.sampler):
            order = self.sampler.index_array()
            stop = len(order) - (len(order) % self.batch_size if self.drop_last else 0)
            for start in range(0, stop, self.batch_size):
                yield order[start:start + self.batch_size]
            return
        yield from self._lists()

    def _lists(self) -> Iterator[list]:
        batch: list = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __iter__(self) -> Iterator[list]:
        if uses_index_array(self.sampler):
            return (batch.tolist() for batch in self.index_batches())
        return self._lists()

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} should be a positive integer value, but got {name}={value}")
