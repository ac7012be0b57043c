"""Where a served class's memory goes (issue 24): the load tool's side of app/memory_probe.py. A server started with
ACN_MEMORY_PROBE=DIR answers a request file with a summary (resident memory, objects by type, Streamlit's sessions,
caches and media files, traced Python memory) and, once asked to trace, a tracemalloc snapshot; `MemoryProbe` asks
for them at the points the load test names (idle, where tracing starts; the class at its peak; a minute after it
left; after a full collection and malloc_trim; past Streamlit's reconnect window) and prints what grew between two,
each allocation charged to the first frame of the project's own code in its traceback (else Streamlit's, else the
library that made it). Tracing slows every run many times over (a click alone: 1.8 s instead of 0.08 s): a
probed run says where memory goes, never how fast the class is."""
from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OURS = tuple(str(REPO / part) for part in ("app", "pages", "acn_core", "bench"))


class MemoryProbe:
    """Snapshots of a probed server, by name, in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def take(self, name: str, *actions: str, timeout: float = 900.0) -> dict:
        """Ask for a summary and a snapshot called `name` (after `actions`: "collect", "trim"); wait for them."""
        answer = self.folder / f"{name}.json"
        answer.unlink(missing_ok=True)
        request = self.folder / f"{name}.request"
        (self.folder / f"{name}.tmp").write_text(" ".join(actions))
        (self.folder / f"{name}.tmp").rename(request)  # whole, or not there at all
        deadline = time.time() + timeout
        while request.exists() or not answer.exists():
            if time.time() > deadline:
                raise TimeoutError(f"the server did not answer {request} within {timeout:.0f} s; was it started with "
                                   f"ACN_MEMORY_PROBE={self.folder}?")
            time.sleep(0.5)
        return json.loads(answer.read_text())

    def summary(self, name: str) -> dict:
        return json.loads((self.folder / f"{name}.json").read_text())

    def growth(self, before: str, after: str, top: int = 12) -> list[tuple[str, float, int]]:
        """What grew from snapshot `before` to `after`: (where, MB, blocks), largest first, each allocation charged
        to `owner` of its traceback."""
        old = tracemalloc.Snapshot.load(str(self.folder / f"{before}.snapshot"))
        new = tracemalloc.Snapshot.load(str(self.folder / f"{after}.snapshot"))
        grown: dict[str, list[float]] = {}
        for diff in new.compare_to(old, "traceback"):
            entry = grown.setdefault(owner(diff.traceback), [0.0, 0])
            entry[0] += diff.size_diff / 2**20
            entry[1] += diff.count_diff
        return sorted(((where, mb, blocks) for where, (mb, blocks) in grown.items()), key=lambda r: -abs(r[1]))[:top]

    def report(self, before: str, after: str, top: int = 12) -> str:
        """`after` against `before`, as lines to print: memory, sessions, caches, media files, what grew."""
        a, b = self.summary(before), self.summary(after)
        lines = [f"\nmemory, {before} -> {after}:"]
        for key in ("VmRSS", "RssAnon", "RssFile"):
            lines.append(f"  {key:<32} {a['proc MB'][key]:8.1f} -> {b['proc MB'][key]:8.1f} MB "
                         f"({b['proc MB'][key] - a['proc MB'][key]:+.1f})")
        for key in ("traced MB", "tracemalloc's own MB"):
            lines.append(f"  {key[:-3]:<32} {a.get(key, 0):8.1f} -> {b.get(key, 0):8.1f} MB "
                         f"({b.get(key, 0) - a.get(key, 0):+.1f})")
        for key in ("python objects", "threads", "sessions connected", "sessions kept for a reconnect",
                    "sessions holding media files", "media files"):
            lines.append(f"  {key:<32} {a.get(key, 0):8} -> {b.get(key, 0):8}")
        lines.append(f"  {'media bytes':<32} {a.get('media bytes', 0) / 2**20:8.1f} -> "
                     f"{b.get('media bytes', 0) / 2**20:8.1f} MB")
        caches_a, caches_b = a.get("cache bytes", {}), b.get("cache bytes", {})
        for name in sorted(set(caches_a) | set(caches_b), key=lambda n: -caches_b.get(n, 0)):
            if caches_a.get(name, 0) != caches_b.get(name, 0):
                lines.append(f"  cache {name[-56:]:<56} {caches_a.get(name, 0) / 2**20:6.2f} -> "
                             f"{caches_b.get(name, 0) / 2**20:6.2f} MB")
        types_a = dict(a["objects by type"])
        lines.append("  objects by type (most now): " + ", ".join(
            f"{kind} {types_a.get(kind, 0)}->{count}" for kind, count in b["objects by type"][:10]))
        if not (self.folder / f"{before}.snapshot").exists():
            return "\n".join(lines)
        lines.append("  what grew (traced), by the code that allocated it:")
        for where, mb, blocks in self.growth(before, after, top):
            lines.append(f"    {mb:+8.2f} MB {blocks:+8} blocks  {where}")
        return "\n".join(lines)


def owner(traceback: tracemalloc.Traceback) -> str:
    """The frame an allocation is charged to: the most recent one in the project's code, else in Streamlit, else
    the most recent of all; as `path:line`, shortened to the part after site-packages or the repository."""
    frames = list(reversed(traceback))  # most recent first
    chosen = next((f for f in frames if f.filename.startswith(OURS)), None) \
        or next((f for f in frames if "/streamlit/" in f.filename), None) or frames[0]
    name = chosen.filename
    for cut in (str(REPO) + "/", "site-packages/"):
        if cut in name:
            name = name.split(cut, 1)[1]
    return f"{name}:{chosen.lineno}"


RECONNECT_WINDOW_S = 120  # Streamlit keeps a closed tab's session for a reconnect (server.disconnectedSessionTTL)


def diagnose_memory(probe: MemoryProbe, url: str, waited: float) -> None:
    """After the class left (`waited` seconds ago): snapshots then, after a full collection and malloc_trim, and
    past Streamlit's reconnect window (an expired session is dropped only when the next one is stored: one tab
    opened and closed makes that happen); each printed against idle, after the class at its peak."""
    import asyncio

    from .stream_client import StreamSession

    async def open_and_close() -> None:
        session = StreamSession(url)
        await session.open("")
        await session.close()

    probe.take("after")
    probe.take("after, collected and trimmed", "collect", "trim")
    time.sleep(max(0.0, RECONNECT_WINDOW_S + 10 - waited))
    asyncio.run(open_and_close())
    time.sleep(2)
    probe.take("past the reconnect window, collected and trimmed", "collect", "trim")
    for name in ("class", "after", "after, collected and trimmed", "past the reconnect window, collected and trimmed"):
        print(probe.report("idle", name))
