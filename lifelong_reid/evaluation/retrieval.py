"""Retrieval metrics: mAP, CMC (Rank-k) and mINP, computed from query and gallery features.

Shapes: ``Q`` queries, ``G`` gallery images, ``D`` feature size.

Protocol ``"market1501"`` (Zheng et al., ICCV 2015; also DukeMTMC-reID, MSMT17, CUHK03-NP): for each query,
gallery images of the same identity under the same camera are removed, junk (``pid == -1``) is ignored,
distractors (``pid == 0``) stay as negatives. A query without any valid match is skipped (as torchreid and
fast-reid do) and counted in ``num_valid_queries``.

Protocol ``"single_camera"`` (datasets with one camera, e.g. CUHK-SYSU in lifelong ReID): the same-camera
removal is skipped, since it would remove every match; junk is still ignored. This equals what DASK/LSTKC
code achieves by giving query and gallery distinct camera ids. Query and gallery must not share images.

Definitions (per valid query, ranks 1-based among the kept gallery images):
- AP: mean over its matches of precision at the match's rank;
- CMC@k: 1 if a match is at rank <= k;
- INP (Ye et al., TPAMI 2021, Eq. 2): ``num_matches / rank_of_hardest_match``.
All reported in percent.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from lifelong_reid.evaluation.rerank import k_reciprocal_distances

PROTOCOLS = ("market1501", "single_camera")
RANKS = (1, 5, 10, 20)


def _as_tensor(x, dtype=None) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    return t.to(dtype) if dtype is not None else t


def evaluate_features(query_features, gallery_features, query_pids, gallery_pids, query_camids,
                      gallery_camids, *, protocol: str = "market1501", normalize: bool = True,
                      ranks=RANKS, chunk_size: int = 512, rerank: bool = False, k1: int = 20, k2: int = 6,
                      lambda_value: float = 0.3) -> dict:
    """Metrics for ``(Q, D)`` query and ``(G, D)`` gallery features (numpy arrays or torch tensors).

    Args:
        query_pids, gallery_pids, query_camids, gallery_camids: ``(Q,)`` / ``(G,)`` integer ids.
        protocol: one of :data:`PROTOCOLS`.
        normalize: L2-normalise features first (distances are then Euclidean on the unit sphere, which
            ranks as cosine similarity).
        ranks: CMC ranks to report (``rank1``, ``rank5``, ...).
        chunk_size: queries per block; memory is ``O(chunk_size * G)``.
        rerank: rank by k-reciprocal re-ranked distances (:func:`~lifelong_reid.evaluation.rerank.
            k_reciprocal_distances`, with ``k1``, ``k2``, ``lambda_value``); memory is then ``O((Q + G)^2)``.

    Returns:
        ``{"mAP", "rank1", "rank5", "rank10", "rank20", "mINP"}`` in percent, plus ``num_valid_queries``.

    Raises:
        ValueError: unknown protocol, mismatched shapes, or no query with a valid match.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    qf, gf = _as_tensor(query_features, torch.float32), _as_tensor(gallery_features, torch.float32)
    gf = gf.to(qf.device)
    qp, gp = _as_tensor(query_pids, torch.long).to(qf.device), _as_tensor(gallery_pids, torch.long).to(qf.device)
    qc, gc = _as_tensor(query_camids, torch.long).to(qf.device), _as_tensor(gallery_camids, torch.long).to(qf.device)
    if qf.dim() != 2 or gf.dim() != 2 or qf.shape[1] != gf.shape[1]:
        raise ValueError(f"features must be (Q, D) and (G, D), got {tuple(qf.shape)} and {tuple(gf.shape)}")
    if len(qp) != len(qf) or len(qc) != len(qf) or len(gp) != len(gf) or len(gc) != len(gf):
        raise ValueError("one pid and one camid per query and gallery feature are required")
    if normalize:
        qf, gf = F.normalize(qf, dim=1), F.normalize(gf, dim=1)
    max_rank = max(ranks)
    ap_sum, inp_sum, valid_q = 0.0, 0.0, 0
    cmc_hits = torch.zeros(max_rank, dtype=torch.float64)
    g_sq = (gf * gf).sum(1)
    reranked = k_reciprocal_distances(qf, gf, k1, k2, lambda_value) if rerank else None
    for s in range(0, len(qf), chunk_size):
        q = qf[s:s + chunk_size]
        if reranked is not None:
            dist = reranked[s:s + chunk_size]
        else:
            dist = (q * q).sum(1, keepdim=True) + g_sq.unsqueeze(0) - 2.0 * q @ gf.t()
        order = torch.sort(dist, dim=1, stable=True).indices
        g_pid, g_cam = gp[order], gc[order]
        q_pid, q_cam = qp[s:s + chunk_size, None], qc[s:s + chunk_size, None]
        keep = g_pid != -1
        if protocol == "market1501":
            keep = keep & ~((g_pid == q_pid) & (g_cam == q_cam))
        match = (g_pid == q_pid) & keep
        rank = torch.cumsum(keep, dim=1)  # 1-based rank among kept gallery images
        num_rel = match.sum(1)
        has = num_rel > 0
        if not has.any():
            continue
        match, rank, num_rel = match[has], rank[has], num_rel[has]
        hits = torch.cumsum(match, dim=1)
        ap = (hits / rank.clamp_min(1) * match).sum(1) / num_rel
        big = torch.iinfo(torch.long).max
        first = torch.where(match, rank, big).min(1).values
        last = torch.where(match, rank, 0).max(1).values
        ap_sum += float(ap.double().sum())
        inp_sum += float((num_rel / last).double().sum())
        valid_q += int(has.sum())
        ks = torch.arange(1, max_rank + 1, device=first.device)
        cmc_hits += (first.unsqueeze(1) <= ks.unsqueeze(0)).double().sum(0).cpu()
    if valid_q == 0:
        raise ValueError("no query has a valid gallery match under the protocol (check pids and camids)")
    out = {"mAP": 100.0 * ap_sum / valid_q}
    for k in ranks:
        out[f"rank{k}"] = 100.0 * float(cmc_hits[k - 1]) / valid_q
    out["mINP"] = 100.0 * inp_sum / valid_q
    out["num_valid_queries"] = valid_q
    return out
