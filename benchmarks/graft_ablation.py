"""GraFT on the synthetic RGB/NIR/TIR stream (tiny model, CPU). So far: the pruning curve (Tables 3-4's shape):
mAP against the share of encoder weights pruned, each point reached by iterative global L1 pruning with one
fine-tuning epoch after each step, with the checkpoint's size (raw, and zlib-compressed: dense storage keeps
the raw size). The modality and fusion tables of issue 11 are still to come.

Usage::

    python benchmarks/graft_ablation.py --pruning                  # seed 0, points 0 20 40 60 80 90 %
    python benchmarks/graft_ablation.py --pruning --seeds 0 1 2 --epochs 8
"""
from __future__ import annotations

import argparse
import os

import numpy as np


def exported_state(model) -> dict:
    """The state dict ``lreid prune`` would write: each pruned ``W_orig * W_mask`` under ``W`` (a pruned model
    cannot be deep-copied to fold its masks: its pruned weights are not graph leaves)."""
    state = model.state_dict()
    out = {}
    for key, value in state.items():
        if key.endswith("_mask"):
            continue
        if key.endswith("_orig"):
            out[key[:-5]] = value * state[key[:-5] + "_mask"]
        else:
            out[key] = value
    return out


def pruning_curve(seed: int, epochs: int, points: list, combo: str) -> list[dict]:
    import torch

    from lifelong_reid import RunConfig
    from lifelong_reid.data import build_transforms
    from lifelong_reid.models import build_model
    from lifelong_reid.plugin_manager import get_plugin_manager
    from lifelong_reid.pruning import compressed_size, prune_encoder, sparsity
    from lifelong_reid.registry import activate_plugins
    from lifelong_reid.strategy import ReIDStrategy
    from lifelong_reid.streams import build_stream

    torch.manual_seed(seed)
    config = RunConfig(name="graft-pruning", model="lreid-tiny-vit", pretrained=None, image_size=[128, 64],
                       epochs=epochs, lr=3e-4, warmup_epochs=1, milestones=[max(1, epochs - 2)], batch_p=8,
                       batch_k=4, bias_lr_mult=1.0, device="cpu", seed=seed,
                       plugins={"graft": {"combo": combo, "mining": "hard"}})
    pm = get_plugin_manager()
    activate_plugins(config, pm)
    strategy = ReIDStrategy(model=build_model(config), config=config, pm=pm, progress=False)
    bench = build_stream("synthetic-multimodal", seed=seed, transforms=build_transforms(config.image_size, pad=0))
    experience = bench.train_stream[0]
    strategy.train(experience)
    name = bench.eval_domains[0]
    rows, done = [], 0.0
    # one fine-tuning epoch after each pruning step, at the base learning rate
    strategy.config.epochs, strategy.train_epochs, strategy.config.warmup_epochs = 1, 1, 0
    for target in points:
        if target > done:
            prune_encoder(strategy.model, 1 - (1 - target) / (1 - done))  # share of what is left
            strategy.train(experience)
            done = target
        m = strategy.evaluate_domains(bench)[name]
        zeros, total = sparsity(strategy.model)
        raw, packed = compressed_size(exported_state(strategy.model))
        rows.append({"target": target, "pruned": zeros / total, "mAP": m["mAP"], "rank1": m["rank1"], "bytes": raw,
                     "compressed": packed})
        print(f"  seed {seed}: {100 * zeros / total:5.1f}% pruned -> mAP {m['mAP']:.2f} R1 {m['rank1']:.2f} | "
              f"{raw / 1e6:.2f} MB, zlib {packed / 1e6:.2f} MB", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pruning", action="store_true", help="the pruning curve")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--combo", default="fff", help="triplet combination while training (fff: see issue 11's note)")
    ap.add_argument("--points", nargs="*", type=float, default=[0.0, 0.2, 0.4, 0.6, 0.8, 0.9])
    args = ap.parse_args()
    if not args.pruning:
        ap.error("only --pruning exists so far")
    print(f"synthetic-multimodal, lreid-tiny-vit 128x64, GraFT ({args.combo}), {args.epochs} epochs, then iterative "
          f"global L1 pruning with 1 fine-tuning epoch per step; seeds {args.seeds}; CPU {os.cpu_count()} cores",
          flush=True)
    runs = [pruning_curve(s, args.epochs, args.points, args.combo) for s in args.seeds]
    print("\n| pruned | mAP | Rank-1 | file | zlib |")
    print("|---|---|---|---|---|")
    for i, target in enumerate(args.points):
        pts = [r[i] for r in runs]

        def ms(k):
            v = [p[k] for p in pts]
            return f"{np.mean(v):.2f} ± {np.std(v):.2f}"

        print(f"| {100 * np.mean([p['pruned'] for p in pts]):.0f}% | {ms('mAP')} | {ms('rank1')} | "
              f"{np.mean([p['bytes'] for p in pts]) / 1e6:.2f} MB | {np.mean([p['compressed'] for p in pts]) / 1e6:.2f} MB |")


if __name__ == "__main__":
    main()
