"""The app's figures and pictures: the latent map, loss curves, image grids, and the palette. No Streamlit here.

Every colour is readable on the light and the dark theme, and a label has the same colour on every page.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field, replace

import numpy as np
import plotly.graph_objects as go

from acn_core.data import grid, to_png_bytes

# Label colours safe for colour-blind eyes: Okabe-Ito's blue, pink and bluish green with Paul Tol's red, green,
# wine, olive, cyan, sand and grey. Every pair stays at least 10 apart (CIEDE2000) for normal vision and for
# simulated protanopia, deuteranopia and tritanopia, and every colour has at least 1.9:1 contrast on the light
# and the dark theme's background alike (tests/test_accessibility.py checks both). Tableau 10, used before, put
# green and red 0.7 apart for a deuteranope, and its yellow at 1.6:1 on white.
PALETTE = ["#0072b2", "#ee6677", "#117733", "#882255", "#999933", "#33bbee", "#cc79a7", "#bbbbbb", "#ccbb44",
           "#009e73"]
SELECTED, NEIGHBOURS, PATH, YOURS = "#ffd400", "#ff5c8a", "#c86bfa", "#00e676"
MAP_NEAREST = "#00a8a8"  # teal squares: nearest on the map (beside the pink rings: nearest in code space)
# Marks (the selected star, neighbour rings, paths) carry a dark band inside a white one: one of the two stands
# out on every label colour and on both themes
HALO = ("#ffffff", "#1a1a1a")
IMAGE_PX = 84  # every thumbnail is shown at this size
VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b",
           "#fde725"]  # plotly's Viridis stops, for pictures drawn here
COLOURINGS = {"label": None, "code cost (nats)": "code_cost", "neighbour-label agreement": "neighbour_agreement",
              "reconstruction cost (nats)": "recon_cost"}


def label_colour(label: int) -> str:
    return PALETTE[int(label) % len(PALETTE)]


@dataclass
class MapLayers:
    """What one map shows on top of the training codes (all optional)."""

    values: np.ndarray | None = None  # (N,) a continuous colouring instead of labels
    value_name: str = ""
    visible: np.ndarray | None = None  # (N,) bool: points shown (label filter)
    region: np.ndarray | None = None  # training items of the current region selection, highlighted
    selected: np.ndarray | None = None  # (2,) the inspected point
    neighbours: np.ndarray | None = None  # (K, 2)
    neighbours_name: str = "neighbours"  # their legend entry
    map_nearest: np.ndarray | None = None  # (K, 2) the K nearest points on the map (map vs code distance)
    atlas: dict | None = None  # a plotly layout image laid over the map (the atlas layer)
    path: np.ndarray | None = None  # (T, 2) a daydream chain
    held_out: tuple[np.ndarray, np.ndarray] | None = None  # positions (M, 2) and labels (M,)
    held_out_ids: np.ndarray | None = None  # (M,) their held-out items (all, in order, if None)
    drawn: np.ndarray | None = None  # training items drawn as points (all if None): a large map draws a sample
    density: dict | None = None  # a plotly layout image of every point under the drawn ones (a large map)
    yours: np.ndarray | None = None  # (2,) a drawn or uploaded image
    tool: str = "pan"  # the drag tool: "pan", "select" (box) or "lasso"; kept after a selection made with it
    extra: dict = field(default_factory=dict)  # layout overrides


def map_figure(xy: np.ndarray, labels: np.ndarray, label_names: list[str], layers: MapLayers, uirevision: str,
               hover: dict[str, np.ndarray] | None = None, height: int = 620) -> go.Figure:
    """The map of the training codes, one WebGL trace per label (the legend toggles them). customdata
    holds [item, kind] (kind 0 = training, 1 = held-out) so a click or a lasso maps back to samples."""
    hover = hover or {}
    fig = go.Figure()
    in_region = np.zeros(len(xy), dtype=bool)
    if layers.region is not None and len(layers.region):
        in_region[np.asarray(layers.region, dtype=np.int64)] = True
    index = np.arange(len(xy)) if layers.drawn is None else np.asarray(layers.drawn, dtype=np.int64)
    value_range = None if layers.values is None else [float(np.nanmin(layers.values)), float(np.nanmax(layers.values))]
    if layers.drawn is not None:  # only these points become traces; the density image shows every point
        xy, labels, in_region = xy[index], labels[index], in_region[index]
        hover = {name: values[index] for name, values in hover.items()}
        layers = replace(layers, values=None if layers.values is None else layers.values[index],
                         visible=None if layers.visible is None else layers.visible[index])
    extra_lines = "".join(f"<br>{name} %{{customdata[{2 + i}]:.2f}}" for i, name in enumerate(hover))
    for label in np.unique(labels):
        mask = labels == label
        if layers.visible is not None:
            mask &= layers.visible
        if not mask.any():
            continue
        custom = np.stack([index[mask], np.zeros(mask.sum()), *[v[mask] for v in hover.values()]], axis=1)
        marker = {"size": 5, "opacity": 0.8 if layers.atlas is None else 0.2}  # the atlas's tiles lie under them
        if layers.values is None:
            marker["color"] = label_colour(label)
        else:
            marker.update(color=layers.values[mask], coloraxis="coloraxis")
        # under a continuous colouring a label's legend entry would be a dot of no colour: the colour bar says it
        trace = go.Scattergl(x=xy[mask, 0], y=xy[mask, 1], mode="markers", name=label_names[int(label)]
                             if 0 <= label < len(label_names) else str(label), customdata=custom, marker=marker,
                             showlegend=layers.values is None,
                             hovertemplate="sample #%{customdata[0]}<br>label %{fullData.name}" + extra_lines
                             + "<extra></extra>")
        if layers.region is not None:  # keep the region lit after a rerun (and across colourings)
            trace.selectedpoints = np.flatnonzero(in_region[mask]).tolist()
            trace.unselected = {"marker": {"opacity": 0.15}}
        fig.add_trace(trace)
    if layers.values is not None:
        fig.update_layout(coloraxis={"colorscale": "Viridis", "cmin": value_range[0], "cmax": value_range[1],
                                     # at the right, under the legend of marks: in view beside the map
                                     "colorbar": {"title": {"text": layers.value_name, "side": "right"},
                                                  "len": 0.5, "thickness": 12, "y": 0.15, "yanchor": "bottom"}})
    if layers.held_out is not None:
        positions, held_labels = layers.held_out
        fig.add_trace(go.Scattergl(
            x=positions[:, 0], y=positions[:, 1], mode="markers", name="held out",
            customdata=np.stack([np.arange(len(positions)) if layers.held_out_ids is None else layers.held_out_ids,
                                 np.ones(len(positions))], axis=1),
            marker={"size": 7, "symbol": "diamond-open", "color": [label_colour(lab) for lab in held_labels],
                    "line": {"width": 1.5}}, hovertemplate="held-out #%{customdata[0]}<extra></extra>"))
    for image in (layers.density, layers.atlas):  # the atlas's tiles over the density of points
        if image is not None:
            fig.add_layout_image(image)
    if layers.path is not None and len(layers.path):
        add_mark(fig, layers.path, "daydream", PATH, size=8, mode="lines+markers")
    if layers.neighbours is not None and len(layers.neighbours):
        add_mark(fig, layers.neighbours, layers.neighbours_name, NEIGHBOURS, size=15, ring=True)
    if layers.map_nearest is not None and len(layers.map_nearest):
        add_mark(fig, layers.map_nearest, f"{len(layers.map_nearest)} nearest on the map", MAP_NEAREST,
                 symbol="square", size=19, ring=True)
    for point, name, colour, symbol in ((layers.selected, "selected", SELECTED, "star"),
                                        (layers.yours, "your image", YOURS, "x")):
        if point is not None:
            add_mark(fig, point, name, colour, symbol=symbol, size=20)
    layout = {"height": height, "margin": {"l": 0, "r": 0, "t": 10, "b": 0}, "dragmode": layers.tool,
              "legend": {"itemsizing": "constant", "title": "label" if layers.values is None else ""},
              "uirevision": uirevision,
              "xaxis": {"visible": False}, "yaxis": {"visible": False}}
    fig.update_layout(**{**layout, **layers.extra})
    return fig


def map_alt(count: int, layers: MapLayers, colouring: str = "label", subject: str = "the selected sample") -> str:
    """The map in words, for a screen reader: what is plotted and what each mark stands for."""
    said = [f"Map of {count:,} training codes in 2-D, coloured by {colouring}"]
    if layers.region is not None:
        said.append(f"a selected region of {len(layers.region):,} points is lit")
    if layers.held_out is not None:
        said.append(f"diamonds mark {len(layers.held_out[0]):,} held-out images")
    if layers.selected is not None:
        said.append(f"a star marks {subject}")
    if layers.yours is not None:
        said.append("a cross marks your image")
    if layers.neighbours is not None:
        said.append(f"rings mark its {len(layers.neighbours)} nearest neighbours in code space")
    if layers.map_nearest is not None:
        said.append(f"squares mark its {len(layers.map_nearest)} nearest points on the map")
    if layers.path is not None:
        said.append(f"a line traces a daydream of {len(layers.path) - 1} steps")
    return "; ".join(said) + "."


def add_mark(fig: go.Figure, xy: np.ndarray, name: str, colour: str, symbol: str = "circle", size: int = 12,
             ring: bool = False, mode: str = "markers", dash: str = "solid", text: list[str] | None = None) -> None:
    """Marks over every point (the selected star, neighbour rings, a path): WebGL traces like the points and
    added after them, since plotly lays the SVG traces under the WebGL canvas. Each is drawn three times, widest
    first: a white band, a dark band (HALO), then the mark in its colour; a ring (an open shape) bands its
    outline, a filled shape its outside. One legend entry toggles all three; hover and clicks pass through to
    the point underneath, and a selection never fades a mark. `text` labels points (e.g. "A", "B") in dark on
    white boxes: annotations, drawn above the WebGL canvas (its own text is not drawn everywhere)."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    for grow, band in ((2, HALO[0]), (1, HALO[1]), (0, colour)):
        top = grow == 0
        if ring:
            marker = {"symbol": symbol, "size": size, "color": "rgba(0,0,0,0)",
                      "line": {"width": 2.5 * (1 + grow), "color": band}}
        else:
            marker = {"symbol": symbol, "size": size + 4 * grow, "color": band, "line": {"width": 0}}
        fig.add_trace(go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode=mode, name=name, legendgroup=name, showlegend=top,
                                   hoverinfo="skip", marker=marker, unselected={"marker": {"opacity": 1}},
                                   line={"color": band, "width": 3 * (1 + grow), "dash": dash}))
    for (x, y), words in zip(xy, text or []):
        if words:
            fig.add_annotation(x=x, y=y, text=words, showarrow=False, yshift=18, font={"size": 15, "color": HALO[1]},
                               bgcolor=HALO[0], bordercolor=HALO[1], borderpad=2)


def density_picture(density, value_range: list[float] | None = None) -> np.ndarray:
    """A `projection.MapDensity` as an RGBA picture (rows, columns, 4) uint8, top row = highest map y: each
    cell in the colour of its most frequent label (or, given `value_range`, of its mean value on Viridis),
    opaque as the log of its count; with a region, cells outside it faded as a region fades its points."""
    counts = density.counts.astype(np.float64)
    alpha = np.where(counts > 0, 0.35 + 0.65 * np.log1p(counts) / np.log1p(max(counts.max(), 1)), 0.0)
    if value_range is None:
        palette = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in PALETTE], dtype=np.float64)
        rgb = palette[np.where(density.top_label >= 0, density.top_label, 0) % len(PALETTE)]
    else:
        anchors = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in VIRIDIS], dtype=np.float64)
        low, high = value_range
        scaled = np.clip((np.nan_to_num(density.mean_value, nan=low) - low) / max(high - low, 1e-12), 0, 1)
        stops = np.linspace(0, 1, len(anchors))
        rgb = np.stack([np.interp(scaled, stops, anchors[:, i]) for i in range(3)], axis=-1)
    if density.region_counts is not None:
        alpha = np.where(density.region_counts > 0, np.maximum(alpha, 0.8), alpha * 0.2)
    picture = np.concatenate([rgb, 255 * alpha[..., None]], axis=-1).round().astype(np.uint8)
    return picture[::-1]


def loss_curves(epochs: list[int], recon: list[float], kl: list[float], height: int = 280, title: str = "") -> go.Figure:
    """Reconstruction (left axis) and KL (right axis) per epoch."""
    fig = go.Figure([go.Scatter(x=epochs, y=recon, name="reconstruction"),
                     go.Scatter(x=epochs, y=kl, name="KL", yaxis="y2")])
    fig.update_layout(height=height, margin={"t": 30 if title else 10, "b": 10}, title=title or None,
                      xaxis_title="epoch", yaxis={"title": "reconstruction"},
                      yaxis2={"title": "KL", "overlaying": "y", "side": "right", "showgrid": False},
                      legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"})
    return fig


def label_histogram(labels: np.ndarray, label_names: list[str], height: int = 220) -> go.Figure:
    counts = np.bincount(labels, minlength=len(label_names))
    fig = go.Figure(go.Bar(x=label_names, y=counts[:len(label_names)],
                           marker_color=[label_colour(i) for i in range(len(label_names))]))
    fig.update_layout(height=height, margin={"l": 0, "r": 0, "t": 10, "b": 0}, xaxis={"type": "category"},
                      yaxis_title="images")
    return fig


def thumbnail(image: np.ndarray) -> np.ndarray:
    """(C, H, W) in [0, 1] -> one uint8 picture IMAGE_PX wide."""
    return grid(image[None], pad=0, scale=max(1, IMAGE_PX // image.shape[-1]))


def picture(images: np.ndarray, columns: int = 0) -> np.ndarray:
    """(B, C, H, W) in [0, 1] -> one uint8 grid picture at IMAGE_PX per tile."""
    return grid(images, columns=columns, scale=max(1, IMAGE_PX // images.shape[-1]))


def layout_image(picture: np.ndarray, origin: np.ndarray, width: float, height: float) -> dict:
    """A picture (rows, columns, 4) laid under the points over the map rectangle from `origin` (2,), its
    lower-left corner, `width` by `height` map units: a plotly layout image."""
    return {"source": "data:image/png;base64," + base64.b64encode(to_png_bytes(picture)).decode(), "xref": "x",
            "yref": "y", "x": float(origin[0]), "y": float(origin[1] + height), "sizex": float(width),
            "sizey": float(height), "xanchor": "left", "yanchor": "top", "sizing": "stretch", "layer": "below"}

