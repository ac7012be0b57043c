"""What the pictures show, as numbers: a small pixel classifier judges reconstructions and daydreams.

The classifier (an MLP on pixels, trained on the model's own training images, seeded) is shown each
image both as grey intensities and as one binarisation, so it judges mean images and binary samples
alike. Three numbers come from it (all on held-out images):
- `recon_label_agreement`: the fraction of images whose stochastic reconstruction (z ~ q(z|x), then
  x' ~ r(x|z)) it labels with the original's label;
- `on_data_fraction`: the fraction of daydream frames it labels with probability >= 0.9 (beside the
  same fraction for the real images, `data_on_data_fraction`);
- `classes_visited`: distinct labels per daydream chain.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data import noise
from ..data.datasets import ImageData
from .evaluate import EVAL_SEED, DaydreamScore, encode_images
from ..model.acn import ACN

CONFIDENT = 0.9
CHAINS, STEPS = 100, 100


def train_classifier(images: torch.Tensor, labels: torch.Tensor, classes: int, seed: int = 0,
                     epochs: int = 15) -> nn.Module:
    """An MLP (pixels -> 256 -> classes) on uint8 images (N, C, H, W), seeded: the same data give the
    same classifier."""
    grey = images.flatten(1).float() / 255
    binary = (noise.uniform(noise.keys(seed, 0, torch.arange(len(images))), grey.shape[1], noise.BINARISE)
              < grey).float()
    inputs, targets = torch.cat([grey, binary]), torch.cat([labels, labels])
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        classifier = nn.Sequential(nn.Linear(grey.shape[1], 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, classes))
    optimizer = torch.optim.Adam(classifier.parameters(), lr=1e-3)
    classifier.train()
    with torch.random.fork_rng(devices=[]):  # dropout draws from the global RNG
        torch.manual_seed(seed)
        for _ in range(epochs):
            for batch in torch.randperm(len(inputs), generator=generator).split(128):
                loss = F.cross_entropy(classifier(inputs[batch]), targets[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    return classifier.eval()


@torch.no_grad()
def probabilities(classifier: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Class probabilities of images in [0, 1]: (N, C, H, W) -> (N, classes)."""
    return F.softmax(classifier(images.flatten(1).float()), dim=1)


@torch.no_grad()
def recon_label_agreement(model: ACN, classifier: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                          seed: int = EVAL_SEED, batch: int = 100) -> float:
    """Fraction of images whose reconstruction x' ~ r(x | z), z ~ q(z|x), keeps its label."""
    codes = encode_images(model, images)
    z = codes + noise.normal(noise.keys(seed + 3, 0, torch.arange(len(codes))), codes.shape[1], noise.POSTERIOR)
    generator = torch.Generator().manual_seed(seed)
    recons = torch.cat([model.decode(part, generator, "sample") for part in z.split(batch)])
    return (probabilities(classifier, recons).argmax(1) == labels).float().mean().item()


@torch.no_grad()
def daydream_scores(model: ACN, classifier: nn.Module, start: torch.Tensor, modes: tuple[str, ...],
                    steps: int = STEPS, seed: int = 0) -> list[DaydreamScore]:
    """Run one seeded chain of `steps` steps from each start image (uint8 (B, C, H, W)) in each mode and
    score the frames shown (the start image excluded)."""
    scores = []
    for mode in modes:
        generator = torch.Generator().manual_seed(seed)
        image = start.float() / 255
        labels = []
        confident = 0
        for _ in range(steps):
            image = model.daydream_step(image, generator, mode)
            probs = probabilities(classifier, image)
            confident += int((probs.max(1).values >= CONFIDENT).sum())
            labels.append(probs.argmax(1))
        visited = torch.stack(labels, 1)  # (B, steps)
        distinct = torch.stack([row.unique().numel() * torch.ones(()) for row in visited])
        scores.append(DaydreamScore(mode, confident / visited.numel(), distinct.mean().item()))
    return scores


def judge(model: ACN, data: ImageData, modes: tuple[str, ...], chains: int = CHAINS, steps: int = STEPS,
          seed: int = 0) -> tuple[float, float, list[DaydreamScore]]:
    """(recon_label_agreement, data_on_data_fraction, daydream scores per mode) on `data.test`."""
    classifier = train_classifier(data.train.images, data.train.labels, len(data.class_names), seed)
    test = data.test
    real = probabilities(classifier, test.images.float() / 255)
    on_data = (real.max(1).values >= CONFIDENT).float().mean().item()
    agreement = recon_label_agreement(model, classifier, test.images, test.labels)
    return agreement, on_data, daydream_scores(model, classifier, test.images[:chains], modes, steps, seed)
