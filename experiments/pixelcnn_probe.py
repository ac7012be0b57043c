"""How the PixelCNN decoder's code evolves while it trains, on the validation split (never the held-out set).

    python experiments/pixelcnn_probe.py --out build/probe.jsonl --name NAME --prior acn --layers 4 --kernel 5 --epochs 20

Every `--every` epochs: validation KL, reconstruction, sampled-code k-NN and active dimensions, one JSON line each.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from acn_core.data.datasets import load_dataset
from acn_core.config import RunConfig
from acn_core.bundle.evaluate import encode_images, evaluate
from acn_core.training.loop import train


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--prior", default="acn")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--kernel", type=int, default=5)
    p.add_argument("--channels", type=int, default=32)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--every", type=int, default=2)
    p.add_argument("--encoder-input", default="binary")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--conditioning", default="global")
    p.add_argument("--precision", default="fp32")
    args = p.parse_args()
    torch.set_num_threads(1)
    config = RunConfig()
    config.data.validation = 800
    m, t = config.model, config.train
    m.decoder, m.prior, m.encoder_input = "pixelcnn", args.prior, args.encoder_input
    m.pixelcnn_layers, m.pixelcnn_kernel, m.pixelcnn_channels = args.layers, args.kernel, args.channels
    t.epochs, t.batch_size, t.lr, t.precision = args.epochs, 64, args.lr, args.precision
    m.encoder = "mlp"
    m.pixelcnn_conditioning = args.conditioning
    images = load_dataset(config.data)
    started = time.perf_counter()

    def probe(progress) -> None:
        if progress.kind != "epoch" or progress.epoch % args.every:
            return
        model = probe.model
        model.eval()
        codes = encode_images(model, images.train.images)
        metrics = evaluate(model, images, codes)
        model.train()
        row = {"name": args.name, "epoch": progress.epoch, "seconds": round(time.perf_counter() - started),
               "train_kl": progress.kl, **{k: getattr(metrics, k) for k in (
                   "recon_nats", "kl_nats", "total_nats", "code_knn_accuracy", "sampled_code_knn_accuracy",
                   "active_dims")}}
        print(json.dumps(row), flush=True)
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")

    import sys

    train_module = sys.modules["acn_core.training.loop"]  # `acn_core.train` is the function (the public API)
    original = train_module.ACN

    def capture(*a, **k):
        probe.model = original(*a, **k)
        return probe.model

    train_module.ACN = capture
    train(config, images, callbacks=(probe,))


if __name__ == "__main__":
    main()
