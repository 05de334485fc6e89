"""Looking at what AM-MSA learnt: the predicted part masks of images, their IoU with true (or pseudo-label)
part masks per part and per layer, and a figure of the masks over the images (the paper's Figure 7).

Shapes: ``L`` layers, ``B`` images, ``P`` parts, ``(gh, gw)`` grid, ``G = gh * gw``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch


@torch.no_grad()
def predict_masks(model, images: torch.Tensor) -> torch.Tensor:
    """``(L, B, P, G)`` the RMP's part probabilities ``sigmoid(M_l)`` for ``(B, 3, H, W)`` images.

    The model must carry the plugin relay (``strategy.model``, or a model given ``model.hook``) with an
    active ``muva`` plugin whose masks are ``ammsa``.

    Raises:
        ValueError: the forward pass recorded no mask logits (no active MUVA plugin with AM-MSA).
    """
    was_training = model.training
    model.eval()
    try:
        out = model(images)
    finally:
        model.train(was_training)
    logits = out["records"].get("muva_mask_logits")
    if not logits:
        raise ValueError("no mask logits were recorded: the model needs an active 'muva' plugin with masks='ammsa'")
    return torch.sigmoid(torch.stack(logits).float())


def mask_iou_table(probs: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """``(L, P)`` mean IoU over images of the thresholded ``(L, B, P, G)`` predictions with ``(B, P, G)``
    binary targets (the mask gate's rule: ``p > threshold``)."""
    from lifelong_reid.plugins.muva.parts import mask_iou

    return mask_iou(probs > threshold, target.bool().expand_as(probs)).mean(1)


def plot_masks(images: Sequence, probs: torch.Tensor, grid: tuple, path: Path, parts: Sequence[str],
               title: str = "") -> Path:
    """Draw each image beside its ``(B, P, G)`` last-layer part probabilities as overlays (one column per
    part), like the paper's Figure 7, into ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    b, p = len(images), len(parts)
    fig, axes = plt.subplots(b, p + 1, figsize=(1.3 * (p + 1), 2.3 * b), squeeze=False)
    for i, image in enumerate(images):
        arr = np.asarray(image.convert("RGB"))
        axes[i, 0].imshow(arr)
        for j in range(p):
            heat = probs[i, j].view(*grid).cpu().numpy()
            axes[i, j + 1].imshow(arr)
            axes[i, j + 1].imshow(heat, cmap="jet", alpha=0.45, vmin=0, vmax=1, interpolation="nearest",
                                  extent=(0, arr.shape[1], arr.shape[0], 0))
        for ax in axes[i]:
            ax.axis("off")
    for j, name in enumerate(("image", *parts)):
        axes[0, j].set_title(name, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
