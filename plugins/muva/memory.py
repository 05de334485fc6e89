"""MUVA's prototypical memories (Sec. 3.1.2): visual prototypes per identity (VPM-1 for stage 1, VPM-2 for
stage 2 with the hardest-sample momentum update) and the textual memory (TPM).

Shapes: ``N`` samples, ``B`` batch, ``C`` identities, ``d`` feature size.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def class_centroids(features: torch.Tensor, labels: torch.Tensor, num_classes: int, *,
                    normalize_samples: bool = False) -> torch.Tensor:
    """``(C, d)`` L2-normalised class means of ``(N, d)`` features with ``(N,)`` labels (``-1`` skipped): VPM-1
    (raw features, ``normalize_samples=False``) and VPM-2 (per-sample normalised first, as the code's
    ``generate_cluster_features``). A class without samples gets a zero row.

    Raises:
        ValueError: a label ``>= num_classes``.
    """
    keep = labels >= 0
    features, labels = features[keep].float(), labels[keep].long()
    if len(labels) and int(labels.max()) >= num_classes:
        raise ValueError(f"label {int(labels.max())} >= {num_classes} classes")
    if normalize_samples:
        features = F.normalize(features, dim=1)
    sums = torch.zeros(num_classes, features.shape[1], device=features.device).index_add_(0, labels, features)
    return F.normalize(sums, dim=1)


@torch.no_grad()
def hardest_momentum_update(memory: torch.Tensor, features: torch.Tensor, labels: torch.Tensor,
                            momentum: float = 0.2) -> torch.Tensor:
    """Eq. 3 with the code's hard-sample rule (``losses/cm.py``, ``CM_Hard``): for each identity in the batch,
    the sample with the *lowest* cosine to its prototype ``x*`` updates ``M[y] <- gamma M[y] + (1 - gamma) x*``,
    then ``M[y]`` is renormalised. ``memory`` ``(C, d)`` is changed in place and returned; ``features``
    ``(B, d)`` are L2-normalised here (the code feeds normalised BN features)."""
    feats = F.normalize(features.detach().float(), dim=1).to(memory.dtype)
    sims = (feats * memory[labels]).sum(1)
    for y in labels.unique().tolist():
        idx = (labels == y).nonzero().flatten()
        hardest = idx[sims[idx].argmin()]
        memory[y] = F.normalize(momentum * memory[y] + (1 - momentum) * feats[hardest], dim=0)
    return memory
