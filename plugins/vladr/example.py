"""What the VLADR example files share: the run settings of the two presets, the offline variant's settings
and the streams (real, checked before training; synthetic)."""
from __future__ import annotations

from pathlib import Path

from lifelong_reid.data import build_transforms

#: The released code's run settings (``train_stage2.py``, ``config/base.yml``, ``get_data_loaders.py``) that go
#: with the plugin's ``official`` preset: ViT-B-16 ``openai`` at 256x128, stride 16; 60 epochs per domain;
#: Adam lr 5e-6 (biases x2), weight decay 1e-4, no classifier multiplier; WarmupMultiStepLR stepped per
#: iteration (10 warm-up iterations from 0.01, x0.1 after iteration 30); batch 16 identities x 4 images, the
#: 4 from different cameras where possible (``sampler="pk_camera"``); no
#: label smoothing; the soft-margin triplet; one classifier grown over the domains' identities; fp32; the test
#: feature cat[BN(768), BN(512)], L2-normalised, squared Euclidean.
OFFICIAL_RUN = dict(model="ViT-B-16", pretrained="openai", image_size=[256, 128], stride=16, epochs=60, lr=5e-6,
                    optimizer="adam", weight_decay=1e-4, bias_lr_mult=2.0, lr_mults={}, scheduler="multistep",
                    scheduler_step="iteration", warmup_epochs=10, warmup_factor=0.01, milestones=[30], gamma=0.1,
                    batch_p=16, batch_k=4, sampler="pk_camera", label_smoothing=0.0, triplet_margin=None, classifier="grow",
                    neck_feat="after", eval_metric="euclidean", amp=None)
#: The part of :data:`OFFICIAL_RUN` that is the released code's method rather than its scale (model, schedule,
#: batch): what a CPU run of the ``official`` preset keeps (``benchmarks/vladr_ablation.py``,
#: ``benchmarks/vladr_real_mini.py``).
OFFICIAL_CONTRACTS = dict(classifier="grow", neck_feat="after", eval_metric="euclidean", label_smoothing=0.0,
                          triplet_margin=None)
#: The released description file of each domain (``_BLIP_TEXT_DESC/NAME_description.txt``), by our name.
RELEASE_NAMES = {"market1501": "market1501", "cuhk-sysu": "cuhk_sysu", "lpw": "lpw", "msmt17": "msmt17",
                 "cuhk03-np-labeled": "cuhk03", "cuhk03-np-detected": "cuhk03", "dukemtmc-reid": "dukemtmc"}


def official_config(name: str):
    """The released code's recipe: :data:`OFFICIAL_RUN` and the ``vladr`` plugin's ``official`` preset (stage 1
    at 120 epochs per domain; the released BLIP-2 part captions, ``--set extra.captions=DIR`` with the release's
    ``_BLIP_TEXT_DESC`` folder)."""
    from lifelong_reid import RunConfig

    return RunConfig(name=name, device="auto", plugins={"vladr": {"preset": "official"}}, **OFFICIAL_RUN)


def paper_config(name: str):
    """The ``paper`` preset (the components as the paper describes them) with CLIP-ReID's stage-2 training:
    ViT-B-16 ``openai`` at 256x128, 60 stage-2 epochs per domain, batch 64 = 16 identities x 4 images, Adam lr
    5e-6 (classifier x10), fp16 autocast; stage 1 at 120 epochs per domain, as CLIP-ReID's."""
    from lifelong_reid import RunConfig

    return RunConfig(name=name, model="ViT-B-16", pretrained="openai", image_size=[256, 128], stride=16, epochs=60,
                     lr=5e-6, optimizer="adam", weight_decay=1e-4, warmup_epochs=10, milestones=[30, 50], batch_p=16,
                     batch_k=4, lr_mults={"classifier": 10.0}, amp="fp16", device="auto",
                     plugins={"vladr": {"preset": "paper", "stage1_epochs": 120}})


def is_official(config) -> bool:
    """Whether the run uses the ``official`` preset (its streams are normalised with ImageNet's statistics)."""
    return config.plugins.get("vladr", {}).get("preset") == "official"


def transforms(config, pad: int = 10):
    """The stream transforms of the run's preset: the released code's
    (:func:`~lifelong_reid.plugins.vladr.augment.official_transforms`) or CLIP-ReID's; ``pad`` pixels before
    the random crop (10 at 256x128)."""
    from lifelong_reid.plugins.vladr.augment import official_transforms

    if is_official(config):
        return official_transforms(config.image_size, pad=pad)
    return build_transforms(config.image_size, pad=pad)


def synthetic_defaults(config):
    """The ``--synthetic`` variant: the bundled tiny model at 128x64 on CPU, short schedules (the VLADR settings
    stay the experiment's; ``--set vladr.stage1_epochs=N`` shortens stage 1)."""
    official = is_official(config)
    for key, value in dict(model="lreid-tiny-vit", pretrained=None, weights=None, image_size=[128, 64], stride=None,
                           epochs=8, lr=3e-4, warmup_epochs=1, milestones=[6], batch_p=8, batch_k=4, lr_mults={},
                           bias_lr_mult=1.0, amp=None, device="cpu", scheduler_step="epoch").items():
        config.set(key, value)
    if official:  # a shorter stage 1 on the CPU (the synthetic samples carry part captions)
        config.plugins["vladr"] = {**config.plugins["vladr"], "stage1_epochs": 5}
    return config


def synthetic_stream(config):
    """The synthetic Setting 1 stream (5 domains + 3 unseen) at the config's image size."""
    from lifelong_reid.streams import build_stream

    return build_stream("synthetic-setting1", seed=config.seed, num_train_ids=40, transforms=transforms(config, pad=4))


def real_stream(name: str, config):
    """A named real stream, after checking that every dataset is readable (else the check's report is the
    error), with the preset's transforms; captions from ``config.extra["captions"]`` are attached to every
    training domain: a captions JSON (one table for all), a released description file, or the release's
    ``_BLIP_TEXT_DESC`` folder (each domain its own ``NAME_description.txt``, :data:`RELEASE_NAMES`).

    Raises:
        ConfigError: a captions folder without a domain's description file.
    """
    from lifelong_reid.data.side_info import attach_side_info, load_captions
    from lifelong_reid.errors import ConfigError
    from lifelong_reid.streams import build_stream
    from lifelong_reid.streams.lifelong import lifelong_stream

    tf = transforms(config)
    benchmark = build_stream(name, config.data_root, transforms=tf, check=True)
    captions = config.extra.get("captions")
    if not captions:
        return benchmark
    folder = Path(captions)
    table = None if folder.is_dir() else load_captions(folder)
    train = []
    for domain in benchmark.train_domains:
        if table is None:
            path = folder / f"{RELEASE_NAMES.get(domain, domain)}_description.txt"
            if not path.is_file():
                raise ConfigError(f"extra.captions={captions}: no {path.name} for domain {domain!r} (the VLADR "
                                  "release's _BLIP_TEXT_DESC folder has one per training domain)")
        train.append(attach_side_info(benchmark.domains[domain],
                                      captions=table if table is not None else load_captions(path)))
    unseen = [benchmark.domains[d] for d in benchmark.unseen_domains]
    return lifelong_stream(train, unseen, transforms=tf, name=name)
