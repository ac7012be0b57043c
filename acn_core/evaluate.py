"""Held-out evaluation (ACN.md, "Evaluation"): code lengths in nats per image and k-NN accuracy.

For a held-out image the prior is conditioned on its nearest *training* code: the receiver already
has the training set. The total is therefore an upper bound on a code length given the training
codes, not an i.i.d. test NLL.
"""
from __future__ import annotations

import torch

from .codes import exact_knn
from .data import ImageData
from .losses import kl_single_sample, kl_standard
from .model import ACN

EVAL_SEED = 1234
ACTIVE_DIM_THRESHOLD = 0.01  # a dimension is active when its code mean varies more than this
BOUND_NOTE = ("Held-out images are coded with the prior conditioned on their nearest training code: an upper "
              "bound on a code length given the training codes, not an i.i.d. test NLL.")


CHUNK = 1000


def fixed_views(model: ACN, images: torch.Tensor, seed: int = EVAL_SEED):
    """Chunks of (start, encoder input, decoder targets) of uint8 images under the one fixed evaluation
    binarisation: image i always gets the same binary sample (chunk j is seeded with seed + j), so stored
    codes and `evaluate` agree exactly however the images are grouped by the caller."""
    for start in range(0, images.shape[0], CHUNK):
        part = images[start:start + CHUNK]
        targets = model.prepare(part, torch.Generator().manual_seed(seed + start // CHUNK))
        yield start, model.encoder_input(part, targets), targets


@torch.no_grad()
def encode_images(model: ACN, images: torch.Tensor, seed: int = EVAL_SEED) -> torch.Tensor:
    """The stored code of every image (see `fixed_views`): (N, C, H, W) uint8 -> (N, D)."""
    return torch.cat([model.encode(view) for _, view, _ in fixed_views(model, images, seed)])


def knn_accuracy(queries: torch.Tensor, query_labels: torch.Tensor, reference: torch.Tensor,
                 reference_labels: torch.Tensor, k: int = 5) -> float:
    """Fraction of queries whose k nearest references (majority vote) carry the right label."""
    _, ids = exact_knn(queries.float(), reference.float(), k)
    predicted = torch.mode(reference_labels[ids], dim=1).values
    return (predicted == query_labels).float().mean().item()


@torch.no_grad()
def code_costs(model: ACN, codes: torch.Tensor, context: torch.Tensor | None, samples: int = 4,
               seed: int = EVAL_SEED) -> torch.Tensor:
    """KL of each code under the model's prior, averaged over `samples` draws z ~ q: (N, D) -> (N,)."""
    if context is None:
        return kl_standard(codes)
    generator = torch.Generator().manual_seed(seed)
    total = torch.zeros(codes.shape[0])
    for _ in range(samples):
        z = codes + torch.randn(codes.shape, generator=generator)
        total += kl_single_sample(z, codes, model.prior.log_prob(z, context))
    return total / samples


@torch.no_grad()
def evaluate(model: ACN, data: ImageData, train_codes: torch.Tensor, k: int = 5, seed: int = EVAL_SEED) -> dict:
    """Metrics on `data.test`; `train_codes` are the final codes of `data.train` (encode_images)."""
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    test = data.test
    sums = {"recon": 0.0, "kl": 0.0, "kl_standard": 0.0}
    test_codes = []
    for _, view, x in fixed_views(model, test.images, seed):
        code = model.encode(view)
        _, nearest = exact_knn(code, train_codes, 1)
        recon, kl = model.losses(x, code, train_codes[nearest[:, 0]], generator)
        sums["recon"] += recon.sum().item()
        sums["kl"] += kl.sum().item()
        sums["kl_standard"] += kl_standard(code).sum().item()
        test_codes.append(code)
    n = len(test)
    test_codes = torch.cat(test_codes)
    noise = torch.Generator().manual_seed(seed + 1)
    sampled_train = train_codes + torch.randn(train_codes.shape, generator=noise)
    sampled_test = test_codes + torch.randn(test_codes.shape, generator=noise)
    acn = model.config.prior == "acn"
    recon, kl = sums["recon"] / n, sums["kl"] / n
    return {
        "recon_nats": recon,
        "kl_nats": kl,
        "kl_acn_nats": kl if acn else None,
        "kl_standard_nats": sums["kl_standard"] / n,
        "total_nats": recon + kl,
        "code_knn_accuracy": knn_accuracy(test_codes, test.labels, train_codes, data.train.labels, k),
        "sampled_code_knn_accuracy": knn_accuracy(sampled_test, test.labels, sampled_train, data.train.labels, k),
        "pixel_knn_accuracy": knn_accuracy(test.images.flatten(1).float() / 255, test.labels,
                                           data.train.images.flatten(1).float() / 255, data.train.labels, k),
        "active_dims": int((train_codes.var(0) > ACTIVE_DIM_THRESHOLD).sum().item()),
        "code_dim": train_codes.shape[1],
        "knn_k": k,
        "n_train": len(data.train),
        "n_test": n,
        "note": BOUND_NOTE,
    }
