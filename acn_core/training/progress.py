"""What a training run reports after every step and epoch (`Progress`), and the printer the command line and the
training jobs pass to the loop as a callback (`ProgressPrinter`)."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Progress:
    """What callbacks receive after every step (`kind="step"`) and epoch (`kind="epoch"`); one JSON line
    each in a job's progress file."""

    kind: str
    epoch: int  # 1-based epoch in progress
    epochs: int
    step: int  # 1-based step within the epoch
    steps: int  # steps per epoch
    recon: float  # nats per image, mean over the epoch so far
    kl: float
    elapsed: float  # seconds since this call to `train` started

    @property
    def fraction(self) -> float:
        return ((self.epoch - 1) * self.steps + self.step) / (self.epochs * self.steps)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, line: str) -> "Progress":
        """Parse one progress line; ValueError if it is not one (e.g. a line being written)."""
        raw = json.loads(line)
        return cls(str(raw["kind"]), int(raw["epoch"]), int(raw["epochs"]), int(raw["step"]), int(raw["steps"]),
                   float(raw["recon"]), float(raw["kl"]), float(raw["elapsed"]))


class ProgressPrinter:
    """A one-line progress bar on stderr and a line per epoch; optionally `Progress` JSON lines to a file."""

    def __init__(self, quiet: bool = False, progress_file: Path | None = None):
        self.quiet, self.progress_file = quiet, progress_file
        self.last_write = self.last_bar = 0.0

    def __call__(self, p) -> None:
        now = time.perf_counter()
        if self.progress_file is not None and (p.kind == "epoch" or now - self.last_write > 0.5):
            self.last_write = now
            with open(self.progress_file, "a") as f:
                f.write(p.to_json() + "\n")
        if self.quiet or (p.kind == "step" and (not sys.stderr.isatty() or now - self.last_bar < 0.1)):
            return
        self.last_bar = now
        if p.kind == "step":
            left = p.elapsed / max(p.fraction, 1e-9) * (1 - p.fraction)
            bar = "#" * int(30 * p.fraction)
            sys.stderr.write(f"\r[{bar:<30}] epoch {p.epoch}/{p.epochs} step {p.step}/{p.steps} "
                             f"recon {p.recon:7.2f} kl {p.kl:6.2f} nats  ~{left:4.0f}s left")
            sys.stderr.flush()
        else:
            if sys.stderr.isatty():
                sys.stderr.write("\r" + " " * 100 + "\r")
            print(f"epoch {p.epoch:3d}/{p.epochs}  recon {p.recon:8.3f}  kl {p.kl:7.3f}  total "
                  f"{p.recon + p.kl:8.3f} nats/image  ({p.elapsed:.1f}s)", flush=True)
