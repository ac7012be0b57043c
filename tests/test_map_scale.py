"""A map that scales: the density grid, the drawn sample, regions found among every point (checked against
brute force), and the Latent map taking that path (AppTest, with the size threshold lowered)."""
import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from acn_core.bundle import projection

HOME_SCRIPT = str(Path(__file__).resolve().parents[1] / "app" / "Home.py")


def test_the_density_grid_counts_labels_values_and_region_per_cell():
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(3000, 2)).astype(np.float32)
    labels = rng.integers(0, 4, 3000)
    values = rng.random(3000)
    mask = labels != 3
    region = np.flatnonzero(xy[:, 0] > 0.5)
    grid = projection.map_grid(xy, 8)
    density = projection.with_region(projection.map_density(grid, labels, mask, values), grid, region, mask)
    flat, (columns, rows) = grid.flat, grid.shape
    assert density.counts.shape == (rows, columns) and density.counts.sum() == mask.sum()
    for cell in np.unique(flat):
        row, column = divmod(cell, columns)
        members = (flat == cell) & mask
        assert density.counts[row, column] == members.sum()
        if members.any():
            assert np.bincount(labels[members])[density.top_label[row, column]] == np.bincount(labels[members]).max()
            assert density.mean_value[row, column] == pytest.approx(values[members].mean())
            assert density.region_counts[row, column] == np.isin(np.flatnonzero(members), region).sum()
        else:
            assert density.top_label[row, column] == -1 and np.isnan(density.mean_value[row, column])


def test_the_drawn_sample_is_stable_and_follows_the_label_filter():
    first = projection.drawn_sample(10_000, 500)
    assert len(first) == 500 and np.array_equal(first, projection.drawn_sample(10_000, 500))
    assert np.all(np.diff(first) > 0)
    mask = np.arange(10_000) % 10 == 3
    kept = projection.drawn_sample(10_000, 500, mask)
    assert len(kept) == 500 and mask[kept].all()  # a filter draws more of what it keeps
    assert len(projection.drawn_sample(100, 500)) == 100


def _even_odd(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """An independent point-in-polygon test: count edge crossings of a ray to +x."""
    inside = np.zeros(len(points), dtype=bool)
    for (x0, y0), (x1, y1) in zip(polygon, np.roll(polygon, -1, axis=0)):
        crosses = (y0 > points[:, 1]) != (y1 > points[:, 1])
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x0 + (points[:, 1] - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (points[:, 0] < x_at)
    return inside


def test_boxes_and_lassos_select_among_every_point():
    xy = np.random.default_rng(1).uniform(-5, 5, size=(20_000, 2))
    star = np.array([[0, 4], [1, 1], [4, 0], [1, -1], [0, -4], [-1, -1], [-4, 0], [-1, 1.0]])  # not convex
    lasso = {"x": star[:, 0].tolist(), "y": star[:, 1].tolist()}
    got = projection.points_in_shapes(xy, [], [lasso])
    np.testing.assert_array_equal(got, _even_odd(xy, star))
    box = {"x": [2.0, -1.0], "y": [-3.0, 0.5]}  # corners in any order
    expected_box = (xy[:, 0] >= -1) & (xy[:, 0] <= 2) & (xy[:, 1] >= -3) & (xy[:, 1] <= 0.5)
    np.testing.assert_array_equal(projection.points_in_shapes(xy, [box], []), expected_box)
    np.testing.assert_array_equal(projection.points_in_shapes(xy, [box], [lasso]), expected_box | got)
    broken = [{"x": [0, 1], "y": [0]}, {"x": [0, float("nan"), 1], "y": [0, 1, 1]}, {}]
    assert not projection.points_in_shapes(xy, broken, broken).any()  # garbage from a hand-made event


@pytest.fixture
def small_threshold(monkeypatch, tmp_path):
    """The bundled 4,000-point model takes the large-map path."""
    monkeypatch.setenv("ACN_EXPLORER_HOME", str(tmp_path))
    monkeypatch.setattr(projection, "EXACT_MAP_POINTS", 1_000)
    monkeypatch.setattr(projection, "DRAWN_POINTS", 500)


def _open_map(**state) -> AppTest:
    at = AppTest.from_file(HOME_SCRIPT, default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page("../pages/latent_map.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _spec(at) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def _array(value) -> np.ndarray:
    """A figure's array as plotly sends it: a list, or {"dtype", "bdata" (base64), "shape"}."""
    if isinstance(value, dict):
        shape = [int(v) for v in str(value.get("shape", "-1")).split(",")]
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).reshape(shape)
    return np.asarray(value)


def test_a_large_map_draws_a_density_picture_and_a_sample_and_selects_among_every_point(small_threshold):
    from acn_core.bundle.format import load

    bundle = load(Path(HOME_SCRIPT).parents[1] / "assets" / "default-mnist5k")
    at = _open_map()
    spec = _spec(at)
    drawn = sum(len(_array(t["x"])) for t in spec["data"] if t.get("type") == "scattergl")
    assert drawn == 500 and spec["layout"]["images"][0]["source"].startswith("data:image/png;base64,")
    assert any("fixed random sample" in c.value for c in at.caption)
    low, high = bundle.map_xy.min(0), bundle.map_xy.max(0)
    middle = (low + high) / 2
    triangle = np.array([low - 0.01, [high[0] + 0.01, low[1] - 0.01], middle])  # no point on an edge
    at.session_state["latent_map"] = {"selection": {"points": [], "box": [],
                                                    "lasso": [{"x": triangle[:, 0].tolist(), "y": triangle[:, 1].tolist()}]}}
    at.run()
    expected = int(_even_odd(bundle.map_xy, triangle).sum())
    assert expected > 500 and any(h.value.startswith(f"Selected region: {expected:,} images") for h in at.subheader)
    assert at.session_state["map_tab"] == "Region"
    at.multiselect(key="map_labels").set_value(["3"]).run()  # the filter: fewer drawn points, all of label 3
    at.session_state["latent_map"] = {"selection": {"points": [], "lasso": [],
                                                    "box": [{"x": [low[0], high[0]], "y": [low[1], high[1]]}]}}
    at.run()
    assert any(h.value.startswith(f"Selected region: {(bundle.labels == 3).sum():,} images") for h in at.subheader)
    clicked = int(_array(_spec(at)["data"][0]["customdata"])[5][0])
    at.session_state["latent_map"] = {"selection": {"points": [{"customdata": [clicked, 0]}]}}
    at.run()
    assert at.subheader[0].value.startswith(f"Sample #{clicked} ") and at.session_state["map_tab"] == "Sample"


def test_a_large_map_keeps_its_colourings_and_held_out_layer(small_threshold):
    at = _open_map()
    by_label = _spec(at)["layout"]["images"][0]["source"]
    at.selectbox(key="map_colour").set_value("code cost (nats)").run()
    spec = _spec(at)
    assert spec["layout"]["images"][0]["source"] != by_label and spec["layout"]["coloraxis"]["cmax"] > 0
    at.toggle(key="map_held_out").set_value(True).run()
    held = _array([t for t in _spec(at)["data"] if t.get("name") == "held out"][0]["customdata"])
    at.session_state["latent_map"] = {"selection": {"points": [{"customdata": held[7].tolist()}]}}
    at.run()
    assert at.subheader[0].value.startswith(f"Held-out #{int(held[7][0])} ")
