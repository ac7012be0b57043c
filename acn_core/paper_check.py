"""The paper's claim on a CPU: a VAE with a powerful decoder ignores its code; an ACN keeps it.

`python -m acn_core paper-check --out DIR [--budget quick|full]` trains (or reuses) on mnist5k, with the
same data, seed and budget, two at a time in separate one-thread processes:
- two PixelCNN pairs (ACN prior vs standard N(0, I) prior): the conditional gated PixelCNN with the code
  as one bias per layer ("global", the paper's claim) and with a bias map from a deconvolution of the
  code ("spatial", where the decoder can use the code so well that a VAE keeps one too);
- the fast-decoder pair (the default networks) and two ablations of the ACN (unique-neighbour rule off,
  an example allowed to be its own neighbour).
It writes DIR/report.json, DIR/report.md and DIR/figures/; each model's bundle is DIR/<key>/.
The criteria that decide "reproduced" are CRITERIA below, fixed before the runs they judge.
"""
from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Callable

import numpy as np

from .config import RunConfig

# epochs and how many daydream chains/steps judge the pictures (the full budget is the definition, 100 x 100)
BUDGETS = {"quick": {"fast_epochs": 30, "pixelcnn_epochs": 6, "chains": 20, "steps": 20},
           "full": {"fast_epochs": 100, "pixelcnn_epochs": 40, "chains": 100, "steps": 100}}
CHANCE = 0.1  # ten balanced classes
# fixed before the runs: the VAE's code collapsed, and the ACN's code carries the digit in what it draws
CRITERIA = {"vae_kl_below": 0.5, "vae_sampled_knn_below": 0.2, "acn_sampled_knn_at_least": 0.6,
            "acn_recon_agreement_at_least": 0.8, "acn_daydream_on_data_at_least": 0.8}
PAIRS = {"pixelcnn": "global", "pixelcnn-spatial": "spatial"}
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


def variants(budget: str) -> dict[str, RunConfig]:
    """Every model of the check, keyed `<decoder>-<prior>[-ablation]`, sharing data and seed."""
    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {sorted(BUDGETS)}, got {budget!r}")
    epochs = BUDGETS[budget]
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
    from .build import train_bundle
    from .bundle import load
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
        train_bundle(config, bundle_dir, out_dir / f"{key}.run", device=device, log=lambda line: None,
                     chains=BUDGETS[budget]["chains"], steps=BUDGETS[budget]["steps"])
    loaded = load(bundle_dir)
    write_figures(loaded, out_dir / "figures", key)
    e, history = loaded.evaluation, loaded.history
    daydream = e.daydream(_daydream_mode(loaded)) or e.daydream(display_mode(loaded))  # older bundles: one mode
    entry = {k: getattr(e, k) for k in ("recon_nats", "kl_nats", "total_nats", "kl_standard_nats", "kl_acn_nats",
                                        "code_knn_accuracy", "sampled_code_knn_accuracy", "pixel_knn_accuracy",
                                        "active_dims", "recon_label_agreement", "data_on_data_fraction")}
    entry.update(decoder=config.model.decoder, conditioning=config.model.pixelcnn_conditioning,
                 prior=config.model.prior, epochs=config.train.epochs, unique_neighbours=config.train.unique_neighbours,
                 allow_self_neighbour=config.train.allow_self_neighbour, daydream_mode=daydream.mode if daydream else None,
                 daydream_on_data_fraction=daydream.on_data_fraction if daydream else None,
                 daydream_classes_visited=daydream.classes_visited if daydream else None,
                 daydream_modes={d.mode: [d.on_data_fraction, d.classes_visited] for d in e.daydreams},
                 train_kl_nats=history[-1].kl, train_recon_nats=history[-1].recon,
                 train_seconds=loaded.training_seconds, reused=reused, seconds=time.perf_counter() - started)
    return entry


def _daydream_mode(bundle) -> str:
    """The daydream judged and shown: the paper's sampled chain for a PixelCNN (its pictures are its samples),
    the app's default mode for the fast decoders."""
    from .sampling import DEFAULT_DAYDREAM_MODE

    return "sample" if bundle.model.decoder.autoregressive else DEFAULT_DAYDREAM_MODE


def write_figures(bundle, folder: Path, key: str) -> None:
    """Reconstructions (the original above three decodes of z ~ q(z|x): what stays is what the code holds),
    prior samples and two daydream chains."""
    from .images import grid, save_png
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
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(run_variant, key, c.to_dict(), str(out), budget, device): key
                   for key, c in configs.items()}
        for future in as_completed(futures):
            key = futures[future]
            report[key] = e = future.result()
            took = "reused" if e["reused"] else f"{e['seconds']:.0f}s"
            log(f"{key:26s} recon {e['recon_nats']:7.2f}  KL {e['kl_nats']:6.2f}  total {e['total_nats']:7.2f} nats  "
                f"k-NN codes {e['code_knn_accuracy']:.3f} sampled {e['sampled_code_knn_accuracy']:.3f}  ({took})")
    report = {key: report[key] for key in configs}
    doc = {"budget": budget, "dataset": "mnist5k", "wall_seconds": time.perf_counter() - started,
           "criteria": CRITERIA, "models": report}
    (out / "report.json").write_text(json.dumps(doc, indent=2) + "\n")
    (out / "report.md").write_text(render_markdown(doc))
    return doc


def judge_pair(vae: dict, acn: dict) -> dict[str, bool]:
    """Each criterion of CRITERIA for one (standard prior, ACN prior) pair; missing numbers fail."""
    def at_least(entry, key, bound):
        return entry.get(key) is not None and entry[key] >= bound

    c = CRITERIA
    return {f"VAE KL below {c['vae_kl_below']} nats": vae["kl_nats"] < c["vae_kl_below"],
            f"VAE sampled-code k-NN below {c['vae_sampled_knn_below']}":
                vae["sampled_code_knn_accuracy"] < c["vae_sampled_knn_below"],
            f"ACN sampled-code k-NN at least {c['acn_sampled_knn_at_least']}":
                at_least(acn, "sampled_code_knn_accuracy", c["acn_sampled_knn_at_least"]),
            f"ACN reconstructions keep the label (>= {c['acn_recon_agreement_at_least']})":
                at_least(acn, "recon_label_agreement", c["acn_recon_agreement_at_least"]),
            f"ACN daydream frames on the data (>= {c['acn_daydream_on_data_at_least']})":
                at_least(acn, "daydream_on_data_fraction", c["acn_daydream_on_data_at_least"])}


def verdict(models: dict) -> list[str]:
    """Plain sentences comparing the outcome with what the paper leads us to expect."""
    lines = []
    for pair, conditioning in PAIRS.items():
        vae, acn = models.get(f"{pair}-standard"), models.get(f"{pair}-acn")
        if not (vae and acn):
            continue
        checks = judge_pair(vae, acn)
        failed = [name for name, ok in checks.items() if not ok]
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
    figures = [f"### {key}\n\nReconstructions (top: originals; below: three decodes of z ~ q(z|x))  \n"
               f"![](figures/{key}-recon.png)\n\nPrior samples  \n![](figures/{key}-prior.png)\n\n"
               f"Daydreams  \n![](figures/{key}-daydream.png)\n" for key in models]
    criteria = ", ".join(f"{k} = {v}" for k, v in doc.get("criteria", CRITERIA).items())
    return (f"# Paper check ({doc['budget']} budget, {doc['dataset']})\n\n"
            f"Made by `python -m acn_core paper-check --budget {doc['budget']}` in {doc['wall_seconds'] / 60:.1f} min"
            + _reused_note(models) + ".\n"
            "Held-out numbers in nats per image (KL = under the model's own prior; for ACN models the prior is "
            "conditioned on the nearest training code, so the total is an upper bound on a code length given the "
            f"training codes). Raw-pixel k-NN (k = 5) accuracy: {pixel:.3f}; chance: {CHANCE:.1f}. Active dimensions: "
            "variance of the code mean above 0.01. Pictures judged by a pixel classifier (see README).\n\n"
            + "\n".join(rows) + f"\n\nCriteria, fixed before the runs: {criteria}.\n\n## What came out\n\n"
            + "\n".join(f"- {line}" for line in verdict(models)) + "\n\n## Figures\n\n" + "\n".join(figures))
