"""The VLADR plugin: MTAD prompt learning before each domain, ICAR losses while training, the attribute
prototype memory, and the official code's weight interpolation and affinity KL, each a switch.

Per experience (domain) ``t``:

1. ``lreid_adapt_model``: the first time (and when a checkpoint is loaded), the model gets
   ``vladr_queries`` (:class:`AttributeQueries`), trained with it.
2. ``lreid_before_experience`` (Stage 1, MTAD): the image encoder is frozen; the global and attribute
   prompts (initialised from the previous domain's) are trained for ``stage1_epochs`` on the domain's
   captions with the text-image matching loss (the shared CLIP-ReID stage 1,
   :class:`~lifelong_reid.text.Stage1Trainer`: symmetric identity-aware contrastive loss between ``t_g``
   and the frozen image feature ``global_proj`` on unit vectors at temperature 0.07; one pair per distinct
   caption, with the mean feature of its images) plus ``ortho_weight`` x the attribute orthogonality loss;
   they are then frozen and every training caption's text attribute features ``t_k`` are cached. A copy of
   the model is kept as the old model (``model.frozen_copy()``).
3. ``lreid_extra_losses`` (Stage 2, ICAR): ``vladr_cma`` (:func:`cma_loss`, ``v_k`` vs ``t_k``),
   ``vladr_ida`` (:func:`ida_loss`, ``v_k`` vs the prototypes of earlier domains; with
   ``granularity="global"`` the global projected feature against global prototypes), ``vladr_kl``
   (affinity KL to the old model's features, off by default); the memory is EMA-updated with ``v_k``.
4. ``lreid_after_experience``: weight mixing ``theta <- alpha theta_new + (1 - alpha) theta_old`` over the
   whole state dict (floating-point weights and buffers), from the second domain on, with the official code's
   ``alpha = 0.6`` (``train_stage2.py``, ``linear_combination`` with ``--best_alpha 0.6``): the newly trained
   model keeps 60%. The classifiers' rows of the earlier identities are mixed the same way and the new
   identities' rows are kept (``interpolate_classifier``); ``weight_interpolation=None`` switches it off.

Presets (:attr:`VLADRConfig.PRESETS`): ``paper`` (the defaults: the components above as the paper describes
them) and ``official`` (:data:`OFFICIAL`, what the released code computes): no prototype memory, the region
affinity KL to the previous model, ``t_k`` from the BLIP-2 part captions, CMA matching each image to its own
caption parts, CLIP-ReID identity prompts as stage 1 (``identity_prompts``) and the coarse image-text loss
against them, the released region module and loss heads, a strong RandAugment view (``strong_view``, through
``lreid_train_views``), class-mean classifier rows (``classifier_init``) and the weight mixing. Its run settings
(grown classifier, per-iteration schedule, no label smoothing, soft-margin triplet, retrieval feature after the
BNNecks) are the strategy's contracts, set by :data:`~lifelong_reid.plugins.vladr.example.OFFICIAL_RUN`.

Ablation rows (:data:`ABLATIONS`, the paper's table; :data:`OFFICIAL_ABLATIONS`, the official preset without
one component each): ``baseline`` = no plugin (CLIP-ReID fine-tuning);
``interpolation`` = the plugin with only the weight interpolation (isolates the official code's extra);
``mtad`` = learnt prompts, their identity text features reach the image encoder through ``vladr_i2t``
(CLIP-ReID's image-to-text identity loss); ``cma`` = + cross-modal attribute alignment; ``full`` = + IDA;
``global_ida`` = IDA on the global feature, no attribute alignment; ``random_partition`` = attribute text
features from random word groups instead of learnt prompts. Every plugin row keeps the interpolation except
``full_no_interpolation`` (the paper's components alone, without the official code's extra).
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import ClassVar, Optional

import torch
import torch.nn.functional as F

from lifelong_reid.distributed import all_gather_cat
from lifelong_reid.errors import ConfigError
from lifelong_reid.hooks import hookimpl
from lifelong_reid.losses import image_to_text_loss
from lifelong_reid.text import IdentityPromptLearner, Stage1Trainer
from lifelong_reid.plugins.vladr.augment import NORMS, strong_view
from lifelong_reid.plugins.vladr.losses import (affinity_kl, cma_instance_loss, cma_loss, cma_matching_loss,
                                               ida_loss, region_affinity_kl)
from lifelong_reid.plugins.vladr.memory import AttributePrototypeMemory
from lifelong_reid.plugins.vladr.prompts import AttributePromptLearner, orthogonality_loss, random_partition_captions
from lifelong_reid.plugins.vladr.visual import AttributeQueries, RegionCrossAttention

log = logging.getLogger("lifelong_reid.vladr")

#: The loss terms the plugin returns.
LOSS_NAMES = ("vladr_i2t", "vladr_cma", "vladr_ida", "vladr_kl", "vladr_id_strong", "vladr_triplet_strong")
#: The template of the identity prompts (CLIP-ReID's stage 1, which the released code runs per domain).
IDENTITY_TEMPLATE = "A photo of a X X X X person."

#: The released code's settings (github.com/zhoujiahuan1991/CVPR2026-VLADR, commit a48c88f), the ``official``
#: preset; :data:`~lifelong_reid.plugins.vladr.example.OFFICIAL_RUN` holds the run settings that go with it.
OFFICIAL = dict(
    mtad=False, random_partition=False, caption_parts=True, num_attributes=4,
    identity_prompts=True, stage1_epochs=120, stage1_lr=3.5e-3, stage1_batch=64, stage1_weight_decay=1e-4,
    i2t=True, i2t_classes="batch", i2t_temperature=1.0,
    cma=True, cma_form="instance", ida=False,
    affinity_kl=True, kl_features="regions", kl_temperature=0.005, kl_weight=1.0,
    region_module="official", region_weight_decay=0.0, reid_heads="official",
    strong_view=True, image_norm="imagenet", classifier_init="class_mean",
    weight_interpolation=0.6, interpolate_classifier=True,
)
#: The caption given to images without one when ``missing_captions="generic"``.
GENERIC_CAPTION = "a photo of a person."
#: Per-part captions of images without any, with ``caption_parts`` and ``missing_captions="generic"``.
GENERIC_PART_CAPTIONS = {"head": "the head of a person.", "upper": "the upper body of a person.",
                         "lower": "the lower body of a person.", "foot": "the feet of a person."}


@dataclass
class VLADRConfig:
    """VLADR's settings (defaults: the paper / official code where they say, else documented choices).

    Attributes:
        preset: which of :attr:`PRESETS` the other settings start from: ``"paper"`` (the paper's components,
            the dataclass defaults) or ``"official"`` (the released code, :data:`OFFICIAL`); settings given
            with it override the preset's (``{"preset": "official", "affinity_kl": False}``). Build one with
            :meth:`from_preset`; in a run config, ``plugins={"vladr": {"preset": "official"}}``.
        num_attributes: ``K`` local attribute prompts / visual queries. prompt_length: tokens per prompt.
        stage1_epochs, stage1_lr, stage1_batch, stage1_weight_decay: stage-1 prompt training per domain (MTAD, or
            the identity prompts).
        identity_prompts: CLIP-ReID's stage 1 per domain, as the released code: per-identity context tokens in
            :data:`IDENTITY_TEMPLATE` (:class:`~lifelong_reid.text.IdentityPromptLearner`) trained with the
            symmetric SupCon loss at temperature 1 on the raw (unnormalised) frozen ``global_proj`` of every
            training image; their frozen features are then the identity texts of ``vladr_i2t`` (the coarse
            image-text loss) instead of the mean caption feature per identity.
        mtad: learn attribute prompts (else ``random_partition`` or the caption itself gives ``t_k``).
        random_partition: ``t_k`` from random word groups of the caption (the ablation).
        caption_parts: ``t_k`` = the frozen text feature of each image's ``k``-th part caption
            (``Sample.caption_parts``; the released code's BLIP-2 head / upper / lower / foot sentences), the
            global text feature that of their join; needs ``mtad=False`` and ``num_attributes`` = the number of
            parts.
        i2t: CLIP-ReID's image-to-text identity loss against each identity's mean global text feature.
        cma, ida: the stage-2 losses.
        granularity: ``"attribute"`` or ``"global"`` (Global + IDA row).
        i2t_temperature: of the image-to-text identity loss (cosine logits / temperature; the released code's
            coarse image-text loss uses 1.0).
        i2t_classes: ``"all"`` (every identity learnt in the domain) or ``"batch"`` (only the batch's identities,
            as the released code's coarse image-text loss).
        cma_form: ``"instance"`` (the released code: each image matched to its own caption part, symmetric
            cross-entropy over the batch, :func:`cma_instance_loss`), ``"distance"`` (the paper's
            ``sum_k dist(v_k, t_k)``, :func:`cma_loss`) or ``"matching"``
            (per-attribute identity-aware contrastive matching, :func:`cma_matching_loss`).
        i2t_weight, cma_weight, ida_weight, ortho_weight, kl_weight: loss weights.
        affinity_kl: the official code's old/new affinity KL term (``vladr_kl``, from the second domain on).
        kl_features: what the affinities are computed on: ``"feat"`` (the retrieval feature, one ``(B, B)``
            affinity without its diagonal, :func:`affinity_kl`) or ``"regions"`` (the released code: per-part
            region features ``v_k`` of both models, diagonal kept, :func:`region_affinity_kl`).
        kl_temperature: of the affinity softmax (the released code's ``af_temp`` is 0.005).
        reid_heads: which heads the strategy's identity and triplet losses use: ``"both"`` (CLIP-ReID: both losses
            on ``global`` and ``global_proj``) or ``"official"`` (the released code: cross-entropy on the BNNeck
            classifier of ``global`` only, batch-hard triplet on ``global_proj`` before its BNNeck only; with its
            ``--set label_smoothing=0 --set triplet_margin=null`` for no smoothing and the soft margin).
        region_module: how ``v_k`` are computed: ``"queries"`` (:class:`AttributeQueries` over the last block's
            patch tokens) or ``"official"`` (:class:`RegionCrossAttention` over the tokens after ``ln_post`` and
            the visual projection, 8 heads, as the released code).
        region_weight_decay: weight decay of the region module's parameters (``None``: the run's; the released
            code: 0).
        strong_view: also train on a strong view of every image (:func:`~lifelong_reid.plugins.vladr.augment.
            strong_view`, asked for through ``lreid_train_views``): the strategy's identity and triplet losses
            on it are added as ``vladr_id_strong`` / ``vladr_triplet_strong`` (the released code).
        image_norm: the strong view's normalisation, ``"clip"`` or ``"imagenet"``; set it to the stream's
            (the released code normalises with ImageNet's statistics:
            :func:`~lifelong_reid.plugins.vladr.augment.official_transforms`).
        classifier_init: ``"random"`` or ``"class_mean"``: before each domain, the classifier rows of its
            identities (on ``global``'s BNNeck) are set to the L2-normalised mean BNNeck feature of their
            images (the released code's ``initial_classifier``).
        weight_interpolation: ``alpha``, the weight of the newly trained model when it is mixed with the model
            of the previous domain after each domain (``alpha new + (1 - alpha) old``; the official code's
            ``best_alpha = 0.6``); ``None`` = off.
        interpolate_classifier: also mix the classifier rows of the identities both models know (the official
            code); ``False`` keeps the new classifiers as trained.
        ema_momentum: of the prototype memory.
        attribute_grad_to_encoder: let the attribute losses (CMA, attribute IDA) train the image encoder
            through ``v_k`` (the paper's design); ``False`` trains only the attribute queries (a diagnostic).
        missing_captions: ``"error"`` (default) or ``"generic"``: images without a caption get
            :data:`GENERIC_CAPTION` (their attribute features then carry no attribute information).
    """

    PRESETS: ClassVar[dict] = {"paper": {}, "official": OFFICIAL}

    preset: str = "paper"
    num_attributes: int = 4
    prompt_length: int = 4
    stage1_epochs: int = 10
    stage1_lr: float = 3.5e-4
    stage1_batch: int = 64
    stage1_weight_decay: float = 0.0
    identity_prompts: bool = False
    mtad: bool = True
    random_partition: bool = False
    caption_parts: bool = False
    i2t: bool = True
    cma: bool = True
    ida: bool = True
    granularity: str = "attribute"
    cma_form: str = "distance"
    i2t_temperature: float = 0.07
    i2t_classes: str = "all"
    i2t_weight: float = 1.0
    cma_weight: float = 1.0
    ida_weight: float = 1.0
    ortho_weight: float = 0.1
    kl_weight: float = 1.0
    affinity_kl: bool = False
    kl_features: str = "feat"
    kl_temperature: float = 0.1
    region_module: str = "queries"
    region_weight_decay: Optional[float] = None
    reid_heads: str = "both"
    strong_view: bool = False
    image_norm: str = "clip"
    classifier_init: str = "random"
    weight_interpolation: Optional[float] = 0.6
    interpolate_classifier: bool = True
    ema_momentum: float = 0.9
    missing_captions: str = "error"
    attribute_grad_to_encoder: bool = True

    @classmethod
    def from_preset(cls, preset: str = "paper", **overrides) -> "VLADRConfig":
        """The settings of ``preset`` (:attr:`PRESETS`) with ``overrides``.

        Raises:
            ConfigError: an unknown preset, or settings the dataclass refuses.
        """
        if preset not in cls.PRESETS:
            raise ConfigError(f"unknown vladr preset {preset!r}; presets: {', '.join(cls.PRESETS)}")
        return cls(**{**cls.PRESETS[preset], **overrides, "preset": preset})

    def __post_init__(self):
        if self.preset not in self.PRESETS:
            raise ConfigError(f"unknown vladr preset {self.preset!r}; presets: {', '.join(self.PRESETS)}")
        if self.image_norm not in NORMS:
            raise ConfigError(f"vladr image_norm must be one of {', '.join(NORMS)}, got {self.image_norm!r}")
        if self.classifier_init not in ("random", "class_mean"):
            raise ConfigError(f"vladr classifier_init must be 'random' or 'class_mean', got {self.classifier_init!r}")
        if self.missing_captions not in ("error", "generic"):
            raise ConfigError(f"vladr missing_captions must be 'error' or 'generic', got {self.missing_captions!r}")
        if self.cma_form not in ("distance", "matching", "instance"):
            raise ConfigError(f"vladr cma_form must be 'distance', 'matching' or 'instance', got {self.cma_form!r}")
        if self.i2t_classes not in ("all", "batch"):
            raise ConfigError(f"vladr i2t_classes must be 'all' or 'batch', got {self.i2t_classes!r}")
        if not self.i2t_temperature > 0:
            raise ConfigError(f"vladr i2t_temperature must be > 0, got {self.i2t_temperature}")
        if self.caption_parts and (self.mtad or self.random_partition):
            raise ConfigError("vladr caption_parts takes t_k from the part captions: set mtad=False and "
                              "random_partition=False with it")
        if self.reid_heads not in ("both", "official"):
            raise ConfigError(f"vladr reid_heads must be 'both' or 'official', got {self.reid_heads!r}")
        if self.region_module not in ("queries", "official"):
            raise ConfigError(f"vladr region_module must be 'queries' or 'official', got {self.region_module!r}")
        if self.kl_features not in ("feat", "regions"):
            raise ConfigError(f"vladr kl_features must be 'feat' or 'regions', got {self.kl_features!r}")
        if not self.kl_temperature > 0:
            raise ConfigError(f"vladr kl_temperature must be > 0, got {self.kl_temperature}")
        if self.granularity not in ("attribute", "global"):
            raise ConfigError(f"vladr granularity must be 'attribute' or 'global', got {self.granularity!r}")
        if self.weight_interpolation is not None and not 0.0 < self.weight_interpolation <= 1.0:
            raise ConfigError(f"vladr weight_interpolation (the new model's weight) must be in (0, 1] or None, got "
                              f"{self.weight_interpolation}")


ABLATIONS = {
    "baseline": None,
    "interpolation": dict(mtad=False, i2t=False, cma=False, ida=False),
    "mtad": dict(cma=False, ida=False),
    "cma": dict(ida=False),
    "full": dict(),
    "global_ida": dict(granularity="global", cma=False),
    "random_partition": dict(mtad=False, random_partition=True),
    "full_no_interpolation": dict(weight_interpolation=None),
}


#: Ablation rows of the ``official`` preset: each takes one released component away.
OFFICIAL_ABLATIONS = {
    "official": dict(),
    "official_no_mixing": dict(weight_interpolation=None),
    "official_no_kl": dict(affinity_kl=False),
    "official_no_strong_view": dict(strong_view=False),
    "official_no_cma": dict(cma=False),
    "official_no_i2t": dict(i2t=False),
}


def ablation_config(row: str, **overrides) -> Optional[VLADRConfig]:
    """The :class:`VLADRConfig` of an ablation row (``None`` for the baseline: run without the plugin): a row of
    :data:`ABLATIONS` (the ``paper`` preset's) or of :data:`OFFICIAL_ABLATIONS` (the ``official`` preset's)."""
    if row in OFFICIAL_ABLATIONS:
        return VLADRConfig.from_preset("official", **{**OFFICIAL_ABLATIONS[row], **overrides})
    if row not in ABLATIONS:
        raise ConfigError(f"unknown VLADR ablation row {row!r}; rows: {', '.join([*ABLATIONS, *OFFICIAL_ABLATIONS])}")
    base = ABLATIONS[row]
    return None if base is None else VLADRConfig(**{**base, **overrides})


def mix_weights(model: torch.nn.Module, old_model: torch.nn.Module, alpha: float,
                classifier: bool = True) -> None:
    """``theta <- alpha theta_new + (1 - alpha) theta_old`` in place over ``model``'s state dict (VLADR's official
    code, ``train_stage2.py`` ``linear_combination``, ``best_alpha = 0.6``).

    Floating-point weights and buffers (BatchNorm statistics) present in both models with one shape are mixed;
    integer buffers (``num_batches_tracked``) and entries the old model lacks keep the new values. A classifier
    that grew (``(C_new, D)`` against ``(C_old, D)``) has its first ``C_old`` rows mixed, the new identities'
    rows kept; ``classifier=False`` leaves every classifier as trained.
    """
    old = old_model.state_dict()
    with torch.no_grad():
        for name, p in model.state_dict().items():
            if name not in old or not p.is_floating_point():
                continue
            q = old[name].to(p.device)
            if "classifier" in name:
                if not classifier or q.shape[1:] != p.shape[1:] or q.shape[0] > p.shape[0]:
                    continue
                p = p[: q.shape[0]]
            elif q.shape != p.shape:
                continue
            p.mul_(alpha).add_(q, alpha=1 - alpha)


class VLADRPlugin:
    """The VLADR method; activated by name (``plugins={"vladr": {...}}`` in the config, ``--plugin vladr``)
    or registered as an object (``plugins = [VLADRPlugin(VLADRConfig(...))]`` in an experiment file)."""

    name = "vladr"
    loss_names = LOSS_NAMES

    def __init__(self, config: Optional[VLADRConfig] = None):
        self.cfg = config or VLADRConfig()
        self.memory = AttributePrototypeMemory(self.cfg.ema_momentum)
        self.prompts: Optional[AttributePromptLearner] = None
        self.text_attributes: Optional[torch.Tensor] = None  # (N, K, E) for the current domain
        self.identity_text: Optional[torch.Tensor] = None  # (C, E) mean global text feature per label
        self.old_model = None
        self.domain = None
        self.identity_prompts: Optional[IdentityPromptLearner] = None
        self.initialised_experience = -1  # the last experience whose classifier rows were set to class means

    # ------------------------------------------------------------------ model
    @hookimpl
    def lreid_adapt_model(self, model, experience, strategy):
        if not hasattr(model, "vladr_queries"):
            vis = model.visual
            width = vis.ln_post.normalized_shape[0]
            if self.cfg.region_module == "official":
                dim = vis.proj.shape[1] if vis.proj is not None else width
                model.vladr_queries = RegionCrossAttention(dim, self.cfg.num_attributes, heads=8 if dim % 8 == 0 else 1)
            else:
                heads = max(1, width // 64)
                model.vladr_queries = AttributeQueries(width, self.cfg.num_attributes, heads, vis.proj)
        if self.cfg.reid_heads == "official":  # identity loss on the 768-d head, triplet on the 512-d one
            model.set_head_losses("global", id_loss=True, triplet=False)
            model.set_head_losses("global_proj", id_loss=False, triplet=True)
        if self.prompts is None:
            self.prompts = AttributePromptLearner(model.clip, self.cfg.num_attributes, self.cfg.prompt_length)
        self.prompts.to(next(model.parameters()).device)
        if (self.cfg.classifier_init == "class_mean" and experience is not None and strategy.is_training
                and experience.current_experience != self.initialised_experience):
            self._class_mean_rows(model, strategy)
            self.initialised_experience = experience.current_experience

    @torch.no_grad()
    def _class_mean_rows(self, model, strategy) -> None:
        """Set the classifier rows of the experience's identities (``class_offset`` on) to the L2-normalised mean
        BNNeck feature (``bn``, eval mode) of their training images: the released code's
        ``initial_classifier`` (``reid/utils/feature_tools.py``), on the 768-d classifier only."""
        model.to(strategy.device)
        feats, _, _ = strategy.extract_features(strategy.adapted_dataset.eval(), desc="vladr class means",
                                                output="bn")
        targets = strategy.targets.to(feats.device)
        keep = targets >= 0
        labels = targets[keep] - strategy.class_offset
        num = int(labels.max()) + 1
        sums = torch.zeros(num, feats.shape[1], device=feats.device).index_add_(0, labels, feats[keep].float())
        means = F.normalize(sums / torch.bincount(labels, minlength=num).clamp_min(1)[:, None], dim=-1)
        start = strategy.class_offset
        model.classifier.weight[start:start + num] = means.to(model.classifier.weight)

    @hookimpl
    def lreid_param_groups(self, model, strategy):
        if self.cfg.region_weight_decay is None or not hasattr(model, "vladr_queries"):
            return None
        return [{"params": list(model.vladr_queries.parameters()), "weight_decay": self.cfg.region_weight_decay,
                 "name": "vladr_region"}]

    @hookimpl
    def lreid_train_views(self, strategy):
        if not self.cfg.strong_view:
            return None
        return {"vladr_strong": strong_view(strategy.config.image_size, self.cfg.image_norm)}

    # ------------------------------------------------------------------ stage 1
    def _captions(self, experience) -> list[str]:
        captions = list(experience.dataset.captions)
        missing = sum(1 for c in captions if not c)
        if missing and self.cfg.missing_captions == "generic":
            return [c or GENERIC_CAPTION for c in captions]
        if missing:
            raise ConfigError(f"plugin 'vladr' needs a caption for every training image; {missing} of {len(captions)} "
                              "have none (attach captions with lifelong_reid.data.side_info.attach_side_info, or use a "
                              "stream whose samples carry captions)")
        return captions

    def _caption_parts(self, experience) -> list[tuple]:
        """Each training image's part captions, a tuple of ``num_attributes`` sentences.

        Raises:
            ConfigError: images without part captions (unless ``missing_captions="generic"``), or a number of
                parts other than ``num_attributes``.
        """
        parts = [tuple(p) for p in experience.dataset.caption_parts]
        missing = sum(1 for p in parts if not p)
        if missing and self.cfg.missing_captions == "generic":
            generic = tuple(GENERIC_PART_CAPTIONS.values())
            parts = [p or generic for p in parts]
        elif missing:
            raise ConfigError(f"plugin 'vladr' with caption_parts needs part captions for every training image; "
                              f"{missing} of {len(parts)} have none (attach a per-part captions file, e.g. the VLADR "
                              "release's _BLIP_TEXT_DESC/*_description.txt, with attach_side_info(captions="
                              "load_captions(...)), or set missing_captions='generic')")
        sizes = sorted({len(p) for p in parts})
        if sizes != [self.cfg.num_attributes]:
            raise ConfigError(f"plugin 'vladr': the part captions have {', '.join(map(str, sizes))} part(s) but "
                              f"num_attributes={self.cfg.num_attributes}; set num_attributes to the number of parts")
        return parts

    @torch.no_grad()
    def _image_features(self, strategy, experience) -> torch.Tensor:
        """``(N, E)`` the frozen projected CLS (``global_proj``) of the domain's training images."""
        feats, _, _ = strategy.extract_features(experience.dataset.eval(), desc="vladr image features",
                                                output="global_proj")
        return feats

    def _train_identity_prompts(self, strategy, experience) -> torch.Tensor:
        """CLIP-ReID's stage 1 on the domain (see ``identity_prompts``); returns the ``(C, E)`` L2-normalised text
        features of the domain's identities, in label order."""
        model = strategy.model
        device = next(model.parameters()).device
        labels = torch.as_tensor(list(experience.dataset.targets))
        num = int(labels.max()) + 1
        self.identity_prompts = IdentityPromptLearner(model.clip, model.tokenizer, num, IDENTITY_TEMPLATE).to(device)
        if self.cfg.stage1_epochs > 0:
            feats = self._image_features(strategy, experience).float().to(device)
            gen = torch.Generator().manual_seed(strategy.config.seed * 1000 + experience.current_experience)
            trainer = Stage1Trainer(self.identity_prompts.parameters(), lr=self.cfg.stage1_lr,
                                    weight_decay=self.cfg.stage1_weight_decay, epochs=self.cfg.stage1_epochs,
                                    batch_size=self.cfg.stage1_batch, temperature=1.0, normalize=False)
            trainer.fit(feats, labels, lambda idx: self.identity_prompts(labels[idx].to(device)), generator=gen)
        for p in self.identity_prompts.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            text = torch.cat([self.identity_prompts(chunk.to(device)) for chunk in torch.arange(num).split(256)])
        return F.normalize(text.float(), dim=-1).cpu()

    def _train_prompts(self, strategy, tokens, image_feats, pids) -> None:
        device = image_feats.device

        def text(idx):
            t_g, t_k = self.prompts(tokens[idx].to(device))
            return t_g, self.cfg.ortho_weight * orthogonality_loss(t_k)

        gen = torch.Generator().manual_seed(strategy.config.seed * 1000 + strategy.experience.current_experience)
        trainer = Stage1Trainer(self.prompts.parameters(), lr=self.cfg.stage1_lr, epochs=self.cfg.stage1_epochs,
                                batch_size=self.cfg.stage1_batch, temperature=0.07, normalize=True)
        trainer.fit(image_feats, pids, text, generator=gen)

    @torch.no_grad()
    def _text_features(self, model, captions: list) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N, E)`` global and ``(N, K, E)`` attribute text features of the captions (strings, or tuples of
        ``K`` part captions with ``caption_parts``)."""
        globs, attrs = [], []
        for s in range(0, len(captions), 256):
            chunk = captions[s:s + 256]
            if self.cfg.caption_parts:
                k = self.cfg.num_attributes
                g = model.encode_text(model.tokenize([" ".join(parts) for parts in chunk]))
                t = model.encode_text(model.tokenize([p for parts in chunk for p in parts])).view(len(chunk), k, -1)
                globs.append(g.float())
                attrs.append(t.float())
                continue
            tokens = model.tokenize(chunk)
            if self.cfg.mtad and not self.cfg.random_partition:
                g, t = self.prompts(tokens)
            else:
                g = model.encode_text(tokens)
                if self.cfg.random_partition:
                    groups = random_partition_captions(chunk, self.cfg.num_attributes)
                    flat = [w for grp in groups for w in grp]
                    t = model.encode_text(model.tokenize(flat)).view(len(chunk), self.cfg.num_attributes, -1)
                else:
                    t = g.unsqueeze(1).expand(-1, self.cfg.num_attributes, -1)
            globs.append(g.float())
            attrs.append(t.float())
        return torch.cat(globs), torch.cat(attrs)

    @hookimpl
    def lreid_before_experience(self, strategy, experience):
        self.domain = str(experience.current_experience)
        self.old_model = strategy.model.frozen_copy() if experience.current_experience > 0 else None
        captions = self._caption_parts(experience) if self.cfg.caption_parts else self._captions(experience)
        model = strategy.model
        unique = sorted(set(captions))  # captions often repeat (one per identity): encode each once
        which = {c: i for i, c in enumerate(unique)}
        index = torch.tensor([which[c] for c in captions])
        if self.cfg.mtad and not self.cfg.random_partition and self.cfg.stage1_epochs > 0:
            image_feats = F.normalize(self._image_features(strategy, experience), dim=-1)
            pids = torch.as_tensor(list(experience.dataset.pids))
            # one training pair per distinct caption: the mean feature (and the pid) of its images
            counts = torch.bincount(index, minlength=len(unique)).clamp_min(1)[:, None]
            feats = torch.zeros(len(unique), image_feats.shape[1]).index_add_(0, index, image_feats.cpu()) / counts
            caption_pids = torch.zeros(len(unique), dtype=torch.long).index_copy_(0, index, pids)
            self._train_prompts(strategy, model.tokenize(unique).cpu(), feats.to(next(model.parameters()).device),
                                caption_pids)
            for p in self.prompts.parameters():  # frozen after stage 1, as in the paper
                p.requires_grad_(False)
        text_global, text_attributes = self._text_features(model, unique)
        text_global, self.text_attributes = text_global[index], text_attributes[index]
        if self.cfg.identity_prompts:
            self.identity_text = self._train_identity_prompts(strategy, experience)
            return
        labels = torch.as_tensor(list(experience.dataset.targets))
        centres = torch.zeros(int(labels.max()) + 1, text_global.shape[1]).index_add_(0, labels, F.normalize(text_global, dim=-1))
        self.identity_text = F.normalize(centres, dim=-1)

    # ------------------------------------------------------------------ stage 2
    def _regions(self, model, patches: torch.Tensor) -> torch.Tensor:
        """``(B, K, E)`` region features ``v_k`` of ``(B, N, W)`` last-block patch tokens (the released code's
        module reads them after ``ln_post`` and the visual projection)."""
        if self.cfg.region_module == "official":
            patches = model.visual.ln_post(patches)
            if model.visual.proj is not None:
                patches = patches @ model.visual.proj
        return model.vladr_queries(patches)

    @hookimpl
    def lreid_extra_losses(self, outputs, batch, strategy):
        if self.text_attributes is None or not strategy.model.training:
            return None
        patches = outputs["patch_tokens"]
        v = self._regions(strategy.model, patches if self.cfg.attribute_grad_to_encoder else patches.detach())
        losses = {}
        if self.cfg.i2t and self.identity_text is not None:
            img = F.normalize(outputs["global_proj"], dim=-1)
            # the domain's own labels (a grown classifier offsets them: classifier="grow")
            text, targets = self.identity_text.to(img.device), batch.targets.to(img.device) - strategy.class_offset
            if self.cfg.i2t_classes == "batch":  # only the identities of the batch, as the released code
                classes, targets = torch.unique(targets, sorted=True, return_inverse=True)
                text = text[classes]
            losses["vladr_i2t"] = self.cfg.i2t_weight * image_to_text_loss(
                img, text, targets, temperature=self.cfg.i2t_temperature)
        if self.cfg.cma:
            t = self.text_attributes[batch.indices.cpu()].to(v.device)
            if self.cfg.cma_form == "matching":
                cma = cma_matching_loss(v, t, batch.targets.to(v.device))
            elif self.cfg.cma_form == "instance":
                cma = cma_instance_loss(v, t)
            else:
                cma = cma_loss(v, t)
            losses["vladr_cma"] = self.cfg.cma_weight * cma
        feats = v if self.cfg.granularity == "attribute" else outputs["global_proj"].unsqueeze(1)
        if self.cfg.ida:
            old = self.memory.old_prototypes(self.domain)
            if old is not None and old.shape[1:] == feats.shape[1:]:
                losses["vladr_ida"] = self.cfg.ida_weight * ida_loss(feats, old)
            # the memory exists for IDA only; updated from the global batch under several processes
            self.memory.update(self.domain, all_gather_cat(feats.detach()))
        if self.cfg.affinity_kl and self.old_model is not None:
            with torch.no_grad():
                old_out = self.old_model(batch.images, batch)
                v_old = self._regions(self.old_model, old_out["patch_tokens"]) if self.cfg.kl_features == "regions" \
                    else None
            if v_old is not None:
                kl = region_affinity_kl(v, v_old, self.cfg.kl_temperature)
            else:
                kl = affinity_kl(outputs["feat"], old_out["feat"], self.cfg.kl_temperature)
            losses["vladr_kl"] = self.cfg.kl_weight * kl
        if self.cfg.strong_view:
            strong = batch.side.get("views", {}).get("vladr_strong")
            if strong is None:
                raise ConfigError("vladr strong_view: the batch carries no strong view (the strategy did not call "
                                  "lreid_train_views; is the stream built by lifelong_reid.streams?)")
            with strategy.autocast():
                out_strong = strategy.model(strong, batch)
            for name, value in strategy.reid_losses(out_strong, batch.targets).items():
                losses[f"vladr_{name}_strong"] = value
        return losses or None

    @hookimpl
    def lreid_after_experience(self, strategy, experience):
        alpha = self.cfg.weight_interpolation
        if alpha is None or self.old_model is None:
            return
        mix_weights(strategy.model, self.old_model, alpha, self.cfg.interpolate_classifier)
        log.info("vladr: mixed with the previous model (%.2f new + %.2f old); memory %d bytes", alpha, 1 - alpha,
                 self.memory.nbytes())

    # ------------------------------------------------------------------ checkpoints
    @hookimpl
    def lreid_state_dict(self, strategy):
        return {"vladr": {"config": asdict(self.cfg), "memory": self.memory.state_dict(),
                          "prompts": self.prompts.state_dict() if self.prompts is not None else None,
                          "identity_text": self.identity_text if self.cfg.identity_prompts else None,
                          "initialised_experience": self.initialised_experience}}

    @hookimpl
    def lreid_load_state_dict(self, state, strategy):
        mine = state.get("vladr")
        if not mine:
            return
        self.memory.load_state_dict(mine["memory"])
        if mine.get("identity_text") is not None:  # stage 1's result, as trained before the checkpoint
            self.identity_text = mine["identity_text"]
        self.initialised_experience = mine.get("initialised_experience", -1)
        model = strategy.model
        if mine["prompts"] is not None:
            if self.prompts is None:
                self.prompts = AttributePromptLearner(model.clip, self.cfg.num_attributes, self.cfg.prompt_length)
            self.prompts.load_state_dict(mine["prompts"])
