"""An opt-in memory diagnostic for a served class (issue 24), off unless ACN_MEMORY_PROBE names a folder. The server
then answers requests written as files into that folder, so no endpoint is added: `NAME.request`, whose text may
name actions run first ("trace": start tracing Python's allocations with tracemalloc, which slows every run after
it, so a traced run diagnoses, never measures; "collect": a full garbage collection; "trim": glibc's malloc_trim),
is answered with NAME.json (resident memory, Python objects by type, Streamlit's sessions, connected and kept for a
reconnect, its caches' bytes as its own stats count them, its media files; what tracemalloc traces) and, while
tracing, NAME.snapshot (tracemalloc's dump). The load tool asks and compares: `python -m bench classroom N
--memory-probe DIR` (bench/class_memory.py)."""
from __future__ import annotations

import collections
import ctypes
import gc
import json
import os
import threading
import time
import tracemalloc
from pathlib import Path

FRAMES = 12  # of each allocation's traceback: enough to reach the app's line under Streamlit's cache, pickle, numpy
POLL_S = 0.5


def start_if_asked() -> bool:
    """Start answering requests once per process, if ACN_MEMORY_PROBE is set; whether it runs."""
    folder = os.environ.get("ACN_MEMORY_PROBE", "")
    if not folder:
        return False
    if not any(t.name == "acn-memory-probe" for t in threading.enumerate()):
        Path(folder).mkdir(parents=True, exist_ok=True)
        threading.Thread(target=_answer, args=(Path(folder),), name="acn-memory-probe", daemon=True).start()
    return True


def _answer(folder: Path) -> None:
    while True:
        for request in sorted(folder.glob("*.request")):
            actions = request.read_text().split()
            name = request.with_suffix("")
            if "trace" in actions and not tracemalloc.is_tracing():
                tracemalloc.start(FRAMES)
            if "collect" in actions:
                gc.collect()
            if "trim" in actions:
                ctypes.CDLL("libc.so.6").malloc_trim(0)
            if tracemalloc.is_tracing():
                tracemalloc.take_snapshot().dump(str(name) + ".snapshot")
            Path(str(name) + ".json").write_text(json.dumps(summary(), indent=1))
            request.unlink()
        time.sleep(POLL_S)


def _proc_status() -> dict[str, float]:
    """VmRSS, RssAnon and RssFile of this process in MB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def _streamlit() -> dict:
    """Sessions (connected, and kept for a reconnect: Streamlit's storage drops an expired one only on its next
    write, and never shuts it down), every cache's bytes as Streamlit's own stats count them (st.cache_data: the
    pickled values; st.cache_resource: not sized), and the media files (pictures st.image sent) held in memory."""
    from streamlit import runtime

    if not runtime.exists():
        return {}
    rt = runtime.get_instance()
    sessions = rt._session_mgr  # private: a diagnostic may read what no API exposes
    storage = getattr(getattr(sessions, "_session_storage", None), "_cache", None)
    caches: dict[str, int] = {}
    for stats in rt.stats_mgr.get_stats(["cache_memory_bytes"]).values():
        for stat in stats:
            name = f"{stat.category_name}:{stat.cache_name}"
            caches[name] = caches.get(name, 0) + stat.byte_length
    media = rt.media_file_mgr
    files = getattr(getattr(media, "_storage", None), "_files_by_id", {})
    return {"sessions connected": len(sessions.list_active_sessions()),
            "sessions kept for a reconnect": len(getattr(storage, "_data", ())),
            "cache bytes": caches,
            "media files": len(files), "media bytes": sum(len(f.content) for f in list(files.values())),
            "sessions holding media files": len(getattr(media, "_files_by_session_and_coord", ()))}


def summary() -> dict:
    traced, peak = tracemalloc.get_traced_memory()
    objects = gc.get_objects()
    by_type = collections.Counter(type(o).__name__ for o in objects).most_common(25)
    return {"proc MB": _proc_status(), "traced MB": traced / 2**20, "traced peak MB": peak / 2**20,
            "tracemalloc's own MB": tracemalloc.get_tracemalloc_memory() / 2**20,
            "python objects": len(objects), "objects by type": by_type, "gc counts": gc.get_count(),
            "threads": threading.active_count(), **_streamlit()}
