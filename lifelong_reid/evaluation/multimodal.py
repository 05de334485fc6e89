"""Multi-modal object ReID evaluation (RGBNT201, RGBNT100, MSVR310): one feature per (RGB, NIR, TIR)
tuple, and the missing-modality evaluation multi-modal ReID papers report (e.g. TOP-ReID, AAAI 2024:
"M (RGB)" means the RGB images are missing at test time, for query and gallery alike).

Shapes: ``N`` tuples, ``D`` feature size per modality, ``M`` modalities.

How a model copes with a missing modality is the model's business (zero-filled input images, a learnt
token, ...): the evaluation takes ``embed(split, dropped) -> (N, F)`` features of a split with the
``dropped`` modalities removed. :func:`feature_level_embed` builds such a function from per-modality
features (each L2-normalised, concatenated, a dropped modality's block set to zero) for models whose
tuple feature is the concatenation of per-modality features.
"""
from __future__ import annotations

from itertools import combinations
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from lifelong_reid.evaluation.distance import as_tensor
from lifelong_reid.evaluation.retrieval import evaluate_features

MODALITIES = ("rgb", "nir", "tir")


def missing_modality_settings(modalities: Sequence[str] = MODALITIES) -> list[tuple[str, ...]]:
    """Every non-empty proper subset of ``modalities`` to drop, singles first: for RGB/NIR/TIR
    ``[(rgb,), (nir,), (tir,), (rgb, nir), (rgb, tir), (nir, tir)]``."""
    return [c for r in range(1, len(modalities)) for c in combinations(modalities, r)]


def setting_name(dropped: Sequence[str]) -> str:
    """The papers' label of a missing-modality setting, e.g. ``M (RGB+NIR)``; ``all`` when none is dropped."""
    return "all" if not dropped else "M (" + "+".join(m.upper() for m in dropped) + ")"


def fuse(features: dict, dropped: Sequence[str] = (), modalities: Sequence[str] = MODALITIES) -> torch.Tensor:
    """``(N, M * D)`` tuple features: each modality's ``(N, D)`` features L2-normalised, in ``modalities``
    order, concatenated; the ``dropped`` ones are zeros.

    Raises:
        ValueError: a modality is missing from ``features``, sizes differ, or every modality is dropped.
    """
    missing = [m for m in modalities if m not in features]
    if missing:
        raise ValueError(f"features for modalities {missing} are missing (got {sorted(features)})")
    if set(modalities) <= set(dropped):
        raise ValueError("at least one modality must be kept")
    parts = [F.normalize(as_tensor(features[m]).float(), dim=1) for m in modalities]
    if len({p.shape for p in parts}) != 1:
        raise ValueError(f"per-modality features differ in shape: {[tuple(p.shape) for p in parts]}")
    return torch.cat([torch.zeros_like(p) if m in dropped else p for m, p in zip(modalities, parts)], dim=1)


def feature_level_embed(query_features: dict, gallery_features: dict,
                        modalities: Sequence[str] = MODALITIES) -> Callable:
    """``embed(split, dropped)`` over per-modality features (``{modality: (N, D)}`` per split), via
    :func:`fuse`."""
    sides = {"query": query_features, "gallery": gallery_features}
    return lambda split, dropped: fuse(sides[split], dropped, modalities)


def model_level_embed(strategy, query_dataset, gallery_dataset) -> Callable:
    """``embed(split, dropped)`` that runs ``strategy``'s model on the tuples with the dropped modalities
    replaced by black images (``ReIDStrategy.extract_features(drop_modalities=...)``), the way multi-modal
    papers simulate a missing sensor."""
    sides = {"query": query_dataset, "gallery": gallery_dataset}
    return lambda split, dropped: strategy.extract_features(sides[split], desc=f"{split} without {dropped}",
                                                            drop_modalities=tuple(dropped))[0]


def evaluate_missing_modalities(embed: Callable, query_pids, gallery_pids, query_camids, gallery_camids, *,
                                modalities: Sequence[str] = MODALITIES, protocol: str = "market1501",
                                **options) -> dict:
    """Metrics with every modality, then with each missing-modality setting.

    Args:
        embed: ``embed(split, dropped) -> (N, F)`` with ``split`` in ``{"query", "gallery"}`` and
            ``dropped`` a tuple of modality names.
        options: passed to :func:`~lifelong_reid.evaluation.evaluate_features`.

    Returns:
        ``{"all": metrics, "M (RGB)": metrics, ...}`` (names from :func:`setting_name`).
    """
    out = {}
    for dropped in [(), *missing_modality_settings(modalities)]:
        out[setting_name(dropped)] = evaluate_features(embed("query", dropped), embed("gallery", dropped),
                                                       query_pids, gallery_pids, query_camids, gallery_camids,
                                                       protocol=protocol, **options)
    return out


def evaluate_strategy_missing_modalities(strategy, query_dataset, gallery_dataset, *,
                                         modalities: Sequence[str] = MODALITIES, **options) -> dict:
    """:func:`evaluate_missing_modalities` of ``strategy``'s model on eval-mode query / gallery tuple datasets
    (the dropped modalities' images black, :func:`model_level_embed`), with the pids and cameras read from one
    full pass that also serves the ``all`` row.

    Args:
        modalities: the tuples' modalities (a stream restricted with ``modalities=`` holds fewer).
        options: passed to :func:`~lifelong_reid.evaluation.evaluate_features` (``protocol``, ...).

    Returns:
        ``{"all": metrics, "M (RGB)": metrics, ...}``.
    """
    full = {"query": strategy.embed(query_dataset, desc="query"),
            "gallery": strategy.embed(gallery_dataset, desc="gallery")}
    dropped_embed = model_level_embed(strategy, query_dataset, gallery_dataset)

    def embed(split, dropped):
        return full[split]["feat"] if not dropped else dropped_embed(split, dropped)

    return evaluate_missing_modalities(embed, full["query"]["pids"], full["gallery"]["pids"],
                                       full["query"]["camids"], full["gallery"]["camids"], modalities=modalities,
                                       **options)
