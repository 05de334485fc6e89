"""Does the training data pipeline keep up with the model? Images/s of each stage on real JPEGs.

On the training images of market1501-mini (2,882 real Market-1501 JPEGs, 64x128, ``../shared/data``):

- decode limits, one process, every image once per pass (baselines): PIL (``Image.open(...).convert("RGB")``,
  what the library uses), ``torchvision.io.decode_jpeg`` on the file bytes, and ``simplejpeg`` (a
  libjpeg-turbo binding; skipped with a note when not installed);
- the library's training pipeline: the domain's :class:`~lifelong_reid.data.ReIDDataset` with the training
  transforms (bicubic resize, flip, pad + random crop, normalisation) through the P x K
  :class:`~lifelong_reid.data.PKSampler` DataLoader with 0, 1 and 2 workers, one epoch after a warm-up epoch;
- what the model consumes: one training iteration of the tiny model (forward, identity + triplet, backward,
  Adam step) on a batch of the same size, in images/s.

The loader is the bottleneck of an epoch when its images/s with the run's ``num_workers`` is below the model's.

    python benchmarks/loader.py [--data ../shared/data/market1501-mini] [--size 256 128] [--batch 8 4]
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import DataLoader

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "market1501-mini"


def rate(fn, items: int, repeat: int = 3) -> float:
    """Best images/s of ``repeat`` calls of ``fn`` that each handle ``items`` images."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return items / best


def decode_pil(paths):
    for p in paths:
        with Image.open(p) as im:
            im.convert("RGB").load()


def decode_torchvision(paths):
    from torchvision.io import decode_jpeg, read_file

    for p in paths:
        decode_jpeg(read_file(str(p)))


def decode_simplejpeg(paths):
    import simplejpeg

    for p in paths:
        with open(p, "rb") as f:
            simplejpeg.decode_jpeg(f.read(), colorspace="RGB")


def pipeline_rate(dataset, targets, batch, workers: int) -> float:
    """Images/s of one epoch of the P x K training loader (after one warm-up epoch)."""
    from lifelong_reid.data.batch import collate_reid
    from lifelong_reid.data.samplers import PKSampler

    sampler = PKSampler(targets, batch[0], batch[1], seed=0)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=workers, collate_fn=collate_reid,
                        persistent_workers=workers > 0)
    rates = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        t, n = time.perf_counter(), 0
        for b in loader:
            n += len(b.images)
        if epoch:
            rates.append(n / (time.perf_counter() - t))
    return statistics.median(rates)


def model_rate(size, batch, classes: int, steps: int = 6) -> float:
    """Images/s of the tiny model's training iterations on random batches of ``size``."""
    from lifelong_reid.losses import batch_hard_triplet_loss, identity_loss
    from lifelong_reid.models import build_model
    from lifelong_reid.strategy.optim import build_optimizer, build_param_groups
    from lifelong_reid.testing import tiny_config

    cfg = tiny_config(image_size=list(size))
    model = build_model(cfg)
    model.reset_classifier(classes)
    opt = build_optimizer(build_param_groups(model, cfg, []), cfg)
    model.train()
    n = batch[0] * batch[1]
    x = torch.randn(n, 3, *size)
    y = torch.arange(batch[0]).repeat_interleave(batch[1])

    def step():
        out = model(x)
        loss = sum(identity_loss(out[h], y, 0.1) for h in ("logits", "logits_proj"))
        loss = loss + sum(batch_hard_triplet_loss(out[f], y, 0.3) for f in ("global", "global_proj"))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up
    return rate(lambda: [step() for _ in range(steps)], n * steps, repeat=2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--size", type=int, nargs=2, default=[256, 128], metavar=("H", "W"))
    ap.add_argument("--batch", type=int, nargs=2, default=[8, 4], metavar=("P", "K"))
    args = ap.parse_args()
    if not (args.data / "bounding_box_train").is_dir():
        raise SystemExit(f"{args.data}: no market1501-mini here (bounding_box_train/ missing); pass --data")

    from lifelong_reid.data import ReIDDataset, build_transforms
    from lifelong_reid.data.market1501 import read_market1501

    domain = read_market1501(args.data)
    paths = [s.path for s in domain.train]
    train_tf, _ = build_transforms(tuple(args.size))
    label = {pid: i for i, pid in enumerate(sorted({s.pid for s in domain.train}))}
    targets = [label[s.pid] for s in domain.train]
    dataset = ReIDDataset(domain.train, targets=targets, transform=train_tf)
    n = len(paths)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads); {n} training JPEGs of {args.data.name}; transforms to "
          f"{args.size[0]}x{args.size[1]}; batch {args.batch[0]}x{args.batch[1]}")
    rows = [("decode: PIL (what the library uses; baseline)", rate(lambda: decode_pil(paths), n)),
            ("decode: torchvision.io.decode_jpeg", rate(lambda: decode_torchvision(paths), n))]
    if importlib.util.find_spec("simplejpeg"):
        rows.append(("decode: simplejpeg (libjpeg-turbo)", rate(lambda: decode_simplejpeg(paths), n)))
    else:
        rows.append(("decode: simplejpeg (libjpeg-turbo)", None))
    rows.append(("decode + transforms, one process (dataset[i])",
                 rate(lambda: [dataset[i] for i in range(n)], n, repeat=1)))
    for workers in (0, 1, 2):
        rows.append((f"training loader, {workers} worker(s)", pipeline_rate(dataset, targets, args.batch, workers)))
    model = model_rate(tuple(args.size), args.batch, classes=max(targets) + 1)
    rows.append(("tiny model training iteration (consumer)", model))
    base = rows[0][1]
    print("\n| stage | images/s | vs PIL decode |\n|---|---|---|")
    for name, value in rows:
        if value is None:
            print(f"| {name} | not installed (pip install simplejpeg) | |")
        else:
            print(f"| {name} | {value:,.0f} | {value / base:.2f}x |")
    loader0 = rows[-4][1]
    verdict = "is" if loader0 < model else "is not"
    print(f"\nWith num_workers=0 (the default) the loader ({loader0:,.0f} images/s) {verdict} the bottleneck of a "
          f"tiny-model epoch ({model:,.0f} images/s).")


if __name__ == "__main__":
    main()
