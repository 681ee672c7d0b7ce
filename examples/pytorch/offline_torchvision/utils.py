"""``torchvision.utils.save_image``: a grid of images written as a PNG (zlib, no imaging
library needed)."""
from __future__ import annotations

import struct
import zlib

import numpy as np


def make_grid(tensor, nrow: int = 8, padding: int = 2, normalize: bool = False,
              value_range=None, pad_value: float = 0.0) -> np.ndarray:
    """Images [N, C, H, W] (a tensor or array) tiled ``nrow`` per row: float [C, H', W']."""
    images = np.asarray(tensor.detach().cpu().numpy() if hasattr(tensor, "detach") else tensor,
                        dtype=np.float64)
    if images.ndim == 3:
        images = images[None]
    if normalize:
        low, high = value_range if value_range is not None else (images.min(), images.max())
        images = (np.clip(images, low, high) - low) / max(high - low, 1e-5)
    n, c, h, w = images.shape
    columns = min(nrow, n)
    rows = -(-n // columns)
    grid = np.full((c, rows * (h + padding) + padding, columns * (w + padding) + padding),
                   pad_value)
    for i in range(n):
        top, left = (i // columns) * (h + padding) + padding, (i % columns) * (w + padding) + padding
        grid[:, top:top + h, left:left + w] = images[i]
    return grid


def _png(pixels: np.ndarray) -> bytes:
    """PNG bytes of uint8 pixels [H, W] (grey) or [H, W, 3] (RGB)."""
    height, width = pixels.shape[:2]
    colour = 2 if pixels.ndim == 3 else 0
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def save_image(tensor, fp, nrow: int = 8, padding: int = 2, normalize: bool = False,
               value_range=None, pad_value: float = 0.0, format=None) -> None:
    """Saves images [N, C, H, W] (values in [0, 1], or any range with ``normalize=True``) as
    one PNG grid, as ``torchvision.utils.save_image`` does."""
    grid = make_grid(tensor, nrow, padding, normalize, value_range, pad_value)
    pixels = np.clip(grid * 255.0 + 0.5, 0, 255).astype(np.uint8)
    pixels = pixels[0] if pixels.shape[0] == 1 else pixels[:3].transpose(1, 2, 0)
    data = _png(np.ascontiguousarray(pixels))
    if hasattr(fp, "write"):
        fp.write(data)
    else:
        with open(fp, "wb") as f:
            f.write(data)
