"""CLIP-ReID-style image transforms.

Train: resize (bicubic) -> horizontal flip (p=0.5) -> pad 10 -> random crop back -> tensor -> normalise
-> optional random erasing (Zhong et al., AAAI 2020; p=0.5, random pixel values, as timm's ``mode='pixel'``).
Eval: resize (bilinear, as CLIP-ReID's test transform) -> tensor -> normalise.

A multi-modal sample (a list of images, one per modality) gets the *same* random flip, crop and erasing
on every modality and becomes one ``(M, 3, H, W)`` tensor (:class:`TupleTransform`).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torchvision import transforms as T

from lifelong_reid.errors import ConfigError

#: open_clip's OPENAI_DATASET_MEAN / OPENAI_DATASET_STD (the normalisation CLIP was trained with).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def build_transforms(size: Sequence[int] = (256, 128), *, flip: float = 0.5, pad: int = 10,
                     random_erasing: float = 0.0, mean=CLIP_MEAN, std=CLIP_STD):
    """Return ``(train_transform, eval_transform)`` mapping a PIL image to a ``(3, H, W)`` float tensor.

    Args:
        size: ``(H, W)`` in pixels; ReID uses 256x128 (height x width).
        flip: probability of a horizontal flip during training.
        pad: padding in pixels before the random crop (0 disables pad-crop).
        random_erasing: probability of random erasing (0 disables it).
        mean, std: per-channel normalisation (CLIP's by default).

    Raises:
        ConfigError: ``size`` is not two positive integers.
    """
    size = tuple(int(v) for v in size)
    if len(size) != 2 or min(size) <= 0:
        raise ConfigError(f"image_size must be (height, width) with positive values, got {size}")
    train = [T.Resize(size, interpolation=T.InterpolationMode.BICUBIC)]
    if flip > 0:
        train.append(T.RandomHorizontalFlip(flip))
    if pad > 0:
        train += [T.Pad(pad), T.RandomCrop(size)]
    train += [T.ToTensor(), T.Normalize(mean, std)]
    if random_erasing > 0:
        train.append(T.RandomErasing(p=random_erasing, value="random"))
    evaluation = T.Compose([T.Resize(size, interpolation=T.InterpolationMode.BILINEAR),
                            T.ToTensor(), T.Normalize(mean, std)])
    return TupleTransform(T.Compose(train)), TupleTransform(evaluation)


class TupleTransform:
    """Apply ``transform`` to one image, or to each image of a list with the same random draws (the torch
    RNG state is replayed), stacking the results to ``(M, 3, H, W)``."""

    def __init__(self, transform: Callable):
        self.transform = transform

    def __call__(self, image):
        if not isinstance(image, (list, tuple)):
            return self.transform(image)
        state = torch.get_rng_state()
        out = []
        for img in image:
            torch.set_rng_state(state)
            out.append(self.transform(img))
        return torch.stack(out)

    def __repr__(self) -> str:
        return f"TupleTransform({self.transform!r})"
