"""The image transforms of VLADR's released code (``lreid_dataset/datasets/get_data_loaders.py``): ImageNet
normalisation, the weak view with two random erasings, and the strong view (reflect-pad crop + RandAugment)."""
from __future__ import annotations

from typing import Sequence

from torchvision.transforms import v2 as T

from lifelong_reid.data.transforms import CLIP_MEAN, CLIP_STD, ToFloatImage, TupleTransform, build_transforms

#: torchvision's ImageNet statistics, which the released code normalises with (not CLIP's).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: ``image_norm`` setting -> (mean, std).
NORMS = {"clip": (CLIP_MEAN, CLIP_STD), "imagenet": (IMAGENET_MEAN, IMAGENET_STD)}


def strong_view(size: Sequence[int], norm: str = "imagenet") -> T.Compose:
    """The released code's strong view: bicubic resize, horizontal flip (p 0.5), random crop after reflect
    padding by ``width // 8`` pixels, RandAugment with 2 operations at magnitude 10, tensor, normalisation.

    The release uses FixMatch's ``RandAugmentMC(n=2, m=10)`` (its own operation list, random magnitudes up to
    ``m`` and a final 16-pixel Cutout); this is torchvision's ``RandAugment(num_ops=2, magnitude=10)``, the
    maintained implementation of the same policy (fixed magnitude, no Cutout).

    Args:
        size: ``(H, W)`` in pixels. norm: ``"imagenet"`` or ``"clip"`` mean/std (:data:`NORMS`).
    """
    h, w = (int(v) for v in size)
    mean, std = NORMS[norm]
    return T.Compose([T.Resize((h, w), interpolation=T.InterpolationMode.BICUBIC), T.RandomHorizontalFlip(0.5),
                      T.RandomCrop((h, w), padding=w // 8, padding_mode="reflect"),
                      T.RandAugment(num_ops=2, magnitude=10), T.ToImage(), ToFloatImage(), T.Normalize(mean, std)])


def official_transforms(size: Sequence[int], pad: int = 10) -> tuple[TupleTransform, TupleTransform]:
    """``(train, eval)`` transforms of the released code: train = bicubic resize, flip (p 0.5), pad ``pad`` (10) and
    random crop, ImageNet normalisation, random erasing with p 0.5 then again with p 0.3 (area 2-40%, aspect
    0.3-3.3, filled with the ImageNet mean as the release's ``RandomErasing(mean=...)``); eval = resize and
    ImageNet normalisation (the release resizes bicubically at test time too; ours is bilinear as CLIP-ReID's).
    """
    return build_transforms(size, pad=pad, mean=IMAGENET_MEAN, std=IMAGENET_STD, random_erasing=(0.5, 0.3),
                            erasing_value=IMAGENET_MEAN, erasing_area=(0.02, 0.4))
