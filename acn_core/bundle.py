"""The model bundle: a directory users train, load and share (DESIGN.md, "The model bundle").

    config.json        run config, dataset facts, library version, SHA-256 of every other file
    model.safetensors  encoder, decoder and prior weights
    data.safetensors   training/held-out images, labels, codes; map coordinates; per-sample costs
    index.ann          Annoy index of the training codes, verified by index.json
    metrics.json       training curves and held-out evaluation

Saving is atomic; loading verifies hashes, shapes and finiteness and never unpickles.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from . import __version__
from .codes import exact_knn
from .config import RunConfig
from .data import ImageData, Split
from .evaluate import EVAL_SEED, code_costs, encode_images, evaluate
from .index import INDEX_FILE, SIDECAR_FILE, CodeIndex
from .model import ACN
from .projection import fit_map, place_on_map
from .storage import (BundleError, atomic_directory, read_json, read_tensors, regular_file, sha256_file,
                      tensors_to_bytes, write_json_atomic)
from .train import TrainResult

FORMAT = "acn-bundle/1"
CONFIG_FILE, MODEL_FILE, DATA_FILE, METRICS_FILE = "config.json", "model.safetensors", "data.safetensors", "metrics.json"
HASHED_FILES = (MODEL_FILE, DATA_FILE, INDEX_FILE, SIDECAR_FILE, METRICS_FILE)
MAX_DAYDREAM_STEPS = 500


def create(result: TrainResult, config: RunConfig, data: ImageData, out: Path, seconds: float = 0.0) -> Path:
    """Encode, evaluate, map and index a trained model, then save it as a bundle at `out`."""
    model = result.model.eval()
    train_codes = encode_images(model, data.train.images)
    metrics = evaluate(model, data, train_codes, k=config.train.k)
    _, ids = exact_knn(train_codes, train_codes, min(5, len(data.train) - 1), exclude=torch.arange(len(data.train)))
    labels = data.train.labels
    agreement = (labels[ids] == labels[:, None]).float().mean(1)
    context = train_codes[ids[:, 0]] if config.model.prior == "acn" else None
    costs = code_costs(model, train_codes, context)
    coords, map_method = fit_map(train_codes, seed=config.train.seed)
    index = CodeIndex.build(train_codes.numpy(), seed=config.train.seed)
    arrays = {
        "train_images": data.train.images, "train_labels": labels, "train_source_index": data.train.source_index,
        "train_codes": train_codes, "train_map": torch.from_numpy(coords), "train_code_cost": costs,
        "train_neighbour_agreement": agreement, "test_images": data.test.images, "test_labels": data.test.labels,
        "test_codes": encode_images(model, data.test.images),
    }
    meta = {"format": FORMAT, "library_version": __version__, "config": config.to_dict(),
            "dataset": {"name": data.name, "class_names": data.class_names, "shape": list(data.shape),
                        "notes": data.notes},
            "map_method": map_method, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    metrics_doc = {"evaluation": metrics, "history": result.history, "training_seconds": seconds}
    with atomic_directory(Path(out)) as tmp:
        (tmp / MODEL_FILE).write_bytes(tensors_to_bytes(model.state_dict()))
        (tmp / DATA_FILE).write_bytes(tensors_to_bytes(arrays))
        write_json_atomic(tmp / METRICS_FILE, metrics_doc)
        index.save(tmp)
        meta["files"] = {name: sha256_file(tmp / name) for name in HASHED_FILES}
        write_json_atomic(tmp / CONFIG_FILE, meta)
    return Path(out)


@dataclass
class Inspection:
    item: int
    label: int
    code_cost: float  # nats: KL of its code under the prior, conditioned on its nearest other code
    image: np.ndarray  # (C, H, W) in [0, 1]
    reconstruction: np.ndarray  # (C, H, W) mean decode of z = c
    samples: np.ndarray  # (S, C, H, W) decodes of z ~ q(z|x)
    neighbour_ids: np.ndarray  # (K,)
    neighbour_distances: np.ndarray  # (K,)
    neighbour_labels: np.ndarray  # (K,)
    neighbour_images: np.ndarray  # (K, C, H, W)
    neighbour_reconstructions: np.ndarray | None  # (K, C, H, W); None for autoregressive decoders


@dataclass
class DaydreamFrame:
    step: int
    image: np.ndarray  # (C, H, W) float in [0, 1]
    code: np.ndarray  # (D,)
    map_xy: np.ndarray  # (2,)
    moved: float  # Euclidean distance from the previous code (0 for the start)
    nearest_item: int  # nearest training code
    nearest_label: int


class Bundle:
    """A loaded, verified bundle: everything the app and the CLI ask of a trained model."""

    def __init__(self, path: Path, meta: dict, config: RunConfig, model: ACN, arrays: dict[str, torch.Tensor],
                 index: CodeIndex, metrics: dict):
        self.path, self.meta, self.config, self.model = path, meta, config, model
        self.arrays, self.index, self.metrics = arrays, index, metrics
        self.content_hash = sha256_file(path / CONFIG_FILE)
        self.train_codes = arrays["train_codes"]
        self.labels = arrays["train_labels"].numpy()
        self.map_xy = arrays["train_map"].numpy()
        self.code_cost = arrays["train_code_cost"].numpy()
        self.neighbour_agreement = arrays["train_neighbour_agreement"].numpy()
        self.class_names: list[str] = meta["dataset"]["class_names"]

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def n_train(self) -> int:
        return int(self.train_codes.shape[0])

    @property
    def evaluation(self) -> dict:
        return self.metrics.get("evaluation", {})

    def label_name(self, label: int) -> str:
        return self.class_names[label] if 0 <= label < len(self.class_names) else str(label)

    def check_item(self, item: int) -> int:
        item = int(item)
        if not 0 <= item < self.n_train:
            raise ValueError(f"sample {item} does not exist: choose an index from 0 to {self.n_train - 1}")
        return item

    def images(self, items) -> np.ndarray:
        """Training images as floats in [0, 1]: items (B,) -> (B, C, H, W)."""
        return self.arrays["train_images"][torch.as_tensor(items, dtype=torch.long)].float().numpy() / 255.0

    def neighbours(self, item: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest other training codes to training item `item` (Annoy): ids, distances."""
        return self.index.query_item(self.check_item(item), k)

    @torch.no_grad()
    def encode(self, images: np.ndarray) -> np.ndarray:
        """Codes of images in [0, 1] (B, C, H, W) -> (B, D)."""
        return self.model.encode_unit(torch.as_tensor(images, dtype=torch.float32)).numpy()

    @torch.no_grad()
    def reconstruct(self, item: int, samples: int = 3, seed: int = 0, progress=None
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Decode a training item's code: the mean image of z = c (C, H, W) and decodes of `samples`
        draws z ~ q(z|x) (S, C, H, W): mean images for fast decoders, samples for the PixelCNN (whose
        "mean" is the per-pixel probability along one sampled chain)."""
        code = self.train_codes[self.check_item(item)][None]  # (1, D)
        generator = torch.Generator().manual_seed(seed)
        z = torch.cat([code, code + torch.randn((samples, code.shape[1]), generator=generator)])
        if self.model.decoder.autoregressive:  # one sampling pass: its probabilities for z = c, samples for the rest
            sampled, means = self.model.decoder.sample(z, self.model.likelihood, generator, progress)
            to_unit = self.model.likelihood.to_unit
            return to_unit(means[0]).numpy(), to_unit(sampled[1:]).numpy()
        decoded = self.model.decode(z, generator, mean=True).numpy()
        return decoded[0], decoded[1:]

    @torch.no_grad()
    def prior_samples(self, n: int, seed: int = 0, mean: bool = True, progress=None
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Draw z ~ p(z | c_hat) for random training codes c_hat and decode: items (n,), images."""
        generator = torch.Generator().manual_seed(seed)
        items = torch.randint(0, self.n_train, (n,), generator=generator)
        z = self.model.prior.sample(self.train_codes[items], generator)
        return items.numpy(), self.model.decode(z, generator, mean=mean, progress=progress).numpy()

    @torch.no_grad()
    def inspect(self, item: int, k: int, samples: int = 3, seed: int = 0, progress=None) -> "Inspection":
        """Everything the neighbour panel shows for one training item, in one call."""
        item = self.check_item(item)
        ids, dists = self.neighbours(item, k)
        mean, sampled = self.reconstruct(item, samples, seed, progress)
        if self.model.decoder.autoregressive:
            neighbour_recons = None  # a sampling pass per neighbour is too slow to do on every click
        else:
            neighbour_recons = self.model.decode(self.train_codes[torch.as_tensor(ids)], None, mean=True).numpy()
        return Inspection(item, int(self.labels[item]), float(self.code_cost[item]), self.images([item])[0], mean,
                          sampled, ids, dists, self.labels[ids], self.images(ids), neighbour_recons)

    def place(self, codes: np.ndarray) -> np.ndarray:
        return place_on_map(torch.as_tensor(codes, dtype=torch.float32), self.train_codes, self.map_xy)

    @torch.no_grad()
    def daydream(self, start: int, steps: int, seed: int = 0, mean: bool = False) -> Iterator[DaydreamFrame]:
        """The paper's daydream from a training image: c_t = E(x_t), z ~ p(z | c_t), x_{t+1} ~ r(x | z).

        Yields the start frame and then one frame per step (at most MAX_DAYDREAM_STEPS), lazily, so a
        caller can show each frame and stop at any time. With `mean`, x_{t+1} is the decoder's mean
        image instead of a sample.
        """
        steps = max(0, min(int(steps), MAX_DAYDREAM_STEPS))
        generator = torch.Generator().manual_seed(seed)
        image = self.arrays["train_images"][self.check_item(start)][None]
        x = self.model.prepare(image, torch.Generator().manual_seed(EVAL_SEED))
        code = self.model.encode(x)
        frame_image = self.model.likelihood.to_unit(x)
        previous = code
        for step in range(steps + 1):
            if step > 0:
                z = self.model.prior.sample(code, generator)
                frame_image = self.model.decode(z, generator, mean=mean)
                previous, code = code, self.model.encode_unit(frame_image)
            dist, ids = exact_knn(code, self.train_codes, 1)
            nearest = int(ids[0, 0])
            yield DaydreamFrame(step, frame_image[0].numpy(), code[0].numpy(), self.place(code.numpy())[0],
                                float((code - previous).norm()), nearest, int(self.labels[nearest]))


def _check_finite(tensors: dict[str, torch.Tensor], path: Path) -> None:
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise BundleError(f"{path}: tensor {name!r} contains NaN or infinite values; the model is broken; "
                              f"retrain it or restore a good copy")


def load(path: Path) -> Bundle:
    """Load and verify a bundle directory. Raises BundleError naming the file and the problem."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"{path} is not a model bundle folder")
    meta = read_json(path / CONFIG_FILE)
    if meta.get("format") != FORMAT:
        raise BundleError(f"{path / CONFIG_FILE} is not an ACN bundle config (format {meta.get('format')!r}, "
                          f"expected {FORMAT!r})")
    files = meta.get("files", {})
    for name in HASHED_FILES:
        file = regular_file(path / name, "bundle file")
        if files.get(name) != sha256_file(file):
            raise BundleError(f"{file} ({file.stat().st_size:,} bytes) is incomplete or corrupt: its SHA-256 does "
                              f"not match config.json; restore the bundle or rebuild it")
    try:
        config = RunConfig.from_dict(meta["config"])
    except (KeyError, ValueError) as err:
        raise BundleError(f"{path / CONFIG_FILE}: invalid config ({err})") from err
    model = ACN(config.model)
    weights = read_tensors(path / MODEL_FILE)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in weights.items()}
    if expected != got:
        missing = sorted(set(expected) - set(got))[:3]
        extra = sorted(set(got) - set(expected))[:3]
        wrong = [f"{k}: file {got[k]} vs config {expected[k]}" for k in expected if k in got and got[k] != expected[k]]
        raise BundleError(f"{path / MODEL_FILE} does not fit the architecture in config.json (missing {missing}, "
                          f"unexpected {extra}, shape differences {wrong[:3]}); it belongs to another model")
    _check_finite(weights, path / MODEL_FILE)
    model.load_state_dict(weights)
    model.eval()
    arrays = read_tensors(path / DATA_FILE)
    _check_arrays(arrays, config, path / DATA_FILE)
    index = CodeIndex.load(path, config.model.code_dim, int(arrays["train_codes"].shape[0]))
    metrics = read_json(path / METRICS_FILE)
    return Bundle(path, meta, config, model, arrays, index, metrics)


def _check_arrays(arrays: dict[str, torch.Tensor], config: RunConfig, path: Path) -> None:
    m = config.model
    n = arrays.get("train_codes", torch.empty(0, 0)).shape[0]
    shapes = {"train_images": (n, m.channels, m.height, m.width), "train_labels": (n,), "train_source_index": (n,),
              "train_codes": (n, m.code_dim), "train_map": (n, 2), "train_code_cost": (n,),
              "train_neighbour_agreement": (n,)}
    for name, shape in shapes.items():
        if name not in arrays:
            raise BundleError(f"{path} lacks the array {name!r}; rebuild the bundle")
        if tuple(arrays[name].shape) != shape:
            raise BundleError(f"{path}: array {name!r} has shape {tuple(arrays[name].shape)}, expected {shape}")
    if n < 2:
        raise BundleError(f"{path} holds {n} training codes; a bundle needs at least 2")
    _check_finite(arrays, path)


def reevaluate(loaded: Bundle) -> dict:
    """Evaluate a loaded bundle afresh on the held-out images it carries."""
    a = loaded.arrays
    data = ImageData(loaded.meta["dataset"]["name"],
                     Split(a["train_images"], a["train_labels"], a["train_source_index"]),
                     Split(a["test_images"], a["test_labels"], torch.arange(a["test_labels"].shape[0])),
                     loaded.class_names)
    return evaluate(loaded.model, data, loaded.train_codes, k=loaded.config.train.k)
