"""Identity (classification) loss."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def identity_loss(logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.1) -> torch.Tensor:
    """Cross-entropy with label smoothing (Szegedy et al., CVPR 2016; BoT's ``epsilon=0.1``).

    Args:
        logits: ``(B, C)``. targets: ``(B,)`` labels in ``[0, C)``.

    Returns:
        scalar mean loss.
    """
    return F.cross_entropy(logits.float(), targets, label_smoothing=label_smoothing)
