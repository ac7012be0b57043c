"""Safe file handling: checksums, atomic writes, and the one place that reads tensor files.

Nothing here unpickles: tensors travel as safetensors, everything else as JSON. Importing this module does not
import PyTorch (the app draws its first map before PyTorch is loaded): `read_arrays` reads numpy arrays without
it, and the functions that make or read torch tensors import it when called.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np
from safetensors import SafetensorError

if TYPE_CHECKING:
    import torch


class BundleError(ValueError):
    """A model bundle or checkpoint that cannot be used; the message names the file and the fix."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def regular_file(path: Path, what: str = "file") -> Path:
    """`path` if it is a regular file (not a link, folder, FIFO or device); else a BundleError."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise BundleError(f"{what} {path} is missing") from None
    if not stat.S_ISREG(info.st_mode):
        raise BundleError(f"{what} {path} is not a regular file (links, folders and devices are refused)")
    return path


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, flush it to disk, then rename over `path`."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path, obj) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def tensors_to_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    from safetensors.torch import save

    return save({k: v.detach().contiguous().cpu() for k, v in tensors.items()})


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file as torch tensors, naming the file when it is incomplete or corrupt."""
    from safetensors.torch import load

    return _read_safetensors(path, load)


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Read a safetensors file as numpy arrays (no PyTorch), naming the file when it is incomplete or corrupt."""
    from safetensors.numpy import load

    return _read_safetensors(path, load)


def _read_safetensors(path: Path, parse) -> dict:
    regular_file(path, "tensor file")
    raw = path.read_bytes()
    try:
        return parse(raw)
    except (SafetensorError, ValueError, RuntimeError) as err:
        raise BundleError(f"{path} ({len(raw):,} bytes) is incomplete or corrupt and cannot be read as "
                          f"safetensors ({err}); restore it or rebuild the model") from err


def read_json(path: Path) -> dict:
    regular_file(path, "JSON file")
    try:
        obj = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BundleError(f"{path} ({path.stat().st_size:,} bytes) is incomplete or corrupt: not valid JSON "
                          f"({err})") from err
    if not isinstance(obj, dict):
        raise BundleError(f"{path} must hold a JSON object")
    return obj


def remove_files(folder: Path, names: tuple[str, ...]) -> None:
    """Delete the named files of `folder` (nothing else), then the folder itself if that left it empty."""
    folder = Path(folder)
    for name in names:
        (folder / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()  # only succeeds when empty: files the run did not write are never touched


def restore_interrupted(target: Path) -> bool:
    """If a save was interrupted between its two renames (the old `target` moved aside, the new one not yet
    in place), put the old one back. True if it did."""
    target = Path(target)
    if target.exists() or target.is_symlink() or not target.parent.is_dir():
        return False
    moved = sorted(target.parent.glob(f".{target.name}.*.old"), key=lambda p: p.stat().st_mtime)
    if not moved:
        return False
    os.replace(moved[-1], target)
    return True


@contextlib.contextmanager
def atomic_directory(target: Path, owned: tuple[str, ...] = ()) -> Iterator[Path]:
    """Yield an empty temporary folder beside `target`; on success it replaces `target` in one rename.

    A crash or an error (disk full, read-only folder) leaves any previous `target` untouched; a crash
    between the two renames leaves it as `.<name>.<id>.old`, which `restore_interrupted` puts back. Of the
    previous `target` only the `owned` files are deleted; anything else in it is kept, in
    `<name>.kept-<id>` beside the new one.
    """
    target = Path(target)
    parent = target.parent
    with contextlib.suppress(OSError):
        restore_interrupted(target)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; a bundle is meant to be shared
    except OSError as err:
        raise BundleError(f"cannot write into {parent}: {err.strerror}; choose a writable folder") from err
    try:
        yield tmp
        old = None
        if target.exists():
            old = parent / f".{target.name}.{uuid.uuid4().hex}.old"
            os.replace(target, old)
        try:
            os.replace(tmp, target)
        except OSError:
            if old is not None:
                os.replace(old, target)
            raise
        if old is not None:
            remove_files(old, owned)
            if old.exists():  # files the previous save did not write: the user's, kept in sight
                os.replace(old, parent / f"{target.name}.kept-{uuid.uuid4().hex[:8]}")
    except OSError as err:
        raise BundleError(f"saving {target} failed ({err.strerror or err}); the previous version, if any, is "
                          f"unchanged. Free some disk space or choose a writable folder") from err
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
