"""Data sets with torchvision's constructors, served offline.

- ``MNIST``: scikit-learn's 1797 bundled 8x8 digits, each resized to a 20x20 box centred in a
  28x28 uint8 image as MNIST's are; the first 1500 (a fixed shuffle) are the training set.
  ``OFFLINE_MNIST_LIMIT=n`` in the environment keeps the first n images of each split (the
  tests use it to run the heavier programs for fewer steps).
- ``FakeData``: random images, as torchvision's.
"""
from __future__ import annotations

import os

import numpy as np

import graphc
from graphc.utils.data import Dataset
from offline_torchvision.transforms import resize_bilinear

_TRAIN_SIZE = 1500


def _digits_as_mnist() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise ImportError("the offline MNIST stand-in reads scikit-learn's digits: "
                          "pip install scikit-learn") from error
    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))
    small = digits.images[order] / 16.0                        # (N, 8, 8) in [0, 1]
    boxed = resize_bilinear(small, 20, 20)                      # MNIST digits fill a 20x20 box
    images = np.zeros((len(small), 28, 28))
    images[:, 4:24, 4:24] = boxed
    images = np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)
    return images, digits.target[order].astype(np.int64)


class MNIST(Dataset):
    """``torchvision.datasets.MNIST``'s interface: ``data`` (uint8 [N, 28, 28]), ``targets``
    (int64 [N]), ``classes``, and items ``(transform(image), target)``; the image is a uint8
    NumPy array of shape [28, 28] where torchvision gives a PIL image. ``root`` and ``download``
    are accepted and ignored: nothing is downloaded."""

    classes = [f"{d} - {name}" for d, name in enumerate(
        "zero one two three four five six seven eight nine".split())]

    def __init__(self, root=None, train: bool = True, transform=None, target_transform=None,
                 download: bool = False):
        images, labels = _digits_as_mnist()
        part = slice(0, _TRAIN_SIZE) if train else slice(_TRAIN_SIZE, None)
        limit = os.environ.get("OFFLINE_MNIST_LIMIT")
        if limit:
            images, labels = images[part][:int(limit)], labels[part][:int(limit)]
            part = slice(None)
        self.data = graphc.from_numpy(np.ascontiguousarray(images[part]))
        self.targets = graphc.from_numpy(np.ascontiguousarray(labels[part]))
        self.train = train
        self.transform, self.target_transform = transform, target_transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index):
        image = self.data.numpy()[index]
        target = int(self.targets.numpy()[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target


class FakeData(Dataset):
    """Random uint8 images of ``image_size`` (C, H, W) with random labels, as torchvision's."""

    def __init__(self, size: int = 1000, image_size=(3, 224, 224), num_classes: int = 10,
                 transform=None, target_transform=None, random_offset: int = 0):
        self.size, self.image_size, self.num_classes = size, tuple(image_size), num_classes
        self.transform, self.target_transform = transform, target_transform
        self.random_offset = random_offset

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index):
        if not 0 <= index < self.size:
            raise IndexError(f"{type(self).__name__} index {index} out of range")
        rng = np.random.default_rng(index + self.random_offset)
        c, h, w = self.image_size
        image = rng.integers(0, 256, size=(h, w, c), dtype=np.uint8)
        target = int(rng.integers(0, self.num_classes))
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target
