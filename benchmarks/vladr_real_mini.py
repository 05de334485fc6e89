"""VLADR's presets on real images: market1501-mini (with the release's BLIP-2 part captions) -> cuhk03-mini, from
``../shared/data``, the bundled tiny model (random initialisation) at 128x64 on the CPU.

Rows: the baseline (CLIP-ReID fine-tuning, no plugin), the ``paper`` preset, the ``official`` preset, and
``official`` without the weight mixing / without the affinity KL. The ``official`` rows also take the released
code's run contracts (``OFFICIAL_CONTRACTS``: grown classifier, retrieval feature after the BNNecks, squared
Euclidean ranking, no label smoothing, soft-margin triplet) and its transforms (ImageNet statistics, two random
erasings); the optimiser and schedule stay the example's (the released learning rate of 5e-6 with its drop
after 30 iterations is for fine-tuning CLIP weights, not a randomly initialised model). One process per run;
prints each run and then mean ± std over seeds of the mAP / Rank-1 of both domains after the last one, and
their mean (seen).

Usage::

    python benchmarks/vladr_real_mini.py --data-root ../shared/data              # 5 rows x seeds 0 1 2
    python benchmarks/vladr_real_mini.py --rows baseline official --seeds 0 --epochs 4
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from tables import mean_std, paired, run_json

ROWS = ["baseline", "paper", "official", "official_no_mixing", "official_no_kl"]
LABELS = {"baseline": "baseline (CLIP-ReID fine-tuning)", "paper": "paper preset", "official": "official preset",
          "official_no_mixing": "official without weight mixing", "official_no_kl": "official without the affinity KL"}
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "vladr_real_mini.py"


def one_run(row: str, seed: int, data_root: str, epochs: int, stage1_epochs: int) -> dict:
    from lifelong_reid.experiment import call_stream, load_experiment, resolve_config
    from lifelong_reid.plugin_manager import get_plugin_manager
    from lifelong_reid.plugins.vladr.example import OFFICIAL_CONTRACTS
    from lifelong_reid.plugins.vladr.plugin import OFFICIAL_ABLATIONS
    from lifelong_reid.registry import activate_plugins
    from lifelong_reid.runner import run_experiment

    module = load_experiment(EXAMPLE)
    config = resolve_config(module, data_root=data_root, seed=seed, epochs=epochs)
    settings = {**config.plugins["vladr"], "stage1_epochs": stage1_epochs}
    if row == "baseline":
        config.plugins = {}
    elif row == "paper":
        config.plugins = {"vladr": {**settings, "preset": "paper"}}
    else:
        config.plugins = {"vladr": {**settings, "preset": "official", **OFFICIAL_ABLATIONS[row]}}
        for key, value in OFFICIAL_CONTRACTS.items():
            config.set(key, value)
    stream = call_stream(module, config)
    pm = get_plugin_manager()
    activate_plugins(config, pm)
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        res = run_experiment(config, stream, pm, Path(out) / "run", progress=False, echo=lambda *a: None)
        wall = time.perf_counter() - t
    m = res["matrix"]
    last = {d: (m["mAP"][-1][m["cols"].index(d)], m["rank1"][-1][m["cols"].index(d)]) for d in stream.train_domains}
    (market, cuhk03) = stream.train_domains
    return {"row": row, "seed": seed, "market_mAP": last[market][0], "market_rank1": last[market][1],
            "cuhk03_mAP": last[cuhk03][0], "cuhk03_rank1": last[cuhk03][1],
            "seen_mAP": res["final"]["seen"]["mAP"], "seen_rank1": res["final"]["seen"]["rank1"],
            "market_before_cuhk03_mAP": m["mAP"][1][m["cols"].index(market)], "wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", nargs="*", default=ROWS, choices=ROWS)
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--data-root", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--epochs", type=int, default=10, help="stage-2 epochs per domain (the example's: 20)")
    ap.add_argument("--stage1-epochs", type=int, default=10, help="stage-1 epochs per domain")
    ap.add_argument("--json", help="append every run's figures here (one JSON object per line)")
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_run(args.one[0], int(args.one[1]), args.data_root, args.epochs, args.stage1_epochs)))
        return
    print(f"market1501-mini -> cuhk03-mini, lreid-tiny-vit 128x64 (random init), {args.epochs} epochs/domain, "
          f"stage-1 {args.stage1_epochs} epochs, seeds {args.seeds}, CPU {os.cpu_count()} cores", flush=True)
    runs = []
    for row in args.rows:
        for seed in args.seeds:
            r, err = run_json(__file__, "--one", row, str(seed), "--data-root", args.data_root, "--epochs",
                              str(args.epochs), "--stage1-epochs", str(args.stage1_epochs), tail=2000)
            if r is None:
                print(f"{row} seed {seed}: failed\n{err}", flush=True)
                continue
            runs.append(r)
            if args.json:
                with open(args.json, "a") as f:
                    f.write(json.dumps(r) + "\n")
            print(f"  {row:19s} seed {seed}: market mAP {r['market_mAP']:.2f} (before cuhk03 "
                  f"{r['market_before_cuhk03_mAP']:.2f}) R1 {r['market_rank1']:.2f} | cuhk03 mAP {r['cuhk03_mAP']:.2f} "
                  f"R1 {r['cuhk03_rank1']:.2f} | seen mAP {r['seen_mAP']:.2f} | {r['wall_s']:.0f} s", flush=True)
    table(runs, args.rows)


def table(runs: list[dict], rows: list[str]) -> None:
    """The mean ± std table over seeds (market1501-mini before and after training on cuhk03-mini: what is
    forgotten), with each row's seen-mAP difference to the baseline seed by seed."""
    base = [r for r in runs if r["row"] == "baseline"]
    print("\n| row | market1501-mini mAP before cuhk03 | after | R1 after | cuhk03-mini mAP | R1 | seen mAP | seen R1 | "
          "seen mAP vs baseline |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        rs = [r for r in runs if r["row"] == row]
        if not rs:
            continue
        vs = paired(rs, base, "seen_mAP") if base and row != "baseline" else "-"
        print(f"| {LABELS[row]} | {mean_std(rs, 'market_before_cuhk03_mAP')} | {mean_std(rs, 'market_mAP')} | "
              f"{mean_std(rs, 'market_rank1')} | "
              f"{mean_std(rs, 'cuhk03_mAP')} | {mean_std(rs, 'cuhk03_rank1')} | {mean_std(rs, 'seen_mAP')} | "
              f"{mean_std(rs, 'seen_rank1')} | {vs} |")


if __name__ == "__main__":
    main()
