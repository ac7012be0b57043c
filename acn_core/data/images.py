"""Image files in and out: reading a user's images (folder data, uploads, drawings) with every check, and
turning image tensors into pictures (grids, PNG, GIF)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

MAX_IMAGE_PIXELS = 40_000_000  # refuse larger images (decompression bombs)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


class ImageError(ValueError):
    """An image file that cannot be used; the message names it and says why."""


def read_image(source, channels: int = 1, image_size: int = 28) -> tuple[np.ndarray, list[str]]:
    """One image file (a path or a file-like object) as uint8 (C, size, size), converted to grey or RGB
    and resized as needed; also what was changed ("converted", "resized"). ImageError for anything that
    is not a readable image of at most MAX_IMAGE_PIXELS (size is checked from the header, before decoding;
    text-chunk bombs and truncated files are refused too)."""
    from PIL import Image

    name = getattr(source, "name", str(source))
    mode, size, changes = ("L" if channels == 1 else "RGB"), (image_size, image_size), []
    try:
        with Image.open(source) as im:
            if im.width * im.height > MAX_IMAGE_PIXELS:
                raise ImageError(f"{name} is {im.width}x{im.height} pixels, over the limit of {MAX_IMAGE_PIXELS:,} "
                                f"(a possible decompression bomb); shrink it")
            if im.mode != mode:
                changes.append("converted")
                im = im.convert(mode)
            if im.size != size:
                changes.append("resized")
                im = im.resize(size, Image.BILINEAR)
            array = np.asarray(im, dtype=np.uint8)
    except ImageError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, EOFError) as err:
        raise ImageError(f"{name} is not a readable image ({type(err).__name__}: {err})") from None
    return array.reshape(size[0], size[1], -1).transpose(2, 0, 1), changes


def centre_like_mnist(image: np.ndarray) -> np.ndarray:
    """A grey digit (1, H, W) uint8, white on black, placed as MNIST places its digits: the ink's bounding
    box scaled so its longer side is 20/28 of the image, then centred by its centre of mass."""
    from PIL import Image

    _, height, width = image.shape
    ink = np.argwhere(image[0] > 30)
    if len(ink) == 0:
        return image
    (top, left), (bottom, right) = ink.min(0), ink.max(0) + 1
    box = image[0, top:bottom, left:right]
    scale = (20 / 28) * min(height, width) / max(box.shape)
    size = (max(1, round(box.shape[1] * scale)), max(1, round(box.shape[0] * scale)))
    small = np.asarray(Image.fromarray(box).resize(size, Image.LANCZOS), dtype=np.float64)
    mass = small.sum()
    cy, cx = (np.arange(small.shape[0]) @ small.sum(1)) / mass, (np.arange(small.shape[1]) @ small.sum(0)) / mass
    out = np.zeros((height, width))
    y0, x0 = int(round(height / 2 - cy)), int(round(width / 2 - cx))
    ys, xs = slice(max(0, y0), min(height, y0 + small.shape[0])), slice(max(0, x0), min(width, x0 + small.shape[1]))
    out[ys, xs] = small[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
    return np.clip(out, 0, 255).astype(np.uint8)[None]


def user_image(raw: bytes, channels: int, image_size: int, centre: bool = False) -> np.ndarray:
    """An uploaded or drawn image file as a model input, uint8 (C, size, size): converted exactly like
    folder data (`read_image`), optionally centred like MNIST (grey only). ImageError if it is not a
    readable image or holds nothing but background."""
    import io

    array, _ = read_image(io.BytesIO(raw), channels, image_size)
    if int(array.max()) - int(array.min()) < 10:
        raise ImageError("the image is blank: draw or upload a digit (light strokes on a dark background)")
    return centre_like_mnist(array) if centre and channels == 1 else array


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
