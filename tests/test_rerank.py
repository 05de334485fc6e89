"""k-reciprocal re-ranking equals the reference implementation (Zhong et al.'s, as torchreid ships it)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from lifelong_reid.evaluation.reference import re_ranking_numpy
from lifelong_reid.evaluation.rerank import KReciprocalReranker, k_reciprocal_distances


def reference_re_ranking(q_g_dist, q_q_dist, g_g_dist, k1=20, k2=6, lambda_value=0.3):
    """The loop-based reference algorithm, inputs are Euclidean (not squared) distances."""
    original_dist = np.concatenate([np.concatenate([q_q_dist, q_g_dist], axis=1),
                                    np.concatenate([q_g_dist.T, g_g_dist], axis=1)], axis=0)
    original_dist = np.power(original_dist, 2).astype(np.float32)
    original_dist = np.transpose(1.0 * original_dist / np.max(original_dist, axis=0))
    V = np.zeros_like(original_dist).astype(np.float32)
    initial_rank = np.argsort(original_dist, kind="stable").astype(np.int32)
    query_num = q_g_dist.shape[0]
    all_num = gallery_num = q_g_dist.shape[0] + q_g_dist.shape[1]
    for i in range(all_num):
        forward = initial_rank[i, :k1 + 1]
        backward = initial_rank[forward, :k1 + 1]
        k_reciprocal_index = forward[np.where(backward == i)[0]]
        expansion = k_reciprocal_index
        for candidate in k_reciprocal_index:
            h = int(np.around(k1 / 2.0))
            c_forward = initial_rank[candidate, :h + 1]
            c_backward = initial_rank[c_forward, :h + 1]
            c_recip = c_forward[np.where(c_backward == candidate)[0]]
            if len(np.intersect1d(c_recip, k_reciprocal_index)) > 2.0 / 3 * len(c_recip):
                expansion = np.append(expansion, c_recip)
        expansion = np.unique(expansion)
        weight = np.exp(-original_dist[i, expansion])
        V[i, expansion] = 1.0 * weight / np.sum(weight)
    original_dist = original_dist[:query_num]
    if k2 != 1:
        V_qe = np.zeros_like(V, dtype=np.float32)
        for i in range(all_num):
            V_qe[i, :] = np.mean(V[initial_rank[i, :k2], :], axis=0)
        V = V_qe
    inv_index = [np.where(V[:, i] != 0)[0] for i in range(gallery_num)]
    jaccard_dist = np.zeros_like(original_dist, dtype=np.float32)
    for i in range(query_num):
        temp_min = np.zeros(shape=[1, gallery_num], dtype=np.float32)
        nonzero = np.where(V[i, :] != 0)[0]
        for j in nonzero:
            temp_min[0, inv_index[j]] += np.minimum(V[i, j], V[inv_index[j], j])
        jaccard_dist[i] = 1 - temp_min / (2.0 - temp_min)
    final_dist = jaccard_dist * (1 - lambda_value) + original_dist * lambda_value
    return final_dist[:query_num, query_num:]


@pytest.mark.parametrize("backend", ["torch", "faiss"])
@pytest.mark.parametrize("seed, k1, k2", [(0, 20, 6), (1, 6, 3), (2, 10, 1)])
def test_equals_reference_on_random_features(seed, k1, k2, backend):
    rng = np.random.default_rng(seed)
    # clustered features so that reciprocal neighbourhoods are non-trivial
    centers = rng.normal(size=(12, 16))
    qf = (centers[rng.integers(0, 12, 18)] + 0.4 * rng.normal(size=(18, 16))).astype(np.float32)
    gf = (centers[rng.integers(0, 12, 70)] + 0.4 * rng.normal(size=(70, 16))).astype(np.float32)
    ref = reference_re_ranking(cdist(qf, gf), cdist(qf, qf), cdist(gf, gf), k1=k1, k2=k2)
    ours = k_reciprocal_distances(qf, gf, k1=k1, k2=k2, backend=backend).numpy()
    assert ours.shape == (18, 70)
    np.testing.assert_allclose(ours, ref, atol=2e-5)
    assert (np.argsort(ours, axis=1, kind="stable")[:, :10] == np.argsort(ref, axis=1, kind="stable")[:, :10]).mean() > 0.99


def test_blocks_of_queries_equal_the_whole_matrix():
    rng = np.random.default_rng(4)
    qf, gf = rng.normal(size=(23, 8)).astype(np.float32), rng.normal(size=(61, 8)).astype(np.float32)
    rr = KReciprocalReranker(qf, gf, k1=7, k2=3)
    whole = rr(slice(None)).numpy()
    parts = np.concatenate([rr(slice(s, s + 5)).numpy() for s in range(0, 23, 5)])
    np.testing.assert_array_equal(parts, whole)
    np.testing.assert_array_equal(rr(np.array([4, 0])).numpy(), whole[[4, 0]])


def test_shipped_reference_equals_the_test_reference():
    """The numpy reference the benchmarks time (float32 V) computes the same as the one above."""
    rng = np.random.default_rng(5)
    qf, gf = rng.normal(size=(15, 8)).astype(np.float32), rng.normal(size=(50, 8)).astype(np.float32)
    ref = reference_re_ranking(cdist(qf, gf), cdist(qf, qf), cdist(gf, gf))
    shipped = re_ranking_numpy(qf, gf, v_dtype=np.float32)
    np.testing.assert_allclose(shipped, ref, atol=2e-5)
    # the original float16 V moves distances by ~1e-3 at most
    np.testing.assert_allclose(re_ranking_numpy(qf, gf), ref, atol=3e-3)


def test_bad_parameters_are_errors():
    with pytest.raises(ValueError, match="k1 and k2"):
        k_reciprocal_distances(np.zeros((2, 3)), np.ones((4, 3)), k1=0)


def test_evaluate_features_with_rerank_ranks_by_the_reranked_distances():
    from lifelong_reid.evaluation import evaluate_features
    rng = np.random.default_rng(3)
    centers = rng.normal(size=(10, 8))
    qp, gp = rng.integers(0, 10, 20), rng.integers(0, 10, 80)
    qf = centers[qp] + 0.8 * rng.normal(size=(20, 8))
    gf = centers[gp] + 0.8 * rng.normal(size=(80, 8))
    qc, gc = np.zeros(20, int), np.ones(80, int)
    plain = evaluate_features(qf, gf, qp, gp, qc, gc)
    rr = evaluate_features(qf, gf, qp, gp, qc, gc, rerank=True)
    qn = qf / np.linalg.norm(qf, axis=1, keepdims=True)
    gn = gf / np.linalg.norm(gf, axis=1, keepdims=True)
    dist = reference_re_ranking(cdist(qn, gn), cdist(qn, qn), cdist(gn, gn))
    order = np.argsort(dist, axis=1, kind="stable")
    aps = []
    for i in range(20):
        match = gp[order[i]] == qp[i]
        hits = np.cumsum(match)
        aps.append((hits / np.arange(1, 81) * match).sum() / match.sum())
    assert rr["mAP"] == pytest.approx(100 * np.mean(aps), abs=1e-3)
    assert rr["mAP"] != plain["mAP"]
