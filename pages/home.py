"""Home: what an ACN is, the chosen model's card, and sharing models (download / upload)."""
import tempfile
from pathlib import Path

import streamlit as st

from app import answers, explorer, export, figures, panels
from acn_core.bundle import import_zip
from acn_core.bundle import BOUND_NOTE
from acn_core.jobs import JobError
from acn_core.names import NameUnavailable
from acn_core.storage import BundleError

st.title("ACN Explorer")
left, right = st.columns([3, 2])
left.markdown(
    "An **Associative Compression Network** (Graves, Menick & van den Oord, 2018) is a variational "
    "autoencoder whose prior for each code is conditioned on a *neighbouring* code from the training set. "
    "The prior then only has to explain how an image differs from a similar one, so codes are cheap to "
    "send and stay informative even with powerful decoders. Explore what a model learned: the **Latent "
    "map** shows every training code, a click shows its nearest neighbours and reconstructions, a lasso "
    "shows a whole region; **Daydreams** follow the prior from code to code; **Your digit** places a digit "
    "you draw; **Train** builds a model of your own and shows its map forming.")
left.markdown("New here? The built-in tour starts at **Lessons → Start**, or follow the link "
              "[?lesson=tour&step=1](/?lesson=tour&step=1).")
# its own white ground and near-black text: readable at 4.5:1 on either theme (no one grey is, on both)
right.graphviz_chart("""digraph { rankdir=LR; bgcolor="white"; pad=0.15; node [shape=box, style=rounded, fontsize=11,
  color="#555555", fontcolor="#141312"]; edge [color="#555555", fontcolor="#141312"];
  x [label="image x"]; c [label="code c = E(x)"]; n [label="neighbour code ĉ\\n(one of K nearest)"];
  p [label="prior p(z | ĉ)"]; r [label="decoder r(x | z)"];
  x -> c; c -> n [label="k-NN"]; n -> p; c -> r [label="z ~ N(c, I)"]; p -> c [label="KL", style=dashed]; }""",
                    alt="Diagram: an image x is encoded to a code c; a k-NN search gives a neighbour code ĉ, one "
                        "of the K nearest; ĉ sets the prior p(z | ĉ), and the KL compares c with it; the decoder "
                        "r(x | z) draws the image from z ~ N(c, I).")

bundle = explorer.current_bundle()
if bundle is None:
    st.info("No model yet: train one on the Train page, or pick the bundled model in the sidebar.")
    st.stop()

st.header(f"Model: {bundle.name}")
cfg, ev = bundle.config, bundle.evaluation
st.caption(f"Dataset {bundle.dataset.name} ({bundle.n_train:,} training images, {ev.n_test:,} held out) · "
           f"{cfg.model.encoder} encoder ({cfg.model.encoder_input} input), {cfg.model.decoder} decoder, "
           f"{cfg.model.prior} prior · code size {cfg.model.code_dim} · K = {cfg.train.k} · unique neighbours "
           f"{'on' if cfg.train.unique_neighbours else 'off'} · {cfg.train.epochs} epochs")
cols = st.columns(5)
cols[0].metric("Held-out total", f"{ev.total_nats:.1f} nats")
cols[1].metric("Reconstruction", f"{ev.recon_nats:.1f} nats")
cols[2].metric("KL (model's prior)", f"{ev.kl_nats:.2f} nats")
cols[3].metric("k-NN accuracy, codes", f"{ev.code_knn_accuracy:.1%}",
               f"{ev.code_knn_accuracy - ev.pixel_knn_accuracy:+.1%} vs pixels")
cols[4].metric("Active dimensions", f"{ev.active_dims} / {ev.code_dim}")
pca = (f"; on 16 / 32 principal components of the pixels: {ev.pca16_knn_accuracy:.1%} / {ev.pca32_knn_accuracy:.1%}"
       if ev.pca16_knn_accuracy is not None else "")
st.caption(f"{BOUND_NOTE} KL of the same codes under N(0, I): {ev.kl_standard_nats:.1f} nats. k-NN (k = {ev.knn_k}) "
           f"on raw pixels: {ev.pixel_knn_accuracy:.1%}{pca}; on codes sampled from q(z|x): "
           f"{ev.sampled_code_knn_accuracy:.1%}.")
if ev.recon_label_agreement is not None:
    best = max(ev.daydreams, key=lambda d: d.on_data_fraction, default=None)
    st.caption(f"What the pictures show (a pixel classifier trained on this model's training images): "
               f"{ev.recon_label_agreement:.1%} of held-out reconstructions keep their label"
               + (f"; daydream frames it is sure of: {best.on_data_fraction:.1%} ({best.mode} frames; real "
                  f"images: {ev.data_on_data_fraction:.1%}), {best.classes_visited:.1f} classes per chain" if best else ""))

if bundle.history:
    export.chart(figures.loss_curves([h.epoch for h in bundle.history], [h.recon for h in bundle.history],
                                     [h.kl for h in bundle.history], title="Training curves (nats per image)"),
                 key="home_curves", filename=f"{bundle.name}-training-curves", width="stretch",
                 alt=f"Training curves of {bundle.name}: reconstruction (left axis) and KL (right axis) in nats per "
                     f"image over {len(bundle.history)} epochs.")
if len(bundle.snapshot_epochs):
    with st.expander("Replay how this map formed during training", icon=":material/movie:"):
        panels.replay(bundle, "home_replay")

with st.expander("Full configuration"):
    st.json(cfg.to_dict(), expanded=False)

st.subheader("Share models")
share, upload = st.columns(2)
share.download_button("Download this model (.zip)", data=answers.bundle_zip(bundle), file_name=f"{bundle.name}.zip",
                      mime="application/zip")
uploaded = upload.file_uploader("Add a model: upload a zipped bundle", type=["zip"], key="upload")
if uploaded is not None and st.session_state.get("_uploaded") != uploaded.file_id:
    st.session_state["_uploaded"] = uploaded.file_id
    with tempfile.NamedTemporaryFile(suffix=".zip") as tmp:
        tmp.write(uploaded.getbuffer())
        tmp.flush()
        try:
            path = import_zip(Path(tmp.name), explorer.home(), Path(uploaded.name).stem,
                              max_models=explorer.env_int("ACN_MAX_MODELS", 50, 1, 10_000))
        except (BundleError, JobError, NameUnavailable, OSError) as err:
            upload.error(f"{uploaded.name} was not added: {err}")
        else:
            upload.success(f"Added {path.name}; pick it in the sidebar.")
