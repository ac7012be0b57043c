"""Reading the 2-D map honestly: an atlas of decoded images laid over it, and how far its nearest points
are from the nearest codes (map distance is not code distance)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..bundle.format import Bundle
from ..knn import exact_knn
from ..bundle.projection import grid_cells

ATLAS_LEVELS = {"coarse": 8, "medium": 16, "fine": 32}  # cells along the map's longer side


@dataclass
class Atlas:
    """Decoded mean codes on a grid over the map; only cells holding training points are kept."""

    centres: np.ndarray  # (M, 2) map coordinates of the non-empty cells' centres
    cell_size: float  # width = height of a cell, in map units
    cells: np.ndarray  # (M, 2) int: column, row of each cell (row 0 at the lowest map y)
    shape: tuple[int, int]  # (columns, rows) of the whole grid
    origin: np.ndarray  # (2,) map coordinates of the grid's lower-left corner
    images: np.ndarray  # (M, C, H, W) in [0, 1]: the decode of each cell's mean code
    counts: np.ndarray  # (M,) training points in each cell
    decoding: str  # how the images were made, in words


@torch.no_grad()
def decode_preview(bundle: Bundle, codes: torch.Tensor, seed: int = 0, progress=None) -> tuple[np.ndarray, str]:
    """Images (B, C, H, W) in [0, 1] of codes (B, D) for an overview, and how they were made, in words. Fast
    decoders: the mean image. An autoregressive (PixelCNN) decoder samples pixel by pixel (the slow path,
    reporting to `progress`) and shows each pixel's probability along one seeded chain: one pass over a blank
    canvas was tried instead and drew faint, broken strokes (ink below the first row depends on the rows
    above it)."""
    model = bundle.model
    if not model.decoder.autoregressive:
        return model.decode(codes, None, "mean").numpy(), "the decoder's mean image of each cell's mean code"
    images = model.decode(codes, torch.Generator().manual_seed(seed), "mean", progress).numpy()
    return images, ("the PixelCNN's pixel probabilities along one seeded sampling chain from each cell's mean "
                    "code (drawn pixel by pixel)")


def build_atlas(bundle: Bundle, cells: int = 16, seed: int = 0, progress=None) -> Atlas:
    """The atlas layer: a grid of `cells` square cells along the map's longer side; each cell holding
    training points shows the decode of the mean of their codes (empty cells stay empty)."""
    flat, origin, size, shape = grid_cells(bundle.map_xy, cells)
    counts_all = np.bincount(flat, minlength=shape[0] * shape[1])
    kept = np.flatnonzero(counts_all)  # (M,) flat cells with points
    sums = torch.zeros((shape[0] * shape[1], bundle.train_codes.shape[1]))
    sums.index_add_(0, torch.from_numpy(flat), bundle.train_codes.float())
    means = sums[torch.from_numpy(kept)] / torch.from_numpy(counts_all[kept]).float()[:, None]  # (M, D)
    images, decoding = decode_preview(bundle, means, seed, progress)
    cell_xy = np.stack([kept % shape[0], kept // shape[0]], axis=1)
    centres = origin + (cell_xy + 0.5) * size
    return Atlas(centres, size, cell_xy, shape, origin, images, counts_all[kept], decoding)


def atlas_picture(atlas: Atlas, pad: int = 1) -> np.ndarray:
    """The whole atlas as one RGBA picture (rows * H, columns * W, 4) uint8, top row = highest map y:
    each non-empty cell its image (light ink on dark, as the app's thumbnails), empty cells transparent,
    `pad` transparent pixels around each tile so the grid reads as cells."""
    c, h, w = atlas.images.shape[1:]
    columns, rows = atlas.shape
    out = np.zeros((rows * h, columns * w, 4), dtype=np.uint8)
    tiles = (atlas.images * 255).round().astype(np.uint8).transpose(0, 2, 3, 1)  # (M, H, W, C)
    if c == 1:
        tiles = np.repeat(tiles, 3, axis=3)
    for (column, row), tile in zip(atlas.cells, tiles):
        top = (rows - 1 - row) * h
        out[top + pad:top + h - pad, column * w + pad:(column + 1) * w - pad, :3] = tile[pad:h - pad, pad:w - pad]
        out[top + pad:top + h - pad, column * w + pad:(column + 1) * w - pad, 3] = 255
    return out


@dataclass
class MapVsCode:
    """The K nearest training points of one code in code space and on the 2-D map, and how many agree."""

    code_ids: np.ndarray  # (K,) nearest training codes (Euclidean, exact), nearest first
    map_ids: np.ndarray  # (K,) nearest training points on the map (Euclidean in map units), nearest first
    shared: int  # how many items are in both

    @property
    def k(self) -> int:
        return len(self.code_ids)

    def sentence(self) -> str:
        return f"{self.shared} of {self.k} nearest on the map are also nearest in code space"


def nearest_on_map(map_xy: np.ndarray, point: np.ndarray, k: int, exclude: int | None = None) -> np.ndarray:
    """The k training points nearest to `point` (2,) on the map (N, 2), nearest first, ties by item; without
    item `exclude` (the point itself). (k,) int64."""
    squared = ((map_xy - np.asarray(point, dtype=map_xy.dtype)) ** 2).sum(1).astype(np.float64)
    if exclude is not None:
        squared[exclude] = np.inf
    k = max(1, min(int(k), len(map_xy) - (exclude is not None)))
    first = np.argpartition(squared, k - 1)[:k] if k < len(squared) else np.arange(len(squared))
    return first[np.lexsort((first, squared[first]))].astype(np.int64)


def map_vs_code(bundle: Bundle, k: int, item: int | None = None, code: np.ndarray | None = None,
                point: np.ndarray | None = None) -> MapVsCode:
    """For training `item` (itself excluded), or for any `code` (D,) placed at map `point` (2,): its K
    nearest training codes and its K nearest training points on the map, and their overlap."""
    if item is not None:
        item = bundle.check_item(item)
        code, point = bundle.train_codes[item].numpy(), bundle.map_xy[item]
    elif code is None or point is None:
        raise ValueError("give a training item, or a code with its map point")
    query = torch.as_tensor(np.asarray(code, dtype=np.float32))[None]  # (1, D)
    exclude = None if item is None else torch.tensor([item])
    k = max(1, min(int(k), bundle.n_train - (item is not None)))
    _, code_ids = exact_knn(query, bundle.train_codes.float(), k, exclude=exclude)
    code_ids = code_ids[0].numpy().astype(np.int64)
    map_ids = nearest_on_map(bundle.map_xy, point, k, exclude=item)
    return MapVsCode(code_ids, map_ids, len(np.intersect1d(code_ids, map_ids)))
