"""Turning image tensors into pictures: grids and PNG files."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def to_uint8(images: np.ndarray) -> np.ndarray:
    """(B, C, H, W) floats in [0, 1] -> (B, H, W, C) uint8."""
    return (np.clip(images, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(0, 2, 3, 1)


def grid(images: np.ndarray, columns: int = 0, pad: int = 2, scale: int = 1) -> np.ndarray:
    """Tile (B, C, H, W) images in [0, 1] into one (H', W', C) uint8 picture, `columns` wide
    (0 = one row), with `pad` grey pixels between tiles, each pixel repeated `scale` times."""
    tiles = to_uint8(images)
    if scale > 1:
        tiles = tiles.repeat(scale, axis=1).repeat(scale, axis=2)
    b, h, w, c = tiles.shape
    columns = columns or b
    rows = -(-b // columns)
    out = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), 128, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, col = divmod(i, columns)
        out[pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = tile
    return out


def save_png(picture: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(picture[..., 0] if picture.shape[-1] == 1 else picture).save(path)
