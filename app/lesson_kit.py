"""The teacher's kit for lessons: where lessons live (built in, on this server), finding and listing them,
share links, the numbers a step's text names (from the view it opens), the check that every step can complete,
and saving the view on screen as a step of the lesson being made (the sidebar's "Add this view": its title,
text, "Your turn", what to wait for and the control to outline)."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import streamlit as st

from app import answers, explorer, state, subjects
from acn_core.teaching import lesson as lessons
from acn_core.teaching import ACTIONS, Lesson, LessonError

BUILT_IN = explorer.REPO / "assets" / "lessons"
OWN_KEYS = tuple(key.name for key in state.LINK)  # URL keys of the lesson runner: never part of a saved view
NOTHING = "(nothing)"


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


def view_here(step: lessons.Step) -> tuple[dict[str, str | int | bool], list[str]]:
    """The view `step` opens on this machine: each model it names (`lessons.MODEL_KEYS`) that needs a dataset this
    machine lacks is replaced by its stand-in (`explorer.stand_in`), with a note saying so."""
    view, notes = dict(step.state), []
    for key in lessons.MODEL_KEYS:
        if isinstance(view.get(key), str):
            view[key], note = explorer.stand_in(view[key])
            notes += [note] if note and note not in notes else []
    return view, notes


def _view_numbers(view: dict, which: str, bundle) -> dict:
    """The numbers of the view a step opens (`view_here`): its sample, its "why this code is cheap", its walk."""
    if which == "sample":
        item = int(view.get("sample", 0))
        return {"index": item, "label": bundle.label_name(int(bundle.labels[item])),
                "code_cost": None if bundle.code_cost is None else float(bundle.code_cost[item])}
    if which == "why":
        subject = subjects.resolve(bundle, str(view.get("idea_of", f"t{view.get('sample', 0)}")))
        why = answers.explanation(bundle, subject, int(view.get("why_pick", 0)))
        return {"recon_nats": why.recon_nats, "kl_nats": why.kl_estimate, "total_nats": why.total_nats,
                "kl_exact": why.kl_exact, "kl_standard": float(why.kl_per_dim_standard.sum())}
    ends = [subjects.resolve(bundle, str(view.get(key, ""))) for key in ("walk_a", "walk_b")]
    path = answers.walk(bundle, *ends, int(view.get("walk_n", 10)), bool(view.get("walk_sph", False)))
    labels = {f"{end}_label": bundle.label_name(int((bundle.labels if subject.kind == "t" else bundle.test_labels)
                                                    [subject.index]))
              for end, subject in zip("ab", ends) if subject.kind != "d"}
    return {**lessons.walk_numbers(path.cost.nats), **labels}


def numbers(step: lessons.Step) -> dict:
    """What the step's text names: `{a.x}`, `{b.x}` (the Compare pair), `{model.x}` (a model's held-out numbers,
    `chance` and `about`), and `{sample.x}`, `{why.x}`, `{walk.x}` (the view the step opens, on its model)."""
    tokens = lessons.number_tokens(step.text + step.todo)
    models, filled, found = explorer.available_models(), {}, {}
    view = view_here(step)[0]
    labels = {"a": view.get("compare_a"), "b": view.get("compare_b")}
    for token in sorted(tokens):
        which, name = token.split(".", 1)
        label = labels.get(which) or view.get("model", st.session_state.get("model_label"))
        bundle = explorer.load_bundle(models[label]) if label in models else None
        if bundle is None:
            filled[token] = None
        elif which in ("sample", "why", "walk"):
            if which not in found:
                try:
                    found[which] = _view_numbers(view, which, bundle)
                except (ValueError, IndexError):  # a view that names no sample this model has
                    found[which] = {}
            filled[token] = found[which].get(name)
        elif name == "chance":
            filled[token] = 1 / len(bundle.class_names)
        elif name == "about":
            filled[token] = explorer.about(bundle)
        elif name in {key for _, key in explorer.COMPARE_ROWS}:
            filled[token] = getattr(bundle.evaluation, name)
    return filled


def check_steps(lesson: Lesson) -> Lesson:
    """`lesson`, or a LessonError naming the first step that could never complete: it waits for an action its
    page cannot produce (`state.actions`)."""
    for number, step in enumerate(lesson.steps, 1):
        if step.expect is not None and step.expect not in state.actions(step.page):
            possible = " or ".join(ACTIONS[a] for a in state.actions(step.page)) or "nothing"
            raise LessonError(f"step {number} ({step.title[:60]}) waits for the student to {ACTIONS[step.expect]}, "
                              f"which the page {step.page!r} cannot produce; there a step can wait for: {possible}")
    return lesson


def current_view() -> dict[str, str | int | bool]:
    """The view on screen as a step's state: the URL's view keys (`state.view_keys`), typed."""
    view, keys = {}, state.view_keys()
    for name, value in st.query_params.to_dict().items():
        if name in keys:
            try:
                typed = keys[name].kind(value)
            except ValueError:
                continue
            view[name] = typed if isinstance(typed, (bool, int)) else str(typed)
    return view


def _add_view(page: str) -> None:
    session = st.session_state
    draft: Lesson = session["lesson_draft"]
    step = {"title": session.get("lesson_add_title") or page.replace("_", " ").capitalize(),
            "text": session.get("lesson_add_text") or "(no caption yet)", "page": page, "state": current_view(),
            "todo": session.get("lesson_add_todo") or None}
    if session.get("lesson_add_expect") in state.actions(page):
        step["expect"] = session["lesson_add_expect"]
    if session.get("lesson_add_outline") in state.PAGES.get(page, state.PageState()).controls:
        step["highlight"] = [session["lesson_add_outline"]]
    try:
        if len(draft.steps) >= lessons.MAX_STEPS:
            raise LessonError(f"a lesson has at most {lessons.MAX_STEPS} steps")
        draft.steps.append(lessons.parse_step(step, len(draft.steps) + 1))
    except LessonError as err:
        session["_lesson_add_message"] = f"Not added: {err}."
    else:
        session["_lesson_add_message"] = f"Added as step {len(draft.steps)}."
        session.update(lesson_add_title="", lesson_add_text="", lesson_add_todo="", lesson_add_expect=NOTHING,
                       lesson_add_outline=NOTHING)  # a new step starts blank: nothing carried over


def _choice(key: str, options: list[str]) -> None:
    """Keep a choice of the builder among `options` (another page offers others)."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = NOTHING


def view_adder(navigation) -> None:
    """In the sidebar of every page while a lesson is being made: save the view on screen as a step."""
    if "lesson_draft" not in st.session_state or st.session_state.get("present"):
        return
    page = navigation.url_path or "home"
    count = len(st.session_state["lesson_draft"].steps)
    waits, controls = state.actions(page), state.PAGES.get(page, state.PageState()).controls
    _choice("lesson_add_expect", [NOTHING, *waits])
    _choice("lesson_add_outline", [NOTHING, *controls])
    with st.sidebar.expander(f"Lesson being made ({count} step{'' if count == 1 else 's'})", expanded=True):
        st.text_input("Step title", key="lesson_add_title", max_chars=lessons.MAX_TITLE)
        st.text_area("Caption (what to look at)", key="lesson_add_text", max_chars=lessons.MAX_TEXT, height=90)
        st.text_input("Your turn (what the student does)", key="lesson_add_todo", max_chars=lessons.MAX_TEXT)
        st.selectbox("Wait for the student to", [NOTHING, *waits], key="lesson_add_expect",
                     format_func=lambda a: ACTIONS.get(a, a), help="Next opens once the student has done it. Only "
                     "what this page can produce is offered.")
        st.selectbox("Outline", [NOTHING, *controls], key="lesson_add_outline",
                     format_func=lambda c: controls.get(c, c),
                     help="The control the bar points to (and scrolls into view)")
        st.button("Add this view as a step", key="lesson_add", icon=":material/add_a_photo:", on_click=_add_view,
                  args=(page,), disabled=page == "lessons")
        message = st.session_state.pop("_lesson_add_message", None)
        if message:
            st.caption(message)
