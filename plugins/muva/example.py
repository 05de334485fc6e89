"""What the MUVA example files share: the paper's recipe, the offline variant and the streams (real DG
protocols, checked before training; the synthetic DG setting)."""
from __future__ import annotations

from lifelong_reid.data import build_transforms

#: The protocol run when ``extra.protocol`` is not set (the code's ``muva_ms2ma.yml``).
DEFAULT_PROTOCOL = "dg:MS->MA"


def paper_config(name: str = "muva-dg"):
    """The paper's recipe (Sec. 4.2, the code's yml files): ViT-B-16 ``openai`` at 256x128; stage 2 60 epochs,
    Adam lr 5e-6, weight decay 1e-4, no bias factor, warm-up 10 epochs from 0.1, steps at 30 and 50 (x0.1),
    batch 16 x 4, fp16 autocast, label smoothing 0.1, no triplet loss (the plugin switches it off for every
    head), no pad / crop / random erasing (Table 11); the ``muva`` plugin with stage 1 at 120 epochs, RMP with
    8 heads and lr x 10."""
    from lifelong_reid import RunConfig

    return RunConfig(name=name, model="ViT-B-16", pretrained="openai", image_size=[256, 128], stride=16, epochs=60,
                     lr=5e-6, optimizer="adam", weight_decay=1e-4, bias_lr_mult=1.0, warmup_epochs=10,
                     warmup_factor=0.1, milestones=[30, 50], gamma=0.1, batch_p=16, batch_k=4, label_smoothing=0.1,
                     triplet_weight=0.0, random_erasing=0.0, amp="fp16", device="auto",
                     plugins={"muva": {"stage1_epochs": 120, "rmp_heads": 8}})


def synthetic_defaults(config):
    """The ``--synthetic`` variant: the bundled tiny model at 128x64 on CPU, short schedules, RMP heads 2."""
    for key, value in dict(model="lreid-tiny-vit", pretrained=None, weights=None, image_size=[128, 64], stride=None,
                           epochs=8, lr=3e-4, warmup_epochs=1, milestones=[6], batch_p=8, batch_k=4, lr_mults={},
                           amp=None, device="cpu").items():
        config.set(key, value)
    settings = config.plugins.setdefault("muva", {})
    settings.update(stage1_epochs=min(int(settings.get("stage1_epochs", 10)), 10), rmp_heads=2, rmp_hidden=32)
    return config


def transforms(config):
    """The recipe's augmentation: resize and flip only (boxes follow the flip)."""
    return build_transforms(config.image_size, pad=0, random_erasing=0.0)


def synthetic_stream(config):
    """Leave-one-out DG on four synthetic domains (three merged sources, one unseen target), true part boxes."""
    from lifelong_reid.streams import build_stream

    return build_stream("synthetic-dg", seed=config.seed, transforms=transforms(config))


def real_stream(config):
    """The DG protocol ``config.extra["protocol"]`` (``dg:A->B`` or ``dg-loo:B``; default
    :data:`DEFAULT_PROTOCOL`), after checking every dataset (else the ``lreid datasets check`` report is the
    error). Part boxes from ``config.extra["part_boxes"]`` (a JSON written by ``lreid ground``) are attached to
    the training domain."""
    from lifelong_reid.streams import build_stream

    name = config.extra.get("protocol", DEFAULT_PROTOCOL)
    benchmark = build_stream(name, config.data_root, transforms=transforms(config), check=True)
    boxes = config.extra.get("part_boxes")
    if boxes:
        benchmark = attach_boxes(benchmark, boxes, config)
    return benchmark


def attach_boxes(benchmark, path, config):
    """The benchmark rebuilt with the part boxes of ``path`` on its training domains."""
    from lifelong_reid.data.side_info import attach_side_info, load_part_boxes
    from lifelong_reid.streams.benchmark import build_benchmark

    table = load_part_boxes(path)
    train = [attach_side_info(benchmark.domains[d], part_boxes=table) for d in benchmark.train_domains]
    evaluated = [train[benchmark.train_domains.index(d)] if d in benchmark.train_domains else benchmark.domains[d]
                 for d in benchmark.eval_domains]
    return build_benchmark(benchmark.name, train, evaluated, unseen=list(benchmark.unseen_domains),
                           transforms=transforms(config))
