"""Why a code costs what it costs: the ACN loss of one sample with its own numbers (docs/method.md, "Training").

A code c is sent as z ~ q(z|x) = N(c, I) under the prior p(z | ĉ) conditioned on a neighbouring code ĉ.
Both factorise over dimensions, so the KL is a sum of one-dimensional KLs, KL(N(c_d, 1) || p(z_d | ĉ)),
which is what a student can look at dimension by dimension. A mixture prior has no closed-form KL, so
each dimension's KL is integrated numerically on a fine grid (`kl_per_dim`); the stored code costs (the
rankings' "code cost") are the 4-sample estimate of `evaluate.code_costs`, which `Explanation` repeats
exactly, so the equation shown matches the stored number.

Which neighbour: for a training item, the K nearest *other* training codes are the candidates training
picks among (uniformly, with the unique-neighbour rule); the stored code cost conditions on the nearest of
them (candidate 0). For a held-out or drawn image, the candidates are its K nearest training codes and
evaluation conditions on the nearest. A standard-prior (VAE) bundle has one prior, N(0, I), whatever the
neighbour: its KL is ||c||² / 2 in closed form.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data import noise
from ..bundle.format import Bundle
from ..knn import exact_knn
from ..bundle.evaluate import CRITERIA, EVAL_SEED, code_costs
from ..model.losses import LOG_2PI

GRID_POINTS = 2001  # the trapezoid rule on a smooth, Gaussian-weighted integrand: error far below 0.001 nats
GRID_HALF_WIDTH = 8.0  # q(z|x) puts less than 1e-15 of its mass beyond 8 standard deviations


@dataclass
class PriorParams:
    """One-dimensional mixtures p(z_d) = sum_m w[d, m] N(mean[d, m], scale[d, m]²), for B priors: (B, D, M)."""

    log_weights: torch.Tensor
    means: torch.Tensor
    scales: torch.Tensor

    def __getitem__(self, rows) -> "PriorParams":
        return PriorParams(self.log_weights[rows], self.means[rows], self.scales[rows])


@dataclass
class Explanation:
    """The loss of one code, taken apart (nats). Arrays are numpy; D = code size, K = neighbour candidates."""

    code: np.ndarray  # (D,) c, the mean of q(z|x) = N(c, I)
    conditional: bool  # False: a standard-prior bundle, p(z) = N(0, I) for every code
    candidates: np.ndarray  # (K,) training items: the codes training would pick the neighbour among
    candidate_distances: np.ndarray  # (K,) Euclidean, in code space
    pick: int  # which candidate's prior is explained (0 = the nearest, as the stored code cost)
    prior: PriorParams  # (K, D, M) the prior conditioned on each candidate; (1, D, 1) N(0, I) if not conditional
    kl_per_dim: np.ndarray  # (D,) exact KL of each dimension under the picked prior
    kl_per_dim_candidates: np.ndarray  # (K, D) the same under every candidate's prior
    kl_per_dim_standard: np.ndarray  # (D,) c_d² / 2: under N(0, I)
    kl_estimate: float  # the 4-sample estimate under the picked prior (what the rankings store for pick 0)
    recon_nats: float | None  # -log r(x|z) at one z ~ q(z|x) (the stored reconstruction cost); None: no image

    @property
    def neighbour(self) -> int:
        """The training item whose code conditions the explained prior."""
        return int(self.candidates[self.pick])

    @property
    def kl_exact(self) -> float:
        return float(self.kl_per_dim.sum())

    @property
    def total_nats(self) -> float | None:
        """Reconstruction + KL: what sending this image costs given the training codes."""
        return None if self.recon_nats is None else self.recon_nats + self.kl_estimate

    def dims_by_kl(self) -> np.ndarray:
        """Dimensions, the most expensive first (ties by dimension)."""
        return np.lexsort((np.arange(len(self.kl_per_dim)), -self.kl_per_dim))


def standard_params(code_dim: int, rows: int = 1) -> PriorParams:
    """N(0, I) as a one-component mixture per dimension: (rows, D, 1)."""
    shape = (rows, code_dim, 1)
    return PriorParams(torch.zeros(shape), torch.zeros(shape), torch.ones(shape))


@torch.no_grad()
def prior_params(bundle: Bundle, contexts: torch.Tensor) -> PriorParams:
    """The prior conditioned on each of (B, D) codes: (B, D, M) mixtures; N(0, I) for a standard prior."""
    if not bundle.model.prior.conditional:
        return standard_params(contexts.shape[1], contexts.shape[0])
    return PriorParams(*bundle.model.prior.params(contexts.float()))


def mixture_log_density(z: torch.Tensor, prior: PriorParams) -> torch.Tensor:
    """log p(z_d) per dimension at points z (B, D, P) under (B, D, M) mixtures -> (B, D, P)."""
    z = z.unsqueeze(-1)  # (B, D, P, 1)
    means, scales = prior.means.unsqueeze(2), prior.scales.unsqueeze(2)  # (B, D, 1, M)
    component = -0.5 * (((z - means) / scales) ** 2 + LOG_2PI) - torch.log(scales)
    return torch.logsumexp(prior.log_weights.unsqueeze(2) + component, dim=-1)


@torch.no_grad()
def kl_per_dim(codes: torch.Tensor, prior: PriorParams) -> torch.Tensor:
    """KL(N(c_d, 1) || p(z_d)) for every dimension, by the trapezoid rule on a grid around c_d:
    codes (B, D), prior (B, D, M) -> (B, D) nats."""
    offsets = torch.linspace(-GRID_HALF_WIDTH, GRID_HALF_WIDTH, GRID_POINTS, dtype=torch.float64)  # (P,)
    weights = torch.exp(-0.5 * offsets ** 2)
    weights = weights / weights.sum()  # q on the grid, summing to one (the grid spacing cancels)
    log_q = -0.5 * (offsets ** 2 + LOG_2PI)  # (P,)
    double = PriorParams(*(t.double() for t in (prior.log_weights, prior.means, prior.scales)))
    z = codes.double().unsqueeze(-1) + offsets  # (B, D, P)
    log_p = mixture_log_density(z, double)  # (B, D, P)
    return ((log_q - log_p) * weights).sum(-1).float()


def _candidates(bundle: Bundle, code: torch.Tensor, own_item: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The K nearest training codes to `code` (K = the model's training K), leaving out `own_item`."""
    k = max(1, min(bundle.config.train.k, bundle.n_train - (own_item is not None)))
    exclude = None if own_item is None else torch.tensor([own_item])
    dists, ids = exact_knn(code[None], bundle.train_codes, k, exclude=exclude)
    return ids[0].numpy(), dists[0].numpy()


@torch.no_grad()
def _recon_nats(bundle: Bundle, image: torch.Tensor, code: torch.Tensor, key_index: int) -> float:
    """-log r(x|z) of a uint8 image (C, H, W) at z = c + ε, with the evaluation's keyed binarisation and
    posterior noise for `key_index`, as `build.recon_costs` stores it."""
    image_keys = noise.keys(EVAL_SEED, 0, torch.tensor([key_index]))
    x = bundle.model.prepare(image[None], image_keys)
    return float(bundle.model.losses(x, code[None], code[None], image_keys)[0][0])


@torch.no_grad()
def _explain(bundle: Bundle, code: torch.Tensor, image: torch.Tensor | None, key_index: int, own_item: int | None,
             pick: int) -> Explanation:
    candidates, distances = _candidates(bundle, code, own_item)
    contexts = bundle.train_codes[torch.as_tensor(candidates)]  # (K, D)
    params = prior_params(bundle, contexts)
    conditional = bundle.model.prior.conditional
    pick = min(max(int(pick), 0), len(candidates) - 1) if conditional else 0
    kl_candidates = kl_per_dim(code.expand(len(params.means), -1), params)  # (K or 1, D)
    context = contexts[pick:pick + 1] if conditional else None
    estimate = code_costs(bundle.model, code[None], context, items=torch.tensor([key_index]))
    recon = None if image is None else _recon_nats(bundle, image, code, key_index)
    return Explanation(code.numpy(), conditional, candidates, distances, pick, params,
                       kl_candidates[pick].numpy(), kl_candidates.numpy(), (0.5 * code ** 2).numpy(),
                       float(estimate[0]), recon)


def explain_item(bundle: Bundle, item: int, pick: int = 0) -> Explanation:
    """A training item's code cost: candidates are its K nearest *other* training codes."""
    item = bundle.check_item(item)
    return _explain(bundle, bundle.train_codes[item], bundle.train_images[item], item, item, pick)


def explain_held_out(bundle: Bundle, item: int, pick: int = 0) -> Explanation:
    """A held-out image's code cost given the training codes (how `evaluate` codes it)."""
    item = int(item)
    if not 0 <= item < len(bundle.test_labels):
        raise ValueError(f"held-out image {item} does not exist: choose 0 to {len(bundle.test_labels) - 1}")
    return _explain(bundle, bundle.test_codes[item], bundle.test_images[item], item, None, pick)


@torch.no_grad()
def explain_image(bundle: Bundle, image: np.ndarray, pick: int = 0) -> Explanation:
    """Any uint8 image (C, H, W) of the bundle's shape (a drawn digit): encoded as training images are."""
    pixels = torch.as_tensor(np.array(image, dtype=np.uint8))  # a copy: the caller's buffer may be read-only
    if tuple(pixels.shape) != tuple(bundle.dataset.shape):
        raise ValueError(f"the image is {tuple(pixels.shape)}; this model reads {tuple(bundle.dataset.shape)}")
    code = bundle.model.encode_unit(pixels[None].float() / 255.0)[0]
    return _explain(bundle, code, pixels, 0, None, pick)


def densities(explanation: Explanation, dims: np.ndarray, points: int = 241) -> dict[str, np.ndarray]:
    """Curves to draw for the chosen dimensions (n,): "z" (n, P) around the code and every prior's modes,
    "posterior" (n, P) N(c_d, 1), "priors" (K, n, P) each candidate's prior (or N(0, I) alone when not
    conditional), "standard" (n, P) N(0, 1)."""
    dims = np.asarray(dims, dtype=np.int64)
    code = torch.as_tensor(explanation.code[dims], dtype=torch.float64)  # (n,)
    prior = explanation.prior
    means = prior.means[:, dims].double()  # (K, n, M)
    low = torch.minimum(code - 3.5, means.amin(dim=(0, 2)) - 1.0).clamp_min(code - 10)
    high = torch.maximum(code + 3.5, means.amax(dim=(0, 2)) + 1.0).clamp_max(code + 10)
    steps = torch.linspace(0, 1, points, dtype=torch.float64)
    z = low[:, None] + (high - low)[:, None] * steps  # (n, P)
    selected = PriorParams(prior.log_weights[:, dims].double(), means, prior.scales[:, dims].double())
    priors = mixture_log_density(z.expand(len(means), -1, -1), selected).exp()  # (K, n, P)
    gauss = lambda centre: torch.exp(-0.5 * (z - centre) ** 2 - 0.5 * LOG_2PI)  # noqa: E731
    return {"z": z.numpy(), "posterior": gauss(code[:, None]).numpy(), "priors": priors.numpy(),
            "standard": gauss(0.0).numpy()}


def code_use(kl_nats: float, sampled_code_knn: float, classes: int) -> str:
    """One sentence, from a model's own held-out numbers, on whether its decoder uses the code (the paper
    check's thresholds: collapsed below 0.5 nats and sampled-code k-NN below 0.2; carrying the class from 0.6)."""
    numbers = f"KL {kl_nats:.2f} nats, sampled-code k-NN {sampled_code_knn:.2f} (chance {1 / max(classes, 1):.2f})"
    if kl_nats < CRITERIA["vae_kl_below"] and sampled_code_knn < CRITERIA["vae_sampled_knn_below"]:
        return f"{numbers}: the code has collapsed, the decoder ignores it"
    if sampled_code_knn >= CRITERIA["acn_sampled_knn_at_least"]:
        return f"{numbers}: the code carries the class"
    return f"{numbers}: the code is used, but carries the class only weakly"
