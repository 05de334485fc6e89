"""Query x gallery distances, computed one bounded block of queries at a time.

Shapes: ``Q`` queries, ``G`` gallery images, ``D`` feature size, ``B`` queries per block.

- ``"cosine"`` (default): features are L2-normalised and ``d = 1 - <q, g>`` (ranks as cosine similarity).
- ``"euclidean"``: squared Euclidean distance ``|q|^2 + |g|^2 - 2 <q, g>`` on the features as given
  (what torchreid's ``euclidean_squared_distance`` computes).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

DISTANCE_METRICS = ("cosine", "euclidean")

#: Elements of one ``(B, G)`` block; bounds evaluation memory (a block and its work arrays use about
#: 20 bytes per element, so ~640 MiB at this size).
BLOCK_ELEMENTS = 2**25


def as_tensor(x, dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
    """A numpy array, list or tensor as a tensor (no copy when already one of that dtype and device)."""
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    return t.to(device=device if device is not None else t.device, dtype=dtype if dtype is not None else t.dtype)


def check_features(query_features, gallery_features, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Features as ``(Q, D)`` and ``(G, D)`` float tensors on ``device`` (float64 kept, else float32).

    Raises:
        ValueError: not 2-D, different widths, empty, or a NaN / infinite value.
    """
    def _float(x):
        t = as_tensor(x, device=device)
        return t if t.dtype == torch.float64 else t.float()

    qf, gf = _float(query_features), _float(gallery_features)
    gf = gf.to(qf.device)
    if qf.dim() != 2 or gf.dim() != 2 or qf.shape[1] != gf.shape[1]:
        raise ValueError(f"features must be (Q, D) and (G, D), got {tuple(qf.shape)} and {tuple(gf.shape)}")
    if len(qf) == 0 or len(gf) == 0:
        raise ValueError(f"need at least one query and one gallery feature, got Q={len(qf)}, G={len(gf)}")
    if gf.dtype != qf.dtype:
        gf = gf.to(qf.dtype)
    for name, t in (("query", qf), ("gallery", gf)):
        if not bool(torch.isfinite(t.sum())) and not bool(torch.isfinite(t).all()):  # the sum is the cheap test
            raise ValueError(f"{name} features contain NaN or infinite values (check the model's output)")
    return qf, gf


class DistanceBlocks:
    """Distances of any subset of queries to the whole gallery.

    Args:
        query_features: ``(Q, D)`` tensor; gallery_features: ``(G, D)`` tensor (same dtype and device).
        metric: one of :data:`DISTANCE_METRICS`.

    Raises:
        ValueError: unknown metric.
    """

    def __init__(self, query_features: torch.Tensor, gallery_features: torch.Tensor, metric: str = "cosine"):
        if metric not in DISTANCE_METRICS:
            raise ValueError(f"unknown distance metric {metric!r}; known: {', '.join(DISTANCE_METRICS)}")
        self.metric = metric
        self._raw = (query_features, gallery_features)
        self._gallery64_t: torch.Tensor | None = None
        if metric == "cosine":
            query_features, gallery_features = F.normalize(query_features, dim=1), F.normalize(gallery_features, dim=1)
        self.query, self.gallery_t = query_features, gallery_features.t().contiguous()
        self.q_sq = (query_features * query_features).sum(1)
        self.g_sq = (gallery_features * gallery_features).sum(1)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.query), self.gallery_t.shape[1]

    def block_size(self, max_elements: int = BLOCK_ELEMENTS) -> int:
        """Queries per block so that one ``(B, G)`` block holds at most ``max_elements`` values."""
        return max(1, min(len(self.query), max_elements // max(1, self.shape[1])))

    def __call__(self, rows, out: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, G)`` distances of queries ``rows`` (a slice or an index tensor); lower is closer.

        ``out``: optional buffer of at least ``B * G`` elements to write into (reused across blocks, it
        saves the page faults of a fresh allocation per block)."""
        q = self.query[rows]
        if out is not None:
            out = out.view(-1)[: len(q) * self.shape[1]].view(len(q), self.shape[1])
        if self.metric == "cosine":
            one = torch.ones((), dtype=q.dtype, device=q.device)
            return torch.addmm(one, q, self.gallery_t, alpha=-1.0, out=out)
        base = self.q_sq[rows][:, None] + self.g_sq[None, :]
        return torch.addmm(base, q, self.gallery_t, alpha=-2.0, out=out).clamp_min_(0)

    def full(self) -> torch.Tensor:
        """The whole ``(Q, G)`` matrix (for small problems and for tests)."""
        return self(slice(None))

    @property
    def recomputable(self) -> bool:
        """Whether :meth:`float64` adds precision (the features are float32; float64 ones are exact already)."""
        return self.query.dtype == torch.float32

    def float32_step(self, rows) -> torch.Tensor:
        """``(B,)`` resolution of a float32 distance of queries ``rows``: one float32 step (``2^-23``) of the
        largest term the distance is computed from (1 for cosine, ``|q|^2 + max |g|^2`` for euclidean)."""
        eps = torch.finfo(torch.float32).eps
        if self.metric == "cosine":
            return torch.full((len(self.q_sq[rows]),), eps, dtype=torch.float64, device=self.query.device)
        return eps * (self.q_sq[rows].double() + self.g_sq.max().double())

    def float64(self, rows) -> torch.Tensor:
        """``(B, G)`` float64 distances of queries ``rows``, recomputed from the features as given (normalised
        in float64 for cosine), for rows whose float32 distances are below float32 resolution."""
        q = self._raw[0][rows].double()
        if self._gallery64_t is None:
            g = self._raw[1].double()
            self._gallery64_t = (F.normalize(g, dim=1) if self.metric == "cosine" else g).t().contiguous()
        g_t = self._gallery64_t
        if self.metric == "cosine":
            return torch.addmm(torch.ones((), dtype=torch.float64, device=q.device), F.normalize(q, dim=1), g_t,
                               alpha=-1.0)
        base = (q * q).sum(1)[:, None] + (g_t * g_t).sum(0)[None, :]
        return torch.addmm(base, q, g_t, alpha=-2.0).clamp_min_(0)
