"""Codes that are not in the data: an edited code, and a walk between two codes.

The questions a student asks of such a code: what does the decoder draw from it, where does it land on
the map, which training codes are nearest, and what would it cost to send? Its cost is the exact KL of
N(c, I) under the prior conditioned on its nearest training code (`explain.kl_per_dim`), the receiver
having the training codes; a code that leaves the data has no close neighbour and costs more.
The codes a walk or an edit starts from (`exclude`) never serve as their own neighbour, so the cost of an
unedited training code is the one the rankings show (up to the 4-sample estimate they store).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..bundle.format import Bundle
from ..knn import exact_knn
from .explain import kl_per_dim, prior_params
from ..sampling import Progress, display_mode, place

MAX_WALK_FRAMES = 50
RANGE_MARGIN = 1.0  # slider ranges reach one posterior standard deviation beyond the training codes


@dataclass
class CodeCosts:
    """What sending each of B codes would cost given the training codes."""

    nats: np.ndarray  # (B,) exact KL under the prior conditioned on the nearest training code
    nearest: np.ndarray  # (B,) that training item
    distance: np.ndarray  # (B,) Euclidean distance to it


@dataclass
class CodeView:
    """One code decoded, placed and costed (the code editor's view)."""

    code: np.ndarray  # (D,)
    mean_image: np.ndarray  # (C, H, W) the decoder's mean image (for the PixelCNN: one sampled chain's means)
    sample_image: np.ndarray | None  # (C, H, W) a draw x ~ r(x|z); None where the mean is all there is to show
    map_xy: np.ndarray  # (2,)
    neighbour_ids: np.ndarray  # (k,) nearest training codes
    neighbour_distances: np.ndarray  # (k,)
    cost: CodeCosts  # of this one code: arrays of length 1


@dataclass
class Walk:
    """A path of codes from A to B, decoded and costed: N frames."""

    codes: np.ndarray  # (N, D)
    images: np.ndarray  # (N, C, H, W)
    map_xy: np.ndarray  # (N, 2)
    cost: CodeCosts  # (N,) each
    nearest_labels: np.ndarray  # (N,)
    spherical: bool


def check_code(bundle: Bundle, code) -> np.ndarray:
    """A code as float32 (D,), or ValueError saying what is wrong (shape, NaN or infinite values)."""
    code = np.array(code, dtype=np.float32).reshape(-1)  # a copy: never a view of a caller's buffer
    dim = bundle.config.model.code_dim
    if code.shape[0] != dim:
        raise ValueError(f"a code of this model has {dim} numbers; got {code.shape[0]}")
    if not np.isfinite(code).all():
        raise ValueError("the code contains NaN or infinite values; it is never decoded. Reset it to a sample's code")
    return code


def code_ranges(bundle: Bundle) -> tuple[np.ndarray, np.ndarray]:
    """Per dimension, the range an editor offers: the training codes' range plus RANGE_MARGIN: (D,), (D,)."""
    codes = bundle.train_codes.numpy()
    return codes.min(0) - RANGE_MARGIN, codes.max(0) + RANGE_MARGIN


def clamp_code(bundle: Bundle, code) -> tuple[np.ndarray, list[int]]:
    """The code clamped into `code_ranges`, and the dimensions that had to move."""
    code = check_code(bundle, code)
    low, high = code_ranges(bundle)
    clamped = np.clip(code, low, high)
    return clamped, np.flatnonzero(clamped != code).tolist()


def spread_order(bundle: Bundle) -> np.ndarray:
    """Dimensions by the spread (standard deviation) of the training codes, widest first."""
    spread = bundle.train_codes.numpy().std(0)
    return np.lexsort((np.arange(len(spread)), -spread))


@torch.no_grad()
def code_costs(bundle: Bundle, codes: np.ndarray, exclude: Sequence[int] = ()) -> CodeCosts:
    """The cost of sending each code (B, D) given the training codes, leaving out the items `exclude`."""
    queries = torch.as_tensor(np.asarray(codes, dtype=np.float32))
    k = min(1 + len(exclude), bundle.n_train)
    dists, ids = exact_knn(queries, bundle.train_codes, k)
    keep = ~torch.isin(ids, torch.as_tensor(list(exclude), dtype=torch.long))
    first = keep.float().argmax(1)  # the nearest that is not excluded
    rows = torch.arange(len(queries))
    nearest, distance = ids[rows, first], dists[rows, first]
    nats = kl_per_dim(queries, prior_params(bundle, bundle.train_codes[nearest])).sum(1)
    return CodeCosts(nats.numpy(), nearest.numpy(), distance.numpy())


@torch.no_grad()
def view_code(bundle: Bundle, code, exclude: Sequence[int] = (), k: int = 5, seed: int = 0,
              progress: Progress = None) -> CodeView:
    """Decode an (edited) code, place it on the map, find its nearest training codes and its cost."""
    code = check_code(bundle, code)
    z = torch.as_tensor(code)[None]
    generator = torch.Generator().manual_seed(seed)
    if bundle.model.decoder.autoregressive:  # one pixel-by-pixel pass: show its sample
        mean_image, sample_image = bundle.model.decode(z, generator, "sample", progress)[0].numpy(), None
    else:
        mean_image = bundle.model.decode(z, generator, "mean")[0].numpy()
        sample_image = bundle.model.decode(z, generator, "sample")[0].numpy()
    ids, dists = bundle.index.query_vector(code, k)
    return CodeView(code, mean_image, sample_image, place(bundle, code[None])[0], ids, dists,
                    code_costs(bundle, code[None], exclude))


def interpolate(a: np.ndarray, b: np.ndarray, frames: int, spherical: bool = False,
                centre: np.ndarray | None = None) -> np.ndarray:
    """`frames` codes from a to b inclusive: (D,), (D,) -> (N, D). Spherical interpolation turns about
    `centre` (the mean training code: ACN codes are not centred on 0) and falls back to a straight line
    when a and b point the same way from it."""
    t = np.linspace(0.0, 1.0, max(1, int(frames)))[:, None]
    if not spherical:
        return ((1 - t) * a + t * b).astype(np.float32)
    centre = np.zeros_like(a) if centre is None else centre
    u, v = a - centre, b - centre
    cos = float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v) + 1e-12))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-4:
        return ((1 - t) * a + t * b).astype(np.float32)
    path = (np.sin((1 - t) * omega) * u + np.sin(t * omega) * v) / np.sin(omega)
    return (centre + path).astype(np.float32)


@torch.no_grad()
def walk(bundle: Bundle, a, b, frames: int = 10, spherical: bool = False, exclude: Sequence[int] = (),
         seed: int = 0, progress: Progress = None) -> Walk:
    """Decode the line (or great circle) between codes a and b in `frames` steps (1 to MAX_WALK_FRAMES;
    one frame when a = b), with each frame's map position and cost. Decoded as the model shows pictures
    (`display_mode`)."""
    a, b = check_code(bundle, a), check_code(bundle, b)
    frames = 1 if np.array_equal(a, b) else min(max(int(frames), 2), MAX_WALK_FRAMES)
    codes = interpolate(a, b, frames, spherical, bundle.train_codes.numpy().mean(0))
    z = torch.as_tensor(codes)
    images = bundle.model.decode(z, torch.Generator().manual_seed(seed), display_mode(bundle), progress).numpy()
    cost = code_costs(bundle, codes, exclude)
    return Walk(codes, images, place(bundle, codes), cost, bundle.labels[cost.nearest], spherical)
