"""GraFT's losses: the augmented triplet loss (Sec. 4.3, Eq. 8, 11, 12) over any of the eight token
combinations (Table 8), and the centre loss with learnt centres (Eq. 9).

Shapes: ``B`` batch, ``D`` feature size, ``C`` identities.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

#: Token combinations for (anchor, positive, negative): ``f`` the fused token, ``d`` the sampled data token.
COMBOS = tuple(a + p + n for a in "fd" for p in "fd" for n in "fd")


def triplet_indices(targets: torch.Tensor, mining: str = "random", distances: Optional[torch.Tensor] = None,
                    generator: Optional[torch.Generator] = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(anchor, positive, negative)`` index triples, one per sample that has a positive and a negative in the
    batch.

    ``mining="random"`` (the code: explicit triplets, a random positive and negative per anchor); ``"hard"``:
    the farthest positive and the nearest negative by ``distances`` ``(B, B)`` (anchor rows, candidate columns).

    Raises:
        ValueError: an unknown ``mining``, or ``"hard"`` without ``distances``.
    """
    if mining not in ("random", "hard"):
        raise ValueError(f"triplet mining must be 'random' or 'hard', got {mining!r}")
    same = targets[:, None] == targets[None, :]
    eye = torch.eye(len(targets), dtype=torch.bool, device=targets.device)
    pos_mask, neg_mask = same & ~eye, ~same
    valid = pos_mask.any(1) & neg_mask.any(1)
    anchors = valid.nonzero().flatten()
    if mining == "hard":
        if distances is None:
            raise ValueError("hard mining needs the (B, B) distances")
        d = distances.detach()
        pos = d.masked_fill(~pos_mask, float("-inf")).argmax(1)
        neg = d.masked_fill(~neg_mask, float("inf")).argmin(1)
        return anchors, pos[anchors], neg[anchors]
    u = torch.rand(len(targets), len(targets), generator=generator).to(targets.device)
    pos = u.masked_fill(~pos_mask, -1.0).argmax(1)
    neg = u.masked_fill(~neg_mask, -1.0).argmax(1)
    return anchors, pos[anchors], neg[anchors]


def augmented_triplet_loss(fused: torch.Tensor, data: torch.Tensor, targets: torch.Tensor, combo: str = "ffd", *,
                           mining: str = "random", squared: bool = False,
                           generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Soft-margin triplet loss ``mean log(1 + exp(d(a, p) - d(a, n)))`` (Eq. 8) where anchor, positive and
    negative read the fused token ``f`` ``(B, D)`` or the data token ``d`` ``(B, D)`` (the modality-averaged
    token at a fixed index, Eq. 11-12) as ``combo`` says (``"ffd"``: GraFT's FFD; ``"fff"``: the standard
    triplet loss on the fused embedding).

    ``squared=False`` (the code: ``nn.PairwiseDistance``, Euclidean); ``True`` (the paper, Eq. 8: squared).
    Hard mining (``mining="hard"``) chooses positives and negatives by the anchor-to-candidate distances.

    Returns:
        scalar (0 when no sample has both a positive and a negative in the batch).

    Raises:
        ValueError: ``combo`` is not one of :data:`COMBOS`.
    """
    if combo not in COMBOS:
        raise ValueError(f"triplet combo must be one of {', '.join(COMBOS)}; got {combo!r}")
    pick = {"f": fused, "d": data}
    a, p, n = (pick[c] for c in combo)

    def dist(x, y):
        d = torch.cdist(x.float(), y.float())
        return d.pow(2) if squared else d

    anchors, pos, neg = triplet_indices(targets, mining, dist(a, p) if mining == "hard" else None, generator)
    if mining == "hard" and combo[1] != combo[2]:  # positives and negatives read different tokens
        neg = dist(a, n).detach().masked_fill(targets[:, None] == targets[None, :], float("inf")).argmin(1)[anchors]
    if len(anchors) == 0:
        return fused.sum() * 0.0
    d_ap = (a[anchors] - p[pos]).float().pow(2).sum(1)
    d_an = (a[anchors] - n[neg]).float().pow(2).sum(1)
    if not squared:
        d_ap, d_an = d_ap.clamp_min(1e-12).sqrt(), d_an.clamp_min(1e-12).sqrt()
    return F.softplus(d_ap - d_an).mean()


class CenterLoss(nn.Module):
    """Eq. 9: ``sum_j || f_j - c_{y_j} ||_2`` over the batch, with learnt centres ``(C, D)`` (a parameter the
    optimizer updates; GraFT's code kept them fixed, which the issue asks to correct). Centres start ~ N(0, 1)
    as the code's."""

    def __init__(self, num_classes: int, dim: int):
        super().__init__()
        self.centers = nn.Parameter(torch.randn(num_classes, dim))

    def forward(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``(B, D)`` features, ``(B,)`` targets -> scalar."""
        return (features.float() - self.centers[targets].float()).norm(dim=1).sum()
