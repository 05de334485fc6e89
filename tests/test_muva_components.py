"""MUVA's components against hand-computed values and reference implementations: patch voting, box
calibration, mask gating, the RMP's cross-attention, the mask loss (both dice forms), the memories."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lifelong_reid.plugins.muva.ammsa import PartCrossAttention, ResidualMaskPrediction, gate_attention_mask
from lifelong_reid.plugins.muva.losses import mask_dice_loss, mask_loss
from lifelong_reid.plugins.muva.memory import class_centroids, hardest_momentum_update
from lifelong_reid.plugins.muva.parts import (HeightStatistics, calibrate_boxes, mask_iou, stripe_targets,
                                              vote_patches)

NAN = float("nan")


# --------------------------------------------------------------------------- pseudo-labels


def test_voting_marks_the_cells_a_box_covers_by_at_least_the_cover_fraction():
    # a 64 x 32 image on a (4, 2) grid: 16 x 16 cells, row-major
    box = torch.tensor([[[0.0, 0.0, 16.0, 24.0], [8.0, 48.0, 32.0, 64.0], [NAN, NAN, NAN, NAN]]])
    m = vote_patches(box, (4, 2), (64, 32), cover=0.5)
    assert m.shape == (1, 3, 8)
    # box 0: cell (0,0) fully, cell (1,0) half covered -> both in at cover 0.5
    assert m[0, 0].tolist() == [1, 0, 1, 0, 0, 0, 0, 0]
    # box 1: cells (3,0) half (x 8..16 of 0..16) and (3,1) fully
    assert m[0, 1].tolist() == [0, 0, 0, 0, 0, 0, 1, 1]
    assert m[0, 2].sum() == 0  # no box, no patch
    strict = vote_patches(box, (4, 2), (64, 32), cover=0.6)
    assert strict[0, 0].tolist() == [1, 0, 0, 0, 0, 0, 0, 0]
    assert strict[0, 1].tolist() == [0, 0, 0, 0, 0, 0, 0, 1]


def test_height_statistics_are_the_median_and_scaled_mad_per_part():
    heights = torch.tensor([10.0, 12.0, 14.0, 40.0])  # out of 100 pixels
    boxes = torch.zeros(4, 1, 4)
    boxes[:, 0, 3] = heights
    boxes = torch.cat([boxes, torch.full((4, 1, 4), NAN)], dim=1)  # a part nobody has
    stats = HeightStatistics.fit(boxes, 100.0)
    # torch's median of an even count is the lower middle value: 0.12; |h - 0.12| = .02 .00 .02 .28 -> 0.02
    assert stats.median[0].item() == pytest.approx(0.12)
    assert stats.spread[0].item() == pytest.approx(1.4826 * 0.02)
    assert stats.count.tolist() == [4, 0]
    assert math.isnan(stats.median[1].item())


def test_calibration_replaces_outlier_and_missing_boxes_by_the_stripe_and_keeps_the_rest():
    stats = HeightStatistics(torch.tensor([0.2, 0.3, 0.4]), torch.tensor([0.02, 0.02, 0.02]), torch.tensor([9, 9, 9]))
    boxes = torch.tensor([[[4.0, 0.0, 28.0, 13.0],     # head 13/64 = 0.203: kept
                           [0.0, 10.0, 32.0, 64.0],    # upper 54/64 = 0.84: outlier -> middle third
                           [NAN, NAN, NAN, NAN]]])     # legs missing -> bottom third
    out, replaced = calibrate_boxes(boxes, stats, (64, 32), k=3.0)
    assert replaced.tolist() == [[False, True, True]]
    assert out[0, 0].tolist() == boxes[0, 0].tolist()
    assert out[0, 1].tolist() == pytest.approx([0.0, 64 / 3, 32.0, 128 / 3])
    assert out[0, 2].tolist() == pytest.approx([0.0, 128 / 3, 32.0, 64.0])


def test_stripes_tile_the_grid_and_iou_is_exact():
    s = stripe_targets(2, (6, 2), (60, 20))
    assert s.shape == (2, 3, 12)
    assert s[0].sum(0).tolist() == [1.0] * 12  # each patch in exactly one stripe
    assert s[0, 0].tolist() == [1, 1, 1, 1] + [0] * 8
    a = torch.tensor([1, 1, 0, 0.0])
    b = torch.tensor([0, 1, 1, 0.0])
    assert mask_iou(a, b).item() == pytest.approx(1 / 3)
    assert mask_iou(torch.zeros(4), torch.zeros(4)).item() == 1.0


# --------------------------------------------------------------------------- AM-MSA


def test_gating_mask_structure_code_and_paper_forms():
    # tokens: [cls, p0, p1, p2, p3, l0, l1]; part 0 may see patches 0,1; part 1 sees nothing
    allowed = torch.tensor([[[True, True, False, False], [False, False, False, False]]])
    m = gate_attention_mask(allowed, 7, local=(5, 7), patches=(1, 5), symmetric=True)
    inf = float("-inf")
    assert m.shape == (1, 7, 7)
    assert m[0, 0].tolist() == [0.0] * 7                      # CLS sees everything
    assert m[0, 5].tolist() == [0, 0, 0, inf, inf, 0, inf]     # l0: cls, p0, p1, itself
    assert m[0, 6].tolist() == [0, inf, inf, inf, inf, inf, 0]  # l1 (empty part): cls and itself only
    assert m[0, 1].tolist() == [0, 0, 0, 0, 0, 0, inf]         # p0 sees l0 (its part), not l1
    assert m[0, 3].tolist() == [0, 0, 0, 0, 0, inf, inf]
    paper = gate_attention_mask(allowed, 7, local=(5, 7), patches=(1, 5), symmetric=False)
    assert paper[0, 5].tolist() == [0, 0, 0, inf, inf, 0, 0]
    assert paper[0, 1].tolist() == [0.0] * 7                  # patches are not gated in the paper's form
    for mask in (m, paper):  # no row is fully blocked: softmax never gives NaN
        assert torch.isfinite(mask).any(-1).all()
        assert not torch.isnan(torch.softmax(torch.randn(1, 7, 7) + mask, -1)).any()


def test_part_cross_attention_equals_torch_multihead_attention():
    torch.manual_seed(0)
    mine = PartCrossAttention(16, 4)
    ref = nn.MultiheadAttention(16, 4, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([mine.q.weight, mine.k.weight, mine.v.weight]))
        ref.in_proj_bias.zero_()
        ref.out_proj.weight.copy_(mine.out.weight)
        ref.out_proj.bias.copy_(mine.out.bias)
    q, kv = torch.randn(2, 3, 16), torch.randn(2, 10, 16)
    assert torch.allclose(mine(q, kv), ref(q, kv, kv, need_weights=False)[0], atol=1e-6)
    with pytest.raises(ValueError, match="rmp_heads"):
        PartCrossAttention(10, 4)


def test_residual_mask_prediction_accumulates_logits_over_layers():
    torch.manual_seed(0)
    rmp = ResidualMaskPrediction(16, 8, layers=3, heads=2, hidden=12)
    local, patches = torch.randn(2, 3, 16), torch.randn(2, 8, 16)
    m0 = rmp(0, local, patches, None)
    m1 = rmp(1, local, patches, m0)
    assert m0.shape == (2, 3, 8)
    assert torch.allclose(m1, m0 + rmp.predictors[1](local, patches))


# --------------------------------------------------------------------------- mask loss


def test_row_dice_matches_the_code_formula_by_hand():
    prob = torch.tensor([[[[0.5, 0.5, 0.0, 0.0]]]])  # (L=1, B=1, P=1, G=4)
    target = torch.tensor([[[1.0, 0.0, 0.0, 0.0]]])
    inter = 2 * 0.5 / 1000 + 1e-6
    total = (1.0 + 1.0) / 1000 + 1e-6
    assert mask_dice_loss(prob, target, "row").item() == pytest.approx(1 - inter / total, abs=1e-6)
    # element-wise (paper Eq. 8): elements (0.5,1): 1 - 1/1.5; (0.5,0): 1; (0,0): 0; (0,0): 0
    expected = (1 - (1.0 + 1e-6) / (1.5 + 1e-6) + 1 - 1e-6 / (0.5 + 1e-6) + 0 + 0) / 4
    assert mask_dice_loss(prob, target, "elementwise").item() == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ValueError, match="dice form"):
        mask_dice_loss(prob, target, "hard")


def test_mask_loss_is_bce_plus_dice_over_every_layer():
    torch.manual_seed(0)
    logits = torch.randn(3, 2, 3, 8)
    target = (torch.rand(2, 3, 8) > 0.5).float()
    bce = F.binary_cross_entropy(torch.sigmoid(logits), target.expand_as(logits))
    dice = mask_dice_loss(torch.sigmoid(logits), target, "row")
    assert mask_loss(logits, target).item() == pytest.approx((bce + dice).item(), rel=1e-5)
    assert mask_loss(logits, target, bce_weight=0.0).item() == pytest.approx(dice.item(), rel=1e-5)
    perfect = (target * 40 - 20).expand_as(logits)
    assert mask_loss(perfect, target, "elementwise").item() < 5e-3  # the 1e-6 smoothing of empty elements


# --------------------------------------------------------------------------- memories


def test_centroids_are_normalised_class_means():
    feats = torch.tensor([[3.0, 0.0], [1.0, 0.0], [0.0, 2.0], [5.0, 5.0]])
    labels = torch.tensor([0, 0, 1, -1])
    c = class_centroids(feats, labels, 3)
    assert c.tolist() == [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    feats = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
    raw = class_centroids(feats, torch.tensor([0, 0]), 1)
    per_sample = class_centroids(feats, torch.tensor([0, 0]), 1, normalize_samples=True)
    assert raw[0].tolist() == pytest.approx([3 / math.sqrt(10), 1 / math.sqrt(10)])
    assert per_sample[0].tolist() == pytest.approx([1 / math.sqrt(2), 1 / math.sqrt(2)])
    with pytest.raises(ValueError):
        class_centroids(feats, torch.tensor([0, 4]), 2)


def test_the_hardest_sample_of_each_identity_updates_its_prototype():
    memory = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    feats = torch.tensor([[1.0, 0.1], [0.6, 0.8], [0.0, 1.0]])  # id 0: the second is the hardest
    hardest_momentum_update(memory, feats, torch.tensor([0, 0, 1]), momentum=0.2)
    expected0 = F.normalize(0.2 * torch.tensor([1.0, 0.0]) + 0.8 * torch.tensor([0.6, 0.8]), dim=0)
    assert memory[0].tolist() == pytest.approx(expected0.tolist())
    assert memory[1].tolist() == pytest.approx([0.0, 1.0])
