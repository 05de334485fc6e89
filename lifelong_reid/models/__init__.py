"""Models: ``build_model(config)`` makes the CLIP ReID model a run uses.

- ``clip_loading.py``: open_clip names, pretrained tags, local weights, offline errors;
- ``vision.py``: the image encoder run block by block (the vision hook points, per-modality stacks);
- ``context.py``: the state of one forward pass (named token spans, ``(B, M, N, D)`` views, records);
- ``adapters.py``: parallel adapters inside the blocks;
- ``heads.py``: BNNeck, classifiers and named heads; ``clip_reid.py``: the model and its output contract.
"""
from __future__ import annotations

from lifelong_reid.models.clip_loading import bundled_models, create_clip
from lifelong_reid.models.adapters import bottleneck_adapter
from lifelong_reid.models.clip_reid import OUTPUTS, CLIPReID, ModelOutputs
from lifelong_reid.models.context import VisionContext
from lifelong_reid.models.heads import HeadSpec, ReIDHead
from lifelong_reid.models.vision import ReIDVisionEncoder, interpolate_pos_embed


def build_model(config) -> CLIPReID:
    """The :class:`CLIPReID` described by a :class:`~lifelong_reid.RunConfig` (``model``, ``pretrained``,
    ``weights``, ``image_size``, ``stride``, ``modality_stacks``: 1 = one stack of blocks shared by all
    modalities, ``M`` = one per modality; ``neck_feat``: the retrieval feature before or after the BNNecks).

    Raises:
        ModelLoadError: see :func:`create_clip`.
    """
    clip_model, tokenizer = create_clip(config.model, config.pretrained, config.weights)
    model = CLIPReID(clip_model, tokenizer, image_size=tuple(config.image_size), stride=config.stride)
    if getattr(config, "modality_stacks", 1) > 1:
        model.visual.split_modality_stacks(config.modality_stacks)
    model.neck_feat = getattr(config, "neck_feat", "before")
    return model


__all__ = ["build_model", "create_clip", "bundled_models", "CLIPReID", "ModelOutputs", "OUTPUTS", "ReIDVisionEncoder",
           "VisionContext", "HeadSpec", "ReIDHead", "bottleneck_adapter", "interpolate_pos_embed"]
