"""The real-browser tests: Debian's Chromium driven by Playwright against `streamlit run app/Home.py`."""
import os
import re
import time
from pathlib import Path

import pytest

from bench.browser import CHROMIUM, CHROMIUM_ARGS, FIRST_MAP, MAP_READY, serve_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def app_url(tmp_path):
    """A served app for one test, once Chromium is known to be there (CI must have it)."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed: `make test` installs it (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed (sudo apt-get install chromium)")
    log = tmp_path / "server.log"
    try:
        with serve_app(tmp_path, log) as url:
            yield url
    finally:
        print(log.read_text()[-3000:])  # shown by pytest when the test fails


# JS: the page position of the middle point of the first map's first trace, and its sample index.
FIRST_POINT = f"""() => {{
  const gd = ({FIRST_MAP})();
  const trace = gd._fullData[0], xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.getBoundingClientRect();
  const i = Math.floor(trace.x.length / 2);
  return {{x: box.left + xa._offset + xa.l2p(trace.x[i]), y: box.top + ya._offset + ya.l2p(trace.y[i]),
          sample: trace.customdata[i][0]}};
}}"""


# JS: the page rectangle of the first map's plotting area
PLOT_BOX = f"""() => {{
  const gd = ({FIRST_MAP})(), l = gd._fullLayout, box = gd.getBoundingClientRect();
  return {{x: box.left + l.xaxis._offset, y: box.top + l.yaxis._offset, w: l.xaxis._length, h: l.yaxis._length}};
}}"""


def test_click_a_point_then_daydream(app_url):
    from playwright.sync_api import expect, sync_playwright

    shots = os.environ.get("ACN_SCREENSHOTS")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{app_url}/latent_map")
        page.wait_for_function(MAP_READY, timeout=60000)
        expect(page.get_by_text("Sample #0 ·")).to_be_visible(timeout=30000)
        point = page.evaluate(FIRST_POINT)
        page.mouse.click(point["x"], point["y"])
        expect(page.get_by_text(f"Sample #{point['sample']} ·")).to_be_visible(timeout=30000)
        # for a moment after a click the tabs hold the old panel too (hidden, on its way out): wait for one panel
        panel = page.get_by_text("nearest neighbours in code space")
        expect(panel).to_have_count(1)
        expect(panel).to_be_visible()
        neighbour_captions = page.get_by_text(" · d=")
        expect(neighbour_captions).to_have_count(8)
        expect(neighbour_captions.first).to_be_visible()
        if shots:
            page.screenshot(path=f"{shots}/map.png")

        page.get_by_role("link", name="Daydreams").click()
        expect(page.get_by_text("0 steps so far")).to_be_visible(timeout=30000)
        expect(page.get_by_text(f"Start: sample #{point['sample']}")).to_be_visible()
        step = page.get_by_role("button", name="Step", exact=True)
        for n in (1, 2, 3):
            step.click()
            expect(page.get_by_text(f"{n} steps so far")).to_be_visible(timeout=15000)
        for n in (1, 2, 3):  # three new frames in the strip, captioned "<step>: <label>"
            expect(page.get_by_text(f"{n}: ", exact=False).first).to_be_visible()
        page.get_by_role("button", name="Play", exact=True).click()  # auto-advance, then pause
        expect(page.get_by_text("6 steps so far")).to_be_visible(timeout=20000)
        page.get_by_role("button", name="Pause", exact=True).click()
        if shots:
            page.screenshot(path=f"{shots}/daydream.png")

        # a box drawn on the map selects a region: its grid, histogram and table appear
        page.get_by_role("link", name="Latent map").click()
        page.wait_for_function(MAP_READY, timeout=60000)
        page.locator('.js-plotly-plot [data-title="Box Select"]').first.click()
        box = page.evaluate(PLOT_BOX)
        page.mouse.move(box["x"] + box["w"] * 0.2, box["y"] + box["h"] * 0.2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["w"] * 0.6, box["y"] + box["h"] * 0.6, steps=8)
        page.mouse.up()
        page.get_by_role("tab", name="Region").click()
        expect(page.get_by_text("Selected region:")).to_be_visible(timeout=30000)
        expect(page.get_by_role("button", name="Download as CSV").first).to_be_visible()
        if shots:
            page.screenshot(path=f"{shots}/region.png")

        # a digit drawn on the canvas lands on the map with its neighbours
        page.get_by_role("link", name="Your digit").click()
        canvas = page.locator("canvas").first
        expect(canvas).to_be_visible(timeout=30000)
        for _ in range(100):  # the component's script attaches its handlers after the canvas appears
            if canvas.evaluate("c => c.onpointerdown !== null"):
                break
            page.wait_for_timeout(100)
        c = canvas.bounding_box()
        page.mouse.move(c["x"] + c["width"] * 0.5, c["y"] + c["height"] * 0.15)
        page.mouse.down()
        page.mouse.move(c["x"] + c["width"] * 0.5, c["y"] + c["height"] * 0.85, steps=12)  # a "1"
        page.mouse.up()
        expect(page.get_by_text("nearest neighbours in code space")).to_be_visible(timeout=60000)
        expect(page.get_by_text("Your image · nearest label")).to_be_visible()
        if shots:
            page.screenshot(path=f"{shots}/your_digit.png")
        browser.close()


def test_a_lesson_link_in_presenter_mode_steps_with_the_arrow_keys(app_url):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{app_url}/?lesson=tour&step=1&present=1")
        expect(page.get_by_text("A code is a point", exact=True)).to_be_visible(timeout=60000)
        page.wait_for_function(MAP_READY, timeout=60000)
        expect(page.locator('[data-testid="stSidebar"]')).to_be_hidden()  # presenter mode: no sidebar
        expect(page.get_by_text("step 1 of", exact=False)).to_be_visible()
        next_button = page.locator(".st-key-lesson_next button")  # its → key works once it is drawn
        expect(next_button).to_be_enabled()
        page.keyboard.press("ArrowRight")
        expect(page.get_by_text("Neighbours in code space", exact=True)).to_be_visible(timeout=30000)
        expect(page).to_have_url(re.compile(r"step=2(&|$)"), timeout=30000)
        expect(next_button).to_be_enabled()
        page.keyboard.press("ArrowRight")
        expect(page.get_by_text("What a code costs", exact=True)).to_be_visible(timeout=30000)
        expect(page).to_have_url(re.compile(r"step=3.*present=1|present=1.*step=3"), timeout=30000)  # the link follows
        expect(page.locator(".st-key-lesson_back button")).to_be_enabled()
        page.keyboard.press("ArrowLeft")
        expect(page.get_by_text("Neighbours in code space", exact=True)).to_be_visible(timeout=30000)
        expect(page).to_have_url(re.compile(r"step=2(&|$)"), timeout=30000)
        # figures for slides: the map on screen downloads as SVG (title, legend, axes kept) and as PNG at 2x
        chart = page.locator(".st-key-export_latent_map")
        with page.expect_download(timeout=30000) as svg:
            chart.get_by_role("button", name="SVG").click()
        text = open(svg.value.path()).read()
        assert text.lstrip().startswith("<svg") and "legendtext" in text and "legendtitletext" in text
        chart.locator(".js-plotly-plot").hover()
        with page.expect_download(timeout=30000) as png:
            chart.locator('.modebar-btn[data-title^="Download plot"]').click()
        from PIL import Image

        shown = chart.locator(".js-plotly-plot").evaluate("gd => gd._fullLayout.width")
        assert abs(Image.open(png.value.path()).width - 2 * shown) <= 2
        browser.close()


# JS: the sources of the pictures in the first image row (the start image, the decoded mean, a sample)
FIRST_ROW = """() => Array.from(document.querySelectorAll('[data-testid=stImageContainer] img'))
  .slice(0, 3).map(img => img.src)"""


def test_dragging_a_code_slider_changes_the_decoded_image(app_url):
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


# JS: the script has finished its run, and the page is drawn: no element still loading (Streamlit's skeletons),
# every chart with its points, every picture loaded
DRAWN = """() => document.querySelector('[data-test-script-state]')?.getAttribute('data-test-script-state') ===
  'notRunning' && !document.querySelector('[data-testid="stSkeleton"]') && [...document.images].every(i => i.complete)
  && [...document.querySelectorAll('.js-plotly-plot')].every(gd => gd._fullData && gd._fullData.length > 0)"""
# JS: the lesson bar's height, the window's, and for each widget key its element's top and bottom (null: none)
PLACES = """(keys) => { const bar = document.querySelector('.st-key-lesson_bar').getBoundingClientRect();
  return {bar: bar.bottom - Math.max(bar.top, 0), top: bar.top, bottom: bar.bottom, height: window.innerHeight,
          subjects: keys.map(k => { const e = document.querySelector('.st-key-' + k);
                                    if (!e) return null; const r = e.getBoundingClientRect();
                                    return {key: k, top: r.top, bottom: r.bottom}; })}; }"""
SHOTS = Path("/tmp/tour-shots")  # outside the repository: a teacher's look at every step


def in_view(places: dict) -> bool:
    """Every subject drawn whole between the bar's bottom and the window's (a pixel or two of rounding allowed)."""
    return all(s is not None and s["top"] >= places["bottom"] - 2 and s["bottom"] <= places["height"] + 2
               for s in places["subjects"])


def test_the_whole_tour_in_presenter_mode_fits_the_screen(app_url, tmp_path):
    """At 1366x768 and 1920x1080: on every step the bar takes at most a fifth of the window's height, and the
    step's subject (the controls it outlines: a map, a figure, a button) is in view below it, without scrolling.
    A screenshot of each step goes to /tmp/tour-shots/ (1366x768) and /tmp/tour-shots/1920x1080/."""
    from playwright.sync_api import expect, sync_playwright

    from acn_core.teaching import lesson as lessons

    steps = lessons.read(Path(__file__).resolve().parents[1] / "assets" / "lessons" / "tour.json").steps
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        for width, height, shots in ((1366, 768, SHOTS), (1920, 1080, SHOTS / "1920x1080")):
            shots.mkdir(parents=True, exist_ok=True)
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(f"{app_url}/?lesson=tour&step=1&present=1")
            bar = page.locator(".st-key-lesson_bar")
            for number, step in enumerate(steps, 1):
                expect(bar.get_by_text(step.title, exact=True)).to_be_visible(timeout=120000)
                expect(page).to_have_url(re.compile(rf"step={number}(&|$)"), timeout=30000)
                page.wait_for_function(DRAWN, timeout=120000)
                assert step.highlight, f"step {number} outlines nothing: its subject is unknown"
                places, deadline = page.evaluate(PLACES, step.highlight), time.monotonic() + 30
                while not in_view(places) and time.monotonic() < deadline:  # the bar scrolls it into view
                    page.wait_for_timeout(200)
                    places = page.evaluate(PLACES, step.highlight)
                page.screenshot(path=str(shots / f"step-{number}.png"))
                print(f"{width}x{height} step {number}: bar {places['bar']:.0f} px, subjects {places['subjects']}")
                assert places["top"] >= -1 and places["bar"] <= 0.2 * height, f"step {number}: {places}"
                assert in_view(places), f"step {number} ({step.title}): its subject is not in view: {places}"
                if number < len(steps):
                    expect(page.locator(".st-key-lesson_next button")).to_be_enabled()  # its → key is bound
                    page.keyboard.press("ArrowRight")
            page.close()
        # a lesson's text is shown as written: a URL, an <iframe>, a markdown link become no link
        text = "See https://example.com/a?b=1, www.example.org or t@school.org <iframe src='https://x.org'></iframe> " \
               "[click](http://evil.example)"
        lesson = lessons.parse({"format": "acn-explorer-lesson", "version": 1, "title": "Links", "steps": [
            {"title": "Links", "text": text, "page": "home"}]})
        lessons.save(tmp_path / "lessons", "links", lesson)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(f"{app_url}/?lesson=links&step=1&present=1")
        shown = page.locator(".st-key-lesson_bar").get_by_text("See https", exact=False)
        expect(shown).to_be_visible(timeout=60000)
        assert shown.inner_text().replace("\u2060", "") == text
        assert page.locator(".st-key-lesson_bar a, .st-key-lesson_bar iframe").count() == 0
        browser.close()


def test_try_it_lands_with_the_bar_in_view_and_the_uploader_refuses_what_is_over_its_limit(app_url):
    from playwright.sync_api import expect, sync_playwright

    from acn_core.teaching import lesson as lessons

    tour = (Path(__file__).resolve().parents[1] / "assets" / "lessons" / "tour.json").read_bytes()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(f"{app_url}/lessons")
        uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
        widget = page.locator('[data-testid="stFileUploader"]')
        expect(widget).to_contain_text("at most 1 MB", timeout=60000)  # the label and the widget state one limit,
        expect(widget).to_contain_text("1MB per file")  # which the browser keeps: a byte more is never sent
        uploader.set_input_files(files=[{"name": "big.json", "mimeType": "application/json",
                                         "buffer": b" " * (lessons.MAX_FILE_BYTES + 1)}])
        expect(widget).to_contain_text("File must be 1.0MB or smaller", timeout=30000)
        uploader.set_input_files(files=[{"name": "tour.json", "mimeType": "application/json", "buffer": tour}])
        expect(page.get_by_text("Opened tour.json")).to_be_visible(timeout=60000)
        page.get_by_role("button", name="Try it").click()  # far down the Lessons page
        expect(page.locator(".st-key-lesson_bar").get_by_text("A code is a point", exact=True)).to_be_visible(
            timeout=60000)
        page.wait_for_function(DRAWN, timeout=120000)
        places = page.evaluate(PLACES, [])
        assert 0 <= places["top"] and places["bottom"] <= places["height"], places
        browser.close()
