"""ReID losses on hand-computed cases."""
from __future__ import annotations

import math

import pytest
import torch

from lifelong_reid.losses import batch_hard_triplet_loss, identity_loss


def test_batch_hard_triplet_on_points_of_a_line():
    # labels a a b b at positions 0, 1, 3, 7
    x = torch.tensor([[0.0], [1.0], [3.0], [7.0]], requires_grad=True)
    y = torch.tensor([0, 0, 1, 1])
    # anchors: 0: d_ap=1, d_an=3 -> 0 ; 1: d_ap=1, d_an=2 -> 0 ; 3: d_ap=4, d_an=2 -> 2.3 ; 7: d_ap=4, d_an=6 -> 0
    loss = batch_hard_triplet_loss(x, y, margin=0.3)
    assert loss.item() == pytest.approx((0 + 0 + 2.3 + 0) / 4, abs=1e-5)
    loss.backward()
    assert x.grad.abs().sum() > 0
    soft = batch_hard_triplet_loss(x, y, margin=None)
    expected = sum(math.log1p(math.exp(a - n)) for a, n in ((1, 3), (1, 2), (4, 2), (4, 6))) / 4
    assert soft.item() == pytest.approx(expected, abs=1e-5)


def test_triplet_without_positive_pairs_is_zero_with_gradient():
    x = torch.randn(3, 4, requires_grad=True)
    loss = batch_hard_triplet_loss(x, torch.tensor([0, 1, 2]))
    assert loss.item() == 0.0 and loss.requires_grad


def test_identity_loss_label_smoothing_matches_the_formula():
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    logp = torch.log_softmax(logits, dim=1)[0]
    eps = 0.1
    expected = -((1 - eps) * logp[1] + eps / 3 * logp.sum())
    assert identity_loss(logits, torch.tensor([1]), eps).item() == pytest.approx(expected.item(), abs=1e-6)
