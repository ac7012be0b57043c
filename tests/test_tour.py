"""The built-in tour says only what its views show: every step of assets/lessons/tour.json is opened under AppTest
(presenter mode, step by step with Next), and each number or word its text fills in is read back from the view it
opened: the Compare table, the sample panel, the equation of "Why this code is cheap", the code editor's cost, the
walk's cost chart, the Train form. The checks are plain functions, and one test shows each catches a false claim."""
import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from acn_core.bundle.format import load
from acn_core.teaching import lesson as lessons
from app.explorer import COMPARE_ROWS

REPO = Path(__file__).resolve().parents[1]
TOUR = lessons.read(REPO / "assets" / "lessons" / "tour.json")
ROWS = {key: name for name, key in COMPARE_ROWS}


@pytest.fixture(autouse=True)
def explorer_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ACN_EXPLORER_HOME", str(tmp_path))
    monkeypatch.delenv("ACN_TEACHER_PASSPHRASE", raising=False)


def said(template: str, shown: str) -> dict[str, str]:
    """What the bar filled in for each `{x.y}` token of `template`, read from the text it shows (markdown escapes
    and the invisible word joiners taken out)."""
    plain = shown.replace("\u2060", "")
    plain = re.sub(r"\\(.)", r"\1", plain).replace("  \n", "\n")
    parts = re.split(r"(\{[a-z]+\.[a-z_]+\})", template)
    pattern = "".join(f"(?P<t{i}>.+?)" if lessons.number_tokens(part) else re.escape(part)
                      for i, part in enumerate(parts))
    match = re.fullmatch(pattern, plain, re.DOTALL)
    assert match, f"the bar does not show the step's text:\n{plain}\nfrom\n{template}"
    return {part[1:-1]: match.group(f"t{i}") for i, part in enumerate(parts) if lessons.number_tokens(part)}


def close(claimed: str, shown: float, what: str, decimals: int | None = None) -> None:
    """The number claimed is the one shown: both are the same number rounded, the claim as written and the view to
    `decimals` places (None: as it is)."""
    places = len(claimed.partition(".")[2])
    slack = 0 if places == 0 else 0.5 * 10 ** -places + (0 if decimals is None else 0.5 * 10 ** -decimals) + 1e-9
    assert abs(float(claimed) - shown) <= slack, f"{what}: the text says {claimed}, the view shows {shown}"


def numbers(text: str) -> list[float]:
    return [float(n) for n in re.findall(r"-?\d+\.\d+", text)]


# ---- each claim checked against what its view shows ----------------------------------------------------------

def check_compare(claims: dict, at: AppTest) -> None:
    table = at.dataframe[0].value
    for token, value in claims.items():
        side, metric = token.split(".")
        lines = next(m.value for m in at.markdown if m.value.startswith("- **A**")).split("\n")
        if metric == "about":  # the code-use lines under the table say what each model is
            assert lines[0 if side == "a" else 1].startswith(f"- **{side.upper()}** ({value}, "), token
            continue
        if metric == "chance":  # the code-use lines under the table say each model's chance level
            chance = re.findall(r"\(chance (\d\.\d+)\)", "\n".join(lines))[0 if side == "a" else 1]
            close(value, float(chance), token, 2)
            continue
        assert metric in ROWS, f"this view shows no {token}"
        column = next(c for c in table.columns if c.startswith(f"{side.upper()}:"))
        row = table[table["metric"] == ROWS[metric]]
        close(value, float(row[column].iloc[0]), token, 3)


def check_sample(claims: dict, at: AppTest) -> None:
    """The sample panel of the Latent map: its heading and its code cost."""
    heading = next(h.value for h in at.subheader if h.value.startswith("Sample #"))
    index, label = re.match(r"Sample #(\d+) · label (\S+)", heading).groups()
    cost = next(c.value for c in at.caption if c.value.startswith("Code cost "))
    for token, value in claims.items():
        assert token in ("sample.index", "sample.label", "sample.code_cost"), f"this view shows no {token}"
        if token == "sample.code_cost":
            close(value, numbers(cost)[0], token, 2)
        else:
            assert value == {"sample.index": index, "sample.label": label}[token], \
                f"{token}: the text says {value}, the panel shows sample {index}, label {label}"


def check_explained(claims: dict, at: AppTest) -> None:
    """"Why this code is cheap" (its equation and notes) or the code editor (its cost as it starts)."""
    shown = {"sample.index": (at.number_input(key="idea_of_index").value, None)}
    if at.latex:
        recon, kl, total = numbers(at.latex[0].value)
        notes = " ".join(m.value for m in at.markdown)
        exact = re.search(r"the exact KL, dimension by dimension below: ([\d.]+) nats", notes).group(1)
        standard = re.search(r"N\(0, I\) would cost ([\d.]+) nats", notes).group(1)
        shown.update({"why.recon_nats": (recon, 2), "why.kl_nats": (kl, 2), "why.total_nats": (total, 2),
                      "why.kl_exact": (float(exact), 2), "why.kl_standard": (float(standard), 1)})
    else:
        cost = next(m for m in at.metric if m.label.startswith("Cost to send"))
        shown["why.kl_exact"] = (float(cost.value), 2)
    for token, value in claims.items():
        assert token in shown, f"this view shows no {token}"
        close(value, shown[token][0], token, shown[token][1])


def walk_costs(at: AppTest) -> list[float]:
    for chart in at.get("plotly_chart"):
        traces = json.loads(chart.proto.spec)["data"]
        if traces and traces[0].get("name") == "cost (KL nats)":
            values = traces[0]["y"]  # a list, or a typed array as plotly.js receives numpy's: {"dtype", "bdata"}
            if isinstance(values, dict):
                values = np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
            return [float(y) for y in values]
    raise AssertionError("the walk's cost chart is not on the page")


def check_walk(claims: dict, costs: list[float], labels: tuple[str, str]) -> None:
    """Rises: a frame in between costs more than both ends; dips: less than both; and the frame named is that."""
    ends, frame = (costs[0], costs[-1]), int(claims["walk.frame"])
    if claims["walk.trend"] == "rises above both ends":
        assert costs[frame] > max(ends) and costs[frame] == max(costs[1:-1]), f"no rise at frame {frame}: {costs}"
    elif claims["walk.trend"] == "dips below both ends":
        assert costs[frame] < min(ends) and costs[frame] == min(costs[1:-1]), f"no dip at frame {frame}: {costs}"
    else:
        assert claims["walk.trend"] == "stays between the two ends" and min(ends) <= min(costs[1:-1]) and \
            max(costs[1:-1]) <= max(ends), f"the costs leave the ends' range: {costs}"
    close(claims["walk.frame_nats"], costs[frame], "walk.frame_nats")
    close(claims["walk.a_nats"], costs[0], "walk.a_nats")
    close(claims["walk.b_nats"], costs[-1], "walk.b_nats")
    assert (claims["walk.a_label"], claims["walk.b_label"]) == labels, f"the walk's ends are labelled {labels}"


# ---- the tour ------------------------------------------------------------------------------------------------

def open_tour() -> AppTest:
    at = AppTest.from_file(str(REPO / "app" / "Home.py"), default_timeout=300)
    at.query_params.update(lesson="tour", step="1", present="1")
    return at.run()


def test_every_claim_of_the_tour_is_what_its_view_shows():
    bundle = load(REPO / "assets" / "default-mnist5k")
    at, checked = open_tour(), []
    for number, step in enumerate(TOUR.steps, 1):
        assert not at.exception, [e.value for e in at.exception]
        assert at.session_state["step"] == number and at.subheader[0].value == step.title
        shown = next(m.value for m in at.markdown if not m.value.startswith("<style>"))
        assert "{" not in shown and "n/a" not in shown, f"step {number} left a number unfilled: {shown}"
        assert not re.search(r"\d\.\d", re.sub(r"\{[a-z.]+\}", "", step.text)), f"step {number} writes a number " \
            "by hand: a number in a step's text is a token, filled from its view"
        claims = said(step.text, shown.split("  \n**Your turn:**")[0])
        pages = {"compare": check_compare, "why_cheap": check_explained, "edit_code": check_explained,
                 "latent_map": check_sample}
        if step.page == "walk":
            a, b = (int(at.session_state[key][1:]) for key in ("walk_a", "walk_b"))
            check_walk(claims, walk_costs(at), (bundle.label_name(int(bundle.labels[a])),
                                                bundle.label_name(int(bundle.labels[b]))))
            between_classes = claims["walk.a_label"] != claims["walk.b_label"]
            assert claims["walk.trend"] == "rises above both ends" and between_classes, \
                f"the tour's walk should go between two classes, with a bump to see: {claims}"
        elif claims:
            pages[step.page](claims, at)
        if step.page == "train":  # the text and the form it opens agree
            assert "standard prior" in step.text and at.selectbox(key="train_prior").value == "standard"
        checked += [(number, token) for token in claims]
        if number < len(TOUR.steps):
            at.button(key="lesson_next").click().run()
    assert {n for n, _ in checked} == {3, 4, 5, 7, 8}, checked  # the steps whose text names numbers


def test_code_cost_means_the_kl_and_the_sum_is_the_total():
    for step in TOUR.steps:
        text = step.text.lower()
        assert "make its code cost" not in text and "its code cost (" not in text
        if "reconstruction" in text and "{why.total_nats}" in step.text:
            assert "total, {why.total_nats}" in step.text and "code cost (the kl) {why.kl_nats}" in text


def test_the_checks_catch_a_false_claim():
    costs = [15.5, 13.8, 14.4, 16.5, 18.6, 34.3, 22.0, 12.6, 5.8, 4.8]
    true = {"walk.trend": "rises above both ends", "walk.frame": "5", "walk.frame_nats": "34.30",
            "walk.a_nats": "15.50", "walk.b_nats": "4.80", "walk.a_label": "6", "walk.b_label": "1"}
    check_walk(true, costs, ("6", "1"))
    for wrong in ({"walk.trend": "dips below both ends"}, {"walk.frame": "4"}, {"walk.frame_nats": "33.30"},
                  {"walk.b_label": "6"}):
        with pytest.raises(AssertionError):
            check_walk({**true, **wrong}, costs, ("6", "1"))
    close("2.70", 2.701, "a.kl_nats", 3)
    with pytest.raises(AssertionError, match="the text says 12, the view shows 13"):
        close("12", 13, "sample.index")
    with pytest.raises(AssertionError, match="the text says 2.71"):
        close("2.71", 2.701, "a.kl_nats", 3)
    with pytest.raises(AssertionError, match="does not show the step's text"):
        said("The cost {walk.trend} here.", "The code cost rises above both ends here.")
    assert said("A {a.kl_nats} nats, B {b.kl_nats}.", r"A 2\.70 nats, B 4\.61\.") == {"a.kl_nats": "2.70",
                                                                                        "b.kl_nats": "4.61"}
