"""``graphc.nn.parallel``: PyTorch's ``torch.nn.parallel`` path.

graphc drives one device, so :class:`DataParallel` runs its module there as it is, as PyTorch's
does with a single device. :class:`DistributedDataParallel` trains one replica per process
(started with ``mpiexec`` or ``graphc launch``), averaging gradients over the processes.

    >>> import graphc
    >>> from graphc import nn
    >>> model = nn.DataParallel(nn.Linear(3, 2))
    >>> model(graphc.ones(4, 3)).shape, sorted(model.state_dict())
    ((4, 2), ['module.bias', 'module.weight'])
"""
from graphc.nn.parallel.data_parallel import DataParallel
from graphc.nn.parallel.distributed import DistributedDataParallel

__all__ = ["DataParallel", "DistributedDataParallel"]
