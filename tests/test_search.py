"""Top-k search: the torch and faiss backends agree with a brute-force sort, for both metrics, nearest and
farthest, and the IVF index finds the same neighbours when it visits every cell."""
from __future__ import annotations

import numpy as np
import pytest

from lifelong_reid.evaluation.search import knn


def brute(q, g, metric, largest):
    if metric == "cosine":
        qn, gn = q / np.linalg.norm(q, axis=1, keepdims=True), g / np.linalg.norm(g, axis=1, keepdims=True)
        d = 1 - qn @ gn.T
    else:
        d = ((q[:, None, :] - g[None, :, :]) ** 2).sum(-1)
    order = np.argsort(-d if largest else d, axis=1, kind="stable")
    return np.take_along_axis(d, order, 1), order


@pytest.mark.parametrize("backend", ["torch", "faiss"])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("largest", [False, True])
def test_backends_equal_brute_force(backend, metric, largest):
    rng = np.random.default_rng(0)
    q, g = rng.normal(size=(17, 12)).astype(np.float32), rng.normal(size=(230, 12)).astype(np.float32) * 2
    dist, idx = knn(q, g, 7, metric=metric, largest=largest, backend=backend)
    ref_d, ref_i = brute(q.astype(np.float64), g.astype(np.float64), metric, largest)
    assert idx.shape == (17, 7)
    np.testing.assert_array_equal(idx.numpy(), ref_i[:, :7])
    np.testing.assert_allclose(dist.numpy(), ref_d[:, :7], rtol=1e-4, atol=1e-4)


def test_ivf_index_visiting_every_cell_is_exact():
    rng = np.random.default_rng(1)
    q, g = rng.normal(size=(20, 16)).astype(np.float32), rng.normal(size=(500, 16)).astype(np.float32)
    _, exact = knn(q, g, 5, backend="torch")
    _, ivf = knn(q, g, 5, backend="faiss", nlist=8, nprobe=8)
    np.testing.assert_array_equal(ivf.numpy(), exact.numpy())


def test_bad_arguments_are_errors():
    x = np.ones((3, 2), np.float32)
    with pytest.raises(ValueError, match="k must be between 1 and the gallery size 3"):
        knn(x, x, 4)
    with pytest.raises(ValueError, match="unknown search backend"):
        knn(x, x, 1, backend="annoy")
    with pytest.raises(ValueError, match="nlist"):
        knn(x, x, 1, backend="torch", nlist=4)
