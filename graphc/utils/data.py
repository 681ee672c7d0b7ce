"""``graphc.utils.data``: the path PyTorch programs import datasets and loaders from
(``torch.utils.data``); the same objects as :mod:`graphc.data`.

    >>> import graphc
    >>> from graphc.utils.data import DataLoader, TensorDataset
    >>> DataLoader is graphc.data.DataLoader
    True
    >>> from graphc.utils.data.distributed import DistributedSampler
    >>> DistributedSampler is graphc.distributed.DistributedSampler
    True
"""
import sys

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
    StackDataset,
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
from graphc.distributed import sampler as distributed
from graphc.distributed.sampler import DistributedSampler

# ``torch.utils.data.distributed.DistributedSampler``: that path, without a package of its own
sys.modules[f"{__name__}.distributed"] = distributed

__all__ = ["ConcatDataset", "DataLoader", "Dataset", "Subset", "TensorDataset",
           "default_collate", "default_convert", "random_split",
           "BatchSampler", "ChainDataset", "IterableDataset", "RandomSampler", "Sampler",
           "SequentialSampler", "StackDataset", "SubsetRandomSampler", "WeightedRandomSampler", "WorkerInfo",
           "get_worker_info", "DistributedSampler"]
