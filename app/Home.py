"""ACN Explorer: `streamlit run app/Home.py`. Navigation over the pages in ../pages and the model picker."""
import sys
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:  # `streamlit run app/Home.py` puts app/ on the path, not the repository that holds `app`
    sys.path.insert(0, ROOT)

st.set_page_config(page_title="ACN Explorer", page_icon=":material/hub:", layout="wide")
# A browser takes about a second to fetch plotly.js and start WebGL for its first chart: a one-point chart sent
# before the imports below and the first page's work has that done meanwhile, and the first map draws sooner. (None
# of this imports PyTorch: a cold Latent map is drawn from a glance at the bundle, `explorer.map_source`.)
warm_up = st.empty() if "_charts_warm" not in st.session_state else None
if warm_up is not None:
    st.session_state["_charts_warm"] = True
    warm_up.plotly_chart(go.Figure(go.Scattergl(x=[0], y=[0])), height=10, key="warm_up", alt="(loading)")

# pandas, on every run before any figure: plotly looks it up in sys.modules without importing it, so a figure built
# while another session's thread is still importing it meets a half-made module (and the page fails)
import pandas  # noqa: E402, F401

from app import board, explorer, lesson, state  # noqa: E402

explorer.setup()
state.init_from_url()
navigation = st.navigation([
    st.Page("../pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("../pages/latent_map.py", title="Latent map", icon=":material/scatter_plot:"),
    st.Page("../pages/why_cheap.py", title="Why this code is cheap", icon=":material/balance:"),
    st.Page("../pages/edit_code.py", title="Edit a code", icon=":material/tune:"),
    st.Page("../pages/walk.py", title="Walk between two", icon=":material/route:"),
    st.Page("../pages/daydreams.py", title="Daydreams", icon=":material/auto_awesome:"),
    st.Page("../pages/your_digit.py", title="Your digit", icon=":material/draw:"),
    st.Page("../pages/prior_samples.py", title="Prior samples", icon=":material/grid_view:"),
    st.Page("../pages/compare.py", title="Compare", icon=":material/compare:"),
    st.Page("../pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("../pages/lessons.py", title="Lessons", icon=":material/school:"),
    *([st.Page("../pages/class_board.py", title="Class board", icon=":material/co_present:")]
      if board.is_teacher() else []),  # listed for the session that typed the passphrase (the page checks too)
])
lesson.before_page(navigation)
explorer.model_picker()
explorer.teacher_login()
board.join_box(st.sidebar)
if warm_up is not None:
    warm_up.empty()
navigation.run()
