"""Compare two models: metrics side by side, twin maps with one shared selection (a click or a region),
the selected sample under both (its code's KL per dimension and three decodes of that one code: a collapsed
code beside a used one), and how much their neighbourhoods agree."""
import numpy as np
import streamlit as st

from app import answers, explorer, export, figures, idea_figures, mapview, panels, state, subjects
from acn_core.teaching import explain

st.title("Compare two models")
models = explorer.available_models()
labels = list(models)
if len(labels) < 2:
    st.info("Only one model is available. Train another on the Train page (e.g. the same settings with the "
            "standard prior), or upload one on Home, then compare them here.")
    st.stop()
# a bundled PixelCNN pair tells the paper's story in pictures: one code, reconstructions that keep the digit
# (ACN) beside ones that drift to other digits (VAE); the MNIST pair where MNIST is here, else the mnist5k one
for key, default in zip(("compare_a", "compare_b"), explorer.paper_pair() or labels[:2]):
    if st.session_state.get(key) not in labels:
        st.session_state[key] = default
pick = st.columns(2)
label_a = pick[0].selectbox("Model A", labels, key="compare_a")
label_b = pick[1].selectbox("Model B", labels, key="compare_b")
a, b = explorer.load_bundle(models[label_a]), explorer.load_bundle(models[label_b])
if a is None or b is None:
    st.stop()

same_samples = a.n_train == b.n_train and np.array_equal(a.source_index, b.source_index)
k = st.slider("Neighbours K", 1, 20, 6, key="compare_k")
overlap = answers.neighbour_overlap(a, b, k) if same_samples else None
st.dataframe(explorer.compare_table(a, b, label_a, label_b, overlap), hide_index=True)
uses = [f"**{side}** ({explorer.about(model)}, {model.config.model.prior} prior): " + explain.code_use(
    model.evaluation.kl_nats, model.evaluation.sampled_code_knn_accuracy, len(model.class_names))
    for side, model in (("A", a), ("B", b))]
st.markdown("\n".join(f"- {line}." for line in uses))
st.caption("The paper's claim, not these models' numbers: with a powerful autoregressive decoder a VAE's KL goes "
           "to zero and its sampled codes classify at chance, while an ACN keeps its code. Neighbour overlap: "
           "Jaccard index of each sample's K-neighbour sets under the two models"
           + (f", for the {len(answers.drawn(a, ())):,} points drawn on the maps." if mapview.is_large(a) else "."))
state.sync_url(compare_a=label_a, compare_b=label_b, k=None)  # the colouring and selection follow below
if not same_samples:
    st.info("These models were trained on different images, so their samples cannot be matched one to one.")
    st.stop()

for key in ("compare_map_a", "compare_map_b"):  # a click or a region in either map selects in both
    clicked, _, new_region = state.map_event(key, mapview.region_finder(a, None) if mapview.is_large(a) else None)
    if clicked is not None:
        state.select_sample(clicked)
    if new_region is not None:
        state.set_region(new_region)
sample = state.selected_sample(a)
region = state.region(a)
colour = st.radio("Colour the maps by", ["label", "neighbour overlap"], horizontal=True, key="compare_colour")
state.sync_url(sample=sample, compare_colour=colour,
               sel=None if region is None else state.encode_ids(region, a.n_train))
views = [answers.inspect(a, sample, k, samples=4), answers.inspect(b, sample, k, samples=4)]
whys = [answers.explanation(model, subjects.resolve(model, f"t{sample}"), 0) for model in (a, b)]
kl_top = max(float(why.kl_per_dim.max()) for why in whys)  # one scale: a collapsed code's bars stay flat
for col, model, label, view, why, key in zip(st.columns(2), (a, b), (label_a, label_b), views, whys,
                                             ("compare_map_a", "compare_map_b")):
    with col:
        st.markdown(f"**{label}**")
        layers = figures.MapLayers(values=overlap if colour == "neighbour overlap" else None, value_name="overlap",
                                   region=region, selected=model.map_xy[sample],
                                   neighbours=model.map_xy[view.neighbour_ids], tool=mapview.drag_tool(key),
                                   **mapview.level_of_detail(model, None, (), region, False))
        export.chart(figures.map_figure(model.map_xy, model.labels, model.class_names, layers, model.content_hash,
                                        {"overlap": overlap}, height=380), key=key, on_select="rerun",
                     selection_mode=("points", "box", "lasso"), width="stretch",
                     alt=f"Model {label}: " + figures.map_alt(model.n_train, layers, colour, f"sample {sample}"))
        st.markdown(f"**Why this code costs what it costs:** reconstruction {why.recon_nats:.2f} + KL "
                    f"{why.kl_estimate:.2f} = {why.total_nats:.2f} nats, the KL under "
                    + (f"the prior conditioned on its nearest other code #{why.neighbour}" if why.conditional
                       else "N(0, I), the same prior for every code"))
        whose = f"sample {sample} under model {label}"
        export.chart(idea_figures.kl_bars(why, height=200, top=kl_top), key=f"{key}_kl", width="stretch",
                     alt=idea_figures.kl_bars_alt(why, whose))
        st.markdown("**One code, three decodes** (z = c each time)")
        explorer.show_images(answers.code_decodes(model, sample), [f"z = c, draw {i}" for i in (1, 2, 3)],
                             alts=[f"decode {i} of the one code z = c of {whose}" for i in (1, 2, 3)])
        panels.sample_panel(model, view, f"Sample #{sample} · label {model.label_name(view.label)}", f"{key}_panel")
st.caption("Bars: what each dimension of this image's code costs (KL, nats), the most expensive first, on one scale "
           "for both models: a collapsed code costs almost nothing in every dimension. The three decodes draw the same "
           "code three times: what they share is what the code holds; a decoder that ignores its code draws other "
           "digits each time.")
st.subheader("Samples whose neighbourhoods differ most")
order = np.lexsort((np.arange(len(overlap)), overlap))
panels.region_panel(a, region if region is not None else order[:100], "compare_region",
                    "Selected region" if region is not None else "Lowest neighbour overlap (first 100)")
