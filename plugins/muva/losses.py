"""MUVA's mask loss (Eq. 8-9). The prototype contrasts (Eq. 1, 2, 4) are
:func:`lifelong_reid.losses.image_to_text_loss` against a memory (see :mod:`.plugin`).

Shapes: ``L`` layers, ``B`` images, ``P`` parts, ``G`` patches.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

#: Dice forms: ``"row"`` (the code, ``losses/mask_loss.py``: a soft dice per (layer, image, part) row over
#: the patches) and ``"elementwise"`` (the paper, Eq. 8: ``1 - 2 M G / (M + G)`` per element, averaged).
DICE_FORMS = ("row", "elementwise")


def mask_dice_loss(prob: torch.Tensor, target: torch.Tensor, form: str = "row") -> torch.Tensor:
    """Dice loss of ``(L, B, P, G)`` probabilities against ``(B, P, G)`` (or same-shape) binary targets.

    ``"row"`` (code): ``1 - mean_{l,b,p} (2 sum_g p g / 1000 + 1e-6) / ((sum_g p + sum_g g) / 1000 + 1e-6)``.
    ``"elementwise"`` (paper Eq. 8): ``mean_{l,b,p,g} (1 - (2 p g + 1e-6) / (p + g + 1e-6))`` (the ``1e-6``
    makes an element with ``p = g = 0`` cost nothing rather than 0/0).

    Raises:
        ValueError: an unknown ``form``.
    """
    target = target.to(prob.dtype).expand_as(prob)
    if form == "row":
        inter = 2 * (prob * target).sum(-1) / 1000 + 1e-6
        total = (prob.sum(-1) + target.sum(-1)) / 1000 + 1e-6
        return 1 - (inter / total).mean()
    if form == "elementwise":
        return (1 - (2 * prob * target + 1e-6) / (prob + target + 1e-6)).mean()
    raise ValueError(f"dice form must be one of {DICE_FORMS}, got {form!r}")


def mask_loss(logits: torch.Tensor, target: torch.Tensor, dice: str = "row", bce_weight: float = 1.0,
              dice_weight: float = 1.0) -> torch.Tensor:
    """``L_mask = L_bce + L_dice`` (Eq. 9) over every layer's residual mask logits.

    Args:
        logits: ``(L, B, P, G)`` the RMP logits ``M_l`` (before the sigmoid).
        target: ``(B, P, G)`` pseudo-label masks in ``{0, 1}``.
        dice: :data:`DICE_FORMS`. bce_weight, dice_weight: the terms' weights (both 1 in the paper).

    Returns:
        scalar: BCE (with logits, mean over all elements, Eq. 8 top) + dice.
    """
    target = target.to(logits.dtype).expand_as(logits)
    bce = F.binary_cross_entropy_with_logits(logits.float(), target.float())
    return bce_weight * bce + dice_weight * mask_dice_loss(torch.sigmoid(logits.float()), target.float(), dice)
