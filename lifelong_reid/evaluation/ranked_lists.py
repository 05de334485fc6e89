"""What the report shows per domain: the CMC curve and the ranked lists of chosen queries.

Shapes: ``Q`` queries, ``G`` gallery images, ``D`` feature size.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lifelong_reid.evaluation.distance import DistanceBlocks, as_tensor, check_features
from lifelong_reid.evaluation.protocols import get_protocol
from lifelong_reid.evaluation.ranking import removed_mask
from lifelong_reid.evaluation.retrieval import evaluate_features


@dataclass
class RankedList:
    """One query's top of the ranked gallery (the images its protocol removes are skipped).

    Attributes:
        query: query index. gallery: gallery indices, closest first. correct: same identity as the query.
        distances: of each listed image. ap: the query's AP in percent (NaN when it has no valid match).
    """

    query: int
    gallery: list[int]
    correct: list[bool]
    distances: list[float]
    ap: float


def cmc_curve(query_features, gallery_features, query_pids, gallery_pids, query_camids, gallery_camids, *,
              protocol="market1501", metric="cosine", max_rank: int = 50) -> dict:
    """CMC at ranks ``1..max_rank`` (capped at the gallery size) and the per-query AP.

    Returns:
        ``{"ranks": [1, ...], "cmc": [percent, ...], "metrics": evaluate_features(...) with per_query}``.
    """
    num_g = len(as_tensor(gallery_pids))
    ranks = list(range(1, min(max_rank, num_g) + 1))
    m = evaluate_features(query_features, gallery_features, query_pids, gallery_pids, query_camids, gallery_camids,
                          protocol=protocol, metric=metric, ranks=ranks, per_query=True)
    return {"ranks": ranks, "cmc": [m[f"rank{k}"] for k in ranks], "metrics": m}


def worst_queries(ap, n: int = 8) -> list[int]:
    """Indices of the ``n`` valid queries with the lowest AP (ties: lower index first)."""
    ap = np.asarray(ap, dtype=float)
    valid = np.flatnonzero(~np.isnan(ap))
    order = valid[np.lexsort((valid, ap[valid]))]
    return order[:n].tolist()


def ranked_lists(query_features, gallery_features, query_pids, gallery_pids, query_camids, gallery_camids,
                 queries, *, protocol="market1501", metric="cosine", top: int = 10, ap=None) -> list[RankedList]:
    """The ``top`` closest kept gallery images of each query in ``queries``.

    Args:
        queries: query indices to list. ap: optional ``(Q,)`` per-query AP to attach.
    """
    proto = get_protocol(protocol)
    qf, gf = check_features(query_features, gallery_features)
    qp, gp = as_tensor(query_pids, torch.long), as_tensor(gallery_pids, torch.long)
    qc, gc = as_tensor(query_camids, torch.long), as_tensor(gallery_camids, torch.long)
    rows = torch.as_tensor(list(queries), dtype=torch.long)
    if len(rows) == 0:
        return []
    dist = DistanceBlocks(qf, gf, metric)(rows)
    dist = dist.masked_fill(removed_mask(qp[rows], qc[rows], gp, gc, proto), float("inf"))
    k = min(top, dist.shape[1])
    order = torch.sort(dist, dim=1, stable=True).indices[:, :k]
    out = []
    for r, q in enumerate(rows.tolist()):
        idx = [i for i in order[r].tolist() if torch.isfinite(dist[r, i])]
        out.append(RankedList(q, idx, [bool(gp[i] == qp[q]) for i in idx], [float(dist[r, i]) for i in idx],
                              float(ap[q]) if ap is not None else float("nan")))
    return out


@dataclass
class DomainFeatures:
    """Everything needed to draw one evaluation domain's CMC curve and ranked lists.

    Attributes:
        query_features ``(Q, D)``, gallery_features ``(G, D)``, ids ``(Q,)`` / ``(G,)``; protocol name;
        query_image / gallery_image: ``index -> PIL image``; query_label / gallery_label: optional
        ``index -> label lines`` (:func:`~lifelong_reid.evaluation.plots.sample_label`) for the ranked lists.
    """

    name: str
    query_features: torch.Tensor
    gallery_features: torch.Tensor
    query_pids: torch.Tensor
    gallery_pids: torch.Tensor
    query_camids: torch.Tensor
    gallery_camids: torch.Tensor
    protocol: str
    query_image: object
    gallery_image: object
    query_label: object = None
    gallery_label: object = None

    def arrays(self) -> tuple:
        """``(qf, gf, q_pids, g_pids, q_camids, g_camids)`` in :func:`evaluate_features` order."""
        return (self.query_features, self.gallery_features, self.query_pids, self.gallery_pids,
                self.query_camids, self.gallery_camids)
