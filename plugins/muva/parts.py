"""Part pseudo-labels for MUVA's AM-MSA (Sec. 3.2.3, Fig. 5-6): part boxes -> calibrated boxes -> binary
masks on the patch grid.

Shapes: ``B`` images, ``P`` parts (``head, upper, legs`` in that order), ``(gh, gw)`` patch grid,
``G = gh * gw`` patches (row-major, as the encoder's patch tokens), boxes ``x0, y0, x1, y1`` in pixels of the
image the encoder sees (``(H, W)``), NaN rows for a part without a box.

The paper describes calibration qualitatively ("extremely large or small boxes are rectified with stripe-like
windows that focus on the top, middle or bottom areas"); its released code does not contain the step. Ours:
per part, the box heights (as a fraction of the image height) of the training set give a median and a robust
spread (1.4826 x the median absolute deviation); a box whose height lies more than ``k`` spreads from the
median, or a missing box, becomes that part's stripe window (full width; rows :data:`STRIPES`). The paper's
voting ("a patch is 1 if the box covers it") is read as: covered over at least ``cover`` of the patch's area.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

#: The parts MUVA grounds, in the order of its local tokens and of ``batch.side["part_boxes"]``.
PARTS = ("head", "upper", "legs")
#: Stripe windows ``(top, bottom)`` as fractions of the image height: the top, middle and bottom thirds
#: (the fixed-stripe partition of the paper's Table 8, and the calibration's fallback).
STRIPES = {"head": (0.0, 1 / 3), "upper": (1 / 3, 2 / 3), "legs": (2 / 3, 1.0)}


def stripe_boxes(parts: Sequence[str], image_size: tuple) -> torch.Tensor:
    """``(P, 4)`` the stripe window of each part for an ``(H, W)`` image."""
    h, w = image_size
    return torch.tensor([[0.0, STRIPES[p][0] * h, float(w), STRIPES[p][1] * h] for p in parts])


@dataclass
class HeightStatistics:
    """Per-part statistics of normalised box heights (``(y1 - y0) / H``) over a training set.

    Attributes:
        median: ``(P,)``. spread: ``(P,)`` 1.4826 x median absolute deviation (a robust standard deviation;
            floored at 0.01 so that identical boxes do not reject every other box).
        count: ``(P,)`` boxes seen per part.
    """

    median: torch.Tensor
    spread: torch.Tensor
    count: torch.Tensor

    @classmethod
    def fit(cls, boxes: torch.Tensor, image_height: float) -> "HeightStatistics":
        """From ``(N, P, 4)`` boxes (NaN rows skipped) of images ``image_height`` pixels high."""
        heights = (boxes[..., 3] - boxes[..., 1]) / image_height
        med, spread, count = [], [], []
        for p in range(boxes.shape[1]):
            h = heights[:, p][~torch.isnan(heights[:, p])]
            if len(h) == 0:
                med.append(float("nan")), spread.append(float("nan")), count.append(0)
                continue
            m = h.median()
            med.append(float(m))
            spread.append(max(float(1.4826 * (h - m).abs().median()), 0.01))
            count.append(len(h))
        return cls(torch.tensor(med), torch.tensor(spread), torch.tensor(count))

    def state_dict(self) -> dict:
        return {"median": self.median, "spread": self.spread, "count": self.count}

    @classmethod
    def from_state(cls, state: dict) -> "HeightStatistics":
        return cls(state["median"], state["spread"], state["count"])


def calibrate_boxes(boxes: torch.Tensor, stats: HeightStatistics, image_size: tuple, k: float = 3.0,
                    parts: Sequence[str] = PARTS) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace outlier and missing boxes by their part's stripe window.

    Args:
        boxes: ``(B, P, 4)`` in pixels of ``(H, W)`` images (NaN: no box).
        stats: the training set's :class:`HeightStatistics` (the same parts).
        image_size: ``(H, W)``. k: spreads from the median beyond which a box is an outlier.

    Returns:
        ``(B, P, 4)`` calibrated boxes and ``(B, P)`` bool: which were replaced.
    """
    h = image_size[0]
    heights = (boxes[..., 3] - boxes[..., 1]) / h
    med, spread = stats.median.to(boxes.device), stats.spread.to(boxes.device)
    outlier = (heights - med).abs() > k * spread
    replace = torch.isnan(heights) | outlier | torch.isnan(med).expand_as(heights)
    stripes = stripe_boxes(parts, image_size).to(boxes)
    return torch.where(replace[..., None], stripes.expand_as(boxes), boxes), replace


def vote_patches(boxes: torch.Tensor, grid: tuple, image_size: tuple, cover: float = 0.5) -> torch.Tensor:
    """Binary voting (Fig. 6): ``(B, P, 4)`` boxes -> ``(B, P, G)`` float masks, 1 where the box covers at
    least ``cover`` of a patch cell (cells tile the image: ``H / gh`` x ``W / gw`` pixels). NaN boxes give 0.
    """
    gh, gw = grid
    h, w = image_size
    ys = torch.arange(gh + 1, dtype=torch.float32, device=boxes.device) * h / gh
    xs = torch.arange(gw + 1, dtype=torch.float32, device=boxes.device) * w / gw
    x0, y0, x1, y1 = (boxes[..., i, None].float() for i in range(4))
    oy = (torch.minimum(y1, ys[1:]) - torch.maximum(y0, ys[:-1])).clamp_min(0) / (h / gh)  # (B, P, gh)
    ox = (torch.minimum(x1, xs[1:]) - torch.maximum(x0, xs[:-1])).clamp_min(0) / (w / gw)  # (B, P, gw)
    frac = (oy[..., :, None] * ox[..., None, :]).flatten(-2)  # (B, P, G)
    return (torch.nan_to_num(frac, nan=0.0) >= cover).float()


def patch_mask_targets(boxes: torch.Tensor, grid: tuple, image_size: tuple, stats: HeightStatistics, *,
                       k: float = 3.0, cover: float = 0.5, parts: Sequence[str] = PARTS) -> torch.Tensor:
    """``(B, P, 4)`` raw boxes -> ``(B, P, G)`` pseudo-label masks: :func:`calibrate_boxes`, then
    :func:`vote_patches`."""
    calibrated, _ = calibrate_boxes(boxes, stats, image_size, k, parts)
    return vote_patches(calibrated, grid, image_size, cover)


def stripe_targets(batch_size: int, grid: tuple, image_size: tuple, parts: Sequence[str] = PARTS,
                   device=None) -> torch.Tensor:
    """``(B, P, G)`` the fixed stripe masks (Table 8's stripe partition)."""
    boxes = stripe_boxes(parts, image_size).to(device)
    return vote_patches(boxes.expand(batch_size, -1, -1), grid, image_size)


def mask_iou(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Intersection over union of binary masks over the last axis: ``(..., G)`` x ``(..., G)`` -> ``(...)``
    (1 where both are empty)."""
    p, t = pred.bool(), target.bool()
    inter = (p & t).sum(-1).float()
    union = (p | t).sum(-1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(inter))
