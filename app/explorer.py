"""The app's only Streamlit helpers: where models live, cached loading, session/URL state, shared
widgets and figures. Pages stay thin: widgets -> one call into acn_core (through here) -> display."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from acn_core import bundle as bundles
from acn_core.archive import export_zip
from acn_core.images import grid
from acn_core.storage import BundleError, sha256_file

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BUNDLE = REPO / "assets" / "default-mnist5k"
BUNDLED_LABEL = "default-mnist5k (bundled)"
MAX_K = 50
IMAGE_PX = 84  # every thumbnail is shown at this size
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]


def home() -> Path:
    """Where trained and uploaded models and training jobs are kept (ACN_EXPLORER_HOME)."""
    return Path(os.environ.get("ACN_EXPLORER_HOME", Path.home() / ".acn-explorer"))


def setup() -> None:
    """Once per script run: inference in the app uses one thread so a training job next to it, and
    other sessions, do not stall it (ENVIRONMENT.md: 2 threads on a busy 2-core box run 50-80x slower)."""
    torch.set_num_threads(int(os.environ.get("ACN_APP_THREADS", "1")))


def available_models() -> dict[str, Path]:
    """Label shown in the picker -> bundle folder. The bundled models come first, the default leading."""
    found = {BUNDLED_LABEL: DEFAULT_BUNDLE}
    for config in sorted((REPO / "assets" / "paper-check").glob("*/config.json")):
        found[f"paper-check/{config.parent.name} (bundled)"] = config.parent
    models = home() / "models"
    if models.is_dir():  # bundles, and folders of bundles (e.g. a paper-check output) one level down
        for config in sorted([*models.glob("*/config.json"), *models.glob("*/*/config.json")]):
            label = config.parent.relative_to(models).as_posix()
            if not any(part.startswith(".") for part in label.split("/")):
                found[label] = config.parent
    return found


@st.cache_resource(max_entries=6, show_spinner="Loading model ...")
def _load(path: str, content_hash: str) -> bundles.Bundle:
    """Shared by all sessions: never mutate what this returns. Keyed by the bundle's content hash."""
    return bundles.load(Path(path))


def load_bundle(path: Path) -> bundles.Bundle | None:
    """The verified bundle at `path`, or None after showing why it cannot be used."""
    try:
        return _load(str(path), sha256_file(path / "config.json"))
    except (BundleError, OSError, ValueError) as err:
        st.error(f"This model cannot be used: {err}")
        return None


@st.cache_data(max_entries=4, show_spinner=False)
def _zip(path: str, content_hash: str) -> bytes:
    return export_zip(Path(path))


def bundle_zip(b: bundles.Bundle) -> bytes:
    return _zip(str(b.path), b.content_hash)


@st.cache_data(max_entries=256, show_spinner=False)
def _inspect(path: str, content_hash: str, item: int, k: int, samples: int) -> bundles.Inspection:
    return _load(path, content_hash).inspect(item, k, samples)


def inspect(b: bundles.Bundle, item: int, k: int, samples: int = 3) -> bundles.Inspection:
    """The neighbour panel's data, cached per model, sample and K (PixelCNN sampling takes seconds)."""
    if b.model.decoder.autoregressive:
        with st.spinner("Sampling reconstructions pixel by pixel (PixelCNN) ..."):
            return _inspect(str(b.path), b.content_hash, int(item), int(k), samples)
    return _inspect(str(b.path), b.content_hash, int(item), int(k), samples)


def init_from_url() -> None:
    """Model, sample and K come from the URL on a session's first run, so a link reproduces a view."""
    if st.session_state.get("_url_read"):
        return
    st.session_state["_url_read"] = True
    params = st.query_params
    models = available_models()
    if params.get("model") in models:
        st.session_state["model_label"] = params["model"]
    for key in ("sample", "k"):
        try:
            st.session_state[key] = int(params[key])
        except (KeyError, ValueError):
            pass


def model_picker() -> None:
    models = available_models()
    labels = list(models)
    if st.session_state.get("model_label") not in models:
        st.session_state["model_label"] = labels[0]
    st.sidebar.selectbox("Model", labels, key="model_label",
                         help="The bundled default, models trained here (Train page) and uploaded ones (Home).")


def current_bundle() -> bundles.Bundle | None:
    label = st.session_state.get("model_label")
    path = available_models().get(label)
    if path is None:
        return None
    return load_bundle(path)


def require_bundle() -> bundles.Bundle:
    b = current_bundle()
    if b is None:
        st.info("No model yet: pick the bundled model in the sidebar, or train one on the Train page.")
        st.stop()
    return b


def selected_sample(b: bundles.Bundle) -> int:
    """The selected training sample, clamped into range (a stale URL or another model's index)."""
    sample = int(st.session_state.get("sample", 0))
    if not 0 <= sample < b.n_train:
        st.warning(f"Sample {sample} does not exist in this model (0 to {b.n_train - 1}); showing sample 0.")
        sample = 0
    st.session_state["sample"] = sample
    return sample


def select_sample(sample: int) -> None:
    st.session_state["sample"] = int(sample)


def chosen_k(b: bundles.Bundle) -> int:
    """K from the session, clamped to 1..min(50, N-1) with a notice when it had to move."""
    upper = max(1, min(MAX_K, b.n_train - 1))
    k = int(st.session_state.get("k", 8))
    if not 1 <= k <= upper:
        st.warning(f"K = {k} is outside 1 to {upper}; using {min(max(k, 1), upper)}.")
        k = min(max(k, 1), upper)
    st.session_state["k"] = k
    return k


def sync_url(**values) -> None:
    st.query_params.update({"model": st.session_state.get("model_label", BUNDLED_LABEL),
                            **{k: str(v) for k, v in values.items()}})


def picture(images: np.ndarray, columns: int = 0) -> np.ndarray:
    """(B, C, H, W) in [0, 1] -> one uint8 picture at IMAGE_PX per tile."""
    scale = max(1, IMAGE_PX // images.shape[-1])
    return grid(images, columns=columns, scale=scale)


def show_images(images: np.ndarray, captions: list[str], container=st) -> None:
    """A row of same-size thumbnails (B, C, H, W) in [0, 1] with captions, wrapping as needed."""
    scale = max(1, IMAGE_PX // images.shape[-1])
    container.image([grid(image[None], pad=0, scale=scale) for image in images], caption=captions, width=IMAGE_PX)


def map_pick(event) -> int | None:
    """The sample index of the first selected point of a map selection event (or an injected dict)."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return None
    for point in points:
        data = point.get("customdata")
        if isinstance(data, dict):  # the browser may send an array as {"0": ..., "1": ...}
            data = [data[key] for key in sorted(data, key=int)]
        if data is not None and len(data) > 0:
            return int(data[0])
    return None


def map_figure(b: bundles.Bundle, colour_by: str = "label", selected: int | None = None,
               neighbours: np.ndarray | None = None, path_xy: np.ndarray | None = None,
               height: int = 620) -> go.Figure:
    """The UMAP of the training codes, one WebGL trace per label (legend toggles them)."""
    xy, labels = b.map_xy, b.labels
    values = {"code cost (nats)": b.code_cost, "neighbour-label agreement": b.neighbour_agreement}.get(colour_by)
    fig = go.Figure()
    index = np.arange(b.n_train)
    for label in np.unique(labels):
        mask = labels == label
        custom = np.stack([index[mask], b.code_cost[mask], b.neighbour_agreement[mask]], axis=1)
        marker = {"size": 5, "opacity": 0.75}
        if values is None:
            marker["color"] = PALETTE[int(label) % len(PALETTE)]
        else:
            marker.update(color=values[mask], coloraxis="coloraxis")
        fig.add_trace(go.Scattergl(
            x=xy[mask, 0], y=xy[mask, 1], mode="markers", name=b.label_name(int(label)), customdata=custom,
            marker=marker, hovertemplate="sample #%{customdata[0]}<br>label %{fullData.name}<br>code cost "
                                         "%{customdata[1]:.1f} nats<br>neighbour agreement %{customdata[2]:.0%}"
                                         "<extra></extra>"))
    if values is not None:
        fig.update_layout(coloraxis={"colorscale": "Viridis", "colorbar": {"title": colour_by, "len": 0.6}})
    if path_xy is not None and len(path_xy):
        fig.add_trace(go.Scatter(x=path_xy[:, 0], y=path_xy[:, 1], mode="lines+markers", name="daydream",
                                 line={"color": "#444", "width": 2}, marker={"size": 7, "color": "#111"},
                                 hoverinfo="skip"))
    if neighbours is not None and len(neighbours):
        fig.add_trace(go.Scatter(x=xy[neighbours, 0], y=xy[neighbours, 1], mode="markers", name="neighbours",
                                 marker={"size": 12, "color": "rgba(0,0,0,0)", "line": {"width": 2, "color": "#e4572e"}},
                                 hoverinfo="skip"))
    if selected is not None:
        fig.add_trace(go.Scatter(x=xy[[selected], 0], y=xy[[selected], 1], mode="markers", name="selected",
                                 marker={"size": 18, "symbol": "star", "color": "#ffd400",
                                         "line": {"width": 1.5, "color": "#111"}}, hoverinfo="skip"))
    fig.update_layout(height=height, margin={"l": 0, "r": 0, "t": 10, "b": 0}, dragmode="pan",
                      legend={"itemsizing": "constant", "title": "label"}, uirevision=b.content_hash,
                      xaxis={"visible": False}, yaxis={"visible": False})
    return fig


def loss_curves(history: list[dict], height: int = 280, title: str = "") -> go.Figure:
    """Reconstruction (left axis) and KL (right axis) per epoch, from training history or job progress."""
    epochs = [h["epoch"] for h in history]
    fig = go.Figure([go.Scatter(x=epochs, y=[h["recon"] for h in history], name="reconstruction"),
                     go.Scatter(x=epochs, y=[h["kl"] for h in history], name="KL", yaxis="y2")])
    fig.update_layout(height=height, margin={"t": 30 if title else 10, "b": 10}, title=title or None,
                      xaxis_title="epoch", yaxis={"title": "reconstruction"},
                      yaxis2={"title": "KL", "overlaying": "y", "side": "right", "showgrid": False},
                      legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"})
    return fig


def progress_bar(label: str):
    """A progress callback (fraction in [0, 1]) drawing a Streamlit bar, for slow PixelCNN sampling."""
    bar = st.progress(0.0, text=label)
    return lambda fraction: bar.progress(min(max(fraction, 0.0), 1.0), text=label)
