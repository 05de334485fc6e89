"""MambaPro on the synthetic RGB/NIR/TIR stream (``lreid-tiny-vit`` at 128x64, CPU): the tables of issue 12, each
printed as mean ± std over seeds.

- ``--ablation``: the component ablation (the paper's shape): frozen CLIP + heads (baseline), + PFA, + SRP,
  PFA + SRP, the full model (+ MA and the camera embedding), and CLIP fully fine-tuned with the same heads;
  GraFT's row on the same stream, weights and seeds next to them; trainable parameters per row;
- ``--missing``: the full model and GraFT tested with R, N, T, RN, RT, NT missing (black images);
- ``--scan-cost``: the aggregation's cost against sequence length (128 to 8,192 tokens): one selective-SSM layer
  (mambapy's scan) next to one self-attention layer over the same tokens, forward + backward, time and peak
  memory, one process per point;
- ``--params``: trainable parameters and per-iteration time of MambaPro against full fine-tuning of the same
  encoder (tiny, measured) and the parameter counts of ViT-B-16 (computed).

MA runs at the tiny model's scale (``TINY_MA``: state 8, no channel expansion, step rank 8), as the ``--synthetic``
examples do. The encoder starts from the synthetic-pretrained tiny CLIP (``lreid synthetic-clip``, cached after its first
use): MambaPro freezes its encoder, so a random one would leave it nothing to adapt. ``--random-init`` drops it.

Usage::

    python benchmarks/mambapro_ablation.py --ablation --missing --seeds 0 1 2
    python benchmarks/mambapro_ablation.py --scan-cost --params
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import time

import numpy as np
from tables import mean_std, paired, run_json

from lifelong_reid.plugins.mambapro.example import TINY_MA

#: Ablation rows: MambaPro settings (``None``: GraFT's row).
ROWS = {
    "baseline": dict(pfa=False, srp=False, ma=False, camera_embedding=False),
    "pfa": dict(pfa=True, srp=False, ma=False, camera_embedding=False),
    "srp": dict(pfa=False, srp=True, ma=False, camera_embedding=False),
    "pfa_srp": dict(pfa=True, srp=True, ma=False, camera_embedding=False),
    "full": dict(TINY_MA),
    "full_ft": dict(pfa=False, srp=False, ma=False, camera_embedding=False, freeze_encoder=False),
    "graft": None,
}
LABELS = {"baseline": "frozen CLIP + heads (baseline)", "pfa": "+ PFA", "srp": "+ SRP", "pfa_srp": "+ PFA + SRP",
          "full": "+ PFA + SRP + MA + camera (full MambaPro)", "full_ft": "CLIP fully fine-tuned + heads",
          "graft": "GraFT (fff, same stream and weights)"}


def pretrained_weights(random_init: bool):
    if random_init:
        return None
    from lifelong_reid.synthetic.pretrain import synthetic_clip_weights

    return str(synthetic_clip_weights("lreid-tiny-vit"))


def make_strategy(row: str, seed: int, epochs: int, weights):
    import torch

    from lifelong_reid import RunConfig
    from lifelong_reid.models import build_model
    from lifelong_reid.plugin_manager import get_plugin_manager
    from lifelong_reid.registry import activate_plugins
    from lifelong_reid.strategy import ReIDStrategy

    torch.manual_seed(seed)
    settings = ROWS[row]
    common = dict(name=f"mambapro-{row}", model="lreid-tiny-vit", pretrained=None, weights=weights,
                  image_size=[128, 64], epochs=epochs, batch_p=8, batch_k=4, device="cpu", seed=seed,
                  scheduler="cosine", warmup_epochs=1, warmup_factor=0.01)
    if settings is None:  # GraFT with its own recipe (benchmarks/graft_ablation.py)
        config = RunConfig(**common, lr=3e-4, bias_lr_mult=1.0,
                           plugins={"graft": {"combo": "fff", "mining": "hard"}})
    else:  # MambaPro's recipe (plugins/mambapro/example.py) at this size
        config = RunConfig(**common, lr=3.5e-4, bias_lr_mult=2.0, min_lr_factor=0.001, id_weight=0.25,
                           triplet_weight=1.0, triplet_margin=None, plugins={"mambapro": dict(settings)})
    pm = get_plugin_manager()
    activate_plugins(config, pm)
    return ReIDStrategy(model=build_model(config), config=config, pm=pm, progress=False)


def one_run(row: str, seed: int, epochs: int, weights, missing: bool) -> dict:
    from lifelong_reid.data import build_transforms
    from lifelong_reid.evaluation import evaluate_strategy_missing_modalities
    from lifelong_reid.plugins.mambapro import trainable_parameters
    from lifelong_reid.streams import build_stream

    t0 = time.perf_counter()
    strategy = make_strategy(row, seed, epochs, weights)
    bench = build_stream("synthetic-multimodal", seed=seed,
                         transforms=build_transforms([128, 64], pad=4, per_modality="independent"))
    strategy.train(bench.train_stream[0])
    name = bench.eval_domains[0]
    m = strategy.evaluate_domains(bench)[name]
    trainable, total = trainable_parameters(strategy.model)
    out = {"row": row, "seed": seed, "mAP": m["mAP"], "rank1": m["rank1"], "trainable": trainable, "total": total,
           "wall_s": time.perf_counter() - t0}
    if missing:
        _, query, gallery = next(bench.eval_sets())
        table = evaluate_strategy_missing_modalities(strategy, query, gallery)
        out["missing"] = {k: {"mAP": v["mAP"], "rank1": v["rank1"]} for k, v in table.items()}
    return out


def print_tables(runs: list, rows: list) -> None:
    by_row = {r: [x for x in runs if x["row"] == r] for r in rows}
    base = by_row.get("baseline")
    print("\n## Component ablation\n\n| row | mAP | Rank-1 | mAP vs baseline, paired | trainable of all parameters "
          "(text tower included) | s / run |\n|---|---|---|---|---|---|")
    for row in rows:
        rs = by_row[row]
        if not rs:
            continue
        diff = paired(rs, base) if base and row != "baseline" else ""
        print(f"| {LABELS[row]} | {mean_std(rs, 'mAP')} | {mean_std(rs, 'rank1')} | {diff} | "
              f"{rs[0]['trainable'] / 1e6:.3f} M of {rs[0]['total'] / 1e6:.2f} M | "
              f"{np.mean([r['wall_s'] for r in rs]):.0f} |")
    with_missing = [r for r in rows if by_row[r] and "missing" in by_row[r][0]]
    if with_missing:
        print("\n## Missing modalities at test (mAP)\n\n| test setting | " + " | ".join(LABELS[r] for r in with_missing)
              + " |\n" + "|---" * (len(with_missing) + 1) + "|")
        for setting in by_row[with_missing[0]][0]["missing"]:
            cells = [mean_std([r["missing"][setting] for r in by_row[row]], "mAP") for row in with_missing]
            print(f"| {setting} | " + " | ".join(cells) + " |")


# ---------------------------------------------------------------------------------------------- cost
def scan_point(kind: str, tokens: int, dim: int, repeats: int) -> dict:
    """One layer over ``(1, tokens, dim)`` tokens, forward + backward, 1 thread; median time over ``repeats``
    and the peak RSS growth of this process. ``ssm``: the selective SSM of MA (inner width ``2 dim``, state 16,
    mambapy's scan); ``attention``: ``nn.MultiheadAttention`` (4 heads) as the encoder's blocks run it;
    ``attention_explicit``: softmax(QK^T / sqrt(d)) V with the score matrix materialised."""
    import torch
    from torch import nn

    from lifelong_reid.plugins.mambapro.aggregation import SelectiveSSM

    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.randn(1, tokens, dim, requires_grad=True)
    if kind == "ssm":
        inner = nn.Linear(dim, 2 * dim)
        ssm = SelectiveSSM(2 * dim, state=16, dt_rank=max(1, dim // 16), backend="torch")

        def run():
            return ssm(inner(x)).sum()
    elif kind == "attention":
        attn = nn.MultiheadAttention(dim, 4, batch_first=True)

        def run():
            return attn(x, x, x, need_weights=False)[0].sum()
    else:
        qkv = nn.Linear(dim, 3 * dim)

        def run():
            q, k, v = qkv(x).chunk(3, dim=-1)
            return (torch.softmax(q @ k.transpose(1, 2) / dim ** 0.5, dim=-1) @ v).sum()

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        run().backward()
        times.append(time.perf_counter() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"kind": kind, "tokens": tokens, "ms": 1000 * float(np.median(times[1:])),
            "peak_growth_mb": (peak - before) / 1024}


def print_scan_cost(lengths: list, dim: int, repeats: int) -> None:
    kinds = ("ssm", "attention", "attention_explicit")
    print(f"\n## Aggregation cost against sequence length\n\nOne layer over (1, L, {dim}) tokens, forward + backward, "
          f"1 thread, median of {repeats}; peak RSS growth, one process per point. SSM: MA's selective SSM (inner "
          f"{2 * dim}, state 16, mambapy's parallel scan); attention: nn.MultiheadAttention (4 heads, as the "
          "encoder runs it); explicit: the score matrix materialised.\n")
    print("| tokens | " + " | ".join(f"{k} ms | {k} MB" for k in kinds) + " |")
    print("|---" * (1 + 2 * len(kinds)) + "|")
    for n in lengths:
        cells = []
        for kind in kinds:
            r, err = run_json(__file__, "--scan-one", kind, str(n), "--scan-dim", str(dim), "--scan-repeats",
                              str(repeats))
            cells += [f"{r['ms']:.1f}", f"{r['peak_growth_mb']:.0f}"] if r else ["failed", err[-80:]]
        print(f"| {n} | " + " | ".join(cells) + " |", flush=True)


def iteration_cost(variant: str, batch: int, steps: int) -> dict:
    """One training iteration on ``(batch, 3, 3, 128, 64)`` tuples of the tiny model (forward, the fused head's
    identity loss, backward, Adam step over what trains), 1 thread, median over ``steps``. ``mambapro``: frozen
    encoder; ``mambapro_unfrozen``: the same model with every encoder weight trained (full fine-tuning of the
    same encoder); ``clip_ft``: CLIP-ReID fully fine-tuned, no plugin."""
    import torch
    import torch.nn.functional as F

    from lifelong_reid import RunConfig
    from lifelong_reid.models import build_model
    from lifelong_reid.plugins.mambapro import MambaProConfig, MambaProPlugin, trainable_parameters
    from lifelong_reid.testing import attach_plugin

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_model(RunConfig(model="lreid-tiny-vit", pretrained=None, image_size=[128, 64], device="cpu"))
    model.reset_classifier(batch // 4)
    key = "logits"
    if variant != "clip_ft":
        attach_plugin(model, MambaProPlugin(MambaProConfig(num_cameras=3, freeze_encoder=variant == "mambapro")),
                      batch // 4)
        key = "mambapro_logits"
    model.train()
    x, y = torch.randn(batch, 3, 3, 128, 64), torch.arange(batch) // 4
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x)[key], y).backward()
        opt.step()

    step()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    trainable, total = trainable_parameters(model.visual)
    extra = sum(p.numel() for n, p in model.named_parameters() if n.startswith(("mambapro_ma", "heads.")))
    return {"variant": variant, "ms": 1000 * float(np.median(times)), "visual_trainable": trainable,
            "visual_total": total, "aggregation_and_heads": extra}


def vit_b16_parameters() -> dict:
    """Parameter counts of MambaPro's parts on ViT-B-16 at 256x128 for RGBNT201 (random weights, 171 classes,
    4 cameras): PFA, SRP, camera table, MA, heads, and the frozen encoder."""
    from lifelong_reid import RunConfig
    from lifelong_reid.models import build_model
    from lifelong_reid.plugins.mambapro import MambaProConfig, MambaProPlugin
    from lifelong_reid.testing import attach_plugin

    model = build_model(RunConfig(model="ViT-B-16", pretrained=None, image_size=[256, 128], device="cpu"))
    attach_plugin(model, MambaProPlugin(MambaProConfig(num_cameras=4)), 171)
    count = lambda prefix: sum(p.numel() for n, p in model.named_parameters() if n.startswith(prefix))  # noqa: E731
    parts = {"PFA": count("visual.adapters.mambapro_pfa"),
             "SRP": count("visual.mambapro_prompts") + count("visual.mambapro_transfer"),
             "camera": count("visual.mambapro_camera"), "MA": count("mambapro_ma"), "heads": count("heads.")}
    parts["trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    parts["encoder (frozen)"] = sum(p.numel() for p in model.visual.parameters() if not p.requires_grad)
    return parts


def print_params(batch: int, steps: int) -> None:
    names = {"mambapro": "MambaPro (frozen encoder)", "mambapro_unfrozen": "MambaPro, encoder trained too",
             "clip_ft": "CLIP-ReID fully fine-tuned (no plugin)"}
    print(f"\n## Trainable parameters and iteration time\n\nTiny model, 128x64, batch {batch} tuples of 3, 1 thread, "
          f"median of {steps} steps, one process per row:\n")
    print("| variant | ms / iteration | vs full fine-tuning (same encoder) | encoder parameters trained | "
          "MA + heads |\n|---|---|---|---|---|")
    rows = {}
    for variant in ("mambapro_unfrozen", "mambapro", "clip_ft"):
        r, err = run_json(__file__, "--cost-one", variant, "--cost-batch", str(batch), "--cost-steps", str(steps))
        if r is None:
            print(f"| {names[variant]} | failed: {err} | | | |")
            continue
        rows[variant] = r
        base = rows.get("mambapro_unfrozen", r)
        print(f"| {names[variant]} | {r['ms']:.1f} | {r['ms'] / base['ms']:.2f}x | "
              f"{r['visual_trainable'] / 1e6:.3f} M of {r['visual_total'] / 1e6:.3f} M | "
              f"{r['aggregation_and_heads'] / 1e6:.3f} M |", flush=True)
    parts = vit_b16_parameters()
    print("\nViT-B-16 at 256x128, RGBNT201 (171 identities, 4 cameras), computed:\n\n| part | parameters |\n|---|---|")
    for k, v in parts.items():
        print(f"| {k} | {v / 1e6:.2f} M |")


# ---------------------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ablation", action="store_true", help="the component ablation, with GraFT's row")
    ap.add_argument("--missing", action="store_true", help="missing modalities at test (full model and GraFT)")
    ap.add_argument("--scan-cost", action="store_true", help="aggregation cost against sequence length")
    ap.add_argument("--params", action="store_true", help="trainable parameters and iteration time")
    ap.add_argument("--rows", nargs="*", default=list(ROWS), choices=list(ROWS))
    ap.add_argument("--seeds", nargs="*", type=int, default=[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--random-init", action="store_true", help="no synthetic pretraining of the encoder")
    ap.add_argument("--lengths", nargs="*", type=int, default=[128, 256, 512, 1024, 2048, 4096, 8192])
    ap.add_argument("--json", help="write every run's figures here")
    ap.add_argument("--from-json", help="print the ablation tables of an earlier --json file")
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--weights", help=argparse.SUPPRESS)
    ap.add_argument("--with-missing", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--scan-one", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--scan-dim", type=int, default=64)
    ap.add_argument("--scan-repeats", type=int, default=3)
    ap.add_argument("--cost-one", help=argparse.SUPPRESS)
    ap.add_argument("--cost-batch", type=int, default=16)
    ap.add_argument("--cost-steps", type=int, default=5)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_run(args.one[0], int(args.one[1]), args.epochs, args.weights, args.with_missing)))
        return
    if args.scan_one:
        print(json.dumps(scan_point(args.scan_one[0], int(args.scan_one[1]), args.scan_dim, args.scan_repeats)))
        return
    if args.cost_one:
        print(json.dumps(iteration_cost(args.cost_one, args.cost_batch, args.cost_steps)))
        return
    if args.from_json:
        with open(args.from_json) as f:
            runs = json.load(f)
        print_tables(runs, [r for r in ROWS if any(x["row"] == r for x in runs)])
        return
    if not (args.ablation or args.missing or args.scan_cost or args.params):
        ap.error("choose at least one of --ablation --missing --scan-cost --params")
    if args.ablation or args.missing:
        weights = pretrained_weights(args.random_init)
        rows = args.rows if args.ablation else ["full", "graft"]
        print(f"synthetic-multimodal, lreid-tiny-vit 128x64 ({'random init' if weights is None else 'synthetic CLIP'})"
              f", {args.epochs} epochs; seeds {args.seeds}; CPU {os.cpu_count()} cores", flush=True)
        runs = []
        for row in rows:
            for seed in args.seeds:
                cmd = ["--one", row, str(seed), "--epochs", str(args.epochs)]
                cmd += ["--weights", weights] if weights else []
                cmd += ["--with-missing"] if args.missing and row in ("full", "graft") else []
                r, err = run_json(__file__, *cmd, tail=1500)
                if r is None:
                    print(f"{row} seed {seed}: failed\n{err}", flush=True)
                    continue
                runs.append(r)
                print(f"  {row:9s} seed {seed}: mAP {r['mAP']:.2f} R1 {r['rank1']:.2f} | {r['wall_s']:.0f} s", flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(runs, f, indent=2)
        print_tables(runs, rows)
    if args.scan_cost:
        print_scan_cost(args.lengths, args.scan_dim, args.scan_repeats)
    if args.params:
        print_params(args.cost_batch, args.cost_steps)


if __name__ == "__main__":
    main()
