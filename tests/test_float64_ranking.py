"""Rows whose float32 distances are below float32 resolution are ranked from float64 distances."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import lifelong_reid.evaluation.ranking as ranking
from lifelong_reid.evaluation import evaluate_features
from lifelong_reid.evaluation.ranking import BlockRanks, below_float32_resolution

METRICS = ("mAP", "rank1", "rank5", "rank10", "rank20", "mINP")


def collinear_case(spread: float, offset: float = 0.0, seed: int = 0):
    """Features ``base + spread * identity signal``: with a small spread every query-gallery cosine is
    ~1 - spread^2 (a model that barely separates people), as the tiny model's features on real Duke images."""
    rng = np.random.default_rng(seed)
    dim, ids = 64, 40
    centres = rng.normal(size=(ids, dim))
    gp, qp = np.repeat(np.arange(ids), 30), np.repeat(np.arange(ids), 2)
    gc, qc = np.tile([1, 2, 3], ids * 10), np.tile([4, 5], ids)
    base = rng.normal(size=dim) * 10 + offset

    def feats(p):
        signal = centres[p] + 1.2 * rng.normal(size=(len(p), dim))
        signal /= np.linalg.norm(signal, axis=1, keepdims=True)
        return (base + spread * np.linalg.norm(base) * signal).astype(np.float32)

    return feats(qp), feats(gp), qp, gp, qc, gc


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_collinear_float32_features_rank_as_their_float64_values(metric, monkeypatch):
    qf, gf, qp, gp, qc, gc = collinear_case(1e-3, offset=0.0 if metric == "cosine" else 300.0)
    exact = evaluate_features(qf.astype(np.float64), gf.astype(np.float64), qp, gp, qc, gc, metric=metric)
    got = evaluate_features(qf, gf, qp, gp, qc, gc, metric=metric)
    assert {k: got[k] for k in METRICS} == {k: exact[k] for k in METRICS}
    assert got["float64_queries"] == got["num_valid_queries"] == len(qp)
    assert exact["float64_queries"] == 0  # float64 features are ranked as they are
    monkeypatch.setattr(ranking, "STEPS_PER_IMAGE", 0)  # no recompute: the float32 values are too coarse
    coarse = evaluate_features(qf, gf, qp, gp, qc, gc, metric=metric)
    assert coarse["float64_queries"] == 0
    assert abs(coarse["mAP"] - exact["mAP"]) > 0.5


@pytest.mark.parametrize("engine", ["kernel", "torch"])
def test_separable_features_stay_float32(engine):
    qf, gf, qp, gp, qc, gc = collinear_case(1.0)
    got = evaluate_features(qf, gf, qp, gp, qc, gc, ranking=engine)
    exact = evaluate_features(qf.astype(np.float64), gf.astype(np.float64), qp, gp, qc, gc, ranking=engine)
    assert got["float64_queries"] == 0
    assert got["mAP"] == pytest.approx(exact["mAP"], abs=1e-9)


def test_the_resolution_rule_on_hand_made_rows():
    # rank of the hardest match: 4 in both rows; float32 step 1e-7; rule: span < 16 * 1e-7 * 4 = 6.4e-6
    block = BlockRanks(torch.tensor([[2, 4], [1, 4]]), torch.tensor([2, 2]), torch.zeros(2, dtype=torch.long))
    low = torch.tensor([0.5, 0.5], dtype=torch.float64)
    hardest = torch.tensor([0.5 + 6e-6, 0.5 + 7e-6], dtype=torch.float64)
    step = torch.full((2,), 1e-7, dtype=torch.float64)
    assert below_float32_resolution(block, low, step, hardest).tolist() == [True, False]
    no_match = BlockRanks(torch.tensor([[1, 2]]), torch.tensor([0]), torch.zeros(1, dtype=torch.long))
    assert below_float32_resolution(no_match, low[:1], step[:1], hardest[:1]).tolist() == [False]
