"""What the GraFT example files share: the paper's recipe on a CLIP backbone, the offline variant and the
streams (real, checked before training; synthetic RGB/NIR/TIR tuples)."""
from __future__ import annotations

from lifelong_reid.data import build_transforms


def paper_config(name: str, image_size=(128, 256), batch_p: int = 8, batch_k: int = 4):
    """GraFT's recipe (the notes on its code; stage 1 and 2 in one experience): 100 epochs, the first 40
    with the shared backbone frozen; AdamW lr 2.54e-5, weight decay 0.05; identity and triplet losses at
    0.5 each, centre loss 0.0005 after the frozen stage; one modality-encoder block; random erasing only (no
    flip, no pad / crop); stage 2 at 5.74e-6 (``unfrozen_lr_factor`` 0.226). Differences from the code: a CLIP
    ViT-B-16 ``openai`` backbone at ``image_size`` instead of DeiT-B at 224x224, P x K batches instead of shuffled
    ones, one cosine schedule over both stages with stage 2's rate scaled (the code restarts with no
    scheduler), one weight decay (the code: 1.3e-3 in stage 2)."""
    from lifelong_reid import RunConfig

    return RunConfig(name=name, model="ViT-B-16", pretrained="openai", image_size=list(image_size), stride=16,
                     epochs=100, lr=2.54e-5, optimizer="adamw", weight_decay=0.05, bias_lr_mult=1.0,
                     scheduler="cosine", warmup_epochs=2, min_lr_factor=0.01, batch_p=batch_p, batch_k=batch_k,
                     id_weight=0.5, triplet_weight=0.0, label_smoothing=0.1, random_erasing=0.5, amp="fp16",
                     device="auto", plugins={"graft": {"frozen_epochs": 40, "triplet_weight": 0.5,
                                                 "unfrozen_lr_factor": round(5.74e-6 / 2.54e-5, 3)}})


def synthetic_defaults(config):
    """The ``--synthetic`` variant: the bundled tiny model at 128x64 (the synthetic people) on CPU, 8 epochs
    (2 frozen)."""
    for key, value in dict(model="lreid-tiny-vit", pretrained=None, weights=None, image_size=[128, 64], stride=None,
                           epochs=8, lr=3e-4, warmup_epochs=1, batch_p=8, batch_k=4, lr_mults={}, amp=None,
                           random_erasing=0.0, device="cpu").items():
        config.set(key, value)
    config.plugins.setdefault("graft", {})["frozen_epochs"] = 2
    return config


def transforms(config):
    """The recipe's augmentation: resize and random erasing (no flip, no pad / crop); each modality its own
    erasing draw."""
    return build_transforms(config.image_size, flip=0.0, pad=0, random_erasing=config.random_erasing,
                            per_modality="independent")


def synthetic_stream(config):
    """RGB/NIR/TIR tuples of synthetic people, one experience."""
    from lifelong_reid.streams import build_stream

    return build_stream("synthetic-multimodal", seed=config.seed, transforms=transforms(config))


def real_stream(name: str, config):
    """``supervised:NAME`` after checking the dataset (else the ``lreid datasets check`` report is the error)."""
    from lifelong_reid.streams import build_stream

    return build_stream(f"supervised:{name}", config.data_root, transforms=transforms(config), check=True)
