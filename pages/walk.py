"""Walk between two: the straight line (or great circle) between two codes, decoded frame by frame, drawn
on the map with each frame's cost, beside a daydream chain from the same start."""
import numpy as np
import streamlit as st

from app import answers, explorer, export, idea_figures, state, subjects
from acn_core.teaching import MAX_WALK_FRAMES
from acn_core.teaching import lesson as lessons

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
last = len(path.codes) - 1
per_frame = list(enumerate(zip(labels, path.cost.nats)))
explorer.show_images(path.images, [("A · " if i == 0 else "B · " if i == last else f"{i} · ")
                                   + f"near {lab} · {c:.1f}" for i, (lab, c) in per_frame],
                     alts=[f"walk frame {i} of {last} from {a.title} to {b.title}: nearest training label {lab}, "
                           f"code cost {c:.1f} nats" for i, (lab, c) in per_frame])
st.caption("Each frame: the decoded code, the label of its nearest training code and its code cost (the KL, in nats) "
           "under the prior conditioned on that code" + (" (A's and B's own codes left out)" if a.kind == "t" or
                                                         b.kind == "t" else "") + ".")
dream_images, dream_xy = answers.daydream(bundle, a, last) if contrast and last else (None, None)
said = lessons.walk_numbers(path.cost.nats)
left, right = st.columns([3, 2])
with left:
    export.chart(idea_figures.walk_map(bundle, path, dream_xy, bundle.content_hash), key="walk_map",
                 width="stretch", alt=f"The map of the training codes with the walk's {len(path.codes)} frames drawn "
                                      f"as a path from A ({a.title}) to B ({b.title})"
                                      + (", and a daydream from A beside it" if dream_xy is not None else ""))
with right:
    export.chart(idea_figures.walk_costs(path), key="walk_costs", width="stretch",
                 alt=f"Line chart of each frame's code cost in nats and its distance to the nearest training code, "
                     f"frame 0 (A, {said['a_nats']:.1f} nats) to frame {last} (B, {said['b_nats']:.1f} nats)"
                     + (f"; in between it {said['trend']}, {said['frame_nats']:.1f} nats at frame {said['frame']}"
                        if said["trend"] else ""))
    bump = int(np.argmax(path.cost.nats))
    st.caption(f"The most expensive frame is {bump} ({path.cost.nats[bump]:.1f} nats, "
               f"{path.cost.distance[bump]:.1f} from the nearest training code); A costs {said['a_nats']:.1f} and B "
               f"{said['b_nats']:.1f}."
               + (f" In between, the cost {said['trend']}: frame {said['frame']} costs {said['frame_nats']:.1f} nats."
                  if said["trend"] else ""))
    if dream_images is not None:
        st.markdown("**A daydream from A, as many steps**")
        explorer.show_images(dream_images, [f"step {i}" for i in range(len(dream_images))],
                             alts=[f"daydream from A ({a.title}), step {i}" for i in range(len(dream_images))])
