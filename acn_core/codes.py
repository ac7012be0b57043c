"""The training-time code table and exact batched k-NN over it.

`CodeTable` is the one small interface the training step uses for neighbours (`neighbour_codes`,
`update`, `start_pass`, `state`/`load_state`), so the all-gathered version for distributed training
(`distributed.py`) replaces it without touching the model or the step.
"""
from __future__ import annotations

import torch


def nearness(queries: torch.Tensor, table: torch.Tensor, table_sq: torch.Tensor) -> torch.Tensor:
    """2 q.t - |t|^2 for every pair: (B, D), (N, D), (N,) -> (B, N). It ranks table rows exactly as
    Euclidean distance does (larger = nearer) at the cost of one fused matrix product."""
    return torch.addmm(-table_sq, queries, table.T, alpha=2)


def top_k(scores: torch.Tensor, k: int, block: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-wise top-k (values, column indices, largest first) of a wide score matrix; exact.

    On a CPU `torch.topk` over (B, 60k) costs ~3x a full pass of the matrix. The largest k values of a
    row all lie in the k blocks with the largest block maxima, so we take per-block maxima (one cheap
    pass), pick those k blocks, and run topk on them alone (plus the ragged tail).
    """
    rows, n = scores.shape
    k = min(k, n)
    if n < 16 * block or 4 * k * block > n:
        top = torch.topk(scores, k, dim=1)
        return top.values, top.indices
    blocks = n // block
    maxima = scores[:, :blocks * block].view(rows, blocks, block).amax(2)  # (B, n_blocks)
    best = torch.topk(maxima, k, dim=1).indices  # (B, k)
    cols = (best.unsqueeze(2) * block + torch.arange(block, device=scores.device)).view(rows, -1)  # (B, k * block)
    if blocks * block < n:
        cols = torch.cat([cols, torch.arange(blocks * block, n, device=scores.device).expand(rows, -1)], dim=1)
    values, picked = torch.topk(scores.gather(1, cols), k, dim=1)
    return values, cols.gather(1, picked)


def exact_knn(queries: torch.Tensor, table: torch.Tensor, k: int, exclude: torch.Tensor | None = None,
              chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """The k nearest rows of `table` for each query, nearest first, in chunks of queries.

    `exclude` (B,) gives for each query a table row that must not be returned (its own entry).
    Returns Euclidean distances (B, k) and row indices (B, k).
    """
    k = min(k, table.shape[0] - (exclude is not None))
    table_sq = (table * table).sum(1)
    dists, ids = [], []
    for start in range(0, queries.shape[0], chunk):
        q = queries[start:start + chunk]
        scores = nearness(q, table, table_sq)
        if exclude is not None:
            scores[torch.arange(q.shape[0], device=scores.device), exclude[start:start + chunk]] = -float("inf")
        values, indices = top_k(scores, k)
        dists.append(((q * q).sum(1, keepdim=True) - values).clamp_min(0).sqrt())
        ids.append(indices)
    return torch.cat(dists), torch.cat(ids)


def canonical(values: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Candidate lists (P, d) ordered by score, highest first, ties by row id: the same lists in the same
    order however the table was searched (whole, or in slices by several processes)."""
    order = torch.sort(ids, dim=1, stable=True).indices
    values, ids = values.gather(1, order), ids.gather(1, order)
    order = torch.sort(values, dim=1, descending=True, stable=True).indices
    return values.gather(1, order), ids.gather(1, order)


class CodeTable:
    """One stored code per training example; starts as N(0, 1) noise (paper, Algorithm 1)."""

    def __init__(self, size: int, dim: int, generator: torch.Generator, device: str | torch.device = "cpu"):
        if size < 2:
            raise ValueError(f"the code table needs at least 2 entries to find neighbours, got {size}")
        self.codes = torch.randn((size, dim), generator=generator).to(device)  # (N, D)
        self.codes_sq = (self.codes * self.codes).sum(1)  # (N,), kept in step with `codes`
        self.used = torch.zeros(size, dtype=torch.bool, device=device)  # served as a neighbour in this pass

    def to(self, device: str | torch.device) -> "CodeTable":
        self.codes, self.codes_sq, self.used = self.codes.to(device), self.codes_sq.to(device), self.used.to(device)
        return self

    def __len__(self) -> int:
        return self.codes.shape[0]

    def update(self, indices: torch.Tensor, codes: torch.Tensor) -> None:
        """Write the batch's current codes (detached) at their dataset indices."""
        codes = codes.detach()
        self.codes[indices] = codes
        self.codes_sq[indices] = (codes * codes).sum(1)

    def start_pass(self) -> None:
        """A new pass through the data: every code may serve as a neighbour once more."""
        self.used.zero_()

    def search(self, codes: torch.Tensor, indices: torch.Tensor, depth: int, unique: bool, allow_self: bool,
               start: int = 0, stop: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The `depth` best table rows in [start, stop) for each code: scores (P, d) and row ids (P, d), in
        canonical order (nearer first, ties by row), -inf where a row is not eligible (used, or its own)."""
        rows = slice(start, len(self) if stop is None else stop)
        # a used code gets an infinite squared norm, hence score -inf: masked at the cost of an (N,) vector
        table_sq = self.codes_sq[rows].masked_fill(self.used[rows], float("inf")) if unique else self.codes_sq[rows]
        scores = nearness(codes, self.codes[rows], table_sq)  # (P, stop - start)
        if not allow_self:
            own = indices - rows.start
            inside = (own >= 0) & (own < scores.shape[1])
            scores[torch.arange(codes.shape[0], device=scores.device)[inside], own[inside]] = -float("inf")
        values, ids = top_k(scores, depth)
        return canonical(values, ids + rows.start)

    def _candidates(self, codes: torch.Tensor, indices: torch.Tensor, depth: int, unique: bool,
                    allow_self: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The `depth` nearest eligible table rows of each code: ids (P, depth) and whether each is
        eligible at all (False where fewer than `depth` rows were)."""
        values, ids = self.search(codes, indices, depth, unique, allow_self)
        return ids, torch.isfinite(values)

    def pick_neighbours(self, codes: torch.Tensor, indices: torch.Tensor, k: int, generator: torch.Generator,
                        unique: bool = True, allow_self: bool = False) -> torch.Tensor:
        """For each code, the table index of one of its k nearest eligible table codes, uniformly.

        Eligible: not the example's own entry (unless `allow_self`, the ablation of a known bug) and,
        with `unique`, not yet used in this pass, nor chosen by an earlier example of this batch. If an
        example runs out of eligible codes (the end of a pass), a new pass starts.
        One distance matrix for the batch; conflicts are resolved on short candidate lists, and the
        examples still waiting are searched again (deeper) only when a list runs short.
        codes (B, D), indices (B,) -> (B,).
        """
        codes, device = codes.detach(), codes.device
        chosen = torch.full((codes.shape[0],), -1, dtype=torch.long, device=device)
        todo = torch.arange(codes.shape[0], device=device)
        depth = k + 8
        while todo.numel():
            ids, eligible = self._candidates(codes[todo], indices[todo], depth, unique, allow_self)
            depth *= 4  # searching again means many examples compete for the same codes: look deeper
            # the list holds every eligible row if it reached past them or covers the whole table
            complete = ~eligible[:, -1] | (ids.shape[1] == len(self))
            while todo.numel():
                ok = eligible & ~self.used[ids] if unique else eligible
                n_ok = ok.sum(1)
                if ((n_ok == 0) & complete).any():  # nothing left for some example: a new pass
                    self.start_pass()
                    break
                if ((n_ok < k) & ~complete).any():  # a list ran short: search those again
                    break
                rows = torch.arange(todo.numel(), device=device)
                choice = (torch.rand(todo.numel(), generator=generator, device=device) * n_ok.clamp(max=k)).long()
                position = ((ok.cumsum(1) - 1 == choice[:, None]) & ok).to(torch.uint8).argmax(1)
                picked = ids[rows, position]
                if not unique:
                    chosen[todo] = picked
                    return chosen
                # the first example to pick a code keeps it; the others choose again without it
                first = torch.full((len(self),), todo.numel(), dtype=torch.long, device=device).scatter_reduce(
                    0, picked, rows, reduce="amin")
                won = first[picked] == rows
                chosen[todo[won]] = picked[won]
                self.used[picked[won]] = True
                todo, ids, eligible, complete = todo[~won], ids[~won], eligible[~won], complete[~won]
        return chosen

    def neighbour_codes(self, codes: torch.Tensor, indices: torch.Tensor, k: int, generator: torch.Generator,
                        unique: bool = True, allow_self: bool = False) -> torch.Tensor:
        """The conditioning code of each example (`pick_neighbours`): (B, D) -> (B, D), a constant."""
        return self.codes[self.pick_neighbours(codes, indices, k, generator, unique, allow_self)]

    def state(self) -> dict[str, torch.Tensor]:
        return {"code_table": self.codes.clone(), "code_table_used": self.used.clone()}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        if state["code_table"].shape != self.codes.shape:
            raise ValueError(f"code table of shape {tuple(state['code_table'].shape)} does not match "
                             f"{tuple(self.codes.shape)}")
        self.codes = state["code_table"].clone()
        self.codes_sq = (self.codes * self.codes).sum(1)
        self.used = state["code_table_used"].clone()
