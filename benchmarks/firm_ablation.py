"""FIRM on the synthetic visible-infrared stream with hidden identities (``synthetic-vi-unsupervised``,
``lreid-tiny-vit`` at 128x64 from the synthetic-pretrained tiny CLIP, CPU): the tables of issue 13, each printed as
mean ± std over seeds.

- ``--ablation``: visible -> infrared and infrared -> visible mAP / Rank-1 of every ablation row
  (``lifelong_reid.plugins.firm.example.ABLATIONS``: the full method; no VSPF; Hungarian instead of OT; balanced
  instead of unbalanced OT; no prototype carry-over; plain instead of OT-weighted InfoNCE; and the DBSCAN +
  Hungarian baseline without VSPF, the ADCA / PGM shape), with paired differences against the baseline (and, with
  ``--ceiling``, the same model trained with the true identities for reference), then the
  pseudo-label quality at every re-clustering of each row (adjusted Rand index and purity against the hidden
  identities per modality and joint, matched cluster pairs and the share of them that are the same person);
- ``--cost``: one re-labelling step (k-reciprocal Jaccard + DBSCAN per modality, then the cross-modality
  matching) against the number of samples up to SYSU-MM01's training size (22,258 visible + 11,909 infrared
  synthetic 2048-d features of 395 identities), time and peak memory of each part, unbalanced OT against PGM's
  Hungarian matching on the same clusters, one process per size.

Usage::

    python benchmarks/firm_ablation.py --ablation --seeds 0 1 2 --json firm.json
    python benchmarks/firm_ablation.py --from-json firm.json
    python benchmarks/firm_ablation.py --cost
"""
from __future__ import annotations

import argparse
import json
import os
import threading
import time

import numpy as np
from tables import mean_std, paired, run_json

from lifelong_reid.plugins.firm.example import ABLATIONS

BASELINE = "baseline (DBSCAN + Hungarian, no VSPF)"
CEILING = "supervised reference (true identities, identity + triplet)"
QUALITY = ("visible_clusters", "infrared_clusters", "visible_ari", "infrared_ari", "visible_purity",
           "infrared_purity", "joint_ari", "joint_purity", "matched", "pair_precision")


# ---------------------------------------------------------------------------------------------- ablation
def one_run(row: str, seed: int, epochs: int) -> dict:
    import torch

    from lifelong_reid import RunConfig
    from lifelong_reid.models import build_model
    from lifelong_reid.plugin_manager import get_plugin_manager
    from lifelong_reid.plugins.firm.example import synthetic_defaults, synthetic_stream
    from lifelong_reid.registry import activate_plugins
    from lifelong_reid.strategy import ReIDStrategy

    t0 = time.perf_counter()
    config = synthetic_defaults(RunConfig(name="firm-ablation", plugins={"firm": dict(ABLATIONS[row])}))
    config.set("seed", seed)
    config.set("epochs", epochs)
    torch.manual_seed(seed)
    pm = get_plugin_manager()
    activate_plugins(config, pm)
    strategy = ReIDStrategy(model=build_model(config), config=config, pm=pm, progress=False)
    bench = synthetic_stream(config)
    name = bench.eval_domains[0]
    before = strategy.evaluate_domains(bench)[name]
    strategy.train(bench.train_stream[0])
    after = strategy.evaluate_domains(bench)[name]
    plugin = pm.get_plugin("firm")

    def directions(m):  # the synthetic domain's queries are infrared, its gallery visible
        return {"i2v_mAP": m["mAP"], "i2v_rank1": m["rank1"], "v2i_mAP": m["reverse"]["mAP"],
                "v2i_rank1": m["reverse"]["rank1"]}

    return {"row": row, "seed": seed, **directions(after), "initial": directions(before),
            "history": [{k: h[k] for k in ("epoch", *QUALITY)} for h in plugin.history],
            "wall_s": time.perf_counter() - t0}


def ceiling_run(seed: int, epochs: int) -> dict:
    """The supervised reference: the same model, weights, recipe and images with the true identities
    (``synthetic-vi``), identity + triplet losses, no FIRM."""
    import torch

    from lifelong_reid import RunConfig
    from lifelong_reid.models import build_model
    from lifelong_reid.plugin_manager import get_plugin_manager
    from lifelong_reid.plugins.firm.example import synthetic_defaults, transforms
    from lifelong_reid.strategy import ReIDStrategy
    from lifelong_reid.streams import build_stream

    t0 = time.perf_counter()
    config = synthetic_defaults(RunConfig(name="firm-ceiling"))
    config.plugins = {}
    for key, value in dict(seed=seed, epochs=epochs, id_weight=1.0, triplet_weight=1.0).items():
        config.set(key, value)
    torch.manual_seed(seed)
    strategy = ReIDStrategy(model=build_model(config), config=config, pm=get_plugin_manager(), progress=False)
    bench = build_stream("synthetic-vi", seed=seed, transforms=transforms(config))
    strategy.train(bench.train_stream[0])
    m = strategy.evaluate_domains(bench)[bench.eval_domains[0]]
    return {"row": CEILING, "seed": seed, "i2v_mAP": m["mAP"], "i2v_rank1": m["rank1"],
            "v2i_mAP": m["reverse"]["mAP"], "v2i_rank1": m["reverse"]["rank1"], "history": [],
            "wall_s": time.perf_counter() - t0}


def print_tables(runs: list, rows: list) -> None:
    for r in runs:
        r["mean_mAP"] = (r["v2i_mAP"] + r["i2v_mAP"]) / 2
    by_row = {r: [x for x in runs if x["row"] == r] for r in rows}
    base = by_row.get(BASELINE)
    init = [x["initial"] for x in runs if x["row"] == runs[0]["row"] and "initial" in x]
    print("\n## Retrieval after training (synthetic-vi-unsupervised)\n\n| row | V->I mAP | V->I Rank-1 | I->V mAP | "
          "I->V Rank-1 | mean mAP vs baseline, paired | s / run |\n|---|---|---|---|---|---|---|")
    if init:
        print(f"| before training (every row) | {mean_std(init, 'v2i_mAP')} | {mean_std(init, 'v2i_rank1')} | "
              f"{mean_std(init, 'i2v_mAP')} | {mean_std(init, 'i2v_rank1')} | | |")
    for row in rows:
        rs = by_row[row]
        if not rs:
            continue
        diff = paired(rs, base, "mean_mAP") if base and row != BASELINE else ""
        print(f"| {row} | {mean_std(rs, 'v2i_mAP')} | {mean_std(rs, 'v2i_rank1')} | {mean_std(rs, 'i2v_mAP')} | "
              f"{mean_std(rs, 'i2v_rank1')} | {diff} | {np.mean([r['wall_s'] for r in rs]):.0f} |")
    print("\n## Pseudo-label quality per re-clustering (mean over seeds)\n\nARI: adjusted Rand index over the "
          "clustered samples; purity: share of clustered samples whose identity is their cluster's majority; joint: "
          "both modalities under the joint pseudo-identities; pair precision: share of matched visible-infrared cluster "
          "pairs whose majority identities agree (- when nothing is matched).")
    for row in rows:
        rs = by_row[row]
        if not rs or not rs[0]["history"]:
            continue
        print(f"\n### {row}\n\n| epoch | " + " | ".join(QUALITY) + " |\n" + "|---" * (len(QUALITY) + 1) + "|")
        for e in range(len(rs[0]["history"])):
            cells = []
            for key in QUALITY:
                vals = [r["history"][e].get(key) for r in rs if e < len(r["history"])]
                vals = [v for v in vals if v is not None]
                cells.append("-" if not vals else (f"{np.mean(vals):.3f}" if isinstance(vals[0], float)
                                                   else f"{np.mean(vals):.1f}"))
            print(f"| {e + 1} | " + " | ".join(cells) + " |")


# ---------------------------------------------------------------------------------------------- cost
class PeakRSS:
    """Peak resident memory above the level at entry, sampled every 5 ms from ``/proc/self/statm`` (Linux)."""

    def __enter__(self):
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        self.t0 = time.perf_counter()
        return self

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self.page

    def _poll(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.005)

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())
        self.mb = (self.peak - self.start) / 2**20


def synthetic_features(n_visible: int, n_infrared: int, ids: int = 395, dim: int = 2048, seed: int = 0):
    """L2-normalised features of ``ids`` identities (a random centre each, unit-norm noise per sample at the
    centre's scale, an infrared offset shared by the infrared samples: the modality gap)."""
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(ids, dim, generator=g)
    gap = torch.randn(dim, generator=g) * 0.5

    def sample(n, offset):
        pid = torch.arange(n) % ids
        return F.normalize(centres[pid] + offset + 0.8 * torch.randn(n, dim, generator=g), dim=1), pid

    (v, _), (r, _) = sample(n_visible, 0), sample(n_infrared, gap)
    return v, r


def relabel_cost(n_visible: int, n_infrared: int) -> dict:
    """One re-labelling step at this size, each part timed with its peak memory."""
    import torch
    from sklearn.cluster import DBSCAN

    from lifelong_reid.evaluation.rerank import jaccard_graph
    from lifelong_reid.plugins.firm.clustering import cluster_centres
    from lifelong_reid.plugins.firm.matching import match_clusters

    torch.set_num_threads(os.cpu_count() or 1)
    v, r = synthetic_features(n_visible, n_infrared)
    for backend in ("torch", "faiss"):  # warm-up: library loading is not the step's memory
        jaccard_graph(v[:64], k1=30, k2=6, backend=backend)
    out = {"visible": n_visible, "infrared": n_infrared}
    labels, centres = [], []
    for name, x in (("visible", v), ("infrared", r)):
        with PeakRSS() as p:
            jaccard_graph(x, k1=30, k2=6, max_distance=0.6, backend="faiss")
        out[f"{name}_jaccard_faiss_s"] = p.seconds
        with PeakRSS() as p:
            graph = jaccard_graph(x, k1=30, k2=6, max_distance=0.6, backend="torch")
        out[f"{name}_jaccard_s"], out[f"{name}_jaccard_mb"], out[f"{name}_graph_mb"] = \
            p.seconds, p.mb, (graph.data.nbytes + graph.indices.nbytes + graph.indptr.nbytes) / 2**20
        with PeakRSS() as p:
            lab = torch.as_tensor(DBSCAN(eps=0.6, min_samples=4, metric="precomputed").fit_predict(graph))
        out[f"{name}_dbscan_s"], out[f"{name}_dbscan_mb"] = p.seconds, p.mb
        out[f"{name}_clusters"] = int(lab.max()) + 1
        labels.append(lab)
        centres.append(cluster_centres(x, lab))
        del graph
    for method in ("unbalanced", "hungarian"):
        with PeakRSS() as p:
            m = match_clusters(centres[0], centres[1], method)
        out[f"{method}_s"], out[f"{method}_mb"] = p.seconds, p.mb
        out[f"{method}_matched"] = int((m.infrared_to_visible >= 0).sum())
    return out


def print_cost(fractions: list) -> None:
    full_v, full_i = 22258, 11909
    print("\n## One re-labelling step against the number of samples\n\nSynthetic 2048-d features of 395 identities "
          f"(SYSU-MM01's training set at full size: {full_v} visible + {full_i} infrared), k1 30, k2 6, DBSCAN eps 0.6 "
          f"and 4 samples, {os.cpu_count()} CPU cores, one process per size; memory = peak RSS growth of each part; "
          "the Jaccard distances with torch's blocked search (used for the rest) and with faiss's flat index. "
          "A dense N x N float32 Jaccard matrix, as the reference code keeps, would take N^2 x 4 bytes.\n")
    print("| visible + infrared | Jaccard s (V / I) | with faiss neighbours s (V / I) | Jaccard MB (V / I) | graph MB (V / I) | dense matrix MB (V) | "
          "DBSCAN s (V / I) | clusters (V / I) | unbalanced OT s / MB / matched | Hungarian s / MB / matched | "
          "step s, OT / Hungarian |\n" + "|---" * 11 + "|")
    for frac in fractions:
        nv, ni = int(round(full_v * frac)), int(round(full_i * frac))
        r, err = run_json(__file__, "--cost-one", str(nv), str(ni), tail=800)
        if r is None:
            print(f"| {nv} + {ni} | failed: {err} |")
            continue
        common = r["visible_jaccard_s"] + r["infrared_jaccard_s"] + r["visible_dbscan_s"] + r["infrared_dbscan_s"]
        print(f"| {nv} + {ni} | {r['visible_jaccard_s']:.1f} / {r['infrared_jaccard_s']:.1f} | "
              f"{r['visible_jaccard_faiss_s']:.1f} / {r['infrared_jaccard_faiss_s']:.1f} | "
              f"{r['visible_jaccard_mb']:.0f} / {r['infrared_jaccard_mb']:.0f} | "
              f"{r['visible_graph_mb']:.1f} / {r['infrared_graph_mb']:.1f} | {nv * nv * 4 / 2**20:.0f} | "
              f"{r['visible_dbscan_s']:.2f} / {r['infrared_dbscan_s']:.2f} | "
              f"{r['visible_clusters']} / {r['infrared_clusters']} | "
              f"{r['unbalanced_s']:.3f} / {r['unbalanced_mb']:.0f} / {r['unbalanced_matched']} | "
              f"{r['hungarian_s']:.3f} / {r['hungarian_mb']:.0f} / {r['hungarian_matched']} | "
              f"{common + r['unbalanced_s']:.1f} / {common + r['hungarian_s']:.1f} |", flush=True)


# ---------------------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ablation", action="store_true", help="every ablation row, both directions, label quality")
    ap.add_argument("--cost", action="store_true", help="re-labelling cost against the number of samples")
    ap.add_argument("--ceiling", action="store_true", help="add the supervised reference row (true identities)")
    ap.add_argument("--rows", nargs="*", default=list(ABLATIONS), choices=list(ABLATIONS))
    ap.add_argument("--seeds", nargs="*", type=int, default=[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--fractions", nargs="*", type=float, default=[0.05, 0.1, 0.25, 0.5, 1.0],
                    help="sizes as fractions of SYSU-MM01's training set")
    ap.add_argument("--json", help="write every run's figures here")
    ap.add_argument("--from-json", help="print the ablation tables of an earlier --json file")
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--cost-one", nargs=2, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        row, seed = args.one[0], int(args.one[1])
        print(json.dumps(ceiling_run(seed, args.epochs) if row == CEILING else one_run(row, seed, args.epochs)))
        return
    if args.cost_one:
        print(json.dumps(relabel_cost(*args.cost_one)))
        return
    if args.from_json:
        with open(args.from_json) as f:
            runs = json.load(f)
        print_tables(runs, [r for r in (*ABLATIONS, CEILING) if any(x["row"] == r for x in runs)])
        return
    if not (args.ablation or args.cost):
        ap.error("choose at least one of --ablation --cost")
    if args.ceiling and not args.ablation:
        ap.error("--ceiling adds a row to --ablation")
    if args.ablation:
        print(f"synthetic-vi-unsupervised, lreid-tiny-vit 128x64 (synthetic CLIP), {args.epochs} epochs; seeds "
              f"{args.seeds}; CPU {os.cpu_count()} cores", flush=True)
        runs = []
        for row in [*args.rows, *([CEILING] if args.ceiling else [])]:
            for seed in args.seeds:
                r, err = run_json(__file__, "--one", row, str(seed), "--epochs", str(args.epochs), tail=1500)
                if r is None:
                    print(f"{row} seed {seed}: failed\n{err}", flush=True)
                    continue
                runs.append(r)
                print(f"{row} seed {seed}: V->I {r['v2i_mAP']:.2f} I->V {r['i2v_mAP']:.2f} mAP "
                      f"({r['wall_s']:.0f} s)", flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(runs, f, indent=1)
        print_tables(runs, [r for r in (*args.rows, CEILING) if any(x["row"] == r for x in runs)])
    if args.cost:
        print_cost(args.fractions)


if __name__ == "__main__":
    main()
