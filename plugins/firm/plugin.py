"""The FIRM plugin: pseudo-labels by per-modality clustering and optimal-transport matching (EMCM), a
multi-view cluster memory carried across re-clustering, the OT-weighted InfoNCE, the multi-layer alignment and
geometric regularizers, and VSPF's text injection.

Which parts follow FIRM's abstract (ACML 2025; no code, no equations published) and which are this library's
design is listed in the package docstring (``plugins/firm/__init__.py``) and the README.

One epoch of an unsupervised experience (``unsupervised:sysu-mm01|regdb|llcm``, ``synthetic-vi-unsupervised``):

1. before it (``lreid_assign_targets``): features of every training image (the retrieval feature, L2-normalised);
   per modality, k-reciprocal Jaccard + DBSCAN (:mod:`.clustering`); the infrared clusters matched to the visible
   ones (:func:`~.matching.match_clusters`); the memories re-initialised from the new clusters, carrying the old
   prototypes over (:mod:`.memory`); the identity prompts carried over the same way and the text bank refreshed;
   the strategy's targets = the joint pseudo-identities (a visible cluster and the infrared clusters matched to it
   share one; an unmatched infrared cluster is its own), so the P x K sampler draws both modalities of a matched
   identity;
2. every iteration (``lreid_extra_losses``): ClusterNCE per modality against its own memory, the cross-modal
   InfoNCE against the other modality's memory with the plan's rows as targets, the alignment regularizer over
   VSPF's layers, the geometric regularizer; after the optimizer step the memories take the batch's features
   (``lreid_after_optimizer_step``).

The pseudo-label quality against the hidden identities (adjusted Rand index, purity, cross-modality pair
precision) is kept per epoch in :attr:`FIRMPlugin.history` (diagnostics only; the method never reads
identities) and printed in the run's report.
"""
from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from lifelong_reid.errors import ConfigError
from lifelong_reid.hooks import hookimpl
from lifelong_reid.plugins.firm.clustering import (cluster_centres, cluster_features, label_quality, pair_precision,
                                                   sub_centres)
from lifelong_reid.plugins.firm.losses import (alignment_loss, cluster_nce, compactness_loss, ot_weighted_infonce,
                                               uniformity_loss)
from lifelong_reid.plugins.firm.matching import METHODS, match_clusters
from lifelong_reid.plugins.firm.memory import ClusterMemory, carry_over, text_carry_over
from lifelong_reid.plugins.firm.vspf import (DEFAULT_PART_SENTENCES, MODALITY_TEMPLATES, VSPF, default_layers,
                                             read_sentences)

log = logging.getLogger(__name__)

#: The loss terms the plugin returns.
LOSS_NAMES = ("firm_intra", "firm_cross", "firm_align", "firm_uniform", "firm_compact")

#: Modality names of the batches -> index into the memories (visible, infrared).
MODALITIES = ("rgb", "ir")


@dataclass
class FIRMConfig:
    """FIRM's settings. Defaults: the clustering and memory of ADCA / PGM (the public baselines FIRM builds on),
    the rest this library's (see the package docstring).

    Attributes:
        eps: DBSCAN radius on the Jaccard distance (ADCA / PGM: 0.6).
        min_samples: DBSCAN core size (4).
        k1: k-reciprocal neighbourhood of the Jaccard distance (30). k2: its query expansion (6).
        knn_backend: neighbour search for the Jaccard distance: ``"torch"`` (exact, blocked matrix products; the
            default: 2x faster than faiss's flat index on 2 CPU cores at 11k x 2048, ``benchmarks/firm_ablation.py
            --cost``), ``"faiss"`` (flat index, the GPU index with faiss-gpu and CUDA features), ``"auto"`` (faiss
            when installed).
        matching: cross-modality cluster matching, ``"unbalanced"`` (FIRM here), ``"sinkhorn"`` (balanced OT),
            ``"emd"`` (exact OT) or ``"hungarian"`` (PGM's, the baseline).
        ot_reg: entropic regularisation of the OT matchings (cost ``1 - cos``). ot_reg_m: marginal relaxation of
            unbalanced OT. min_share: an infrared cluster whose best plan entry is below ``min_share`` of an even
            share stays unmatched.
        sub_centres: ``S`` prototypes (views) per cluster in each modality's memory (MMM: 4; 1 = ADCA's
            single centre).
        momentum: memory momentum ``mu`` (ADCA / PGM scripts: 0.1). temperature: memory temperature (0.05).
        carry_over: transport the old prototypes and identity prompts onto the new clusters at every
            re-clustering (``False``: re-initialise from the new means, as ADCA / PGM).
        carry: weight of the carried prototype against the new mean.
        ot_weighted: soft cross-modal targets from the transport plan (``False``: plain InfoNCE to the matched
            cluster only).
        cross_weight: weight of the cross-modal InfoNCE (PGM: 0.25). cross_from_epoch: first epoch with it
            (ADCA / PGM add it in a second stage).
        vspf: inject the text cues into the image encoder (``False``: the ablation "no VSPF"; the alignment
            regularizer goes with it).
        vspf_layers: injected blocks (default :func:`~.vspf.default_layers`). vspf_deep_from: first deep block
            (identity-level cues; default ``L // 2``). vspf_heads: cross-attention heads.
        vspf_sentences: file of LLM-written part / attribute sentences (one per line, or a JSON list); default
            :data:`~.vspf.DEFAULT_PART_SENTENCES`.
        prompt_tokens: learnable tokens per pseudo-identity prompt (CLIP-ReID / CCLNet: 4).
        align_weight: weight of the multi-layer alignment regularizer.
        uniformity_weight: weight of the prototypes' uniformity. compactness_weight: weight of the instances'
            compactness.
        base_losses: keep the strategy's identity and triplet losses on the pseudo-labels (ADCA / PGM have
            neither: the memory losses replace them).
    """

    eps: float = 0.6
    min_samples: int = 4
    k1: int = 30
    k2: int = 6
    knn_backend: str = "torch"
    matching: str = "unbalanced"
    ot_reg: float = 0.05
    ot_reg_m: float = 1.0
    min_share: float = 0.5
    sub_centres: int = 2
    momentum: float = 0.1
    temperature: float = 0.05
    carry_over: bool = True
    carry: float = 0.5
    ot_weighted: bool = True
    cross_weight: float = 0.25
    cross_from_epoch: int = 0
    vspf: bool = True
    vspf_layers: Optional[list] = None
    vspf_deep_from: Optional[int] = None
    vspf_heads: int = 4
    vspf_sentences: Optional[str] = None
    prompt_tokens: int = 4
    align_weight: float = 0.1
    uniformity_weight: float = 0.1
    compactness_weight: float = 0.1
    base_losses: bool = False

    def __post_init__(self):
        if self.matching not in METHODS:
            raise ConfigError(f"firm matching must be one of {', '.join(METHODS)}; got {self.matching!r}")
        if self.knn_backend not in ("auto", "torch", "faiss"):
            raise ConfigError(f"firm knn_backend must be auto, torch or faiss; got {self.knn_backend!r}")
        for name in ("min_samples", "k1", "k2", "sub_centres", "prompt_tokens", "vspf_heads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"firm {name} must be >= 1, got {getattr(self, name)}")
        for name in ("cross_weight", "align_weight", "uniformity_weight", "compactness_weight", "cross_from_epoch"):
            if getattr(self, name) < 0:
                raise ConfigError(f"firm {name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.eps < 1:
            raise ConfigError(f"firm eps is a Jaccard distance in (0, 1), got {self.eps}")


class FIRMPlugin:
    """The FIRM method (``plugins={"firm": {...}}``, ``--plugin firm``). See the module docstring.

    Attributes:
        history: one dict per re-clustering: ``experience``, ``epoch``, per modality ``clusters``, ``ari``,
            ``purity``, ``coverage`` (``visible_*`` / ``infrared_*``), ``matched`` infrared clusters,
            ``pair_precision``, ``joint_ari`` / ``joint_purity`` over both modalities, ``seconds``.
        memories: ``[visible, infrared]`` :class:`~.memory.ClusterMemory`.
    """

    name = "firm"
    loss_names = LOSS_NAMES

    def __init__(self, config: Optional[FIRMConfig] = None):
        self.cfg = config or FIRMConfig()
        self.sentences = read_sentences(self.cfg.vspf_sentences) if self.cfg.vspf_sentences else \
            list(DEFAULT_PART_SENTENCES)
        self.memories = [ClusterMemory(self.cfg.momentum, self.cfg.temperature) for _ in MODALITIES]
        self.history: list[dict] = []
        self.modal_labels: Optional[torch.Tensor] = None  # (N,) cluster index within the sample's modality
        self.sample_modality: Optional[torch.Tensor] = None  # (N,) 0 visible, 1 infrared, -1 other
        self.targets_v: Optional[torch.Tensor] = None  # (Kv, Ki) soft cross-modal targets of visible clusters
        self.targets_i: Optional[torch.Tensor] = None  # (Ki, Kv) of infrared clusters
        self.num_joint = 1
        self._ir_joint: Optional[torch.Tensor] = None  # (Ki,) joint identity of each infrared cluster
        self._rebuild = False

    # ------------------------------------------------------------------ model
    @hookimpl
    def lreid_adapt_model(self, model):
        if not self.cfg.base_losses:
            for head in ("global", "global_proj"):
                model.set_head_losses(head, id_loss=False, triplet=False)
        if self.cfg.vspf and not hasattr(model.visual, "firm_vspf"):
            vis = model.visual
            layers, deep = default_layers(vis.num_layers)
            layers = list(self.cfg.vspf_layers) if self.cfg.vspf_layers is not None else layers
            bad = [x for x in layers if not 0 <= int(x) < vis.num_layers]
            if bad:
                raise ConfigError(f"firm vspf_layers {bad} outside the encoder's {vis.num_layers} blocks")
            deep = self.cfg.vspf_deep_from if self.cfg.vspf_deep_from is not None else deep
            embed = vis.output_dim
            module = VSPF(vis.width, embed, layers, deep, len(self.sentences), heads=self.cfg.vspf_heads)
            module.to(vis.positional_embedding.device)
            with torch.no_grad():
                module.modality_text.copy_(_encode(model, [MODALITY_TEMPLATES[m] for m in MODALITIES]))
                module.part_text.copy_(_encode(model, self.sentences))
            vis.firm_vspf = module
        if self.cfg.vspf:
            self._ensure_prompts(model)

    def _ensure_prompts(self, model) -> None:
        from lifelong_reid.text import IdentityPromptLearner

        n = self.cfg.prompt_tokens
        prompts = getattr(model, "firm_prompts", None)
        if prompts is None:
            template = "A photo of a " + " ".join(["X"] * n) + " person."
            model.firm_prompts = IdentityPromptLearner(model.clip, model.tokenizer, self.num_joint, template)
            model.firm_prompts.to(model.visual.positional_embedding.device)
        elif prompts.num_classes != self.num_joint:
            prompts.reset(self.num_joint)
        bank = model.visual.firm_vspf.bank
        if self.history and len(bank) != self.num_joint:  # a checkpoint's bank (a row per joint identity) loads next
            model.visual.firm_vspf.bank = torch.zeros(self.num_joint, bank.shape[1], device=bank.device)

    # ------------------------------------------------------------------ vision forward (VSPF)
    @hookimpl
    def lreid_vision_block_start(self, layer_index, context, encoder):
        vspf = getattr(encoder, "firm_vspf", None)
        slot = vspf.slot(layer_index) if vspf is not None else None
        if slot is None:
            return
        cls = context.get_tokens("cls")[:, 0]
        cues = vspf.cues(slot, layer_index, cls, _modality_index(context))
        context.tokens = vspf.inject(slot, context.tokens, cues)

    @hookimpl
    def lreid_vision_block_end(self, layer_index, context, encoder):
        vspf = getattr(encoder, "firm_vspf", None)
        slot = vspf.slot(layer_index) if vspf is not None else None
        if slot is not None and torch.is_grad_enabled():
            context.record("firm_layer_cls", vspf.read_cls(slot, context.get_tokens("cls")[:, 0]))

    # ------------------------------------------------------------------ pseudo-labels (EMCM)
    @hookimpl
    def lreid_assign_targets(self, strategy, experience, dataset, epoch, iteration):
        if iteration is not None or strategy.experience_is_supervised:
            return None
        import time

        start = time.perf_counter()
        emb = strategy.embed(dataset, desc="firm clustering")
        feats = F.normalize(emb["feat"].float(), dim=1)
        modality = modality_indices(emb["modality"])
        if (modality < 0).any():
            other = sorted({m for m in emb["modality"] if m not in MODALITIES})
            raise ConfigError(f"firm clusters visible ('rgb') and infrared ('ir') samples; the experience also holds "
                              f"{other}")
        labels = torch.full((len(feats),), -1, dtype=torch.long)
        centres, subs = [], []
        for m, name in enumerate(("visible", "infrared")):
            idx = torch.nonzero(modality == m).flatten()
            if len(idx) < 2:
                raise ConfigError(f"firm needs visible and infrared training images; the experience has "
                                  f"{len(idx)} {name} image(s)")
            lab = cluster_features(feats[idx], eps=self.cfg.eps, min_samples=self.cfg.min_samples, k1=self.cfg.k1,
                                   k2=self.cfg.k2, backend=self.cfg.knn_backend)
            if int(lab.max()) < 0:
                raise ConfigError(f"DBSCAN found no {name} cluster among {len(idx)} images (eps={self.cfg.eps}, "
                                  f"min_samples={self.cfg.min_samples}); raise firm.eps or lower firm.min_samples "
                                  "(--set firm.eps=0.7)")
            labels[idx] = lab
            centres.append(cluster_centres(feats[idx], lab))
            subs.append(sub_centres(feats[idx], lab, self.cfg.sub_centres))
        match = match_clusters(centres[0], centres[1], self.cfg.matching, reg=self.cfg.ot_reg,
                               reg_m=self.cfg.ot_reg_m, min_share=self.cfg.min_share)
        self._set_cross_targets(match, strategy.device)
        # memories, with the old prototypes carried over
        sources = []
        carry = self.cfg.carry if self.cfg.carry_over else 0.0
        for m, memory in enumerate(self.memories):
            protos, source = carry_over(memory.prototypes.cpu(), subs[m], carry=carry)
            memory.reset(protos.to(strategy.device))
            sources.append(source)
        # joint pseudo-identities: visible clusters, then unmatched infrared clusters
        kv = len(centres[0])
        to_vis = match.infrared_to_visible
        unmatched = torch.nonzero(to_vis < 0).flatten()
        ir_joint = to_vis.clone()
        ir_joint[unmatched] = kv + torch.arange(len(unmatched))
        joint = labels.clone()
        ir = (modality == 1) & (labels >= 0)
        joint[ir] = ir_joint[labels[ir]]
        old_joint = self.num_joint
        self.num_joint = kv + len(unmatched)
        self.modal_labels, self.sample_modality = labels, modality
        model = strategy.model
        if self.cfg.vspf:
            self._carry_prompts(model, sources[0], old_joint, kv, unmatched, sources[1])
        self._ir_joint = ir_joint
        self._record(experience, epoch, emb, labels, modality, joint, match, time.perf_counter() - start)
        self._rebuild = True
        return joint

    def _set_cross_targets(self, match, device) -> None:
        """The ``(Kv, Ki)`` / ``(Ki, Kv)`` cross-modal targets of each cluster, kept on ``device`` (the loss reads
        them every iteration)."""
        if self.cfg.ot_weighted:
            targets_v, targets_i = match.soft_targets(), match.soft_targets(infrared=True)
        else:  # plain InfoNCE: one-hot to the matched cluster
            plan, to_vis = match.plan, match.infrared_to_visible
            kv, ki = plan.shape
            targets_i = torch.zeros(ki, kv)
            matched = torch.nonzero(to_vis >= 0).flatten()
            targets_i[matched, to_vis[matched]] = 1.0
            targets_v = torch.zeros(kv, ki)
            best = plan.argmax(1)
            ok = (plan.sum(1) > 0) & (to_vis[best] == torch.arange(kv))
            targets_v[torch.nonzero(ok).flatten(), best[ok]] = 1.0
        self.targets_v, self.targets_i = targets_v.float().to(device), targets_i.float().to(device)

    def _carry_prompts(self, model, visible_source, old_joint, kv, unmatched, infrared_source) -> None:
        """Identity prompts of the new joint identities: a visible cluster keeps the prompt of the old visible
        cluster it took over (old visible clusters were joint identities ``0 .. Kv_old-1``); an unmatched
        infrared cluster keeps the prompt of the joint identity its old infrared cluster belonged to; the
        others start afresh. Then the text bank is refreshed."""
        prompts = model.firm_prompts
        old = prompts.ctx[0].detach().clone() if prompts.num_classes == old_joint else None
        prompts.reset(self.num_joint)
        if self.cfg.carry_over and old is not None:
            source = torch.full((self.num_joint,), -1, dtype=torch.long)
            source[:kv] = visible_source
            prev = self._ir_joint
            if prev is not None and len(unmatched):
                src = infrared_source[unmatched]
                ok = src >= 0
                source[kv + torch.nonzero(ok).flatten()] = prev[src[ok]]
            source[source >= len(old)] = -1
            with torch.no_grad():
                prompts.ctx[0].copy_(text_carry_over(old, source, prompts.ctx[0].detach()))
        self._refresh_bank(model)

    @torch.no_grad()
    def _refresh_bank(self, model) -> None:
        """The identity text bank: every joint identity's prompt through the text tower."""
        prompts = model.firm_prompts
        chunks = [prompts(torch.arange(s, min(s + 256, self.num_joint), device=prompts.ctx[0].device))
                  for s in range(0, self.num_joint, 256)]
        model.visual.firm_vspf.bank = torch.cat(chunks).float()

    def _record(self, experience, epoch, emb, labels, modality, joint, match, seconds) -> None:
        pids = emb["pids"]
        row = {"experience": getattr(experience, "current_experience", 0) + 1, "epoch": epoch + 1}
        for m, name in enumerate(("visible", "infrared")):
            q = label_quality(labels[modality == m], pids[modality == m])
            row.update({f"{name}_clusters": q.clusters, f"{name}_ari": q.ari, f"{name}_purity": q.purity,
                        f"{name}_coverage": q.coverage})
        jq = label_quality(joint, pids)
        vis, ir = modality == 0, modality == 1
        to_vis = match.infrared_to_visible
        ir_labels = labels[ir]
        precision = pair_precision(labels[vis], pids[vis], ir_labels, pids[ir], to_vis)
        row.update({"joint_clusters": jq.clusters, "joint_ari": jq.ari, "joint_purity": jq.purity,
                    "matched": int((to_vis >= 0).sum()),
                    "pair_precision": None if math.isnan(precision) else precision,  # None: nothing matched
                    "seconds": round(seconds, 3)})
        self.history.append(row)
        log.info("firm re-clustering (experience %d, epoch %d): %d visible / %d infrared clusters, %d matched "
                 "(pair precision %s), joint ARI %.3f", row["experience"], row["epoch"], row["visible_clusters"],
                 row["infrared_clusters"], row["matched"], _fmt(row["pair_precision"]), row["joint_ari"])

    @hookimpl
    def lreid_before_epoch(self, strategy):
        if self._rebuild:  # the identity prompts were replaced: the optimizer must hold the new ones
            self._rebuild = False
            strategy.rebuild_optimizer()

    # ------------------------------------------------------------------ losses
    def _batch_labels(self, batch):
        idx = batch.indices.cpu()
        return self.modal_labels[idx], self.sample_modality[idx]

    @hookimpl
    def lreid_extra_losses(self, outputs, batch, strategy):
        if self.modal_labels is None or strategy.experience_is_supervised:
            return None
        cfg = self.cfg
        feats = outputs["feat"].float()
        labels, modality = (t.to(feats.device) for t in self._batch_labels(batch))
        terms = {}
        intra, cross = [], []
        for m, memory in enumerate(self.memories):
            sel = (modality == m) & (labels >= 0)
            if not sel.any():
                continue
            f, y = feats[sel], labels[sel]
            intra.append(cluster_nce(f, memory.logits(f), y))
            if cfg.cross_weight > 0 and strategy.epoch >= cfg.cross_from_epoch:
                other = self.memories[1 - m]
                table = (self.targets_v if m == 0 else self.targets_i).to(feats.device)
                cross.append(ot_weighted_infonce(other.logits(f), table[y]))
        if not intra:
            return None
        terms["firm_intra"] = sum(intra)
        if cross:
            terms["firm_cross"] = cfg.cross_weight * sum(cross)
        joint = batch.targets
        records = outputs["records"].get("firm_layer_cls", []) if "records" in outputs else []
        if cfg.vspf and cfg.align_weight > 0 and records:
            uniq, inverse = torch.unique(joint[joint >= 0], return_inverse=True)
            y = torch.full_like(joint, -1)
            y[joint >= 0] = inverse
            text = strategy.model.firm_prompts(uniq)
            terms["firm_align"] = cfg.align_weight * alignment_loss(records, text, y)
        if cfg.uniformity_weight > 0:
            terms["firm_uniform"] = cfg.uniformity_weight * uniformity_loss(feats, joint)
        if cfg.compactness_weight > 0:
            sel = labels >= 0
            protos = torch.zeros_like(feats[sel])
            for m, memory in enumerate(self.memories):
                mm = modality[sel] == m
                if mm.any():
                    centres = memory.centres().to(feats.device)
                    protos[mm] = centres[labels[sel][mm]]
            terms["firm_compact"] = cfg.compactness_weight * compactness_loss(feats[sel], protos)
        return terms

    @hookimpl
    def lreid_after_optimizer_step(self, strategy, batch, outputs):
        if self.modal_labels is None or strategy.experience_is_supervised:
            return
        from lifelong_reid.distributed import all_gather_cat

        # the global batch, in rank order, under several processes: every rank's memories stay equal
        feats = all_gather_cat(outputs["feat"].detach())
        labels, modality = (all_gather_cat(t) for t in self._batch_labels(batch))
        for m, memory in enumerate(self.memories):
            sel = (modality == m).to(feats.device)
            if sel.any():
                memory.update(feats[sel], labels.to(feats.device)[sel])

    # ------------------------------------------------------------------ report, checkpoint
    @hookimpl
    def lreid_report_sections(self, strategy, folder):
        if not self.history:
            return None
        cols = ("experience", "epoch", "visible_clusters", "infrared_clusters", "matched", "visible_ari",
                "infrared_ari", "joint_ari", "joint_purity", "pair_precision", "seconds")
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for row in self.history:
            lines.append("| " + " | ".join(_fmt(row[c]) for c in cols) + " |")
        text = ("Pseudo-label quality at every re-clustering, against the hidden identities (diagnostics: the "
                "method never reads them). ARI: adjusted Rand index; pair precision: share of matched "
                "visible-infrared cluster pairs that are the same person.\n\n" + "\n".join(lines))
        return [("FIRM pseudo-labels", text)]

    @hookimpl
    def lreid_state_dict(self, strategy):
        state = {"num_joint": self.num_joint, "history": list(self.history), "config": asdict(self.cfg),
                 "memories": [m.prototypes.cpu() for m in self.memories]}
        for key in ("modal_labels", "sample_modality", "targets_v", "targets_i", "_ir_joint"):
            value = getattr(self, key)
            if value is not None:
                state[key.lstrip("_")] = value.cpu()
        return {self.name: state}

    @hookimpl
    def lreid_load_state_dict(self, state, strategy):
        mine = state.get(self.name)
        if not mine:
            return
        self.num_joint = int(mine["num_joint"])
        self.history = list(mine.get("history", []))
        for memory, protos in zip(self.memories, mine.get("memories", [])):
            memory.prototypes = protos.clone()
        for key in ("modal_labels", "sample_modality", "targets_v", "targets_i", "_ir_joint"):
            if key.lstrip("_") in mine:
                setattr(self, key, mine[key.lstrip("_")].clone())


def _fmt(value) -> str:
    """A table cell: floats to 3 decimals, ``None`` (nothing matched) as ``-``."""
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _encode(model, texts: list[str]) -> torch.Tensor:
    """``(T, E)`` frozen CLIP text features of ``texts``."""
    return model.encode_text(model.tokenize(texts)).float()


def _modality_index(context) -> torch.Tensor:
    """``(B,)`` 0 visible, 1 infrared, -1 unknown, for the context's sequences."""
    batch = context.batch
    n = context.tokens.shape[0]
    device = context.tokens.device
    names = getattr(batch, "modality", None) if batch is not None else None
    if names is None or len(names) != n:
        return torch.full((n,), -1, dtype=torch.long, device=device)
    return modality_indices(names).to(device)


def modality_indices(names) -> torch.Tensor:
    """``(N,)`` long index of each modality name into :data:`MODALITIES` (0 visible, 1 infrared), -1 for others."""
    return torch.tensor([MODALITIES.index(m) if m in MODALITIES else -1 for m in names], dtype=torch.long)
