"""The lesson runner: a compact lesson bar on every page while a lesson is active (the step's title, text and
task, Back / Next / Skip), opening each step's view, noticing when the student has done the step's task, and
presenter mode for a projector.

It knows pages only through their declarations in `state.PAGES`: a step's view is opened with
`state.open_view`, and "done" is a change, since the step opened, of a key its page declares for the step's
action (`state.watch`). The bar stays at the top of the window (sticky) and brings the control the step
outlines into view below it. Lesson text is always shown as text (`as_plain_markdown`), never as HTML."""
from __future__ import annotations

import streamlit as st

from app import board, explorer, figures, lesson_kit, state
from acn_core.teaching import lesson as lessons
from acn_core.teaching import ACTIONS, Lesson, LessonError, as_plain_markdown

PAGES = explorer.REPO / "pages"
OWN_KEYS = lesson_kit.OWN_KEYS
HEADER_REM = 3.75  # the height of Streamlit's header, over the top of the page outside presenter mode


def pages() -> set[str]:
    return {p.stem for p in PAGES.glob("*.py")}


# ---- opening a step ------------------------------------------------------------------------------------------

def nearest(usable: list[int], number: int) -> int:
    """The 1-based number of the usable step nearest to step `number` (the later one on a tie)."""
    return min(usable, key=lambda n: (abs(n + 1 - number), -n)) + 1


def open_step(number: int) -> None:
    """Open step `number` (1-based) of the active lesson: its view, its page, a fresh task. Usable from a
    callback; the page switch happens in `before_page`."""
    session = st.session_state
    active: Lesson = session["_lesson"]
    usable = session["_lesson_usable"]
    if number - 1 not in usable:
        opened = nearest(usable, number)
        note = f"Step {number} of this lesson cannot be shown here; it opens at step {opened}, the nearest."
        session["_lesson_notes"] = [*session["_lesson_notes"], note]
        number = opened
    step = active.steps[number - 1]
    session["step"] = number
    view, swapped = lesson_kit.view_here(step)
    session["_lesson_step_notes"] = state.open_view(step.page, view)
    session["_lesson_toasts"] = swapped  # said over the page, not in the bar: the step's subject stays in view
    session["_lesson_goto"] = step.page
    session["_lesson_done"] = False
    session["_lesson_baseline"] = state.watch(step.page, step.expect) if step.expect else None


def start(active: Lesson, name: str | None, number: int = 1, present: bool = False) -> None:
    """Make `active` the session's lesson and open step `number`; `name` is its server name (None: an upload)."""
    usable, notes = lessons.usable_steps(active, pages(), explorer.showable_models())
    if not usable:
        st.session_state["_lesson_notes"] = notes + ["No step of this lesson can be shown here."]
        return
    st.session_state.update(_lesson=active, lesson=name, _lesson_usable=usable, _lesson_notes=notes, present=present)
    open_step(number)


def stop() -> None:
    for key in ("_lesson", "lesson", "step", "present", "_lesson_goto", "_lesson_baseline", "_lesson_usable",
                "_lesson_done"):
        st.session_state.pop(key, None)
    for key in OWN_KEYS:
        st.query_params.pop(key, None)


def _move(offset: int) -> None:
    usable = st.session_state["_lesson_usable"]
    here = usable.index(st.session_state["step"] - 1)
    open_step(usable[min(max(here + offset, 0), len(usable) - 1)] + 1)


# ---- noticing the student's action --------------------------------------------------------------------------

def _waits(step: lessons.Step) -> bool:
    """Whether the step waits for an action its page can produce (and the presenter is not driving)."""
    return step.expect in state.actions(step.page) and not st.session_state.get("present")


def _check_done(current_page: str) -> None:
    """Done: a key the step's page declares for the step's action changed since the step opened. Checked before
    the page draws: every declared action reaches session state before the run (a widget, a callback, a map
    event), so the bar drawn next already says it."""
    session = st.session_state
    step = session["_lesson"].steps[session["step"] - 1]
    if _waits(step) and not session.get("_lesson_done") and current_page == step.page:
        session["_lesson_done"] = state.watch(step.page, step.expect) != session.get("_lesson_baseline")


# ---- the bar --------------------------------------------------------------------------------------------------

_focus = st.components.v2.component(
    "acn_lesson_focus",
    html="<span></span>",
    js="""
export default function({ data }) {
  // once per step: from the top of the page, bring the outlined controls into view below the lesson bar, again
  // while the page is still drawing, until the student scrolls or clicks
  if (window.__acnLessonFocus === data.id) return;
  window.__acnLessonFocus = data.id;
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main) return;
  main.scrollTop = 0;
  let moved = false;
  for (const kind of ["wheel", "touchstart", "mousedown"]) {
    main.addEventListener(kind, () => { moved = true; }, {once: true, passive: true});
  }
  const until = performance.now() + 8000;
  const place = () => {
    if (moved || window.__acnLessonFocus !== data.id || performance.now() > until) return;
    const bar = document.querySelector(".st-key-lesson_bar");
    const shown = data.keys.map(k => document.querySelector(".st-key-" + k)).filter(t => t && t.offsetHeight > 0);
    if (bar && shown.length) {
      const top = Math.min(...shown.map(t => t.getBoundingClientRect().top));
      const bottom = Math.max(...shown.map(t => t.getBoundingClientRect().bottom));
      const room = bar.getBoundingClientRect().bottom + 8, end = main.getBoundingClientRect().bottom - 8;
      const by = top < room ? top - room : bottom > end ? Math.min(bottom - end, top - room) : 0;
      if (Math.abs(by) > 2) main.scrollTop += by;
    }
    setTimeout(place, 150);
  };
  place();
}
""",
)


def _css(step: lessons.Step, present: bool) -> str:
    """Our own static CSS; the only lesson data in it are widget keys, checked against KEY_PATTERN."""
    rules = [f".st-key-{key} {{ outline: 3px solid #ffd400; outline-offset: 4px; border-radius: 6px; "
             f"animation: acn-lesson-pulse 1.6s ease-in-out infinite; }}" for key in step.highlight]
    rules.append("@keyframes acn-lesson-pulse { 50% { outline-color: rgba(255, 212, 0, 0.25); } }")
    # the bar sticks to the top of the window, painted with the app's background (inherited down to it), and
    # covers the strip under Streamlit's see-through header outside presenter mode
    header = 0 if present else HEADER_REM
    rules.append('[data-testid="stAppViewContainer"], [data-testid="stAppViewContainer"] > :has(> [data-testid='
                 '"stMain"]), [data-testid="stMain"], [data-testid="stMainBlockContainer"],'
                 ' [data-testid="stMainBlockContainer"] > [data-testid="stVerticalBlock"]'
                 ' { background-color: inherit; }'
                 ' [data-testid="stLayoutWrapper"]:has(> .st-key-lesson_bar) { position: sticky; z-index: 99; top: 0;'
                 f' background-color: inherit; padding-top: {header}rem; margin-top: -{header}rem; }}'
                 ' .st-key-lesson_bar { padding: 0.3rem 0.8rem 0.4rem; gap: 0.2rem; }'
                 ' .st-key-lesson_bar h3 { font-size: 1.15rem; padding: 0; }'
                 ' .st-key-lesson_bar button { min-height: 2rem; padding: 0.1rem 0.6rem; }'
                 ' [data-testid="stLayoutWrapper"]:has(> .st-key-lesson_head) { display: none; }')
    if present:
        rules += [f".st-key-{key} {{ display: none !important; }}" for key in step.hide]
        rules.append('[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stHeader"],'
                     ' [data-testid="stExpandSidebarButton"] { display: none !important; }'
                     ' html { font-size: 19px; } .stMainBlockContainer { max-width: 100%; padding: 0.6rem 2rem; }'
                     ' .stMainBlockContainer h1 { display: none; }'
                     f' [data-testid="stImage"] [style*="width: {figures.IMAGE_PX}px"]'
                     f' {{ width: {round(figures.IMAGE_PX * 1.4)}px !important; }}'
                     ' .st-key-lesson_bar p { font-size: 0.95rem; line-height: 1.45; }')
    return "<style>" + "\n".join(rules) + "</style>"


def _controls(row, position: int, count: int, pending: bool, present: bool) -> None:
    """Where the lesson stands, Back / Next / Skip, the text's hide / show, and the lesson's options."""
    session = st.session_state
    last = position == count - 1
    row.caption(f"step {position + 1} of {count}", width="content")
    row.button("Back", key="lesson_back", icon=":material/arrow_back:", disabled=position == 0, on_click=_move,
               args=(-1,), shortcut="Left" if present else None)
    row.button("Next", key="lesson_next", icon=":material/arrow_forward:", type="primary", disabled=pending or last,
               on_click=_move, args=(1,), shortcut="Right" if present else None)
    if pending and not last:
        row.button("Skip", key="lesson_skip", on_click=_move, args=(1,))
    hidden = bool(session.get("lesson_text_hidden"))
    row.button("Show text" if hidden else "Hide text", key="lesson_text", type="tertiary",
               icon=":material/expand_more:" if hidden else ":material/expand_less:",
               on_click=lambda: session.update(lesson_text_hidden=not hidden))
    with row.popover("More", icon=":material/more_vert:"):
        st.caption(as_plain_markdown(session["_lesson"].title))
        session["lesson_present_toggle"] = present
        st.toggle("Presenter mode", key="lesson_present_toggle", help="Hide the sidebar and the controls this step "
                  "does not need, enlarge text and pictures; the arrow keys move between steps.",
                  on_change=lambda: session.update(present=session["lesson_present_toggle"]))
        st.button("End lesson", key="lesson_end", icon=":material/close:", on_click=stop, type="tertiary")


def _bar(current_page: str) -> None:
    session = st.session_state
    number, usable, present = session["step"], session["_lesson_usable"], bool(session.get("present"))
    step = session["_lesson"].steps[number - 1]
    with st.container(key="lesson_head"):  # hidden: our CSS and the scrolling, taking no room
        st.markdown(_css(step, present), unsafe_allow_html=True)  # static CSS of ours (see _css)
        _focus(key="lesson_focus", data={"id": f"{session.get('lesson')}/{number}/{present}",
                                         "keys": list(step.highlight)})
    numbers = lesson_kit.numbers(step)
    pending = _waits(step) and not session.get("_lesson_done")
    with st.container(border=True, key="lesson_bar"):
        row = st.container(horizontal=True, vertical_alignment="center")
        row.subheader(as_plain_markdown(step.title), anchor=False)
        _controls(row, usable.index(number - 1), len(usable), pending, present)
        if not session.get("lesson_text_hidden"):
            lines = [as_plain_markdown(lessons.fill_numbers(step.text, numbers))]
            if step.todo:
                lines.append("**Your turn:** " + as_plain_markdown(lessons.fill_numbers(step.todo, numbers)))
            if pending:
                lines.append(f"*Next opens when you {ACTIONS[step.expect]}; or skip this step.*")
            st.markdown("  \n".join(lines))
        if _waits(step) and session.get("_lesson_done"):
            st.success("Done. Go on to the next step when you are ready.", icon=":material/check_circle:")
        if current_page != step.page:
            st.button("Back to this step's view", key="lesson_reopen", icon=":material/undo:", on_click=open_step,
                      args=(number,))
        for note in session.get("_lesson_notes", []) + session.get("_lesson_step_notes", []):
            st.warning(note)
    for note in session.pop("_lesson_toasts", []):
        st.toast(note, icon=":material/swap_horiz:", duration="long")
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
    if raw_step is not None and str(raw_step) != str(number):  # not a whole number: the first step, and a note
        session["_lesson_notes"].append(f"This lesson has no step {str(raw_step)[:20]!r}; it opens at its first "
                                        "step.")
    elif number != 1:
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
        board.report_lesson_step("", 0, 0, False)
        return
    goto = session.pop("_lesson_goto", None)
    if goto is not None and goto != current:
        st.switch_page(f"../pages/{goto}.py")
    _check_done(current)
    board.report_lesson_step(session["_lesson"].title, session["step"], len(session["_lesson"].steps),
                             bool(session.get("_lesson_done")))
    _bar(current)
    if session.get("lesson"):
        st.query_params.update(lesson=session["lesson"], step=str(session["step"]))
        if session.get("present"):
            st.query_params["present"] = "1"
        else:
            st.query_params.pop("present", None)
