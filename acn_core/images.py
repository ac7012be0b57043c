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


def to_png_bytes(picture: np.ndarray) -> bytes:
    """A (H, W, C) uint8 picture as PNG bytes."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(picture[..., 0] if picture.shape[-1] == 1 else picture).save(buffer, format="PNG")
    return buffer.getvalue()


def to_gif_bytes(frames: np.ndarray, scale: int = 4, seconds_per_frame: float = 0.4) -> bytes:
    """(T, C, H, W) frames in [0, 1] as an animated GIF that loops."""
    import io

    from PIL import Image

    tiles = to_uint8(frames).repeat(scale, axis=1).repeat(scale, axis=2)
    images = [Image.fromarray(t[..., 0] if t.shape[-1] == 1 else t) for t in tiles]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], loop=0,
                   duration=int(seconds_per_frame * 1000))
    return buffer.getvalue()
