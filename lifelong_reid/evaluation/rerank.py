"""k-reciprocal re-ranking (Zhong et al., "Re-ranking Person Re-identification with k-reciprocal
Encoding", CVPR 2017), sparse: memory ``O(N k)`` instead of the reference code's dense ``N x N`` arrays.

Shapes: ``Q`` queries, ``G`` gallery images, ``N = Q + G`` (query and gallery pooled), ``D`` feature size.

Steps, each as in the reference algorithm (the equation numbers are the paper's):

- ``d(i, j)``: squared Euclidean distance divided by the maximum of row ``i`` (the reference code's
  normalisation);
- the ``k1 + 1`` nearest neighbours of every one of the ``N`` items (itself included), from blocked
  matrix products or faiss (:func:`~lifelong_reid.evaluation.search.knn`);
- ``R(i, k)``: the k-reciprocal set ``{j in top-(k+1)(i) : i in top-(k+1)(j)}`` (Eq. 4);
- expansion (Eq. 6): ``R*(i) = R(i, k1)`` united with every ``R(c, round(k1/2))``, ``c in R(i, k1)``,
  that shares more than 2/3 of its members with ``R(i, k1)``;
- ``V(i, j) = exp(-d(i, j))`` over ``R*(i)``, normalised to sum 1 (Eq. 7), then local query expansion:
  the mean of ``V`` over the ``k2`` nearest neighbours (Sec. 3.4) -- ``V`` is a sparse matrix;
- Jaccard distance ``1 - sum_k min(V_i, V_j) / sum_k max(V_i, V_j)`` (Eq. 10, with ``sum max = 2 - sum
  min``), summed over the non-zeros of ``V_i`` through an inverted (column) index;
- final distance ``(1 - lambda) * jaccard + lambda * d`` (Eq. 12).

The reference stores ``V`` in float16; here it is float64, so distances differ from it by about 1e-3 at
most and rankings agree except at near-ties.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from lifelong_reid.evaluation.distance import BLOCK_ELEMENTS, as_tensor
from lifelong_reid.evaluation.search import knn


def _reciprocal_mask(neighbours: torch.Tensor) -> torch.Tensor:
    """``(N, k)`` bool: ``neighbours[i, t]`` has ``i`` among its own ``k`` neighbours."""
    n = len(neighbours)
    out = torch.empty(neighbours.shape, dtype=torch.bool)
    step = max(1, 2**24 // neighbours.shape[1] ** 2)
    for s in range(0, n, step):
        nb = neighbours[s:s + step]
        own = torch.arange(s, s + len(nb))[:, None, None]
        out[s:s + step] = (neighbours[nb] == own).any(-1)
    return out


class KReciprocalReranker:
    """Re-ranked distances of any block of queries to the whole gallery.

    Args:
        query_features: ``(Q, D)``; gallery_features: ``(G, D)`` (numpy or torch; used as given -- pass
            L2-normalised features for cosine-trained models, as CLIP-ReID does).
        k1, k2, lambda_value: the paper's defaults (20, 6, 0.3).
        backend: neighbour search, ``"torch"`` (exact, blocked) or ``"faiss"`` / ``"auto"``
            (:func:`~lifelong_reid.evaluation.search.knn`).
        normalise_rows: divide squared distances by each row's maximum before ``exp(-d)`` (the re-ranking
            reference code); ``False`` gives ``V`` rows ``softmax(-d)`` over ``R*(i)``, as the clustering code
            of the unsupervised methods (ADCA's ``compute_jaccard_distance``) weighs them.

    Call with a slice (or index array) of queries to get ``(B, G)`` float32 distances (lower is closer).

    Raises:
        ValueError: ``k1`` or ``k2`` below 1, features of different widths, fewer than 2 items.
    """

    def __init__(self, query_features, gallery_features, k1: int = 20, k2: int = 6, lambda_value: float = 0.3,
                 backend: str = "torch", normalise_rows: bool = True):
        if k1 < 1 or k2 < 1:
            raise ValueError(f"k1 and k2 must be >= 1, got k1={k1}, k2={k2}")
        qf, gf = as_tensor(query_features).float(), as_tensor(gallery_features).float()
        if qf.shape[1] != gf.shape[1]:
            raise ValueError(f"query and gallery features differ in width: {qf.shape[1]} vs {gf.shape[1]}")
        self.device = qf.device
        x = torch.cat([qf, gf.to(qf.device)])
        n, q = len(x), len(qf)
        if n < 2:
            raise ValueError("re-ranking needs at least two items")
        self.q, self.lambda_value = q, lambda_value
        self.query, self.gallery = qf, gf.to(qf.device)
        k = min(n, max(k1 + 1, k2))
        self.sq = (x * x).sum(1)
        if backend == "torch":
            neighbours, row_max = self._neighbours_and_row_max(x, k)
        else:
            _, neighbours = knn(x, x, k, metric="euclidean", backend=backend)
            row_max = knn(x, x, 1, metric="euclidean", largest=True, backend=backend)[0][:, 0] if normalise_rows \
                else torch.ones(n, dtype=x.dtype, device=x.device)  # no second search when unused
        self.row_max = row_max.clamp_min(torch.finfo(torch.float32).tiny) if normalise_rows else \
            torch.ones_like(row_max)
        neighbours = neighbours.cpu()
        v = self._encode(x, neighbours, k1)
        if k2 != 1:
            rows = np.repeat(np.arange(n), k2)
            expand = sp.csr_matrix((np.full(n * k2, 1.0 / k2), (rows, neighbours[:, :k2].reshape(-1).numpy())),
                                   shape=(n, n))
            v = (expand @ v).tocsr()
        v.eliminate_zeros()
        self.v_rows = v.tocsr()
        self.v_cols = v.tocsc()

    def _neighbours_and_row_max(self, x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N, k)`` nearest items (closest first) and ``(N,)`` largest squared distance of every item,
        from one blocked pass of matrix products."""
        n = len(x)
        step = max(1, BLOCK_ELEMENTS // n)
        neighbours = torch.empty(n, k, dtype=torch.long, device=x.device)
        row_max = torch.empty(n, dtype=x.dtype, device=x.device)
        buffer = torch.empty(min(step, n) * n, dtype=x.dtype, device=x.device)
        for s in range(0, n, step):
            b = x[s:s + step]
            d = buffer[: len(b) * n].view(len(b), n)
            torch.addmm(self.sq[s:s + step, None] + self.sq[None, :], b, x.t(), alpha=-2.0, out=d).clamp_min_(0)
            neighbours[s:s + step] = torch.topk(d, k, dim=1, largest=False, sorted=True).indices
            row_max[s:s + step] = d.max(1).values
        return neighbours, row_max

    def _normalised_distance(self, x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """``(P,)`` normalised distances of the item pairs ``(rows[p], cols[p])``."""
        dot = (x[rows] * x[cols]).sum(1)
        dist = (self.sq[rows] + self.sq[cols] - 2 * dot).clamp_min(0)
        return dist / self.row_max[rows]

    def _encode(self, x: torch.Tensor, neighbours: torch.Tensor, k1: int) -> sp.csr_matrix:
        """The k-reciprocal feature ``V`` (Eq. 7) as an ``(N, N)`` sparse matrix."""
        n = len(x)
        k1 = min(k1, neighbours.shape[1] - 1)
        half = int(np.around(k1 / 2.0))
        top, toph = neighbours[:, :k1 + 1], neighbours[:, :half + 1]
        r_mask, h_mask = _reciprocal_mask(top), _reciprocal_mask(toph)
        indptr, indices, data = [0], [], []
        sentinel = n
        step = max(1, 2**23 // ((k1 + 1) ** 2 * (half + 1)))
        for s in range(0, n, step):
            e = min(s + step, n)
            recip = torch.where(r_mask[s:e], top[s:e], torch.full_like(top[s:e], sentinel))  # R(i, k1)
            cand = top[s:e]  # candidates c (only reciprocal ones are used)
            cand_set = torch.where(h_mask[cand], toph[cand], torch.full_like(toph[cand], -1))  # R(c, k1/2)
            inside = (cand_set[..., None] == recip[:, None, None, :]).any(-1).sum(-1)  # |R(c,k1/2) & R(i,k1)|
            size = h_mask[cand].sum(-1)
            accept = r_mask[s:e] & (inside.float() > (2.0 / 3.0) * size.float())
            added = torch.where(accept[..., None] & (cand_set >= 0), cand_set, torch.full_like(cand_set, sentinel))
            members = torch.cat([recip, added.flatten(1)], 1)
            members = torch.sort(members, dim=1).values
            unique = torch.ones_like(members, dtype=torch.bool)
            unique[:, 1:] = members[:, 1:] != members[:, :-1]
            unique &= members != sentinel
            row, col = torch.arange(s, e)[:, None].expand_as(members)[unique], members[unique]
            dist = self._normalised_distance(x, row.to(x.device), col.to(x.device)).cpu()
            weight = torch.exp(-dist.double())
            counts = unique.sum(1)
            totals = torch.zeros(e - s, dtype=torch.float64).index_add_(0, row - s, weight)
            weight = weight / totals[row - s]
            indptr.extend((indptr[-1] + torch.cumsum(counts, 0)).tolist())
            indices.append(col.numpy())
            data.append(weight.numpy())
        return sp.csr_matrix((np.concatenate(data), np.concatenate(indices), np.asarray(indptr)), shape=(n, n))

    def _jaccard(self, rows: np.ndarray) -> np.ndarray:
        """``(B, G)`` Jaccard distances of query items ``rows`` to the gallery items."""
        g = len(self.gallery)
        sub = self.v_rows[rows]
        lens_row = np.diff(sub.indptr)
        entry_row = np.repeat(np.arange(len(rows)), lens_row)
        col, a = sub.indices, sub.data
        starts, ends = self.v_cols.indptr[col], self.v_cols.indptr[col + 1]
        lens = ends - starts
        total = int(lens.sum())
        offsets = np.arange(total) - np.repeat(np.cumsum(lens) - lens, lens)
        pos = np.repeat(starts, lens) + offsets
        j = self.v_cols.indices[pos]
        contrib = np.minimum(np.repeat(a, lens), self.v_cols.data[pos])
        row = np.repeat(entry_row, lens)
        in_gallery = j >= self.q
        flat = row[in_gallery] * g + (j[in_gallery] - self.q)
        inter = np.bincount(flat, weights=contrib[in_gallery], minlength=len(rows) * g).reshape(len(rows), g)
        return 1.0 - inter / (2.0 - inter)

    def __call__(self, rows) -> torch.Tensor:
        """``(B, G)`` re-ranked distances of queries ``rows`` (a slice or an index array / tensor)."""
        rows = np.arange(self.q)[rows] if isinstance(rows, slice) else np.asarray(as_tensor(rows).cpu())
        out = torch.empty(len(rows), len(self.gallery), dtype=torch.float32, device=self.device)
        step = max(1, min(256, BLOCK_ELEMENTS // 8 // max(1, len(self.gallery))))
        for s in range(0, len(rows), step):
            r = rows[s:s + step]
            rt = torch.as_tensor(r, device=self.device)
            q = self.query[rt]
            orig = (self.sq[rt][:, None] + self.sq[self.q:][None, :] - 2 * q @ self.gallery.t()).clamp_min(0)
            orig = orig / self.row_max[rt][:, None]
            jac = torch.from_numpy(self._jaccard(r)).to(self.device, torch.float32)
            out[s:s + len(r)] = (1 - self.lambda_value) * jac + self.lambda_value * orig
        return out


def jaccard_graph(features, k1: int = 30, k2: int = 6, max_distance: float = 1.0, backend: str = "torch",
                  normalise_rows: bool = False) -> sp.csr_matrix:
    """The k-reciprocal Jaccard distances of a set of features to itself (Eq. 10), as a sparse graph: the
    distance matrix unsupervised ReID clusters with DBSCAN (ADCA, PGM and the cluster-contrast family compute
    it densely, ``N x N``; here only pairs whose encodings ``V_i``, ``V_j`` share support are stored, every
    other pair being at distance 1).

    Args:
        features: ``(N, D)`` (L2-normalised for cosine-trained models).
        k1, k2: as :class:`KReciprocalReranker` (ADCA / PGM: 30 and 6).
        max_distance: keep pairs at distance ``<= max_distance`` only (DBSCAN needs no pair beyond its
            ``eps``; a smaller graph is faster to build and to cluster).
        backend: neighbour search (``"torch"``, ``"faiss"``, ``"auto"``).
        normalise_rows: see :class:`KReciprocalReranker` (``False``: the clustering code's weights).

    Returns:
        ``(N, N)`` CSR matrix of distances in ``[0, 1]`` with sorted column indices; the diagonal (distance 0)
        is stored explicitly, as every stored entry is (``sklearn``'s DBSCAN with ``metric="precomputed"``
        treats stored entries as neighbours and absent ones as far).

    Raises:
        ValueError: see :class:`KReciprocalReranker`.
    """
    x = as_tensor(features).float()
    rr = KReciprocalReranker(x, x[:0], k1, k2, 0.0, backend, normalise_rows=normalise_rows)
    v_rows, v_cols = rr.v_rows, rr.v_cols
    n = v_rows.shape[0]
    blocks = []
    col_nnz = np.diff(v_cols.indptr)
    row_work = np.zeros(n, dtype=np.int64)  # (entry, column entry) pairs each row costs
    np.add.at(row_work, np.repeat(np.arange(n), np.diff(v_rows.indptr)), col_nnz[v_rows.indices])
    cum_work = np.cumsum(row_work)
    budget = 2**22
    start = 0
    while start < n:
        done = cum_work[start - 1] if start else 0
        rows_end = min(n, max(start + 1, int(np.searchsorted(cum_work, done + budget, side="right"))))
        sub = v_rows[start:rows_end]
        entry_row = np.repeat(np.arange(rows_end - start), np.diff(sub.indptr))
        col, a = sub.indices, sub.data
        starts, ends = v_cols.indptr[col], v_cols.indptr[col + 1]
        lens = ends - starts
        offsets = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
        pos = np.repeat(starts, lens) + offsets
        contrib = np.minimum(np.repeat(a, lens), v_cols.data[pos])
        inter = sp.coo_matrix((contrib, (np.repeat(entry_row, lens), v_cols.indices[pos])),
                              shape=(rows_end - start, n)).tocsr()
        inter.sum_duplicates()
        dist = np.clip(1.0 - inter.data / (2.0 - inter.data), 0.0, 1.0)
        keep = dist <= max_distance
        counts = np.bincount(np.repeat(np.arange(rows_end - start), np.diff(inter.indptr))[keep],
                             minlength=rows_end - start)
        blocks.append((np.concatenate([[0], np.cumsum(counts)]), inter.indices[keep], dist[keep]))
        start = rows_end
    indptr, total = [np.zeros(1, dtype=np.int64)], 0
    for ptr, _, _ in blocks:
        indptr.append(ptr[1:] + total)
        total += int(ptr[-1])
    graph = sp.csr_matrix((np.concatenate([b[2] for b in blocks]), np.concatenate([b[1] for b in blocks]),
                           np.concatenate(indptr)), shape=(n, n))
    graph.has_sorted_indices = True
    return graph


def k_reciprocal_distances(query_features, gallery_features, k1: int = 20, k2: int = 6,
                           lambda_value: float = 0.3, backend: str = "torch") -> torch.Tensor:
    """The whole ``(Q, G)`` re-ranked distance matrix (float32; lower is closer) for ``(Q, D)`` query and
    ``(G, D)`` gallery features. For large sets use :class:`KReciprocalReranker` block by block.

    Raises:
        ValueError: see :class:`KReciprocalReranker`.
    """
    rr = KReciprocalReranker(query_features, gallery_features, k1, k2, lambda_value, backend)
    return rr(slice(None))
