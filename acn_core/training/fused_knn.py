"""A block index for the training search (`codes.CodeTable.search`): each code's best table rows without
scoring every row, and without writing the (codes x rows) score matrix.

The table's rows (one slice of it in a distributed run) are expressed in a basis whose first dimensions
hold most of their spread (eigenvectors of the second moment: a trained table's first 4 of 16 hold ~90 %),
sorted into a grid on the first three and cut into blocks of BLOCK rows. Each block keeps the box its rows
span in the first PREFIX dimensions and the range of their norms in the others, so the distance of a code to
any row of a block is at least the distance to that box (with the norms' gap), and the block's best score at
most |q|^2 minus its square. A scan (Numba, compiled once per machine and cached on disk) scores in full the
few blocks with the best bounds, then every block whose bound still beats the code's cut-off (its worst
kept score). Writes move rows inside their blocks and widen the boxes, so the bounds stay true; the blocks
are rebuilt once a pass's worth of rows has been written. The scores are float32 sums in another order than
PyTorch's, so the caller makes the answer exact (`codes.CodeTable.search`).
"""
from __future__ import annotations

import numba
import numpy as np
import torch

BLOCK = 64  # rows per block
PREFIX = 4  # dimensions of the blocks' boxes
GRID = 3  # leading dimensions the rows are sorted on, one inside another
SEEDS = 2  # blocks scored first, best bounds first, to set a tight cut-off


def grid_order(rotated: torch.Tensor, block: int = BLOCK, levels: int = GRID) -> torch.Tensor:
    """An order of the rows (n, D) that keeps near rows together: sorted on dimension 0, cut into strips,
    each sorted on dimension 1, cut again, and so on for `levels` dimensions; pieces are multiples of `block`."""
    groups = [torch.argsort(rotated[:, 0], stable=True)]
    parts = max(1, round((rotated.shape[0] / block) ** (1 / levels)))
    for level in range(1, min(levels, rotated.shape[1])):
        pieces = []
        for group in groups:
            share = -(-len(group) // parts)
            size = -(-share // block) * block
            for first in range(0, len(group), size):
                piece = group[first:first + size]
                pieces.append(piece[torch.argsort(rotated[piece, level], stable=True)])
        groups = pieces
    return torch.cat(groups)


class BlockIndex:
    """Rows [start, stop) of a code table in blocks (see the module's docstring). Row ids are absolute."""

    def __init__(self, codes: torch.Tensor, start: int, stop: int):
        self.start, self.stop = start, stop
        self.writes = 0  # rows written since the blocks were made
        self.scanned = 0.0  # share of the blocks the last search scored
        moment = codes.T @ codes / codes.shape[0]  # (D, D)
        self.basis = torch.linalg.eigh(moment.double()).eigenvectors.flip(1).float()  # largest spread first
        self.prefix = min(PREFIX, codes.shape[1])
        rotated = codes[start:stop] @ self.basis  # (n, D)
        order = grid_order(rotated)
        n_blocks = -(-len(order) // BLOCK)
        pad = n_blocks * BLOCK - len(order)
        order = torch.cat([order, order[-1:].expand(pad)])  # padding repeats a row (its bias is -inf there)
        self.rows = order + start  # (S,) the absolute row in each slot
        self.padding = torch.arange(len(order)) >= len(order) - pad  # (S,)
        self.local = torch.where(self.padding, stop - start, order)  # (S,) rows within the range; past its end: padding
        self.slot = torch.full((codes.shape[0],), -1, dtype=torch.long)
        self.slot[self.rows[~self.padding]] = torch.arange(len(order))[~self.padding]
        self.table_t = rotated[order].T.contiguous()  # (D, S): a run of blocks is contiguous in each dimension
        blocked = self.table_t.view(-1, n_blocks, BLOCK)  # (D, blocks, BLOCK)
        self.low = blocked[:self.prefix].amin(2).contiguous()  # (prefix, blocks)
        self.high = blocked[:self.prefix].amax(2).contiguous()
        rest = blocked[self.prefix:].norm(dim=0)  # (blocks, BLOCK)
        self.rest_low, self.rest_high = rest.amin(1).contiguous(), rest.amax(1).contiguous()

    def fits(self, start: int, stop: int, size: int) -> bool:
        """Whether these blocks answer for rows [start, stop) and are fresh: fewer writes than rows since made,
        and, after an eighth of that, still pruning (writes widen the boxes: early in training, when codes move
        far, they soon cover everything)."""
        n = stop - start
        return ((start, stop) == (self.start, self.stop) and len(self.slot) == size and self.writes < n
                and not (self.writes >= n // 8 and self.scanned > 0.25))

    def update(self, indices: torch.Tensor, codes: torch.Tensor) -> None:
        """Rows `indices` (B,) now hold `codes` (B, D): move them in their slots and widen their blocks' bounds."""
        slots = self.slot[indices]
        inside = slots >= 0
        slots, rotated = slots[inside], codes[inside] @ self.basis
        self.writes += int(inside.sum())
        if not len(slots):
            return
        self.table_t[:, slots] = rotated.T
        blocks = slots // BLOCK
        head = rotated[:, :self.prefix].T
        self.low.scatter_reduce_(1, blocks.expand(self.prefix, -1), head, "amin")
        self.high.scatter_reduce_(1, blocks.expand(self.prefix, -1), head, "amax")
        rest = rotated[:, self.prefix:].norm(dim=1)
        self.rest_low.scatter_reduce_(0, blocks, rest, "amin")
        self.rest_high.scatter_reduce_(0, blocks, rest, "amax")

    def best_rows(self, codes: torch.Tensor, own: torch.Tensor | None, table_sq: torch.Tensor, width: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """Approximate scores 2 q.t - |t|^2 (P, width) and absolute rows (P, width) of each code's `width` best
        eligible rows (unordered; -inf and -1 where fewer were eligible). table_sq (stop - start,): squared
        norms, inf where a row is not eligible; own (P,): each code's own row, never returned (None: no rule)."""
        bias = torch.cat([table_sq, table_sq.new_full((1,), float("inf"))])[self.local].neg_()  # (S,), -inf: padding
        live = torch.isfinite(bias).view(-1, BLOCK).any(1)  # (blocks,): blocks with a row still eligible
        own_slot = torch.full((codes.shape[0],), -1) if own is None else self.slot[own.long()]
        values = np.full((codes.shape[0], width), -np.inf, np.float32)
        slots = np.full((codes.shape[0], width), -1, np.int64)
        scored = _scan(np.ascontiguousarray(2 * (codes @ self.basis).numpy()), self.table_t.view(-1).numpy(),
                       bias.numpy(), own_slot.numpy(), self.low.numpy(), self.high.numpy(), self.rest_low.numpy(),
                       self.rest_high.numpy(), live.numpy(), values, slots)
        self.scanned = scored / max(1, codes.shape[0] * self.low.shape[1])
        slots = torch.from_numpy(slots)
        return torch.from_numpy(values), torch.where(slots >= 0, self.rows[slots.clamp(min=0)], -1)


@numba.njit(cache=True, boundscheck=False)
def _insert(values: np.ndarray, slots: np.ndarray, worst: np.ndarray, query: int, score: np.float32,
            slot: int) -> np.float32:
    """Put `slot` in place of the query's worst kept one; return the new worst score (the cut-off)."""
    at = worst[query]
    values[query, at], slots[query, at] = score, slot
    low, low_at = values[query, 0], 0
    for place in range(1, values.shape[1]):
        if values[query, place] < low:
            low, low_at = values[query, place], place
    worst[query] = low_at
    return low


@numba.njit(cache=True, fastmath={"contract"}, boundscheck=False)
def _score_rows(queries2: np.ndarray, query: int, table: np.ndarray, bias: np.ndarray, own: np.ndarray,
                first: int, last: int, scores: np.ndarray, values: np.ndarray, slots: np.ndarray, worst: np.ndarray,
                cut: np.float32) -> np.float32:
    """Score slots [first, last) for one query, keep those that beat the cut-off; return the new cut-off.
    table: (D * S,) dimension-major (`BlockIndex.table_t` flattened)."""
    n_slots, length = bias.shape[0], last - first
    start_bias = bias[first:last]  # views, indexed from 0: LLVM vectorises these loops, not table[at + j]
    for j in range(length):
        scores[j] = start_bias[j]
    for d in range(queries2.shape[1]):
        weight = queries2[query, d]
        column = table[d * n_slots + first:d * n_slots + last]
        for j in range(length):
            scores[j] += weight * column[j]
    better = 0
    for j in range(length):  # vectorised: usually no row of a run beats the cut-off
        better += scores[j] > cut
    if better:
        for j in range(length):
            if scores[j] > cut and first + j != own[query]:
                cut = _insert(values, slots, worst, query, scores[j], first + j)
    return cut


@numba.njit(cache=True, fastmath={"contract"}, boundscheck=False)
def _scan(queries2: np.ndarray, table: np.ndarray, bias: np.ndarray, own: np.ndarray, low: np.ndarray,
          high: np.ndarray, rest_low: np.ndarray, rest_high: np.ndarray, live: np.ndarray, values: np.ndarray,
          slots: np.ndarray) -> int:
    """Fill values/slots (P, W) (preset to -inf/-1) with each query's best slots by bias + queries2 . row;
    return how many blocks were scored, over all queries.
    queries2 (P, D) = 2 x codes in the blocks' basis; table (D * S,) dimension-major; bias (S,) = -|t|^2,
    -inf where not eligible; own (P,) slot never returned (-1: none); low/high (prefix, blocks);
    rest_low/rest_high (blocks,); live (blocks,): whether a block has an eligible row (late in a pass most
    have none)."""
    n_queries, dim = queries2.shape
    prefix, n_blocks = low.shape
    size = bias.shape[0] // n_blocks
    scores = np.empty(bias.shape[0], np.float32)
    bound = np.empty(n_blocks, np.float32)
    done = np.zeros(n_blocks, np.bool_)
    worst = np.zeros(n_queries, np.int64)
    scored = 0
    for i in range(n_queries):
        # the best score any row of each block can have: |q|^2 - (distance to the block's box)^2
        norm_sq, rest_sq = np.float32(0), np.float32(0)
        for d in range(dim):
            half = np.float32(0.5) * queries2[i, d]
            norm_sq += half * half
            if d >= prefix:
                rest_sq += half * half
        rest = np.sqrt(rest_sq)
        for b in range(n_blocks):
            gap = max(rest_low[b] - rest, np.float32(0)) + max(rest - rest_high[b], np.float32(0))
            bound[b] = norm_sq - gap * gap if live[b] else -np.inf
            done[b] = not live[b]
        for d in range(prefix):
            x = np.float32(0.5) * queries2[i, d]
            for b in range(n_blocks):
                gap = max(low[d, b] - x, np.float32(0)) + max(x - high[d, b], np.float32(0))
                bound[b] -= gap * gap
        cut = np.float32(-np.inf)
        for _ in range(min(SEEDS, n_blocks)):  # the best-bounded blocks first: a tight cut-off early
            best, best_at = np.float32(-np.inf), 0
            for b in range(n_blocks):
                if not done[b] and bound[b] >= best:
                    best, best_at = bound[b], b
            done[best_at] = True
            cut = _score_rows(queries2, i, table, bias, own, best_at * size, (best_at + 1) * size, scores, values,
                              slots, worst, cut)
        b = 0
        while b < n_blocks:  # then every block that may still hold a better row, neighbouring ones in one run
            if done[b] or bound[b] <= cut:
                b += 1
                continue
            end = b + 1
            while end < n_blocks and not done[end] and bound[end] > cut:
                end += 1
            cut = _score_rows(queries2, i, table, bias, own, b * size, end * size, scores, values, slots, worst, cut)
            scored += end - b
            b = end
        scored += min(SEEDS, n_blocks)
    return scored
