"""The 2-D map of the codes: a UMAP fitted once when a bundle is made, and a cheap way to place
new codes (daydream steps) on an existing map without refitting."""
from __future__ import annotations

import numpy as np
import torch

from .codes import exact_knn

MIN_UMAP_POINTS = 32  # below this UMAP degenerates; a PCA map is used instead
MAX_FIT_POINTS = 20_000  # larger sets: UMAP on a seeded subsample, the rest placed from their neighbours


def pca_map(codes: torch.Tensor) -> np.ndarray:
    """The codes' first two principal components: (N, D) -> (N, 2)."""
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
    return reducer.fit_transform(codes.numpy()).astype(np.float32), "umap"


def place_on_map(new_codes: torch.Tensor, train_codes: torch.Tensor, train_map: np.ndarray,
                 k: int = 5) -> np.ndarray:
    """Map positions for new codes: the inverse-distance-weighted mean of the map positions of their
    k nearest training codes. (B, D) -> (B, 2)."""
    dists, ids = exact_knn(new_codes, train_codes, k)
    weights = 1.0 / (dists + 1e-6)
    weights = weights / weights.sum(1, keepdim=True)
    positions = torch.from_numpy(train_map)[ids]  # (B, k, 2)
    return (weights.unsqueeze(-1) * positions).sum(1).numpy()
