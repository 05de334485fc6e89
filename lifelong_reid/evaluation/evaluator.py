"""Feature collection and metric computation, separated as in fast-reid's ``DatasetEvaluator``."""
from __future__ import annotations

import torch

from lifelong_reid.evaluation.cross_modality import evaluate_gallery_trials, evaluate_sysu_mm01
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

    def __init__(self, protocol: str = "market1501", *, trials: int | None = None, sysu_mode: str = "all",
                  shots: int = 1, cross_modality: bool = True, **options):
        """
        Args:
            protocol: evaluation protocol name. ``"sysu_mm01"`` evaluates as
                :func:`~lifelong_reid.evaluation.evaluate_sysu_mm01` (``sysu_mode``, ``shots``; 10 gallery
                trials unless ``trials`` says otherwise); ``"llcm"`` draws 10 gallery trials unless ``trials``
                says otherwise.
            trials: average over this many random galleries (``shots`` images per identity and camera;
                :func:`~lifelong_reid.evaluation.evaluate_gallery_trials`); ``None``: the whole gallery once.
            cross_modality: with the visible-infrared protocols, also report what their papers report beside
                the main direction: SYSU-MM01's indoor search under ``"indoor"`` (when ``sysu_mode`` is
                ``"all"``), and for RegDB and LLCM the other direction (the gallery's modality as queries
                against the query modality, same trials) under ``"reverse"``.
            options: go to :func:`~lifelong_reid.evaluation.evaluate_features` (``metric``, ``rerank``, ...).
        """
        self.protocol, self.options = protocol, options
        self.trials, self.sysu_mode, self.shots = trials, sysu_mode, shots
        self.cross_modality = cross_modality
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
        args = (torch.cat(qf), torch.cat(gf), torch.cat(qp), torch.cat(gp), torch.cat(qc), torch.cat(gc))
        if self.protocol == "sysu_mm01":
            trials = range(self.trials or 10)
            out = evaluate_sysu_mm01(*args, mode=self.sysu_mode, shots=self.shots, trials=trials, **self.options)
            if self.cross_modality and self.sysu_mode == "all":
                out["indoor"] = evaluate_sysu_mm01(*args, mode="indoor", shots=self.shots, trials=trials,
                                                   **self.options)
            return out
        out = self._one_direction(*args)
        if self.cross_modality and self.protocol in ("regdb", "llcm"):
            qf, gf, qp, gp, qc, gc = args
            out["reverse"] = self._one_direction(gf, qf, gp, qp, gc, qc)
        return out

    def _one_direction(self, *args) -> dict:
        trials = self.trials or (10 if self.protocol == "llcm" else None)
        if trials:
            return evaluate_gallery_trials(*args, protocol=self.protocol, shots=self.shots, trials=range(trials),
                                           **self.options)
        return evaluate_features(*args, protocol=self.protocol, **self.options)
