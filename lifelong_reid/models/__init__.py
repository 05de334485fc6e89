"""Models: ``build_model(config)`` makes the CLIP ReID model a run uses.

- ``clip_loading.py``: open_clip names, pretrained tags, local weights, offline errors;
- ``vision.py``: the image encoder run block by block (per-layer plugin hooks);
- ``heads.py``: BNNeck and classifiers; ``clip_reid.py``: the model and its output contract.
"""
from __future__ import annotations

from lifelong_reid.models.clip_loading import bundled_models, create_clip
from lifelong_reid.models.clip_reid import CLIPReID
from lifelong_reid.models.vision import ReIDVisionEncoder, VisionContext, interpolate_pos_embed


def build_model(config) -> CLIPReID:
    """The :class:`CLIPReID` described by a :class:`~lifelong_reid.RunConfig` (``model``, ``pretrained``,
    ``weights``, ``image_size``, ``stride``).

    Raises:
        ModelLoadError: see :func:`create_clip`.
    """
    clip_model, tokenizer = create_clip(config.model, config.pretrained, config.weights)
    return CLIPReID(clip_model, tokenizer, image_size=tuple(config.image_size), stride=config.stride)


__all__ = ["build_model", "create_clip", "bundled_models", "CLIPReID", "ReIDVisionEncoder", "VisionContext",
           "interpolate_pos_embed"]
