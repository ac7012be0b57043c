"""A bundle's files and what each must hold, checked without PyTorch: the formats, what config.json must say
(`read_meta`: fields, the dataset's facts and the SHA-256 of every file it signs), which arrays data.safetensors
holds with their dtypes and shapes (`expected_arrays`), their values (`check_values`), and the Annoy index
(`read_index`). `format.load` starts here; so does `glance.read`, which reads what the map needs without PyTorch.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import RunConfig
from .index import INDEX_FILE, SIDECAR_FILE, CodeIndex
from .schema import require, string_list
from ..storage import BundleError, read_json, regular_file, restore_interrupted, sha256_file

FORMAT = "acn-bundle/4"  # 4: data.safetensors may hold first views (VIEW_ARRAYS)
FORMAT_1, PRE_LEAN_FORMATS = "acn-bundle/1", ("acn-bundle/1", "acn-bundle/2")  # these carry their images
OLD_FORMATS = (*PRE_LEAN_FORMATS, "acn-bundle/3")
CONFIG_FILE, MODEL_FILE, DATA_FILE, METRICS_FILE = "config.json", "model.safetensors", "data.safetensors", "metrics.json"
HASHED_FILES = (MODEL_FILE, DATA_FILE, INDEX_FILE, SIDECAR_FILE, METRICS_FILE)
MAX_ITEMS = 10_000_000
MAX_VIEWS, MAX_VIEW_DECODES = 1_000, 64
MAP_METHODS = ("umap", "pca")
# arrays every bundle has (name -> dtype, shape with n = training and m = held-out images) and those added in format 2
REQUIRED_ARRAYS = {"train_images": "U8", "train_labels": "I64", "train_source_index": "I64", "train_codes": "F32",
                   "train_map": "F32", "train_code_cost": "F32", "train_neighbour_agreement": "F32",
                   "test_images": "U8", "test_labels": "I64", "test_codes": "F32"}
NEW_ARRAYS = {"train_recon_cost": "F32", "test_map": "F32", "snapshot_epochs": "I64", "snapshot_codes": "F16",
              "snapshot_maps": "F32", "test_source_index": "I64"}
# format 4, optional, all three or none: the first views of a slow (autoregressive) decoder (`views.py`)
VIEW_ARRAYS = {"view_items": "I64", "view_decodes": "U8", "view_code_decodes": "U8"}
IMAGE_ARRAYS = ("train_images", "test_images")  # absent from a lean bundle's data.safetensors


@dataclass
class DatasetInfo:
    name: str
    class_names: list[str]
    shape: tuple[int, int, int]
    notes: list[str]


def bundle_folder(path: Path | str) -> Path:
    """`path` as a bundle folder (a save that crashed between its two renames put back first); else BundleError."""
    path = Path(path)
    with contextlib.suppress(OSError):
        restore_interrupted(path)
    if not path.is_dir() or path.is_symlink():
        raise BundleError(f"{path} is not a model bundle folder")
    return path


def read_meta(path: Path) -> tuple[dict, RunConfig, DatasetInfo]:
    """config.json checked field by field, and the model, data and metrics files checked against the SHA-256 it
    records: (the JSON, the run config, the dataset's facts). A lean bundle's "images" record is only checked to
    be an object of a format that may have one (`lean.ImageSource` reads it)."""
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
    if require(meta, "images", dict, where, optional=True) is not None and fmt in PRE_LEAN_FORMATS:
        raise BundleError(f"{where}: only bundles of format 'acn-bundle/3' or later may name their images instead of "
                          f"carrying them")
    files = require(meta, "files", dict, where)
    for name in (MODEL_FILE, DATA_FILE, METRICS_FILE):  # the index is checked (or rebuilt) by `read_index`
        file = regular_file(path / name, "bundle file")  # before reading: no FIFO or device ever hangs us
        if require(files, name, str, where) != sha256_file(file):
            raise BundleError(f"{file} ({file.stat().st_size:,} bytes) is incomplete or corrupt: its SHA-256 does "
                              f"not match config.json; restore the bundle or rebuild it")
    return meta, config, dataset


def expected_arrays(header: dict, config: RunConfig, path: Path, lean: bool) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Name -> (dtype, shape) of every array data.safetensors must hold, from its header's sizes and the config."""
    m = config.model
    (n,), (mm,) = _sizes(header, "train_codes", 1), _sizes(header, "test_codes", 1)
    # the snapshots' codes may be left out (nothing reads them once their replay maps are made); the maps stay
    s, q = _sizes(header, "snapshot_codes" if "snapshot_codes" in header else "snapshot_maps", 2)
    (v, d), (_, r) = _sizes(header, "view_decodes", 2), _sizes(header, "view_code_decodes", 2)
    if not (2 <= n <= MAX_ITEMS and 1 <= mm <= MAX_ITEMS and s <= 10_000 and q <= n):
        raise BundleError(f"{path}: implausible sizes ({n} training, {mm} held-out codes, {s} snapshots of {q}); "
                          f"a bundle needs at least 2 training and 1 held-out image")
    if not (v <= min(n, MAX_VIEWS) and d <= MAX_VIEW_DECODES and r <= MAX_VIEW_DECODES):
        raise BundleError(f"{path}: implausible first views ({v} items, {d} and {r} decodes each)")
    image = (m.channels, m.height, m.width)
    shapes = {"train_images": (n, *image), "train_labels": (n,), "train_source_index": (n,),
              "train_codes": (n, m.code_dim), "train_map": (n, 2), "train_code_cost": (n,),
              "train_neighbour_agreement": (n,), "train_recon_cost": (n,), "test_images": (mm, *image),
              "test_labels": (mm,), "test_codes": (mm, m.code_dim), "test_map": (mm, 2),
              "snapshot_epochs": (s,), "snapshot_codes": (s, q, m.code_dim), "snapshot_maps": (s, q, 2),
              "test_source_index": (mm,), "view_items": (v,), "view_decodes": (v, d, *image),
              "view_code_decodes": (v, r, *image)}
    dtypes = {**REQUIRED_ARRAYS, **NEW_ARRAYS, **VIEW_ARRAYS}
    names = [name for name in REQUIRED_ARRAYS if not (lean and name in IMAGE_ARRAYS)]
    names += [name for name in NEW_ARRAYS if name in header or (lean and name == "test_source_index")]
    names += list(VIEW_ARRAYS) if any(name in header for name in VIEW_ARRAYS) else []
    return {name: (dtypes[name], shapes[name]) for name in names}


def _sizes(header: dict, name: str, count: int) -> tuple[int, ...]:
    """The first `count` sizes of an array's shape in the header; 0 for an absent array or a missing size (the
    shapes are then compared in full by `schema.check_tensors`)."""
    shape = tuple(header.get(name, ("", ()))[1][:count])
    return shape + (0,) * (count - len(shape))


def check_values(arrays: dict[str, np.ndarray], path: Path, classes: int | None = None) -> None:
    """Floats finite; labels below `classes`; first views of distinct training items."""
    for name, array in arrays.items():
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise BundleError(f"{path}: tensor {name!r} contains NaN or infinite values; the model is broken; "
                              f"retrain it or restore a good copy")
    for name in ("train_labels", "test_labels"):
        if classes is not None and name in arrays and ((arrays[name] < 0) | (arrays[name] >= classes)).any():
            raise BundleError(f"{path}: {name} holds labels outside 0..{classes - 1} (the class names)")
    items = arrays.get("view_items")
    if items is not None and (((items < 0) | (items >= len(arrays["train_codes"]))).any()
                              or len(np.unique(items)) != len(items)):
        raise BundleError(f"{path}: view_items must name distinct training items")


def read_index(path: Path, meta: dict, codes: np.ndarray, rebuild: bool, seed: int
               ) -> tuple[CodeIndex | None, list[str]]:
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
