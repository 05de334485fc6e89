"""Protocol rules on hand-computed cases (SYSU-MM01 exclusion, distinct-identity CMC, LLCM, RegDB), the
fast ranking equal to the loop-per-query reference on random cases (ties included), and the
visible-infrared trial helpers."""
from __future__ import annotations

import random
import zlib

import numpy as np
import pytest
import torch

import lifelong_reid.evaluation.ranking as ranking
from lifelong_reid.evaluation import (ReIDEvaluator, evaluate_both_directions, evaluate_distances, evaluate_features,
                                      evaluate_sysu_mm01, protocol_names, sample_gallery)
from lifelong_reid.evaluation.reference import evaluate_numpy


#: what the loop reference computes (the library adds ``float64_queries``, and ``per_query`` on request)
METRIC_KEYS = ("mAP", "rank1", "rank5", "rank10", "rank20", "mINP", "num_valid_queries")


def metrics(m: dict) -> dict:
    return {k: m[k] for k in METRIC_KEYS}


def line(xs):
    """1-D positions as features: squared Euclidean distance ranks as |x - y|."""
    return np.stack([np.asarray(xs, float), np.zeros(len(xs))], axis=1)


def sysu_case():
    # one infrared query per camera 3 and 6, pid 1, at 0.0
    qf, qp, qc = line([0.0, 0.0]), np.array([1, 1]), np.array([3, 6])
    # gallery by distance: cam2 pid1 (0.1), cam2 pid2 (0.2), cam1 pid2 (0.3), cam4 pid2 (0.4), cam1 pid3 (0.5),
    # cam5 pid4 (0.6), cam1 pid1 (0.7)
    gf = line([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    gp = np.array([1, 2, 2, 2, 3, 4, 1])
    gc = np.array([2, 2, 1, 4, 1, 5, 1])
    return qf, gf, qp, gp, qc, gc


def test_sysu_removes_camera_2_for_camera_3_queries_and_counts_distinct_ids():
    m = evaluate_features(*sysu_case(), metric="euclidean", protocol="sysu_mm01", per_query=True)
    # cam-3 query: kept list 2,2,3,4,1 -> match at rank 5 (AP 1/5); distinct ids 2,3,4,1 -> CMC rank 4
    # cam-6 query: kept list 1,2,2,2,3,4,1 -> matches at 1 and 7 (AP (1 + 2/7)/2); CMC rank 1
    ap3, ap6 = 1 / 5, (1 + 2 / 7) / 2
    np.testing.assert_allclose(m["per_query"]["AP"], [100 * ap3, 100 * ap6])
    assert m["per_query"]["first_match_rank"].tolist() == [4, 1]
    assert m["mAP"] == pytest.approx(100 * (ap3 + ap6) / 2)
    assert m["rank1"] == 50.0 and m["rank5"] == 100.0
    assert m["mINP"] == pytest.approx(100 * (1 / 5 + 2 / 7) / 2)
    assert evaluate_numpy(np.abs(sysu_case()[0][:, :1] - sysu_case()[1][:, 0]), *sysu_case()[2:],
                          protocol="sysu_mm01") == pytest.approx(metrics(m))


def test_distinct_id_cmc_differs_from_standard_cmc():
    qf, qp, qc = line([0.0]), np.array([1]), np.array([6])
    gf = line([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    gp, gc = np.array([2, 2, 2, 3, 3, 4, 1]), np.array([1, 1, 1, 1, 1, 1, 1])
    sysu = evaluate_features(qf, gf, qp, gp, qc, gc, metric="euclidean", protocol="sysu_mm01")
    regdb = evaluate_features(qf, gf, qp, gp, qc, gc, metric="euclidean", protocol="regdb")
    assert (sysu["rank1"], sysu["rank5"]) == (0.0, 100.0)  # 4th distinct identity
    assert (regdb["rank5"], regdb["rank10"]) == (0.0, 100.0)  # 7th image
    assert sysu["mAP"] == regdb["mAP"] == pytest.approx(100 / 7)


def test_llcm_removes_same_identity_same_camera_and_counts_distinct_ids():
    qf, qp, qc = line([0.0]), np.array([1]), np.array([2])
    gf = line([0.1, 0.2, 0.3, 0.4])
    gp, gc = np.array([1, 5, 5, 1]), np.array([2, 1, 3, 1])
    m = evaluate_features(qf, gf, qp, gp, qc, gc, metric="euclidean", protocol="llcm")
    # kept: 5, 5, 1 -> AP 1/3; distinct 5, 1 -> CMC rank 2
    assert m["mAP"] == pytest.approx(100 / 3)
    assert (m["rank1"], m["rank5"]) == (0.0, 100.0)


def test_regdb_keeps_everything_and_directions_swap_query_and_gallery():
    vis, th = line([0.0, 1.0, 2.0]), line([0.05, 1.5, 2.1])
    vp, tp = np.array([1, 2, 3]), np.array([1, 3, 2])
    vc, tc = np.ones(3, int), np.full(3, 2)
    both = evaluate_both_directions(vis, th, vp, tp, vc, tc, metric="euclidean")
    # visible -> thermal: q0 (pid 1) -> 0.05 (pid 1): AP 1; q1 (pid 2, at 1.0) -> 1.5 (pid 3), 0.05 (pid 1),
    # 2.1 (pid 2): AP 1/3; q2 (pid 3, at 2.0) -> 2.1 (pid 2), 1.5 (pid 3): AP 1/2
    assert both["visible_to_infrared"]["mAP"] == pytest.approx(100 * (1 + 1 / 3 + 1 / 2) / 3)
    assert both["infrared_to_visible"] == evaluate_features(th, vis, tp, vp, tc, vc, metric="euclidean",
                                                            protocol="regdb")
    same_cam = evaluate_features(vis[:1], vis, vp[:1], vp, vc[:1], vc, protocol="regdb")
    assert same_cam["rank1"] == 100.0  # nothing removed, not even the same camera


def random_case(rng, q, g, protocol, ties=False, clusters=False):
    qp, gp = rng.integers(1, 12, q), rng.integers(-1, 12, g)
    cams = (1, 2, 3, 4, 5, 6)
    qc, gc = rng.choice(cams, q), rng.choice(cams, g)
    if protocol == "sysu_mm01":
        qc = rng.choice((3, 6), q)
    if clusters:
        centres = rng.normal(size=(12, 8)) * 3
        qf = centres[qp] + rng.normal(size=(q, 8))
        gf = centres[np.maximum(gp, 0)] + rng.normal(size=(g, 8))
    else:
        qf, gf = rng.normal(size=(q, 8)), rng.normal(size=(g, 8))
    if ties:
        qf, gf = np.round(qf), np.round(gf)
    return qf, gf, qp, gp, qc, gc


@pytest.mark.parametrize("engine", ["kernel", "torch"])
@pytest.mark.parametrize("protocol", protocol_names())
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("clusters", [False, True])
def test_fast_ranking_equals_loop_reference_on_random_cases(protocol, ties, clusters, engine):
    # zlib.crc32, not hash(): str hashes change per process (PYTHONHASHSEED), which made this test flaky
    rng = np.random.default_rng(zlib.crc32(f"{protocol}-{ties}-{clusters}".encode()))
    qf, gf, qp, gp, qc, gc = random_case(rng, 50, 400, protocol, ties, clusters)
    dist = ((qf[:, None, :] - gf[None, :, :]) ** 2).sum(-1)
    ref = evaluate_numpy(dist, qp, gp, qc, gc, protocol=protocol)
    fast = evaluate_features(qf, gf, qp, gp, qc, gc, metric="euclidean", protocol=protocol, block_elements=9 * 400,
                             ranking=engine)
    assert metrics(fast) == pytest.approx(ref, abs=1e-9) and fast["float64_queries"] == 0  # float64 features
    assert metrics(evaluate_distances(dist, qp, gp, qc, gc, protocol=protocol, ranking=engine)) == pytest.approx(
        ref, abs=1e-9)
    fortran = np.asfortranarray(dist.astype(np.float32))  # e.g. a slice of a transposed matrix
    # float32 rounding can reorder near-equal distances, so the reference reads the same rounded matrix
    ref32 = evaluate_numpy(fortran.astype(np.float64), qp, gp, qc, gc, protocol=protocol)
    assert metrics(evaluate_distances(fortran, qp, gp, qc, gc, protocol=protocol, ranking=engine)) == pytest.approx(
        ref32, abs=1e-9)


@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_engines_agree_with_the_stable_sort_on_integer_distances(scale):
    """Many exact ties between matches and non-matches, single matches (span 0), junk, all protocols."""
    rng = np.random.default_rng(7)
    checked = 0
    for trial in range(60):
        q, g = rng.integers(1, 30), rng.integers(1, 80)
        qp, gp = rng.integers(0, 6, q), rng.integers(-1, 6, g)
        qc, gc = rng.integers(1, 4, q), rng.integers(1, 4, g)
        dist = (rng.integers(0, rng.integers(1, 12), (q, g)) * scale + 5e4).astype(np.float32)
        for protocol in protocol_names():
            try:
                ref = evaluate_numpy(dist, qp, gp, qc, gc, protocol=protocol)
            except ValueError:
                with pytest.raises(ValueError, match="no query has a valid"):
                    evaluate_distances(dist, qp, gp, qc, gc, protocol=protocol)
                continue
            for engine in ("kernel", "torch"):
                got = evaluate_distances(dist, qp, gp, qc, gc, protocol=protocol, ranking=engine)
                assert metrics(got) == pytest.approx(ref, abs=1e-9), (trial, protocol, engine)
            checked += 1
    assert checked > 150


def test_torch_engine_places_a_tie_with_a_single_match_by_gallery_order():
    """Regression: with one match (closest = hardest) the torch engine's bin scale overflowed float32 and a
    non-match at exactly the match's distance, earlier in the gallery, was not counted before it."""
    dist = np.array([[10.0, 9.0, 10.0, 3.0, 10.0]], dtype=np.float32)  # match at column 2
    for engine in ("kernel", "torch"):
        m = evaluate_distances(dist, [1], [5, 6, 1, 7, 8], [1], [2] * 5, ranking=engine)
        assert m["mAP"] == pytest.approx(100 / 4)  # columns 1, 3 (closer) and 0 (tie, earlier) come first


def test_unknown_or_unavailable_ranking_engine_is_an_error():
    with pytest.raises(ValueError, match="unknown ranking engine 'fast'"):
        evaluate_distances(np.ones((1, 2)), [1], [1, 2], [1], [2, 2], ranking="fast")


def test_exact_fallback_runs_for_ties_and_crowded_rows_only(monkeypatch):
    calls = []
    original = ranking.ranks_by_sorting
    monkeypatch.setattr(ranking, "ranks_by_sorting", lambda dist, *a, **k: calls.append(len(dist)) or original(dist, *a, **k))
    rng = np.random.default_rng(0)
    evaluate_features(*random_case(rng, 30, 300, "market1501", clusters=True), metric="euclidean", ranking="torch")
    evaluate_features(*random_case(rng, 30, 300, "market1501"), metric="euclidean", ranking="torch")
    assert calls == []  # continuous features: binning alone is exact
    # query 0 has a non-match (pid 2, gallery index 0) at exactly its match's distance; query 1 has no tie
    qf, gf = line([0.0, 10.0]), line([-1.0, 1.0, 10.5, 12.0])
    m = evaluate_features(qf, gf, [1, 3], [2, 1, 3, 4], [0, 0], [1, 1, 1, 1], metric="euclidean", ranking="torch")
    assert calls == [1]  # only the row with a tie is sorted
    assert m["mAP"] == pytest.approx(100 * (1 / 2 + 1) / 2)  # stable order: gallery index 0 first
    calls.clear()
    qf = np.ones((4, 3))
    evaluate_features(qf, np.ones((300, 3)), [1, 2, 3, 4], rng.integers(1, 5, 300), [0] * 4, [1] * 300,
                      ranking="torch")
    assert calls == [4]  # a collapsed model: every row crowds one bin
    calls.clear()
    evaluate_features(qf, np.ones((300, 3)), [1, 2, 3, 4], rng.integers(1, 5, 300), [0] * 4, [1] * 300,
                      ranking="kernel")
    assert calls == []  # the kernel places ties by gallery column itself


def test_collapsed_features_rank_in_gallery_order_not_matches_first():
    """A model whose features are all equal must not score perfectly: ties keep gallery order."""
    qp, gp = np.array([1]), np.array([2, 3, 1])
    m = evaluate_features(np.ones((1, 4)), np.ones((3, 4)), qp, gp, np.array([1]), np.array([2, 2, 2]))
    assert m["mAP"] == pytest.approx(100 / 3) and m["rank1"] == 0.0


def test_features_with_nan_are_an_error():
    with pytest.raises(ValueError, match="NaN"):
        evaluate_features(np.full((1, 2), np.nan), np.ones((2, 2)), [1], [1, 1], [1], [2, 2])


def reference_sysu_draw(files_by_pair, ids, cameras, trial):
    """The reference code's gallery draw: random.seed(trial); per id (ascending), per camera, choice."""
    random.seed(trial)
    out = []
    for pid in sorted(ids):
        for cam in cameras:
            files = files_by_pair.get((pid, cam))
            if files:
                out.append(random.choice(sorted(files)))
    return out


def test_sysu_single_shot_draw_is_the_reference_codes_draw():
    rng = np.random.default_rng(1)
    names, pids, cams = [], [], []
    for pid in (4, 2, 9):
        for cam in (1, 2, 4, 5):
            for k in range(rng.integers(0, 5)):
                names.append(f"cam{cam}/{pid:04d}/{k:04d}.jpg")
                pids.append(pid)
                cams.append(cam)
    order = np.argsort(names)  # the gallery sorted by file name, as the reference lists it
    names, pids, cams = np.array(names)[order], np.array(pids)[order], np.array(cams)[order]
    pairs = {}
    for n, p, c in zip(names, pids, cams):
        pairs.setdefault((int(p), int(c)), []).append(n)
    for trial in range(10):
        ours = names[sample_gallery(pids, cams, cameras=(1, 2, 4, 5), seed=trial)].tolist()
        assert ours == reference_sysu_draw(pairs, set(pids.tolist()), (1, 2, 4, 5), trial)
    multi = sample_gallery(pids, cams, cameras=(1, 2), shots=10, seed=0)
    for (p, c), files in pairs.items():
        got = [i for i in multi if (pids[i], cams[i]) == (p, c)]
        assert len(got) == (len(files) if c in (1, 2) else 0)


def test_sysu_evaluation_averages_trials_and_checks_its_inputs():
    rng = np.random.default_rng(2)
    gp = np.repeat(np.arange(1, 9), 8)
    gc = np.tile([1, 1, 2, 2, 4, 4, 5, 5], 8)
    gf = rng.normal(size=(len(gp), 6)) + np.repeat(rng.normal(size=(8, 6)) * 2, 8, axis=0)
    qp, qc = np.arange(1, 9), np.array([3, 6] * 4)
    qf = gf[::8] + 0.5 * rng.normal(size=(8, 6))
    res = evaluate_sysu_mm01(qf, gf, qp, gp, qc, gc, mode="indoor", trials=range(3))
    per = [evaluate_features(qf, gf[i], qp, gp[i], qc, gc[i], protocol="sysu_mm01")
           for i in (sample_gallery(gp, gc, cameras=(1, 2), seed=t) for t in range(3))]
    assert res["mAP"] == pytest.approx(np.mean([p["mAP"] for p in per]))
    assert res["std"]["rank1"] == pytest.approx(np.std([p["rank1"] for p in per]))
    assert len(res["trials"]) == 3
    with pytest.raises(ValueError, match="infrared"):
        evaluate_sysu_mm01(qf, gf, qp, gp, np.ones(8, int), gc)
    with pytest.raises(ValueError, match="'all' or 'indoor'"):
        evaluate_sysu_mm01(qf, gf, qp, gp, qc, gc, mode="outdoor")


def test_evaluator_uses_the_sysu_trials_for_sysu_domains():
    rng = np.random.default_rng(4)
    gp, gc = np.repeat(np.arange(1, 6), 8), np.tile([1, 1, 2, 2, 4, 4, 5, 5], 5)
    gf = rng.normal(size=(40, 6))
    qp, qc, qf = np.arange(1, 6), np.array([3, 6, 3, 6, 3]), rng.normal(size=(5, 6))
    ev = ReIDEvaluator(protocol="sysu_mm01")
    ev.process(torch.tensor(qf), qp, qc, split="query")
    ev.process(torch.tensor(gf), gp, gc, split="gallery")
    res = ev.evaluate()
    assert len(res["trials"]) == 10
    assert res["mAP"] == pytest.approx(evaluate_sysu_mm01(qf, gf, qp, gp, qc, gc)["mAP"])


def test_llcm_directions_average_drawn_galleries():
    rng = np.random.default_rng(3)
    vp, ip = np.repeat(np.arange(1, 6), 4), np.repeat(np.arange(1, 6), 4)
    vc, ic = np.tile([1, 2, 1, 2], 5), np.tile([1, 2, 1, 2], 5)
    vf, inf = rng.normal(size=(20, 4)), rng.normal(size=(20, 4))
    both = evaluate_both_directions(vf, inf, vp, ip, vc, ic, protocol="llcm", trials=range(2))
    assert set(both) == {"visible_to_infrared", "infrared_to_visible"}
    assert len(both["visible_to_infrared"]["trials"]) == 2
    torch_in = evaluate_both_directions(torch.tensor(vf), torch.tensor(inf), vp, ip, vc, ic, protocol="llcm",
                                        trials=range(2))
    assert torch_in["infrared_to_visible"]["mAP"] == pytest.approx(both["infrared_to_visible"]["mAP"])


def test_the_ranking_kernel_leaves_torchs_thread_count_alone():
    """numba's OpenMP pool shares torch's runtime; starting it reset a 1-thread torchrun rank to 2 threads,
    which changed the rounding of the training that followed an evaluation."""
    import subprocess
    import sys

    code = ("import torch, numpy as np\n"
            "from lifelong_reid.evaluation import evaluate_distances\n"
            "evaluate_distances(np.random.rand(3, 5).astype(np.float32), [1, 2, 3], [1, 2, 3, 1, 2], [1, 1, 1],"
            " [2] * 5, ranking='kernel')\n"
            "print(torch.get_num_threads())\n")
    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "1"
