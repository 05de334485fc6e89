"""Compiled CPU kernel for match ranks: one pass over each query's distances (numba).

The torch path of :mod:`~lifelong_reid.evaluation.ranking` needs a dozen whole-block tensor passes (binning,
``bincount``, gathers) because torch has no per-row loop; on CPU that costs more than the distance matrix
itself for a weak model, whose hardest match lies deep in the list. This kernel walks each row once
(rows in parallel) and places every kept non-match among the query's sorted matches:

- a value above the hardest match changes no rank and is skipped (most of the row for a good model);
- otherwise its position among the matches comes from a per-row table of :data:`TABLE_BINS` equal bins
  between the closest and the hardest match (the matches of each bin are compared one by one, usually
  none or one), so the cost per value is a few operations whatever the model's quality.

The kernel is compiled on first use (about 3 s) and cached next to this file (numba ``cache=True``); it
runs on as many threads as torch (``torch.get_num_threads()``).

Ties follow the library's definition (a stable sort: equal distances keep gallery order), decided in the
kernel by comparing gallery columns, so no row needs the exact sort that the torch path falls back to.
"""
from __future__ import annotations

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency; the torch path still works without it
    numba = None

#: Bins of the per-row table between the closest and the hardest match.
TABLE_BINS = 256


def available() -> bool:
    """Whether the compiled kernel can run (numba importable)."""
    return numba is not None


def _count_before(dist, match_dist, match_col, num, pid_index, num_pids, distinct_ids, count_below, distinct, low):
    b_rows, g = dist.shape
    for r in numba.prange(b_rows):
        n = num[r]
        if n == 0:
            continue
        first = np.float64(match_dist[r, 0])
        hardest = np.float64(match_dist[r, n - 1])
        span = hardest - first
        scale = TABLE_BINS / span if span > 0 else 0.0
        # lo[b]: matches whose bin is below b; the matches of bin b are lo[b] .. lo[b + 1] - 1
        lo = np.zeros(TABLE_BINS + 2, dtype=np.int64)
        for k in range(n):
            bk = min(int((np.float64(match_dist[r, k]) - first) * scale), TABLE_BINS)
            lo[bk + 1] += 1
        for b in range(1, TABLE_BINS + 2):
            lo[b] += lo[b - 1]
        hist = np.zeros(n + 1, dtype=np.int64)
        lowest = first
        seen = np.zeros(num_pids + 1 if distinct_ids else 1, dtype=np.uint8)
        ndistinct = 0
        for c in range(g):
            v = np.float64(dist[r, c])
            if v > hardest:
                continue
            if v < first:
                s = 0
                if v < lowest:
                    lowest = v
            else:
                bv = min(int((v - first) * scale), TABLE_BINS)
                s = lo[bv]
                # matches of the same bin: (v, c) precedes match k iff v < d_k, or v == d_k and c < col_k
                while s < lo[bv + 1]:
                    dk = np.float64(match_dist[r, s])
                    if v < dk or (v == dk and c < match_col[r, s]):
                        break
                    s += 1
            hist[s] += 1
            if distinct_ids and s == 0:
                p = pid_index[c]
                if seen[p] == 0:
                    seen[p] = 1
                    ndistinct += 1
        total = 0
        for k in range(n):
            total += hist[k]
            count_below[r, k] = total
        distinct[r] = ndistinct
        low[r] = lowest


_kernel = numba.njit(parallel=True, cache=True, nogil=True)(_count_before) if numba is not None else None


def count_before(dist: np.ndarray, match_dist: np.ndarray, match_col: np.ndarray, num: np.ndarray,
                 pid_index: np.ndarray, num_pids: int, distinct_ids: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kept non-matches ranked before each match, for a block of ``B`` queries.

    Args:
        dist: ``(B, G)`` float32/float64 distances, ``+inf`` wherever the image is not a kept non-match.
        match_dist: ``(B, M)`` distances of each query's kept matches, sorted by (distance, gallery column);
            entries ``k >= num[r]`` are ignored.
        match_col: ``(B, M)`` int64 gallery columns of those matches, in the same order.
        num: ``(B,)`` int64 kept matches per query.
        pid_index: ``(G,)`` int64 position of each gallery image's pid among ``num_pids`` identities
            (``num_pids`` for junk); only read when ``distinct_ids``.
        distinct_ids: also count distinct identities among the non-matches ranked before the first match.

    Returns:
        ``count_below (B, M)`` int64 (0 beyond ``num``), ``distinct_before (B,)`` int64 and ``low (B,)`` float64,
        the smallest kept distance of each row (its closest match if no non-match is closer; 0 without matches).

    Raises:
        RuntimeError: numba is not installed (use the torch path).
    """
    if _kernel is None:
        raise RuntimeError("the compiled ranking kernel needs numba (pip install numba)")
    import torch

    # as many threads as torch uses (one per process under torchrun), never more than numba started
    threads = torch.get_num_threads()
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    count_below = np.zeros(match_dist.shape, dtype=np.int64)
    distinct = np.zeros(len(dist), dtype=np.int64)
    low = np.zeros(len(dist), dtype=np.float64)
    try:
        _kernel(dist, match_dist, match_col, num, pid_index, int(num_pids), bool(distinct_ids), count_below, distinct,
                low)
    finally:
        # numba's OpenMP layer shares torch's OpenMP runtime and starting its pool resets the thread count:
        # without this, a torchrun rank (1 thread) trains on 2 threads after an evaluation, with other rounding
        torch.set_num_threads(threads)
    return count_below, distinct, low
