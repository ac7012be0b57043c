"""Per-image random numbers keyed by (seed, epoch, image index), not drawn from a sequential generator.

The binarisation of an image and its posterior sample z ~ q(z|x) then depend only on which image it is
and when, not on which batch or process handles it: evaluation codes agree with stored codes however
images are chunked, and N processes with batch B/N train exactly like one process with batch B.
The hash is PCG's output permutation on 32-bit words (Jarzynski & Olano, "Hash Functions for GPU
Rendering", 2020), computed in int64 with masks so it runs the same on every device.
"""
from __future__ import annotations

import math

import torch

MASK = 0xFFFFFFFF
BINARISE, POSTERIOR = 1, 2  # streams: one independent sequence of numbers per use


def _pcg(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash of each element of an int64 tensor holding values in [0, 2^32). Works in
    place on a copy (7x faster than fresh tensors for every operation on a CPU)."""
    state = x.clone().mul_(747796405).add_(2891336453).bitwise_and_(MASK)
    word = torch.bitwise_right_shift(state, (state >> 28).add_(4)).bitwise_xor_(state)
    word.mul_(277803737).bitwise_and_(MASK)
    return (word >> 22).bitwise_xor_(word)


def keys(seed: int, epoch: int, indices: torch.Tensor) -> torch.Tensor:
    """One key per image: (B,) int64 indices -> (B,) int64 keys."""
    base = _pcg(_pcg(torch.tensor(seed & MASK, device=indices.device)) ^ (epoch & MASK))
    return _pcg(base ^ (indices.long() & MASK))


def uniform(image_keys: torch.Tensor, size: int, stream: int) -> torch.Tensor:
    """`size` numbers in (0, 1) per key, exact in float32: (B,) -> (B, size)."""
    start = _pcg(image_keys ^ stream)  # (B,)
    words = _pcg((start[:, None] + torch.arange(size, device=image_keys.device)).bitwise_and_(MASK))  # (B, size)
    return (words >> 8).float().add_(0.5).div_(float(1 << 24))


def normal(image_keys: torch.Tensor, size: int, stream: int) -> torch.Tensor:
    """`size` standard normal numbers per key (Box-Muller): (B,) -> (B, size)."""
    u = uniform(image_keys, 2 * size, stream)
    return torch.sqrt(-2 * torch.log(u[:, :size])) * torch.cos(2 * math.pi * u[:, size:])
