"""First views: what a page opens on, decoded once when a bundle is made and stored with it (format 4), for a
decoder too slow to decode on a click. A PixelCNN draws its pictures pixel by pixel (~0.4 s for five on this CPU),
so the Compare page of the PixelCNN pair opened ~1.4 s after its other answers. For the first VIEW_ITEMS training
items (a new session selects sample 0; the tour opens sample 12) a bundle of such a decoder stores the decodes the
panels show: z = c and VIEW_SAMPLES draws z ~ q(z|x) (Compare's sample panel), and z = c decoded CODE_DECODES
times (what stays fixed is what the code holds). They are the live answers exactly: `sampling` decodes with the
same functions and seed, and a stored view is used only for that request. Stored as uint8: exact for the
PixelCNN's sampled pictures, whose pixels are 0 or 1."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..model.acn import ACN

VIEW_ITEMS = 16
VIEW_SAMPLES = 4
CODE_DECODES = 3
VIEW_SEED = 0
Progress = Callable[[float], None] | None


def display_mode(model: ACN) -> str:
    """How decoded images are shown by default: the mean image for fast decoders; a sample for the PixelCNN,
    whose pictures are the samples it draws pixel by pixel."""
    return "sample" if model.decoder.autoregressive else "mean"


@torch.no_grad()
def decode_code(model: ACN, code: np.ndarray, samples: int, seed: int, mode: str, progress: Progress = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Decode z = c (C, H, W) and `samples` draws z ~ q(z|x) = N(c, I) (S, C, H, W), in one batch."""
    code_t = torch.as_tensor(code, dtype=torch.float32)[None]  # (1, D)
    generator = torch.Generator().manual_seed(seed)
    z = torch.cat([code_t, code_t + torch.randn((samples, code_t.shape[1]), generator=generator)])
    decoded = model.decode(z, generator, mode, progress).numpy()
    return decoded[0], decoded[1:]


@torch.no_grad()
def repeat_decodes(model: ACN, code: np.ndarray, n: int, seed: int, mode: str, progress: Progress = None
                   ) -> np.ndarray:
    """z = c decoded `n` times, in one batch: (n, C, H, W). A sampling decoder draws `n` pictures of one code,
    so what they share is what the code holds (a mean decoder gives one picture `n` times)."""
    z = torch.as_tensor(code, dtype=torch.float32)[None].repeat(n, 1)
    return model.decode(z, torch.Generator().manual_seed(seed), mode, progress).numpy()


def _stored(images: np.ndarray) -> np.ndarray:
    return np.round(images * 255).astype(np.uint8)


@dataclass
class FirstViews:
    """A bundle's stored first views (empty when it has none): decodes in its display mode with VIEW_SEED."""

    items: np.ndarray  # (V,) training items
    decodes: np.ndarray  # (V, 1 + S, C, H, W) uint8: z = c, then S draws z ~ q(z|x) (`decode_code`)
    code_decodes: np.ndarray  # (V, R, C, H, W) uint8: z = c decoded R times (`repeat_decodes`)
    mode: str

    def _row(self, item: int, seed: int, mode: str) -> int | None:
        found = np.flatnonzero(self.items == item)
        return int(found[0]) if len(found) and seed == VIEW_SEED and mode == self.mode else None

    def panel(self, item: int, samples: int, seed: int, mode: str) -> tuple[np.ndarray, np.ndarray] | None:
        """`decode_code`'s answer for training item `item`, if stored for exactly this request."""
        row = self._row(item, seed, mode)
        if row is None or samples != self.decodes.shape[1] - 1:
            return None
        decoded = self.decodes[row].astype(np.float32) / 255.0
        return decoded[0], decoded[1:]

    def repeats(self, item: int, n: int, seed: int, mode: str) -> np.ndarray | None:
        """`repeat_decodes`'s answer for training item `item`, if stored for exactly this request."""
        row = self._row(item, seed, mode)
        if row is None or n != self.code_decodes.shape[1]:
            return None
        return self.code_decodes[row].astype(np.float32) / 255.0


def no_views(shape: tuple[int, int, int], mode: str) -> FirstViews:
    return FirstViews(np.zeros(0, dtype=np.int64), np.zeros((0, 1, *shape), dtype=np.uint8),
                      np.zeros((0, 0, *shape), dtype=np.uint8), mode)


def make_first_views(model: ACN, codes: torch.Tensor, progress: Progress = None) -> dict[str, torch.Tensor]:
    """The arrays a bundle stores for its first views (VIEW_ARRAYS), or none for a decoder fast enough to decode
    on a click. Each item is decoded in its own batches with VIEW_SEED, as a page asks for it."""
    if not model.decoder.autoregressive:
        return {}
    items = np.arange(min(VIEW_ITEMS, len(codes)))
    mode, decodes, repeats = display_mode(model), [], []
    for done, item in enumerate(items):
        code = codes[item].numpy()
        mean, sampled = decode_code(model, code, VIEW_SAMPLES, VIEW_SEED, mode)
        decodes.append(_stored(np.concatenate([mean[None], sampled])))
        repeats.append(_stored(repeat_decodes(model, code, CODE_DECODES, VIEW_SEED, mode)))
        if progress is not None:
            progress((done + 1) / len(items))
    return {"view_items": torch.from_numpy(items.astype(np.int64)), "view_decodes": torch.from_numpy(np.stack(decodes)),
            "view_code_decodes": torch.from_numpy(np.stack(repeats))}
