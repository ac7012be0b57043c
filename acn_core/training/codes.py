"""The training-time code table and its exact batched neighbour search (`knn.py` for the products).

`CodeTable` is the one small interface the training step uses for neighbours (`neighbour_codes`,
`update`, `start_pass`, `state`/`load_state`), so the all-gathered version for distributed training
(`distributed.py`) replaces it without touching the model or the step.
"""
from __future__ import annotations

import torch

from ..knn import nearness, pair_scores, top_k

FUSED_MIN_ROWS = 2048  # a smaller table is searched whole (as fast, and nothing to compile)
FUSED_EXTRA = 8  # rows the fused scan keeps beyond those asked for, to tell near-ties apart
FUSED_MAX_DEPTH = 200  # deeper lists (a crowded end of pass: a third search) are searched whole
PLAIN_EXTRA = 1  # rows the plain search ranks beyond those asked for: is the edge of the list clear of near-ties?
PAIRS_PER_CHUNK = 1 << 18  # pairs (code, row) that the plain search scores again at once


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
        self.used = torch.zeros(size, dtype=torch.bool, device=device)  # served as a neighbour in this pass
        self._derive()

    def _derive(self) -> None:
        """What is kept in step with `codes`: squared norms (N,), and the fused search's blocks (made when
        first needed)."""
        self.codes_sq = (self.codes * self.codes).sum(1)
        self._blocks = None  # a fused_knn.BlockIndex

    def to(self, device: str | torch.device) -> "CodeTable":
        self.codes, self.used = self.codes.to(device), self.used.to(device)
        self._derive()
        return self

    def __len__(self) -> int:
        return self.codes.shape[0]

    def update(self, indices: torch.Tensor, codes: torch.Tensor) -> None:
        """Write the batch's current codes (detached) at their dataset indices."""
        codes = codes.detach()
        self.codes[indices] = codes
        self.codes_sq[indices] = (codes * codes).sum(1)
        if self._blocks is not None:
            self._blocks.update(indices, codes)

    def start_pass(self) -> None:
        """A new pass through the data: every code may serve as a neighbour once more."""
        self.used.zero_()

    def search(self, codes: torch.Tensor, indices: torch.Tensor, depth: int, unique: bool, allow_self: bool,
               start: int = 0, stop: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The `depth` best table rows in [start, stop) for each code: scores (P, d) and row ids (P, d), in
        canonical order (nearer first, ties by row), -inf where a row is not eligible (used, or its own).

        The scores that decide are `pair_scores`: a pair's score has the same bits however the table and the
        batch are cut, so the whole table and a process's slice (`distributed.py`) give the same lists.
        Exactly the first `depth` rows of `plain_search`; on a CPU with a table of FUSED_MIN_ROWS rows or more,
        found by the fused scan (`fused_knn`), which never writes the (P, N) score matrix: the scan keeps
        each code's FUSED_EXTRA more rows than asked, by scores accurate to float32 rounding; when the last
        of those is provably worse than the `depth`-th (by more than the rounding bounds), every row that
        could make the list is among them, and their `pair_scores` are ordered as `plain_search` orders them.
        For a code where that is not proven (near-ties), the plain search answers.
        """
        stop = len(self) if stop is None else stop
        # a used code gets an infinite squared norm, hence score -inf: masked at the cost of an (N,) vector
        table_sq = self.codes_sq[start:stop]
        table_sq = table_sq.masked_fill(self.used[start:stop], float("inf")) if unique else table_sq
        own = None if allow_self else indices
        with torch.autocast(codes.device.type, enabled=False):  # float32 even inside a bf16 forward pass
            found = self._fused_search(codes, own, depth, table_sq, start, stop)
            return found if found is not None else self._plain(codes, own, depth, table_sq, start, stop)

    def plain_search(self, codes: torch.Tensor, indices: torch.Tensor, depth: int, unique: bool, allow_self: bool,
                     start: int = 0, stop: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """`search` by the whole (P, stop - start) score matrix: the reference the fused scan must equal."""
        stop = len(self) if stop is None else stop
        table_sq = self.codes_sq[start:stop]
        table_sq = table_sq.masked_fill(self.used[start:stop], float("inf")) if unique else table_sq
        with torch.autocast(codes.device.type, enabled=False):
            return self._plain(codes, None if allow_self else indices, depth, table_sq, start, stop)

    def _bound(self, codes: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """(P,): 4 (D + 2) units of float32 rounding of each code's largest possible score term against the rows
        in [start, stop). A score 2 q.t - |t|^2 is a sum of D + 1 terms of total size at most (|q| + |t|)^2, so
        PyTorch's product and `pair_scores` (any summation order, fused or not) each round it by at most
        (D + 2) units, and differ by at most half the bound; the fused scan, its basis change and the block
        bounds by about 5 D + 6 units: 12 (D + 2) in all, three bounds."""
        largest = self.codes_sq[start:stop].max().sqrt()
        return 4 * (codes.shape[1] + 2) * 2.0 ** -24 * (codes.norm(dim=1) + largest) ** 2

    def _plain(self, codes: torch.Tensor, own: torch.Tensor | None, depth: int, table_sq: torch.Tensor, start: int,
               stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The product ranks the rows to within its rounding; for each code, every row it puts within twice
        that bound of the `depth`-th is scored again by `pair_scores` (the list widened until it holds them
        all), and those scores decide, in canonical order: so no rounding of the product's own can change a
        list, and the lower row ids are kept among ties at the edge."""
        n, depth = stop - start, min(depth, stop - start)
        values = self.codes.new_full((codes.shape[0], depth), -float("inf"))
        ids = torch.zeros((codes.shape[0], depth), dtype=torch.long, device=codes.device)
        if depth == 0 or codes.shape[0] == 0:
            return values, ids
        scores = nearness(codes, self.codes[start:stop], table_sq)  # (P, n)
        if own is not None:
            own = own - start
            inside = (own >= 0) & (own < n)
            scores[torch.arange(codes.shape[0], device=scores.device)[inside], own[inside]] = -float("inf")
        # the product and pair_scores each round by at most half a bound: rows 2 bounds below the depth-th are out
        margin = 2 * self._bound(codes, start, stop)
        todo, width = torch.arange(codes.shape[0], device=codes.device), min(depth + PLAIN_EXTRA, n)
        while todo.numel() and width < n:
            approx, columns = top_k(scores if len(todo) == len(scores) else scores[todo], width)
            # done: every row left out is ineligible, or scores below the depth-th by more than the margin
            done = (approx[:, -1] == -float("inf")) | (approx[:, -1] < approx[:, depth - 1] - margin[todo])
            for at in done.nonzero()[:, 0].split(max(1, PAIRS_PER_CHUNK // width)):
                rows = columns[at] + start  # (p, width)
                exact = pair_scores(codes[todo[at]], self.codes[rows], table_sq[rows - start])
                exact = exact.masked_fill(approx[at] == -float("inf"), -float("inf"))  # its own row, used rows
                exact, rows = canonical(exact, rows)
                values[todo[at]], ids[todo[at]] = exact[:, :depth].to(values.dtype), rows[:, :depth]
            todo, width = todo[~done], min(width * 4, n)
        if todo.numel():  # a small table, or identical or crowded codes: every row scored again
            table = self.codes[start:stop].T.contiguous().T  # each dimension contiguous, for pair_scores
            for part in todo.split(max(1, PAIRS_PER_CHUNK // n)):
                exact = pair_scores(codes[part], table.expand(len(part), -1, -1), table_sq.expand(len(part), -1))
                exact = exact.masked_fill(scores[part] == -float("inf"), -float("inf"))
                exact, order = torch.sort(exact, dim=1, descending=True, stable=True)  # canonical: rows ascend
                values[part], ids[part] = exact[:, :depth].to(values.dtype), order[:, :depth] + start
        return values, ids

    def _fused_search(self, codes: torch.Tensor, own: torch.Tensor | None, depth: int, table_sq: torch.Tensor,
                      start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """`search` by the fused scan, or None where the plain search must answer (see `search`)."""
        width = depth + FUSED_EXTRA
        if (codes.device.type != "cpu" or codes.dtype != torch.float32 or stop - start < FUSED_MIN_ROWS
                or depth > FUSED_MAX_DEPTH or width > stop - start or not torch.isfinite(codes).all()):
            return None
        try:
            from .fused_knn import BlockIndex
        except ImportError:  # numba missing: the plain search is exact too
            return None
        if self._blocks is None or not self._blocks.fits(start, stop, len(self)):  # about once a pass
            self._blocks = BlockIndex(self.codes, start, stop)
        approx, rows = self._blocks.best_rows(codes, own, table_sq, width)
        ranked = approx.sort(1, descending=True).values
        complete = ~torch.isfinite(ranked[:, -1]) | (ranked[:, depth - 1] - ranked[:, -1] > 3 * self._bound(
            codes, start, stop))
        # the scores that decide, of every code's kept rows (as `_plain` computes them)
        kept = (rows >= 0) & complete[:, None]
        if not kept.any():
            return None
        rows = torch.where(kept, rows, start)
        exact = pair_scores(codes, self.codes[rows], table_sq[rows - start]).masked_fill(~kept, -float("inf"))
        values, ids = canonical(exact, rows)
        values, ids = values[:, :depth], ids[:, :depth]
        if not complete.all():  # near-ties in a few lists: the plain search answers for those codes
            redo = ~complete
            values[redo], ids[redo] = self._plain(codes[redo], None if own is None else own[redo], depth, table_sq,
                                                  start, stop)
        return values, ids

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
        self.used = state["code_table_used"].clone()
        self._derive()
