"""Synthetic query / gallery sets with the sizes and id / camera distributions of public ReID test sets.

Used by the evaluation benchmarks; features are identity centres plus noise, so mAP is realistic
(neither 0 nor 100) and rankings are non-trivial.
"""
from __future__ import annotations

import numpy as np

#: (queries, gallery images with an identity, distractors (pid 0), identities, cameras)
SCALES = {
    "market1501": (3368, 13120, 2793, 750, 6),
    "msmt17": (11659, 82161, 0, 3060, 15),
}


def make_split(name: str, dim: int = 512, noise: float = 1.1, seed: int = 0):
    """``(qf, gf, q_pids, g_pids, q_camids, g_camids)``: float32 features ``(Q, dim)`` / ``(G, dim)`` and
    int64 ids, with exactly the published numbers of queries and gallery images of ``name``."""
    num_q, num_g_id, num_distract, num_ids, num_cams = SCALES[name]
    rng = np.random.default_rng(seed)
    cams = [rng.choice(num_cams, size=rng.integers(2, min(6, num_cams) + 1), replace=False) + 1
            for _ in range(num_ids)]
    pids = np.arange(1, num_ids + 1)
    # gallery: every (id, camera) pair gets one image, the rest are spread at random
    g_pid = np.concatenate([np.full(len(c), p) for p, c in zip(pids, cams)])
    g_cam = np.concatenate(cams)
    extra = num_g_id - len(g_pid)
    owner = rng.integers(0, num_ids, extra)
    g_pid = np.concatenate([g_pid, pids[owner]])
    g_cam = np.concatenate([g_cam, [rng.choice(cams[o]) for o in owner]])
    # queries: one per (id, camera) pair, trimmed or topped up to the published count
    q_pid = np.concatenate([np.full(len(c), p) for p, c in zip(pids, cams)])
    q_cam = np.concatenate(cams)
    if len(q_pid) > num_q:
        keep = rng.choice(len(q_pid), num_q, replace=False)
        q_pid, q_cam = q_pid[keep], q_cam[keep]
    elif len(q_pid) < num_q:
        more = rng.integers(0, len(q_pid), num_q - len(q_pid))
        q_pid, q_cam = np.concatenate([q_pid, q_pid[more]]), np.concatenate([q_cam, q_cam[more]])
    g_pid = np.concatenate([g_pid, np.zeros(num_distract, dtype=np.int64)])
    g_cam = np.concatenate([g_cam, rng.integers(1, num_cams + 1, num_distract)])
    centres = rng.normal(size=(num_ids + 1, dim)).astype(np.float32)
    cam_shift = 0.5 * rng.normal(size=(num_cams + 1, dim)).astype(np.float32)

    def feats(pid, cam):
        f = centres[pid] + cam_shift[cam] + noise * rng.standard_normal((len(pid), dim), dtype=np.float32)
        f[pid == 0] = rng.standard_normal(((pid == 0).sum(), dim), dtype=np.float32) * 1.5
        return f

    return feats(q_pid, q_cam), feats(g_pid, g_cam), q_pid.astype(np.int64), g_pid.astype(np.int64), \
        q_cam.astype(np.int64), g_cam.astype(np.int64)
