"""Visible-infrared evaluation: SYSU-MM01 gallery trials, RegDB and LLCM in both directions, and the
mean / spread over trials that VI-ReID papers report.

Shapes: ``Q`` queries, ``G`` gallery images, ``D`` feature size.

SYSU-MM01 (Wu et al., ICCV 2017; rules as the authors' evaluation and AGW's ``eval_sysu``):
    - queries: infrared images of the test identities (cameras 3 and 6);
    - gallery: visible images, ``"all"`` search from cameras 1, 2, 4, 5, ``"indoor"`` from cameras 1, 2;
    - ``shots`` images per (identity, camera) drawn at random: 1 (single-shot) or 10 (multi-shot);
    - the draw is repeated for ``trials`` seeds (0..9 by default) and the metrics averaged; trial ``t``
      seeds Python's ``random.seed(t)`` and draws identity by identity (ascending pid), camera by camera
      (in the order above), each from that identity's images under that camera in the given order (sort
      the gallery by file name first to reproduce the reference code's draw exactly);
    - camera-2 gallery images are removed for camera-3 queries (same room), and CMC counts distinct
      identities (protocol ``sysu_mm01``).

RegDB (Nguyen et al., Sensors 2017): 10 splits of 206 test identities, each evaluated visible -> thermal
and thermal -> visible with nothing removed (protocol ``regdb``); each split is its own model and test
set, so a caller evaluates every split and passes the results to :func:`average_trials`.

LLCM (Zhang & Wang, CVPR 2023): visible -> infrared and infrared -> visible, gallery drawn one image per
(identity, camera) over 10 trials, protocol ``llcm``.
"""
from __future__ import annotations

import random
from collections import defaultdict

import numpy as np

from lifelong_reid.evaluation.distance import as_tensor
from lifelong_reid.evaluation.retrieval import evaluate_features

SYSU_QUERY_CAMERAS = (3, 6)
SYSU_GALLERY_CAMERAS = {"all": (1, 2, 4, 5), "indoor": (1, 2)}
METRIC_KEYS = ("mAP", "rank1", "rank5", "rank10", "rank20", "mINP")


def sample_gallery(pids, camids, *, cameras=None, shots: int = 1, seed: int = 0) -> np.ndarray:
    """Indices of a random gallery: ``shots`` images per (identity, camera) pair.

    Args:
        pids, camids: ``(G,)`` integer ids of the candidate gallery images.
        cameras: cameras to draw from, in drawing order (default: every camera, ascending).
        shots: images per pair (fewer when a pair has fewer images; all of them then).
        seed: ``random.seed(seed)`` before drawing (the SYSU-MM01 / LLCM reference code's convention).

    Returns:
        ``(S,)`` int64 indices into the candidates, in drawing order.

    Raises:
        ValueError: ``shots < 1`` or no candidate image in ``cameras``.
    """
    if shots < 1:
        raise ValueError(f"shots must be >= 1, got {shots}")
    pids, camids = np.asarray(pids), np.asarray(camids)
    cameras = tuple(sorted(set(camids.tolist()))) if cameras is None else tuple(cameras)
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, (p, c) in enumerate(zip(pids.tolist(), camids.tolist())):
        groups[(p, c)].append(i)
    rng = random.Random(seed)
    chosen: list[int] = []
    for p in sorted(set(pids.tolist())):
        for c in cameras:
            files = groups.get((p, c))
            if not files:
                continue
            if shots == 1:
                chosen.append(rng.choice(files))
            else:
                chosen.extend(rng.sample(files, min(shots, len(files))))
    if not chosen:
        raise ValueError(f"no gallery image under cameras {cameras}")
    return np.asarray(chosen, dtype=np.int64)


def average_trials(trials: list[dict]) -> dict:
    """Mean of each metric over trials, plus ``std`` (population) and the per-trial ``trials`` list.

    Raises:
        ValueError: empty list.
    """
    if not trials:
        raise ValueError("average_trials needs at least one trial")
    out = {k: float(np.mean([t[k] for t in trials])) for k in METRIC_KEYS if k in trials[0]}
    out["std"] = {k: float(np.std([t[k] for t in trials])) for k in METRIC_KEYS if k in trials[0]}
    out["trials"] = [{k: t[k] for k in METRIC_KEYS if k in t} for t in trials]
    return out


def evaluate_gallery_trials(query_features, gallery_features, query_pids, gallery_pids, query_camids,
                            gallery_camids, *, protocol: str, cameras=None, shots: int = 1, trials=range(10),
                            **options) -> dict:
    """Evaluate against ``len(trials)`` random galleries (:func:`sample_gallery` with each seed) and
    average them (:func:`average_trials`). ``options`` go to :func:`evaluate_features`."""
    gp, gc = np.asarray(as_tensor(gallery_pids).cpu()), np.asarray(as_tensor(gallery_camids).cpu())
    gf = as_tensor(gallery_features)
    results = []
    for seed in trials:
        idx = sample_gallery(gp, gc, cameras=cameras, shots=shots, seed=seed)
        results.append(evaluate_features(query_features, gf[idx], query_pids, gp[idx], query_camids, gc[idx],
                                         protocol=protocol, **options))
    return average_trials(results)


def evaluate_sysu_mm01(query_features, gallery_features, query_pids, gallery_pids, query_camids, gallery_camids,
                       *, mode: str = "all", shots: int = 1, trials=range(10), **options) -> dict:
    """SYSU-MM01 infrared -> visible evaluation (see the module docstring), averaged over ``trials``.

    Args:
        query_features: ``(Q, D)`` infrared test images; other query images (visible cameras) are an error.
        gallery_features: ``(G, D)`` every visible test image (cameras 1, 2, 4, 5); the ``mode`` selects
            cameras and each trial draws ``shots`` per identity and camera.
        mode: ``"all"`` or ``"indoor"``. shots: 1 (single-shot) or 10 (multi-shot).

    Returns:
        Mean metrics (percent), ``std`` and ``trials`` (see :func:`average_trials`).

    Raises:
        ValueError: unknown mode, or query cameras other than 3 and 6.
    """
    if mode not in SYSU_GALLERY_CAMERAS:
        raise ValueError(f"SYSU-MM01 mode must be 'all' or 'indoor', got {mode!r}")
    qc = np.asarray(as_tensor(query_camids).cpu())
    bad = sorted(set(qc.tolist()) - set(SYSU_QUERY_CAMERAS))
    if bad:
        raise ValueError(f"SYSU-MM01 queries must be infrared images (cameras 3 and 6); got cameras {bad}")
    return evaluate_gallery_trials(query_features, gallery_features, query_pids, gallery_pids, query_camids,
                                   gallery_camids, protocol="sysu_mm01", cameras=SYSU_GALLERY_CAMERAS[mode],
                                   shots=shots, trials=trials, **options)


def evaluate_both_directions(visible_features, infrared_features, visible_pids, infrared_pids, visible_camids,
                             infrared_camids, *, protocol: str = "regdb", trials=None, **options) -> dict:
    """``{"visible_to_infrared": metrics, "infrared_to_visible": metrics}``: each modality queried
    against the other (RegDB calls infrared "thermal").

    Args:
        protocol: ``"regdb"`` (whole gallery, nothing removed) or ``"llcm"``.
        trials: ``None`` to use the whole other modality as the gallery (RegDB); seeds to draw one image
            per (identity, camera) per trial and average (LLCM, :func:`evaluate_gallery_trials`).
        options: passed to :func:`evaluate_features`.
    """
    sides = {"visible": (visible_features, visible_pids, visible_camids),
             "infrared": (infrared_features, infrared_pids, infrared_camids)}
    out = {}
    for q, g in (("visible", "infrared"), ("infrared", "visible")):
        (qf, qp, qc), (gf, gp, gc) = sides[q], sides[g]
        if trials is None:
            out[f"{q}_to_{g}"] = evaluate_features(qf, gf, qp, gp, qc, gc, protocol=protocol, **options)
        else:
            out[f"{q}_to_{g}"] = evaluate_gallery_trials(qf, gf, qp, gp, qc, gc, protocol=protocol, trials=trials,
                                                         **options)
    return out
