"""Command line: `python -m acn_core train | evaluate | daydream | paper-check`."""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from .config import DataConfig, ModelConfig, RunConfig, TrainConfig
from .data import DATASETS, DataError
from .storage import BundleError


def _add_train_options(p: argparse.ArgumentParser) -> None:
    d, m, t = DataConfig(), ModelConfig(), TrainConfig()
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default=d.dataset, choices=DATASETS)
    g.add_argument("--root", default=d.root, help="folder of torchvision sets or of your images (default ./data)")
    g.add_argument("--download", action="store_true", help="download torchvision sets when online")
    g.add_argument("--holdout", type=int, default=d.holdout, help="held-out images (mnist5k, digits, folder)")
    g.add_argument("--max-train", type=int, default=d.max_train, help="use only this many training images")
    g.add_argument("--image-size", type=int, default=d.image_size, help="folder images are resized to this")
    g.add_argument("--channels", type=int, default=d.channels, choices=(1, 3), help="folder images: grey or RGB")
    g = p.add_argument_group("model")
    g.add_argument("--encoder", default=m.encoder, choices=("mlp", "conv"))
    g.add_argument("--decoder", default=m.decoder, choices=("mlp", "deconv", "pixelcnn"))
    g.add_argument("--prior", default=m.prior, choices=("acn", "standard"), help="standard = VAE baseline")
    g.add_argument("--code-dim", type=int, default=m.code_dim)
    g.add_argument("--hidden", type=int, default=m.hidden)
    g.add_argument("--mixtures", type=int, default=m.mixtures, help="Gaussians per latent dimension in the prior")
    g.add_argument("--pixelcnn-layers", type=int, default=m.pixelcnn_layers)
    g.add_argument("--pixelcnn-channels", type=int, default=m.pixelcnn_channels)
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=t.epochs)
    g.add_argument("--batch-size", type=int, default=t.batch_size)
    g.add_argument("--lr", type=float, default=t.lr)
    g.add_argument("--k", type=int, default=t.k, help="neighbours to choose the conditioning code from")
    g.add_argument("--no-unique-neighbours", action="store_true",
                   help="let a code serve as neighbour more than once per pass (paper: once)")
    g.add_argument("--allow-self-neighbour", action="store_true",
                   help="ablation of a known bug: an example may be its own neighbour")
    g.add_argument("--seed", type=int, default=t.seed)
    g.add_argument("--threads", type=int, default=t.threads, help="torch threads (1 is safest on a busy laptop)")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    data = DataConfig(args.dataset, args.root, args.download, args.holdout, args.max_train, 0, args.image_size,
                      args.channels)
    model = ModelConfig(encoder=args.encoder, decoder=args.decoder, prior=args.prior, code_dim=args.code_dim,
                        hidden=args.hidden, mixtures=args.mixtures, pixelcnn_layers=args.pixelcnn_layers,
                        pixelcnn_channels=args.pixelcnn_channels)
    train = TrainConfig(args.epochs, args.batch_size, args.lr, args.k, not args.no_unique_neighbours,
                        args.allow_self_neighbour, args.seed, args.threads)
    return RunConfig(data, model, train).validate()


class ProgressPrinter:
    """A one-line progress bar on stderr and a line per epoch; optionally JSON lines to a file."""

    def __init__(self, quiet: bool = False, progress_file: Path | None = None):
        self.quiet, self.progress_file = quiet, progress_file
        self.last_write = self.last_bar = 0.0

    def __call__(self, p) -> None:
        now = time.perf_counter()
        if self.progress_file is not None and (p.kind == "epoch" or now - self.last_write > 0.5):
            self.last_write = now
            with open(self.progress_file, "a") as f:
                f.write(json.dumps({"kind": p.kind, "epoch": p.epoch, "epochs": p.epochs, "step": p.step,
                                    "steps": p.steps, "recon": p.recon, "kl": p.kl, "elapsed": p.elapsed,
                                    "fraction": p.fraction}) + "\n")
        if self.quiet or (p.kind == "step" and (not sys.stderr.isatty() or now - self.last_bar < 0.1)):
            return
        self.last_bar = now
        left = p.elapsed / max(p.fraction, 1e-9) * (1 - p.fraction)
        if p.kind == "step":
            bar = "#" * int(30 * p.fraction)
            sys.stderr.write(f"\r[{bar:<30}] epoch {p.epoch}/{p.epochs} step {p.step}/{p.steps} "
                             f"recon {p.recon:7.2f} kl {p.kl:6.2f} nats  ~{left:4.0f}s left")
            sys.stderr.flush()
        else:
            if sys.stderr.isatty():
                sys.stderr.write("\r" + " " * 100 + "\r")
            print(f"epoch {p.epoch:3d}/{p.epochs}  recon {p.recon:8.3f}  kl {p.kl:7.3f}  total "
                  f"{p.recon + p.kl:8.3f} nats/image  ({p.elapsed:.1f}s)", flush=True)


def cmd_train(args: argparse.Namespace) -> int:
    from . import bundle, data
    from .train import train

    config = config_from_args(args)
    out = Path(args.out)
    run_dir = Path(args.run_dir) if args.run_dir else out.with_name(out.name + ".run")
    dataset = data.load(config.data)
    config.model.channels, config.model.height, config.model.width = dataset.shape
    for note in dataset.notes:
        print(f"note: {note}")
    print(f"training on {dataset.name}: {len(dataset.train)} images, {len(dataset.test)} held out; "
          f"checkpoints in {run_dir}", flush=True)
    progress_file = Path(args.progress_file) if args.progress_file else None
    stop_file = Path(args.stop_file) if args.stop_file else None
    started = time.perf_counter()
    result = train(config, dataset, run_dir, (ProgressPrinter(args.quiet, progress_file),),
                   should_stop=(lambda: stop_file.exists()) if stop_file else None)
    if result.resumed_from_epoch:
        print(f"resumed from the checkpoint after epoch {result.resumed_from_epoch}")
    seconds = time.perf_counter() - started
    print("evaluating, mapping and indexing ...", flush=True)
    bundle.create(result, config, dataset, out, seconds)
    shutil.rmtree(run_dir, ignore_errors=True)
    metrics = json.loads((out / "metrics.json").read_text())["evaluation"]
    print(f"saved {out} in {time.perf_counter() - started:.1f}s (training {seconds:.1f}s)")
    print(_summary(metrics))
    return 0


def _summary(m: dict) -> str:
    kl_acn = "n/a" if m["kl_acn_nats"] is None else f"{m['kl_acn_nats']:.2f}"
    return (f"held out: recon {m['recon_nats']:.2f} + KL {m['kl_nats']:.2f} = {m['total_nats']:.2f} nats/image "
            f"(KL under ACN prior {kl_acn}, under N(0,I) {m['kl_standard_nats']:.2f}); k-NN accuracy: codes "
            f"{m['code_knn_accuracy']:.3f}, pixels {m['pixel_knn_accuracy']:.3f}; {m['active_dims']} active dims")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from . import bundle

    loaded = bundle.load(Path(args.bundle))
    metrics = bundle.reevaluate(loaded)
    print(json.dumps(metrics, indent=None if args.json else 2) if args.json else _summary(metrics))
    return 0


def cmd_daydream(args: argparse.Namespace) -> int:
    import numpy as np

    from . import bundle
    from .images import grid, save_png

    loaded = bundle.load(Path(args.bundle))
    frames = list(loaded.daydream(args.start, args.steps, seed=args.seed, mean=args.mean))
    images = np.stack([f.image for f in frames])
    save_png(grid(images, columns=args.columns, scale=2), Path(args.out))
    labels = " ".join(loaded.label_name(f.nearest_label) for f in frames)
    print(f"wrote {len(frames)} frames (start + {len(frames) - 1} steps) to {args.out}; nearest labels: {labels}")
    return 0


def cmd_paper_check(args: argparse.Namespace) -> int:
    from .paper_check import paper_check

    doc = paper_check(Path(args.out), args.budget, args.workers)
    print(f"wrote {args.out}/report.json and report.md in {doc['wall_seconds'] / 60:.1f} min")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m acn_core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train a model and save it as a bundle")
    _add_train_options(p)
    p.add_argument("--out", required=True, help="bundle folder to write")
    p.add_argument("--run-dir", default="", help="checkpoint folder (default OUT.run); a rerun resumes from it")
    p.add_argument("--progress-file", default="", help="append JSON progress lines here")
    p.add_argument("--stop-file", default="", help="stop cleanly (keeping the checkpoint) when this file appears")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("evaluate", help="evaluate a bundle on its held-out images")
    p.add_argument("bundle")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("daydream", help="write a daydream chain as a PNG strip")
    p.add_argument("bundle")
    p.add_argument("--start", type=int, default=0, help="training sample to start from")
    p.add_argument("--steps", type=int, default=16, help="steps (at most 500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mean", action="store_true", help="continue from mean images instead of samples")
    p.add_argument("--columns", type=int, default=0, help="frames per row (0 = one row)")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.set_defaults(func=cmd_daydream)
    p = sub.add_parser("paper-check", help="the paper's claim: fast/PixelCNN decoder x ACN/standard prior, ablations")
    p.add_argument("--out", required=True, help="folder for the models, report.json, report.md and figures")
    p.add_argument("--budget", default="quick", choices=("quick", "full"))
    p.add_argument("--workers", type=int, default=2, help="models trained at once (one thread each)")
    p.set_defaults(func=cmd_paper_check)
    args = parser.parse_args(argv)
    from .train import TrainingCancelled, TrainingDiverged

    try:
        return args.func(args)
    except (DataError, BundleError, ValueError, TrainingDiverged, TrainingCancelled) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
