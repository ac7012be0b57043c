"""Daydreams: encode, sample the prior conditioned on the code itself, decode, repeat (the paper's chain)."""
import numpy as np
import streamlit as st

from app import explorer, export, figures, state
from acn_core.data import to_gif_bytes
from acn_core.model import DECODE_MODES
from acn_core.sampling import DEFAULT_DAYDREAM_MODE, MAX_DAYDREAM_STEPS, daydream

bundle = explorer.require_bundle()
st.title("Daydreams")
st.caption("From a real image: c = E(x), z ~ p(z | c), x' from r(x | z), and again. Each step is one frame; "
           "the chain wanders through neighbouring styles and classes.")

c = st.columns([2, 1, 1, 1])
yours = st.session_state.get("your_image")
fits = yours is not None and tuple(yours.shape) == tuple(bundle.dataset.shape)  # drawn for this model's image size
sources = ["selected sample", "index", "random sample"] + (["your image"] if fits else [])
if st.session_state.get("dd_start_mode") not in sources:
    st.session_state["dd_start_mode"] = "index" if "dd_start" in st.session_state else "selected sample"
start_mode = c[0].radio("Start from", sources, horizontal=True, key="dd_start_mode")
seed = int(c[1].number_input("Seed", 0, 2**31 - 1, key="dd_seed"))
if st.session_state.get("dd_mode") not in DECODE_MODES:  # unset, or a bad link: the default (no index= beside key=)
    st.session_state["dd_mode"] = DEFAULT_DAYDREAM_MODE
mode = c[2].selectbox("Frames show", DECODE_MODES, key="dd_mode",
                      help="What each frame shows and the chain continues from: the decoder's mean image, a sample "
                           "x' ~ r(x|z) (the paper's chain) or the mean rounded to black and white.")
speed = c[3].slider("Steps per second", 0.5, 10.0, 2.0, 0.5, key="dd_speed")
if start_mode == "random sample":
    start = int(np.random.default_rng(seed).integers(bundle.n_train))
elif start_mode == "index":
    st.session_state["dd_start"] = min(max(int(st.session_state.get("dd_start", 0)), 0), bundle.n_train - 1)
    start = int(c[0].number_input(f"Start index (0-{bundle.n_train - 1})", 0, bundle.n_train - 1, key="dd_start"))
elif start_mode == "your image":
    start = yours
else:
    start = state.selected_sample(bundle)
state.sync_url(dd_start=start if np.ndim(start) == 0 else None, dd_seed=seed, dd_mode=mode)

chain_key = (bundle.content_hash, start if np.ndim(start) == 0 else start.tobytes(), seed, mode)
dream = st.session_state.get("daydream")
if dream is None or dream["key"] != chain_key:
    image = start if np.ndim(start) == 0 else start.astype(np.float32) / 255.0
    dream = st.session_state["daydream"] = {"key": chain_key, "frames": [], "playing": False,
                                            "chain": daydream(bundle, image, MAX_DAYDREAM_STEPS, seed=seed, mode=mode)}
    dream["frames"].append(next(dream["chain"]))


def advance() -> None:
    if len(dream["frames"]) > MAX_DAYDREAM_STEPS:
        dream["playing"] = False
        return
    dream["frames"].append(next(dream["chain"]))


def toggle_play() -> None:
    dream["playing"] = not dream["playing"]


def reset() -> None:
    del st.session_state["daydream"]


# callbacks run before the page is drawn again, so the Play/Pause label always shows the current state
buttons = st.columns([1, 1, 1, 4])
buttons[0].button("Step", key="dd_step", icon=":material/skip_next:", on_click=advance)
buttons[1].button("Pause" if dream["playing"] else "Play", key="dd_play", on_click=toggle_play,
                  icon=":material/pause:" if dream["playing"] else ":material/play_arrow:")
buttons[2].button("Reset", key="dd_reset", icon=":material/restart_alt:", on_click=reset)
origin = f"sample #{start} (label {bundle.label_name(int(bundle.labels[start]))})" if np.ndim(start) == 0 else "your image"
buttons[3].caption(f"Start: {origin}. Chains stop after {MAX_DAYDREAM_STEPS} steps.")


@st.fragment(run_every=1.0 / speed if dream["playing"] else None)
def player() -> None:
    if dream["playing"]:
        advance()
        if not dream["playing"]:  # the chain hit its bound: redraw the page to stop the timer
            st.rerun()
    frames = dream["frames"]
    latest = frames[-1]
    big, side = st.columns([1, 3])
    latest_label = bundle.label_name(latest.nearest_label)
    big.image(figures.picture(latest.image[None]), width=220,
              caption=f"step {latest.step} · nearest label {latest_label}",
              alt=f"daydream frame at step {latest.step}, from {origin}; its nearest training code has label "
                  f"{latest_label}")
    with side:
        recent = frames[-16:]
        explorer.show_images(np.stack([f.image for f in recent]),
                             [f"{f.step}: {bundle.label_name(f.nearest_label)}" for f in recent],
                             alts=[f"daydream frame at step {f.step}, nearest training label "
                                   f"{bundle.label_name(f.nearest_label)}" for f in recent])
        st.caption(f"{len(frames) - 1} steps so far · moved {latest.moved:.2f} in code space at the last step · "
                   f"nearest training code #{latest.nearest_item}")
        images = np.stack([f.image for f in frames])
        exports = st.columns(2)
        exports[0].download_button("Chain as GIF", to_gif_bytes(images), "daydream.gif", "image/gif", key="dd_gif",
                                   icon=":material/download:")
        export.strip(images, [f"{f.step}: {bundle.label_name(f.nearest_label)}" for f in frames], key="dd_strip",
                     filename="daydream", label="Chain as PNG strip", columns=16, container=exports[1])
    layers = figures.MapLayers(path=np.stack([f.map_xy for f in frames]))
    export.chart(figures.map_figure(bundle.map_xy, bundle.labels, bundle.class_names, layers, bundle.content_hash,
                                    height=460), key="dd_map", width="stretch",
                 alt=figures.map_alt(bundle.n_train, layers))
    st.dataframe({"step": [f.step for f in frames], "moved in code space": [round(f.moved, 3) for f in frames],
                  "nearest label": [bundle.label_name(f.nearest_label) for f in frames],
                  "nearest sample": [f.nearest_item for f in frames]}, height=200, hide_index=True)


player()
