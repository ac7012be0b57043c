"""Figures of the teaching views: the posterior over the neighbour's prior per dimension, the KL per
dimension, an edited code and a walk on the map, a walk's cost per frame. No Streamlit here."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from acn_core.teaching import explain
from acn_core.bundle import Bundle
from acn_core.teaching import CodeView, Walk
from app.figures import NEIGHBOURS, PATH, SELECTED, MapLayers, add_mark, map_figure

POSTERIOR, PRIOR, OTHER, STANDARD = "#4e79a7", "#e15759", "#f28e2b", "#888888"


def kl_bars(explanation: explain.Explanation, show_standard: bool = False, height: int = 260,
            top: float | None = None) -> go.Figure:
    """The KL of each dimension under the explained prior, the most expensive first (and under N(0, I)); `top`
    fixes the axis's upper end (two models' bars on one scale)."""
    order = explanation.dims_by_kl()
    names = [f"d{d}" for d in order]
    fig = go.Figure(go.Bar(x=names, y=explanation.kl_per_dim[order], name="under p(z | ĉ)" if explanation.conditional
                           else "under N(0, I)", marker_color=PRIOR,
                           hovertemplate="dimension %{x}: %{y:.3f} nats<extra></extra>"))
    if show_standard and explanation.conditional:
        fig.add_trace(go.Bar(x=names, y=explanation.kl_per_dim_standard[order], name="under N(0, I)",
                             marker_color=STANDARD, hovertemplate="dimension %{x}: %{y:.1f} nats<extra></extra>"))
        fig.update_yaxes(type="log", dtick=1)
    fig.update_layout(height=height, margin={"l": 0, "r": 0, "t": 10, "b": 0}, yaxis_title="KL (nats)",
                      xaxis={"type": "category", "title": "code dimension, most expensive first"}, barmode="group",
                      legend={"orientation": "h", "y": 1.15, "x": 1, "xanchor": "right"})
    if top is not None and not (show_standard and explanation.conditional):  # a log axis keeps its own range
        fig.update_yaxes(range=[0, 1.05 * max(top, 1e-3)])
    return fig


def kl_bars_alt(explanation: explain.Explanation, whose: str) -> str:
    """`kl_bars` in words: how many dimensions, the three most expensive, the total."""
    top = explanation.dims_by_kl()[:3]
    return (f"Bar chart: the code cost (KL, nats) of each of the {len(explanation.kl_per_dim)} code dimensions of "
            f"{whose}, the most expensive first: " + ", ".join(f"d{d} {explanation.kl_per_dim[d]:.2f}" for d in top)
            + f", ...; {explanation.kl_exact:.2f} nats in all.")


def densities_figure(explanation: explain.Explanation, dims: np.ndarray, show_candidates: bool, show_standard: bool,
                     columns: int = 4) -> go.Figure:
    """Small multiples, one per dimension: q(z_d | x) = N(c_d, 1) filled, the explained prior p(z_d | ĉ) as a
    line, optionally the other candidates' priors and N(0, 1). Built as plain dicts without plotly's
    validation (make_subplots and validated traces took most of a second for 16 panels)."""
    curves = explain.densities(explanation, dims)
    rows = -(-len(dims) // columns)
    pick = explanation.pick if explanation.conditional else 0
    gap_x, gap_y, title_px, panel_px = 0.03, 0.08 if rows > 1 else 0.2, 10, 160
    width, height = (1 - gap_x * (columns - 1)) / columns, (1 - gap_y * (rows - 1)) / rows
    data, layout = [], {}
    for i, d in enumerate(dims):
        row, col = divmod(i, columns)
        axis = "" if i == 0 else str(i + 1)
        x0, y1 = col * (width + gap_x), 1 - row * (height + gap_y)
        layout[f"xaxis{axis}"] = {"domain": [round(x0, 4), round(min(x0 + width, 1), 4)], "anchor": f"y{axis}", "tickfont": {"size": 10}}
        layout[f"yaxis{axis}"] = {"domain": [round(max(y1 - height, 0), 4), round(y1, 4)], "anchor": f"x{axis}", "showticklabels": False}
        layout.setdefault("annotations", []).append(
            {"text": f"<b>d{d}</b> · KL {explanation.kl_per_dim[d]:.2f}", "x": round(x0, 4), "y": round(y1, 4),
             "xref": "paper", "yref": "paper", "xanchor": "left", "yanchor": "top", "showarrow": False,
             "font": {"size": 12}})
        lines = [(curves["posterior"][i], "q(z | x) = N(c, 1)", POSTERIOR, "solid", "tozeroy"),
                 (curves["priors"][pick, i], "p(z | ĉ)" if explanation.conditional else "N(0, 1) prior", PRIOR,
                  "solid", "none")]
        if show_candidates and explanation.conditional:
            lines += [(curves["priors"][j, i], f"p(z | candidate {j + 1})", OTHER, "dot", "none")
                      for j in range(len(explanation.candidates)) if j != pick]
        if show_standard and explanation.conditional:
            lines.append((curves["standard"][i], "N(0, 1)", STANDARD, "dash", "none"))
        data += [{"type": "scatter", "x": curves["z"][i], "y": y, "name": name, "legendgroup": name,
                  "showlegend": i == 0, "fill": fill, "hoverinfo": "skip", "xaxis": f"x{axis}", "yaxis": f"y{axis}",
                  "line": {"color": colour, "dash": dash, "width": 2 if dash == "solid" else 1.5}}
                 for y, name, colour, dash, fill in lines]
    layout.update(height=(panel_px + title_px) * rows + 60, margin={"l": 0, "r": 0, "t": 40, "b": 0},
                  legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1, "xanchor": "right"})
    return go.Figure(data=data, layout=layout, _validate=False)


def edited_map(bundle: Bundle, view: CodeView, start_xy: np.ndarray, uirevision: str, height: int = 420) -> go.Figure:
    """The map with the edited code's place (a star that moves), where it started, and its nearest codes."""
    layers = MapLayers(neighbours=bundle.map_xy[view.neighbour_ids])
    fig = map_figure(bundle.map_xy, bundle.labels, bundle.class_names, layers, uirevision, height=height)
    add_mark(fig, np.stack([start_xy, view.map_xy]), "start → edited", PATH, size=9, mode="lines+markers",
             dash="dot")
    add_mark(fig, view.map_xy, "edited code", SELECTED, symbol="star", size=20)
    return fig


def walk_map(bundle: Bundle, path: Walk, dream_xy: np.ndarray | None, uirevision: str, height: int = 420) -> go.Figure:
    """The map with the walk's frames as a path from A to B, and a daydream chain from A for contrast."""
    fig = map_figure(bundle.map_xy, bundle.labels, bundle.class_names, MapLayers(), uirevision, height=height)
    if dream_xy is not None:
        add_mark(fig, dream_xy, "daydream from A", NEIGHBOURS, size=6, mode="lines+markers", dash="dot")
    ends = ["A"] + [""] * (len(path.map_xy) - 2) + ["B"] if len(path.map_xy) > 1 else ["A = B"]
    add_mark(fig, path.map_xy, "walk A → B", PATH, size=9, mode="lines+markers", text=ends)
    return fig


def walk_costs(path: Walk, height: int = 240) -> go.Figure:
    """Each frame's cost (nats) and its distance to the nearest training code: a bump where the walk leaves
    the data."""
    frames = np.arange(len(path.codes))
    fig = go.Figure([go.Scatter(x=frames, y=path.cost.nats, name="cost (KL nats)", mode="lines+markers",
                                line={"color": PRIOR}),
                     go.Scatter(x=frames, y=path.cost.distance, name="distance to nearest training code",
                                mode="lines+markers", yaxis="y2", line={"color": POSTERIOR, "dash": "dot"})])
    fig.update_layout(height=height, margin={"l": 0, "r": 0, "t": 10, "b": 0}, xaxis_title="frame",
                      yaxis={"title": "KL (nats)"},
                      yaxis2={"title": "distance", "overlaying": "y", "side": "right", "showgrid": False},
                      legend={"orientation": "h", "y": 1.2, "x": 1, "xanchor": "right"})
    return fig
