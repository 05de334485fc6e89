"""Retrieval metrics: a hand-computed case for every protocol rule, and equality with a numpy reference."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lifelong_reid.evaluation import ReIDEvaluator, evaluate_features


def positions_to_features(xs):
    """1-D positions as 2-D features, so that unnormalised Euclidean distance is |x - y|."""
    return np.stack([np.asarray(xs, float), np.zeros(len(xs))], axis=1)


def hand_case():
    # query 0: pid 1 cam 0 at 0.0; query 1: pid 3 cam 0 (its only gallery match is on cam 0 -> skipped)
    qf = positions_to_features([0.0, 10.0])
    q_pids, q_cams = np.array([1, 3]), np.array([0, 0])
    # gallery, by distance to query 0:
    # 0.1 same pid same cam (removed), 0.2 other pid, 0.3 match, 0.35 junk (ignored), 0.4 distractor, 0.5 match
    gf = positions_to_features([0.1, 0.2, 0.3, 0.35, 0.4, 0.5, 10.1])
    g_pids = np.array([1, 2, 1, -1, 0, 1, 3])
    g_cams = np.array([0, 1, 1, 1, 1, 2, 0])
    return qf, gf, q_pids, g_pids, q_cams, g_cams


def test_hand_computed_market_protocol():
    m = evaluate_features(*hand_case(), metric="euclidean")
    # kept ranking for query 0: other(1) match(2) distractor(3) match(4)
    assert m["num_valid_queries"] == 1
    assert m["mAP"] == pytest.approx(100 * (1 / 2 + 2 / 4) / 2)
    assert m["rank1"] == 0.0
    assert m["rank5"] == 100.0
    assert m["mINP"] == pytest.approx(100 * 2 / 4)


def test_same_camera_same_pid_is_excluded_from_gallery():
    qf, gf, qp, gp, qc, gc = hand_case()
    gc = gc.copy()
    gc[0] = 1  # the nearest image becomes a cross-camera match
    m = evaluate_features(qf, gf, qp, gp, qc, gc, metric="euclidean")
    assert m["rank1"] == 100.0
    assert m["mAP"] == pytest.approx(100 * (1 / 1 + 2 / 3 + 3 / 5) / 3)


def test_junk_is_ignored_and_distractors_count_as_negatives():
    qf, gf, qp, gp, qc, gc = hand_case()
    gp = gp.copy()
    gp[3] = 2  # junk becomes a real negative at rank 3 -> the second match drops to rank 5
    m = evaluate_features(qf, gf, qp, gp, qc, gc, metric="euclidean")
    assert m["mAP"] == pytest.approx(100 * (1 / 2 + 2 / 5) / 2)


def test_accepts_tensors_and_normalises():
    qf, gf, qp, gp, qc, gc = hand_case()
    a = evaluate_features(qf * 3.0 + 1.0, gf * 3.0 + 1.0, qp, gp, qc, gc)
    b = evaluate_features(torch.tensor(qf * 3.0 + 1.0), torch.tensor(gf * 3.0 + 1.0), torch.tensor(qp),
                          torch.tensor(gp), torch.tensor(qc), torch.tensor(gc))
    assert a == b


def test_no_valid_query_is_an_error():
    qf, gf, qp, gp, qc, gc = hand_case()
    with pytest.raises(ValueError, match="no query has a valid"):
        evaluate_features(qf[1:], gf[-1:], qp[1:], gp[-1:], qc[1:], gc[-1:])


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="features must be"):
        evaluate_features(np.zeros((2, 3)), np.zeros((2, 4)), [1, 2], [1, 2], [0, 0], [1, 1])


def reference_market1501(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=20):
    """The numpy loop of torchreid's ``eval_market1501`` (plus mINP as fast-reid), junk pid -1 ignored."""
    indices = np.argsort(distmat, axis=1, kind="stable")
    all_cmc, all_ap, all_inp = [], [], []
    for i in range(len(q_pids)):
        order = indices[i]
        remove = ((g_pids[order] == q_pids[i]) & (g_camids[order] == q_camids[i])) | (g_pids[order] == -1)
        raw = (g_pids[order] == q_pids[i]).astype(np.int32)[~remove]
        if not raw.any():
            continue
        cmc = raw.cumsum()
        pos_max = np.where(raw == 1)[0].max()
        all_inp.append(cmc[pos_max] / (pos_max + 1.0))
        cmc[cmc > 1] = 1
        cmc = np.pad(cmc, (0, max(0, max_rank - len(cmc))), constant_values=1)
        all_cmc.append(cmc[:max_rank])
        tmp = raw.cumsum() / (np.arange(len(raw)) + 1.0)
        all_ap.append((tmp * raw).sum() / raw.sum())
    return np.mean(all_cmc, axis=0) * 100, np.mean(all_ap) * 100, np.mean(all_inp) * 100


@pytest.mark.parametrize("seed", range(5))
def test_equals_numpy_reference_on_random_cases(seed):
    rng = np.random.default_rng(seed)
    q, g, d = 40, 300, 16
    qp, gp = rng.integers(1, 15, q), rng.integers(-1, 15, g)
    qc, gc = rng.integers(0, 4, q), rng.integers(0, 4, g)
    qf, gf = rng.normal(size=(q, d)), rng.normal(size=(g, d))
    qn = qf / np.linalg.norm(qf, axis=1, keepdims=True)
    gn = gf / np.linalg.norm(gf, axis=1, keepdims=True)
    dist = ((qn[:, None, :] - gn[None, :, :]) ** 2).sum(-1)
    cmc, mAP, mINP = reference_market1501(dist, qp, gp, qc, gc)
    m = evaluate_features(qf, gf, qp, gp, qc, gc, block_elements=7 * 300)
    assert m["mAP"] == pytest.approx(mAP, abs=1e-6)
    assert m["mINP"] == pytest.approx(mINP, abs=1e-6)
    for k in (1, 5, 10, 20):
        assert m[f"rank{k}"] == pytest.approx(cmc[k - 1], abs=1e-6)


def test_evaluator_collects_batches():
    qf, gf, qp, gp, qc, gc = hand_case()
    ev = ReIDEvaluator()
    ev.process(torch.tensor(qf), qp, qc, split="query")
    ev.process(torch.tensor(gf[:3]), gp[:3], gc[:3], split="gallery")
    ev.process(torch.tensor(gf[3:]), gp[3:], gc[3:], split="gallery")
    assert ev.evaluate() == evaluate_features(qf.astype(np.float32), gf.astype(np.float32), qp, gp, qc, gc)
    ev.reset()
    with pytest.raises(ValueError, match="process"):
        ev.evaluate()


def test_single_camera_protocol_keeps_same_camera_matches():
    qf, gf, qp, gp, qc, gc = hand_case()
    m = evaluate_features(qf, gf, qp, gp, qc, gc, metric="euclidean", protocol="single_camera")
    # query 0 ranking: match(1) other(2) match(3) distractor(4) match(5); junk still ignored
    assert m["num_valid_queries"] == 2  # query 1's same-camera match now counts
    ap0 = (1 / 1 + 2 / 3 + 3 / 5) / 3
    assert m["mAP"] == pytest.approx(100 * (ap0 + 1.0) / 2)
    assert m["rank1"] == 100.0
    with pytest.raises(ValueError, match="unknown protocol"):
        evaluate_features(qf, gf, qp, gp, qc, gc, protocol="sysu")
