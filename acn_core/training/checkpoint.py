"""Checkpoints of a training run: everything needed to resume exactly (weights, optimiser, code table and its
used-set, the shared RNG, history, snapshots), written after every epoch by the main process.

Per-image noise is keyed by (seed, epoch, image) (`noise.py`), so there is no per-process RNG to keep.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from ..config import RunConfig
from ..storage import BundleError, read_json, read_tensors, tensors_to_bytes, write_bytes_atomic, write_json_atomic

CHECKPOINT_TENSORS = "checkpoint.safetensors"
CHECKPOINT_STATE = "checkpoint.json"
CHECKPOINT_FILES = (CHECKPOINT_TENSORS, CHECKPOINT_STATE)


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = optimizer.state_dict()
    tensors = {f"optim.{pid}.{key}": value for pid, slots in state["state"].items()
               for key, value in slots.items()}
    return tensors, {"param_groups": state["param_groups"]}


def _load_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    slots: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, pid, key = name.split(".", 2)
            slots.setdefault(int(pid), {})[key] = value
    optimizer.load_state_dict({"state": slots, "param_groups": meta["param_groups"]})


def save_checkpoint(run_dir: Path, config: RunConfig, trainer, history: list,
                    snapshots: dict[int, torch.Tensor]) -> None:
    """Everything needed to resume exactly: weights, optimiser, code table, RNG states, history, snapshots."""
    run_dir.mkdir(parents=True, exist_ok=True)
    optim_tensors, optim_meta = _optimizer_tensors(trainer.optimizer)
    tensors = {f"model.{k}": v for k, v in trainer.model.state_dict().items()}
    tensors.update(optim_tensors)
    tensors.update(trainer.table.state())
    tensors.update({f"snapshot.{epoch}": codes for epoch, codes in snapshots.items()})
    tensors["generator_state"] = trainer.generator.get_state()
    write_bytes_atomic(run_dir / CHECKPOINT_TENSORS, tensors_to_bytes(tensors))
    write_json_atomic(run_dir / CHECKPOINT_STATE, {"config": config.to_dict(), "epochs_done": len(history),
                                                   "history": [asdict(h) for h in history], "optimizer": optim_meta})


def load_checkpoint(run_dir: Path, config: RunConfig, trainer) -> tuple[list[dict], dict[int, torch.Tensor]]:
    """Restore a checkpoint of the same run into `trainer` (a `train.Trainer`); returns the history (one dict
    per finished epoch) and the code-table snapshots."""
    state = read_json(run_dir / CHECKPOINT_STATE)
    if not _same_run(state.get("config", {}), config):
        raise BundleError(f"{run_dir} holds a checkpoint of a different configuration; choose another "
                          f"output folder or delete {run_dir} to start afresh")
    tensors = read_tensors(run_dir / CHECKPOINT_TENSORS)
    try:
        trainer.model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
        _load_optimizer(trainer.optimizer, tensors, state["optimizer"])
        trainer.table.load_state(tensors)
        trainer.generator.set_state(tensors["generator_state"])
        history = [dict(h) for h in state["history"]]
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise BundleError(f"the checkpoint in {run_dir} is damaged ({err}); delete {run_dir} to start afresh") from err
    snapshots = {int(k.split(".")[1]): v for k, v in tensors.items() if k.startswith("snapshot.")}
    return history, snapshots


def _same_run(saved: dict, config: RunConfig) -> bool:
    """A checkpoint may resume a run with the same config, or the same one with more epochs."""
    try:
        a = RunConfig.from_dict(saved).to_dict()
    except ValueError:
        return False
    b = config.to_dict()
    for d in (a, b):
        d["train"].pop("epochs")
    return a == b
