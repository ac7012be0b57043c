"""Server time of the teaching views (issue 15) against their goals: switching the neighbour whose prior
explains a code, one change of an edited code, a 10-frame walk. Each measurement is the computation plus
building and serialising its figures (what the server does for the view beyond Streamlit's own rerun), and
the whole page's rerun under AppTest beside it."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import plotly.io

from .rows import Row, against_goal, best_time

REPO = Path(__file__).resolve().parents[1]


def teaching_latency(bundle_path: Path, pixelcnn_path: Path | None = None) -> list[Row]:
    from streamlit.testing.v1 import AppTest

    from acn_core.teaching import explain
    from acn_core.teaching import latent
    from acn_core.bundle.format import load

    from app import idea_figures

    bundle = load(bundle_path)
    rng = np.random.default_rng(0)
    items = iter(rng.permutation(bundle.n_train).tolist())

    def switch_neighbour():  # a new item each call: nothing is cached
        why = explain.explain_item(bundle, next(items), pick=1)
        plotly.io.to_json(idea_figures.kl_bars(why, True))
        plotly.io.to_json(idea_figures.densities_figure(why, why.dims_by_kl(), True, True))

    start = bundle.train_codes[0].numpy()

    def edit():
        code = start.copy()
        code[int(rng.integers(len(code)))] += float(rng.normal(0, 3))
        view = latent.view_code(bundle, code, exclude=(0,))
        plotly.io.to_json(idea_figures.edited_map(bundle, view, bundle.map_xy[0], "bench"))

    b_code = bundle.train_codes[int(np.flatnonzero(bundle.labels != bundle.labels[0])[0])].numpy()

    def walk(model=bundle):
        path = latent.walk(model, start, b_code, frames=10)
        plotly.io.to_json(idea_figures.walk_map(model, path, None, "bench"))
        plotly.io.to_json(idea_figures.walk_costs(path))

    rows = []
    for name, fn, goal in (
            ("why cheap: switch the neighbour (explain + figures)", switch_neighbour, "switch the neighbour"),
            ("edit a code: one slider change (decode, place, cost, map)", edit, "edit a code"),
            ("walk between two: 10 frames (decode, place, cost, figures)", walk, "walk of 10 frames")):
        rows.append(against_goal(goal, name, best_time(fn, repeats=5, min_seconds=0), "server"))
    with tempfile.TemporaryDirectory() as home:
        os.environ["ACN_EXPLORER_HOME"] = home
        for page, key, values in (("why_cheap", "why_pick", [1, 2, 0]), ("edit_code", None, None)):
            at = AppTest.from_file(str(REPO / "app" / "Home.py"), default_timeout=120)
            at.run()
            at.switch_page(f"../pages/{page}.py").run()
            if key:
                cycle = iter(values * 10)
                seconds = best_time(lambda: at.radio(key=key).set_value(next(cycle)).run(), repeats=3, min_seconds=0)
            else:
                slider = [s for s in at.slider if s.key.startswith("edit_d")][0]
                cycle = iter(np.linspace(slider.min, slider.max, 40).tolist())
                seconds = best_time(lambda: at.slider(key=slider.key).set_value(next(cycle)).run(), repeats=3,
                                    min_seconds=0)
            rows.append(Row(f"{page} page rerun after a change (AppTest)", seconds * 1e3, "ms", "", None, None,
                            "the whole script, its widgets and figures, as the server runs it"))
    if pixelcnn_path is not None and pixelcnn_path.exists():
        pixelcnn = load(pixelcnn_path)
        ms = best_time(lambda: walk(pixelcnn), repeats=1, min_seconds=0) * 1e3
        rows.append(Row("walk between two, PixelCNN: 10 frames", ms, "ms", "", None, None,
                        "pixel by pixel, shown with a progress bar"))
    return rows
