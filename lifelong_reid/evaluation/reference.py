"""Slow, loop-per-query reference implementations, kept to check the fast paths against (tests) and to
time them against (``benchmarks/``). They follow the published evaluation code line by line in what they
compute, not in how: torchreid's / fast-reid's ``eval_market1501`` (numpy), AGW's ``eval_sysu`` /
``eval_regdb`` / ``eval_llcm``, and Zhong et al.'s k-reciprocal ``re_ranking``.

Shapes: ``distmat`` ``(Q, G)``; ids ``(Q,)`` / ``(G,)``.
"""
from __future__ import annotations

import numpy as np

from lifelong_reid.evaluation.protocols import get_protocol


def evaluate_numpy(distmat: np.ndarray, q_pids, g_pids, q_camids, g_camids, protocol="market1501",
                   max_rank: int = 20) -> dict:
    """mAP, CMC ranks 1/5/10/20 and mINP (percent) by sorting each row (``np.argsort``, stable).

    Protocol rules as in :mod:`~lifelong_reid.evaluation.protocols`; junk (pid -1) is ignored.

    Raises:
        ValueError: no valid query.
    """
    proto = get_protocol(protocol)
    q_pids, g_pids = np.asarray(q_pids), np.asarray(g_pids)
    q_camids, g_camids = np.asarray(q_camids), np.asarray(g_camids)
    indices = np.argsort(distmat, axis=1, kind="stable")
    cmc_all, ap_all, inp_all = [], [], []
    for i in range(len(distmat)):
        order = indices[i]
        pid, cam = q_pids[i], q_camids[i]
        keep = g_pids[order] != -1
        if proto.removal == "same_camera":
            keep &= ~((g_pids[order] == pid) & (g_camids[order] == cam))
        elif proto.removal == "sysu":
            keep &= ~((cam == 3) & (g_camids[order] == 2))
        raw = (g_pids[order][keep] == pid).astype(np.int64)
        if not raw.any():
            continue
        if proto.cmc == "distinct_ids":
            ranked = g_pids[order][keep]
            _, first_idx = np.unique(ranked, return_index=True)
            distinct = ranked[np.sort(first_idx)]
            hit = (distinct == pid).astype(np.int64).cumsum()
        else:
            hit = raw.cumsum()
        hit = np.minimum(hit, 1)
        if len(hit) < max_rank:
            hit = np.pad(hit, (0, max_rank - len(hit)), constant_values=hit[-1])
        cmc_all.append(hit[:max_rank])
        cum = raw.cumsum()
        last = np.max(np.where(raw == 1))
        inp_all.append(cum[last] / (last + 1.0))
        precision = cum / np.arange(1, len(raw) + 1.0)
        ap_all.append((precision * raw).sum() / raw.sum())
    if not ap_all:
        raise ValueError("no query has a valid gallery match")
    cmc = np.mean(np.asarray(cmc_all, dtype=np.float64), axis=0)
    out = {"mAP": 100.0 * float(np.mean(ap_all))}
    for k in (1, 5, 10, 20):
        if k <= max_rank:
            out[f"rank{k}"] = 100.0 * float(cmc[k - 1])
    out["mINP"] = 100.0 * float(np.mean(inp_all))
    out["num_valid_queries"] = len(ap_all)
    return out


def re_ranking_numpy(query_features, gallery_features, k1: int = 20, k2: int = 6, lambda_value: float = 0.3,
                     v_dtype=np.float16) -> np.ndarray:
    """Dense ``(Q, G)`` k-reciprocal re-ranked distances as the reference code computes them (``N x N``
    float32 distances, full ``argsort``, ``V`` in ``v_dtype`` -- float16 in the original)."""
    qf, gf = np.asarray(query_features, dtype=np.float32), np.asarray(gallery_features, dtype=np.float32)
    feat = np.concatenate([qf, gf])
    query_num, all_num = len(qf), len(feat)
    sq = (feat ** 2).sum(1, keepdims=True)
    original_dist = np.maximum(sq + sq.T - 2.0 * feat @ feat.T, 0).astype(np.float32)
    original_dist = np.transpose(original_dist / np.max(original_dist, axis=0))
    v = np.zeros_like(original_dist, dtype=v_dtype)
    initial_rank = np.argsort(original_dist, kind="stable").astype(np.int32)
    half = int(np.around(k1 / 2.0))
    for i in range(all_num):
        forward = initial_rank[i, :k1 + 1]
        backward = initial_rank[forward, :k1 + 1]
        recip = forward[np.where(backward == i)[0]]
        expansion = recip
        for candidate in recip:
            c_forward = initial_rank[candidate, :half + 1]
            c_backward = initial_rank[c_forward, :half + 1]
            c_recip = c_forward[np.where(c_backward == candidate)[0]]
            if len(np.intersect1d(c_recip, recip)) > 2.0 / 3 * len(c_recip):
                expansion = np.append(expansion, c_recip)
        expansion = np.unique(expansion)
        weight = np.exp(-original_dist[i, expansion])
        v[i, expansion] = weight / np.sum(weight)
    original_dist = original_dist[:query_num]
    if k2 != 1:
        v_qe = np.zeros_like(v, dtype=v_dtype)
        for i in range(all_num):
            v_qe[i, :] = np.mean(v[initial_rank[i, :k2], :], axis=0)
        v = v_qe
    del initial_rank
    inv_index = [np.where(v[:, i] != 0)[0] for i in range(all_num)]
    jaccard = np.zeros_like(original_dist, dtype=v_dtype)
    for i in range(query_num):
        temp_min = np.zeros(shape=[1, all_num], dtype=v_dtype)
        nonzero = np.where(v[i, :] != 0)[0]
        for j in nonzero:
            temp_min[0, inv_index[j]] = temp_min[0, inv_index[j]] + np.minimum(v[i, j], v[inv_index[j], j])
        jaccard[i] = 1 - temp_min / (2.0 - temp_min)
    final = jaccard * (1 - lambda_value) + original_dist * lambda_value
    return final[:query_num, query_num:]
