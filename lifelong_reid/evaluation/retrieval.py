"""Retrieval metrics: mAP, CMC (Rank-k) and mINP, from features or from a distance matrix.

Shapes: ``Q`` queries, ``G`` gallery images, ``D`` feature size.

Which gallery images a query is ranked against, and how Rank-k is counted, is the protocol's rule
(:mod:`lifelong_reid.evaluation.protocols`: ``market1501``, ``single_camera``, ``sysu_mm01``, ``regdb``,
``llcm``). Junk (``pid == -1``) is always ignored and distractors (``pid == 0``) are non-matches. A query
without any valid match is skipped (as torchreid and fast-reid do) and not counted in
``num_valid_queries``.

Definitions (per valid query; ranks 1-based among the kept gallery images, sorted by distance with
equal distances in gallery order):

- AP: mean over its matches of precision at the match's rank;
- CMC@k: 1 if a match is at rank <= k (``distinct_ids`` protocols: within the first k distinct identities);
- INP (Ye et al., "Deep Learning for Person Re-identification: A Survey and Outlook", TPAMI 2021, Eq. 2):
  ``num_matches / rank_of_hardest_match``.

All reported in percent, averaged over valid queries. Distances are computed one bounded block of
queries at a time (:mod:`~lifelong_reid.evaluation.distance`) and the ranks of matches are found without
sorting the gallery (:mod:`~lifelong_reid.evaluation.ranking`).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from lifelong_reid.evaluation.distance import BLOCK_ELEMENTS, DistanceBlocks, as_tensor, check_features
from lifelong_reid.evaluation.protocols import Protocol, get_protocol
from lifelong_reid.evaluation.ranking import BlockRanks, GalleryIndex, block_ranks

RANKS = (1, 5, 10, 20)


def _check_ids(num_query: int, num_gallery: int, query_pids, gallery_pids, query_camids, gallery_camids, device):
    ids = [as_tensor(x, torch.long, device) for x in (query_pids, gallery_pids, query_camids, gallery_camids)]
    qp, gp, qc, gc = ids
    if qp.dim() != 1 or qc.dim() != 1 or gp.dim() != 1 or gc.dim() != 1:
        raise ValueError("pids and camids must be 1-D arrays, one entry per query / gallery feature")
    if len(qp) != num_query or len(qc) != num_query or len(gp) != num_gallery or len(gc) != num_gallery:
        raise ValueError(f"one pid and one camid per feature are required: got {len(qp)} query pids and "
                         f"{len(qc)} camids for {num_query} queries, {len(gp)} gallery pids and {len(gc)} camids "
                         f"for {num_gallery} gallery images")
    return qp, gp, qc, gc


class _Accumulator:
    """Sums of per-query metrics over blocks."""

    def __init__(self, num_queries: int, ranks, protocol: Protocol, per_query: bool):
        self.ranks, self.protocol = tuple(ranks), protocol
        self.max_rank = max(self.ranks)
        self.ap_sum = self.inp_sum = 0.0
        self.valid = self.float64 = 0
        self.cmc = torch.zeros(self.max_rank, dtype=torch.float64)
        self.ap = np.full(num_queries, np.nan) if per_query else None
        self.first = np.zeros(num_queries, dtype=np.int64) if per_query else None

    def add(self, start: int, block: BlockRanks) -> None:
        num = block.num_matches
        has = num > 0
        width = block.ranks.shape[1]
        k = torch.arange(width, device=num.device)[None, :]
        in_range = k < num[:, None]
        prec = torch.where(in_range, (k + 1).double() / block.ranks.clamp_min(1).double(), torch.zeros((), dtype=torch.float64))
        ap = prec.sum(1) / num.clamp_min(1).double()
        last = block.ranks.gather(1, (num - 1).clamp_min(0)[:, None]).squeeze(1)
        inp = num.double() / last.clamp_min(1).double()
        if self.protocol.cmc == "distinct_ids":
            first = block.distinct_before + 1
        else:
            first = block.ranks[:, 0]
        ap, inp, first = ap[has], inp[has], first[has]
        self.ap_sum += float(ap.sum())
        self.inp_sum += float(inp.sum())
        self.valid += int(has.sum())
        self.float64 += int((block.float64 & has).sum())
        ks = torch.arange(1, self.max_rank + 1, device=first.device)
        self.cmc += (first[:, None] <= ks[None, :]).double().sum(0).cpu()
        if self.ap is not None:
            rows = start + has.nonzero().squeeze(1).cpu().numpy()
            self.ap[rows] = ap.cpu().numpy()
            self.first[rows] = first.cpu().numpy()

    def result(self) -> dict:
        if self.valid == 0:
            raise ValueError("no query has a valid gallery match under the protocol (check pids and camids, and "
                             f"that protocol {self.protocol.name!r} fits the dataset)")
        out = {"mAP": 100.0 * self.ap_sum / self.valid}
        for k in self.ranks:
            out[f"rank{k}"] = 100.0 * float(self.cmc[k - 1]) / self.valid
        out["mINP"] = 100.0 * self.inp_sum / self.valid
        out["num_valid_queries"] = self.valid
        out["float64_queries"] = self.float64
        if self.ap is not None:
            out["per_query"] = {"AP": 100.0 * self.ap, "first_match_rank": self.first}
        return out


def evaluate_blocks(distance: Callable, num_query: int, query_pids: torch.Tensor, gallery_pids: torch.Tensor,
                    query_camids: torch.Tensor, gallery_camids: torch.Tensor, *, protocol="market1501",
                    ranks=RANKS, block_size: int = 512, per_query: bool = False, reuse_buffer: bool = False,
                    ranking: str = "auto") -> dict:
    """Metrics from a distance function ``distance(rows) -> (B, G)`` (``rows``: a slice of queries).

    This is the engine under :func:`evaluate_features` and :func:`evaluate_distances`; use it to plug in
    a custom distance (e.g. re-ranking) without materialising the ``(Q, G)`` matrix. With
    ``reuse_buffer``, ``distance(rows, out=buffer)`` must accept the previous block's tensor to write into.
    ``ranking``: how match ranks are counted
    (:data:`~lifelong_reid.evaluation.ranking.RANKING_ENGINES`; every engine gives the same numbers).
    When ``distance`` has ``recomputable = True``, ``float64(rows)`` and ``float32_step(rows)`` (as
    :class:`~lifelong_reid.evaluation.distance.DistanceBlocks`), rows whose float32 distances are below float32
    resolution are ranked from float64 distances and counted in ``float64_queries``.
    """
    proto = get_protocol(protocol)
    if min(ranks) < 1:
        raise ValueError(f"CMC ranks must be >= 1, got {ranks}")
    gallery = GalleryIndex.build(gallery_pids, gallery_camids, query_pids)
    acc = _Accumulator(num_query, ranks, proto, per_query)
    buffer = None
    for s in range(0, num_query, block_size):
        e = min(s + block_size, num_query)
        if reuse_buffer:
            dist = distance(slice(s, e), out=buffer)
            buffer = dist if buffer is None else buffer
        else:
            dist = distance(slice(s, e))
        recompute = (lambda rows, s=s: distance(rows + s))  # only the rows that need an exact sort
        float64 = step = None
        if getattr(distance, "recomputable", False):
            float64, step = (lambda rows, s=s: distance.float64(rows + s)), distance.float32_step(slice(s, e))
        acc.add(s, block_ranks(dist, query_pids[s:e], query_camids[s:e], gallery, proto, recompute, ranking,
                               float64, step))
    return acc.result()


def evaluate_features(query_features, gallery_features, query_pids, gallery_pids, query_camids,
                      gallery_camids, *, protocol: str | Protocol = "market1501", metric: str = "cosine",
                      ranks=RANKS, block_elements: int = BLOCK_ELEMENTS, rerank: bool = False, k1: int = 20,
                      k2: int = 6, lambda_value: float = 0.3, per_query: bool = False, device=None,
                      ranking: str = "auto") -> dict:
    """Metrics for ``(Q, D)`` query and ``(G, D)`` gallery features (numpy arrays or torch tensors).

    Args:
        query_pids, gallery_pids, query_camids, gallery_camids: ``(Q,)`` / ``(G,)`` integer ids.
        protocol: a registered protocol name (:func:`~lifelong_reid.evaluation.protocols.protocol_names`)
            or a :class:`~lifelong_reid.evaluation.protocols.Protocol`.
        metric: ``"cosine"`` (L2-normalised features) or ``"euclidean"`` (squared, features as given).
        ranks: CMC ranks to report (``rank1``, ``rank5``, ...).
        block_elements: bound on the ``(B, G)`` block held at once (memory ~20 bytes per element).
        rerank: rank by k-reciprocal re-ranked distances
            (:class:`~lifelong_reid.evaluation.rerank.KReciprocalReranker` with ``k1``, ``k2``,
            ``lambda_value``), computed on the features after the metric's normalisation.
        per_query: also return ``per_query = {"AP": (Q,) percent, NaN for invalid queries,
            "first_match_rank": (Q,) 1-based, 0 for invalid}``.
        device: where to compute (default: the query features' device).
        ranking: how match ranks are counted (:data:`~lifelong_reid.evaluation.ranking.RANKING_ENGINES`:
            the compiled CPU kernel or torch passes; the same numbers either way).

    Returns:
        ``{"mAP", "rank1", "rank5", "rank10", "rank20", "mINP"}`` in percent, plus ``num_valid_queries`` and
        ``float64_queries`` (valid queries ranked from float64 distances: float32 features whose distances for
        that query are below float32 resolution, see :func:`~lifelong_reid.evaluation.ranking.below_float32_resolution`).

    Raises:
        ValueError: unknown protocol or metric, mismatched shapes, NaN features, or no valid query.
    """
    qf, gf = check_features(query_features, gallery_features, device)
    qp, gp, qc, gc = _check_ids(len(qf), len(gf), query_pids, gallery_pids, query_camids, gallery_camids, qf.device)
    blocks = DistanceBlocks(qf, gf, metric)
    distance = blocks
    if rerank:
        from lifelong_reid.evaluation.rerank import KReciprocalReranker

        distance = KReciprocalReranker(blocks.query, blocks.gallery_t.t(), k1=k1, k2=k2, lambda_value=lambda_value)
    return evaluate_blocks(distance, len(qf), qp, gp, qc, gc, protocol=protocol, ranks=ranks,
                           block_size=blocks.block_size(block_elements), per_query=per_query,
                           reuse_buffer=not rerank, ranking=ranking)


def evaluate_distances(distmat, query_pids, gallery_pids, query_camids, gallery_camids, *,
                       protocol: str | Protocol = "market1501", ranks=RANKS, per_query: bool = False,
                       ranking: str = "auto") -> dict:
    """Metrics from a precomputed ``(Q, G)`` distance matrix (numpy or torch; lower is closer).

    Same protocols, outputs and errors as :func:`evaluate_features`.
    """
    dist = as_tensor(distmat)
    dist = dist if dist.dtype == torch.float64 else dist.float()
    if dist.dim() != 2:
        raise ValueError(f"distmat must be (Q, G), got shape {tuple(dist.shape)}")
    if not bool(torch.isfinite(dist).all()):
        raise ValueError("distmat contains NaN or infinite values")
    qp, gp, qc, gc = _check_ids(dist.shape[0], dist.shape[1], query_pids, gallery_pids, query_camids,
                                gallery_camids, dist.device)
    block = max(1, min(len(dist), BLOCK_ELEMENTS // max(1, dist.shape[1])))
    return evaluate_blocks(lambda rows: dist[rows].clone(memory_format=torch.contiguous_format), len(dist), qp, gp, qc, gc, protocol=protocol,
                           ranks=ranks, block_size=block, per_query=per_query, ranking=ranking)
