"""Mixed precision against fp32 (issue 14): the same seeded synthetic runs under ``amp=null`` (the baseline),
``bf16`` and ``fp16`` autocast, and the same trained weights evaluated under each precision.

    python benchmarks/amp_parity.py                  # CPU: fp32, bf16 (fp16 too where the CPU autocasts it)
    python benchmarks/amp_parity.py --device cuda    # GPU: fp32, bf16, fp16
    python benchmarks/amp_parity.py --seeds 0 1 2 --epochs 8

Prints, per precision, the final mAP / Rank-1 (mean ± std over seeds), the paired difference to fp32, the
difference when only evaluation runs in that precision (same fp32-trained weights), and the wall time.
"""
from __future__ import annotations

import argparse
import logging
import time

import torch

from lifelong_reid.data import build_transforms
from lifelong_reid.plugin_manager import get_plugin_manager
from lifelong_reid.runner import seed_everything
from lifelong_reid.streams import synthetic_lifelong_stream
from lifelong_reid.testing import tiny_config

try:
    from benchmarks.tables import mean_std, paired
except ImportError:  # run as a script
    from tables import mean_std, paired


def parity_stream(seed: int, ids: int = 30):
    """One synthetic training domain (evaluated on its own test identities), no random augmentation."""
    config = tiny_config()
    return synthetic_lifelong_stream(1, 0, seed=seed, num_train_ids=ids, num_test_ids=ids, num_cameras=2,
                                     images_per_camera=3,
                                     transforms=build_transforms(config.image_size, flip=0.0, pad=0))


def train_once(amp, seed: int, epochs: int, device: str, ids: int = 30) -> tuple[dict, dict, float]:
    """Train on :func:`parity_stream` under ``amp``; returns ``(metrics, model state, seconds)``."""
    from lifelong_reid.models import build_model
    from lifelong_reid.strategy import ReIDStrategy

    config = tiny_config(epochs=epochs, seed=seed, device=device, amp=amp, warmup_epochs=1)
    benchmark = parity_stream(seed, ids)
    seed_everything(seed, 0)
    strategy = ReIDStrategy(model=build_model(config), config=config, pm=get_plugin_manager(), progress=False)
    seed_everything(seed, 1)
    t0 = time.perf_counter()
    strategy.train(benchmark.train_stream[0])
    seconds = time.perf_counter() - t0
    metrics = strategy.evaluate_domains(benchmark)[benchmark.eval_domains[0]]
    return metrics, {k: v.detach().cpu().clone() for k, v in strategy.model.state_dict().items()}, seconds


def evaluate_weights(state: dict, amp, seed: int, device: str, ids: int = 30) -> dict:
    """The metrics of fixed weights ``state`` evaluated under ``amp``."""
    from lifelong_reid.models import build_model
    from lifelong_reid.strategy import ReIDStrategy

    config = tiny_config(seed=seed, device=device, amp=amp)
    benchmark = parity_stream(seed, ids)
    strategy = ReIDStrategy(model=build_model(config), config=config, pm=get_plugin_manager(), progress=False)
    strategy.model.reset_classifier(state["classifier.weight"].shape[0] if "classifier.weight" in state else 1)
    strategy.model.load_state_dict(state, strict=False)
    strategy.model.to(strategy.device)
    return strategy.evaluate_domains(benchmark)[benchmark.eval_domains[0]]


def fp16_available(device: str) -> bool:
    """Whether autocast to float16 runs on ``device`` (CUDA; CPU in recent torch)."""
    try:
        with torch.autocast(device_type=device.split(":")[0], dtype=torch.float16):
            torch.ones(2, 2, device=device) @ torch.ones(2, 2, device=device)
        return True
    except RuntimeError:
        return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--ids", type=int, default=30)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    logging.getLogger().setLevel(logging.ERROR)
    amps = [None, "bf16"] + (["fp16"] if fp16_available(args.device) else [])
    rows: dict = {a: [] for a in amps}
    for seed in args.seeds:
        base_state = None
        for amp in amps:
            metrics, state, seconds = train_once(amp, seed, args.epochs, args.device, args.ids)
            if amp is None:
                base_state = state
            eval_only = evaluate_weights(base_state, amp, seed, args.device, args.ids)
            rows[amp].append({"seed": seed, "mAP": metrics["mAP"], "rank1": metrics["rank1"], "seconds": seconds,
                              "eval_mAP": eval_only["mAP"]})
    print(f"device {args.device}, {len(args.seeds)} seeds, {args.epochs} epochs, {args.ids} identities; baseline: fp32")
    print("| precision | mAP | Rank-1 | mAP vs fp32 (paired) | eval-only mAP vs fp32 | train s |")
    print("|---|---|---|---|---|---|")
    base = rows[None]
    eval_base = [{"seed": r["seed"], "mAP": r["eval_mAP"]} for r in base]
    for amp in amps:
        name = amp or "fp32"
        evals = [{"seed": r["seed"], "mAP": r["eval_mAP"]} for r in rows[amp]]
        print(f"| {name} | {mean_std(rows[amp], 'mAP')} | {mean_std(rows[amp], 'rank1')} | "
              f"{paired(rows[amp], base) if amp else '-'} | {paired(evals, eval_base) if amp else '-'} | "
              f"{mean_std(rows[amp], 'seconds')} |")


if __name__ == "__main__":
    main()
