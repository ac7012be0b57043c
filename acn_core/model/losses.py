"""Pure loss functions. Every function returns one value per image, in nats."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log r(x|z) for binary pixels: (B, C, H, W) logits and targets -> (B,)."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def discretised_logistic_nll(mean: torch.Tensor, log_scale: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log P(x) for 256-level pixels under a logistic discretised into bins (PixelCNN++ style).

    x is scaled to [-1, 1]; bins have width 2/255; the end bins take the tails. (B, C, H, W) -> (B,)
    """
    inv_scale = torch.exp(-log_scale)
    centred = x - mean
    plus = inv_scale * (centred + 1.0 / 255.0)
    minus = inv_scale * (centred - 1.0 / 255.0)
    cdf_plus, cdf_minus = torch.sigmoid(plus), torch.sigmoid(minus)
    log_cdf_plus = plus - F.softplus(plus)  # log sigmoid(plus), for the bottom bin
    log_one_minus_cdf_minus = -F.softplus(minus)  # for the top bin
    mid = inv_scale * centred
    log_pdf_mid = mid - log_scale - 2.0 * F.softplus(mid)  # density at bin centre, for tiny bins
    prob = (cdf_plus - cdf_minus).clamp_min(1e-12)
    inner = torch.where(prob > 1e-5, torch.log(prob), log_pdf_mid - math.log(127.5))
    log_prob = torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_minus, inner))
    return -log_prob.flatten(1).sum(1)


def unit_gaussian_log_prob(z: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, I): (B, D) -> (B,). This is log q(z|x) for the unit-variance posterior."""
    return -0.5 * ((z - mean) ** 2 + LOG_2PI).sum(1)


def kl_standard(code: torch.Tensor) -> torch.Tensor:
    """KL(N(c, I) || N(0, I)) = ||c||^2 / 2 in closed form: (B, D) -> (B,)."""
    return 0.5 * (code ** 2).sum(1)


def kl_single_sample(z: torch.Tensor, code: torch.Tensor, prior_log_prob: torch.Tensor) -> torch.Tensor:
    """One-sample estimate log q(z|x) - log p(z|c_hat) of the KL (no closed form for a mixture)."""
    return unit_gaussian_log_prob(z, code) - prior_log_prob
