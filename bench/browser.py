"""Start the app on a free localhost port and drive Debian's Chromium through Playwright: the harness shared by
the browser tests and the benchmarks, and the rows measured in Chromium (cold start, a lesson link, the Compare
step's first visit, a 60k-code bundle, the Latent map at each size) and the atlas layer's."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

from .rows import Row, against_goal, best_time, not_measured

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]
# JS: at least `n` maps on the page drawn with their points (traces of training or held-out points carry customdata;
# the app's one-point warm-up chart and the teaching views' bar charts do not)
CHARTS_READY = ("(n) => [...document.querySelectorAll('.js-plotly-plot')].filter(gd => gd._fullData && "
                "gd._fullData.some(t => t.customdata && t.customdata.length > 0)).length >= n")
MAP_READY = f"() => ({CHARTS_READY})(1)"
# JS: the first map drawn with points
FIRST_MAP = ("() => [...document.querySelectorAll('.js-plotly-plot')].find(gd => gd._fullData && "
             "gd._fullData.some(t => t.customdata && t.customdata.length > 0))")
NO_CHROMIUM = "Debian's chromium is not installed (apt-get install chromium)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_process(home: Path, log: Path, *options: str, wait: float = 60
                  ) -> Iterator[tuple[str, subprocess.Popen]]:
    """`streamlit run app/Home.py` on a free 127.0.0.1 port with ACN_EXPLORER_HOME=home and extra `options`;
    yields (url, process) once it answers health (within `wait` seconds), and stops it afterwards."""
    port = free_port()
    env = {**os.environ, "ACN_EXPLORER_HOME": str(home)}
    with open(log, "w") as log_file:
        server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app/Home.py", "--server.port", str(port),
                                   "--server.headless", "true", "--server.address", "127.0.0.1", *options],
                                  cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log_file)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + wait
        while True:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError(f"streamlit did not answer /_stcore/health within {wait:.0f} s (see {log})")
                time.sleep(0.05)
        yield url, server
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a busy machine: a server still answering a rerun
            server.kill()
            server.wait()


@contextlib.contextmanager
def serve_app(home: Path, log: Path) -> Iterator[str]:
    """`streamlit run app/Home.py` with ACN_EXPLORER_HOME=home; yields its URL once it answers health."""
    with serve_process(home, log) as (url, _):
        yield url


# JS: record the interval between animation frames while the map is dragged (pan)
FRAME_RECORDER = """() => { window.__frames = []; let last = performance.now();
  const tick = (t) => { window.__frames.push(t - last); last = t; if (window.__frames.length < 100000)
    window.__raf = requestAnimationFrame(tick); }; window.__raf = requestAnimationFrame(tick); }"""
PLOT_CENTRE = f"""() => {{ const gd = ({FIRST_MAP})(), l = gd._fullLayout,
  box = gd.getBoundingClientRect(); return {{x: box.left + l.xaxis._offset + l.xaxis._length / 2,
  y: box.top + l.yaxis._offset + l.yaxis._length / 2, w: l.xaxis._length}}; }}"""


def time_to_clickable_map(home: Path, model: str | None = None, held_out: bool = False,
                          box: bool = False) -> dict[str, float]:
    """In a real browser: seconds from launching `streamlit run` to a map with points (optionally for
    `model`, a label of the model picker, with the held-out layer on), then the mean and 95th-percentile
    frame time (ms) while the map is panned, seconds to reload the page to a map with points ("reopen"),
    and seconds from a click on a point to its neighbour panel.
    With `box`, also seconds from a box drawn over the middle third of the map to its region's heading
    ("region", and "region_size": how many points it caught)."""
    from urllib.parse import quote

    from playwright.sync_api import expect, sync_playwright

    query = ("?model=" + quote(model) if model else "") + ("&" if model else "?") + "map_held_out=1" * held_out
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        start = time.perf_counter()
        with serve_app(home, home / "server.log") as url:
            page.goto(f"{url}/latent_map{query.rstrip('?&')}")
            page.wait_for_function(MAP_READY, timeout=120000)
            out = {"start": time.perf_counter() - start}
            centre = page.evaluate(PLOT_CENTRE)
            page.evaluate(FRAME_RECORDER)
            page.mouse.move(centre["x"], centre["y"])
            page.mouse.down()
            for i in range(60):  # a slow drag, as a hand pans
                page.mouse.move(centre["x"] + centre["w"] * 0.3 * (i % 20) / 20, centre["y"] + 2 * (i % 7))
                page.wait_for_timeout(16)
            page.mouse.up()
            frames = sorted(page.evaluate("() => { cancelAnimationFrame(window.__raf); return window.__frames; }")[2:])
            out["frame_mean_ms"] = sum(frames) / len(frames)
            out["frame_p95_ms"] = frames[int(0.95 * (len(frames) - 1))]
            start = time.perf_counter()
            page.reload()
            page.wait_for_function(MAP_READY, timeout=120000)
            out["reopen"] = time.perf_counter() - start  # the model already loaded: the page alone
            point = page.evaluate(f"""() => {{ const gd = ({FIRST_MAP})(), t = gd._fullData[0],
              xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect(), i = 3;
              return {{x: box.left + xa._offset + xa.l2p(t.x[i]), y: box.top + ya._offset + ya.l2p(t.y[i]),
                      sample: t.customdata[i][0]}}; }}""")
            heading = page.get_by_role("heading", level=3).filter(has_text=re.compile(r"^(Sample|Held-out) #")).first
            before = heading.inner_text()
            start = time.perf_counter()
            page.mouse.click(point["x"], point["y"])
            # the panel of the clicked sample, or of a point drawn over it where points overlap
            expect(heading).not_to_have_text(before, timeout=60000)
            out["click"] = time.perf_counter() - start
            if box:
                page.locator('.modebar-btn[data-val="select"]').first.click()
                centre = page.evaluate(PLOT_CENTRE)
                region = page.get_by_role("heading", level=3).filter(has_text="Selected region")
                page.mouse.move(centre["x"] - centre["w"] / 6, centre["y"] - centre["w"] / 6)
                page.mouse.down()
                page.mouse.move(centre["x"] + centre["w"] / 6, centre["y"] + centre["w"] / 6, steps=8)
                start = time.perf_counter()
                page.mouse.up()
                expect(region).to_be_visible(timeout=60000)
                out["region"] = time.perf_counter() - start
                out["region_size"] = int(region.inner_text().split(":")[1].split("image")[0].replace(",", ""))
        browser.close()
    return out


def _finished_runs(page, finished: list[tuple[float, str]]) -> None:
    """Append (time, url path of the page) for each script run the server finishes successfully for `page` (a
    `script_finished` ForwardMsg, FINISHED_SUCCESSFULLY; the page from the run's `navigation` message), as the
    frames arrive on its websockets."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    running = [""]

    def received(payload) -> None:
        if not isinstance(payload, bytes):
            return
        msg = ForwardMsg()
        msg.ParseFromString(payload)
        kind = msg.WhichOneof("type")
        if kind == "navigation":
            running[0] = next((p.url_pathname for p in msg.navigation.app_pages
                               if p.page_script_hash == msg.navigation.page_script_hash), "")
        elif kind == "script_finished" and msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
            finished.append((time.perf_counter(), running[0]))

    page.on("websocket", lambda ws: ws.on("framereceived", received))


def _step_drawn(page, step, since: float, finished: list[tuple[float, str]], timeout: float = 120,
                run_finished: bool = True) -> None:
    """Wait until a lesson step is drawn: its title shown, its maps (one on the Latent map, two on Compare) drawn
    with points and, with `run_finished`, a run of its page finished after `since` (everything below the maps
    sent too)."""
    from playwright.sync_api import expect

    # the lesson bar's heading (a page's own title and the sidebar may say the same)
    bar = page.locator(".st-key-lesson_bar")
    expect(bar.get_by_role("heading", name=step.title, exact=True)).to_be_visible(timeout=timeout * 1000)
    if run_finished:
        _wait_for_run(page, finished, step.page, since, timeout)
    page.wait_for_function(CHARTS_READY, arg={"latent_map": 1, "compare": 2}.get(step.page, 0),
                           timeout=timeout * 1000)


def _wait_for_run(page, finished: list[tuple[float, str]], name: str, since: float, timeout: float = 120) -> None:
    """Wait until a run of page `name` has finished after `since`."""
    deadline = time.perf_counter() + timeout
    while not any(t > since and run == name for t, run in finished):
        if time.perf_counter() > deadline:
            raise TimeoutError(f"no run of {name} finished within {timeout:.0f} s (runs seen: {finished})")
        page.wait_for_timeout(20)


def time_lesson_link(home: Path, name: str = "tour") -> dict[str, float]:
    """In a real browser, on a server started for it: seconds from launching `streamlit run` to the first step of
    the link `/?lesson=NAME&step=1` drawn, its title and its map with points ("link"; on a server's first run the
    sample panel follows, once PyTorch is loaded), then, in presenter mode, from a click on Next on the step
    before the Compare step to the Compare step drawn with both maps and its run finished ("compare"): its first
    visit, nothing of it cached."""
    from playwright.sync_api import sync_playwright

    from acn_core.teaching import lesson

    steps = lesson.read(REPO / "assets" / "lessons" / f"{name}.json").steps
    compare = next(i for i, step in enumerate(steps) if step.page == "compare")  # 0-based: the step before is 1-based
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        finished: list[tuple[float, str]] = []
        _finished_runs(page, finished)
        start = time.perf_counter()
        with serve_app(home, home / "server.log") as url:
            page.goto(f"{url}/?lesson={name}&step=1")
            _step_drawn(page, steps[0], start, finished, run_finished=False)
            out = {"link": time.perf_counter() - start}
            since = time.perf_counter()
            page.goto(f"{url}/?lesson={name}&step={compare}&present=1")
            _step_drawn(page, steps[compare - 1], since, finished)
            start = time.perf_counter()
            page.locator(".st-key-lesson_next button").click()  # Next (not the → key: a step's control has focus)
            _step_drawn(page, steps[compare], start, finished)
            out["compare"] = time.perf_counter() - start
        browser.close()
    return out


def cold_start_rows() -> list[Row]:
    """Issue 21's three goals from cold, in Chromium, each on a server started for it: `streamlit run` -> a
    clickable Latent map, a lesson link -> its first step, the tour's Compare step on its first visit."""
    import tempfile

    names = {"start -> clickable map": "streamlit run -> clickable map (held-out layer on)",
             "cold lesson link": "streamlit run + tour link -> step 1 shown",
             "Compare step, first visit": "tour: Next -> Compare step shown (1st visit)"}
    if not CHROMIUM:
        return [not_measured(key, name, NO_CHROMIUM) for key, name in names.items()]
    with tempfile.TemporaryDirectory() as home:
        start = time_to_clickable_map(Path(home), held_out=True)["start"]
    with tempfile.TemporaryDirectory() as home:
        seen = time_lesson_link(Path(home))
    return [against_goal("start -> clickable map", names["start -> clickable map"], start, "Chromium"),
            against_goal("cold lesson link", names["cold lesson link"], seen["link"],
                         "Chromium; its title, its map with points (the sample panel follows)"),
            against_goal("Compare step, first visit", names["Compare step, first visit"], seen["compare"],
                         "Chromium, presenter mode; its run finished, both maps drawn")]


def big_bundle(build: Path) -> Path:
    """A bundle of 60,000 codes (bars generated like the tests' data, 28x28) for the app at full size; built once."""
    out = build / "bench-60k"
    if (out / "config.json").is_file():
        return out
    from .fixtures import make_images, write_idx

    root = build / "bench-60k-data"
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for part, n in (("train", 60_000), ("t10k", 10_000)):
        images, labels = make_images(n, classes=10, size=28, seed=n)
        write_idx(raw / f"{part}-images-idx3-ubyte", images[:, 0].numpy())
        write_idx(raw / f"{part}-labels-idx1-ubyte", labels.numpy())
    subprocess.run([sys.executable, "-m", "acn_core", "train", "--dataset", "mnist", "--root", str(root), "--encoder",
                    "mlp", "--epochs", "2", "--out", str(out)], check=True, cwd=REPO,
                   env={**os.environ, "ACN_UNVERIFIED_DATA": "1"})  # generated files, not the published MNIST
    return out


def big_bundle_rows(build: Path) -> list[Row]:
    """A 60,000-code bundle (`big_bundle`, built once under `build`) in Chromium: `streamlit run` -> clickable
    map, click -> neighbour panel shown, frame time while panning."""
    import shutil
    import tempfile

    names = {"60k: start -> clickable map": "60k codes: streamlit run -> clickable map",
             "60k: click -> panel shown": "60k codes: click -> neighbour panel shown",
             "60k: pan frame time (mean)": "60k codes: frame time while panning (mean)"}
    if not CHROMIUM:
        return [not_measured(key, name, NO_CHROMIUM) for key, name in names.items()]
    big = big_bundle(build)
    with tempfile.TemporaryDirectory() as home:
        shutil.copytree(big, Path(home) / "models" / big.name)  # the app refuses linked model folders
        seen = time_to_clickable_map(Path(home), model=big.name)
    return [against_goal("60k: start -> clickable map", names["60k: start -> clickable map"], seen["start"]),
            against_goal("60k: click -> panel shown", names["60k: click -> panel shown"], seen["click"],
                         "in Chromium, click to text"),
            against_goal("60k: pan frame time (mean)", names["60k: pan frame time (mean)"],
                         seen["frame_mean_ms"] / 1e3, f"95th percentile {seen['frame_p95_ms']:.0f} ms")]


def atlas_rows(bundle_path: Path = REPO / "assets" / "default-mnist5k") -> list[Row]:
    """Seconds to build the atlas layer (grid, mean codes, decode, the picture as PNG) at each level, for the
    5,000 codes of the default bundle (its training and held-out codes together), against the 2 s goal."""
    from types import SimpleNamespace

    import numpy as np
    import torch

    from acn_core.teaching import atlas
    from acn_core.bundle.format import load
    from acn_core.data.images import to_png_bytes

    bundle = load(bundle_path)
    points = SimpleNamespace(model=bundle.model, dataset=bundle.dataset,
                             train_codes=torch.cat([bundle.train_codes, bundle.test_codes]),
                             map_xy=np.concatenate([bundle.map_xy, bundle.test_map_xy]))
    rows = []
    for level, cells in atlas.ATLAS_LEVELS.items():
        start = time.perf_counter()
        result = atlas.build_atlas(points, cells)
        to_png_bytes(atlas.atlas_picture(result))
        cold = time.perf_counter() - start
        t = best_time(lambda: to_png_bytes(atlas.atlas_picture(atlas.build_atlas(points, cells))), repeats=3)
        rows.append(against_goal("atlas layer", f"atlas layer, {level} ({len(result.counts)} cells), "
                                 f"{len(points.map_xy):,} codes, {bundle.config.model.decoder}", t,
                                 f"first build {cold:.2f} s"))
    return rows


def synthetic_map_bundle(out: Path, n_train: int, n_test: int = 10_000,
                         source: Path = REPO / "assets" / "default-mnist5k") -> Path:
    """A bundle of `n_train` training and `n_test` held-out points for measuring the map at size, built once:
    the default model (its decoder decodes every click), with the default bundle's codes, images, labels and
    map positions repeated, each copy's codes and positions jittered (code noise 0.05, map noise 0.08) so no
    two points coincide. Synthetic: its map is the default's map, densely resampled, not a UMAP of new data.
    The index is built with 5 trees (enough for the click's neighbours; every answer is checked anyway)."""
    import numpy as np
    import torch

    from acn_core.bundle.format import load, save
    from acn_core.bundle.index import CodeIndex

    if (out / "config.json").is_file():
        return out
    base = load(source)
    rng = np.random.default_rng(0)
    train, test = np.arange(n_train) % base.n_train, np.arange(n_test) % len(base.test_labels)
    codes = base.train_codes.numpy()[train] + rng.normal(0, 0.05, (n_train, base.train_codes.shape[1]))
    test_codes = base.test_codes.numpy()[test] + rng.normal(0, 0.05, (n_test, base.test_codes.shape[1]))
    arrays = {"train_images": base.train_images[train], "train_labels": torch.from_numpy(base.labels[train]),
              "train_source_index": torch.arange(n_train), "train_codes": torch.from_numpy(codes.astype(np.float32)),
              "train_map": torch.from_numpy((base.map_xy[train] + rng.normal(0, 0.08, (n_train, 2))).astype(np.float32)),
              "train_code_cost": torch.from_numpy(base.code_cost[train]),
              "train_neighbour_agreement": torch.from_numpy(base.neighbour_agreement[train]),
              "train_recon_cost": torch.from_numpy(base.recon_cost[train]),
              "test_images": base.test_images[test], "test_labels": torch.from_numpy(base.test_labels[test]),
              "test_codes": torch.from_numpy(test_codes.astype(np.float32)),
              "test_map": torch.from_numpy((base.test_map_xy[test] + rng.normal(0, 0.08, (n_test, 2))).astype(np.float32))}
    index = CodeIndex.build(arrays["train_codes"].numpy(), n_trees=5)
    save(out, base.model, base.config, base.dataset, arrays, index, base.evaluation, base.history,
         base.training_seconds, base.map_method, base.created)
    return out


def map_scale_rows(sizes: tuple[int, ...] = (4_000, 60_000, 1_000_000), build: Path = REPO / "build") -> list[Row]:
    """The Latent map at each size: in Chromium (no GPU; held-out layer on, 10,000 held-out points),
    streamlit run -> clickable map, pan frame times, click -> panel and a box over the middle of the map ->
    its region's grid; on the server (AppTest, warm), a rerun of the page, a click, and a lasso around the
    points of one label. `sizes` are training points: 4,000 is the bundled model (with its 1,000 held-out
    points: 5,000); larger sizes are `synthetic_map_bundle`s (with 10,000 held-out points)."""
    import os
    import shutil
    import tempfile

    if not CHROMIUM:
        print(f"the Latent map at {', '.join(f'{n:,}' for n in sizes)} training points: not measured, {NO_CHROMIUM}")
        return []
    rows = []
    for n_train in sizes:
        bundle_dir = REPO / "assets" / "default-mnist5k" if n_train == 4_000 else \
            synthetic_map_bundle(build / f"bench-map-{n_train}", n_train)
        with tempfile.TemporaryDirectory() as home:
            model = None
            if n_train != 4_000:  # the app refuses linked folders; hard links are regular files
                shutil.copytree(bundle_dir, Path(home) / "models" / bundle_dir.name, copy_function=os.link)
                model = bundle_dir.name
            total = n_train + (1_000 if n_train == 4_000 else 10_000)
            server = _server_times(Path(home), model)
            seen = time_to_clickable_map(Path(home), model=model, held_out=True, box=True)
        name = f"map, {total:,} points"
        rows += [against_goal("map: start -> clickable map", f"{name}: streamlit run -> clickable map", seen["start"],
                              "Chromium without a GPU, held-out layer on"),
                 against_goal("map: reload -> clickable map", f"{name}: reload -> clickable map (model loaded)",
                              seen["reopen"], "the page alone, the model already in the server's cache"),
                 against_goal("map: pan frame time (p95)", f"{name}: pan frame time p95", seen["frame_p95_ms"] / 1e3,
                              f"mean {seen['frame_mean_ms']:.0f} ms"),
                 against_goal("map: click -> panel shown", f"{name}: click -> panel (browser)", seen["click"],
                              f"server rerun for the click {server['click'] * 1e3:.0f} ms"),
                 against_goal("map: box -> grid shown",
                              f"{name}: box of {seen['region_size']:,} points -> grid (browser)", seen["region"],
                              "box over the middle third of the map"),
                 against_goal("map: lasso -> grid (server)",
                              f"{name}: lasso of {server['lasso_size']:,} points -> grid (server)", server["lasso"],
                              f"a page rerun without it {server['rerun'] * 1e3:.0f} ms")]
    return rows


def _server_times(home: Path, model: str | None) -> dict[str, float]:
    """Seconds for warm AppTest runs of the Latent map: a plain rerun, a click, a lasso around the leftmost
    tenth of the points (and how many points it selects)."""
    import os

    import numpy as np
    from streamlit.testing.v1 import AppTest

    from acn_core.bundle.format import load

    os.environ["ACN_EXPLORER_HOME"] = str(home)
    at = AppTest.from_file(str(REPO / "app" / "Home.py"), default_timeout=300)
    if model:
        at.session_state["model_label"] = model
    at.run()
    at.switch_page("../pages/latent_map.py").run()
    at.session_state["map_held_out"] = True
    at.run()
    bundle = load(home / "models" / model if model else REPO / "assets" / "default-mnist5k")
    start = time.perf_counter()
    at.run()
    out = {"rerun": time.perf_counter() - start}
    at.session_state["latent_map"] = {"selection": {"points": [{"customdata": [11, 0]}]}}
    start = time.perf_counter()
    at.run()
    out["click"] = time.perf_counter() - start
    (x0, y0), (_, y1) = bundle.map_xy.min(0) - 1, bundle.map_xy.max(0) + 1
    x1 = float(np.quantile(bundle.map_xy[:, 0], 0.1))  # the leftmost tenth of the points: 100,000 of a million
    lasso = {"x": [float(x0), x1, x1, float(x0)], "y": [float(y0), float(y0), float(y1), float(y1)]}
    if bundle.n_train <= 20_000:  # a small map: the browser sends the points inside the lasso
        from acn_core.bundle.projection import points_in_shapes

        inside = np.flatnonzero(points_in_shapes(bundle.map_xy, [], [lasso]))
        points = [{"customdata": [int(i), 0]} for i in inside]
    else:
        points = []
    at.session_state["latent_map"] = {"selection": {"points": points[:50], "box": [{"x": [x0, x1], "y": [y0, y0]}],
                                                    "lasso": []}}
    at.run()  # a first region warms what a region's panel imports (pandas, pyarrow) and caches
    at.session_state["latent_map"] = {"selection": {"points": points, "box": [], "lasso": [lasso]}}
    start = time.perf_counter()
    at.run()
    out["lasso"] = time.perf_counter() - start
    heading = [h.value for h in at.subheader if h.value.startswith("Selected region")]
    out["lasso_size"] = int(heading[0].split(":")[1].split("image")[0].replace(",", "")) if heading else 0
    return out

