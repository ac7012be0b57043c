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


def time_to_clickable_map(home: Path) -> float:
    """Seconds from launching `streamlit run` to a map with points in a real browser."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page()
        start = time.perf_counter()
        with serve_app(home, home / "server.log") as url:
            page.goto(f"{url}/latent_map")
            page.wait_for_function(MAP_READY, timeout=60000)
            seconds = time.perf_counter() - start
        browser.close()
    return seconds
