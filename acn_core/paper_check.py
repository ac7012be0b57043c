"""The paper's claim: a VAE with a powerful decoder ignores its code; an ACN keeps it.

`python -m acn_core paper-check --out DIR [--budget quick|full|mnist]` trains (or reuses), with the same
data, seed and budget, two at a time in separate one-thread processes (or on one accelerator):
- budgets `quick` and `full`, on mnist5k: two PixelCNN pairs (ACN prior vs standard N(0, I) prior) with a
  local-window decoder (4 gated layers, reach 7 pixels): the code as one bias per layer ("global") and as a
  bias map from a deconvolution of the code ("spatial"); the fast-decoder pair (the default networks) and
  two ablations of the ACN (unique-neighbour rule off, an example allowed to be its own neighbour);
- budget `mnist`, the paper's own setting: binarised MNIST, the official 60,000 / 10,000 split, one pair
  with a gated PixelCNN whose receptive field covers the whole 28x28 image (13 layers: reach 28), the code
  as one bias per layer -- the decoder strong enough to model a digit without any code.
It writes DIR/report.json, DIR/report.md and DIR/figures/; each model's bundle is DIR/<key>/, its
checkpoints DIR/<key>.run/ (a stopped run resumes from them) and its progress DIR/<key>.log.
The criteria that decide "reproduced" are `evaluate.CRITERIA` and `evaluate.MNIST_CRITERIA`, fixed before the runs
they judge (MNIST_CRITERIA written here in commit c719a6b, before its first run, and moved beside `evaluate` unchanged).
"""
from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Callable

import numpy as np

from .config import RunConfig
from .bundle.evaluate import CRITERIA, MNIST_CRITERIA

# epochs and how many daydream chains/steps judge the pictures (the full budget is the definition, 100 x 100)
BUDGETS = {"quick": {"fast_epochs": 30, "pixelcnn_epochs": 6, "chains": 20, "steps": 20},
           "full": {"fast_epochs": 100, "pixelcnn_epochs": 40, "chains": 100, "steps": 100},
           "mnist": {"fast_epochs": 0, "pixelcnn_epochs": 10, "chains": 100, "steps": 100},
           # the same models and code path at a tiny size (512 training images, 256 validation), to rehearse
           # a run before it is spent on an accelerator
           "mnist-rehearsal": {"fast_epochs": 0, "pixelcnn_epochs": 1, "chains": 4, "steps": 4}}
CHANCE = 0.1  # ten balanced classes
PAPER_TOTAL_NATS = 73.9  # the paper's upper bound on binarised MNIST (full 60k, a large GPU model)
TOTAL_GOAL_NATS = 80.0  # our goal for the ACN's held-out total on the official test images (not a criterion)
PAIRS = {"pixelcnn": "global", "pixelcnn-spatial": "spatial"}
MNIST_PAIR = "mnist-pixelcnn"
FIGURE_ITEMS = [0, 1, 2, 3, 4, 5, 6, 7]


def pixelcnn_config(conditioning: str, prior: str, epochs: int) -> RunConfig:
    """The probed PixelCNN: 4 gated layers, a 5-wide first window (reach 6 pixels), 32 channels, batch 64,
    K = 5, with the MLP encoder seeing the binarised image (as in the validation probes, experiments/);
    every setting pinned, so a change of the defaults does not change these models."""
    config = RunConfig()
    m, t = config.model, config.train
    m.encoder, m.encoder_input, m.decoder, m.prior = "mlp", "binary", "pixelcnn", prior
    m.pixelcnn_layers, m.pixelcnn_kernel, m.pixelcnn_channels, m.pixelcnn_conditioning = 4, 5, 32, conditioning
    t.epochs, t.batch_size, t.lr_schedule, t.precision = epochs, 64, "constant", "fp32"  # bf16 not validated here
    t.k = 5  # as probed (and as every public re-implementation)
    return config


def whole_image_pixelcnn_config(prior: str, epochs: int) -> RunConfig:
    """The `mnist` budget's model: binarised MNIST, official split (dynamic binarisation while training, keyed by
    (seed, epoch, image); one fixed keyed binarisation for evaluation), a gated PixelCNN of 13 layers (a 7-wide
    first window, then 5-wide: reach 28, the whole image), 32 channels, the code as one bias per layer; the MLP
    encoder seeing the binarised image; batch 64, K = 5, cosine decay, bf16 where the processor has it."""
    config = RunConfig()
    d, m, t = config.data, config.model, config.train
    d.dataset, d.download = "mnist", False  # from $ACN_DATA_ROOT or ./data (`make data`), checked by hash
    m.encoder, m.encoder_input, m.decoder, m.prior = "mlp", "binary", "pixelcnn", prior
    m.pixelcnn_layers, m.pixelcnn_kernel, m.pixelcnn_layer_kernel = 13, 7, 5
    m.pixelcnn_channels, m.pixelcnn_conditioning = 32, "global"
    t.epochs, t.batch_size, t.lr_schedule, t.precision, t.k = epochs, 64, "cosine", "auto", 5
    return config


def pairs(budget: str) -> dict[str, str]:
    """The PixelCNN pairs of a budget: key prefix -> conditioning."""
    return {MNIST_PAIR: "global"} if budget.startswith("mnist") else PAIRS


def criteria(budget: str) -> dict[str, float]:
    return MNIST_CRITERIA if budget.startswith("mnist") else CRITERIA


def variants(budget: str) -> dict[str, RunConfig]:
    """Every model of the check, keyed `<decoder>-<prior>[-ablation]`, sharing data and seed."""
    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {sorted(BUDGETS)}, got {budget!r}")
    epochs = BUDGETS[budget]
    if budget.startswith("mnist"):
        out = {f"{MNIST_PAIR}-{prior}": whole_image_pixelcnn_config(prior, epochs["pixelcnn_epochs"])
               for prior in ("acn", "standard")}
        if budget == "mnist-rehearsal":
            for config in out.values():
                config.data.max_train, config.data.validation = 512, 256
        return out
    out = {f"{pair}-{prior}": pixelcnn_config(conditioning, prior, epochs["pixelcnn_epochs"])
           for pair, conditioning in PAIRS.items() for prior in ("acn", "standard")}  # the slow ones first
    for key, change in (("fast-acn", {}), ("fast-standard", {"prior": "standard"}),
                        ("fast-acn-no-unique", {"unique_neighbours": False}),
                        ("fast-acn-self-neighbour", {"allow_self_neighbour": True})):
        config = RunConfig()  # the default networks
        config.train.epochs = epochs["fast_epochs"]
        for name, value in change.items():
            setattr(config.model if name == "prior" else config.train, name, value)
        out[key] = config
    return out


def run_variant(key: str, config_dict: dict, out: str, budget: str, device: str = "cpu") -> dict:
    """Train (or reuse) one variant, save its bundle and figures; returns its report entry.
    Runs in a worker process with one torch thread."""
    from .bundle.build import train_bundle
    from .bundle.format import load
    from .runtime import configure, resolve_precision
    from .sampling import display_mode

    configure(1)
    config = RunConfig.from_dict(config_dict)
    config.train.precision = resolve_precision(config.train.precision, device)
    out_dir = Path(out)
    bundle_dir = out_dir / key
    started = time.perf_counter()
    try:
        reused = RunConfig.from_dict(json.loads((bundle_dir / "config.json").read_text())["config"]) == config
    except (OSError, ValueError, KeyError):
        reused = False
    if not reused:
        progress = ProgressLog(key, out_dir / f"{key}.log", config.train.batch_size)
        train_bundle(config, bundle_dir, out_dir / f"{key}.run", callbacks=(progress,), device=device,
                     log=progress.line, chains=BUDGETS[budget]["chains"], steps=BUDGETS[budget]["steps"])
    loaded = load(bundle_dir)
    write_figures(loaded, out_dir / "figures", key)
    e, history = loaded.evaluation, loaded.history
    daydream = e.daydream(_daydream_mode(loaded)) or e.daydream(display_mode(loaded))  # older bundles: one mode
    entry = {k: getattr(e, k) for k in ("recon_nats", "kl_nats", "total_nats", "kl_standard_nats", "kl_acn_nats",
                                        "code_knn_accuracy", "sampled_code_knn_accuracy", "pixel_knn_accuracy",
                                        "active_dims", "recon_label_agreement", "data_on_data_fraction", "n_train", "n_test")}
    entry.update(decoder=config.model.decoder, conditioning=config.model.pixelcnn_conditioning,
                 prior=config.model.prior, epochs=config.train.epochs, unique_neighbours=config.train.unique_neighbours,
                 allow_self_neighbour=config.train.allow_self_neighbour, daydream_mode=daydream.mode if daydream else None,
                 daydream_on_data_fraction=daydream.on_data_fraction if daydream else None,
                 daydream_classes_visited=daydream.classes_visited if daydream else None,
                 daydream_modes={d.mode: [d.on_data_fraction, d.classes_visited] for d in e.daydreams},
                 train_kl_nats=history[-1].kl, train_recon_nats=history[-1].recon,
                 train_seconds=loaded.training_seconds, reused=reused, seconds=time.perf_counter() - started)
    return entry


class ProgressLog:
    """A line a person can read, a minute apart and after every epoch, on stdout and appended to `path`:
    `mnist-pixelcnn-acn  epoch 3/10  step 412/938  recon 88.10  KL 3.20 nats  54 images/s  ~4.1 h left`."""

    def __init__(self, key: str, path: Path, batch_size: int, every: float = 60.0):
        self.key, self.path, self.batch_size, self.every = key, Path(path), batch_size, every
        self.first_step: int | None = None
        self.last = float("-inf")

    def line(self, text: str) -> None:
        stamped = f"{time.strftime('%H:%M:%S')} {self.key}  {text}"
        print(stamped, flush=True)
        with open(self.path, "a") as f:
            f.write(stamped + "\n")

    def __call__(self, p) -> None:  # a `train.Progress`
        global_step = (p.epoch - 1) * p.steps + p.step
        if self.first_step is None:
            self.first_step = global_step - 1  # the steps done before this process (a resumed run)
        now = time.monotonic()
        if p.kind == "step" and now - self.last < self.every:
            return
        self.last = now
        rate = (global_step - self.first_step) * self.batch_size / max(p.elapsed, 1e-9)
        left = (p.epochs * p.steps - global_step) * self.batch_size / max(rate, 1e-9)
        self.line(f"epoch {p.epoch}/{p.epochs}  step {p.step}/{p.steps}  recon {p.recon:.2f}  KL {p.kl:.2f} nats  "
                  f"{rate:.0f} images/s  ~{left / 3600:.1f} h of training left")


def _daydream_mode(bundle) -> str:
    """The daydream judged and shown: the paper's sampled chain for a PixelCNN (its pictures are its samples),
    the app's default mode for the fast decoders."""
    from .sampling import DEFAULT_DAYDREAM_MODE

    return "sample" if bundle.model.decoder.autoregressive else DEFAULT_DAYDREAM_MODE


def write_figures(bundle, folder: Path, key: str) -> None:
    """Reconstructions (the original above three decodes of z ~ q(z|x): what stays is what the code holds),
    prior samples and two daydream chains."""
    from .data.images import grid, save_png
    from .sampling import daydream, prior_samples, reconstruct

    folder.mkdir(parents=True, exist_ok=True)
    items = [i for i in FIGURE_ITEMS if i < bundle.n_train]
    recons = np.stack([reconstruct(bundle, item, samples=3, seed=item)[1] for item in items], axis=1)  # (3, B, ...)
    save_png(grid(np.concatenate([bundle.images(items), *recons]), columns=len(items), scale=2),
             folder / f"{key}-recon.png")
    _, samples = prior_samples(bundle, 2 * len(items), seed=0)
    save_png(grid(samples, columns=len(items), scale=2), folder / f"{key}-prior.png")
    mode = _daydream_mode(bundle)
    frames = [f.image for start in items[:2] for f in daydream(bundle, start, 2 * len(items) - 1, seed=start, mode=mode)]
    save_png(grid(np.stack(frames), columns=2 * len(items), scale=2), folder / f"{key}-daydream.png")


def paper_check(out: Path, budget: str = "quick", workers: int = 2, device: str = "cpu",
                log: Callable[[str], None] = print) -> dict:
    """Run every variant (in `workers` processes) and write report.json and report.md into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    configs = variants(budget)
    started = time.perf_counter()
    report: dict[str, dict] = {}
    failed: list[str] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(run_variant, key, c.to_dict(), str(out), budget, device): key
                   for key, c in configs.items()}
        for future in as_completed(futures):
            key = futures[future]
            try:
                report[key] = e = future.result()
            except Exception as err:  # said at once, not when the other models finish hours later
                failed.append(key)
                log(f"{key} failed: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''} "
                    f"(a run resumes from the checkpoints in {out / (key + '.run')})")
                continue
            took = "reused" if e["reused"] else f"{e['seconds']:.0f}s"
            log(f"{key:26s} recon {e['recon_nats']:7.2f}  KL {e['kl_nats']:6.2f}  total {e['total_nats']:7.2f} nats  "
                f"k-NN codes {e['code_knn_accuracy']:.3f} sampled {e['sampled_code_knn_accuracy']:.3f}  ({took})")
    if failed:
        raise RuntimeError(f"the paper check did not finish: {', '.join(failed)} failed (see above); run it again "
                           f"to resume")
    report = {key: report[key] for key in configs}
    doc = {"budget": budget, "dataset": "mnist" if budget.startswith("mnist") else "mnist5k",
           "wall_seconds": time.perf_counter() - started, "criteria": criteria(budget), "models": report}
    (out / "report.json").write_text(json.dumps(doc, indent=2) + "\n")
    (out / "report.md").write_text(render_markdown(doc))
    return doc


def judge_pair(vae: dict, acn: dict, c: dict[str, float] = CRITERIA) -> dict[str, bool]:
    """Each criterion of `c` (CRITERIA or MNIST_CRITERIA) for one (standard prior, ACN prior) pair; missing
    numbers fail."""
    def at_least(entry, key, bound):
        return entry.get(key) is not None and entry[key] >= bound

    return {f"VAE KL below {c['vae_kl_below']} nats": vae["kl_nats"] < c["vae_kl_below"],
            f"VAE sampled-code k-NN below {c['vae_sampled_knn_below']}":
                vae["sampled_code_knn_accuracy"] < c["vae_sampled_knn_below"],
            f"ACN sampled-code k-NN at least {c['acn_sampled_knn_at_least']}":
                at_least(acn, "sampled_code_knn_accuracy", c["acn_sampled_knn_at_least"]),
            f"ACN reconstructions keep the label (>= {c['acn_recon_agreement_at_least']})":
                at_least(acn, "recon_label_agreement", c["acn_recon_agreement_at_least"]),
            f"ACN daydream frames on the data (>= {c['acn_daydream_on_data_at_least']})":
                at_least(acn, "daydream_on_data_fraction", c["acn_daydream_on_data_at_least"])}


def verdict(models: dict, budget: str = "full") -> list[str]:
    """Plain sentences comparing the outcome with what the paper leads us to expect."""
    lines = []
    for pair, conditioning in pairs(budget).items():
        vae, acn = models.get(f"{pair}-standard"), models.get(f"{pair}-acn")
        if not (vae and acn):
            continue
        checks = judge_pair(vae, acn, criteria(budget))
        failed = [name for name, ok in checks.items() if not ok]
        if budget.startswith("mnist"):
            lines.append(f"ACN total {acn['total_nats']:.2f} nats per image (an upper bound, on {acn.get('n_test', 0):,} "
                         f"held-out images) beside the paper's {PAPER_TOTAL_NATS}; our goal was at most "
                         f"{TOTAL_GOAL_NATS:.0f}: {'met' if acn['total_nats'] <= TOTAL_GOAL_NATS else 'missed'}. "
                         f"The VAE's total: {vae['total_nats']:.2f}.")
        lines.append(f"PixelCNN, {conditioning} conditioning: VAE KL {vae['kl_nats']:.2f} nats, sampled-code k-NN "
                     f"{vae['sampled_code_knn_accuracy']:.3f} (chance {CHANCE:.1f}); ACN KL {acn['kl_nats']:.2f} nats, "
                     f"sampled-code k-NN {acn['sampled_code_knn_accuracy']:.3f}, reconstructions keeping their label "
                     f"{_fmt(acn.get('recon_label_agreement'))} (VAE {_fmt(vae.get('recon_label_agreement'))}). "
                     + ("Claim reproduced: every criterion holds." if not failed else
                        f"Claim NOT reproduced under this budget: {'; '.join(failed)} failed."))
    base, leaky, no_unique = models.get("fast-acn"), models.get("fast-acn-self-neighbour"), models.get("fast-acn-no-unique")
    fast_vae = models.get("fast-standard")
    if base and fast_vae:
        lines.append(f"Fast decoder: ACN total {base['total_nats']:.2f} vs VAE {fast_vae['total_nats']:.2f} nats; "
                     f"code k-NN {base['code_knn_accuracy']:.3f} vs {fast_vae['code_knn_accuracy']:.3f}; sampled "
                     f"{base['sampled_code_knn_accuracy']:.3f} vs {fast_vae['sampled_code_knn_accuracy']:.3f}.")
    for name, other in (("Self-neighbour bug", leaky), ("Unique-neighbour rule off", no_unique)):
        if base and other:
            lines.append(f"{name}: training KL {other['train_kl_nats']:.2f} vs {base['train_kl_nats']:.2f} nats; "
                         f"held-out total {other['total_nats']:.2f} vs {base['total_nats']:.2f}; code k-NN "
                         f"{other['code_knn_accuracy']:.3f} vs {base['code_knn_accuracy']:.3f}.")
    return lines


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _reused_note(models: dict) -> str:
    reused = [key for key, e in models.items() if e.get("reused")]
    if not reused:
        return ""
    minutes = sum(models[key].get("train_seconds") or 0 for key in reused) / 60
    return f" ({len(reused)} models reused from an earlier run in the same folder, their trainings summing to {minutes:.0f} min)"


def render_markdown(doc: dict) -> str:
    models = doc["models"]
    pixel = next(iter(models.values()))["pixel_knn_accuracy"]
    rows = ["| model | epochs | recon | KL | total | KL under N(0,I) | code k-NN | sampled-code k-NN | active dims | "
            "recon keeps label | daydream on data |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, e in models.items():
        rows.append(f"| {key} | {e['epochs']} | {e['recon_nats']:.2f} | {e['kl_nats']:.2f} | {e['total_nats']:.2f} | "
                    f"{e['kl_standard_nats']:.2f} | {e['code_knn_accuracy']:.3f} | {e['sampled_code_knn_accuracy']:.3f}"
                    f" | {e['active_dims']} | {_fmt(e.get('recon_label_agreement'))} | "
                    f"{_fmt(e.get('daydream_on_data_fraction'))} |")
    if doc["budget"].startswith("mnist"):  # the paper's figure beside ours (it reports the total only)
        rows.append(f"| the paper's ACN (Graves et al., 2018) | | | | {PAPER_TOTAL_NATS:.2f} | | | | | | |")
    figures = [f"### {key}\n\nReconstructions (top: originals; below: three decodes of z ~ q(z|x))  \n"
               f"![](figures/{key}-recon.png)\n\nPrior samples  \n![](figures/{key}-prior.png)\n\n"
               f"Daydreams  \n![](figures/{key}-daydream.png)\n" for key in models]
    fixed = ", ".join(f"{k} = {v}" for k, v in doc.get("criteria", CRITERIA).items())
    return (f"# Paper check ({doc['budget']} budget, {doc['dataset']})\n\n"
            f"Made by `python -m acn_core paper-check --budget {doc['budget']}` in {doc['wall_seconds'] / 60:.1f} min"
            + _reused_note(models) + ".\n"
            "Held-out numbers in nats per image (KL = under the model's own prior; for ACN models the prior is "
            "conditioned on the nearest training code, so the total is an upper bound on a code length given the "
            f"training codes). Raw-pixel k-NN (k = 5) accuracy: {pixel:.3f}; chance: {CHANCE:.1f}. Active dimensions: "
            "variance of the code mean above 0.01. Pictures judged by a pixel classifier (docs/default-model.md).\n\n"
            + "\n".join(rows) + f"\n\nCriteria, fixed before the runs: {fixed}.\n\n## What came out\n\n"
            + "\n".join(f"- {line}" for line in verdict(models, doc["budget"])) + "\n\n## Figures\n\n" + "\n".join(figures))
