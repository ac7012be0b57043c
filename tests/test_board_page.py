"""The class board (issue 24) under AppTest: only the teacher sees pages/class_board.py, which stays readable empty
and with 300 marks, shows pseudonyms as text, opens, hides and ends; a student's calls (join, the prompt, send, own
marks, remove, lesson step) that the Your digit page and the lesson runner make; and nothing outside classroom mode.
The rules themselves, against the plain-Python board: test_board.py."""
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from test_board import DIGIT, TEACHER, make_board, student

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "class_board.py")


@pytest.fixture
def classroom(monkeypatch, tmp_path):
    from app import board

    monkeypatch.setenv("ACN_EXPLORER_HOME", str(tmp_path))
    monkeypatch.setenv("ACN_TEACHER_PASSPHRASE", "owl")
    shared = board.shared  # kept: a test may stand its own board in for board.shared
    shared.clear()  # a fresh board for each test: the one of this process is shared by every session
    yield board
    shared.clear()


def open_board(**state) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["model_label"] = "default-mnist5k (bundled)"
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def said(at: AppTest) -> str:
    return " ".join(e.value for shown in (at.info, at.markdown, at.caption, at.text, at.warning, at.subheader)
                    for e in shown)


def test_only_the_teacher_sees_the_board_page_and_it_stays_readable(classroom):
    from app import explorer

    bundle = explorer.load_bundle(explorer.DEFAULT_BUNDLE)
    board = classroom.shared()
    for name in ("<b>Bold</b> Otter", "Ada"):
        board.join(student(name), name)
    marks = [board.send(student(name), DIGIT, bundle.map_xy[i], int(bundle.labels[i]), bundle.content_hash)
             for i, name in ((3, "Ada"), (40, "Ada"), (7, "<b>Bold</b> Otter"))]
    for state in ({}, {"teacher_passphrase": "wrong"}):  # a student, and one guessing the passphrase
        at = open_board(**state)
        assert not at.exception and [i.value for i in at.info] == [
            "Only the teacher sees the class board; your own drawings are on the Your digit page."]
        assert "Ada" not in said(at) and not at.get("plotly_chart")
    at = open_board(teacher_passphrase="owl")
    assert not at.exception, [e.value for e in at.exception]
    assert "2 students joined · 3 drawings on the map." in said(at)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    trace = next(t for t in spec["data"] if t.get("name") == "students' drawings (3)")
    assert trace["marker"]["symbol"] == "triangle-up" and trace is spec["data"][-1]  # drawn above every point
    assert any(text.startswith("&lt;b&gt;Bold&lt;/b&gt; Otter<br>") for text in trace["text"])  # text, not HTML
    assert all(chart.proto.alt for chart in at.get("plotly_chart"))
    at.session_state["board_map"] = {"selection": {"points": [{"customdata": [marks[2].id, 2]}]}}
    at.run()
    assert f"Drawing #{marks[2].id} · nearest label" in said(at) and "Drawn by <b>Bold</b> Otter" in said(at)
    assert any("nearest neighbours in code space" in m.value for m in at.markdown)
    at.button(key="board_hide").click().run()
    assert "2 students joined · 2 drawings on the map." in said(at) and at.expander[-1].label == "Hidden drawings (1)"
    assert [m.hidden for m in board.view(TEACHER).marks if m.id == marks[2].id] == [True]
    at.text_input(key="board_prompt").set_value("draw a 7")
    next(b for b in at.button if b.label == "Show it").click().run()
    assert board.prompt() == "draw a 7"
    at.button(key="board_end").click().run()
    assert any("The class is ended" in w.value for w in at.warning) and board.view(TEACHER).students == 0
    at.button(key="board_open_class").click().run()
    assert "0 students joined · 0 drawings on the map." in said(at) and "No drawings on the board yet" in said(at)


def test_a_board_of_300_marks_and_a_lesson_stays_readable(classroom, monkeypatch):
    from app import explorer

    bundle = explorer.load_bundle(explorer.DEFAULT_BUNDLE)
    board, clock, _ = make_board()  # its own clock: 300 drawings need 100 minutes of the rate limit
    monkeypatch.setattr(classroom, "shared", lambda: board)
    for i in range(30):
        board.join(student(str(i)))
        board.report_step(student(str(i)), "The tour", 1 + i % 4, 8, i % 3 == 0)
    for round_ in range(10):
        for i in range(30):
            item = 97 * (round_ * 30 + i) % bundle.n_train
            board.send(student(str(i)), DIGIT, bundle.map_xy[item], int(bundle.labels[item]), bundle.content_hash)
        clock.now += 60
    at = open_board(teacher_passphrase="owl")
    assert not at.exception, [e.value for e in at.exception]
    assert "30 students joined · 300 drawings on the map." in said(at) and "landed among the" in said(at)
    charts = at.get("plotly_chart")
    assert len(charts) == 2 and all(chart.proto.alt for chart in charts)  # the lesson's progress, the map
    assert charts[0].proto.alt == ("Bar chart of lesson progress. The tour: 8 on step 1 (3 finished its Your turn), 8 "
                                   "on step 2 (2 finished its Your turn), 7 on step 3 (2 finished its Your turn), 7 "
                                   "on step 4 (3 finished its Your turn).")
    marks = next(t for t in json.loads(charts[1].proto.spec)["data"] if t.get("name") == "students' drawings (300)")
    assert len(marks["text"]) == 300 and charts[1].proto.alt.endswith("white triangles mark 300 drawings the students "
                                                                        "sent.")
    at.toggle(key="board_show_progress").set_value(False).run()
    assert len(at.get("plotly_chart")) == 1


def students_page():
    import numpy as np

    from app import answers, board, explorer

    bundle = explorer.load_bundle(explorer.DEFAULT_BUNDLE)
    board.show_prompt()
    board.join_box()
    image = np.zeros((1, 28, 28), dtype=np.uint8)
    image[0, 4:24, 12:16] = 255
    board.send_button(bundle, image, answers.inspect_image(bundle, image, 8))
    board.my_marks(bundle)
    board.report_lesson_step("The tour", 2, 5, True)


def test_a_student_joins_sees_the_prompt_sends_sees_and_removes_their_marks(classroom):
    classroom.shared().set_prompt(TEACHER, "draw a *7*")
    at = AppTest.from_function(students_page, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [i.value for i in at.info] == ["**The teacher asks:** draw a \\*7\\*"]
    assert not [b for b in at.button if b.key == "board_send"]  # nothing is sent before joining
    at.text_input(key="board_pseudonym").set_value("<i>Ada</i>")
    at.button(key="board_join_go").click().run()
    assert any("On the class board as **\\<i\\>Ada\\</i\\>**" in m.value for m in at.markdown)
    at.button(key="board_send").click().run()
    view = classroom.shared().view(TEACHER)
    assert [m.name for m in view.marks] == ["<i>Ada</i>"] and view.progress[0].sentence() == (
        "The tour: 1 on step 2 (1 finished its Your turn).")
    assert at.get("image")[0].proto.imgs[0].alt.startswith("your drawing on the class board: nearest label")
    at.button(key="board_remove").click().run()
    assert classroom.shared().view(TEACHER).marks == ()
    at.session_state["teacher_passphrase"] = "owl"  # the teacher's session is never a student
    at.run()
    assert not [b for b in at.button if b.key in ("board_join_go", "board_send")]


def test_outside_classroom_mode_there_is_no_board_page_and_no_student_call_gathers(classroom, monkeypatch):
    monkeypatch.delenv("ACN_TEACHER_PASSPHRASE")
    at = open_board()
    assert [i.value for i in at.info] == [("There is no class board outside classroom mode: serve a class with "
                                           "ACN_TEACHER_PASSPHRASE set (make serve-class).")]
    at = AppTest.from_function(students_page, default_timeout=120).run()
    assert not at.exception and not at.button and not at.info
    monkeypatch.setenv("ACN_TEACHER_PASSPHRASE", "owl")
    assert classroom.shared().view(TEACHER).students == 0
