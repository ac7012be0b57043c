"""The class board (issue 24): each rule of the issue's "Security and bad inputs" against the plain-Python board
(app/board_state.py, app/board_text.py). The teacher's page and a student's calls under AppTest: test_board_page.py."""
import unicodedata

import numpy as np
import pytest

from app.board_state import Board, BoardError, Caller, Limits
from app.board_text import PSEUDONYM_CHARS, landing_sentence, lesson_progress

TEACHER = Caller("teacher-session", True)
DIGIT = np.zeros((1, 28, 28), dtype=np.uint8)
DIGIT[0, 4:24, 12:16] = 255  # a "1", as the Your digit page would pass it on (uint8, after user_image)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_board(limits: Limits | None = None, classroom=lambda: True):
    """A board on a clock the test moves, its sessions alive unless the test says otherwise."""
    clock, sessions = Clock(), {}
    board = Board(classroom, lambda session: sessions.get(session, True), limits or Limits(), clock, seed=0)
    return board, clock, sessions


def student(name: str) -> Caller:
    return Caller(f"session-{name}", False)


def send(board, who, label=7, xy=(1.0, 2.0)):
    return board.send(who, DIGIT, xy, label, "model-hash")


# ---- pseudonyms are text, capped ------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["<b>Bold</b> <script>alert(1)</script>", "**Star** [link](http://x) `code` # h",
                                 "\u202eOtter\u202c \u2066Lynx\u2069 \u200fx\u200e", "Bad\x00\x07\x1b[31mRed\r\nLine",
                                 "A" * 10_000, "  lots \t of \u2003 space  \u2028 here  "])
def test_a_pseudonym_becomes_one_line_of_plain_text_at_most_24_characters(raw):  # row 46
    board, _, _ = make_board()
    name = board.join(student("a"), raw)
    assert 0 < len(name) <= PSEUDONYM_CHARS
    assert not [ch for ch in name if unicodedata.category(ch) in ("Cc", "Cf")]  # no control, bidi or zero-width
    assert name == " ".join(name.split())  # one line, single spaces
    assert board.mine(student("a"))[0] == name


def test_an_empty_or_all_invisible_pseudonym_is_given_one_and_two_students_never_share_one():
    board, _, _ = make_board()
    given = {board.join(student(str(i)), "\u202e\u200b " if i % 2 else "") for i in range(40)}
    assert len(given) == 40 and all(len(name.split()) == 2 for name in given)  # e.g. "Blue Otter"


# ---- identity is the server's session, never a name -----------------------------------------------------------

def test_a_student_cannot_post_as_another_pseudonym_or_as_the_teacher():  # row 46
    board, _, _ = make_board()
    ada, eve = student("ada"), student("eve")
    assert board.join(ada, "Ada Lovelace") == "Ada Lovelace"
    for copy in ("ada lovelace", "ＡＤＡ Lovelace", "Ada\u200b Lovelace"):  # case, full-width, zero-width
        with pytest.raises(BoardError, match="Another student has that pseudonym"):
            board.join(eve, copy)
    for pose in ("Teacher", "the TEACHER", "Ｔｅａｃｈｅｒ", "Te\u200bacher", "admin"):
        with pytest.raises(BoardError, match="could pass for the teacher"):
            board.join(eve, pose)
    board.join(eve, "Eve")
    send(board, ada)
    send(board, eve)  # send takes no name: a mark carries the sender's session's pseudonym
    assert sorted(m.name for m in board.view(TEACHER).marks) == ["Ada Lovelace", "Eve"]
    assert board.remove_marks(eve) == 1 and [m.name for m in board.view(TEACHER).marks] == ["Ada Lovelace"]
    assert board.mine(eve) == ("Eve", ())  # a student sees only their own marks
    for teacher_only in (lambda: board.view(eve), lambda: board.set_prompt(eve, "draw a 3"),
                         lambda: board.hide(eve, 0), lambda: board.end_class(eve), lambda: board.version(eve)):
        with pytest.raises(BoardError, match="Only the teacher"):
            teacher_only()
    with pytest.raises(BoardError, match="You are the teacher"):
        board.join(TEACHER, "Eve's teacher")


def test_identity_comes_from_the_script_run_context_and_liveness_from_the_server(monkeypatch):
    from streamlit import runtime

    from app import board

    assert board.caller() is None  # outside a script run there is no session, so nothing can be sent
    assert board.session_alive("anything")  # no server: only the unseen rule prunes

    class Server:
        @staticmethod
        def is_active_session(session_id):
            return session_id == "connected"

    monkeypatch.setattr(runtime, "exists", lambda: True)
    monkeypatch.setattr(runtime, "get_instance", lambda: Server())
    assert board.session_alive("connected") and not board.session_alive("closed-tab")


# ---- flooding ---------------------------------------------------------------------------------------------------

def test_a_student_may_send_three_drawings_a_minute_and_is_told_when_the_next_is_allowed():  # row 46
    board, clock, _ = make_board()
    ada = student("ada")
    board.join(ada)
    for _ in range(3):
        send(board, ada)
        clock.now += 5
    with pytest.raises(BoardError, match=r"3 drawings a minute: the next in 45 s\."):
        send(board, ada)
    clock.now += 45
    send(board, ada)
    assert len(board.mine(ada)[1]) == 4


def test_marks_are_capped_per_student_per_class_and_students_per_board():  # row 46
    board, clock, _ = make_board(Limits(per_class=300))
    for i in range(30):
        board.join(student(str(i)))
    for _ in range(10):
        for i in range(30):
            send(board, student(str(i)), label=i % 10)
        clock.now += 60
    with pytest.raises(BoardError, match="the most one student may; remove your marks"):
        send(board, student("0"))
    board.join(student("late"))
    with pytest.raises(BoardError, match=r"The board is full \(300 drawings\)"):
        send(board, student("late"))
    for i in range(29):
        board.join(student(f"more-{i}"))
    with pytest.raises(BoardError, match=r"full \(60 students\)"):
        board.join(student("one-too-many"))
    view = board.view(TEACHER)
    assert len(view.marks) == 300 and view.students == 60
    assert landing_sentence(view.marks, [str(d) for d in range(10)]) == (
        "30 landed among the 0s, 30 among the 1s, 30 among the 2s, 30 among the 3s, 30 among the 4s, 30 among the "
        "5s, 30 among the 6s, 30 among the 7s, 30 among the 8s, 30 among the 9s")


@pytest.mark.parametrize("image, why", [
    (np.zeros((1, 28, 28), np.uint8), "blank"), (np.full((1, 28, 28), 200, np.uint8), "blank"),
    (np.pad(np.full((1, 4, 4), 9, np.uint8), ((0, 0), (12, 12), (12, 12))), "blank"),
    (DIGIT[0], "not a picture"), (DIGIT.astype(np.float32), "not a picture"),
    (np.full((1, 300, 300), 255, np.uint8) * np.eye(300, dtype=np.uint8), "not a picture")])
def test_a_blank_or_broken_drawing_is_refused(image, why):
    board, _, _ = make_board()
    board.join(student("ada"))
    with pytest.raises(BoardError, match=why):
        board.send(student("ada"), image, (0.0, 0.0), 1, "model-hash")
    with pytest.raises(BoardError, match="no place on the map"):
        board.send(student("ada"), DIGIT, (float("nan"), 0.0), 1, "model-hash")
    assert board.view(TEACHER).marks == ()


def test_a_drawing_the_your_digit_page_accepts_is_accepted():
    import io

    from PIL import Image, ImageDraw

    from acn_core.data import user_image

    picture = Image.new("L", (280, 280))
    ImageDraw.Draw(picture).line([(140, 40), (140, 240)], fill=255, width=22)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    board, _, _ = make_board()
    board.join(student("ada"))
    assert board.send(student("ada"), user_image(buffer.getvalue(), 1, 28, centre=True), (0, 0), 1, "m").id == 0


# ---- leaving ---------------------------------------------------------------------------------------------------

def test_a_students_marks_go_when_they_ask_and_when_their_session_ends():
    board, clock, sessions = make_board()
    ada, bob = student("ada"), student("bob")
    board.join(ada, "Ada")
    board.join(bob, "Bob")
    send(board, ada)
    send(board, bob)
    assert board.remove_marks(ada) == 1 and board.mine(ada) == ("Ada", ())
    sessions[bob.session] = False  # the tab closed: the server no longer has the websocket
    clock.now += 20
    assert board.view(TEACHER).students == 2  # a wifi drop shorter than the grace keeps the marks ...
    sessions[bob.session] = True
    clock.now += 20
    assert len(board.view(TEACHER).marks) == 1
    sessions[bob.session] = False
    board.view(TEACHER)
    clock.now += Limits().gone_s
    view = board.view(TEACHER)  # ... a closed tab's go within gone_s of a board read
    assert view.students == 1 and view.marks == () and board.mine(bob) is None
    clock.now += Limits().unseen_s
    assert board.view(TEACHER).students == 0  # unseen for 90 minutes: gone too


def test_the_teacher_hides_one_mark_and_ending_the_class_clears_everything():
    board, _, _ = make_board()
    ada = student("ada")
    board.join(ada, "Ada")
    first, second = send(board, ada, label=7), send(board, ada, label=1)
    board.set_prompt(TEACHER, "draw a 7 \u202e<b>now</b>")
    board.report_step(ada, "The tour", 2, 5, True)
    board.hide(TEACHER, first.id)
    view = board.view(TEACHER)
    assert [m.hidden for m in view.marks] == [True, False] and view.prompt == "draw a 7 <b>now</b>"
    assert landing_sentence(view.marks, [str(d) for d in range(10)]) == "1 landed among the 1s"
    assert board.mine(ada)[1][0].hidden  # the student sees that the teacher hid it
    board.end_class(TEACHER)
    view = board.view(TEACHER)
    assert (view.open, view.students, view.marks, view.prompt, view.progress) == (False, 0, (), "", ())
    assert board.prompt() == "" and board.mine(ada) is None
    with pytest.raises(BoardError, match="ended the class"):
        board.join(ada, "Ada")
    with pytest.raises(BoardError, match="no longer on the board"):
        board.hide(TEACHER, second.id)
    board.open_class(TEACHER)
    assert board.join(ada, "Ada") == "Ada" and board.view(TEACHER).marks == ()


def test_outside_classroom_mode_nothing_is_gathered():
    mode = [True]
    board, _, _ = make_board(classroom=lambda: mode[0])
    board.join(student("ada"), "Ada")
    send(board, student("ada"))
    board.set_prompt(TEACHER, "draw a 7")
    mode[0] = False  # e.g. `make run`: the board empties at its next call and gathers nothing after
    assert board.prompt() == "" and board.mine(student("ada")) is None
    for refused in (lambda: board.join(student("bob"), "Bob"), lambda: send(board, student("ada")),
                    lambda: board.view(TEACHER), lambda: board.set_prompt(TEACHER, "draw a 1")):
        with pytest.raises(BoardError, match="no class board outside classroom mode"):
            refused()
    board.report_step(student("ada"), "The tour", 1, 5, False)
    mode[0] = True
    view = board.view(TEACHER)
    assert (view.students, view.marks, view.prompt, view.progress) == (0, (), "", ())


# ---- what the teacher reads --------------------------------------------------------------------------------------

def test_counts_and_lesson_progress_read_well_with_nobody_and_with_a_class():
    assert landing_sentence((), ["0", "1"]) == "No drawings on the board yet."
    assert lesson_progress([]) == ()
    board, _, _ = make_board()
    for i in range(30):
        who = student(str(i))
        board.join(who)
        send(board, who, label=7 if i < 24 else 1 if i < 28 else 9)
        board.report_step(who, "The tour", 1 + i % 3, 6, i % 2 == 0)
    board.report_step(student("0"), "Week 3", 2, 4, False)
    board.report_step(TEACHER, "Teacher's own", 1, 1, True)  # the teacher is not counted
    view = board.view(TEACHER)
    assert landing_sentence(view.marks, [str(d) for d in range(10)]) == (
        "24 landed among the 7s, 4 among the 1s, 2 among the 9s")
    tour, week = view.progress
    assert (tour.on_step, tour.finished) == ((9, 10, 10, 0, 0, 0), (4, 5, 5, 0, 0, 0))
    assert tour.sentence() == ("The tour: 9 on step 1 (4 finished its Your turn), 10 on step 2 (5 finished its Your "
                               "turn), 10 on step 3 (5 finished its Your turn).")
    assert week.sentence() == "Week 3: 1 on step 2 (0 finished its Your turn)."


def test_the_version_the_teachers_page_follows_changes_with_the_board_and_only_then():
    board, clock, sessions = make_board()
    seen = [board.version(TEACHER)]
    board.view(TEACHER)
    board.prompt()
    assert board.version(TEACHER) == seen[-1]  # reading redraws nothing
    for change in (lambda: board.join(student("ada"), "Ada"), lambda: send(board, student("ada")),
                   lambda: board.hide(TEACHER, 0), lambda: board.report_step(student("ada"), "The tour", 1, 3, False),
                   lambda: board.set_prompt(TEACHER, "draw a 7"), lambda: board.remove_marks(student("ada"))):
        change()
        seen.append(board.version(TEACHER))
        assert seen[-1] != seen[-2]
    sessions[student("ada").session] = False
    board.version(TEACHER)
    clock.now += Limits().gone_s
    assert board.version(TEACHER) != seen[-1]  # the student's session ended: the page redraws without them
