"""Samplers and the DataLoader's sampler arguments, against torch.utils.data's semantics.

Expectations are stated independently: orders are checked as permutations / counts, draws
against their probabilities (bounds several standard deviations wide, with fixed seeds)."""
import numpy as np
import pytest

import graphc
from graphc.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
)
from graphc.random import Generator


def seeded(seed):
    return Generator(seed)


def labels(n=10):
    return TensorDataset(graphc.from_numpy(np.arange(2 * n, dtype=np.float32).reshape(n, 2)),
                         graphc.arange(n))


class Stream(IterableDataset):
    def __iter__(self):
        return iter(range(3))


# -- each sampler -----------------------------------------------------------------------------
def test_sequential_sampler_is_range_of_len():
    s = SequentialSampler(range(5))
    assert list(s) == [0, 1, 2, 3, 4] and len(s) == 5


def test_random_sampler_epoch_is_a_fresh_permutation():
    s = RandomSampler(range(12), generator=seeded(3))
    epochs = [list(s) for _ in range(3)]
    assert all(sorted(e) == list(range(12)) for e in epochs)
    assert epochs[0] != epochs[1] and len(s) == 12


def test_random_sampler_repeats_under_the_same_seed():
    assert list(RandomSampler(range(20), generator=seeded(7))) == \
        list(RandomSampler(range(20), generator=seeded(7)))
    graphc.manual_seed(4)
    first = list(RandomSampler(range(20)))
    graphc.manual_seed(4)
    assert list(RandomSampler(range(20))) == first


def test_random_sampler_num_samples_beyond_the_dataset_chains_permutations():
    drawn = list(RandomSampler(range(4), num_samples=10, generator=seeded(0)))
    assert len(drawn) == 10
    assert sorted(drawn[:4]) == sorted(drawn[4:8]) == [0, 1, 2, 3]
    assert len(set(drawn[8:])) == 2  # the start of one more permutation: distinct


def test_random_sampler_with_replacement_draws_uniformly():
    s = RandomSampler(range(4), replacement=True, num_samples=8000, generator=seeded(1))
    drawn = np.array(list(s))
    assert len(s) == 8000 and drawn.min() >= 0 and drawn.max() <= 3
    counts = np.bincount(drawn, minlength=4)
    sigma = np.sqrt(8000 * 0.25 * 0.75)
    assert np.all(np.abs(counts - 2000) < 5 * sigma)


def test_random_sampler_argument_errors():
    with pytest.raises(TypeError, match="replacement should be a boolean value"):
        RandomSampler(range(3), replacement=1)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        RandomSampler([])  # an empty dataset has no samples to draw, as in PyTorch


def test_subset_random_sampler_permutes_the_given_indices():
    s = SubsetRandomSampler([10, 30, 20, 50], generator=seeded(2))
    epochs = [list(s) for _ in range(4)]
    assert all(sorted(e) == [10, 20, 30, 50] for e in epochs) and len(s) == 4
    assert len({tuple(e) for e in epochs}) > 1


def test_weighted_sampler_with_replacement_follows_the_weights():
    drawn = np.array(list(WeightedRandomSampler([1.0, 0.0, 3.0], 4000, generator=seeded(5))))
    counts = np.bincount(drawn, minlength=3)
    assert counts[1] == 0
    sigma = np.sqrt(4000 * 0.25 * 0.75)
    assert abs(counts[0] - 1000) < 5 * sigma and abs(counts[2] - 3000) < 5 * sigma


def test_weighted_sampler_without_replacement_removes_each_drawn_index():
    # weights 1, 1, 2: P(second draw = 0) = P(first=1)*1/3 + P(first=2)*1/2 = 1/12 + 1/4 = 1/3
    s = WeightedRandomSampler(graphc.tensor([1.0, 1.0, 2.0]), 2, replacement=False,
                              generator=seeded(6))
    draws = [list(s) for _ in range(1500)]
    assert all(len(set(d)) == 2 for d in draws)
    second_is_0 = np.mean([d[1] == 0 for d in draws])
    first_is_2 = np.mean([d[0] == 2 for d in draws])
    assert abs(second_is_0 - 1 / 3) < 5 * np.sqrt(1 / 3 * 2 / 3 / 1500)
    assert abs(first_is_2 - 1 / 2) < 5 * np.sqrt(1 / 4 / 1500)


def test_weighted_sampler_errors():
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        WeightedRandomSampler([1.0], 0)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        WeightedRandomSampler([1.0], True)
    with pytest.raises(ValueError, match="replacement should be a boolean value"):
        WeightedRandomSampler([1.0], 1, replacement=None)
    with pytest.raises(ValueError, match=r"weights should be a 1d sequence .* shape \(1, 2\)"):
        WeightedRandomSampler([[1.0, 2.0]], 1)
    with pytest.raises(RuntimeError, match="without replacement"):
        list(WeightedRandomSampler([1.0, 0.0, 1.0], 3, replacement=False))
    with pytest.raises(RuntimeError, match="element < 0"):
        list(WeightedRandomSampler([1.0, -1.0], 1))


def test_batch_sampler_groups_and_drops_the_last_short_batch():
    assert list(BatchSampler(SequentialSampler(range(7)), 3, False)) == \
        [[0, 1, 2], [3, 4, 5], [6]]
    assert list(BatchSampler(range(7), 3, True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(BatchSampler(range(7), 3, False)) == 3 and len(BatchSampler(range(7), 3, True)) == 2
    # a sampler without an index array (iterated one index at a time) groups the same way
    assert list(BatchSampler(iter([5, 1, 4, 2]), 3, False)) == [[5, 1, 4], [2]]


def test_batch_sampler_argument_errors():
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
            BatchSampler(range(3), bad, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean value"):
        BatchSampler(range(3), 2, 0)


def test_sampler_base_class_needs_iter():
    with pytest.raises(NotImplementedError, match="__iter__"):
        iter(Sampler())


# -- the DataLoader's sampler arguments -----------------------------------------------------------
class Backwards(Sampler):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n - 1, -1, -1))

    def __len__(self):
        return self.n


def test_loader_follows_a_custom_sampler_on_fast_and_slow_paths():
    for collate in (None, default_collate):
        loader = DataLoader(labels(5), batch_size=2, sampler=Backwards(5), collate_fn=collate)
        assert [y.tolist() for _, y in loader] == [[4, 3], [2, 1], [0]] and len(loader) == 3


def test_loader_takes_a_plain_list_as_sampler():
    assert [y.tolist() for _, y in DataLoader(labels(5), batch_size=2, sampler=[3, 0, 4])] == \
        [[3, 0], [4]]


def test_loader_follows_a_batch_sampler():
    loader = DataLoader(labels(6), batch_sampler=[[5, 1], [0], [2, 3, 4]])
    assert [y.tolist() for _, y in loader] == [[5, 1], [0], [2, 3, 4]] and len(loader) == 3
    assert loader.batch_size is None and loader.drop_last is False


def test_loader_with_weighted_sampler_draws_only_weighted_samples():
    sampler = WeightedRandomSampler([0.0, 1.0, 0.0, 1.0], 20, generator=seeded(0))
    drawn = np.concatenate([y.numpy() for _, y in DataLoader(labels(4), 5, sampler=sampler)])
    assert len(drawn) == 20 and set(drawn.tolist()) <= {1, 3}


def test_loader_shuffle_builds_a_random_sampler_with_the_generator():
    loader = DataLoader(labels(8), batch_size=3, shuffle=True, generator=seeded(1))
    assert isinstance(loader.sampler, RandomSampler) and loader.sampler.generator is \
        loader.generator
    assert isinstance(loader.batch_sampler, BatchSampler)
    assert isinstance(DataLoader(labels(8)).sampler, SequentialSampler)


def test_loader_argument_errors_as_pytorch():
    ds = labels(4)
    cases = [
        (dict(sampler=[0, 1], shuffle=True), "sampler option is mutually exclusive with shuffle"),
        (dict(batch_sampler=[[0]], batch_size=2), "batch_sampler option is mutually exclusive"),
        (dict(batch_sampler=[[0]], drop_last=True), "batch_sampler option is mutually exclusive"),
        (dict(batch_sampler=[[0]], sampler=[0]), "batch_sampler option is mutually exclusive"),
        (dict(batch_size=None, drop_last=True), "mutually exclusive with drop_last"),
        (dict(num_workers=-1), "num_workers option should be non-negative"),
        (dict(timeout=-1), "timeout option should be non-negative"),
        (dict(prefetch_factor=2), "prefetch_factor option could only be specified"),
        (dict(num_workers=1, prefetch_factor=-1), "prefetch_factor option should be non-negative"),
        (dict(persistent_workers=True), "persistent_workers option needs num_workers > 0"),
        (dict(multiprocessing_context="fork"), "can only be used with multi-process loading"),
        (dict(num_workers=1, multiprocessing_context="nope"), "valid start method"),
        (dict(batch_size=0), "batch_size should be a positive integer value"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            DataLoader(ds, **kwargs)
    with pytest.raises(TypeError, match="multiprocessing_context option should be"):
        DataLoader(ds, num_workers=1, multiprocessing_context=3)


def test_iterable_dataset_rejects_shuffle_and_samplers():
    for kwargs, word in ((dict(shuffle=True), "shuffle"), (dict(sampler=[0]), "sampler"),
                         (dict(batch_sampler=[[0]]), "batch_sampler")):
        with pytest.raises(ValueError, match=f"expected unspecified {word} option"):
            DataLoader(Stream(), **kwargs)
    assert [b.tolist() for b in DataLoader(Stream(), batch_size=2, shuffle=False)] == [[0, 1], [2]]


def test_iterable_dataset_batches_and_drop_last_in_process():
    assert [b.tolist() for b in DataLoader(Stream(), batch_size=2, drop_last=True)] == [[0, 1]]
    assert [int(b) for b in DataLoader(Stream(), batch_size=None)] == [0, 1, 2]
    chained = Stream() + Stream()
    assert [b.tolist() for b in DataLoader(chained, batch_size=4)] == [[0, 1, 2, 0], [1, 2]]
    with pytest.raises(TypeError, match="has no len"):
        len(DataLoader(Stream(), batch_size=2))  # a stream without __len__ has no length
    with pytest.raises(TypeError, match="IterableDataset"):
        Stream()[0]


def test_loader_order_does_not_depend_on_the_default_collation_path():
    class Plain(Dataset):
        def __len__(self):
            return 9

        def __getitem__(self, i):
            return i

    fast = [y.tolist() for _, y in DataLoader(labels(9), 4, shuffle=True, generator=3)]
    slow = [y.tolist() for y in DataLoader(Plain(), 4, shuffle=True, generator=3)]
    assert fast == slow


def test_loader_sampling_attributes_cannot_change_after_init():
    loader = DataLoader(labels(4), batch_size=2)
    for name, value in (("batch_size", 3), ("sampler", [0]), ("drop_last", True),
                        ("dataset", labels(2)), ("batch_sampler", [[0]])):
        with pytest.raises(ValueError, match=f"{name} attribute should not be set after "
                                             "DataLoader is initialized"):
            setattr(loader, name, value)
    loader.num_workers = 1  # others may change, as in PyTorch
    assert [y.tolist() for _, y in loader] == [[0, 1], [2, 3]]
