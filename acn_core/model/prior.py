"""Priors over codes: the ACN's neighbour-conditioned mixture network and the standard N(0, I)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .losses import LOG_2PI


class MixturePrior(nn.Module):
    """p(z | c_hat) = prod_d sum_m pi[d,m] N(z_d; mu[d,m], sigma[d,m])  (docs/method.md, "Model"; the paper).

    An MLP of `layers` tanh layers of `hidden` units; the input c_hat feeds every hidden layer and
    every hidden layer feeds the output (skip connections).
    """

    conditional = True

    def __init__(self, code_dim: int, hidden: int = 512, layers: int = 3, mixtures: int = 3,
                 min_scale: float = 1e-2):
        super().__init__()
        self.code_dim, self.mixtures, self.min_scale = code_dim, mixtures, min_scale
        self.hidden_layers = nn.ModuleList(
            [nn.Linear(code_dim if i == 0 else code_dim + hidden, hidden) for i in range(layers)])
        self.output = nn.Linear(layers * hidden, code_dim * mixtures * 3)

    def params(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, D) conditioning codes -> log weights, means, scales, each (B, D, M)."""
        hiddens, h = [], None
        for i, layer in enumerate(self.hidden_layers):
            h = torch.tanh(layer(context if i == 0 else torch.cat([context, h], dim=1)))
            hiddens.append(h)
        out = self.output(torch.cat(hiddens, dim=1)).view(-1, self.code_dim, self.mixtures, 3)
        log_weights = F.log_softmax(out[..., 0], dim=-1)
        means = out[..., 1]
        scales = F.softplus(out[..., 2]) + self.min_scale
        return log_weights, means, scales

    def log_prob(self, z: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """log p(z | context): (B, D), (B, D) -> (B,) nats."""
        log_weights, means, scales = self.params(context)
        z = z.unsqueeze(-1)  # (B, D, 1)
        component = -0.5 * (((z - means) / scales) ** 2 + LOG_2PI) - torch.log(scales)  # (B, D, M)
        return torch.logsumexp(log_weights + component, dim=-1).sum(1)

    @torch.no_grad()
    def sample(self, context: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw z ~ p(z | context): (B, D) -> (B, D)."""
        log_weights, means, scales = self.params(context)
        b, d, m = log_weights.shape
        pick = torch.multinomial(log_weights.exp().view(-1, m).cpu(), 1, generator=generator).view(b, d, 1)
        pick = pick.to(log_weights.device)  # random draws on the CPU: the same on any device
        mean = means.gather(-1, pick).squeeze(-1)
        scale = scales.gather(-1, pick).squeeze(-1)
        noise = torch.randn(mean.shape, generator=generator).to(mean.device)
        return mean + scale * noise


class StandardPrior(nn.Module):
    """p(z) = N(0, I): the VAE baseline. Ignores its context."""

    conditional = False

    def __init__(self, code_dim: int):
        super().__init__()
        self.code_dim = code_dim

    def log_prob(self, z: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return -0.5 * (z ** 2 + LOG_2PI).sum(1)

    @torch.no_grad()
    def sample(self, context: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn((context.shape[0], self.code_dim), generator=generator).to(context.device)
