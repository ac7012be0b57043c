"""Lessons: start the built-in tour or a teacher's lesson, make one from views saved as steps, reorder and
delete steps, download and upload a lesson as one small JSON file, keep lessons on the server and share
them as links. In classroom mode only the teacher saves or deletes lessons on the server."""
import streamlit as st

from app import explorer, lesson, lesson_kit
from acn_core.teaching import lesson as lessons
from acn_core.teaching import Lesson, LessonError, as_plain_markdown

UPLOAD_MB = lessons.MAX_FILE_BYTES // 1_000_000  # the uploader's own limit, in whole MB of 1,000,000 bytes


def save_draft() -> None:
    """Save the lesson being made under the name typed (a callback: the list above shows it at once)."""
    session, name = st.session_state, st.session_state.get("lessons_name", "")
    try:
        if name in lessons.names(lesson_kit.BUILT_IN):
            raise LessonError(f"{name!r} is the name of a built-in lesson; choose another")
        draft = lesson_kit.check_steps(lessons.parse(session["lesson_draft"].to_bytes()))
        lessons.save(lesson_kit.server_folder(), name, draft)
    except (LessonError, OSError) as err:
        session["_lessons_saved"] = (False, f"Not saved: {err}.")
    else:
        session["_lessons_saved"] = (True, name)


def delete(name: str) -> None:
    try:
        lessons.delete(lesson_kit.server_folder(), name)
    except (LessonError, OSError) as err:
        st.session_state["_lessons_deleted"] = f"Not deleted: {err}."


st.title("Lessons")
manage = explorer.may_manage()
st.caption("A lesson walks through the app's real views step by step: each step opens a page with a chosen "
           "model, sample, region or pair, says what to look at, and waits for the student to act.")
if "_lessons_deleted" in st.session_state:
    st.error(st.session_state.pop("_lessons_deleted"))

for name, built_in, item in lesson_kit.catalogue():
    with st.container(border=True):
        if isinstance(item, LessonError):
            st.warning(f"Lesson {name!r} cannot be read: {item}")
            continue
        st.markdown(f"**{as_plain_markdown(item.title)}** · {len(item.steps)} steps"
                    f"{' · built in' if built_in else ''}  \n{as_plain_markdown(item.description)}")
        row = st.columns([1, 1, 1, 1, 2])
        row[0].button("Start", key=f"lessons_start_{name}", icon=":material/play_arrow:", type="primary",
                      on_click=lesson.start, args=(item, name))
        row[1].button("Present", key=f"lessons_present_{name}", icon=":material/slideshow:",
                      on_click=lesson.start, args=(item, name), kwargs={"present": True})
        row[2].download_button("Download", item.to_bytes(), f"{name}.json", "application/json",
                               key=f"lessons_download_{name}", icon=":material/download:")
        if not built_in:
            row[3].button("Delete", key=f"lessons_delete_{name}", icon=":material/delete:", disabled=not manage,
                          on_click=delete, args=(name,), help=None if manage else "Teacher only (classroom mode)")
        st.caption("Link to this lesson (presenter mode: add &present=1):")
        st.code(lesson_kit.share_link(name), language=None)

st.header("Make a lesson")
uploaded = st.file_uploader(f"Upload a lesson file (.json, at most {UPLOAD_MB} MB)", type=["json"],
                            key="lessons_upload", max_upload_size=UPLOAD_MB)
if uploaded is not None and st.session_state.get("_lessons_uploaded") != uploaded.file_id:
    st.session_state["_lessons_uploaded"] = uploaded.file_id
    try:
        if uploaded.size > lessons.MAX_FILE_BYTES:  # judged by its size, before it is read
            raise LessonError(lessons.too_big("the file", uploaded.size))
        st.session_state["lesson_draft"] = lesson_kit.check_steps(lessons.parse(uploaded.getvalue()))
        st.success(f"Opened {uploaded.name}: you can start it, change it, or save it on the server.")
    except LessonError as err:
        st.error(f"{uploaded.name} is not a lesson this app can use: {err}.")
if "lesson_draft" not in st.session_state:
    st.info("Start a new lesson (or upload one), then open any page, set up the view you want and press "
            "'Add this view as a step' in the sidebar: every view is already in the URL, so a step is the view.")
    if st.button("New lesson", key="lessons_new", icon=":material/add:", type="primary"):
        st.session_state["lesson_draft"] = Lesson(title="My lesson", steps=[])
        st.rerun()
    st.stop()

draft: Lesson = st.session_state["lesson_draft"]
draft.title = st.text_input("Title", draft.title, max_chars=lessons.MAX_TITLE, key="lessons_title") or draft.title
draft.description = st.text_area("Description (optional)", draft.description, max_chars=lessons.MAX_TEXT,
                                 key="lessons_description", height=70)


def move(index: int, offset: int) -> None:
    steps = draft.steps
    steps.insert(min(max(index + offset, 0), len(steps)), steps.pop(index))


for index, step in enumerate(draft.steps):
    row = st.columns([6, 0.6, 0.6, 0.6])
    details = [f"page {step.page}"] + ([f"waits for: {lessons.ACTIONS[step.expect]}"] if step.expect else []) + \
        ([f"outlines: {', '.join(step.highlight)}"] if step.highlight else [])
    row[0].markdown(f"**{index + 1}. {as_plain_markdown(step.title)}** · {as_plain_markdown(' · '.join(details))}  \n"
                    f"{as_plain_markdown(step.text)}"
                    + (f"  \n*Your turn:* {as_plain_markdown(step.todo)}" if step.todo else ""))
    row[1].button("", key=f"lessons_up_{index}", icon=":material/arrow_upward:", on_click=move, args=(index, -1),
                  disabled=index == 0, help="Move up")
    row[2].button("", key=f"lessons_down_{index}", icon=":material/arrow_downward:", on_click=move,
                  args=(index, 1), disabled=index == len(draft.steps) - 1, help="Move down")
    row[3].button("", key=f"lessons_delete_step_{index}", icon=":material/delete:", on_click=draft.steps.pop,
                  args=(index,), help="Delete this step")
if not draft.steps:
    st.info("No steps yet: open a page, set up the view, and press 'Add this view as a step' in the sidebar.")
    st.stop()

actions = st.columns([1, 1, 2, 1])
actions[0].button("Try it", key="lessons_try", icon=":material/play_arrow:", on_click=lesson.start,
                  args=(draft, None))
actions[1].download_button("Download", draft.to_bytes(), "lesson.json", "application/json", key="lessons_download",
                           icon=":material/download:")
actions[2].text_input("Name on the server", key="lessons_name", placeholder="e.g. week-3-acn",
                      label_visibility="collapsed")
actions[3].button("Save on server", key="lessons_save", icon=":material/save:", disabled=not manage,
                  on_click=save_draft,
                  help=None if manage else "Teacher only (classroom mode): enter the passphrase in the sidebar")
saved, said = st.session_state.pop("_lessons_saved", (None, ""))
if saved:
    st.success(f"Saved as {said!r} (listed above). Share it with this link:")
    st.code(lesson_kit.share_link(said), language=None)
elif saved is False:
    st.error(said)
