"""Walk between two: the straight line (or great circle) between two codes, decoded frame by frame, drawn
on the map with each frame's cost, beside a daydream chain from the same start."""
import numpy as np
import streamlit as st

from app import answers, explorer, export, idea_figures, state, subjects
from acn_core.teaching import MAX_WALK_FRAMES

bundle = explorer.require_bundle()
st.title("Walk between two")
st.caption("Decode the codes on the way from A to B. Between two digits the walk may leave the data: no training "
           "code is near, and sending the code costs more. A daydream moves by the prior instead, from code to "
           "nearby code.")
sample = state.selected_sample(bundle)
other = int(np.flatnonzero(bundle.labels != bundle.labels[sample])[0]) if len(np.unique(bundle.labels)) > 1 else 0
pickers = st.columns(2)
a = subjects.picker(bundle, "walk_a", "A", f"t{sample}", pickers[0])
b = subjects.picker(bundle, "walk_b", "B", f"t{other}", pickers[1])
use = st.columns([1, 1, 1, 1, 2])
if use[0].button("A ← selected sample", key="walk_use_a"):
    st.session_state["walk_a"] = f"t{sample}"
    st.rerun()
if use[1].button("B ← selected sample", key="walk_use_b"):
    st.session_state["walk_b"] = f"t{sample}"
    st.rerun()
st.session_state["walk_n"] = min(max(int(st.session_state.get("walk_n", 10)), 2), MAX_WALK_FRAMES)
frames = use[2].number_input("Frames", 2, MAX_WALK_FRAMES, key="walk_n")
spherical = use[3].toggle("Spherical", key="walk_sph", help="Turn about the mean training code instead of "
                                                           "a straight line (codes are not centred on 0)")
fast = not bundle.model.decoder.autoregressive
contrast = use[4].toggle("Daydream from A beside it", value=fast, key="walk_dream",
                         help="The PixelCNN draws each daydream frame pixel by pixel: slow")
state.sync_url(walk_a=a.text, walk_b=b.text, walk_n=frames, walk_sph=1 if spherical else None)

path = answers.walk(bundle, a, b, frames, spherical)
if len(path.codes) == 1:
    st.info("A and B have the same code: the walk is one frame. Choose another B.")
labels = [bundle.label_name(int(lab)) for lab in path.nearest_labels]
explorer.show_images(path.images, [("A · " if i == 0 else "B · " if i == len(labels) - 1 else f"{i} · ")
                                   + f"near {lab} · {c:.1f}" for i, (lab, c) in enumerate(zip(labels,
                                                                                             path.cost.nats))])
st.caption("Each frame: the decoded code, the label of its nearest training code and its cost in KL nats under that "
           "code's prior" + (" (A's and B's own codes left out)" if a.kind == "t" or b.kind == "t" else "") + ".")
dream_images, dream_xy = answers.daydream(bundle, a, len(path.codes) - 1) if contrast and len(path.codes) > 1 \
    else (None, None)
left, right = st.columns([3, 2])
with left:
    export.chart(idea_figures.walk_map(bundle, path, dream_xy, bundle.content_hash), key="walk_map",
                 width="stretch")
with right:
    export.chart(idea_figures.walk_costs(path), key="walk_costs", width="stretch")
    bump = int(np.argmax(path.cost.nats))
    st.caption(f"The most expensive frame is {bump} ({path.cost.nats[bump]:.1f} nats, "
               f"{path.cost.distance[bump]:.1f} from the nearest training code); A costs {path.cost.nats[0]:.1f} "
               f"and B {path.cost.nats[-1]:.1f}.")
    if dream_images is not None:
        st.markdown("**A daydream from A, as many steps**")
        explorer.show_images(dream_images, [f"step {i}" for i in range(len(dream_images))])
