"""A class of N virtual students on one real `streamlit run app/Home.py` (`python -m bench classroom N`).

The tool starts the server itself on a free loopback port (127.0.0.1 only), drives N sessions through
Streamlit's websocket protocol (`stream_client.py`): each opens the Latent map, clicks points, selects
regions (box and lasso), steps a daydream and draws a digit, with think times. A rerun's latency is from
its BackMsg to the `script_finished` ForwardMsg. It prints per action the median and 95th percentile,
errors (exception boxes, error alerts, wrong or missing panels, reruns that never finished) and the
server's resident memory over time, then each goal of issue 18 with its measured figure. Every loop is
bounded in count and time; the tool stops by itself. The run itself, its faults and the real-browser check:
`class_faults.py`.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import os
import random
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
from websockets.exceptions import ConnectionClosed

from .stream_client import StreamSession, json_value, string_value

REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """This process's environment with `values` set, as it was afterwards."""
    before = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def serve(home: Path, log: Path, env: dict[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """`streamlit run app/Home.py` on a free 127.0.0.1 port with ACN_EXPLORER_HOME=home, no file watcher (as
    `make serve-class`) and `env` set for the server only (ACN_TEACHER_PASSPHRASE: in classroom mode, as a class is
    served); yields (url, process)."""
    from .browser import serve_process

    with contextlib.ExitStack() as running:
        with environment(env or {}):  # the server inherits it; this process gets its own back once it started
            served = running.enter_context(serve_process(home, log, "--server.fileWatcherType", "none", wait=90))
        yield served


def rss_mb(pid: int) -> float:
    """Resident memory of one process in MB (from /proc), or NaN once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class MemoryWatch:
    """Samples the server's RSS every `every` seconds in a thread: `samples` is [(seconds, MB)]."""

    def __init__(self, pid: int, every: float = 1.0) -> None:
        self.pid, self.every, self.samples, self.start = pid, every, [], time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append((time.time() - self.start, rss_mb(self.pid)))

    def now(self) -> float:
        return rss_mb(self.pid)

    def peak_since(self, t0: float) -> float:
        values = [mb for t, mb in self.samples if t >= t0 - self.start]
        return max(values, default=self.now())

    def stop(self) -> None:
        self._stop.set()


def _array(value) -> np.ndarray:
    """A plotly array, plain or in plotly's typed-array form ({dtype, bdata, shape})."""
    if isinstance(value, dict):
        out = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return out.reshape([int(s) for s in str(value["shape"]).split(",")]) if "shape" in value else out
    return np.asarray(value)


@dataclass
class MapPoints:
    """The clickable points of the Latent map as the browser holds them: position, trace, index in the
    trace, and customdata (sample id, held-out flag, ...)."""
    x: np.ndarray
    y: np.ndarray
    curve: np.ndarray
    index: np.ndarray
    customdata: np.ndarray

    @classmethod
    def from_figure(cls, figure: dict) -> "MapPoints":
        parts = [(c, _array(t["x"]), _array(t["y"]), _array(t["customdata"]))
                 for c, t in enumerate(figure["data"]) if "customdata" in t and t.get("name", "").isdigit()]
        return cls(np.concatenate([p[1] for p in parts]).astype(float), np.concatenate([p[2] for p in parts]).astype(float),
                   np.concatenate([np.full(len(p[1]), p[0]) for p in parts]),
                   np.concatenate([np.arange(len(p[1])) for p in parts]), np.concatenate([p[3] for p in parts]))

    def selection(self, chosen: np.ndarray, box=None, lasso=None) -> str:
        """The JSON the plotly chart sends for these points (the browser's format, customdata as a dict)."""
        points = [{"curve_number": int(self.curve[i]), "point_number": int(self.index[i]),
                   "point_index": int(self.index[i]), "x": self.x[i], "y": self.y[i],
                   "customdata": {str(j): float(v) for j, v in enumerate(self.customdata[i])}} for i in chosen]
        return json.dumps({"selection": {"points": points, "point_indices": [int(self.index[i]) for i in chosen],
                                         "box": [box] if box else [], "lasso": [lasso] if lasso else []}})

    def box(self, rng: random.Random, fraction: float) -> tuple[np.ndarray, dict]:
        cx, cy = rng.choice(list(zip(self.x, self.y)))
        half_w, half_h = np.ptp(self.x) * fraction / 2, np.ptp(self.y) * fraction / 2
        inside = np.flatnonzero((abs(self.x - cx) <= half_w) & (abs(self.y - cy) <= half_h))
        return inside, {"x": [cx - half_w, cx + half_w], "y": [cy - half_h, cy + half_h]}

    def lasso(self, rng: random.Random, radius: float) -> tuple[np.ndarray, dict]:
        cx, cy = rng.choice(list(zip(self.x, self.y)))
        angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        rx, ry = np.ptp(self.x) * radius, np.ptp(self.y) * radius
        inside = np.flatnonzero(((self.x - cx) / rx) ** 2 + ((self.y - cy) / ry) ** 2 <= 1)  # the polygon ~ an ellipse
        return inside, {"x": list(cx + rx * np.cos(angles)), "y": list(cy + ry * np.sin(angles))}


def digit_png(rng: random.Random) -> str:
    """A canvas-sized stroke (a slanted "1" or a "0") as the canvas component's PNG data URL."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    pen = ImageDraw.Draw(picture)
    if rng.random() < 0.5:
        pen.line([(140 + rng.randint(-30, 30), 40), (130, 240)], fill=(255, 255, 255, 255), width=22)
    else:
        pen.ellipse([80, 40, 200, 240], outline=(255, 255, 255, 255), width=22)
    return png_data_url(picture)


def png_data_url(picture) -> str:
    """A PIL picture as the canvas component sends it: a PNG data URL."""
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@dataclass
class Tally:
    """Latencies per action (seconds) and every error seen, by kind."""
    seconds: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    exceptions: int = 0

    def add(self, action: str, run, expect: str | None = None) -> None:
        self.seconds.setdefault(action, []).append(run.seconds)
        self.exceptions += run.exceptions
        problems = {"exception box": run.exceptions, "error alert": run.error_alerts,
                    "never finished": int(not run.finished),
                    "wrong panel": int(bool(expect) and run.finished and not any(expect in t for t in run.texts))}
        for kind, count in problems.items():
            if count:
                self.errors[f"{action}: {kind}"] = self.errors.get(f"{action}: {kind}", 0) + count

    def merge(self, other: "Tally") -> None:
        for action, values in other.seconds.items():
            self.seconds.setdefault(action, []).extend(values)
        for kind, count in other.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + count
        self.exceptions += other.exceptions

    def stats(self, action: str) -> tuple[float, float, int]:
        """(median, 95th percentile, count) of an action's latencies in seconds."""
        values = self.seconds.get(action, [])
        if not values:
            return float("nan"), float("nan"), 0
        return float(np.median(values)), float(np.percentile(values, 95)), len(values)

    def error_count(self) -> int:
        return sum(self.errors.values())


async def click(session: StreamSession, points: MapPoints, rng: random.Random, tally: Tally, action="click → panel"):
    i = rng.randrange(len(points.x))
    run = await session.rerun(values={"latent_map": string_value(points.selection(np.array([i])))})
    tally.add(action, run, expect=f"Sample #{int(points.customdata[i][0])} ")


async def student(url: str, seed: int, tally: Tally, rounds: int, deadline: float, think: tuple[float, float],
                  points: list, clicks_per_round: int = 5, only_clicks: bool = False) -> None:
    """One student's lesson, `rounds` times or until `deadline`: open the map, click points, box and
    lasso a region, step a daydream three times, draw a digit, come back to the map. `points` holds the
    map's points once the first student has read them (shared by the class: one figure to decode)."""
    rng = random.Random(seed)
    session = StreamSession(url)
    try:
        tally.add("open the map", await session.open("latent_map"), expect="Latent map")
        if not points:
            points.append(MapPoints.from_figure(session.figure("latent_map")))
        pts = points[0]
        for _ in range(rounds):
            for _ in range(clicks_per_round):
                if time.time() > deadline:
                    return
                await asyncio.sleep(rng.uniform(*think))
                await click(session, pts, rng, tally)
            if only_clicks:
                continue
            for kind in ("box", "lasso"):
                await asyncio.sleep(rng.uniform(*think))
                ids, shape = pts.box(rng, 0.15) if kind == "box" else pts.lasso(rng, 0.1)
                run = await session.rerun(values={"latent_map": string_value(pts.selection(
                    ids, **{kind: shape}))})
                tally.add(f"{kind} region", run)
            await asyncio.sleep(rng.uniform(*think))
            tally.add("open daydreams", await session.rerun(page="daydreams"), expect="Daydreams")
            for _ in range(3):
                await asyncio.sleep(rng.uniform(*think) / 2)
                tally.add("daydream step", await session.rerun(triggers=["dd_step"]), expect="steps so far")
            await asyncio.sleep(rng.uniform(*think))
            tally.add("open your digit", await session.rerun(page="your_digit"), expect="Your digit")
            await asyncio.sleep(rng.uniform(*think))
            run = await session.rerun(values={"yd_canvas": json_value({"png": digit_png(rng)})})
            tally.add("draw a digit", run, expect="Your image")
            await asyncio.sleep(rng.uniform(*think))
            tally.add("open the map", await session.rerun(page="latent_map"), expect="Latent map")
    except (OSError, asyncio.TimeoutError, KeyError, ConnectionClosed) as err:  # a dropped connection, a missing page
        tally.errors[f"session lost: {type(err).__name__}"] = tally.errors.get(f"session lost: {type(err).__name__}", 0) + 1
    finally:
        await session.close()


async def a_class(url: str, n: int, rounds: int, seconds: float, think=(0.5, 2.0), seed: int = 0,
                  only_clicks: bool = False, extra=()) -> Tally:
    """N students at once (plus any `extra` coroutines); every student's latencies in one tally."""
    tallies = [Tally() for _ in range(n)]
    deadline = time.time() + seconds
    points: list = []
    await asyncio.gather(*[student(url, seed * 1000 + i, tallies[i], rounds, deadline, think, points,
                                   only_clicks=only_clicks) for i in range(n)], *extra)
    total = Tally()
    for tally in tallies:
        total.merge(tally)
    return total


def print_tally(title: str, tally: Tally) -> None:
    print(f"\n{title}")
    print(f"  {'action':<20} {'median':>8} {'p95':>8} {'count':>6}")
    for action in tally.seconds:
        median, p95, count = tally.stats(action)
        print(f"  {action:<20} {median * 1e3:>6.0f}ms {p95 * 1e3:>6.0f}ms {count:>6}")
    print(f"  errors: {tally.error_count()} {tally.errors or ''}")


def print_server_tracebacks(log: Path, most: int = 3) -> None:
    """The last `most` tracebacks the server logged (the app shows students no details: showErrorDetails = none)."""
    lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback")]
    for start in starts[-most:]:
        end = next((j for j in range(start + 1, len(lines)) if lines[j] and not lines[j].startswith(" ")), start)
        print("\n".join(["  server log:", *lines[start:end + 1][-30:]]))
