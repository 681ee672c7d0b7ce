"""``graphc.utils.data``: the path PyTorch programs import datasets and loaders from
(``torch.utils.data``); the same objects as :mod:`graphc.data`.

    >>> import graphc
    >>> from graphc.utils.data import DataLoader, TensorDataset
    >>> DataLoader is graphc.data.DataLoader
    True
"""
from graphc.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    WorkerInfo,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
)

__all__ = ["ConcatDataset", "DataLoader", "Dataset", "Subset", "TensorDataset",
           "default_collate", "default_convert", "random_split",
           "BatchSampler", "ChainDataset", "IterableDataset", "RandomSampler", "Sampler",
           "SequentialSampler", "SubsetRandomSampler", "WeightedRandomSampler", "WorkerInfo",
           "get_worker_info"]
