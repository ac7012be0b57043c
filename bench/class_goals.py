"""The goals of a class on one server (issue 18; the board's, issue 24), each printed with the figure the classroom
load test measured (`python -m bench classroom N`, bench/class_faults.py) and met or missed; the goals themselves
are in bench/rows.py (GOALS)."""
from __future__ import annotations

import json
from pathlib import Path

from .class_board import BoardPhase, board_goal_rows
from .classroom import Tally
from .rows import GOALS


def write_goals(figures: dict, n: int, json_path: Path | None) -> None:
    """Print each goal of issue 18 with its measured figure (✓ met, ✗ missed); optionally write JSON."""
    rows = []

    def goal(name: str, value: str, target: str, met: bool) -> None:
        rows.append({"goal": name, "measured": value, "target": target, "met": bool(met)})

    idle = figures["idle MB"]
    g = {key: goal.value for key, goal in GOALS.items()}
    if "class" in figures:
        crowd = figures["class"]
        median, p95, count = crowd.stats("click → panel")
        goal(f"{n} students: click -> panel median / p95", f"{median:.2f} / {p95:.2f} s ({count} clicks)",
             f"<= {g['class: click -> panel median']:g} s / <= {g['class: click -> panel p95']:g} s",
             median <= g["class: click -> panel median"] and p95 <= g["class: click -> panel p95"])
        goal(f"{n} students: errors, exception boxes", f"{crowd.error_count()}, {crowd.exceptions}", "0, 0",
             crowd.error_count() == 0 and crowd.exceptions == 0)
    if "lesson" in figures:
        lesson = figures["lesson"]
        worst = max(lesson.seconds, key=lambda a: lesson.stats(a)[1])
        goal(f"{n} students through the whole lesson: click median / p95; slowest action's p95",
             f"{lesson.stats('click → panel')[0]:.2f} / {lesson.stats('click → panel')[1]:.2f} s; {worst} "
             f"{lesson.stats(worst)[1]:.2f} s; {lesson.error_count()} errors", "report; 0 errors",
             lesson.error_count() == 0 and lesson.exceptions == 0)
    if "board" in figures:
        for row in board_goal_rows(figures["board"], n, figures.get("board after leaving")):
            goal(*row)
    goal(f"server memory with {n} students (peak)", f"{figures['class peak MB']:.0f} MB",
         f"<= {g['class: server memory peak']:,.0f} MB", figures["class peak MB"] <= g["class: server memory peak"])
    after = g["class: memory after leaving / idle"]
    goal("memory a while after they leave / idle", f"{figures['after leaving MB']:.0f} / {idle:.0f} MB",
         f"within {(after - 1) * 100:.0f} %", figures["after leaving MB"] <= after * idle)
    if "soak" in figures:
        first, last, peak = figures["soak MB"]
        growth = g["soak: memory at the end / at 1 min"]
        goal(f"soak {figures['soak minutes']:.1f} min: memory at 1 min -> end (peak)",
             f"{first:.0f} -> {last:.0f} MB ({peak:.0f})", f"growth <= {(growth - 1) * 100:.0f} %",
             last <= growth * first)
        goal("soak: errors", str(figures["soak"].error_count()), "0", figures["soak"].error_count() == 0)
    for prefix, title in (("hostile", "hostile uploads + a training job"), ("bad", "bad clients (row 41)")):
        if f"{prefix} quiet" in figures:
            quiet_p95 = figures[f"{prefix} quiet"].stats("click → panel")[1]
            loaded = figures[f"{prefix} loaded"]
            loaded_p95 = loaded.stats("click → panel")[1]
            most = g["faults: others' click p95 / quiet"]
            goal(f"{title}: others' click p95 / quiet", f"{loaded_p95:.2f} / {quiet_p95:.2f} s "
                 f"({loaded_p95 / quiet_p95:.2f}x)", f"<= {most:g}x", loaded_p95 <= most * quiet_p95)
            goal(f"{title}: others' errors", str(loaded.error_count()), "0", loaded.error_count() == 0)
    if "select all" in figures:
        everyone = figures["select all"]
        goal(f"{n} sessions select every point: median / p95, errors",
             f"{everyone.stats('select every point')[0]:.2f} / {everyone.stats('select every point')[1]:.2f} s, "
             f"{everyone.error_count()}", "no error; server alive",
             everyone.error_count() == 0 and figures["alive after bad inputs"])
    if "browser round trip s" in figures:
        ratio = figures["browser bytes"] / figures["virtual bytes"]
        within = g["Chromium / virtual: bytes a click costs"]
        goal(f"Chromium ({figures['browser pages']} pages) vs virtual: what a click costs the server (bytes sent)",
             f"{figures['browser bytes']:,.0f} vs {figures['virtual bytes']:,.0f} ({ratio:.2f}x)",
             f"within {(within - 1) * 100:.0f} %", 2 - within <= ratio <= within)
        goal("... and the click's round trip: Chromium (seen through its debugging protocol, which waits for "
             "the browser's own drawing) vs virtual", f"{figures['browser round trip s'] * 1e3:.0f} vs "
             f"{figures['browser virtual s'] * 1e3:.0f} ms (panel shown in Chromium {figures['browser shown s'] * 1e3:.0f} ms)",
             "report", True)
    goal("server still running at the end", str(figures["server alive"]), "True", figures["server alive"])
    print(f"\nGoals ({figures['machine']}):")
    for row in rows:
        print(f"  {'✓' if row['met'] else '✗'} {row['goal']}: {row['measured']} (goal {row['target']})")
    if json_path:
        def plain(value):
            if isinstance(value, BoardPhase):
                return {"students": plain(value.students), "teacher": plain(value.teacher),
                        "send -> mark s": value.log.delays(), "never shown": value.log.unseen()}
            if isinstance(value, Tally):
                return {"actions": {a: dict(zip(("median_s", "p95_s", "count"), value.stats(a))) for a in value.seconds},
                        "errors": value.errors, "exceptions": value.exceptions}
            return value
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({"goals": rows, **{k: plain(v) for k, v in figures.items()}}, indent=1,
                                        default=str))
