"""FIRM's cross-modality cluster matching: exact OT equals the Hungarian permutation, entropic OT keeps its
marginals and approaches exact OT as the regularisation shrinks, unbalanced OT leaves a cluster with no
counterpart unmatched where balanced OT forces it onto someone, and PGM's second Hungarian pass matches every
visible cluster."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from lifelong_reid.errors import ConfigError
from lifelong_reid.plugins.firm.matching import match_clusters


def clusters(k=6, d=16, noise=0.1, seed=0):
    g = torch.Generator().manual_seed(seed)
    visible = F.normalize(torch.randn(k, d, generator=g), dim=1)
    perm = torch.randperm(k, generator=g)
    infrared = visible[perm] + noise * torch.randn(k, d, generator=g)
    return visible, infrared, perm  # infrared cluster j is visible cluster perm[j]


@pytest.mark.parametrize("method", ["emd", "sinkhorn", "unbalanced", "hungarian"])
def test_every_method_recovers_the_hidden_permutation(method):
    visible, infrared, perm = clusters()
    m = match_clusters(visible, infrared, method)
    assert torch.equal(m.infrared_to_visible, perm), method
    assert m.plan.shape == (6, 6)


def test_exact_ot_is_the_hungarian_permutation_and_sinkhorn_keeps_its_marginals():
    visible, infrared, _ = clusters(k=7, noise=0.8, seed=3)  # noisy: the assignment is not obvious
    cos = (F.normalize(visible.double(), dim=1) @ F.normalize(infrared.double(), dim=1).t()).numpy()
    rows, cols = linear_sum_assignment(1 - cos)
    emd = match_clusters(visible, infrared, "emd")
    assert torch.allclose(emd.plan * 7, torch.as_tensor(_perm_matrix(rows, cols, 7)), atol=1e-9)
    sk = match_clusters(visible, infrared, "sinkhorn", reg=0.05)
    assert torch.allclose(sk.plan.sum(1), torch.full((7,), 1 / 7, dtype=torch.float64), atol=1e-6)
    assert torch.allclose(sk.plan.sum(0), torch.full((7,), 1 / 7, dtype=torch.float64), atol=1e-6)
    sharp = match_clusters(visible, infrared, "sinkhorn", reg=0.02, max_iter=100000)
    assert (sharp.plan - emd.plan).abs().sum() < (sk.plan - emd.plan).abs().sum()
    assert torch.allclose(sk.soft_targets().sum(1), torch.ones(7, dtype=torch.float64))
    assert torch.allclose(sk.soft_targets(infrared=True), sk.plan.t() / sk.plan.sum(0)[:, None])


def _perm_matrix(rows, cols, k):
    p = np.zeros((k, k))
    p[rows, cols] = 1.0
    return p


def test_unbalanced_ot_leaves_a_cluster_without_counterpart_unmatched():
    visible, infrared, perm = clusters(k=5, d=16)
    stray = -visible.mean(0, keepdim=True)  # an infrared cluster unlike every visible one (e.g. one camera's)
    infrared = torch.cat([infrared, F.normalize(stray, dim=1)])
    balanced = match_clusters(visible, infrared, "sinkhorn", reg=0.05)
    unbalanced = match_clusters(visible, infrared, "unbalanced", reg=0.05, reg_m=0.05)
    # balanced transport must move the stray cluster's full share (1/6) from the visible clusters, polluting
    # their soft targets; unbalanced transport leaves most of it untransported
    assert balanced.plan[:, -1].sum() == pytest.approx(1 / 6, abs=1e-4)
    assert unbalanced.plan[:, -1].sum() < 0.2 * balanced.plan[:, -1].sum()
    assert unbalanced.soft_targets()[:, -1].max() < 0.5 * balanced.soft_targets()[:, -1].max()
    assert unbalanced.infrared_to_visible[-1] == -1
    assert torch.equal(unbalanced.infrared_to_visible[:-1], perm)


def test_pgm_hungarian_matches_every_visible_cluster_many_to_one():
    visible, infrared, _ = clusters(k=6)
    m = match_clusters(visible, infrared[:4], "hungarian")  # more visible than infrared clusters, as on SYSU
    assert m.plan.shape == (6, 4) and torch.equal(m.plan.sum(1), torch.ones(6, dtype=torch.float64))
    assert (m.infrared_to_visible >= 0).all()


def test_bad_inputs_are_named():
    with pytest.raises(ConfigError, match="method"):
        match_clusters(torch.zeros(2, 3), torch.zeros(2, 3), "greedy")
    with pytest.raises(ConfigError, match="centroids"):
        match_clusters(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ConfigError, match="sizes"):
        match_clusters(torch.randn(2, 3), torch.randn(2, 3), "sinkhorn", visible_sizes=torch.tensor([1.0, 0.0]))
