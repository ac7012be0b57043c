"""Exact k-nearest-neighbour search by matrix products: the one search every part of acn_core uses
(training's code table, evaluation, the index's checks, the map, the teaching views)."""
from __future__ import annotations

import torch

MIN_PRODUCT_ROWS = 8  # `nearness` pads smaller batches of queries to this


def nearness(queries: torch.Tensor, table: torch.Tensor, table_sq: torch.Tensor) -> torch.Tensor:
    """2 q.t - |t|^2 for every pair: (B, D), (N, D), (N,) -> (B, N). It ranks table rows exactly as
    Euclidean distance does (larger = nearer) at the cost of one fused matrix product.

    Its bits depend on the product's shapes: the BLAS picks kernels and summation order by them. MKL's AVX-512
    path gives a query the same scores in any batch from 8 queries up (hence the padding to 8) against any
    slice of more than 11 rows; its AVX2 and SSE paths give other bits for almost any other shape. So where
    bits matter (the training search, `CodeTable.search`) it only ranks, and `pair_scores` decides."""
    if queries.shape[0] < MIN_PRODUCT_ROWS:
        padded = queries.new_zeros((MIN_PRODUCT_ROWS, queries.shape[1]))
        padded[:queries.shape[0]] = queries
        return torch.addmm(-table_sq, padded, table.T, alpha=2)[:queries.shape[0]]
    return torch.addmm(-table_sq, queries, table.T, alpha=2)


def pair_scores(queries: torch.Tensor, rows: torch.Tensor, rows_sq: torch.Tensor) -> torch.Tensor:
    """2 q.t - |t|^2 for chosen pairs: (P, D), (P, W, D), (P, W) -> (P, W). Element by element in one fixed
    order (the D products, summed left to right, doubled, less |t|^2), each operation rounded once as IEEE
    requires, so a pair's score has the same bits whatever else is computed with it, in a process's slice or
    the whole table, on any SIMD kernels or device. As accurate as the product (`nearness`): both are float32
    sums of the same D + 1 terms."""
    dot = queries[:, None, 0] * rows[..., 0]
    for d in range(1, queries.shape[1]):
        dot = dot + queries[:, None, d] * rows[..., d]
    return dot * 2 - rows_sq


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
