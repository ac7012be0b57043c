"""An Annoy index of the final training codes, verified by a sidecar before Annoy ever reads it.

A corrupt Annoy file can load "successfully" and then crash the process on query (ENVIRONMENT.md),
so `CodeIndex.load` checks the sidecar's dimension, metric, count and SHA-256 first.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
from annoy import AnnoyIndex

from .storage import BundleError, read_json, regular_file, sha256_file, write_json_atomic

INDEX_FILE = "index.ann"
SIDECAR_FILE = "index.json"
METRIC = "euclidean"
# Measured on trained 16-d codes (see README, Performance): these give recall@10 >= 0.99.
DEFAULT_TREES = 30
DEFAULT_SEARCH_K = 3000


class CodeIndex:
    """Nearest training codes by item (a row of the training split) or by vector, with distances."""

    def __init__(self, annoy: AnnoyIndex, dimension: int, count: int, n_trees: int, search_k: int):
        self.annoy_, self.dimension, self.count = annoy, dimension, count
        self.n_trees, self.search_k = n_trees, search_k

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
        return cls(annoy, codes.shape[1], codes.shape[0], n_trees, search_k)

    def query_vector(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest items to a (D,) vector: ids (k,), Euclidean distances (k,)."""
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        if vector.shape[0] != self.dimension:
            raise ValueError(f"query has dimension {vector.shape[0]}, the index has {self.dimension}")
        k = max(1, min(int(k), self.count))
        ids, dists = self.annoy_.get_nns_by_vector(vector.tolist(), k, self.search_k, include_distances=True)
        return np.asarray(ids, dtype=np.int64), np.asarray(dists, dtype=np.float32)

    def query_item(self, item: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest *other* items to item `item`: ids (k,), distances (k,)."""
        if not 0 <= item < self.count:
            raise ValueError(f"item {item} is outside the index (0 to {self.count - 1})")
        k = max(1, min(int(k), self.count - 1))
        ids, dists = self.annoy_.get_nns_by_item(item, k + 1, self.search_k, include_distances=True)
        keep = [(i, d) for i, d in zip(ids, dists) if i != item][:k]
        return (np.array([i for i, _ in keep], dtype=np.int64), np.array([d for _, d in keep], dtype=np.float32))

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
    def load(cls, folder: Path, dimension: int, count: int) -> "CodeIndex":
        """Verify the sidecar against the expected dimension and count and the file's checksum, then
        load. Raises BundleError naming the problem; rebuild with `CodeIndex.build` if it is corrupt."""
        folder = Path(folder)
        sidecar = read_json(folder / SIDECAR_FILE)
        path = regular_file(folder / INDEX_FILE, "index file")
        expected = {"dimension": dimension, "metric": METRIC, "count": count}
        for key, value in expected.items():
            if sidecar.get(key) != value:
                raise BundleError(f"{path} was built for {key}={sidecar.get(key)!r} but this model needs "
                                  f"{value!r}: it belongs to another model; rebuild the index")
        if sha256_file(path) != sidecar.get("sha256"):
            raise BundleError(f"{path} ({path.stat().st_size:,} bytes) does not match the checksum in its sidecar: "
                              f"it is truncated or corrupt; rebuild the index")
        return cls(_load_annoy(path, dimension), dimension, count, int(sidecar["n_trees"]), int(sidecar["search_k"]))


def _load_annoy(path: Path, dimension: int) -> AnnoyIndex:
    annoy = AnnoyIndex(dimension, METRIC)
    annoy.load(str(path))
    return annoy
