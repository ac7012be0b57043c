"""The board phase of the classroom load test (issue 24; `python -m bench classroom N --board`): a teacher session
(with the passphrase) keeps the Class board open, its fragment checking the board each second as the browser's timer
asks it to, and sets the prompt "draw a 7"; N students open the Latent map and click, join the board under a
pseudonym from the sidebar, draw a 7 on Your digit's canvas (the component's JSON value, a PNG of strokes), send
it, and click again. Every mark is timed from the student's Send to the teacher's first figure that holds it (the
teacher's page redraws when the board's version changes); the students' actions are timed as in every phase.
`--board-shots DIR`: Chromium screenshots of the teacher's board (1400x900) while the class is on it."""
from __future__ import annotations

import asyncio
import contextlib
import html
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from websockets.exceptions import ConnectionClosed

from .classroom import MapPoints, Tally, click, png_data_url, print_tally
from .rows import GOALS
from .stream_client import StreamSession, json_value, string_value

PROMPT = "draw a 7"
CLICKS = 5  # map clicks before and after sending, each 0.5-2 s apart as in the other phases
SEEN_WITHIN_S = 30.0  # after the last send, the teacher waits at most this long for the marks still to come
MARK_GOAL = "board: send -> mark on the teacher's board p95"


def seven_png(rng: random.Random) -> str:
    """A hand-drawn-looking 7 (a bar and a slanted stroke, corners and width jittered) as the canvas sends it: a
    280x280 PNG data URL of white strokes on transparent black, lineWidth 22."""
    from PIL import Image, ImageDraw

    def jitter(spread: float) -> float:
        return rng.uniform(-spread, spread)

    picture = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    bar_start, corner = (70 + jitter(15), 60 + jitter(15)), (205 + jitter(15), 62 + jitter(15))
    foot = (115 + jitter(30), 235 + jitter(10))
    ImageDraw.Draw(picture).line([bar_start, corner, foot], fill=(255, 255, 255, 255),
                                 width=22 + rng.randint(-4, 4), joint="curve")
    return png_data_url(picture)


@dataclass
class BoardLog:
    """When each student's drawings were sent, and when the teacher's board first showed each (perf_counter)."""

    sent: dict[str, list[float]] = field(default_factory=dict)
    shown: dict[str, list[float]] = field(default_factory=dict)
    acted: int = 0  # students done drawing and clicking (or lost)

    def see(self, counts: Counter, at: float) -> None:
        for name, count in counts.items():
            times = self.shown.setdefault(name, [])
            times.extend([at] * (count - len(times)))

    def delays(self) -> list[float]:
        return [shown - sent for name, times in self.sent.items()
                for sent, shown in zip(times, self.shown.get(name, []))]

    def unseen(self) -> int:
        return sum(max(0, len(times) - len(self.shown.get(name, []))) for name, times in self.sent.items())


def marks_on(figure: dict) -> Counter:
    """Marks per pseudonym in the teacher's board figure (the hover text starts with the escaped pseudonym)."""
    trace = next((t for t in figure["data"] if str(t.get("name", "")).startswith("students' drawings")), None)
    return Counter(html.unescape(text.split("<br>", 1)[0]) for text in trace["text"]) if trace else Counter()


async def open_board_as_teacher(url: str, passphrase: str, tally: Tally) -> StreamSession:
    """A teacher's tab: Home, the passphrase typed in the sidebar, then the Class board, its prompt set."""
    teacher = StreamSession(url)
    tally.add("teacher: open Home", await teacher.open(""))
    tally.add("teacher: passphrase", await teacher.rerun(values={"teacher_passphrase": string_value(passphrase)}))
    tally.add("teacher: open the board", await teacher.rerun(page="class_board"), expect="students joined")
    tally.add("teacher: set the prompt", await teacher.rerun(values={"board_prompt": string_value(PROMPT)},
                                                             triggers=["board_prompt_show"]), expect=PROMPT)
    return teacher


async def follow_board(teacher: StreamSession, log: BoardLog, tally: Tally, stop: asyncio.Event) -> None:
    """As the teacher's browser: each second, the board fragment's timed rerun; a changed board redraws the page,
    and the marks in its new figure are logged at the moment the figure arrived."""
    seen_at = None
    while not stop.is_set():
        start = time.perf_counter()
        every = min(teacher.auto_reruns.values(), default=1.0)
        for fragment in list(teacher.auto_reruns):
            run = await teacher.rerun(fragment=fragment)
            map_id = teacher.widget_id("board_map")
            redrawn = teacher.spec_at.get(map_id) != seen_at
            tally.add("teacher: board redrawn" if redrawn else "teacher: board checked", run)
            if redrawn:
                seen_at = teacher.spec_at[map_id]
                log.see(marks_on(teacher.figure("board_map")), seen_at)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, every - (time.perf_counter() - start)))


async def board_student(url: str, i: int, log: BoardLog, tally: Tally, points: list, leave: asyncio.Event,
                        think: tuple[float, float]) -> None:
    """One student: the map and clicks, Your digit, join as "Student NN", draw a 7 and send it, the map and clicks
    again; then stays on the board (connected) until told to leave."""
    rng, name = random.Random(24_000 + i), f"Student {i + 1:02d}"
    session = StreamSession(url)
    try:
        tally.add("open the map", await session.open("latent_map"), expect="Latent map")
        if not points:
            points.append(MapPoints.from_figure(session.figure("latent_map")))
        for _ in range(CLICKS):
            await asyncio.sleep(rng.uniform(*think))
            await click(session, points[0], rng, tally)
        tally.add("open your digit", await session.rerun(page="your_digit"), expect=PROMPT)
        await asyncio.sleep(rng.uniform(*think))
        tally.add("join the board", await session.rerun(values={"board_pseudonym": string_value(name)},
                                                        triggers=["board_join_go"]),
                  expect=f"On the class board as **{name}**")
        await asyncio.sleep(rng.uniform(*think))
        tally.add("draw a digit", await session.rerun(values={"yd_canvas": json_value({"png": seven_png(rng)})}),
                  expect="Your image")
        await asyncio.sleep(rng.uniform(*think))
        sent = time.perf_counter()
        run = await session.rerun(triggers=["board_send"])
        tally.add("send to the board", run, expect="Sent to the class board")
        if any("Sent to the class board" in text for text in run.texts):
            log.sent.setdefault(name, []).append(sent)
        tally.add("open the map", await session.rerun(page="latent_map"), expect="Latent map")
        for _ in range(CLICKS):
            await asyncio.sleep(rng.uniform(*think))
            await click(session, points[0], rng, tally)
    except (OSError, asyncio.TimeoutError, KeyError, ConnectionClosed) as err:
        lost = f"session lost: {type(err).__name__}"
        tally.errors[lost] = tally.errors.get(lost, 0) + 1
    finally:
        log.acted += 1
        await leave.wait()
        await session.close()


@dataclass
class BoardPhase:
    """What the phase measured: the students' actions, the teacher's reruns, each mark's send and arrival, what the
    teacher's page said at the end, and the screenshots taken."""

    students: Tally
    teacher: Tally
    log: BoardLog
    final_texts: list[str]
    shots: list[Path]


async def board_class(url: str, n: int, passphrase: str, think=(0.5, 2.0), shots: Path | None = None,
                      first: int = 0) -> BoardPhase:
    """The phase: the teacher's board open, N students at once (numbered from `first`: a class following another
    takes new pseudonyms while the last one's are still in their grace), every mark timed to the teacher's screen;
    the students leave once the teacher has seen every mark (or SEEN_WITHIN_S after the last) and any screenshots
    are taken."""
    log, students, teacher_tally = BoardLog(), [Tally() for _ in range(n)], Tally()
    teacher = await open_board_as_teacher(url, passphrase, teacher_tally)
    stop, leave, points, taken = asyncio.Event(), asyncio.Event(), [], []
    following = asyncio.create_task(follow_board(teacher, log, teacher_tally, stop))

    async def until_seen() -> None:
        while log.acted < n:
            await asyncio.sleep(0.2)
        deadline = time.perf_counter() + SEEN_WITHIN_S
        while log.unseen() and time.perf_counter() < deadline:
            await asyncio.sleep(0.2)
        if shots is not None:
            taken.extend(await asyncio.to_thread(board_screenshots, url, passphrase, shots))
        leave.set()

    try:
        await asyncio.gather(until_seen(), *[board_student(url, first + i, log, students[i], points, leave, think)
                                             for i in range(n)])
    finally:
        leave.set()
        stop.set()
        await following
        final = await teacher.rerun()
        await teacher.close()
    total = Tally()
    for tally in students:
        total.merge(tally)
    if log.unseen():
        total.errors["mark never on the teacher's board"] = log.unseen()
    return BoardPhase(total, teacher_tally, log, final.texts, taken)


async def board_rounds(url: str, n: int, passphrase: str, seconds: float, tally: Tally) -> None:
    """For the soak: one class of `n` after another on the board (each opens its own teacher's tab, joins, sends,
    and leaves, so sessions come and go as over a day of lessons) until `seconds` have passed; every student's and
    teacher's action and every mark never shown goes into `tally`."""
    deadline, first = time.time() + seconds, 0
    while time.time() < deadline - 60:  # a round takes well under a minute
        phase = await board_class(url, n, passphrase, first=first)
        first += n
        tally.merge(phase.students)
        tally.merge(phase.teacher)


def board_screenshots(url: str, passphrase: str, folder: Path) -> list[Path]:
    """The teacher's Class board in Chromium at 1400x900, scrolled to the bottom of its map: every mark, then the
    first mark opened (its drawing, reconstructions and neighbours)."""
    from playwright.sync_api import sync_playwright

    from .browser import CHROMIUM, CHROMIUM_ARGS

    folder.mkdir(parents=True, exist_ok=True)
    board_map = ("() => [...document.querySelectorAll('.js-plotly-plot')].find(gd => gd._fullData && "
                 "gd._fullData.some(t => (t.name || '').startsWith(\"students'\")))")
    saved = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url)
        page.get_by_role("textbox", name="Teacher's passphrase").fill(passphrase)
        page.keyboard.press("Enter")
        page.get_by_role("link", name="Class board").click()
        page.wait_for_function(f"() => Boolean(({board_map})())", timeout=120_000)
        page.evaluate(f"() => ({board_map})().scrollIntoView({{block: 'end'}})")
        page.wait_for_timeout(1500)
        saved.append(folder / "class-board.png")
        page.screenshot(path=saved[-1])
        point = page.evaluate(f"""() => {{ const gd = ({board_map})(),
            t = gd._fullData.find(t => (t.name || '').startsWith("students'")), xa = gd._fullLayout.xaxis,
            ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
            return {{x: box.left + xa._offset + xa.l2p(t.x[0]), y: box.top + ya._offset + ya.l2p(t.y[0])}}; }}""")
        page.mouse.click(point["x"], point["y"])
        page.get_by_text("Drawn by").first.wait_for(timeout=60_000)
        page.wait_for_timeout(1500)
        saved.append(folder / "class-board-opened.png")
        page.screenshot(path=saved[-1])
        browser.close()
    return saved


async def board_headline(url: str, passphrase: str) -> str:
    """What a teacher opening the board now reads: "N students joined · M drawings on the map." ("" if unseen)."""
    teacher = StreamSession(url)
    try:
        await teacher.open("")
        await teacher.rerun(values={"teacher_passphrase": string_value(passphrase)})
        run = await teacher.rerun(page="class_board")
    finally:
        await teacher.close()
    return next((text.split("**")[1] for text in run.texts if " joined · " in text), "")


def print_board(phase: BoardPhase, n: int) -> None:
    delays = np.array(phase.log.delays())
    print_tally(f"board: {n} students clicking, joining, drawing a 7 and sending it", phase.students)
    print_tally("board: the teacher's page (its fragment checks the board each second)", phase.teacher)
    if len(delays):
        print(f"  send -> mark on the teacher's board: median {np.median(delays) * 1e3:.0f} ms, p95 "
              f"{np.percentile(delays, 95) * 1e3:.0f} ms, max {delays.max() * 1e3:.0f} ms ({len(delays)} marks, "
              f"{phase.log.unseen()} never shown)")
    print(f"  the teacher's board at the end: {next((t for t in phase.final_texts if 'joined' in t), '(not shown)')}")
    for path in phase.shots:
        print(f"  screenshot: {path}")


def board_goal_rows(phase: BoardPhase, n: int, after_leaving: str | None) -> list[tuple[str, str, str, bool]]:
    """(goal, measured, target, met) of the board phase; the ratio printed is goal / measured (> 1 meets it)."""
    mark_goal = GOALS[MARK_GOAL].value if MARK_GOAL in GOALS else 2.0  # until bench/rows.py holds the line
    click_goal = GOALS["class: click -> panel p95"].value
    delays = np.array(phase.log.delays()) if phase.log.delays() else np.array([np.nan])
    mark_p95, click_p95 = float(np.percentile(delays, 95)), phase.students.stats("click → panel")[1]
    worst = max(phase.students.seconds, key=lambda a: phase.students.stats(a)[1])
    errors = phase.students.error_count() + phase.teacher.error_count()
    marks = (f"{np.median(delays):.2f} / {mark_p95:.2f} s, {len(phase.log.delays())} marks (goal / p95 "
             f"{mark_goal / mark_p95:.2f})")
    clicks = (f"{click_p95:.2f} s (goal / p95 {click_goal / click_p95:.2f}); {worst} "
              f"{phase.students.stats(worst)[1]:.2f} s")
    rows = [(f"board, {n} students: send -> mark on the teacher's board median / p95", marks,
             f"p95 <= {mark_goal:g} s", mark_p95 <= mark_goal),
            (f"board, {n} students: click -> panel p95; slowest action's p95", clicks,
             f"click p95 <= {click_goal:g} s", click_p95 <= click_goal),
            ("board: errors, exception boxes (students and teacher)",
             f"{errors}, {phase.students.exceptions + phase.teacher.exceptions}", "0, 0",
             errors == 0 and phase.students.exceptions + phase.teacher.exceptions == 0)]
    if after_leaving is not None:
        rows.append(("board a while after the class left (a closed tab's marks go after 30 s)",
                     after_leaving or "(not shown)", "0 students joined · 0 drawings on the map.",
                     after_leaving == "0 students joined · 0 drawings on the map."))
    return rows
