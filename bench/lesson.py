"""`python -m bench lesson`: server time to show each step of the built-in tour in presenter mode (AppTest runs
the app's script in this process: the lesson bar's Next, the page switch and the page's drawing), against the
goal of a step (`rows.GOALS["lesson step"]`, 500 ms). Two passes: the first fills the app's caches, the second is
what a class sees when the teacher has rehearsed."""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from acn_core.runtime import configure

from .rows import GOALS, SCALE

REPO = Path(__file__).resolve().parents[1]


def step_times(passes: int = 2) -> list[list[tuple[str, float]]]:
    """Per pass: (step title, seconds from pressing Next to the step's page drawn) for every step of the tour."""
    from streamlit.testing.v1 import AppTest

    from acn_core.teaching import lesson

    tour = lesson.read(REPO / "assets" / "lessons" / "tour.json")
    at = AppTest.from_file(str(REPO / "app" / "Home.py"), default_timeout=600)
    at.query_params.update(lesson="tour", step="1", present="1")
    at.run()
    results = []
    for _ in range(passes):
        at.session_state["present"] = True
        rows = []
        while at.session_state["step"] != 1:  # back to the first step
            at.button(key="lesson_back").click().run()
        start = time.perf_counter()
        at.run()
        rows.append((tour.steps[0].title, time.perf_counter() - start))
        while not at.button(key="lesson_next").disabled:
            start = time.perf_counter()
            at.button(key="lesson_next").click().run()
            rows.append((tour.steps[at.session_state["step"] - 1].title, time.perf_counter() - start))
            if at.exception:
                raise RuntimeError([e.value for e in at.exception])
        results.append(rows)
    return results


def report() -> None:
    """Both passes of the tour, each step against its goal (ratio = goal / measured, >1 meets it), on the threads
    of ACN_APP_THREADS (1 unless set), in a fresh ACN_EXPLORER_HOME unless one is set."""
    configure(int(os.environ.get("ACN_APP_THREADS", "1")))
    os.environ.setdefault("ACN_EXPLORER_HOME", tempfile.mkdtemp(prefix="bench-lesson-"))
    goal = GOALS["lesson step"]
    goal_s = goal.value / SCALE[goal.unit]
    passes = step_times()
    print(f"{'step':40s} {'first pass (ms)':>16s} {'second pass (ms)':>17s} "
          f"{f'goal {goal.value:.0f} {goal.unit} / 2nd':>17s}")
    for (title, cold), (_, warm) in zip(*passes):
        print(f"{title[:40]:40s} {cold * 1000:16.0f} {warm * 1000:17.0f} {goal_s / warm:17.2f}")
    warm = [t for _, t in passes[1]]
    print(f"second pass: median {statistics.median(warm) * 1000:.0f} ms, max {max(warm) * 1000:.0f} ms "
          f"(goal / slowest {goal_s / max(warm):.2f}; >1 meets it)")
