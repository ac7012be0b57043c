import torch
from torch.distributions import Categorical, MixtureSameFamily, Normal, kl_divergence

from acn_core.model.losses import discretised_logistic_nll, kl_single_sample, kl_standard
from acn_core.model.prior import MixturePrior, StandardPrior


def test_mixture_log_prob_matches_torch_distributions():
    torch.manual_seed(0)
    prior = MixturePrior(code_dim=5, hidden=16, layers=3, mixtures=4)
    context, z = torch.randn(7, 5), torch.randn(7, 5) * 2
    log_w, mu, sigma = prior.params(context)
    reference = MixtureSameFamily(Categorical(logits=log_w), Normal(mu, sigma)).log_prob(z).sum(1)
    torch.testing.assert_close(prior.log_prob(z, context), reference)


def test_mixture_params_are_valid_and_skips_reach_every_layer():
    prior = MixturePrior(code_dim=3, hidden=8, layers=3, mixtures=2, min_scale=0.05)
    log_w, _, sigma = prior.params(torch.randn(4, 3))
    torch.testing.assert_close(log_w.exp().sum(-1), torch.ones(4, 3))
    assert (sigma >= 0.05).all()
    assert [layer.in_features for layer in prior.hidden_layers] == [3, 11, 11]  # input skips into layers 2, 3
    assert prior.output.in_features == 3 * 8  # every hidden layer feeds the output


def test_mixture_sampling_matches_its_density():
    torch.manual_seed(1)
    prior = MixturePrior(code_dim=1, hidden=8, layers=1, mixtures=3)
    context = torch.zeros(20000, 1)
    samples = prior.sample(context, torch.Generator().manual_seed(0))
    log_w, mu, sigma = prior.params(context[:1])
    w = log_w.exp()[0, 0]
    mean = (w * mu[0, 0]).sum()
    var = (w * (sigma[0, 0] ** 2 + mu[0, 0] ** 2)).sum() - mean ** 2
    assert abs(samples.mean() - mean) < 0.05 * (1 + var.sqrt())
    assert abs(samples.var() - var) < 0.1 * var + 0.01


def test_single_sample_kl_is_unbiased_for_gaussian_prior():
    """With one mixture component the KL has a closed form: the estimator must average to it."""
    torch.manual_seed(2)
    code = torch.tensor([[0.5, -1.0, 2.0]])
    mu, sigma = torch.tensor([0.2, 0.0, 1.0]), torch.tensor([0.5, 2.0, 1.5])
    exact = kl_divergence(Normal(code[0], 1.0), Normal(mu, sigma)).sum()
    z = code + torch.randn(200000, 3)
    log_p = Normal(mu, sigma).log_prob(z).sum(1)
    estimate = kl_single_sample(z, code.expand_as(z), log_p).mean()
    assert abs(estimate - exact) < 0.02 * exact + 0.01


def test_standard_kl_closed_form():
    code = torch.randn(6, 4)
    reference = kl_divergence(Normal(code, 1.0), Normal(torch.zeros(4), 1.0)).sum(1)
    torch.testing.assert_close(kl_standard(code), reference)
    z = torch.randn(6, 4)
    torch.testing.assert_close(StandardPrior(4).log_prob(z), Normal(0.0, 1.0).log_prob(z).sum(1))


def test_discretised_logistic_is_a_distribution_over_256_levels():
    levels = torch.arange(256).float() / 127.5 - 1  # every possible pixel value
    x = levels.view(256, 1, 1, 1)
    for mean, log_scale in [(0.3, -2.0), (-0.99, -4.0), (0.0, 1.0)]:
        nll = discretised_logistic_nll(torch.full_like(x, mean), torch.full_like(x, log_scale), x)
        assert abs(torch.exp(-nll).sum().item() - 1.0) < 1e-3
