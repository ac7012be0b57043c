"""A class on one server (issue 18): sessions never see each other's state, a session's state stays bounded
whatever it selects, and a 3-session smoke of the load tool (`python -m bench classroom N`). One real
`streamlit run` on a free loopback port, driven through Streamlit's websocket protocol; no timings asserted."""
import asyncio
import random
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from streamlit.proto.WidgetStates_pb2 import WidgetState

from bench.class_faults import write_goals
from bench.classroom import MapPoints, a_class, serve
from bench.stream_client import StreamSession, string_value

pytestmark = pytest.mark.slow
HOME_SCRIPT = str(Path(__file__).resolve().parents[1] / "app" / "Home.py")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("class-home")
    with serve(home, home / "server.log") as (url, process):
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
    figures = {"machine": "test", "class": crowd, "idle MB": 500.0, "class peak MB": 600.0,
               "after leaving MB": 520.0, "server alive": True}
    write_goals(figures, 3, tmp_path / "class.json")
    assert '"met": true' in (tmp_path / "class.json").read_text()


def test_the_app_does_not_collect_garbage_after_every_run():
    """Streamlit's default full gc.collect(2) after every script run held the GIL for 0.15-0.5 s with PyTorch
    loaded and serialised a whole class (issue 18); the app's config turns it off however it is started."""
    import tomllib

    config = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False
