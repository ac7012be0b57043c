import pytest
import torch

from acn_core.config import ModelConfig
from acn_core.model import ACN


@pytest.mark.parametrize("encoder,decoder,channels", [("mlp", "mlp", 1), ("conv", "deconv", 1), ("conv", "deconv", 3),
                                                      ("mlp", "pixelcnn", 1)])
def test_every_combination_trains_one_step(encoder, decoder, channels):
    config = ModelConfig(encoder=encoder, decoder=decoder, code_dim=4, hidden=32, prior_hidden=16, channels=channels,
                         height=8, width=8, pixelcnn_layers=3, pixelcnn_channels=8)
    model = ACN(config)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (5, channels, 8, 8), dtype=torch.uint8, generator=g)
    x = model.prepare(images, g)
    code = model.encode(x)
    recon, kl = model.losses(x, code, torch.randn(5, 4, generator=g), g)
    assert code.shape == (5, 4) and recon.shape == kl.shape == (5,) and (recon > 0).all()
    (recon.mean() + kl.mean()).backward()
    out = model.decode(code.detach()[:2], g)
    assert out.shape == (2, channels, 8, 8) and 0 <= out.min() and out.max() <= 1


def test_pixelcnn_rejects_rgb_with_a_clear_message():
    with pytest.raises(ValueError, match="grey images only"):
        ACN(ModelConfig(decoder="pixelcnn", channels=3, height=8, width=8))


def _pixelcnn():
    torch.manual_seed(0)
    return ACN(ModelConfig(decoder="pixelcnn", code_dim=3, height=20, width=20, pixelcnn_layers=4,
                           pixelcnn_channels=8)).decoder


def test_pixelcnn_output_never_sees_the_current_or_later_pixels():
    decoder = _pixelcnn()
    z = torch.randn(1, 3)
    x = torch.bernoulli(torch.full((1, 1, 20, 20), 0.5)).requires_grad_(True)
    i, j = 12, 4
    decoder(z, x)[0, 0, i, j].backward()
    seen = x.grad[0, 0] != 0
    later = torch.zeros(20, 20, dtype=torch.bool)
    later[i, j:] = True
    later[i + 1:] = True
    assert not seen[later].any(), "the output at (i, j) depends on pixel (i, j) or later"
    assert seen[:i].any()  # and it does use the context above
    assert not seen[: i - decoder.rows_of_context].any()  # within the reach the sampler relies on
    assert not seen[:, j + decoder.rows_of_context + 1:].any()


def test_cropped_sampling_step_equals_the_full_pass():
    """Sampling runs the net only on the rows a pixel can see; that must give the same logits."""
    decoder = _pixelcnn()
    z, x = torch.randn(2, 3), torch.bernoulli(torch.full((2, 1, 20, 20), 0.5))
    full = decoder(z, x)
    reach = decoder.rows_of_context
    for i, j in ((0, 0), (3, 19), (19, 5), (16, 12)):
        top, left = max(0, i - reach), max(0, j - reach)
        window = decoder(z, x[:, :, top:i + 1, left:j + reach + 1])
        torch.testing.assert_close(window[:, :, -1, j - left], full[:, :, i, j])
