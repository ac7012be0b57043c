"""The ground every benchmark stands on: a measurement (`Row`), the goals measurements are held to (`GOALS`, the
one table of them), how a measurement is timed (`best_time`), and how rows are printed and saved.

Every measurement is a `Row`; ratios, not absolute times, are what to read on a shared, noisy machine. A row held
to a goal is made by `against_goal` from its `GOALS` entry, so a goal is written once, here.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, NamedTuple


@dataclass
class Row:
    name: str
    value: float | None  # None: not measured (the note says why)
    unit: str
    baseline: str = ""
    baseline_value: float | None = None
    ratio: float | None = None  # baseline_value / value for times ("x faster"), value / baseline otherwise
    note: str = ""


class Goal(NamedTuple):
    value: float
    unit: str  # what the row prints: "s", "ms", "MB", or "x" for a ratio to a figure measured beside it


GOALS: dict[str, Goal] = {
    # fast from cold, in Chromium, each on a server started for it (issue 21, item 6)
    "start -> clickable map": Goal(4.0, "s"),
    "Compare step, first visit": Goal(2.0, "s"),
    "cold lesson link": Goal(4.0, "s"),
    # what the server answers: a click, a daydream step, a selection, a drawn digit, a replay frame, the atlas
    "click -> panel data": Goal(300.0, "ms"),
    "daydream step": Goal(100.0, "ms"),
    "PixelCNN reconstructions": Goal(1000.0, "ms"),
    "region -> grid and histogram": Goal(500.0, "ms"),
    "drawn digit -> panel and map": Goal(300.0, "ms"),
    "replay slider -> frame": Goal(200.0, "ms"),
    "atlas layer": Goal(2.0, "s"),
    # the teaching views (issue 15) and a step of the tour in presenter mode
    "switch the neighbour": Goal(200.0, "ms"),
    "edit a code": Goal(150.0, "ms"),
    "walk of 10 frames": Goal(1000.0, "ms"),
    "lesson step": Goal(500.0, "ms"),
    # a 60,000-code bundle in Chromium
    "60k: start -> clickable map": Goal(8.0, "s"),
    "60k: click -> panel shown": Goal(300.0, "ms"),
    "60k: pan frame time (mean)": Goal(50.0, "ms"),
    # the Latent map at each size (bench/browser.py: map_scale_rows)
    "map: start -> clickable map": Goal(10.0, "s"),
    "map: reload -> clickable map": Goal(10.0, "s"),
    "map: pan frame time (p95)": Goal(100.0, "ms"),
    "map: click -> panel shown": Goal(400.0, "ms"),
    "map: box -> grid shown": Goal(1000.0, "ms"),
    "map: lasso -> grid (server)": Goal(1000.0, "ms"),
    # a class on one server (issue 18): met or missed, printed by bench/class_faults.py
    "class: click -> panel median": Goal(1.0, "s"),
    "class: click -> panel p95": Goal(2.5, "s"),
    "class: server memory peak": Goal(2500.0, "MB"),
    "class: memory after leaving / idle": Goal(1.1, "x"),
    "soak: memory at the end / at 1 min": Goal(1.1, "x"),
    "faults: others' click p95 / quiet": Goal(2.0, "x"),
    "Chromium / virtual: bytes a click costs": Goal(1.1, "x"),  # within 10 % either way
}
SCALE = {"s": 1.0, "ms": 1e3}  # seconds -> the unit a time goal is written in


def against_goal(key: str, name: str, seconds: float, note: str = "") -> Row:
    """A row for a time held to `GOALS[key]`: the time in the goal's unit, ratio = goal / measured (>1 meets it)."""
    goal = GOALS[key]
    value = seconds * SCALE[goal.unit]
    return Row(name, value, goal.unit, "goal", goal.value, goal.value / max(value, 1e-9),
               "; ".join(filter(None, [note, "ratio = goal / measured (>1 meets it)"])))


def not_measured(key: str, name: str, why: str) -> Row:
    """A row held to `GOALS[key]` that could not be measured here: no value and no ratio, and why."""
    goal = GOALS[key]
    return Row(name, None, goal.unit, "goal", goal.value, None, f"not measured: {why}")


def best_time(fn: Callable[[], object], repeats: int = 5, min_seconds: float = 0.05,
              clock: Callable[[], float] = time.perf_counter) -> float:
    """Best-of-`repeats` seconds per call, each repeat looping until it lasts `min_seconds`. With
    `clock=time.process_time`, CPU seconds of this process: for one-thread computations on a machine that
    other processes share, the time they take from us is left out (what they take from our caches is not)."""
    fn()  # warm up
    best = float("inf")
    for _ in range(repeats):
        calls, start = 0, clock()
        while True:
            fn()
            calls += 1
            elapsed = clock() - start
            if elapsed >= min_seconds:
                break
        best = min(best, elapsed / calls)
    return best


def print_table(rows: list[Row]) -> None:
    print(f"{'measurement':46s} {'value':>12s} {'unit':8s} {'baseline':28s} {'baseline':>10s} {'ratio':>8s}")
    for r in rows:
        value = "not measured" if r.value is None else f"{r.value:12.3f}"
        base = "" if r.baseline_value is None else f"{r.baseline_value:10.3f}"
        ratio = "" if r.ratio is None else f"{r.ratio:8.2f}"
        print(f"{r.name:46s} {value:>12s} {r.unit:8s} {r.baseline:28s} {base:>10s} {ratio:>8s}"
              + (f"  ({r.note})" if r.note else ""))


def write_json(rows: list[Row], path: Path) -> None:
    path.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
