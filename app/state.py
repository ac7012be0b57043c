"""Session and URL state: what is selected (a sample, a region, K), read from and written to the URL so a
link reproduces the view, and the one place that turns map events (clicks, boxes, lassos) into selections."""
from __future__ import annotations

import base64
import zlib

import numpy as np
import streamlit as st

from acn_core.bundle import Bundle
from app.explorer import BUNDLED_LABEL, MAX_K, available_models

def _flag(value: str) -> bool:
    return value.lower() in ("1", "true")


URL_KEYS = {"sample": int, "k": int, "map_colour": str, "map_held_out": _flag, "map_atlas": _flag,
            "map_vs_code": _flag, "dd_seed": int, "dd_mode": str, "dd_start": int, "compare_a": str,
            "compare_b": str, "compare_colour": str,
            # the teaching views: what is explained / edited ("t12" training, "h3" held-out, "d" your digit)
            "idea_of": str, "why_pick": int, "why_show": str, "edit_z": str, "walk_a": str, "walk_b": str,
            "walk_n": int, "walk_sph": _flag,
            # a lesson link: ?lesson=NAME&step=N (1-based)&present=1 (app/lesson.py)
            "lesson": str, "step": int, "present": _flag}


def encode_ids(ids: np.ndarray, n: int) -> str:
    """A set of sample ids as a short URL-safe string (a compressed bitmask)."""
    mask = np.zeros(n, dtype=bool)
    mask[np.asarray(ids, dtype=np.int64)] = True
    return base64.urlsafe_b64encode(zlib.compress(np.packbits(mask).tobytes(), 9)).decode()


def decode_ids(text: str, n: int) -> np.ndarray | None:
    """The inverse of `encode_ids`, or None if the text is not one (a hand-edited link)."""
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(text.encode()), bufsize=n // 8 + 16)
        mask = np.unpackbits(np.frombuffer(raw, dtype=np.uint8))[:n].astype(bool)
    except (ValueError, zlib.error):
        return None
    return np.flatnonzero(mask) if len(mask) == n else None


def init_from_url() -> None:
    """The view's state comes from the URL on a session's first run, so a link reproduces it."""
    if st.session_state.get("_url_read"):
        return
    st.session_state["_url_read"] = True
    params = st.query_params
    if params.get("model") in available_models():
        st.session_state["model_label"] = params["model"]
    for key, kind in URL_KEYS.items():
        if key in params:
            try:
                st.session_state[key] = kind(params[key])
            except ValueError:
                pass
    if "sel" in params:
        st.session_state["_url_selection"] = params["sel"]


def sync_url(**values) -> None:
    """Write the current view to the URL (model plus the given keys; None removes a key)."""
    st.query_params["model"] = st.session_state.get("model_label", BUNDLED_LABEL)
    for key, value in values.items():
        if value is None:
            st.query_params.pop(key, None)
        else:
            st.query_params[key] = str(value)


def selected_sample(bundle: Bundle) -> int:
    """The selected training sample, clamped into range (a stale URL or another model's index)."""
    sample = int(st.session_state.get("sample", 0))
    if not 0 <= sample < bundle.n_train:
        st.warning(f"Sample {sample} does not exist in this model (0 to {bundle.n_train - 1}); showing sample 0.")
        sample = 0
    st.session_state["sample"] = sample
    return sample


def select_sample(sample: int) -> None:
    st.session_state["sample"] = int(sample)
    st.session_state.pop("held_out_pick", None)


def chosen_k(bundle: Bundle, key: str = "k", default: int = 8) -> int:
    """K from the session, clamped to 1..min(50, N-1) with a notice when it had to move."""
    upper = max(1, min(MAX_K, bundle.n_train - 1))
    k = int(st.session_state.get(key, default))
    if not 1 <= k <= upper:
        st.warning(f"K = {k} is outside 1 to {upper}; using {min(max(k, 1), upper)}.")
        k = min(max(k, 1), upper)
    st.session_state[key] = k
    return k


def k_slider(bundle: Bundle, container, key: str = "k", default: int = 8) -> int:
    """A K slider bound to the session's K (clamped, kept across pages)."""
    k = chosen_k(bundle, key, default)
    slider_key = f"{key}_slider"
    st.session_state[slider_key] = k
    container.slider("Neighbours K", 1, max(1, min(MAX_K, bundle.n_train - 1)), key=slider_key,
                     on_change=lambda: st.session_state.update({key: st.session_state[slider_key]}))
    return k


def map_event(key: str, region_of=None) -> tuple[int | None, int | None, np.ndarray | None]:
    """What a map event under `key` asks for, once per new event: (clicked training item, clicked
    held-out item, ids of a box/lasso region); None where it asks nothing new. `region_of(selection)`, if
    given, finds a box/lasso region's ids itself (a large map draws only a sample of its points)."""
    event = st.session_state.get(key)
    try:
        selection = event["selection"]
        points = list(selection.get("points", []))
    except (KeyError, TypeError, AttributeError):
        return None, None, None
    signature = repr(points)[:5000] + repr(selection.get("box")) + repr(selection.get("lasso"))
    if st.session_state.get(f"_{key}_seen") == signature:
        return None, None, None
    st.session_state[f"_{key}_seen"] = signature
    ids, held = [], []
    for point in points:
        data = point.get("customdata") if isinstance(point, dict) else None
        if isinstance(data, dict):  # the browser may send an array as {"0": ..., "1": ...}
            data = [data[k] for k in sorted(data, key=int)]
        if data is not None and len(data) >= 2:
            (held if int(data[1]) == 1 else ids).append(int(data[0]))
        elif data is not None and len(data) == 1:
            ids.append(int(data[0]))
    if selection.get("box") or selection.get("lasso"):
        if region_of is not None:
            return None, None, np.asarray(region_of(selection), dtype=np.int64)
        return None, None, np.unique(np.array(ids, dtype=np.int64))
    if held:
        return None, held[0], None
    return (ids[0] if ids else None), None, None


def region(bundle: Bundle) -> np.ndarray | None:
    """The current region selection (training items), restored from the URL on first use."""
    text = st.session_state.pop("_url_selection", None)
    if text is not None:
        ids = decode_ids(text, bundle.n_train)
        if ids is None:
            st.warning("The selection in this link cannot be read; it was dropped.")
        else:
            st.session_state["region"] = ids
    ids = st.session_state.get("region")
    if ids is None:
        return None
    ids = np.asarray(ids, dtype=np.int64)
    return ids[(ids >= 0) & (ids < bundle.n_train)]


def set_region(ids: np.ndarray | None) -> None:
    st.session_state["region"] = None if ids is None else np.asarray(ids, dtype=np.int64)
    st.session_state["region_page"] = 0
    if ids is not None:  # a new region comes into view: the Latent map opens its Region tab on its next run
        st.session_state["_map_tab_next"] = "Region"
