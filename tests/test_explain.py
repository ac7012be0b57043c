"""The teaching computations (`explain`, `latent`) against independent computations on tiny models."""
import numpy as np
import pytest
import torch
from torch import distributions as D

from acn_core.teaching import explain
from acn_core.teaching import latent
from acn_core.bundle.format import load
from acn_core.knn import exact_knn


def test_kl_per_dim_equals_the_closed_form_for_one_gaussian_even_when_narrow():
    g = torch.Generator().manual_seed(0)
    codes = torch.randn(4, 6, generator=g) * 3
    means = torch.randn(4, 6, 1, generator=g) * 3
    scales = torch.tensor([0.01, 0.1, 0.5, 1.0, 2.0, 5.0]).expand(4, 6)[..., None]
    prior = explain.PriorParams(torch.zeros(4, 6, 1), means, scales)
    s, m = scales[..., 0], means[..., 0]
    closed = torch.log(s) + (1 + (codes - m) ** 2) / (2 * s ** 2) - 0.5  # KL(N(c, 1) || N(m, s^2))
    assert torch.allclose(explain.kl_per_dim(codes, prior), closed, rtol=1e-4, atol=1e-4)


def test_kl_per_dim_of_a_mixture_matches_monte_carlo_with_torch_distributions():
    g = torch.Generator().manual_seed(1)
    codes = torch.randn(2, 3, generator=g) * 2
    prior = explain.PriorParams(torch.log_softmax(torch.randn(2, 3, 3, generator=g), -1),
                                torch.randn(2, 3, 3, generator=g) * 2, torch.rand(2, 3, 3, generator=g) + 0.2)
    q = D.Normal(codes, 1.0)
    p = D.MixtureSameFamily(D.Categorical(logits=prior.log_weights), D.Normal(prior.means, prior.scales))
    z = q.sample((200_000,))  # (S, 2, 3)
    terms = q.log_prob(z) - p.log_prob(z)
    error = 5 * terms.std(0) / np.sqrt(len(z))
    assert ((explain.kl_per_dim(codes, prior) - terms.mean(0)).abs() < error).all()


def test_a_training_item_is_explained_as_the_rankings_store_it(tiny_bundle):
    bundle = load(tiny_bundle)
    for item in (0, 7, bundle.n_train - 1):
        why = explain.explain_item(bundle, item)
        assert abs(why.kl_estimate - bundle.code_cost[item]) < 0.01
        assert abs(why.recon_nats - bundle.recon_cost[item]) < 0.01
        assert item not in why.candidates and len(why.candidates) == bundle.config.train.k
        _, ids = exact_knn(bundle.train_codes[item][None], bundle.train_codes, bundle.config.train.k,
                           exclude=torch.tensor([item]))
        assert why.candidates.tolist() == ids[0].tolist()
        assert why.kl_exact == pytest.approx(float(why.kl_per_dim.sum()))
        assert np.allclose(why.kl_per_dim_standard, 0.5 * bundle.train_codes[item].numpy() ** 2)
        assert why.total_nats == pytest.approx(why.recon_nats + why.kl_estimate)


def test_another_candidate_changes_the_prior_and_its_cost(tiny_bundle):
    bundle = load(tiny_bundle)
    first, second = explain.explain_item(bundle, 3, pick=0), explain.explain_item(bundle, 3, pick=1)
    assert second.neighbour == first.candidates[1] and second.pick == 1
    assert np.allclose(second.kl_per_dim, first.kl_per_dim_candidates[1])
    assert not np.allclose(first.kl_per_dim, second.kl_per_dim)
    assert explain.explain_item(bundle, 3, pick=99).pick == len(first.candidates) - 1  # clamped


def test_held_out_and_drawn_images_condition_on_their_nearest_training_codes(tiny_bundle):
    bundle = load(tiny_bundle)
    held = explain.explain_held_out(bundle, 2)
    _, ids = exact_knn(bundle.test_codes[2][None], bundle.train_codes, bundle.config.train.k)
    assert held.candidates.tolist() == ids[0].tolist() and held.recon_nats > 0
    drawn = explain.explain_image(bundle, bundle.test_images[2].numpy())
    assert np.allclose(drawn.code, bundle.test_codes[2].numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="does not exist"):
        explain.explain_held_out(bundle, 10**6)
    with pytest.raises(ValueError, match="this model reads"):
        explain.explain_image(bundle, np.zeros((1, 3, 3), dtype=np.uint8))


def test_densities_are_normalised_curves_around_the_code(tiny_bundle):
    why = explain.explain_item(load(tiny_bundle), 0)
    curves = explain.densities(why, why.dims_by_kl(), points=2001)
    z = curves["z"]
    widths = np.diff(z, axis=1)[:, :1]
    assert np.allclose((curves["posterior"] * widths).sum(1), 1.0, atol=0.02)
    assert curves["priors"].shape == (len(why.candidates), len(why.code), 2001)
    assert (z[:, 0] <= why.code[why.dims_by_kl()]).all() and (z[:, -1] >= why.code[why.dims_by_kl()]).all()


@pytest.fixture(scope="module")
def standard_bundle(tmp_path_factory):
    from acn_core.bundle.build import create
    from acn_core.training.loop import train
    from conftest import make_data, tiny_config

    config = tiny_config(epochs=1)
    config.model.prior = "standard"
    data = make_data()
    out = tmp_path_factory.mktemp("standard") / "vae"
    create(train(config, data), data, out, chains=0)
    return load(out)


def test_a_standard_prior_is_explained_as_n01_for_every_neighbour(standard_bundle):
    why = explain.explain_item(standard_bundle, 5, pick=2)
    code = standard_bundle.train_codes[5].numpy()
    assert not why.conditional and why.pick == 0
    assert np.allclose(why.kl_per_dim, 0.5 * code ** 2, atol=1e-4)
    assert why.kl_estimate == pytest.approx(float(standard_bundle.code_cost[5]), abs=0.01)


def test_codes_are_checked_clamped_and_costed(tiny_bundle):
    bundle = load(tiny_bundle)
    dim = bundle.config.model.code_dim
    for bad, message in ((np.full(dim, np.nan), "NaN or infinite"), (np.zeros(dim + 1), f"has {dim} numbers")):
        with pytest.raises(ValueError, match=message):
            latent.view_code(bundle, bad)
    low, high = latent.code_ranges(bundle)
    code, moved = latent.clamp_code(bundle, np.concatenate([[high[0] + 100], low[1:] - 0]))
    assert moved == [0] and code[0] == high[0]
    item_code = bundle.train_codes[4].numpy()
    own = latent.code_costs(bundle, item_code[None])
    other = latent.code_costs(bundle, item_code[None], exclude=[4])
    assert own.nearest[0] == 4 and own.distance[0] == pytest.approx(0, abs=1e-3)
    assert other.nearest[0] != 4 and other.nats[0] == pytest.approx(explain.explain_item(bundle, 4).kl_exact, rel=1e-4)
    view = latent.view_code(bundle, item_code, exclude=[4])
    assert view.mean_image.shape == bundle.dataset.shape and view.sample_image is not None
    assert view.neighbour_ids[0] == 4  # the index finds the item itself; the cost leaves it out


def test_a_walk_runs_from_a_to_b_and_one_frame_when_they_are_equal(tiny_bundle):
    bundle = load(tiny_bundle)
    a, b = bundle.train_codes[0].numpy(), bundle.train_codes[1].numpy()
    for spherical in (False, True):
        path = latent.walk(bundle, a, b, frames=6, spherical=spherical, exclude=[0, 1])
        assert len(path.codes) == 6 and path.images.shape[0] == 6 and path.map_xy.shape == (6, 2)
        assert np.allclose(path.codes[0], a, atol=1e-4) and np.allclose(path.codes[-1], b, atol=1e-4)
        assert not set(path.cost.nearest) & {0, 1}
    assert np.allclose(latent.walk(bundle, a, b, 3).codes[1], (a + b) / 2, atol=1e-5)
    assert len(latent.walk(bundle, a, a, 10).codes) == 1
    assert len(latent.walk(bundle, a, b, 10**6).codes) == latent.MAX_WALK_FRAMES
    with pytest.raises(ValueError, match="NaN"):
        latent.walk(bundle, a, np.full_like(b, np.inf))


def test_spherical_interpolation_keeps_the_distance_from_the_centre_for_equal_lengths():
    centre = np.array([5.0, 5.0])
    path = latent.interpolate(centre + [1.0, 0.0], centre + [0.0, 1.0], 5, spherical=True, centre=centre)
    assert np.allclose(np.linalg.norm(path - centre, axis=1), 1.0, atol=1e-5)


def test_what_a_model_does_with_its_code_is_said_from_its_numbers():
    assert "collapsed" in explain.code_use(0.1, 0.12, 10)
    assert "carries the class" in explain.code_use(4.6, 0.81, 10) and "chance 0.10" in explain.code_use(4.6, 0.81, 10)
    assert "only weakly" in explain.code_use(2.7, 0.39, 10)
