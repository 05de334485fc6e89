"""Contrastive losses shared by the vision-language methods.

Shapes: ``B`` anchors, ``K`` candidates, ``E`` feature size, ``C`` classes.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F


def _targets_from_labels(labels_a: torch.Tensor, labels_b: torch.Tensor, dtype) -> torch.Tensor:
    same = (labels_a[:, None] == labels_b[None, :]).to(dtype)
    return same / same.sum(1, keepdim=True).clamp_min(1)


def supcon_loss(anchors: torch.Tensor, candidates: torch.Tensor, anchor_labels: torch.Tensor,
                candidate_labels: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Supervised contrastive loss of anchors against candidates (Khosla et al., NeurIPS 2020, Eq. 2, the
    "out" form; CLIP-ReID's ``SupConLoss``, AAAI 2023 Eq. 4-5): for anchor ``i``,
    ``-mean_{j: y_j = y_i} log softmax_j(a_i . c_j / temperature)``, averaged over anchors.

    Features are used as given (CLIP-ReID's stage 1 uses unnormalised features and ``temperature=1``;
    normalise them first for a cosine form). Anchors without a positive contribute 0.

    Args:
        anchors: ``(B, E)``. candidates: ``(K, E)``. anchor_labels: ``(B,)``. candidate_labels: ``(K,)``.
        temperature: the softmax temperature.

    Returns:
        scalar.
    """
    logits = anchors @ candidates.t() / temperature
    target = _targets_from_labels(anchor_labels, candidate_labels, logits.dtype)
    return -(target * F.log_softmax(logits, dim=1)).sum(1).mean()


def symmetric_supcon_loss(image: torch.Tensor, text: torch.Tensor, labels: torch.Tensor,
                          temperature: float = 1.0) -> torch.Tensor:
    """CLIP-ReID's stage-1 loss ``L_i2t + L_t2i`` (AAAI 2023, Eq. 4-6) for paired ``(B, E)`` image and text
    features with shared ``(B,)`` labels: :func:`supcon_loss` in both directions, the text-to-image one on
    the transpose of the same logits matrix."""
    logits = image @ text.t() / temperature
    target = _targets_from_labels(labels, labels, logits.dtype)
    i2t = -(target * F.log_softmax(logits, dim=1)).sum(1).mean()
    t2i = -(target * F.log_softmax(logits.t(), dim=1)).sum(1).mean()
    return i2t + t2i


def image_to_text_loss(image: torch.Tensor, class_text: torch.Tensor, targets: torch.Tensor, *,
                       temperature: float = 1.0, normalize: bool = False,
                       label_smoothing: float = 0.0) -> torch.Tensor:
    """Image-to-text cross-entropy against one text feature per class (CLIP-ReID stage 2, AAAI 2023 Eq. 7:
    ``CE(v . t_c)`` with raw dot products; VLADR / MUVA-paper cosine forms with ``normalize=True`` and a
    temperature).

    Args:
        image: ``(B, E)``. class_text: ``(C, E)`` (detached by the caller when it must not train).
        targets: ``(B,)`` class indices. temperature, normalize, label_smoothing: the form.

    Returns:
        scalar.
    """
    if normalize:
        image, class_text = F.normalize(image, dim=-1), F.normalize(class_text, dim=-1)
    logits = image @ class_text.to(image.dtype).t() / temperature
    return F.cross_entropy(logits.float(), targets, label_smoothing=label_smoothing)


def info_nce(queries: torch.Tensor, keys: torch.Tensor, targets: torch.Tensor, *, temperature: float = 0.07,
             normalize: bool = True, weights: Optional[torch.Tensor] = None) -> torch.Tensor:
    """InfoNCE (van den Oord et al. 2018, Eq. 4) of ``(B, E)`` queries against ``(K, E)`` keys.

    Args:
        targets: ``(B,)`` index of each query's positive key, or ``(B, K)`` soft targets (rows summing to 1,
            e.g. a transport plan's rows: an OT-weighted InfoNCE).
        temperature: the named temperature. normalize: L2-normalise both sides first (cosine logits).
        weights: optional ``(B,)`` per-query weights (averaged with them).

    Returns:
        scalar.
    """
    if normalize:
        queries, keys = F.normalize(queries, dim=-1), F.normalize(keys, dim=-1)
    logits = queries @ keys.to(queries.dtype).t() / temperature
    if targets.dim() == 1:
        per = F.cross_entropy(logits.float(), targets, reduction="none")
    else:
        per = -(targets.to(logits.dtype) * F.log_softmax(logits, dim=1)).sum(1)
    if weights is None:
        return per.mean()
    return (per * weights).sum() / weights.sum().clamp_min(1e-12)
