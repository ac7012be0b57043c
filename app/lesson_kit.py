"""The teacher's kit for lessons: where lessons live (built in, on this server), finding and listing them,
share links, and saving the view on screen as a step of the lesson being made (the sidebar's "Add this view")."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import streamlit as st

from app import explorer, state
from acn_core.teaching import lesson as lessons
from acn_core.teaching import ACTIONS, Lesson, LessonError

BUILT_IN = explorer.REPO / "assets" / "lessons"
OWN_KEYS = ("lesson", "step", "present")  # URL keys of the lesson runner: never part of a saved view


def server_folder() -> Path:
    """Teachers' lessons on this server."""
    return explorer.home() / "lessons"


def find(name: str) -> Lesson:
    """A built-in lesson, or one of this server's, by name; a LessonError when there is none or it is bad."""
    lessons.check_name(name)
    for folder in (BUILT_IN, server_folder()):
        if name in lessons.names(folder):
            return lessons.read(folder / f"{name}.json")
    raise LessonError(f"there is no lesson {name!r} on this server")


def catalogue() -> list[tuple[str, bool, Lesson | LessonError]]:
    """(name, built in?, the lesson or why it cannot be read) for the built-in lessons, then this server's."""
    found, seen = [], set()
    for folder, built_in in ((BUILT_IN, True), (server_folder(), False)):
        for name in lessons.names(folder):
            if name in seen:
                continue
            seen.add(name)
            try:
                found.append((name, built_in, lessons.read(folder / f"{name}.json")))
            except LessonError as err:
                found.append((name, built_in, err))
    return found


def share_link(name: str, number: int = 1, present: bool = False) -> str:
    """The link that opens step `number` of the server's lesson `name` (on this server's address)."""
    url = urlsplit(st.context.url or "http://localhost:8501/")
    return f"{url.scheme}://{url.netloc}/?lesson={name}&step={number}" + ("&present=1" if present else "")


def current_view(page: str) -> dict[str, str | int | bool]:
    """The view on screen as a step's state: the URL's model, region and view keys, typed as in `state.URL_KEYS`."""
    view = {}
    for key, value in st.query_params.to_dict().items():
        if key in ("model", "sel"):
            view[key] = value
        elif key in state.URL_KEYS and key not in OWN_KEYS:
            try:
                typed = state.URL_KEYS[key](value)
            except ValueError:
                continue
            view[key] = typed if isinstance(typed, (bool, int)) else str(typed)
    return view


def _add_view(page: str) -> None:
    session = st.session_state
    draft: Lesson = session["lesson_draft"]
    step = {"title": session.get("lesson_add_title") or page.replace("_", " ").capitalize(),
            "text": session.get("lesson_add_text") or "(no caption yet)", "page": page, "state": current_view(page)}
    if session.get("lesson_add_expect") in ACTIONS:
        step["expect"] = session["lesson_add_expect"]
    try:
        if len(draft.steps) >= lessons.MAX_STEPS:
            raise LessonError(f"a lesson has at most {lessons.MAX_STEPS} steps")
        draft.steps.append(lessons.parse_step(step, len(draft.steps) + 1))
    except LessonError as err:
        session["_lesson_add_message"] = f"Not added: {err}."
    else:
        session["_lesson_add_message"] = f"Added as step {len(draft.steps)}."
        session["lesson_add_title"] = session["lesson_add_text"] = ""


def view_adder(navigation) -> None:
    """In the sidebar of every page while a lesson is being made: save the view on screen as a step."""
    if "lesson_draft" not in st.session_state or st.session_state.get("present"):
        return
    page = navigation.url_path or "home"
    count = len(st.session_state["lesson_draft"].steps)
    with st.sidebar.expander(f"Lesson being made ({count} step{'' if count == 1 else 's'})", expanded=True):
        st.text_input("Step title", key="lesson_add_title", max_chars=lessons.MAX_TITLE)
        st.text_area("Caption (what to look at)", key="lesson_add_text", max_chars=lessons.MAX_TEXT, height=90)
        st.selectbox("Wait for the student to", ["(nothing)", *ACTIONS], key="lesson_add_expect",
                     format_func=lambda a: ACTIONS.get(a, a))
        st.button("Add this view as a step", key="lesson_add", icon=":material/add_a_photo:", on_click=_add_view,
                  args=(page,), disabled=page == "lessons")
        message = st.session_state.pop("_lesson_add_message", None)
        if message:
            st.caption(message)
