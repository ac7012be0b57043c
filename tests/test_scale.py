"""Full-size data through the whole product: 60,000 training images (generated IDX files of MNIST's size,
read from a local root as torchvision's MNIST would be) -> a bundle whose map, index and app answers
work at that size."""
import subprocess
import sys

import numpy as np
import pytest

from acn_core import sampling
from acn_core.bundle.format import load
from bench.fixtures import make_images, write_idx

pytestmark = pytest.mark.slow


def test_a_60k_bundle_trains_maps_indexes_and_answers(tmp_path, monkeypatch):
    monkeypatch.setenv("ACN_UNVERIFIED_DATA", "1")  # generated files, not the published MNIST (checked by hash)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for part, n in (("train", 60_000), ("t10k", 10_000)):
        images, labels = make_images(n, classes=10, size=28, seed=n)
        write_idx(raw / f"{part}-images-idx3-ubyte", images[:, 0].numpy())
        write_idx(raw / f"{part}-labels-idx1-ubyte", labels.numpy())
    out = tmp_path / "m60k"
    proc = subprocess.run([sys.executable, "-m", "acn_core", "train", "--dataset", "mnist", "--root", str(tmp_path),
                           "--encoder", "mlp", "--hidden", "64", "--epochs", "1", "--batch-size", "256",
                           "--out", str(out)], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    bundle = load(out)
    assert bundle.n_train == 60_000 and bundle.map_xy.shape == (60_000, 2) and np.isfinite(bundle.map_xy).all()
    assert bundle.train_images.dtype.itemsize == 1  # images stored as uint8
    assert bundle.snapshot_maps.shape[1] == 5_000  # replay frames stay bounded
    ids, dists = bundle.neighbours(59_999, 8)
    assert len(set(ids.tolist())) == 8 and ids.max() < 60_000 and (np.diff(dists) >= -1e-5).all()
    view = sampling.inspect(bundle, 12_345, 8)
    assert len(view.neighbour_ids) == 8 and view.map_xy.shape == (2,)
    assert bundle.index.fallbacks == 0  # Annoy's answers passed their checks
