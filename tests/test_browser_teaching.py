"""The code editor in a real browser: dragging one code slider redraws the decoded picture (issue 15)."""
import os

import pytest

from bench.browser import CHROMIUM, CHROMIUM_ARGS, serve_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# JS: the sources of the pictures in the first image row (the start image, the decoded mean, a sample)
FIRST_ROW = """() => Array.from(document.querySelectorAll('[data-testid=stImageContainer] img'))
  .slice(0, 3).map(img => img.src)"""


@pytest.fixture
def app_url(tmp_path):
    log = tmp_path / "server.log"
    try:
        with serve_app(tmp_path, log) as url:
            yield url
    finally:
        print(log.read_text()[-3000:])  # shown by pytest when the test fails


def test_dragging_a_code_slider_changes_the_decoded_image(app_url):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed: `make test` installs it (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed (sudo apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{app_url}/edit_code")
        expect(page.get_by_text("Cost to send (KL nats)")).to_be_visible(timeout=60000)
        page.wait_for_function(f"({FIRST_ROW})().length === 3", timeout=30000)
        before = page.evaluate(FIRST_ROW)
        slider = page.locator("[data-testid=stSlider]").first
        track = slider.locator("[role=group]").first.bounding_box()
        thumb = slider.locator("input[type=range]").first.locator("..").bounding_box()
        page.mouse.move(thumb["x"] + thumb["width"] / 2, thumb["y"] + thumb["height"] / 2)
        page.mouse.down()
        page.mouse.move(track["x"] + track["width"] * 0.95, thumb["y"] + thumb["height"] / 2, steps=10)
        page.mouse.up()
        page.wait_for_function(f"(before) => {{ const now = ({FIRST_ROW})(); "
                               "return now.length === 3 && now[1] !== before[1]; }", arg=before, timeout=30000)
        after = page.evaluate(FIRST_ROW)
        assert after[0] == before[0]  # the start image stays; the decoded picture changed
        assert "edit_z=" in page.url
        browser.close()
