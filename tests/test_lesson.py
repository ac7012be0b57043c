"""Lessons: the schema and its caps (BAD_INPUTS row 37), the built-in tour walked step by step in AppTest doing
each step's action, lesson links, a teacher's lesson made from views, presenter mode, and the declared state
lessons run on (app/state.py's PAGES)."""
import ast
import base64
import io
import json
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from acn_core.teaching import lesson as lessons
from acn_core.teaching.lesson import LessonError
from app import explorer, state

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
    many["steps"] *= 3
    with pytest.raises(LessonError, match=r"bytes \(1\.\d MB\); a lesson is at most 1,000,000 bytes \(1 MB\)"):
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


def test_urls_in_a_caption_stay_text_and_never_become_links():  # bad inputs: bare URLs, <iframe>, [text](url)
    text = ("see https://example.com/a?b=1 or www.example.org, mail teacher@school.org; "
            "<iframe src='https://evil.example'></iframe> [click](http://evil.example) HTTPS://X.ORG")
    shown = lessons.as_plain_markdown(lessons.parse(a_lesson(text=text)).steps[0].text)
    # Streamlit's markdown links what reads as a URL after escapes are undone: the text must hold none
    read = shown.replace("\\", "")
    for autolink in ("http:", "https:", "HTTPS:", "www.", "teacher@"):
        assert autolink not in read, autolink
    assert read.replace("\u2060", "") == text  # what is shown is exactly what was written


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
    assert lessons.fill_numbers("KL {a.kl_nats}, k-NN {b.x}, {c.y}, {walk.trend} at {walk.frame}, {d.z}",
                                {"a.kl_nats": 2.7012, "b.x": 0.39, "walk.trend": "rises above both ends",
                                 "walk.frame": 5, "d.z": None}) == \
        "KL 2.70, k-NN 0.390, {c.y}, rises above both ends at 5, n/a"


@pytest.mark.parametrize("nats, trend, frame", [
    ([15.5, 20.0, 34.3, 12.0, 4.8], "rises above both ends", 2),  # a bump between two classes
    ([15.5, 13.4, 11.2, 11.9, 13.4], "dips below both ends", 2),  # two of a kind: the middle is cheaper
    ([15.5, 12.0, 9.0, 4.8], "stays between the two ends", 1),
    ([15.5, 4.8], None, None),  # no frame in between
])
def test_a_walk_is_said_to_rise_or_dip_from_its_costs(nats, trend, frame):
    said = lessons.walk_numbers(nats)
    assert (said["trend"], said["frame"], said["a_nats"], said["b_nats"]) == (trend, frame, nats[0], nats[-1])


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


def bar_text(at: AppTest) -> str:
    """The lesson bar's text as markdown (the first markdown after the bar's title)."""
    return next(m.value for m in at.markdown if not m.value.startswith("<style>"))


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
            assert at.button(key="lesson_next").disabled and "Next opens when you" in bar_text(at)
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


def test_a_step_opens_its_view_and_skipping_moves_on(monkeypatch):
    monkeypatch.setattr(explorer, "images_here", lambda path: False)  # a machine without MNIST
    at = open_link("lesson=tour&step=5")
    assert bar_title(at) == "A powerful decoder, two priors"
    assert at.selectbox(key="compare_a").value == "paper-check/pixelcnn-spatial-standard (bundled)"
    kl = bar_text(at)
    assert "{a.kl_nats}" not in kl and r"\(KL\) 2\.70 against 4\.61 nats" in kl  # computed from the models' numbers
    assert "4-layer PixelCNN (spatial code) on 4,000 images of mnist5k" in kl.replace("\\", "")
    assert [t.value for t in at.toast if "MNIST" in t.value] == [
        "The PixelCNN pair trained on MNIST needs the MNIST files, which are not on this machine (`make data` gets "
        "them): the pair trained on mnist5k is shown in its place."]
    at.button(key="lesson_skip").click().run()
    assert bar_title(at) == "Daydreams" and at.session_state["dd_start"] == 12
    assert any("Start: sample #12" in c.value for c in at.caption)


def test_where_mnist_is_the_tour_compares_the_pair_trained_on_it(monkeypatch):
    monkeypatch.setattr(explorer, "images_here", lambda path: True)
    at = open_link("lesson=tour&step=5")
    assert at.selectbox(key="compare_a").value == "paper-check/mnist-pixelcnn-standard (bundled)"
    assert at.selectbox(key="compare_b").value == "paper-check/mnist-pixelcnn-acn (bundled)"
    assert not any("MNIST" in t.value for t in [*at.toast, *at.warning])


def test_a_server_without_the_mnist_pair_shows_the_mnist5k_pair_in_its_place(monkeypatch):
    listed = explorer.available_models
    monkeypatch.setattr(explorer, "available_models",
                        lambda: {label: path for label, path in listed().items() if "mnist-pixelcnn" not in label})
    at = open_link("lesson=tour&step=5")
    assert at.session_state["step"] == 5 and bar_title(at) == "A powerful decoder, two priors"
    assert at.selectbox(key="compare_b").value == "paper-check/pixelcnn-spatial-acn (bundled)"
    assert [t.value for t in at.toast if "MNIST" in t.value] == [
        "The PixelCNN pair trained on MNIST is not on this server: the pair trained on mnist5k is shown in its place."]


def test_a_lean_bundle_whose_dataset_is_missing_cannot_show_its_images(tmp_path):
    folder = tmp_path / "lean"
    folder.mkdir()
    source = {"dataset": "mnist", "root": str(tmp_path / "nowhere"), "train_part": "train", "test_part": "test",
              "sha256": "0" * 64}
    (folder / "config.json").write_text(json.dumps({"images": source}))
    assert not explorer.images_here(folder)
    (folder / "config.json").write_text(json.dumps({"format": "acn-bundle/4"}))  # one that carries its images
    assert explorer.images_here(folder)


def test_a_link_to_a_step_that_cannot_open_says_so_and_opens_the_nearest(explorer_home):
    for step, title, note in (("99", "Train your own", ("Step 99 of this lesson cannot be shown here; it opens at step "
                                                        "10, the nearest")),
                              ("0", "A code is a point", "it opens at step 1, the nearest"),
                              ("abc", "A code is a point", "This lesson has no step 'abc'; it opens at its first")):
        at = open_link(f"lesson=tour&step={step}")
        assert bar_title(at) == title
        assert any(note in w.value for w in at.warning), [w.value for w in at.warning]
    obj = a_lesson()  # step 2's model is not on this server: its link opens step 3, the later of the nearest two
    obj["steps"] += [{"title": "Gone", "text": "t", "page": "latent_map", "state": {"model": "not-here"}},
                     {"title": "Three", "text": "t", "page": "walk"}]
    lessons.save(explorer_home / "lessons", "gaps", lessons.parse(obj))
    at = open_link("lesson=gaps&step=2")
    assert bar_title(at) == "Three" and at.session_state["step"] == 3
    assert any("no model 'not-here'" in w.value for w in at.warning)
    assert any("Step 2 of this lesson cannot be shown here; it opens at step 3" in w.value for w in at.warning)
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
    assert at.selectbox(key="lesson_add_expect").options == ["(nothing)", "click a point (or type an index)",
                                                              "change the colouring", "select a region (box or lasso)"]
    at.number_input(key="sample_input").set_value(7).run()
    at.text_input(key="lesson_add_title").set_value("Seven")
    at.text_area(key="lesson_add_text").set_value("<b>Seven</b> & more")
    at.text_input(key="lesson_add_todo").set_value("Click a 7.")
    at.selectbox(key="lesson_add_expect").set_value("click")
    at.selectbox(key="lesson_add_outline").set_value("latent_map")
    at.button(key="lesson_add").click().run()
    assert at.selectbox(key="lesson_add_expect").value == "(nothing)"  # never carried over to the next step
    assert at.selectbox(key="lesson_add_outline").value == "(nothing)"
    assert at.text_input(key="lesson_add_todo").value == ""
    at.number_input(key="sample_input").set_value(9).run()
    at.text_input(key="lesson_add_title").set_value("Nine")
    at.button(key="lesson_add").click().run()
    draft = at.session_state["lesson_draft"]
    assert [(s.title, s.state["sample"], s.page, s.todo, s.expect, s.highlight) for s in draft.steps] == [
        ("Seven", 7, "latent_map", "Click a 7.", "click", ["latent_map"]), ("Nine", 9, "latent_map", "", None, [])]
    at.switch_page("../pages/walk.py").run()  # another page offers what it can produce, and nothing else
    assert at.selectbox(key="lesson_add_expect").options == ["(nothing)", "choose the two ends of the walk"]
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
    assert at.button(key="lessons_start_week-3")  # listed at once, in the same run
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
                               ("big.json", b" " * 5_300_000, ("the file has 5,300,000 bytes (5.3 MB); a lesson is "
                                                               "at most 1,000,000 bytes (1 MB)")),
                               ("notes.json", b"\x89PNG not json", "not valid JSON")):
        at.file_uploader(key="lessons_upload").clear().upload(name, raw, "application/json").run()
        assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert at.session_state["lesson_draft"].to_bytes() == downloaded  # a refused file changes nothing
    uploader = at.file_uploader(key="lessons_upload")  # the limit the label states is the one the widget enforces
    assert "at most 1 MB" in uploader.label and uploader.proto.max_upload_size_mb * 10**6 == lessons.MAX_FILE_BYTES
    at.button(key="lessons_try").click().run()
    assert bar_title(at) == "A code is a point"


def test_a_step_that_could_never_complete_is_refused_on_save_and_on_upload(explorer_home):
    never = a_lesson(page="walk", expect="neighbour", title="Walk and wait")  # the walk has no neighbour to pick
    at = AppTest.from_file(HOME_SCRIPT, default_timeout=180).run()
    at.switch_page("../pages/lessons.py").run()
    at.file_uploader(key="lessons_upload").upload("never.json", json.dumps(never).encode(), "application/json").run()
    refusal = "step 1 (Walk and wait) waits for the student to pick another neighbour, which the page 'walk' cannot " \
              "produce; there a step can wait for: choose the two ends of the walk"
    assert any(refusal in e.value for e in at.error), [e.value for e in at.error]
    at.button(key="lessons_new").click().run()
    at.session_state["lesson_draft"].steps.append(lessons.parse(never).steps[0])  # as an older app made it
    at.run()
    at.text_input(key="lessons_name").set_value("never").run()
    at.button(key="lessons_save").click().run()
    assert any("Not saved: " + refusal in e.value for e in at.error)
    assert not (explorer_home / "lessons").exists() or lessons.names(explorer_home / "lessons") == []


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


# ---- lessons run on declared state ---------------------------------------------------------------------------

def named_in(path: Path) -> set[str]:
    """The string constants in a page's code: the keys it names itself."""
    return {node.value for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Constant)
            and isinstance(node.value, str)}


def undeclared_use(page: str, used: set[str]) -> list[str]:
    """What `state.PAGES` declares for `page` that the page does not use (`used`: the keys it names or touches)."""
    declared = state.PAGES[page]
    return [f"{page} declares {name!r}, which it never uses" for name in
            [key.session_key for key in declared.keys] + list(declared.controls) if name not in used]


def test_every_key_a_page_declares_is_one_the_page_uses(monkeypatch):
    """A key renamed in a page but not in app/state.py fails here, not in front of a class: each page is run and
    every session key it reads or writes (directly or through the app's helpers) is recorded, beside the keys its
    code names; each key and control it declares must be among them."""
    from streamlit.runtime.state.session_state_proxy import SessionStateProxy

    touched: set[str] = set()
    for method in ("__getitem__", "__setitem__", "__delitem__"):
        original = getattr(SessionStateProxy, method)
        monkeypatch.setattr(SessionStateProxy, method, lambda self, key, *rest, _run=original:
                            (touched.add(key), _run(self, key, *rest))[1])
    at, used = AppTest.from_file(HOME_SCRIPT, default_timeout=300).run(), {}
    for page in state.PAGES:
        touched.clear()
        at.switch_page(f"../pages/{page}.py").run()
        assert not at.exception, [e.value for e in at.exception]
        used[page] = touched | named_in(REPO / "pages" / f"{page}.py")
    missing = [problem for page in state.PAGES for problem in undeclared_use(page, used[page])]
    assert not missing, "\n".join(missing)
    renamed = used["walk"] - {"walk_b"}  # as if the page called it something else now
    assert undeclared_use("walk", renamed) == ["walk declares 'walk_b', which it never uses"]


def test_the_runner_reads_pages_only_through_their_declarations():
    """No page's key in app/lesson.py: its string constants hold none of the keys and controls pages declare."""
    declared = {key.session_key for page in state.PAGES.values() for key in page.keys} | \
        {control for page in state.PAGES.values() for control in page.controls}
    assert not declared & named_in(REPO / "app" / "lesson.py")
