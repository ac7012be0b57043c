"""The public API and what was untested: config rules, the evaluation numbers against an independent
computation, map placement, the sampling API, the command line made from the config fields."""
import dataclasses

import numpy as np
import pytest
import torch
from torch.distributions import Categorical, MixtureSameFamily, Normal

import acn_core
from acn_core import sampling
from acn_core.data import noise
from acn_core.bundle.format import load
from acn_core.cli import build_parser, config_from_args
from acn_core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from acn_core.data.datasets import ImageData, Split
from acn_core.bundle.evaluate import EVAL_SEED, evaluate, knn_accuracy, pca_knn_accuracy
from acn_core.bundle.projection import place_on_map


def test_the_public_api_is_small_and_complete(tiny_bundle):
    """Exactly eleven names, each the object it claims to be (a class or function of its wing, the sampling
    module), each working in a tiny call."""
    import inspect
    import types

    from conftest import make_data, tiny_config

    assert sorted(acn_core.__all__) == ["ACN", "Bundle", "CodeIndex", "DataConfig", "ModelConfig", "RunConfig",
                                        "TrainConfig", "exact_knn", "load_dataset", "sampling", "train"]
    where = {"ACN": "acn_core.model", "Bundle": "acn_core.bundle", "CodeIndex": "acn_core.bundle",
             "DataConfig": "acn_core.config", "ModelConfig": "acn_core.config", "RunConfig": "acn_core.config",
             "TrainConfig": "acn_core.config", "exact_knn": "acn_core.knn", "load_dataset": "acn_core.data",
             "train": "acn_core.training"}
    for name, wing in where.items():
        obj = getattr(acn_core, name)
        assert inspect.isclass(obj) == name[0].isupper() and inspect.isfunction(obj) == name[0].islower(), name
        assert obj.__name__ == name and (obj.__module__ + ".").startswith(wing + "."), (name, obj.__module__)
    assert isinstance(acn_core.sampling, types.ModuleType) and acn_core.sampling.__name__ == "acn_core.sampling"
    for kind in (acn_core.DataConfig, acn_core.ModelConfig, acn_core.TrainConfig, acn_core.RunConfig):
        assert dataclasses.is_dataclass(kind)
    config = acn_core.RunConfig()
    assert (type(config.data), type(config.model), type(config.train)) == (
        acn_core.DataConfig, acn_core.ModelConfig, acn_core.TrainConfig)
    assert issubclass(acn_core.ACN, torch.nn.Module)

    table = torch.tensor([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0], [0.0, 2.0]])
    dists, ids = acn_core.exact_knn(torch.tensor([[0.1, 0.0]]), table, 2)
    assert ids.tolist() == [[0, 1]] and dists[0].tolist() == pytest.approx([0.1, 0.9])
    index = acn_core.CodeIndex.build(np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32))
    assert index.query_vector(index.codes[7], 3)[0][0] == 7 and 7 not in index.query_item(7, 3)[0]

    data = acn_core.load_dataset(acn_core.DataConfig(dataset="digits", max_train=48, holdout=12))
    assert len(data.train) == 48 and len(data.test) == 12
    result = acn_core.train(tiny_config(epochs=1), make_data())
    assert isinstance(result.model, acn_core.ACN)
    assert result.model.encoder(torch.rand(2, 1, 8, 8)).shape == (2, result.model.config.code_dim)
    bundle = acn_core.Bundle.load(tiny_bundle)
    assert isinstance(bundle, acn_core.Bundle) and bundle.n_train == 48
    assert acn_core.sampling.inspect(bundle, 3, 4).neighbour_ids.shape == (4,)


@pytest.mark.parametrize("section,field,value,message", [
    ("model", "encoder", "resnet", "model.encoder must be one of mlp, conv"),
    ("model", "code_dim", 0, "model.code_dim must be between 1 and 1024"),
    ("model", "hidden", 10**9, "model.hidden must be between 8 and 8192"),
    ("model", "prior_layers", 300, "model.prior_layers must be between 1 and 16"),
    ("model", "pixelcnn_kernel", 4, "model.pixelcnn_kernel must be odd"),
    ("model", "min_scale", 0.0, "model.min_scale must be between"),
    ("train", "lr", 2.0, "train.lr must be between"),
    ("train", "k", 0, "train.k must be between 1 and 1000"),
    ("train", "unique_neighbours", 1, "train.unique_neighbours must be true or false"),
    ("train", "epochs", 2.5, "train.epochs must be a whole number"),
    ("data", "split", "mine", "data.split must be one of ours, public"),
    ("data", "channels", 2, "data.channels must be 1 (grey) or 3 (RGB)"),
])
def test_every_rule_of_the_config_names_the_field(section, field, value, message):
    raw = RunConfig().to_dict()
    raw[section][field] = value
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RunConfig.from_dict(raw)


def test_config_round_trip_unknown_and_retired_keys():
    config = RunConfig(model=ModelConfig(code_dim=8), train=TrainConfig(k=3))
    assert RunConfig.from_dict(config.to_dict()) == config
    raw = config.to_dict()
    raw["train"]["threads"] = 4  # written by version 0.1: now a setting of the entry points, dropped
    assert RunConfig.from_dict(raw) == config
    raw["model"]["depth"] = 3
    with pytest.raises(ValueError, match=r"unknown keys \['depth'\]"):
        RunConfig.from_dict(raw)
    with pytest.raises(ValueError, match="conv encoder, deconv decoder and spatial conditioning need"):
        RunConfig(model=ModelConfig(encoder="conv", height=10, width=10)).validate()


def test_the_command_line_has_one_option_per_config_field_with_its_rule():
    parser = build_parser()
    args = parser.parse_args(["train", "--out", "x", "--code-dim", "8", "--no-unique-neighbours", "--lr-schedule",
                              "cosine", "--encoder-input", "binary", "--split", "public"])
    config = config_from_args(args)
    assert (config.model.code_dim, config.train.unique_neighbours, config.train.lr_schedule) == (8, False, "cosine")
    assert (config.model.encoder_input, config.data.split) == ("binary", "public")
    options = {a.dest for a in parser._subparsers._group_actions[0].choices["train"]._actions}
    for section, kind in (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig)):
        for f in dataclasses.fields(kind):
            assert (f"{section}.{f.name}" in options) == f.metadata["cli"], f.name
    with pytest.raises(ValueError, match="--k must be between 1 and 1000"):
        config_from_args(parser.parse_args(["train", "--out", "x", "--k", "0"]))


def test_evaluation_numbers_match_an_independent_computation(tiny_bundle):
    """Recon, KL (mixture prior conditioned on the nearest training code), totals and k-NN accuracies, computed
    here with torch.distributions and scikit-learn instead of the library's own functions."""
    from sklearn.neighbors import KNeighborsClassifier

    bundle = load(tiny_bundle)
    model = bundle.model
    train, test = bundle.train_images, bundle.test_images
    data = ImageData("bars", Split(train, torch.as_tensor(bundle.labels), torch.arange(len(train))),
                     Split(test, torch.as_tensor(bundle.test_labels), torch.arange(len(test))), bundle.class_names)
    result = evaluate(model, data, bundle.train_codes)
    keys = noise.keys(EVAL_SEED, 0, torch.arange(len(test)))
    u = noise.uniform(keys, test[0].numel(), noise.BINARISE).view(test.shape)
    x = (u * 255 < test).float()  # P(1) = intensity / 255
    with torch.no_grad():
        code = model.encoder(test.float() / 255)  # the grey image is what the encoder sees
        z = code + noise.normal(keys, code.shape[1], noise.POSTERIOR)
        logits = model.decoder(z)
        recon = -torch.distributions.Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
        nearest = torch.cdist(code, bundle.train_codes).argmin(1)
        log_w, mu, sigma = model.prior.params(bundle.train_codes[nearest])
        log_p = MixtureSameFamily(Categorical(logits=log_w), Normal(mu, sigma)).log_prob(z).sum(1)
        kl = Normal(code, 1.0).log_prob(z).sum(1) - log_p
    assert result.recon_nats == pytest.approx(recon.mean().item(), rel=1e-5)
    assert result.kl_nats == pytest.approx(kl.mean().item(), rel=1e-4, abs=1e-4)
    assert result.kl_standard_nats == pytest.approx((0.5 * code.pow(2).sum(1)).mean().item(), rel=1e-5)
    knn = KNeighborsClassifier(5).fit(bundle.train_codes.numpy(), bundle.labels)
    assert result.code_knn_accuracy == pytest.approx((knn.predict(code.numpy()) == bundle.test_labels).mean())
    pixels = KNeighborsClassifier(5).fit(train.flatten(1).numpy() / 255, bundle.labels)
    assert result.pixel_knn_accuracy == pytest.approx((pixels.predict(test.flatten(1).numpy() / 255)
                                                       == bundle.test_labels).mean())


def test_knn_and_pca_baselines_against_scikit_learn():
    from sklearn.decomposition import PCA
    from sklearn.neighbors import KNeighborsClassifier

    g = torch.Generator().manual_seed(0)
    images = (torch.rand(200, 1, 6, 6, generator=g) * 255).to(torch.uint8)
    labels = (images.float().mean((1, 2, 3)) > 127).long() + (images[:, 0, 0, 0] > 127).long()
    data = ImageData("r", Split(images[:150], labels[:150], torch.arange(150)),
                     Split(images[150:], labels[150:], torch.arange(50)), ["a", "b", "c"])
    flat_train, flat_test = images[:150].flatten(1).numpy() / 255, images[150:].flatten(1).numpy() / 255
    pca = PCA(4).fit(flat_train)
    knn = KNeighborsClassifier(5).fit(pca.transform(flat_train), labels[:150].numpy())
    expected = (knn.predict(pca.transform(flat_test)) == labels[150:].numpy()).mean()
    assert pca_knn_accuracy(data, 4) == pytest.approx(expected)
    assert knn_accuracy(torch.tensor([[0.0], [10.0]]), torch.tensor([0, 1]), torch.tensor([[1.0], [9.0], [11.0]]),
                        torch.tensor([0, 1, 1]), k=1) == 1.0


def test_placing_a_code_on_the_map():
    codes = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [50.0, 50.0]])
    xy = np.array([[0, 0], [1, 0], [0, 1], [5, 5]], dtype=np.float32)
    np.testing.assert_allclose(place_on_map(codes[:1], codes, xy, k=2)[0], xy[0], atol=1e-5)  # a training code
    middle = place_on_map(torch.tensor([[5.0, 0.0]]), codes, xy, k=2)[0]  # halfway between two: halfway on the map
    np.testing.assert_allclose(middle, [0.5, 0.0], atol=1e-5)
    near = place_on_map(torch.tensor([[8.0, 0.0]]), codes, xy, k=2)[0]  # nearer the second: weighted towards it
    assert 0.5 < near[0] < 1.0


def test_prior_samples_and_daydreams_are_seeded_and_their_modes_differ(tiny_bundle):
    bundle = load(tiny_bundle)
    items_a, images_a = sampling.prior_samples(bundle, 6, seed=4)
    items_b, images_b = sampling.prior_samples(bundle, 6, seed=4)
    assert np.array_equal(items_a, items_b) and np.array_equal(images_a, images_b) and items_a.max() < 48
    assert not np.array_equal(sampling.prior_samples(bundle, 6, seed=5)[1], images_a)
    chains = {mode: [f.image for f in sampling.daydream(bundle, 3, 4, seed=1, mode=mode)] for mode in
              ("mean", "sample", "threshold")}
    for mode in ("sample", "threshold"):
        assert all(set(np.unique(frame)) <= {0.0, 1.0} for frame in chains[mode][1:]), mode  # black and white
    assert any(len(np.unique(frame)) > 2 for frame in chains["mean"][1:])  # grey levels
    again = [f.image for f in sampling.daydream(bundle, 3, 4, seed=1, mode="mean")]
    assert all(np.array_equal(a, b) for a, b in zip(again, chains["mean"]))
    from_image = list(sampling.daydream(bundle, bundle.images([3])[0], 2, seed=1))  # a grey image's code is stored
    np.testing.assert_allclose(from_image[0].code, bundle.train_codes[3].numpy(), rtol=1e-5, atol=1e-5)
    assert from_image[0].nearest_item == 3 and len(from_image) == 3
    with pytest.raises(ValueError, match="ranking must be one of"):
        sampling.rank(bundle, "prettiest", 3)
    order = sampling.rank(bundle, "highest code cost", 48)
    assert (np.diff(bundle.code_cost[order]) <= 0).all()


def test_auto_precision_is_resolved_and_recorded(monkeypatch):
    from acn_core.runtime import resolve_precision
    from acn_core.training.loop import train
    from conftest import make_data, tiny_config

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert resolve_precision("auto", "cpu") == "bf16" and resolve_precision("fp32", "cpu") == "fp32"
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert resolve_precision("auto", "cpu") == "fp32"
    config = tiny_config(epochs=1, precision="auto")
    assert train(config, make_data()).config.train.precision == "fp32"  # what the run used, not "auto"


def test_fitting_a_map_leaves_the_torch_thread_count_alone():
    import torch

    from acn_core.bundle.projection import fit_map

    before = torch.get_num_threads()
    fit_map(torch.randn(64, 4))
    assert torch.get_num_threads() == before
