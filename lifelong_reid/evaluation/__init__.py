"""Evaluation: retrieval metrics, feature extraction, the lifelong accuracy matrix.

- ``retrieval.py``: :func:`evaluate_features` (mAP, CMC Rank-k, mINP) under a protocol;
- ``evaluator.py``: :class:`ReIDEvaluator` (``reset / process / evaluate``, as fast-reid's);
- ``lifelong.py``: :class:`AccuracyMatrix` and the seen / unseen averages.
"""
from lifelong_reid.evaluation.retrieval import PROTOCOLS, evaluate_features
from lifelong_reid.evaluation.evaluator import ReIDEvaluator
from lifelong_reid.evaluation.lifelong import AccuracyMatrix

__all__ = ["evaluate_features", "PROTOCOLS", "ReIDEvaluator", "AccuracyMatrix"]
