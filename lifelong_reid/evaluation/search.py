"""Top-k search of query features in a gallery: exact blocked matrix products (torch, any device) or
faiss (``IndexFlatIP`` exact; ``IndexIVFFlat`` for very large galleries; on the GPU when faiss-gpu is
installed and the features are on a CUDA device).

Shapes: ``Q`` queries, ``G`` gallery items, ``D`` feature size, ``k`` neighbours.

Distances follow :mod:`~lifelong_reid.evaluation.distance`: ``"cosine"`` gives ``1 - cos``,
``"euclidean"`` the squared Euclidean distance. faiss only searches by inner product here; squared
Euclidean search is turned into one by augmenting the vectors (gallery ``[g, |g|^2]``, query
``[2q, -1]``: ``<q', g'> = |q|^2 - d(q, g)``), which also gives the *farthest* item with query
``[-2q, 1]``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from lifelong_reid.evaluation.distance import BLOCK_ELEMENTS, DistanceBlocks, check_features

BACKENDS = ("auto", "torch", "faiss")


def faiss_available() -> bool:
    """Whether ``import faiss`` works."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _torch_knn(qf, gf, k, metric, largest):
    blocks = DistanceBlocks(qf, gf, metric)
    vals, idxs = [], []
    step = blocks.block_size(BLOCK_ELEMENTS)
    for s in range(0, len(qf), step):
        d = blocks(slice(s, s + step))
        v, i = torch.topk(d, k, dim=1, largest=largest, sorted=True)
        vals.append(v)
        idxs.append(i)
    return torch.cat(vals), torch.cat(idxs)


def _faiss_index(dim: int, nlist: int | None, train, use_gpu: bool):
    import faiss

    if nlist:
        index = faiss.index_factory(dim, f"IVF{nlist},Flat", faiss.METRIC_INNER_PRODUCT)  # owns its quantizer
        index.train(train)
    else:
        index = faiss.IndexFlatIP(dim)
    if use_gpu and hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0:
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    return index


def database_vectors(gf: torch.Tensor, metric: str) -> torch.Tensor:
    """``(G, D)`` gallery features -> the vectors an inner-product index holds for ``metric``: unit vectors
    (cosine), or ``[g, |g|^2]`` (squared Euclidean, ``(G, D + 1)``)."""
    g = gf.float()
    if metric == "cosine":
        return F.normalize(g, dim=1)
    return torch.cat([g, (g * g).sum(1, keepdim=True)], 1)


def query_vectors(qf: torch.Tensor, metric: str, largest: bool = False) -> torch.Tensor:
    """``(Q, D)`` query features -> the vectors searched in a :func:`database_vectors` index (the nearest items
    get the largest inner products; the farthest with ``largest``)."""
    q = qf.float()
    if metric == "cosine":
        q = F.normalize(q, dim=1)
        return -q if largest else q
    ones = torch.ones(len(q), 1, dtype=q.dtype, device=q.device)
    return torch.cat([-2 * q, ones], 1) if largest else torch.cat([2 * q, -ones], 1)


def inner_products_to_distances(score: torch.Tensor, qf: torch.Tensor, metric: str, largest: bool = False):
    """``(Q, k)`` inner products of :func:`query_vectors` and :func:`database_vectors` -> distances."""
    if metric == "cosine":
        return 1.0 + score if largest else 1.0 - score
    q = qf.float()
    q_sq = (q * q).sum(1, keepdim=True)
    return (score + q_sq if largest else q_sq - score).clamp_min(0)


def _faiss_knn(qf, gf, k, metric, largest, nlist, nprobe):
    import faiss

    db_np = database_vectors(gf, metric).detach().cpu().numpy()
    qs_np = query_vectors(qf, metric, largest).detach().cpu().numpy()
    index = _faiss_index(db_np.shape[1], nlist, db_np, qf.is_cuda)
    if nlist:
        faiss.extract_index_ivf(index).nprobe = nprobe
    index.add(db_np)
    score, idx = index.search(qs_np, k)
    score, idx = torch.from_numpy(score).to(qf.device), torch.from_numpy(idx).long().to(qf.device)
    return inner_products_to_distances(score, qf, metric, largest).to(qf.dtype), idx


def knn(query_features, gallery_features, k: int, *, metric: str = "cosine", largest: bool = False,
        backend: str = "auto", nlist: int | None = None, nprobe: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest (or, with ``largest=True``, farthest) gallery items of every query.

    Args:
        query_features: ``(Q, D)``; gallery_features: ``(G, D)``; numpy or torch.
        k: neighbours per query (``1 <= k <= G``).
        metric: ``"cosine"`` or ``"euclidean"`` (squared).
        backend: ``"torch"`` (exact, blocked, on the features' device), ``"faiss"``, or ``"auto"``
            (faiss when it imports, else torch).
        nlist: faiss only: use an ``IndexIVFFlat`` with this many cells (approximate; for galleries of
            millions); ``None`` for the exact ``IndexFlatIP``.
        nprobe: faiss IVF only: cells visited per query.

    Returns:
        ``(distances, indices)``, both ``(Q, k)``, sorted closest first (farthest first when
        ``largest``); indices are gallery positions.

    Raises:
        ValueError: bad ``k``, backend or metric; faiss asked for but not installed.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown search backend {backend!r}; known: {', '.join(BACKENDS)}")
    qf, gf = check_features(query_features, gallery_features)
    if not 1 <= k <= len(gf):
        raise ValueError(f"k must be between 1 and the gallery size {len(gf)}, got {k}")
    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"unknown distance metric {metric!r}; known: cosine, euclidean")
    if backend == "auto":
        backend = "faiss" if faiss_available() else "torch"
    if backend == "faiss":
        if not faiss_available():
            raise ValueError("backend='faiss' needs faiss: pip install faiss-cpu (or faiss-gpu)")
        return _faiss_knn(qf, gf, k, metric, largest, nlist, nprobe)
    if nlist:
        raise ValueError("nlist (IVF index) needs backend='faiss'")
    return _torch_knn(qf, gf, k, metric, largest)
