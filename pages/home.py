"""Home: what an ACN is, the chosen model's card, and sharing models (download / upload)."""
import tempfile
from pathlib import Path

import streamlit as st

import explorer
from acn_core.archive import import_zip
from acn_core.evaluate import BOUND_NOTE
from acn_core.storage import BundleError

st.title("ACN Explorer")
left, right = st.columns([3, 2])
left.markdown(
    "An **Associative Compression Network** (Graves, Menick & van den Oord, 2018) is a variational "
    "autoencoder whose prior for each code is conditioned on a *neighbouring* code from the training set. "
    "The prior then only has to explain how an image differs from a similar one, so codes are cheap to "
    "send and stay informative even with powerful decoders. Explore what a model learned: the **Latent "
    "map** shows every training code, a click shows its nearest neighbours and reconstructions; "
    "**Daydreams** follow the prior from code to code; **Train** builds a model of your own.")
right.graphviz_chart("""digraph { rankdir=LR; node [shape=box, style=rounded, fontsize=11];
  x [label="image x"]; c [label="code c = E(x)"]; n [label="neighbour code ĉ\\n(one of K nearest)"];
  p [label="prior p(z | ĉ)"]; r [label="decoder r(x | z)"];
  x -> c; c -> n [label="k-NN"]; n -> p; c -> r [label="z ~ N(c, I)"]; p -> c [label="KL", style=dashed]; }""")

b = explorer.current_bundle()
if b is None:
    st.info("No model yet: train one on the Train page, or pick the bundled model in the sidebar.")
    st.stop()

st.header(f"Model: {b.name}")
cfg, ev = b.config, b.evaluation
st.caption(f"Dataset {b.meta['dataset']['name']} ({b.n_train:,} training images, {ev.get('n_test', 0):,} held out) · "
           f"{cfg.model.encoder} encoder, {cfg.model.decoder} decoder, {cfg.model.prior} prior · "
           f"code size {cfg.model.code_dim} · K = {cfg.train.k} · "
           f"unique neighbours {'on' if cfg.train.unique_neighbours else 'off'} · {cfg.train.epochs} epochs")
cols = st.columns(5)
cols[0].metric("Held-out total", f"{ev['total_nats']:.1f} nats")
cols[1].metric("Reconstruction", f"{ev['recon_nats']:.1f} nats")
cols[2].metric("KL (model's prior)", f"{ev['kl_nats']:.2f} nats")
cols[3].metric("k-NN accuracy, codes", f"{ev['code_knn_accuracy']:.1%}",
               f"{ev['code_knn_accuracy'] - ev['pixel_knn_accuracy']:+.1%} vs pixels")
cols[4].metric("Active dimensions", f"{ev['active_dims']} / {ev['code_dim']}")
st.caption(f"{BOUND_NOTE} KL of the same codes under N(0, I): {ev['kl_standard_nats']:.1f} nats. "
           f"k-NN (k = {ev['knn_k']}) on raw pixels: {ev['pixel_knn_accuracy']:.1%}; on codes sampled from "
           f"q(z|x): {ev['sampled_code_knn_accuracy']:.1%}.")

history = b.metrics.get("history", [])
if history:
    st.plotly_chart(explorer.loss_curves(history, title="Training curves (nats per image)"), width="stretch")

with st.expander("Full configuration"):
    st.json(b.meta["config"], expanded=False)

st.subheader("Share models")
share, upload = st.columns(2)
share.download_button("Download this model (.zip)", data=explorer.bundle_zip(b), file_name=f"{b.name}.zip",
                      mime="application/zip")
uploaded = upload.file_uploader("Add a model: upload a zipped bundle", type=["zip"], key="upload")
if uploaded is not None and st.session_state.get("_uploaded") != uploaded.file_id:
    st.session_state["_uploaded"] = uploaded.file_id
    with tempfile.NamedTemporaryFile(suffix=".zip") as tmp:
        tmp.write(uploaded.getbuffer())
        tmp.flush()
        try:
            path = import_zip(Path(tmp.name), explorer.home() / "models", Path(uploaded.name).stem)
        except BundleError as err:
            upload.error(f"{uploaded.name} was not added: {err}")
        else:
            upload.success(f"Added {path.name}; pick it in the sidebar.")
