"""ACN Explorer: `streamlit run app/Home.py`. Navigation over the pages in ../pages and the model picker."""
import sys
from pathlib import Path

import streamlit as st

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:  # `streamlit run app/Home.py` puts app/ on the path, not the repository that holds `app`
    sys.path.insert(0, ROOT)

from app import board, explorer, lesson, state  # noqa: E402

st.set_page_config(page_title="ACN Explorer", page_icon=":material/hub:", layout="wide")
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
      if explorer.classroom() else []),
])
lesson.before_page(navigation)
explorer.model_picker()
explorer.teacher_login()
board.join_box(st.sidebar)
navigation.run()
