"""Command line: `python -m acn_core train | evaluate | neighbours | daydream | figures | paper-check`.

The training options are made from the config dataclasses' fields (name, type, help, allowed values),
so a new config field is a new option with no other change here.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import fields
from pathlib import Path

from .config import DataConfig, ModelConfig, RunConfig, TrainConfig
from .runtime import DEVICES, configure, parse_threads, resolve_device

SECTIONS = (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig))


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """One option per config field (`--code-dim`, `--unique-neighbours/--no-unique-neighbours`, ...)."""
    for section, kind in SECTIONS:
        group = parser.add_argument_group(section)
        for f in fields(kind):
            rule = f.metadata
            if not rule.get("cli", True):
                continue
            extra = f" (default {f.default})"
            if isinstance(f.default, bool):
                group.add_argument(_flag(f.name), dest=f"{section}.{f.name}", default=f.default,
                                   action=argparse.BooleanOptionalAction, help=rule["help"])
            else:
                group.add_argument(_flag(f.name), dest=f"{section}.{f.name}", default=f.default, type=type(f.default),
                                   choices=rule.get("choices"), help=rule["help"] + extra,
                                   metavar=None if rule.get("choices") else f.name.upper())


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The RunConfig the options describe, validated; errors name the option (`--hidden must be ...`)."""
    parts = {section: kind(**{f.name: getattr(args, f"{section}.{f.name}") for f in fields(kind)
                              if f.metadata.get("cli", True)}) for section, kind in SECTIONS}
    try:
        return RunConfig(**parts).validate()
    except ValueError as err:
        raise ValueError(re.sub(r"\b(?:data|model|train)\.([a-z_0-9]+)", lambda m: _flag(m.group(1)), str(err))) from None


def evaluation_json(evaluation) -> dict:
    """The evaluation as `evaluate --json` prints it: every field, plus the default daydream mode's scores."""
    from .sampling import DEFAULT_DAYDREAM_MODE

    doc = evaluation.to_dict()
    default = evaluation.daydream(DEFAULT_DAYDREAM_MODE)
    doc["daydream_mode"] = DEFAULT_DAYDREAM_MODE
    doc["daydream_on_data_fraction"] = default.on_data_fraction if default else None
    doc["daydream_classes_visited"] = default.classes_visited if default else None
    return doc


def summary(e) -> str:
    kl_acn = "n/a" if e.kl_acn_nats is None else f"{e.kl_acn_nats:.2f}"
    return (f"held out: recon {e.recon_nats:.2f} + KL {e.kl_nats:.2f} = {e.total_nats:.2f} nats/image (KL under ACN "
            f"prior {kl_acn}, under N(0,I) {e.kl_standard_nats:.2f}); k-NN accuracy: codes {e.code_knn_accuracy:.3f}, "
            f"sampled codes {e.sampled_code_knn_accuracy:.3f}, pixels {e.pixel_knn_accuracy:.3f}; "
            f"{e.active_dims} active dims")


def cmd_train(args: argparse.Namespace) -> int:
    from .bundle.build import train_bundle
    from .training.progress import ProgressPrinter
    from .bundle.format import load
    from .training.distributed import from_environment

    config = config_from_args(args)
    group = from_environment(args.device)  # a torchrun job: WORLD_SIZE > 1
    out = Path(args.out)
    run_dir = Path(args.run_dir) if args.run_dir else out.with_name(out.name + ".run")
    stop_file = Path(args.stop_file) if args.stop_file else None
    quiet = args.quiet or (group is not None and not group.main)
    try:
        train_bundle(config, out, run_dir, (ProgressPrinter(quiet, Path(args.progress_file) if args.progress_file
                                                            else None),),
                     should_stop=(lambda: stop_file.exists()) if stop_file else None, device=args.device, group=group)
    finally:
        if group is not None:
            group.close()
    if group is None or group.main:
        print(summary(load(out).evaluation))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .bundle.build import reevaluate
    from .bundle.format import load

    evaluation = reevaluate(load(Path(args.bundle)), chains=args.chains, steps=args.steps)
    print(json.dumps(evaluation_json(evaluation)) if args.json else summary(evaluation))
    return 0


def cmd_neighbours(args: argparse.Namespace) -> int:
    from .bundle.format import load

    bundle = load(Path(args.bundle))
    ids, dists = bundle.neighbours(args.item, args.k)
    rows = [{"item": int(i), "label": bundle.label_name(int(bundle.labels[i])), "distance": float(d)}
            for i, d in zip(ids, dists)]
    if args.json:
        print(json.dumps({"item": args.item, "label": bundle.label_name(int(bundle.labels[args.item])),
                          "neighbours": rows}))
    else:
        print(f"sample {args.item} (label {bundle.label_name(int(bundle.labels[args.item]))}):")
        for row in rows:
            print(f"  #{row['item']:<7d} label {row['label']:<10s} distance {row['distance']:.3f}")
    return 0


def cmd_daydream(args: argparse.Namespace) -> int:
    import numpy as np

    from .bundle.format import load
    from .data.images import grid, save_png
    from .sampling import daydream

    bundle = load(Path(args.bundle))
    frames = list(daydream(bundle, args.start, args.steps, seed=args.seed, mode=args.mode))
    save_png(grid(np.stack([f.image for f in frames]), columns=args.columns, scale=2), Path(args.out))
    labels = " ".join(bundle.label_name(f.nearest_label) for f in frames)
    print(f"wrote {len(frames)} frames (start + {len(frames) - 1} steps) to {args.out}; nearest labels: {labels}")
    return 0


def cmd_figures(args: argparse.Namespace) -> int:
    from .bundle.format import load
    from .paper_check import write_figures

    bundle = load(Path(args.bundle))
    write_figures(bundle, Path(args.out), args.name or bundle.name)
    print(f"wrote {args.out}/{args.name or bundle.name}-recon.png, -prior.png and -daydream.png")
    return 0


def cmd_lean(args: argparse.Namespace) -> int:
    from .bundle.build import make_lean

    for folder in args.bundles:
        done = make_lean(Path(folder), args.drop_snapshot_codes)
        print(f"{folder}: {'now lean (images read from the dataset store, verified)' if done else 'already lean'}")
    return 0


def cmd_first_views(args: argparse.Namespace) -> int:
    from .bundle.build import store_first_views

    for folder in args.bundles:
        done = store_first_views(Path(folder))
        print(f"{folder}: " + ("first views stored (format 4; weights unchanged)" if done else
                               "nothing to store (a fast decoder, or its first views are stored already)"))
    return 0


def cmd_paper_check(args: argparse.Namespace) -> int:
    from .paper_check import paper_check

    doc = paper_check(Path(args.out), args.budget, args.workers, device=args.device)
    print(f"wrote {args.out}/report.json and report.md in {doc['wall_seconds'] / 60:.1f} min")
    return 0


def _threads(text: str) -> int:
    try:
        return parse_threads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _range(low: int, high: int):
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    from .model.acn import DECODE_MODES
    from .sampling import DEFAULT_DAYDREAM_MODE, MAX_DAYDREAM_STEPS

    parser = argparse.ArgumentParser(prog="python -m acn_core", description=__doc__.split("\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--threads", default="auto", type=_threads,
                        help="torch threads: auto (1 on machines with 2 cores or fewer) or a number")
    common.add_argument("--device", default="auto", choices=DEVICES, help="auto = cuda if present, else cpu")
    sub = parser.add_subparsers(dest="command", required=True)
    add = lambda name, help: sub.add_parser(name, help=help, parents=[common])  # noqa: E731
    p = add("train", "train a model and save it as a bundle")
    add_config_options(p)
    p.add_argument("--out", required=True, help="bundle folder to write (a new name, or an existing bundle)")
    p.add_argument("--run-dir", default="", help="checkpoint folder (default OUT.run); a rerun resumes from it")
    p.add_argument("--progress-file", default="", help="append JSON progress lines here")
    p.add_argument("--stop-file", default="", help="stop cleanly (keeping the checkpoint) when this file appears")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)
    p = add("evaluate", "evaluate a bundle on its held-out images")
    p.add_argument("bundle")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--chains", type=_range(0, 1000), default=100, help="daydream chains judged (0 = skip pictures)")
    p.add_argument("--steps", type=_range(1, 1000), default=100, help="steps per judged daydream chain")
    p.set_defaults(func=cmd_evaluate)
    p = add("neighbours", "the K nearest training codes of a training sample (from the index)")
    p.add_argument("bundle")
    p.add_argument("--item", type=_range(0, 10**8), required=True, help="training sample index")
    p.add_argument("--k", type=_range(1, 1000), default=8)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_neighbours)
    p = add("daydream", "write a daydream chain as a PNG strip")
    p.add_argument("bundle")
    p.add_argument("--start", type=_range(0, 10**8), default=0, help="training sample to start from")
    p.add_argument("--steps", type=_range(0, MAX_DAYDREAM_STEPS), default=16,
                   help=f"steps (0 to {MAX_DAYDREAM_STEPS})")
    p.add_argument("--seed", type=_range(0, 2**31 - 1), default=0)
    p.add_argument("--mode", default=DEFAULT_DAYDREAM_MODE, choices=DECODE_MODES,
                   help="what frames show and the chain continues from: the decoder's mean image, a sample "
                        "x ~ r(x|z) (the paper's chain) or the mean rounded to black and white")
    p.add_argument("--columns", type=_range(0, 1000), default=0, help="frames per row (0 = one row)")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.set_defaults(func=cmd_daydream)
    p = add("figures", "write a bundle's reconstructions, prior samples and daydreams as PNG files")
    p.add_argument("bundle")
    p.add_argument("--out", required=True, help="folder for the PNG files")
    p.add_argument("--name", default="", help="file name prefix (default: the bundle's name)")
    p.set_defaults(func=cmd_figures)
    p = add("lean", "migrate bundles that carry images of a known dataset to the lean form, in place")
    p.add_argument("bundles", nargs="+", help="bundle folders; weights, codes, maps and metrics stay as they are")
    p.add_argument("--drop-snapshot-codes", action="store_true",
                   help="also leave out the code-table snapshots (their replay maps stay)")
    p.set_defaults(func=cmd_lean)
    p = add("first-views", "store a PixelCNN's first views (what a page opens on, decoded) in bundles, in place")
    p.add_argument("bundles", nargs="+", help="bundle folders; weights, codes, maps and metrics stay as they are")
    p.set_defaults(func=cmd_first_views)
    p = add("paper-check", "the paper's claim: fast/PixelCNN decoder x ACN/standard prior, ablations")
    p.add_argument("--out", required=True, help="folder for the models, report.json, report.md and figures")
    p.add_argument("--budget", default="quick", choices=("quick", "full", "mnist", "mnist-rehearsal"),
                   help="quick/full: mnist5k; mnist: the paper's data (official MNIST split, a PixelCNN seeing the "
                        "whole image); mnist-rehearsal: the same at a tiny size")
    p.add_argument("--workers", type=_range(1, 64), default=2, help="models trained at once (one thread each)")
    p.set_defaults(func=cmd_paper_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .data.datasets import DataError
    from .storage import BundleError
    from .training.loop import TrainingCancelled, TrainingDiverged

    try:
        configure(args.threads)
        args.device = resolve_device(args.device)
        return args.func(args)
    except (DataError, BundleError, ValueError, TrainingDiverged, TrainingCancelled) as err:
        print(f"error: {err}", file=sys.stderr)
    except OSError as err:  # disk full, a missing folder, no network: one line, never a traceback
        where = f"{err.filename}: " if err.filename else ""
        print(f"error: {where}{err.strerror or err}", file=sys.stderr)
    except RuntimeError as err:
        print(f"error: {str(err).splitlines()[0] if str(err) else type(err).__name__}", file=sys.stderr)
    except KeyboardInterrupt:
        print("error: interrupted; a training run resumes from its last checkpoint when started again",
              file=sys.stderr)
    return 1
