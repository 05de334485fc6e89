"""VLADR's stage-2 losses and the affinity term of the official code. ``dist`` is the cosine distance
``1 - cos`` (features are compared on the unit sphere, as CLIP's).

Shapes: ``B`` batch, ``K`` attributes, ``E`` feature size, ``D`` old domains.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def cosine_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``1 - cos(a, b)`` over the last dimension."""
    return 1.0 - (F.normalize(a, dim=-1) * F.normalize(b, dim=-1)).sum(-1)


def cma_loss(visual: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Cross-modal attribute alignment ``L_CMA = sum_k dist(v_k, t_k)`` (paper, Stage-2 loss), averaged
    over the batch: ``(B, K, E)`` visual and ``(B, K, E)`` text attribute features -> scalar."""
    return cosine_distance(visual, text.detach()).sum(-1).mean()


def cma_matching_loss(visual: torch.Tensor, text: torch.Tensor, pids: torch.Tensor,
                      temperature: float = 0.07) -> torch.Tensor:
    """Cross-modal attribute alignment as a matching (contrastive) loss, per attribute: for each ``k``,
    ``v_k`` of every image is matched against ``t_k`` of every caption in the batch, with the captions of
    the same identity as the targets (the image-to-text half of CLIP-ReID's identity-aware contrastive loss,
    Li et al. AAAI 2023, Eq. 4, applied per attribute), summed over ``k`` and averaged over the batch.

    The VLADR paper words CMA as "matching losses between image features and the corresponding textual
    attribute features" and writes ``sum_k dist(v_k, t_k)`` (:func:`cma_loss`); this form differs in that
    ``v_k`` must also be closer to its own identity's ``t_k`` than to the other identities' ones, so
    identity-agnostic (nearly equal) text targets cannot pull every image to one point.

    ``(B, K, E)`` visual, ``(B, K, E)`` text, ``(B,)`` pids -> scalar.
    """
    v = F.normalize(visual, dim=-1).transpose(0, 1)  # (K, B, E)
    t = F.normalize(text.detach(), dim=-1).transpose(0, 1)
    logits = v @ t.transpose(1, 2) / temperature  # (K, B, B)
    same = (pids[:, None] == pids[None, :]).to(logits.dtype)
    target = same / same.sum(1, keepdim=True)
    return -(target * F.log_softmax(logits, dim=-1)).sum(-1).mean(-1).sum()


def cma_instance_loss(visual: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Cross-modal attribute alignment as the released code computes it (``reid/trainer_stage2.py``, the
    ``loss_img_txt_fine`` term): for each part ``k``, the ``(B, B)`` cosine logits of every image's ``v_k``
    against every image's own caption part ``t_k`` (no temperature), with each image matched to its own caption
    (identity-matrix targets); ``0.5 (CE(image -> text) + CE(text -> image))``, averaged over the parts.

    ``(B, K, E)`` visual, ``(B, K, E)`` text (not trained) -> scalar.
    """
    v = F.normalize(visual, dim=-1).transpose(0, 1)  # (K, B, E)
    t = F.normalize(text.detach(), dim=-1).transpose(0, 1)
    logits = v @ t.transpose(1, 2)  # (K, B, B)
    k, b, _ = logits.shape
    labels = torch.arange(b, device=logits.device).repeat(k)
    i2t = F.cross_entropy(logits.reshape(k * b, b), labels)
    t2i = F.cross_entropy(logits.transpose(1, 2).reshape(k * b, b), labels)
    return 0.5 * (i2t + t2i)


def ida_loss(visual: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """Cross-domain attribute alignment ``L_IDA = sum_k dist(v_k, p_k^old)`` (paper, Stage-2 loss):
    ``(B, K, E)`` features against ``(D, K, E)`` old-domain prototypes, averaged over batch and domains."""
    d = cosine_distance(visual.unsqueeze(1), prototypes.to(visual.device).unsqueeze(0))  # (B, D, K)
    return d.sum(-1).mean()


def region_affinity_kl(new: torch.Tensor, old: torch.Tensor, temperature: float = 0.005,
                       eps: float = 1e-8) -> torch.Tensor:
    """The released code's anti-forgetting term (``reid/trainer_stage2.py``, ``get_normal_affinity`` and
    ``cal_KL_old``): for each part ``k`` of ``(B, K, E)`` region features, the ``(B, B)`` cosine affinities
    (diagonal kept) of the new and the old (frozen) model, each row turned into a distribution over the batch by
    ``softmax(cos / temperature)``; returns ``KL(old || new)`` summed over rows and parts, divided by ``B``
    (``KLDivLoss(reduction="batchmean")`` on the ``(B, B, K)`` tensor), clamped at 0. The new affinities are
    clamped at ``eps`` before the log, as there."""
    def affinity(x):
        sim = F.cosine_similarity(x.unsqueeze(1), x.unsqueeze(0), dim=-1)  # (B, B, K)
        return F.softmax(sim / max(float(temperature), 1e-6), dim=1)

    target = affinity(old.detach())
    log_new = affinity(new).clamp_min(eps).log()
    return F.kl_div(log_new, target, reduction="batchmean").clamp_min(0.0)


def affinity_kl(new: torch.Tensor, old: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """KL(old || new) between the batch affinity distributions of ``(B, F)`` features of the old
    (frozen) and the new model: each row of ``softmax(cos / temperature)`` with the diagonal removed."""
    def log_affinity(x):
        x = F.normalize(x, dim=-1)
        sim = x @ x.t() / temperature
        sim = sim.masked_fill(torch.eye(len(x), dtype=torch.bool, device=x.device), float("-inf"))
        return F.log_softmax(sim, dim=-1)

    log_new, log_old = log_affinity(new), log_affinity(old.detach())
    mask = ~torch.eye(len(new), dtype=torch.bool, device=new.device)
    return (log_old.exp() * (log_old - log_new))[mask].sum() / len(new)
