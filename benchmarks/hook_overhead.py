"""Per-iteration cost of the Plugin API 1.0 hook points (relay calls) against the 0.x ones, on the tiny model.

One training iteration (forward, identity + triplet losses, backward, Adam step) in three variants, measured
in interleaved rounds (median of the rounds, +- half the range), in the same process:

- ``bare``: no plugin relay on the model (the baseline);
- ``0.x hooks``: a no-op plugin on the hook points the 0.x API had per iteration (``lreid_vision_block_start``,
  ``lreid_vision_attention_mask``, ``lreid_vision_block_end`` per block, ``lreid_extra_losses``); the new
  points are still called by the relay, with no implementation;
- ``1.0 hooks``: a no-op plugin on every per-iteration hook point of 1.0 (the above plus
  ``lreid_vision_embed_tokens``, ``lreid_vision_exchange`` for tuples, ``lreid_model_outputs``,
  ``lreid_after_optimizer_step``, ``lreid_assign_targets``; extra losses through the per-plugin call that
  names clashing plugins).

Prints ms per iteration, the difference to ``bare`` and to ``0.x hooks``, relay calls per iteration and the
cost of one relay call (microseconds), for plain images ``(B, 3, H, W)`` and RGB/NIR/TIR tuples
``(B, 3, 3, H, W)``. Usage::

    python benchmarks/hook_overhead.py [--batch 16] [--size 128 64] [--rounds 7] [--steps 5]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from lifelong_reid import hookimpl
from lifelong_reid.losses import batch_hard_triplet_loss, identity_loss
from lifelong_reid.models import build_model
from lifelong_reid.plugin_manager import call_each, get_plugin_manager, register
from lifelong_reid.testing import tiny_config


class OldHooks:
    """No-op implementations of the 0.x per-iteration hook points."""

    @hookimpl
    def lreid_vision_block_start(self, layer_index, context):
        return None

    @hookimpl
    def lreid_vision_attention_mask(self, layer_index, context):
        return None

    @hookimpl
    def lreid_vision_block_end(self, layer_index, context):
        return None

    @hookimpl
    def lreid_extra_losses(self, outputs):
        return None


class NewHooks(OldHooks):
    """No-op implementations of every 1.0 per-iteration hook point."""

    @hookimpl
    def lreid_vision_embed_tokens(self, context):
        return None

    @hookimpl
    def lreid_vision_exchange(self, layer_index, context):
        return None

    @hookimpl
    def lreid_model_outputs(self, outputs):
        return None

    @hookimpl
    def lreid_after_optimizer_step(self, batch):
        return None

    @hookimpl
    def lreid_assign_targets(self, iteration):
        return None


def one_step(model, pm, kind, x, y, opt):
    out = model(x)
    loss = identity_loss(out["logits"], y) + batch_hard_triplet_loss(out["global"], y)
    if kind == "old":
        for extra in pm.hook.lreid_extra_losses(outputs=out, batch=None, strategy=None):
            loss = loss + sum((extra or {}).values())
    elif kind == "new":
        for _, extra in call_each(pm, "lreid_extra_losses", outputs=out, batch=None, strategy=None):
            loss = loss + sum((extra or {}).values())
    opt.zero_grad()
    loss.backward()
    opt.step()
    if kind == "new":
        pm.hook.lreid_after_optimizer_step(strategy=None, batch=None, outputs=out)
        pm.hook.lreid_assign_targets(strategy=None, experience=None, dataset=None, epoch=0, iteration=1)


def relay_calls(model, pm, kind, x) -> int:
    """Hook calls in one iteration (counted with pluggy's call monitoring)."""
    count = [0]
    undo = pm.add_hookcall_monitoring(lambda *a: count.__setitem__(0, count[0] + 1), lambda *a: None)
    y = torch.arange(len(x)) // 4
    one_step(model, pm, kind, x, y, torch.optim.SGD(model.parameters(), lr=0.0))
    undo()
    extra = {"old": 0, "new": 1}.get(kind, 0)  # call_each bypasses the monitor for lreid_extra_losses
    return count[0] + extra


def call_cost_us(pm, repeats: int = 20000) -> float:
    """Microseconds per relay call of a hook with one no-op implementation."""
    hook = pm.hook.lreid_vision_block_end
    t = time.perf_counter()
    for i in range(repeats):
        hook(layer_index=i, context=None, encoder=None)
    return 1e6 * (time.perf_counter() - t) / repeats


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, nargs=2, default=(128, 64))
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    torch.manual_seed(0)
    cfg = tiny_config(image_size=list(args.size))
    variants = {"bare": (None, "bare"), "0.x hooks": (OldHooks(), "old"), "1.0 hooks": (NewHooks(), "new")}
    print(f"lreid-tiny-vit {args.size[0]}x{args.size[1]}, batch {args.batch}, {torch.get_num_threads()} threads, "
          f"{args.rounds} rounds x {args.steps} iterations (median ms / iteration)")
    for label, shape in (("images", (args.batch, 3, *args.size)), ("tuples", (args.batch, 3, 3, *args.size))):
        model = build_model(cfg)
        model.reset_classifier(args.batch // 4)
        opt = torch.optim.Adam(model.parameters(), lr=1e-5)
        x = torch.randn(*shape)
        y = torch.arange(args.batch) // 4
        pms = {}
        for name, (plugin, kind) in variants.items():
            pm = get_plugin_manager(load_entrypoints=False)
            if plugin is not None:
                register(pm, plugin, name="noop")
            pms[name] = (pm, kind)
        times = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, (pm, kind) in pms.items():
                model.hook = pm.hook if kind != "bare" else None
                one_step(model, pm, kind, x, y, opt)  # warm-up of this variant
                t = time.perf_counter()
                for _ in range(args.steps):
                    one_step(model, pm, kind, x, y, opt)
                times[name].append(1000 * (time.perf_counter() - t) / args.steps)
        med = {name: statistics.median(v) for name, v in times.items()}
        spread = {name: (max(v) - min(v)) / 2 for name, v in times.items()}
        print(f"\n{label} {tuple(shape)}:")
        print("| variant | ms / iteration | vs bare | vs 0.x hooks | relay calls / iteration |")
        print("|---|---|---|---|---|")
        for name, (pm, kind) in pms.items():
            model.hook = pm.hook if kind != "bare" else None
            calls = relay_calls(model, pm, kind, x) if kind != "bare" else 0
            print(f"| {name} | {med[name]:.1f} ± {spread[name]:.1f} | {med[name] - med['bare']:+.2f} ms "
                  f"({100 * (med[name] / med['bare'] - 1):+.1f}%) | {med[name] - med['0.x hooks']:+.2f} ms | {calls} |")
    pm = get_plugin_manager(load_entrypoints=False)
    register(pm, NewHooks(), name="noop")
    print(f"\none relay call (one no-op implementation): {call_cost_us(pm):.2f} us")


if __name__ == "__main__":
    main()
