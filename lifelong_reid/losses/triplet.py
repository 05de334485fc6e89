"""Batch-hard triplet loss (Hermans et al., "In Defense of the Triplet Loss for Person Re-Identification",
arXiv:1703.07737, Eq. 5)."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F


def euclidean_distances(x: torch.Tensor) -> torch.Tensor:
    """``(B, D)`` -> ``(B, B)`` Euclidean distances (clamped at 1e-12 before the square root)."""
    sq = (x * x).sum(dim=1, keepdim=True)
    d2 = sq + sq.t() - 2.0 * (x @ x.t())
    return d2.clamp_min(1e-12).sqrt()


def batch_hard_triplet_loss(features: torch.Tensor, targets: torch.Tensor,
                            margin: Optional[float] = 0.3) -> torch.Tensor:
    """For each anchor, the hardest positive (farthest same label) and hardest negative (closest other
    label): ``mean(max(0, margin + d(a,p) - d(a,n)))``; soft margin ``log(1 + exp(d(a,p) - d(a,n)))`` when
    ``margin`` is ``None``.

    Args:
        features: ``(B, D)`` unnormalised features. targets: ``(B,)`` labels.

    Returns:
        scalar loss; 0 (with gradient) when the batch has no valid positive/negative pair.
    """
    dist = euclidean_distances(features.float())
    same = targets.unsqueeze(0) == targets.unsqueeze(1)
    eye = torch.eye(len(targets), dtype=torch.bool, device=targets.device)
    pos_mask, neg_mask = same & ~eye, ~same
    valid = pos_mask.any(1) & neg_mask.any(1)
    if not valid.any():
        return features.sum() * 0.0
    d_ap = dist.masked_fill(~pos_mask, float("-inf")).max(dim=1).values[valid]
    d_an = dist.masked_fill(~neg_mask, float("inf")).min(dim=1).values[valid]
    if margin is None:
        return F.softplus(d_ap - d_an).mean()
    return F.relu(margin + d_ap - d_an).mean()
