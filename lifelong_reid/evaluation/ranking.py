"""Ranks of every true match in each query's ranked gallery list, without sorting the gallery.

Sorting a ``(Q, G)`` distance matrix row by row is what the Cython and numpy evaluators spend their
time on. The metrics only need the rank of each match: the rank of the k-th closest match (0-based) is
``k + 1 + (number of kept non-matches strictly closer than it)``. For a block of queries:

1. the distances of each query's matches are gathered through a pid -> gallery-index table and sorted
   (a few dozen values per query);
2. each query's distances between its closest value and its hardest match are cut into
   :data:`NUM_BINS` equal bins; one ``bincount`` gives, for every match, the number of non-matches in
   lower bins (all of them strictly closer, since binning is monotone);
3. the few non-matches that share a bin with a match are compared with it exactly.

This costs a handful of passes over the ``(B, G)`` block whatever the model's accuracy, instead of a
sort. Ranks are those of a *stable* sort of the kept gallery by distance (equal distances keep gallery
order): rows where a non-match has exactly a match's distance, and rows whose values crowd into the
matches' bins (e.g. a collapsed model), are recomputed with an exact stable sort
(:func:`ranks_by_sorting`), so tie handling is defined and identical on every path.

That is the ``"torch"`` engine (any device). On CPU tensors the ``"kernel"`` engine
(:mod:`~lifelong_reid.evaluation.ranking_kernel`) computes the same ranks in one compiled pass per row, ties
included. Either way, rows whose float32 distances are too coarse to rank by
(:func:`below_float32_resolution`) are ranked again from float64 distances when the caller can recompute them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from lifelong_reid.evaluation.protocols import Protocol


@dataclass
class GalleryIndex:
    """Per-gallery tables built once and shared by every query block.

    Attributes:
        pids, camids: ``(G,)`` long.
        junk: ``(G,)`` bool, ``pid == -1``.
        unique_pids: ``(P,)`` sorted distinct pids of non-junk gallery images.
        pid_index: ``(G,)`` long, position of each image's pid in ``unique_pids`` (``P`` for junk).
        table_pids: ``(T,)`` sorted pids that are both queried and in the gallery.
        table: ``(T, M)`` long, gallery indices of each of them, padded by repeating the first one.
        counts: ``(T,)`` long, gallery images per table pid.
    """

    pids: torch.Tensor
    camids: torch.Tensor
    junk: torch.Tensor
    unique_pids: torch.Tensor
    pid_index: torch.Tensor
    table_pids: torch.Tensor
    table: torch.Tensor
    counts: torch.Tensor

    @property
    def junk_cols(self) -> torch.Tensor:
        """``(J,)`` long gallery columns of junk images."""
        return self.junk.nonzero().squeeze(1)

    @classmethod
    def build(cls, pids: torch.Tensor, camids: torch.Tensor, query_pids: torch.Tensor) -> "GalleryIndex":
        """Tables for ``(G,)`` gallery ``pids`` and ``camids`` searched by ``(Q,)`` ``query_pids``."""
        junk = pids == -1
        valid = (~junk).nonzero().squeeze(1)
        unique, inverse = torch.unique(pids[valid], return_inverse=True)
        pid_index = torch.full_like(pids, len(unique))
        pid_index[valid] = inverse
        queried = torch.isin(pids[valid], query_pids)
        rows, table_pids = valid[queried], unique[torch.isin(unique, query_pids)]
        slot = torch.searchsorted(table_pids, pids[rows])
        num = len(table_pids)
        counts = torch.bincount(slot, minlength=num)
        width = int(counts.max()) if num else 1
        order = torch.argsort(slot, stable=True)
        starts = torch.cumsum(counts, 0) - counts
        pos = torch.arange(len(order), device=pids.device) - starts[slot[order]]
        table = torch.zeros(num, width, dtype=torch.long, device=pids.device)
        table[slot[order], pos] = rows[order]
        if num:
            first = table[:, :1].expand(-1, width)
            pad = torch.arange(width, device=pids.device)[None, :] >= counts[:, None]
            table = torch.where(pad, first, table)
        return cls(pids, camids, junk, unique, pid_index, table_pids, table, counts)

    def lookup(self, query_pids: torch.Tensor) -> torch.Tensor:
        """``(B,)`` positions of query pids in ``table_pids``; ``-1`` where the pid has no gallery image."""
        if len(self.table_pids) == 0:
            return torch.full_like(query_pids, -1)
        pos = torch.searchsorted(self.table_pids, query_pids).clamp_max(len(self.table_pids) - 1)
        found = (self.table_pids[pos] == query_pids) & (query_pids != -1)
        return torch.where(found, pos, torch.full_like(pos, -1))


@dataclass
class BlockRanks:
    """Match ranks of one block of ``B`` queries.

    Attributes:
        ranks: ``(B, M)`` long, 1-based rank of the k-th closest match among kept gallery images
            (entries ``k >= num_matches`` are meaningless).
        num_matches: ``(B,)`` long; 0 for a query without a valid match.
        distinct_before: ``(B,)`` long, distinct non-matching identities ranked before the first match
            (only filled for ``cmc="distinct_ids"`` protocols, zeros otherwise).
        float64: ``(B,)`` bool, rows ranked from float64 distances because their float32 ones were below
            float32 resolution (:func:`below_float32_resolution`).
    """

    ranks: torch.Tensor
    num_matches: torch.Tensor
    distinct_before: torch.Tensor
    float64: torch.Tensor | None = None

    def __post_init__(self):
        if self.float64 is None:
            self.float64 = torch.zeros_like(self.num_matches, dtype=torch.bool)


def removed_mask(q_pid: torch.Tensor, q_cam: torch.Tensor, g_pid: torch.Tensor, g_cam: torch.Tensor,
                 protocol: Protocol) -> torch.Tensor:
    """``(B, G)`` bool: gallery images taken out of each query's ranked list (junk, and the protocol's
    removal rule). ``q_*`` are ``(B,)``; ``g_*`` are ``(G,)`` or ``(B, G)``."""
    g_pid, g_cam = torch.broadcast_to(g_pid, (len(q_pid), g_pid.shape[-1])), torch.broadcast_to(
        g_cam, (len(q_pid), g_cam.shape[-1]))
    removed = g_pid == -1
    if protocol.removal == "same_camera":
        removed = removed | ((g_pid == q_pid[:, None]) & (g_cam == q_cam[:, None]))
    elif protocol.removal == "sysu":
        removed = removed | ((q_cam[:, None] == 3) & (g_cam == 2))
    return removed


def _match_masks(gallery: GalleryIndex, rows: torch.Tensor, q_cam: torch.Tensor, protocol: Protocol):
    """``(idx, is_match)`` for the table rows of the queries: ``(B, M)`` gallery indices of the query's
    identity and whether each one is a kept match under ``protocol``."""
    has = rows >= 0
    if len(gallery.table_pids) == 0:  # no queried identity is in the gallery: nothing matches
        idx = torch.zeros(len(rows), 1, dtype=torch.long, device=rows.device)
        return idx, torch.zeros_like(idx, dtype=torch.bool)
    idx = gallery.table[rows.clamp_min(0)]
    width = idx.shape[1]
    is_match = (torch.arange(width, device=idx.device)[None, :] < gallery.counts[rows.clamp_min(0)][:, None])
    is_match &= has[:, None]
    g_cam = gallery.camids[idx]
    if protocol.removal == "same_camera":
        is_match &= g_cam != q_cam[:, None]
    elif protocol.removal == "sysu":
        is_match &= ~((q_cam[:, None] == 3) & (g_cam == 2))
    return idx, is_match


def _negative_distances(dist: torch.Tensor, gallery: GalleryIndex, idx: torch.Tensor, q_cam: torch.Tensor,
                        protocol: Protocol) -> torch.Tensor:
    """``dist`` with every gallery image that is not a kept non-match set to ``+inf`` (in place)."""
    dist.scatter_(1, idx, float("inf"))  # the query's own identity: matches and removed images
    if gallery.junk_cols.numel():
        dist.index_fill_(1, gallery.junk_cols, float("inf"))
    if protocol.removal == "sysu":
        dist.masked_fill_((q_cam[:, None] == 3) & (gallery.camids[None, :] == 2), float("inf"))
    return dist


def ranks_by_sorting(dist: torch.Tensor, q_pid: torch.Tensor, q_cam: torch.Tensor, gallery: GalleryIndex,
                     protocol: Protocol, width: int) -> BlockRanks:
    """Reference path: a stable sort of each row of ``(B, G)`` ``dist``. Same output as
    :func:`block_ranks`; used for rows with ties and as the definition the fast path must equal."""
    order = torch.sort(dist, dim=1, stable=True).indices
    g_pid, g_cam = gallery.pids[order], gallery.camids[order]
    keep = ~removed_mask(q_pid, q_cam, g_pid, g_cam, protocol)
    match = (g_pid == q_pid[:, None]) & keep
    rank = torch.cumsum(keep, dim=1)
    num = match.sum(1)
    width = max(width, int(num.max()) if len(num) else 1, 1)
    ranks = torch.zeros(len(dist), width, dtype=torch.long, device=dist.device)
    distinct = torch.zeros(len(dist), dtype=torch.long, device=dist.device)
    for r in range(len(dist)):
        pos = match[r].nonzero().squeeze(1)
        ranks[r, : len(pos)] = rank[r, pos]
        if protocol.cmc == "distinct_ids" and len(pos):
            before = keep[r, : pos[0]]
            distinct[r] = len(torch.unique(g_pid[r, : pos[0]][before]))
    return BlockRanks(ranks, num, distinct)


#: Ways to count the non-matches before each match: ``"kernel"`` (compiled, CPU tensors only, see
#: :mod:`~lifelong_reid.evaluation.ranking_kernel`), ``"torch"`` (tensor passes, any device) and ``"auto"``
#: (the kernel for CPU tensors when numba is installed, torch otherwise). All give the same ranks.
RANKING_ENGINES = ("auto", "kernel", "torch")


def _use_kernel(dist: torch.Tensor, engine: str) -> bool:
    if engine not in RANKING_ENGINES:
        raise ValueError(f"unknown ranking engine {engine!r}; choose from {', '.join(RANKING_ENGINES)}")
    from lifelong_reid.evaluation import ranking_kernel

    if engine == "kernel":
        if dist.device.type != "cpu" or not ranking_kernel.available():
            raise ValueError("ranking engine 'kernel' needs CPU tensors and numba installed; use 'auto' or 'torch'")
        return True
    return engine == "auto" and dist.device.type == "cpu" and ranking_kernel.available()


def _sorted_matches(dist, gallery, rows, q_cam, protocol):
    """``(idx, match_dist, match_col, num)``: the table columns of each query's identity (``(B, M)``), its kept
    matches' distances sorted by (distance, gallery column) with ``+inf`` padding, their columns in that order,
    and ``(B,)`` kept matches per query (table columns are ascending and the sort is stable)."""
    idx, is_match = _match_masks(gallery, rows, q_cam, protocol)
    match_dist = torch.where(is_match, dist.gather(1, idx), torch.full_like(idx, float("inf"), dtype=dist.dtype))
    match_dist, order = torch.sort(match_dist, dim=1, stable=True)
    return idx, match_dist, idx.gather(1, order), is_match.sum(1)


def _hardest(match_dist: torch.Tensor, num: torch.Tensor) -> torch.Tensor:
    """``(B,)`` distance of each query's hardest (last) kept match (``+inf`` without a match)."""
    return match_dist.gather(1, (num - 1).clamp_min(0)[:, None]).squeeze(1)


def _kernel_ranks(dist: torch.Tensor, q_cam: torch.Tensor, gallery: GalleryIndex, protocol: Protocol,
                  rows: torch.Tensor) -> tuple[BlockRanks, torch.Tensor, torch.Tensor]:
    from lifelong_reid.evaluation.ranking_kernel import count_before

    idx, match_dist, match_col, num = _sorted_matches(dist, gallery, rows, q_cam, protocol)
    neg = _negative_distances(dist, gallery, idx, q_cam, protocol)
    count_below, distinct, low = count_before(
        neg.detach().numpy(), match_dist.contiguous().numpy(), match_col.contiguous().numpy(), num.numpy(),
        gallery.pid_index.numpy(), len(gallery.unique_pids), protocol.cmc == "distinct_ids")
    ranks = torch.from_numpy(count_below) + torch.arange(1, idx.shape[1] + 1)[None, :]
    return BlockRanks(ranks, num, torch.from_numpy(distinct)), torch.from_numpy(low), _hardest(match_dist, num)


def _torch_ranks(dist, q_pid, q_cam, gallery, protocol, rows, recompute) -> tuple[BlockRanks, torch.Tensor,
                                                                                 torch.Tensor]:
    if recompute is None:
        saved = dist.clone()
        recompute = saved.__getitem__
    idx, match_dist, _, num = _sorted_matches(dist, gallery, rows, q_cam, protocol)
    width = idx.shape[1]
    neg = _negative_distances(dist, gallery, idx, q_cam, protocol)
    low = torch.minimum(neg.amin(1), match_dist[:, 0]).double()
    last = _hardest(match_dist, num)
    hardest = last[:, None].masked_fill((num == 0)[:, None], -float("inf"))
    candidates = neg <= hardest  # only non-matches up to the hardest match change a rank
    if int(torch.count_nonzero(candidates)) * width <= neg.numel() // 4:
        count_below, fallback, distinct = _count_few(neg, candidates, match_dist, gallery, protocol)
    else:
        del candidates
        count_below, fallback, distinct = _count_binned(neg, match_dist, num, gallery, protocol)
    ranks = count_below + torch.arange(1, width + 1, device=dist.device)[None, :]
    result = BlockRanks(ranks, num, distinct)
    if bool(fallback.any()):
        rows_exact = fallback.nonzero().squeeze(1)
        exact = ranks_by_sorting(recompute(rows_exact), q_pid[rows_exact], q_cam[rows_exact], gallery, protocol,
                                 width)
        result = _merge(result, rows_exact, exact)
    return result, low, last


#: A row is recomputed in float64 when the distances that decide its ranks (from its closest kept image to
#: its hardest match) span fewer than this many float32 steps per image ranked there.
STEPS_PER_IMAGE = 16


def below_float32_resolution(block: BlockRanks, low: torch.Tensor, step: torch.Tensor,
                             hardest: torch.Tensor) -> torch.Tensor:
    """``(B,)`` bool: rows whose float32 distances are too coarse to rank by.

    Args:
        block: the rows' :class:`BlockRanks`; low: ``(B,)`` smallest kept distance of each row;
        step: ``(B,)`` float32 resolution of each row's distances
            (:meth:`~lifelong_reid.evaluation.distance.DistanceBlocks.float32_step`);
        hardest: ``(B,)`` distance of each row's hardest match.

    A row qualifies when ``hardest - low < STEPS_PER_IMAGE * step * ranked``, ``ranked`` being the rank of its
    hardest match: e.g. features whose query-gallery cosines are all about 0.9999 (a model that barely
    separates people) leave a few float32 values for a whole gallery, and ties decide the ranking.
    """
    num = block.num_matches
    last = block.ranks.gather(1, (num - 1).clamp_min(0)[:, None]).squeeze(1).double()
    span = hardest.double().to(low.device) - low.double()
    return (num > 0) & (span < STEPS_PER_IMAGE * step.to(low.device) * last)


def block_ranks(dist: torch.Tensor, q_pid: torch.Tensor, q_cam: torch.Tensor, gallery: GalleryIndex,
                protocol: Protocol, recompute: Callable[[torch.Tensor], torch.Tensor] | None = None,
                engine: str = "auto", float64: Callable[[torch.Tensor], torch.Tensor] | None = None,
                step: torch.Tensor | None = None) -> BlockRanks:
    """Match ranks for a block of queries.

    Args:
        dist: ``(B, G)`` float distances (lower is closer); **overwritten** (used as scratch space).
        q_pid, q_cam: ``(B,)`` long query pids and camids.
        gallery: :class:`GalleryIndex` of the gallery.
        protocol: the :class:`~lifelong_reid.evaluation.protocols.Protocol`.
        recompute: ``rows -> (len(rows), G)`` original distances of those block rows, needed by the torch
            engine for rows with ties; when ``None`` a copy of ``dist`` is kept instead (more memory).
        engine: one of :data:`RANKING_ENGINES`.
        float64, step: ``rows -> (len(rows), G)`` float64 distances of those block rows, and the ``(B,)``
            float32 resolution of each row; when given, rows :func:`below_float32_resolution` are ranked
            again from their float64 distances (and flagged in :attr:`BlockRanks.float64`).

    Returns:
        :class:`BlockRanks`.

    Raises:
        ValueError: unknown engine, or ``"kernel"`` for CUDA tensors or without numba.
    """
    if not dist.is_contiguous():
        dist = dist.contiguous()
    rows = gallery.lookup(q_pid)
    if _use_kernel(dist, engine):
        result, low, hardest = _kernel_ranks(dist, q_cam, gallery, protocol, rows)
    else:
        result, low, hardest = _torch_ranks(dist, q_pid, q_cam, gallery, protocol, rows, recompute)
    if float64 is None:
        return result
    coarse = below_float32_resolution(result, low, step, hardest)
    if not bool(coarse.any()):
        return result
    redo = coarse.nonzero().squeeze(1)
    precise = block_ranks(float64(redo), q_pid[redo], q_cam[redo], gallery, protocol, engine=engine)
    merged = _merge(result, redo, precise)
    merged.float64[redo] = True
    return merged


#: Bins per query between its closest value and its hardest match (see the module docstring).
NUM_BINS = 4096


def _distinct_before_first(rows: torch.Tensor, cols: torch.Tensor, num_rows: int, gallery: GalleryIndex):
    """``(num_rows,)`` number of distinct identities among gallery images ``cols`` of block ``rows``."""
    width = len(gallery.unique_pids) + 1
    pairs = torch.unique(rows * width + gallery.pid_index[cols])
    return torch.bincount(pairs // width, minlength=num_rows)


def _count_few(neg, candidates, match_dist, gallery, protocol):
    """:func:`_count_binned` for blocks where few non-matches come before the hardest match (an accurate
    model): those are compared with every match directly."""
    b, width = match_dist.shape
    r, c = candidates.nonzero(as_tuple=True)
    v, md = neg[r, c], match_dist[r]
    less = v[:, None] < md
    count_below = torch.zeros(b, width, dtype=torch.long, device=neg.device).index_add_(0, r, less.long())
    fallback = torch.zeros(b, dtype=torch.bool, device=neg.device)
    fallback[r[(v[:, None] == md).any(1)]] = True
    distinct = torch.zeros(b, dtype=torch.long, device=neg.device)
    if protocol.cmc == "distinct_ids":
        first = less[:, 0]
        distinct = _distinct_before_first(r[first], c[first], b, gallery)
    return count_below, fallback, distinct


def _count_binned(neg: torch.Tensor, match_dist: torch.Tensor, num: torch.Tensor, gallery: GalleryIndex,
                  protocol: Protocol):
    """Non-matches strictly closer than each match.

    Args:
        neg: ``(B, G)`` distances, ``+inf`` where the image is not a kept non-match.
        match_dist: ``(B, M)`` sorted match distances (``+inf`` padding); num: ``(B,)`` matches per row.

    Returns:
        ``(count_below (B, M), fallback (B,) bool, distinct_before (B,))``; rows flagged ``fallback`` (ties
        between a match and a non-match, or crowded bins) must be recomputed exactly.
    """
    b, g = neg.shape
    width = match_dist.shape[1]
    nb = NUM_BINS
    valid = num > 0
    first = torch.where(valid, match_dist[:, 0], torch.zeros_like(match_dist[:, 0]))
    hardest = match_dist.gather(1, (num - 1).clamp_min(0)[:, None]).squeeze(1)
    # a span below 2^-8 of |first| (one match, or equal matches) is widened: otherwise first * scale is so
    # large that float32 rounding moves the first match out of bin 1 (into the clamped end bins, unchecked)
    span = torch.where(valid, hardest - first, torch.ones_like(first))
    span = torch.maximum(span, first.abs() * 2.0**-8).clamp_min(1e-30)
    scale = (nb / span)[:, None]
    offset = (1.5 - first[:, None] * scale)
    # bin = trunc(v * scale + offset): monotone in v; 0 holds values well below the first match (strictly
    # smaller than every match), the first match lands in bin 1, the hardest in bin nb + 1
    nbin = nb + 4
    bins = torch.addcmul(offset, neg, scale).clamp_(0, nbin - 1).to(torch.int32)
    match_bins = torch.addcmul(offset, match_dist, scale).clamp_(0, nbin - 1).long()
    real = torch.arange(width, device=neg.device)[None, :] < num[:, None]
    match_bins = torch.where(real, match_bins, torch.full_like(match_bins, nbin - 1))
    flat = bins.add_((torch.arange(b, device=neg.device, dtype=torch.int32) * nbin)[:, None]).view(-1)
    hist = torch.bincount(flat, minlength=b * nbin).view(b, nbin)
    count_below = (torch.cumsum(hist, 1) - hist).gather(1, match_bins)  # values in lower bins: all smaller
    # values sharing a bin with a match are compared with it exactly (only rows that have any)
    shared = torch.zeros(b, nbin, dtype=torch.bool, device=neg.device)
    shared.scatter_(1, match_bins, real)
    shared[:, nbin - 1] = False
    need = (hist * shared).sum(1)
    crowded = need > max(64, g // 8)
    rows = (need > 0) & ~crowded
    fallback = crowded.clone()
    lower = None
    if protocol.cmc == "distinct_ids":
        lower = (flat.view(b, g) - (torch.arange(b, device=neg.device, dtype=torch.int32) * nbin)[:, None]) < (
            match_bins[:, :1].to(torch.int32))
    rr, cc = torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    if bool(rows.any()):
        pos = shared.view(-1)[flat].nonzero().squeeze(1)
        pos = pos[rows[pos // g]]
        r, c = pos // g, pos % g
        v, md = neg[r, c], match_dist[r]
        same_bin = (flat[pos] - r.to(torch.int32) * nbin)[:, None].long() == match_bins[r]
        count_below.index_add_(0, r, (same_bin & (v[:, None] < md)).long())
        fallback[r[(same_bin & (v[:, None] == md)).any(1)]] = True
        before = same_bin[:, 0] & (v < md[:, 0])
        rr, cc = r[before], c[before]
    distinct = torch.zeros(b, dtype=torch.long, device=neg.device)
    if lower is not None:
        r2, c2 = (lower & (valid & ~crowded)[:, None]).nonzero(as_tuple=True)
        distinct = _distinct_before_first(torch.cat([r2, rr.to(r2.device)]), torch.cat([c2, cc.to(c2.device)]),
                                          b, gallery)
    return count_below, fallback, distinct


def _merge(fast: BlockRanks, rows: torch.Tensor, exact: BlockRanks) -> BlockRanks:
    width = max(fast.ranks.shape[1], exact.ranks.shape[1])
    ranks = torch.nn.functional.pad(fast.ranks, (0, width - fast.ranks.shape[1]))
    ranks[rows] = torch.nn.functional.pad(exact.ranks, (0, width - exact.ranks.shape[1]))
    num, distinct = fast.num_matches.clone(), fast.distinct_before.clone()
    num[rows], distinct[rows] = exact.num_matches, exact.distinct_before
    return BlockRanks(ranks, num, distinct, fast.float64.clone())
