"""The model bundle on disk: a directory users train, load and share (docs/bundle.md).

    config.json        run config, dataset facts, library version, SHA-256 of every other file
    model.safetensors  encoder, decoder and prior weights
    data.safetensors   labels, source rows, codes, map positions, per-sample costs, snapshots, and the
                       training/held-out images unless the bundle is lean (`lean.py`: they are read from the
                       local dataset store and verified against a hash)
    index.ann          Annoy index of the training codes, described by index.json; only in large bundles
                       (`build.SHIP_INDEX_ABOVE`): otherwise built from the verified codes on load (the same bytes)
    metrics.json       training curves and held-out evaluation

Saving is atomic. Loading treats every bundle as possibly hostile: JSON fields, tensor names, dtypes and
shapes are checked against the config before anything is built (`schema.py`), values must be finite,
the index is walked node by node, and nothing is ever unpickled. `build.py` makes bundles; `sampling.py`
asks them questions.
"""
from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch

from ..config import RunConfig
from .evaluate import Evaluation
from .index import INDEX_FILE, SIDECAR_FILE, CodeIndex
from .lean import ImageSource, read_images
from ..model.acn import ACN
from .projection import place_on_map
from .schema import check_tensors, require, safetensors_header, string_list
from ..storage import (BundleError, atomic_directory, read_json, read_tensors, regular_file, restore_interrupted,
                      sha256_file, tensors_to_bytes, write_json_atomic)
from ..training.loop import EpochRecord
from ..version import __version__

FORMAT, FORMAT_1, OLD_FORMATS = "acn-bundle/3", "acn-bundle/1", ("acn-bundle/1", "acn-bundle/2")
CONFIG_FILE, MODEL_FILE, DATA_FILE, METRICS_FILE = "config.json", "model.safetensors", "data.safetensors", "metrics.json"
HASHED_FILES = (MODEL_FILE, DATA_FILE, INDEX_FILE, SIDECAR_FILE, METRICS_FILE)
_INDEX_BUILDER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="acn-index")  # threads start on first use
MAX_ITEMS = 10_000_000
MAP_METHODS = ("umap", "pca")
# arrays every bundle has (name -> dtype, shape with n = training and m = held-out images) and those added in format 2
REQUIRED_ARRAYS = {"train_images": "U8", "train_labels": "I64", "train_source_index": "I64", "train_codes": "F32",
                   "train_map": "F32", "train_code_cost": "F32", "train_neighbour_agreement": "F32",
                   "test_images": "U8", "test_labels": "I64", "test_codes": "F32"}
NEW_ARRAYS = {"train_recon_cost": "F32", "test_map": "F32", "snapshot_epochs": "I64", "snapshot_codes": "F16",
              "snapshot_maps": "F32", "test_source_index": "I64"}
IMAGE_ARRAYS = ("train_images", "test_images")  # absent from a lean bundle's data.safetensors


@dataclass
class DatasetInfo:
    name: str
    class_names: list[str]
    shape: tuple[int, int, int]
    notes: list[str]


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


def _read_meta(path: Path) -> tuple[dict, RunConfig, DatasetInfo]:
    where = str(path / CONFIG_FILE)
    meta = read_json(path / CONFIG_FILE)
    fmt = require(meta, "format", str, where)
    if fmt != FORMAT and fmt not in OLD_FORMATS:
        raise BundleError(f"{where} is not an ACN bundle config (format {fmt!r}, expected {FORMAT!r})")
    raw = require(meta, "config", dict, where)
    # format 1 predates these choices; its models behave as these values describe
    old = {"model": {"encoder_input": "binary", "pixelcnn_conditioning": "global",
                     "conv_channels": max(8, int(raw.get("model", {}).get("hidden", 512)) // 16)},
           "train": {"lr_schedule": "constant", "precision": "fp32"}} \
        if fmt == FORMAT_1 and isinstance(raw.get("model"), dict) else None
    try:
        config = RunConfig.from_dict(raw, defaults=old)
    except (TypeError, ValueError) as err:
        raise BundleError(f"{where}: invalid config ({err})") from None
    facts = require(meta, "dataset", dict, where)
    shape = require(facts, "shape", list, where)
    m = config.model
    if shape != [m.channels, m.height, m.width]:
        raise BundleError(f"{where}: dataset shape {shape} does not match the model's {[m.channels, m.height, m.width]}")
    dataset = DatasetInfo(require(facts, "name", str, where), string_list(facts, "class_names", where),
                          (m.channels, m.height, m.width), string_list(facts, "notes", where))
    require(meta, "map_method", str, where, choices=MAP_METHODS)
    if require(meta, "images", dict, where, optional=True) is not None:
        if fmt != FORMAT:
            raise BundleError(f"{where}: only format {FORMAT!r} bundles may name their images instead of carrying them")
        meta["images"] = ImageSource.from_dict(meta["images"], f"{where}: images")
    files = require(meta, "files", dict, where)
    for name in (MODEL_FILE, DATA_FILE, METRICS_FILE):  # the index is checked (or rebuilt) by `_index`
        file = regular_file(path / name, "bundle file")  # before reading: no FIFO or device ever hangs us
        if require(files, name, str, where) != sha256_file(file):
            raise BundleError(f"{file} ({file.stat().st_size:,} bytes) is incomplete or corrupt: its SHA-256 does "
                              f"not match config.json; restore the bundle or rebuild it")
    return meta, config, dataset


def _index(path: Path, meta: dict, codes: np.ndarray, rebuild: bool, seed: int) -> tuple[CodeIndex | None, list[str]]:
    """The bundle's Annoy index if its files pass every check (hashes, sidecar, each node); else, or with
    `rebuild`, a new one built in memory from the verified training codes (with the bundle's seed: the same
    index `build.create` made); None when the bundle ships none (built on first use). Also notes for the user."""
    if not rebuild and INDEX_FILE not in meta["files"] and SIDECAR_FILE not in meta["files"]:
        return None, []
    if not rebuild:
        try:
            for name in (INDEX_FILE, SIDECAR_FILE):
                file = regular_file(path / name, "index file")
                if meta["files"].get(name) != sha256_file(file):
                    raise BundleError(f"{file} does not match config.json")
            return CodeIndex.load(path, codes), []
        except BundleError as err:
            note = f"the index could not be used ({err}); a new one was built in memory from the stored codes"
            return CodeIndex.build(codes, seed=seed), [note]
    return CodeIndex.build(codes, seed=seed), []


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


def _expected_arrays(header: dict, config: RunConfig, path: Path, lean: bool) -> dict[str, tuple[str, tuple[int, ...]]]:
    m = config.model
    n = header.get("train_codes", ("", (0,)))[1][0]
    mm = header.get("test_codes", ("", (0,)))[1][0]
    # the snapshots' codes may be left out (nothing reads them once their replay maps are made); the maps stay
    s, q = header.get("snapshot_codes", header.get("snapshot_maps", ("", (0, 0))))[1][:2]
    if not (2 <= n <= MAX_ITEMS and 1 <= mm <= MAX_ITEMS and s <= 10_000 and q <= n):
        raise BundleError(f"{path}: implausible sizes ({n} training, {mm} held-out codes, {s} snapshots of {q}); "
                          f"a bundle needs at least 2 training and 1 held-out image")
    shapes = {"train_images": (n, m.channels, m.height, m.width), "train_labels": (n,), "train_source_index": (n,),
              "train_codes": (n, m.code_dim), "train_map": (n, 2), "train_code_cost": (n,),
              "train_neighbour_agreement": (n,), "train_recon_cost": (n,), "test_images": (mm, m.channels, m.height,
              m.width), "test_labels": (mm,), "test_codes": (mm, m.code_dim), "test_map": (mm, 2),
              "snapshot_epochs": (s,), "snapshot_codes": (s, q, m.code_dim), "snapshot_maps": (s, q, 2),
              "test_source_index": (mm,)}
    dtypes = {**REQUIRED_ARRAYS, **NEW_ARRAYS}
    names = [name for name in REQUIRED_ARRAYS if not (lean and name in IMAGE_ARRAYS)]
    names += [name for name in NEW_ARRAYS if name in header or (lean and name == "test_source_index")]
    return {name: (dtypes[name], shapes[name]) for name in names}


def _check_values(tensors: dict[str, torch.Tensor], path: Path, classes: int | None = None) -> None:
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise BundleError(f"{path}: tensor {name!r} contains NaN or infinite values; the model is broken; "
                              f"retrain it or restore a good copy")
    for name in ("train_labels", "test_labels"):
        if classes is not None and name in tensors and ((tensors[name] < 0) | (tensors[name] >= classes)).any():
            raise BundleError(f"{path}: {name} holds labels outside 0..{classes - 1} (the class names)")


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
    path = Path(path)
    with contextlib.suppress(OSError):
        restore_interrupted(path)  # a save that crashed between its two renames
    if not path.is_dir() or path.is_symlink():
        raise BundleError(f"{path} is not a model bundle folder")
    meta, config, dataset = _read_meta(path)
    old_pixelcnn = meta["format"] in OLD_FORMATS and config.model.decoder == "pixelcnn"
    try:
        check_tensors(path / MODEL_FILE, safetensors_header(path / MODEL_FILE), _expected_weights(config),
                      "the architecture in config.json")
    except BundleError as err:
        hint = " (PixelCNN bundles of format 1 used a single-stack decoder: retrain them)" if old_pixelcnn else ""
        raise BundleError(f"{err}{hint}") from None
    source: ImageSource | None = meta.get("images")
    data_header = safetensors_header(path / DATA_FILE)
    check_tensors(path / DATA_FILE, data_header, _expected_arrays(data_header, config, path, source is not None),
                  "the data of this model")
    evaluation, history, seconds = _read_metrics(path)
    weights = read_tensors(path / MODEL_FILE)
    _check_values(weights, path / MODEL_FILE)
    model = ACN(config.model)
    model.load_state_dict(weights)
    model.eval()
    arrays = read_tensors(path / DATA_FILE)
    _check_values(arrays, path / DATA_FILE, len(dataset.class_names))
    if source is not None:
        arrays["train_images"], arrays["test_images"] = read_images(
            source, arrays["train_source_index"], arrays["test_source_index"], dataset.shape, str(path))
    index, notes = _index(path, meta, arrays["train_codes"].numpy(), rebuild_index, config.train.seed)
    bundle = Bundle(path, config, model, dataset, arrays, index, evaluation, history, seconds, meta["map_method"],
                    str(meta.get("created", "")), sha256_file(path / CONFIG_FILE))
    bundle.notes, bundle.image_source = notes, source
    return bundle
