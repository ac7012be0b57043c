"""Process-wide settings, made by entry points only (the CLI, a job process, the app, the tests):
torch threads, the device, and a writable numba cache for UMAP. Library functions never change them. PyTorch is
imported by the functions that need it, not by importing this module."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

DEVICES = ("auto", "cpu", "cuda", "mps")


def auto_threads(cores: int | None = None) -> int:
    """Threads for one training process: 1 on machines with up to 2 cores (docs/environment.md: 2 threads on a
    busy 2-core box ran 20-80x slower), then all but one core, at most 16."""
    cores = cores or len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (cores or os.cpu_count() or 1)
    return 1 if cores <= 2 else min(16, cores - 1)


def parse_threads(value: str | int) -> int:
    """`auto` or a whole number from 1 to 512; ValueError naming the setting otherwise."""
    if str(value).strip().lower() == "auto":
        return auto_threads()
    try:
        threads = int(str(value).strip())
    except ValueError:
        raise ValueError(f"threads must be 'auto' or a whole number, got {value!r}") from None
    if not 1 <= threads <= 512:
        raise ValueError(f"threads must be between 1 and 512, got {threads}")
    return threads


def resolve_device(name: str) -> str:
    """`auto` -> cuda if present, else cpu; a named device must be available."""
    import torch

    if name not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}; got {name!r}")
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda was asked for but no CUDA GPU is available; use --device cpu or auto")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device mps was asked for but Apple's Metal backend is not available; use --device cpu")
    return name


def resolve_precision(precision: str, device: str = "cpu") -> str:
    """`auto` -> "bf16" where the device computes bfloat16 natively, else "fp32"; others unchanged."""
    import torch

    if precision != "auto":
        return precision
    if device.startswith("cuda"):
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    native = [getattr(torch.cpu, name, lambda: False)() for name in ("_is_avx512_bf16_supported",
                                                                      "_is_amx_tile_supported")]
    return "bf16" if device == "cpu" and any(native) else "fp32"


def writable_numba_cache() -> None:
    """numba caches compiled UMAP code next to the package, which fails on read-only installs
    (BAD_INPUTS row 20): point it at a writable folder unless the user chose one."""
    if "NUMBA_CACHE_DIR" in os.environ:
        return
    for cache in (Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "acn-explorer" / "numba",
                  Path("/tmp") / f"acn-explorer-numba-{os.getuid()}"):
        try:
            cache.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(cache, os.W_OK):
            os.environ["NUMBA_CACHE_DIR"] = str(cache)
            return


def configure(threads: int) -> None:
    """What every entry point calls once: torch threads and the numba cache."""
    import torch

    torch.set_num_threads(threads)
    writable_numba_cache()
    warnings.filterwarnings("ignore", message=".*knn_search_index.*")  # UMAP: we never call transform()
