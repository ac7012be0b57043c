"""Daydreams: encode, sample the prior conditioned on the code itself, decode, repeat (the paper's chain)."""
import numpy as np
import streamlit as st

import explorer
from acn_core.bundle import MAX_DAYDREAM_STEPS

b = explorer.require_bundle()
st.title("Daydreams")
st.caption("From a real image: c = E(x), z ~ p(z | c), x' ~ r(x | z), and again. Each step is one frame; "
           "the chain wanders through neighbouring styles and classes.")

c = st.columns([2, 1, 1, 1])
start_mode = c[0].radio("Start from", ["selected sample", "index", "random sample"], horizontal=True,
                        key="dd_start_mode")
seed = int(c[1].number_input("Seed", 0, 2**31 - 1, 0, key="dd_seed"))
mean = c[2].toggle("Mean decoding", key="dd_mean", help="Continue from the decoder's mean image instead of a sample.")
speed = c[3].slider("Steps per second", 0.5, 10.0, 2.0, 0.5, key="dd_speed")
if start_mode == "random sample":
    start = int(np.random.default_rng(seed).integers(b.n_train))
elif start_mode == "index":
    start = int(c[0].number_input(f"Start index (0-{b.n_train - 1})", 0, b.n_train - 1, 0, key="dd_index"))
else:
    start = explorer.selected_sample(b)

chain_key = (b.content_hash, start, seed, mean)
state = st.session_state.get("daydream")
if state is None or state["key"] != chain_key:
    state = st.session_state["daydream"] = {"key": chain_key, "frames": [], "playing": False,
                                            "chain": b.daydream(start, MAX_DAYDREAM_STEPS, seed=seed, mean=mean)}
    state["frames"].append(next(state["chain"]))


def advance() -> None:
    if len(state["frames"]) > MAX_DAYDREAM_STEPS:
        state["playing"] = False
        return
    state["frames"].append(next(state["chain"]))


def toggle_play() -> None:
    state["playing"] = not state["playing"]


def reset() -> None:
    del st.session_state["daydream"]


# callbacks run before the page is drawn again, so the Play/Pause label always shows the current state
buttons = st.columns([1, 1, 1, 4])
buttons[0].button("Step", key="dd_step", icon=":material/skip_next:", on_click=advance)
buttons[1].button("Pause" if state["playing"] else "Play", key="dd_play", on_click=toggle_play,
                  icon=":material/pause:" if state["playing"] else ":material/play_arrow:")
buttons[2].button("Reset", key="dd_reset", icon=":material/restart_alt:", on_click=reset)
buttons[3].caption(f"Start: sample #{start} (label {b.label_name(int(b.labels[start]))}). "
                   f"Chains stop after {MAX_DAYDREAM_STEPS} steps.")


@st.fragment(run_every=1.0 / speed if state["playing"] else None)
def player() -> None:
    if state["playing"]:
        advance()
        if not state["playing"]:  # the chain hit its bound: redraw the page to stop the timer
            st.rerun()
    frames = state["frames"]
    latest = frames[-1]
    big, side = st.columns([1, 3])
    big.image(explorer.picture(latest.image[None]), width=220,
              caption=f"step {latest.step} · nearest label {b.label_name(latest.nearest_label)}")
    with side:
        recent = frames[-16:]
        explorer.show_images(np.stack([f.image for f in recent]),
                             [f"{f.step}: {b.label_name(f.nearest_label)}" for f in recent])
        st.caption(f"{len(frames) - 1} steps so far · moved {latest.moved:.2f} in code space at the last step · "
                   f"nearest training code #{latest.nearest_item}")
    path = np.stack([f.map_xy for f in frames])
    st.plotly_chart(explorer.map_figure(b, "label", path_xy=path, height=460), key="dd_map", width="stretch")
    st.dataframe({"step": [f.step for f in frames], "moved in code space": [round(f.moved, 3) for f in frames],
                  "nearest label": [b.label_name(f.nearest_label) for f in frames],
                  "nearest sample": [f.nearest_item for f in frames]}, height=200, hide_index=True)


player()
