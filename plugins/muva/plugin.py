"""The MUVA plugin: multi-grained prompts (stage 1 against VPM-1), local visual tokens with AM-MSA, and the
stage-2 losses (identity on the multi-grained feature, ``L_imp`` against VPM-2, ``L_i2tce`` against the TPM,
the mask loss), each a setting so that the paper's ablation tables can be run.

Per experience (a DG run has one: the source domain(s)):

1. ``lreid_adapt_model``: local tokens ``encoder.muva_local`` ``(P, D)`` (trunc-normal 0.02, adding the CLS
   row of the positional embedding; the code gives them a trainable copy of that row instead, which differs
   only in that the CLS row then gets no gradient through the local tokens), one RMP per block (``encoder.muva_rmp``), the head ``muva`` over the
   multi-grained feature ``v = flatten(proj(ln_post([CLS, local])))`` ``(B, (1 + P) E)`` (2048-d for
   ViT-B-16) with BNNeck and classifier; CLIP-ReID's ``global`` heads switched off; ``conv1`` frozen.
2. ``lreid_before_experience``: the training set's part boxes (eval frame) give the box-height statistics
   and each sample's pseudo-label masks; VPM-1 = class means of the eval features computed with those masks
   as attention masks (RMP bypassed); stage 1 learns the multi-grained prompts (Eq. 1, 10); the TPM is
   their text features.
3. ``lreid_before_epoch``: VPM-2 = class means of the per-sample normalised BN features (pseudo-label masks).
4. ``lreid_extra_losses``: ``muva_imp`` (Eq. 2), ``muva_i2tce`` (Eq. 4), ``muva_mask`` (Eq. 8-9); the identity
   loss is the strategy's, over the ``muva`` head.
5. ``lreid_after_optimizer_step``: VPM-2's hardest-sample momentum update (Eq. 3).

Where the paper and the public code (RikoLi/MUVA 8965263) differ, the default follows the code and a setting
gives the paper's form (see :class:`MUVAConfig`): the gating's symmetry (Eq. 7), the dice form (Eq. 8), the
text memory's normalisation (Eq. 4), the test feature; the triplet loss is absent in both. Mask polarity is
not a setting: the code stores pseudo-labels as additive attention masks (0 inside a part, ``-inf`` outside)
and trains on ``mask == 0``, the paper writes ``G = 1`` inside; both are the same targets, which this plugin
builds from part boxes in the paper's form (:mod:`.parts`), and nothing here reads the code's stored masks
(pickles on a private drive).
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from dataclasses import asdict, dataclass, field
from typing import Optional

import torch
from torch import nn

from lifelong_reid.errors import ConfigError
from lifelong_reid.hooks import hookimpl
from lifelong_reid.losses import image_to_text_loss
from lifelong_reid.text import IdentityPromptLearner, Stage1Trainer
from lifelong_reid.plugins.muva.ammsa import ResidualMaskPrediction, gate_attention_mask
from lifelong_reid.plugins.muva.losses import DICE_FORMS, mask_loss
from lifelong_reid.plugins.muva.memory import class_centroids, hardest_momentum_update
from lifelong_reid.plugins.muva.parts import PARTS, HeightStatistics, patch_mask_targets, stripe_targets

#: The loss terms the plugin returns.
LOSS_NAMES = ("muva_imp", "muva_i2tce", "muva_mask")
#: The words after the learnable tokens of each granularity's template (the code's templates:
#: ``"A photo of a * * * * {words}"``, no period).
TEMPLATE_WORDS = {"global": "person", "head": "head of a person", "upper": "upper body of a person",
                  "legs": "legs of a person"}
#: Mask sources for the local tokens: ``ammsa`` (predicted by the RMP and trained by the mask loss),
#: ``stripes`` (fixed top/middle/bottom stripes, Table 8), ``none`` (no mask: the local tokens see every token).
MASK_SOURCES = ("ammsa", "stripes", "none")


def templates(parts, prompt_length: int, placeholder: str = "X") -> list[str]:
    """The multi-grained prompt templates: global first, then one per part."""
    ctx = " ".join([placeholder] * prompt_length)
    return [f"A photo of a {ctx} {TEMPLATE_WORDS[g]}" for g in ("global", *parts)]


@dataclass
class MUVAConfig:
    """MUVA's settings. Defaults: the public code's recipe (``muva_ma2ms.yml`` / ``muva_ms2ma.yml``) where it
    and the paper differ; the paper's form is named beside each.

    Attributes:
        parts: the local granularities, a subset of ``head, upper, legs`` in that order (Table 5: ``[]`` = G,
            ``["head"]`` = G+H, ...; all three = G+H+U+L).
        prompt_length: learnable context tokens per template (4). prompt_init_std: their init std (0.002).
        stage1_epochs: stage-1 epochs (120; 0 skips stage 1: the TPM then comes from untrained prompts).
        stage1_lr, stage1_weight_decay, stage1_warmup_epochs: Adam 3.5e-4, 1e-4, cosine with 5 warm-up epochs
            from 1e-5 down to 1e-6.
        stage1_batch: identities per stage-1 step (16: the code's 16 x 4 P x K batches hold 16 identities,
            each repeated 4 times with identical text features).
        stage1_temperature: of ``L_cmp`` (Eq. 1; cosine similarity, the code's temperature 1).
        masks: :data:`MASK_SOURCES` (Tables 8-9). rmp_heads: heads of the RMP cross-attention (code/paper: 8
            for MSMT17 and multi-source, 2 for Market-1501). rmp_hidden: width of the RMP MLP (128).
        rmp_lr_mult: the RMP's learning-rate multiplier (10, weight decay 0, as the code's yml).
        threshold: mask gating threshold ``t`` (Eq. 6; 0.5, strict ``>``).
        symmetric_mask: ``True`` (code): patches see a local token only inside its part, local tokens do not
            see each other; ``False`` (paper Eq. 7, zero padding): only the local tokens' rows are gated.
        mask_loss: train the RMP with ``L_mask``. dice: :data:`~.losses.DICE_FORMS` (``"row"`` code,
            ``"elementwise"`` paper Eq. 8). mask_weight: weight of ``L_mask`` (1).
        calibration_k: a box whose height is more than ``k`` robust spreads from its part's median becomes the
            part's stripe (Sec. 3.2.3; no number in the paper). vote_cover: fraction of a patch a box must
            cover to vote it in (Fig. 6).
        missing_boxes: ``"error"`` (default): stop when no training image has part boxes (attach a side file:
            ``lreid ground``); ``"stripes"``: images without boxes use the stripe windows.
        imp: ``L_imp`` with VPM-2 (Eq. 2-3). imp_temperature: ``tau`` (0.01). imp_momentum: ``gamma`` (0.2).
        i2tce: ``L_i2tce`` against the TPM (Eq. 4). i2tce_normalize: ``False`` (code: raw dot product with the
            unnormalised TPM); ``True`` (paper: cosine). i2tce_temperature: divides the logits (1).
        i2tce_label_smoothing: ``q_c`` (0.1).
        base_heads: keep the identity / triplet losses on CLIP-ReID's ``global`` / ``global_proj`` heads
            (``False``: as the code, only the multi-grained head trains).
        test_feature: ``"bn"`` (code: the BNNeck output of the multi-grained feature) or ``"before"``.
        freeze_patch_embed: keep ``conv1`` frozen (code, both stages).
    """

    parts: list = field(default_factory=lambda: list(PARTS))
    prompt_length: int = 4
    prompt_init_std: float = 0.002
    stage1_epochs: int = 120
    stage1_lr: float = 3.5e-4
    stage1_weight_decay: float = 1e-4
    stage1_warmup_epochs: int = 5
    stage1_batch: int = 16
    stage1_temperature: float = 1.0
    masks: str = "ammsa"
    rmp_heads: int = 8
    rmp_hidden: int = 128
    rmp_lr_mult: float = 10.0
    threshold: float = 0.5
    symmetric_mask: bool = True
    mask_loss: bool = True
    dice: str = "row"
    mask_weight: float = 1.0
    calibration_k: float = 3.0
    vote_cover: float = 0.5
    missing_boxes: str = "error"
    imp: bool = True
    imp_temperature: float = 0.01
    imp_momentum: float = 0.2
    i2tce: bool = True
    i2tce_normalize: bool = False
    i2tce_temperature: float = 1.0
    i2tce_label_smoothing: float = 0.1
    base_heads: bool = False
    test_feature: str = "bn"
    freeze_patch_embed: bool = True

    def __post_init__(self):
        self.parts = list(self.parts)
        if any(p not in PARTS for p in self.parts) or self.parts != [p for p in PARTS if p in self.parts]:
            raise ConfigError(f"muva parts must be a subset of {list(PARTS)} in that order, got {self.parts}")
        for name, value, allowed in (("masks", self.masks, MASK_SOURCES), ("dice", self.dice, DICE_FORMS),
                                     ("missing_boxes", self.missing_boxes, ("error", "stripes")),
                                     ("test_feature", self.test_feature, ("bn", "before"))):
            if value not in allowed:
                raise ConfigError(f"muva {name} must be one of {', '.join(allowed)}; got {value!r}")
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"muva threshold must lie in (0, 1), got {self.threshold}")
        if not 0.0 <= self.imp_momentum < 1.0:
            raise ConfigError(f"muva imp_momentum must lie in [0, 1), got {self.imp_momentum}")


#: Ablation rows (the shapes of the paper's Tables 5, 8, 9 and the memory ablation): settings over the
#: defaults. ``baseline`` = no plugin (CLIP-ReID fine-tuning on the same split).
ABLATIONS = {
    "baseline": None,
    "G": dict(parts=[]),
    "G+H": dict(parts=["head"]),
    "G+U": dict(parts=["upper"]),
    "G+L": dict(parts=["legs"]),
    "full": dict(),
    "stripes": dict(masks="stripes"),
    "no_masks": dict(masks="none"),
    "no_imp": dict(imp=False),
    "no_i2tce": dict(i2tce=False),
    "no_mask_loss": dict(mask_loss=False),
}


def ablation_config(row: str, **overrides) -> Optional[MUVAConfig]:
    """The :class:`MUVAConfig` of an ablation row (``None`` for the baseline: run without the plugin).

    Raises:
        ConfigError: an unknown row.
    """
    if row not in ABLATIONS:
        raise ConfigError(f"unknown MUVA ablation row {row!r}; rows: {', '.join(ABLATIONS)}")
    base = ABLATIONS[row]
    return None if base is None else MUVAConfig(**{**base, **overrides})


class MUVAPlugin:
    """The MUVA method (``plugins={"muva": {...}}``, ``--plugin muva``). See the module docstring."""

    name = "muva"
    loss_names = LOSS_NAMES
    side_info = ("part_boxes",)

    def __init__(self, config: Optional[MUVAConfig] = None):
        self.cfg = config or MUVAConfig()
        self.prompts: Optional[IdentityPromptLearner] = None
        self.stats: Optional[HeightStatistics] = None
        self.vpm1: Optional[torch.Tensor] = None  # (C, d) stage-1 visual prototypes
        self.vpm2: Optional[torch.Tensor] = None  # (C, d) stage-2 visual prototypes (momentum-updated)
        self.tpm: Optional[torch.Tensor] = None  # (C, d) textual prototypes
        self.stage1_history: list[float] = []
        self._teacher: Optional[torch.Tensor] = None  # (N, P, G) bool pseudo-label masks while extracting
        self._stripe_cache: dict = {}  # {(grid, image size, device): (1, P, G) bool stripe windows}
        self._eval_set = None
        self._masks: Optional[torch.Tensor] = None  # the training set's pseudo-label masks
        self._labels: Optional[torch.Tensor] = None

    @property
    def uses_local_tokens(self) -> bool:
        return bool(self.cfg.parts)

    # ------------------------------------------------------------------ model
    @hookimpl
    def lreid_adapt_model(self, model):
        vis = model.visual
        p = len(self.cfg.parts)
        if p and not hasattr(vis, "muva_local"):
            vis.muva_local = nn.Parameter(nn.init.trunc_normal_(torch.empty(p, vis.width), std=0.02).to(
                vis.positional_embedding.device))
        if p and self.cfg.masks == "ammsa" and not hasattr(vis, "muva_rmp"):
            g = vis.grid[0] * vis.grid[1]
            vis.muva_rmp = ResidualMaskPrediction(vis.width, g, vis.num_layers, self.cfg.rmp_heads,
                                                  self.cfg.rmp_hidden).to(vis.positional_embedding.device)
        if self.cfg.freeze_patch_embed:
            for q in vis.conv1.parameters():
                q.requires_grad_(False)
        model.add_head("muva", (1 + p) * vis.output_dim, id_loss=True, triplet=False, owner=self.name)
        if not self.cfg.base_heads:
            for head in ("global", "global_proj"):
                model.set_head_losses(head, id_loss=False, triplet=False)

    @hookimpl
    def lreid_param_groups(self, model):
        rmp = getattr(model.visual, "muva_rmp", None)
        if rmp is None:
            return None
        return [{"params": list(rmp.parameters()), "lr_mult": self.cfg.rmp_lr_mult, "weight_decay": 0.0,
                 "name": "muva_rmp"}]

    # ------------------------------------------------------------------ vision forward
    @hookimpl
    def lreid_vision_embed_tokens(self, context, encoder):
        if hasattr(encoder, "muva_local") and self.uses_local_tokens:
            context.add_tokens("muva_local", encoder.muva_local, pos_embed=encoder.positional_embedding[:1])

    def _allowed(self, layer_index: int, context, encoder) -> Optional[torch.Tensor]:
        """``(S, P, G)`` bool: which patches each local token may attend to in this block."""
        p = len(self.cfg.parts)
        if self._teacher is not None:  # building a prototype memory: pseudo-label masks, RMP bypassed
            if context.batch is None:
                raise ConfigError("muva: prototype extraction needs batches with sample indices")
            allowed = self._teacher[context.batch.indices.to(self._teacher.device)].to(context.tokens.device)
            return allowed.repeat_interleave(context.num_modalities, dim=0)
        if self.cfg.masks == "stripes":  # fixed windows: built once per grid / image size / device
            key = (context.grid, tuple(context.images.shape[-2:]), context.tokens.device)
            if key not in self._stripe_cache:
                stripes = stripe_targets(1, key[0], key[1], PARTS, key[2])[:, self._part_rows()] > 0.5
                self._stripe_cache = {key: stripes}
            return self._stripe_cache[key].expand(context.tokens.shape[0], p, -1)
        if not hasattr(encoder, "muva_rmp"):
            return None
        logits = encoder.muva_rmp(layer_index, context.get_tokens("muva_local"), context.get_tokens("patches"),
                                  context.records["muva_mask_logits"][-1] if layer_index > 0 else None)
        context.record("muva_mask_logits", logits)
        return torch.sigmoid(logits.detach()) > self.cfg.threshold  # the gate carries no gradient (code)

    def _part_rows(self) -> list[int]:
        return [PARTS.index(p) for p in self.cfg.parts]

    @hookimpl
    def lreid_vision_attention_mask(self, layer_index, context, encoder):
        if "muva_local" not in context.spans or (self.cfg.masks == "none" and self._teacher is None):
            return None
        allowed = self._allowed(layer_index, context, encoder)
        if allowed is None:
            return None
        return gate_attention_mask(allowed, context.num_tokens, context.spans["muva_local"],
                                   context.spans["patches"], symmetric=self.cfg.symmetric_mask,
                                   dtype=context.tokens.dtype)

    @hookimpl
    def lreid_model_outputs(self, outputs, context, model):
        if "muva" not in model.heads:  # before lreid_adapt_model (the initial evaluation)
            return
        tokens = context.get_tokens("cls")
        if "muva_local" in context.spans:
            tokens = torch.cat([tokens, context.get_tokens("muva_local")], dim=1)
        v = model.visual.project(tokens)  # (B*M, 1+P, E)
        v = v.view(context.batch_size, context.num_modalities, -1).mean(1)
        outputs["muva"] = v  # (B, (1+P) E): global, then the parts in order

    @hookimpl
    def lreid_inference_embedding(self, outputs):
        if "muva_bn" not in outputs:
            return None
        return outputs["muva_bn"] if self.cfg.test_feature == "bn" else outputs["muva"]

    # ------------------------------------------------------------------ memories and stage 1
    @contextlib.contextmanager
    def teacher_masks(self, masks: Optional[torch.Tensor]):
        """While active, the local tokens' attention masks are ``masks[batch.indices]`` (``(N, P, G)`` bool,
        the pseudo-labels) instead of the RMP's predictions (the code's memory extraction)."""
        old, self._teacher = self._teacher, masks
        try:
            yield
        finally:
            self._teacher = old

    def _collect_boxes(self, strategy, dataset) -> torch.Tensor:
        """``(N, 3, 4)`` every training sample's part boxes in the eval frame (NaN rows where none)."""
        from torch.utils.data import DataLoader

        from lifelong_reid.data import collate_reid

        loader = DataLoader(dataset, batch_size=strategy.config.eval_batch_size, shuffle=False,
                            num_workers=strategy.config.num_workers, collate_fn=collate_reid)
        boxes = torch.full((len(dataset), len(PARTS), 4), float("nan"))
        for batch in loader:
            if "part_boxes" in batch.side:
                boxes[batch.indices] = batch.side["part_boxes"].float()
        return boxes

    def _pseudo_masks(self, strategy, dataset) -> Optional[torch.Tensor]:
        """The training set's ``(N, P, G)`` bool pseudo-label masks (and :attr:`stats`)."""
        if not self.uses_local_tokens or self.cfg.masks == "none":
            return None
        size = tuple(strategy.model.visual.image_size)
        grid = strategy.model.visual.grid
        n = len(dataset)
        if self.cfg.masks == "stripes":
            return stripe_targets(n, grid, size)[:, self._part_rows()] > 0.5
        boxes = self._collect_boxes(strategy, dataset)
        have = ~torch.isnan(boxes[..., 0])
        if not bool(have.any()) and self.cfg.missing_boxes == "error":
            raise ConfigError("plugin 'muva' needs part boxes for the training images (AM-MSA's pseudo-labels) "
                              "and none has any: write a side file with `lreid ground IMAGES --output boxes.json` "
                              "and attach it (lifelong_reid.data.side_info), use a stream that carries boxes "
                              "(the synthetic ones), or set muva.missing_boxes=stripes or muva.masks=stripes")
        self.stats = HeightStatistics.fit(boxes, size[0])
        masks = patch_mask_targets(boxes, grid, size, self.stats, k=self.cfg.calibration_k,
                                   cover=self.cfg.vote_cover)
        return masks[:, self._part_rows()] > 0.5

    def _features(self, strategy, output: str) -> torch.Tensor:
        with self.teacher_masks(self._masks):
            return strategy.embed(self._eval_set, outputs=(output,), desc=f"muva {output} prototypes")[output]

    def _train_prompts(self, strategy, num_classes: int) -> None:
        model = strategy.model
        device = next(model.parameters()).device
        self.prompts = IdentityPromptLearner(model.clip, model.tokenizer, num_classes,
                                             templates(self.cfg.parts, self.cfg.prompt_length),
                                             init_std=self.cfg.prompt_init_std).to(device)
        if self.cfg.stage1_epochs > 0:
            vpm1 = self.vpm1.to(device)
            tau = self.cfg.stage1_temperature

            def cmp_loss(image, text, labels):  # Eq. 1: each identity's text against every prototype
                return image_to_text_loss(text, vpm1, labels, normalize=True, temperature=tau)

            gen = torch.Generator().manual_seed(strategy.config.seed * 1000 + strategy.experience.current_experience)
            trainer = Stage1Trainer(self.prompts.parameters(), lr=self.cfg.stage1_lr,
                                    weight_decay=self.cfg.stage1_weight_decay, epochs=self.cfg.stage1_epochs,
                                    batch_size=self.cfg.stage1_batch, warmup_epochs=self.cfg.stage1_warmup_epochs,
                                    loss_fn=cmp_loss)
            self.stage1_history = trainer.fit(vpm1, torch.arange(num_classes, device=device),
                                              lambda idx: self.prompts(idx.to(device)).flatten(1), generator=gen)
        for p in self.prompts.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            self.tpm = torch.cat([self.prompts(idx).flatten(1).float()
                                  for idx in torch.arange(num_classes, device=device).split(256)])

    @hookimpl
    def lreid_before_experience(self, strategy, experience):
        self._eval_set = experience.dataset.eval()
        self._labels = strategy.targets.clone()
        num_classes = int(self._labels.max()) + 1
        self._masks = self._pseudo_masks(strategy, self._eval_set)
        if self.cfg.i2tce:  # stage 1 exists to give the TPM
            if self.cfg.stage1_epochs > 0:
                self.vpm1 = class_centroids(self._features(strategy, "muva"), self._labels, num_classes)
            self._train_prompts(strategy, num_classes)

    @hookimpl
    def lreid_before_epoch(self, strategy, epoch):
        if not self.cfg.imp or self._eval_set is None:
            return
        num_classes = int(self._labels.max()) + 1
        feats = self._features(strategy, "muva_bn")
        self.vpm2 = class_centroids(feats, self._labels, num_classes, normalize_samples=True).to(strategy.device)

    # ------------------------------------------------------------------ stage 2
    @hookimpl
    def lreid_extra_losses(self, outputs, batch, strategy):
        if not strategy.model.training or "muva" not in outputs:
            return None
        y = batch.targets.to(outputs["muva"].device)
        losses = {}
        if self.cfg.imp and self.vpm2 is not None:
            losses["muva_imp"] = image_to_text_loss(outputs["muva_bn"], self.vpm2, y, normalize=True,
                                                    temperature=self.cfg.imp_temperature)
        if self.cfg.i2tce and self.tpm is not None:
            losses["muva_i2tce"] = image_to_text_loss(
                outputs["muva"], self.tpm.to(y.device), y, normalize=self.cfg.i2tce_normalize,
                temperature=self.cfg.i2tce_temperature, label_smoothing=self.cfg.i2tce_label_smoothing)
        logits = outputs["records"].get("muva_mask_logits") if self.cfg.mask_loss else None
        if logits:
            losses["muva_mask"] = self.cfg.mask_weight * mask_loss(
                torch.stack(logits), self.mask_targets(batch, outputs["context"]), self.cfg.dice)
        return losses or None

    def mask_targets(self, batch, context) -> torch.Tensor:
        """``(B, P, G)`` pseudo-label masks of a training batch from its (augmented) part boxes, calibrated
        with the training set's height statistics; stripes where the batch has no boxes."""
        size = tuple(batch.images.shape[-2:])
        b = batch.images.shape[0]
        if "part_boxes" in batch.side and self.stats is not None:
            t = patch_mask_targets(batch.side["part_boxes"].float(), context.grid, size, self.stats,
                                   k=self.cfg.calibration_k, cover=self.cfg.vote_cover)
        else:
            t = stripe_targets(b, context.grid, size, device=batch.images.device)
        return t[:, self._part_rows()].to(batch.images.device)

    @hookimpl
    def lreid_after_optimizer_step(self, batch, outputs):
        if self.cfg.imp and self.vpm2 is not None and "muva_bn" in outputs:
            from lifelong_reid.distributed import all_gather_cat

            # the global batch under several processes, so that every rank's memory stays equal
            hardest_momentum_update(self.vpm2, all_gather_cat(outputs["muva_bn"].detach()),
                                    all_gather_cat(batch.targets).to(self.vpm2.device), self.cfg.imp_momentum)

    # ------------------------------------------------------------------ report
    @hookimpl
    def lreid_report_sections(self, strategy, folder):
        """The last layer's predicted part masks over six query images of each evaluated domain (the
        paper's Figure 7), one figure per domain."""
        if not self.uses_local_tokens or not hasattr(strategy.model.visual, "muva_rmp"):
            return None
        from lifelong_reid.data.transforms import build_transforms
        from lifelong_reid.evaluation.report import file_name
        from lifelong_reid.plugins.muva.analysis import plot_masks, predict_masks

        _, tf = build_transforms(tuple(strategy.config.image_size))
        links = []
        for d in strategy.domain_features[:6]:
            count = len(d.query_pids)
            picks = sorted({int(i) for i in torch.linspace(0, count - 1, min(6, count)).round()})
            images = [d.query_image(i) for i in picks]
            if not images or isinstance(images[0], (list, tuple)):
                continue  # multi-modal tuples: MUVA is defined on RGB images
            probs = predict_masks(strategy.model, torch.stack([tf(im) for im in images]).to(strategy.device))
            name = f"muva_masks_{file_name(d.name)}.png"
            plot_masks(images, probs[-1], strategy.model.visual.grid, Path(folder) / name, self.cfg.parts,
                       title=f"{d.name}: predicted part masks, last layer")
            links.append(f"![{d.name} part masks]({name})")
        if not links:
            return None
        return [("MUVA part masks", "AM-MSA's predicted part probabilities after the last block (the mask gate "
                 f"keeps patches above {self.cfg.threshold}) over query images of each evaluated domain.\n\n"
                 + "\n\n".join(links))]

    # ------------------------------------------------------------------ checkpoints
    @hookimpl
    def lreid_state_dict(self):
        return {"muva": {"config": asdict(self.cfg),
                         "prompts": self.prompts.state_dict() if self.prompts is not None else None,
                         "num_classes": self.prompts.num_classes if self.prompts is not None else 0,
                         "tpm": self.tpm, "vpm2": self.vpm2,
                         "stats": self.stats.state_dict() if self.stats is not None else None}}

    @hookimpl
    def lreid_load_state_dict(self, state, strategy):
        mine = state.get("muva")
        if not mine:
            return
        self.tpm, self.vpm2 = mine["tpm"], mine["vpm2"]
        if mine["stats"] is not None:
            self.stats = HeightStatistics.from_state(mine["stats"])
        if mine["prompts"] is not None:
            model = strategy.model
            self.prompts = IdentityPromptLearner(model.clip, model.tokenizer, mine["num_classes"],
                                                 templates(self.cfg.parts, self.cfg.prompt_length),
                                                 init_std=self.cfg.prompt_init_std)
            self.prompts.load_state_dict(mine["prompts"])
