"""Feature collection and metric computation, separated as in fast-reid's ``DatasetEvaluator``."""
from __future__ import annotations

import torch

from lifelong_reid.evaluation.retrieval import evaluate_features


class ReIDEvaluator:
    """Collect query and gallery features batch by batch, then compute metrics.

    Usage::

        ev = ReIDEvaluator(protocol="market1501")
        ev.reset()
        for feats, pids, camids in query_batches: ev.process(feats, pids, camids, split="query")
        for feats, pids, camids in gallery_batches: ev.process(feats, pids, camids, split="gallery")
        metrics = ev.evaluate()
    """

    def __init__(self, protocol: str = "market1501", **options):
        """``options`` go to :func:`~lifelong_reid.evaluation.evaluate_features` (``rerank``, ``k1``, ...)."""
        self.protocol, self.options = protocol, options
        self.reset()

    def reset(self) -> None:
        """Forget collected features."""
        self._parts = {"query": ([], [], []), "gallery": ([], [], [])}

    def process(self, features: torch.Tensor, pids, camids, split: str) -> None:
        """Add a batch: ``(B, F)`` features, ``(B,)`` pids and camids, to ``split`` (``query``/``gallery``)."""
        if split not in self._parts:
            raise ValueError(f"split must be 'query' or 'gallery', got {split!r}")
        f, p, c = self._parts[split]
        f.append(features.detach().float().cpu())
        p.append(torch.as_tensor(pids).cpu())
        c.append(torch.as_tensor(camids).cpu())

    def evaluate(self) -> dict:
        """Metrics in percent (see :func:`~lifelong_reid.evaluation.evaluate_features`).

        Raises:
            ValueError: no query or gallery features were processed.
        """
        (qf, qp, qc), (gf, gp, gc) = self._parts["query"], self._parts["gallery"]
        if not qf or not gf:
            raise ValueError("evaluate() needs query and gallery features; call process() first")
        return evaluate_features(torch.cat(qf), torch.cat(gf), torch.cat(qp), torch.cat(gp), torch.cat(qc),
                                 torch.cat(gc), protocol=self.protocol, **self.options)
