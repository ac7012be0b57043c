"""Start the app on a free localhost port and drive Debian's Chromium through Playwright.
Shared by the browser test and the start-up benchmark."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]
MAP_READY = ("() => { const gd = document.querySelector('.js-plotly-plot');"
             " return gd && gd._fullData && gd._fullData.length > 0; }")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(home: Path, log: Path) -> Iterator[str]:
    """`streamlit run app/Home.py` with ACN_EXPLORER_HOME=home; yields its URL once it answers health."""
    port = free_port()
    env = {**os.environ, "ACN_EXPLORER_HOME": str(home)}
    with open(log, "w") as log_file:
        server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app/Home.py", "--server.port", str(port),
                                   "--server.headless", "true", "--server.address", "127.0.0.1"],
                                  cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log_file)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("streamlit did not answer /_stcore/health within 60 s")
                time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


# JS: record the interval between animation frames while the map is dragged (pan)
FRAME_RECORDER = """() => { window.__frames = []; let last = performance.now();
  const tick = (t) => { window.__frames.push(t - last); last = t; if (window.__frames.length < 100000)
    window.__raf = requestAnimationFrame(tick); }; window.__raf = requestAnimationFrame(tick); }"""
PLOT_CENTRE = """() => { const gd = document.querySelector('.js-plotly-plot'), l = gd._fullLayout,
  box = gd.getBoundingClientRect(); return {x: box.left + l.xaxis._offset + l.xaxis._length / 2,
  y: box.top + l.yaxis._offset + l.yaxis._length / 2, w: l.xaxis._length}; }"""


def time_to_clickable_map(home: Path, model: str | None = None, held_out: bool = False) -> dict[str, float]:
    """In a real browser: seconds from launching `streamlit run` to a map with points (optionally for
    `model`, a label of the model picker, with the held-out layer on), then the mean and 95th-percentile
    frame time (ms) while the map is panned, and seconds from a click on a point to its neighbour panel."""
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
            page.reload()
            page.wait_for_function(MAP_READY, timeout=120000)
            point = page.evaluate("""() => { const gd = document.querySelector('.js-plotly-plot'), t = gd._fullData[0],
              xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect(), i = 3;
              return {x: box.left + xa._offset + xa.l2p(t.x[i]), y: box.top + ya._offset + ya.l2p(t.y[i]),
                      sample: t.customdata[i][0]}; }""")
            heading = page.get_by_role("heading", level=3).filter(has_text="Sample #").first
            before = heading.inner_text()
            start = time.perf_counter()
            page.mouse.click(point["x"], point["y"])
            # the panel of the clicked sample, or of a point drawn over it where points overlap
            expect(heading).not_to_have_text(before, timeout=60000)
            out["click"] = time.perf_counter() - start
        browser.close()
    return out


def atlas_rows(bundle_path: Path = REPO / "assets" / "default-mnist5k") -> list:
    """Seconds to build the atlas layer (grid, mean codes, decode, the picture as PNG) at each level, for the
    5,000 codes of the default bundle (its training and held-out codes together), against the 2 s goal."""
    from types import SimpleNamespace

    import numpy as np
    import torch

    from acn_core import atlas
    from acn_core.bundle import load
    from acn_core.images import to_png_bytes

    from .core import Row, best_time

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
        rows.append(Row(f"atlas layer, {level} ({len(result.counts)} cells), {len(points.map_xy):,} codes, "
                        f"{bundle.config.model.decoder}", t, "s", "goal", 2.0, 2.0 / t,
                        f"first build {cold:.2f} s; ratio = goal / measured (>1 meets it)"))
    return rows


if __name__ == "__main__":
    import argparse

    from acn_core.runtime import configure

    from .core import print_table

    parser = argparse.ArgumentParser(prog="python -m bench.browser", description="the map's layers and its scale")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    configure(args.threads)
    print_table(atlas_rows())
