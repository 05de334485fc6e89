"""Inference throughput of ``lreid index build`` / ``lreid search`` in images/s, against the model alone.

- ``tiny model``: ``lifelong_reid.index.build_index`` (what ``lreid index build`` runs: list, decode, resize,
  embed, write the faiss index) on the gallery of market1501-mini (2,758 real JPEGs, ``../shared/data``), and
  ``search_index`` (what ``lreid search --index`` runs) with its 599 queries, in fp32 and bf16 autocast;
  baseline: the model's forward alone on the same number of already-decoded, already-resized images.
- ``ViT-B-16`` at 256x128 (CLIP-ReID's backbone, random weights: the speed does not depend on them): the forward
  alone on CPU, fp32 and bf16, and the figure computed for a GPU from its FLOPs (no GPU here; measured when one
  is lent, ``--device cuda``).

    python benchmarks/inference.py [--data ../shared/data/market1501-mini] [--device cpu] [--skip-vit]
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "market1501-mini"
#: bf16 dense tensor throughput of an H100 / H200 SXM (TFLOP/s, NVIDIA's data sheet) and a utilisation a ViT
#: forward at batch 256 reaches in practice; used only for the computed GPU figure.
GPU_BF16_TFLOPS, GPU_UTILISATION = 989.0, 0.4


def strategy_for(model: str, size, device: str, amp=None):
    from lifelong_reid.models import build_model
    from lifelong_reid.plugin_manager import get_plugin_manager
    from lifelong_reid.strategy import ReIDStrategy
    from lifelong_reid.testing import tiny_config

    cfg = tiny_config(model=model, image_size=list(size), device=device, eval_batch_size=128)
    cfg.set("amp", amp)
    return ReIDStrategy(model=build_model(cfg), config=cfg, pm=get_plugin_manager(), progress=False)


def forward_rate(strategy, count: int, batch: int = 128, rounds: int = 2) -> float:
    """Images/s of the model's eval forward alone on ``count`` random pre-resized images."""
    model, device = strategy.model.eval(), strategy.device
    x = torch.randn(min(batch, count), 3, *strategy.config.image_size, device=device)
    steps = max(1, count // len(x))
    best = float("inf")
    with torch.no_grad(), strategy.autocast():
        model(x)  # warm-up
        for _ in range(rounds):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            for _ in range(steps):
                model(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t)
    return steps * len(x) / best


def vit_flops(size, dim: int = 768, layers: int = 12, patch: int = 16) -> float:
    """Forward FLOPs of one image through a ViT-B/16 image tower at ``size`` (2 per multiply-add): per layer
    24 N d^2 (QKV, output projection, 4x MLP) + 4 N^2 d (attention scores and mixing), N = patches + 1."""
    n = (size[0] // patch) * (size[1] // patch) + 1
    return layers * (24 * n * dim * dim + 4 * n * n * dim)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-vit", action="store_true")
    args = ap.parse_args()
    if not (args.data / "bounding_box_test").is_dir():
        raise SystemExit(f"{args.data}: no market1501-mini here; pass --data")
    logging.getLogger().setLevel(logging.ERROR)
    from lifelong_reid.index import build_index, search_index

    gallery = args.data / "bounding_box_test"
    queries = args.data / "query"
    num_g = sum(1 for _ in gallery.glob("*.jpg"))
    num_q = sum(1 for _ in queries.glob("*.jpg"))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), device {args.device}")
    print("\n| model | precision | index build (images/s) | search --index, queries (images/s) | "
          "forward alone (baseline, images/s) | pipeline / forward |\n|---|---|---|---|---|---|")
    for amp in (None, "bf16"):
        strategy = strategy_for("lreid-tiny-vit", (256, 128), args.device, amp)
        tmp = Path(tempfile.mkdtemp())
        try:
            t = time.perf_counter()
            build_index(strategy, gallery, tmp / "index", echo=lambda *a: None)
            build = num_g / (time.perf_counter() - t)
            t = time.perf_counter()
            search_index(strategy, tmp / "index", queries, top=10)
            search = num_q / (time.perf_counter() - t)
        finally:
            shutil.rmtree(tmp)
        fwd = forward_rate(strategy, num_g)
        print(f"| lreid-tiny-vit 256x128 | {amp or 'fp32'} | {build:,.0f} | {search:,.0f} | {fwd:,.0f} | "
              f"{build / fwd:.2f} |")
    if args.skip_vit:
        return
    flops = vit_flops((256, 128))
    print(f"\nViT-B-16 at 256x128: {flops / 1e9:.1f} GFLOPs per image (forward)")
    print("| model | precision | forward alone (images/s) |\n|---|---|---|")
    for amp in (None, "bf16"):
        strategy = strategy_for("ViT-B-16", (256, 128), args.device, amp)
        fwd = forward_rate(strategy, 64, batch=32, rounds=1)
        print(f"| ViT-B-16 256x128 ({args.device}, measured) | {amp or 'fp32'} | {fwd:,.1f} |")
    computed = GPU_BF16_TFLOPS * 1e12 * GPU_UTILISATION / flops
    print(f"| ViT-B-16 256x128 (H100/H200, computed: {GPU_BF16_TFLOPS:.0f} TFLOP/s bf16 x {GPU_UTILISATION:.0%}) | "
          f"bf16 / fp16 | {computed:,.0f} |")


if __name__ == "__main__":
    main()
