"""Prior samples: z ~ p(z | c_hat) for random training codes c_hat, decoded."""
import streamlit as st

from app import explorer, export
from acn_core.model import DECODE_MODES
from acn_core.sampling import display_mode, prior_samples

bundle = explorer.require_bundle()
st.title("Prior samples")
st.caption("An ACN has no unconditional prior: the training codes play that role. Each sample picks a random "
           "training code ĉ, draws z ~ p(z | ĉ) and decodes it. Below each: the label of ĉ.")
c = st.columns([1, 1, 1, 3])
n = c[0].slider("Samples", 4, 64, 24, 4, key="prior_n")
seed = int(c[1].number_input("Seed", 0, 2**31 - 1, 0, key="prior_seed"))
mode = c[2].selectbox("Show", DECODE_MODES, index=DECODE_MODES.index(display_mode(bundle)), key="prior_mode")
# the next seed is set in a callback: after the seed widget is drawn its key can no longer be written
c[3].button("Draw again", icon=":material/casino:",
            on_click=lambda: st.session_state.update(prior_seed=st.session_state["prior_seed"] + 1))

progress = explorer.progress_bar("Sampling ...") if bundle.model.decoder.autoregressive else None
items, images = prior_samples(bundle, n, seed=seed, mode=mode, progress=progress)
labels = [bundle.label_name(int(bundle.labels[i])) for i in items]
captions = [f"from #{i} ({label})" for i, label in zip(items, labels)]
explorer.show_images(images, captions, alts=[f"prior sample {n + 1}: z ~ p(z | ĉ) decoded, with ĉ the code of "
                                             f"training sample {i}, label {label}"
                                             for n, (i, label) in enumerate(zip(items, labels))])
export.strip(images, captions, key="prior_strip", filename=f"{bundle.name}-prior-samples", columns=8)
