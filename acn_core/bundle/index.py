"""An Annoy index of the final training codes, verified before Annoy ever reads it.

A corrupt Annoy file can load "successfully" and then crash the process on query (docs/environment.md), and
a checksum only proves that the file matches its own sidecar. So `CodeIndex.load` checks the sidecar
(dimension, metric, count, SHA-256), then walks every node of the file (`schema.check_annoy_file`), and
every answer is checked (ids below the count, finite distances) with an exact search over the stored
codes as the fallback.
"""
from __future__ import annotations

import math
import os
import uuid
from pathlib import Path

import numpy as np
from annoy import AnnoyIndex

from .schema import check_annoy_file, require
from ..storage import BundleError, read_json, regular_file, sha256_file, write_json_atomic

INDEX_FILE = "index.ann"
SIDECAR_FILE = "index.json"
METRIC = "euclidean"
# Measured on trained 16-d codes (docs/benchmarks.md): these give recall@10 >= 0.99.
DEFAULT_TREES = 30
DEFAULT_SEARCH_K = 3000


class CodeIndex:
    """Nearest training codes by item (a row of the training split) or by vector, with distances."""

    def __init__(self, annoy: AnnoyIndex, codes: np.ndarray, n_trees: int, search_k: int):
        self.annoy_, self.codes = annoy, codes  # codes (N, D): the fallback when an answer fails its check
        self.count, self.dimension = codes.shape
        self.n_trees, self.search_k = n_trees, search_k
        self.fallbacks = 0  # answers replaced by an exact search

    @classmethod
    def build(cls, codes: np.ndarray, n_trees: int = DEFAULT_TREES, search_k: int = DEFAULT_SEARCH_K,
              seed: int = 0) -> "CodeIndex":
        """codes (N, D): item i of the index is row i of the training split."""
        codes = np.asarray(codes, dtype=np.float32)
        if codes.ndim != 2 or codes.shape[0] < 1:
            raise ValueError(f"codes must be a non-empty (N, D) array, got shape {codes.shape}")
        annoy = AnnoyIndex(codes.shape[1], METRIC)
        annoy.set_seed(seed)
        for i, code in enumerate(codes):
            annoy.add_item(i, code)
        annoy.build(n_trees, n_jobs=1)
        return cls(annoy, codes, n_trees, search_k)

    def _checked(self, ids: list[int], dists: list[float], k: int, query: np.ndarray, exclude: int | None
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Annoy's answer if it is plausible (k distinct ids below the count, finite distances); else the
        exact answer from the stored codes."""
        keep = [(i, d) for i, d in zip(ids, dists) if i != exclude][:k]
        ok = (len(keep) == k and len({i for i, _ in keep}) == k
              and all(0 <= i < self.count and math.isfinite(d) for i, d in keep))
        if ok:
            return np.array([i for i, _ in keep], dtype=np.int64), np.array([d for _, d in keep], dtype=np.float32)
        import torch

        from ..knn import exact_knn

        self.fallbacks += 1
        excluded = None if exclude is None else torch.tensor([exclude])
        dist, idx = exact_knn(torch.from_numpy(query[None]), torch.from_numpy(self.codes), k, exclude=excluded)
        return idx[0].numpy(), dist[0].numpy()

    def query_vector(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest items to a (D,) vector: ids (k,), Euclidean distances (k,)."""
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        if vector.shape[0] != self.dimension:
            raise ValueError(f"query has dimension {vector.shape[0]}, the index has {self.dimension}")
        if not np.isfinite(vector).all():
            raise ValueError("the query code contains NaN or infinite values")
        k = max(1, min(int(k), self.count))
        ids, dists = self.annoy_.get_nns_by_vector(vector.tolist(), k, self.search_k, include_distances=True)
        return self._checked(ids, dists, k, vector, None)

    def query_item(self, item: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest *other* items to item `item`: ids (k,), distances (k,)."""
        if not 0 <= item < self.count:
            raise ValueError(f"item {item} is outside the index (0 to {self.count - 1})")
        k = max(1, min(int(k), self.count - 1))
        ids, dists = self.annoy_.get_nns_by_item(item, k + 1, self.search_k, include_distances=True)
        return self._checked(ids, dists, k, self.codes[item], item)

    def save(self, folder: Path) -> None:
        """Write index.ann (through a temporary file and a rename) and its sidecar."""
        folder = Path(folder)
        tmp = folder / f".{INDEX_FILE}.{uuid.uuid4().hex}.tmp"
        try:
            self.annoy_.save(str(tmp))
            self.annoy_.unload()
            os.replace(tmp, folder / INDEX_FILE)
        finally:
            tmp.unlink(missing_ok=True)
        self.annoy_ = _load_annoy(folder / INDEX_FILE, self.dimension)
        write_json_atomic(folder / SIDECAR_FILE, {
            "dimension": self.dimension, "metric": METRIC, "count": self.count, "n_trees": self.n_trees,
            "search_k": self.search_k, "sha256": sha256_file(folder / INDEX_FILE)})

    @classmethod
    def load(cls, folder: Path, codes: np.ndarray) -> "CodeIndex":
        """Load the index of `codes` (N, D) after checking its sidecar, checksum and every node. Raises
        BundleError naming the problem; `CodeIndex.build(codes)` makes a new one."""
        folder = Path(folder)
        codes = np.ascontiguousarray(codes, dtype=np.float32)
        count, dimension = codes.shape
        where = str(folder / SIDECAR_FILE)
        sidecar = read_json(folder / SIDECAR_FILE)
        path = regular_file(folder / INDEX_FILE, "index file")
        for key, value in {"dimension": dimension, "metric": METRIC, "count": count}.items():
            if sidecar.get(key) != value:
                raise BundleError(f"{path} was built for {key}={sidecar.get(key)!r} but this model needs "
                                  f"{value!r}: it belongs to another model; rebuild the index")
        n_trees = require(sidecar, "n_trees", int, where, low=1, high=1000)
        search_k = require(sidecar, "search_k", int, where, low=-1, high=10_000_000)
        if sha256_file(path) != require(sidecar, "sha256", str, where):
            raise BundleError(f"{path} ({path.stat().st_size:,} bytes) does not match the checksum in its sidecar: "
                              f"it is truncated or corrupt; rebuild the index")
        check_annoy_file(path, dimension, count)
        return cls(_load_annoy(path, dimension), codes, n_trees, search_k)


def _load_annoy(path: Path, dimension: int) -> AnnoyIndex:
    annoy = AnnoyIndex(dimension, METRIC)
    annoy.load(str(path))
    return annoy
