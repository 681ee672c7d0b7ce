"""``graphc.utils.data``: the path PyTorch programs import datasets and loaders from
(``torch.utils.data``); the same objects as :mod:`graphc.data`.

    >>> import graphc
    >>> from graphc.utils.data import DataLoader, TensorDataset
    >>> DataLoader is graphc.data.DataLoader
    True
"""
from graphc.data import (
    ConcatDataset,
    DataLoader,
    Dataset,
    Subset,
    TensorDataset,
    default_collate,
    default_convert,
    random_split,
)
from graphc.distributed.sampler import DistributedSampler

__all__ = ["ConcatDataset", "DataLoader", "Dataset", "Subset", "TensorDataset",
           "default_collate", "default_convert", "random_split", "DistributedSampler"]
