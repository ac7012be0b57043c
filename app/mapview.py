"""The Latent map page's helpers: which panel tab a new selection brings into view, the layers laid over the
map (map-versus-code neighbours, the atlas of decoded cells), what keeps a large map fluid (a density picture of
every point under a stable sample of drawn points; regions found among every point), cached per model, and the
order of a first paint: the map from a glance at the bundle, before its panel (`draws_first`)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from acn_core.bundle import glance, projection
from app import answers, export, figures

if TYPE_CHECKING:
    from acn_core.bundle import Bundle
    from acn_core.teaching import atlas

PANEL_TABS = ("Sample", "Region", "Rankings")


def panel_tabs(shown: tuple) -> list:
    """The panel's tabs (Sample, Region, Rankings), with the tab a new selection asks for brought into view:
    a new region (a box, a lasso, "Show them as the region") opens Region; a new sample (a click on the map,
    a typed index, a row of the region's table) opens Sample. `shown` says what the Sample tab shows
    (e.g. (training item, held-out item)); a change of it since the last run counts as a new sample."""
    wanted = None
    last = st.session_state.get("_map_tab_shown")
    if last is not None and last != shown:
        wanted = "Sample"
    st.session_state["_map_tab_shown"] = shown
    wanted = st.session_state.pop("_map_tab_next", None) or wanted  # set by state.set_region
    if wanted in PANEL_TABS:
        st.session_state["map_tab"] = wanted
    return st.tabs(list(PANEL_TABS), key="map_tab", on_change="rerun")


def drag_tool(key: str) -> str:
    """The drag tool the map under `key` opens with: the box ("select") or lasso of its last region, else pan.
    Streamlit redraws the figure with the layout's dragmode after every selection, so without this the second
    drag would pan the map away instead of selecting; a click on a point keeps the tool of the last region."""
    event = st.session_state.get(key)
    selection = event.get("selection") if isinstance(event, dict) else None
    if isinstance(selection, dict) and (selection.get("box") or selection.get("lasso")):
        st.session_state[f"_{key}_tool"] = "select" if selection.get("box") else "lasso"
    return st.session_state.get(f"_{key}_tool", "pan")


def atlas_levels() -> list[str]:
    """The atlas's levels of detail (`atlas.ATLAS_LEVELS`), coarse to fine."""
    from acn_core.teaching import atlas

    return list(atlas.ATLAS_LEVELS)


def rankings(bundle: Bundle) -> list[str]:
    """The rankings (`sampling.RANKINGS`) this bundle has the numbers for."""
    from acn_core import sampling

    return [r for r, (attr, _) in sampling.RANKINGS.items() if getattr(bundle, attr) is not None]


def ranked(bundle: Bundle, ranking: str, count: int) -> np.ndarray:
    """The first `count` training items by `ranking`."""
    from acn_core import sampling

    return sampling.rank(bundle, ranking, count)


def draws_first(source: Bundle | glance.Glance, held_out: int | None, show_held_out: bool, show_vs_code: bool,
                show_atlas: bool) -> bool:
    """Whether the map is drawn before its panel: when it comes from a glance (a server's first run: no PyTorch
    yet) and the view needs nothing else, that is a training sample selected, no map-vs-code or atlas layer, a
    map that draws every point, and held-out positions stored if they are shown. Otherwise the panel comes first,
    so a click's panel reaches the browser before the redrawn map."""
    return (isinstance(source, glance.Glance) and held_out is None and not (show_vs_code or show_atlas)
            and not is_large(source) and not (show_held_out and source.test_map_xy is None))


def glance_marks(source: glance.Glance, sample: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Map positions of the selected training sample and of its K code-space neighbours, the ones its panel lists."""
    ids, _ = source.neighbours(sample, k)
    return source.map_xy[sample], source.map_xy[ids]


def show_map(source: Bundle | glance.Glance, layers: figures.MapLayers, colour_by: str, subject: str,
             show_held_out: bool) -> None:
    """The Latent map (selectable: a click, a box, a lasso) of `subject` selected, and its caption."""
    hover = {"code cost": source.code_cost, "neighbour agreement": source.neighbour_agreement}
    export.chart(figures.map_figure(source.map_xy, source.labels, source.class_names, layers, source.content_hash,
                                    hover), key="latent_map", on_select="rerun",
                 selection_mode=("points", "box", "lasso"), width="stretch",
                 alt=figures.map_alt(source.n_train, layers, colour_by, subject.replace(" · ", ", ").lower()))
    st.caption(f"{source.n_train:,} training codes, {source.map_method.upper()} projection. Click a point to inspect "
               f"it; pick the box or lasso tool (toolbar) to select a region; click legend entries to hide labels. "
               f"Code cost: KL of the code under the prior conditioned on its nearest other code."
               + size_caption(source, show_held_out))


def vs_code_caption(result: atlas.MapVsCode) -> str:
    return (f"**Map distance is not code distance:** {result.sentence()}. Pink rings: the {result.k} nearest in code "
            f"space (what the panel lists); teal squares: the {result.k} nearest on this 2-D map. The map keeps "
            f"neighbourhoods only roughly: read closeness from the code-space neighbours, not from the picture.")


def atlas_caption(level: str, cells: int, decoding: str) -> str:
    return (f"**Atlas ({level}, {cells} cells):** each cell shows {decoding} of the training points in it; "
            f"empty cells hold no point. Pick *fine* when you zoom in, *coarse* for the whole map.")


def neighbour_positions(bundle: Bundle, view, vs_code: atlas.MapVsCode | None) -> tuple[np.ndarray, str, np.ndarray | None]:
    """Map positions of the code-space neighbours, their legend name, and those of the map-space nearest."""
    if vs_code is None:
        return bundle.map_xy[view.neighbour_ids], "neighbours", None
    return (bundle.map_xy[vs_code.code_ids], f"{vs_code.k} nearest in code space",
            bundle.map_xy[vs_code.map_ids])


DRAWN_HELD_OUT = 1_000  # held-out points drawn on a large map


def is_large(bundle: Bundle | glance.Glance) -> bool:
    """Whether the map draws a density picture and a sample of points instead of every point."""
    return bundle.n_train > projection.EXACT_MAP_POINTS


def region_finder(bundle: Bundle, visible: np.ndarray | None):
    """For `state.map_event` on a large map: the training items inside a selection's boxes and lassos,
    among every (visible) point, not only the drawn ones."""
    def find(selection: dict) -> np.ndarray:
        inside = projection.points_in_shapes(bundle.map_xy, list(selection.get("box") or []),
                                             list(selection.get("lasso") or []))
        return np.flatnonzero(inside if visible is None else inside & visible)
    return find


def level_of_detail(bundle: Bundle | glance.Glance, attribute: str | None, shown: tuple[int, ...],
                    region: np.ndarray | None, show_held_out: bool) -> dict:
    """`figures.MapLayers` fields for the map at this size: nothing extra for a map of up to
    EXACT_MAP_POINTS points (every point is drawn); above, the density picture of every shown point (its
    colouring and the region's highlight included), the drawn sample, and a sample of the held-out layer."""
    held_out = (bundle.test_map_xy, bundle.test_labels) if show_held_out else None
    if not is_large(bundle):
        return {"held_out": held_out}
    extra = {"density": answers.density(bundle, attribute, shown, region), "drawn": answers.drawn(bundle, shown)}
    if held_out is not None:
        ids = projection.drawn_sample(len(bundle.test_labels), DRAWN_HELD_OUT)
        extra.update(held_out=(bundle.test_map_xy[ids], bundle.test_labels[ids]), held_out_ids=ids)
    return extra


def size_caption(bundle: Bundle | glance.Glance, show_held_out: bool) -> str:
    """What a large map draws, in words; empty for a map that draws every point."""
    if not is_large(bundle):
        return ""
    held = f"; {min(DRAWN_HELD_OUT, len(bundle.test_labels)):,} of the {len(bundle.test_labels):,} held-out " \
           f"images" if show_held_out else ""
    return (f" Every point is in the shaded picture underneath; {projection.DRAWN_POINTS:,} of them, a fixed random "
            f"sample, are drawn as clickable points{held}. Boxes and lassos select among every point the label "
            f"filter above keeps (the legend hides only drawn points).")
