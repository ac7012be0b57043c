"""The training-time code table and exact batched k-NN over it.

`CodeTable` is the one small interface the training loop uses for neighbours (`pick_neighbours`,
`update`, `start_pass`, `state`/`load_state`), so a sharded or all-gathered version for
distributed training can replace it without touching the model or the loop.
"""
from __future__ import annotations

import torch


def squared_distances(queries: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances: (B, D), (N, D) -> (B, N), clamped at 0."""
    d = (queries * queries).sum(1, keepdim=True) - 2 * queries @ table.T + (table * table).sum(1)
    return d.clamp_min_(0)


def exact_knn(queries: torch.Tensor, table: torch.Tensor, k: int, exclude: torch.Tensor | None = None,
              chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """The k nearest rows of `table` for each query, nearest first, in chunks of queries.

    `exclude` (B,) gives for each query a table row that must not be returned (its own entry).
    Returns Euclidean distances (B, k) and row indices (B, k).
    """
    k = min(k, table.shape[0] - (exclude is not None))
    dists, ids = [], []
    for start in range(0, queries.shape[0], chunk):
        d = squared_distances(queries[start:start + chunk], table)
        if exclude is not None:
            d[torch.arange(d.shape[0]), exclude[start:start + chunk]] = float("inf")
        top = torch.topk(d, k, dim=1, largest=False)
        dists.append(top.values.sqrt())
        ids.append(top.indices)
    return torch.cat(dists), torch.cat(ids)


class CodeTable:
    """One stored code per training example; starts as N(0, 1) noise (paper, Algorithm 1)."""

    def __init__(self, size: int, dim: int, generator: torch.Generator):
        if size < 2:
            raise ValueError(f"the code table needs at least 2 entries to find neighbours, got {size}")
        self.codes = torch.randn((size, dim), generator=generator)  # (N, D)
        self.used = torch.zeros(size, dtype=torch.bool)  # served as a neighbour in this pass

    def __len__(self) -> int:
        return self.codes.shape[0]

    def update(self, indices: torch.Tensor, codes: torch.Tensor) -> None:
        """Write the batch's current codes (detached) at their dataset indices."""
        self.codes[indices] = codes.detach()

    def start_pass(self) -> None:
        """A new pass through the data: every code may serve as a neighbour once more."""
        self.used.zero_()

    def pick_neighbours(self, codes: torch.Tensor, indices: torch.Tensor, k: int, generator: torch.Generator,
                        unique: bool = True, allow_self: bool = False) -> torch.Tensor:
        """For each code, the table index of one of its k nearest eligible table codes, uniformly.

        Eligible: not the example's own entry (unless `allow_self`, the ablation of a known bug) and,
        with `unique`, not yet used in this pass, nor chosen by another example of this batch. If an
        example runs out of eligible codes (the end of a pass), a new pass starts.
        codes (B, D), indices (B,) -> neighbour indices (B,).
        """
        batch = codes.shape[0]
        rows = torch.arange(batch)
        d = squared_distances(codes.detach(), self.codes)  # (B, N)
        if not allow_self:
            d[rows, indices] = float("inf")
        chosen = torch.full((batch,), -1, dtype=torch.long)
        pending = torch.ones(batch, dtype=torch.bool)
        while pending.any():
            sub = d[pending]
            if unique:
                sub[:, self.used] = float("inf")
            eligible = torch.isfinite(sub).sum(1)
            if (eligible == 0).any():
                self.start_pass()
                continue
            kk = min(k, sub.shape[1])
            top = torch.topk(sub, kk, dim=1, largest=False)
            choices = (torch.rand(sub.shape[0], generator=generator) * eligible.clamp(max=kk)).long()
            picked = top.indices[rows[:sub.shape[0]], choices]  # (P,)
            pending_rows = rows[pending]
            if not unique:
                chosen[pending_rows] = picked
                break
            # keep the first example that picked each code; the others choose again without it
            first = torch.full((len(self),), batch, dtype=torch.long).scatter_reduce(
                0, picked, pending_rows, reduce="amin")
            winners = first[picked] == pending_rows
            chosen[pending_rows[winners]] = picked[winners]
            self.used[picked[winners]] = True
            pending[pending_rows[winners]] = False
        return chosen

    def state(self) -> dict[str, torch.Tensor]:
        return {"code_table": self.codes.clone(), "code_table_used": self.used.clone()}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        if state["code_table"].shape != self.codes.shape:
            raise ValueError(f"code table of shape {tuple(state['code_table'].shape)} does not match "
                             f"{tuple(self.codes.shape)}")
        self.codes = state["code_table"].clone()
        self.used = state["code_table_used"].clone()
