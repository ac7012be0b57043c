"""Dataset registry, validated loaders and binarisation.

Every loader returns uint8 images of shape (N, C, H, W) with int64 labels. Nothing here unpickles: the
standard datasets come from the local store (`store.py`: IDX and CIFAR-10 *binary* files parsed by hand and
checked against their published hashes before use); a folder of images is read and converted here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..config import DATASETS, DataConfig
from .images import IMAGE_SUFFIXES, ImageError, read_image
from .published import DataError
from .store import (DATA_ROOT_ENV, IDX_FILES, IDX_SETS, KNOWN_DATASETS, cifar_parts, digits_arrays, idx_parts,  # noqa: F401
                    mnist5k_arrays, parse_idx, read_idx, source_images)

MIN_IMAGES = 20
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]


@dataclass
class Split:
    images: torch.Tensor  # (N, C, H, W) uint8
    labels: torch.Tensor  # (N,) int64
    source_index: torch.Tensor  # (N,) int64, row in the original source
    part: str = ""  # which part of the source the rows index: "all", "train" or "test"; "" if not known

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, rows: slice) -> "Split":
        return Split(self.images[rows], self.labels[rows], self.source_index[rows], self.part)


@dataclass
class ImageData:
    name: str
    train: Split
    test: Split
    class_names: list[str]
    notes: list[str] = field(default_factory=list)  # conversions made while loading, for the user

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train.images.shape[1:])


def load_dataset(config: DataConfig) -> ImageData:
    """Load the dataset named in `config`, split it and check it is usable for training."""
    config.validate()
    name = config.dataset
    if name == "mnist5k":
        data = _mnist5k(config)
    elif name == "digits":
        data = _digits(config)
    elif name in IDX_SETS:
        data = _idx_set(name, config)
    elif name == "cifar10":
        data = _cifar10(config)
    elif name == "folder":
        data = _folder(config)
    else:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if config.validation:  # model selection: hold out the last images of the training split instead
        if config.validation >= len(data.train) - 1:
            raise DataError(f"validation={config.validation} leaves no training images (the training split has "
                            f"{len(data.train)}); choose a smaller validation set")
        cut = len(data.train) - config.validation
        data.train, data.test = data.train[:cut], data.train[cut:]
    if config.max_train and config.max_train < len(data.train):
        data.train = data.train[:config.max_train]
    if len(data.train) + len(data.test) < MIN_IMAGES or len(data.train) < 2 or len(data.test) < 1:
        raise DataError(f"dataset {name!r} has {len(data.train)} training and {len(data.test)} held-out "
                        f"images; an ACN needs at least {MIN_IMAGES} images in all (some held out)")
    return data


def _shuffled_split(images: np.ndarray, labels: np.ndarray, config: DataConfig, name: str,
                    class_names: list[str], notes: list[str] | None = None) -> ImageData:
    n = len(images)
    if n < MIN_IMAGES:
        raise DataError(f"dataset {name!r} has only {n} images; at least {MIN_IMAGES} are needed")
    holdout = max(1, min(config.holdout, n // 5))  # never hold out more than a fifth
    images_t = torch.from_numpy(np.array(images, dtype=np.uint8))  # a copy: the cached source stays read-only
    labels_t = torch.from_numpy(np.array(labels, dtype=np.int64))
    if config.split == "public":  # the public ACN re-implementations' split: train first, held-out last
        order = torch.from_numpy(np.random.RandomState(config.split_seed).permutation(n))
        train, test = order[:n - holdout], order[n - holdout:]
    else:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(config.split_seed))
        test, train = order[:holdout], order[holdout:]
    return ImageData(name, Split(images_t[train], labels_t[train], train, "all"),
                     Split(images_t[test], labels_t[test], test, "all"), class_names, notes or [])


def _mnist5k(config: DataConfig) -> ImageData:
    images, labels = mnist5k_arrays()
    return _shuffled_split(images, labels, config, "mnist5k", [str(d) for d in range(10)])


def _digits(config: DataConfig) -> ImageData:
    images, labels = digits_arrays()
    return _shuffled_split(images, labels, config, "digits", [str(d) for d in range(10)])


def _idx_set(name: str, config: DataConfig) -> ImageData:
    parts = idx_parts(name, config)
    splits = [Split(torch.from_numpy(images.copy()), torch.from_numpy(labels.copy()), torch.arange(len(images)), part)
              for part, (images, labels, _) in parts.items()]
    notes = [note for _, _, note in parts.values() if note]
    classes = FASHION_CLASSES if name == "fashion-mnist" else [str(d) for d in range(10)]
    return ImageData(name, splits[0], splits[1], classes, notes)


def _cifar10(config: DataConfig) -> ImageData:
    parts = cifar_parts(config)
    splits = [Split(torch.from_numpy(x.copy()), torch.from_numpy(y.copy()), torch.arange(len(x)), part)
              for part, (x, y, _) in parts.items()]
    notes = [note for _, _, note in parts.values() if note]
    return ImageData("cifar10", splits[0], splits[1], CIFAR_CLASSES, notes)


def _folder(config: DataConfig) -> ImageData:
    """Images in ROOT (one label) or in ROOT/<class>/ subfolders (one label per subfolder)."""
    root = Path(config.root).expanduser()
    if not config.root or not root.is_dir():
        raise DataError(f"image folder {str(root)!r} does not exist or is not a folder: pass --root with a "
                        f"folder of images, or of one subfolder of images per class")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    sources = [(root / c, i) for i, c in enumerate(classes)] or [(root, 0)]
    images, labels, notes = [], [], []
    converted = resized = 0
    for folder, label in sources:
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file() or path.is_symlink():
                continue
            try:
                array, changes = read_image(path, config.channels, config.image_size)
            except ImageError as err:
                notes.append(f"skipped {path.name}: {err}")
                continue
            converted += "converted" in changes
            resized += "resized" in changes
            images.append(array)
            labels.append(label)
    if converted:
        notes.append(f"converted {converted} images to {'greyscale' if config.channels == 1 else 'RGB'}")
    if resized:
        notes.append(f"resized {resized} images to {config.image_size}x{config.image_size}")
    if not images:
        raise DataError(f"no readable images in {root} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return _shuffled_split(np.stack(images), np.array(labels), config, "folder", classes or [root.name], notes)
