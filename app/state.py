"""Session and URL state: what is selected (a sample, a region, K), read from and written to the URL so a
link reproduces the view, and the one place that turns map events (clicks, boxes, lassos) into selections.

It also holds the registry of declared state (`PAGES`): for each page, the session keys a link or a lesson step
may open and the keys whose change is the student's action, and the controls a lesson step may outline. The
lesson runner (app/lesson.py) knows pages only through it; tests/test_lesson.py checks that every page uses what
it declares, so renaming a key in a page without renaming it here fails a test instead of a lesson."""
from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from app.explorer import BUNDLED_LABEL, MAX_K, available_models

if TYPE_CHECKING:
    from acn_core.bundle import Bundle, glance


def _flag(value: str) -> bool:
    return value.lower() in ("1", "true")


def _model(label: str) -> str:
    if label not in available_models():
        raise ValueError(f"this server has no model {label!r}")
    return label


def clicked(event) -> list:
    """What of a map event is a click: its points, unless it is a box or lasso selection (which has points too)."""
    selection = _selection(event)
    return [] if selection.get("box") or selection.get("lasso") else list(selection.get("points") or [])


def drawn(event) -> list:
    """What of a map event is a drawn region: its box and its lasso."""
    selection = _selection(event)
    return [list(selection.get("box") or []), list(selection.get("lasso") or [])]


@dataclass(frozen=True)
class Key:
    """A session key a page declares: one a link or a lesson step may open (`kind`), one a lesson watches
    (`signals`), or one the page starts without when a lesson step opens it (neither)."""

    name: str  # as written in a link and in a lesson step's "state"
    kind: Callable[[str], object] | None = None  # a link's text -> the value (ValueError if unusable)
    default: object = None  # the value before anything set it: a step that does not name an opened key opens with
    #                         it (None: removed), and a watched key that is absent reads as it
    signals: str | None = None  # the student's action (acn_core.teaching.ACTIONS) that a change of it means
    reading: Callable[[object], object] | None = None  # what of a watched value counts (default: all of it)
    session: str = ""  # the session key, where it differs from `name`

    @property
    def session_key(self) -> str:
        return self.session or self.name


@dataclass(frozen=True)
class PageState:
    """What one page declares: its keys, and the controls a step may outline (widget key -> what it is)."""

    keys: tuple[Key, ...] = ()
    controls: dict[str, str] = field(default_factory=dict)


def _map(key: str) -> tuple[Key, Key]:
    """A map's selection event: a click, or a box or lasso drawn."""
    return Key(key, signals="click", reading=clicked), Key(key, signals="region", reading=drawn)


EVERY_PAGE = (Key("model", _model, session="model_label"),)  # the sidebar's model picker (app/explorer.py)
LINK = (Key("lesson", str), Key("step", int), Key("present", _flag))  # a lesson link: ?lesson=NAME&step=N&present=1
PAGES = {
    "latent_map": PageState(
        (Key("sample", int, 0, "click"), Key("k", int, 8), Key("map_colour", str, "label", "colour"),
         Key("map_held_out", _flag, False), Key("map_vs_code", _flag, False), Key("map_atlas", _flag, False),
         Key("sel", str), Key("region"), Key("held_out_pick"), *_map("latent_map"),
         Key("map_rank_go", default=False, signals="region")),
        {"latent_map": "the map", "map_colour": "Colour by", "map_labels": "Show labels", "k_slider": "Neighbours K",
         "sample_input": "Sample (index)", "map_held_out": "Held-out images", "map_vs_code": "Map vs code neighbours",
         "map_atlas": "Atlas"}),
    "compare": PageState(
        (Key("compare_a", str), Key("compare_b", str), Key("compare_colour", str, "label", "colour"),
         Key("sample", int, 0, "click"), Key("sel", str), Key("region"), *_map("compare_map_a"),
         *_map("compare_map_b")),
        {"compare_map_a": "map A", "compare_map_b": "map B", "compare_a": "Model A", "compare_b": "Model B",
         "compare_k": "Neighbours K", "compare_colour": "Colour the maps by"}),
    "daydreams": PageState(
        (Key("dd_start", int), Key("dd_seed", int, 0), Key("dd_mode", str), Key("dd_start_mode"),
         Key("dd_step", default=False, signals="daydream"), Key("dd_play", default=False, signals="daydream")),
        {"dd_step": "Step", "dd_play": "Play", "dd_reset": "Reset", "dd_start_mode": "Start from", "dd_seed": "Seed",
         "dd_mode": "Frames show", "dd_speed": "Steps per second", "dd_map": "the chain on the map"}),
    "why_cheap": PageState(
        (Key("idea_of", str), Key("why_pick", int, 0, "neighbour"), Key("why_show", str), Key("why_show_list")),
        {"why_pick": "The prior is conditioned on", "why_show_list": "Also draw", "idea_of_index": "Index",
         "why_bars": "the KL bars", "why_densities": "each dimension's posterior and prior"}),
    "edit_code": PageState(
        (Key("idea_of", str), Key("edit_z", str, signals="edit")),
        {"edit_map": "the edited code on the map", "edit_order": "Order the sliders by", "edit_reset": "Reset",
         "edit_daydream": "Daydream from here", "idea_of_index": "Index"}),
    "walk": PageState(
        (Key("walk_a", str, signals="walk"), Key("walk_b", str, signals="walk"), Key("walk_n", int, 10),
         Key("walk_sph", _flag, False)),
        {"walk_a_index": "A's index", "walk_b_index": "B's index", "walk_n": "Frames", "walk_sph": "Spherical",
         "walk_map": "the walk on the map", "walk_costs": "each frame's cost"}),
    "your_digit": PageState(
        (Key("k", int, 8), Key("yd_canvas", default={"png": None}, signals="draw"), Key("yd_upload", signals="draw")),
        {"yd_canvas": "the canvas", "yd_source": "Image", "yd_centre": "Centre and scale like MNIST",
         "yd_map": "your digit on the map"}),
    "prior_samples": PageState(controls={"prior_n": "Samples", "prior_seed": "Seed", "prior_mode": "Show"}),
    "train": PageState((Key("train_prior", str, "acn"),),
                       {"train_prior": "Prior", "train_name": "Name", "train_epochs": "Epochs",
                        "train_start": "Start training"}),
}


def openable() -> dict[str, Key]:
    """Every key a link or a lesson step may set, by its name."""
    keys = [*EVERY_PAGE, *LINK, *(key for page in PAGES.values() for key in page.keys if key.kind is not None)]
    return {key.name: key for key in keys}


def view_keys() -> dict[str, Key]:
    """The keys that make a view: what a lesson step keeps (a lesson link's own keys left out)."""
    return {name: key for name, key in openable().items() if key not in LINK}


def actions(page: str) -> list[str]:
    """The student's actions `page` can produce (what a step on it may wait for), in declaration order."""
    found = [key.signals for key in PAGES.get(page, PageState()).keys if key.signals]
    return list(dict.fromkeys(found))


def open_view(page: str, view: dict) -> list[str]:
    """Put a lesson step's view into session state before `page` draws: every key the view names, and every other
    key `page` declares, but does not watch, back to its default. A note for each key that cannot be used."""
    session, keys, notes = st.session_state, openable(), []
    for key in PAGES.get(page, PageState()).keys:
        if key.name in view or key.kind is None and key.signals is not None:  # named, or only watched
            continue
        if key.default is None:
            session.pop(key.session_key, None)
        else:
            session[key.session_key] = key.default
    for name, value in view.items():
        if name not in keys or keys[name] in LINK:
            notes.append(f"this app has no view key {name!r}; ignored.")
            continue
        try:
            session[keys[name].session_key] = keys[name].kind(str(value).lower() if isinstance(value, bool)
                                                              else str(value))
        except ValueError:
            notes.append(f"{name} = {str(value)[:40]!r} cannot be used; ignored.")
    return notes


def _digest(value) -> str:
    raw = value.tobytes() if isinstance(value, np.ndarray) else repr(value).encode()
    return hashlib.sha1(raw).hexdigest()


def watch(page: str, action: str) -> list[str]:
    """A fingerprint of each key of `page` whose change means `action` (what of it counts, an absent key reading
    as its default): two differ when the student acted in between."""
    read = st.session_state.get
    return [_digest((key.reading or (lambda value: value))(read(key.session_key, key.default)))
            for key in PAGES.get(page, PageState()).keys if key.signals == action]


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
    for name, key in openable().items():
        if name in params:
            try:
                st.session_state[key.session_key] = key.kind(params[name])
            except ValueError:
                pass


def sync_url(**values) -> None:
    """Write the current view to the URL (model plus the given keys; None removes a key)."""
    st.query_params["model"] = st.session_state.get("model_label", BUNDLED_LABEL)
    for key, value in values.items():
        if value is None:
            st.query_params.pop(key, None)
        else:
            st.query_params[key] = str(value)


def selected_sample(bundle: Bundle | glance.Glance) -> int:
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


def chosen_k(bundle: Bundle | glance.Glance, key: str = "k", default: int = 8) -> int:
    """K from the session, clamped to 1..min(50, N-1) with a notice when it had to move."""
    upper = max(1, min(MAX_K, bundle.n_train - 1))
    k = int(st.session_state.get(key, default))
    if not 1 <= k <= upper:
        st.warning(f"K = {k} is outside 1 to {upper}; using {min(max(k, 1), upper)}.")
        k = min(max(k, 1), upper)
    st.session_state[key] = k
    return k


def k_slider(bundle: Bundle | glance.Glance, container, key: str = "k", default: int = 8) -> int:
    """A K slider bound to the session's K (clamped, kept across pages)."""
    k = chosen_k(bundle, key, default)
    slider_key = f"{key}_slider"
    st.session_state[slider_key] = k
    container.slider("Neighbours K", 1, max(1, min(MAX_K, bundle.n_train - 1)), key=slider_key,
                     on_change=lambda: st.session_state.update({key: st.session_state[slider_key]}))
    return k


def _selection(event) -> dict:
    """A map event's selection ({} for an absent or empty event)."""
    try:
        return dict(event["selection"])
    except (KeyError, TypeError, AttributeError):
        return {}


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


def region(bundle: Bundle | glance.Glance) -> np.ndarray | None:
    """The current region selection (training items), restored from the URL on first use."""
    text = st.session_state.pop("sel", None)
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
