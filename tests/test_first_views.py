"""A slow decoder's first views (issue 21, item 6; format 4): decoded when the bundle is made, stored with it, the
same pictures as decoding them live; old bundles still load; the migration adds them without touching the weights;
the stored arrays are checked like every other. And Compare's picture of a code: its KL per dimension and three
decodes of it, side by side (issue 22)."""
import json
import shutil

import numpy as np
import pytest
from conftest import make_data, tiny_config
from safetensors.numpy import load_file, save_file
from streamlit.testing.v1 import AppTest

from acn_core import sampling
from acn_core.bundle import load, store_first_views
from acn_core.bundle.build import create
from acn_core.bundle.views import CODE_DECODES, VIEW_ITEMS, VIEW_SAMPLES, decode_code, display_mode, repeat_decodes
from acn_core.storage import BundleError, read_json, sha256_file, write_json_atomic
from acn_core.training.loop import train
from test_app import HOME_SCRIPT


@pytest.fixture(scope="module")
def pixelcnn_bundle(tmp_path_factory):
    config = tiny_config(epochs=1)
    config.model.decoder, config.model.pixelcnn_layers, config.model.pixelcnn_channels = "pixelcnn", 2, 8
    data = make_data()
    out = tmp_path_factory.mktemp("views") / "pixelcnn"
    create(train(config, data), data, out, chains=0)
    return out


def _without_views(source, out):
    """`source` as a format-3 bundle made before first views."""
    shutil.copytree(source, out)
    arrays = {k: v for k, v in load_file(out / "data.safetensors").items() if not k.startswith("view_")}
    save_file(arrays, out / "data.safetensors")
    meta = read_json(out / "config.json")
    meta["format"], meta["files"]["data.safetensors"] = "acn-bundle/3", sha256_file(out / "data.safetensors")
    write_json_atomic(out / "config.json", meta)
    return out


def test_a_pixelcnn_bundle_stores_its_first_views_and_they_are_the_live_decodes(pixelcnn_bundle):
    bundle = load(pixelcnn_bundle)
    views = bundle.first_views
    assert json.loads((pixelcnn_bundle / "config.json").read_text())["format"] == "acn-bundle/4"
    assert views.items.tolist() == list(range(VIEW_ITEMS)) and views.mode == "sample" == display_mode(bundle.model)
    for item in (0, 12):
        code = bundle.train_codes[item].numpy()
        mean, drawn = decode_code(bundle.model, code, VIEW_SAMPLES, 0, "sample")
        stored_mean, stored_drawn = sampling.reconstruct(bundle, item, samples=VIEW_SAMPLES)
        assert np.array_equal(stored_mean, mean) and np.array_equal(stored_drawn, drawn)
        assert np.array_equal(sampling.code_decodes(bundle, item), repeat_decodes(bundle.model, code, CODE_DECODES, 0,
                                                                                  "sample"))
        panel = sampling.inspect(bundle, item, 5, samples=VIEW_SAMPLES)
        assert np.array_equal(panel.reconstruction, mean) and np.array_equal(panel.samples, drawn)
    # any other request is decoded live: another item, count, seed or mode
    assert views.panel(VIEW_ITEMS, VIEW_SAMPLES, 0, "sample") is None and views.panel(0, 3, 0, "sample") is None
    assert views.panel(0, VIEW_SAMPLES, 1, "sample") is None and views.repeats(0, CODE_DECODES, 0, "mean") is None
    assert sampling.reconstruct(bundle, 20, samples=2)[1].shape == (2, 1, 8, 8)


def test_a_fast_decoder_stores_none(tiny_bundle):
    assert len(load(tiny_bundle).first_views.items) == 0
    assert store_first_views(tiny_bundle) is False


def test_an_old_bundle_loads_and_the_migration_adds_its_views_leaving_the_weights(pixelcnn_bundle, tmp_path):
    old = _without_views(pixelcnn_bundle, tmp_path / "old")
    before = load(old)  # format 3, no views: decoded live
    assert len(before.first_views.items) == 0
    live = sampling.reconstruct(before, 3, samples=VIEW_SAMPLES)
    weights = (old / "model.safetensors").read_bytes()
    assert store_first_views(old) is True and store_first_views(old) is False
    after = load(old)
    assert (old / "model.safetensors").read_bytes() == weights
    assert json.loads((old / "config.json").read_text())["format"] == "acn-bundle/4"
    stored = sampling.reconstruct(after, 3, samples=VIEW_SAMPLES)
    assert np.array_equal(stored[0], live[0]) and np.array_equal(stored[1], live[1])
    kept, made = load_file(pixelcnn_bundle / "data.safetensors"), load_file(old / "data.safetensors")
    assert kept.keys() == made.keys() and all(np.array_equal(kept[k], made[k]) for k in kept)


@pytest.mark.parametrize("damage", ["partial", "shape", "dtype", "item", "twice"])
def test_first_views_are_checked_like_every_array(pixelcnn_bundle, tmp_path, damage):
    path = tmp_path / "copy"
    shutil.copytree(pixelcnn_bundle, path)
    arrays = load_file(path / "data.safetensors")
    if damage == "partial":
        del arrays["view_code_decodes"]
    elif damage == "shape":
        arrays["view_decodes"] = arrays["view_decodes"][:, :, :, :4]
    elif damage == "dtype":
        arrays["view_decodes"] = arrays["view_decodes"].astype(np.float32)
    elif damage == "item":
        arrays["view_items"][0] = 10**6
    else:
        arrays["view_items"][1] = arrays["view_items"][0]
    save_file(arrays, path / "data.safetensors")
    meta = read_json(path / "config.json")
    meta["files"]["data.safetensors"] = sha256_file(path / "data.safetensors")
    write_json_atomic(path / "config.json", meta)
    with pytest.raises(BundleError, match="data.safetensors"):
        load(path)


def test_compare_shows_each_models_kl_per_dimension_and_three_decodes_of_one_code(monkeypatch, tmp_path):
    monkeypatch.setenv("ACN_EXPLORER_HOME", str(tmp_path))
    at = AppTest.from_file(HOME_SCRIPT, default_timeout=300)
    at.session_state["sample"] = 12
    at.run()
    at.switch_page("../pages/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    charts = at.get("plotly_chart")
    bars = [json.loads(chart.proto.spec) for chart in charts if "code dimensions of sample 12 under model" in
            chart.proto.alt]
    assert len(bars) == 2 and all(spec["data"][0]["type"] == "bar" for spec in bars)
    assert bars[0]["layout"]["yaxis"]["range"] == bars[1]["layout"]["yaxis"]["range"]  # the two on one scale
    assert all(chart.proto.alt for chart in charts)
    pictures = [picture for image in at.image for picture in image.proto.imgs]
    decodes = [p for p in pictures if "of the one code z = c of sample 12 under model" in p.alt]
    assert len(decodes) == 2 * CODE_DECODES and all(p.alt for p in pictures)
    assert any("three decodes draw the same code three times" in c.value for c in at.caption)
