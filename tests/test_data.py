"""Dataset loaders on files the tests write themselves; BAD_INPUTS.md rows 8-10 and 12."""
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from acn_core import data, images
from acn_core.config import DataConfig
from acn_core.data import DataError


def write_idx(path, array, dims):
    header = struct.pack(">HBB", 0, 0x08, dims) + struct.pack(">" + "I" * dims, *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def fake_mnist(root, folder="MNIST", n_train=30, n_test=10):
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), 3)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10, 1)
    return raw


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST"), ("kmnist", "KMNIST")])
def test_torchvision_layout_is_read_from_idx_files(tmp_path, name, folder):
    fake_mnist(tmp_path, folder)
    d = data.load_dataset(DataConfig(dataset=name, root=str(tmp_path)))
    assert d.train.images.shape == (30, 1, 28, 28) and d.train.images.dtype == torch.uint8
    assert d.test.labels.tolist() == list(range(10))


def test_missing_dataset_names_the_expected_files(tmp_path):  # row 8
    with pytest.raises(DataError, match=r"MNIST/raw must hold the four uncompressed files train-images-idx3-ubyte"
                                        r".*--download"):
        data.load_dataset(DataConfig(dataset="mnist", root=str(tmp_path)))
    raw = fake_mnist(tmp_path)
    (raw / "t10k-labels-idx1-ubyte").rename(raw / "t10k-labels.idx1-ubyte")
    with pytest.raises(DataError, match=r"missing: t10k-labels-idx1-ubyte"):
        data.load_dataset(DataConfig(dataset="mnist", root=str(tmp_path)))


def test_truncated_idx_file(tmp_path):  # row 9
    raw = fake_mnist(tmp_path)
    path = raw / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="train-images-idx3-ubyte is .* bytes but its header .* truncated"):
        data.load_dataset(DataConfig(dataset="mnist", root=str(tmp_path)))


def test_bad_magic_number(tmp_path):  # row 9
    raw = fake_mnist(tmp_path)
    path = raw / "train-labels-idx1-ubyte"
    path.write_bytes(b"\x1f\x8b\x08\x00" + path.read_bytes()[4:])  # looks like gzip
    with pytest.raises(DataError, match="bad magic number 1f8b0800.*decompress"):
        data.load_dataset(DataConfig(dataset="mnist", root=str(tmp_path)))


def test_image_and_label_counts_differ(tmp_path):  # row 9
    raw = fake_mnist(tmp_path)
    write_idx(raw / "t10k-labels-idx1-ubyte", np.arange(9) % 10, 1)
    with pytest.raises(DataError, match="has 10 images but .* has 9 labels"):
        data.load_dataset(DataConfig(dataset="mnist", root=str(tmp_path)))


def test_cifar10_binary_files_without_pickle(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        rows = rng.integers(0, 256, (4, 3073)).astype(np.uint8)
        rows[:, 0] %= 10
        (folder / name).write_bytes(rows.tobytes())
    d = data.load_dataset(DataConfig(dataset="cifar10", root=str(tmp_path)))
    assert d.train.images.shape == (20, 3, 32, 32) and len(d.test) == 4
    (folder / "test_batch.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(DataError, match="test_batch.bin is 100 bytes, not a multiple"):
        data.load_dataset(DataConfig(dataset="cifar10", root=str(tmp_path)))


def test_folder_converts_and_resizes_and_says_so(tmp_path):  # row 10
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for i in range(12):
            size = (28, 28) if i % 2 else (40, 30)
            mode = "L" if i % 3 else "RGB"
            Image.new(mode, size, color=i * 10 if mode == "L" else (i * 10, 0, 0)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "cats" / "notes.png").write_text("not an image")
    d = data.load_dataset(DataConfig(dataset="folder", root=str(tmp_path), holdout=4))
    assert d.class_names == ["cats", "dogs"] and d.shape == (1, 28, 28)
    assert len(d.train) + len(d.test) == 24 and set(d.train.labels.tolist()) == {0, 1}
    notes = " ".join(d.notes)
    assert "converted 8 images to greyscale" in notes and "resized 12 images to 28x28" in notes
    assert "skipped notes.png" in notes


def test_folder_refuses_huge_images(tmp_path, monkeypatch):  # row 10
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 10_000)
    for i in range(20):
        Image.new("L", (28, 28)).save(tmp_path / f"{i}.png")
    Image.new("L", (200, 200)).save(tmp_path / "huge.png")
    d = data.load_dataset(DataConfig(dataset="folder", root=str(tmp_path)))
    assert len(d.train) + len(d.test) == 20  # skipped before decoding, with a note naming it
    assert any("huge.png is 200x200 pixels, over the limit of 10,000" in note for note in d.notes)


def test_tiny_and_duplicate_datasets(tmp_path):  # row 12
    for i in range(5):
        Image.new("L", (28, 28)).save(tmp_path / f"{i}.png")
    with pytest.raises(DataError, match="only 5 images; at least 20"):
        data.load_dataset(DataConfig(dataset="folder", root=str(tmp_path)))
    with pytest.raises(DataError, match="does not exist"):
        data.load_dataset(DataConfig(dataset="folder", root=str(tmp_path / "nope")))


def test_mnist5k_is_shuffled_with_a_fixed_seed():
    a = data.load_dataset(DataConfig())
    b = data.load_dataset(DataConfig())
    assert len(a.train) == 4000 and len(a.test) == 1000 and a.shape == (1, 28, 28)
    assert torch.equal(a.train.source_index, b.train.source_index)
    assert a.test.labels[:50].unique().numel() > 5  # not sorted by label
    assert torch.bincount(a.test.labels).min() > 70


def test_binarisation_depends_on_the_image_and_epoch_not_on_the_batch():
    from acn_core import noise
    from acn_core.model import Bernoulli

    images = torch.full((64, 1, 8, 8), 64, dtype=torch.uint8)
    keys = noise.keys(0, 1, torch.arange(64))
    whole = Bernoulli.prepare(images, keys)
    assert torch.equal(Bernoulli.prepare(images[10:20], keys[10:20]), whole[10:20])  # any batching, same pixels
    assert not torch.equal(Bernoulli.prepare(images, noise.keys(0, 2, torch.arange(64))), whole)  # new each epoch
    assert whole.mean().item() == pytest.approx(64 / 255, abs=0.03)  # P(1) = intensity / 255
