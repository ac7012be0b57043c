"""Compare two models: metrics side by side, twin maps with one shared selection, the selected sample's
reconstructions and neighbours under both."""
import numpy as np
import streamlit as st

import explorer

st.title("Compare two models")
models = explorer.available_models()
labels = list(models)
if len(labels) < 2:
    st.info("Only one model is available. Train another on the Train page (e.g. the same settings with the "
            "standard prior), or upload one on Home, then compare them here.")
    st.stop()
pick = st.columns(2)
# the bundled PixelCNN pair tells the paper's story: a VAE that ignores its code beside an ACN that keeps it
story = ["paper-check/pixelcnn-standard (bundled)", "paper-check/pixelcnn-acn (bundled)"]
first, second = (labels.index(s) for s in story) if all(s in labels for s in story) else (0, 1)
label_a = pick[0].selectbox("Model A", labels, index=first, key="compare_a")
label_b = pick[1].selectbox("Model B", labels, index=second, key="compare_b")
a, b = explorer.load_bundle(models[label_a]), explorer.load_bundle(models[label_b])
if a is None or b is None:
    st.stop()

rows = [("held-out total (nats)", "total_nats"), ("reconstruction (nats)", "recon_nats"),
        ("KL under own prior (nats)", "kl_nats"), ("KL under N(0, I) (nats)", "kl_standard_nats"),
        ("k-NN accuracy, codes", "code_knn_accuracy"), ("k-NN accuracy, sampled codes", "sampled_code_knn_accuracy"),
        ("k-NN accuracy, raw pixels", "pixel_knn_accuracy"), ("active dimensions", "active_dims")]


def column(model) -> list[str]:
    values = [model.evaluation[key] for _, key in rows]
    return [str(v) if isinstance(v, int) else f"{v:.3f}" for v in values] + [
        f"{model.config.model.decoder} / {model.config.model.prior}"]


st.dataframe({"metric": [name for name, _ in rows] + ["decoder / prior"], f"A: {label_a}": column(a),
              f"B: {label_b}": column(b)}, hide_index=True)
st.caption("KL of a collapsed code goes to zero and its sampled codes classify at chance (0.1): that is what "
           "a VAE with a PixelCNN decoder does, and what an ACN avoids.")

same_samples = (a.n_train == b.n_train and
                np.array_equal(a.arrays["train_source_index"].numpy(), b.arrays["train_source_index"].numpy()))
if not same_samples:
    st.info("These models were trained on different images, so their samples cannot be matched one to one.")
    st.stop()

for key in ("compare_map_a", "compare_map_b"):  # a click in either map selects in both
    clicked = explorer.map_pick(st.session_state.get(key))
    if clicked is not None and clicked != st.session_state.get(f"_{key}_last"):
        st.session_state[f"_{key}_last"] = clicked
        explorer.select_sample(clicked)
sample = explorer.selected_sample(a)
k = st.slider("Neighbours K", 1, 20, 6, key="compare_k")
views = [explorer.inspect(a, sample, k, samples=4), explorer.inspect(b, sample, k, samples=4)]
st.subheader(f"Sample #{sample} · label {a.label_name(views[0].label)}")
for col, model, label, view, key in zip(st.columns(2), (a, b), (label_a, label_b), views,
                                        ("compare_map_a", "compare_map_b")):
    with col:
        st.markdown(f"**{label}**")
        st.plotly_chart(explorer.map_figure(model, "label", sample, view.neighbour_ids, height=380), key=key,
                        on_select="rerun", selection_mode=("points",), width="stretch")
        explorer.show_images(np.concatenate([view.image[None], view.reconstruction[None], view.samples]),
                             ["image", "z = c"] + [f"z ~ q #{i + 1}" for i in range(len(view.samples))])
        st.caption("What stays fixed across the stochastic reconstructions is what the code holds.")
        explorer.show_images(view.neighbour_images, [f"#{i} · d={d:.1f}" for i, d in
                                                     zip(view.neighbour_ids, view.neighbour_distances)])
