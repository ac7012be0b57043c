"""A map that scales: the density grid, the drawn sample, regions found among every point (checked against
brute force), and the Latent map taking that path (AppTest, with the size threshold lowered). And marks a class
can see: the selected star, the neighbour rings and the other marks above every point with a white-and-dark
outline, the box or lasso tool kept after a selection, a colour bar for a continuous colouring, alternative text."""
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
    drawn = sum(len(_array(t["x"])) for t in spec["data"] if "customdata" in t)  # points, not marks
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


def _marks_figure(**layers):
    from app import figures

    xy = np.random.default_rng(2).normal(size=(300, 2))
    labels = np.arange(300) % 10
    return figures.map_figure(xy, labels, [str(i) for i in range(10)], figures.MapLayers(**layers), "test")


def test_every_mark_lies_above_every_point_in_a_white_and_dark_outline():
    from app.figures import HALO

    fig = _marks_figure(selected=np.zeros(2), neighbours=np.ones((8, 2)), map_nearest=np.full((8, 2), 2.0),
                        path=np.zeros((5, 2)), yours=np.ones(2),
                        held_out=(np.zeros((4, 2)), np.arange(4)))
    points = [i for i, trace in enumerate(fig.data) if trace.customdata is not None]  # what a click or lasso picks
    marks = [trace for trace in fig.data[max(points) + 1:]]
    # WebGL like the points, and after them: plotly lays SVG traces under the WebGL canvas
    assert {trace.type for trace in fig.data} == {"scattergl"} and len(marks) == 5 * 3
    for first in range(0, len(marks), 3):
        white, dark, top = marks[first:first + 3]
        assert white.name == dark.name == top.name == top.legendgroup
        assert [white.showlegend, dark.showlegend, top.showlegend] == [False, False, True]
        colour = (lambda t: t.marker.line.color) if top.marker.color == "rgba(0,0,0,0)" else (lambda t: t.marker.color)
        assert [colour(white), colour(dark)] == list(HALO) and colour(top) not in HALO
        assert all(t.hoverinfo == "skip" and t.unselected.marker.opacity == 1 for t in (white, dark, top))
    assert [m.name for m in marks[2::3]] == ["daydream", "neighbours", "8 nearest on the map", "selected", "your image"]


def test_a_continuous_colouring_has_a_colour_bar_and_no_label_legend():
    fig = _marks_figure(values=np.linspace(0, 5, 300), value_name="code cost (nats)", selected=np.zeros(2))
    points = [trace for trace in fig.data if trace.customdata is not None]
    assert len(points) == 10 and not any(trace.showlegend for trace in points)
    assert fig.layout.coloraxis.colorbar.title.text == "code cost (nats)" and fig.layout.coloraxis.cmax == 5
    assert [trace.name for trace in fig.data if trace.showlegend] == ["selected"]
    assert fig.layout.legend.title.text == ""


def test_the_box_or_lasso_tool_stays_after_a_selection_and_the_map_and_pictures_say_what_they_show(monkeypatch,
                                                                                                    tmp_path):
    monkeypatch.setenv("ACN_EXPLORER_HOME", str(tmp_path))
    at = _open_map(sample=12)
    chart = at.get("plotly_chart")[0].proto
    assert json.loads(chart.spec)["layout"]["dragmode"] == "pan"
    assert chart.alt == ("Map of 4,000 training codes in 2-D, coloured by label; a star marks sample #12, label 6; "
                         "rings mark its 8 nearest neighbours in code space.")
    alts = [picture.alt for picture in at.get("image")[0].proto.imgs]
    assert alts[:2] == ["training sample 12, label 6", "reconstruction of training sample 12, label 6, z = c"]
    box = {"x": [-20.0, 20.0], "y": [-20.0, 20.0]}
    for event, tool in (({"box": [box]}, "select"), ({"lasso": [box]}, "lasso"),
                        ({"points": [{"customdata": [42, 0]}]}, "lasso")):  # a click keeps the last region's tool
        at.session_state["latent_map"] = {"selection": {"points": [], "box": [], "lasso": [], **event}}
        at.run()
        assert json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["dragmode"] == tool
