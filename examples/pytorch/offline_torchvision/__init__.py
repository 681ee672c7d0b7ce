"""An offline stand-in for the parts of torchvision that PyTorch's example programs use.

The programs in ``examples/pytorch/`` are PyTorch's official examples with only their import
lines and data sets changed. Their data sets come from torchvision, which downloads them; here
``datasets.MNIST`` serves scikit-learn's bundled 8x8 handwritten digits, scaled to MNIST's 28x28
uint8 format, so the programs run on a machine with no network. ``transforms``, ``utils`` and
``models`` hold what the programs call, written on graphc and NumPy.

    >>> from offline_torchvision import datasets, transforms
    >>> train = datasets.MNIST('../data', train=True, download=True,
    ...                        transform=transforms.ToTensor())
    >>> image, label = train[0]
    >>> list(image.shape), train.data.dtype
    ([1, 28, 28], graphc.uint8)
"""
from offline_torchvision import datasets, models, transforms, utils

__all__ = ["datasets", "models", "transforms", "utils"]
