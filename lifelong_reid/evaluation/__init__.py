"""Evaluation: retrieval metrics, feature extraction, the lifelong accuracy matrix.

- ``retrieval.py``: :func:`evaluate_features` (mAP, CMC Rank-k, mINP) under a protocol;
- ``evaluator.py``: :class:`ReIDEvaluator` (``reset / process / evaluate``, as fast-reid's);
- ``rerank.py``: :func:`k_reciprocal_distances` (k-reciprocal re-ranking);
- ``lifelong.py``: :class:`AccuracyMatrix`, the seen / unseen averages, forgetting and backward transfer.
"""
from lifelong_reid.evaluation.retrieval import PROTOCOLS, evaluate_features
from lifelong_reid.evaluation.evaluator import ReIDEvaluator
from lifelong_reid.evaluation.lifelong import AccuracyMatrix
from lifelong_reid.evaluation.rerank import k_reciprocal_distances

__all__ = ["evaluate_features", "PROTOCOLS", "ReIDEvaluator", "AccuracyMatrix", "k_reciprocal_distances"]
