"""AppTest of the teaching views: why this code is cheap, edit a code, walk between two (issue 15)."""
import re

import numpy as np
import pytest
from test_app import explorer_home, open_page  # noqa: F401  (explorer_home: each test gets its own app home)

from acn_core.bundle.format import load

PIXELCNN_VAE = "paper-check/pixelcnn-spatial-standard (bundled)"


def test_why_cheap_shows_the_stored_cost_and_switches_neighbour_and_subject():
    bundle = load("assets/default-mnist5k")
    at = open_page("why_cheap", sample=12)
    text = " ".join(m.value for m in at.markdown)
    assert f"stored code cost {bundle.code_cost[12]:.2f}" in text and "N(0, I)" in text
    assert at.radio(key="why_pick").value == 0
    at.radio(key="why_pick").set_value(2).run()
    assert not at.exception and "stored code cost" not in " ".join(m.value for m in at.markdown)
    assert at.query_params["why_pick"] in ("2", ["2"])
    at.multiselect(key="why_show_list").set_value(["the other candidates' priors", "N(0, 1)"]).run()
    assert not at.exception
    at.radio(key="idea_of_kind").set_value("h").run()
    assert at.session_state["idea_of"] == "h0" and not at.exception
    at.number_input(key="idea_of_index").set_value(5).run()
    assert at.session_state["idea_of"] == "h5"
    assert at.query_params["idea_of"] in ("h5", ["h5"]) and "nearest training codes" in at.caption[0].value
    notes = " ".join(m.value for m in at.markdown)  # a note that promises a number shows it, or says there is none
    assert "(the stored reconstruction cost)" not in notes and "a held-out image has no stored cost" in notes
    reconstruction = float(re.search(r"reconstruction}\\;([\d.]+)", at.latex[0].value).group(1))
    assert reconstruction > 0


def test_every_caption_with_a_number_shows_it_and_every_picture_says_what_it_shows():
    bundle = load("assets/default-mnist5k")
    at = open_page("why_cheap", sample=12)
    notes = " ".join(m.value for m in at.markdown)
    assert f"the stored reconstruction cost is {bundle.recon_cost[12]:.2f} nats" in notes
    assert "total" in at.latex[0].value and "code cost (KL)" in at.latex[0].value  # reconstruction + KL = the total
    pictures = at.image[0].proto.imgs
    assert pictures[0].alt.startswith("the explained image: training sample #12") and "candidate 1" in pictures[1].alt
    assert all(chart.proto.alt for chart in at.get("plotly_chart"))
    at = open_page("walk", walk_a="t12", walk_b="t73", walk_n=10)
    frames = at.image[0].proto.imgs
    assert len(frames) == 10 and frames[3].alt.startswith("walk frame 3 of 9 from training sample #12 · label 6 to "
                                                          "training sample #73 · label 1: nearest training label")
    assert all(chart.proto.alt for chart in at.get("plotly_chart"))


def test_a_map_selection_is_what_why_cheap_explains_and_a_bad_link_falls_back():
    at = open_page("why_cheap", sample=30)
    assert at.session_state["idea_of"] == "t30"
    at = open_page("why_cheap", idea_of="x!")
    assert "names no sample" in " ".join(w.value for w in at.warning)
    at = open_page("why_cheap", idea_of="d")  # nothing drawn yet
    assert "draw one on the Your digit page" in " ".join(w.value for w in at.warning)


def test_your_digit_is_explained_too():
    image = (load("assets/default-mnist5k").test_images[4].numpy())
    at = open_page("why_cheap", your_image=image, idea_of="d")
    assert at.session_state["idea_of"] == "d" and not at.warning
    assert "your digit" in at.radio(key="idea_of_kind").options


def test_a_standard_prior_pixelcnn_bundle_says_it_is_n01_and_nothing_about_neighbours():
    at = open_page("why_cheap", model_label=PIXELCNN_VAE, sample=3)
    assert "standard prior" in " ".join(m.value for m in at.markdown)
    with pytest.raises(KeyError):
        at.radio(key="why_pick")
    said = " ".join(e.value for kind in ("markdown", "caption", "latex", "subheader") for e in at.get(kind)).lower()
    said += " ".join(p.alt.lower() for pictures in at.image for p in pictures.proto.imgs)
    assert "n(0, i)" in said and not any(word in said for word in ("neighbour", "candidate", "ĉ", "hat c"))
    assert len(at.image[0].proto.imgs) == 1  # the image alone: no candidates for a neighbour


def test_editing_a_code_redraws_and_costs_it_and_reset_restores():
    at = open_page("edit_code", sample=5)
    before = at.metric[0].value
    dims = [s.key for s in at.slider if s.key.startswith("edit_d")]
    assert len(dims) == 16
    at.slider(key=dims[0]).set_value(at.slider(key=dims[0]).max).run()
    assert not at.exception and at.metric[0].value != before
    assert "edit_z" in at.query_params
    at.button(key="edit_reset").click().run()
    assert at.metric[0].value == before and "edit_z" not in at.query_params
    at.radio(key="edit_order").set_value("spread of the training codes").run()
    assert not at.exception


def test_an_edited_code_from_a_link_is_clamped_or_refused():  # row 38
    at = open_page("edit_code", sample=5, edit_z=",".join(["1000"] + ["0"] * 15))
    assert "outside the range" in " ".join(w.value for w in at.warning)
    at = open_page("edit_code", sample=5, edit_z=",".join(["nan"] * 16))
    assert "NaN or infinite" in " ".join(e.value for e in at.error)
    at = open_page("edit_code", sample=5, edit_z="1,2")
    assert "has 16 numbers" in " ".join(e.value for e in at.error)


def test_daydream_from_an_edited_code():
    at = open_page("edit_code", sample=5)
    at.button(key="edit_daydream").click().run()
    assert not at.exception and at.session_state["dd_start_mode"] == "your image"
    assert at.session_state["your_image"].dtype == np.uint8


def test_the_walk_says_rises_or_dips_from_its_costs():
    at = open_page("walk", walk_a="t12", walk_b="t73", walk_n=10)  # a 6 to a 1: a bump in between
    assert "In between, the cost rises above both ends: frame 5 costs 34.3 nats." in at.caption[-1].value
    at = open_page("walk", walk_a="t12", walk_b="t40", walk_n=10)  # two 6s: the middle is cheaper than the ends
    assert "In between, the cost dips below both ends" in at.caption[-1].value


def test_walk_between_two_with_frames_sphere_and_a_equal_b():
    at = open_page("walk", sample=0)
    assert not at.exception and at.session_state["walk_a"] == "t0"
    at.number_input(key="walk_n").set_value(4).run()
    at.toggle(key="walk_sph").set_value(True).run()
    assert not at.exception and at.query_params["walk_n"] in ("4", ["4"])
    at.session_state["walk_b"] = "t0"
    at.run()
    assert "same code" in " ".join(i.value for i in at.info)
    at.button(key="walk_use_b").click().run()
    assert at.session_state["walk_b"] == "t0"


def test_walk_on_a_pixelcnn_bundle_takes_the_slow_path_without_error():
    at = open_page("walk", model_label=PIXELCNN_VAE, walk_a="t0", walk_b="h1", walk_n=2)
    assert not at.exception and not at.error


def test_editing_a_code_of_a_pixelcnn_acn_takes_the_slow_path_without_error():
    at = open_page("edit_code", model_label="paper-check/pixelcnn-spatial-acn (bundled)", sample=2)
    dims = [s.key for s in at.slider if s.key.startswith("edit_d")]
    at.slider(key=dims[0]).set_value(at.slider(key=dims[0]).min).run()
    assert not at.exception and not at.error and at.metric[0].label == "Cost to send (KL nats)"
