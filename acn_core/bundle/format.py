"""The model bundle on disk: a directory users train, load and share (docs/bundle.md).

    config.json        run config, dataset facts, library version, SHA-256 of every other file
    model.safetensors  encoder, decoder and prior weights
    data.safetensors   labels, source rows, codes, map positions, per-sample costs, snapshots, a slow decoder's
                       first views (`views.py`), and the training/held-out images unless the bundle is lean
                       (`lean.py`: they are read from the local dataset store and verified against a hash)
    index.ann          Annoy index of the training codes, described by index.json; only in large bundles
                       (`build.SHIP_INDEX_ABOVE`): otherwise built from the verified codes on load (the same bytes)
    metrics.json       training curves and held-out evaluation

Saving is atomic. Loading treats every bundle as possibly hostile: JSON fields, tensor names, dtypes and
shapes are checked against the config before anything is built (`files.py`, `schema.py`), values must be
finite, the index is walked node by node, and nothing is ever unpickled. `build.py` makes bundles; `sampling.py`
asks them questions; `glance.py` reads what the map needs without PyTorch.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import torch

from ..config import RunConfig
from .evaluate import Evaluation
from .files import (CONFIG_FILE, DATA_FILE, FORMAT, HASHED_FILES, METRICS_FILE, MODEL_FILE, PRE_LEAN_FORMATS,
                    DatasetInfo, bundle_folder, check_values, expected_arrays, read_index, read_meta)
from .index import INDEX_FILE, SIDECAR_FILE, CodeIndex
from .lean import ImageSource, read_images
from ..model.acn import ACN
from .projection import place_on_map
from .schema import check_tensors, require, safetensors_header
from ..storage import (BundleError, atomic_directory, read_json, read_tensors, sha256_file, tensors_to_bytes,
                       write_json_atomic)
from ..training.loop import EpochRecord
from ..version import __version__
from .views import FirstViews, display_mode, no_views

_INDEX_BUILDER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="acn-index")  # threads start on first use


class Bundle:
    """A loaded, verified bundle: its config, model, index, metrics and arrays, as typed attributes."""

    def __init__(self, path: Path, config: RunConfig, model: ACN, dataset: DatasetInfo, arrays: dict[str, torch.Tensor],
                 index: CodeIndex | None, evaluation: Evaluation, history: list[EpochRecord], training_seconds: float,
                 map_method: str, created: str, content_hash: str):
        self.path, self.config, self.model, self.dataset = path, config, model, dataset
        self._index, self._index_lock = index, threading.Lock()
        self._index_future: Future | None = None if index is not None else _INDEX_BUILDER.submit(
            CodeIndex.build, arrays["train_codes"].numpy(), seed=config.train.seed)  # in the background
        self.evaluation, self.history, self.training_seconds = evaluation, history, training_seconds
        self.map_method, self.created, self.content_hash = map_method, created, content_hash
        self.train_images: torch.Tensor = arrays["train_images"]  # (N, C, H, W) uint8
        self.train_codes: torch.Tensor = arrays["train_codes"]  # (N, D)
        self.labels: np.ndarray = arrays["train_labels"].numpy()  # (N,)
        self.source_index: np.ndarray = arrays["train_source_index"].numpy()  # (N,) row in the dataset's source
        self.map_xy: np.ndarray = arrays["train_map"].numpy()  # (N, 2)
        self.code_cost: np.ndarray = arrays["train_code_cost"].numpy()  # (N,) nats
        self.neighbour_agreement: np.ndarray = arrays["train_neighbour_agreement"].numpy()  # (N,) in [0, 1]
        recon = arrays.get("train_recon_cost")
        self.recon_cost: np.ndarray | None = None if recon is None else recon.numpy()  # (N,) nats; None: old bundle
        self.test_images: torch.Tensor = arrays["test_images"]  # (M, C, H, W) uint8
        self.test_labels: np.ndarray = arrays["test_labels"].numpy()
        self.test_codes: torch.Tensor = arrays["test_codes"]  # (M, D)
        test_map = arrays.get("test_map")
        self.test_map_xy: np.ndarray = (place_on_map(self.test_codes, self.train_codes, self.map_xy) if test_map is None
                                        else test_map.numpy())  # (M, 2)
        self.snapshot_epochs: np.ndarray = arrays.get("snapshot_epochs", torch.zeros(0, dtype=torch.long)).numpy()
        self.snapshot_maps: np.ndarray = arrays.get("snapshot_maps", torch.zeros(0, 0, 2)).numpy()  # (S, n, 2)
        test_rows = arrays.get("test_source_index")
        self.test_source_index: np.ndarray | None = None if test_rows is None else test_rows.numpy()  # (M,); None: old
        views = arrays.get("view_items")
        self.first_views: FirstViews = no_views(dataset.shape, display_mode(model)) if views is None else FirstViews(
            views.numpy(), arrays["view_decodes"].numpy(), arrays["view_code_decodes"].numpy(), display_mode(model))
        self.image_source: ImageSource | None = None  # where a lean bundle's images come from; None: carried inside
        self.notes: list[str] = []  # what loading had to repair, for the user

    @property
    def index(self) -> CodeIndex:
        """The Annoy index of the training codes. A bundle that ships none gets one built from its verified
        codes with its seed (the index `build.create` made) in a background thread started by `load`
        (~0.2 s at 4,000 codes), so loading does not wait for it; the first query waits if it must."""
        with self._index_lock:
            if self._index is None:
                self._index = self._index_future.result()
            return self._index

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def n_train(self) -> int:
        return int(self.train_codes.shape[0])

    @property
    def class_names(self) -> list[str]:
        return self.dataset.class_names

    def label_name(self, label: int) -> str:
        return self.class_names[label] if 0 <= label < len(self.class_names) else str(label)

    def check_item(self, item: int) -> int:
        item = int(item)
        if not 0 <= item < self.n_train:
            raise ValueError(f"sample {item} does not exist: choose an index from 0 to {self.n_train - 1}")
        return item

    def images(self, items) -> np.ndarray:
        """Training images as floats in [0, 1]: items (B,) -> (B, C, H, W)."""
        return self.train_images[torch.as_tensor(items, dtype=torch.long)].float().numpy() / 255.0

    def neighbours(self, item: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest other training codes to training item `item` (Annoy, checked): ids, distances."""
        return self.index.query_item(self.check_item(item), k)

    @classmethod
    def load(cls, path: Path | str) -> "Bundle":
        return load(path)


def save(out: Path, model: ACN, config: RunConfig, dataset: DatasetInfo, arrays: dict[str, torch.Tensor],
         index: CodeIndex | None, evaluation: Evaluation, history: list[EpochRecord], training_seconds: float,
         map_method: str, created: str, image_source: ImageSource | None = None) -> Path:
    """Write a bundle atomically: a crash or a full disk never leaves half a bundle at `out`. With an
    `image_source` the bundle is lean (`arrays` then leave out the images); without an `index`, loading
    builds it from the codes."""
    meta = {"format": FORMAT, "library_version": __version__, "config": config.to_dict(),
            "dataset": {**asdict(dataset), "shape": list(dataset.shape)}, "map_method": map_method, "created": created}
    if image_source is not None:
        meta["images"] = image_source.to_dict()
    metrics = {"evaluation": evaluation.to_dict(), "history": [asdict(h) for h in history],
               "training_seconds": training_seconds}
    return write_files(out, meta, {MODEL_FILE: tensors_to_bytes(model.state_dict()), DATA_FILE: tensors_to_bytes(arrays)},
                       metrics, index)


def write_files(out: Path, meta: dict, blobs: dict[str, bytes], metrics: dict | bytes, index: CodeIndex | None) -> Path:
    """Write a bundle's files atomically from `meta` (config.json without "files"), the bytes of its tensor files,
    its metrics (an object, or the exact bytes of a metrics.json) and an optional index; sign them."""
    with atomic_directory(Path(out), owned=(CONFIG_FILE, *HASHED_FILES)) as tmp:
        for name, blob in blobs.items():
            (tmp / name).write_bytes(blob)
        if isinstance(metrics, bytes):
            (tmp / METRICS_FILE).write_bytes(metrics)
        else:
            write_json_atomic(tmp / METRICS_FILE, metrics)
        if index is not None:
            index.save(tmp)
        meta = {**meta, "files": {name: sha256_file(tmp / name) for name in HASHED_FILES if (tmp / name).is_file()}}
        write_json_atomic(tmp / CONFIG_FILE, meta)
    return Path(out)


def reindex(path: Path) -> None:
    """Replace a (verified) bundle's index files by ones built from its stored codes; re-sign config.json."""
    path = Path(path)
    codes = read_tensors(path / DATA_FILE)["train_codes"].numpy()
    CodeIndex.build(codes).save(path)
    meta = read_json(path / CONFIG_FILE)
    meta["files"].update({name: sha256_file(path / name) for name in (INDEX_FILE, SIDECAR_FILE)})
    write_json_atomic(path / CONFIG_FILE, meta)


def _expected_weights(config: RunConfig) -> dict[str, tuple[str, tuple[int, ...]]]:
    with torch.device("meta"):  # shapes only: nothing is allocated
        model = ACN(config.model)
    return {name: ("F32", tuple(t.shape)) for name, t in model.state_dict().items()}


def _read_metrics(path: Path) -> tuple[Evaluation, list[EpochRecord], float]:
    where = str(path / METRICS_FILE)
    doc = read_json(path / METRICS_FILE)
    raw = require(doc, "evaluation", dict, where)
    history = require(doc, "history", list, where)
    seconds = require(doc, "training_seconds", (int, float), where, low=0)
    try:
        evaluation = Evaluation.from_dict(raw)
    except (TypeError, KeyError) as err:
        raise BundleError(f"{where}: malformed evaluation ({err}); rebuild the bundle") from None
    names = [f.name for f in fields(EpochRecord)]
    if not all(isinstance(h, dict) and set(names) <= set(h) for h in history):
        raise BundleError(f"{where}: the history must be a list of objects with {', '.join(names)}")
    records = [EpochRecord(**{name: h[name] for name in names}) for h in history]
    numbers = [v for h in records for v in asdict(h).values()]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in numbers):
        raise BundleError(f"{where}: the training history holds a non-number or a non-finite value")
    return evaluation, records, float(seconds)


def load(path: Path | str, rebuild_index: bool = False) -> Bundle:
    """Load and verify a bundle directory. Raises BundleError naming the file and the problem. With
    `rebuild_index`, Annoy never reads the bundle's index file: a new index is built from the codes."""
    path = bundle_folder(path)
    meta, config, dataset = read_meta(path)
    old_pixelcnn = meta["format"] in PRE_LEAN_FORMATS and config.model.decoder == "pixelcnn"
    try:
        check_tensors(path / MODEL_FILE, safetensors_header(path / MODEL_FILE), _expected_weights(config),
                      "the architecture in config.json")
    except BundleError as err:
        hint = " (PixelCNN bundles of format 1 used a single-stack decoder: retrain them)" if old_pixelcnn else ""
        raise BundleError(f"{err}{hint}") from None
    source = None if "images" not in meta else ImageSource.from_dict(meta["images"], f"{path / CONFIG_FILE}: images")
    data_header = safetensors_header(path / DATA_FILE)
    check_tensors(path / DATA_FILE, data_header, expected_arrays(data_header, config, path, source is not None),
                  "the data of this model")
    evaluation, history, seconds = _read_metrics(path)
    weights = read_tensors(path / MODEL_FILE)
    check_values({name: tensor.numpy() for name, tensor in weights.items()}, path / MODEL_FILE)
    model = ACN(config.model)
    model.load_state_dict(weights)
    model.eval()
    arrays = read_tensors(path / DATA_FILE)
    check_values({name: tensor.numpy() for name, tensor in arrays.items()}, path / DATA_FILE,
                 len(dataset.class_names))
    if source is not None:
        arrays["train_images"], arrays["test_images"] = read_images(
            source, arrays["train_source_index"], arrays["test_source_index"], dataset.shape, str(path))
    index, notes = read_index(path, meta, arrays["train_codes"].numpy(), rebuild_index, config.train.seed)
    bundle = Bundle(path, config, model, dataset, arrays, index, evaluation, history, seconds, meta["map_method"],
                    str(meta.get("created", "")), sha256_file(path / CONFIG_FILE))
    bundle.notes, bundle.image_source = notes, source
    return bundle
