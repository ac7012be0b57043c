"""Exact distributed training: `torchrun --nproc-per-node N -m acn_core train ...` (gloo on CPU, NCCL on GPU).

The networks are wrapped in DistributedDataParallel. The code table stays exact and global (DESIGN.md,
"Plan for scale"): every process holds the whole table and its used-set; each step all-gathers the
batch's (index, code) pairs, each process searches its slice of the table for the whole gathered batch,
the short per-slice candidate lists are all-gathered and merged in one canonical order, and every process
resolves the picks with the same neighbour RNG. So picks, used marks and pass restarts agree on every
process without further messages, and N processes with batch B each train exactly like one process with
batch N*B (per-image noise is keyed by image, `noise.py`). This is the memory bank of MoCo and NPID, kept
exact.
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

    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """Concatenate every process's tensor along dim 0, in rank order (sizes may differ)."""
        count = torch.tensor([tensor.shape[0]], device=tensor.device)
        counts = [torch.zeros_like(count) for _ in range(self.size)]
        dist.all_gather(counts, count)
        longest = int(max(c.item() for c in counts))
        padded = torch.zeros((longest, *tensor.shape[1:]), dtype=tensor.dtype, device=tensor.device)
        padded[:tensor.shape[0]] = tensor
        parts = [torch.empty_like(padded) for _ in range(self.size)]
        dist.all_gather(parts, padded)
        return torch.cat([part[:int(c.item())] for part, c in zip(parts, counts)])

    def offset(self, local: int) -> int:
        """Where this process's `local` rows start in a gathered batch."""
        sizes = self.gather(torch.tensor([local], device=self.device))
        return int(sizes[:self.rank].sum().item())

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
        all_values = torch.cat(self.group.gather(values[None]).unbind(0), 1)  # (P, size * depth)
        all_ids = torch.cat(self.group.gather(ids[None]).unbind(0), 1)
        all_ids = torch.where(torch.isfinite(all_values), all_ids, torch.full_like(all_ids, len(self)))
        values, ids = canonical(all_values, all_ids)
        values, ids = values[:, :depth], ids[:, :depth].clamp(max=len(self) - 1)
        return ids, torch.isfinite(values)

    def neighbour_codes(self, codes: torch.Tensor, indices: torch.Tensor, k: int, generator: torch.Generator,
                        unique: bool = True, allow_self: bool = False) -> torch.Tensor:
        """Pick for the whole gathered batch (identically everywhere); return this process's part."""
        every_code, every_index = self.group.gather(codes.detach()), self.group.gather(indices)
        picked = self.pick_neighbours(every_code, every_index, k, generator, unique, allow_self)
        start = self.group.offset(codes.shape[0])
        return self.codes[picked[start:start + codes.shape[0]]]

    def update(self, indices: torch.Tensor, codes: torch.Tensor) -> None:
        """Every process writes every process's codes."""
        super().update(self.group.gather(indices), self.group.gather(codes.detach()))
