"""A glance at a bundle: what its map draws, read without PyTorch, so a server's first map is drawn before PyTorch
is imported (~1.3 s here) and the bundle loaded. Verified as `format.load` verifies what it reads (`files.py`):
config.json field by field and the SHA-256 of every file it signs, data.safetensors' names, dtypes and shapes, its
values finite and its labels in range. Its neighbours are the bundle's: the same Annoy index (built from the same
codes with the same seed, or the bundle's own index file, checked) and the same checked answers."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from .files import (CONFIG_FILE, DATA_FILE, DatasetInfo, bundle_folder, check_values, expected_arrays, read_index,
                    read_meta)
from .index import CodeIndex
from .projection import EXACT_MAP_POINTS
from .schema import check_tensors, safetensors_header
from ..storage import read_arrays, sha256_file


class Glance:
    """The arrays a map draws, from a verified bundle, and its neighbour search. Shared by every session of the
    app: never mutate its arrays. The attributes a map reads have a `Bundle`'s names."""

    def __init__(self, path: Path, meta: dict, dataset: DatasetInfo, arrays: dict[str, np.ndarray], seed: int,
                 content_hash: str):
        self.path, self.dataset, self.content_hash, self.map_method = path, dataset, content_hash, meta["map_method"]
        self._meta, self._seed = meta, seed
        self._index: CodeIndex | None = None
        self._index_lock = threading.Lock()
        self.codes: np.ndarray = arrays["train_codes"]  # (N, D)
        self.labels: np.ndarray = arrays["train_labels"]  # (N,)
        self.map_xy: np.ndarray = arrays["train_map"]  # (N, 2)
        self.code_cost: np.ndarray = arrays["train_code_cost"]  # (N,) nats
        self.neighbour_agreement: np.ndarray = arrays["train_neighbour_agreement"]  # (N,)
        self.recon_cost: np.ndarray | None = arrays.get("train_recon_cost")  # (N,) nats; None: an old bundle
        self.test_labels: np.ndarray = arrays["test_labels"]  # (M,)
        self.test_map_xy: np.ndarray | None = arrays.get("test_map")  # (M, 2); None: placed by `format.load`

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def n_train(self) -> int:
        return len(self.codes)

    @property
    def class_names(self) -> list[str]:
        return self.dataset.class_names

    def label_name(self, label: int) -> str:
        return self.class_names[label] if 0 <= label < len(self.class_names) else str(label)

    @property
    def index(self) -> CodeIndex:
        """The bundle's Annoy index, made on first use as `format.load` makes it (~0.1-0.2 s for 4,000 codes)."""
        with self._index_lock:
            if self._index is None:
                shipped, _ = read_index(self.path, self._meta, self.codes, False, self._seed)  # notes: the load's
                self._index = CodeIndex.build(self.codes, seed=self._seed) if shipped is None else shipped
            return self._index

    def neighbours(self, item: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest other training codes to training item `item`, as `Bundle.neighbours` gives them."""
        item = int(item)
        if not 0 <= item < self.n_train:
            raise ValueError(f"sample {item} does not exist: choose an index from 0 to {self.n_train - 1}")
        return self.index.query_item(item, k)


def draws_whole_map(path: Path | str) -> bool:
    """Whether a glance can draw this bundle's map before it is loaded: at most `projection.EXACT_MAP_POINTS`
    training codes, as data.safetensors' header says (the header alone is read; nothing is drawn from it). A larger
    map waits for the loaded bundle anyway, so a glance at it would only read and hash its files a second time."""
    header = safetensors_header(bundle_folder(path) / DATA_FILE)
    return header.get("train_codes", ("", (0,)))[1][0] <= EXACT_MAP_POINTS


def read(path: Path | str) -> Glance:
    """The glance of the bundle at `path`; BundleError naming the file and the problem, as `format.load` would."""
    path = bundle_folder(path)
    meta, config, dataset = read_meta(path)
    header = safetensors_header(path / DATA_FILE)
    check_tensors(path / DATA_FILE, header, expected_arrays(header, config, path, "images" in meta),
                  "the data of this model")
    arrays = read_arrays(path / DATA_FILE)
    check_values(arrays, path / DATA_FILE, len(dataset.class_names))
    return Glance(path, meta, dataset, arrays, config.train.seed, sha256_file(path / CONFIG_FILE))
