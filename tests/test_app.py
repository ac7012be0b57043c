"""AppTest for every page, with the map selection injected through session state."""
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from acn_core import jobs

HOME_SCRIPT = str(Path(__file__).resolve().parents[1] / "app" / "Home.py")


@pytest.fixture(autouse=True)
def explorer_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ACN_EXPLORER_HOME", str(tmp_path))
    return tmp_path


def open_page(page: str | None = None, **state) -> AppTest:
    at = AppTest.from_file(HOME_SCRIPT, default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    if page:
        at.switch_page(f"../pages/{page}.py")
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_home_shows_the_model_card_and_where_the_tour_starts():
    at = open_page()
    labels = [m.label for m in at.metric]
    assert "Held-out total" in labels and "k-NN accuracy, codes" in labels
    assert any("**Lessons → Start**" in m.value and "(/?lesson=tour&step=1)" in m.value for m in at.markdown)
    assert "upper bound" in " ".join(c.value for c in at.caption)
    assert at.selectbox(key="model_label").value == "default-mnist5k (bundled)"


def test_map_click_shows_neighbours_and_typing_selects_too():
    at = open_page("latent_map")
    assert at.subheader[0].value.startswith("Sample #0")
    at.session_state["latent_map"] = {"selection": {"points": [{"customdata": [42, 0, 1.0, 0.5]}]}}
    at.run()
    assert at.subheader[0].value.startswith("Sample #42")
    neighbour_caption = [c for c in at.markdown if "nearest neighbours" in c.value]
    assert neighbour_caption and neighbour_caption[0].value.startswith("**8 nearest")
    at.number_input(key="sample_input").set_value(7).run()
    assert at.subheader[0].value.startswith("Sample #7")  # the old click does not take it back
    at.slider(key="k_slider").set_value(3).run()
    assert [m.value for m in at.markdown if "nearest neighbours" in m.value][0].startswith("**3 nearest")
    assert at.query_params["sample"] in ("7", ["7"]) and at.query_params["k"] in ("3", ["3"])


def test_out_of_range_sample_and_k_are_clamped_with_a_notice():  # row 11
    at = open_page("latent_map", sample=10**6, k=0)
    warnings = " ".join(w.value for w in at.warning)
    assert "does not exist in this model" in warnings and "K = 0 is outside 1 to 50" in warnings
    assert at.subheader[0].value.startswith("Sample #0")


def test_daydream_steps_and_reset():
    at = open_page("daydreams", sample=5)
    for _ in range(3):
        at.button(key="dd_step").click().run()
    assert any("3 steps so far" in c.value for c in at.caption)
    at.button(key="dd_reset").click().run()
    assert any("0 steps so far" in c.value for c in at.caption)


def test_prior_samples_page_shows_as_many_samples_as_asked_each_saying_its_neighbour():
    import re

    at = open_page("prior_samples")
    at.slider(key="prior_n").set_value(8).run()
    pictures = at.get("image")[0].proto.imgs
    assert len(pictures) == 8 and at.number_input(key="prior_seed").value == 0
    for n, picture in enumerate(pictures):  # the caption and the alternative text name the same code ĉ
        item, label = re.fullmatch(r"from #(\d+) \((\d)\)", picture.caption).groups()
        assert picture.alt == (f"prior sample {n + 1}: z ~ p(z | ĉ) decoded, with ĉ the code of training sample "
                               f"{item}, label {label}")
    next(b for b in at.button if b.label == "Draw again").click().run()
    assert at.number_input(key="prior_seed").value == 1
    assert [p.caption for p in at.get("image")[0].proto.imgs] != [p.caption for p in pictures]


def test_train_page_starts_one_job_and_refuses_a_duplicate(explorer_home):  # rows 15, 16
    at = open_page("train")
    at.text_input(key="train_name").set_value("tiny")
    at.selectbox(key="train_dataset").set_value("digits")
    at.number_input(key="train_epochs").set_value(1)
    at.button(key="train_start").click().run()
    assert any("Started tiny" in s.value for s in at.success), [e.value for e in at.error]
    at.button(key="train_start").click().run()  # the same name again, e.g. after a reload: refused
    assert any("is taken by a model or a job" in e.value for e in at.error)
    deadline = time.time() + 240
    while time.time() < deadline and jobs.read_status(explorer_home / "jobs" / "tiny").active:
        time.sleep(0.5)
    status = jobs.read_status(explorer_home / "jobs" / "tiny")
    assert status.state == "done", status.log_tail
    at = open_page()
    assert "tiny" in at.selectbox(key="model_label").options


def test_a_broken_model_in_the_list_does_not_break_the_app(explorer_home):
    broken = explorer_home / "models" / "broken"
    broken.mkdir(parents=True)
    (broken / "config.json").write_text("{not json")
    at = open_page(model_label="broken")
    assert any("cannot be used" in e.value for e in at.error)
    at.switch_page("../pages/latent_map.py").run()
    assert not at.exception and any("No model yet" in i.value for i in at.info)


def test_compare_page_shares_one_selection_between_two_maps(explorer_home, tiny_bundle):
    import shutil

    for name in ("x", "y"):
        shutil.copytree(tiny_bundle, explorer_home / "models" / name)
    at = open_page("compare", compare_a="x", compare_b="y")
    table = at.dataframe[0].value
    assert list(table.columns) == ["metric", "A: x", "B: y"] and "active dimensions" in table["metric"].tolist()
    at.session_state["compare_map_b"] = {"selection": {"points": [{"customdata": [17, 0, 0.0]}]}}
    at.run()
    assert at.subheader[0].value.startswith("Sample #17")  # clicked in B, shown for both
    at = open_page("compare", compare_a="default-mnist5k (bundled)", compare_b="x")
    assert any("different images" in i.value for i in at.info)


def _region_event(ids):
    return {"selection": {"points": [{"customdata": [int(i), 0]} for i in ids], "box": [{"x": [0, 1], "y": [0, 1]}]}}


def test_a_box_selection_shows_its_grid_histogram_and_csv_and_survives_a_new_colouring():
    at = open_page("latent_map")
    at.session_state["latent_map"] = _region_event(range(0, 400, 2))
    at.run()
    assert any(h.value.startswith("Selected region: 200 images") for h in at.subheader)
    assert at.query_params["sel"]  # the selection is in the link
    at.selectbox(key="map_colour").set_value("code cost (nats)").run()
    assert any(h.value.startswith("Selected region: 200 images") for h in at.subheader)
    table = at.dataframe[0].value
    assert list(table.columns)[:3] == ["item", "label", "code_cost_nats"] and len(table) == 200
    at.session_state["latent_map"] = _region_event(range(4000))  # every point: paged, and said so
    at.run()
    assert any("every training image is selected" in c.value for c in at.caption)
    assert at.number_input(key="map_region_page").max == 20
    at.session_state["latent_map"] = {"selection": {"points": [], "box": [{"x": [0, 1], "y": [0, 1]}]}}
    at.run()  # an empty box
    assert any("The selection is empty" in i.value for i in at.info)


def test_rankings_feed_the_grid_and_a_row_opens_the_panel():
    at = open_page("latent_map")
    at.selectbox(key="map_ranking").set_value("lowest neighbour-label agreement")
    at.slider(key="map_rank_n").set_value(50)
    at.button(key="map_rank_go").click().run()
    assert any(h.value.startswith("Selected region: 50 images") for h in at.subheader)
    first = int(at.dataframe[0].value["item"].iloc[0])
    at.session_state["map_region_table"] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    assert at.subheader[0].value.startswith(f"Sample #{first} ")


def test_held_out_images_on_the_map_show_their_training_neighbours():
    at = open_page("latent_map")
    at.toggle(key="map_held_out").set_value(True).run()
    at.session_state["latent_map"] = {"selection": {"points": [{"customdata": [5, 1]}]}}
    at.run()
    assert at.subheader[0].value.startswith("Held-out #5 · label")
    assert any("nearest neighbours in code space" in m.value for m in at.markdown)


def test_a_link_reproduces_the_view():
    at = AppTest.from_file(HOME_SCRIPT, default_timeout=120)
    at.query_params.update({"sample": "17", "k": "4", "map_colour": "neighbour-label agreement",
                            "sel": "not a selection"})
    at.run()
    at.switch_page("../pages/latent_map.py").run()
    assert at.subheader[0].value.startswith("Sample #17 ") and at.selectbox(key="map_colour").value.startswith("neigh")
    assert any("cannot be read" in w.value for w in at.warning)  # a damaged link: said, and the rest still works


def test_your_digit_page_takes_an_image_and_daydreams_from_it():
    import numpy as np

    at = open_page("your_digit")
    assert any("Draw a digit" in i.value for i in at.info)  # a blank canvas asks for a digit
    image = np.zeros((1, 28, 28), dtype=np.uint8)
    image[0, 4:24, 12:16] = 255
    at.session_state["your_image"] = image
    at.switch_page("../pages/daydreams.py").run()
    at.radio(key="dd_start_mode").set_value("your image").run()
    at.button(key="dd_step").click().run()
    assert any("1 steps so far" in c.value for c in at.caption) and any("Start: your image" in c.value for c in at.caption)


def test_a_file_that_is_not_an_image_or_a_blank_one_gets_a_clear_message():
    from acn_core.data.images import ImageError, user_image

    with pytest.raises(ImageError, match="not a readable image"):
        user_image(b"%PDF-1.4 not an image", 1, 28)
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (280, 280)).save(buffer, format="PNG")
    with pytest.raises(ImageError, match="the image is blank"):
        user_image(buffer.getvalue(), 1, 28, centre=True)


def test_replay_and_daydream_exports(tiny_bundle, explorer_home):
    import shutil

    shutil.copytree(tiny_bundle, explorer_home / "models" / "tiny")
    at = open_page("train", model_label="tiny")
    slider = at.select_slider(key="train_replay_epoch")
    assert slider.value == 2 and len(slider.options) == 3  # epochs 1, 2, 3
    slider.set_value(0).run()
    assert any("after epoch 1 of 3" in c.value for c in at.caption)
    at.switch_page("../pages/daydreams.py").run()
    labels = [b.label for b in at.get("download_button")]
    assert "Chain as GIF" in labels and "Chain as PNG strip" in labels


def test_compare_colours_by_neighbour_overlap(explorer_home, tiny_bundle):
    import shutil

    for name in ("x", "y"):
        shutil.copytree(tiny_bundle, explorer_home / "models" / name)
    at = open_page("compare", compare_a="x", compare_b="y")
    table = at.dataframe[0].value
    assert table.loc[table["metric"] == "mean neighbour overlap (Jaccard)", "A: x"].iloc[0] == "1.000"
    at.radio(key="compare_colour").set_value("neighbour overlap").run()
    assert not at.exception and any(h.value.startswith("Lowest neighbour overlap") for h in at.subheader)


def test_compare_on_a_large_pair_draws_a_sample_and_measures_its_overlap(explorer_home, tiny_bundle, monkeypatch):
    import base64
    import json
    import shutil

    import numpy as np

    from acn_core import sampling
    from acn_core.bundle import load, projection

    bundle = load(tiny_bundle)
    full = sampling.neighbour_overlap(bundle, bundle, 3)
    some = sampling.neighbour_overlap(bundle, bundle, 3, items=np.array([1, 5, 7]))
    assert np.array_equal(some[[1, 5, 7]], full[[1, 5, 7]]) and np.isnan(np.delete(some, [1, 5, 7])).all()
    monkeypatch.setattr(projection, "EXACT_MAP_POINTS", 20)  # the tiny pair (48 items) becomes "large"
    monkeypatch.setattr(projection, "DRAWN_POINTS", 16)
    for name in ("x", "y"):
        shutil.copytree(tiny_bundle, explorer_home / "models" / name)
    at = open_page("compare", compare_a="x", compare_b="y")
    at.radio(key="compare_colour").set_value("neighbour overlap").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert table.loc[table["metric"] == "mean neighbour overlap (Jaccard)", "A: x"].iloc[0] == "1.000"
    assert any("for the 16 points drawn on the maps" in c.value for c in at.caption)
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    maps = [spec for spec in specs if any("sample #" in str(t.get("hovertemplate")) for t in spec["data"])]
    assert len(maps) == 2
    for spec in maps:  # points drawn: the sample; the density picture of every point lies under them
        xs = [t["x"] for t in spec["data"] if "sample #" in str(t.get("hovertemplate"))]  # plotly's typed arrays
        assert sum(len(base64.b64decode(x["bdata"])) // np.dtype(x["dtype"]).itemsize for x in xs) == 16
        assert spec["layout"]["images"]


def test_a_new_region_brings_the_region_tab_into_view_and_a_click_the_sample_tab():  # issue 15
    at = open_page("latent_map")
    at.session_state["latent_map"] = _region_event(range(0, 40))
    at.run()
    assert at.session_state["map_tab"] == "Region"
    at.session_state["latent_map"] = {"selection": {"points": [{"customdata": [42, 0]}]}}
    at.run()
    assert at.session_state["map_tab"] == "Sample" and at.subheader[0].value.startswith("Sample #42")
    at.button(key="map_rank_go").click().run()  # "Show them as the region" in Rankings
    assert at.session_state["map_tab"] == "Region"
    at.session_state["map_region_table"] = {"selection": {"rows": [0], "columns": []}}
    at.run()  # a row of the region's table opens its sample
    assert at.session_state["map_tab"] == "Sample"


def _map_spec(at) -> dict:
    import json

    return json.loads(at.get("plotly_chart")[0].proto.spec)


def test_map_vs_code_marks_both_neighbour_sets_and_says_their_overlap():  # issue 15 item 5
    at = open_page("latent_map", sample=12)
    at.toggle(key="map_vs_code").set_value(True).run()
    said = [m.value for m in at.markdown if "Map distance is not code distance" in m.value]
    assert said and " of 8 nearest on the map are also nearest in code space" in said[0]
    names = [trace.get("name") for trace in _map_spec(at)["data"]]
    assert "8 nearest in code space" in names and "8 nearest on the map" in names
    assert at.query_params["map_vs_code"] in ("1", ["1"])
    at.toggle(key="map_held_out").set_value(True).run()
    at.session_state["latent_map"] = {"selection": {"points": [{"customdata": [3, 1]}]}}
    at.run()  # a held-out image: its nearest training points, in code space and on the map
    assert at.subheader[0].value.startswith("Held-out #3")
    assert any("nearest on the map are also nearest in code space" in m.value for m in at.markdown)


def test_the_atlas_layer_lays_decoded_cells_over_the_map_by_level():  # issue 15 item 4
    at = open_page("latent_map")
    at.toggle(key="map_atlas").set_value(True).run()
    assert any(c.value.startswith("**Atlas (medium, ") for c in at.caption)
    image = _map_spec(at)["layout"]["images"][0]
    assert image["source"].startswith("data:image/png;base64,") and image["xref"] == "x"
    at.radio(key="map_atlas_level").set_value("fine").run()
    assert any(c.value.startswith("**Atlas (fine, ") for c in at.caption)
    assert at.query_params["map_atlas"] in ("1", ["1"])
    at.toggle(key="map_atlas").set_value(False).run()
    assert "images" not in _map_spec(at)["layout"]


def test_the_atlas_of_a_pixelcnn_model_takes_the_slow_path_without_an_error():  # issue 15: never an error
    at = open_page("latent_map", model_label="paper-check/pixelcnn-spatial-acn (bundled)", map_atlas=True,
                   map_atlas_level="coarse")
    assert any(c.value.startswith("**Atlas (coarse, ") and "pixel by pixel" in c.value for c in at.caption)
