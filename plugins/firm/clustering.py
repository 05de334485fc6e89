"""Per-modality clustering of unlabelled features and the quality of the resulting pseudo-labels.

Shapes: ``N`` samples, ``D`` feature size, ``K`` clusters, ``S`` sub-centres per cluster.

The clustering is the established baseline of unsupervised (VI-)ReID (ADCA ``yangbincv/ADCA``, PGM
``zesenwu23/USL-VI-ReID``, the cluster-contrast family): k-reciprocal Jaccard distances (``k1 = 30``, ``k2 = 6``)
of L2-normalised features, then DBSCAN (``eps = 0.6``, ``min_samples = 4``, ``metric="precomputed"``), with
outliers (label ``-1``) left out of training. The Jaccard distances come from the evaluation's sparse
k-reciprocal encoding (:func:`~lifelong_reid.evaluation.rerank.jaccard_graph`), so only pairs closer than
``eps`` are ever stored (the reference code holds a dense ``N x N`` matrix: 4.6 GB at SYSU-MM01's 34k images).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from lifelong_reid.errors import ConfigError


def cluster_features(features: torch.Tensor, *, eps: float = 0.6, min_samples: int = 4, k1: int = 30,
                     k2: int = 6, backend: str = "torch") -> torch.Tensor:
    """DBSCAN pseudo-labels of ``(N, D)`` features over their k-reciprocal Jaccard distances.

    Args:
        features: ``(N, D)``, L2-normalised here.
        eps, min_samples: DBSCAN's radius (Jaccard distance) and core size (the sample included).
        k1, k2: the k-reciprocal encoding's neighbourhoods (:func:`~lifelong_reid.evaluation.rerank.jaccard_graph`).
        backend: neighbour search (``"torch"``, ``"faiss"``, ``"auto"``: faiss when installed; see
            :class:`~lifelong_reid.plugins.firm.plugin.FIRMConfig`).

    Returns:
        ``(N,)`` long labels ``0 .. K-1`` (numbered by first appearance), ``-1`` for outliers.

    Raises:
        ConfigError: ``eps`` outside ``(0, 1)``, ``min_samples < 1``, or fewer than 2 features.
    """
    from sklearn.cluster import DBSCAN

    from lifelong_reid.evaluation.rerank import jaccard_graph

    if not 0 < eps < 1:
        raise ConfigError(f"DBSCAN eps is a Jaccard distance in (0, 1), got {eps}")
    if min_samples < 1:
        raise ConfigError(f"DBSCAN min_samples must be >= 1, got {min_samples}")
    if features.dim() != 2 or len(features) < 2:
        raise ConfigError(f"clustering needs (N, D) features with N >= 2, got {tuple(features.shape)}")
    x = F.normalize(features.detach().float().cpu(), dim=1)
    graph = jaccard_graph(x, k1=min(k1, len(x) - 1), k2=min(k2, len(x)), max_distance=eps, backend=backend)
    labels = DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit_predict(graph)
    return torch.as_tensor(_renumber(labels), dtype=torch.long)


def _renumber(labels: np.ndarray) -> np.ndarray:
    """Clusters numbered by first appearance (outliers stay ``-1``)."""
    out = np.full(len(labels), -1, dtype=np.int64)
    seen: dict[int, int] = {}
    for i, lab in enumerate(labels.tolist()):
        if lab >= 0:
            out[i] = seen.setdefault(lab, len(seen))
    return out


def cluster_centres(features: torch.Tensor, labels: torch.Tensor, num_clusters: int | None = None) -> torch.Tensor:
    """``(K, D)`` L2-normalised mean of each cluster's L2-normalised features (outliers ignored).

    Raises:
        ConfigError: a cluster ``0 .. K-1`` without members.
    """
    k = int(labels.max()) + 1 if num_clusters is None else num_clusters
    x = F.normalize(features.float(), dim=1)
    keep = labels >= 0
    sums = torch.zeros(k, x.shape[1], dtype=x.dtype).index_add_(0, labels[keep], x[keep])
    counts = torch.bincount(labels[keep], minlength=k)
    if (counts == 0).any():
        raise ConfigError(f"cluster {int((counts == 0).nonzero()[0])} has no member")
    return F.normalize(sums, dim=1)


def sub_centres(features: torch.Tensor, labels: torch.Tensor, num_sub: int, iterations: int = 5) -> torch.Tensor:
    """``(K, S, D)`` sub-centres of each cluster: ``S`` spherical k-means centres of its members (MMM, ECCV'24,
    keeps 4 per cluster with scikit-learn's KMeans; here a few Lloyd steps per cluster seeded by farthest-point
    sampling from the member closest to the centre). A cluster with fewer members than ``S`` repeats its
    centres.
    """
    x = F.normalize(features.float(), dim=1)
    k = int(labels.max()) + 1
    out = torch.empty(k, num_sub, x.shape[1], dtype=x.dtype)
    order = torch.argsort(labels, stable=True)
    counts = torch.bincount(labels[labels >= 0], minlength=k)
    start = int((labels < 0).sum())
    for c in range(k):
        members = x[order[start:start + int(counts[c])]]
        start += int(counts[c])
        centre = F.normalize(members.mean(0), dim=0)
        seeds = [int(torch.argmax(members @ centre))]
        for _ in range(1, min(num_sub, len(members))):
            sims = (members @ members[seeds].t()).max(1).values
            seeds.append(int(torch.argmin(sims)))
        cents = members[seeds]
        for _ in range(iterations):
            assign = torch.argmax(members @ cents.t(), dim=1)
            sums = torch.zeros_like(cents).index_add_(0, assign, members)
            filled = torch.bincount(assign, minlength=len(cents)) > 0
            cents = torch.where(filled[:, None], F.normalize(sums, dim=1), cents)
        out[c] = cents[torch.arange(num_sub) % len(cents)]
    return out


@dataclass
class LabelQuality:
    """How well pseudo-labels recover the hidden identities (diagnostics only: the method never reads them).

    Attributes:
        ari: adjusted Rand index over the clustered samples (outliers left out), 1 = the identities exactly.
        purity: share of clustered samples whose identity is their cluster's majority identity.
        coverage: share of samples in a cluster (not outliers).
        clusters: number of clusters.
    """

    ari: float
    purity: float
    coverage: float
    clusters: int


def label_quality(labels: torch.Tensor, pids: torch.Tensor) -> LabelQuality:
    """:class:`LabelQuality` of ``(N,)`` pseudo-labels (``-1`` = outlier) against ``(N,)`` true identities."""
    from sklearn.metrics import adjusted_rand_score

    labels, pids = np.asarray(labels), np.asarray(pids)
    keep = labels >= 0
    if not keep.any():
        return LabelQuality(0.0, 0.0, 0.0, 0)
    lab, pid = labels[keep], pids[keep]
    majority = _majority(lab, pid)
    purity = float(np.mean(pid == majority[lab]))
    return LabelQuality(float(adjusted_rand_score(pid, lab)), purity, float(keep.mean()), int(lab.max()) + 1)


def _majority(labels: np.ndarray, pids: np.ndarray) -> np.ndarray:
    """``(K,)`` the most frequent identity of each cluster ``0 .. K-1`` (smallest pid on ties)."""
    k = int(labels.max()) + 1
    uniq, pid_index = np.unique(pids, return_inverse=True)
    table = np.zeros((k, len(uniq)), dtype=np.int64)
    np.add.at(table, (labels, pid_index), 1)
    return uniq[table.argmax(1)]


def pair_precision(visible_labels, visible_pids, infrared_labels, infrared_pids, infrared_to_visible) -> float:
    """Share of matched (visible cluster, infrared cluster) pairs whose majority identities agree: how often
    the cross-modality matching links the same person. ``nan`` when nothing is matched."""
    v_lab, i_lab = np.asarray(visible_labels), np.asarray(infrared_labels)
    to_vis = np.asarray(infrared_to_visible)
    matched = np.flatnonzero(to_vis >= 0)
    if not len(matched) or (v_lab < 0).all() or (i_lab < 0).all():
        return float("nan")
    v_major = _majority(v_lab[v_lab >= 0], np.asarray(visible_pids)[v_lab >= 0])
    i_major = _majority(i_lab[i_lab >= 0], np.asarray(infrared_pids)[i_lab >= 0])
    return float(np.mean(i_major[matched] == v_major[to_vis[matched]]))
