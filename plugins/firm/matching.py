"""Cross-modality cluster matching for unsupervised visible-infrared ReID: which infrared cluster is which
visible cluster, from their centroids.

Shapes: ``Kv`` visible clusters, ``Ki`` infrared clusters, ``D`` feature size.

Methods (``match_clusters(method=...)``):

- ``"sinkhorn"``: entropic OT (``ot.sinkhorn``, log-domain so that small ``reg`` does not underflow) with uniform (or size-proportional) marginals, as OTLA
  (ECCV'22) assigns labels with Sinkhorn-Knopp;
- ``"unbalanced"``: entropic OT with KL-relaxed marginals (``ot.unbalanced.sinkhorn_unbalanced``), so a cluster
  with no counterpart can keep its mass to itself and stay unmatched (this library's choice for FIRM: the abstract
  names OT matching; unbalanced transport is what lets camera-specific clusters stay alone);
- ``"emd"``: exact OT (``ot.emd``); with equal sizes and uniform marginals it is a permutation (the Hungarian
  solution);
- ``"hungarian"``: PGM's matching (``zesenwu23/USL-VI-ReID``): ``scipy.optimize.linear_sum_assignment`` on
  ``1 / exp(cos)``, then a second pass that gives every visible cluster left over its best infrared cluster
  (many-to-one), the ablation baseline.

Costs are ``1 - cos`` between L2-normalised centroids (in ``[0, 2]``), except PGM's own cost for
``"hungarian"``. Each infrared cluster is matched to the visible cluster that receives most of its mass, when
that mass is at least ``min_share`` of what an even share of the plan's mass would give it; otherwise it stays
unmatched.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import ot
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from lifelong_reid.errors import ConfigError

METHODS = ("sinkhorn", "unbalanced", "emd", "hungarian")


@dataclass
class ClusterMatch:
    """The result of :func:`match_clusters`.

    Attributes:
        plan: ``(Kv, Ki)`` transport plan (mass moved from visible cluster ``i`` to infrared cluster ``j``; 0/1
            for ``"hungarian"``).
        infrared_to_visible: ``(Ki,)`` long: the matched visible cluster of each infrared cluster, ``-1`` when
            unmatched.
        method: the method used.
    """

    plan: torch.Tensor
    infrared_to_visible: torch.Tensor
    method: str

    def soft_targets(self, infrared: bool = False) -> torch.Tensor:
        """``(Kv, Ki)`` rows of the plan normalised to sum 1 (a visible cluster's distribution over infrared
        clusters; rows with no mass are zero): the soft targets of an OT-weighted InfoNCE. With ``infrared``,
        the ``(Ki, Kv)`` columns normalised the same way (an infrared cluster's distribution over visible ones)."""
        plan = self.plan.t() if infrared else self.plan
        mass = plan.sum(1, keepdim=True)
        return torch.where(mass > 0, plan / mass.clamp_min(1e-12), torch.zeros_like(plan))


def match_clusters(visible: torch.Tensor, infrared: torch.Tensor, method: str = "unbalanced", *,
                   reg: float = 0.05, reg_m: float = 1.0, visible_sizes: Optional[torch.Tensor] = None,
                   infrared_sizes: Optional[torch.Tensor] = None, min_share: float = 0.5,
                   max_iter: int = 10000) -> ClusterMatch:
    """Match ``(Ki, D)`` infrared cluster centroids to ``(Kv, D)`` visible ones (module docstring).

    Args:
        method: one of :data:`METHODS`.
        reg: entropic regularisation (in units of the ``1 - cos`` cost; OTLA's ``lambda = 25`` is ``reg = 0.04``).
        reg_m: marginal relaxation of ``"unbalanced"`` (larger: closer to balanced).
        visible_sizes, infrared_sizes: ``(Kv,)`` / ``(Ki,)`` cluster sizes for size-proportional marginals
            (default uniform).
        min_share: an infrared cluster whose largest transported mass is below ``min_share / Ki`` of the
            plan's total mass stays unmatched (``-1``).
        max_iter: Sinkhorn iterations at most (POT warns when they do not reach a marginal error of 1e-6;
            small ``reg`` needs more: 0.05 converges in ~200 on 7 clusters, 0.02 in ~18,000).

    Returns:
        :class:`ClusterMatch` (CPU float64 plan).

    Raises:
        ConfigError: an unknown method, empty inputs or mismatched feature sizes.
    """
    if method not in METHODS:
        raise ConfigError(f"cluster matching method must be one of {', '.join(METHODS)}, got {method!r}")
    if visible.dim() != 2 or infrared.dim() != 2 or visible.shape[1] != infrared.shape[1] or not len(visible) \
            or not len(infrared):
        raise ConfigError(f"cluster centroids must be (Kv, D) and (Ki, D) with Kv, Ki > 0; got "
                          f"{tuple(visible.shape)} and {tuple(infrared.shape)}")
    v = F.normalize(visible.detach().double().cpu(), dim=1)
    r = F.normalize(infrared.detach().double().cpu(), dim=1)
    cos = (v @ r.t()).numpy()
    kv, ki = cos.shape
    if method == "hungarian":
        plan = _pgm_hungarian(cos)
        to_visible = torch.full((ki,), -1, dtype=torch.long)
        rows, cols = linear_sum_assignment(1.0 / np.exp(cos))  # the first, one-to-one pass decides the labels
        to_visible[torch.as_tensor(cols)] = torch.as_tensor(rows)
        return ClusterMatch(torch.as_tensor(plan), to_visible, method)
    a = _marginal(visible_sizes, kv)
    b = _marginal(infrared_sizes, ki)
    cost = 1.0 - cos
    if method == "sinkhorn":
        plan = ot.sinkhorn(a, b, cost, reg, method="sinkhorn_log", numItermax=max_iter, stopThr=1e-6)
    elif method == "unbalanced":
        plan = ot.unbalanced.sinkhorn_unbalanced(a, b, cost, reg, reg_m, method="sinkhorn_stabilized",
                                                 numItermax=max_iter, stopThr=1e-6)
    else:
        plan = ot.emd(a, b, cost)
    plan = torch.as_tensor(np.asarray(plan))
    best_mass, best = plan.max(dim=0)
    to_visible = torch.where(best_mass >= min_share * plan.sum() / ki, best, torch.full_like(best, -1))
    return ClusterMatch(plan, to_visible, method)


def _marginal(sizes: Optional[torch.Tensor], k: int) -> np.ndarray:
    if sizes is None:
        return np.full(k, 1.0 / k)
    s = np.asarray(torch.as_tensor(sizes, dtype=torch.float64))
    if s.shape != (k,) or (s <= 0).any():
        raise ConfigError(f"cluster sizes must be {k} positive numbers, got shape {s.shape}")
    return s / s.sum()


def _pgm_hungarian(cos: np.ndarray) -> np.ndarray:
    """PGM's two passes as a 0/1 ``(Kv, Ki)`` plan: one-to-one Hungarian on ``1 / exp(cos)``, then every visible
    cluster left unmatched gets its best infrared cluster by a second Hungarian pass over the leftovers
    (many-to-one when ``Kv > Ki``)."""
    kv, ki = cos.shape
    cost = 1.0 / np.exp(cos)
    plan = np.zeros((kv, ki))
    rows, cols = linear_sum_assignment(cost)
    plan[rows, cols] = 1.0
    left = np.setdiff1d(np.arange(kv), rows)
    while len(left):
        rows2, cols2 = linear_sum_assignment(cost[left])
        plan[left[rows2], cols2] = 1.0
        left = np.setdiff1d(left, left[rows2])
    return plan
