"""The autoregressive decoder r(x|z): a gated PixelCNN with vertical and horizontal stacks.

van den Oord et al. (2016), "Conditional Image Generation with PixelCNN Decoders": the vertical stack
sees every pixel in the rows above (no blind spot), the horizontal stack the pixels to the left in the
current row; both are gated (tanh * sigmoid) and conditioned on the code z by a per-layer bias. Causality
comes from padding and shifting instead of masks. The receptive field reaches `reach` pixels up, left
and right: a small `layers`/`kernel` gives a local-window decoder (Chen et al., "Variational Lossy
Autoencoder") that must take global shape from the code, and a reach of at least the image's size a
decoder that can model the whole image alone, the one that makes a VAE's code collapse. With `spatial`, the code conditions every
position differently through a small deconvolution of it (the paper's location-dependent conditioning).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F


def _gate(a: torch.Tensor) -> torch.Tensor:
    value, gate = a.chunk(2, dim=1)
    return torch.tanh(value) * torch.sigmoid(gate)


class GatedLayer(nn.Module):
    """One layer of both stacks. With `first`, the horizontal stack does not see the current pixel."""

    def __init__(self, in_channels: int, channels: int, kernel: int, condition: nn.Module, first: bool):
        super().__init__()
        self.half, self.first = kernel // 2, first
        self.vertical = nn.Conv2d(in_channels, 2 * channels, (self.half + 1, kernel))  # rows i-half .. i
        self.horizontal = nn.Conv2d(in_channels, 2 * channels, (1, self.half + 1))  # columns j-half .. j
        self.vertical_to_horizontal = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.horizontal_out = nn.Conv2d(channels, channels, 1)
        self.condition = condition  # the code -> (B, 4C, 1, 1) biases, or a feature map -> (B, 4C, H, W)

    def vertical_part(self, v: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The vertical stack's next input and what it gives the horizontal stack (with the code's
        bias), both (B, *, H, W); row i of the latter depends on rows < i only. `bias` (B, 4C, 1 or H,
        1 or W) is this layer's conditioning (`GatedPixelCNN.biases`), cropped to the rows of `v`."""
        k = self.half
        v_bias, h_bias = bias.chunk(2, dim=1)
        v_pre = self.vertical(F.pad(v, (k, k, k, 0)))  # (B, 2C, H, W): row i sees rows <= i
        v_down = F.pad(v_pre, (0, 0, 1, 0))[:, :, :-1]  # shifted: row i sees rows < i only
        return _gate(v_pre + v_bias), self.vertical_to_horizontal(v_down) + h_bias

    def horizontal_part(self, h: torch.Tensor, from_vertical: torch.Tensor) -> torch.Tensor:
        k = self.half
        # the first layer sees the image itself: shift right so that column j sees columns < j
        h_in = F.pad(h, (k + 1, 0))[..., :-1] if self.first else F.pad(h, (k, 0))
        h_out = self.horizontal_out(_gate(self.horizontal(h_in) + from_vertical))
        return h_out if self.first else h + h_out


class GatedPixelCNN(nn.Module):
    """r(x|z) for grey images: `layers` gated layers (the first with a `kernel`-wide window, the rest
    `layer_kernel`-wide), then a two-layer 1x1 head. Output (B, P*C, H, W) at (i, j) depends only on pixels
    before (i, j) in raster order, at most `reach` rows up and `reach` columns to either side."""

    autoregressive = True

    def __init__(self, code_dim: int, channels: int, out_channels: int, height: int, width: int,
                 hidden: int = 32, layers: int = 6, kernel: int = 7, spatial: bool = False,
                 layer_kernel: int = 3):
        super().__init__()
        self.spatial = spatial
        if spatial:  # location-dependent conditioning (van den Oord et al. 2016, sec. 2.3): z -> a feature map
            self.code_map = nn.Sequential(
                nn.Linear(code_dim, hidden * (height // 4) * (width // 4)), nn.ReLU(),
                nn.Unflatten(1, (hidden, height // 4, width // 4)), nn.ConvTranspose2d(hidden, hidden, 4, 2, 1),
                nn.ReLU(), nn.ConvTranspose2d(hidden, hidden, 4, 2, 1), nn.ReLU())

        def condition() -> nn.Module:
            return nn.Conv2d(hidden, 4 * hidden, 1) if spatial else nn.Linear(code_dim, 4 * hidden)

        self.layers = nn.ModuleList([GatedLayer(channels if i == 0 else hidden, hidden, kernel if i == 0 else layer_kernel,
                                                condition(), first=i == 0) for i in range(layers)])
        self.out = nn.Sequential(nn.ReLU(), nn.Conv2d(hidden, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, out_channels, 1))
        # each layer adds its half-window of rows and columns; the vertical stack's shift adds one row
        self.reach = kernel // 2 + 1 + (layers - 1) * (layer_kernel // 2)
        self.shape = (channels, height, width)

    def biases(self, z: torch.Tensor) -> list[torch.Tensor]:
        """Each layer's conditioning: (B, 4C, 1, 1) from the code, or (B, 4C, H, W) from its feature map."""
        if self.spatial:
            features = self.code_map(z)  # (B, C, H, W)
            return [layer.condition(features) for layer in self.layers]
        return [layer.condition(z)[:, :, None, None] for layer in self.layers]

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        v = h = x
        for layer, bias in zip(self.layers, self.biases(z)):
            v, from_vertical = layer.vertical_part(v, bias)
            h = layer.horizontal_part(h, from_vertical)
        return self.out(h)  # (B, P*C, H, W)

    @torch.no_grad()
    def sample(self, z: torch.Tensor, likelihood, generator: torch.Generator | None,
               progress: Callable[[float], None] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample pixels in raster order, exactly, computing every activation once: each layer's vertical and
        horizontal inputs are kept in padded buffers; before row i each layer's vertical stack computes one new
        row (i - 1), and for pixel (i, j) each layer's horizontal stack one new column. Returns (samples, per-pixel
        means at sampling time), both (B, C, H, W)."""
        c, height, width = self.shape
        batch, halves = z.shape[0], [layer.half for layer in self.layers]
        channels = [c] + [layer.horizontal_out.out_channels for layer in self.layers[:-1]]
        zeros = lambda *shape: torch.zeros(shape, device=z.device)  # noqa: E731
        # original (row r, column j) of layer l's input sits at (r + k, j + k) of its vertical buffer and at column
        # j + k of its horizontal buffer (j + k + 1 for the first layer, which sees only the columns before j)
        vertical_in = [zeros(batch, ch, height + k, width + 2 * k) for ch, k in zip(channels, halves)]
        x, means = zeros(batch, c, height, width), zeros(batch, c, height, width)
        biases = [bias.chunk(2, dim=1) for bias in self.biases(z)]  # (vertical, horizontal), each (B, 2C, 1|H, 1|W)
        for i in range(height):
            from_vertical = []
            for l, (layer, k, (v_bias, h_bias)) in enumerate(zip(self.layers, halves, biases)):
                if i == 0:  # the row above the image: the shifted stack holds zeros there
                    below = layer.vertical_to_horizontal(zeros(batch, 2 * layer.horizontal_out.out_channels, 1, width))
                else:  # row i - 1 of this layer's vertical stack, from rows i - 1 - k .. i - 1 of its input
                    v_pre = layer.vertical(vertical_in[l][:, :, i - 1:i + k])  # (B, 2C, 1, W)
                    if l + 1 < len(self.layers):
                        k_next = halves[l + 1]
                        vertical_in[l + 1][:, :, i - 1 + k_next, k_next:k_next + width] = \
                            _gate(v_pre + _row(v_bias, i - 1))[:, :, 0]
                    below = layer.vertical_to_horizontal(v_pre)
                from_vertical.append(below + _row(h_bias, i))  # (B, 2C, 1, W): what row i's horizontal stack adds
            horizontal_in = [zeros(batch, ch, 1, width + k + (l == 0)) for l, (ch, k) in enumerate(zip(channels, halves))]
            for j in range(width):
                for l, (layer, k) in enumerate(zip(self.layers, halves)):
                    gated = _gate(layer.horizontal(horizontal_in[l][..., j:j + k + 1]) + from_vertical[l][..., j:j + 1])
                    h = layer.horizontal_out(gated)  # (B, C, 1, 1)
                    if not layer.first:
                        h = h + horizontal_in[l][..., j + k:j + k + 1]  # the residual: this layer's input at (i, j)
                    if l + 1 < len(self.layers):
                        horizontal_in[l + 1][..., j + halves[l + 1]] = h[..., 0]
                params = self.out(h)  # (B, P*C, 1, 1)
                pixel = likelihood.sample(params, generator)[:, :, 0, 0]
                x[:, :, i, j], means[:, :, i, j] = pixel, likelihood.mean(params)[:, :, 0, 0]
                horizontal_in[0][:, :, 0, j + halves[0] + 1] = pixel
                vertical_in[0][:, :, i + halves[0], j + halves[0]] = pixel
            if progress is not None:
                progress((i + 1) / height)
        return x, means


def _row(bias: torch.Tensor, row: int) -> torch.Tensor:
    """One row of a layer's conditioning: a global bias (B, 2C, 1, 1) as it is, a spatial map's row `row`."""
    return bias if bias.shape[2] == 1 else bias[:, :, row:row + 1]
