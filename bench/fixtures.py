"""Tiny data that the tests and the benchmarks both make, in one place: labelled bar images and IDX files laid out
as MNIST's. Imported by tests/conftest.py, tests/test_scale.py and bench/core.py (the bench never reaches into
tests/)."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import torch


def make_images(n: int, classes: int = 3, size: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy bars: class c lights up rows c, c+classes, ... so classes are learnable."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    base = torch.zeros(n, 1, size, size)
    for c in range(classes):
        base[labels == c, :, c::classes, :] = 1.0
    noisy = (0.8 * base + 0.2 * torch.rand(base.shape, generator=g)).clamp(0, 1)
    return (noisy * 255).round().to(torch.uint8), labels.long()


def write_idx(path: Path, array: np.ndarray) -> None:
    """`array` as an IDX file of unsigned bytes (MNIST's format: magic, dimensions, data)."""
    path.write_bytes(struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
                     + array.astype(np.uint8).tobytes())
