"""What the MambaPro example files share: the code's per-dataset recipes on a CLIP ViT-B-16, the offline variant
and the streams (real, checked before training; synthetic RGB/NIR/TIR tuples)."""
from __future__ import annotations

from lifelong_reid.data import build_transforms

#: The code's recipes (``configs/*/MambaPro.yml``): image size (H, W), P x K, epochs, warm-up epochs, whether the
#: second loss pair is the concatenated CLS tokens (``DIRECT=1``) or one per modality (``DIRECT=0``).
RECIPES = {
    "rgbnt201": dict(image_size=(256, 128), batch_p=16, batch_k=4, epochs=60, warmup_epochs=10, direct=True),
    "rgbnt100": dict(image_size=(128, 256), batch_p=8, batch_k=16, epochs=30, warmup_epochs=5, direct=False),
    "msvr310": dict(image_size=(128, 256), batch_p=16, batch_k=4, epochs=60, warmup_epochs=10, direct=False),
}


def paper_config(dataset: str):
    """MambaPro's recipe for ``dataset`` (``rgbnt201``, ``rgbnt100``, ``msvr310``): CLIP ViT-B-16 ``openai``,
    stride 16, Adam lr 3.5e-4 (biases 2x), weight decay 1e-4, per-epoch cosine with linear warm-up from 0.01 x
    lr to a floor of 0.001 x lr, identity loss 0.25 (label smoothing 0.1) and soft-margin batch-hard triplet
    1.0 on each loss pair, fp16 autocast, seed 1111; flip 0.5, pad 10 + crop, random erasing 0.5, each modality
    its own random transform. Differences from the code: CLIP's mean / std instead of 0.5 (the weights were
    trained with CLIP's), torchvision's random erasing (random values per pixel like timm's), a P x K sampler as
    the code's, the same-camera gallery filtering for MSVR310 (the code removes the same pid + scene)."""
    from lifelong_reid import RunConfig

    r = RECIPES[dataset]
    return RunConfig(name=f"mambapro-{dataset}", model="ViT-B-16", pretrained="openai", image_size=list(r["image_size"]),
                     stride=16, epochs=r["epochs"], lr=3.5e-4, optimizer="adam", weight_decay=1e-4, bias_lr_mult=2.0,
                     scheduler="cosine", warmup_epochs=r["warmup_epochs"], warmup_factor=0.01, min_lr_factor=0.001,
                     batch_p=r["batch_p"], batch_k=r["batch_k"], id_weight=0.25, triplet_weight=1.0,
                     label_smoothing=0.1, triplet_margin=None, random_erasing=0.5, amp="fp16", seed=1111,
                     device="auto", plugins={"mambapro": {"direct": r["direct"]}})


#: MA at the tiny model's scale (the full-size SSM, state 16 and 2x channels, costs ~10 s per CPU iteration
#: there: the PyTorch scan materialises (batch, tokens, channels, state) tensors).
TINY_MA = {"ma_state": 8, "ma_expand": 1, "ma_dt_rank": 8}


def synthetic_defaults(config):
    """The ``--synthetic`` variant: the bundled tiny model at 128x64 on CPU, 8 epochs, lr 3e-4, MA scaled down
    (:data:`TINY_MA`)."""
    for key, value in dict(model="lreid-tiny-vit", pretrained=None, weights=None, image_size=[128, 64], stride=None,
                           epochs=8, lr=3e-4, warmup_epochs=1, batch_p=8, batch_k=4, lr_mults={}, amp=None,
                           random_erasing=0.0, device="cpu", seed=0).items():
        config.set(key, value)
    config.plugins.setdefault("mambapro", {}).update(TINY_MA)
    return config


def transforms(config):
    """The recipe's augmentation, each modality its own draw."""
    return build_transforms(config.image_size, flip=0.5, pad=10 if min(config.image_size) >= 128 else 4,
                            random_erasing=config.random_erasing, per_modality="independent")


def synthetic_stream(config):
    """RGB/NIR/TIR tuples of synthetic people, one experience."""
    from lifelong_reid.streams import build_stream

    return build_stream("synthetic-multimodal", seed=config.seed, transforms=transforms(config))


def real_stream(name: str, config):
    """``supervised:NAME`` after checking the dataset (else the ``lreid datasets check`` report is the error)."""
    from lifelong_reid.streams import build_stream

    return build_stream(f"supervised:{name}", config.data_root, transforms=transforms(config), check=True)
