"""WCAG 2.1 AA in a real browser: axe-core injected into every page of the app (and a selected region, a lesson
step in presenter mode, the standard-prior "Why this code is cheap") in Debian's Chromium, in the light and the
dark theme; any serious or critical violation of the WCAG 2.0/2.1 A and AA rules fails. And the label palette:
told apart by colour-blind eyes (simulated), and visible on both themes.

The engine is tests/assets/axe.min.js: axe-core 4.14.1 from npm (`npm pack axe-core@4`), by Deque Systems,
under the Mozilla Public License 2.0 (its notice heads the file). It is injected from disk: no network at run time.
"""
import itertools
import os
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from app.figures import PALETTE
from bench.browser import CHROMIUM, CHROMIUM_ARGS, serve_app

AXE = Path(__file__).parent / "assets" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FAILING = ("serious", "critical")
STANDARD_PRIOR = quote("paper-check/pixelcnn-spatial-standard (bundled)")


def region_link() -> str:
    """The Latent map with a region selected (every 7th of the first 700 samples) and its Region tab to open."""
    from app.state import encode_ids

    return f"/latent_map?sample=12&k=8&sel={encode_ids(list(range(0, 700, 7)), 4000)}"


# view name -> (path and query, what must be on screen before the audit, a tab to open first)
VIEWS = {
    "Home": ("/", "Model: default-mnist5k", None),
    "Latent map": ("/latent_map?sample=12&k=8", "Sample #12 ·", None),
    "Latent map, code cost": ("/latent_map?sample=12&map_colour=code+cost+%28nats%29", "Sample #12 ·", None),
    "Latent map, a region": (region_link(), "Selected region: 100 images", "Region"),
    "Why this code is cheap": ("/why_cheap", "Each dimension: the posterior over the prior", None),
    "Why this code is cheap, standard prior": (f"/why_cheap?model={STANDARD_PRIOR}",
                                               "Each dimension: the posterior over the prior", None),
    "Edit a code": ("/edit_code", "Cost to send (KL nats)", None),
    "Walk between two": ("/walk", "The most expensive frame", None),
    "Daydreams": ("/daydreams", "0 steps so far", None),
    "Your digit": ("/your_digit", "Draw a digit on the canvas", None),
    "Prior samples": ("/prior_samples?model=" + quote("default-mnist5k (bundled)"), "from #", None),
    "Compare": ("/compare", "Samples whose neighbourhoods differ most", None),
    "Train": ("/train", "How the map of", None),
    "Lessons": ("/lessons", "Make a lesson", None),
    "Lesson step 2, presenter mode": ("/?lesson=tour&step=2&present=1", "Neighbours in code space", None),
}

# JS: the script has finished its run, and every chart is drawn and every picture loaded
SETTLED = """() => {
  const app = document.querySelector('[data-test-script-state]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  // stale elements of the last run, and placeholders of elements whose code is still loading
  if (document.querySelector('[data-stale="true"], [data-testid^=stSkeleton], [data-testid=stAppSkeleton]'))
    return false;
  const charts = [...document.querySelectorAll('[data-testid=stPlotlyChart]')];
  const drawn = (chart) => { const gd = chart.querySelector('.js-plotly-plot');
    return gd && gd._fullData && gd._fullData.length > 0; };
  return charts.every(drawn) && [...document.querySelectorAll('img')].every(img => img.complete);
}"""
# JS: run axe-core on the page for the WCAG A/AA tags; each violation with its nodes, shortened
AUDIT = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
  return result.violations.map(v => ({rule: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => ({target: n.target.join(' '), html: n.html.slice(0, 160),
                              summary: (n.failureSummary || '').slice(0, 300)}))}));
}"""


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """One served app for every audit in this module, once Chromium is known to be there (CI must have it)."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed: `make test` installs it (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed (sudo apt-get install chromium)")
    home = tmp_path_factory.mktemp("a11y-home")
    log = home / "server.log"
    try:
        with serve_app(home, log) as url:
            yield url
    finally:
        print(log.read_text()[-3000:])  # shown by pytest when a test fails


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def audit(browser, url: str, view: str, theme: str) -> list[dict]:
    """axe-core's WCAG A/AA violations on `view` (a key of VIEWS) in the `theme` ("light" or "dark"), once the
    view's text is on screen and its run, charts and pictures are done."""
    from playwright.sync_api import expect

    path, shown, tab = VIEWS[view]
    page = browser.new_page(viewport={"width": 1400, "height": 900}, color_scheme=theme)
    try:
        page.goto(url + path)
        if tab:
            page.get_by_role("tab", name=tab).click(timeout=180000)
        expect(page.get_by_text(shown).first).to_be_visible(timeout=180000)
        page.wait_for_function(SETTLED, timeout=180000, polling=250)
        page.add_script_tag(content=AXE.read_text())
        return page.evaluate(AUDIT, WCAG_TAGS)
    finally:
        page.close()


def described(violations: list[dict]) -> str:
    return "\n".join(f"{v['impact']} {v['rule']} ({v['help']}): {len(v['nodes'])} nodes, e.g. "
                     + "; ".join(f"{n['target']} {n['summary']}" for n in v["nodes"][:3]) for v in violations)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("view", list(VIEWS))
def test_no_serious_or_critical_wcag_violation(app_url, browser, view, theme):
    failing = [v for v in audit(browser, app_url, view, theme) if v["impact"] in FAILING]
    assert not failing, f"{view} ({theme} theme):\n" + described(failing)


@pytest.mark.browser
@pytest.mark.slow
def test_a_sample_and_the_chart_exports_work_from_the_keyboard(app_url, browser):
    """What a pointer does on the map has a keyboard road: the sample box selects a point, and the PNG and SVG
    buttons under a chart download it (plotly's own modebar links are out of the keyboard's reach)."""
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    try:
        page.goto(app_url + "/latent_map?sample=12&k=8")
        expect(page.get_by_text("Sample #12 ·").first).to_be_visible(timeout=180000)
        page.wait_for_function(SETTLED, timeout=180000, polling=250)
        page.get_by_label("Sample (0-3999)").focus()
        page.keyboard.press("ControlOrMeta+a")
        page.keyboard.type("42")
        page.keyboard.press("Enter")
        expect(page.get_by_text("Sample #42 ·").first).to_be_visible(timeout=60000)
        page.wait_for_function(SETTLED, timeout=180000, polling=250)
        chart = page.locator(".st-key-export_latent_map")
        for name, key, start in (("PNG", "Enter", b"\x89PNG"), ("SVG", "Space", b"<svg")):
            button = chart.get_by_role("button", name=f"Download this chart as {name}")
            assert button.evaluate("b => b.tabIndex") >= 0
            button.focus()
            with page.expect_download(timeout=60000) as download:
                page.keyboard.press(key)
            assert Path(download.value.path()).read_bytes().lstrip()[:len(start)] == start
    finally:
        page.close()

# Machado, Oliveira & Fernandes (2009), full severity: linear RGB -> what a dichromat sees, in linear RGB
DICHROMACY = {"protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                             [-0.003882, -0.048116, 1.051998]],
              "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                               [-0.011820, 0.042940, 0.968881]],
              "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                             [0.004733, 0.691367, 0.303900]]}
BACKGROUNDS = {"light": "#ffffff", "dark": "#171614"}  # Streamlit 1.67's two themes


def linear_rgb(colours: list[str]) -> np.ndarray:
    srgb = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in colours]) / 255
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def cielab(linear: np.ndarray) -> np.ndarray:
    xyz = linear @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    f = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(f > (6 / 29) ** 3, np.cbrt(f), f / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


def ciede2000(a: np.ndarray, b: np.ndarray) -> float:
    """The CIEDE2000 colour difference of two CIELAB colours (Sharma, Wu & Dalal 2005)."""
    (l1, a1, b1), (l2, a2, b2) = a, b
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean ** 7 / (c_mean ** 7 + 25 ** 7)))
    a1, a2 = a1 * (1 + g), a2 * (1 + g)
    c1, c2 = np.hypot(a1, b1), np.hypot(a2, b2)
    h1, h2 = np.degrees(np.arctan2(b1, a1)) % 360, np.degrees(np.arctan2(b2, a2)) % 360
    dh = 0.0 if c1 * c2 == 0 else (h2 - h1 + 180) % 360 - 180
    h_mean = h1 + h2 if c1 * c2 == 0 else ((h1 + h2) / 2 + (180 if abs(h1 - h2) > 180 else 0)) % 360
    big_dh = 2 * np.sqrt(c1 * c2) * np.sin(np.radians(dh / 2))
    l_mean, c_mean = (l1 + l2) / 2, (c1 + c2) / 2
    t = (1 - 0.17 * np.cos(np.radians(h_mean - 30)) + 0.24 * np.cos(np.radians(2 * h_mean))
         + 0.32 * np.cos(np.radians(3 * h_mean + 6)) - 0.20 * np.cos(np.radians(4 * h_mean - 63)))
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    s_c, s_h = 1 + 0.045 * c_mean, 1 + 0.015 * c_mean * t
    rotation = 60 * np.exp(-((h_mean - 275) / 25) ** 2)
    r_t = -2 * np.sqrt(c_mean ** 7 / (c_mean ** 7 + 25 ** 7)) * np.sin(np.radians(rotation))
    dl, dc, dh_term = (l2 - l1) / s_l, (c2 - c1) / s_c, big_dh / s_h
    return float(np.sqrt(dl ** 2 + dc ** 2 + dh_term ** 2 + r_t * dc * dh_term))


def contrast(colour: str, background: str) -> float:
    """WCAG's contrast ratio of two colours."""
    luminance = linear_rgb([colour, background]) @ np.array([0.2126, 0.7152, 0.0722])
    return (luminance.max() + 0.05) / (luminance.min() + 0.05)


def test_the_label_colours_stay_apart_for_colour_blind_eyes_and_show_on_both_themes():
    assert len(PALETTE) == len(set(PALETTE)) == 10
    linear = linear_rgb(PALETTE)
    for vision, seen in [("normal", linear)] + [(name, np.clip(linear @ np.array(m).T, 0, 1))
                                                 for name, m in DICHROMACY.items()]:
        lab = cielab(seen)
        closest = min((ciede2000(lab[i], lab[j]), i, j) for i, j in itertools.combinations(range(len(lab)), 2))
        assert closest[0] >= 10, f"labels {closest[1]} and {closest[2]} are {closest[0]:.1f} apart ({vision})"
    for theme, background in BACKGROUNDS.items():
        faint = min(PALETTE, key=lambda c: contrast(c, background))
        assert contrast(faint, background) >= 1.9, f"{faint} on the {theme} theme"
