"""Zip import/export (rows 19, 22), background jobs (rows 15, 16), read-only installs (row 20)."""
import io
import os
import stat
import time
import zipfile

import pytest

from acn_core import jobs
from acn_core.bundle import format as bundle
from acn_core.bundle.archive import export_zip, import_zip
from acn_core.storage import BundleError
from conftest import tiny_config


def test_export_then_import_round_trip(tiny_bundle, tmp_path):
    zip_path = tmp_path / "shared.zip"
    zip_path.write_bytes(export_zip(tiny_bundle))
    first = import_zip(zip_path, tmp_path)
    second = import_zip(zip_path, tmp_path)
    assert first.name == "tiny" and second.name == "tiny-2"
    assert bundle.load(second).n_train == 48
    assert not [p for p in (tmp_path / "models").iterdir() if p.name.startswith(".")]


def _zip(tmp_path, entries, name="evil.zip"):
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as zf:
        for entry, data in entries:
            zf.writestr(entry, data)
    return path


@pytest.mark.parametrize("entry", ["../escape.txt", "/etc/evil", "a/../../escape", "C:/windows/evil"])
def test_entries_that_escape_are_refused(tmp_path, entry):  # row 22
    with pytest.raises(BundleError, match="points outside the bundle folder"):
        import_zip(_zip(tmp_path, [(entry, "x")]), tmp_path)
    assert not (tmp_path / "escape.txt").exists()


def test_symlink_entries_are_refused(tmp_path):  # row 22
    info = zipfile.ZipInfo("bundle/link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(BundleError, match="symbolic link"):
        import_zip(path, tmp_path)


def test_archives_that_expand_too_far_are_refused(tmp_path):  # row 22 (zip bomb)
    path = _zip(tmp_path, [("bundle/big.bin", b"\0" * 5_000_000)])
    with pytest.raises(BundleError, match="expands to 5,000,000 bytes, over the limit of 1,000,000"):
        import_zip(path, tmp_path, max_bytes=1_000_000)


def test_not_a_zip_and_not_a_bundle(tiny_bundle, tmp_path):  # row 19
    junk = tmp_path / "model.zip"
    junk.write_bytes(b"GIF89a not a zip")
    with pytest.raises(BundleError, match="model.zip is not a zip file"):
        import_zip(junk, tmp_path)
    with pytest.raises(BundleError, match="exactly one bundle"):
        import_zip(_zip(tmp_path, [("readme.txt", "hi")]), tmp_path)
    buffer = io.BytesIO(export_zip(tiny_bundle))  # a bundle whose weights were tampered with
    out = io.BytesIO()
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data[:100] if item.filename.endswith("model.safetensors") else data)
    tampered = tmp_path / "tampered.zip"
    tampered.write_bytes(out.getvalue())
    with pytest.raises(BundleError, match="incomplete or corrupt"):
        import_zip(tampered, tmp_path)
    assert not (tmp_path / "models" / "tampered").exists()


def test_streamlit_limits_upload_size():  # row 19
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    assert 0 < config["server"]["maxUploadSize"] <= 200


def tiny_job(seed: int = 0, epochs: int = 2):
    """A job config that trains in seconds: 200 of scikit-learn's 8x8 digits, a small MLP."""
    config = tiny_config(epochs=epochs, seed=seed, batch_size=64)
    config.data.max_train, config.data.holdout = 200, 60
    return config


def _wait(home, names, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline and any(jobs.read_status(home / "jobs" / n).active for n in names):
        time.sleep(0.3)
    return {n: jobs.read_status(home / "jobs" / n) for n in names}


def test_two_jobs_at_once_do_not_touch_each_other(tmp_path):  # row 15
    jobs.start(tmp_path, "a", tiny_job(seed=1))
    jobs.start(tmp_path, "b", tiny_job(seed=1))
    with pytest.raises(ValueError, match="taken by a model or a job"):
        jobs.start(tmp_path, "a", tiny_job())  # row 16: a reload re-submitting the form
    status = _wait(tmp_path, ["a", "b"])
    assert all(s.state == "done" for s in status.values()), [s.log_tail for s in status.values()]
    a, b = bundle.load(tmp_path / "models" / "a"), bundle.load(tmp_path / "models" / "b")
    assert a.evaluation.total_nats == b.evaluation.total_nats  # same seed, separate RNGs: identical
    assert len(status["a"].epochs) == 2
    with pytest.raises(ValueError, match="taken by a model or a job"):
        jobs.start(tmp_path, "a", tiny_job())


def test_cancel_then_resume(tmp_path):  # row 16/17
    jobs.start(tmp_path, "c", tiny_job(epochs=400))
    job = tmp_path / "jobs" / "c"
    deadline = time.time() + 120
    while time.time() < deadline and not (job / "run" / "checkpoint.json").exists():
        time.sleep(0.1)
    jobs.cancel(tmp_path, "c")
    status = _wait(tmp_path, ["c"])["c"]
    assert status.state == "cancelled", status.log_tail
    jobs.resume(tmp_path, "c")
    assert jobs.read_status(job).state == "running"
    jobs.cancel(tmp_path, "c")
    assert _wait(tmp_path, ["c"])["c"].state == "cancelled"
    jobs.delete(tmp_path, "c")
    assert not job.exists()


def test_bad_job_names_are_refused(tmp_path):
    for name in ("", "../x", "a/b", "x" * 41, ".hidden"):
        with pytest.raises(ValueError, match="not allowed"):
            jobs.start(tmp_path, name, tiny_job())


def test_numba_cache_goes_to_a_writable_folder(monkeypatch, tmp_path):  # row 20
    from acn_core import runtime

    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    runtime.writable_numba_cache()
    cache = os.environ["NUMBA_CACHE_DIR"]
    assert cache.startswith(str(tmp_path)) and os.access(cache, os.W_OK)
