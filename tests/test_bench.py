"""The bench: its code runs on tiny sizes, so it cannot rot (no timing is asserted); one front door that lists every
command; every row held to a goal takes it from the one table; the shared data fixtures read back as written."""
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import browser, core, fixtures
from bench.__main__ import build_parser
from bench.rows import GOALS, Row, against_goal, not_measured, print_table, write_json

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {"all", "speed", "app", "map", "fullsize", "classroom", "lesson", "lean"}


def held_to_a_goal(row: Row) -> bool:
    """True for a row whose ratio is to a goal, after checking that goal is one of GOALS, unit and all."""
    if row.baseline != "goal":
        return False
    assert (row.baseline_value, row.unit) in {(g.value, g.unit) for g in GOALS.values()}, row
    if row.value is not None:
        assert row.ratio == pytest.approx(row.baseline_value / max(row.value, 1e-9)), row  # as rows.against_goal
    return True


def test_bench_runs_on_tiny_sizes(tiny_bundle, tmp_path):
    tiny = {"data.dataset": "digits", "data.max_train": 256, "model.encoder": "mlp", "model.hidden": 32}
    rows = (core.training_step_overhead(tiny_bundle, (300,), batch=16, mlp=True) + core.neighbour_search((300,), batch=16, loop_queries=4)
            + core.code_index((500,), queries=20) + core.machine_limit(tiny_bundle, batch=8)
            + core.app_latency(tiny_bundle, (100,)) + core.explorer_latency(tiny_bundle, region_size=30)
            + core.precision_and_compile(tiny_bundle, batch=8, compile=False) + core.scaling(tiny, epochs=2)
            + core.pixelcnn_latency(tiny_bundle))
    names = " ".join(r.name for r in rows)
    for part in ("train step ACN/standard", "k-NN batch", "Annoy recall@10", "throughput", "click", "daydream step",
                 "map figure", "select 30 points", "drawn digit", "replay slider", "bf16", "2 processes / 1",
                 "reconstructions, 1 + 3"):
        assert part in names, part
    assert all(isinstance(r.value, float) and math.isfinite(r.value) for r in rows)  # measured: no NaN, no None
    recall = [r.value for r in rows if r.name.startswith("Annoy recall")][0]
    assert 0.9 <= recall <= 1.0
    assert sum(held_to_a_goal(r) for r in rows) == 6  # click, daydream step, region, drawn digit, replay, PixelCNN
    write_json(rows, tmp_path / "bench.json")
    written = json.loads((tmp_path / "bench.json").read_text())
    assert len(written) == len(rows) and written[0]["name"] == rows[0].name
    assert {"name", "value", "unit", "baseline", "baseline_value", "ratio", "note"} == set(written[0])


def test_one_front_door_lists_every_command_and_its_options():
    shown = subprocess.run([sys.executable, "-m", "bench", "--help"], cwd=ROOT, capture_output=True, text=True,
                           check=True, timeout=120).stdout
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert set(commands) == COMMANDS
    for name, sub in commands.items():
        assert f"\n    {name}" in shown and f"python -m bench {name} " in shown, name  # listed, with a synopsis
        for action in sub._actions:
            for option in action.option_strings[:1]:  # -h, not --help, in a synopsis
                assert option in shown.split(f"python -m bench {name} ", 1)[1].split("python -m bench", 1)[0], option
    args = parser.parse_args(["all", "--quick"])  # make bench
    assert (args.run.__name__, args.quick, args.big, args.threads) == ("everything", True, False, 1)
    args = parser.parse_args(["classroom", "30", "--hostile", "--bad-inputs", "--browser", "1"])
    assert (args.students, args.hostile, args.bad_inputs, args.browser, args.rounds) == (30, True, True, 1, 2)
    with pytest.raises(SystemExit):
        parser.parse_args(["classroom", "101"])
    assert parser.parse_args(["fullsize", "data"]).root == Path("data")
    assert parser.parse_args(["map", "--sizes", "4000", "--no-browser"]).sizes == [4000]
    assert parser.parse_args(["lean"]).old is None
    no_command = subprocess.run([sys.executable, "-m", "bench"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert no_command.returncode == 2 and "required: command" in no_command.stderr


def test_goals_come_from_the_one_table(capsys):
    row = against_goal("start -> clickable map", "streamlit run -> clickable map", 8.0)
    assert (row.value, row.unit, row.baseline_value, row.ratio) == (8.0, "s", 4.0, 0.5)  # the project's goal: 4 s
    row = against_goal("click -> panel data", "click", 0.15)
    assert (row.value, row.unit, row.ratio) == (150.0, "ms", 2.0)
    for key in ("start -> clickable map", "Compare step, first visit", "cold lesson link"):  # issue 21, item 6
        assert GOALS[key].unit == "s"
    assert (GOALS["Compare step, first visit"].value, GOALS["cold lesson link"].value) == (2.0, 4.0)
    missing = not_measured("cold lesson link", "lesson link", "no Chromium")
    assert missing.value is None and missing.ratio is None and "not measured: no Chromium" in missing.note
    print_table([missing])
    assert "not measured" in capsys.readouterr().out


def test_rows_in_chromium_say_not_measured_without_it(monkeypatch, tmp_path):
    monkeypatch.setattr(browser, "CHROMIUM", None)
    cold = browser.cold_start_rows()
    assert [r.name for r in cold] == ["streamlit run -> clickable map (held-out layer on)",
                                      "streamlit run + tour link -> step 1 shown",
                                      "tour: Next -> Compare step shown (1st visit)"]
    big = browser.big_bundle_rows(tmp_path)
    assert len(big) == 3 and not list(tmp_path.iterdir())  # nothing built for rows that cannot be measured
    assert all(r.value is None and held_to_a_goal(r) and "not measured" in r.note for r in cold + big)
    assert browser.map_scale_rows((4_000,), build=tmp_path) == []


@pytest.mark.slow
@pytest.mark.browser
def test_a_cold_lesson_link_and_the_compare_step_are_timed_in_chromium(tmp_path):
    if browser.CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (sudo apt-get install chromium)")
    seen = browser.time_lesson_link(tmp_path)
    assert set(seen) == {"link", "compare"} and all(0 < s < 600 for s in seen.values())


def test_the_shared_fixtures_read_back_as_written(tmp_path):
    from acn_core.data.store import read_idx

    images, labels = fixtures.make_images(30, classes=10, size=28, seed=1)
    assert images.shape == (30, 1, 28, 28) and labels.tolist() == [i % 10 for i in range(30)]
    fixtures.write_idx(tmp_path / "images", images[:, 0].numpy())
    fixtures.write_idx(tmp_path / "labels", labels.numpy())
    assert np.array_equal(read_idx(tmp_path / "images", 3), images[:, 0].numpy())
    assert np.array_equal(read_idx(tmp_path / "labels", 1), labels.numpy())
    again, _ = fixtures.make_images(30, classes=10, size=28, seed=1)
    assert np.array_equal(again.numpy(), images.numpy())  # seeded
