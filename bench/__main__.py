"""python -m bench [--quick] [--json FILE] [--threads N]: print a table of ratios against baselines."""
import argparse
from pathlib import Path

import torch

from . import core

parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
parser.add_argument("--quick", action="store_true", help="fewer repeats and sizes: a few minutes")
parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
parser.add_argument("--threads", type=int, default=1, help="torch threads for every measurement")
parser.add_argument("--bundle", type=Path, default=core.REPO / "assets" / "default-mnist5k")
args = parser.parse_args()
torch.set_num_threads(args.threads)

tables = (5_000, 60_000)
index_sizes = (5_000, 60_000, 1_000_000)
rows = []
pixelcnn = core.REPO / "assets" / "paper-check" / "pixelcnn-acn"
for part in (lambda: core.training_step_overhead(args.bundle, tables),
             lambda: core.training_step_overhead(pixelcnn, (60_000,), batch=64),
             lambda: core.neighbour_search(tables),
             lambda: core.code_index(index_sizes, queries=100 if args.quick else 500),
             lambda: core.machine_limit(args.bundle),
             lambda: core.app_latency(args.bundle, (5_000, 60_000)),
             lambda: core.peak_memory(args.bundle)):
    new = part()
    core.print_table(new)
    rows += new
from . import browser

if browser.CHROMIUM:
    import tempfile

    with tempfile.TemporaryDirectory() as home:
        seconds = browser.time_to_clickable_map(Path(home))
    rows.append(core.Row("streamlit run -> clickable map in Chromium", seconds, "s", "goal", 5.0, 5.0 / seconds,
                         "ratio = goal / measured (>1 meets it)"))
print()
core.print_table(rows)
if args.json:
    core.write_json(rows, args.json)
