"""Tiny data and tiny models made by the tests themselves: offline, CPU, seconds. The images are
`bench.fixtures.make_images`, shared with the benchmarks."""
from __future__ import annotations

import pytest
import torch

from acn_core.runtime import configure

configure(1)  # the entry point of the test process: one thread, a writable numba cache

from acn_core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from acn_core.data.datasets import ImageData, Split
from bench.fixtures import make_images  # shared with the bench; tests import it from here or from there


def make_data(n_train: int = 48, n_test: int = 12, size: int = 8) -> ImageData:
    images, labels = make_images(n_train + n_test, size=size)
    index = torch.arange(n_train + n_test)
    return ImageData("bars", Split(images[:n_train], labels[:n_train], index[:n_train]),
                     Split(images[n_train:], labels[n_train:], index[n_train:]), ["a", "b", "c"])


def tiny_config(**train) -> RunConfig:
    model = ModelConfig(encoder="mlp", code_dim=4, hidden=32, prior_hidden=32, height=8, width=8)
    # fp32: "auto" would pick bf16 on processors with native bfloat16 and make results machine-dependent
    return RunConfig(DataConfig(dataset="digits"), model, TrainConfig(**{"epochs": 2, "batch_size": 16,
                                                                          "precision": "fp32", **train}))


@pytest.fixture
def data() -> ImageData:
    return make_data()


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory):
    """A trained, saved tiny bundle shared by the tests that only read it."""
    from acn_core.bundle.build import create
    from acn_core.training.loop import train

    d = make_data()
    out = tmp_path_factory.mktemp("bundles") / "tiny"
    create(train(tiny_config(epochs=3), d), d, out, chains=4, steps=5)
    return out


@pytest.fixture(scope="session")
def lean_digits(tmp_path_factory):
    """A tiny lean bundle of scikit-learn's digits (offline, 8x8) and the data it was trained on; read only."""
    from acn_core.bundle.build import create
    from acn_core.data.datasets import load_dataset
    from acn_core.training.loop import train

    config = tiny_config(epochs=1)
    config.data = DataConfig(dataset="digits", max_train=48, holdout=12)
    images = load_dataset(config.data)
    out = tmp_path_factory.mktemp("lean") / "digits"
    create(train(config, images), images, out, chains=0)
    return out, images
