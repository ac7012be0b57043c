"""Training with the neighbour-conditioned prior (docs/method.md, "Training"), resumable and guarded.

`Trainer.step` is the one training step (encode, pick neighbours, loss, update, write the table), used
by `train`, the benchmarks and the distributed trainer. The loop knows nothing model-specific; it
reports through callbacks (the CLI passes a progress printer, a job a progress file) and checkpoints
every epoch.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..data import noise
from .checkpoint import CHECKPOINT_STATE, load_checkpoint, save_checkpoint
from .codes import CodeTable
from ..config import RunConfig, TrainConfig
from ..data.datasets import ImageData
from ..model.acn import ACN
from ..runtime import resolve_precision
from .progress import Progress

MAX_SNAPSHOT_ITEMS = 5000  # snapshots keep the codes of the first items only, so they stay small
SNAPSHOTS_PER_RUN = 16


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint was kept."""


class BatchTooLarge(RuntimeError):
    """A batch that does not fit the device's memory; the message names the largest that does."""


class TrainingCancelled(RuntimeError):
    """`should_stop` asked the loop to stop; the last epoch's checkpoint can be resumed."""


@dataclass
class EpochRecord:
    epoch: int
    recon: float  # training nats per image, mean over the epoch
    kl: float
    total: float
    seconds: float


@dataclass
class TrainResult:
    config: RunConfig
    model: ACN
    code_table: CodeTable
    history: list[EpochRecord]
    resumed_from_epoch: int
    snapshots: dict[int, torch.Tensor] = field(default_factory=dict)  # epoch -> (n, D) codes of the first items


def snapshot_epochs(config: TrainConfig) -> set[int]:
    """Epochs after which the code table is kept: every `snapshot_every` (or about SNAPSHOTS_PER_RUN per run), and the last."""
    every = config.snapshot_every or max(1, math.ceil(config.epochs / SNAPSHOTS_PER_RUN))
    return {e for e in range(1, config.epochs + 1) if e % every == 0 or e == 1} | {config.epochs}


class Trainer:
    """One optimisation step of an ACN on a batch: the whole method of docs/method.md, "Training"."""

    def __init__(self, model: ACN, table: CodeTable, config: TrainConfig, generator: torch.Generator,
                 network: torch.nn.Module | None = None, group=None):
        self.model, self.table, self.config = model, table, config
        self.network = model if network is None else network  # the model, or DDP (or torch.compile) around it
        self.group = group  # a `distributed.Group`, or None for one process
        self.world_size = group.size if group else 1
        # data order and the choice among the K nearest; binarisation and z ~ q(z|x) use keyed noise
        self.generator = generator
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr,
                                          fused=True)  # fused: ~3x cheaper steps on CPU

    def learning_rate(self, done: float) -> float:
        """The learning rate after `done` (0..1) of the run."""
        if self.config.lr_schedule == "cosine":
            return self.config.lr * 0.5 * (1 + math.cos(math.pi * done))
        return self.config.lr

    def step(self, images: torch.Tensor, indices: torch.Tensor, epoch: int, done: float = 0.0,
             batch_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Train on uint8 images (B, C, H, W) at table rows `indices` (B,) in `epoch`, `done` (0..1) of
        the way through the run; returns the per-image reconstruction and KL in nats (B,), (B,),
        detached. Raises TrainingDiverged on a non-finite loss (before any weight or table changes).
        `batch_size` is the whole batch across processes (this process has B of its images)."""
        tc = self.config
        image_keys = noise.keys(tc.seed, epoch, indices)

        def neighbours(code: torch.Tensor) -> torch.Tensor:
            return self.table.neighbour_codes(code, indices, tc.k, self.generator, tc.unique_neighbours,
                                              tc.allow_self_neighbour)

        bf16 = tc.precision == "bf16"
        with torch.autocast(images.device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
            recon, kl, code = self.network(images, image_keys, neighbours)
        # the mean over the whole batch; DDP averages the processes' gradients, hence the factor
        share = self.world_size * images.shape[0] / (batch_size or images.shape[0])
        loss = (recon.sum() + kl.sum()) / images.shape[0] * share
        finite = torch.isfinite(loss.detach()).float()
        if self.group is not None:  # every process stops together, or none does
            torch.distributed.all_reduce(finite, op=torch.distributed.ReduceOp.MIN)
        if not finite:
            raise TrainingDiverged(f"loss became {loss.item()}" if not torch.isfinite(loss)
                                   else "loss became non-finite in another process")
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate(done)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.table.update(indices, code)
        return recon.detach(), kl.detach()


def _largest_fitting_batch(trainer: Trainer, images: torch.Tensor, indices: torch.Tensor, epoch: int) -> int:
    """The largest power-of-two share of `indices` whose training step fits the device's memory (0 if none),
    found by trying steps; the trainer's weights and table are spoilt by it, so the caller must stop."""
    size = len(indices) // 2
    while size >= 1:
        try:
            trainer.step(images[indices[:size]], indices[:size], epoch)
            return size
        except torch.OutOfMemoryError:
            if images.device.type == "cuda":
                torch.cuda.empty_cache()
            size //= 2
    return 0


def _stop_requested(should_stop: Callable[[], bool] | None, group) -> bool:
    """Whether to stop now: asked on every process, so all stop at the same step."""
    if should_stop is None:
        return False
    flag = torch.tensor([float(should_stop())], device=group.device if group else "cpu")
    if group is not None:
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
    return bool(flag.item())


def train(config: RunConfig, data: ImageData, run_dir: Path | None = None,
          callbacks: tuple[Callable[[Progress], None], ...] = (),
          should_stop: Callable[[], bool] | None = None, device: str = "cpu",
          on_snapshot: Callable[[int, torch.Tensor], None] | None = None, group=None) -> TrainResult:
    """Train an ACN (or the standard-prior baseline) on `data.train`, on `device`. `on_snapshot(epoch,
    codes)` sees each kept snapshot of the code table (the first MAX_SNAPSHOT_ITEMS rows).

    With `run_dir`, a checkpoint is written after every epoch and an existing one for the same
    config is resumed, so a killed run loses at most one epoch. Raises TrainingDiverged on a
    non-finite loss (the checkpoint of the last good epoch stays on disk) and TrainingCancelled when
    `should_stop()` turns true. The returned model and table are on the CPU.
    With a `distributed.Group` this is one process of a torchrun job: each step's `batch_size` images are
    shared out between the processes, and only the main one checkpoints and reports.
    """
    config.validate()
    device = group.device if group else device
    config.train.precision = resolve_precision(config.train.precision, device)  # recorded as it ran
    m, tc = config.model, config.train
    if (m.channels, m.height, m.width) != data.shape:
        raise ValueError(f"the model is configured for {m.channels}x{m.height}x{m.width} images but the data is "
                         f"{'x'.join(map(str, data.shape))}; set model channels/height/width from the data")
    main = group is None or group.main
    generator = torch.Generator(device).manual_seed(tc.seed)  # shared by all processes: order, neighbour choice
    with torch.random.fork_rng(devices=[]):  # weight init draws from the global RNG: seed it, then restore it
        torch.manual_seed(tc.seed)
        model = ACN(config.model)
    model.to(device)
    n = len(data.train)
    table_seed = torch.Generator().manual_seed(tc.seed)
    if group is None:
        table, network = CodeTable(n, m.code_dim, table_seed, device=device), model
    else:
        from .distributed import DistributedCodeTable

        table = DistributedCodeTable(n, m.code_dim, table_seed, group)
        network = torch.nn.parallel.DistributedDataParallel(model, gradient_as_bucket_view=True)
    trainer = Trainer(model, table, tc, generator, network, group)
    history: list[EpochRecord] = []
    snapshots: dict[int, torch.Tensor] = {}
    if run_dir is not None and (run_dir / CHECKPOINT_STATE).exists():
        records, snapshots = load_checkpoint(run_dir, config, trainer)
        history = [EpochRecord(**record) for record in records]
    resumed_from = len(history)
    images_all = data.train.images.to(device)
    keep = snapshot_epochs(tc)
    steps = math.ceil(n / tc.batch_size)
    started = time.perf_counter()
    model.train()
    for epoch in range(resumed_from + 1, tc.epochs + 1):
        epoch_started = time.perf_counter()
        table.start_pass()
        order = torch.randperm(n, generator=generator, device=device)
        sums = torch.zeros(2, device=device)
        for step in range(1, steps + 1):
            if _stop_requested(should_stop, group):
                raise TrainingCancelled(f"cancelled in epoch {epoch}; {len(history)} epochs are checkpointed")
            batch = order[(step - 1) * tc.batch_size: step * tc.batch_size]
            share = -(-len(batch) // group.size) if group else len(batch)
            indices = batch[group.rank * share:(group.rank + 1) * share] if group else batch
            try:
                done = ((epoch - 1) * steps + step - 1) / (tc.epochs * steps)
                recon, kl = trainer.step(images_all[indices], indices, epoch, done, len(batch))
            except torch.OutOfMemoryError:
                fits = _largest_fitting_batch(trainer, images_all, indices, epoch)
                raise BatchTooLarge(f"a batch of {len(batch)} images does not fit in the memory of {device}"
                                    + (f"; {fits} does: train with --batch-size {fits} (the checkpoint after epoch "
                                       f"{len(history)} resumes only with the same settings)" if fits else
                                       "; not even one image does: use a smaller model or another device")) from None
            except TrainingDiverged as err:
                kept = (f"the checkpoint after epoch {len(history)} in {run_dir} is kept" if run_dir and history
                        else "no epoch had finished, so nothing was saved")
                raise TrainingDiverged(f"{err} at step {step} of epoch {epoch}; training stopped and {kept}. "
                                       f"Lower the learning rate (now {tc.lr}) and try again") from None
            sums += torch.stack([recon.sum(), kl.sum()])
            if callbacks and main:
                seen = min(step * tc.batch_size, n) / (group.size if group else 1)
                recon_sum, kl_sum = sums.tolist()
                progress = Progress("step", epoch, tc.epochs, step, steps, recon_sum / seen, kl_sum / seen,
                                    time.perf_counter() - started)
                for callback in callbacks:
                    callback(progress)
        if group is not None:
            torch.distributed.all_reduce(sums)
        recon_sum, kl_sum = sums.tolist()
        history.append(EpochRecord(epoch, recon_sum / n, kl_sum / n, (recon_sum + kl_sum) / n,
                                   time.perf_counter() - epoch_started))
        if epoch in keep:
            snapshots[epoch] = table.codes[:MAX_SNAPSHOT_ITEMS].to("cpu", torch.float16)
            if on_snapshot is not None and main:
                on_snapshot(epoch, snapshots[epoch])
        if run_dir is not None and main:
            save_checkpoint(run_dir, config, trainer, history, snapshots)
        for callback in callbacks if main else ():
            callback(Progress("epoch", epoch, tc.epochs, steps, steps, history[-1].recon, history[-1].kl,
                              time.perf_counter() - started))
    model.eval().to("cpu")
    table.to("cpu")
    return TrainResult(config, model, table, history, resumed_from, snapshots)
