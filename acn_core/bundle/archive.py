"""Sharing bundles as zip files: export, and a careful import of zips from anyone.

An uploaded zip is untrusted: only regular files are extracted, into a fresh temporary folder; entries
that escape it (`../`, absolute paths, links) and archives that expand past the limits are refused;
then the result is verified like any bundle before it joins the model list. Shared bundles carry their
images: a lean bundle is exported, and an uploaded one kept, in the self-contained form.
"""
from __future__ import annotations

import io
import os
import re
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from .build import self_contained
from .format import CONFIG_FILE, load, reindex
from ..names import name_lock, name_taken
from ..storage import BundleError, read_json, regular_file

MAX_UNPACKED_BYTES = 1 << 30
MAX_FILES = 64
MAX_NAME = 255


def export_zip(bundle_dir: Path) -> bytes:
    """The bundle's files in a zip, inside a folder named after the bundle. A lean bundle is exported in the
    self-contained form (its images read from the local dataset store, verified), so the zip stands alone."""
    bundle_dir = Path(bundle_dir)
    with tempfile.TemporaryDirectory(prefix=".export-") as tmp:
        source = bundle_dir
        if "images" in read_json(regular_file(bundle_dir / CONFIG_FILE, "bundle file")):
            source = self_contained(bundle_dir, Path(tmp) / bundle_dir.name)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(source.iterdir()):
                if path.is_file() and not path.is_symlink():
                    zf.write(path, f"{bundle_dir.name}/{path.name}")
        return buffer.getvalue()


def _safe_member(info: zipfile.ZipInfo) -> PurePosixPath | None:
    """The member's relative path if it is a plain file that stays inside the target; None for folders."""
    name = info.filename.replace("\\", "/")
    if len(name) > 4 * MAX_NAME or any(len(part) > MAX_NAME for part in name.split("/")):
        raise BundleError(f"the zip entry {name[:60]!r}... has an over-long name; refused")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise BundleError(f"the zip entry {info.filename!r} is a symbolic link; links are refused")
    if name.endswith("/"):
        return None
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", name):
        raise BundleError(f"the zip entry {info.filename!r} points outside the bundle folder; refused")
    return path


def import_zip(zip_path: Path, home: Path, name: str = "", max_bytes: int = MAX_UNPACKED_BYTES,
               max_models: int = 10_000) -> Path:
    """Verify and unpack an uploaded bundle zip into `home/models/<name>` (a free name: models, jobs and
    uploads share names); returns the new bundle folder. The upload's index is never read: a new one is
    built from its verified codes."""
    models_dir = Path(home) / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    held = sum(1 for p in models_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if held >= max_models:
        raise BundleError(f"this server already holds {held} models, its limit; ask the teacher to delete some")
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as err:
        raise BundleError(f"{Path(zip_path).name} is not a zip file ({err}); upload a zipped model bundle") from err
    with zf, tempfile.TemporaryDirectory(dir=models_dir, prefix=".upload-") as tmp:
        members = [(info, _safe_member(info)) for info in zf.infolist()]
        files = [(info, path) for info, path in members if path is not None]
        if len(files) > MAX_FILES:
            raise BundleError(f"the zip holds {len(files)} files; a bundle has fewer than {MAX_FILES}")
        seen = set()
        for _, path in files:
            if path.as_posix().lower() in seen:
                raise BundleError(f"the zip holds {path.as_posix()!r} twice; refused")
            seen.add(path.as_posix().lower())
        declared = sum(info.file_size for info, _ in files)
        if declared > max_bytes:
            raise BundleError(f"the zip expands to {declared:,} bytes, over the limit of {max_bytes:,}")
        written = 0
        for info, path in files:
            target = Path(tmp, *path.parts)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    while block := src.read(1 << 20):
                        written += len(block)
                        if written > max_bytes:  # sizes in the header can lie
                            raise BundleError(f"the zip expands past the limit of {max_bytes:,} bytes; refused")
                        dst.write(block)
            except (zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError) as err:
                raise BundleError(f"the zip entry {info.filename!r} is damaged or unsupported ({err}); refused") from None
            except OSError as err:
                raise BundleError(f"the zip entry {info.filename!r} cannot be written ({err.strerror or err})") from None
        roots = [p.parent for p in Path(tmp).rglob(CONFIG_FILE)]
        if len(roots) != 1:
            raise BundleError(f"the zip must hold exactly one bundle (one {CONFIG_FILE}); found {len(roots)}")
        root = roots[0]
        uploaded = load(root, rebuild_index=True)  # hashes, schema, shapes, finiteness: refuse anything broken
        if uploaded.image_source is not None:  # uploads stay self-contained: they must not depend on our store
            self_contained(root, root)
        reindex(root)
        load(root)
        base = re.sub(r"[^A-Za-z0-9_-]", "-", name or (root.name if root != Path(tmp) else Path(zip_path).stem))
        base = base.strip("-")[:36] or "uploaded"
        if not base[0].isalnum():
            base = "m" + base[:35]
        for n in range(1, 1000):
            candidate = base if n == 1 else f"{base}-{n}"
            with name_lock(home, candidate):
                if not name_taken(home, candidate):
                    os.replace(root, models_dir / candidate)
                    return models_dir / candidate
        raise BundleError(f"no free name like {base!r}; delete some models or upload under another name")
