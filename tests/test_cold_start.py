"""Fast from cold (issue 21, item 6): a server's first Latent map is drawn from a glance at the bundle, before
PyTorch is imported. The glance reads and verifies what `format.load` does, gives the bundle's own neighbours, and
the map it draws is the map the loaded bundle draws."""
import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from streamlit.testing.v1 import AppTest

from acn_core.bundle import glance, load
from acn_core.storage import BundleError, read_json, sha256_file, write_json_atomic

REPO = Path(__file__).resolve().parents[1]
# every module the app imports before a page draws (Home.py's imports, the Latent map page's and theirs)
COLD_MODULES = ["acn_core", "acn_core.bundle", "acn_core.data", "acn_core.teaching", "acn_core.storage",
                "acn_core.runtime", "acn_core.jobs", "acn_core.bundle.projection", "app.explorer", "app.state",
                "app.answers", "app.mapview", "app.panels", "app.figures", "app.export", "app.subjects",
                "app.lesson_kit", "app.canvas", "app.board", "app.lesson"]


def test_nothing_the_first_map_needs_imports_pytorch():
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
            + "".join(f"import {name}\n" for name in COLD_MODULES)
            + "from acn_core.bundle import glance\n"
            + f"g = glance.read({str(REPO / 'assets' / 'default-mnist5k')!r}); g.neighbours(12, 8)\n"
            + "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]", out.stdout


def test_the_apps_answers_know_a_bundle_by_its_content_without_importing_its_class():
    from streamlit import type_util

    from acn_core.bundle import Bundle
    from app import answers

    assert type_util.get_fqn(Bundle) in answers.BY_CONTENT  # the hash function's key names the class


def test_a_glance_holds_the_bundles_arrays_and_gives_its_neighbours(tiny_bundle, lean_digits):
    for path in (tiny_bundle, lean_digits[0]):
        seen, bundle = glance.read(path), load(path)
        assert seen.content_hash == bundle.content_hash and seen.class_names == bundle.class_names
        for name in ("labels", "map_xy", "code_cost", "neighbour_agreement", "recon_cost", "test_labels"):
            assert np.array_equal(getattr(seen, name), getattr(bundle, name)), name
        assert np.array_equal(seen.test_map_xy, bundle.test_map_xy) and seen.n_train == bundle.n_train
        for item in range(bundle.n_train):
            for k in (1, 5, bundle.n_train - 1):
                assert np.array_equal(seen.neighbours(item, k)[0], bundle.neighbours(item, k)[0]), (item, k)
        with pytest.raises(ValueError, match="does not exist"):
            seen.neighbours(bundle.n_train, 3)


def _resign(path: Path) -> None:
    meta = read_json(path / "config.json")
    meta["files"]["data.safetensors"] = sha256_file(path / "data.safetensors")
    write_json_atomic(path / "config.json", meta)


@pytest.mark.parametrize("damage", ["unsigned", "nan", "label", "shape"])
def test_a_glance_refuses_what_a_load_refuses(tiny_bundle, tmp_path, damage):
    path = tmp_path / "copy"
    shutil.copytree(tiny_bundle, path)
    arrays = load_file(path / "data.safetensors")
    if damage == "unsigned":
        arrays["train_map"][3, 0] += 1.0
    elif damage == "nan":
        arrays["train_map"][3, 0] = np.nan
    elif damage == "label":
        arrays["train_labels"][0] = 99
    elif damage == "shape":
        arrays["train_map"] = arrays["train_map"][:-1]
    save_file(arrays, path / "data.safetensors")
    if damage != "unsigned":
        _resign(path)
    with pytest.raises(BundleError) as by_load:
        load(path)
    with pytest.raises(BundleError) as by_glance:
        glance.read(path)
    assert str(by_glance.value) == str(by_load.value)


def _map_spec(at: AppTest) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def test_a_cold_map_is_drawn_first_from_the_glance_and_is_the_map_a_loaded_bundle_draws(tmp_path, monkeypatch):
    from app import explorer

    monkeypatch.setenv("ACN_EXPLORER_HOME", str(tmp_path))
    monkeypatch.setattr(explorer, "_LOADED", set())  # as on a server's first run
    glanced = []
    monkeypatch.setattr(explorer, "_glance", lambda path, content_hash: glanced.append(path) or glance.read(path))
    at = AppTest.from_file(str(REPO / "app" / "Home.py"), default_timeout=120)
    at.session_state["sample"], at.session_state["k"], at.session_state["map_held_out"] = 12, 6, True
    at.switch_page("../pages/latent_map.py").run()
    assert not at.exception and glanced and explorer._LOADED  # drawn from the glance, then loaded for the panel
    cold = _map_spec(at)
    assert at.subheader[0].value.startswith("Sample #12") and len(at.get("plotly_chart")) == 1
    at.run()  # a later run: the loaded bundle, the panel first
    assert len(glanced) == 1 and _map_spec(at) == cold  # the same star, rings, points and held-out layer
    rings = next(trace for trace in cold["data"] if trace.get("name") == "neighbours" and trace.get("showlegend"))
    assert len(base64.b64decode(rings["x"]["bdata"])) == 6 * np.dtype(rings["x"]["dtype"]).itemsize  # K = 6 rings


def test_a_map_too_large_to_draw_every_point_gets_no_glance(monkeypatch):
    default = REPO / "assets" / "default-mnist5k"
    assert glance.draws_whole_map(default)
    monkeypatch.setattr(glance, "EXACT_MAP_POINTS", 1_000)  # the bundled default's 4,000 codes: a large map now
    assert not glance.draws_whole_map(default)
