"""Latent map: the UMAP of the training codes; click a point (or type an index) to inspect it."""
import numpy as np
import streamlit as st

import explorer

b = explorer.require_bundle()
st.title("Latent map")

controls = st.columns([2, 1, 1])
colour_by = controls[0].radio("Colour by", ["label", "code cost (nats)", "neighbour-label agreement"],
                              horizontal=True, key="map_colour")
upper = max(1, min(explorer.MAX_K, b.n_train - 1))
k = explorer.chosen_k(b)
controls[1].slider("Neighbours K", 1, upper, value=k, key="k_slider",
                   on_change=lambda: st.session_state.update(k=st.session_state["k_slider"]))
k = st.session_state["k"] = st.session_state["k_slider"]

# A click on the map selects its point; the typed index selects too. Only a *new* click overrides.
pick = explorer.map_pick(st.session_state.get("latent_map"))
if pick is not None and pick != st.session_state.get("_last_pick"):
    st.session_state["_last_pick"] = pick
    explorer.select_sample(pick)
sample = explorer.selected_sample(b)
st.session_state["sample_input"] = sample
controls[2].number_input(f"Sample index (0-{b.n_train - 1})", 0, b.n_train - 1, key="sample_input", step=1,
                         on_change=lambda: explorer.select_sample(st.session_state["sample_input"]))
explorer.sync_url(sample=sample, k=k)

view = explorer.inspect(b, sample, k)
map_col, panel = st.columns([3, 2])
with map_col:
    st.plotly_chart(explorer.map_figure(b, colour_by, sample, view.neighbour_ids), key="latent_map",
                    on_select="rerun", selection_mode=("points",), width="stretch")
    st.caption(f"{b.n_train:,} training codes, {b.meta['map_method'].upper()} projection. Click a point to "
               f"inspect it; click legend entries to hide labels. Code cost: KL of the code under the prior "
               f"conditioned on its nearest other code.")
with panel:
    st.subheader(f"Sample #{sample} · label {b.label_name(view.label)}")
    st.caption(f"Code cost {view.code_cost:.2f} nats")
    explorer.show_images(np.concatenate([view.image[None], view.reconstruction[None], view.samples]),
                         ["image", "mean recon."] + [f"z ~ q(z|x) #{i + 1}" for i in range(len(view.samples))])
    st.markdown(f"**{k} nearest neighbours in code space**")
    explorer.show_images(view.neighbour_images,
                         [f"#{i} · {b.label_name(int(lab))} · d={d:.2f}"
                          for i, lab, d in zip(view.neighbour_ids, view.neighbour_labels, view.neighbour_distances)])
    if view.neighbour_reconstructions is not None:
        st.markdown("**Their reconstructions**")
        explorer.show_images(view.neighbour_reconstructions, [f"#{i}" for i in view.neighbour_ids])
    agree = (view.neighbour_labels == view.label).mean()
    st.caption(f"{agree:.0%} of the neighbours share the label. Distances are Euclidean in code space.")
