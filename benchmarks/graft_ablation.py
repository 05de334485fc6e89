"""GraFT on the synthetic RGB/NIR/TIR stream (``lreid-tiny-vit`` at 128x64, random init, CPU): the tables of
issue 11, each printed as mean ± std over seeds.

- ``--modalities``: trained and tested on each modality alone and every combination (Tables 6-7's shape), the
  tuples restricted with ``build_stream(..., modalities=...)``;
- ``--fusion``: GraFT's fusion token against Table 5's vanilla fusions (CLS of the concatenated modalities'
  tokens; the average of those tokens), all on RGB+NIR+TIR;
- ``--missing``: the RGB+NIR+TIR GraFT model tested with R, N, T, RN, RT, NT missing (black images, the
  evaluation API's ``evaluate_missing_modalities``);
- ``--pruning``: the pruning curve (Tables 3-4's shape): mAP against the share of encoder weights pruned, each
  point reached by iterative global L1 pruning with one fine-tuning epoch after each step, with the
  checkpoint's size (raw, and zlib-compressed: dense storage keeps the raw size);
- ``--cost``: training cost per iteration and peak memory against the late-fusion baseline (the shared
  encoder, no plugin) for 1, 2 and 3 modalities (one process per row), and the computed parameters and FLOPs
  of ViT-B-16.

The identity loss plus the triplet combination ``--combo`` (default ``fff``: with FFD the triplet term reaches
0 within the first epoch on this random-init model and only the identity loss trains; issue 11's note), no
frozen stage (``frozen_epochs`` 0: a random-init backbone has nothing to protect).

Usage::

    python benchmarks/graft_ablation.py --modalities --fusion --missing --seeds 0 1 2
    python benchmarks/graft_ablation.py --pruning --seeds 0 1 2
    python benchmarks/graft_ablation.py --cost
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import time

import numpy as np
from tables import mean_std, paired, run_json

#: Table 6-7's rows: the modality subsets, singles first.
SUBSETS = ["R", "N", "T", "RN", "RT", "NT", "RNT"]
FUSION_LABELS = {"token": "GraFT fusion token", "concat_cls": "vanilla: CLS of the concatenated tokens",
                 "concat_mean": "vanilla: averaged tokens"}


def make_strategy(seed: int, epochs: int, graft: dict):
    import torch

    from lifelong_reid import RunConfig
    from lifelong_reid.models import build_model
    from lifelong_reid.plugin_manager import get_plugin_manager
    from lifelong_reid.registry import activate_plugins
    from lifelong_reid.strategy import ReIDStrategy

    torch.manual_seed(seed)
    config = RunConfig(name="graft-ablation", model="lreid-tiny-vit", pretrained=None, image_size=[128, 64],
                       epochs=epochs, lr=3e-4, warmup_epochs=1, milestones=[max(1, epochs - 2)], batch_p=8,
                       batch_k=4, bias_lr_mult=1.0, device="cpu", seed=seed, plugins={"graft": graft})
    pm = get_plugin_manager()
    activate_plugins(config, pm)
    return ReIDStrategy(model=build_model(config), config=config, pm=pm, progress=False)


def stream(seed: int, modalities: str = "RNT"):
    from lifelong_reid.data import build_transforms
    from lifelong_reid.streams import build_stream

    return build_stream("synthetic-multimodal", seed=seed, transforms=build_transforms([128, 64], pad=0),
                        modalities=modalities)


def train_and_test(seed: int, epochs: int, combo: str, modalities: str = "RNT", fusion: str = "token",
                   missing: bool = False) -> dict:
    """Train GraFT on the ``modalities`` of the synthetic tuples; mAP / Rank-1 on its test split (and, with
    ``missing``, every missing-modality setting)."""
    from lifelong_reid.evaluation import evaluate_strategy_missing_modalities

    t0 = time.perf_counter()
    strategy = make_strategy(seed, epochs, {"combo": combo, "mining": "hard", "fusion": fusion,
                                            "num_modalities": len(modalities)})
    bench = stream(seed, modalities)
    strategy.train(bench.train_stream[0])
    name = bench.eval_domains[0]
    m = strategy.evaluate_domains(bench)[name]
    out = {"seed": seed, "modalities": modalities, "fusion": fusion, "mAP": m["mAP"], "rank1": m["rank1"],
           "wall_s": time.perf_counter() - t0}
    if missing:
        _, query, gallery = next(bench.eval_sets())
        table = evaluate_strategy_missing_modalities(strategy, query, gallery)
        out["missing"] = {k: {"mAP": v["mAP"], "rank1": v["rank1"]} for k, v in table.items()}
    return out


# ---------------------------------------------------------------------------------------------- pruning
def pruning_curve(seed: int, epochs: int, points: list, combo: str) -> list[dict]:
    """Train, then :func:`~lifelong_reid.pruning.iterative_prune` through ``points`` with one fine-tuning epoch
    after each round; then the control: from the same trained weights, the same fine-tuning epochs with nothing
    pruned (``control_mAP``), which separates what pruning costs from what the extra epochs do."""
    from lifelong_reid.pruning import finetune, iterative_prune, make_permanent

    strategy = make_strategy(seed, epochs, {"combo": combo, "mining": "hard"})
    bench = stream(seed)
    experience = bench.train_stream[0]
    strategy.train(experience)
    name = bench.eval_domains[0]

    def evaluate(s):
        m = s.evaluate_domains(bench)[name]
        return {"mAP": m["mAP"], "rank1": m["rank1"]}

    def show(r):
        print(f"  seed {seed}: {100 * r['pruned']:5.1f}% pruned -> mAP {r['mAP']:.2f} R1 {r['rank1']:.2f} | "
              f"{r['bytes'] / 1e6:.2f} MB, zlib {r['compressed'] / 1e6:.2f} MB", flush=True)

    trained = {k: v.clone() for k, v in strategy.model.state_dict().items()}
    rows = iterative_prune(strategy, experience, points, finetune_epochs=1, evaluate=evaluate, callback=show)
    # the control: the same fine-tuning epochs from the same trained weights, nothing pruned
    make_permanent(strategy.model)
    strategy.model.load_state_dict(trained)
    for i, row in enumerate(rows):
        if i:
            finetune(strategy, experience, 1)
        m = evaluate(strategy)
        row.update(control_mAP=m["mAP"], control_rank1=m["rank1"])
        print(f"  seed {seed}: control after {i} fine-tuning epochs, nothing pruned -> mAP {m['mAP']:.2f}", flush=True)
    return rows


def print_pruning(runs: list, points: list) -> None:
    print("\n## Pruning curve\n\n| pruned | fine-tuning epochs | mAP | Rank-1 | control: same epochs, nothing pruned "
          "(mAP) | pruned vs control, paired | file | zlib |")
    print("|---|---|---|---|---|---|---|---|")
    for i, _ in enumerate(points):
        pts = [dict(r[i], seed=k) for k, r in enumerate(runs)]
        control = [{"seed": p["seed"], "mAP": p["control_mAP"]} for p in pts if "control_mAP" in p]
        print(f"| {100 * np.mean([p['pruned'] for p in pts]):.0f}% | {i} | {mean_std(pts, 'mAP')} | "
              f"{mean_std(pts, 'rank1')} | {mean_std(control, 'mAP') if control else '-'} | "
              f"{paired(pts, control) if control else '-'} | {np.mean([p['bytes'] for p in pts]) / 1e6:.2f} MB | "
              f"{np.mean([p['compressed'] for p in pts]) / 1e6:.2f} MB |")


# ---------------------------------------------------------------------------------------------- cost
def cost_one(variant: str, m: int, batch: int, steps: int) -> dict:
    """One training iteration of the tiny model on ``(batch, m, 3, 128, 64)`` tuples: forward, a scalar loss
    on the fused embedding, backward, Adam step; median over ``steps`` after one warm-up, with the peak RSS
    growth of this process from the built model to the end of the iterations. ``late``: the shared encoder, no plugin (the modalities'
    features averaged); ``graft``: separate top block per modality and the fusion token."""
    import torch

    from lifelong_reid import RunConfig
    from lifelong_reid.models import build_model
    from lifelong_reid.plugins.graft import GraFTConfig, GraFTPlugin
    from lifelong_reid.testing import attach_plugin

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_model(RunConfig(model="lreid-tiny-vit", pretrained=None, image_size=[128, 64], device="cpu"))
    model.reset_classifier(batch // 4)
    if variant == "graft":
        attach_plugin(model, GraFTPlugin(GraFTConfig(num_modalities=m)), batch // 4)
    model.train()
    key = "graft" if variant == "graft" else "global"
    x = torch.randn(batch, m, 3, 128, 64)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step():
        opt.zero_grad()
        model(x)[key].pow(2).mean().backward()
        opt.step()

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    step()  # warm-up (counted in the peak: activations and Adam's moments)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    params = sum(p.numel() for p in model.visual.parameters())
    return {"variant": variant, "m": m, "ms": 1000 * float(np.median(times)), "peak_growth_mb": (peak - before) / 1024,
            "visual_params_m": params / 1e6}


def cost_vit_b16() -> list[dict]:
    """Visual parameters and FLOPs per tuple of ViT-B-16 at 256x128 (random weights, no download),
    ``torch.utils.flop_counter`` on a training-mode forward (eval mode takes a fused attention path the
    counter cannot see): late fusion with the shared encoder, late fusion with one encoder per modality (the
    paper's multi-stream ViT baseline), GraFT (k = 1: the top block per modality, one fusion token)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from lifelong_reid import RunConfig
    from lifelong_reid.models import build_model
    from lifelong_reid.plugins.graft import GraFTConfig, GraFTPlugin
    from lifelong_reid.testing import attach_plugin

    rows = []
    for m in (1, 2, 3):
        for variant in ("late", "late_separate", "graft"):
            config = RunConfig(model="ViT-B-16", pretrained=None, image_size=[256, 128], device="cpu",
                               modality_stacks=m if variant == "late_separate" else 1)
            model = build_model(config)
            if variant == "graft":
                attach_plugin(model, GraFTPlugin(GraFTConfig(num_modalities=m)), 50)
            model.train()
            counter = FlopCounterMode(display=False)
            with counter, torch.no_grad():
                model(torch.randn(2, m, 3, 256, 128))
            rows.append({"variant": variant, "m": m, "gflops": counter.get_total_flops() / 2 / 1e9,
                         "visual_params_m": sum(p.numel() for p in model.visual.parameters()) / 1e6})
            del model
    return rows


def print_cost(batch: int, steps: int) -> None:
    names = {"late": "late fusion, shared encoder (no plugin)", "late_separate": "late fusion, one encoder per "
             "modality", "graft": "GraFT (k = 1, separate top block)"}
    print(f"\n## Cost\n\nTraining iteration of the tiny model, 128x64, batch {batch} tuples, 1 thread, median of "
          f"{steps} steps, one process per row (peak RSS growth over the steps):\n")
    print("| modalities | variant | ms / iteration | vs late fusion | peak RSS growth | visual params |")
    print("|---|---|---|---|---|---|")
    for m in (1, 2, 3):
        base = None
        for variant in ("late", "graft"):
            r, err = run_json(__file__, "--cost-one", variant, str(m), "--cost-batch", str(batch),
                              "--cost-steps", str(steps))
            if r is None:
                print(f"| {m} | {names[variant]} | failed: {err} | | | |")
                continue
            base = base or r
            print(f"| {m} | {names[variant]} | {r['ms']:.1f} | {r['ms'] / base['ms']:.2f}x | "
                  f"{r['peak_growth_mb']:.0f} MB | {r['visual_params_m']:.2f} M |", flush=True)
    print("\nViT-B-16 at 256x128, computed (torch.utils.flop_counter, one tuple):\n")
    print("| modalities | variant | visual parameters | GFLOPs / tuple | vs late fusion |")
    print("|---|---|---|---|---|")
    rows = cost_vit_b16()
    for r in rows:
        base = next(b for b in rows if b["m"] == r["m"] and b["variant"] == "late")
        print(f"| {r['m']} | {names[r['variant']]} | {r['visual_params_m']:.2f} M | {r['gflops']:.2f} | "
              f"{r['gflops'] / base['gflops']:.3f}x |")


# ---------------------------------------------------------------------------------------------- tables
def print_tables(runs: dict, modalities: bool, fusion: bool, missing: bool) -> None:
    """The modality, fusion and missing-modality tables from ``{(subset, fusion): [run per seed]}``."""
    if modalities:
        best_single = max(("R", "N", "T"), key=lambda m: np.mean([r["mAP"] for r in runs[(m, "token")]]))
        print(f"\n## Modalities (trained and tested on the subset)\n\n| modalities | mAP | Rank-1 | mAP vs "
              f"{best_single} alone, paired |\n|---|---|---|---|")
        for subset in SUBSETS:
            rs = runs[(subset, "token")]
            diff = paired(rs, runs[(best_single, "token")]) if subset != best_single else ""
            print(f"| {'+'.join(subset)} | {mean_std(rs, 'mAP')} | {mean_std(rs, 'rank1')} | {diff} |")
    if fusion:
        print("\n## Fusion (RGB+NIR+TIR)\n\n| fusion | mAP | Rank-1 | mAP vs the fusion token, paired |\n"
              "|---|---|---|---|")
        for name, label in FUSION_LABELS.items():
            rs = runs[("RNT", name)]
            diff = paired(rs, runs[("RNT", "token")]) if name != "token" else ""
            print(f"| {label} | {mean_std(rs, 'mAP')} | {mean_std(rs, 'rank1')} | {diff} |")
    if missing:
        rs = runs[("RNT", "token")]
        print("\n## Missing modalities at test (the RGB+NIR+TIR model)\n\n| test setting | mAP | Rank-1 |\n"
              "|---|---|---|")
        for setting in rs[0]["missing"]:
            pts = [r["missing"][setting] for r in rs]
            print(f"| {setting} | {mean_std(pts, 'mAP')} | {mean_std(pts, 'rank1')} |")


# ---------------------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--modalities", action="store_true", help="Tables 6-7: every modality subset")
    ap.add_argument("--fusion", action="store_true", help="Table 5: fusion token vs vanilla fusions")
    ap.add_argument("--missing", action="store_true", help="the RNT model with modalities missing at test")
    ap.add_argument("--pruning", action="store_true", help="the pruning curve")
    ap.add_argument("--cost", action="store_true", help="cost against late fusion, 1-3 modalities; ViT-B-16")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--combo", default="fff", help="triplet combination while training (fff: see the docstring)")
    ap.add_argument("--points", nargs="*", type=float, default=[0.0, 0.2, 0.4, 0.6, 0.8, 0.9])
    ap.add_argument("--json", help="write every run's figures here")
    ap.add_argument("--cost-one", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--cost-batch", type=int, default=16)
    ap.add_argument("--cost-steps", type=int, default=5)
    ap.add_argument("--from-json", help="print the tables of an earlier --json file instead of running")
    args = ap.parse_args()
    if args.from_json:
        with open(args.from_json) as f:
            saved = json.load(f)
        runs = {tuple(k.split("/")): v for k, v in saved.get("runs", {}).items()}
        print_tables(runs, ("R", "token") in runs, ("RNT", "concat_cls") in runs,
                     any("missing" in r for r in runs.get(("RNT", "token"), [])))
        if saved.get("pruning"):
            print_pruning(saved["pruning"], [r["target"] for r in saved["pruning"][0]])
        return
    if args.cost_one:
        print(json.dumps(cost_one(args.cost_one[0], int(args.cost_one[1]), args.cost_batch, args.cost_steps)))
        return
    if not (args.modalities or args.fusion or args.missing or args.pruning or args.cost):
        ap.error("choose at least one of --modalities --fusion --missing --pruning --cost")
    if args.modalities or args.fusion or args.missing or args.pruning:
        print(f"synthetic-multimodal, lreid-tiny-vit 128x64 (random init), GraFT ({args.combo}, hard mining), "
              f"{args.epochs} epochs; seeds {args.seeds}; CPU {os.cpu_count()} cores", flush=True)
    record: dict = {}
    runs: dict = {}
    wanted = []
    if args.modalities:
        wanted += [(s, "token") for s in SUBSETS]
    if args.fusion:
        wanted += [("RNT", f) for f in FUSION_LABELS if ("RNT", f) not in wanted]
    if args.missing and ("RNT", "token") not in wanted:
        wanted.append(("RNT", "token"))
    for subset, fusion in wanted:
        for seed in args.seeds:
            r = train_and_test(seed, args.epochs, args.combo, subset, fusion,
                               missing=args.missing and (subset, fusion) == ("RNT", "token"))
            runs.setdefault((subset, fusion), []).append(r)
            print(f"  {subset:3s} {fusion:11s} seed {seed}: mAP {r['mAP']:.2f} R1 {r['rank1']:.2f} | "
                  f"{r['wall_s']:.0f} s", flush=True)
    record["runs"] = {f"{k[0]}/{k[1]}": v for k, v in runs.items()}
    print_tables(runs, args.modalities, args.fusion, args.missing)
    if args.pruning:
        print(f"\nPruning: iterative global L1 with 1 fine-tuning epoch per step, points {args.points}", flush=True)
        curves = [pruning_curve(s, args.epochs, args.points, args.combo) for s in args.seeds]
        record["pruning"] = curves
        print_pruning(curves, args.points)
    if args.cost:
        print_cost(args.cost_batch, args.cost_steps)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(record, f, indent=2)


if __name__ == "__main__":
    main()
