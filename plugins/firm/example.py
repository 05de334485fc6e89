"""What the FIRM example files share: the recipe on a CLIP ViT-B-16 (real data, checked before training), the
``--synthetic`` variant (the bundled tiny model on the offline visible-infrared stream, CPU, minutes), and the
ablation rows as settings.

The recipe (this library's: FIRM publishes none): CLIP-ReID's image-encoder fine-tuning rates for a ViT-B-16
(Adam, lr 5e-6, weight decay 1e-4, warm-up then steps) at 288 x 144 (the VI-ReID input size of AGW, ADCA and PGM;
the positional embedding is resized), with ADCA / PGM's clustering, memory and 16 instances per pseudo-identity.
"""
from __future__ import annotations

from lifelong_reid.data import build_transforms

#: The ablation rows of ``benchmarks/firm_ablation.py``: ``--set firm.KEY=VALUE`` settings of each.
ABLATIONS = {
    "full": {},
    "no VSPF": {"vspf": False},
    "Hungarian instead of OT": {"matching": "hungarian"},
    "balanced OT": {"matching": "sinkhorn"},
    "no carry-over": {"carry_over": False},
    "plain InfoNCE": {"ot_weighted": False},
    "baseline (DBSCAN + Hungarian, no VSPF)": {"vspf": False, "matching": "hungarian", "carry_over": False,
                                               "ot_weighted": False, "sub_centres": 1, "uniformity_weight": 0.0,
                                               "compactness_weight": 0.0},
}

#: Per dataset: training epochs (ADCA / PGM: 50 on SYSU-MM01 and RegDB; LLCM as SYSU).
EPOCHS = {"sysu-mm01": 50, "regdb": 50, "llcm": 50}


def paper_config(dataset: str):
    """The recipe for ``unsupervised:DATASET`` (``sysu-mm01``, ``regdb``, ``llcm``)."""
    from lifelong_reid import RunConfig

    return RunConfig(name=f"firm-{dataset}", model="ViT-B-16", pretrained="openai", image_size=[288, 144], stride=16,
                     epochs=EPOCHS[dataset], lr=5e-6, optimizer="adam", weight_decay=1e-4, bias_lr_mult=2.0,
                     warmup_epochs=5, milestones=[20, 40], batch_p=16, batch_k=16, id_weight=0.0,
                     triplet_weight=0.0, random_erasing=0.5, amp="fp16", device="auto", seed=0,
                     plugins={"firm": {}})


#: Clustering at the synthetic stream's scale: 6 images per identity and modality instead of SYSU-MM01's ~30-56,
#: so the k-reciprocal neighbourhoods and DBSCAN's core shrink with it (ADCA's k1 = 30 merges everything there).
SYNTHETIC_CLUSTERING = {"k1": 5, "k2": 2, "min_samples": 3}


def synthetic_defaults(config):
    """The ``--synthetic`` variant: the bundled tiny model with synthetic-pretrained weights (CLIP's objective on
    captioned synthetic people, cached after the first use, a few minutes on CPU: ``lreid synthetic-clip``) at 128x64 on CPU, 10 epochs, lr 1e-4, P x K = 8 x 8, clustering scaled down (:data:`SYNTHETIC_CLUSTERING`)."""
    from lifelong_reid.synthetic.pretrain import synthetic_clip_weights

    for key, value in dict(model="lreid-tiny-vit", pretrained=None, weights=str(synthetic_clip_weights()),
                           image_size=[128, 64], stride=None, epochs=10,
                           lr=1e-4, warmup_epochs=1, milestones=[], batch_p=8, batch_k=8, lr_mults={}, amp=None,
                           random_erasing=0.0, device="cpu", seed=0).items():
        config.set(key, value)
    firm = config.plugins.setdefault("firm", {})
    for key, value in SYNTHETIC_CLUSTERING.items():
        firm.setdefault(key, value)
    return config


def transforms(config):
    """Flip, pad + crop (10 px at full size), channel exchange on half the images (ADCA / PGM's visible
    augmentation, :class:`~lifelong_reid.data.transforms.ChannelExchange`), random erasing as configured."""
    return build_transforms(config.image_size, flip=0.5, pad=10 if min(config.image_size) >= 128 else 4,
                            random_erasing=config.random_erasing, channel_exchange=0.5)


def synthetic_stream(config):
    """The offline visible-infrared stream with hidden identities (``synthetic-vi-unsupervised``)."""
    from lifelong_reid.streams import build_stream

    return build_stream("synthetic-vi-unsupervised", seed=config.seed, transforms=transforms(config))


def real_stream(dataset: str, config):
    """``unsupervised:DATASET`` after checking the dataset (else the ``lreid datasets check`` report is the
    error)."""
    from lifelong_reid.streams import build_stream

    return build_stream(f"unsupervised:{dataset}", config.data_root, transforms=transforms(config), check=True)
