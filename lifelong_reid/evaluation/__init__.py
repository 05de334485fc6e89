"""Evaluation: retrieval metrics under every protocol, re-ranking, search, the lifelong accuracy matrix.

- ``protocols.py``: the protocols' rules (:func:`get_protocol`): market1501, single_camera, sysu_mm01,
  regdb, llcm;
- ``distance.py``: blocked query x gallery distances (cosine, squared Euclidean);
- ``ranking.py``: ranks of the true matches without sorting the gallery;
- ``retrieval.py``: :func:`evaluate_features` / :func:`evaluate_distances` (mAP, CMC Rank-k, mINP);
- ``cross_modality.py``: SYSU-MM01 gallery trials, RegDB / LLCM directions, averaged over trials;
- ``multimodal.py``: RGB/NIR/TIR tuple features and the missing-modality evaluation;
- ``ranked_lists.py``: CMC curves and ranked lists of chosen queries (for reports);
- ``search.py``: :func:`knn` top-k search (torch or faiss);
- ``rerank.py``: :class:`KReciprocalReranker` (k-reciprocal re-ranking, sparse);
- ``evaluator.py``: :class:`ReIDEvaluator` (``reset / process / evaluate``, as fast-reid's);
- ``lifelong.py``: :class:`AccuracyMatrix`, the seen / unseen averages, forgetting and backward transfer;
- ``reference.py``: slow loop-per-query references the fast paths are tested against;
- ``report.py`` / ``plots.py``: report.md; heat-maps, CMC curves and ranked-list figures.
"""
from lifelong_reid.evaluation.protocols import Protocol, get_protocol, protocol_names, register_protocol
from lifelong_reid.evaluation.retrieval import evaluate_distances, evaluate_features
from lifelong_reid.evaluation.evaluator import ReIDEvaluator
from lifelong_reid.evaluation.lifelong import AccuracyMatrix
from lifelong_reid.evaluation.rerank import KReciprocalReranker, k_reciprocal_distances
from lifelong_reid.evaluation.search import knn
from lifelong_reid.evaluation.multimodal import (evaluate_missing_modalities, evaluate_strategy_missing_modalities,
                                                 feature_level_embed, fuse)
from lifelong_reid.evaluation.cross_modality import (average_trials, evaluate_both_directions, evaluate_gallery_trials,
                                                     evaluate_sysu_mm01, sample_gallery)

__all__ = ["evaluate_features", "evaluate_distances", "Protocol", "get_protocol", "protocol_names",
           "register_protocol", "ReIDEvaluator", "AccuracyMatrix", "KReciprocalReranker", "k_reciprocal_distances",
           "knn", "average_trials", "evaluate_both_directions", "evaluate_gallery_trials", "evaluate_sysu_mm01",
           "sample_gallery", "evaluate_missing_modalities", "evaluate_strategy_missing_modalities",
           "feature_level_embed", "fuse"]

