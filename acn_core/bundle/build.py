"""Making bundles: train from a config, then encode, evaluate, judge the pictures, map, index and save.

`train_bundle` is what `python -m acn_core train` and a training job run; `create` turns a finished
`TrainResult` into a bundle; `reevaluate` recomputes a loaded bundle's evaluation from its own images;
`make_lean` (the migration) and `self_contained` (for sharing) convert between the two ways a bundle
keeps its images (`lean.py`), and `store_first_views` (a migration) adds a slow decoder's first views
(`views.py`), leaving weights, codes, maps and metrics as they are.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .files import CONFIG_FILE, DATA_FILE, FORMAT, IMAGE_ARRAYS, METRICS_FILE, MODEL_FILE, DatasetInfo
from .format import Bundle, load, save, write_files
from ..training.checkpoint import CHECKPOINT_FILES
from ..knn import exact_knn
from ..config import RunConfig
from ..data.datasets import KNOWN_DATASETS, ImageData, Split, load_dataset
from .evaluate import CHUNK, Evaluation, code_costs, encode_images, evaluate, fixed_views
from .index import CodeIndex
from .lean import ImageSource, images_hash, read_images
from ..model.acn import ACN, DECODE_MODES
from .projection import fit_map, place_on_map
from .quality import CHAINS, STEPS, judge
from .views import make_first_views
from ..runtime import resolve_precision
from ..storage import BundleError, read_json, read_tensors, remove_files, tensors_to_bytes
from ..training.loop import TrainResult, train
from ..training.progress import Progress

MAX_REPLAY_POINTS = 5000
# above this many training codes a bundle ships its Annoy index; below, loading builds it from the codes in a
# background thread (4,000 codes: 0.19 s; 60,000: 1.2-2.7 s; a million: minutes). An index of 60,000 codes is
# 27 MB, more than the rest of its bundle: a bundled MNIST model could not ship it
SHIP_INDEX_ABOVE = 100_000


def judged_modes(model: ACN) -> tuple[str, ...]:
    """Daydream modes whose pictures are judged: all three for fast decoders; for the PixelCNN only the paper's
    x ~ r(x|z) chain (its other modes show the same sampling pass, and each chain costs minutes)."""
    return ("sample",) if model.decoder.autoregressive else DECODE_MODES


@torch.no_grad()
def recon_costs(model: ACN, images: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Reconstruction cost in nats of each image from its own code (one z ~ q(z|x)): (N,)."""
    out = []
    for chunk, (image_keys, _, x) in enumerate(fixed_views(model, images)):
        part = codes[chunk * CHUNK: chunk * CHUNK + len(x)]
        out.append(model.losses(x, part, part, image_keys)[0])  # the context only matters for the KL
    return torch.cat(out)


def replay_maps(snapshots: dict[int, torch.Tensor], final_map: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """2-D maps of the code-table snapshots, aligned so that points move smoothly: going backwards from
    the final map, each snapshot's UMAP starts from the next frame's positions. -> epochs (S,), maps (S, n, 2)."""
    epochs = sorted(snapshots)
    if not epochs:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0, 2), dtype=np.float32)
    n = min(len(final_map), MAX_REPLAY_POINTS, snapshots[epochs[0]].shape[0])
    frame = final_map[:n]
    maps = []
    for epoch in reversed(epochs):
        codes = snapshots[epoch][:n].float()
        centred = (frame - frame.mean(0)) / (frame.std(0) + 1e-6) * 3  # UMAP wants a modest initial scale
        frame, _ = fit_map(codes, seed=seed, init=centred, n_epochs=60)
        maps.append(frame)
    return np.array(epochs, dtype=np.int64), np.stack(maps[::-1]).astype(np.float32)


def image_source(data: ImageData, root: str) -> ImageSource | None:
    """How a lean bundle names `data`'s images, if they are rows of a known dataset exactly as the local store
    reads them (checked); None if they must be carried inside (the user's own images, or converted ones)."""
    if data.name not in KNOWN_DATASETS or not data.train.part or not data.test.part:
        return None
    source = ImageSource(data.name, root, data.train.part, data.test.part,
                         images_hash(data.train.images, data.test.images))
    try:
        read_images(source, data.train.source_index, data.test.source_index, data.shape, data.name)
    except BundleError:
        return None
    return source


def create(result: TrainResult, data: ImageData, out: Path, training_seconds: float = 0.0,
           chains: int = CHAINS, steps: int = STEPS, lean: bool = True) -> Path:
    """Encode, evaluate, judge the pictures (`quality.py`), map and index a trained model; save the bundle.
    With `lean`, a bundle of a known dataset names its images instead of carrying them. The Annoy index is
    saved only above SHIP_INDEX_ABOVE codes: below, loading builds the same one from the codes."""
    config, model = result.config, result.model.eval()
    train_codes = encode_images(model, data.train.images)
    test_codes = encode_images(model, data.test.images)
    evaluation = evaluate(model, data, train_codes)
    if chains:
        evaluation.recon_label_agreement, evaluation.data_on_data_fraction, evaluation.daydreams = judge(
            model, data, judged_modes(model), chains, steps, seed=config.train.seed)
    n = len(data.train)
    _, ids = exact_knn(train_codes, train_codes, min(5, n - 1), exclude=torch.arange(n))
    labels = data.train.labels
    agreement = (labels[ids] == labels[:, None]).float().mean(1)
    context = train_codes[ids[:, 0]] if model.prior.conditional else None
    coords, map_method = fit_map(train_codes, seed=config.train.seed)
    snapshot_epochs, snapshot_maps = replay_maps(result.snapshots, coords, config.train.seed)
    snapshot_codes = torch.stack([result.snapshots[e][:snapshot_maps.shape[1]] for e in snapshot_epochs]) \
        if len(snapshot_epochs) else torch.zeros(0, 0, config.model.code_dim, dtype=torch.float16)
    arrays = {
        "train_images": data.train.images, "train_labels": labels, "train_source_index": data.train.source_index,
        "train_codes": train_codes, "train_map": torch.from_numpy(coords), "train_code_cost": code_costs(model, train_codes, context),
        "train_neighbour_agreement": agreement, "train_recon_cost": recon_costs(model, data.train.images, train_codes),
        "test_images": data.test.images, "test_labels": data.test.labels, "test_source_index": data.test.source_index,
        "test_codes": test_codes,
        "test_map": torch.from_numpy(place_on_map(test_codes, train_codes, coords)),
        "snapshot_epochs": torch.from_numpy(snapshot_epochs), "snapshot_codes": snapshot_codes,
        "snapshot_maps": torch.from_numpy(snapshot_maps), **make_first_views(model, train_codes),
    }
    dataset = DatasetInfo(data.name, data.class_names, data.shape, data.notes)
    source = image_source(data, config.data.root) if lean else None
    if source is not None:
        arrays = {name: array for name, array in arrays.items() if name not in IMAGE_ARRAYS}
    index = CodeIndex.build(train_codes.numpy(), seed=config.train.seed) if n > SHIP_INDEX_ABOVE else None
    return save(Path(out), model, config, dataset, arrays, index, evaluation, result.history, training_seconds,
                map_method, time.strftime("%Y-%m-%dT%H:%M:%S%z"), source)


def _rewrite(bundle: Bundle, out: Path, arrays: dict[str, torch.Tensor], source: ImageSource | None) -> Path:
    """Write a loaded bundle to `out` with other arrays and image source, in the current format; the weights
    and metrics files are copied byte for byte; the index is kept only above SHIP_INDEX_ABOVE codes."""
    path = bundle.path
    meta = {key: value for key, value in read_json(path / CONFIG_FILE).items() if key not in ("files", "images")}
    meta["format"], meta["config"] = FORMAT, bundle.config.to_dict()  # the config as read (old formats' defaults)
    if source is not None:
        meta["images"] = source.to_dict()
    return write_files(out, meta, {MODEL_FILE: (path / MODEL_FILE).read_bytes(), DATA_FILE: tensors_to_bytes(arrays)},
                       (path / METRICS_FILE).read_bytes(), bundle.index if bundle.n_train > SHIP_INDEX_ABOVE else None)


def make_lean(path: Path, drop_snapshot_codes: bool = False) -> bool:
    """The migration: turn a bundle that carries images of a known dataset into a lean one in place (atomic),
    after checking that its images are exactly the rows its config's dataset and split give on this machine.
    Weights, codes, maps and metrics stay byte for byte. With `drop_snapshot_codes`, the code-table snapshots
    are left out too (their replay maps stay; nothing reads the codes once the maps are made). False if there
    was nothing to do; BundleError if it cannot be (its own images, or a dataset that differs here)."""
    path = Path(path)
    bundle = load(path)
    if bundle.image_source is not None:
        if not drop_snapshot_codes or "snapshot_codes" not in read_tensors(path / DATA_FILE):
            return False
        arrays = {name: array for name, array in read_tensors(path / DATA_FILE).items() if name != "snapshot_codes"}
        _rewrite(bundle, path, arrays, bundle.image_source)
        load(path)
        return True
    if bundle.dataset.name not in KNOWN_DATASETS:
        raise BundleError(f"{path}: its images ({bundle.dataset.name!r}) are not a dataset this program can find "
                          f"by name; the bundle keeps carrying them")
    data = load_dataset(bundle.config.data)  # the same split as at training
    same = (data.name == bundle.dataset.name and torch.equal(data.train.images, bundle.train_images)
            and torch.equal(data.test.images, bundle.test_images)
            and np.array_equal(data.train.source_index.numpy(), bundle.source_index))
    source = image_source(data, bundle.config.data.root) if same else None
    if source is None:
        raise BundleError(f"{path}: its images are not the rows of {bundle.dataset.name!r} that its config gives on "
                          f"this machine; the bundle keeps carrying them")
    dropped = IMAGE_ARRAYS + (("snapshot_codes",) if drop_snapshot_codes else ())
    arrays = {name: array for name, array in read_tensors(path / DATA_FILE).items() if name not in dropped}
    arrays["test_source_index"] = data.test.source_index
    _rewrite(bundle, path, arrays, source)
    load(path)  # verified as any bundle, before anyone relies on it
    return True


def store_first_views(path: Path) -> bool:
    """The migration to format 4: store a slow (autoregressive) decoder's first views (`views.py`) in a bundle,
    in place (atomic). Weights and metrics keep their bytes, every other array its values. False if there was
    nothing to do (a fast decoder, or views already stored)."""
    path = Path(path)
    bundle = load(path)
    views = make_first_views(bundle.model, bundle.train_codes)
    if not views or len(bundle.first_views.items):
        return False
    _rewrite(bundle, path, {**read_tensors(path / DATA_FILE), **views}, bundle.image_source)
    load(path)  # verified as any bundle, before anyone relies on it
    return True


def self_contained(path: Path, out: Path) -> Path:
    """A copy of bundle `path` at `out` that carries its images (for sharing: it stands alone). A lean bundle's
    images are read from the local dataset store, verified; a self-contained one is copied as it is."""
    path = Path(path)
    bundle = load(path)
    arrays = read_tensors(path / DATA_FILE)
    arrays["train_images"], arrays["test_images"] = bundle.train_images, bundle.test_images
    return _rewrite(bundle, Path(out), arrays, None)


def check_output(out: Path) -> None:
    """`out` may be written: it does not exist, or it is a bundle (which will be replaced only when the new
    one is complete). Any other folder or file is the user's and is never replaced."""
    out = Path(out)
    if out.is_symlink() or (out.exists() and not (out.is_dir() and (out / CONFIG_FILE).is_file())):
        raise BundleError(f"{out} exists and is not a model bundle; it is left untouched. Choose another --out")


def train_bundle(config: RunConfig, out: Path, run_dir: Path | None = None,
                 callbacks: tuple[Callable[[Progress], None], ...] = (), should_stop: Callable[[], bool] | None = None,
                 device: str = "cpu", log: Callable[[str], None] = print,
                 on_snapshot: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None, group=None,
                 chains: int = CHAINS, steps: int = STEPS) -> Path:
    """Load the data, train (resuming from `run_dir`), save the bundle at `out`, then remove only the
    checkpoint files this run wrote. The config's image shape is filled in from the data.
    `on_snapshot(epoch, codes, labels)` sees each snapshot of the code table with its items' labels.
    In a torchrun job (`group`), every process trains and the main one saves."""
    out = Path(out)
    main = group is None or group.main
    log = log if main else (lambda line: None)
    check_output(out)
    data = load_dataset(config.data)
    config.model.channels, config.model.height, config.model.width = data.shape
    config.train.precision = resolve_precision(config.train.precision, group.device if group else device)
    config.validate()
    for note in data.notes:
        log(f"note: {note}")
    log(f"training on {data.name}: {len(data.train)} images, {len(data.test)} "
        f"{'validation' if config.data.validation else 'held out'}" + (f"; checkpoints in {run_dir}" if run_dir else ""))
    started = time.perf_counter()
    snapshot = None if on_snapshot is None else (
        lambda epoch, codes: on_snapshot(epoch, codes, data.train.labels[:len(codes)]))
    result = train(config, data, run_dir, callbacks, should_stop, device, snapshot, group)
    if result.resumed_from_epoch:
        log(f"resumed from the checkpoint after epoch {result.resumed_from_epoch}")
    seconds = time.perf_counter() - started
    if main:
        log("evaluating, judging the pictures, mapping and indexing ...")
        create(result, data, out, seconds, chains, steps)
        if run_dir is not None:
            remove_files(run_dir, CHECKPOINT_FILES)
    if group is not None:
        group.barrier()  # the others wait until the bundle is saved
    log(f"saved {out} in {time.perf_counter() - started:.1f}s (training {seconds:.1f}s)")
    return out


def reevaluate(loaded: Bundle, chains: int = CHAINS, steps: int = STEPS) -> Evaluation:
    """Evaluate a loaded bundle afresh on the held-out images it carries (codes, costs and pictures)."""
    data = ImageData(loaded.dataset.name,
                     Split(loaded.train_images, torch.as_tensor(loaded.labels), torch.as_tensor(loaded.source_index)),
                     Split(loaded.test_images, torch.as_tensor(loaded.test_labels),
                           torch.arange(len(loaded.test_labels))), loaded.class_names)
    evaluation = evaluate(loaded.model, data, loaded.train_codes)
    if chains:
        evaluation.recon_label_agreement, evaluation.data_on_data_fraction, evaluation.daydreams = judge(
            loaded.model, data, judged_modes(loaded.model), chains, steps, seed=loaded.config.train.seed)
    return evaluation
