"""EMCM's cluster memory: multi-view prototypes per cluster, momentum updates, carry-over across re-clustering.

Shapes: ``K`` clusters, ``S`` sub-centres (views) per cluster, ``D`` feature size, ``B`` batch.

One :class:`ClusterMemory` per modality (the visible and the infrared view of an identity); each cluster holds
``S`` prototypes (its sub-centres). Following the cluster-contrast code that ADCA and PGM build on
(``ClusterMemory``): prototypes are initialised to L2-normalised cluster means, each sample updates its
cluster's prototype after the optimizer step, ``m <- mu * m + (1 - mu) * f`` then L2-normalised, in batch
order (``mu = 0.1`` in their run scripts). With ``S > 1`` a sample updates the sub-centre nearest to it and a
cluster's logit is its best sub-centre's (MMM's multi-memory matching, ECCV'24).

Carry-over (this library's design for the abstract's "dynamic prototype maintenance" and "long-term identity
consistency"): after re-clustering, the old clusters' prototypes are transported to the new clusters by
optimal transport between old and new centres (:func:`~.matching.match_clusters`), and a new cluster that
receives an old one starts from ``normalise(carry * old + (1 - carry) * new mean)`` instead of its bare mean;
ADCA and PGM re-initialise from the means every epoch.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from lifelong_reid.errors import ConfigError


class ClusterMemory(nn.Module):
    """``(K, S, D)`` prototypes of one modality's clusters.

    Args:
        momentum: ``mu`` of the update (weight of the old prototype; ADCA / PGM: 0.1).
        temperature: ``tau`` of :meth:`logits` (0.05).
    """

    def __init__(self, momentum: float = 0.1, temperature: float = 0.05):
        super().__init__()
        if not 0 <= momentum < 1:
            raise ConfigError(f"memory momentum must be in [0, 1), got {momentum}")
        if not temperature > 0:
            raise ConfigError(f"memory temperature must be > 0, got {temperature}")
        self.momentum, self.temperature = momentum, temperature
        self.register_buffer("prototypes", torch.zeros(0, 1, 0))

    @property
    def num_clusters(self) -> int:
        return self.prototypes.shape[0]

    def reset(self, prototypes: torch.Tensor) -> None:
        """Start from ``(K, D)`` or ``(K, S, D)`` prototypes (L2-normalised here), kept on their device."""
        p = prototypes if prototypes.dim() == 3 else prototypes.unsqueeze(1)
        self.prototypes = F.normalize(p.detach().float(), dim=-1)

    def centres(self) -> torch.Tensor:
        """``(K, D)`` L2-normalised mean of each cluster's sub-centres."""
        return F.normalize(self.prototypes.mean(1), dim=-1)

    def similarities(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, K)`` cosine of each L2-normalised feature to each cluster (its best sub-centre)."""
        f = F.normalize(features, dim=-1)
        sims = torch.einsum("bd,ksd->bks", f, self.prototypes.to(f.device, f.dtype))
        return sims.max(-1).values

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, K)`` ``cos(f, m_k) / tau``: the ClusterNCE logits."""
        return self.similarities(features) / self.temperature

    @torch.no_grad()
    def update(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Momentum update with ``(B, D)`` features of samples in clusters ``(B,)`` (``-1``: skipped), one
        sample after the other in batch order, as the reference ``ClusterMemory`` backward does."""
        f = F.normalize(features.detach().float(), dim=-1).to(self.prototypes.device)
        mu = self.momentum
        for x, y in zip(f, labels.tolist()):
            if y < 0:
                continue
            s = int(torch.argmax(self.prototypes[y] @ x)) if self.prototypes.shape[1] > 1 else 0
            self.prototypes[y, s] = F.normalize(mu * self.prototypes[y, s] + (1 - mu) * x, dim=0)


def carry_over(old: torch.Tensor, new: torch.Tensor, *, carry: float = 0.5, method: str = "unbalanced",
               reg: float = 0.05, min_share: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Transport old prototypes onto new clusters (module docstring).

    Args:
        old: ``(K_old, S, D)`` prototypes before re-clustering.
        new: ``(K_new, S, D)`` prototypes from the new clusters' members (means or sub-centres).
        carry: weight of the transported old prototype (0: plain re-initialisation).
        method, reg, min_share: the old-to-new matching (:func:`~.matching.match_clusters`).

    Returns:
        ``((K_new, S, D) prototypes, (K_new,) index of the old cluster each new one took over, -1 for none)``.
        Sub-centres are paired in order of similarity (each old sub-centre to the new one closest to it,
        greedily).
    """
    from lifelong_reid.plugins.firm.matching import match_clusters

    if not 0 <= carry <= 1:
        raise ConfigError(f"carry-over weight must be in [0, 1], got {carry}")
    new = F.normalize(new.float(), dim=-1)
    if not len(old) or carry == 0:
        return new, torch.full((len(new),), -1, dtype=torch.long)
    old = F.normalize(old.float().to(new.device), dim=-1)
    match = match_clusters(F.normalize(old.mean(1), dim=-1), F.normalize(new.mean(1), dim=-1), method, reg=reg,
                           min_share=min_share)
    source = match.infrared_to_visible  # new cluster -> old cluster
    out = new.clone()
    for j in torch.nonzero(source >= 0).flatten().tolist():
        o = old[int(source[j])]
        if o.shape[0] == new.shape[1]:
            pairing = _pair_sub_centres(o, new[j])
            o = o[pairing]
        else:
            o = F.normalize(o.mean(0, keepdim=True), dim=-1).expand_as(new[j])
        out[j] = F.normalize(carry * o + (1 - carry) * new[j], dim=-1)
    return out, source


def _pair_sub_centres(old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    """``(S,)``: for each new sub-centre the old one paired with it (greedy, most similar pair first)."""
    sims = new @ old.t()
    pairing = torch.full((len(new),), -1, dtype=torch.long)
    used: set = set()
    for flat in torch.argsort(sims.flatten(), descending=True).tolist():
        i, j = divmod(flat, sims.shape[1])
        if pairing[i] < 0 and j not in used:
            pairing[i] = j
            used.add(j)
    return pairing


def text_carry_over(old_tokens: Optional[torch.Tensor], source: torch.Tensor, fresh: torch.Tensor) -> torch.Tensor:
    """Per-cluster learnable text tokens after re-clustering: a new cluster that took over old cluster ``i``
    (``source``, from :func:`carry_over`) keeps ``old_tokens[i]``; the others start from ``fresh``.

    Args:
        old_tokens: ``(K_old, n, W)`` or ``None``. source: ``(K_new,)``. fresh: ``(K_new, n, W)``.
    """
    out = fresh.clone()
    if old_tokens is None or not len(old_tokens):
        return out
    keep = source >= 0
    out[keep] = old_tokens[source[keep]].to(out.dtype)
    return out
