"""A fused scan for the training search (`codes.CodeTable.search`): each query's `width` best table rows in one
pass over the table, without writing the (queries x rows) score matrix.

The product (B x D) . (D x N) of a batch against a 60k table is bound by writing its B x N scores to memory,
not by arithmetic. Here the table is read in slices that stay in the L1 cache; each query's scores for a
slice live in a small buffer, are compared with the query's current cut-off (the worst of its best `width`
so far) and forgotten: the common case is one vectorised comparison per slice and query. The scores are
computed in another order than PyTorch's, so they are approximate (errors of float32 rounding); the caller
makes the answer exact (`codes.CodeTable.search`). Numba compiles this once per machine (cached on disk).
"""
from __future__ import annotations

import numba
import numpy as np

SLICE = 256  # table rows per slice: 16 dims x 256 rows of float32 = 16 KB, well inside L1


@numba.njit(cache=True, boundscheck=False)
def _insert(values: np.ndarray, rows: np.ndarray, worst: np.ndarray, query: int, score: np.float32,
            row: int) -> np.float32:
    """Put `row` in place of the query's worst kept row; return the new worst score (the cut-off)."""
    at = worst[query]
    values[query, at], rows[query, at] = score, row
    low, low_at = values[query, 0], 0
    for slot in range(1, values.shape[1]):
        if values[query, slot] < low:
            low, low_at = values[query, slot], slot
    worst[query] = low_at
    return low


@numba.njit(cache=True, fastmath={"contract"}, boundscheck=False)
def _scan(queries2: np.ndarray, table_t: np.ndarray, bias: np.ndarray, own: np.ndarray, start: int, stop: int,
          values: np.ndarray, rows: np.ndarray) -> None:
    """For each query i, the best rows r in [start, stop) by bias[r - start] + queries2[i] . table_t[:, r], r != own[i].
    queries2 (P, D) = 2 x codes; table_t (D, N); bias (stop - start,) = -|t|^2 of those rows (-inf where not
    eligible); values (P, W) start at -inf and rows (P, W) at -1; both are filled in place (unordered)."""
    n_queries, dim = queries2.shape
    scores = np.empty(SLICE, np.float32)
    worst = np.zeros(n_queries, np.int64)
    cutoff = np.full(n_queries, -np.inf, np.float32)
    for first in range(start, stop, SLICE):
        length = min(SLICE, stop - first)
        slice_bias = bias[first - start:first - start + length]
        for i in range(n_queries):
            for j in range(length):
                scores[j] = slice_bias[j]
            for d in range(dim):
                weight = queries2[i, d]
                column = table_t[d, first:first + length]
                for j in range(length):
                    scores[j] += weight * column[j]
            cut = cutoff[i]
            better = False
            for j in range(length):  # vectorised: most slices hold nothing better for most queries
                better |= scores[j] > cut
            if better:
                for j in range(length):
                    if scores[j] > cut and first + j != own[i]:
                        cut = _insert(values, rows, worst, i, scores[j], first + j)
                cutoff[i] = cut


def best_rows(queries: np.ndarray, table_t: np.ndarray, bias: np.ndarray, own: np.ndarray, start: int, stop: int,
              width: int) -> tuple[np.ndarray, np.ndarray]:
    """Approximate scores (P, width) and rows (P, width) of each query's `width` best rows of [start, stop)
    (unordered; -inf and -1 where fewer rows were eligible). queries (P, D) float32, table_t (D, N) float32,
    bias (stop - start,) float32, own (P,) int64 (-1: none)."""
    values = np.full((queries.shape[0], width), -np.inf, np.float32)
    rows = np.full((queries.shape[0], width), -1, np.int64)
    _scan(np.ascontiguousarray(2 * queries, dtype=np.float32), table_t, bias, own, start, stop, values, rows)
    return values, rows
