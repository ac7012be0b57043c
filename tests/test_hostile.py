"""docs/bad-inputs.md rows 23-35: each reproduced, each answered by one clear sentence; nothing crashes, hangs,
deletes what we did not write, or races. (Rows 1-22 are in test_bundle, test_data, test_sharing_and_jobs.)"""
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import time
import zlib

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from acn_core import jobs
from acn_core.bundle import format as bundle
from acn_core.bundle.archive import export_zip, import_zip
from acn_core.config import DataConfig
from acn_core.data.datasets import load_dataset
from acn_core.bundle.index import INDEX_FILE, CodeIndex
from acn_core.bundle.schema import annoy_node_dtype, check_annoy_file
from acn_core.storage import BundleError, sha256_file
from conftest import make_data, tiny_config
from test_fuzz import resign


@pytest.fixture
def copy(tiny_bundle, tmp_path):
    """A copy of the tiny bundle that ships its index files (as bundles made before version 3 do)."""
    out = tmp_path / "copy"
    shutil.copytree(tiny_bundle, out)
    bundle.reindex(out)
    return out


def _edit_json(path, change):
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def _corrupt_split_pointers(path, dimension=4, count=48):
    nodes = np.fromfile(path, dtype=annoy_node_dtype(dimension))
    split = np.flatnonzero(nodes["n_descendants"] > dimension + 2)
    nodes["children"][split[-1]] = [10**6, -5]  # where Annoy would jump into unmapped memory
    nodes.tofile(path)
    return split[-1]


def test_a_resigned_index_with_corrupt_split_pointers_is_never_read(copy):  # row 23
    node = _corrupt_split_pointers(copy / INDEX_FILE)
    resign(copy)  # sidecar and hashes agree with the corrupt file
    with pytest.raises(BundleError, match="split node points forward or out of range"):
        check_annoy_file(copy / INDEX_FILE, 4, 48)
    loaded = bundle.load(copy)  # in this process: a segfault here would kill the test run
    assert "a new one was built in memory" in loaded.notes[0] and node > 48
    ids, dists = loaded.neighbours(5, 6)
    assert ids.max() < 48 and np.isfinite(dists).all()


def test_an_uploaded_bundle_gets_a_new_index_built_from_its_codes(copy, tmp_path):  # row 23
    _corrupt_split_pointers(copy / INDEX_FILE)
    resign(copy)
    zipped = tmp_path / "evil.zip"
    zipped.write_bytes(export_zip(copy))
    imported = import_zip(zipped, tmp_path / "home")
    check_annoy_file(imported / INDEX_FILE, 4, 48)  # the stored index is ours now
    assert sha256_file(imported / INDEX_FILE) != sha256_file(copy / INDEX_FILE)
    assert not bundle.load(imported).notes


def test_an_index_with_more_items_or_a_lying_size(copy):  # row 24
    CodeIndex.build(np.random.default_rng(0).normal(size=(80, 4)).astype(np.float32)).save(copy)
    _edit_json(copy / "index.json", lambda d: d.update(count=48))  # the sidecar lies about the count
    resign(copy)
    loaded = bundle.load(copy)
    assert loaded.notes and all(loaded.neighbours(i, 10)[0].max() < 48 for i in range(48))
    (copy / INDEX_FILE).write_bytes((copy / INDEX_FILE).read_bytes()[:-7])  # a size that is no whole node
    resign(copy)
    assert "is not an index of 48 codes" in bundle.load(copy).notes[0]


def test_annoy_answers_are_checked(tiny_bundle):  # row 24
    loaded = bundle.load(tiny_bundle)
    bad = type("Bad", (), {"get_nns_by_item": lambda self, *a, **k: ([1, 99, 2, 3], [0.1, 0.2, float("nan"), 1.0]),
                           "get_nns_by_vector": lambda self, *a, **k: ([7] * 3, [0.0] * 3)})()
    loaded.index.annoy_ = bad
    ids, dists = loaded.neighbours(0, 3)  # ids past the count and NaN distances: the exact answer instead
    assert ids.max() < 48 and np.isfinite(dists).all() and loaded.index.fallbacks == 1
    ids, _ = loaded.index.query_vector(loaded.train_codes[0].numpy(), 3)  # duplicates: exact answer too
    assert len(set(ids.tolist())) == 3 and loaded.index.fallbacks == 2


@pytest.mark.parametrize("file,change,message", [
    ("config.json", lambda d: d.update(files=[]), "'files' must be dict"),
    ("config.json", lambda d: d.pop("dataset"), "'dataset' is missing"),
    ("config.json", lambda d: d["dataset"].update(class_names="0123"), "'class_names' must be list"),
    ("metrics.json", lambda d: d.clear(), "'evaluation' is missing"),
    ("metrics.json", lambda d: d["evaluation"].update(total_nats="a lot"), "total_nats must be a finite number"),
    ("index.json", lambda d: d.update(n_trees="30"), "a new one was built"),
])
def test_metadata_of_the_wrong_type_or_shape(copy, file, change, message):  # row 25
    _edit_json(copy / file, change)
    resign(copy)
    try:
        notes = bundle.load(copy).notes
    except BundleError as err:
        assert message in str(err) and file in str(err)
    else:
        assert notes and message in notes[0]


@pytest.mark.parametrize("field,value", [("prior_layers", 300), ("hidden", 10**9), ("height", 10**6),
                                         ("code_dim", -1), ("hidden", 1e9)])
def test_huge_sizes_are_refused_before_anything_is_allocated(copy, field, value):  # row 26
    _edit_json(copy / "config.json", lambda d: d["config"]["model"].update({field: value}))
    resign(copy)
    with pytest.raises(BundleError, match=rf"model\.{field} must be"):
        bundle.load(copy)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_tensors_of_another_dtype(copy, dtype):  # row 27
    weights = {k: v.to(dtype) for k, v in load_file(copy / "model.safetensors").items()}
    save_file(weights, copy / "model.safetensors")
    resign(copy)
    with pytest.raises(BundleError, match=r"differences.*F(64|16) .* vs F32"):
        bundle.load(copy)


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "acn_core", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


TINY = ["--dataset", "digits", "--encoder", "mlp", "--max-train", "200", "--holdout", "60", "--hidden", "32",
        "--code-dim", "4", "--epochs", "1"]


def test_train_never_deletes_a_folder_it_did_not_write(tmp_path):  # row 28
    mine = tmp_path / "my-photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"precious")
    proc = _cli("train", *TINY, "--out", str(mine))
    assert proc.returncode == 1 and "exists and is not a model bundle" in proc.stderr
    assert (mine / "holiday.jpg").read_bytes() == b"precious"
    run_dir = tmp_path / "runs"
    run_dir.mkdir()
    (run_dir / "notes.txt").write_text("mine")
    out = tmp_path / "model"
    assert _cli("train", *TINY, "--out", str(out), "--run-dir", str(run_dir)).returncode == 0
    assert sorted(p.name for p in run_dir.iterdir()) == ["notes.txt"]  # only the checkpoint files went
    (out / "my-notes.txt").write_text("kept")  # a file of the user's inside a bundle that gets replaced
    assert _cli("train", *TINY, "--out", str(out), "--seed", "3").returncode == 0
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("model.kept-")]
    assert kept and (kept[0] / "my-notes.txt").read_text() == "kept"
    bundle.load(out)


def test_a_crash_between_the_two_renames_is_repaired(copy):  # row 28 / 18
    moved = copy.parent / f".{copy.name}.0123.old"
    os.replace(copy, moved)  # the old bundle moved aside, the new one never arrived
    assert bundle.load(copy).n_train == 48 and not moved.exists()


def test_names_are_reserved_across_jobs_uploads_and_models(tiny_bundle, tmp_path):  # row 29
    config = tiny_config(epochs=200)
    config.data.max_train, config.data.holdout = 200, 60
    jobs.start(tmp_path, "shared", config)
    zipped = tmp_path / "shared.zip"
    zipped.write_bytes(export_zip(tiny_bundle))
    assert import_zip(zipped, tmp_path, "shared").name == "shared-2"  # the running job keeps its name
    errors = []

    def resume():
        try:
            jobs.resume(tmp_path, "shared")
        except ValueError as err:
            errors.append(str(err))

    threads = [threading.Thread(target=resume) for _ in range(2)]  # two tabs pressing Resume
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(errors) == 2 and all("running" in e or "busy" in e for e in errors)
    jobs.cancel(tmp_path, "shared")
    deadline = time.time() + 120
    while jobs.read_status(tmp_path / "jobs" / "shared").active and time.time() < deadline:
        time.sleep(0.2)
    assert jobs.read_status(tmp_path / "jobs" / "shared").state == "cancelled"


def test_a_dead_process_is_never_running_and_a_damaged_job_is_shown(tmp_path):  # row 29
    job = tmp_path / "jobs" / "ghost"
    job.mkdir(parents=True)
    (job / "job.json").write_text(json.dumps({"name": "ghost", "config": tiny_config().to_dict(), "started": 1.0,
                                              "pid": os.getpid()}))  # a pid that is alive, but holds no lock
    assert jobs.read_status(job).state == "stopped"
    (job / "job.json").write_text("{not json")
    status = jobs.read_status(job)
    assert status.state == "damaged" and "delete it" in status.message
    jobs.delete(tmp_path, "ghost")
    assert not job.exists()


def test_a_full_disk_while_checkpointing_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):  # row 30
    from acn_core.training import checkpoint
    from acn_core.training.loop import train

    real, calls = checkpoint.write_bytes_atomic, {"n": 0}

    def full_on_second(path, data):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(checkpoint, "write_bytes_atomic", full_on_second)
    with pytest.raises(OSError, match="No space left"):
        train(tiny_config(epochs=3), make_data(), tmp_path)
    assert json.loads((tmp_path / "checkpoint.json").read_text())["epochs_done"] == 1
    monkeypatch.setattr(checkpoint, "write_bytes_atomic", real)
    assert train(tiny_config(epochs=3), make_data(), tmp_path).resumed_from_epoch == 1


@pytest.mark.parametrize("args,message", [
    (["train", "--dataset", "mnist", "--download", "--out", "{tmp}/m", "--root", "{tmp}"], "downloading 'mnist' failed"),
    (["daydream", "{bundle}", "--out", "{tmp}/missing/dream.png"], "missing/dream.png: No such file or directory"),
    (["train", "--pixelcnn-layers", "0", "--out", "{tmp}/m"], "--pixelcnn-layers must be between 1 and 64"),
    (["train", "--hidden", "10000000000", "--out", "{tmp}/m"], "--hidden must be between 8 and 8192"),
    (["train", "--hidden", "1e10", "--out", "{tmp}/m"], "invalid int value"),
    (["neighbours", "{bundle}", "--item", "4800"], "sample 4800 does not exist"),
    (["train", "--threads", "abc", "--out", "{tmp}/m"], "threads must be 'auto' or a whole number"),
])
def test_every_fault_is_one_line_with_a_small_exit_code(tiny_bundle, tmp_path, args, message):  # row 31
    proc = _cli(*[a.format(tmp=tmp_path, bundle=tiny_bundle) for a in args],
                env={"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"})  # surely offline
    assert 0 < proc.returncode < 128 and "Traceback" not in proc.stderr
    assert message in proc.stderr, proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.startswith("error")]) <= 1


@pytest.mark.parametrize("value", ["abc", "0", "-3"])
def test_a_malformed_thread_setting_warns_and_falls_back(monkeypatch, tmp_path, value):  # row 32
    from streamlit.testing.v1 import AppTest

    from test_app import HOME_SCRIPT

    monkeypatch.setenv("ACN_APP_THREADS", value)
    monkeypatch.setenv("ACN_EXPLORER_HOME", str(tmp_path))
    at = AppTest.from_file(HOME_SCRIPT, default_timeout=120).run()
    assert not at.exception and any(f"ACN_APP_THREADS={value!r} is not valid" in w.value for w in at.warning)
    assert "Held-out total" in [m.label for m in at.metric]  # and the page works on its one thread


def _raw_zip(entries):
    """A zip written by hand, so names may repeat and CRCs may lie."""
    out, central, offset = bytearray(), bytearray(), 0
    for name, data, crc in entries:
        name_b = name.encode()
        header = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, crc, len(data), len(data), len(name_b), 0)
        out += header + name_b + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, crc, len(data), len(data),
                               len(name_b), 0, 0, 0, 0, 0o644 << 16, offset) + name_b
        offset = len(out)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), len(out), 0)
    return bytes(out + central + end)


@pytest.mark.parametrize("entries,message", [
    ([("b/config.json", b"{}", 12345)], "b/config.json' is damaged"),
    ([("b/config.json", b"{}", zlib.crc32(b"{}")), ("b/config.json", b"{}", zlib.crc32(b"{}"))], "twice"),
    ([("b/" + "x" * 300, b"", 0)], "over-long name"),
])
def test_zips_with_bad_crc_duplicates_or_long_names(tmp_path, entries, message):  # row 33
    path = tmp_path / "bad.zip"
    path.write_bytes(_raw_zip(entries))
    with pytest.raises(BundleError, match=message):
        import_zip(path, tmp_path / "home")


def test_a_text_chunk_bomb_in_an_image_folder_is_skipped_by_name(tmp_path):  # row 34
    for i in range(24):
        Image.new("L", (28, 28), color=i * 5).save(tmp_path / f"{i}.png")
    bomb = tmp_path / "bomb.png"
    Image.new("L", (28, 28)).save(bomb)
    raw = bomb.read_bytes()
    text = zlib.compress(b"\0" * (64 << 20), 9)  # 64 MB once inflated, a few kB on disk
    chunk = b"zTXt" + b"Comment\0\0" + text
    chunk = struct.pack(">I", len(chunk) - 4) + chunk + struct.pack(">I", zlib.crc32(chunk) & 0xFFFFFFFF)
    bomb.write_bytes(raw[:33] + chunk + raw[33:])  # after the IHDR chunk
    data = load_dataset(DataConfig(dataset="folder", root=str(tmp_path), holdout=4))
    assert len(data.train) + len(data.test) == 24
    assert any(note.startswith("skipped bomb.png") for note in data.notes), data.notes


def test_a_fifo_or_a_device_link_as_a_bundle_file_never_hangs(copy, tmp_path):  # row 35
    (copy / "metrics.json").unlink()
    os.mkfifo(copy / "metrics.json")
    with pytest.raises(BundleError, match="metrics.json is not a regular file"):
        bundle.load(copy)  # a read would block forever
    (copy / "metrics.json").unlink()
    (copy / "metrics.json").symlink_to("/dev/zero")
    with pytest.raises(BundleError, match="not a regular file"):
        bundle.load(copy)
    (copy / "config.json").unlink()
    os.mkfifo(copy / "config.json")
    with pytest.raises(BundleError, match="config.json is not a regular file"):
        bundle.load(copy)
