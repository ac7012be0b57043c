"""The lesson runner: a lesson bar on every page while a lesson is active (the step's title, text and task,
Back / Next / Skip, progress), opening each step's view (page, model, sample, region, colouring, ...) through
session state, noticing when the student has done the step's task, and presenter mode for a projector.

Noticing is a diff: when a step's page has drawn once, the runner keeps a fingerprint of the session keys that
the step's task changes (a map event, the daydream's frame count, the canvas, ...); a different fingerprint
later means the student acted. Lesson text is always shown as text (`as_plain_markdown`), never as HTML."""
from __future__ import annotations

import hashlib
import numpy as np
import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException

from app import explorer, figures, lesson_kit, state
from acn_core.teaching import lesson as lessons
from acn_core.teaching import ACTIONS, Lesson, LessonError, as_plain_markdown

PAGES = explorer.REPO / "pages"
MAPS = ("latent_map", "compare_map_a", "compare_map_b")
OWN_KEYS = lesson_kit.OWN_KEYS


def pages() -> set[str]:
    return {p.stem for p in PAGES.glob("*.py")}


# ---- applying a step -------------------------------------------------------------------------------------------

def _apply(step: lessons.Step) -> list[str]:
    """Put the step's view into session state (before its page draws); notes for keys that could not be used."""
    notes, session = [], st.session_state
    state.set_region(None)
    session.pop("held_out_pick", None)
    for key, value in step.state.items():
        if key == "model":
            session["model_label"] = value
        elif key == "sel":
            session["_url_selection"] = str(value)
        elif key in state.URL_KEYS and key not in OWN_KEYS:
            try:
                session[key] = state.URL_KEYS[key](str(value).lower() if isinstance(value, bool) else str(value))
            except ValueError:
                notes.append(f"{key} = {str(value)[:40]!r} cannot be used; ignored.")
        else:
            notes.append(f"this app has no view key {key!r}; ignored.")
    if "dd_start" in step.state:
        session["dd_start_mode"] = "index"
    return notes


def open_step(number: int) -> None:
    """Open step `number` (1-based) of the active lesson: its view, its page, a fresh task. Usable from a
    callback; the page switch happens in `before_page`."""
    session = st.session_state
    active: Lesson = session["_lesson"]
    usable = session["_lesson_usable"]
    if number - 1 not in usable:
        session["_lesson_notes"] = session["_lesson_notes"] + [f"The lesson has no step {number}; it opens at its "
                                                               f"first step."]
        number = usable[0] + 1
    step = active.steps[number - 1]
    session["step"] = number
    session["_lesson_step_notes"] = _apply(step)
    session["_lesson_goto"] = step.page
    session["_lesson_baseline"] = WATCHERS[step.expect](session) if step.expect else None
    session["_lesson_done"] = False
    session.pop("_lesson_drawn", None)


def start(active: Lesson, name: str | None, number: int = 1, present: bool = False) -> None:
    """Make `active` the session's lesson and open step `number`; `name` is its server name (None: an upload)."""
    usable, notes = lessons.usable_steps(active, pages(), set(explorer.available_models()))
    if not usable:
        st.session_state["_lesson_notes"] = notes + ["No step of this lesson can be shown here."]
        return
    st.session_state.update(_lesson=active, lesson=name, _lesson_usable=usable, _lesson_notes=notes, present=present)
    open_step(number)


def stop() -> None:
    for key in ("_lesson", "lesson", "step", "present", "_lesson_goto", "_lesson_baseline", "_lesson_usable",
                "_lesson_drawn", "_lesson_done"):
        st.session_state.pop(key, None)
    for key in OWN_KEYS:
        st.query_params.pop(key, None)


def _move(offset: int) -> None:
    usable = st.session_state["_lesson_usable"]
    here = usable.index(st.session_state["step"] - 1)
    open_step(usable[min(max(here + offset, 0), len(usable) - 1)] + 1)


# ---- noticing the student's action --------------------------------------------------------------------------

def _digest(value) -> str:
    """A short fingerprint of a session value (arrays by their bytes)."""
    raw = value.tobytes() if isinstance(value, np.ndarray) else repr(value).encode()[:200000]
    return hashlib.sha1(raw).hexdigest()


def _selection(event, part: str) -> str:
    """One part of a map event ("points", "box" or "lasso"); an absent or empty event reads as empty."""
    try:
        return _digest(list(event["selection"].get(part) or []))
    except (KeyError, TypeError, AttributeError):
        return _digest([])


def _png(value) -> str | None:
    try:
        png = value["png"]
    except (KeyError, TypeError, IndexError):
        png = getattr(value, "png", None)
    return _digest(png) if png else None


def _prefixed(prefix: str):
    return lambda s: {k: _digest(s[k]) for k in list(s) if isinstance(k, str) and k.startswith(prefix)}


WATCHERS = {  # expect -> {session key: fingerprint}; "absent" and "as the page first draws it" read the same
    "click": lambda s: {"sample": int(s.get("sample", 0)), "held_out_pick": s.get("held_out_pick"),
                        **{m: _selection(s.get(m), "points") for m in MAPS}},
    "region": lambda s: {"map_rank_go": bool(s.get("map_rank_go")),
                         **{f"{m}.{part}": _selection(s.get(m), part) for m in MAPS for part in ("box", "lasso")}},
    "draw": lambda s: {"yd_canvas": _png(s.get("yd_canvas")), "yd_upload": _digest(s.get("yd_upload"))},
    "edit": _prefixed("edit_"),
    "neighbour": _prefixed("why_"),
    "walk": _prefixed("walk_"),
    "colour": lambda s: {"map_colour": s.get("map_colour"), "compare_colour": s.get("compare_colour")},
    "daydream": lambda s: {"daydream": (id(s["daydream"]), len(s["daydream"].get("frames", [])),
                                        bool(s["daydream"].get("playing"))) if isinstance(s.get("daydream"), dict)
                           else None},
}


def _changed(expect: str, before, after) -> bool:
    if expect == "daydream":  # a step taken, or Play pressed, in the chain shown now
        if after is None:
            return False
        frames_before = before[1] if before is not None and before[0] == after[0] else 1
        return after[2] or after[1] > frames_before
    return before != after


def _check_done(current_page: str, adopt_new_keys: bool) -> None:
    """Compare the step's watched keys with their values when the step opened; keys that first appear when
    the page draws (a page's own sliders) take their first value as the baseline."""
    session = st.session_state
    step = session["_lesson"].steps[session["step"] - 1]
    baseline = session.get("_lesson_baseline")
    if step.expect is None or session.get("_lesson_done") or current_page != step.page or baseline is None:
        return
    now = WATCHERS[step.expect](session)
    if any(_changed(step.expect, baseline[k], now[k]) for k in baseline.keys() & now.keys()):
        session["_lesson_done"] = True
    elif adopt_new_keys:
        baseline.update({k: v for k, v in now.items() if k not in baseline})


# ---- the bar --------------------------------------------------------------------------------------------------

def _numbers(step: lessons.Step) -> dict:
    """The model numbers that the step's text asks for: `{a.x}`, `{b.x}` (the Compare pair), `{model.x}`."""
    tokens = lessons.number_tokens(step.text + step.todo)
    if not tokens:
        return {}
    labels = {"a": step.state.get("compare_a"), "b": step.state.get("compare_b"),
              "model": step.state.get("model", st.session_state.get("model_label"))}
    models, numbers = explorer.available_models(), {}
    for token in tokens:
        which, metric = token.split(".", 1)
        if metric not in {key for _, key in explorer.COMPARE_ROWS}:
            continue  # not a number the app knows: the token stays as written
        bundle = explorer.load_bundle(models[labels[which]]) if labels.get(which) in models else None
        numbers[token] = None if bundle is None else getattr(bundle.evaluation, metric)
    return numbers


def _css(step: lessons.Step, present: bool) -> str:
    """Our own static CSS; the only lesson data in it are widget keys, checked against KEY_PATTERN."""
    rules = [f".st-key-{key} {{ outline: 3px solid #ffd400; outline-offset: 4px; border-radius: 6px; "
             f"animation: acn-lesson-pulse 1.6s ease-in-out infinite; }}" for key in step.highlight]
    rules.append("@keyframes acn-lesson-pulse { 50% { outline-color: rgba(255, 212, 0, 0.25); } }")
    if present:
        rules += [f".st-key-{key} {{ display: none !important; }}" for key in step.hide]
        rules.append('[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stHeader"],'
                     ' [data-testid="stExpandSidebarButton"] { display: none !important; }'
                     ' html { font-size: 21px; } .stMainBlockContainer { max-width: 100%; padding: 1.2rem 2rem; }'
                     ' .stMainBlockContainer h1 { display: none; }'
                     f' [data-testid="stImage"] [style*="width: {figures.IMAGE_PX}px"]'
                     f' {{ width: {round(figures.IMAGE_PX * 1.4)}px !important; }}'
                     ' .st-key-lesson_bar p { font-size: 1.1rem; }')
    return "<style>" + "\n".join(rules) + "</style>"


def _bar(current_page: str) -> None:
    session = st.session_state
    active: Lesson = session["_lesson"]
    number, usable, present = session["step"], session["_lesson_usable"], bool(session.get("present"))
    step = active.steps[number - 1]
    position = usable.index(number - 1)
    st.markdown(_css(step, present), unsafe_allow_html=True)  # static CSS of ours (see _css)
    numbers = _numbers(step)
    pending = step.expect is not None and not session.get("_lesson_done") and not present
    last = position == len(usable) - 1
    with st.container(border=True, key="lesson_bar"):
        head, controls = st.columns([3, 2], vertical_alignment="center")
        head.caption(as_plain_markdown(f"{active.title} · step {position + 1} of {len(usable)}"))
        head.subheader(as_plain_markdown(step.title), anchor=False)
        buttons = controls.columns(3)
        buttons[0].button("Back", key="lesson_back", icon=":material/arrow_back:", disabled=position == 0,
                          on_click=_move, args=(-1,), shortcut="Left" if present else None, width="stretch")
        buttons[1].button("Next", key="lesson_next", icon=":material/arrow_forward:", type="primary",
                          disabled=pending or last, on_click=_move, args=(1,), shortcut="Right" if present else None,
                          width="stretch")
        if pending and not last:
            buttons[2].button("Skip", key="lesson_skip", on_click=_move, args=(1,), width="stretch")
        st.progress((position + 1) / len(usable))
        st.markdown(as_plain_markdown(lessons.fill_numbers(step.text, numbers)))
        if step.todo:
            st.markdown("**Your turn:** " + as_plain_markdown(lessons.fill_numbers(step.todo, numbers)))
        if step.expect is not None and session.get("_lesson_done"):
            st.success("Done. Go on to the next step when you are ready.", icon=":material/check_circle:")
        elif pending:
            st.caption(f"Next opens when you {ACTIONS[step.expect]}; or skip this step.")
        if current_page != step.page:
            st.button("Back to this step's view", key="lesson_reopen", icon=":material/undo:", on_click=open_step,
                      args=(number,))
        for note in session.get("_lesson_notes", []) + session.get("_lesson_step_notes", []):
            st.warning(note)
        options = st.columns([1.5, 1, 3])
        session["lesson_present_toggle"] = present
        options[0].toggle("Presenter mode", key="lesson_present_toggle", help="Hide the sidebar and the controls this "
                          "step does not need, enlarge text and pictures; the arrow keys move between steps.",
                          on_change=lambda: session.update(present=session["lesson_present_toggle"]))
        options[1].button("End lesson", key="lesson_end", icon=":material/close:", on_click=stop, type="tertiary")
    session["_lesson_notes"] = []


def _open_link() -> None:
    """A lesson link (`?lesson=NAME&step=N&present=1`), read on the session's first run by `state.init_from_url`."""
    session = st.session_state
    name = session.pop("lesson", None)
    number, raw_step = session.pop("step", 1), st.query_params.get("step")
    try:
        active = lesson_kit.find(str(name))
    except LessonError as err:
        st.warning(f"This lesson link cannot be opened: {err}.")
        for key in OWN_KEYS:
            st.query_params.pop(key, None)
        return
    start(active, name, 1, present=bool(session.get("present")))
    if "_lesson" not in session:
        return
    if raw_step is not None and (str(raw_step) != str(number) or not 0 < number <= len(active.steps)
                                 or number - 1 not in session["_lesson_usable"]):
        session["_lesson_notes"].append(f"This lesson has no step {str(raw_step)[:20]!r} that can be shown here; "
                                        "it opens at its first step.")
    elif number - 1 in session["_lesson_usable"]:
        open_step(number)


def before_page(navigation) -> None:
    """Call before the page runs: opens a lesson link, moves to the step's page, and draws the lesson bar."""
    session = st.session_state
    current = navigation.url_path or "home"
    lesson_kit.view_adder(navigation)
    if "lesson" in session and "_lesson" not in session and not session.get("_lesson_link_read"):
        session["_lesson_link_read"] = True
        _open_link()
    session["_lesson_link_read"] = True
    if "_lesson" not in session:
        return
    goto = session.pop("_lesson_goto", None)
    if goto is not None and goto != current:
        st.switch_page(f"../pages/{goto}.py")
    _check_done(current, adopt_new_keys=session.get("_lesson_drawn") != session["step"])
    _bar(current)
    if session.get("lesson"):
        st.query_params.update(lesson=session["lesson"], step=str(session["step"]))
        if session.get("present"):
            st.query_params["present"] = "1"
        else:
            st.query_params.pop("present", None)


def after_page(navigation) -> None:
    """Call after the page ran: notice the student's action, and adopt the keys the page's first drawing
    created. When the page stopped early or a rerun is pending, session state is closed; nothing to do then."""
    try:
        session = st.session_state
        if "_lesson" not in session or "step" not in session:
            return
        current = navigation.url_path or "home"
        _check_done(current, adopt_new_keys=True)
        if current == session["_lesson"].steps[session["step"] - 1].page:
            session["_lesson_drawn"] = session["step"]
    except ScriptControlException:
        return
