"""python -m bench [--quick] [--big] [--json FILE] [--threads N]: a table of ratios against baselines."""
import argparse
import shutil
import sys
import tempfile
from pathlib import Path

if "--classroom" in sys.argv:  # the classroom load test has its own options (bench/classroom.py)
    from .classroom import main

    sys.exit(main(sys.argv[1:]))

from acn_core.runtime import configure

from . import browser, core, teaching

parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
parser.add_argument("--quick", action="store_true", help="fewer repeats and sizes: a few minutes")
parser.add_argument("--big", action="store_true", help="also a 60k-code bundle in the app (builds build/bench-60k)")
parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
parser.add_argument("--threads", type=int, default=1, help="torch threads for every measurement")
parser.add_argument("--bundle", type=Path, default=core.REPO / "assets" / "default-mnist5k")
parser.add_argument("--fullsize", type=Path, metavar="DIR", help="only the row for training on the real 60k MNIST "
                    "under DIR/MNIST/raw, against mnist5k (skipped, with a message, when the files are absent)")
args = parser.parse_args()
configure(args.threads)
if args.fullsize:
    from .fullsize import fullsize_training

    fullsize_rows = fullsize_training(args.fullsize)
    core.print_table(fullsize_rows)
    if args.json:
        core.write_json(fullsize_rows, args.json)
    raise SystemExit(0)

pixelcnn = core.REPO / "assets" / "paper-check" / "pixelcnn-acn"
mlp = {"model.encoder": "mlp", "model.decoder": "mlp", "model.encoder_input": "binary"}  # the public ones' kind of model
parts = [lambda: core.training_step_overhead(args.bundle, (5_000, 60_000), mlp=True),
         lambda: core.training_step_overhead(args.bundle, (5_000, 60_000), precision="bf16"),
         lambda: core.training_step_overhead(pixelcnn, (60_000,), batch=64),
         lambda: core.pixelcnn_latency(pixelcnn),
         lambda: core.precision_and_compile(args.bundle),
         lambda: core.precision_and_compile(pixelcnn, batch=64),
         lambda: core.scaling(mlp, name="MLP ACN like the public ones"), lambda: core.scaling({}),
         lambda: core.neighbour_search((5_000, 60_000)),
         lambda: core.code_index((5_000, 60_000, 1_000_000), queries=100 if args.quick else 500),
         lambda: core.machine_limit(args.bundle),
         lambda: core.app_latency(args.bundle, (5_000, 60_000)),
         lambda: core.explorer_latency(args.bundle),
         lambda: teaching.teaching_latency(args.bundle, pixelcnn),
         lambda: core.peak_memory(args.bundle)]
rows = []
for part in parts:
    new = part()
    core.print_table(new)
    rows += new
rows += browser.atlas_rows()
core.print_table(rows[-3:])
if browser.CHROMIUM:
    with tempfile.TemporaryDirectory() as home:
        seen = browser.time_to_clickable_map(Path(home), held_out=True)
    rows.append(core.Row("streamlit run -> clickable map (held-out layer on)", seen["start"], "s", "goal", 5.0,
                         5.0 / seen["start"], "Chromium; ratio = goal / measured (>1 meets it)"))
    if args.big:
        big = core.big_bundle(core.REPO / "build")
        with tempfile.TemporaryDirectory() as home:
            shutil.copytree(big, Path(home) / "models" / big.name)  # the app refuses linked model folders
            seen = browser.time_to_clickable_map(Path(home), model=big.name)
        rows += [core.Row("60k codes: streamlit run -> clickable map", seen["start"], "s", "goal", 8.0,
                          8.0 / seen["start"], "ratio = goal / measured"),
                 core.Row("60k codes: click -> neighbour panel shown", seen["click"] * 1e3, "ms", "goal", 300.0,
                          300.0 / (seen["click"] * 1e3), "in Chromium, click to text; ratio = goal / measured"),
                 core.Row("60k codes: frame time while panning (mean)", seen["frame_mean_ms"], "ms", "goal", 50.0,
                          50.0 / seen["frame_mean_ms"], f"95th percentile {seen['frame_p95_ms']:.0f} ms")]
        rows += browser.map_scale_rows()  # the Latent map at 4k, 60k and 1M points (builds synthetic bundles)
print()
core.print_table(rows)
if args.json:
    core.write_json(rows, args.json)
