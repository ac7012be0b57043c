"""Model names, shared by trained models, training jobs and uploads: the rule, one lock per name, and whether a
name is taken (`jobs.py` and `bundle/archive.py` both use them)."""
from __future__ import annotations

import contextlib
import fcntl
import re
import time
from pathlib import Path
from typing import Iterator

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")


class NameUnavailable(ValueError):
    """A name that is not allowed, or busy with another action; the message says why and what to do."""


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name or ""):
        raise NameUnavailable(f"model name {name!r} is not allowed: use 1-40 letters, digits, '-' or '_', "
                       f"starting with a letter or digit")
    return name


@contextlib.contextmanager
def name_lock(home: Path, name: str, timeout: float = 10.0) -> Iterator[None]:
    """Hold the lock of one name (models, jobs and uploads share names) for one action."""
    folder = Path(home) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{check_name(name)}.lock", "a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise NameUnavailable(f"{name!r} is busy (another action on it is under way); try again") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def name_taken(home: Path, name: str) -> bool:
    """A name is taken by a model or by a job (running or not); call under `name_lock`."""
    return (Path(home) / "models" / name).exists() or (Path(home) / "jobs" / name).exists()
