"""``torchvision.transforms`` for images given as NumPy uint8 arrays ([H, W] or [H, W, C]),
which is what the offline data sets return where torchvision returns PIL images."""
from __future__ import annotations

import numpy as np

import graphc


def resize_bilinear(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of the two axes after the first (``images`` [N, H, W]), half-pixel
    centres as PIL and ``F.interpolate(align_corners=False)`` sample."""
    def weights(n_in: int, n_out: int) -> np.ndarray:
        centres = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        low = np.floor(centres).astype(int)
        high = np.minimum(low + 1, n_in - 1)
        frac = centres - low
        matrix = np.zeros((n_out, n_in))
        np.add.at(matrix, (np.arange(n_out), low), 1 - frac)
        np.add.at(matrix, (np.arange(n_out), high), frac)
        return matrix
    rows, cols = weights(images.shape[1], height), weights(images.shape[2], width)
    return np.einsum("oh,nhw,pw->nop", rows, images, cols)


class Compose:
    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, image):
        for transform in self.transforms:
            image = transform(image)
        return image


class ToTensor:
    """uint8 [H, W] or [H, W, C] -> float32 tensor [C, H, W] in [0, 1]."""

    def __call__(self, image) -> graphc.Tensor:
        array = np.asarray(image)
        if array.ndim == 2:
            array = array[:, :, None]
        scale = 255.0 if array.dtype == np.uint8 else 1.0
        return graphc.from_numpy(np.ascontiguousarray(
            array.transpose(2, 0, 1).astype(np.float32) / np.float32(scale)))


class Normalize:
    """(x - mean) / std per channel, on a [C, H, W] tensor."""

    def __init__(self, mean, std):
        self.mean, self.std = tuple(mean), tuple(std)

    def __call__(self, tensor: graphc.Tensor) -> graphc.Tensor:
        mean = graphc.tensor(self.mean, dtype=tensor.dtype).view(-1, 1, 1)
        std = graphc.tensor(self.std, dtype=tensor.dtype).view(-1, 1, 1)
        return (tensor - mean) / std


class Lambda:
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, image):
        return self.fn(image)


class Resize:
    """Resizes the shorter side to ``size`` (an int), or to ``(height, width)``, bilinearly."""

    def __init__(self, size):
        self.size = size

    def __call__(self, image):
        array = np.asarray(image)
        h, w = array.shape[:2]
        if isinstance(self.size, int):
            short = min(h, w)
            height, width = (self.size * h) // short, (self.size * w) // short
        else:
            height, width = self.size
        planes = array.reshape(h, w, -1).transpose(2, 0, 1).astype(np.float64)
        resized = resize_bilinear(planes, height, width).transpose(1, 2, 0)
        if array.dtype == np.uint8:
            resized = np.clip(np.rint(resized), 0, 255).astype(np.uint8)
        return resized.reshape((height, width) + array.shape[2:])


class CenterCrop:
    def __init__(self, size):
        self.size = (size, size) if isinstance(size, int) else tuple(size)

    def __call__(self, image):
        array = np.asarray(image)
        h, w = array.shape[:2]
        top, left = (h - self.size[0]) // 2, (w - self.size[1]) // 2
        return array[top:top + self.size[0], left:left + self.size[1]]
