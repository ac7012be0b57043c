"""A class on one server (issues 18 and 24): sessions never see each other's state, on the class board neither (a
student sees only their own drawings and pseudonym, cannot act as the teacher, and a closed tab's drawings leave
the board), a session's state stays bounded whatever it selects, and a 3-session smoke of the load tool
(`python -m bench classroom N`, its board phase too). One real `streamlit run` in classroom mode on a free loopback
port, driven through Streamlit's websocket protocol; no timings asserted."""
import asyncio
import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from streamlit.proto.WidgetStates_pb2 import WidgetState

from bench.class_board import board_class, marks_on, open_board_as_teacher, seven_png
from bench.class_goals import write_goals
from bench.class_memory import MemoryProbe
from bench.classroom import MapPoints, Tally, a_class, serve
from bench.stream_client import StreamSession, json_value, string_value

pytestmark = pytest.mark.slow
HOME_SCRIPT = str(Path(__file__).resolve().parents[1] / "app" / "Home.py")
PASSPHRASE = "owl-at-the-front"
GRACE_S = 2  # a closed tab's drawings leave the board after this (ACN_BOARD_GRACE_S; 30 s when a class is served)


@pytest.fixture(scope="module")
def probe_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("memory-probe")


@pytest.fixture(scope="module")
def server(tmp_path_factory, probe_folder):
    home = tmp_path_factory.mktemp("class-home")
    env = {"ACN_TEACHER_PASSPHRASE": PASSPHRASE, "ACN_BOARD_GRACE_S": str(GRACE_S),
           "ACN_MEMORY_PROBE": str(probe_folder)}
    with serve(home, home / "server.log", env) as (url, process):
        yield url


def shown_sample(run) -> int | None:
    found = [re.match(r"Sample #(\d+) ", text) for text in run.texts]
    return next((int(m.group(1)) for m in found if m), None)


def url_state(session: StreamSession) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in session.url_query.split("&") if "=" in pair)


async def two_students(url: str) -> dict:
    a, b = StreamSession(url), StreamSession(url)
    try:
        await a.open("latent_map")
        await b.open("latent_map")
        points = MapPoints.from_figure(a.figure("latent_map"))
        pick = int(np.flatnonzero(points.customdata[:, 0] > 0)[5])
        a_sample = int(points.customdata[pick][0])
        a_click = await a.rerun(values={"latent_map": string_value(points.selection(np.array([pick])))})
        await a.rerun(values={"k_slider": WidgetState(double_array_value={"data": [20]})})
        ids, box = points.box(random.Random(0), 0.3)
        a_region = await a.rerun(values={"latent_map": string_value(points.selection(ids, box=box))})
        b_after = await b.rerun()
        b_pick = int(np.flatnonzero(points.customdata[:, 0] > a_sample)[0])
        b_click = await b.rerun(values={"latent_map": string_value(points.selection(np.array([b_pick])))})
        a_after = await a.rerun()
        out = {"a_sample": a_sample, "a_click": a_click, "a_region": a_region, "b_after": b_after,
               "b_click": b_click, "a_after": a_after, "a_url": url_state(a), "b_url": url_state(b),
               "b_sample": int(points.customdata[b_pick][0])}
        # an upload in progress: A has put a file on the server but not yet sent its widget value; B claims
        # A's file id in its own uploader and must get nothing; A then gets its own file
        await a.rerun(page="")
        await b.rerun(page="")
        claim = await asyncio.to_thread(a.upload, b"not a zip at all", "in-progress.zip")
        out["b_upload"] = await b.rerun(values={"upload": claim})
        out["a_upload"] = await a.rerun(values={"upload": claim})
        return out
    finally:
        await a.close()
        await b.close()


async def two_lessons(url: str) -> tuple[dict, dict]:
    teacher_link, plain = StreamSession(url), StreamSession(url)
    try:
        await teacher_link.open("", query="lesson=tour&step=1")
        await plain.open("")
        await teacher_link.rerun()
        await plain.rerun()
        return url_state(teacher_link), url_state(plain)
    finally:
        await teacher_link.close()
        await plain.close()


def test_two_sessions_never_see_each_others_sample_k_region_upload_or_lesson(server):
    seen = asyncio.run(two_students(server))
    assert shown_sample(seen["a_click"]) == seen["a_sample"]  # A's click worked ...
    assert seen["a_region"].exceptions == 0 and "sel" in seen["a_url"] and seen["a_url"]["k"] == "20"
    assert shown_sample(seen["b_after"]) == 0  # ... and B, rerun after it, still shows the default
    assert "sel" not in seen["b_url"] and seen["b_url"]["k"] == "8"
    assert shown_sample(seen["b_click"]) == seen["b_sample"]
    assert shown_sample(seen["a_after"]) == seen["a_sample"]  # B's click never moved A
    assert not any("in-progress.zip" in text for text in seen["b_upload"].texts)  # A's file is not B's
    assert any("in-progress.zip was not added" in text for text in seen["a_upload"].texts)
    with_lesson, without = asyncio.run(two_lessons(server))
    assert "lesson" not in without and "step" not in without  # a lesson link opened in one tab stays there
    assert with_lesson.get("lesson") == "tour"  # the lessons feature (app/lesson.py) keeps the lesson in that tab's URL


async def join(session: StreamSession, name: str):
    return await session.rerun(values={"board_pseudonym": string_value(name)}, triggers=["board_join_go"])


async def draw_and_send(session: StreamSession, seed: int):
    await session.rerun(values={"yd_canvas": json_value({"png": seven_png(random.Random(seed))})})
    return await session.rerun(triggers=["board_send"])


async def headline(teacher: StreamSession) -> str:
    run = await teacher.rerun()
    return next(text.split("**")[1] for text in run.texts if " joined · " in text)


async def two_students_on_the_board(url: str) -> dict:
    teacher = await open_board_as_teacher(url, PASSPHRASE, Tally())
    a, b = StreamSession(url), StreamSession(url)
    try:
        await a.open("your_digit")
        await b.open("your_digit")
        out = {"a_joined": await join(a, "Ada Otter"), "b_as_a": await join(b, "ada otter"),
               "b_as_teacher": await join(b, "Teacher Bo"), "b_joined": await join(b, "Bo")}
        out["a_sent"], out["b_sent"] = await draw_and_send(a, 1), await draw_and_send(b, 2)
        out["b_page"] = await b.rerun()
        out["teacher_sees"] = (await headline(teacher), marks_on(teacher.figure("board_map")))
        # B guesses the passphrase, opens the board, then sends the teacher's own widget ids (copied from the
        # teacher's tab): a new prompt, and End the class
        await b.rerun(values={"teacher_passphrase": string_value("owl")})
        out["b_board"] = await b.rerun(page="class_board")
        out["b_got_the_map"] = "board_map" in b.widget_ids
        for key in ("board_prompt", "board_prompt_show", "board_end"):
            b.widget_ids[key] = teacher.widget_id(key)
        out["b_forged"] = await b.rerun(values={"board_prompt": string_value("I am the teacher now")},
                                        triggers=["board_prompt_show", "board_end"])
        out["teacher_after_forgery"] = await teacher.rerun()
        await a.close()  # A's tab closes: A's drawing leaves the board after the grace
        for _ in range(60):
            await asyncio.sleep(0.5)
            out["teacher_after_a_left"] = await headline(teacher)
            if out["teacher_after_a_left"].startswith("1 student joined"):
                break
        out["teacher_marks_after_a_left"] = marks_on(teacher.figure("board_map"))
        return out
    finally:
        for session in (a, b, teacher):
            await session.close()


def test_on_the_board_a_student_sees_only_their_own_drawing_never_acts_as_teacher_and_leaves_with_the_tab(server):
    # row 46, through a real server: identity is the server's session; the teacher's controls stay the teacher's
    seen = asyncio.run(two_students_on_the_board(server))
    assert "On the class board as **Ada Otter**" in seen["a_joined"].texts
    for attempt, refusal in (("b_as_a", "Another student has that pseudonym"), ("b_as_teacher", "for the teacher")):
        assert seen[attempt].error_alerts == 1 and refusal in " ".join(seen[attempt].texts)
    assert "On the class board as **Bo**" in seen["b_joined"].texts
    assert all(any(t.startswith("Sent to the class board") for t in seen[k].texts) for k in ("a_sent", "b_sent"))
    b_page = " ".join(seen["b_page"].texts)
    assert "Your drawings on the class board (1)" in seen["b_page"].texts  # B's own drawing, and only that
    assert "Otter" not in b_page and "Otter" not in " ".join(seen["b_sent"].texts)  # nothing of A's, not its name
    assert seen["teacher_sees"] == ("2 students joined · 2 drawings on the map.", {"Ada Otter": 1, "Bo": 1})
    # the board is not among B's pages (a wrong passphrase): asking for it by name opens Home, none of the board
    assert "ACN Explorer" in seen["b_board"].texts, seen["b_board"].texts
    assert not any(" joined · " in text or "The prompt" in text for text in seen["b_board"].texts)
    assert not seen["b_got_the_map"] and seen["b_forged"].exceptions == 0
    teacher_page = " ".join(seen["teacher_after_forgery"].texts)
    assert "**The prompt:** draw a 7" in teacher_page and "I am the teacher now" not in teacher_page
    assert "2 students joined · 2 drawings on the map." in teacher_page and "The class is ended" not in teacher_page
    assert seen["teacher_after_a_left"] == "1 student joined · 1 drawing on the map."
    assert seen["teacher_marks_after_a_left"] == {"Bo": 1}


def state_bytes(value) -> int:
    """A rough size of a session-state value: array bytes, string lengths, containers summed."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, dict):
        return sum(state_bytes(k) + state_bytes(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set)):
        return sum(state_bytes(v) for v in value)
    return 64


def test_a_sessions_state_is_bounded_whatever_it_selects(monkeypatch, tmp_path):
    monkeypatch.setenv("ACN_EXPLORER_HOME", str(tmp_path))
    at = AppTest.from_file(HOME_SCRIPT, default_timeout=120).run()
    at.switch_page("../pages/latent_map.py").run()
    sizes = []
    for round_ in range(3):  # select every point, again and again, with clicks in between
        at.session_state["latent_map"] = {"selection": {
            "points": [{"customdata": [i, 0, 1.0, 0.5]} for i in range(4000)], "box": [{"x": [round_, 9]}]}}
        at.run()
        at.session_state["latent_map"] = {"selection": {"points": [{"customdata": [round_ + 7, 0, 1.0, 0.5]}]}}
        at.run()
        assert not at.exception
        sizes.append(sum(state_bytes(value) for key, value in at.session_state.items()
                         if key != "latent_map"))  # the widget's own value is the browser's, re-sent each run
    assert sizes[0] == sizes[1] == sizes[2]  # nothing accumulates
    assert 4000 * 8 <= sizes[0] <= 4000 * 8 + 200_000  # the region's ids (int64) and small change


def test_the_load_tool_drives_three_sessions_through_every_action(server, tmp_path):
    crowd = asyncio.run(a_class(server, 3, 1, 120, think=(0.0, 0.1)))
    assert crowd.error_count() == 0 and crowd.exceptions == 0, crowd.errors
    actions = {"open the map", "click → panel", "box region", "lasso region", "open daydreams", "daydream step",
               "open your digit", "draw a digit"}
    assert actions <= set(crowd.seconds) and all(len(crowd.seconds[a]) >= 3 for a in actions)
    board = asyncio.run(board_class(server, 2, PASSPHRASE, think=(0.0, 0.1)))
    assert board.students.error_count() == 0 and board.teacher.error_count() == 0, (board.students.errors,
                                                                                     board.teacher.errors)
    assert {"join the board", "draw a digit", "send to the board", "click → panel"} <= set(board.students.seconds)
    assert len(board.log.delays()) == 2 and board.log.unseen() == 0  # both marks timed onto the teacher's screen
    assert any(text.startswith("**2 students joined · 2 drawings on the map.** 2 landed among the") for text in
               board.final_texts)
    figures = {"machine": "test", "class": crowd, "board": board, "idle MB": 500.0, "class peak MB": 600.0,
               "after leaving MB": 520.0, "server alive": True}
    write_goals(figures, 3, tmp_path / "class.json")
    written = json.loads((tmp_path / "class.json").read_text())
    assert all(row["met"] for row in written["goals"] if "memory" in row["goal"] or "errors" in row["goal"])
    assert len(written["board"]["send -> mark s"]) == 2


def test_the_app_does_not_collect_garbage_after_every_run():
    """Streamlit's default full gc.collect(2) after every script run held the GIL for 0.15-0.5 s with PyTorch
    loaded and serialised a whole class (issue 18); the app's config turns it off however it is started."""
    import tomllib

    config = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False


async def open_and_click(url: str) -> None:
    session = StreamSession(url)
    await session.open("latent_map")
    points = MapPoints.from_figure(session.figure("latent_map"))
    await session.rerun(values={"latent_map": string_value(points.selection(np.array([9])))})
    await session.close()


def test_the_memory_probe_says_what_the_server_holds_and_what_grew(server, probe_folder):
    """Last in this module: tracing, once started, slows every run after it."""
    probe = MemoryProbe(probe_folder)
    before = probe.take("before", "trace", timeout=120)
    asyncio.run(open_and_click(server))
    after = probe.take("after", "collect", timeout=120)
    assert before["proc MB"]["VmRSS"] > 100 and after["traced MB"] > 0 and (probe_folder / "after.snapshot").is_file()
    assert after["sessions kept for a reconnect"] >= 1 and after["cache bytes"]["st_cache_data:app.answers.inspect"] > 0
    report = probe.report("before", "after")
    assert "sessions kept for a reconnect" in report and "what grew (traced), by the code that allocated it" in report
