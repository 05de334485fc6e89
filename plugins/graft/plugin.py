"""The GraFT plugin: a learnable fusion token per modality encoder, exchanged (averaged over modalities)
after every block of the modality encoders (Eq. 3-7), the fused embedding with BNNeck and classifier, the
augmented triplet loss (Eq. 8, 11, 12) and the centre loss (Eq. 9), and the frozen-to-unfrozen schedule
(Sec. 4.1) within one experience.

Structure on the CLIP encoder of ``L`` blocks: blocks ``0 .. L-k-1`` are the shared backbone, blocks
``L-k .. L-1`` the modality encoders (one copy per modality with ``separate_encoders``, else shared); the fusion
token joins every modality's sequence at block ``L-k``, so modalities meet only through it. GraFT's code uses a
frozen DeiT-B backbone and one ``nn.TransformerEncoderLayer`` per modality (``k = 1``).

Table 5's vanilla fusions (``fusion="concat_cls"`` / ``"concat_mean"``): the backbone's output tokens of all
modalities are concatenated into one sequence (with one learnable CLS token in front for ``concat_cls``) and
run through blocks ``L-k .. L-1`` jointly; the embedding is that CLS token, or the mean of the data tokens.
The encoder still runs those blocks per modality as well (their output is unused, the base heads are off), so
the vanilla rows cost more than they would alone: they are there to compare accuracy.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

import torch
from torch import nn

from lifelong_reid.errors import ConfigError
from lifelong_reid.hooks import hookimpl
from lifelong_reid.plugins.graft.losses import COMBOS, CenterLoss, augmented_triplet_loss

#: The loss terms the plugin returns.
LOSS_NAMES = ("graft_triplet", "graft_center")

#: ``GraFTConfig.fusion`` values: GraFT's fusion tokens, then Table 5's two vanilla fusions.
FUSIONS = ("token", "concat_cls", "concat_mean")


@dataclass
class GraFTConfig:
    """GraFT's settings (defaults: the paper and its code, ``Nano1337/GraFT`` 084c898).

    Attributes:
        num_modalities: ``M`` of the stream's tuples (RGB/NIR/TIR: 3).
        encoder_layers: ``k``, the top blocks that form the modality encoders and carry the fusion token (the
            code: 1).
        separate_encoders: one copy of those blocks per modality (``True``, the paper) or shared weights.
        fusion_tokens: ``L_f`` learnable fusion tokens (Xavier-initialised; the code: 1).
        combo: anchor / positive / negative tokens of the triplet loss, one of
            :data:`~.losses.COMBOS` (``"ffd"``: GraFT's augmented triplet; Table 8's rows).
        data_token_index: the data token sampled for ``d`` (Eq. 11): 0 = each modality's CLS token (the code's
            DeiT [CLS] at ``data_token_step`` 0), ``i > 0`` = patch ``i - 1``.
        mining: ``"random"`` (the code: explicit random triplets) or ``"hard"`` (batch-hard).
        squared: squared Euclidean distances (the paper, Eq. 8) instead of Euclidean (the code).
        triplet_weight: ``alpha`` (0.5). center_weight: ``beta`` (0.0005, after the frozen stage only).
        frozen_epochs: epochs at the start of each experience with the backbone frozen (the code's stage 1:
            40 of 100); 0 trains everything from the start.
        base_heads: keep CLIP-ReID's heads and their losses (``False``: only the fused head trains).
        test_feature: ``"before"`` (the paper, Eq. 7: the fused token) or ``"bn"``.
        fusion: ``"token"`` (GraFT's fusion tokens), ``"concat_cls"`` or ``"concat_mean"`` (Table 5's vanilla
            fusions, see the module docstring; ``separate_encoders`` does not apply to them).
        unfrozen_lr_factor: multiplies the base learning rate once the backbone unfreezes (the code's stage 2:
            5.74e-6 / 2.54e-5 = 0.226 on RGBNT100); 1 keeps one rate for both stages.
    """

    num_modalities: int = 3
    encoder_layers: int = 1
    separate_encoders: bool = True
    fusion_tokens: int = 1
    combo: str = "ffd"
    data_token_index: int = 0
    mining: str = "random"
    squared: bool = False
    triplet_weight: float = 0.5
    center_weight: float = 0.0005
    frozen_epochs: int = 0
    base_heads: bool = False
    test_feature: str = "before"
    fusion: str = "token"
    unfrozen_lr_factor: float = 1.0

    def __post_init__(self):
        if self.combo not in COMBOS:
            raise ConfigError(f"graft combo must be one of {', '.join(COMBOS)}; got {self.combo!r}")
        for name, value, allowed in (("mining", self.mining, ("random", "hard")),
                                     ("test_feature", self.test_feature, ("before", "bn")),
                                     ("fusion", self.fusion, FUSIONS)):
            if value not in allowed:
                raise ConfigError(f"graft {name} must be one of {', '.join(allowed)}; got {value!r}")
        for name in ("num_modalities", "encoder_layers", "fusion_tokens"):
            if getattr(self, name) < 1:
                raise ConfigError(f"graft {name} must be >= 1, got {getattr(self, name)}")
        if not self.unfrozen_lr_factor > 0:
            raise ConfigError(f"graft unfrozen_lr_factor must be > 0, got {self.unfrozen_lr_factor}")


class GraFTPlugin:
    """The GraFT method (``plugins={"graft": {...}}``, ``--plugin graft``). See the module docstring."""

    name = "graft"
    loss_names = LOSS_NAMES

    def __init__(self, config: Optional[GraFTConfig] = None):
        self.cfg = config or GraFTConfig()
        self.frozen: Optional[bool] = None
        self._generator = torch.Generator().manual_seed(0)

    def _start(self, encoder) -> int:
        if self.cfg.encoder_layers > encoder.num_layers:
            raise ConfigError(f"graft encoder_layers ({self.cfg.encoder_layers}) exceeds the encoder's "
                              f"{encoder.num_layers} blocks")
        return encoder.num_layers - self.cfg.encoder_layers

    # ------------------------------------------------------------------ model
    @hookimpl
    def lreid_adapt_model(self, model):
        vis = model.visual
        start = self._start(vis)
        if self.cfg.separate_encoders and self.cfg.num_modalities > 1 and self.cfg.fusion == "token":
            vis.split_modality_stacks(self.cfg.num_modalities, from_layer=start)
        if not hasattr(vis, "graft_fusion"):
            token = nn.init.xavier_uniform_(torch.empty(self.cfg.fusion_tokens, vis.width))
            vis.graft_fusion = nn.Parameter(token.to(vis.positional_embedding.device))
        model.add_head("graft", vis.width, id_loss=True, triplet=False, owner=self.name)
        if not self.cfg.base_heads:
            for head in ("global", "global_proj"):
                model.set_head_losses(head, id_loss=False, triplet=False)
        classes = model.num_classes
        center = getattr(model, "graft_center", None)
        if classes and (center is None or center.centers.shape[0] != classes):
            model.graft_center = CenterLoss(classes, vis.width).to(vis.positional_embedding.device)

    # ------------------------------------------------------------------ vision forward
    @hookimpl
    def lreid_vision_block_start(self, layer_index, context, encoder):
        if layer_index == 0 and encoder.num_stacks > 1 and context.num_modalities != encoder.num_stacks:
            raise ConfigError(f"graft num_modalities is {encoder.num_stacks} but the tuples hold "
                              f"{context.num_modalities} modalities; set graft.num_modalities="
                              f"{context.num_modalities} (--set graft.num_modalities={context.num_modalities})")
        if hasattr(encoder, "graft_fusion") and layer_index == self._start(encoder):
            if self.cfg.fusion != "token":  # vanilla fusion: keep the backbone's output for the joint blocks
                context.record("graft_backbone", context.tokens)
                return
            m = context.num_modalities
            context.add_tokens("graft_fusion", encoder.graft_fusion.unsqueeze(0).expand(m, -1, -1), per_modality=True)

    @hookimpl
    def lreid_vision_exchange(self, context):
        if "graft_fusion" in context.spans:  # Eq. 6 at every block: the modalities' fusion tokens averaged
            f = context.get_tokens("graft_fusion", view=True)  # (B, M, L_f, D)
            context.set_tokens("graft_fusion", f.mean(1, keepdim=True).expand_as(f))

    def _vanilla_outputs(self, outputs, context, model) -> None:
        """Table 5's vanilla fusions: the joint blocks over the concatenated modalities (module docstring)."""
        vis = model.visual
        x = context.records["graft_backbone"][-1]  # (B*M, N, D) the backbone's output
        b, m, n = context.batch_size, context.num_modalities, x.shape[1]
        x = x.reshape(b, m * n, x.shape[-1])  # modality-major concatenation of each sample's sequences
        lf = vis.graft_fusion.shape[0] if self.cfg.fusion == "concat_cls" else 0
        if lf:
            x = torch.cat([vis.graft_fusion.to(x.dtype).unsqueeze(0).expand(b, -1, -1), x], dim=1)
        for block in vis.stack(0)[self._start(vis):]:
            x = block(x)
        ln = vis.ln_post
        data = x[:, lf:].reshape(b, m, n, -1)  # (B, M, N, D)
        outputs["graft"] = ln(x[:, :lf]).mean(1) if lf else ln(data).mean(dim=(1, 2))
        i = self.cfg.data_token_index
        if i >= n:
            raise ConfigError(f"graft data_token_index {i} exceeds the {n - 1} patches")
        outputs["graft_data"] = ln(data[:, :, i]).mean(1)

    @hookimpl
    def lreid_model_outputs(self, outputs, context, model):
        if "graft" not in model.heads:
            return
        if self.cfg.fusion != "token":
            if context.records.get("graft_backbone"):
                self._vanilla_outputs(outputs, context, model)
            return
        if "graft_fusion" not in context.spans:
            return
        ln = model.visual.ln_post
        fused = ln(context.get_tokens("graft_fusion", view=True)).mean(dim=(1, 2))  # (B, D): Eq. 6-7
        i = self.cfg.data_token_index
        if i == 0:
            data = context.get_tokens("cls", view=True)[:, :, 0]
        else:
            patches = context.get_tokens("patches", view=True)
            if i > patches.shape[2]:
                raise ConfigError(f"graft data_token_index {i} exceeds the {patches.shape[2]} patches")
            data = patches[:, :, i - 1]
        outputs["graft"] = fused
        outputs["graft_data"] = ln(data).mean(1)  # (B, D): Eq. 11-12

    @hookimpl
    def lreid_inference_embedding(self, outputs):
        if "graft_bn" not in outputs:
            return None
        return outputs["graft"] if self.cfg.test_feature == "before" else outputs["graft_bn"]

    # ------------------------------------------------------------------ schedule
    def backbone_parameters(self, model) -> list:
        """The shared backbone: patch embedding, CLS, positional embedding, ``ln_pre`` and the blocks below
        the modality encoders."""
        vis = model.visual
        params = [*vis.conv1.parameters(), vis.class_embedding, vis.positional_embedding, *vis.ln_pre.parameters()]
        for block in vis.blocks[:self._start(vis)]:
            params += list(block.parameters())
        return params

    @hookimpl
    def lreid_before_epoch(self, strategy, epoch):
        if self.cfg.frozen_epochs <= 0:
            return
        frozen = epoch < self.cfg.frozen_epochs
        if frozen == self.frozen:
            return
        for p in self.backbone_parameters(strategy.model):
            p.requires_grad_(not frozen)
        self.frozen = frozen
        strategy.rebuild_optimizer(lr_factor=1.0 if frozen else self.cfg.unfrozen_lr_factor)

    @hookimpl
    def lreid_after_experience(self):
        self.frozen = None  # the next experience starts frozen again

    # ------------------------------------------------------------------ losses
    @hookimpl
    def lreid_extra_losses(self, outputs, batch, strategy):
        if not strategy.model.training or "graft" not in outputs:
            return None
        y = batch.targets.to(outputs["graft"].device)
        losses = {"graft_triplet": self.cfg.triplet_weight * augmented_triplet_loss(
            outputs["graft"], outputs["graft_data"], y, self.cfg.combo, mining=self.cfg.mining,
            squared=self.cfg.squared, generator=self._generator)}
        center = getattr(strategy.model, "graft_center", None)
        if self.cfg.center_weight > 0 and center is not None and not self.frozen:
            losses["graft_center"] = self.cfg.center_weight * center(outputs["graft"], y)
        return losses

    # ------------------------------------------------------------------ checkpoints
    @hookimpl
    def lreid_state_dict(self):
        return {"graft": {"config": asdict(self.cfg), "generator": self._generator.get_state()}}

    @hookimpl
    def lreid_load_state_dict(self, state):
        mine = state.get("graft")
        if mine:
            self._generator.set_state(mine["generator"])
