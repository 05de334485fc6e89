"""What the VLADR example files share: the offline variant's settings and the streams (real, checked
before training; synthetic)."""
from __future__ import annotations

from lifelong_reid.data import build_transforms


def paper_config(name: str):
    """The official code's training settings: ViT-B-16 ``openai`` at 256x128, 60 stage-2 epochs per domain,
    batch 64 = 16 identities x 4 images, Adam lr 5e-6 (classifier x10), fp16 autocast; the ``vladr`` plugin
    with stage 1 at 120 epochs per domain, as CLIP-ReID's."""
    from lifelong_reid import RunConfig

    return RunConfig(name=name, model="ViT-B-16", pretrained="openai", image_size=[256, 128], stride=16, epochs=60,
                     lr=5e-6, optimizer="adam", weight_decay=1e-4, warmup_epochs=10, milestones=[30, 50], batch_p=16,
                     batch_k=4, lr_mults={"classifier": 10.0}, amp="fp16", device="auto",
                     plugins={"vladr": {"stage1_epochs": 120}})


def synthetic_defaults(config):
    """The ``--synthetic`` variant: the bundled tiny model at 128x64 on CPU, short schedules (the VLADR settings
    stay the experiment's; ``--set vladr.stage1_epochs=N`` shortens stage 1)."""
    for key, value in dict(model="lreid-tiny-vit", pretrained=None, weights=None, image_size=[128, 64], stride=None,
                           epochs=8, lr=3e-4, warmup_epochs=1, milestones=[6], batch_p=8, batch_k=4, lr_mults={},
                           bias_lr_mult=1.0, amp=None, device="cpu").items():
        config.set(key, value)
    return config


def synthetic_stream(config):
    """The synthetic Setting 1 stream (5 domains + 3 unseen) at the config's image size."""
    from lifelong_reid.streams import build_stream

    return build_stream("synthetic-setting1", seed=config.seed, num_train_ids=40,
                        transforms=build_transforms(config.image_size, pad=4))


def real_stream(name: str, config):
    """A named real stream, after checking that every dataset is readable (else the check's report is the
    error); captions from ``config.extra["captions"]`` (a JSON) are attached to every domain when given."""
    from lifelong_reid.streams import build_stream

    benchmark = build_stream(name, config.data_root, transforms=build_transforms(config.image_size), check=True)
    captions = config.extra.get("captions")
    if captions:
        from lifelong_reid.data.side_info import attach_side_info, load_captions
        from lifelong_reid.streams.lifelong import lifelong_stream

        table = load_captions(captions)
        train = [attach_side_info(benchmark.domains[d], captions=table) for d in benchmark.train_domains]
        unseen = [benchmark.domains[d] for d in benchmark.unseen_domains]
        benchmark = lifelong_stream(train, unseen, transforms=build_transforms(config.image_size), name=name)
    return benchmark
