"""graphc.data: datasets, splitting, collation and the DataLoader."""
from collections import namedtuple

import numpy as np
import pytest

import graphc
from graphc import optim
from graphc.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
    StackDataset,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    default_collate,
    random_split,
)
from graphc.random import Generator


def dataset(n=10):
    x = graphc.from_numpy(np.arange(n * 2, dtype=np.float32).reshape(n, 2))
    y = graphc.arange(n)
    return TensorDataset(x, y)


class Squares(Dataset):
    """A plain map-style dataset (no fast path): sample i is (i as an array, i squared)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return np.array([i, i], dtype=np.float32), i * i


# -- datasets -----------------------------------------------------------------------------------
def test_tensor_dataset_indexes_every_tensor():
    ds = dataset(5)
    x, y = ds[3]
    assert len(ds) == 5
    assert x.tolist() == [6.0, 7.0] and y.item() == 3
    assert isinstance(x, graphc.Tensor)


def test_tensor_dataset_requires_equal_first_dimensions():
    with pytest.raises(ValueError, match=r"same first dimension.*\[4, 2\].*\[3\]"):
        TensorDataset(graphc.zeros(4, 2), graphc.zeros(3))
    with pytest.raises(TypeError, match="expected a Tensor"):
        TensorDataset(graphc.zeros(3), [1, 2, 3])


def test_subset_and_concat():
    ds = dataset(6)
    sub = Subset(ds, [4, 1])
    assert len(sub) == 2 and sub[0][1].item() == 4 and sub[1][1].item() == 1
    both = ConcatDataset([sub, Squares(3)])
    assert len(both) == 5 and both[1][1].item() == 1 and both[4][1] == 4
    assert len(sub + Squares(2)) == 4


def test_random_split_with_lengths_and_fractions():
    ds = dataset(10)
    a, b = random_split(ds, [7, 3], generator=Generator(1))
    assert (len(a), len(b)) == (7, 3)
    assert sorted(a.indices + b.indices) == list(range(10))
    c, d, e = random_split(ds, [0.5, 0.3, 0.2], generator=Generator(1))
    assert (len(c), len(d), len(e)) == (5, 3, 2)
    f, g = random_split(range(5), [0.5, 0.5], generator=Generator(1))
    assert (len(f), len(g)) == (3, 2)  # the remainder goes to the first split
    again, _ = random_split(ds, [7, 3], generator=Generator(1))
    assert again.indices == a.indices
    with pytest.raises(ValueError, match="does not equal the length"):
        random_split(ds, [5, 4])


def test_random_split_uses_the_global_generator_by_default():
    graphc.manual_seed(3)
    first = random_split(range(20), [10, 10])[0].indices
    graphc.manual_seed(3)
    assert random_split(range(20), [10, 10])[0].indices == first
    assert random_split(range(20), [10, 10])[0].indices != first


# -- collation ----------------------------------------------------------------------------------
def test_default_collate_stacks_and_recurses():
    Point = namedtuple("Point", "x y")
    batch = [
        {"img": np.ones((2, 2), np.float32), "label": 1, "w": 0.5, "name": "a",
         "pair": (graphc.tensor([1.0]), True), "p": Point(1, 2.0)},
        {"img": np.zeros((2, 2), np.float32), "label": 2, "w": 1.5, "name": "b",
         "pair": (graphc.tensor([2.0]), False), "p": Point(3, 4.0)},
    ]
    out = default_collate(batch)
    assert out["img"].shape == (2, 2, 2) and out["img"].dtype == graphc.float32
    assert out["label"].dtype == graphc.int64 and out["label"].tolist() == [1, 2]
    assert out["w"].dtype == graphc.float64
    assert out["name"] == ["a", "b"]
    assert out["pair"][0].tolist() == [[1.0], [2.0]]
    assert out["pair"][1].dtype == graphc.bool and out["pair"][1].tolist() == [True, False]
    assert isinstance(out["p"], Point) and out["p"].x.tolist() == [1, 3]


def test_default_collate_numbers_take_the_dtype_of_them_all_and_strings_stay_as_given():
    # the first sample's type decided it once: [1, 2.5] was int64 [1, 2], silently
    assert default_collate([1, 2.5]).dtype == graphc.float32
    assert default_collate([0, 0.75, 3]).tolist() == [0.0, 0.75, 3.0]
    assert default_collate([True, 2]).tolist() == [1, 2]  # (was [True, True])
    assert default_collate([True, False]).dtype == graphc.bool
    targets = next(iter(DataLoader([(0, 1), (1, 0.5)], batch_size=2)))[1]
    assert targets.tolist() == [1.0, 0.5]
    assert default_collate([("a", 1), ("b", 2)])[0] == ("a", "b")  # a column: a tuple


def test_samplers_subclassed_with_their_own_iter_are_iterated():
    class Reverse(SequentialSampler):
        def __iter__(self):
            return iter(range(len(self.data_source) - 1, -1, -1))

    class Fixed(RandomSampler):
        def __iter__(self):
            return iter([5, 5, 5, 0, 0, 0])

    ds = TensorDataset(graphc.arange(6))
    assert [b[0].tolist() for b in DataLoader(ds, batch_size=4, sampler=Reverse(ds))] == \
        [[5, 4, 3, 2], [1, 0]]
    assert [b[0].tolist() for b in DataLoader(ds, batch_size=3, sampler=Fixed(ds))] == \
        [[5, 5, 5], [0, 0, 0]]
    assert list(BatchSampler(Reverse(ds), 4, False)) == [[5, 4, 3, 2], [1, 0]]


def test_random_samplers_with_an_int_seed_draw_a_new_order_each_epoch_repeatably():
    orders = [list(s) for s in [RandomSampler(range(8), generator=3)] * 3]
    assert len({tuple(o) for o in orders}) == 3
    assert [list(s) for s in [RandomSampler(range(8), generator=3)] * 3] == orders
    subset = SubsetRandomSampler(range(10, 20), generator=3)
    assert list(subset) != list(subset)


def test_a_tensor_dataset_changed_during_the_epoch_is_read_as_it_is_now():
    x = graphc.arange(6).float()
    loader = DataLoader(TensorDataset(x), batch_size=2)
    batches = iter(loader)
    seen = [next(batches)[0].tolist()]
    x.mul_(10)
    x[4] = -1.0
    seen += [b[0].tolist() for b in batches]
    assert seen == [[0.0, 1.0], [20.0, 30.0], [-1.0, 50.0]]


def test_default_collate_errors():
    with pytest.raises(RuntimeError, match="same shape"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([(1, 2), (1,)])
    with pytest.raises(TypeError, match="found object"):
        default_collate([object()])


# -- the loader ---------------------------------------------------------------------------------
def test_loader_batches_in_order_and_len():
    loader = DataLoader(dataset(10), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and len(batches) == 3
    x, y = batches[0]
    assert isinstance(x, graphc.Tensor) and x.shape == (4, 2) and y.tolist() == [0, 1, 2, 3]
    assert batches[-1][1].tolist() == [8, 9]
    dropped = DataLoader(dataset(10), batch_size=4, drop_last=True)
    assert len(dropped) == 2 and [b[1].shape for b in dropped] == [(4,), (4,)]


def test_fast_path_equals_per_sample_collation():
    ds = dataset(9)
    fast = list(DataLoader(ds, batch_size=4, shuffle=True, generator=7))
    slow = list(DataLoader(ds, batch_size=4, shuffle=True, generator=7, collate_fn=default_collate))
    for (fx, fy), (sx, sy) in zip(fast, slow):
        assert fx.tolist() == sx.tolist() and fy.tolist() == sy.tolist()
        assert fx.dtype == sx.dtype and fy.dtype == sy.dtype


def test_fast_path_through_subsets():
    ds = dataset(10)
    train, _ = random_split(ds, [6, 4], generator=Generator(0))
    inner = Subset(train, [5, 0, 2])
    (x, y), = list(DataLoader(inner, batch_size=3))
    expected = [train.indices[5], train.indices[0], train.indices[2]]
    assert y.tolist() == expected
    assert x.tolist() == [[2.0 * i, 2.0 * i + 1] for i in expected]


def test_shuffle_covers_everything_and_differs_between_epochs():
    loader = DataLoader(dataset(20), batch_size=6, shuffle=True, generator=Generator(5))
    epochs = [np.concatenate([y.numpy() for _, y in loader]).tolist() for _ in range(3)]
    for order in epochs:
        assert sorted(order) == list(range(20))
    assert epochs[0] != epochs[1] != epochs[2]


def test_shuffle_reproducible_with_seed_generator_and_manual_seed():
    def orders(loader):
        return [np.concatenate([y.numpy() for _, y in loader]).tolist() for _ in range(2)]

    assert orders(DataLoader(dataset(), 3, shuffle=True, generator=11)) == \
        orders(DataLoader(dataset(), 3, shuffle=True, generator=11))
    graphc.manual_seed(0)
    first = orders(DataLoader(dataset(), 3, shuffle=True))
    graphc.manual_seed(0)
    assert orders(DataLoader(dataset(), 3, shuffle=True)) == first
    assert first[0] != list(range(10))


def test_loader_over_a_generic_dataset_and_custom_collate():
    loader = DataLoader(Squares(5), batch_size=2)
    (x, y), *_ = list(loader)
    assert x.shape == (2, 2) and y.tolist() == [0, 1]
    sizes = list(DataLoader(Squares(5), batch_size=2, collate_fn=len))
    assert sizes == [2, 2, 1]


def test_batch_size_none_yields_samples():
    samples = list(DataLoader(Squares(3), batch_size=None))
    assert len(samples) == 3 and isinstance(samples[1][0], graphc.Tensor) and samples[1][1] == 1


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(dataset(), batch_size=0)
    with pytest.raises(TypeError, match="generator"):
        list(DataLoader(dataset(), shuffle=True, generator="seed"))


def test_large_in_memory_dataset_is_fast():
    """Whole-dataset-in-memory loading cuts batches from the arrays in one indexing step."""
    import time
    n = 200_000
    ds = TensorDataset(graphc.from_numpy(np.zeros((n, 8), np.float32)), graphc.arange(n))
    start = time.perf_counter()
    count = sum(x.shape[0] for x, _ in DataLoader(ds, batch_size=64, shuffle=True, generator=0))
    assert count == n
    assert time.perf_counter() - start < 2.0


def test_training_loop_with_loader_and_compiled_step():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -1.0, 2.0])).astype(np.float32)
    ds = TensorDataset(graphc.from_numpy(x), graphc.from_numpy(y))
    w = graphc.nn.Parameter(graphc.zeros(3))
    opt = optim.SGD([w], lr=0.1)

    @graphc.compile
    def step(xb, yb):
        opt.zero_grad()
        loss = ((xb @ w - yb) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    for _ in range(20):
        for xb, yb in DataLoader(ds, batch_size=16, shuffle=True, generator=1):
            step(xb, yb)
    np.testing.assert_allclose(w.numpy(), [1.0, -1.0, 2.0], atol=1e-3)
    assert len(step.entries) == 1


def test_collate_keeps_the_mapping_type_and_convert_turns_numpy_scalars_into_tensors():
    import collections

    from graphc.data import default_collate, default_convert
    batch = default_collate([collections.OrderedDict(b=1.0, a=2), collections.OrderedDict(b=3.0, a=4)])
    assert type(batch) is collections.OrderedDict and list(batch) == ["b", "a"]
    assert batch["a"].tolist() == [2, 4]
    converted = default_convert((np.float32(1.5), {"k": np.int64(3)}))
    assert converted[0].dtype == graphc.float32 and converted[1]["k"].tolist() == 3


def test_stack_dataset_pairs_samples_as_a_tuple_or_a_dict_and_batches_them():
    images, labels = TensorDataset(graphc.arange(6.0).reshape(3, 2)), [7, 8, 9]
    pairs = StackDataset(images, labels)
    assert len(pairs) == 3 and pairs[1][1] == 8 and pairs[1][0][0].tolist() == [2.0, 3.0]
    batch = next(iter(DataLoader(StackDataset(image=images, label=labels), batch_size=2)))
    assert batch["label"].tolist() == [7, 8] and batch["image"][0].shape == (2, 2)
    with pytest.raises(ValueError, match="differ in length"):
        StackDataset(images, [1, 2])
