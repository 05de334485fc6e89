"""Training-step throughput of the strategy's model, with and without autocast, and with the per-layer
hook relay attached (one no-op plugin per hook) against the bare encoder.

Baseline, in the same run: fp32 without hooks. Each variant is measured in interleaved rounds and the
median is printed, in images/s (higher is better), with the cost of one hook call and the peak RSS / CUDA
memory. Usage::

    python benchmarks/train_step.py [--device cpu|cuda] [--model lreid-tiny-vit] [--size 128 64] [--batch 32]
"""
from __future__ import annotations

import argparse
import logging
import resource
import statistics
import time

import torch

from lifelong_reid.losses import batch_hard_triplet_loss, identity_loss
from lifelong_reid.models import build_model
from lifelong_reid.plugin_manager import get_plugin_manager, register
from lifelong_reid.testing import tiny_config

from hook_overhead import NewHooks as NoOpLayers  # a no-op plugin on every per-iteration hook point


def measure(model, device, batch, size, amp, steps, warmup=2) -> float:
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    x = torch.randn(batch, 3, *size, device=device)
    y = torch.arange(batch, device=device) // 4
    ctx = (torch.autocast(device_type=device.type, dtype=amp) if amp is not None
           else torch.autocast(device_type=device.type, enabled=False))
    for i in range(warmup + steps):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        with ctx:
            out = model(x)
            loss = identity_loss(out["logits"], y) + batch_hard_triplet_loss(out["global"], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default="lreid-tiny-vit")
    ap.add_argument("--size", type=int, nargs=2, default=[128, 64])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    logging.getLogger().setLevel(logging.ERROR)  # open_clip's "no pretrained weights" warning
    device = torch.device(args.device)
    cfg = tiny_config(model=args.model, image_size=args.size)
    variants = (("fp32 (baseline)", None, False), ("fp32 + hook relay", None, True),
                ("bf16 autocast", torch.bfloat16, False))
    models = {}
    for label, amp, hooks in variants:
        torch.manual_seed(0)
        model = build_model(cfg).to(device)
        model.reset_classifier(args.batch // 4)
        if hooks:
            pm = get_plugin_manager()
            register(pm, NoOpLayers())
            model.hook = pm.hook
        models[label] = model
    # interleaved rounds, median per variant: this machine's run-to-run noise is about +-15 %
    samples = {label: [] for label, _, _ in variants}
    for _ in range(args.rounds):
        for label, amp, _ in variants:
            samples[label].append(measure(models[label], device, args.batch, args.size, amp, args.steps))
    rows = [(label, statistics.median(samples[label])) for label, _, _ in variants]
    pm = get_plugin_manager()
    register(pm, NoOpLayers())
    t0 = time.perf_counter()
    for _ in range(10000):
        pm.hook.lreid_vision_block_start(layer_index=0, context=None, encoder=None)
    per_call_us = (time.perf_counter() - t0) / 10000 * 1e6
    base = rows[0][1]
    print(f"model {args.model} {args.size[0]}x{args.size[1]} batch {args.batch} on {device} "
          f"({torch.get_num_threads()} threads)")
    for label, ips in rows:
        print(f"  {label:<20} {ips:8.1f} images/s  ({ips / base:.2f}x baseline)")
    print(f"  one hook call (one no-op plugin): {per_call_us:.1f} us; a forward makes 3 per block + 2 "
          "(benchmarks/hook_overhead.py compares the 1.0 hook points with the 0.x ones)")
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(f"  peak {'CUDA memory' if device.type == 'cuda' else 'RSS'}: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
