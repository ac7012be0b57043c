"""The ACN: encoder -> unit-variance posterior -> decoder, with a neighbour-conditioned prior.

Classes in dependency order: likelihoods, encoders, decoders (MLP, deconv; the gated PixelCNN is in
`pixelcnn.py`), ACN.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from ..data import noise
from ..config import ModelConfig
from .losses import bernoulli_nll, discretised_logistic_nll, kl_single_sample, kl_standard
from .pixelcnn import GatedPixelCNN
from .prior import MixturePrior, StandardPrior


DECODE_MODES = ("mean", "sample", "threshold")


# ----------------------------------------------------------------------------- likelihoods

class Bernoulli:
    """Binary pixels; the decoder emits one logit per pixel."""

    params_per_channel = 1

    @staticmethod
    def prepare(images: torch.Tensor, image_keys: torch.Tensor) -> torch.Tensor:
        """Binary pixels with P(1) = intensity / 255, from each image's own noise (`noise.py`)."""
        u = noise.uniform(image_keys, images[0].numel(), noise.BINARISE).view(images.shape)
        return (u * 255.0 < images).float()

    @staticmethod
    def nll(params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return bernoulli_nll(params, x)

    @staticmethod
    def sample(params: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        # random draws on the CPU (a CPU generator): the same on any device
        return torch.bernoulli(torch.sigmoid(params).cpu(), generator=generator).to(params.device)

    @staticmethod
    def mean(params: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(params)

    @staticmethod
    def to_unit(x: torch.Tensor) -> torch.Tensor:
        return x

    @staticmethod
    def from_unit(x: torch.Tensor) -> torch.Tensor:
        return x


class DiscretisedLogistic:
    """256-level pixels scaled to [-1, 1]; the decoder emits a mean and a log-scale per sub-pixel."""

    params_per_channel = 2

    @staticmethod
    def prepare(images: torch.Tensor, image_keys: torch.Tensor | None = None) -> torch.Tensor:
        return images.float() / 127.5 - 1.0

    @staticmethod
    def split(params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_scale = params.chunk(2, dim=1)
        return torch.tanh(mean), log_scale.clamp(min=-7.0)

    @classmethod
    def nll(cls, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return discretised_logistic_nll(*cls.split(params), x)

    @classmethod
    def sample(cls, params: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        mean, log_scale = cls.split(params)
        u = torch.rand(mean.shape, generator=generator).to(mean.device).clamp(1e-5, 1 - 1e-5)
        x = mean + log_scale.exp() * (torch.log(u) - torch.log1p(-u))
        return torch.round((x.clamp(-1, 1) + 1) * 127.5) / 127.5 - 1

    @classmethod
    def mean(cls, params: torch.Tensor) -> torch.Tensor:
        return cls.split(params)[0]

    @staticmethod
    def to_unit(x: torch.Tensor) -> torch.Tensor:
        return (x + 1) / 2

    @staticmethod
    def from_unit(x: torch.Tensor) -> torch.Tensor:
        return x * 2 - 1


# ----------------------------------------------------------------------------- encoders

def he_init(net: nn.Module) -> nn.Module:
    """He (Kaiming) initialisation of every linear and convolutional layer of a ReLU network, zero biases.
    With PyTorch's default a conv encoder's first codes are ~1000x smaller than the posterior's unit noise,
    the decoder learns to ignore z and the ACN's code collapses even with an MLP decoder (measured on
    mnist5k: KL 0.0003 nats after 100 epochs); with He initialisation the codes start near unit scale."""
    for layer in net.modules():
        # on the meta device (shapes only) there is nothing to draw, and normal_ there imports torch._dynamo (1 s)
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)) and not layer.weight.is_meta:
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)
    return net


class MLPEncoder(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(c.channels * c.height * c.width, c.hidden), nn.ReLU(),
                                 nn.Linear(c.hidden, c.hidden), nn.ReLU(), nn.Linear(c.hidden, c.code_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, D)


class ConvEncoder(nn.Module):
    """VGG-style: two 3x3 conv blocks, each ending in a stride-2 downsampling, then linear."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        w = c.conv_channels
        self.net = nn.Sequential(
            nn.Conv2d(c.channels, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, w, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.Conv2d(2 * w, 2 * w, 4, 2, 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(2 * w * (c.height // 4) * (c.width // 4), c.hidden), nn.ReLU(),
            nn.Linear(c.hidden, c.code_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, D)


# ----------------------------------------------------------------------------- decoders

class MLPDecoder(nn.Module):
    autoregressive = False

    def __init__(self, c: ModelConfig, out_channels: int):
        super().__init__()
        self.shape = (out_channels, c.height, c.width)
        self.net = nn.Sequential(nn.Linear(c.code_dim, c.hidden), nn.ReLU(), nn.Linear(c.hidden, c.hidden),
                                 nn.ReLU(), nn.Linear(c.hidden, out_channels * c.height * c.width))

    def forward(self, z: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z).view(-1, *self.shape)  # (B, P*C, H, W)


class DeconvDecoder(nn.Module):
    autoregressive = False

    def __init__(self, c: ModelConfig, out_channels: int):
        super().__init__()
        w = c.conv_channels
        self.start = (2 * w, c.height // 4, c.width // 4)
        self.linear = nn.Sequential(nn.Linear(c.code_dim, 2 * w * (c.height // 4) * (c.width // 4)), nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * w, 2 * w, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(w, out_channels, 3, padding=1))

    def forward(self, z: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(self.linear(z).view(-1, *self.start))  # (B, P*C, H, W)


# ----------------------------------------------------------------------------- the model

class ACN(nn.Module):
    """Encoder, decoder and prior of one model; the prior is the ACN mixture or N(0, I)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config.validate()
        self.likelihood = Bernoulli if config.channels == 1 else DiscretisedLogistic
        out_channels = config.channels * self.likelihood.params_per_channel
        self.encoder = he_init({"mlp": MLPEncoder, "conv": ConvEncoder}[config.encoder](config))
        if config.decoder == "pixelcnn":
            self.decoder = GatedPixelCNN(config.code_dim, config.channels, out_channels, config.height, config.width,
                                         config.pixelcnn_channels, config.pixelcnn_layers, config.pixelcnn_kernel,
                                         config.pixelcnn_conditioning == "spatial", config.pixelcnn_layer_kernel)
        else:
            self.decoder = he_init({"mlp": MLPDecoder, "deconv": DeconvDecoder}[config.decoder](config, out_channels))
        if config.prior == "acn":
            self.prior = MixturePrior(config.code_dim, config.prior_hidden, config.prior_layers, config.mixtures,
                                      config.min_scale)
        else:
            self.prior = StandardPrior(config.code_dim)

    def prepare(self, images: torch.Tensor, image_keys: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, H, W) -> what the decoder models: binarised {0, 1} for grey (with each image's
        keyed noise, `noise.keys`), [-1, 1] for RGB."""
        return self.likelihood.prepare(images, image_keys)

    def encoder_input(self, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """What the encoder sees of uint8 `images` whose decoder targets are `targets` (`prepare`):
        the intensities themselves ("grey": a deterministic code) or the targets ("binary")."""
        if self.config.encoder_input == "grey":
            return self.likelihood.from_unit(images.float() / 255.0)
        return targets

    def encode_unit(self, images: torch.Tensor) -> torch.Tensor:
        """Codes of images already in [0, 1] (decoder outputs, e.g. daydream frames): -> (B, D)."""
        return self.encode(self.likelihood.from_unit(images))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code c = E(x), the mean of q(z|x) = N(c, I): (B, C, H, W) -> (B, D)."""
        return self.encoder(x)

    def forward(self, images: torch.Tensor, image_keys: torch.Tensor,
                neighbours: Callable[[torch.Tensor], torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The training objective of a batch (what DDP wraps): binarise uint8 `images` with their keyed
        noise, encode, ask `neighbours(code)` for each image's conditioning code (ACN prior only), and return
        per-image reconstruction and KL in nats (B,), (B,) and the codes (B, D)."""
        x = self.prepare(images, image_keys)  # dynamic binarisation: new noise every epoch
        code = self.encode(self.encoder_input(images, x)).float()  # (B, D)
        context = neighbours(code.detach()) if self.prior.conditional else None
        recon, kl = self.losses(x, code, context, image_keys)
        return recon, kl, code

    def losses(self, x: torch.Tensor, code: torch.Tensor, context: torch.Tensor | None,
               image_keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-image reconstruction cost and KL in nats: (B,), (B,).

        `code` is the encoding of x; `context` holds each image's chosen neighbour code (ignored by the
        standard prior, whose KL is exact: ||c||^2 / 2). The ACN KL is the one-sample estimate
        log q(z|x) - log p(z|c_hat) at z ~ q(z|x), with each image's keyed noise. Densities are
        computed in float32 even under bf16 autocast.
        """
        z = code + noise.normal(image_keys, code.shape[1], noise.POSTERIOR)  # (B, D)
        recon = self.likelihood.nll(self.decoder(z, x).float(), x)
        if not self.prior.conditional:
            return recon, kl_standard(code)
        with torch.autocast(z.device.type, enabled=False):
            return recon, kl_single_sample(z, code, self.prior.log_prob(z, context.float()))

    @torch.no_grad()
    def daydream_step(self, images: torch.Tensor, generator: torch.Generator | None, mode: str = "mean",
                      progress: Callable[[float], None] | None = None) -> torch.Tensor:
        """One step of the paper's daydream: c = E(x), z ~ p(z | c), x' from r(x | z) as `mode`.
        (B, C, H, W) in [0, 1] -> (B, C, H, W) in [0, 1]."""
        z = self.prior.sample(self.encode_unit(images), generator)
        return self.decode(z, generator, mode, progress)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, generator: torch.Generator | None, mode: str = "mean",
               progress: Callable[[float], None] | None = None) -> torch.Tensor:
        """Images in [0, 1] from codes: (B, D) -> (B, C, H, W). `mode` (DECODE_MODES): "mean" gives the
        expected pixel values (for the PixelCNN, the per-pixel probabilities along one sampled chain),
        "sample" a draw x ~ r(x|z), "threshold" the mean rounded to black and white (grey images)."""
        if mode not in DECODE_MODES:
            raise ValueError(f"decode mode must be one of {', '.join(DECODE_MODES)}; got {mode!r}")
        if self.decoder.autoregressive:
            samples, means = self.decoder.sample(z, self.likelihood, generator, progress)
        else:
            params = self.decoder(z)
            means = self.likelihood.mean(params)
            samples = self.likelihood.sample(params, generator) if mode == "sample" else None
        images = self.likelihood.to_unit(samples if mode == "sample" else means).clamp(0, 1)
        return (images > 0.5).float() if mode == "threshold" else images
