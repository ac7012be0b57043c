"""Your digit: draw a digit (or upload an image), see where it lands on the map, its neighbours and
reconstructions, and daydream from it."""
import streamlit as st

from app import answers, board, canvas, explorer, export, figures, panels, state
from acn_core.data import IMAGE_SUFFIXES, ImageError, user_image

bundle = explorer.require_bundle()
st.title("Your digit")
board.show_prompt()
channels, height, width = bundle.dataset.shape
left, right = st.columns([1, 2])
with left:
    source = st.radio("Image", ["draw", "upload"], horizontal=True, key="yd_source")
    if source == "draw":
        raw = canvas.draw("yd_canvas")
    else:
        uploaded = st.file_uploader("An image file", type=[s.lstrip(".") for s in IMAGE_SUFFIXES], key="yd_upload")
        raw = uploaded.getvalue() if uploaded is not None else None
    centre = st.toggle("Centre and scale like MNIST", value=channels == 1, key="yd_centre", disabled=channels != 1,
                       help="Crop to the ink, scale it to 20 of 28 pixels and centre it by its mass, as MNIST did")
    k = state.k_slider(bundle, st)
    board.my_marks(bundle)
if raw is None:
    right.info("Draw a digit on the canvas (light on dark, like MNIST), or upload an image file. It is converted "
               f"like folder data to {height}x{width} {'grey' if channels == 1 else 'RGB'} and placed on the map.")
    st.stop()
try:
    image = user_image(raw, channels, height, centre)
except ImageError as err:
    right.error(f"This image cannot be used: {err}")
    st.stop()

view = answers.inspect_image(bundle, image, k)
with left:
    st.image(figures.thumbnail(image / 255.0), caption=f"what the model sees ({height}x{width})", width=140,
             alt=f"your digit as the model sees it: {height}x{width} {'grey' if channels == 1 else 'colour'} pixels")
    if source == "draw":  # drawings only: an uploaded photo never goes to the teacher's screen
        board.send_button(bundle, image, view)
    if st.button("Daydream from here", key="yd_daydream", icon=":material/auto_awesome:", type="primary"):
        st.session_state["your_image"] = image
        st.session_state["dd_start_mode"] = "your image"
        st.switch_page("../pages/daydreams.py")
with right:
    layers = figures.MapLayers(yours=view.map_xy, neighbours=bundle.map_xy[view.neighbour_ids])
    export.chart(figures.map_figure(bundle.map_xy, bundle.labels, bundle.class_names, layers, bundle.content_hash,
                                    height=420), key="yd_map", width="stretch",
                 alt=figures.map_alt(bundle.n_train, layers))
    nearest = bundle.label_name(int(view.neighbour_labels[0]))
    panels.sample_panel(bundle, view, f"Your image · nearest label {nearest}", "yd_panel")
