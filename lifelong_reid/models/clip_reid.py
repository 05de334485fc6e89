"""The CLIP ReID model: CLIP image encoder at ReID size + named heads (BNNeck + identity classifier), text
side kept.

Follows CLIP-ReID's stage-2 model (Li et al., "CLIP-ReID", AAAI 2023): the CLS token after ``ln_post``
(width ``D``) and its projection (``E``) each go through a BNNeck and a classifier; the retrieval feature is
``cat[cls, proj]`` before the BNNecks (``(B, D + E)``, CLIP-ReID's ``NECK_FEAT='before'``).
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Optional

import torch
from torch import nn

from lifelong_reid.errors import ConfigError
from lifelong_reid.models.heads import BNNeck, HeadSpec, ReIDHead, grow_classifier, make_classifier
from lifelong_reid.models.vision import ReIDVisionEncoder

#: The outputs every model of the library declares (``B`` batch, ``M`` modalities, ``N`` tokens, ``G``
#: patches, ``D`` width, ``E`` projection size, ``F`` retrieval size, ``C`` classes).
OUTPUTS = {
    "feat": "(B, F) retrieval feature, before L2 normalisation: cat[global, global_proj] (neck_feat 'before') or "
            "cat[bn, bn_proj] ('after'), then the retrieval heads' (its parts: feat_spans)",
    "feat_spans": "{name: (start, end)}: which head fills which columns of feat",
    "global": "(B, D) CLS after ln_post (mean over modalities for tuples)",
    "global_proj": "(B, E) its CLIP projection",
    "bn": "(B, D) global after BNNeck", "bn_proj": "(B, E) global_proj after BNNeck",
    "logits": "(B, C) identity logits of bn (when a classifier is set)",
    "logits_proj": "(B, C) identity logits of bn_proj",
    "tokens": "(B, N, D), or (B, M, N, D) for tuples: the last block's tokens (before ln_post)",
    "patch_tokens": "(B, G, D), or (B, M, G, D): the patch tokens of the last block",
    "modal_global": "(B, M, D) per-modality CLS after ln_post (tuples only)",
    "modal_global_proj": "(B, M, E) per-modality projection (tuples only)",
    "modal_feat": "(B, M, D + E) per-modality retrieval feature (tuples only)",
    "records": "{name: [value per call]}: what plugins recorded during the forward pass",
    "context": "the VisionContext after the last block",
}


class ModelOutputs(dict):
    """The model's outputs by name; a missing name raises a ``KeyError`` that lists the names present."""

    def __missing__(self, key):
        raise KeyError(f"no model output {key!r}; outputs present: {', '.join(sorted(self))}")


class CLIPReID(nn.Module):
    """The model contract every ReID model of the library honours.

    ``forward(images, batch=None) -> ModelOutputs`` with the names of :data:`OUTPUTS`, plus, for each head
    added by a plugin (:meth:`add_head`), ``NAME`` (its feature, supplied by the plugin in
    ``lreid_model_outputs``), ``NAME_bn`` and ``NAME_logits``.

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
        #: The retrieval feature ``feat``: ``"before"`` or ``"after"`` the BNNecks (``RunConfig.neck_feat``).
        self.neck_feat = "before"
        #: Heads added by plugins (:meth:`add_head`).
        self.heads = nn.ModuleDict()
        self._head_specs: dict[str, HeadSpec] = {
            "global": HeadSpec("global", "global", "bn", "logits", self.visual.width),
            "global_proj": HeadSpec("global_proj", "global_proj", "bn_proj", "logits_proj", self.visual.output_dim),
        }

    # ------------------------------------------------------------------ plugin relay
    @property
    def hook(self):
        """The pluggy hook relay used by the vision and output hooks (``None``: no plugin runs)."""
        return self.visual.hook

    @hook.setter
    def hook(self, relay) -> None:
        self.visual.hook = relay

    # ------------------------------------------------------------------ heads
    @property
    def head_specs(self) -> list[HeadSpec]:
        """Every head, the model's first, in the order they were added."""
        return list(self._head_specs.values())

    def add_head(self, name: str, dim: int, *, id_loss: bool = True, triplet: bool = True,
                 retrieval: bool = False, owner: str = "plugin") -> ReIDHead:
        """Declare a head over the feature ``outputs[name]`` ``(B, dim)``, which the plugin supplies in
        ``lreid_model_outputs``. The model adds ``NAME_bn`` and ``NAME_logits``; the strategy's identity and
        triplet losses use the head as asked; with ``retrieval`` the feature is appended to ``feat``.
        The classifier is sized like the others (now, and at every :meth:`reset_classifier`). Adding a head
        that exists with the same settings returns it (so ``lreid_adapt_model`` can call this every
        experience).

        Raises:
            ConfigError: ``name`` is an output of the model or a head with other settings.
        """
        spec = HeadSpec(name, name, f"{name}_bn", f"{name}_logits", int(dim), id_loss, triplet, retrieval, owner)
        if name in self._head_specs:
            if self._head_specs[name] != spec:
                raise ConfigError(f"head {name!r} already exists with other settings ({self._head_specs[name]})")
            return self.heads[name]
        if name in OUTPUTS:
            raise ConfigError(f"head name {name!r} is a model output; choose another (e.g. prefix it with the "
                              "plugin's name)")
        head = ReIDHead(int(dim)).to(self.bottleneck.weight.device)
        if self.num_classes:
            head.reset_classifier(self.num_classes)
        self.heads[name] = head
        self._head_specs[name] = spec
        return head

    def set_head_losses(self, name: str, *, id_loss: Optional[bool] = None, triplet: Optional[bool] = None) -> None:
        """Choose whether the strategy's identity / triplet losses use head ``name`` (``None`` leaves a
        setting as it is). A method whose own head replaces CLIP-ReID's (MUVA trains only its multi-grained
        feature) switches the model's ``global`` and ``global_proj`` heads off; their BNNecks and classifiers
        stay (checkpoints keep their keys) but receive no gradient. Idempotent, so ``lreid_adapt_model`` may
        call it every experience.

        Raises:
            ConfigError: no head ``name`` (the message lists the heads).
        """
        if name not in self._head_specs:
            raise ConfigError(f"no head {name!r}; heads: {', '.join(self._head_specs)}")
        spec = self._head_specs[name]
        self._head_specs[name] = dataclasses.replace(
            spec, id_loss=spec.id_loss if id_loss is None else bool(id_loss),
            triplet=spec.triplet if triplet is None else bool(triplet))

    def remove_head(self, name: str) -> None:
        """Remove a head added by :meth:`add_head`."""
        del self.heads[name]
        del self._head_specs[name]

    def reset_classifier(self, num_classes: int) -> None:
        """Replace every identity classifier by a new one with ``num_classes`` outputs (one per experience,
        or when pseudo-labels change the number of clusters)."""
        device = self.bottleneck.weight.device
        self.classifier = make_classifier(self.visual.width, num_classes).to(device)
        self.classifier_proj = make_classifier(self.visual.output_dim, num_classes).to(device)
        for head in self.heads.values():
            head.reset_classifier(num_classes)
        self.num_classes = num_classes

    def grow_classifier(self, num_classes: int) -> None:
        """Grow every identity classifier to ``num_classes`` outputs, keeping the rows it has (the identities
        of earlier experiences) and appending new ones (``RunConfig.classifier="grow"``); no change when it
        already has ``num_classes``.

        Raises:
            ValueError: fewer classes than the classifier has.
        """
        device = self.bottleneck.weight.device
        self.classifier = grow_classifier(self.classifier, self.visual.width, num_classes).to(device)
        self.classifier_proj = grow_classifier(self.classifier_proj, self.visual.output_dim, num_classes).to(device)
        for head in self.heads.values():
            head.grow_classifier(num_classes)
        self.num_classes = num_classes

    # ------------------------------------------------------------------ forward
    def forward(self, images: torch.Tensor, batch=None) -> ModelOutputs:
        """Encode ``(B, 3, H, W)`` images or ``(B, M, 3, H, W)`` multi-modal tuples.

        For tuples the ``M`` images of a sample are encoded as ``M`` sequences (one shared stack of blocks, or
        one per modality: :meth:`ReIDVisionEncoder.split_modality_stacks`); ``global``/``global_proj`` are the
        means over modalities (the heads' BNNeck and classifier see that fused feature), ``feat``
        concatenates the per-modality features ``modal_feat`` (``(B, M * (D + E))``, one feature per tuple).

        Returns:
            :class:`ModelOutputs` (see :data:`OUTPUTS`).

        Raises:
            ConfigError: a head declared by a plugin got no feature in ``lreid_model_outputs`` (without a plugin
                relay, e.g. in :meth:`frozen_copy`, such heads are skipped).
        """
        ctx = self.visual(images, batch)
        b, m = ctx.batch_size, ctx.num_modalities
        cls = self.visual.ln_post(ctx.get_tokens("cls")[:, 0])
        proj = cls @ self.visual.proj if self.visual.proj is not None else cls
        out = ModelOutputs(context=ctx, records=ctx.records)
        if m == 1:
            out.update({"global": cls, "global_proj": proj, "tokens": ctx.tokens,
                        "patch_tokens": ctx.get_tokens("patches")})
            base_feat = torch.cat([cls, proj], dim=1)
        else:
            modal_cls, modal_proj = cls.view(b, m, -1), proj.view(b, m, -1)
            modal_feat = torch.cat([modal_cls, modal_proj], dim=-1)
            out.update({"global": modal_cls.mean(1), "global_proj": modal_proj.mean(1), "tokens": ctx.view(),
                        "patch_tokens": ctx.get_tokens("patches", view=True), "modal_global": modal_cls,
                        "modal_global_proj": modal_proj, "modal_feat": modal_feat})
            base_feat = modal_feat.flatten(1)
        if self.hook is not None:
            self.hook.lreid_model_outputs(outputs=out, context=ctx, model=self)
        self._apply_heads(out)
        after = self.neck_feat == "after"
        if after:
            if m > 1:
                raise ConfigError("neck_feat='after' is not defined for multi-modal tuples (the BNNecks see the "
                                  "fused feature, the retrieval feature is per modality); use neck_feat='before'")
            base_feat = torch.cat([out["bn"], out["bn_proj"]], dim=1)
        feats, spans, start = [base_feat], {"model": (0, base_feat.shape[1])}, base_feat.shape[1]
        for spec in self._head_specs.values():
            if spec.retrieval and spec.feature in out:
                feats.append(out[spec.bn] if after else out[spec.feature])
                spans[spec.name] = (start, start + spec.dim)
                start += spec.dim
        out["feat"] = torch.cat(feats, dim=1) if len(feats) > 1 else base_feat
        out["feat_spans"] = spans
        return out

    def _apply_heads(self, out: ModelOutputs) -> None:
        out["bn"] = self.bottleneck(out["global"])
        out["bn_proj"] = self.bottleneck_proj(out["global_proj"])
        if self.classifier is not None:
            out["logits"] = self.classifier(out["bn"])
            out["logits_proj"] = self.classifier_proj(out["bn_proj"])
        for name, head in self.heads.items():
            if name not in out and self.hook is None:
                continue  # a copy without plugins (frozen_copy) cannot compute a plugin's head
            if name not in out:
                raise ConfigError(f"head {name!r} ({self._head_specs[name].owner}) got no feature: its plugin must "
                                  f"set outputs[{name!r}] in lreid_model_outputs")
            bn, logits = head(out[name])
            out[f"{name}_bn"] = bn
            if logits is not None:
                out[f"{name}_logits"] = logits

    # ------------------------------------------------------------------ copies, text side
    def frozen_copy(self) -> "CLIPReID":
        """A frozen (``requires_grad=False``), eval-mode copy of the model, without the plugin relay (it
        computes what the model computes with no plugin hooks), sharing the tokenizer: the "old model" of
        distillation methods (LwF, PTKP, VLADR's affinity term). Works on pruned models too: weights that
        a reparametrisation computes (``torch.nn.utils.prune``'s ``weight = weight_orig * weight_mask``,
        not graph leaves, which ``deepcopy`` refuses) are copied detached; the copy's own hooks recompute
        them at its first forward."""
        memo = {id(self.tokenizer): self.tokenizer}
        for module in self.modules():
            for value in vars(module).values():
                if torch.is_tensor(value) and value.grad_fn is not None:
                    memo[id(value)] = value.detach().clone()
        old = copy.deepcopy(self, memo=memo)
        for p in old.parameters():
            p.requires_grad_(False)
        return old.eval()

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
