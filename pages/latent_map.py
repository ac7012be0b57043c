"""Latent map: the UMAP of the training codes. Click a point (or type an index) to inspect it; draw a box
or a lasso to see a region; rank the samples; show where the held-out images land. On a server's first run the
map is drawn from a glance at the bundle before PyTorch is imported, and the panel follows (`mapview.draws_first`)."""
import numpy as np
import streamlit as st

from app import answers, explorer, figures, mapview, panels, state

bundle = explorer.map_source()  # the loaded bundle; on a server's first run, a glance at it
st.title("Latent map")

controls = st.columns([2, 2, 2, 1.2])
colourings = [c for c, attr in figures.COLOURINGS.items() if attr is None or getattr(bundle, attr) is not None]
colour_by = controls[0].selectbox("Colour by", colourings, key="map_colour")
shown_labels = controls[1].multiselect("Show labels (all if empty)", bundle.class_names, key="map_labels")
k = state.k_slider(bundle, controls[2])
layer_row = st.columns([1.2, 1.6, 0.8, 2.4])
show_held_out = layer_row[0].toggle("Held-out images", key="map_held_out",
                                    help="Held-out codes, placed on the map from their nearest training codes")
show_vs_code = layer_row[1].toggle("Map vs code neighbours", key="map_vs_code",
                                   help="Mark the selected point's K nearest in code space and its K nearest on the map")
show_atlas = layer_row[2].toggle("Atlas", key="map_atlas", help="Lay decoded images over the map on a grid: each "
                                 "cell shows the decode of the mean code of its training points")
atlas_level = layer_row[3].radio("Atlas detail", mapview.atlas_levels(), index=1, horizontal=True,
                                 key="map_atlas_level", label_visibility="collapsed") if show_atlas else None

shown = tuple(sorted(bundle.class_names.index(name) for name in shown_labels))
visible = np.isin(bundle.labels, shown) if shown else None
large = mapview.is_large(bundle)  # a density picture of every point under a sample of drawn points
clicked, held_out_click, new_region = state.map_event("latent_map", mapview.region_finder(bundle, visible) if large
                                                      else None)
if clicked is not None:
    state.select_sample(clicked)
if held_out_click is not None:
    st.session_state["held_out_pick"] = held_out_click
if new_region is not None:
    state.set_region(new_region)
sample = state.selected_sample(bundle)
st.session_state["sample_input"] = sample
controls[3].number_input(f"Sample (0-{bundle.n_train - 1})", 0, bundle.n_train - 1, key="sample_input", step=1,
                         on_change=lambda: state.select_sample(st.session_state["sample_input"]))
region = state.region(bundle)
held_out = st.session_state.get("held_out_pick") if show_held_out else None
held_out = held_out if held_out is not None and 0 <= held_out < len(bundle.test_labels) else None
title = (f"Held-out #{held_out} · label {bundle.label_name(int(bundle.test_labels[held_out]))}" if held_out is not None
         else f"Sample #{sample} · label {bundle.label_name(int(bundle.labels[sample]))}")
state.sync_url(sample=sample, k=k, map_colour=colour_by, map_held_out=1 if show_held_out else None,
               map_vs_code=1 if show_vs_code else None, map_atlas=1 if show_atlas else None,
               sel=None if region is None else state.encode_ids(region, bundle.n_train))

first = mapview.draws_first(bundle, held_out, show_held_out, show_vs_code, show_atlas)
if not first:
    bundle = explorer.loaded(bundle)
attribute = figures.COLOURINGS[colour_by]
layer = {"values": None if attribute is None else getattr(bundle, attribute), "value_name": colour_by,
         "visible": visible, "region": region, "tool": mapview.drag_tool("latent_map"),
         **mapview.level_of_detail(bundle, attribute, shown, region, show_held_out)}
map_col, panel = st.columns([3, 2])
# the panel's first slot, on every run: a first run loads the bundle there (its spinner), so the panel's tabs keep
# their place from the first run to the next
loading = panel.container()
if first:  # the map now, from the glance; PyTorch and the bundle for the panel after it
    selected, neighbours = mapview.glance_marks(bundle, sample, k)
    with map_col:
        mapview.show_map(bundle, figures.MapLayers(**layer, selected=selected, neighbours=neighbours), colour_by,
                         title, show_held_out)
    with loading:
        bundle = explorer.loaded(bundle)
view = answers.inspect(bundle, sample, k) if held_out is None else answers.inspect_held_out(bundle, held_out, k)
vs_code = answers.map_vs_code(bundle, k, sample, held_out) if show_vs_code else None
neighbours, neighbours_name, map_nearest = mapview.neighbour_positions(bundle, view, vs_code)
atlas_image, atlas_cells, atlas_decoding = answers.atlas_layer(bundle, atlas_level) if show_atlas else (None, 0, "")
with panel:
    sample_tab, region_tab, ranking_tab = mapview.panel_tabs((sample, held_out))
    with sample_tab:
        panels.sample_panel(bundle, view, title, "map_panel")
    with ranking_tab:
        ranking = st.selectbox("Rank the training images by", mapview.rankings(bundle), key="map_ranking")
        count = st.slider("How many", 10, min(1000, bundle.n_train), min(100, bundle.n_train), 10, key="map_rank_n")
        if st.button("Show them as the region", key="map_rank_go", icon=":material/sort:"):
            state.set_region(mapview.ranked(bundle, ranking, count))
            st.rerun()
        st.caption("Code cost: hardest to code from a neighbour. Low neighbour agreement: likely mislabelled or "
                   "ambiguous digits. Reconstruction cost: what the model finds hardest to draw.")
    with region_tab:
        if region is None:
            st.info("No region yet: draw a box or a lasso on the map, or use Rankings.")
        else:
            panels.region_panel(bundle, region, "map_region")
            if st.button("Clear the selection", key="map_clear", icon=":material/deselect:"):
                state.set_region(None)
                st.rerun()
if not first:
    with map_col:  # filled after the panel: a click's panel reaches the browser before the redrawn map
        mapview.show_map(bundle, figures.MapLayers(**layer, selected=view.map_xy, neighbours=neighbours,
                                                   neighbours_name=neighbours_name, map_nearest=map_nearest,
                                                   atlas=atlas_image), colour_by, title, show_held_out)
        if vs_code is not None:
            st.markdown(mapview.vs_code_caption(vs_code))
        if show_atlas:
            st.caption(mapview.atlas_caption(atlas_level, atlas_cells, atlas_decoding))
