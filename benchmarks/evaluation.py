"""Evaluation speed and memory at the scale of public test sets, against the baselines in the same run.

Cases (each runs in its own process, so peak memory is its own):

- ``market``: mAP + CMC + mINP from 512-d features, Market-1501 scale (3,368 queries x 15,913 gallery,
  750 identities over 6 cameras plus 2,793 distractors). Ours (:func:`evaluate_features`) against
  (a) the Cython evaluator torchreid and fast-reid ship (``rank_cy``; built here from the ``fastreid==1.4.0``
  wheel's ``evaluation/rank_cylib``, nothing committed) fed the same distance matrix, and (b) the plain
  numpy loop (:func:`lifelong_reid.evaluation.reference.evaluate_numpy`). Numbers must agree to 1e-6.
- ``market_mid``: the same with features of middling quality (mAP ~45, Rank-1 ~82: the unseen domains of a
  lifelong run).
- ``market_weak``: the same with the features of an untrained model (mAP ~10): most non-matches come
  before the hardest match.
- ``market_collinear``: features whose query-gallery cosines are all ~0.99999 (a model that barely separates
  people): float32 distances are quantised, ours ranks every such row from float64 distances
  (``float64_queries``); compared with rank_cy on the float32 matrix and with the numpy loop on the float64
  matrix (the exact numbers).

Each market case also times ours with the torch ranking engine (``ranking="torch"``, the path CUDA tensors
take), and ``--device cuda`` runs ours on the GPU.
- ``msmt``: ours at MSMT17 scale (11,659 x 82,161); peak memory.
- ``rerank``: k-reciprocal re-ranking + evaluation at Market scale: ours (sparse) against the reference
  numpy re-ranking (dense, float16 V, as Zhong et al.'s code) followed by the same evaluation.

Usage::

    python benchmarks/evaluation.py            # all cases
    python benchmarks/evaluation.py market     # one case

Times are wall-clock seconds (best of ``--repeat`` for the fast paths, one run for the slow references);
memory is the process's peak resident set size and its growth during the measured call.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reid_scale import make_split  # noqa: E402

CACHE = Path(os.environ.get("LREID_BENCH_CACHE", Path.home() / ".cache" / "lifelong_reid" / "rank_cy"))
NOISE = 1.8  # gives Market-scale mAP ~87 / mINP ~48, like a CLIP-ReID model on Market-1501
WEAK_NOISE = 3.0  # an untrained model: mAP ~10, mINP ~0.4
MID_NOISE = 2.3  # middling features: mAP ~45, Rank-1 ~82
COLLINEAR_SPREAD = 3e-3  # features base + 0.003 |base| x signal: mean query-gallery cosine ~0.99999
RERANK_NOISE = 2.6  # harder features (mAP ~24 -> ~66 re-ranked) so that re-ranking changes the ranking a lot


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ensure_rank_cy():
    """Import ``rank_cy``, building it from the fastreid 1.4.0 wheel on first use."""
    lib = CACHE / "pkg" / "fastreid" / "evaluation" / "rank_cylib"
    if not any(lib.glob("rank_cy*.so")):
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(CACHE / "pkg"),
                        "fastreid==1.4.0", "cython"], check=True)
        env = dict(os.environ, PYTHONPATH=str(CACHE / "pkg"))
        subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=lib, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sys.path.insert(0, str(lib))
    import rank_cy

    return rank_cy


def timed(fn, repeat: int = 1):
    best, out = float("inf"), None
    base = rss_mb()
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return out, best, peak_mb(), peak_mb() - base


def close(a: dict, b: dict, tol: float) -> bool:
    return all(abs(a[k] - b[k]) <= tol for k in ("mAP", "rank1", "rank5", "rank10", "rank20", "mINP"))


def collinear(f: np.ndarray, base: np.ndarray) -> np.ndarray:
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
    return (base + COLLINEAR_SPREAD * np.linalg.norm(base) * f).astype(np.float32)


def case_market(repeat: int, noise: float = NOISE, name: str = "market", device: str = "cpu") -> dict:
    from lifelong_reid.evaluation import evaluate_features
    from lifelong_reid.evaluation.distance import DistanceBlocks
    from lifelong_reid.evaluation.reference import evaluate_numpy

    qf, gf, qp, gp, qc, gc = make_split("market1501", noise=noise)
    if name == "market_collinear":
        base = np.random.default_rng(1).normal(size=qf.shape[1]).astype(np.float32) * 10
        qf, gf = collinear(qf, base), collinear(gf, base)
    qt, gt = torch.from_numpy(qf).to(device), torch.from_numpy(gf).to(device)

    def run(engine):
        out = evaluate_features(qt, gt, qp, gp, qc, gc, ranking=engine)
        if device != "cpu":
            torch.cuda.synchronize()
        return out

    ours, t_ours, peak, grow = timed(lambda: run("auto"), repeat)
    ours_torch, t_torch, _, _ = timed(lambda: run("torch"), repeat)
    rank_cy = ensure_rank_cy()

    def cython():
        d = DistanceBlocks(torch.from_numpy(qf), torch.from_numpy(gf)).full().numpy()  # same distances as ours
        cmc, ap, inp = rank_cy.evaluate_cy(d, qp, gp, qc, gc, 20)
        return {"mAP": 100 * float(np.mean(ap)), "rank1": 100 * float(cmc[0]), "rank5": 100 * float(cmc[4]),
                "rank10": 100 * float(cmc[9]), "rank20": 100 * float(cmc[19]), "mINP": 100 * float(np.mean(inp))}

    cy, t_cy, _, _ = timed(cython, repeat)
    d = DistanceBlocks(torch.from_numpy(qf), torch.from_numpy(gf)).full().numpy()
    if name == "market_collinear":  # the exact numbers: the same distances in float64
        d = DistanceBlocks(torch.from_numpy(qf).double(), torch.from_numpy(gf).double()).full().numpy()
    ref, t_np, _, _ = timed(lambda: evaluate_numpy(d, qp, gp, qc, gc))
    return {"case": name, "shape": [len(qf), len(gf)], "ours_s": t_ours, "rank_cy_s": t_cy, "numpy_s": t_np,
            "ours_torch_s": t_torch, "device": device,
            "speedup_vs_rank_cy": t_cy / t_ours, "speedup_vs_numpy": t_np / t_ours,
            "peak_rss_mb": peak, "growth_mb": grow, "ours": ours, "ours_torch": ours_torch, "rank_cy": cy,
            "numpy": ref, "equal_torch_engine_1e-6": close(ours, ours_torch, 1e-4),
            # rank_cy accumulates AP in float32: compare as fractions to 1e-6, i.e. 1e-4 in percent
            "equal_rank_cy_1e-6": close(ours, cy, 1e-4), "equal_numpy_1e-6": close(ours, ref, 1e-4)}


def case_msmt(repeat: int) -> dict:
    from lifelong_reid.evaluation import evaluate_features

    qf, gf, qp, gp, qc, gc = make_split("msmt17", noise=NOISE)
    ours, t, peak, grow = timed(lambda: evaluate_features(qf, gf, qp, gp, qc, gc), repeat)
    return {"case": "msmt", "shape": [len(qf), len(gf)], "ours_s": t, "peak_rss_mb": peak, "growth_mb": grow,
            "ours": ours}


def case_rerank_ours(repeat: int) -> dict:  # one run: a re-ranking takes seconds
    from lifelong_reid.evaluation import evaluate_features

    qf, gf, qp, gp, qc, gc = make_split("market1501", noise=RERANK_NOISE)
    ours, t, peak, grow = timed(lambda: evaluate_features(qf, gf, qp, gp, qc, gc, rerank=True))
    return {"case": "rerank_ours", "ours_s": t, "peak_rss_mb": peak, "growth_mb": grow, "ours": ours}


def case_rerank_reference(repeat: int) -> dict:
    import torch.nn.functional as F

    from lifelong_reid.evaluation import evaluate_distances
    from lifelong_reid.evaluation.reference import re_ranking_numpy

    qf, gf, qp, gp, qc, gc = make_split("market1501", noise=RERANK_NOISE)
    qn = F.normalize(torch.from_numpy(qf), dim=1).numpy()
    gn = F.normalize(torch.from_numpy(gf), dim=1).numpy()
    ref, t, peak, grow = timed(lambda: evaluate_distances(re_ranking_numpy(qn, gn).astype(np.float32), qp, gp,
                                                          qc, gc))
    return {"case": "rerank_reference", "reference_s": t, "peak_rss_mb": peak, "growth_mb": grow, "reference": ref}


CASES = {"market": lambda r, dev: case_market(r, device=dev),
         "market_mid": lambda r, dev: case_market(r, MID_NOISE, "market_mid", dev),
         "market_weak": lambda r, dev: case_market(r, WEAK_NOISE, "market_weak", dev),
         "market_collinear": lambda r, dev: case_market(r, MID_NOISE, "market_collinear", dev),
         "msmt": lambda r, dev: case_msmt(r), "rerank_ours": lambda r, dev: case_rerank_ours(r),
         "rerank_reference": lambda r, dev: case_rerank_reference(r)}
MARKET = ("market", "market_mid", "market_weak", "market_collinear")
PUBLIC = MARKET + ("msmt", "rerank")


def fmt(m: dict) -> str:
    return " ".join(f"{k}={m[k]:.6f}" for k in ("mAP", "rank1", "rank5", "rank10", "rank20", "mINP"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cases", nargs="*", help=f"{', '.join(PUBLIC)} (default: all)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="where ours runs (cpu, cuda)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one case in this process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(CASES[args.one](args.repeat, args.device)))
        return
    wanted = args.cases or list(PUBLIC)
    unknown = sorted(set(wanted) - set(PUBLIC))
    if unknown:
        parser.error(f"unknown case(s) {unknown}; choose from {', '.join(PUBLIC)}")
    names = [c for w in wanted for c in (["rerank_ours", "rerank_reference"] if w == "rerank" else [w])]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    results = {}
    for name in names:
        out = subprocess.run([sys.executable, __file__, "--one", name, "--repeat", str(args.repeat), "--device",
                              args.device],
                             capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{name}: failed\n{out.stderr[-2000:]}")
            continue
        results[name] = r = json.loads(out.stdout.strip().splitlines()[-1])
        if name in MARKET:
            print(f"{name} {r['shape']} ({r['device']}): ours {r['ours_s']:.3f} s | torch engine "
                  f"{r['ours_torch_s']:.3f} s | rank_cy {r['rank_cy_s']:.3f} s ({r['speedup_vs_rank_cy']:.1f}x) | "
                  f"numpy {r['numpy_s']:.2f} s ({r['speedup_vs_numpy']:.0f}x) | "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB (+{r['growth_mb']:.0f} MB)")
            print(f"  ours    {fmt(r['ours'])} float64_queries={r['ours']['float64_queries']}\n"
                  f"  torch   {fmt(r['ours_torch'])}\n  rank_cy {fmt(r['rank_cy'])}\n  numpy   {fmt(r['numpy'])}")
            print(f"  equal to 1e-6: rank_cy {r['equal_rank_cy_1e-6']}, numpy {r['equal_numpy_1e-6']}, "
                  f"torch engine {r['equal_torch_engine_1e-6']}")
        elif name == "msmt":
            print(f"msmt {r['shape']}: ours {r['ours_s']:.2f} s | peak RSS {r['peak_rss_mb']:.0f} MB "
                  f"(+{r['growth_mb']:.0f} MB)\n  ours    {fmt(r['ours'])}")
        elif name == "rerank_ours":
            print(f"rerank (Market scale): ours {r['ours_s']:.2f} s | peak RSS {r['peak_rss_mb']:.0f} MB "
                  f"(+{r['growth_mb']:.0f} MB)\n  ours      {fmt(r['ours'])}")
        else:
            print(f"rerank (Market scale): reference numpy {r['reference_s']:.1f} s | peak RSS "
                  f"{r['peak_rss_mb']:.0f} MB (+{r['growth_mb']:.0f} MB)\n  reference {fmt(r['reference'])}")
    market = [n for n in MARKET if n in results]
    if market:
        print("\n| case | mAP | Rank-1 | ours | torch engine | rank_cy + distances | numpy loop | vs rank_cy | "
              "equal to 1e-6 (rank_cy / numpy) | float64 queries |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for n in market:
            r = results[n]
            print(f"| {n} | {r['ours']['mAP']:.2f} | {r['ours']['rank1']:.2f} | {r['ours_s']:.3f} s | "
                  f"{r['ours_torch_s']:.3f} s | {r['rank_cy_s']:.3f} s | {r['numpy_s']:.2f} s | "
                  f"{r['speedup_vs_rank_cy']:.1f}x | {r['equal_rank_cy_1e-6']} / {r['equal_numpy_1e-6']} | "
                  f"{r['ours']['float64_queries']} |")
    if "rerank_ours" in results and "rerank_reference" in results:
        a, b = results["rerank_ours"], results["rerank_reference"]
        print(f"  rerank speed-up {b['reference_s'] / a['ours_s']:.1f}x, mAP difference "
              f"{abs(a['ours']['mAP'] - b['reference']['mAP']):.4f} points")


if __name__ == "__main__":
    main()
