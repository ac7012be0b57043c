import pytest
import torch

from acn_core.data import noise
from acn_core.config import ModelConfig
from acn_core.model.acn import ACN


@pytest.mark.parametrize("encoder,decoder,channels", [("mlp", "mlp", 1), ("conv", "deconv", 1), ("conv", "deconv", 3),
                                                      ("mlp", "pixelcnn", 1)])
def test_every_combination_trains_one_step(encoder, decoder, channels):
    config = ModelConfig(encoder=encoder, decoder=decoder, code_dim=4, hidden=32, prior_hidden=16, channels=channels,
                         height=8, width=8, pixelcnn_layers=3, pixelcnn_channels=8)
    model = ACN(config)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (5, channels, 8, 8), dtype=torch.uint8, generator=g)
    keys = noise.keys(0, 1, torch.arange(5))
    x = model.prepare(images, keys)
    code = model.encode(model.encoder_input(images, x))
    recon, kl = model.losses(x, code, torch.randn(5, 4, generator=g), keys)
    assert code.shape == (5, 4) and recon.shape == kl.shape == (5,) and (recon > 0).all()
    (recon.mean() + kl.mean()).backward()
    for mode in ("mean", "sample", "threshold"):
        out = model.decode(code.detach()[:2], g, mode)
        assert out.shape == (2, channels, 8, 8) and 0 <= out.min() and out.max() <= 1
    assert set(model.decode(code.detach()[:2], g, "threshold").unique().tolist()) <= {0.0, 1.0}


def test_pixelcnn_rejects_rgb_with_a_clear_message():
    with pytest.raises(ValueError, match="grey images only"):
        ACN(ModelConfig(decoder="pixelcnn", channels=3, height=8, width=8))


def test_grey_input_codes_are_deterministic_and_binary_ones_follow_the_noise():
    images = torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    for encoder_input, same in (("grey", True), ("binary", False)):
        model = ACN(ModelConfig(encoder="mlp", encoder_input=encoder_input, code_dim=4, hidden=32, height=8, width=8))
        codes = [model.encode(model.encoder_input(images, model.prepare(images, noise.keys(0, epoch,
                                                                                         torch.arange(4)))))
                 for epoch in (1, 2)]
        assert torch.equal(codes[0], codes[1]) == same


def test_he_initialisation_starts_codes_near_unit_scale():
    """With PyTorch's default init a conv encoder's first codes were ~0.001 and its code collapsed."""
    images = torch.rand(64, 1, 28, 28)
    for encoder in ("mlp", "conv"):
        torch.manual_seed(0)
        spread = ACN(ModelConfig(encoder=encoder)).encoder(images).std(0).mean().item()
        assert 0.05 < spread < 5, (encoder, spread)


def _pixelcnn(layers: int = 4, kernel: int = 5, layer_kernel: int = 3, conditioning: str = "global", size: int = 20):
    torch.manual_seed(0)
    return ACN(ModelConfig(decoder="pixelcnn", code_dim=3, height=size, width=size, pixelcnn_layers=layers,
                           pixelcnn_channels=8, pixelcnn_kernel=kernel, pixelcnn_layer_kernel=layer_kernel,
                           pixelcnn_conditioning=conditioning)).decoder


def _seen_by(decoder, i: int, j: int) -> torch.Tensor:
    """Which input pixels the output at (i, j) depends on, by gradient: (H, W) bool."""
    x = torch.bernoulli(torch.full((1, *decoder.shape), 0.5)).requires_grad_(True)
    decoder(torch.randn(1, 3), x)[0, 0, i, j].backward()
    return x.grad[0, 0] != 0


@pytest.mark.parametrize("layers,kernel,layer_kernel", [(4, 5, 3), (2, 3, 3), (6, 7, 3), (3, 7, 5)])
def test_pixelcnn_sees_exactly_the_pixels_before_it_within_its_reach(layers, kernel, layer_kernel):
    """No pixel at or after (i, j) in raster order, and no blind spot: every earlier pixel within the
    reach (rows above up to `reach`, columns to `reach - 1` either side; the current row to `reach`
    left) is seen, including the upper right that a single masked stack misses."""
    decoder = _pixelcnn(layers, kernel, layer_kernel)
    reach = decoder.reach
    i, j = 12, 9
    seen = _seen_by(decoder, i, j)
    expected = torch.zeros(20, 20, dtype=torch.bool)
    expected[max(0, i - reach):i, max(0, j - reach + 1):j + reach] = True
    expected[i, max(0, j - reach):j] = True
    assert torch.equal(seen, expected), f"receptive field differs from the expected window (reach {reach})"


def test_the_paper_checks_whole_image_pixelcnn_sees_every_earlier_pixel_of_a_28x28_digit():
    """The decoder of the `mnist` paper check (13 layers, a 7-wide first window, then 5-wide): the output at the
    last pixel depends on the whole first row, and on every pixel before it (reach 28)."""
    decoder = _pixelcnn(13, 7, 5, size=28)
    assert decoder.reach >= 28
    seen = _seen_by(decoder, 27, 27)
    assert seen[0].all()  # the first row, corner to corner
    expected = torch.ones(28, 28, dtype=torch.bool)
    expected[27, 27] = False
    assert torch.equal(seen, expected)


def test_single_masked_stack_would_have_a_blind_spot_that_this_one_lacks():
    decoder = _pixelcnn(4, 3)
    seen = _seen_by(decoder, 12, 9)
    assert seen[11, 9 + 1:9 + decoder.reach].all() and seen[9, 12]  # upper right, where the blind spot was


def test_sampling_with_cached_stacks_equals_the_full_pass():
    """Sampling runs the vertical stacks once per row and the horizontal ones on a short window; the
    probabilities it reports must be those of one full pass over the sampled image."""
    from acn_core.model.acn import Bernoulli

    for layers, kernel, layer_kernel, conditioning in ((4, 5, 3, "global"), (2, 3, 3, "global"),
                                                       (3, 7, 5, "global"), (3, 5, 3, "spatial")):
        decoder = _pixelcnn(layers, kernel, layer_kernel, conditioning)
        z = torch.randn(2, 3)
        samples, means = decoder.sample(z, Bernoulli, torch.Generator().manual_seed(0))
        torch.testing.assert_close(means, torch.sigmoid(decoder(z, samples)), rtol=0, atol=1e-6)
