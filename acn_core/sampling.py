"""Questions asked of a loaded bundle (docs/method.md, "Sampling protocols"): reconstructions, neighbours,
prior samples, daydreams, and where a new code lands on the map.

Everything here works on a code, so the same calls serve a training sample, a held-out image and an
image the user draws or uploads. A training item's decodes come from the bundle's stored first views when it
has them for exactly that request (`Bundle.first_views`: a PixelCNN's, made with the bundle): the same pictures.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch

from .bundle.format import Bundle
from .bundle.projection import place_on_map
from .bundle.views import CODE_DECODES, decode_code, repeat_decodes
from .bundle.views import display_mode as model_display_mode

MAX_DAYDREAM_STEPS = 500
# what daydream frames show and what the chain continues from, chosen by `quality.daydream_scores` (docs/default-model.md)
DEFAULT_DAYDREAM_MODE = "threshold"
Progress = Callable[[float], None] | None


def display_mode(bundle: Bundle) -> str:
    """How decoded images are shown by default: the mean image for fast decoders; a sample for the
    PixelCNN, whose pictures are the samples it draws pixel by pixel."""
    return model_display_mode(bundle.model)


@dataclass
class Inspection:
    """Everything the neighbour panel shows for one image."""

    item: int | None  # training item, or None for an image from outside the training set
    label: int | None
    code_cost: float | None  # nats: KL of its code under the prior, conditioned on its nearest other code
    image: np.ndarray  # (C, H, W) in [0, 1]
    map_xy: np.ndarray  # (2,)
    reconstruction: np.ndarray  # (C, H, W) decode of z = c
    samples: np.ndarray  # (S, C, H, W) decodes of z ~ q(z|x)
    neighbour_ids: np.ndarray  # (K,) training items
    neighbour_distances: np.ndarray  # (K,)
    neighbour_labels: np.ndarray  # (K,)
    neighbour_images: np.ndarray  # (K, C, H, W)
    neighbour_reconstructions: np.ndarray | None  # (K, C, H, W); None for autoregressive decoders (too slow)


@dataclass
class DaydreamFrame:
    step: int
    image: np.ndarray  # (C, H, W) float in [0, 1]
    code: np.ndarray  # (D,)
    map_xy: np.ndarray  # (2,)
    moved: float  # Euclidean distance from the previous code (0 for the start)
    nearest_item: int  # nearest training code
    nearest_label: int


def encode(bundle: Bundle, images: np.ndarray) -> np.ndarray:
    """Codes of images in [0, 1] (B, C, H, W) -> (B, D), as the encoder sees grey images."""
    with torch.no_grad():
        return bundle.model.encode_unit(torch.as_tensor(images, dtype=torch.float32)).numpy()


def place(bundle: Bundle, codes: np.ndarray) -> np.ndarray:
    """Map positions (B, 2) of new codes (B, D), from their nearest training codes' positions."""
    return place_on_map(torch.as_tensor(codes, dtype=torch.float32), bundle.train_codes, bundle.map_xy)


def reconstruct_code(bundle: Bundle, code: np.ndarray, samples: int = 3, seed: int = 0, mode: str | None = None,
                     progress: Progress = None) -> tuple[np.ndarray, np.ndarray]:
    """Decode z = c (C, H, W) and `samples` draws z ~ q(z|x) = N(c, I) (S, C, H, W), in one batch."""
    return decode_code(bundle.model, code, samples, seed, mode or display_mode(bundle), progress)


def reconstruct(bundle: Bundle, item: int, samples: int = 3, seed: int = 0, mode: str | None = None,
                progress: Progress = None) -> tuple[np.ndarray, np.ndarray]:
    """`reconstruct_code` of a training item's stored code (its stored first view, if it has that one)."""
    item, mode = bundle.check_item(item), mode or display_mode(bundle)
    stored = bundle.first_views.panel(item, samples, seed, mode)
    if stored is not None:
        return stored
    return reconstruct_code(bundle, bundle.train_codes[item].numpy(), samples, seed, mode, progress)


def code_decodes(bundle: Bundle, item: int, n: int = CODE_DECODES, seed: int = 0, progress: Progress = None
                 ) -> np.ndarray:
    """A training item's code z = c decoded `n` times (n, C, H, W): with a sampling decoder, what the pictures
    share is what the code holds (a collapsed code holds nothing, and they share nothing)."""
    item, mode = bundle.check_item(item), display_mode(bundle)
    stored = bundle.first_views.repeats(item, n, seed, mode)
    if stored is not None:
        return stored
    return repeat_decodes(bundle.model, bundle.train_codes[item].numpy(), n, seed, mode, progress)


@torch.no_grad()
def decode_items(bundle: Bundle, items, mode: str = "mean", seed: int = 0, progress: Progress = None) -> np.ndarray:
    """Decodes of z = c for training items: (B,) -> (B, C, H, W) in [0, 1]."""
    codes = bundle.train_codes[torch.as_tensor(np.asarray(items, dtype=np.int64))]
    return bundle.model.decode(codes, torch.Generator().manual_seed(seed), mode, progress).numpy()


def _inspect_code(bundle: Bundle, code: np.ndarray, image: np.ndarray, k: int, item: int | None, samples: int,
                  seed: int, progress: Progress) -> Inspection:
    if item is None:
        ids, dists = bundle.index.query_vector(code, k)
        label, cost, map_xy = None, None, place(bundle, code[None])[0]
        mean, sampled = reconstruct_code(bundle, code, samples, seed, progress=progress)
    else:
        ids, dists = bundle.neighbours(item, k)
        label, cost, map_xy = int(bundle.labels[item]), float(bundle.code_cost[item]), bundle.map_xy[item]
        mean, sampled = reconstruct(bundle, item, samples, seed, progress=progress)
    neighbour_recons = None  # a sampling pass per neighbour is too slow for every click
    if not bundle.model.decoder.autoregressive:
        with torch.no_grad():
            neighbour_recons = bundle.model.decode(bundle.train_codes[torch.as_tensor(ids)], None, "mean").numpy()
    return Inspection(item, label, cost, image, map_xy, mean, sampled, ids, dists, bundle.labels[ids],
                      bundle.images(ids), neighbour_recons)


def inspect(bundle: Bundle, item: int, k: int, samples: int = 3, seed: int = 0, progress: Progress = None
            ) -> Inspection:
    """The neighbour panel of a training item: its K nearest *other* training codes (the Annoy index)."""
    item = bundle.check_item(item)
    return _inspect_code(bundle, bundle.train_codes[item].numpy(), bundle.images([item])[0], k, item, samples, seed,
                         progress)


def inspect_image(bundle: Bundle, image: np.ndarray, k: int, samples: int = 3, seed: int = 0,
                  progress: Progress = None) -> Inspection:
    """The neighbour panel of any image in [0, 1] (C, H, W) of the bundle's shape (held-out, drawn,
    uploaded): its code, where it lands on the map and its K nearest training codes."""
    return _inspect_code(bundle, encode(bundle, image[None])[0], image, k, None, samples, seed, progress)


@torch.no_grad()
def prior_samples(bundle: Bundle, n: int, seed: int = 0, mode: str | None = None, progress: Progress = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Draw z ~ p(z | c_hat) for random training codes c_hat and decode: items (n,), images (n, C, H, W)."""
    generator = torch.Generator().manual_seed(seed)
    items = torch.randint(0, bundle.n_train, (n,), generator=generator)
    z = bundle.model.prior.sample(bundle.train_codes[items], generator)
    return items.numpy(), bundle.model.decode(z, generator, mode or display_mode(bundle), progress).numpy()


@torch.no_grad()
def daydream(bundle: Bundle, start: int | np.ndarray, steps: int, seed: int = 0, mode: str = DEFAULT_DAYDREAM_MODE
             ) -> Iterator[DaydreamFrame]:
    """The paper's daydream: c_t = E(x_t), z ~ p(z | c_t), x_{t+1} from r(x | z), shown and continued as
    `mode` ("sample" is the paper's x ~ r(x|z); "mean" and "threshold" see `ACN.decode`).

    `start` is a training item or an image in [0, 1] (C, H, W). Yields the start frame and then one frame
    per step (at most MAX_DAYDREAM_STEPS), lazily, so a caller can show each frame and stop at any time.
    """
    steps = max(0, min(int(steps), MAX_DAYDREAM_STEPS))
    generator = torch.Generator().manual_seed(seed)
    if np.ndim(start) == 0:  # a training item starts from its image and its stored code
        item = bundle.check_item(start)
        image = torch.as_tensor(bundle.images([item]), dtype=torch.float32)  # (1, C, H, W)
        code = bundle.train_codes[item][None]
    else:
        image = torch.as_tensor(np.asarray(start)[None], dtype=torch.float32)
        code = bundle.model.encode_unit(image)
    previous = code
    for step in range(steps + 1):
        if step > 0:
            image = bundle.model.daydream_step(image, generator, mode)
            previous, code = code, bundle.model.encode_unit(image)
        code_np = code[0].numpy()
        ids, _ = bundle.index.query_vector(code_np, 1)
        yield DaydreamFrame(step, image[0].numpy(), code_np, place(bundle, code_np[None])[0],
                            float((code - previous).norm()), int(ids[0]), int(bundle.labels[ids[0]]))


# ----------------------------------------------------------------------------- regions, rankings, comparisons

RANKINGS = {"highest code cost": ("code_cost", True), "lowest neighbour-label agreement": ("neighbour_agreement", False),
            "largest reconstruction cost": ("recon_cost", True)}


def rank(bundle: Bundle, by: str, n: int) -> np.ndarray:
    """The `n` training items first by one of RANKINGS (ties by item): code cost (hardest to code from
    their neighbours), neighbour-label agreement (likely mislabelled or ambiguous), reconstruction cost."""
    if by not in RANKINGS:
        raise ValueError(f"ranking must be one of {', '.join(RANKINGS)}; got {by!r}")
    attribute, descending = RANKINGS[by]
    values = getattr(bundle, attribute)
    if values is None:
        raise ValueError(f"this bundle has no {attribute.replace('_', ' ')} (made by an older version); rebuild it")
    order = np.lexsort((np.arange(len(values)), -values if descending else values))
    return order[:max(0, int(n))]


def describe(bundle: Bundle, items: np.ndarray) -> dict[str, np.ndarray]:
    """One row per training item, for tables and CSV files: item, label, costs, agreement, map position."""
    items = np.asarray(items, dtype=np.int64)
    rows = {"item": items, "label": np.asarray(bundle.class_names)[bundle.labels[items]],  # labels checked on load
            "code_cost_nats": bundle.code_cost[items].round(3),
            "neighbour_agreement": bundle.neighbour_agreement[items].round(3)}
    if bundle.recon_cost is not None:
        rows["recon_cost_nats"] = bundle.recon_cost[items].round(3)
    rows["map_x"], rows["map_y"] = bundle.map_xy[items, 0].round(4), bundle.map_xy[items, 1].round(4)
    return rows


def neighbour_overlap(a: Bundle, b: Bundle, k: int, items: np.ndarray | None = None) -> np.ndarray:
    """Per training item, the Jaccard index of its K-neighbour sets under two models trained on the same
    images (1 = the same neighbours, 0 = none shared): (N,). Exact k-NN on the stored codes, for every item or
    only `items` (the others NaN: 60,000 items take seconds)."""
    from .knn import exact_knn

    if a.n_train != b.n_train or not np.array_equal(a.source_index, b.source_index):
        raise ValueError("the two models were trained on different images; their neighbours cannot be compared")
    k = max(1, min(int(k), a.n_train - 1))
    rows = torch.arange(a.n_train) if items is None else torch.as_tensor(np.asarray(items, dtype=np.int64))
    sets = [exact_knn(m.train_codes[rows], m.train_codes, k, exclude=rows)[1] for m in (a, b)]  # (B, K) each
    shared = (sets[0][:, :, None] == sets[1][:, None, :]).any(2).sum(1).float()
    out = np.full(a.n_train, np.nan, dtype=np.float32)
    out[rows.numpy()] = (shared / (2 * k - shared)).numpy()
    return out
