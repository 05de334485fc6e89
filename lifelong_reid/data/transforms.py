"""CLIP-ReID-style image transforms (torchvision transforms v2), with geometric side information that
follows the image.

Train: resize (bicubic) -> horizontal flip (p=0.5) -> pad 10 -> random crop back -> tensor -> optional
channel exchange (visible-infrared ReID) -> normalise -> optional random erasing (Zhong et al., AAAI 2020; p=0.5, random pixel values, as timm's ``mode='pixel'``).
Eval: resize (bilinear, as CLIP-ReID's test transform) -> tensor -> normalise.

A transform takes a PIL image, a list of PIL images (one per modality of a multi-modal tuple), or a dict
``{"image": image or list, "part_boxes": tv_tensors.BoundingBoxes, "part_masks": tv_tensors.Mask}``: boxes
and masks go through the same resize, flip, pad and crop as the image (transforms v2 moves every
``tv_tensors`` input with the image), and come back in pixels of the output image. Multi-modal tuples
become one ``(M, 3, H, W)`` tensor; every modality gets the same random draws (``per_modality="shared"``,
as GraFT and most multi-modal code) or its own (``"independent"``, as MambaPro's code); side information
follows the first modality.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence, Union

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2 as T

from lifelong_reid.errors import ConfigError

#: open_clip's OPENAI_DATASET_MEAN / OPENAI_DATASET_STD (the normalisation CLIP was trained with).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
#: Choices of ``per_modality``.
PER_MODALITY = ("shared", "independent")


class ToFloatImage(T.Transform):
    """uint8 ``Image`` -> float in ``[0, 1]``, computed as ``x.float() / 255`` (bit-identical to the v1
    ``ToTensor``; v2's ``ToDtype(scale=True)`` rounds differently in the last bit). Boxes and masks pass
    through."""

    _transformed_types = (tv_tensors.Image,)

    def transform(self, inpt: Any, params: dict) -> Any:
        return tv_tensors.wrap(inpt.float().div(255), like=inpt)


class ChannelExchange(T.Transform):
    """With probability ``p``, replace the three channels of a float image by one of them or by its luminance,
    drawn uniformly (Ye et al., "Channel Augmented Joint Learning for Visible-Infrared Recognition", ICCV 2021,
    the ``ChannelExchange`` of their code, used on the visible images by ADCA and PGM): colour is what infrared
    images lack, so visible images lose it too. An image whose channels are already equal (an infrared crop)
    is unchanged. Boxes and masks pass through.

    Raises:
        ConfigError: ``p`` outside ``[0, 1]``.
    """

    _transformed_types = (tv_tensors.Image,)
    #: ITU-R BT.601 luma weights (the reference code's grey channel).
    LUMA = (0.2989, 0.5870, 0.1140)

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ConfigError(f"channel_exchange must be a probability in [0, 1], got {p}")
        self.p = p

    def make_params(self, flat_inputs: list) -> dict:
        apply = bool(torch.rand(()) < self.p)
        return {"choice": int(torch.randint(0, 4, ())) if apply else None}

    def transform(self, inpt: Any, params: dict) -> Any:
        choice = params["choice"]
        if choice is None or inpt.shape[-3] != 3:
            return inpt
        if choice < 3:
            one = inpt[..., choice:choice + 1, :, :]
        else:
            w = torch.tensor(self.LUMA, dtype=inpt.dtype, device=inpt.device).view(3, 1, 1)
            one = (inpt * w).sum(-3, keepdim=True)
        return tv_tensors.wrap(one.expand_as(inpt).clone(), like=inpt)


def build_transforms(size: Sequence[int] = (256, 128), *, flip: float = 0.5, pad: int = 10,
                     random_erasing: Union[float, Sequence[float]] = 0.0, mean=CLIP_MEAN, std=CLIP_STD,
                     per_modality: str = "shared", channel_exchange: float = 0.0, erasing_value="random",
                     erasing_area: tuple = (0.02, 0.33)):
    """Return ``(train_transform, eval_transform)`` mapping a PIL image to a ``(3, H, W)`` float tensor (see
    the module docstring for tuples and side information).

    Args:
        size: ``(H, W)`` in pixels; ReID uses 256x128 (height x width).
        flip: probability of a horizontal flip during training.
        pad: padding in pixels before the random crop (0 disables pad-crop).
        random_erasing: probability of random erasing (0 disables it), or several probabilities: one erasing
            after another (VLADR's released code erases with 0.5 then 0.3).
        erasing_value: what erased pixels get: ``"random"`` (per-pixel normal values) or a per-channel value
            (e.g. the normalisation mean, as fast-reid's and VLADR's ``RandomErasing(mean=...)``).
        erasing_area: the erased area's range as fractions of the image (torchvision's default; Zhong et al.'s
            code, and VLADR's, use ``(0.02, 0.4)``).
        mean, std: per-channel normalisation (CLIP's by default).
        per_modality: ``"shared"`` (one draw for all modalities of a tuple) or ``"independent"``.
        channel_exchange: probability of :class:`ChannelExchange` (0 disables it; visible-infrared ReID).

    Raises:
        ConfigError: ``size`` is not two positive integers, an unknown ``per_modality``, or a probability outside
            ``[0, 1]``.
    """
    size = tuple(int(v) for v in size)
    if len(size) != 2 or min(size) <= 0:
        raise ConfigError(f"image_size must be (height, width) with positive values, got {size}")
    if per_modality not in PER_MODALITY:
        raise ConfigError(f"per_modality must be one of {PER_MODALITY}, got {per_modality!r}")
    train = [T.Resize(size, interpolation=T.InterpolationMode.BICUBIC)]
    if flip > 0:
        train.append(T.RandomHorizontalFlip(flip))
    if pad > 0:
        train += [T.Pad(pad), T.RandomCrop(size)]
    train += [T.ToImage(), ToFloatImage()]
    if channel_exchange > 0:
        train.append(ChannelExchange(channel_exchange))
    train.append(T.Normalize(mean, std))
    erasing = [random_erasing] if isinstance(random_erasing, (int, float)) else list(random_erasing)
    for p in erasing:
        if not 0 <= p <= 1:
            raise ConfigError(f"random_erasing must be probabilities in [0, 1], got {random_erasing}")
        if p > 0:
            train.append(T.RandomErasing(p=p, scale=tuple(erasing_area), ratio=(0.3, 3.3),
                                         value=erasing_value if erasing_value == "random" else list(erasing_value)))
    evaluation = T.Compose([T.Resize(size, interpolation=T.InterpolationMode.BILINEAR),
                            T.ToImage(), ToFloatImage(), T.Normalize(mean, std)])
    return TupleTransform(T.Compose(train), per_modality), TupleTransform(evaluation, "shared")


def _plain(x):
    return x.as_subclass(torch.Tensor) if isinstance(x, torch.Tensor) else x


class TupleTransform:
    """Apply a v2 ``transform`` to one image, a list of images (a multi-modal tuple, stacked to
    ``(M, 3, H, W)``), or a dict holding ``"image"`` plus ``tv_tensors`` side information.

    With ``per_modality="shared"`` every image of a tuple is transformed with the same random draws (the
    torch RNG state is replayed); with ``"independent"`` each draws its own. Outputs are plain tensors.
    """

    def __init__(self, transform: Callable, per_modality: str = "shared"):
        self.transform, self.per_modality = transform, per_modality

    def _images(self, images, side: dict):
        state = torch.get_rng_state()
        out, side_out = [], side
        for j, img in enumerate(images):
            if self.per_modality == "shared":
                torch.set_rng_state(state)
            if j == 0 and side:
                res = self.transform({"image": img, **side})
                side_out = {k: v for k, v in res.items() if k != "image"}
                out.append(res["image"])
            else:
                out.append(self.transform(img))
        return torch.stack([_plain(x) for x in out]), side_out

    def __call__(self, image):
        if isinstance(image, dict):
            side = {k: v for k, v in image.items() if k != "image"}
            if isinstance(image["image"], (list, tuple)):
                stacked, side = self._images(image["image"], side)
                return {"image": stacked, **{k: _plain(v) for k, v in side.items()}}
            return {k: _plain(v) for k, v in self.transform(image).items()}
        if isinstance(image, (list, tuple)):
            return self._images(image, {})[0]
        return _plain(self.transform(image))

    def __repr__(self) -> str:
        return f"TupleTransform({self.transform!r}, per_modality={self.per_modality!r})"
