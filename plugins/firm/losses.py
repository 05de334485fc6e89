"""FIRM's losses (the abstract names them; the formulas are this library's, grounded in the public methods).

Shapes: ``B`` batch, ``D`` feature size, ``Kv`` / ``Ki`` visible / infrared clusters, ``C`` clusters in the
batch, ``E`` text embedding size.

- :func:`cluster_nce`: intra-modal cluster contrast, ``-log softmax(f . M^T / tau)[y]`` (ClusterContrast, as
  in ADCA and PGM, tau 0.05);
- :func:`ot_weighted_infonce`: the cross-modal InfoNCE against the other modality's memory whose target is
  the row of the normalised transport plan of the sample's cluster,
  ``-sum_j T[y, j] log softmax(f . M_other^T / tau)_j`` (InfoNCE is a one-step entropic-OT projection,
  arXiv 2502.20141, so the plan is its natural soft target); with a one-hot ``T`` (Hungarian) it is PGM's
  cross-modal ClusterNCE;
- :func:`alignment_loss`: the multi-layer alignment regularizer, an image-to-text InfoNCE between each
  injected layer's projected CLS token and the text embeddings of the batch's clusters (CLIP's loss, one per
  layer, averaged);
- :func:`uniformity_loss` and :func:`compactness_loss`: the geometric cluster regularizer, the uniformity of
  the batch's cluster means on the sphere (Wang & Isola, ICML 2020: ``log mean exp(-t ||c_i - c_j||^2)``,
  ``t = 2``) and the compactness of instances (squared distance of each feature to its cluster's prototype).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def cluster_nce(features: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """ClusterNCE: cross-entropy of ``(B, K)`` memory logits (``cos / tau``) to the ``(B,)`` cluster labels;
    samples labelled ``-1`` are left out (a zero with a graph when none is left)."""
    keep = labels >= 0
    if not keep.any():
        return features.sum() * 0.0
    return F.cross_entropy(logits[keep], labels[keep])


def ot_weighted_infonce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``-sum_j T_j log softmax(logits)_j`` averaged over samples whose target row has mass.

    Args:
        logits: ``(B, K_other)`` logits against the other modality's memory.
        targets: ``(B, K_other)`` soft targets (rows sum to 1, or to 0 for samples with no counterpart).
    """
    mass = targets.sum(1)
    keep = mass > 0
    if not keep.any():
        return logits.sum() * 0.0
    t = targets[keep] / mass[keep, None]
    return -(t * F.log_softmax(logits[keep], dim=1)).sum(1).mean()


def alignment_loss(layer_features: list[torch.Tensor], text: torch.Tensor, labels: torch.Tensor,
                   logit_scale: float = 1 / 0.07) -> torch.Tensor:
    """Mean over injected layers of the image-to-text InfoNCE of ``(B, E)`` projected CLS tokens against the
    ``(C, E)`` text embeddings of the batch's ``C`` clusters, ``labels`` ``(B,)`` in ``0 .. C-1`` (``-1``
    left out)."""
    keep = labels >= 0
    if not layer_features or not keep.any():
        return text.sum() * 0.0
    t = F.normalize(text, dim=-1)
    losses = [F.cross_entropy(logit_scale * F.normalize(f[keep], dim=-1) @ t.t(), labels[keep])
              for f in layer_features]
    return torch.stack(losses).mean()


def uniformity_loss(features: torch.Tensor, labels: torch.Tensor, t: float = 2.0) -> torch.Tensor:
    """``log mean_{i != j} exp(-t ||c_i - c_j||^2)`` over the L2-normalised means ``c`` of the batch's
    clusters (``labels`` ``(B,)``, ``-1`` left out); 0 with fewer than two clusters."""
    keep = labels >= 0
    lab = labels[keep]
    uniq, inverse = torch.unique(lab, return_inverse=True)
    if len(uniq) < 2:
        return features.sum() * 0.0
    f = F.normalize(features[keep], dim=-1)
    means = torch.zeros(len(uniq), f.shape[1], dtype=f.dtype, device=f.device).index_add_(0, inverse, f)
    c = F.normalize(means, dim=-1)
    sq = (2 - 2 * c @ c.t()).clamp_min(0)
    off = ~torch.eye(len(c), dtype=torch.bool, device=c.device)
    return torch.logsumexp(-t * sq[off], dim=0) - torch.log(torch.tensor(float(off.sum()), device=c.device))


def compactness_loss(features: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """Mean squared distance ``||f/|f| - p||^2`` of ``(B, D)`` features to their ``(B, D)`` (detached,
    L2-normalised) cluster prototypes."""
    if not len(features):
        return features.sum() * 0.0
    f = F.normalize(features, dim=-1)
    return (f - prototypes.detach().to(f.dtype)).pow(2).sum(1).mean()
