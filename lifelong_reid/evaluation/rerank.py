"""k-reciprocal re-ranking (Zhong et al., "Re-ranking Person Re-identification with k-reciprocal
Encoding", CVPR 2017).

Shapes: ``Q`` queries, ``G`` gallery images, ``N = Q + G``. Matrix form of the reference algorithm:

- ``d(i, j)``: squared Euclidean distance, each row divided by its maximum (the reference code's
  normalisation);
- ``R(i, k)``: the k-reciprocal set, ``{j : j in top-(k+1)(i) and i in top-(k+1)(j)}`` (Eq. 4);
- expansion (Eq. 6): ``R*(i) = R(i, k1)`` united with every ``R(c, round(k1/2))``, ``c in R(i, k1)``,
  that shares more than 2/3 of its members with ``R(i, k1)``;
- ``V(i, j) = exp(-d(i, j))`` over ``R*(i)``, normalised to sum 1 (Eq. 7), then local query expansion:
  the mean of ``V`` over the ``k2`` nearest neighbours (Eq. 11 of Sec. 3.4);
- Jaccard distance ``1 - sum_k min(V_i, V_j) / sum_k max(V_i, V_j)`` (Eq. 10, with ``sum max = 2 - sum min``);
- final distance ``(1 - lambda) * jaccard + lambda * d`` (Eq. 12).

Memory is ``O(N^2)`` (dense ``N x N`` matrices); the Jaccard step is computed in blocks of queries.
"""
from __future__ import annotations

import numpy as np
import torch


def _as_float_tensor(x) -> torch.Tensor:
    return (x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))).float()


def _reciprocal(rank: torch.Tensor, k: int) -> torch.Tensor:
    """``(N, N)`` bool: ``[i, j]`` is true when ``j`` and ``i`` are in each other's top ``k + 1``."""
    n = rank.shape[0]
    member = torch.zeros(n, n, dtype=torch.bool, device=rank.device)
    member.scatter_(1, rank[:, : k + 1], True)
    return member & member.t()


def k_reciprocal_distances(query_features, gallery_features, k1: int = 20, k2: int = 6,
                           lambda_value: float = 0.3, block: int | None = None) -> torch.Tensor:
    """Re-ranked ``(Q, G)`` distances for ``(Q, D)`` query and ``(G, D)`` gallery features.

    Args:
        k1, k2, lambda_value: the paper's defaults (20, 6, 0.3).
        block: queries per block of the Jaccard step (default: what keeps a block near 256 MiB).

    Returns:
        ``(Q, G)`` float32 distances (lower is closer), on the features' device.

    Raises:
        ValueError: ``k1`` or ``k2`` below 1, or features of different widths.
    """
    if k1 < 1 or k2 < 1:
        raise ValueError(f"k1 and k2 must be >= 1, got k1={k1}, k2={k2}")
    qf, gf = _as_float_tensor(query_features), _as_float_tensor(gallery_features)
    if qf.shape[1] != gf.shape[1]:
        raise ValueError(f"query and gallery features differ in width: {qf.shape[1]} vs {gf.shape[1]}")
    q = qf.shape[0]
    x = torch.cat([qf, gf.to(qf.device)])
    n = x.shape[0]
    sq = (x * x).sum(1)
    dist = (sq[:, None] + sq[None, :] - 2.0 * x @ x.t()).clamp_min(0)
    dist = dist / dist.max(dim=1, keepdim=True).values  # symmetric input: row max = column max
    rank = torch.argsort(dist, dim=1, stable=True)
    recip = _reciprocal(rank, k1)
    half = _reciprocal(rank, int(np.around(k1 / 2.0)))
    overlap = recip.float() @ half.float().t()  # [i, c] = |R(i, k1) & R(c, k1/2)|
    accept = recip & (overlap > (2.0 / 3.0) * half.sum(1).float()[None, :])
    expanded = recip | ((accept.float() @ half.float()) > 0)
    weight = torch.where(expanded, torch.exp(-dist), torch.zeros_like(dist))
    v = weight / weight.sum(1, keepdim=True)
    if k2 != 1:
        v = v[rank[:, :k2]].mean(dim=1)
    block = block or max(1, (256 * 2**20) // (4 * n * n))
    jaccard = torch.empty(q, n, device=x.device)
    for s in range(0, q, block):
        e = min(s + block, q)
        inter = torch.minimum(v[s:e, None, :], v[None, :, :]).sum(-1)
        jaccard[s:e] = 1.0 - inter / (2.0 - inter)
    final = (1.0 - lambda_value) * jaccard + lambda_value * dist[:q]
    return final[:, q:]
