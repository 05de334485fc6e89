"""The CLIP ReID model: CLIP image encoder at ReID size + BNNeck + identity classifiers, text side kept.

Follows CLIP-ReID's stage-2 model (Li et al., "CLIP-ReID", AAAI 2023): the CLS token after ``ln_post``
(width ``D``) and its projection (``E``) each go through a BNNeck and a classifier; the retrieval feature is
``cat[cls, proj]`` before the BNNecks (``(B, D + E)``, CLIP-ReID's ``NECK_FEAT='before'``).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from lifelong_reid.models.heads import BNNeck, make_classifier
from lifelong_reid.models.vision import ReIDVisionEncoder


class CLIPReID(nn.Module):
    """The model contract every ReID model of the library honours.

    ``forward(images, batch=None) -> dict`` with at least:

    - ``feat``: ``(B, F)`` retrieval feature (before L2 normalisation);
    - ``global``: ``(B, D)`` CLS after ``ln_post``; ``global_proj``: ``(B, E)`` its CLIP projection;
    - ``bn``, ``bn_proj``: the same after BNNeck;
    - ``logits``, ``logits_proj``: ``(B, C)`` when a classifier is set (:meth:`reset_classifier`);
    - ``tokens``: ``(B, N, D)`` the last block's tokens; ``context``: the
      :class:`~lifelong_reid.models.vision.VisionContext`.

    The text encoder and tokenizer stay available for plugins: :meth:`encode_text`, :attr:`tokenizer`. The
    text side is frozen by default.

    Args:
        clip_model: an open_clip ``CLIP`` model (its ``visual`` is wrapped, the text side kept).
        tokenizer: the open_clip tokenizer of that model.
        image_size: ``(H, W)``; stride: patch stride (``None`` = patch size).
    """

    def __init__(self, clip_model: nn.Module, tokenizer, image_size=(256, 128), stride: Optional[int] = None):
        super().__init__()
        self.visual = ReIDVisionEncoder(clip_model.visual, image_size, stride)
        clip_model.visual = None  # the encoder above owns it now
        self.clip = clip_model
        for p in self.clip.parameters():
            p.requires_grad_(False)
        self.tokenizer = tokenizer
        self.feat_dim = self.visual.width + self.visual.output_dim
        self.bottleneck = BNNeck(self.visual.width)
        self.bottleneck_proj = BNNeck(self.visual.output_dim)
        self.classifier: Optional[nn.Linear] = None
        self.classifier_proj: Optional[nn.Linear] = None
        self.num_classes = 0

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the identity classifiers by new ones with ``num_classes`` outputs (one per experience)."""
        device = self.bottleneck.weight.device
        self.classifier = make_classifier(self.visual.width, num_classes).to(device)
        self.classifier_proj = make_classifier(self.visual.output_dim, num_classes).to(device)
        self.num_classes = num_classes

    def forward(self, images: torch.Tensor, batch: Optional[dict] = None) -> dict:
        """Encode ``(B, 3, H, W)`` images, or ``(B, M, 3, H, W)`` multi-modal tuples.

        Returns ``global`` ``(B, D)`` (CLS after ln_post), ``global_proj`` ``(B, E)``, their BNNeck outputs
        ``bn`` / ``bn_proj``, ``feat`` = ``cat[global, global_proj]`` (the retrieval feature), ``tokens``
        and ``context`` of the last block, and ``logits`` / ``logits_proj`` when a classifier is set.
        For tuples the ``B * M`` images go through the encoder together (``batch`` entries repeated per
        modality); ``global*``, ``bn*`` and ``logits*`` are averaged over modalities, ``feat`` concatenates
        the modalities (``(B, M * (D + E))``, one feature per tuple) and ``modal_feat`` keeps
        ``(B, M, D + E)``.
        """
        if images.dim() == 5:
            return self._forward_tuples(images, batch)
        ctx = self.visual(images, batch)
        cls = self.visual.ln_post(ctx.tokens[:, 0])
        proj = cls @ self.visual.proj if self.visual.proj is not None else cls
        out = {"global": cls, "global_proj": proj, "bn": self.bottleneck(cls), "bn_proj": self.bottleneck_proj(proj),
               "tokens": ctx.tokens, "context": ctx, "feat": torch.cat([cls, proj], dim=1)}
        if self.classifier is not None:
            out["logits"] = self.classifier(out["bn"])
            out["logits_proj"] = self.classifier_proj(out["bn_proj"])
        return out

    def _forward_tuples(self, images: torch.Tensor, batch: Optional[dict]) -> dict:
        b, m = images.shape[:2]
        flat_batch = None
        if batch is not None:
            flat_batch = {k: (v.repeat_interleave(m, dim=0) if isinstance(v, torch.Tensor) and v.dim() and
                              len(v) == b else v) for k, v in batch.items()}
            flat_batch["images"] = images.flatten(0, 1)
        out = self.forward(images.flatten(0, 1), flat_batch)
        per = {k: v.view(b, m, *v.shape[1:]) for k, v in out.items() if isinstance(v, torch.Tensor) and k != "tokens"}
        fused = {k: per[k].mean(1) for k in ("global", "global_proj", "bn", "bn_proj", "logits", "logits_proj")
                 if k in per}
        fused.update(feat=per["feat"].flatten(1), modal_feat=per["feat"], tokens=out["tokens"], context=out["context"])
        return fused

    def tokenize(self, texts: list[str]) -> torch.Tensor:
        """``len(texts)`` strings -> ``(T, L)`` token ids on the model's device."""
        return self.tokenizer(texts).to(self.bottleneck.weight.device)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(T, L)`` token ids -> ``(T, E)`` CLIP text features (unnormalised)."""
        return self.clip.encode_text(tokens)

    def train(self, mode: bool = True):
        super().train(mode)
        self.clip.eval()  # the frozen text side never updates BN/dropout statistics
        return self
