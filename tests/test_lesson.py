"""Lessons: the schema and its caps (BAD_INPUTS row 37), the built-in tour walked step by step in AppTest doing
each step's action, lesson links, a teacher's lesson made from views, and presenter mode."""
import base64
import io
import json
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from acn_core.teaching import lesson as lessons
from acn_core.teaching.lesson import LessonError

REPO = Path(__file__).resolve().parents[1]
HOME_SCRIPT = str(REPO / "app" / "Home.py")
TOUR = REPO / "assets" / "lessons" / "tour.json"


@pytest.fixture(autouse=True)
def explorer_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ACN_EXPLORER_HOME", str(tmp_path))
    monkeypatch.delenv("ACN_TEACHER_PASSPHRASE", raising=False)
    return tmp_path


def a_lesson(**step) -> dict:
    return {"format": "acn-explorer-lesson", "version": 1, "title": "T",
            "steps": [{"title": "One", "text": "Look.", "page": "latent_map", **step}]}


# ---- the schema ------------------------------------------------------------------------------------------------

def test_the_built_in_tour_is_a_valid_lesson_that_round_trips_byte_for_byte():
    tour = lessons.read(TOUR)
    assert 8 <= len(tour.steps) <= 12 and all(step.text for step in tour.steps)
    raw = tour.to_bytes()
    assert lessons.parse(raw).to_bytes() == raw  # a downloaded lesson uploads back identically


@pytest.mark.parametrize("obj, message", [
    ([1, 2], "not a lesson"),
    ({"format": "something-else", "version": 1}, "not a lesson"),
    ({**a_lesson(), "version": 7}, "version 7"),
    ({**a_lesson(), "steps": []}, "non-empty list"),
    ({**a_lesson(), "steps": "one"}, "non-empty list"),
    ({**a_lesson(), "script": "x"}, "unknown field"),
    (a_lesson(title=5), "step 1.title must be text"),
    (a_lesson(page="../../etc/passwd"), "step 1.page must name a page"),
    (a_lesson(state=[1]), "step 1.state must be an object"),
    (a_lesson(state={"sample": [1, 2]}), "step 1.state.sample must be text, a whole number"),
    (a_lesson(state={"Bad Key": 1}), "not a view key"),
    (a_lesson(expect="hack"), "step 1.expect 'hack' is not one of"),
    (a_lesson(highlight=["x} body {display:none"]), "is not a widget key"),
    (a_lesson(onload="alert(1)"), "unknown field"),
])
def test_a_file_that_is_not_a_lesson_is_refused_naming_the_problem(obj, message):  # row 37: schema and types
    with pytest.raises(LessonError, match=message.replace("(", r"\(").replace(".", r"\.")):
        lessons.parse(json.dumps(obj))


def test_ten_thousand_steps_and_megabytes_of_text_are_refused():  # row 37: caps
    many = a_lesson()
    many["steps"] = many["steps"] * 10_000
    with pytest.raises(LessonError, match="the lesson has 10,000 steps; at most 60"):
        lessons.parse(many)
    with pytest.raises(LessonError, match="bytes; a lesson is at most 262,144 bytes"):
        lessons.parse(json.dumps(many))  # the file itself is too big before it is even parsed
    with pytest.raises(LessonError, match="step 1.text has 3,000,000 characters; at most 1,500"):
        lessons.parse(a_lesson(text="x" * 3_000_000))
    with pytest.raises(LessonError, match="not valid JSON"):
        lessons.parse(b"[" * 100_000)


def test_html_and_markdown_in_a_caption_are_shown_as_text():  # row 37: nothing rendered as HTML
    text = "<script>alert(1)</script> <img src=x onerror=alert(2)> **bold** [link](http://x) $x$ :smile:\u202e"
    step = lessons.parse(a_lesson(text=text)).steps[0]
    assert "\u202e" not in step.text  # a bidi override is dropped
    shown = lessons.as_plain_markdown(step.text)
    assert "<" not in shown.replace("\\<", "") and "*" not in shown.replace("\\*", "")
    assert "$" not in shown.replace("\\$", "") and "[" not in shown.replace("\\[", "")


def test_steps_on_a_missing_page_or_model_are_skipped_with_a_note_naming_them():  # row 37
    obj = a_lesson()
    obj["steps"] += [{"title": "Gone", "text": "t", "page": "no_such_page"},
                     {"title": "Other", "text": "t", "page": "latent_map", "state": {"model": "not-here"}},
                     {"title": "Pair", "text": "t", "page": "latent_map", "state": {"compare_b": "nor-here"}}]
    usable, notes = lessons.usable_steps(lessons.parse(obj), {"latent_map"}, {"default"})
    assert usable == [0]
    assert "no page 'no_such_page'" in notes[0] and "no model 'not-here'" in notes[1]
    assert "no model 'nor-here'" in notes[2]


def test_numbers_in_a_sentence_come_from_the_model():
    assert lessons.fill_numbers("KL {a.kl_nats}, k-NN {b.x}, {c.y}", {"a.kl_nats": 2.7012, "b.x": 0.39}) == \
        "KL 2.70, k-NN 0.390, {c.y}"


def test_lessons_are_saved_atomically_listed_and_deleted(tmp_path):
    tour = lessons.read(TOUR)
    path = lessons.save(tmp_path / "lessons", "week-3", tour)
    assert lessons.names(tmp_path / "lessons") == ["week-3"] and path.read_bytes() == tour.to_bytes()
    with pytest.raises(LessonError, match="is not a lesson name"):
        lessons.save(tmp_path / "lessons", "../escape", tour)
    lessons.delete(tmp_path / "lessons", "week-3")
    assert lessons.names(tmp_path / "lessons") == []


# ---- the tour in the app ---------------------------------------------------------------------------------------

def open_link(query: str, **state) -> AppTest:
    at = AppTest.from_file(HOME_SCRIPT, default_timeout=180)
    for pair in query.split("&"):
        key, value = pair.split("=")
        at.query_params[key] = value
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def bar_title(at: AppTest) -> str:
    return at.subheader[0].value


def next_step(at: AppTest) -> None:
    at.button(key="lesson_next").click().run()
    assert not at.exception, [e.value for e in at.exception]


def drawn_digit() -> dict:
    picture = Image.new("L", (280, 280))
    picture.paste(255, (130, 40, 160, 240))  # a "1"
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return {"png": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()}


def do_the_action(at: AppTest, expect: str) -> None:
    """What a student does for each kind of step (map events injected as the app receives them)."""
    if expect == "click":
        key = "latent_map" if "latent_map" in at.session_state else "compare_map_b"
        at.session_state[key] = {"selection": {"points": [{"customdata": [42, 0]}]}}
    elif expect == "region":
        at.session_state["latent_map"] = {"selection": {"points": [{"customdata": [i, 0]} for i in range(0, 60, 3)],
                                                        "box": [{"x": [0, 1], "y": [0, 1]}]}}
    elif expect == "daydream":
        at.button(key="dd_step").click()
    elif expect == "neighbour":
        at.radio(key="why_pick").set_value(1)
    elif expect == "edit":
        slider = next(s for s in at.slider if str(s.key).startswith("edit_d"))
        slider.set_value(round(float(slider.value) + 0.5, 1))
    elif expect == "walk":
        at.number_input(key="walk_b_index").set_value(41)
    elif expect == "draw":
        at.session_state["yd_canvas"] = drawn_digit()
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def test_the_whole_tour_step_by_step_doing_each_action():
    tour = lessons.read(TOUR)
    at = open_link("lesson=tour&step=1")
    usable, _ = lessons.usable_steps(tour, {p.stem for p in (REPO / "pages").glob("*.py")}, set())
    usable = [n for n in range(len(tour.steps)) if n in usable or "model" not in tour.steps[n].state]
    seen = []
    while True:
        step = tour.steps[at.session_state["step"] - 1]
        seen.append(at.session_state["step"])
        assert bar_title(at) == step.title
        if step.expect:  # Next waits for the action, then opens
            assert at.button(key="lesson_next").disabled and any("Next opens when you" in c.value for c in at.caption)
            do_the_action(at, step.expect)
            assert at.session_state["_lesson_done"], f"step {seen[-1]} ({step.expect}) did not notice the action"
            assert any("Done." in s.value for s in at.success)
        if at.button(key="lesson_next").disabled:  # the last step
            break
        next_step(at)
    assert seen == sorted(seen) and len(seen) >= 6
    assert at.query_params["lesson"] in ("tour", ["tour"])
    at.button(key="lesson_back").click().run()
    assert at.session_state["step"] == seen[-2]  # Back works


def test_a_step_opens_its_view_and_skipping_moves_on():
    at = open_link("lesson=tour&step=5")
    assert bar_title(at) == "A powerful decoder, two priors"
    assert at.selectbox(key="compare_a").value == "paper-check/pixelcnn-spatial-standard (bundled)"
    kl = " ".join(m.value for m in at.markdown)
    assert "{a.kl_nats}" not in kl and r"KL 2\.70 against 4\.61 nats" in kl  # computed from the models' numbers
    at.button(key="lesson_skip").click().run()
    assert bar_title(at) == "Daydreams" and at.session_state["dd_start"] == 12
    assert any("Start: sample #12" in c.value for c in at.caption)


def test_a_link_to_a_missing_step_opens_the_first_with_a_message():
    for step in ("99", "abc", "0"):
        at = open_link(f"lesson=tour&step={step}")
        assert bar_title(at) == "A code is a point"
        assert any("has no step" in w.value for w in at.warning)
    at = open_link("lesson=no-such-lesson&step=1")
    assert any("there is no lesson 'no-such-lesson'" in w.value for w in at.warning)


def test_a_hostile_lesson_runs_as_text_and_skips_its_bad_steps(explorer_home):
    obj = a_lesson(text="<script>alert(1)</script> **not bold**", state={"sample": 3, "nonsense_key": 1},
                   highlight=["latent_map"])
    obj["steps"].insert(0, {"title": "Missing page", "text": "t", "page": "no_such_page"})
    obj["steps"].append({"title": "Missing model", "text": "t", "page": "latent_map", "state": {"model": "gone"}})
    lessons.save(explorer_home / "lessons", "hostile", lessons.parse(obj))
    at = open_link("lesson=hostile&step=1")
    notes = " ".join(w.value for w in at.warning)
    assert "no page 'no_such_page'" in notes and "no model 'gone'" in notes and "no view key 'nonsense_key'" in notes
    assert bar_title(at) == "One" and at.session_state["sample"] == 3
    text = next(m for m in at.markdown if "script" in m.value)
    assert text.value.startswith("\\<script\\>") and "\\*\\*not bold" in text.value


def test_presenter_mode_from_a_link_hides_the_sidebar_and_binds_the_arrow_keys():
    at = open_link("lesson=tour&step=2&present=1")
    css = " ".join(m.value for m in at.markdown if m.value.startswith("<style>"))
    assert "stSidebar" in css and "font-size" in css and ".st-key-latent_map" in css
    assert not at.button(key="lesson_next").disabled  # the presenter moves on without waiting
    assert at.query_params["present"] in ("1", ["1"])
    next_step(at)
    assert bar_title(at) == "What a code costs"


def test_a_teacher_makes_a_lesson_from_views_reorders_downloads_and_shares_it(explorer_home, monkeypatch):
    monkeypatch.setenv("ACN_TEACHER_PASSPHRASE", "owl")
    at = AppTest.from_file(HOME_SCRIPT, default_timeout=180).run()
    at.switch_page("../pages/lessons.py").run()
    at.button(key="lessons_new").click().run()
    at.switch_page("../pages/latent_map.py").run()
    for sample, title in ((7, "Seven"), (9, "Nine")):
        at.number_input(key="sample_input").set_value(sample).run()
        at.text_input(key="lesson_add_title").set_value(title)
        at.text_area(key="lesson_add_text").set_value(f"<b>{title}</b> & more")
        at.button(key="lesson_add").click().run()
    draft = at.session_state["lesson_draft"]
    assert [(s.title, s.state["sample"], s.page) for s in draft.steps] == [("Seven", 7, "latent_map"),
                                                                           ("Nine", 9, "latent_map")]
    at.switch_page("../pages/lessons.py").run()
    at.button(key="lessons_down_0").click().run()
    assert [s.title for s in at.session_state["lesson_draft"].steps] == ["Nine", "Seven"]
    raw = at.session_state["lesson_draft"].to_bytes()
    assert lessons.parse(raw).to_bytes() == raw  # the download uploads back identically
    at.text_input(key="lessons_name").set_value("week-3").run()
    assert at.button(key="lessons_save").disabled  # classroom mode: a student may not save on the server
    at.sidebar.text_input(key="teacher_passphrase").set_value("owl").run()
    at.button(key="lessons_save").click().run()
    assert (explorer_home / "lessons" / "week-3.json").read_bytes() == raw
    assert any("?lesson=week-3&step=1" in c.value for c in at.code)
    at.button(key="lessons_delete_step_0").click().run()
    assert [s.title for s in at.session_state["lesson_draft"].steps] == ["Seven"]
    link = open_link("lesson=week-3&step=2")
    assert bar_title(link) == "Seven" and link.session_state["sample"] == 7
    student = AppTest.from_file(HOME_SCRIPT, default_timeout=180).run()
    student.switch_page("../pages/lessons.py").run()
    assert student.button(key="lessons_delete_week-3").disabled  # a student may not delete it, but may download
    assert any(b.label == "Download" for b in student.get("download_button"))


# ---- figures for slides ----------------------------------------------------------------------------------------

def test_a_picture_strip_exports_as_a_png_with_its_captions(monkeypatch):
    import numpy as np

    from app import export

    images = np.zeros((5, 1, 8, 8))
    images[:, :, 2:6, 3:5] = 1.0
    plain = Image.open(io.BytesIO(export.strip_png(images, None, columns=5, scale=3)))
    captioned = Image.open(io.BytesIO(export.strip_png(images, [f"#{i}: label 7" for i in range(5)], columns=5,
                                                       scale=3, title="Neighbours")))
    assert captioned.format == "PNG" and captioned.height > plain.height  # room for the captions and the title
    pixels = np.asarray(captioned.convert("L"))
    assert (pixels[-export.CAPTION_PX:] < 128).any()  # dark caption text under the tiles
    assert export.safe_filename("../Latent map: <b>") == "Latent-map-b"


def test_every_chart_downloads_as_png_at_twice_its_size_and_keeps_its_title(monkeypatch):
    import plotly.graph_objects as go

    from app import export

    config = export.chart_config("latent map (bundled)")
    assert config["toImageButtonOptions"] == {"format": "png", "scale": 2, "filename": "latent-map-bundled"}
    fig = export.titled(go.Figure(layout={"margin": {"t": 10}}), "Latent map")
    assert fig.layout.title.text == "Latent map" and fig.layout.margin.t >= 40


def test_a_student_who_wanders_off_is_offered_the_way_back():
    at = open_link("lesson=tour&step=1")
    at.switch_page("../pages/prior_samples.py").run()
    assert bar_title(at) == "A code is a point"
    at.button(key="lesson_reopen").click().run()
    assert at.button(key="lesson_next").disabled and at.session_state["sample"] == 12
    assert at.number_input(key="sample_input").value == 12  # back on the map, at the step's sample


def test_a_downloaded_lesson_uploads_back_identically_and_a_bad_file_is_refused():
    at = AppTest.from_file(HOME_SCRIPT, default_timeout=180).run()
    at.switch_page("../pages/lessons.py").run()
    downloaded = lessons.read(TOUR).to_bytes()  # what the tour's Download button serves
    at.file_uploader(key="lessons_upload").upload("tour.json", downloaded, "application/json").run()
    assert at.session_state["lesson_draft"].to_bytes() == downloaded
    assert any("Opened tour.json" in s.value for s in at.success)
    hostile = {"format": "acn-explorer-lesson", "version": 1, "title": "T",
               "steps": [{"title": "x", "text": "y" * 5000, "page": "home"}]}
    for name, raw, message in (("huge.json", json.dumps(hostile).encode(), "step 1.text has 5,000 characters"),
                               ("big.json", b" " * (lessons.MAX_FILE_BYTES + 10), "a lesson is at most"),
                               ("notes.json", b"\x89PNG not json", "not valid JSON")):
        at.file_uploader(key="lessons_upload").clear().upload(name, raw, "application/json").run()
        assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert at.session_state["lesson_draft"].to_bytes() == downloaded  # a refused file changes nothing
    at.button(key="lessons_try").click().run()
    assert bar_title(at) == "A code is a point"


def test_a_saved_view_brings_back_its_region_and_colouring():
    at = AppTest.from_file(HOME_SCRIPT, default_timeout=180).run()
    at.switch_page("../pages/lessons.py").run()
    at.button(key="lessons_new").click().run()
    at.switch_page("../pages/latent_map.py").run()
    at.session_state["latent_map"] = {"selection": {"points": [{"customdata": [i, 0]} for i in range(0, 90, 3)],
                                                    "box": [{"x": [0, 1], "y": [0, 1]}]}}
    at.run()
    at.selectbox(key="map_colour").set_value("code cost (nats)").run()
    at.button(key="lesson_add").click().run()
    step = at.session_state["lesson_draft"].steps[0]
    assert step.state["map_colour"] == "code cost (nats)" and step.state["sel"]
    at.session_state["latent_map"] = {"selection": {"points": [{"customdata": [5, 0]}]}}  # the view moves on
    at.selectbox(key="map_colour").set_value("label").run()
    at.switch_page("../pages/lessons.py").run()
    at.button(key="lessons_try").click().run()
    assert at.selectbox(key="map_colour").value == "code cost (nats)"
    assert any(h.value.startswith("Selected region: 30 images") for h in at.subheader)
