"""The Latent map page's helpers: which panel tab a new selection brings into view."""
from __future__ import annotations

import streamlit as st

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
