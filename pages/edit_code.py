"""Edit a code: one slider per code dimension, the decoded picture, the code's place on the map, its
nearest training codes and its cost under the nearest neighbour's prior, live."""
import numpy as np
import streamlit as st

from app import answers, explorer, export, idea_figures, state, subjects
from acn_core import sampling
from acn_core.teaching import latent

bundle = explorer.require_bundle()
st.title("Edit a code")
subject = subjects.picker(bundle, "idea_of", "Start from the code of", "t0")
low, high = latent.code_ranges(bundle)
start = subject.code.astype(np.float32)
owner = (bundle.content_hash, subject.text)
if st.session_state.get("_edit_for") != owner:  # a new start: reset the sliders
    st.session_state["_edit_for"], st.session_state["edit_code"] = owner, start.copy()
linked = st.session_state.get("edit_z")
if linked and st.session_state.get("_edit_z_applied") != linked:  # a link or a lesson carries an edited code
    st.session_state["_edit_z_applied"] = linked
    try:
        code, moved = latent.clamp_code(bundle, [float(v) for v in linked.split(",")])
        st.session_state["edit_code"] = code
        if moved:
            names = ", ".join(f"d{d}" for d in moved)
            st.warning(f"{'Dimensions' if len(moved) > 1 else 'Dimension'} {names} "
                       f"{'were' if len(moved) > 1 else 'was'} outside the range this editor offers (the training "
                       f"codes' range ± {latent.RANGE_MARGIN:g}) and clamped.")
    except ValueError as err:
        st.error(f"The edited code in this link cannot be used ({err}); starting from the sample's code.")
code = st.session_state["edit_code"]

order_by = st.radio("Order the sliders by", ["this code's KL per dimension", "spread of the training codes"],
                    horizontal=True, key="edit_order")
if order_by.startswith("this"):
    order = answers.explanation(bundle, subject, 0).dims_by_kl()
else:
    order = latent.spread_order(bundle)


def moved(dim: int) -> None:
    st.session_state["edit_code"][dim] = st.session_state[f"edit_d{dim}"]
    st.session_state["edit_z"] = ",".join(f"{v:.2f}" for v in st.session_state["edit_code"])
    st.session_state["_edit_z_applied"] = st.session_state["edit_z"]


sliders, shown = st.columns([2, 3])
with sliders:
    columns = st.columns(2)
    for i, dim in enumerate(order):
        st.session_state[f"edit_d{dim}"] = float(code[dim])
        columns[i % 2].slider(f"d{dim}", float(low[dim]), float(high[dim]), step=0.1, key=f"edit_d{dim}",
                              on_change=moved, args=(int(dim),), help=f"the start code has {start[dim]:.2f}")
    buttons = st.columns(2)
    if buttons[0].button("Reset", key="edit_reset", icon=":material/restart_alt:"):
        st.session_state["edit_code"] = start.copy()
        st.session_state.pop("edit_z", None)
        st.rerun()
exclude = () if subject.training_item is None else (subject.training_item,)
view = answers.code_view(bundle, code, exclude)
if buttons[1].button("Daydream from here", key="edit_daydream", icon=":material/auto_awesome:"):
    st.session_state["your_image"] = np.round(view.mean_image * 255).astype(np.uint8)
    st.session_state["dd_start_mode"] = "your image"
    st.switch_page("../pages/daydreams.py")
edited = not np.array_equal(code, start)
state.sync_url(idea_of=subject.text, edit_z=st.session_state.get("edit_z") if edited else None)

with shown:
    pictures = [subject.image / 255.0, view.mean_image] + ([view.sample_image] if view.sample_image is not None else [])
    explorer.show_images(np.stack(pictures), [subject.title, "decoded: mean", "decoded: a sample x ~ r(x|z)"]
                         [:len(pictures)], alts=[f"start image: {subject.title.replace(' · ', ', ')}",
                                                 "the edited code decoded: the decoder's mean image",
                                                 "the edited code decoded: a sample x ~ r(x|z)"][:len(pictures)])
    start_cost = latent.code_costs(bundle, start[None], exclude)
    metrics = st.columns(3)
    metrics[0].metric("Cost to send (KL nats)", f"{view.cost.nats[0]:.2f}",
                      f"{view.cost.nats[0] - start_cost.nats[0]:+.2f}" if edited else None, delta_color="inverse")
    metrics[1].metric("Distance to nearest training code", f"{view.cost.distance[0]:.2f}",
                      f"{view.cost.distance[0] - start_cost.distance[0]:+.2f}" if edited else None,
                      delta_color="inverse")
    metrics[2].metric("Nearest training code", f"#{view.cost.nearest[0]}",
                      bundle.label_name(int(bundle.labels[view.cost.nearest[0]])), delta_color="off")
    st.caption("Cost: the exact KL of N(c, I) under the prior conditioned on the nearest training code"
               + (" other than the start's own" if exclude else "") + ". Far from the data no code is near, and "
               "the cost jumps." + (" Sliders are ordered by this code's KL per dimension, the most expensive first."
                                    if order_by.startswith("this") else " Sliders are ordered by spread, widest first."))
    start_xy = {"t": bundle.map_xy, "h": bundle.test_map_xy}[subject.kind][subject.index] if subject.kind != "d" \
        else sampling.place(bundle, start[None])[0]
    export.chart(idea_figures.edited_map(bundle, view, start_xy, bundle.content_hash), key="edit_map",
                 width="stretch", alt=f"Map of {bundle.n_train:,} training codes coloured by label; a star marks the "
                                      f"edited code, a dotted line joins it to where it started, rings mark its "
                                      f"{len(view.neighbour_ids)} nearest training codes.")
    near = [(i, bundle.label_name(int(bundle.labels[i])), d)
            for i, d in zip(view.neighbour_ids, view.neighbour_distances)]
    explorer.show_images(bundle.images(view.neighbour_ids), [f"#{i} · {lab} · d={d:.2f}" for i, lab, d in near],
                         alts=[f"nearest training code {rank + 1} to the edited code: training sample {i}, "
                               f"label {lab}, distance {d:.2f}" for rank, (i, lab, d) in enumerate(near)])
