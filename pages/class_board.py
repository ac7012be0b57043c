"""Class board (issue 24): the teacher's screen in a served class. Every drawing the students send lands live on
the model's map; the teacher sets the prompt, reads where the drawings landed and where the class is in the
lesson, opens any drawing as a sample, hides one, or ends the class. Only the teacher sees it."""
import streamlit as st

from acn_core.teaching import as_plain_markdown
from app import answers, board, explorer, export, panels, state
from app.board_text import PROMPT_CHARS, landing_sentence

st.title("Class board")
if not explorer.classroom():
    st.info("There is no class board outside classroom mode: serve a class with ACN_TEACHER_PASSPHRASE set "
            "(make serve-class).")
    st.stop()
if not board.is_teacher():
    st.info("Only the teacher sees the class board; your own drawings are on the Your digit page.")
    st.stop()
bundle = explorer.require_bundle()
view = board.teacher_view()


@st.fragment(run_every=1.0)
def follow(drawn: int) -> None:
    """Every second, redraw the page only if the board changed since it was drawn (the map is ~235 KB to send)."""
    if board.version() != drawn:
        st.rerun()


follow(view.version)
if not view.open:
    st.warning("The class is ended: the board is empty and no student can join.")
    if st.button("Open a new class", key="board_open_class", type="primary", icon=":material/meeting_room:"):
        board.open_class()
        st.rerun()
    st.stop()

with st.form("board_prompt_form", border=False):
    row = st.columns([5, 1], vertical_alignment="bottom")
    text = row[0].text_input("Prompt shown on every student's Your digit page", max_chars=PROMPT_CHARS,
                             placeholder="draw a 7", key="board_prompt")
    if row[1].form_submit_button("Show it", icon=":material/campaign:", key="board_prompt_show"):
        board.set_prompt(text)
        st.rerun()
if view.prompt:
    st.markdown(f"**The prompt:** {as_plain_markdown(view.prompt)}")

here = [m for m in view.marks if m.model == bundle.content_hash]
shown, hidden = [m for m in here if not m.hidden], [m for m in here if m.hidden]
st.markdown(f"**{view.students} student{'s' if view.students != 1 else ''} joined · {len(shown)} drawing"
            f"{'s' if len(shown) != 1 else ''} on the map.** " + as_plain_markdown(landing_sentence(shown,
                                                                                                   bundle.class_names)))
if len(view.marks) > len(here):
    st.caption(f"{len(view.marks) - len(here)} drawings were placed on another model's map: pick that model in the "
               f"sidebar to see them.")
if view.students == 0:
    st.caption("Students join from the box in the sidebar (Join the class board), then draw on Your digit and send.")

if st.toggle("Show lesson progress", value=True, key="board_show_progress"):
    if not view.progress:
        st.caption("No student on the board is following a lesson.")
    for i, progress in enumerate(view.progress):
        export.chart(board.progress_figure(progress), key=f"board_progress_{i}", width="stretch",
                     alt=f"Bar chart of lesson progress. {progress.sentence()}")

clicked = board.clicked_mark(st.session_state.get("board_map"))
if clicked is not None:
    st.session_state["board_opened"] = clicked
opened = next((m for m in shown if m.id == st.session_state.get("board_opened")), None)
inspection = answers.inspect_image(bundle, opened.image, state.chosen_k(bundle)) if opened else None
map_col, panel = st.columns([3, 2])
with panel:
    if opened is None:
        st.info("Click a drawing (a white triangle) on the map to see it, its reconstruction and its neighbours.")
    else:
        st.text(f"Drawn by {opened.name}, {board.ago(opened)}")  # st.text: the pseudonym as typed, never markup
        panels.sample_panel(bundle, inspection, f"Drawing #{opened.id} · nearest label "
                                                f"{bundle.label_name(opened.label)}", "board_panel")
        if st.button("Hide this drawing", key="board_hide", icon=":material/visibility_off:"):
            board.hide(opened.id)
            st.rerun()
    if hidden:
        with st.expander(f"Hidden drawings ({len(hidden)})"):
            for mark in hidden:
                if st.button(f"Show drawing #{mark.id} again", key=f"board_unhide_{mark.id}", type="tertiary"):
                    board.hide(mark.id, hidden=False)
                    st.rerun()
with map_col:
    figure, alt = board.marks_figure(bundle, shown, opened, inspection)
    export.chart(figure, key="board_map", on_select="rerun", selection_mode="points", width="stretch", alt=alt)

with st.popover("End the class", icon=":material/logout:"):
    st.warning("Ending the class removes every student's pseudonym, drawing and lesson place, and the prompt; "
               "no student can join until you open a new class.")
    if st.button("End the class now", key="board_end", type="primary"):
        board.end_class()
        st.session_state.pop("board_opened", None)
        st.rerun()
