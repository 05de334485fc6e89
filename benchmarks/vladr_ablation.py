"""VLADR's ablation table on the synthetic Setting 1 stream (5 training domains, 3 unseen), tiny model, CPU.

For every row (baseline = CLIP-ReID fine-tuning without the plugin, then the plugin's rows) and every
seed, one run in its own process; prints anti-forgetting (seen) and generalization (unseen) mAP / Rank-1
as mean +- std over seeds, and the per-experience cost (wall time, peak RSS) of each row against the
baseline measured in the same invocation.

Usage::

    python benchmarks/vladr_ablation.py                       # all rows, seeds 0 1 2
    python benchmarks/vladr_ablation.py --rows baseline full --seeds 0 --epochs 4
    python benchmarks/vladr_ablation.py --preset official       # the official preset's rows
    python benchmarks/vladr_ablation.py --merge a.json b.json   # one table from runs saved with --json
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tables import mean_std, run_json

ROWS = ["baseline", "mtad", "cma", "full", "global_ida", "random_partition", "interpolation", "full_no_interpolation"]
#: The ``official`` preset's rows (``--preset official``): the released recipe, then one component taken away.
OFFICIAL_ROWS = ["baseline", "official", "official_no_mixing", "official_no_kl", "official_no_strong_view",
                 "official_no_cma", "official_no_i2t"]
LABELS = {"baseline": "baseline (CLIP-ReID fine-tuning)", "mtad": "+MTAD", "cma": "+MTAD +CMA",
          "full": "+MTAD +CMA +IDA (full)", "global_ida": "global + IDA", "random_partition": "random partition",
          "interpolation": "weight interpolation only", "full_no_interpolation": "full without weight interpolation",
          "official": "official preset", "official_no_mixing": "official without weight mixing",
          "official_no_kl": "official without the affinity KL",
          "official_no_strong_view": "official without the strong view",
          "official_no_cma": "official without CMA", "official_no_i2t": "official without the coarse image-text loss"}


def parse_overrides(pairs: list[str]) -> dict:
    """``["cma_weight=0.1", "cma_form=matching"]`` -> VLADRConfig overrides (values read as JSON when they parse)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set expects KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def one_run(row: str, seed: int, epochs: int, ids: int, stage1_epochs: int, overrides: dict,
            weights: str | None = None) -> dict:
    from dataclasses import asdict

    import torch

    from lifelong_reid import RunConfig
    from lifelong_reid.data import build_transforms
    from lifelong_reid.plugin_manager import get_plugin_manager
    from lifelong_reid.plugins.vladr import ablation_config
    from lifelong_reid.plugins.vladr.augment import official_transforms
    from lifelong_reid.plugins.vladr.example import OFFICIAL_CONTRACTS
    from lifelong_reid.registry import activate_plugins
    from lifelong_reid.runner import run_experiment
    from lifelong_reid.streams import build_stream

    settings = ablation_config(row, **{"stage1_epochs": stage1_epochs, **overrides}) if row != "baseline" else None
    official = row.startswith("official")  # the released method's run contracts, at the CPU's scale
    config = RunConfig(name=f"vladr-{row}", model="lreid-tiny-vit", pretrained=None, image_size=[128, 64],
                       epochs=epochs, lr=3e-4, warmup_epochs=1, milestones=[max(1, epochs - 2)], batch_p=8, batch_k=4,
                       bias_lr_mult=1.0, device="cpu", seed=seed, weights=weights,
                       plugins={"vladr": asdict(settings)} if settings else {},
                       **(OFFICIAL_CONTRACTS if official else {}))
    stream = build_stream("synthetic-setting1", seed=seed, num_train_ids=ids,
                          transforms=official_transforms(config.image_size, pad=4) if official
                          else build_transforms(config.image_size, pad=4))
    pm = get_plugin_manager()
    activate_plugins(config, pm)  # the registry's vladr plugin, as `lreid run` activates it
    plugin = pm.get_plugin("vladr")
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        res = run_experiment(config, stream, pm, Path(out) / "run", progress=False, echo=lambda *a: None)
        wall = time.perf_counter() - t
    fin = res["final"]
    m = res["matrix"]
    # the untrained (zero-shot) model's mean mAP over the domains it will learn: what the prior alone gives
    initial = float(np.mean([m["mAP"][0][m["cols"].index(d)] for d in stream.train_domains]))
    return {"row": row, "seed": seed, "initial_seen_mAP": initial, "seen_mAP": fin["seen"]["mAP"], "seen_rank1": fin["seen"]["rank1"],
            "unseen_mAP": fin["unseen"]["mAP"], "unseen_rank1": fin["unseen"]["rank1"],
            "wall_s_per_experience": wall / len(stream.train_stream),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "memory_bytes": plugin.memory.nbytes() if plugin else 0, "torch_threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", nargs="*", choices=sorted(set(ROWS + OFFICIAL_ROWS)),
                    help="rows to run (default: the preset's)")
    ap.add_argument("--preset", choices=["paper", "official"], default="paper",
                    help="whose ablation rows run by default: the paper preset's or the official preset's (rows "
                         "official*: the released run contracts OFFICIAL_CONTRACTS and ImageNet transforms)")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=8, help="stage-2 epochs per domain")
    ap.add_argument("--stage1-epochs", type=int, default=5, help="MTAD prompt epochs per domain")
    ap.add_argument("--ids", type=int, default=40, help="training identities per synthetic domain")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="VLADRConfig overrides for every plugin row, e.g. cma_weight=0.1 cma_form=matching")
    ap.add_argument("--init", choices=["random", "synthetic-clip"], default="synthetic-clip",
                    help="tiny CLIP initialisation: random, or pretrained contrastively on synthetic captioned people "
                         "from other domains (lreid synthetic-clip; built once and cached)")
    ap.add_argument("--pretrain-steps", type=int, default=800,
                    help="InfoNCE steps of the synthetic CLIP prior (fewer: a weaker prior)")
    ap.add_argument("--weights", help=argparse.SUPPRESS)
    ap.add_argument("--json", help="also write every run's figures here")
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--merge", nargs="+", metavar="JSON",
                    help="run nothing: print the table of runs saved by earlier --json invocations (a later file's "
                         "run of the same row and seed replaces an earlier one)")
    args = ap.parse_args()
    if not args.rows:
        args.rows = OFFICIAL_ROWS if args.preset == "official" else ROWS
    if args.merge:
        merged = {}
        for path in args.merge:
            for r in json.loads(Path(path).read_text()):
                merged[(r["row"], r["seed"])] = r
        rows = [r for r in dict.fromkeys([k[0] for k in merged]) if r not in args.rows]
        print_table(list(merged.values()), args.rows + rows)
        return
    if args.one:
        print(json.dumps(one_run(args.one[0], int(args.one[1]), args.epochs, args.ids, args.stage1_epochs,
                                 parse_overrides(args.set), args.weights)))
        return
    if args.init == "synthetic-clip":
        # built in a child process: ru_maxrss carries over fork+exec, so a large parent would inflate every
        # run's peak-RSS figure
        t = time.perf_counter()
        args.weights = subprocess.run(
            [sys.executable, "-m", "lifelong_reid.cli", "synthetic-clip", "--steps", str(args.pretrain_steps)],
            capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        report = json.loads(Path(args.weights).with_suffix(".json").read_text())
        print(f"init: synthetic-pretrained tiny CLIP {args.weights} (held-out image->caption top-1 "
              f"{report['retrieval_top1_random']:.1f}% -> {report['retrieval_top1']:.1f}%; "
              f"{time.perf_counter() - t:.0f} s to build or load)", flush=True)
    print(f"synthetic-setting1, lreid-tiny-vit 128x64 ({args.init} init), {args.epochs} epochs/domain, {args.ids} ids/domain, "
          f"stage-1 {args.stage1_epochs} epochs, seeds {args.seeds}, CPU {os.cpu_count()} cores"
          + (f", overrides {' '.join(args.set)}" if args.set else ""), flush=True)
    runs = []
    for row in args.rows:
        for seed in args.seeds:
            cmd = ["--one", row, str(seed), "--epochs", str(args.epochs), "--ids",
                   str(args.ids), "--stage1-epochs", str(args.stage1_epochs), "--set", *args.set]
            if args.weights:
                cmd += ["--weights", args.weights]
            r, err = run_json(__file__, *cmd, tail=1500)
            if r is None:
                print(f"{row} seed {seed}: failed\n{err}", flush=True)
                continue
            runs.append(r)
            print(f"  {row:17s} seed {seed}: zero-shot seen mAP {r['initial_seen_mAP']:.2f} | seen mAP {r['seen_mAP']:.2f} R1 {r['seen_rank1']:.2f} | unseen mAP "
                  f"{r['unseen_mAP']:.2f} R1 {r['unseen_rank1']:.2f} | {r['wall_s_per_experience']:.1f} s/exp, "
                  f"{r['peak_rss_mb']:.0f} MB", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=2))
    print_table(runs, args.rows)


def print_table(runs: list[dict], rows: list[str]) -> None:
    """The markdown table of ``runs`` (``one_run`` dicts): per row, mean +- std over its seeds, and its wall time
    and peak RSS per experience against the baseline's. Cost figures come only from runs at the baseline's torch
    thread count, so rows measured under other conditions (merged from another invocation) do not skew them."""
    base = [r for r in runs if r["row"] == "baseline"]
    threads = base[0].get("torch_threads") if base else None

    def timed(rs: list[dict]) -> list[dict]:  # the runs comparable with the baseline's cost
        return [r for r in rs if r.get("torch_threads") == threads]

    base_t = np.mean([r["wall_s_per_experience"] for r in timed(base)]) if base else None
    base_m = np.mean([r["peak_rss_mb"] for r in timed(base)]) if base else None
    print("\n| row | seeds | anti-forgetting mAP | anti-forgetting R1 | generalization mAP | generalization R1 "
          "| seen mAP per seed | s / experience | peak RSS | memory |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        rs = [r for r in runs if r["row"] == row]
        if not rs:
            continue
        rt = timed(rs) or rs
        t = np.mean([r["wall_s_per_experience"] for r in rt])
        m = np.mean([r["peak_rss_mb"] for r in rt])
        rel_t = f" ({t / base_t:.2f}x)" if base_t else ""
        rel_m = f" ({m / base_m:.2f}x)" if base_m else ""
        rs = sorted(rs, key=lambda r: r["seed"])
        seeds = " ".join(str(r["seed"]) for r in rs)
        per_seed = ", ".join(f"{r['seen_mAP']:.2f}" for r in rs)
        print(f"| {LABELS[row]} | {seeds} | {mean_std(rs, 'seen_mAP')} | {mean_std(rs, 'seen_rank1')} | "
              f"{mean_std(rs, 'unseen_mAP')} | {mean_std(rs, 'unseen_rank1')} | {per_seed} | "
              f"{t:.1f}{rel_t} | {m:.0f} MB{rel_m} | {int(np.mean([r['memory_bytes'] for r in rs]))} B |")


if __name__ == "__main__":
    main()
