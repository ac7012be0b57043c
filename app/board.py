"""The class board of a served class (issue 24), for pages: the one Board every session of this server shares, who
is calling (the session id Streamlit's server gives the script run, and the teacher's passphrase), the calls the
Your digit page and the lesson runner make, and the teacher's map layer. Outside classroom mode every call shows
nothing and gathers nothing. The rules are in board_state.py, the wording in board_text.py (plain Python)."""
from __future__ import annotations

import html
import math
import os
import time
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from streamlit import runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from acn_core.teaching import as_plain_markdown
from app import explorer, figures, mapview, memory_probe, state
from app.board_state import Board, BoardError, BoardView, Caller, Limits, Mark
from app.board_text import PSEUDONYM_CHARS, LessonProgress

if TYPE_CHECKING:  # annotations only: importing them imports PyTorch, which the first map does without
    from acn_core import sampling
    from acn_core.bundle import Bundle

memory_probe.start_if_asked()  # off unless ACN_MEMORY_PROBE is set: a diagnosis of a served class's memory
MARK_KIND = 2  # customdata[1] of a student's drawing on the map (0 marks a training point, 1 a held-out one)
# a white triangle in a dark outline: a shape no other layer uses, readable on every label colour and both themes
MARK_STYLE = {"symbol": "triangle-up", "size": 13, "color": figures.HALO[0], "line": {"width": 1.5,
                                                                                      "color": figures.HALO[1]}}


def session_alive(session_id: str) -> bool:
    """Whether the server still has this session connected (`Runtime.is_active_session`, a look-up that is safe
    from any thread). With no server (a notebook) every session counts as alive; AppTest's stand-in runtime
    answers with a mock rather than False, so only a real False ends a session."""
    if not runtime.exists():
        return True
    return runtime.get_instance().is_active_session(session_id) is not False


def grace_s() -> float:
    """How long a closed tab's drawings stay on the board for a reconnect: ACN_BOARD_GRACE_S seconds, 0-600 (30 when
    unset or not a number; a class on a patchy network may want more)."""
    try:
        seconds = float(os.environ.get("ACN_BOARD_GRACE_S", ""))
    except ValueError:
        return Limits.gone_s
    return min(max(seconds, 0.0), 600.0) if math.isfinite(seconds) else Limits.gone_s


@st.cache_resource(show_spinner=False)
def shared() -> Board:
    """The one board of this server process, shared by every session (its own lock guards it)."""
    return Board(enabled=explorer.classroom, alive=session_alive, limits=Limits(gone_s=grace_s()))


def caller() -> Caller | None:
    """Who runs this script: the session id from the server's script-run context (never anything a browser
    sends) and whether this session entered the teacher's passphrase; None outside a script run."""
    ctx = get_script_run_ctx(suppress_warning=True)
    return None if ctx is None else Caller(ctx.session_id, is_teacher())


def is_teacher() -> bool:
    return explorer.classroom() and explorer.may_manage()


def _student() -> Caller | None:
    """The calling session if it may act as a student: classroom mode, not the teacher."""
    who = caller()
    return who if who is not None and explorer.classroom() and not who.teacher else None


def _attempt(action, *args, container=st):
    """`action(caller, *args)`, showing a refusal as its one sentence; None when refused."""
    try:
        return action(caller(), *args)
    except BoardError as err:
        container.error(as_plain_markdown(str(err)), icon=":material/block:")
        return None


def ago(mark: Mark) -> str:
    seconds = time.monotonic() - mark.at  # the shared board runs on time.monotonic
    return "just now" if seconds < 60 else f"{int(seconds // 60)} min ago"


# ---- a student's calls (the Your digit page, the lesson runner) -------------------------------------------------

def show_prompt(container=st) -> None:
    """The teacher's prompt ("draw a 7"), shown as text to every session of an open class."""
    text = shared().prompt() if explorer.classroom() else ""
    if text:
        container.info(f"**The teacher asks:** {as_plain_markdown(text)}", icon=":material/campaign:")


def join_box(container=st) -> str | None:
    """Join the class board under a pseudonym (or a given one), or leave it; the pseudonym this session is on the
    board under, or None. Draws nothing for the teacher or outside classroom mode."""
    who = _student()
    if who is None:
        return None
    mine = shared().mine(who)
    with container.container(border=True, key="board_join"):
        if mine is None:
            st.caption("**Class board:** send your drawings to the teacher's screen under a pseudonym. Nothing else "
                       "about you is asked or kept, and your drawings go when you remove them or close the tab.")
            name = st.text_input("Pseudonym (leave empty to be given one)", max_chars=PSEUDONYM_CHARS,
                                 key="board_pseudonym")
            if st.button("Join the class board", key="board_join_go", icon=":material/group_add:") \
                    and _attempt(shared().join, name) is not None:
                st.rerun()
            return None
        st.markdown(f"On the class board as **{as_plain_markdown(mine[0])}**")
        if st.button("Leave the class board", key="board_leave", icon=":material/logout:", type="tertiary"):
            shared().leave(who)
            st.rerun()
        return mine[0]


def send_button(bundle: Bundle, image: np.ndarray, view: sampling.Inspection, container=st) -> None:
    """A button putting this drawing (uint8 (C, H, W), as the model saw it) on the board where it landed
    (`view` = answers.inspect_image of it); shown only to a student who joined. A sent drawing reruns the page, so
    `my_marks` drawn above it already lists it."""
    who = _student()
    if who is None or shared().mine(who) is None:
        return
    if container.button("Send to the class board", key="board_send", icon=":material/send:"):
        mark = _attempt(shared().send, image, view.map_xy, int(view.neighbour_labels[0]), bundle.content_hash,
                        container=container)
        if mark is not None:
            st.toast(f"Sent to the class board: nearest label {bundle.label_name(mark.label)}.",
                     icon=":material/check_circle:")
            st.rerun()


def my_marks(bundle: Bundle, container=st) -> None:
    """The student's own drawings on the board (never anyone else's) and a button removing them."""
    who = _student()
    mine = shared().mine(who) if who is not None else None
    if not mine or not mine[1]:
        return
    with container.expander(f"Your drawings on the class board ({len(mine[1])})"):
        words = [f"nearest label {bundle.label_name(m.label) if m.model == bundle.content_hash else m.label}, {ago(m)}"
                 + (", hidden by the teacher" if m.hidden else "") for m in mine[1]]
        st.image([figures.thumbnail(m.image / 255.0) for m in mine[1]], caption=words, width=figures.IMAGE_PX,
                 alt=[f"your drawing on the class board: {w}" for w in words])
        if st.button("Remove my marks", key="board_remove", icon=":material/delete:"):
            st.toast(f"Removed {shared().remove_marks(who)} drawing(s) from the class board.")
            st.rerun()


def report_lesson_step(lesson: str, step: int, steps: int, done: bool) -> None:
    """Where this student is in the running lesson (`lesson` "" when in none); nothing is kept for a session
    that did not join, for the teacher, or outside classroom mode."""
    who = _student()
    if who is not None:
        shared().report_step(who, lesson, step, steps, done)


# ---- the teacher's calls (pages/class_board.py) -----------------------------------------------------------------

def teacher_view() -> BoardView | None:
    who = caller()
    return shared().view(who) if who is not None and who.teacher else None


def version() -> int:
    """The board's version, for the teacher's page to notice a change; -1 once this session is not the teacher's."""
    try:
        return shared().version(caller())
    except BoardError:
        return -1


def set_prompt(text: str) -> None:
    _attempt(shared().set_prompt, text)


def hide(mark_id: int, hidden: bool = True) -> None:
    _attempt(shared().hide, mark_id, hidden)


def end_class() -> None:
    _attempt(shared().end_class)


def open_class() -> None:
    _attempt(shared().open_class)


def clicked_mark(event) -> int | None:
    """The id of the drawing a click on the board's map picked; None for anything else (the browser's data is
    not trusted)."""
    for point in state.clicked(event):
        data = point.get("customdata") if isinstance(point, dict) else None
        if isinstance(data, dict):  # the browser may send an array as {"0": ..., "1": ...}
            data = [data[k] for k in sorted(data, key=str)]
        try:
            if isinstance(data, list) and len(data) >= 2 and int(data[1]) == MARK_KIND:
                return int(data[0])
        except (TypeError, ValueError):
            continue
    return None


def marks_figure(bundle: Bundle, marks: list[Mark], opened: Mark | None,
                 view: sampling.Inspection | None) -> tuple[go.Figure, str]:
    """The model's map with the students' drawings above every point (pseudonym on hover, as text), the opened
    drawing starred with its neighbours ringed; and the map in words."""
    layers = figures.MapLayers(selected=None if opened is None else np.asarray(opened.xy),
                               neighbours=None if view is None else bundle.map_xy[view.neighbour_ids],
                               **mapview.level_of_detail(bundle, None, (), None, False))
    fig = figures.map_figure(bundle.map_xy, bundle.labels, bundle.class_names, layers, f"{bundle.content_hash}-board",
                             height=560)
    if marks:
        xy = np.array([m.xy for m in marks], dtype=float)
        fig.add_trace(go.Scattergl(  # plotly reads hover text as HTML: escaped, a pseudonym shows as typed
            x=xy[:, 0], y=xy[:, 1], mode="markers", name=f"students' drawings ({len(marks)})", marker=MARK_STYLE,
            customdata=[[m.id, MARK_KIND] for m in marks], unselected={"marker": {"opacity": 1}},
            text=[f"{html.escape(m.name)}<br>nearest label {html.escape(bundle.label_name(m.label))}" for m in marks],
            hovertemplate="%{text}<extra></extra>"))
    alt = figures.map_alt(bundle.n_train, layers, subject="the opened drawing")
    return fig, alt[:-1] + f"; white triangles mark {len(marks)} drawings the students sent."


def progress_figure(progress: LessonProgress) -> go.Figure:
    """One lesson's progress: students on each step, split into those who finished its Your turn and the rest."""
    steps = [f"step {i + 1}" for i in range(len(progress.on_step))]
    working = [n - done for n, done in zip(progress.on_step, progress.finished)]
    fig = go.Figure([go.Bar(x=steps, y=list(progress.finished), name="finished its Your turn",
                            marker_color=figures.PALETTE[2]),
                     go.Bar(x=steps, y=working, name="still on it", marker_color=figures.PALETTE[7])])
    fig.update_layout(barmode="stack", height=200, margin={"l": 0, "r": 0, "t": 30, "b": 0},
                      yaxis={"title": "students", "tickformat": "d", "rangemode": "tozero"},
                      title={"text": html.escape(progress.lesson), "font": {"size": 14}},
                      legend={"orientation": "h", "y": 1.2, "x": 1, "xanchor": "right"})
    return fig
