"""Exact distributed training: `torchrun --nproc-per-node N -m acn_core train ...` (gloo on CPU, NCCL on GPU).

The networks are wrapped in DistributedDataParallel. The code table stays exact and global (docs/design.md,
"Plan for scale"): every process holds the whole table and its used-set; each step all-gathers the
batch's (index, code) pairs, each process searches its slice of the table for the whole gathered batch,
the short per-slice candidate lists are all-gathered and merged in one canonical order, and every process
resolves the picks with the same neighbour RNG. So picks, used marks and pass restarts agree on every
process without further messages. This is the memory bank of MoCo and NPID, kept exact.

What holds in float arithmetic (tests/test_distributed.py, docs/scaling.md): given the same table, used marks,
gathered batch and RNG state, the search of N processes returns bit for bit the candidate lists and picks of
one process (the scores that decide are `knn.pair_scores`, whose bits do not depend on how the table is
cut). N processes with batch B each compute the step of one process with batch N*B up to the order of float32
sums (DDP sums N partial gradients; per-image noise is keyed by image, `noise.py`): the weights agree to
rounding while the picks agree, and a near-tie that rounding flips makes the runs draw other neighbours from
then on (two equally valid runs, no longer the same one).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .codes import CodeTable, canonical


@dataclass
class Group:
    """This process's place in a torchrun job."""

    rank: int
    size: int
    device: str

    @property
    def main(self) -> bool:
        return self.rank == 0

    def gather(self, tensor: torch.Tensor, counts: list[int] | None = None) -> torch.Tensor:
        """Concatenate every process's tensor along dim 0, in rank order (sizes may differ; pass them as
        `counts` when known to save one message)."""
        if counts is None:
            counts = self.counts(tensor.shape[0], tensor.device)
        padded = tensor.new_zeros((max(counts), *tensor.shape[1:]))
        padded[:tensor.shape[0]] = tensor
        parts = padded.new_empty((self.size * padded.shape[0], *padded.shape[1:]))
        dist.all_gather_into_tensor(parts, padded)  # one message, one buffer (concatenated along dim 0)
        parts = parts.view(self.size, *padded.shape)
        return torch.cat([part[:count] for part, count in zip(parts, counts)])

    def counts(self, local: int, device: str | torch.device) -> list[int]:
        """Every process's `local` count, in rank order."""
        counts = torch.empty(self.size, dtype=torch.long, device=device)
        dist.all_gather_into_tensor(counts, torch.tensor([local], device=device))
        return counts.tolist()

    def offset(self, local: int) -> int:
        """Where this process's `local` rows start in a gathered batch."""
        return sum(self.counts(local, self.device)[:self.rank])

    def barrier(self) -> None:
        dist.barrier()

    def close(self) -> None:
        """Leave the job together: a process that exits while another still talks to it makes gloo abort."""
        dist.barrier()
        dist.destroy_process_group()


def from_environment(device: str) -> Group | None:
    """Join the torchrun job described by the environment (WORLD_SIZE > 1), or None for one process."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return None
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    rank = dist.get_rank()
    if device.startswith("cuda"):
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', rank))}"
        torch.cuda.set_device(device)
    return Group(rank, dist.get_world_size(), device)


class DistributedCodeTable(CodeTable):
    """The replicated code table of one process in a distributed run (same interface as CodeTable)."""

    def __init__(self, size: int, dim: int, generator: torch.Generator, group: Group):
        super().__init__(size, dim, generator, group.device)
        self.group = group
        share = -(-size // group.size)
        self.rows = (min(size, group.rank * share), min(size, (group.rank + 1) * share))  # this process's slice

    def _candidates(self, codes: torch.Tensor, indices: torch.Tensor, depth: int, unique: bool,
                    allow_self: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Search this process's slice, gather every slice's lists, keep the `depth` best of the merge."""
        depth = min(depth, len(self))
        values, ids = self.search(codes, indices, depth, unique, allow_self, *self.rows)
        pad = depth - values.shape[1]  # a slice shorter than `depth`
        if pad > 0:
            values = torch.cat([values, values.new_full((values.shape[0], pad), -float("inf"))], 1)
            ids = torch.cat([ids, ids.new_full((ids.shape[0], pad), -1)], 1)
        # scores and row ids in one message: float64 holds both exactly (float32 scores, ids < 2^53)
        packed = torch.stack([values.double(), ids.double()])  # (2, P, depth), the same shape everywhere
        every = packed.new_empty((self.group.size * 2, *packed.shape[1:]))
        dist.all_gather_into_tensor(every, packed)
        every = every.view(self.group.size, *packed.shape)
        all_values = torch.cat(every[:, 0].float().unbind(0), 1)  # (P, size * depth)
        all_ids = torch.cat(every[:, 1].long().unbind(0), 1)
        all_ids = torch.where(torch.isfinite(all_values), all_ids, torch.full_like(all_ids, len(self)))
        values, ids = canonical(all_values, all_ids)
        values, ids = values[:, :depth], ids[:, :depth].clamp(max=len(self) - 1)
        return ids, torch.isfinite(values)

    def neighbour_codes(self, codes: torch.Tensor, indices: torch.Tensor, k: int, generator: torch.Generator,
                        unique: bool = True, allow_self: bool = False) -> torch.Tensor:
        """Pick for the whole gathered batch (identically everywhere); return this process's part. The gathered
        batch is kept for `update` of the same step, which then sends nothing."""
        counts = self.group.counts(codes.shape[0], codes.device)
        # indices and codes in one message: float64 holds both exactly
        packed = torch.cat([indices.double()[:, None], codes.detach().double()], 1)
        every = self.group.gather(packed, counts)
        every_index, every_code = every[:, 0].long(), every[:, 1:].to(codes.dtype)
        self._gathered = (indices, codes.detach(), every_index, every_code)
        picked = self.pick_neighbours(every_code, every_index, k, generator, unique, allow_self)
        start = sum(counts[:self.group.rank])
        return self.codes[picked[start:start + codes.shape[0]]]

    def update(self, indices: torch.Tensor, codes: torch.Tensor) -> None:
        """Every process writes every process's codes (those gathered for this step's neighbours if they are
        the same, else gathered now)."""
        kept, self._gathered = getattr(self, "_gathered", None), None
        if kept is not None and kept[0] is indices and torch.equal(kept[1], codes.detach()):
            super().update(kept[2], kept[3])
            return
        super().update(self.group.gather(indices), self.group.gather(codes.detach()))
